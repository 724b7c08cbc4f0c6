//! restart(2) against hostile images (Documentation/hardening.rst): mutants (`crate::mutate`) of
//! images of children on /mnt/fuzz, restarted in children, fail with the decoder's errno (or
//! EMFILE), an open(2) errno if it accepts them, or are restored exactly; failing changes nothing.
//! `CR_FUZZ_N` / `ramfs_cr.fuzz=N`: images (2000); `CR_FUZZ_SEED` / `ramfs_cr.fuzz_seed=S`: replay.

use crate::{golden::apply, mutate, vm::*};
use ckpt_image::{decode, encode_with_tail, scan, type_name, Image, ImageError, Record};
use ckpt_image::{CHECKPOINT_SKIP_UNSUPPORTED as SKIP, RESTART_DRY_RUN as DRY};
use libc::{EBADF, EINVAL, EIO, EISDIR, EMFILE, ENAMETOOLONG, ENOENT, ENOTDIR, ESTALE};
use libc::{O_ACCMODE, O_APPEND, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR};
use std::{collections::BTreeMap, os::unix::ffi::OsStrExt, time::Instant};
use testsupport::golden::{self as st, Step};

const MNT: &str = "/mnt/fuzz";
/// fds of the fuzz driver, above the children's RLIMIT_NOFILE (1000).
const IMG: i32 = 1001;
const LOG: i32 = 1002;
const CHILD_NOFILE: u64 = 1000;

/// The regular files [`on_populated`] makes, 8 KiB each.
pub const POPULATED: [&str; 10] = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"];

/// `f` on a fresh ramfs_cr on `mnt` with the files the base images name; fds 900-1010 closed after.
pub fn on_populated(mnt: &str, f: impl FnOnce() -> R) -> R {
    let r = on_mount(mnt, || {
        (0..10).try_for_each(|i| write_file(&format!("{mnt}/f{i}"), &[b'a' + i as u8; 8192]))?;
        mkdir(&format!("{mnt}/d0"), 0o755)?;
        (0..60).try_for_each(|i| write_file(&format!("{mnt}/d0/e{i:03}"), b"x"))?;
        mkdir(&format!("{mnt}/sub/deep/er"), 0o755)?;
        write_file(&format!("{mnt}/sub/deep/er/leaf"), b"leaf")?;
        write_mode(&format!("{mnt}/secret"), b"root only", 0o600)?;
        write_mode(&format!("{mnt}/ro"), b"readable by all", 0o644)?;
        mkdir(&format!("{mnt}/noexec"), 0o600)?;
        let _ = std::os::unix::fs::symlink(format!("{mnt}/f0"), format!("{mnt}/lnk"));
        f()
    });
    close_range(900, 1010);
    r
}

type Made = Result<(Vec<u8>, Result<i64, i32>), String>;
type Bytes = Result<Vec<u8>, String>;

/// Checkpoint of a child that ran `setup` (every fd closed first) into a memfd: image, result.
pub fn make_image(setup: impl FnOnce() -> R, flags: u64) -> Made {
    memfd_at("base", 1010, b"")?;
    memfd_at("result", 1011, b"")?;
    let pid = fork()?;
    if pid == 0 {
        keep_only(&[(1010, 1010), (1011, 1011)]);
        alarm(60);
        // the id, or -errno
        let msg = setup().map(|()| ck(0, 1010, flags, -1).unwrap_or_else(|e| -e as i64));
        let msg = msg.map_or_else(|e| format!("setup: {e}"), |id| id.to_string());
        let _ = write_fd(1011, msg.as_bytes());
        exit(0);
    }
    wait(pid);
    let (img, msg) = (get_bytes(1010), text_of(1011));
    close_range(1010, 1011);
    match msg.parse::<i64>() {
        Ok(id) if id > 0 => Ok((img, Ok(id))),
        Ok(e) => Ok((img, Err(-e as i32))),
        Err(_) => Err(format!("checkpointing child: {msg:?}")),
    }
}

