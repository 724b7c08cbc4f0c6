// SPDX-License-Identifier: GPL-2.0-only
//! Saving and restoring a whole ramfs_cr mount with its contents
//! (Documentation/benchmarks.rst, "Contents").
//!
//! Two trees are built fresh on a ramfs_cr mount: 16 files of 16 MiB, and
//! 10,000 files of about 6.5 KiB in 100 directories (64 MiB), of dense
//! pseudo-random bytes (no zeros, no holes: nothing for a sparse or
//! compressing tool to skip).  A holder process has its working directory
//! at the mount root and 3 fds on the mount (the root, a directory, a
//! file).  Then, each repetition, in an order that rotates:
//!
//! * `ckpt`: checkpoint(2) of the holder with CHECKPOINT_CONTENTS into an
//!   image on /tmp (tmpfs), timed around the call, with a log fd: the
//!   kernel's "frozen for X us"; restart(2) with RESTART_CONTENTS of that
//!   image into a fresh detached ramfs_cr mount, in a clean child (fds
//!   100, 101, 110 only: image, log, mount), timed around the call; the
//!   child exits, which drops the rebuilt mount;
//! * `tar`: `tar --create --file F --directory SRC .` (tar cf) to /tmp and
//!   `tar --extract --file F --directory DST` (tar xf) into a fresh empty
//!   ramfs_cr mount, whole commands;
//! * `tgz`: the same with CRIU's arguments for tmpfs (criu/mount.c,
//!   tmpfs_dump and tmpfs_restore: `--create --gzip --sparse
//!   --numeric-owner ...`, `--extract --gzip ...`).
//!
//! A first, untimed round checks every method's result: the restored tree
//! must have the source's number of files and directories and total bytes,
//! and its first and last files the source's bytes.  A method that fails
//! this is not timed and its cells print FAILED.

use std::ffi::CString;
use std::io::Write as _;
use std::os::fd::IntoRawFd;

use crate::{close, cstr, ename, errno, jnum, mkdir, now_ns, settle, stat_of, Stat};
use ckpt_image::syscalls::{checkpoint, detached_mount, move_mount};
use ckpt_image::{CHECKPOINT_CONTENTS, RESTART_CONTENTS};

/// Where make bench puts Debian's GNU tar and gzip (scripts/mkinitramfs
/// GNU_TAR=, GNU_GZIP=); /bin/tar and /bin/gzip are busybox applets.
const GNU_DIR: &str = "/usr/local/bin";
const GNU_TAR: &str = "/usr/local/bin/tar";
const BUSYBOX_TAR: &str = "/bin/tar";
/// GNU tar runs `gzip` from PATH: GNU gzip first.
const TOOL_PATH: &str = "PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin";

/// What the restorer's fd table holds: nothing of the image's (3, 4, 5).
const IMG_FD: i32 = 100;
const LOG_FD: i32 = 101;
const MNT_FD: i32 = 110;
const PIPE_FD: i32 = 120;
/// The holder's fds on the mount: restart(2) installs this many.
const HOLDER_FDS: i64 = 3;

pub struct TreeSpec {
    pub label: String,
    /// Directories under the root (0: every file in the root).
    pub dirs: usize,
    /// Size of each file.
    pub sizes: Vec<usize>,
}

/// The issue's two trees; `quick` shrinks them (for iteration).
pub fn trees(quick: bool) -> Vec<TreeSpec> {
    let (big, nbig, nsmall, dirs) = if quick {
        (1 << 20, 16, 1000, 10)
    } else {
        (16 << 20, 16, 10_000, 100)
    };
    // Small files: 3,355 to 10,066 bytes, mean about 6,710 (64 MiB /
    // 10,000), not page multiples.
    let small: Vec<usize> = (0..nsmall)
        .map(|i: usize| 3355 + ((i as u64).wrapping_mul(2_654_435_761) % 6712) as usize)
        .collect();
    let small_mib = small.iter().sum::<usize>() as f64 / f64::from(1 << 20);
    vec![
        TreeSpec {
            label: format!("{} MiB in {nbig} files", (big * nbig) >> 20),
            dirs: 0,
            sizes: vec![big; nbig],
        },
        TreeSpec {
            label: format!("{small_mib:.1} MiB in {nsmall} files, {dirs} dirs"),
            dirs,
            sizes: small,
        },
    ]
}

