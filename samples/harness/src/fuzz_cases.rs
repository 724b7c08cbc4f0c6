//! restart(2) against hostile images: the fuzz pass (issue 6).
//!
//! Valid images are made in the VM by checkpointing children that hold
//! small, large, shared (dup'd) and directory fds on a ramfs_cr mount at
//! /mnt/fuzz.  Each is mutated (`crate::mutate`, deterministic seeds) and
//! fed to restart(2) in a forked child, which compares its fd table
//! (readlink, position, flags, close-on-exec of every fd), cwd, root and
//! umask before and after.  Expectations:
//!
//! - an image the userspace decoder (`ckpt_image::decode`) rejects fails
//!   with the errno the decoder predicts (EINVAL, EIO for an ERROR record),
//!   or EMFILE (fd above RLIMIT_NOFILE, checked during the parse);
//! - an image the decoder accepts either succeeds, and then the fd table
//!   is exactly what the image says, or fails with an open(2)-like errno
//!   (ENOENT, EACCES, ESTALE, ...) and never with a parse error;
//! - on error nothing of the caller changed; no kernel splat appears.
//!
//! Counts: `CR_FUZZ_N` (environment) or `ramfs_cr.fuzz=N` (kernel command
//! line), default 2000; `CR_FUZZ_SEED` / `ramfs_cr.fuzz_seed=S` replays the
//! random seeds from S (the systematic part is skipped).

use crate::golden::apply;
use crate::mutate;
use crate::vm::*;
use ckpt_image::syscalls::{checkpoint, restart};
use ckpt_image::{decode, scan, Image, CHECKPOINT_SKIP_UNSUPPORTED, RESTART_DRY_RUN};
use std::collections::BTreeMap;
use std::time::Instant;
use testsupport::golden::{self as st, Step};

pub const MNT: &str = "/mnt/fuzz";
/// fds of the fuzz driver, above the children's RLIMIT_NOFILE (1000).
const IMG: i32 = 1001;
const LOG: i32 = 1002;
const CHILD_NOFILE: u64 = 1000;

// ------------------------------------------------------------ the playground

/// The regular files [`populate`] makes, 8 KiB each.
pub const POPULATED: [&str; 10] = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"];