/// [`make_image`] must succeed (image decoding) or fail with `refused` (image ending in its ERROR).
fn expect_img(setup: impl FnOnce() -> R, flags: u64, refused: Option<i32>, what: &str) -> Bytes {
    let (img, r) = make_image(setup, flags).map_err(|e| format!("{what}: {e}"))?;
    let (e, got) = (refused.map_or("ok".into(), ename), show(&r));
    check!(r.err() == refused, "{what}: checkpoint {got}, expected {e}");
    match decode(&img) {
        Ok(_) if refused.is_none() => Ok(img),
        Err(ImageError::ErrorRecord { err, .. }) if Some(-err) == refused => Ok(img),
        other => Err(format!("{what}: checkpoint {e} and the image is {other:?}")),
    }
}

fn o(path: &str, flags: i32, at: i32) -> R {
    open_at(path, flags, at).map(|_| ())
}

/// The valid base images, and one of a failed checkpoint: (what, bytes).
fn base_images(mnt: &str) -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let (rd, dir) = (O_RDONLY, O_RDONLY | O_DIRECTORY);
    // many fds, shared (dup'd) files, cloexec, append, positions, dirs
    let mut many = Vec::new();
    for i in 0..30 {
        let fd = 3 + i as i32 * 2;
        let fl = [rd, libc::O_WRONLY, O_RDWR, O_RDWR | O_APPEND][i % 4];
        many.push(st::open(POPULATED[i % 10], fl, fd));
        many.push(st::seek(fd, i as i64 * 37));
        many.extend((i % 3 == 0).then_some(st::cloexec(fd)));
        many.extend((i % 5 == 0).then_some(st::dup(fd, fd + 1)));
    }
    many.extend([st::open("d0", dir, 70), Step::Chdir("sub")]);
    many.push(st::open("sub/deep/er/leaf", rd | O_NOFOLLOW, 71));
    // large: 400 fds spread up to 990
    let mut large = Vec::new();
    for i in 0..400 {
        let fd = (3 + i * 2 + (i / 100) * 30) as i32;
        large.push(st::open(POPULATED[i % 10], [rd, O_RDWR][i % 2], fd));
        large.extend((i % 7 == 0).then_some(st::seek(fd, i as i64)));
    }
    // directories (d0 read partway, below), cwd deep
    let mut dirs = vec![st::open("d0", dir, 3), st::open(".", dir, 4)];
    dirs.extend([st::open("sub/deep", dir, 9), st::cloexec(9)]);
    dirs.push(Step::Chdir("sub/deep/er"));
    let small = vec![st::open("f0", O_RDWR, 3), st::seek(3, 5)];
    // contents: the small one with the mount's contents (a version 2 image)
    let steps = [small.clone(), many, dirs, large, vec![], small];
    let names = ["small", "many+shared", "dirs", "large", "empty", "contents"];
    let mut v = Vec::new();
    let read = || getdents(3, 512).map(drop).map_err(ename);
    for (what, steps) in names.into_iter().zip(steps) {
        let d0 = what == "dirs";
        let setup = || apply(mnt, &steps).and_then(|()| if d0 { read() } else { Ok(()) });
        let flags = [SKIP, SKIP | ckpt_image::CHECKPOINT_CONTENTS][usize::from(what == "contents")];
        let img = expect_img(setup, flags, None, &format!("base {what}"))?;
        println!("# fuzz: base image {what}: {} bytes", img.len());
        v.push((what, img));
    }
    // a failed checkpoint: ends with an ERROR record
    let setup = || o(&format!("{mnt}/f1"), rd, 3).and_then(|()| o("/proc/self/status", rd, 4));
    let error = expect_img(setup, 0, Some(EBADF), "a /proc fd")?;
    v.push(("error", error));
    Ok(v)
}

/// What the child saw.
enum Verdict {
    Err(i32, String),
    Ok(i64),
    /// changed the caller on error, restored other than the image says, or died
    Bad(String),
}

/// One image to restart: what it is (for replay), the image, restart(2) flags.
struct Job(String, Vec<u8>, u64);

