//! VM suite helpers: errors, fds, processes, mounts, fd snapshots, splats, checkpoint/restart.

use ckpt_image::{decode, scan, syscalls, Image, ImageError, CKPT_HDR_ERROR, CKPT_HDR_TAIL};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use std::{ffi::CString, fmt::Debug, fs::File, io::Write, mem::ManuallyDrop, sync::Mutex};

/// The module file in the VM's initramfs.
pub const MODULE: &str = "/lib/modules/ramfs_cr.ko";

pub type R = Result<(), String>;

/// `Err("WHAT: expected E, got A")` unless `actual == expected`.
macro_rules! eq {
    ($actual:expr, $expected:expr, $($what:tt)+) => {{
        let (a, e) = (&$actual, &$expected);
        if a != e {
            return Err(format!("{}: expected {:?}, got {:?}", format!($($what)+), e, a));
        }
    }};
}

/// `Err(format!(...))` unless `cond`.
macro_rules! check {
    ($cond:expr, $($what:tt)+) => {{
        if !$cond {
            return Err(format!($($what)+));
        }
    }};
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A system call's result: `Ok` when not negative, else `Err(errno)`.
pub fn sys(r: impl TryInto<i64>) -> Result<i64, i32> {
    match r.try_into() {
        Ok(r) if r >= 0 => Ok(r),
        _ => Err(errno()),
    }
}

/// [`sys`] with the error as `WHAT: ERRNO`.
pub fn sys_or(r: impl TryInto<i64>, what: impl std::fmt::Display) -> Result<i64, String> {
    match sys(r) {
        Ok(v) => Ok(v),
        Err(e) => Err(format!("{what}: {}", ename(e))),
    }
}

/// `EBADF`, `ENOENT`, ... for messages.
pub use ckpt_image::syscalls::errno_name as ename;

pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// An error as its text.
pub fn io<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Bytes as text (invalid UTF-8 replaced), for messages and logs.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// [`eq!`] as a check's value: `Ok` when `got == want`.
pub fn expect_eq<A: PartialEq<E> + Debug, E: Debug>(got: A, want: E, what: &str) -> R {
    eq!(got, want, "{what}");
    Ok(())
}

/// `Ok`, or every error collected, one per line.
pub fn check_all(errs: Vec<String>) -> R {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

/// [`check_all`] of `f` on every item.
pub fn check_each<T>(items: impl IntoIterator<Item = T>, f: impl FnMut(T) -> R) -> R {
    check_all(items.into_iter().map(f).filter_map(Result::err).collect())
}

// ----------------------------------------------------------------- module

/// Load ramfs_cr unless /proc/filesystems already lists it.
pub fn ensure_module() -> R {
    let fss = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fss.lines().any(|l| l.ends_with("\tramfs_cr")) {
        return Ok(());
    }
    let f = File::open(MODULE).map_err(|e| format!("open {MODULE}: {e}"))?;
    // SAFETY: finit_module with an open fd and empty params.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), c"".as_ptr(), 0) };
    let e = if r == 0 { libc::EEXIST } else { errno() };
    check!(e == libc::EEXIST, "insmod {MODULE}: {}", ename(e));
    Ok(())
}

/// `delete_module("ramfs_cr", O_NONBLOCK)`, what rmmod does; the errno.
pub fn delete_module() -> Result<(), i32> {
    let name = c"ramfs_cr";
    // SAFETY: `name` is a NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    sys(r).map(drop)
}

// -------------------------------------------------------------------- fds

/// Each row `NAME(ARGS) -> T = CALL;`: `pub fn NAME(ARGS) -> T`, a system call with integers only.
macro_rules! int_calls {
    ($($(#[$doc:meta])* $name:ident($($a:ident: $t:ty),*) -> $r:ty = $call:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name($($a: $t),*) -> $r {
            // SAFETY: no pointer is passed: a bad fd or pid is an errno; _exit and pause never return.
            unsafe { $call }
        }
    )*};
}

int_calls! {
    close(fd: i32) -> i32 = libc::close(fd);
    close_range(lo: u32, hi: u32) -> i64 = libc::syscall(libc::SYS_close_range, lo, hi, 0u32);
    lseek(fd: i32, off: i64, whence: i32) -> i64 = libc::lseek(fd, off, whence);
    /// fcntl(2) of `fd` with an integer argument: its result (-1 on error).
    fcntl(fd: i32, cmd: i32, arg: i32) -> i32 = libc::fcntl(fd, cmd, arg);
    ftruncate(fd: i32, len: i64) -> i32 = libc::ftruncate(fd, len);
    umask(mask: u32) -> u32 = libc::umask(mask);
    sync() -> () = libc::sync();
    /// SIGALRM (the end of this process) after `secs` seconds (0: none).
    alarm(secs: u32) -> u32 = libc::alarm(secs);
    kill(pid: i32, sig: i32) -> i32 = libc::kill(pid, sig);
    /// Leave a forked child without the parent's destructors.
    exit(code: i32) -> ! = libc::_exit(code);
    pause() -> i32 = libc::pause();
}

/// In a child: dup2 each `(from, to)` (the `to`s above every other fd), then close all but them.
pub fn keep_only(moves: &[(i32, i32)]) {
    let mut keep: Vec<u32> = Vec::new();
    for &(from, to) in moves {
        let _ = dup2(from, to);
        keep.push(to as u32);
    }
    keep.sort();
    let mut lo = 0;
    for k in keep {
        if k > lo {
            close_range(lo, k - 1);
        }
        lo = k + 1;
    }
    close_range(lo, u32::MAX);
}

pub fn dup2(fd: i32, to: i32) -> R {
    // SAFETY: integers only.
    let r = unsafe { libc::dup2(fd, to) };
    sys_or(r, format_args!("dup2({fd}, {to})")).map(drop)
}

/// [`dup2`] `fd` to `to`, then close `fd`.
pub fn move_fd(fd: i32, to: i32) -> R {
    let r = dup2(fd, to);
    close(fd);
    r
}

/// open(2) `path` (mode 0644 if created) at fd `at` (< 0: any); close-on-exec iff `O_CLOEXEC`.
pub fn open_at(path: &str, flags: i32, at: i32) -> Result<i32, String> {
    open_mode(path, flags, 0o644, at)
}

/// [`open_at`] with the mode of a created file.
pub fn open_mode(path: &str, flags: i32, mode: u32, at: i32) -> Result<i32, String> {
    let c = CString::new(path).map_err(|_| "NUL in path".to_string())?;
    // SAFETY: valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), flags, mode) };
    let fd = sys_or(fd, format_args!("open {path} (flags {flags:#o})"))? as i32;
    if at < 0 || fd == at {
        return Ok(fd);
    }
    // SAFETY: fds are ours.
    let r = unsafe { libc::dup3(fd, at, flags & libc::O_CLOEXEC) };
    close(fd);
    sys_or(r, format_args!("dup2 {path} to {at}")).map(|_| at)
}

/// `lseek(fd, off, SEEK_SET)`, which must land at `off`.
pub fn seek(fd: i32, off: i64) -> R {
    let r = lseek(fd, off, libc::SEEK_SET);
    check!(r == off, "lseek({fd}, {off}): {r} {}", ename(errno()));
    Ok(())
}

/// The file position of `fd` (-1 when it has none).
pub fn pos(fd: i32) -> i64 {
    lseek(fd, 0, libc::SEEK_CUR)
}

pub fn getfl(fd: i32) -> i32 {
    fcntl(fd, libc::F_GETFL, 0)
}

pub fn getfd(fd: i32) -> i32 {
    fcntl(fd, libc::F_GETFD, 0)
}

pub fn write_fd(fd: i32, b: &[u8]) -> Result<usize, i32> {
    // SAFETY: b is a valid buffer.
    sys(unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) }).map(|n| n as usize)
}