/// Files on the ramfs_cr mount the base images name.
pub fn populate(mnt: &str) -> R {
    use std::os::unix::fs::PermissionsExt;
    let w = |p: &str, b: &[u8]| std::fs::write(p, b).map_err(|e| format!("write {p}: {e}"));
    for i in 0..10 {
        w(&format!("{mnt}/f{i}"), &vec![b'a' + i as u8; 8192])?;
    }
    std::fs::create_dir_all(format!("{mnt}/d0")).map_err(|e| format!("mkdir: {e}"))?;
    for i in 0..60 {
        w(&format!("{mnt}/d0/e{i:03}"), b"x")?;
    }
    std::fs::create_dir_all(format!("{mnt}/sub/deep/er")).map_err(|e| format!("mkdir: {e}"))?;
    w(&format!("{mnt}/sub/deep/er/leaf"), b"leaf")?;
    w(&format!("{mnt}/secret"), b"root only")?;
    std::fs::set_permissions(
        format!("{mnt}/secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .map_err(|e| e.to_string())?;
    w(&format!("{mnt}/ro"), b"readable by all")?;
    std::fs::set_permissions(format!("{mnt}/ro"), std::fs::Permissions::from_mode(0o644))
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(format!("{mnt}/noexec")).map_err(|e| format!("mkdir: {e}"))?;
    std::fs::set_permissions(
        format!("{mnt}/noexec"),
        std::fs::Permissions::from_mode(0o600),
    )
    .map_err(|e| e.to_string())?;
    let _ = std::os::unix::fs::symlink(format!("{mnt}/f0"), format!("{mnt}/lnk"));
    Ok(())
}

/// Checkpoint a child that runs `setup` (after closing every fd) into a
/// memfd; returns the image (success or not: a failed checkpoint leaves an
/// image with an ERROR record).
pub fn make_image<F: FnOnce() -> R>(
    setup: F,
    flags: u64,
) -> Result<(Vec<u8>, Result<i64, i32>), String> {
    memfd_at("base", 1010, b"")?;
    let mut p = [0i32; 2];
    // SAFETY: pipe into a 2-int array.
    unsafe { libc::pipe(p.as_mut_ptr()) };
    dup2(p[1], 1011)?;
    close(p[1]);
    let pid = fork()?;
    if pid == 0 {
        close_range(0, 1009);
        close_range(1012, u32::MAX);
        alarm(60);
        let r = setup();
        let msg = match r {
            Err(e) => format!("setup: {e}"),
            Ok(()) => match checkpoint(0, 1010, flags, -1) {
                Ok(id) => format!("OK {id}"),
                Err(e) => format!("E {}", e.raw_os_error().unwrap_or(0)),
            },
        };
        // SAFETY: writing our own buffer to the pipe.
        unsafe { libc::write(1011, msg.as_ptr().cast(), msg.len()) };
        exit(0);
    }
    close(1011);
    let msg = read_all(p[0]);
    close(p[0]);
    wait(pid);
    let img = get_bytes(1010);
    close(1010);
    if let Some(id) = msg.strip_prefix("OK ") {
        Ok((img, Ok(id.parse().unwrap_or(0))))
    } else if let Some(e) = msg.strip_prefix("E ") {
        Ok((img, Err(e.parse().unwrap_or(0))))
    } else {
        Err(format!("checkpointing child: {msg:?}"))
    }
}

fn o(path: &str, flags: i32, at: i32) -> R {
    open_at(path, flags, at).map(|_| ())
}

/// The valid base images: (what, bytes).
pub fn base_images(mnt: &str) -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let (rdonly, dir) = (libc::O_RDONLY, libc::O_RDONLY | libc::O_DIRECTORY);
    // small: one file, with a position
    let small = vec![st::open("f0", libc::O_RDWR, 3), st::seek(3, 5)];
    // many fds, shared (dup'd) files, cloexec, append, positions, dirs
    let mut many = Vec::new();
    for i in 0..30 {
        let fl = [
            rdonly,
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_RDWR | libc::O_APPEND,
        ][i % 4];
        let fd = 3 + i as i32 * 2;
        many.extend([
            st::open(POPULATED[i % 10], fl, fd),
            st::seek(fd, (i * 37) as i64),
        ]);
        if i % 3 == 0 {
            many.push(st::cloexec(fd));
        }
        if i % 5 == 0 {
            many.push(st::dup(fd, fd + 1));
        }
    }
    many.extend([
        st::open("d0", dir, 70),
        st::open("sub/deep/er/leaf", rdonly | libc::O_NOFOLLOW, 71),
        Step::Chdir("sub"),
    ]);
    // directories (one read partway, below), cwd deep
    let dirs = vec![
        st::open("d0", dir, 3),
        st::open(".", dir, 4),
        st::open("sub/deep", dir, 9),
        st::cloexec(9),
        Step::Chdir("sub/deep/er"),
    ];
    // large: 400 fds spread up to 990
    let mut large = Vec::new();
    for i in 0..400 {
        let fd = 3 + i * 2 + (i / 100) * 30;
        large.push(st::open(
            POPULATED[i as usize % 10],
            [rdonly, libc::O_RDWR][i as usize % 2],
            fd,
        ));
        if i % 7 == 0 {
            large.push(st::seek(fd, i as i64));
        }
    }
    let mut v = Vec::new();
    for (what, steps) in [
        ("small", small),
        ("many+shared", many),
        ("dirs", dirs),
        ("large", large),
        ("empty", vec![]),
    ] {
        let m = mnt.to_string();
        let (img, r) = make_image(
            move || {
                apply(&m, &steps)?;
                if what == "dirs" {
                    getdents(3, 512).map_err(ename)?;
                }
                Ok(())
            },
            CHECKPOINT_SKIP_UNSUPPORTED,
        )?;
        if let Err(e) = r {
            return Err(format!("checkpoint of base {what}: {}", ename(e)));
        }
        decode(&img).map_err(|e| format!("base image {what} does not decode: {e}"))?;
        v.push((what, img));
    }
    // a failed checkpoint: ends with an ERROR record
    let m = mnt.to_string();
    let (img, r) = make_image(
        move || {
            open_at(&format!("{m}/f1"), rdonly, 3)?;
            open_at("/proc/self/status", rdonly, 4).map(|_| ())
        },
        0,
    )?;
    if r != Err(libc::EBADF) {
        return Err(format!(
            "checkpoint with a /proc fd: expected EBADF, got {r:?}"
        ));
    }
    v.push(("error", img));
    Ok(v)
}

// ---------------------------------------------------------------- the fuzzer

fn cmdline_param(key: &str) -> Option<String> {
    let c = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    c.split_whitespace()
        .find_map(|a| a.strip_prefix(&format!("{key}=")).map(str::to_string))
}
fn param_u64(env: &str, cmd: &str) -> Option<u64> {
    std::env::var(env)
        .ok()
        .or_else(|| cmdline_param(cmd))
        .and_then(|s| s.parse().ok())
}

/// What the child saw.
enum Verdict {
    Err(i32, String),
    Ok(i64),
    Bad(String),
}

/// errnos an image the decoder accepts may still fail with: reopening the
/// files, looking up the root and cwd (open(2)'s errors) and RLIMIT_NOFILE.
const OPEN_ERRNOS: &[i32] = &[
    libc::ENOENT,
    libc::EACCES,
    libc::EPERM,
    libc::ESTALE,
    libc::EISDIR,
    libc::ENOTDIR,
    libc::EINVAL,
    libc::ENAMETOOLONG,
    libc::ELOOP,
    libc::EMFILE,
    libc::ESPIPE,
    libc::ENXIO,
    libc::ENODEV,
    libc::EROFS,
    libc::ETXTBSY,
    libc::EOVERFLOW,
    libc::EFBIG,
];

/// In the forked child: restart(2) from IMG, check the state, return the verdict.
fn child_restart(
    dec: &Result<Image, ckpt_image::ImageError>,
    flags: u64,
    before: &Snap,
) -> (Verdict, u64) {
    let t = Instant::now();
    let v = child_restart_v(dec, flags, before, &t);
    (v.0, v.1)
}

fn child_restart_v(
    dec: &Result<Image, ckpt_image::ImageError>,
    flags: u64,
    before: &Snap,
    t0: &Instant,
) -> (Verdict, u64) {
    let rl = libc::rlimit {
        rlim_cur: CHILD_NOFILE,
        rlim_max: CHILD_NOFILE,
    };
    // SAFETY: setrlimit with a valid struct; fd calls on integers.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        libc::ftruncate(LOG, 0);
        libc::lseek(LOG, 0, libc::SEEK_SET);
        libc::lseek(IMG, 0, libc::SEEK_SET);
    }
    let _ = t0;
    let t = Instant::now();
    let r = restart(0, IMG, flags, LOG);
    let ns = t.elapsed().as_nanos() as u64;
    let before = before.clone();
    let dry = flags & RESTART_DRY_RUN != 0;
    match r {
        Err(e) => {
            let e = e.raw_os_error().unwrap_or(0);
            let after = snap_nopos(&[LOG], IMG);
            let log = text_of(LOG);
            if before != after {
                return (
                    Verdict::Bad(format!(
                        "restart failed with {} but changed the caller:\n{}",
                        ename(e),
                        snap_diff(&before, &after)
                    )),
                    ns,
                );
            }
            (Verdict::Err(e, log), ns)
        }
        Ok(n) => {
            let im = match dec {
                Ok(im) => im,
                Err(_) => return (Verdict::Ok(n), ns), // judged by the parent
            };
            if n != im.fds.len() as i64 {
                return (
                    Verdict::Bad(format!(
                        "restart returned {n}, image has {} fds",
                        im.fds.len()
                    )),
                    ns,
                );
            }
            if dry {
                let after = snap_nopos(&[LOG], IMG);
                if before != after {
                    return (
                        Verdict::Bad(format!(
                            "RESTART_DRY_RUN succeeded and changed the caller:\n{}",
                            snap_diff(&before, &after)
                        )),
                        ns,
                    );
                }
                return (Verdict::Ok(n), ns);
            }
            match verify_restored(im, &before) {
                Ok(()) => (Verdict::Ok(n), ns),
                Err(e) => (Verdict::Bad(e), ns),
            }
        }
    }
}