fn rel_path(spec: &TreeSpec, i: usize) -> String {
    if spec.dirs == 0 {
        format!("f{i:05}")
    } else {
        format!("d{:03}/f{i:05}", i % spec.dirs)
    }
}

/// xorshift64*: dense bytes that gzip cannot shrink.
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn build(spec: &TreeSpec, root: &str) -> Result<(), String> {
    for d in 0..spec.dirs {
        mkdir(&format!("{root}/d{d:03}"));
    }
    let mut buf = vec![0u8; 1 << 20];
    for (i, &size) in spec.sizes.iter().enumerate() {
        let path = format!("{root}/{}", rel_path(spec, i));
        let mut f = std::fs::File::create(&path).map_err(|e| format!("create {path}: {e}"))?;
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64 + 1).wrapping_mul(0x1000_0001);
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len());
            fill(&mut buf[..n], &mut state);
            f.write_all(&buf[..n])
                .map_err(|e| format!("write {path}: {e}"))?;
            left -= n;
        }
    }
    Ok(())
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Summary {
    files: usize,
    dirs: usize,
    bytes: u64,
}

fn summarize(dir: &std::path::Path, s: &mut Summary) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("readdir {}: {e}", dir.display()))?;
    for e in rd {
        let e = e.map_err(|e| format!("readdir {}: {e}", dir.display()))?;
        let md = e
            .metadata()
            .map_err(|x| format!("stat {}: {x}", e.path().display()))?;
        if md.is_dir() {
            s.dirs += 1;
            summarize(&e.path(), s)?;
        } else {
            s.files += 1;
            s.bytes += md.len();
        }
    }
    Ok(())
}

fn summary(root: &str) -> Result<Summary, String> {
    let mut s = Summary::default();
    summarize(std::path::Path::new(root), &mut s)?;
    Ok(s)
}

/// The restored tree at `dst` against the source at `src`.
fn validate(spec: &TreeSpec, src: &Summary, src_root: &str, dst: &str) -> Result<(), String> {
    let got = summary(dst)?;
    if got != *src {
        return Err(format!(
            "restored {} files, {} dirs, {} bytes; source {} files, {} dirs, {} bytes",
            got.files, got.dirs, got.bytes, src.files, src.dirs, src.bytes
        ));
    }
    for i in [0, spec.sizes.len() - 1] {
        let rel = rel_path(spec, i);
        let a = std::fs::read(format!("{src_root}/{rel}")).map_err(|e| format!("{rel}: {e}"))?;
        let b =
            std::fs::read(format!("{dst}/{rel}")).map_err(|e| format!("restored {rel}: {e}"))?;
        if a != b {
            return Err(format!("restored {rel} differs from the source"));
        }
    }
    Ok(())
}

fn mem_available_kb() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mount_cr(dir: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    let (src, d, t, o) = (cstr("none"), cstr(dir), cstr("ramfs_cr"), cstr("mode=0755"));
    // SAFETY: valid C strings.
    let r = unsafe { libc::mount(src.as_ptr(), d.as_ptr(), t.as_ptr(), 0, o.as_ptr().cast()) };
    if r != 0 {
        return Err(format!("mount -t ramfs_cr none {dir}: {}", ename(errno())));
    }
    Ok(())
}

fn umount(dir: &str) {
    let d = cstr(dir);
    // SAFETY: valid C string.
    unsafe {
        if libc::umount2(d.as_ptr(), 0) != 0 {
            println!("cr-bench: umount {dir}: {}", ename(errno()));
            libc::umount2(d.as_ptr(), libc::MNT_DETACH);
        }
    }
}

fn wait_pid(pid: i32, flags: i32) -> i32 {
    let mut st = 0;
    // SAFETY: waiting for our child.
    unsafe { libc::waitpid(pid, &mut st, flags) };
    st
}