/// A buffer of `n` bytes that `read` (a read(2)-like call) fills: what it read.
fn read_into(n: usize, read: impl FnOnce(&mut [u8]) -> isize) -> Result<Vec<u8>, i32> {
    let mut b = vec![0u8; n];
    let r = sys(read(&mut b))?;
    b.truncate(r as usize);
    Ok(b)
}

pub fn read_fd(fd: i32, n: usize) -> Result<Vec<u8>, i32> {
    // SAFETY: b is a valid buffer of b.len() bytes.
    let read = |b: &mut [u8]| unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
    read_into(n, read)
}

/// Everything `fd` yields until EOF (reads interrupted by signals retried).
pub fn read_all_bytes(fd: i32) -> Vec<u8> {
    read_to_end(|_| read_fd(fd, 65536))
}

/// What `read(offset)` (64 KiB of read(2)/pread(2)) yields until EOF or error, EINTR retried.
fn read_to_end(mut read: impl FnMut(i64) -> Result<Vec<u8>, i32>) -> Vec<u8> {
    let mut v = Vec::new();
    loop {
        match read(v.len() as i64) {
            Err(libc::EINTR) => continue,
            Ok(b) if !b.is_empty() => v.extend(b),
            _ => return v,
        }
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> Result<(i32, i32), String> {
    let mut p = [0i32; 2];
    // SAFETY: pipe2 into a 2-int array.
    let r = unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) };
    sys_or(r, "pipe").map(|_| (p[0], p[1]))
}

/// A pipe with its read end at fd `r` and its write end at fd `w`.
pub fn pipe_at(r: i32, w: i32) -> R {
    let (pr, pw) = pipe()?;
    move_fd(pr, r).and(move_fd(pw, w))
}

pub fn memfd(name: &str) -> Result<i32, String> {
    // SAFETY: valid C string.
    let fd = unsafe { libc::memfd_create(cstr(name).as_ptr(), 0) };
    sys_or(fd, "memfd_create").map(|fd| fd as i32)
}

/// A memfd named `name` at fd number `at`, holding `bytes`.
pub fn memfd_at(name: &str, at: i32, bytes: &[u8]) -> R {
    move_fd(memfd(name)?, at)?;
    set_bytes(at, bytes)
}

/// A shared read-write mapping of the first `len` bytes of the file of `fd`.
pub fn map_shared(fd: i32, len: usize) -> Result<*mut libc::c_void, String> {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a new mapping where the kernel chooses; callers stay within `len`.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, rw, libc::MAP_SHARED, fd, 0) };
    check!(p != libc::MAP_FAILED, "mmap: {}", ename(errno()));
    Ok(p)
}