/// `Bad` unless the caller is as it was (restart(2) moves the image fd's offset).
fn unchanged(before: &Snap, v: Verdict) -> Verdict {
    let diff = snap_diff(before, &snap_nopos(&[LOG], IMG));
    let how = match v {
        _ if diff.is_empty() => return v,
        Verdict::Err(e, _) => ename(e),
        _ => "a dry run's success".into(),
    };
    Verdict::Bad(format!("restart ({how}) changed the caller:\n{diff}"))
}

/// In the child: restart(2) from IMG, check the state; the verdict and ns spent in restart(2).
fn child_restart(job: &Job, before: &Snap) -> (Verdict, u64) {
    let _ = set_bytes(LOG, b"");
    let (t, r) = (Instant::now(), rs_start(IMG, job.2, LOG));
    let ns = t.elapsed().as_nanos() as u64;
    let v = match (r, scan(&job.1).result) {
        (Err(e), _) => unchanged(before, Verdict::Err(e, text_of(LOG))),
        (Ok(n), Err(_)) => Verdict::Ok(n), // judged by the parent
        (Ok(n), Ok(im)) => match im.fds.len() {
            m if n != m as i64 => Verdict::Bad(format!("restart returned {n}, image has {m} fds")),
            _ if job.2 & DRY != 0 => unchanged(before, Verdict::Ok(n)),
            _ => {
                verify_restored_img(&im, before, IMG).map_or_else(Verdict::Bad, |()| Verdict::Ok(n))
            }
        },
    };
    (v, ns)
}

/// After a restart from fd `img`: fds, cwd and umask are what `im` says, other fds untouched.
pub fn verify_restored_img(im: &Image, before: &Snap, img: i32) -> R {
    // after a root change /proc is out of reach: names are not compared
    let same_root = im.root == b"/";
    // restart(2) refuses a name through a symlink (ELOOP): the canonical one is it
    let named = |link: &str, name: &[u8]| {
        let canon = std::fs::canonicalize(std::ffi::OsStr::from_bytes(name));
        link.as_bytes() == name || canon.is_ok_and(|p| p.as_os_str().as_bytes() == link.as_bytes())
    };
    let after = snap_nopos(&[LOG], img);
    let mut errs = Vec::new();
    for d in &im.fds {
        let Some(f) = im.file_of(d) else {
            errs.push(format!("fd {}: objref {} not in image", d.fd, d.fd_objref));
            continue;
        };
        let Some((_, _, pos, fl, fdfl)) = after.fds.iter().find(|x| x.0 == d.fd) else {
            errs.push(format!("fd {} not installed", d.fd));
            continue;
        };
        let (fd, ff, link, name) = (d.fd, &f.file, fd_path(d.fd), text(&f.name));
        if same_root && !named(&link, &f.name) {
            errs.push(format!("fd {}: names {link}, image says {}", fd, name));
        }
        // access mode, O_APPEND, O_NONBLOCK; FD_CLOEXEC; a regular file's position
        let reg = ff.i_mode & 0o170000 == 0o100000;
        let kept = O_ACCMODE | O_APPEND | O_NONBLOCK;
        let (c, p) = (*fdfl & libc::FD_CLOEXEC != 0, reg.then_some(*pos));
        let got = (fd, fl & kept, c, p);
        let (c, p) = (d.close_on_exec != 0, reg.then_some(ff.f_pos));
        let want = (fd, ff.f_flags as i32 & kept, c, p);
        if got != want {
            errs.push(format!("(fd, flags, cloexec, pos) {got:?}, image {want:?}"));
        }
    }
    // fds the image does not name are untouched
    let in_image = |fd: i32| im.fds.iter().any(|d| d.fd == fd);
    let (b, a) = (&before.fds, &after.fds);
    for x in b.iter().filter(|x| !in_image(x.0) && !a.contains(x)) {
        errs.push(format!("fd {} not in the image changed: {x:?}", x.0));
    }
    let in_before = |fd: i32| b.iter().any(|y| y.0 == fd);
    for x in a.iter().filter(|x| !in_image(x.0) && !in_before(x.0)) {
        errs.push(format!("fd {} appeared: {x:?}", x.0));
    }
    let cwd = readlink("/proc/self/cwd");
    if same_root && !named(&cwd, &im.cwd) {
        errs.push(format!("cwd {cwd}, image {}", text(&im.cwd)));
    }
    let (u, v) = (after.umask, im.fs.umask);
    if u != v {
        errs.push(format!("umask {:#o}, image {:#o}", u, v));
    }
    let diffs = errs.join("\n  ");
    check!(
        errs.is_empty(),
        "restart succeeded but the result differs from the image:\n  {diffs}"
    );
    Ok(())
}