/// The name with symlinks resolved.  restart(2) refuses a name that goes
/// through a symlink (ELOOP), so for a name it accepted this is the name.
fn canon(name: &[u8]) -> String {
    use std::os::unix::ffi::OsStrExt;
    std::fs::canonicalize(std::ffi::OsStr::from_bytes(name))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// After a successful restart: the fd table, cwd and umask are what `im` says,
/// every other fd is untouched.
pub fn verify_restored(im: &Image, before: &Snap) -> R {
    verify_restored_img(im, before, IMG)
}

pub fn verify_restored_img(im: &Image, before: &Snap, img: i32) -> R {
    let same_root = im.root == b"/";
    let after = snap_nopos(&[LOG], img);
    let mut errs = Vec::new();
    for d in &im.fds {
        let f = match im.file_of(d) {
            Some(f) => f,
            None => {
                errs.push(format!("fd {}: objref {} not in image", d.fd, d.fd_objref));
                continue;
            }
        };
        let got = after.fds.iter().find(|x| x.0 == d.fd);
        let Some((_, _, pos, fl, fdfl)) = got else {
            errs.push(format!("fd {} not installed", d.fd));
            continue;
        };
        let link = if same_root {
            readlink(&format!("/proc/self/fd/{}", d.fd))
        } else {
            String::new()
        };
        if same_root
            && link.as_bytes() != &f.name[..]
            && link.as_bytes() != canon(&f.name).as_bytes()
        {
            errs.push(format!(
                "fd {}: names {link}, image says {}",
                d.fd,
                String::from_utf8_lossy(&f.name)
            ));
        }
        if (*fl & libc::O_ACCMODE) as u32 != f.file.f_flags & 3 {
            errs.push(format!(
                "fd {}: access mode {:#o}, image {:#o}",
                d.fd,
                fl & 3,
                f.file.f_flags & 3
            ));
        }
        let want_fl = f.file.f_flags & (libc::O_APPEND | libc::O_NONBLOCK) as u32;
        if (*fl as u32) & (libc::O_APPEND | libc::O_NONBLOCK) as u32 != want_fl {
            errs.push(format!(
                "fd {}: flags {fl:#o}, image {:#o}",
                d.fd, f.file.f_flags
            ));
        }
        if (*fdfl & libc::FD_CLOEXEC != 0) != (d.close_on_exec != 0) {
            errs.push(format!(
                "fd {}: FD_CLOEXEC {fdfl}, image {}",
                d.fd, d.close_on_exec
            ));
        }
        if f.file.i_mode & 0o170000 == 0o100000 && *pos != f.file.f_pos {
            errs.push(format!(
                "fd {}: position {pos}, image {}",
                d.fd, f.file.f_pos
            ));
        }
    }
    // fds the image does not name are untouched (after a root change
    // /proc is out of reach: compare everything but the names)
    let (bf, af) = (before.fds.clone(), after.fds.clone());
    for x in &bf {
        if !im.fds.iter().any(|d| d.fd == x.0) && !af.contains(x) {
            errs.push(format!("fd {} not in the image changed: {x:?}", x.0));
        }
    }
    for x in &after.fds {
        if !im.fds.iter().any(|d| d.fd == x.0) && !before.fds.iter().any(|b| b.0 == x.0) {
            errs.push(format!("fd {} appeared: {x:?}", x.0));
        }
    }
    let cwd = if same_root {
        readlink("/proc/self/cwd")
    } else {
        String::new()
    };
    if same_root && cwd.as_bytes() != &im.cwd[..] && cwd != canon(&im.cwd) {
        errs.push(format!(
            "cwd {cwd}, image {}",
            String::from_utf8_lossy(&im.cwd)
        ));
    }
    if after.umask != im.fs.umask {
        errs.push(format!(
            "umask {:#o}, image {:#o}",
            after.umask, im.fs.umask
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "restart succeeded but the result differs from the image:\n  {}",
            errs.join("\n  ")
        ))
    }
}

/// Run one image through restart(2) in a forked child.
/// What the clone()d child reads and writes (it shares our memory).
struct ChildCtx<'a> {
    jobs: &'a [Job],
    decs: &'a [Result<Image, ckpt_image::ImageError>],
    before: &'a Snap,
    /// one verdict per job done, with the ns spent in restart(2)
    out: Vec<(Verdict, u64)>,
}

/// One image to restart.
pub struct Job {
    pub what: String,
    pub bytes: Vec<u8>,
    pub flags: u64,
}

/// The fd table, cwd, root and umask every fuzz child starts with: the
/// driver's own (the child is a copy), taken once per run.
static BEFORE: std::sync::Mutex<Option<Snap>> = std::sync::Mutex::new(None);
static TIMES: std::sync::Mutex<(u64, u64, u64)> = std::sync::Mutex::new((0, 0, 0));