/// A process whose cwd is the mount root, holding the root (fd 3), a
/// directory (fd 4) and a file (fd 5) of it, and nothing else; stopped once
/// set up, then continued: it pauses until killed.
fn spawn_holder(root: &str, dir_rel: &str, file_rel: &str) -> Result<i32, String> {
    let r = cstr(root);
    let d = cstr(&format!("{root}/{dir_rel}"));
    let f = cstr(&format!("{root}/{file_rel}"));
    let null = cstr("/dev/null");
    // SAFETY: the child makes raw syscalls only.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", ename(errno())));
    }
    if pid == 0 {
        // SAFETY: child side; memory prepared before fork.
        unsafe {
            libc::syscall(libc::SYS_close_range, 0u32, !0u32, 0u32);
            for _ in 0..3 {
                libc::open(null.as_ptr(), libc::O_RDONLY);
            }
            let ok = libc::chdir(r.as_ptr()) == 0
                && libc::open(r.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) == 3
                && libc::open(d.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) == 4
                && libc::open(f.as_ptr(), libc::O_RDONLY) == 5
                && libc::lseek(5, 100, libc::SEEK_SET) == 100;
            libc::syscall(libc::SYS_close_range, 0u32, 2u32, 0u32);
            if !ok {
                libc::_exit(100);
            }
            libc::raise(libc::SIGSTOP);
            loop {
                libc::pause();
            }
        }
    }
    let st = wait_pid(pid, libc::WUNTRACED);
    if !libc::WIFSTOPPED(st) {
        return Err(format!("holder {pid} did not set up (status {st:#x})"));
    }
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    Ok(pid)
}

fn kill_reap(pid: i32) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_pid(pid, 0);
}

fn open_trunc(path: &str) -> Result<i32, String> {
    let p = cstr(path);
    // SAFETY: valid C string.
    let fd = unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(format!("open {path}: {}", ename(errno())));
    }
    Ok(fd)
}

/// "frozen for X us" of a checkpoint log, in ms.
fn frozen_ms(log: &str) -> Option<f64> {
    let rest = log.split("frozen for ").nth(1)?;
    let us: f64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(us / 1e3)
}

/// checkpoint(2) of `pid` with CHECKPOINT_CONTENTS into `img` (truncated),
/// with a log: (ms around the call, frozen ms from the log, image bytes).
fn ckpt_save(pid: i32, img: &str, log: &str) -> Result<(f64, f64, u64), String> {
    let fd = open_trunc(img)?;
    let lfd = open_trunc(log)?;
    settle();
    let t0 = now_ns();
    let r = checkpoint(pid, fd, CHECKPOINT_CONTENTS, lfd);
    let t1 = now_ns();
    close(fd);
    close(lfd);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    match r {
        Ok(id) if id > 0 => {}
        Ok(id) => return Err(format!("checkpoint returned {id}; log: {}", text.trim())),
        Err(e) => {
            return Err(format!(
                "checkpoint: {}; log: {}",
                ename(e.raw_os_error().unwrap_or(0)),
                text.trim()
            ))
        }
    }
    let frozen = frozen_ms(&text).ok_or_else(|| format!("no frozen time in the log: {text}"))?;
    let size = std::fs::metadata(img).map_err(|e| e.to_string())?.len();
    Ok(((t1 - t0) as f64 / 1e6, frozen, size))
}