/// The clone()d child's jobs, its first state, and its verdicts with ns spent in restart(2).
type ChildCtx<'a> = (&'a [Job], &'a Snap, Vec<(Verdict, u64)>);

/// The child: restarts the jobs in turn, until a real success or misbehaviour (checked).
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: run_batch's &mut ChildCtx, untouched by the parent suspended (CLONE_VFORK).
    let (jobs, before, out) = unsafe { &mut *(arg as *mut ChildCtx) };
    alarm(120);
    let _ = nofile_of(0, CHILD_NOFILE, CHILD_NOFILE);
    for job in jobs.iter() {
        if set_bytes(IMG, &job.1).is_err() {
            return 3;
        }
        let (v, ns) = child_restart(job, before);
        let stop = matches!(v, Verdict::Bad(_)) || matches!(v, Verdict::Ok(_) if job.2 & DRY == 0);
        out.push((v, ns));
        if stop {
            break;
        }
    }
    0
}

/// The children's stack (one child at a time runs, while we are suspended).
static mut CHILD_STACK: [u8; 1 << 20] = [0; 1 << 20];

/// Victim fds 3, 4, 10 (a child's restart(2) may replace them), image and log memfds.
struct Driver {
    before: Snap,
    /// ns from clone to exit, ns in restart(2), children so far
    ns: [u64; 3],
}

impl Driver {
    fn start(mnt: &str) -> Result<Driver, String> {
        memfd_at("img", IMG, b"")?;
        memfd_at("log", LOG, b"")?;
        o(&format!("{mnt}/f9"), O_RDONLY, 3)?;
        o(&format!("{mnt}/d0"), O_RDONLY | O_DIRECTORY, 4)?;
        o(&format!("{mnt}/f8"), O_RDWR | libc::O_CLOEXEC, 10)?;
        seek(10, 77)?;
        let before = snap_nopos(&[LOG], IMG);
        Ok(Driver { before, ns: [0; 3] })
    }

    /// Run the jobs in clone(CLONE_VM | CLONE_VFORK) children: no mm copy (slow under KASAN).
    fn run_batch(&mut self, jobs: &[Job]) -> Result<Vec<Verdict>, String> {
        let mut verdicts: Vec<Verdict> = Vec::new();
        while verdicts.len() < jobs.len() {
            let t = Instant::now();
            let mut ctx: ChildCtx = (&jobs[verdicts.len()..], &self.before, Vec::new());
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let top = (std::ptr::addr_of_mut!(CHILD_STACK) as usize + (1 << 20)) & !15;
            let (flags, arg) = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD, &mut ctx);
            // SAFETY: our stack is unused while CLONE_VFORK suspends us; child_main returns.
            let pid = unsafe { libc::clone(child_main, top as *mut _, flags, arg as *mut _ as _) };
            let (st, out) = (wait(sys_or(pid, "clone")? as i32), ctx.2);
            self.ns[0] += t.elapsed().as_nanos() as u64;
            self.ns[1] += out.iter().map(|x| x.1).sum::<u64>();
            self.ns[2] += 1;
            let exited = libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
            check!(!exited || !out.is_empty(), "fuzz child did nothing");
            verdicts.extend(out.into_iter().map(|x| x.0));
            // the job it was on when it died
            if !exited && verdicts.len() < jobs.len() {
                let s = status_text(st);
                verdicts.push(Verdict::Bad(format!("fuzz child {s} during this image")));
            }
        }
        Ok(verdicts)
    }

    /// restart(2) of `img` must fail with one of `want`, or if `ok` and valid succeed (verified).
    fn expect_fuzz_restart(&mut self, img: &[u8], want: &[i32], ok: bool, what: &str) -> R {
        let (j, valid) = (Job(what.into(), img.to_vec(), 0), scan(img).result.is_ok());
        let success = ok.then(|| "success".into());
        let names: Vec<String> = want.iter().map(|&e| ename(e)).chain(success).collect();
        match self.run_batch(&[j])?.remove(0) {
            Verdict::Err(e, _) if want.contains(&e) => Ok(()),
            Verdict::Ok(_) if ok && valid => Ok(()),
            Verdict::Err(e, log) => {
                let (got, want, log) = (ename(e), names.join("/"), log.trim().to_string());
                Err(format!("{what}: got {got}, want {want}; log: {log}"))
            }
            Verdict::Ok(n) => Err(format!("{what}: restart succeeded ({n}), valid: {valid}")),
            Verdict::Bad(s) => Err(format!("{what}: {s}")),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        [IMG, LOG, 3, 4, 10]
            .into_iter()
            .for_each(|fd| _ = close(fd));
    }
}