/// The child: restarts the jobs one after the other.  A failed restart (and
/// a dry run) leaves the child exactly as it started, which child_restart()
/// checks, so the next job starts from the same state; the child stops after
/// the first restart that changed it (a real success) or misbehaved.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the &mut ChildCtx run_batch passed; the parent is
    // suspended (CLONE_VFORK) until we exit, so nothing else touches it.
    let ctx = unsafe { &mut *(arg as *mut ChildCtx) };
    alarm(120);
    for (job, dec) in ctx.jobs.iter().zip(ctx.decs.iter()) {
        if set_bytes(IMG, &job.bytes).is_err() {
            return 3;
        }
        let (v, ns) = child_restart(dec, job.flags, ctx.before);
        let stop = match &v {
            Verdict::Ok(_) => job.flags & RESTART_DRY_RUN == 0,
            Verdict::Bad(_) => true,
            Verdict::Err(..) => false,
        };
        ctx.out.push((v, ns));
        if stop {
            break;
        }
    }
    0
}

/// The children's stack (one child at a time runs, while we are suspended).
static mut CHILD_STACK: [u8; 1 << 20] = [0; 1 << 20];

/// Run the jobs through restart(2) in child processes, each a
/// clone(CLONE_VM | CLONE_VFORK): its own process with its own copy of the
/// fd table, cwd, root, umask and rlimits (no CLONE_FILES, CLONE_FS), but no
/// copy of the address space, which is what costs under KASAN; the
/// verdicts come back in memory.
/// A verdict and the decoder's opinion of the same image.
type Judged = (Verdict, Result<Image, ckpt_image::ImageError>);

fn run_batch(jobs: &[Job]) -> Result<Vec<Judged>, String> {
    let decs: Vec<_> = jobs.iter().map(|j| scan(&j.bytes).result).collect();
    let before = {
        let mut b = BEFORE.lock().unwrap_or_else(|e| e.into_inner());
        if b.is_none() {
            *b = Some(snap_nopos(&[LOG], IMG));
        }
        b.clone().unwrap()
    };
    let mut verdicts: Vec<Verdict> = Vec::new();
    while verdicts.len() < jobs.len() {
        let start = verdicts.len();
        let t = Instant::now();
        let mut ctx = ChildCtx {
            jobs: &jobs[start..],
            decs: &decs[start..],
            before: &before,
            out: Vec::with_capacity(jobs.len()),
        };
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        // SAFETY: the stack is ours and unused while the child runs
        // (CLONE_VFORK suspends us); the child only returns from child_main.
        let pid = unsafe {
            let top = (std::ptr::addr_of_mut!(CHILD_STACK) as *mut u8).add(1 << 20);
            let top = ((top as usize) & !15) as *mut libc::c_void;
            libc::clone(
                child_main,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&mut ctx as *mut ChildCtx).cast(),
            )
        };
        if pid < 0 {
            return Err(format!("clone: {}", ename(errno())));
        }
        let st = wait(pid);
        let out = std::mem::take(&mut ctx.out);
        {
            let mut tm = TIMES.lock().unwrap_or_else(|e| e.into_inner());
            tm.0 += t.elapsed().as_nanos() as u64;
            tm.1 += out.iter().map(|x| x.1).sum::<u64>();
            tm.2 += 1;
        }
        let done = out.len();
        verdicts.extend(out.into_iter().map(|x| x.0));
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            // the job it was on when it died
            if verdicts.len() < jobs.len() {
                verdicts.push(Verdict::Bad(format!(
                    "fuzz child {} during this image",
                    status_text(st)
                )));
            }
        } else if done == 0 {
            return Err("fuzz child did nothing".into());
        }
    }
    Ok(verdicts.into_iter().zip(decs).collect())
}

/// Run one image through restart(2) in a child process.
fn run_one(img: &[u8], flags: u64) -> Result<Judged, String> {
    let jobs = [Job {
        what: String::new(),
        bytes: img.to_vec(),
        flags,
    }];
    let mut v = run_batch(&jobs)?;
    Ok(v.remove(0))
}