/// Make the file of `fd` hold exactly `b`, position 0.
pub fn set_bytes(fd: i32, b: &[u8]) -> R {
    sys_or(ftruncate(fd, 0), "ftruncate")?;
    // SAFETY: the File borrows `fd` and never closes it.
    let f = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    if let Err(e) = f.write_all_at(b, 0) {
        return Err(format!("pwrite: {}", e));
    }
    seek(fd, 0)
}

/// The whole file of `fd` (pread from 0; the position is not moved).
pub fn get_bytes(fd: i32) -> Vec<u8> {
    // SAFETY: b is a valid buffer of b.len() bytes.
    let pread = |b: &mut [u8], off| unsafe { libc::pread(fd, b.as_mut_ptr().cast(), b.len(), off) };
    read_to_end(|off| read_into(65536, |b| pread(b, off)))
}

/// The whole file of `fd` as text (a memfd used as a log or a message).
pub fn text_of(fd: i32) -> String {
    text(&get_bytes(fd))
}

/// drop_caches, then every SLUB cache's `shrink` (which flushes its KASAN quarantine too).
pub fn shrink_caches() {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
    let dir = std::fs::read_dir("/sys/kernel/slab");
    for e in dir.into_iter().flatten().flatten() {
        let _ = std::fs::write(e.path().join("shrink"), "1");
    }
}

/// A field of /proc/meminfo in kB (`key` with its colon), 0 if unknown.
pub fn meminfo_kb(key: &str) -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    kb_in(&info, key)
}

/// [`meminfo_kb`] of `info`, a copy of /proc/meminfo.
pub fn kb_in(info: &str, key: &str) -> u64 {
    let l = info.lines().find(|l| l.starts_with(key));
    l.and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Set the RLIMIT_NOFILE of `pid` (0: this process).
pub fn nofile_of(pid: i32, rlim_cur: u64, rlim_max: u64) -> R {
    let rl = libc::rlimit { rlim_cur, rlim_max };
    // SAFETY: prlimit with a valid struct.
    let r = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rl, std::ptr::null_mut()) };
    let what = format!("prlimit({pid}, NOFILE, {rlim_cur}, {rlim_max})");
    sys_or(r, what).map(drop)
}

pub fn readlink(p: &str) -> String {
    std::fs::read_link(p).map_or_else(|e| format!("<{e}>"), |p| p.display().to_string())
}

pub fn fd_path(fd: i32) -> String {
    readlink(&format!("/proc/self/fd/{fd}"))
}

/// Each row `NAME(ARGS)`: `pub fn NAME(p: &str, ARGS) -> R`, NAME(2) of `p`, error `NAME P: ERRNO`.
macro_rules! path_calls {
    ($($name:ident($($arg:ident: $t:ty),*);)*) => {$(
        pub fn $name(p: &str, $($arg: $t),*) -> R {
            let c = cstr(p);
            // SAFETY: a C string alive for the call.
            let r = unsafe { libc::$name(c.as_ptr(), $($arg),*) };
            sys_or(r, format_args!("{} {p}", stringify!($name))).map(drop)
        }
    )*};
}

path_calls! {
    chdir();
    chroot();
    chmod(mode: u32);
    chown(uid: u32, gid: u32);
    unlink();
    mknod(mode: u32, dev: libc::dev_t); // `mode` with the file type
}

pub fn unshare(flags: i32) -> R {
    // SAFETY: unshare with flags only.
    sys_or(unsafe { libc::unshare(flags) }, "unshare").map(drop)
}

/// getdents64 with a buffer of `n` bytes.
pub fn getdents(fd: i32, n: usize) -> Result<Vec<u8>, i32> {
    // SAFETY: b is a valid buffer of b.len() bytes.
    let call =
        |b: &mut [u8]| unsafe { libc::syscall(libc::SYS_getdents64, fd, b.as_mut_ptr(), b.len()) };
    read_into(n, |b| call(b) as isize)
}

/// (name, inode number) of each record in a getdents64 buffer.
pub fn dirents(b: &[u8]) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    let mut o = 0;
    while o + 19 < b.len() {
        let reclen = u16::from_le_bytes([b[o + 16], b[o + 17]]) as usize;
        if reclen == 0 {
            break;
        }
        let ino = u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let name = &b[o + 19..o + reclen];
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        v.push((text(&name[..end]), ino));
        o += reclen;
    }
    v
}

/// Names in a getdents64 buffer.
pub fn dirent_names(b: &[u8]) -> Vec<String> {
    dirents(b).into_iter().map(|(n, _)| n).collect()
}

/// Every name left to read from the directory `fd`, in getdents64 order.
pub fn read_dir_fd(fd: i32, bufsz: usize) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    loop {
        let b = getdents(fd, bufsz).map_err(|e| format!("getdents: {}", ename(e)))?;
        if b.is_empty() {
            return Ok(all);
        }
        all.extend(b);
    }
}

pub fn set_nofile(n: u64) -> R {
    nofile_of(0, n, n.max(4096))
}