/// errnos of an image the decoder accepts: open(2)'s (files, root, cwd) and RLIMIT_NOFILE's.
const OPEN_ERRNOS: &str = "ENOENT EACCES EPERM ESTALE EISDIR ENOTDIR EINVAL ENAMETOOLONG ELOOP \
    EMFILE ESPIPE ENXIO ENODEV EROFS ETXTBSY EOVERFLOW EFBIG";

/// Why restart(2)'s result is wrong, if it is; `counts`: restart(2)'s, the decoder's verdicts.
fn judge(job: &Job, v: Verdict, counts: &mut [BTreeMap<String, usize>; 2]) -> Option<String> {
    let dec = scan(&job.1).result;
    let kind = dec.as_ref().map_or_else(|e| e.kind(), |_| "valid");
    *counts[1].entry(kind.into()).or_default() += 1;
    let mut count = |k: String| *counts[0].entry(k).or_default() += 1;
    let (e, log) = match v {
        Verdict::Bad(s) => return Some(s),
        Verdict::Ok(n) => {
            count(["success", "dry"][usize::from(job.2 & DRY != 0)].into());
            let de = dec.as_ref().err()?;
            let why = format!("restart returned {n} though the decoder rejects it ({de})");
            return Some(why);
        }
        Verdict::Err(e, log) => (e, log),
    };
    let (got, log) = (ename(e), log.trim());
    count(got.clone());
    let parse_error = e == EINVAL && log.contains(" at offset ");
    let why = match &dec {
        // the kernel looks for an ERROR record in the well-formed prefix first (K1)
        Err(_) if error_in_prefix(&job.1) && e != EIO => {
            format!("the image holds an ERROR record, restart gave {got} not EIO")
        }
        // EMFILE: the kernel checks fds against RLIMIT_NOFILE, unknown to the decoder
        Err(de) if e != de.errno() && e != EMFILE => {
            let want = ename(de.errno());
            format!("restart gave {got}, decoder predicts {want} ({de})")
        }
        // never a parse error (the kernel log names "record N at offset X")
        Ok(_) if parse_error || !OPEN_ERRNOS.split_whitespace().any(|n| n == got) => {
            format!("decoder accepts, restart gave {got}")
        }
        _ => return None,
    };
    Some(format!("{why}; kernel log: {log}"))
}

/// Whether the records of sane lengths from the start hold an ERROR one: restart(2) gives EIO.
fn error_in_prefix(img: &[u8]) -> bool {
    let recs = mutate::split(img);
    let sane = |c: &&Vec<u8>| c.len().is_multiple_of(8) && mutate::u32le(c, 4) as usize == c.len();
    let mut prefix = recs.iter().take_while(sane);
    prefix.any(|c| mutate::u32le(c, 0) == ckpt_image::CKPT_HDR_ERROR)
}