/// Jobs waiting to be run and judged, 64 per batch.
struct Batcher {
    jobs: Vec<Job>,
}
impl Batcher {
    fn push(&mut self, st: &mut Stats, what: String, bytes: Vec<u8>, flags: u64) -> R {
        self.jobs.push(Job { what, bytes, flags });
        if self.jobs.len() >= 64 {
            self.flush(st)?;
        }
        Ok(())
    }
    fn flush(&mut self, st: &mut Stats) -> R {
        let jobs = std::mem::take(&mut self.jobs);
        let res = run_batch(&jobs)?;
        for (job, (v, dec)) in jobs.iter().zip(res) {
            judge_v(st, &job.what, &job.bytes, job.flags, v, dec);
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct Stats {
    pub tried: usize,
    pub errnos: BTreeMap<String, usize>,
    pub accepted: usize,
    pub accepted_dry: usize,
    pub dec_kinds: BTreeMap<&'static str, usize>,
    pub failures: Vec<String>,
    pub nfail: usize,
}

impl Stats {
    fn fail(&mut self, s: String) {
        self.nfail += 1;
        if self.failures.len() < 12 {
            self.failures.push(s);
        }
    }
}

/// Judge one image; `what` names it for replay.
fn judge_v(
    st: &mut Stats,
    what: &str,
    img: &[u8],
    flags: u64,
    v: Verdict,
    dec: Result<Image, ckpt_image::ImageError>,
) {
    st.tried += 1;
    if st.tried.is_multiple_of(1000) {
        println!("# fuzz: {} images so far", st.tried);
    }
    let kind = match &dec {
        Ok(_) => "valid",
        Err(e) => e.kind(),
    };
    *st.dec_kinds.entry(kind).or_default() += 1;
    let hex = || {
        let n = img.len().min(160);
        let h: Vec<String> = img[..n].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{} bytes: {}{}",
            img.len(),
            h.join(""),
            if img.len() > n { "..." } else { "" }
        )
    };
    match v {
        Verdict::Bad(s) => st.fail(format!("{what}: {s}\n  image {}", hex())),
        Verdict::Ok(n) => {
            if flags & RESTART_DRY_RUN != 0 {
                st.accepted_dry += 1;
            } else {
                st.accepted += 1;
            }
            *st.errnos.entry("success".into()).or_default() += 1;
            if let Err(e) = &dec {
                st.fail(format!(
                    "{what}: restart returned {n} for an image the decoder rejects ({e})\n  image {}",
                    hex()
                ));
            }
        }
        Verdict::Err(e, log) => {
            *st.errnos.entry(ename(e)).or_default() += 1;
            let parse_err = log.contains(" at offset ");
            match &dec {
                Err(de) => {
                    let want = de.errno();
                    if error_in_prefix(img) && e != libc::EIO {
                        // the kernel looks for an ERROR record in the
                        // well-formed prefix before anything else (K1)
                        st.fail(format!("{what}: the image holds an ERROR record, restart gave {} not EIO; kernel log: {}\n  image {}", ename(e), log.trim(), hex()));
                    } else if e != want && e != libc::EMFILE {
                        // EMFILE: the kernel checks fd numbers against
                        // RLIMIT_NOFILE during the parse, which the decoder
                        // cannot know
                        st.fail(format!("{what}: restart gave {}, decoder predicts {} ({de}); kernel log: {}\n  image {}", ename(e), ename(want), log.trim(), hex()));
                    }
                }
                Ok(_) => {
                    if !OPEN_ERRNOS.contains(&e) || (e == libc::EINVAL && parse_err) {
                        st.fail(format!(
                            "{what}: decoder accepts, restart gave {}; kernel log: {}\n  image {}",
                            ename(e),
                            log.trim(),
                            hex()
                        ));
                    }
                }
            }
        }
    }
}

/// Whether the well-formed prefix of the stream (records with a sane
/// length, walked from the start) holds an ERROR record: restart(2) then
/// refuses the image with EIO before checking anything else.
fn error_in_prefix(img: &[u8]) -> bool {
    let mut off = 0usize;
    while img.len() - off >= 8 {
        let t = mutate::u32le(img, off);
        let len = mutate::u32le(img, off + 4) as usize;
        if len < 8 || !len.is_multiple_of(8) || len > img.len() - off {
            return false;
        }
        if t == ckpt_image::CKPT_HDR_ERROR {
            return true;
        }
        off += len;
    }
    false
}

/// The systematic part: every truncation at and inside every record, every
/// record deleted and duplicated (sealed), for the given base images.
fn systematic(
    bases: &[(&'static str, Vec<u8>)],
    st: &mut Stats,
    bt: &mut Batcher,
    limit: usize,
) -> R {
    let mut n = 0usize;
    for (name, img) in bases
        .iter()
        .filter(|b| b.0 == "small" || b.0 == "dirs" || b.0 == "error")
    {
        let recs = mutate::split(img);
        let body: Vec<Vec<u8>> = recs[..recs.len() - 1].to_vec();
        let mut off = 0usize;
        let mut cuts = Vec::new();
        for r in &recs {
            for k in (0..r.len()).step_by(4) {
                cuts.push(off + k);
            }
            off += r.len();
        }
        for c in cuts {
            if n >= limit {
                return Ok(());
            }
            n += 1;
            bt.push(
                st,
                format!("base {name} truncated to {c}"),
                img[..c].to_vec(),
                0,
            )?;
        }
        for i in 0..body.len() {
            if n + 3 >= limit {
                return Ok(());
            }
            n += 3;
            let mut b = body.clone();
            b.remove(i);
            bt.push(
                st,
                format!("base {name} record {i} deleted, sealed"),
                mutate::seal(&b),
                0,
            )?;
            let mut b = body.clone();
            b.insert(i, body[i].clone());
            bt.push(
                st,
                format!("base {name} record {i} duplicated, sealed"),
                mutate::seal(&b),
                0,
            )?;
            bt.push(
                st,
                format!("base {name} records 0..{i}, sealed"),
                mutate::seal(&body[..i]),
                0,
            )?;
        }
    }
    Ok(())
}

/// Open some fds in the driver that the children inherit and restart(2) may
/// replace (victims), and the image/log memfds.
fn fuzz_setup(mnt: &str) -> R {
    *BEFORE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    *TIMES.lock().unwrap_or_else(|e| e.into_inner()) = (0, 0, 0);
    memfd_at("img", IMG, b"")?;
    memfd_at("log", LOG, b"")?;
    open_at(&format!("{mnt}/f9"), libc::O_RDONLY, 3)?;
    open_at(&format!("{mnt}/d0"), libc::O_RDONLY | libc::O_DIRECTORY, 4)?;
    open_at(&format!("{mnt}/f8"), libc::O_RDWR | libc::O_CLOEXEC, 10)?;
    lseek(10, 77, libc::SEEK_SET);
    Ok(())
}

fn fuzz_teardown() {
    *BEFORE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    for fd in [IMG, LOG, 3, 4, 10] {
        close(fd);
    }
}

/// Report lines shared by the fuzz cases.
pub fn report(st: &Stats, secs: f64) {
    println!(
        "# fuzz: {} images tried in {:.1} s ({:.1} ms each)",
        st.tried,
        secs,
        secs * 1000.0 / st.tried.max(1) as f64
    );
    let tm = *TIMES.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "# fuzz: {} children, {:.1} s in them (clone to exit), {:.1} s of it in restart(2)",
        tm.2,
        tm.0 as f64 / 1e9,
        tm.1 as f64 / 1e9
    );
    let h: Vec<String> = st.errnos.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("# fuzz: restart(2) results: {}", h.join(", "));
    println!("# fuzz: accepted {} (+{} dry run), each verified valid by ckpt-image and against the fd table", st.accepted, st.accepted_dry);
    let k: Vec<String> = st
        .dec_kinds
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("# fuzz: decoder verdicts: {}", k.join(", "));
}

pub(crate) fn fuzz() -> R {
    let n = param_u64("CR_FUZZ_N", "ramfs_cr.fuzz").unwrap_or(2000) as usize;
    let seed0 = param_u64("CR_FUZZ_SEED", "ramfs_cr.fuzz_seed");
    on_mount(MNT, || {
        populate(MNT)?;
        let bases = base_images(MNT)?;
        let sizes: Vec<String> = bases
            .iter()
            .map(|(w, b)| format!("{w} {}", b.len()))
            .collect();
        println!("# fuzz: base images (bytes): {}", sizes.join(", "));
        fuzz_setup(MNT)?;
        let splats0 = kmsg_splats().len();
        let mut st = Stats::default();
        let t0 = Instant::now();
        let res = (|| {
            let mut bt = Batcher { jobs: Vec::new() };
            let mut queued = 0usize;
            if seed0.is_none() {
                systematic(&bases, &mut st, &mut bt, n / 3)?;
                queued = st.tried + bt.jobs.len();
                println!(
                    "# fuzz: {queued} systematic images, then random seeds from {}",
                    seed0.unwrap_or(1)
                );
            }
            let start = seed0.unwrap_or(1);
            let mut s = start;
            while queued < n {
                let bi = (s % bases.len() as u64) as usize;
                let di = ((s / 7) % bases.len() as u64) as usize;
                let m = mutate::mutate(&bases[bi].1, &bases[di].1, MNT, s);
                let flags = if s % 4 == 3 { RESTART_DRY_RUN } else { 0 };
                let what = format!(
                    "seed {s} (base {}, donor {}, flags {flags}): {}",
                    bases[bi].0,
                    bases[di].0,
                    m.ops.join("; ")
                );
                bt.push(&mut st, what, m.bytes, flags)?;
                queued += 1;
                s += 1;
            }
            bt.flush(&mut st)?;
            Ok::<(), String>(())
        })();
        fuzz_teardown();
        res?;
        report(&st, t0.elapsed().as_secs_f64());
        new_splats(splats0)?;
        if st.nfail > 0 {
            return Err(format!(
                "{} of {} images misbehaved; first ones:\n{}",
                st.nfail,
                st.tried,
                st.failures.join("\n")
            ));
        }
        if st.accepted + st.accepted_dry == 0 {
            println!("# fuzz: note: no mutant was accepted");
        }
        Ok(())
    })
}

// ------------------------------------------------- fixed hostile-image cases

/// Hand-made variants of one valid image, each "valid except for X", with
/// the errno restart(2) must give.
pub(crate) fn hostile_fixed() -> R {
    use ckpt_image::Record;
    mount_cr(MNT)?;
    let r = (|| {
        populate(MNT)?;
        let bases = base_images(MNT)?;
        let small = decode(&bases[0].1).map_err(|e| e.to_string())?;
        fuzz_setup(MNT)?;
        let splats0 = kmsg_splats().len();
        let mut errs = Vec::new();
        let recs = small.records();
        let name_idx = recs.len() - 2; // FILE_NAME of the one file
        let check = |errs: &mut Vec<String>, what: String, recs: Vec<Record>, want: &[i32]| -> R {
            let img = mutate::sealed(&recs);
            let (v, _) = run_one(&img, 0)?;
            match v {
                Verdict::Err(e, log) if want.contains(&e) => {
                    let _ = log;
                }
                Verdict::Err(e, log) => errs.push(format!(
                    "{what}: got {}, want {}; log: {}",
                    ename(e),
                    want.iter().map(|&w| ename(w)).collect::<Vec<_>>().join("/"),
                    log.trim()
                )),
                Verdict::Ok(n) => errs.push(format!("{what}: restart succeeded ({n})")),
                Verdict::Bad(s) => errs.push(format!("{what}: {s}")),
            }
            Ok(())
        };
        let einval = &[libc::EINVAL][..];
        let with_rec = |i: usize, rec: Record| {
            let mut r = recs.clone();
            r[i] = rec;
            r
        };
        let with_name = |n: &[u8]| with_rec(name_idx, Record::FileName(n.to_vec()));
        let with_fd = |fd: i32| {
            let mut r = recs.clone();
            let l = r.len() - 1;
            if let Record::FileDesc(d) = &mut r[l] {
                d.fd = fd;
            }
            r
        };
        for n in [
            "/../etc/passwd",
            "/mnt/fuzz/../fuzz/f0",
            "/mnt/fuzz/./f0",
            "mnt/fuzz/f0",
            "",
            "/mnt/fuzz//f0",
            "/mnt/fuzz/f0/",
        ] {
            check(
                &mut errs,
                format!("file name {n:?}"),
                with_name(n.as_bytes()),
                einval,
            )?;
        }
        check(
            &mut errs,
            "file name with an embedded NUL".into(),
            with_name(b"/mnt/fuzz/f0\0/etc/passwd"),
            einval,
        )?;
        let long = format!("/mnt/fuzz/{}", "x/".repeat(2100));
        check(
            &mut errs,
            "file name longer than CKPT_NAME_MAX".into(),
            with_name(long.trim_end_matches('/').as_bytes()),
            einval,
        )?;
        let mut l2 = String::from("/mnt/fuzz");
        while l2.len() < 4095 {
            l2.push_str("/y");
        }
        l2.truncate(4095);
        check(
            &mut errs,
            "4095-byte name (fits the format, too long for open)".into(),
            with_name(l2.as_bytes()),
            &[libc::ENAMETOOLONG, libc::ENOENT],
        )?;
        check(
            &mut errs,
            "file that does not exist".into(),
            with_name(b"/mnt/fuzz/nonexistent"),
            &[libc::ENOENT],
        )?;
        // outside-root absolute paths are plain absolute paths: for root they
        // open (open(2) would); a file of another type gives ESTALE
        check(
            &mut errs,
            "regular file record naming a directory".into(),
            with_name(b"/mnt/fuzz/d0"),
            &[libc::ESTALE, libc::EISDIR],
        )?;
        check(
            &mut errs,
            "regular file record naming /dev/null".into(),
            with_name(b"/dev/null"),
            &[libc::ESTALE],
        )?;
        // root and cwd
        for (what, i, n, want) in [
            (
                "root that does not exist",
                2,
                &b"/nonexistent"[..],
                &[libc::ENOENT][..],
            ),
            ("cwd that is a file", 3, b"/mnt/fuzz/f0", &[libc::ENOTDIR]),
            ("cwd /../..", 3, b"/../..", einval),
        ] {
            let r = with_rec(i, Record::FileName(n.to_vec()));
            check(&mut errs, what.into(), r, want)?;
        }
        // huge fds
        for fd in [1000, 1024, 65536, i32::MAX] {
            let what = format!("fd {fd} (RLIMIT_NOFILE {CHILD_NOFILE})");
            check(&mut errs, what, with_fd(fd), &[libc::EMFILE])?;
        }
        for fd in [-1, i32::MIN] {
            check(&mut errs, format!("fd {fd}"), with_fd(fd), einval)?;
        }
        // f_pos beyond anything, on a regular file and on a directory
        let dirs = decode(&bases[2].1).map_err(|e| e.to_string())?;
        for (what, im) in [("file", &small), ("directory", &dirs)] {
            for p in [i64::MAX, 1 << 40] {
                let mut r = im.records();
                for x in r.iter_mut() {
                    if let Record::File(f) = x {
                        f.f_pos = p;
                    }
                }
                // like lseek(2): allowed up to s_maxbytes; then the position must stick
                let img = mutate::sealed(&r);
                let im2 = decode(&img).map_err(|e| e.to_string())?;
                match run_one(&img, 0)?.0 {
                    Verdict::Ok(n) if n == im2.fds.len() as i64 => {}
                    Verdict::Err(e, _) if e == libc::EINVAL => {}
                    Verdict::Ok(n) => errs.push(format!("{what} f_pos {p}: returned {n}")),
                    Verdict::Err(e, log) => {
                        errs.push(format!("{what} f_pos {p}: {} {}", ename(e), log.trim()))
                    }
                    Verdict::Bad(b) => errs.push(format!("{what} f_pos {p}: {b}")),
                }
            }
        }
        // nr_fds larger than what can follow
        let mut r = recs.clone();
        if let Record::FileTable(t) = &mut r[4] {
            t.nr_fds = u32::MAX;
        }
        check(&mut errs, "nr_fds 0xffffffff".into(), r, einval)?;
        fuzz_teardown();
        new_splats(splats0)?;
        check_all(errs)
    })();
    fuzz_teardown();
    umount(MNT);
    r
}

/// Regression K1: restart(2) checks FILE_TABLE.nr_fds against the bytes left
/// in the image before it reaches the ERROR record, so the image of a
/// checkpoint that failed on one of its first fds gives EINVAL, not the
/// EIO the ABI promises for "the image holds an ERROR record".
pub(crate) fn k1_failed_early() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        let (img, r) = make_image(
            || {
                // fd 3: an unlinked file (checkpoint fails on it), fds 4..19 fine
                o(&format!("{MNT}/gone"), libc::O_RDWR | libc::O_CREAT, 3)?;
                std::fs::remove_file(format!("{MNT}/gone")).map_err(|e| e.to_string())?;
                for i in 0..16 {
                    o(&format!("{MNT}/f{}", i % 10), libc::O_RDONLY, 4 + i)?;
                }
                Ok(())
            },
            CHECKPOINT_SKIP_UNSUPPORTED,
        )?;
        if r != Err(libc::EBADF) {
            return Err(format!(
                "checkpoint with an unlinked fd 3: expected EBADF, got {r:?}"
            ));
        }
        match decode(&img) {
            Err(ckpt_image::ImageError::ErrorRecord { err, .. }) if err == -libc::EBADF => {}
            other => {
                return Err(format!(
                    "image of the failed checkpoint: decoder says {other:?}"
                ))
            }
        }
        let kinds: Vec<String> = scan(&img)
            .records
            .iter()
            .map(|(o, r)| format!("{o}:{}", ckpt_image::type_name(r.rtype())))
            .collect();
        println!(
            "# K1 image: {} bytes, records {}",
            img.len(),
            kinds.join(" ")
        );
        fuzz_setup(MNT)?;
        let res = run_one(&img, 0);
        fuzz_teardown();
        match res?.0 {
            Verdict::Err(e, _) if e == libc::EIO => Ok(()),
            Verdict::Err(e, log) => Err(format!(
                "restart of a failed checkpoint's image ({} bytes): expected EIO, got {}; kernel log: {}",
                img.len(),
                ename(e),
                log.trim()
            )),
            Verdict::Ok(n) => Err(format!("restart of a failed checkpoint's image succeeded ({n})")),
            Verdict::Bad(b) => Err(b),
        }
    })
}