/// Run `/bin/ckpt ARGS`: its exit status (-1 when killed), stdout, stderr.
pub fn run_ckpt(args: &[&str]) -> Result<(i32, String, String), String> {
    let hint = "(is /bin/ckpt in the initramfs?)";
    run(&[&["ckpt"], args].concat()).map_err(|e| format!("{e} {hint}"))
}

/// Run `PROGRAM ARGS...` (`cmd`): its exit status (-1 when killed), stdout, stderr.
pub fn run(cmd: &[&str]) -> Result<(i32, String, String), String> {
    let o = std::process::Command::new(cmd[0]).args(&cmd[1..]).output();
    let o = o.map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    Ok((
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    ))
}

// ------------------------------------------------------------------ files

pub const WORK: &str = "/tmp/cr-harness";

pub fn seq() -> usize {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed) + 1
}

/// The work directory for images, logs and results (mode 1777: for unprivileged children too).
pub fn work() -> R {
    mkdir(WORK, 0o1777)
}

/// A fresh name in [`WORK`].
pub fn tmpfile(name: &str) -> String {
    format!("{WORK}/{}-{name}", seq())
}

pub fn write_file(p: &str, data: &[u8]) -> R {
    std::fs::write(p, data).map_err(|e| format!("write {p}: {e}"))
}

pub fn write_mode(p: &str, data: &[u8], mode: u32) -> R {
    write_file(p, data)?;
    chmod(p, mode)
}

/// `mkdir -p` of `p`.
pub fn mkdirs(p: &str) -> R {
    std::fs::create_dir_all(p).map_err(|e| format!("mkdir {p}: {e}"))
}

pub fn mkdir(p: &str, mode: u32) -> R {
    mkdirs(p)?;
    chmod(p, mode)
}

pub fn read_file(p: &str) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("read {p}: {e}"))
}

// -------------------------------------------------------------- processes

pub fn fork() -> Result<i32, String> {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the harness is single-threaded; the child runs only our code and ends with _exit.
    sys_or(unsafe { libc::fork() }, "fork").map(|pid| pid as i32)
}

/// waitpid(pid) until it ends; its status (-1 on error).
pub fn wait(pid: i32) -> i32 {
    let mut st = 0;
    // SAFETY: waiting for our child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        if errno() != libc::EINTR {
            return -1;
        }
    }
    st
}

pub fn status_text(st: i32) -> String {
    match (libc::WIFEXITED(st), libc::WIFSIGNALED(st)) {
        (true, _) => format!("exit {}", libc::WEXITSTATUS(st)),
        (_, true) => format!("killed by signal {}", libc::WTERMSIG(st)),
        _ => format!("status {st:#x}"),
    }
}

/// fd of the result pipe in an [`in_child`] child, above what cases use.
const RESULT_PIPE: i32 = 1020;
/// fd of a clean child's result file, opened before a restart may change its root or cwd.
const RESULT_FD: i32 = 200;
/// The result file of the current clean child (set by [`in_clean_child`]).
static RESULT_PATH: Mutex<String> = Mutex::new(String::new());

/// Run `f` in a forked child that keeps the parent's fds, `secs` alarm; its Err text via a pipe.
pub fn in_child<F: FnOnce() -> R>(what: &str, secs: u32, f: F) -> R {
    let (r, w) = pipe()?;
    let pid = fork()?;
    if pid == 0 {
        close(r);
        let _ = move_fd(w, RESULT_PIPE);
        let res = run_guarded(secs, f);
        let _ = write_fd(RESULT_PIPE, &res.as_bytes()[..res.len().min(60000)]);
        exit(if res.is_empty() { 0 } else { 1 });
    }
    close(w);
    let msg = text(&read_all_bytes(r));
    close(r);
    child_result(what, wait(pid), msg)
}

/// Run `f` in a forked child with no fds (an image it makes holds only what `f` opens), 60 s alarm.
pub fn in_clean_child<F: FnOnce() -> R>(what: &str, f: F) -> R {
    let res = tmpfile(&format!("result-{}", std::process::id()));
    let pid = fork()?;
    if pid == 0 {
        close_range(0, u32::MAX);
        *RESULT_PATH.lock().unwrap() = res.clone();
        let msg = run_guarded(60, f);
        if getfd(RESULT_FD) < 0 {
            let _ = open_at(&res, WRITE, RESULT_FD);
        }
        let _ = write_fd(RESULT_FD, msg.as_bytes());
        exit(if msg.is_empty() { 0 } else { 1 });
    }
    let st = wait(pid);
    let msg = std::fs::read_to_string(&res).unwrap_or_default();
    let _ = std::fs::remove_file(&res);
    child_result(what, st, msg)
}

/// `f`'s error text after a `secs` alarm ("" on success).
fn run_guarded<F: FnOnce() -> R>(secs: u32, f: F) -> String {
    alarm(secs);
    match guarded(f) {
        Ok(()) => String::new(),
        Err(e) if e.is_empty() => "failed".into(),
        Err(e) => e,
    }
}

/// The last panic's message with its location (see [`quiet_panics`]).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// From now on a panic is not printed on stderr: [`guarded`] reports it.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));
}

/// `f()`, a panic in it an error with its message and location.
pub fn guarded<F: FnOnce() -> R>(f: F) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        let mut last = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner());
        Err(format!("panic: {}", std::mem::take(&mut *last)))
    })
}