/// restart(2) with RESTART_CONTENTS of `img` into a fresh detached
/// ramfs_cr mount, in a clean child (fds IMG_FD, LOG_FD, MNT_FD, PIPE_FD
/// only), timed around the call.  With `attach`, the child attaches the
/// rebuilt mount there before it exits; else its exit drops the mount.
/// Returns ms.
fn ckpt_restore(img: &str, log: &str, attach: Option<&str>) -> Result<f64, String> {
    let (ci, cl) = (cstr(img), cstr(log));
    let at: Option<CString> = attach.map(cstr);
    let mut p = [0i32; 2];
    // SAFETY: valid out array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", ename(errno())));
    }
    // Above every number the child sets up, so none of them replaces it.
    for end in &mut p {
        // SAFETY: plain fcntl on our fd.
        let high = unsafe { libc::fcntl(*end, libc::F_DUPFD_CLOEXEC, 200) };
        close(*end);
        *end = high;
    }
    let _ = std::io::stdout().flush();
    // SAFETY: single-threaded program: the child may allocate.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", ename(errno())));
    }
    if pid == 0 {
        // SAFETY: child side: fds of our own.
        unsafe {
            // The fd at `at` (and the original closed), unless it is there.
            let put = |fd: i32, at: i32| {
                if fd < 0 {
                    libc::_exit(101);
                }
                if fd != at {
                    libc::dup2(fd, at);
                    libc::close(fd);
                }
            };
            put(libc::open(ci.as_ptr(), libc::O_RDONLY), IMG_FD);
            put(
                libc::open(
                    cl.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o600,
                ),
                LOG_FD,
            );
            match detached_mount("ramfs_cr") {
                Ok(m) => put(m.into_raw_fd(), MNT_FD),
                Err(_) => libc::_exit(102),
            }
            put(p[1], PIPE_FD);
            let cr = |a: i32, b: u32| libc::syscall(libc::SYS_close_range, a as u32, b, 0u32);
            cr(0, (IMG_FD - 1) as u32);
            cr(LOG_FD + 1, (MNT_FD - 1) as u32);
            cr(MNT_FD + 1, (PIPE_FD - 1) as u32);
            cr(PIPE_FD + 1, !0u32);
            let t0 = now_ns();
            let r = libc::syscall(
                ckpt_image::syscalls::SYS_RESTART,
                0i64,
                IMG_FD as i64,
                RESTART_CONTENTS as i64,
                LOG_FD as i64,
                [MNT_FD].as_ptr(),
                1u64,
            );
            let t1 = now_ns();
            let r = if r < 0 { -(errno() as i64) } else { r };
            let mut moved = 0i64;
            if r >= 0 {
                if let Some(at) = &at {
                    if move_mount(MNT_FD, at).is_err() {
                        moved = -(errno() as i64);
                    }
                }
            }
            let mut msg = [0u8; 24];
            msg[..8].copy_from_slice(&(t1 - t0).to_le_bytes());
            msg[8..16].copy_from_slice(&r.to_le_bytes());
            msg[16..].copy_from_slice(&moved.to_le_bytes());
            libc::write(PIPE_FD, msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    close(p[1]);
    let mut msg = [0u8; 24];
    // SAFETY: msg is writable for its length.
    let n = unsafe { libc::read(p[0], msg.as_mut_ptr().cast(), msg.len()) };
    close(p[0]);
    let st = wait_pid(pid, 0);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    if n != msg.len() as isize {
        return Err(format!("restoring child failed (status {st:#x})"));
    }
    let ns = u64::from_le_bytes(msg[..8].try_into().unwrap());
    let r = i64::from_le_bytes(msg[8..16].try_into().unwrap());
    let moved = i64::from_le_bytes(msg[16..].try_into().unwrap());
    if r != HOLDER_FDS {
        let what = if r < 0 {
            ename(-r as i32)
        } else {
            format!("{r} fds")
        };
        return Err(format!(
            "restart(RESTART_CONTENTS): {what}, expected {HOLDER_FDS} fds; log: {}",
            text.trim()
        ));
    }
    if moved < 0 {
        return Err(format!("move_mount: {}", ename(-moved as i32)));
    }
    Ok(ns as f64 / 1e6)
}

/// The tar in use: (path, its --version line, GNU or not).
pub struct Tar {
    path: &'static str,
    pub version: String,
    pub gzip: String,
    gnu: bool,
}

fn first_line(argv: &[&str]) -> String {
    std::process::Command::new(argv[0])
        .args(&argv[1..])
        .env("PATH", &TOOL_PATH[5..])
        .output()
        .ok()
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            out.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

pub fn find_tar() -> Tar {
    let v = first_line(&[GNU_TAR, "--version"]);
    if v.contains("GNU tar") {
        return Tar {
            path: GNU_TAR,
            version: v,
            gzip: first_line(&[&format!("{GNU_DIR}/gzip"), "--version"]),
            gnu: true,
        };
    }
    println!("cr-bench: NOTE: no GNU tar at {GNU_TAR}: the tar rows use busybox tar");
    Tar {
        path: BUSYBOX_TAR,
        version: "busybox tar".into(),
        gzip: "busybox gzip".into(),
        gnu: false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Ckpt,
    Tar,
    Tgz,
}

const METHODS: [Method; 3] = [Method::Ckpt, Method::Tar, Method::Tgz];

impl Tar {
    fn argv(&self, m: Method, create: bool, file: &str, dir: &str) -> Vec<String> {
        let mut a: Vec<&str> = vec![self.path];
        match (self.gnu, m, create) {
            (true, Method::Tar, true) => a.extend(["--create"]),
            (true, Method::Tar, false) => a.extend(["--extract"]),
            // CRIU 3.17, criu/mount.c: tmpfs_dump() and tmpfs_restore()
            // (with --numeric-owner on extract as well).
            (true, _, true) => a.extend([
                "--create",
                "--gzip",
                "--no-unquote",
                "--no-wildcards",
                "--one-file-system",
                "--check-links",
                "--preserve-permissions",
                "--sparse",
                "--numeric-owner",
            ]),
            (true, _, false) => a.extend([
                "--extract",
                "--gzip",
                "--no-unquote",
                "--no-wildcards",
                "--numeric-owner",
            ]),
            (false, Method::Tar, c) => a.push(if c { "-c" } else { "-x" }),
            (false, _, c) => a.extend([if c { "-c" } else { "-x" }, "-z"]),
        }
        a.extend(["-f", file, "-C", dir]);
        if create {
            a.push(".");
        }
        a.iter().map(|s| s.to_string()).collect()
    }
}

/// Run a command (stdin, stdout /dev/null, stderr the console) to its end,
/// timed from fork to exit; it must exit 0.  ms.
fn run_tool(argv: &[String]) -> Result<f64, String> {
    let args: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let env = cstr(TOOL_PATH);
    let envp = [env.as_ptr(), std::ptr::null()];
    let null = cstr("/dev/null");
    let t0 = now_ns();
    // SAFETY: the child makes raw syscalls only and execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", ename(errno())));
    }
    if pid == 0 {
        // SAFETY: child side; memory prepared before fork.
        unsafe {
            let z = libc::open(null.as_ptr(), libc::O_RDWR);
            libc::dup2(z, 0);
            libc::dup2(z, 1);
            libc::syscall(libc::SYS_close_range, 3u32, !0u32, 0u32);
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let st = wait_pid(pid, 0);
    let t1 = now_ns();
    if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
        return Err(format!("{:?} failed (status {st:#x})", argv.join(" ")));
    }
    Ok((t1 - t0) as f64 / 1e6)
}

pub struct TreeRow {
    pub label: String,
    pub files: usize,
    pub dirs: usize,
    pub bytes: u64,
    pub build_ms: f64,
    /// Per method (ckpt, tar, tgz): why its result was wrong, if it was.
    pub failed: [Option<String>; 3],
    pub sizes: [u64; 3],
    /// Samples, ms: [method][save, restore].
    pub save: [Vec<f64>; 3],
    pub restore: [Vec<f64>; 3],
    pub frozen: Vec<f64>,
}

/// One save and restore by `m`: (save ms, restore ms, saved bytes).  With
/// `check`, the restored tree is attached at `dst` and validated.
#[allow(clippy::too_many_arguments)]
fn one_round(
    m: Method,
    tar: &Tar,
    spec: &TreeSpec,
    src_sum: &Summary,
    src: &str,
    dst: &str,
    holder: i32,
    tmp: &str,
    check: bool,
    frozen: &mut f64,
) -> Result<(f64, f64, u64), String> {
    let file = match m {
        Method::Ckpt => format!("{tmp}/contents.img"),
        Method::Tar => format!("{tmp}/contents.tar"),
        Method::Tgz => format!("{tmp}/contents.tar.gz"),
    };
    let log = format!("{tmp}/contents.log");
    let r = (|| {
        let (save, size) = if m == Method::Ckpt {
            let (t, f, size) = ckpt_save(holder, &file, &log)?;
            *frozen = f;
            (t, size)
        } else {
            let _ = std::fs::remove_file(&file);
            settle();
            let t = run_tool(&tar.argv(m, true, &file, src))?;
            (
                t,
                std::fs::metadata(&file).map_err(|e| e.to_string())?.len(),
            )
        };
        settle();
        let restore = if m == Method::Ckpt {
            if check {
                mkdir(dst);
            }
            ckpt_restore(&file, &log, check.then_some(dst))?
        } else {
            mount_cr(dst)?;
            settle();
            let t = run_tool(&tar.argv(m, false, &file, dst));
            if t.is_err() {
                umount(dst);
            }
            t?
        };
        if check || m != Method::Ckpt {
            let v = if check {
                validate(spec, src_sum, src, dst)
            } else {
                Ok(())
            };
            umount(dst);
            v?;
        }
        Ok((save, restore, size))
    })();
    let _ = std::fs::remove_file(&file);
    settle();
    r
}

pub fn run(specs: &[TreeSpec], reps: usize, base: &str, tmp: &str, tar: &Tar) -> Vec<TreeRow> {
    let mut rows = Vec::new();
    let src = format!("{base}/contents-src");
    let dst = format!("{base}/contents-dst");
    for spec in specs {
        let mut row = TreeRow {
            label: spec.label.clone(),
            files: spec.sizes.len(),
            dirs: spec.dirs,
            bytes: spec.sizes.iter().map(|&s| s as u64).sum(),
            build_ms: 0.0,
            failed: [None, None, None],
            sizes: [0; 3],
            save: Default::default(),
            restore: Default::default(),
            frozen: vec![],
        };
        let setup = (|| {
            mount_cr(&src)?;
            let t0 = now_ns();
            build(spec, &src)?;
            row.build_ms = (now_ns() - t0) as f64 / 1e6;
            summary(&src)
        })();
        let src_sum = match setup {
            Ok(s) => s,
            Err(e) => {
                row.failed = [Some(e.clone()), Some(e.clone()), Some(e)];
                umount(&src);
                rows.push(row);
                continue;
            }
        };
        println!(
            "cr-bench: contents: {}: built in {:.0} ms: {} files, {} dirs, {} bytes; MemAvailable {} kB",
            spec.label,
            row.build_ms,
            src_sum.files,
            src_sum.dirs,
            src_sum.bytes,
            mem_available_kb()
        );
        let _ = std::io::stdout().flush();
        let dir_rel = if spec.dirs > 0 { "d000" } else { "." };
        let holder = match spawn_holder(&src, dir_rel, &rel_path(spec, 0)) {
            Ok(p) => p,
            Err(e) => {
                row.failed[0] = Some(e);
                0
            }
        };
        // One untimed round first, which checks every result.
        for (k, &m) in METHODS.iter().enumerate() {
            if m == Method::Ckpt && holder == 0 {
                continue;
            }
            let mut f = 0.0;
            match one_round(
                m, tar, spec, &src_sum, &src, &dst, holder, tmp, true, &mut f,
            ) {
                Ok((_, _, size)) => row.sizes[k] = size,
                Err(e) => {
                    println!("cr-bench: contents: {}: FAILED: {e}", spec.label);
                    row.failed[k] = Some(e);
                }
            }
        }
        println!(
            "cr-bench: contents: {}: checked: {}",
            spec.label,
            ["ckpt", "tar", "tar.gz"]
                .iter()
                .zip(&row.failed)
                .map(|(n, f)| format!("{n} {}", if f.is_some() { "FAILED" } else { "ok" }))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = std::io::stdout().flush();
        for rep in 0..reps {
            let t_rep = now_ns();
            for j in 0..METHODS.len() {
                let k = (j + rep) % METHODS.len();
                if row.failed[k].is_some() {
                    continue;
                }
                let mut f = 0.0;
                match one_round(
                    METHODS[k], tar, spec, &src_sum, &src, &dst, holder, tmp, false, &mut f,
                ) {
                    Ok((s, r, _)) => {
                        row.save[k].push(s);
                        row.restore[k].push(r);
                        if k == 0 {
                            row.frozen.push(f);
                        }
                    }
                    Err(e) => {
                        println!("cr-bench: contents: {}: FAILED: {e}", spec.label);
                        row.failed[k] = Some(e);
                    }
                }
            }
            println!(
                "cr-bench: contents: {}: repetition {}/{reps} done in {:.1} s",
                spec.label,
                rep + 1,
                (now_ns() - t_rep) as f64 / 1e9
            );
            let _ = std::io::stdout().flush();
        }
        if holder > 0 {
            kill_reap(holder);
        }
        umount(&src);
        settle();
        rows.push(row);
    }
    rows
}

// ------------------------------------------------------------------ report

fn fmt(v: &[f64], failed: bool) -> String {
    if failed || v.is_empty() {
        return "FAILED".into();
    }
    let s: Stat = stat_of(v);
    format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max)
}

/// other / ckpt: ratio of the medians and median of the paired ratios.
fn ratios(other: &[f64], ckpt: &[f64]) -> Option<(f64, f64)> {
    if other.is_empty() || ckpt.is_empty() || other.len() != ckpt.len() {
        return None;
    }
    Some((
        stat_of(other).median / stat_of(ckpt).median,
        crate::paired_ratio(other, ckpt),
    ))
}

fn fmt_ratio(r: Option<(f64, f64)>) -> String {
    r.map_or("FAILED".into(), |(a, b)| format!("{a:.2} ({b:.2})"))
}

fn ok(r: Option<(f64, f64)>, target: f64) -> &'static str {
    match r {
        Some((a, _)) if a >= target => "met",
        Some(_) => "NOT met",
        None => "FAILED",
    }
}

pub fn print_table(rows: &[TreeRow], tar: &Tar) {
    println!();
    println!(
        "Saving and restoring a whole ramfs_cr mount with its contents ({}, {})",
        tar.version, tar.gzip
    );
    println!("ms, median [min-max]; x = tar / ckpt, ratio of medians (median of paired ratios)");
    println!(
        "{:<34} {:>24} {:>24} {:>24} {:>13} {:>24} {:>13}",
        "save", "ckpt checkpoint(2)", "ckpt frozen", "tar cf", "x", "tar czf (CRIU)", "x"
    );
    for r in rows {
        let f = |k: usize| r.failed[k].is_some();
        println!(
            "{:<34} {:>24} {:>24} {:>24} {:>13} {:>24} {:>13}",
            r.label,
            fmt(&r.save[0], f(0)),
            fmt(&r.frozen, f(0)),
            fmt(&r.save[1], f(1)),
            fmt_ratio(ratios(&r.save[1], &r.save[0])),
            fmt(&r.save[2], f(2)),
            fmt_ratio(ratios(&r.save[2], &r.save[0]))
        );
    }
    println!(
        "{:<34} {:>24} {:>24} {:>13} {:>24} {:>13}",
        "restore", "ckpt restart(2)", "tar xf", "x", "tar xzf (CRIU)", "x"
    );
    for r in rows {
        let f = |k: usize| r.failed[k].is_some();
        println!(
            "{:<34} {:>24} {:>24} {:>13} {:>24} {:>13}",
            r.label,
            fmt(&r.restore[0], f(0)),
            fmt(&r.restore[1], f(1)),
            fmt_ratio(ratios(&r.restore[1], &r.restore[0])),
            fmt(&r.restore[2], f(2)),
            fmt_ratio(ratios(&r.restore[2], &r.restore[0]))
        );
    }
    println!(
        "{:<34} {:>14} {:>14} {:>14} {:>14}",
        "bytes", "source data", "ckpt image", "tar", "tar.gz"
    );
    for r in rows {
        println!(
            "{:<34} {:>14} {:>14} {:>14} {:>14}",
            r.label, r.bytes, r.sizes[0], r.sizes[1], r.sizes[2]
        );
    }
    for r in rows {
        for (k, n) in ["ckpt", "tar", "tar.gz"].iter().enumerate() {
            if let Some(e) = &r.failed[k] {
                println!("{}: {n}: FAILED: {e}", r.label);
            }
        }
        println!(
            "targets, {}: checkpoint >= 2x tar cf: {}; >= 10x tar czf: {}; restart >= 1.5x tar xf: {}",
            r.label,
            ok(ratios(&r.save[1], &r.save[0]), 2.0),
            ok(ratios(&r.save[2], &r.save[0]), 10.0),
            ok(ratios(&r.restore[1], &r.restore[0]), 1.5)
        );
    }
}

fn jesc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\t', " ")
}

fn jstat(v: &[f64]) -> String {
    if v.is_empty() {
        "null".into()
    } else {
        crate::jstat(v)
    }
}

fn jratio(r: Option<(f64, f64)>) -> String {
    r.map_or("null".into(), |(a, b)| {
        format!("{{\"median\": {}, \"paired\": {}}}", jnum(a), jnum(b))
    })
}

/// The `"contents"` member of the JSON document (with its trailing comma).
pub fn json(rows: &[TreeRow], tar: &Tar) -> String {
    let mut j = String::new();
    j.push_str(&format!(
        "  \"contents\": {{\"tar\": \"{}\", \"gzip\": \"{}\", \"unit\": \"ms\", \"trees\": [\n",
        jesc(&tar.version),
        jesc(&tar.gzip)
    ));
    for (i, r) in rows.iter().enumerate() {
        let comma = if i + 1 < rows.len() { "," } else { "" };
        let failed: Vec<String> = ["ckpt", "tar", "tgz"]
            .iter()
            .zip(&r.failed)
            .map(|(n, f)| {
                format!(
                    "\"{n}\": {}",
                    f.as_ref()
                        .map_or("null".into(), |e| format!("\"{}\"", jesc(e)))
                )
            })
            .collect();
        j.push_str(&format!(
            "    {{\"tree\": \"{}\", \"files\": {}, \"dirs\": {}, \"bytes\": {}, \"build_ms\": {},\n",
            jesc(&r.label),
            r.files,
            r.dirs,
            r.bytes,
            jnum(r.build_ms)
        ));
        j.push_str(&format!(
            "     \"failed\": {{{}}}, \"image_bytes\": {}, \"tar_bytes\": {}, \"tgz_bytes\": {},\n",
            failed.join(", "),
            r.sizes[0],
            r.sizes[1],
            r.sizes[2]
        ));
        j.push_str(&format!(
            "     \"ckpt_checkpoint\": {}, \"ckpt_frozen\": {},\n     \"tar_cf\": {}, \"tar_czf\": {},\n",
            jstat(&r.save[0]),
            jstat(&r.frozen),
            jstat(&r.save[1]),
            jstat(&r.save[2])
        ));
        j.push_str(&format!(
            "     \"ckpt_restart\": {}, \"tar_xf\": {}, \"tar_xzf\": {},\n",
            jstat(&r.restore[0]),
            jstat(&r.restore[1]),
            jstat(&r.restore[2])
        ));
        j.push_str(&format!(
            "     \"x_tar_cf\": {}, \"x_tar_czf\": {}, \"x_tar_xf\": {}, \"x_tar_xzf\": {}}}{comma}\n",
            jratio(ratios(&r.save[1], &r.save[0])),
            jratio(ratios(&r.save[2], &r.save[0])),
            jratio(ratios(&r.restore[1], &r.restore[0])),
            jratio(ratios(&r.restore[2], &r.restore[0]))
        ));
    }
    j.push_str("  ]},\n");
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_from_log() {
        let log = "checkpoint: 1 superblock saved, frozen for 1234 us\n";
        assert_eq!(frozen_ms(log), Some(1.234));
        assert_eq!(frozen_ms("nothing"), None);
    }

    #[test]
    fn trees_have_the_issue_sizes() {
        let t = trees(false);
        assert_eq!(t[0].sizes, vec![16 << 20; 16]);
        assert_eq!(t[1].sizes.len(), 10_000);
        let total: usize = t[1].sizes.iter().sum();
        let mib = total as f64 / (1 << 20) as f64;
        assert!((63.0..65.0).contains(&mib), "{mib} MiB");
        assert_eq!(rel_path(&t[1], 1234), "d034/f01234");
    }

    #[test]
    fn data_is_dense() {
        let mut b = vec![0u8; 4096];
        let mut s = 1u64;
        fill(&mut b, &mut s);
        assert!(b.iter().filter(|&&x| x == 0).count() < 64);
        let mut c = vec![0u8; 4096];
        fill(&mut c, &mut s);
        assert_ne!(b, c);
    }

    #[test]
    fn criu_arguments() {
        let t = Tar {
            path: GNU_TAR,
            version: String::new(),
            gzip: String::new(),
            gnu: true,
        };
        let a = t.argv(Method::Tgz, true, "/tmp/x", "/src").join(" ");
        assert!(a.contains("--create --gzip") && a.contains("--sparse --numeric-owner"));
        assert!(a.ends_with("-f /tmp/x -C /src ."));
        let a = t.argv(Method::Tar, false, "/tmp/x", "/dst").join(" ");
        assert_eq!(a, "/usr/local/bin/tar --extract -f /tmp/x -C /dst");
    }

    #[test]
    fn json_balanced() {
        let t = Tar {
            path: GNU_TAR,
            version: "tar (GNU tar) 1.34".into(),
            gzip: "gzip 1.12".into(),
            gnu: true,
        };
        let row = TreeRow {
            label: "x".into(),
            files: 1,
            dirs: 0,
            bytes: 1,
            build_ms: 1.0,
            failed: [None, Some("bad \"x\"".into()), None],
            sizes: [1, 2, 3],
            save: [vec![1.0], vec![], vec![3.0]],
            restore: [vec![1.0], vec![], vec![3.0]],
            frozen: vec![0.5],
        };
        let j = json(&[row], &t);
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
        assert!(j.contains("\"x_tar_czf\": {\"median\": 3.000000"));
        assert!(j.contains("\"tar_cf\": null"));
    }
}