/// Every image checkpoint(2) writes successfully must be one restart(2)
/// takes back (in the same place, same credentials): a checkpoint that
/// succeeds with an image restart refuses is a bug (K2: O_ACCMODE opens).
pub(crate) fn symmetry() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        let mut errs = Vec::new();
        let mut notes = Vec::new();
        type Setup = Box<dyn FnOnce() -> R>;
        let deep = {
            let mut d = MNT.to_string();
            for i in 0..15 {
                d = format!("{d}/{}{}", i % 10, "d".repeat(254));
            }
            d
        };
        let deep2 = deep.clone();
        // (what, setup, the errno checkpoint must refuse it with, if any):
        // an O_TMPFILE file stays open on its unlinked dentry even after
        // linkat() (EBADF, like any unlinked file); a name longer than
        // PATH_MAX cannot be written (ENAMETOOLONG); the rest round-trips.
        let scenarios: Vec<(&str, Setup, Option<i32>)> = vec![
            (
                "a linked O_TMPFILE file",
                Box::new(|| {
                    let fd = open_mode(MNT, libc::O_TMPFILE | libc::O_RDWR, 0o600, -1)?;
                    let p = cstr(&format!("/proc/self/fd/{fd}"));
                    let to = cstr(&format!("{MNT}/linked-tmp"));
                    // SAFETY: valid C strings.
                    if unsafe {
                        libc::linkat(
                            libc::AT_FDCWD,
                            p.as_ptr(),
                            libc::AT_FDCWD,
                            to.as_ptr(),
                            libc::AT_SYMLINK_FOLLOW,
                        )
                    } != 0
                    {
                        return Err(format!("linkat: {}", ename(errno())));
                    }
                    dup2(fd, 3)?;
                    if fd != 3 {
                        close(fd);
                    }
                    Ok(())
                }),
                Some(libc::EBADF),
            ),
            (
                "an O_ACCMODE (3) open",
                Box::new(|| o(&format!("{MNT}/f2"), 3, 3)),
                None,
            ),
            (
                "O_ASYNC set with F_SETFL",
                Box::new(|| {
                    o(&format!("{MNT}/f3"), libc::O_RDWR, 3)?;
                    // SAFETY: fcntl on an fd.
                    unsafe { libc::fcntl(3, libc::F_SETFL, libc::O_ASYNC | libc::O_NONBLOCK) };
                    Ok(())
                }),
                None,
            ),
            (
                "O_NOATIME (owner)",
                Box::new(|| o(&format!("{MNT}/f4"), libc::O_RDONLY | libc::O_NOATIME, 3)),
                None,
            ),
            (
                "a file 3800 bytes deep",
                Box::new(move || {
                    std::fs::create_dir_all(&deep).map_err(|e| format!("mkdir deep: {e}"))?;
                    std::env::set_current_dir(&deep).map_err(|e| format!("chdir deep: {e}"))?;
                    o("leaf", libc::O_RDWR | libc::O_CREAT, 3)
                }),
                None,
            ),
            (
                "a file and cwd 4600 bytes deep (> PATH_MAX)",
                Box::new(move || {
                    std::env::set_current_dir(MNT).map_err(|e| format!("chdir: {e}"))?;
                    for i in 0..18 {
                        let c = format!("{}{}", i % 10, "e".repeat(254));
                        let _ = std::fs::create_dir(&c);
                        std::env::set_current_dir(&c)
                            .map_err(|e| format!("chdir level {i}: {e}"))?;
                    }
                    let _ = &deep2;
                    o("leaf", libc::O_RDWR | libc::O_CREAT, 3)
                }),
                Some(libc::ENAMETOOLONG),
            ),
        ];
        fuzz_setup(MNT)?;
        for (what, setup, refused) in scenarios {
            let (img, r) = match make_image(setup, CHECKPOINT_SKIP_UNSUPPORTED) {
                Ok(x) => x,
                Err(e) => {
                    errs.push(format!("{what}: {e}"));
                    continue;
                }
            };
            if r.err() != refused {
                errs.push(format!(
                    "{what}: checkpoint {}, expected {}",
                    r.map(|_| "ok".to_string()).unwrap_or_else(ename),
                    refused.map(ename).unwrap_or_else(|| "ok".into())
                ));
                continue;
            }
            match r {
                Err(e) => {
                    // the refusal must be clean and the image must say so
                    match decode(&img) {
                        Err(ckpt_image::ImageError::ErrorRecord { err, .. }) if err == -e => {
                            notes.push(format!("{what}: checkpoint {}", ename(e)))
                        }
                        other => errs.push(format!(
                            "{what}: checkpoint {} and the image is {other:?}",
                            ename(e)
                        )),
                    }
                }
                Ok(_) => {
                    let dec = decode(&img);
                    let (v, _) = run_one(&img, 0)?;
                    match (&dec, v) {
                        (Ok(_), Verdict::Ok(_)) => notes.push(format!("{what}: checkpoint ok, restart ok")),
                        (d, Verdict::Err(e, log)) => errs.push(format!(
                            "{what}: checkpoint succeeded but restart of its image fails with {} (decoder: {}); kernel log: {}",
                            ename(e),
                            d.as_ref().map(|_| "valid".to_string()).unwrap_or_else(|e| e.to_string()),
                            log.trim()
                        )),
                        (Err(de), Verdict::Ok(_)) => errs.push(format!("{what}: restart takes the image, decoder refuses it: {de}")),
                        (_, Verdict::Bad(b)) => errs.push(format!("{what}: {b}")),
                    }
                }
            }
        }
        fuzz_teardown();
        println!("# symmetry: {}", notes.join("; "));
        check_all(errs)
    })
}