/// Reap the target `t`, which must have exited 0.
pub fn expect_exit(t: Target, what: &str) -> R {
    let st = wait(ManuallyDrop::new(t).pid);
    child_result(what, st, String::new())
}

/// A child that ended with status `st` and error text `msg` must have exited 0.
fn child_result(what: &str, st: i32, msg: String) -> R {
    if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 {
        Ok(())
    } else if msg.is_empty() {
        Err(format!("{what}: child {}", status_text(st)))
    } else {
        Err(format!("{what}: {msg}"))
    }
}

/// A child process, killed and reaped on drop; a target waits set up: stopped, paused or busy.
pub struct Target {
    pub pid: i32,
}

impl Target {
    /// A child that runs `f` (with a 120 s alarm), then exits 0.
    pub fn spawn(f: impl FnOnce()) -> Result<Target, String> {
        let pid = fork()?;
        if pid == 0 {
            alarm(120);
            f();
            exit(0);
        }
        Ok(Target { pid })
    }

    /// A child that closes every fd (if `clean`), runs `setup` (exit 3 if it fails), then `then()`.
    fn set_up(clean: bool, setup: impl FnOnce() -> R, then: impl FnOnce()) -> Result<Self, String> {
        Target::spawn(|| {
            if clean {
                close_range(0, u32::MAX);
            }
            if !run_guarded(120, setup).is_empty() {
                exit(3);
            }
            then();
        })
    }

    /// A child that closes every fd, runs `setup` and stops (SIGSTOP), as a debugger keeps it.
    pub fn stopped<F: FnOnce() -> R>(setup: F) -> Result<Target, String> {
        Target::stop(true, setup)
    }

    /// A child that keeps the parent's fds, runs `setup` (closing what it must) and pause(2)s.
    pub fn paused<F: FnOnce() -> R>(setup: F) -> Result<Target, String> {
        Target::stop(false, setup).inspect(|t| _ = kill(t.pid, libc::SIGCONT))
    }

    /// [`Target::set_up`], then the child stops itself and, once continued, sleeps.
    fn stop<F: FnOnce() -> R>(clean: bool, setup: F) -> Result<Target, String> {
        let t = Target::set_up(clean, setup, || {
            kill(std::process::id() as i32, libc::SIGSTOP);
            sleep_forever();
        })?;
        let mut st = 0;
        // SAFETY: waiting for our child to stop.
        let r = unsafe { libc::waitpid(t.pid, &mut st, libc::WUNTRACED) };
        let stopped = r == t.pid && libc::WIFSTOPPED(st);
        check!(stopped, "target child did not stop: {}", status_text(st));
        Ok(t)
    }

    /// A child with no fds that runs `setup`, `work(0)`, `work(1)`, ...; 300 ms to drop our fds.
    pub fn running<S: FnOnce() -> R, W: FnMut(u64)>(setup: S, mut work: W) -> Result<Self, String> {
        let t = Target::set_up(true, setup, || {
            for i in 0.. {
                work(i);
            }
        })?;
        nap(300);
        if let Some(st) = t.ended() {
            return Err(format!("running target ended: {}", status_text(st)));
        }
        Ok(t)
    }

    /// Its status when it has ended (or cannot be waited for), `None` while it runs.
    pub fn ended(&self) -> Option<i32> {
        let mut st = 0;
        // SAFETY: non-blocking status check of our child.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        (r != 0).then_some(st)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        kill(self.pid, libc::SIGKILL);
        wait(self.pid);
    }
}