/// `env` from the environment, else the rest of the kernel command-line word starting `key`.
fn param(env: &str, key: &str) -> Option<u64> {
    let cmd = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let arg = cmd.split_whitespace().find_map(|a| a.strip_prefix(key));
    std::env::var(env).ok().as_deref().or(arg)?.parse().ok()
}

/// The first `max` truncations (each 4 bytes), records deleted, duplicated, kept 0..i (sealed).
fn systematic(bases: &[(&'static str, Vec<u8>)], max: usize) -> Vec<Job> {
    let (mut v, some) = (Vec::new(), ["small", "dirs", "error"]);
    for (name, img) in bases.iter().filter(|b| some.contains(&b.0)) {
        let mut add = |what: String, b: Vec<u8>| v.push(Job(format!("base {name} {what}"), b, 0));
        for c in (0..img.len()).step_by(4) {
            add(format!("truncated to {c}"), img[..c].to_vec());
        }
        let mut body = mutate::split(img);
        body.pop();
        for i in 0..body.len() {
            let del = [&body[..i], &body[i + 1..]].concat();
            let dup = [&body[..=i], &body[i..]].concat();
            add(format!("record {i} deleted, sealed"), mutate::seal(&del));
            add(format!("record {i} duplicated, sealed"), mutate::seal(&dup));
            add(format!("records 0..{i}, sealed"), mutate::seal(&body[..i]));
        }
    }
    v.truncate(max);
    let q = v.len();
    println!("# fuzz: {q} systematic images, then random seeds from 1");
    v
}

pub(crate) fn fuzz() -> R {
    let n = param("CR_FUZZ_N", "ramfs_cr.fuzz=").unwrap_or(2000) as usize;
    let seed0 = param("CR_FUZZ_SEED", "ramfs_cr.fuzz_seed=");
    on_populated(MNT, || {
        let bases = base_images(MNT)?;
        let mut d = Driver::start(MNT)?;
        let t0 = Instant::now();
        // a replay (a seed given) skips the systematic part
        let sys = seed0.map_or_else(|| systematic(&bases, n / 3), |_| Vec::new());
        let nb = bases.len() as u64;
        let seeds = (seed0.unwrap_or(1)..).map(|s| {
            let (b, dn) = (&bases[(s % nb) as usize], &bases[(s / 7 % nb) as usize]);
            let (bytes, ops) = mutate::mutate(&b.1, &dn.1, MNT, s);
            let flags = if s % 4 == 3 { DRY } else { 0 };
            let (ops, b, dn) = (ops.join("; "), b.0, dn.0);
            let what = format!("seed {s} (base {b}, donor {dn}, flags {flags}): {ops}");
            Job(what, bytes, flags)
        });
        let mut all = sys.into_iter().chain(seeds).take(n);
        let (mut counts, mut fails, mut tried) = ([BTreeMap::new(), BTreeMap::new()], vec![], 0u32);
        while let jobs @ [_, ..] = &all.by_ref().take(64).collect::<Vec<Job>>()[..] {
            for (j, v) in jobs.iter().zip(d.run_batch(jobs)?) {
                tried += 1;
                if tried.is_multiple_of(1000) {
                    println!("# fuzz: {tried} images so far");
                }
                if let Some(why) = judge(j, v, &mut counts) {
                    let (w, b) = (&j.0, &j.1);
                    let hex = format!("{:02x?}", &b[..b.len().min(160)]);
                    fails.push(format!("{w}: {why}\n  image of {} bytes: {hex}", b.len()));
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let each = secs * 1000.0 / tried.max(1) as f64;
        println!("# fuzz: {tried} images tried in {secs:.1} s ({each:.1} ms each)");
        let [tc, tr, nc] = d.ns;
        let (tc, tr) = (tc as f64 / 1e9, tr as f64 / 1e9);
        println!("# fuzz: {nc} children, {tc:.1} s in them (clone to exit), {tr:.1} s of it in restart(2)");
        let get = |k: &str| counts[0].get(k).copied().unwrap_or(0);
        let (ok, dry) = (get("success"), get("dry"));
        for (what, m) in std::iter::zip(["restart(2) results", "decoder verdicts"], &counts) {
            let v: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("# fuzz: {what}: {}", v.join(", "));
        }
        println!("# fuzz: accepted {ok} (+{dry} dry run), each verified valid by ckpt-image and against the fd table");
        let (first, fails) = (fails[..fails.len().min(12)].join("\n"), fails.len());
        check!(fails == 0, "{fails} of {tried} images misbehaved:\n{first}");
        if ok + dry == 0 {
            println!("# fuzz: note: no mutant was accepted");
        }
        Ok(())
    })
}

// ------------------------------------------------- fixed hostile-image cases

/// Variants of base images "valid except for X", each with the errnos restart(2) may give.
pub(crate) fn hostile_fixed() -> R {
    on_populated(MNT, || {
        let bases = base_images(MNT)?;
        let (small, dirs) = (io(decode(&bases[0].1))?, io(decode(&bases[2].1))?);
        let recs = small.records();
        let (f, long) = (recs.len() - 2, format!("/mnt/fuzz{}", "/x".repeat(2100)));
        let l4095 = format!("/mnt/fuzz{}", "/y".repeat(2043));
        // names of file (f), root (2), cwd (3): as open(2); a FILE naming another type: ESTALE
        let mut rows: Vec<(String, Vec<Record>, &[i32], bool)> = Vec::new();
        for (what, i, n, want) in [
            ("file name", f, "/../etc/passwd", &[EINVAL][..]),
            ("file name", f, "/mnt/fuzz/../fuzz/f0", &[EINVAL]),
            ("file name", f, "/mnt/fuzz/./f0", &[EINVAL]),
            ("file name", f, "mnt/fuzz/f0", &[EINVAL]),
            ("file name", f, "", &[EINVAL]),
            ("file name", f, "/mnt/fuzz//f0", &[EINVAL]),
            ("file name", f, "/mnt/fuzz/f0/", &[EINVAL]),
            ("file name", f, "/mnt/fuzz/f0\0/etc/passwd", &[EINVAL]),
            ("file name", f, &long, &[EINVAL]),
            ("file name", f, &l4095, &[ENAMETOOLONG, ENOENT]),
            ("file name", f, "/mnt/fuzz/nonexistent", &[ENOENT]),
            ("file name", f, "/mnt/fuzz/d0", &[ESTALE, EISDIR]),
            ("file name", f, "/dev/null", &[ESTALE]),
            ("root that does not exist", 2, "/nonexistent", &[ENOENT]),
            ("cwd that is a file", 3, "/mnt/fuzz/f0", &[ENOTDIR]),
            ("cwd /../..", 3, "/../..", &[EINVAL]),
        ] {
            let what = format!("{what} {:?} ({} bytes)", &n[..n.len().min(64)], n.len());
            let mut r = recs.clone();
            r[i] = Record::FileName(n.into());
            rows.push((what, r, want, false));
        }
        // huge fds
        for fd in [1000, 1024, 65536, i32::MAX, -1, i32::MIN] {
            let want: &[i32] = if fd < 0 { &[EINVAL] } else { &[EMFILE] };
            let mut im = small.clone();
            im.fds[0].fd = fd;
            let what = format!("fd {fd} (RLIMIT_NOFILE {CHILD_NOFILE})");
            rows.push((what, im.records(), want, false));
        }
        // huge f_pos of a file and a directory: as lseek(2), up to s_maxbytes, and then it sticks
        for (what, im) in [("file", &small), ("directory", &dirs)] {
            for p in [i64::MAX, 1 << 40] {
                let mut im = im.clone();
                im.files.iter_mut().for_each(|f| f.file.f_pos = p);
                rows.push((format!("{what} f_pos {p}"), im.records(), &[EINVAL], true));
            }
        }
        // nr_fds larger than what can follow
        let mut r = recs.clone();
        if let Record::FileTable(t) = &mut r[4] {
            t.nr_fds = u32::MAX;
        }
        rows.push(("nr_fds 0xffffffff".into(), r, &[EINVAL], false));
        let mut d = Driver::start(MNT)?;
        check_each(rows, |(what, r, want, ok)| {
            d.expect_fuzz_restart(&encode_with_tail(&r), want, ok, &what)
        })
    })
}

/// fd 3 an O_TMPFILE file in MNT, linked there with linkat(2).
fn linked_tmpfile() -> R {
    let fd = open_mode(MNT, libc::O_TMPFILE | O_RDWR, 0o600, 3)?;
    let p = cstr(&format!("/proc/self/fd/{fd}"));
    let to = cstr(&format!("{MNT}/linked-tmp"));
    let (at, follow) = (libc::AT_FDCWD, libc::AT_SYMLINK_FOLLOW);
    // SAFETY: valid C strings.
    let r = unsafe { libc::linkat(at, p.as_ptr(), at, to.as_ptr(), follow) };
    sys_or(r, "linkat").map(drop)
}

fn open3(name: &str, flags: i32) -> R {
    o(&format!("{MNT}/{name}"), flags, 3)
}

/// The cwd and fd 3 (a new file) `n` directories of 255-byte names below MNT.
fn deep_leaf(n: usize, c: &str) -> R {
    chdir(MNT)?;
    for i in 0..n {
        let c = format!("{}{}", i % 10, c.repeat(254));
        let _ = std::fs::create_dir(&c);
        chdir(&c)?;
    }
    o("leaf", O_RDWR | O_CREAT, 3)
}

/// What checkpoint(2) writes restart(2) takes back (K2: O_ACCMODE opens), the image of a refused
/// one (an ERROR record) with EIO (K1: EINVAL for nr_fds); `k1`: the K1 row, else the others.
pub(crate) fn symmetry(k1: bool) -> R {
    on_populated(MNT, || {
        // (what, errno of a refused checkpoint, set-up); a linked O_TMPFILE fd's dentry stays unlinked
        let rows: [(_, _, fn() -> R); 7] = [
            ("an unlinked fd 3", Some(EBADF), || {
                open3("gone", O_RDWR | O_CREAT)?;
                io(std::fs::remove_file(format!("{MNT}/gone")))?;
                // fds 4..19 fine
                (0..16).try_for_each(|i| o(&format!("{MNT}/f{}", i % 10), O_RDONLY, 4 + i))
            }),
            ("a linked O_TMPFILE file", Some(EBADF), linked_tmpfile),
            ("an O_ACCMODE (3) open", None, || open3("f2", 3)),
            ("O_ASYNC set with F_SETFL", None, || {
                open3("f3", O_RDWR)?;
                fcntl(3, libc::F_SETFL, libc::O_ASYNC | libc::O_NONBLOCK);
                Ok(())
            }),
            ("O_NOATIME (owner)", None, || open3("f4", libc::O_NOATIME)),
            ("a file 3800 bytes deep", None, || deep_leaf(15, "d")),
            (
                "a file and cwd 4600 bytes deep (> PATH_MAX)",
                Some(ENAMETOOLONG),
                || deep_leaf(18, "e"),
            ),
        ];
        let mut d = Driver::start(MNT)?;
        let rows = if k1 { &rows[..1] } else { &rows[1..] };
        check_each(rows, |&(what, refused, setup)| {
            let img = expect_img(setup, SKIP, refused, what)?;
            let kind = |(o, r): &(usize, Record)| format!(" {o}:{}", type_name(r.rtype()));
            let kinds: String = scan(&img).records.iter().map(kind).collect();
            let (n, ck) = (img.len(), refused.map_or("ok".into(), ename));
            println!("# symmetry: {what}: checkpoint {ck}, {n} bytes, records{kinds}");
            let want: &[i32] = if refused.is_some() { &[EIO] } else { &[] };
            match d.expect_fuzz_restart(&img, want, refused.is_none(), what) {
                Err(e) if refused.is_none() => Err(format!("checkpoint succeeded but {e}")),
                r => r,
            }
        })
    })
}