/// clone(2) with `flags` (no CLONE_VM): a child that runs `f`, then exits, or dies with us.
pub fn clone_process<F: FnOnce()>(flags: i32, f: F) -> Result<i32, String> {
    let _ = std::io::stdout().flush();
    let flags = (flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone without CLONE_VM is fork with a shared file table; the child runs `f`, _exits.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if sys_or(pid, "clone")? == 0 {
        // SAFETY: prctl with integers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        f();
        exit(0);
    }
    Ok(pid as i32)
}

pub fn sleep_forever() {
    loop {
        pause();
    }
}

pub fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// 0, 1, 2, ... for `secs` seconds.
pub fn until(secs: u64) -> impl Iterator<Item = u64> {
    let end = Instant::now() + Duration::from_secs(secs);
    (0..).take_while(move |_| Instant::now() < end)
}

/// Whether `cond()` holds within `n` tries, `ms` apart.
pub fn soon(n: usize, ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    (0..n).map(|_| nap(ms)).any(|()| cond())
}

/// The unprivileged test user of the initramfs (/etc/passwd: `user`).
pub const UID: u32 = 1000;

/// Become uid and gid `id` ([`UID`], 65534: nobody) with no supplementary groups, still dumpable.
pub fn drop_to(id: u32) -> R {
    // SAFETY: credential syscalls with integers, setgroups(2) with a 1-element array.
    unsafe {
        sys_or(libc::setgroups(1, [id].as_ptr()), "setgroups")?;
        sys_or(libc::setresgid(id, id, id), format_args!("setresgid {id}"))?;
        sys_or(libc::setresuid(id, id, id), format_args!("setresuid {id}"))?;
        // a uid change clears dumpable, which ptrace (and checkpoint) by the user needs
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        if libc::geteuid() != id || libc::getegid() != id {
            return Err("still privileged".into());
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- mounts

/// mount(2) of `fstype` from "none" on `dir`; the errno.
pub fn mount(fstype: &str, dir: &str, opts: Option<&str>) -> Result<(), i32> {
    let (tgt, ty, data) = (cstr(dir), cstr(fstype), opts.map(cstr));
    let data = data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
    // SAFETY: all pointers are NUL-terminated strings (or NULL) alive for the call.
    sys(unsafe { libc::mount(c"none".as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, data.cast()) })
        .map(drop)
}

pub fn umount2(dir: &str, flags: i32) -> Result<(), i32> {
    let d = cstr(dir);
    // SAFETY: valid C string alive for the call.
    sys(unsafe { libc::umount2(d.as_ptr(), flags) }).map(drop)
}

/// A fresh ramfs_cr (mode=0755) on `dir` for `f`, unmounted after; no splat may appear meanwhile.
pub fn on_mount(dir: &str, f: impl FnOnce() -> R) -> R {
    ensure_module()?;
    umount(dir);
    let m = Mount::at(dir, "ramfs_cr", Some("mode=0755"))?;
    let splats0 = kmsg_splats().len();
    let r = f();
    drop(m);
    umount(dir);
    r.and(new_splats(splats0))
}

/// Unmount everything on `dir` (detached when busy).
pub fn umount(dir: &str) {
    while umount2(dir, 0).is_ok() {}
    if errno() == libc::EBUSY {
        let _ = umount2(dir, libc::MNT_DETACH);
    }
}

/// A mount, unmounted (lazily when busy) and its directory removed on drop.
pub struct Mount {
    pub dir: String,
}

impl Mount {
    /// `fstype` with mode=0755 on a fresh /mnt/ck-N-FSTYPE.
    pub fn new(fstype: &str) -> Result<Mount, String> {
        if fstype == "ramfs_cr" {
            ensure_module()?;
        }
        Mount::at(
            &format!("/mnt/ck-{}-{}", seq(), fstype),
            fstype,
            Some("mode=0755"),
        )
    }

    /// `fstype` with `opts` on `dir`.
    pub fn at(dir: &str, fstype: &str, opts: Option<&str>) -> Result<Mount, String> {
        mkdirs(dir)?;
        let (r, o) = (mount(fstype, dir, opts), opts.unwrap_or(""));
        let e = r.err().map_or(String::new(), ename);
        check!(e.is_empty(), "mount -t {fstype} -o {o} none {dir}: {e}");
        Ok(Mount { dir: dir.into() })
    }

    pub fn root(&self) -> &std::path::Path {
        std::path::Path::new(&self.dir)
    }

    /// `rel` below the mount.
    pub fn p(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir)
    }

    /// Unmount now; the error when umount(2) fails.
    pub fn umount(self) -> R {
        let dir = ManuallyDrop::new(self).dir.clone();
        umount2(&dir, 0).map_err(|e| format!("umount {dir}: expected success, got {}", ename(e)))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if umount2(&self.dir, 0).is_err() {
            nap(100);
            let _ = umount2(&self.dir, 0).or_else(|_| umount2(&self.dir, libc::MNT_DETACH));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

// ------------------------------------------------------------ splat watch

/// Kernel log lines that are splats (by `ktap-runner`'s markers).
pub fn kmsg_splats() -> Vec<String> {
    let mut out = Vec::new();
    let fl = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let fd = open_at("/dev/kmsg", fl, -1).unwrap_or(-1); // none: the first read fails, EBADF
    loop {
        let b = match read_fd(fd, 8192) {
            Err(libc::EPIPE) => continue,
            Ok(b) if !b.is_empty() => b,
            _ => break,
        };
        let s = String::from_utf8_lossy(&b);
        let msg = s.split_once(';').map(|x| x.1).unwrap_or(&s);
        let msg = msg.lines().next().unwrap_or("").to_string();
        if ktap::SPLAT_MARKERS.iter().any(|m| msg.contains(m)) {
            out.push(msg);
        }
    }
    close(fd);
    out
}

/// New splats since `before` (a count from kmsg_splats()).
pub fn new_splats(before: usize) -> R {
    let new: Vec<_> = kmsg_splats().into_iter().skip(before).take(20).collect();
    check!(new.is_empty(), "kernel splat(s):\n{}", new.join("\n"));
    Ok(())
}

// ------------------------------------------------------------ fd snapshots

/// (fd, dev:ino:mode, position, F_GETFL, F_GETFD) of each fd, cwd, root, umask: "nothing changed".
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Snap {
    pub fds: Vec<(i32, String, i64, i32, i32)>,
    pub cwd: String,
    pub root: String,
    pub umask: u32,
}

/// The open fds: /proc/self/fd (probed without /proc), less the fd that read it (closed by then).
pub fn open_fds() -> Vec<i32> {
    let listed = std::fs::read_dir("/proc/self/fd").map(|d| {
        let names = d.flatten().map(|e| e.file_name());
        names.filter_map(|n| n.to_str()?.parse().ok()).collect()
    });
    let mut v: Vec<i32> = listed.unwrap_or_else(|_| (0..1100).collect());
    v.retain(|&fd| getfd(fd) >= 0);
    v.sort();
    v
}

/// "dev:ino:mode" of a stat(2) result: cheaper than readlink under KASAN.
fn ident(m: std::io::Result<std::fs::Metadata>) -> String {
    m.map_or_else(
        |e| format!("<{e}>"),
        |m| format!("{}:{}:{:o}", m.dev(), m.ino(), m.mode()),
    )
}

pub fn snap(skip: &[i32]) -> Snap {
    snap_nopos(skip, -1)
}

/// [`snap`] with the position of `img` zeroed: restart(2) reads the image as read(2) does.
pub fn snap_nopos(skip: &[i32], img: i32) -> Snap {
    let fds = open_fds().into_iter().filter(|fd| !skip.contains(fd));
    let at = |fd| if fd == img { 0 } else { pos(fd) };
    // SAFETY: the File borrows an open fd and never closes it.
    let stat = |fd| ManuallyDrop::new(unsafe { File::from_raw_fd(fd) }).metadata();
    let of = |fd| (fd, ident(stat(fd)), at(fd), getfl(fd), getfd(fd));
    let um = umask(0o22);
    umask(um);
    Snap {
        fds: fds.map(of).collect(),
        cwd: ident(std::fs::metadata(".")),
        root: ident(std::fs::metadata("/")),
        umask: um,
    }
}

/// `f()` and what it changed of this process ([`snap_diff`]), `skip` and `img`'s position aside.
pub fn changes<T>(skip: &[i32], img: i32, f: impl FnOnce() -> T) -> (T, String) {
    let before = snap_nopos(skip, img);
    let r = f();
    (r, snap_diff(&before, &snap_nopos(skip, img)))
}

pub fn snap_diff(a: &Snap, b: &Snap) -> String {
    let mut s = String::new();
    for (x, y, what) in [(a, b, "before only:"), (b, a, "after only: ")] {
        for f in x.fds.iter().filter(|f| !y.fds.contains(f)) {
            s += &format!("  {what} {f:?}\n");
        }
    }
    let (um, bm) = (format!("{:#o}", a.umask), format!("{:#o}", b.umask));
    let mut field = |what: &str, x: &str, y: &str| {
        if x != y {
            s += &format!("  {what} {x} -> {y}\n");
        }
    };
    field("cwd", &a.cwd, &b.cwd);
    field("root", &a.root, &b.root);
    field("umask", &um, &bm);
    s
}

/// Caller fds: `other` at 3 (O_RDWR, pos 7) and 4 (O_NONBLOCK, cloexec, pos 2), / at 6; cwd /tmp.
pub fn busy_caller(other: &str) -> R {
    open_at(other, libc::O_RDWR, 3)?;
    seek(3, 7)?;
    let fl = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    open_at(other, fl, 4)?;
    seek(4, 2)?;
    open_at("/", libc::O_RDONLY | libc::O_DIRECTORY, 6)?;
    chdir("/tmp")
}

// ----------------------------------------------------- checkpoint, restart

/// fd numbers of the image and log in checkpointing/restarting children, above any case's fds.
pub const IMG_FD: i32 = 100;
pub const LOG_FD: i32 = 101;

/// checkpoint(2) with the errno as the error.
pub fn ck(pid: i32, fd: i32, flags: u64, logfd: i32) -> Result<i64, i32> {
    syscalls::checkpoint(pid, fd, flags, logfd).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// restart(2) with the errno as the error.
pub fn rs(pid: i32, fd: i32, flags: u64, logfd: i32) -> Result<i64, i32> {
    syscalls::restart(pid, fd, flags, logfd).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// restart(2) of this process from `fd`, read from its start.
pub fn rs_start(fd: i32, flags: u64, logfd: i32) -> Result<i64, i32> {
    lseek(fd, 0, libc::SEEK_SET);
    rs(0, fd, flags, logfd)
}

/// `Ok(N)` / `Err(EBADF)` for messages.
pub fn show(r: &Result<i64, i32>) -> String {
    r.map_or_else(|e| format!("Err({})", ename(e)), |v| format!("Ok({v})"))
}

/// What a checkpoint or restart returned, and its log.
pub struct Outcome {
    pub r: Result<i64, i32>,
    pub log: String,
}

/// Open flags of a file written from its start.
const WRITE: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;

/// `call()` with `img` (`flags`) at IMG_FD, `log` at LOG_FD: its result and log ("" if unreadable).
fn with_image(
    img: &str,
    flags: i32,
    log: &str,
    call: impl FnOnce() -> std::io::Result<i64>,
) -> Result<Outcome, String> {
    open_at(img, flags, IMG_FD)?;
    open_at(log, WRITE, LOG_FD)?;
    let r = call().map_err(|e| e.raw_os_error().unwrap_or(0));
    close(IMG_FD);
    close(LOG_FD);
    let log = text(&std::fs::read(log).unwrap_or_default());
    Ok(Outcome { r, log })
}

/// checkpoint(pid) into `img` with a log file (`img`.log).
pub fn checkpoint_to(pid: i32, img: &str, flags: u64) -> Result<Outcome, String> {
    let log = format!("{img}.log");
    with_image(img, WRITE, &log, || {
        syscalls::checkpoint(pid, IMG_FD, flags, LOG_FD)
    })
}

/// restart(0) from `img` with a log file (removed after).
pub fn restart_from(img: &str, flags: u64) -> Result<Outcome, String> {
    restart_into(img, flags, &[])
}

/// restart(0) from `img` with these `mnt_fds` and a log file (removed after).
pub fn restart_into(img: &str, flags: u64, mnt_fds: &[i32]) -> Result<Outcome, String> {
    let log = format!("{img}.rlog-{}", std::process::id());
    let rs = || syscalls::restart_mounts(0, IMG_FD, flags, LOG_FD, mnt_fds);
    let o = with_image(img, libc::O_RDONLY | libc::O_CLOEXEC, &log, rs);
    let _ = std::fs::remove_file(&log);
    o
}

pub fn ck_ok(pid: i32, img: &str, flags: u64) -> Result<i64, String> {
    let Outcome { r, log } = checkpoint_to(pid, img, flags)?;
    let (ok, got) = (r.is_ok_and(|id| id > 0), show(&r));
    check!(
        ok,
        "checkpoint(pid {pid}): expected a positive id, got {got}; log:\n{log}"
    );
    Ok(r.unwrap_or(0))
}

pub fn rs_ok(img: &str) -> Result<i64, String> {
    let Outcome { r, log } = restart_from(img, 0)?;
    r.map_err(|e| format!("restart: expected success, got {}; log:\n{log}", ename(e)))
}

/// A checkpoint(2) or restart(2) must have returned `want`.
pub fn expect_ret(r: Result<i64, i32>, want: Result<i64, i32>, what: &str) -> R {
    expect_eq(show(&r), show(&want), what)
}

/// A checkpoint or restart must have returned `want` (its log in the error).
pub fn expect_outcome(o: &Outcome, want: Result<i64, i32>, what: &str) -> R {
    expect_ret(o.r, want, &format!("{what} (log: {})", o.log.trim()))
}

/// Restart of `img` (`flags`) must fail with `want` and change nothing of this process.
pub fn expect_restart_refused(img: &str, flags: u64, want: i32, what: &str) -> R {
    let (o, diff) = changes(&[], -1, || restart_from(img, flags));
    expect_outcome(&o?, Err(want), what)?;
    check!(diff.is_empty(), "caller changed:\n{diff}");
    Ok(())
}

/// In a clean child: restart(0) from `img` must install `n` fds, then `after()` ([`RESULT_FD`]).
pub fn check_restarted(img: &str, n: i64, after: impl FnOnce() -> R) -> R {
    in_clean_child("restarting child", || {
        open_at(&RESULT_PATH.lock().unwrap().clone(), WRITE, RESULT_FD)?;
        eq!(rs_ok(img)?, n, "restart return value");
        after()
    })
}

pub fn decode_file(img: &str) -> Result<Image, String> {
    let b = read_file(img)?;
    decode(&b).map_err(|e| format!("image {img} ({} bytes) does not decode: {e}", b.len()))
}

/// Self-checkpoint in a clean child after `setup`, checking success.
pub fn self_image<F: FnOnce() -> R>(img: &str, setup: F) -> R {
    in_clean_child("checkpointing child", || {
        setup()?;
        ck_ok(0, img, 0).map(drop)
    })
}

/// (fd, name) of every fd an image records.
pub fn fd_names(im: &Image) -> Vec<(i32, String)> {
    let name = |d| im.file_of(d).map_or(String::new(), |f| text(&f.name));
    im.fds.iter().map(|d| (d.fd, name(d))).collect()
}

/// Checkpoint of `pid` must fail with `want`, logged with `fd N` + `on_line`; image ends in ERROR.
pub fn expect_checkpoint_refused(
    pid: i32,
    img: &str,
    want: i32,
    fd: i32,
    on_line: &[String],
    what: &str,
) -> R {
    let o = checkpoint_to(pid, img, 0)?;
    expect_outcome(&o, Err(want), what)?;
    let tag = format!("fd {fd}");
    let line = o.log.lines().find(|l| l.contains(&tag)).unwrap_or("");
    let ok = !line.is_empty() && on_line.iter().all(|s| line.contains(s.as_str()));
    check!(ok, "no log line with fd {fd} and {on_line:?}:\n{}", o.log);
    let b = read_file(img)?;
    let (err, at, msg) = match decode(&b) {
        Err(ImageError::ErrorRecord { err, fd, msg, .. }) => (err, fd, msg),
        other => return Err(format!("image: expected an ERROR record, got {other:?}")),
    };
    eq!((err, at), (-want, fd), "ERROR record (err, fd)");
    let name = on_line.first().map_or("", |n| n.trim_matches('"'));
    check!(msg.contains(name), "ERROR record lacks {name}: {msg:?}");
    let types: Vec<u32> = scan(&b).records.iter().map(|r| r.1.rtype()).collect();
    eq!(types.last(), Some(&CKPT_HDR_ERROR), "last record type");
    let tail = types.contains(&CKPT_HDR_TAIL);
    check!(!tail, "image has a TAIL after the ERROR");
    Ok(())
}
