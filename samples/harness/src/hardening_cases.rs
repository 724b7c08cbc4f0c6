//! Privileges, concurrency, umount/rmmod races and leaks of checkpoint(2)
//! and restart(2) (issue 6).  Helpers come from `fuzz_cases`.

use crate::fuzz_cases::{make_image, populate, verify_restored_img, POPULATED};
use crate::golden::apply;
use crate::vm::*;
use ckpt_image::syscalls::{checkpoint, restart};
use ckpt_image::{decode, RESTART_DRY_RUN};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use testsupport::golden::{self as st, Step};

const MNT: &str = "/mnt/hard";

// --------------------------------------------------------------- privileges

pub(crate) fn perm_checkpoint() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        memfd_at("img", 900, b"")?;
        // a root process holding a root-only file
        let m = MNT.to_string();
        let rootp = Target::paused(move || {
            close_range(3, 899);
            open_at(&format!("{m}/secret"), libc::O_RDONLY, 5).map(|_| ())
        })?;
        let rpid = rootp.pid;
        let res = in_child("unprivileged child", 60, move || {
            drop_to_user()?;
            close_range(3, 899);
            // root's process: EPERM, and nothing is written
            set_bytes(900, b"")?;
            match ck(rpid, 900, 0, -1) {
                Err(e) if e == libc::EPERM => {}
                r => {
                    return Err(format!(
                        "checkpoint of root's pid {rpid}: expected EPERM, got {r:?}"
                    ))
                }
            }
            let b = get_bytes(900);
            if !b.is_empty() {
                return Err(format!("EPERM checkpoint wrote {} bytes", b.len()));
            }
            // pid 1 too
            match ck(1, 900, 0, -1) {
                Err(e) if e == libc::EPERM => {}
                r => return Err(format!("checkpoint of pid 1: expected EPERM, got {r:?}")),
            }
            // self: works
            open_at(&format!("{MNT}/ro"), libc::O_RDONLY, 7)?;
            let id = ck(0, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1)
                .map_err(|e| format!("self-checkpoint as uid {UID}: {}", ename(e)))?;
            let im = decode(&get_bytes(900)).map_err(|e| format!("own image: {e}"))?;
            if id <= 0 || im.fds.len() != 1 || im.fds[0].fd != 7 {
                return Err(format!("own image: id {id}, fds {:?}", im.fds));
            }
            // own child: works
            let kid = Target::paused(|| {
                close_range(3, 899);
                open_at(&format!("{MNT}/f1"), libc::O_RDONLY, 4).map(|_| ())
            })?;
            set_bytes(900, b"")?;
            let id = ck(kid.pid, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1)
                .map_err(|e| format!("checkpoint of own child as uid {UID}: {}", ename(e)))?;
            let im = decode(&get_bytes(900)).map_err(|e| format!("own child's image: {e}"))?;
            if id <= 0
                || im.fds.len() != 1
                || im.fds[0].fd != 4
                || im.files[0].name != format!("{MNT}/f1").into_bytes()
            {
                return Err(format!("own child's image: {:?}", im.fds));
            }
            Ok(())
        });
        drop(rootp);
        close(900);
        res
    })
}

/// Image of a root child with f0, f1, ... (`n` of them, on MNT) open
/// O_RDWR at fds 3, 4, ...
fn rdwr_image(n: usize) -> Result<Vec<u8>, String> {
    let steps: Vec<Step> = (0..n)
        .map(|i| st::open(POPULATED[i], libc::O_RDWR, 3 + i as i32))
        .collect();
    steps_image(&steps)
}

/// Image of a root child with f1 O_RDONLY at fd 5 and f7 (which another
/// process leases) O_RDWR at fd `at`.
fn f1_f7_image(at: i32) -> Result<Vec<u8>, String> {
    steps_image(&[
        st::open("f1", libc::O_RDONLY, 5),
        st::open("f7", libc::O_RDWR, at),
    ])
}

/// Image of a root child set up by `steps` on MNT.
fn steps_image(steps: &[Step]) -> Result<Vec<u8>, String> {
    root_image(|| apply(MNT, steps))
}

/// Image of a root child that ran `setup` (file fds are opened as root).
pub(crate) fn root_image<F: FnOnce() -> R>(setup: F) -> Result<Vec<u8>, String> {
    let (img, r) = make_image(setup, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED)?;
    r.map_err(|e| format!("making the image: checkpoint {}", ename(e)))?;
    Ok(img)
}

pub(crate) fn perm_restart() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        // images made by root
        let secret = steps_image(&[st::open("secret", libc::O_RDONLY, 5)])?;
        let ro_rdwr = steps_image(&[st::open("ro", libc::O_RDWR, 5)])?;
        let ro_rdonly = steps_image(&[st::open("ro", libc::O_RDONLY, 5), st::seek(5, 3)])?;
        let noexec_cwd = steps_image(&[Step::Chdir("noexec")])?;
        // a chrooted process: its root is MNT
        // the image of a process chrooted into MNT, as its (unchrooted)
        // parent would checkpoint it: root MNT, cwd /
        let mut im = decode(&ro_rdonly).map_err(|e| e.to_string())?;
        im.root = MNT.as_bytes().to_vec();
        im.cwd = b"/".to_vec();
        im.files[0].name = b"/ro".to_vec();
        let chrooted = im.encode();
        // O_NOATIME on a file the user does not own (open(2): EPERM)
        let mut im = decode(&ro_rdonly).map_err(|e| e.to_string())?;
        im.files[0].file.f_flags |= libc::O_NOATIME as u32;
        let noatime = im.encode();
        // a path through /proc/1 (init's root: needs ptrace rights)
        let mut im = decode(&ro_rdonly).map_err(|e| e.to_string())?;
        im.files[0].name = format!("/proc/1/root{MNT}/ro").into_bytes();
        let proc1 = im.encode();

        let cases: Vec<(&str, Vec<u8>, Option<i32>)> = vec![
            ("0600 root file O_RDONLY", secret, Some(libc::EACCES)),
            ("0644 root file O_RDWR", ro_rdwr, Some(libc::EACCES)),
            (
                "cwd without search permission",
                noexec_cwd,
                Some(libc::EACCES),
            ),
            (
                "root change without CAP_SYS_CHROOT",
                chrooted,
                Some(libc::EPERM),
            ),
            (
                "O_NOATIME on another user's file",
                noatime,
                Some(libc::EPERM),
            ),
            // a magic link: never followed (it used to be, up to the
            // ptrace check of /proc/1/root: EACCES)
            ("path through /proc/1/root", proc1, Some(libc::ELOOP)),
            ("0644 root file O_RDONLY", ro_rdonly, None),
        ];
        memfd_at("img", 900, b"")?;
        let mut errs = Vec::new();
        for (what, bytes, want) in cases {
            set_bytes(900, &bytes)?;
            let im = decode(&bytes).map_err(|e| format!("{what}: {e}"))?;
            let r = in_child(what, 60, move || {
                // a victim fd at the number the image restores, and another
                open_at("/dev/null", libc::O_RDONLY, 5)?;
                open_at("/dev/null", libc::O_WRONLY, 6)?;
                drop_to_user()?;
                std::env::set_current_dir("/home/user").ok();
                for f in [0, 1, 2] {
                    close(f);
                }
                lseek(900, 0, libc::SEEK_SET);
                for flags in [RESTART_DRY_RUN, 0] {
                    lseek(900, 0, libc::SEEK_SET);
                    let before = snap_nopos(&[], 900);
                    let r = rs(0, 900, flags, -1);
                    let after = snap_nopos(&[], 900);
                    match (want, r) {
                        (Some(w), Err(e)) if e == w => {
                            if before != after {
                                return Err(format!(
                                    "flags {flags}: failed with {} but changed:\n{}",
                                    ename(e),
                                    snap_diff(&before, &after)
                                ));
                            }
                        }
                        (Some(w), r) => {
                            return Err(format!("flags {flags}: expected {}, got {r:?}", ename(w)))
                        }
                        (None, Ok(1)) if flags == RESTART_DRY_RUN => {
                            if before != after {
                                return Err(format!(
                                    "dry run changed:\n{}",
                                    snap_diff(&before, &after)
                                ));
                            }
                        }
                        (None, Ok(1)) => {
                            verify_restored_img(&im, &before, 900)?;
                            // the restored fd is read-only: writes fail with EBADF
                            // SAFETY: write from a static buffer.
                            let w = unsafe { libc::write(5, b"x".as_ptr().cast(), 1) };
                            if w != -1 || errno() != libc::EBADF {
                                return Err(format!(
                                    "write to the restored O_RDONLY fd: {w}, {}",
                                    ename(errno())
                                ));
                            }
                        }
                        (None, r) => {
                            return Err(format!("flags {flags}: expected success, got {r:?}"))
                        }
                    }
                }
                Ok(())
            });
            if let Err(e) = r {
                errs.push(e);
            }
        }
        close(900);
        check_all(errs)
    })
}

// -------------------------------------------------------------- concurrency

fn spawn_loop<F: Fn(u64) + 'static>(secs: u64, f: F) -> Result<i32, String> {
    let pid = fork()?;
    if pid == 0 {
        close_range(3, 899);
        close_range(903, u32::MAX);
        alarm(secs as u32 + 30);
        let end = Instant::now() + Duration::from_secs(secs);
        let mut i = 0u64;
        while Instant::now() < end {
            f(i);
            i += 1;
        }
        exit(0);
    }
    Ok(pid)
}

const CHURN_SECS: u64 = 10;

pub(crate) fn race_churn() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        let d = format!("{MNT}/churn");
        std::fs::create_dir_all(format!("{d}/sub0")).map_err(|e| e.to_string())?;
        for i in 0..20 {
            std::fs::write(format!("{d}/f{i}"), b"0123456789").map_err(|e| e.to_string())?;
        }
        let mut pids = Vec::new();
        // creator/unlinker: files the target never opens (n*), and every 256th
        // round one the target may hold (f*): EBADF for that checkpoint
        let dd = d.clone();
        pids.push(spawn_loop(CHURN_SECS, move |i| {
            let _ = std::fs::write(format!("{dd}/n{}", i % 50), b"n");
            let _ = std::fs::remove_file(format!("{dd}/n{}", (i + 25) % 50));
            if i % 256 == 0 {
                let p = format!("{dd}/f{}", (i / 256) % 20);
                let _ = std::fs::remove_file(&p);
                let _ = std::fs::write(&p, b"0123456789");
            }
        })?);
        // renamer: f<i> <-> g<i> (never over an existing name), sub0 <-> sub1
        let dd = d.clone();
        pids.push(spawn_loop(CHURN_SECS, move |i| {
            let k = i % 20;
            let (a, b) = (format!("{dd}/f{k}"), format!("{dd}/g{k}"));
            if std::fs::rename(&a, &b).is_err() {
                let _ = std::fs::rename(&b, &a);
            }
            let s0 = format!("{dd}/sub{}", i % 2);
            let s1 = format!("{dd}/sub{}", (i + 1) % 2);
            let _ = std::fs::rename(&s0, &s1);
        })?);
        let dd = d.clone();
        pids.push(spawn_loop(CHURN_SECS, move |_| {
            if let Ok(rd) = std::fs::read_dir(&dd) {
                for e in rd.flatten() {
                    let _ = e.metadata();
                }
            }
        })?);
        // the target: keeps (re)opening files, dup'ing, chdir'ing into the churn
        let dd = d.clone();
        let target = spawn_loop(CHURN_SECS + 2, move |i| {
            let _ = open_at(
                &format!("{dd}/f{}", i % 20),
                libc::O_RDWR,
                5 + (i % 4) as i32,
            );
            let _ = open_at(&dd, libc::O_RDONLY | libc::O_DIRECTORY, 12);
            let mut buf = [0u8; 256];
            // SAFETY: buffer valid.
            unsafe { libc::syscall(libc::SYS_getdents64, 12, buf.as_mut_ptr(), buf.len()) };
            let _ = dup2(5, 20);
            let _ = std::env::set_current_dir(format!("{dd}/sub{}", i % 2));
            if i % 3 == 0 {
                close(6);
            }
        })?;
        memfd_at("img", 900, b"")?;
        let mut hist: BTreeMap<String, usize> = BTreeMap::new();
        let mut errs = Vec::new();
        let end = Instant::now() + Duration::from_secs(CHURN_SECS);
        let mut n = 0;
        while Instant::now() < end {
            set_bytes(900, b"")?;
            let r = ck(target, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
            let b = get_bytes(900);
            n += 1;
            match r {
                Ok(_) => {
                    let im = match decode(&b) {
                        Ok(im) => im,
                        Err(e) => {
                            errs.push(format!("checkpoint #{n} succeeded, image invalid: {e}"));
                            continue;
                        }
                    };
                    // dry-run restart in a child: success or a clean errno
                    let rr = restart_dry_in_child(900)?;
                    let key = match rr {
                        Ok(k) if k == im.fds.len() as i64 => "ok, dry run ok".to_string(),
                        Ok(k) => {
                            errs.push(format!(
                                "dry run returned {k}, image has {} fds",
                                im.fds.len()
                            ));
                            "bad".into()
                        }
                        Err(e) if [libc::ENOENT, libc::ESTALE, libc::ENOTDIR].contains(&e) => {
                            format!("ok, dry run {}", ename(e))
                        }
                        Err(e) => {
                            errs.push(format!("dry run of a fresh image: {}", ename(e)));
                            "bad".into()
                        }
                    };
                    *hist.entry(key).or_default() += 1;
                }
                Err(e) => {
                    // clean errors: an unlinked file or cwd (EBADF), the target exiting (ESRCH)
                    if ![libc::EBADF, libc::ESRCH].contains(&e) {
                        errs.push(format!("checkpoint #{n}: {}", ename(e)));
                    }
                    if !b.is_empty() {
                        match decode(&b) {
                            Err(ckpt_image::ImageError::ErrorRecord { err, .. }) if err == -e => {}
                            other => errs.push(format!(
                                "failed checkpoint #{n} ({}): image is {other:?}",
                                ename(e)
                            )),
                        }
                    }
                    *hist.entry(format!("checkpoint {}", ename(e))).or_default() += 1;
                }
            }
            if errs.len() > 10 {
                break;
            }
        }
        for p in pids {
            let st = wait(p);
            if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
                errs.push(format!("churn child: status {st:#x}"));
            }
        }
        kill(target, libc::SIGKILL);
        wait(target);
        close(900);
        let h: Vec<String> = hist.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "# race: {n} checkpoints in {CHURN_SECS} s: {}",
            h.join(", ")
        );
        if hist
            .iter()
            .filter(|(k, _)| k.starts_with("ok"))
            .map(|x| *x.1)
            .sum::<usize>()
            == 0
        {
            errs.push("no checkpoint succeeded".into());
        }
        check_all(errs)
    })
}

/// RESTART_DRY_RUN of the image at `fd` in a forked child.
fn restart_dry_in_child(fd: i32) -> Result<Result<i64, i32>, String> {
    let pid = fork()?;
    if pid == 0 {
        lseek(fd, 0, libc::SEEK_SET);
        let r = restart(0, fd, RESTART_DRY_RUN, -1);
        exit(match r {
            Ok(n) => (n as i32).min(100),
            Err(e) => 128 + e.raw_os_error().unwrap_or(0).min(127),
        });
    }
    let st = wait(pid);
    if !libc::WIFEXITED(st) {
        return Err(format!("dry-run child: status {st:#x}"));
    }
    let c = libc::WEXITSTATUS(st);
    Ok(if c >= 128 { Err(c - 128) } else { Ok(c as i64) })
}

pub(crate) fn race_ckpt_restart() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        memfd_at("img", 901, &rdwr_image(8)?)?;
        // the target restarts the image over and over (its fds get replaced)
        // and keeps its counts (ok, EBUSY, other) in memfd 902
        memfd_at("counts", 902, &[0u8; 24])?;
        let target = spawn_loop(6, move |_| {
            static C: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
            lseek(901, 0, libc::SEEK_SET);
            let k = match restart(0, 901, 0, -1) {
                Ok(_) => 0,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => 1,
                Err(_) => 2,
            };
            C[k].fetch_add(1, Relaxed);
            let mut b = [0u8; 24];
            for (i, c) in C.iter().enumerate() {
                b[i * 8..i * 8 + 8].copy_from_slice(&c.load(Relaxed).to_le_bytes());
            }
            // SAFETY: pwrite from our buffer.
            unsafe { libc::pwrite(902, b.as_ptr().cast(), 24, 0) };
        })?;
        memfd_at("out", 900, b"")?;
        let mut hist: BTreeMap<String, usize> = BTreeMap::new();
        let mut errs = Vec::new();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            set_bytes(900, b"")?;
            let r = ck(target, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
            let b = get_bytes(900);
            match r {
                Ok(_) => match decode(&b) {
                    Ok(im)
                        if im
                            .fds
                            .iter()
                            .all(|d| d.fd == 901 || (3..11).contains(&d.fd)) =>
                    {
                        *hist.entry("ok".into()).or_default() += 1
                    }
                    Ok(im) => errs.push(format!("unexpected fds {:?}", im.fds)),
                    Err(e) => errs.push(format!("image invalid: {e}")),
                },
                Err(e) => {
                    if ![libc::ESRCH, libc::EBADF].contains(&e) {
                        errs.push(format!("checkpoint: {}", ename(e)));
                    }
                    *hist.entry(ename(e)).or_default() += 1;
                }
            }
            if errs.len() > 10 {
                break;
            }
        }
        let st = wait(target);
        close(900);
        close(901);
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            errs.push(format!("restarting target: status {st:#x}"));
        }
        let c = get_bytes(902);
        close(902);
        let rd = |i: usize| {
            c.get(i * 8..i * 8 + 8)
                .map(|x| u64::from_le_bytes(x.try_into().unwrap()))
                .unwrap_or(0)
        };
        let h: Vec<String> = hist.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "# race: checkpoint of a restarting process: {}; the target's restarts: ok {}, EBUSY {}, other {}",
            h.join(", "),
            rd(0),
            rd(1),
            rd(2)
        );
        if rd(1) + rd(2) > 0 {
            // checkpoint takes no reference on the target's file table
            // (patches v4), so the target's own restart never sees it shared
            errs.push(format!(
                "{} restarts of the target failed with EBUSY, {} otherwise",
                rd(1),
                rd(2)
            ));
        }
        if rd(0) == 0 || hist.get("ok").copied().unwrap_or(0) == 0 {
            errs.push("no restart or no checkpoint succeeded: the race was not run".into());
        }
        check_all(errs)
    })
}

pub(crate) fn race_umount_rmmod() -> R {
    let splats0 = kmsg_splats().len();
    mount_cr(MNT)?;
    let r = (|| {
        populate(MNT)?;
        let base = steps_image(&[
            st::open("f0", libc::O_RDWR, 3),
            st::open("d0", libc::O_RDONLY | libc::O_DIRECTORY, 4),
        ])?;
        memfd_at("img", 901, &base)?;
        // a process holding restored fds
        let holder = Target::paused(|| {
            close_range(0, 900);
            lseek(901, 0, libc::SEEK_SET);
            match restart(0, 901, 0, -1) {
                Ok(2) => Ok(()),
                r => Err(format!("{r:?}")),
            }
        })?;
        let mut errs = Vec::new();
        let d = cstr(MNT);
        // SAFETY: valid C string.
        let u = unsafe { libc::umount2(d.as_ptr(), 0) };
        if u == 0 || errno() != libc::EBUSY {
            errs.push(format!(
                "umount with restored fds open: {u}, {}",
                ename(errno())
            ));
        }
        // rmmod while mounted and in use, hammered while checkpoints go on
        let end = Instant::now() + Duration::from_secs(3);
        memfd_at("out", 900, b"")?;
        let mut tries = 0;
        while Instant::now() < end {
            match delete_module() {
                Err(e) if e == libc::EBUSY || e == libc::EAGAIN || e == libc::EWOULDBLOCK => {}
                r => {
                    errs.push(format!("rmmod while mounted: {r:?}"));
                    break;
                }
            }
            set_bytes(900, b"")?;
            match ck(holder.pid, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1) {
                Ok(_) => {
                    if let Err(e) = decode(&get_bytes(900)) {
                        errs.push(format!("image of the holder: {e}"));
                    }
                }
                Err(e) => errs.push(format!("checkpoint of the holder: {}", ename(e))),
            }
            tries += 1;
        }
        // lazy umount: the superblock lives on in the holder's fds; rmmod still fails
        // SAFETY: valid C string.
        unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) };
        match delete_module() {
            Err(e) if e == libc::EBUSY || e == libc::EAGAIN => {}
            r => errs.push(format!("rmmod after a lazy umount, fds still open: {r:?}")),
        }
        // the holder's fds still work and still checkpoint (now unreachable: EBADF is fine)
        set_bytes(900, b"")?;
        let after_detach = ck(holder.pid, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
        drop(holder);
        close(900);
        close(901);
        std::thread::sleep(Duration::from_millis(300));
        // now the module can go, and come back
        let mut rm = delete_module();
        for _ in 0..20 {
            if rm.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            rm = delete_module();
        }
        if let Err(e) = rm {
            errs.push(format!("rmmod once every fd is closed: {}", ename(e)));
        }
        ensure_module()?;
        println!("# race: {tries} rmmod attempts while mounted all refused; checkpoint after lazy umount: {after_detach:?}");
        check_all(errs)
    })();
    umount(MNT);
    let _ = ensure_module();
    r.and(new_splats(splats0))
}

// -------------------------------------------------------------------- leaks

fn files_allocated() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/file-nr")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
/// Active objects of the `filp` slab cache (struct file), if visible.
fn filp_objects() -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string("/sys/kernel/slab/filp/objects") {
        return s.split_whitespace().next().and_then(|x| x.parse().ok());
    }
    let s = std::fs::read_to_string("/proc/slabinfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("filp "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
}

fn settle() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(300));
    shrink_caches();
    std::thread::sleep(Duration::from_millis(300));
}

const CYCLES: usize = 1000;

pub(crate) fn leak_cycles() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        // warm up caches with a few cycles, then measure
        let run = |n: usize| -> R {
            in_child("cycling child", 600, move || {
                close_range(0, 899);
                close_range(902, 1019);
                close_range(1021, u32::MAX);
                for i in 0..6 {
                    open_at(&format!("{MNT}/f{i}"), libc::O_RDWR, 3 + i)?;
                }
                dup2(3, 10)?;
                open_at(&format!("{MNT}/d0"), libc::O_RDONLY | libc::O_DIRECTORY, 11)?;
                std::env::set_current_dir(format!("{MNT}/sub")).map_err(|e| e.to_string())?;
                memfd_at("img", 900, b"")?;
                let fds0 = snap(&[]).fds.len();
                for i in 0..n {
                    set_bytes(900, b"")?;
                    ck(0, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1)
                        .map_err(|e| format!("cycle {i}: checkpoint {}", ename(e)))?;
                    lseek(900, 0, libc::SEEK_SET);
                    // alternate real and dry-run restarts, and a failing one
                    let flags = if i % 2 == 0 { 0 } else { RESTART_DRY_RUN };
                    match restart(0, 900, flags, -1) {
                        Ok(8) => {}
                        r => return Err(format!("cycle {i}: restart {r:?}")),
                    }
                    if i % 10 == 0 {
                        let mut b = get_bytes(900);
                        let l = b.len();
                        b[l - 8] ^= 1; // CRC mismatch
                        set_bytes(900, &b)?;
                        match restart(0, 900, 0, -1) {
                            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                            r => return Err(format!("cycle {i}: corrupted restart {r:?}")),
                        }
                    }
                }
                let fds1 = snap(&[]).fds.len();
                if fds0 != fds1 {
                    return Err(format!("open fds {fds0} before, {fds1} after {n} cycles"));
                }
                Ok(())
            })
        };
        run(20)?;
        settle();
        let (slab0, files0, filp0) = (meminfo_kb("Slab:"), files_allocated(), filp_objects());
        let t = Instant::now();
        run(CYCLES)?;
        let secs = t.elapsed().as_secs_f64();
        settle();
        let (slab1, files1, filp1) = (meminfo_kb("Slab:"), files_allocated(), filp_objects());
        println!(
            "# leak: {CYCLES} checkpoint+restart cycles (8 fds, every 10th also a corrupted restart) in {secs:.1} s; Slab {slab0} -> {slab1} kB; file-nr {files0} -> {files1}; filp objects {filp0:?} -> {filp1:?}"
        );
        let mut errs = Vec::new();
        if files1 > files0 + 16 {
            errs.push(format!(
                "allocated struct files grew by {} over {CYCLES} cycles",
                files1 - files0
            ));
        }
        if let (Some(a), Some(b)) = (filp0, filp1) {
            if b > a + 64 {
                errs.push(format!(
                    "filp objects grew by {} over {CYCLES} cycles (8 fds each)",
                    b - a
                ));
            }
        }
        // a leak of one small object per cycle is ~100 kB; allow noise
        if slab1 > slab0 + 1024 {
            errs.push(format!(
                "Slab grew by {} kB over {CYCLES} cycles",
                slab1 - slab0
            ));
        }
        check_all(errs)
    })
}

// ------------------------------------------------------------ odd arguments

/// An image of 3 files on MNT in memfd 901.
fn three_file_image() -> R {
    let base = rdwr_image(3)?;
    memfd_at("img", 901, &base)
}

pub(crate) fn shared_table() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        three_file_image()?;
        let mut errs = Vec::new();
        for sharer in ["a thread", "a CLONE_FILES process"] {
            let r = in_child(sharer, 60, || {
                // the table is shared (CLONE_FILES) with a thread, or with
                // another process (no CLONE_VM)
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (t, other) = if sharer == "a thread" {
                    let t = std::thread::spawn(move || {
                        let _ = rx.recv();
                    });
                    (Some(t), None)
                } else {
                    (
                        None,
                        Some(Target {
                            pid: clone_process(libc::CLONE_FILES, sleep_forever)?,
                        }),
                    )
                };
                lseek(901, 0, libc::SEEK_SET);
                let before = snap_nopos(&[], 901);
                let r = rs(0, 901, 0, -1);
                let after = snap_nopos(&[], 901);
                let _ = tx.send(());
                if let Some(t) = t {
                    let _ = t.join();
                }
                drop(other);
                if r != Err(libc::EBUSY) {
                    return Err(format!(
                        "restart with a shared file table: expected EBUSY, got {r:?}"
                    ));
                }
                if before != after {
                    return Err(format!(
                        "EBUSY restart changed the caller:\n{}",
                        snap_diff(&before, &after)
                    ));
                }
                // once the thread is gone the same restart works
                match rs_start(901, 0, -1) {
                    Ok(3) => Ok(()),
                    r => Err(format!("restart after the thread exited: {r:?}")),
                }
            });
            if let Err(e) = r {
                errs.push(e);
            }
        }
        close(901);
        check_all(errs)
    })
}

pub(crate) fn odd_sources() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        three_file_image()?;
        let r = in_child("child", 120, || {
            let mut errs = Vec::new();
            let rs = |fd: i32, log: i32| rs(0, fd, 0, log);
            let cs = |fd: i32, log: i32| ck(0, fd, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, log);
            let dir = open_at(MNT, libc::O_RDONLY | libc::O_DIRECTORY, 910)?;
            let zero = open_at("/dev/zero", libc::O_RDONLY, 911)?;
            let wr = open_at(&format!("{MNT}/f5"), libc::O_WRONLY, 912)?;
            let opath = open_at(&format!("{MNT}/f5"), libc::O_PATH, 913)?;
            let rdonly = open_at(&format!("{MNT}/f6"), libc::O_RDONLY, 914)?;
            let before = snap_nopos(&[], 901);
            let cases: Vec<(&str, Result<i64, i32>, &[i32])> = vec![
                (
                    "restart from a directory fd",
                    rs(dir, -1),
                    &[libc::EISDIR, libc::EINVAL],
                ),
                // /dev/zero has ->read: __kernel_read() refuses it (EINVAL); otherwise endless: EFBIG
                (
                    "restart from /dev/zero",
                    rs(zero, -1),
                    &[libc::EINVAL, libc::EFBIG],
                ),
                ("restart from an O_WRONLY fd", rs(wr, -1), &[libc::EBADF]),
                ("restart from an O_PATH fd", rs(opath, -1), &[libc::EBADF]),
                ("restart from a closed fd", rs(999, -1), &[libc::EBADF]),
                ("restart from fd -5", rs(-5, -1), &[libc::EBADF]),
                (
                    "restart with a read-only log fd",
                    rs(901, rdonly),
                    &[libc::EBADF],
                ),
                ("restart with log fd -2", rs(901, -2), &[libc::EBADF]),
                (
                    "restart with an O_PATH log fd",
                    rs(901, opath),
                    &[libc::EBADF],
                ),
                (
                    "checkpoint into a read-only fd",
                    cs(rdonly, -1),
                    &[libc::EBADF],
                ),
                (
                    "checkpoint into an O_PATH fd",
                    cs(opath, -1),
                    &[libc::EBADF],
                ),
                (
                    "checkpoint into a directory",
                    cs(dir, -1),
                    &[libc::EBADF, libc::EISDIR],
                ),
                (
                    "checkpoint with a read-only log fd",
                    cs(wr, rdonly),
                    &[libc::EBADF],
                ),
            ];
            for (what, r, want) in cases {
                match r {
                    Err(e) if want.contains(&e) => {}
                    r => errs.push(format!(
                        "{what}: expected {}, got {r:?}",
                        want.iter().map(|&w| ename(w)).collect::<Vec<_>>().join("/")
                    )),
                }
            }
            let after = snap_nopos(&[], 901);
            // positions of the odd fds may move (they were read); names and flags may not
            let strip = |s: &Snap| {
                s.fds
                    .iter()
                    .map(|x| (x.0, x.1.clone(), x.3, x.4))
                    .collect::<Vec<_>>()
            };
            if strip(&before) != strip(&after) || before.cwd != after.cwd {
                errs.push(format!(
                    "failed calls changed the fd table:\n{}",
                    snap_diff(&before, &after)
                ));
            }
            check_all(errs)
        });
        close(901);
        r
    })
}

pub(crate) fn odd_targets() -> R {
    let splats0 = kmsg_splats().len();
    memfd_at("out", 900, b"")?;
    let mut errs = Vec::new();
    let mut seen = Vec::new();
    // kernel threads: kthreadd (2) and whatever else /proc lists without a cmdline
    let mut targets = vec![1, 2];
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() {
                let cl = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if cl.is_empty() && pid > 2 && targets.len() < 12 {
                    targets.push(pid);
                }
            }
        }
    }
    for pid in targets {
        set_bytes(900, b"")?;
        let r = ck(pid, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
        let b = get_bytes(900);
        match r {
            Ok(_) => {
                match decode(&b) {
                    Err(e) => errs.push(format!("pid {pid}: image invalid: {e}")),
                    Ok(im) if im.header.pid != pid => {
                        errs.push(format!("pid {pid}: HEADER pid {}", im.header.pid))
                    }
                    Ok(_) => {}
                }
                seen.push(format!("{pid}:ok"));
            }
            // root may ptrace-attach every task, and kernel threads share
            // init's fs and file table: an image, unless the thread is gone
            Err(libc::ESRCH) if !std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                seen.push(format!("{pid}:gone"))
            }
            Err(e) => errs.push(format!("pid {pid}: expected an image, got {}", ename(e))),
        }
    }
    // a zombie
    let pid = fork()?;
    if pid == 0 {
        exit(0);
    }
    std::thread::sleep(Duration::from_millis(200));
    set_bytes(900, b"")?;
    let r = ck(pid, 900, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
    wait(pid);
    if r != Err(libc::ESRCH) {
        errs.push(format!("zombie: expected ESRCH, got {r:?}"));
    }
    close(900);
    println!("# odd targets: {}", seen.join(" "));
    let r = check_all(errs);
    r.and(new_splats(splats0))
}

/// Another process (same user; prlimit(2) needs no privilege for that)
/// lowers the restarting process's RLIMIT_NOFILE while restart(2) runs.
/// restart(2) checks the fds against the limit while parsing, and installs
/// them later with replace_fd(), which checks the limit again: the second
/// check must not fail half-way (WARN_ON_ONCE in restore_files_commit, fds
/// missing while restart returns success).
pub(crate) fn race_prlimit() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        // 300 files, highest fd 950
        let m = MNT.to_string();
        let base = root_image(move || {
            for i in 0..300 {
                open_at(&format!("{m}/f{}", i % 10), libc::O_RDONLY, 50 + i * 3)?;
            }
            Ok(())
        })?;
        let im = decode(&base).map_err(|e| e.to_string())?;
        memfd_at("img", 1001, &base)?;
        memfd_at("out", 1002, b"")?;
        let secs = 8;
        let nfds = im.fds.len() as i64;
        let fds: Vec<i32> = im.fds.iter().map(|d| d.fd).collect();
        // the restarting child: counts outcomes into memfd 1002
        let pid = fork()?;
        if pid == 0 {
            close_range(0, 1000);
            close_range(1003, u32::MAX);
            alarm(secs + 60);
            let end = Instant::now() + Duration::from_secs(secs as u64);
            let (mut ok, mut emfile, mut other, mut missing) = (0, 0, 0, 0);
            let mut first_bad = String::new();
            while Instant::now() < end {
                close_range(0, 1000);
                let r = rs_start(1001, 0, -1);
                let open: Vec<i32> = fds.iter().copied().filter(|&fd| getfd(fd) >= 0).collect();
                // (fds missing or extra, what went wrong)
                let (lost, why) = match r {
                    Ok(n) if n == nfds => {
                        ok += 1;
                        let miss: Vec<i32> = fds
                            .iter()
                            .copied()
                            .filter(|fd| !open.contains(fd))
                            .collect();
                        let m = &miss[..miss.len().min(8)];
                        (
                            !m.is_empty(),
                            format!("restart returned {n} but fds {m:?} are not open"),
                        )
                    }
                    Err(libc::EMFILE) => {
                        emfile += 1;
                        // all or nothing: every fd was closed before the call
                        let o = &open[..open.len().min(8)];
                        (
                            !o.is_empty(),
                            format!("EMFILE, but fds {o:?} were installed"),
                        )
                    }
                    r => {
                        other += 1;
                        (false, format!("restart: {r:?}"))
                    }
                };
                missing += u32::from(lost);
                if (lost || why.starts_with("restart: ")) && first_bad.is_empty() {
                    first_bad = why;
                }
            }
            let msg = format!("{ok} {emfile} {other} {missing} {first_bad}");
            let _ = set_bytes(1002, msg.as_bytes());
            exit(0);
        }
        // the parent flips the child's limit between 1000 and 64
        let end = Instant::now() + Duration::from_secs(secs as u64);
        let mut flips = 0u64;
        while Instant::now() < end {
            for lim in [64u64, 1000] {
                nofile_of(pid, lim, 4096);
                flips += 1;
                for _ in 0..(flips % 200) {
                    std::hint::spin_loop();
                }
            }
        }
        let st = wait(pid);
        let msg = text_of(1002);
        close(1001);
        close(1002);
        let v: Vec<&str> = msg.splitn(5, ' ').collect();
        println!("# prlimit race: {flips} limit changes; restarts ok {}, EMFILE {}, other {}, partial {}", v.first().unwrap_or(&"?"), v.get(1).unwrap_or(&"?"), v.get(2).unwrap_or(&"?"), v.get(3).unwrap_or(&"?"));
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            return Err(format!("restarting child: status {st:#x}"));
        }
        if v.len() < 4 {
            return Err(format!("restarting child said {msg:?}"));
        }
        if v[2] != "0" || v[3] != "0" {
            return Err(format!(
                "restart misbehaved while RLIMIT_NOFILE changed: {}",
                v.get(4).unwrap_or(&"")
            ));
        }
        Ok(())
    })
}

/// Deterministic form of the race above (K3): restart(2) reopens a file on
/// which another process holds a read lease, so the O_RDWR open blocks in
/// break_lease() after the parse checked the fds against RLIMIT_NOFILE.
/// Meanwhile the lease holder lowers the restarting process's limit with
/// prlimit(2) (same user: no privilege needed) and releases the lease.
/// restore_files_commit() then meets replace_fd() == -EBADF for fd 900:
/// WARN_ON_ONCE, and restart(2) returns success without fd 900.
pub(crate) fn race_prlimit_lease() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        memfd_at("img", 1001, &f1_f7_image(900)?)?;
        memfd_at("out", 1002, b"")?;
        // the lease
        let lfd = open_at(&format!("{MNT}/f7"), libc::O_RDONLY, 1003)?;
        // SAFETY: fcntl on our fd.
        if unsafe { libc::fcntl(lfd, libc::F_SETLEASE, libc::F_RDLCK) } != 0 {
            let e = errno();
            close(1001);
            close(1002);
            close(lfd);
            return Err(format!("F_SETLEASE F_RDLCK: {}", ename(e)));
        }
        // SAFETY: ignore the lease-break signal.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
        let pid = fork()?;
        if pid == 0 {
            close_range(0, 1000);
            close(1003);
            alarm(60);
            nofile_of(0, 1000, 4096);
            lseek(1001, 0, libc::SEEK_SET);
            let r = restart(0, 1001, 0, -1);
            let (o5, o900) = (getfd(5) >= 0, getfd(900) >= 0);
            let msg = format!("{r:?} fd5 {o5} fd900 {o900}");
            let _ = set_bytes(1002, msg.as_bytes());
            exit(0);
        }
        // wait until the child sleeps in the open (lease break pending)
        let mut blocked = false;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = st.rsplit(") ").next().and_then(|x| x.chars().next());
            if state == Some('S') || state == Some('D') {
                blocked = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        nofile_of(pid, 64, 4096);
        // SAFETY: fcntl on our fd.
        unsafe { libc::fcntl(lfd, libc::F_SETLEASE, libc::F_UNLCK) };
        let st = wait(pid);
        // SAFETY: restore the default disposition.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_DFL) };
        let msg = text_of(1002);
        close(1001);
        close(1002);
        close(lfd);
        println!("# lease race: child blocked in open: {blocked}; child saw: {msg}");
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            return Err(format!("restarting child: status {st:#x}"));
        }
        if !blocked {
            return Err(format!(
                "the restarting child never blocked in the open (lease break): the race was not set up; it saw {msg}"
            ));
        }
        // correct: EMFILE with nothing installed (replace_fds() checks the
        // limit once, for all fds), or success with both fds
        if msg.starts_with("Err(Os { code: 24,") && msg.ends_with("fd5 false fd900 false")
            || msg.starts_with("Ok(2) fd5 true fd900 true")
        {
            return Ok(());
        }
        Err(format!(
            "restart with RLIMIT_NOFILE lowered to 64 during the reopen (fd 900 in the image): {msg}; \
             expected EMFILE with nothing installed, or 2 fds installed"
        ))
    })
}

/// SIGUSR1 caught by a do-nothing handler with SA_RESTART; a 60 s alarm.
fn usr1_restartable() {
    // SAFETY: installing a handler that does nothing; alarm arms a timer.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        libc::alarm(60);
    }
}

extern "C" fn on_usr1(_: libc::c_int) {}

/// A caught signal with SA_RESTART while restart(2) sleeps must either be
/// invisible (the call is restarted and succeeds) or give EINTR; with
/// -ERESTARTSYS the syscall is re-executed, but restart(2) has already moved
/// the image fd's offset to the end (or consumed a pipe), so the second run
/// reads a truncated image: EINVAL for a good image (K4).
pub(crate) fn race_signal_restart() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        let base = f1_f7_image(6)?;
        let mut errs = Vec::new();
        let mut notes = Vec::new();
        for how in ["lease", "pipe"] {
            memfd_at("img", 1001, &base)?;
            memfd_at("out", 1002, b"")?;
            pipe_at(1004, 1005)?;
            let lfd = open_at(&format!("{MNT}/f7"), libc::O_RDONLY, 1003)?;
            if how == "lease" {
                // SAFETY: fcntl on our fd; ignore SIGIO.
                unsafe {
                    libc::signal(libc::SIGIO, libc::SIG_IGN);
                    if libc::fcntl(lfd, libc::F_SETLEASE, libc::F_RDLCK) != 0 {
                        return Err(format!("F_SETLEASE: {}", ename(errno())));
                    }
                }
            }
            let pid = fork()?;
            if pid == 0 {
                close_range(0, 1000);
                close(1003);
                close(1005);
                usr1_restartable();
                let src = if how == "lease" { 1001 } else { 1004 };
                lseek(1001, 0, libc::SEEK_SET);
                let r = restart(0, src, 0, 1002);
                let (o5, o6) = (getfd(5) >= 0, getfd(6) >= 0);
                let log = String::from_utf8_lossy(&get_bytes(1002)).replace('\n', " | ");
                let _ = set_bytes(
                    1002,
                    format!("{r:?} fd5 {o5} fd6 {o6}; log: {log}").as_bytes(),
                );
                exit(0);
            }
            close(1004);
            if how == "pipe" {
                // half the image, a signal while the reader waits, then the rest
                // SAFETY: writes from our buffer.
                unsafe { libc::write(1005, base.as_ptr().cast(), base.len() / 2) };
            }
            std::thread::sleep(Duration::from_millis(300));
            kill(pid, libc::SIGUSR1);
            std::thread::sleep(Duration::from_millis(300));
            if how == "lease" {
                // SAFETY: fcntl on our fd.
                unsafe { libc::fcntl(lfd, libc::F_SETLEASE, libc::F_UNLCK) };
            } else {
                // SAFETY: writes from our buffer.
                unsafe {
                    libc::write(
                        1005,
                        base[base.len() / 2..].as_ptr().cast(),
                        base.len() - base.len() / 2,
                    )
                };
            }
            close(1005);
            let st = wait(pid);
            let msg = text_of(1002);
            close(1001);
            close(1002);
            close(lfd);
            // SAFETY: default disposition back.
            unsafe { libc::signal(libc::SIGIO, libc::SIG_DFL) };
            if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
                errs.push(format!("{how}: child status {st:#x}"));
                continue;
            }
            let ok = msg.starts_with("Ok(2) fd5 true fd6 true")
                || msg.starts_with("Err(Os { code: 4,") && msg.contains("fd5 false fd6 false");
            if ok {
                notes.push(format!(
                    "{how}: {}",
                    &msg[..msg.find(';').unwrap_or(msg.len())]
                ));
            } else {
                errs.push(format!("{how}: SIGUSR1 (SA_RESTART) during restart: {msg}; expected Ok(2) with both fds, or EINTR with none"));
            }
        }
        println!("# signal during restart: {}", notes.join("; "));
        check_all(errs)
    })
}

/// checkpoint(2) into a pipe whose reader is slow: the writer blocks; a
/// caught SA_RESTART signal then makes pipe_write() return -ERESTARTSYS.  The
/// reader must end up with one valid image (or the call fail with EINTR and
/// the stream end in an ERROR record), not a partial image followed by a
/// second full one.
pub(crate) fn race_signal_checkpoint() -> R {
    on_mount(MNT, || {
        populate(MNT)?;
        pipe_at(1004, 1005)?;
        // SAFETY: shrink the pipe to one page.
        unsafe { libc::fcntl(1005, libc::F_SETPIPE_SZ, 4096) };
        memfd_at("out", 1002, b"")?;
        let pid = fork()?;
        if pid == 0 {
            close_range(0, 1000);
            close(1004);
            usr1_restartable();
            for i in 0..100 {
                let _ = open_at(&format!("{MNT}/f{}", i % 10), libc::O_RDONLY, 3 + i);
            }
            let r = checkpoint(0, 1005, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1);
            let _ = set_bytes(1002, format!("{r:?}").as_bytes());
            exit(0);
        }
        close(1005);
        std::thread::sleep(Duration::from_millis(400));
        kill(pid, libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(200));
        let mut stream = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: buffer valid.
            let n = unsafe { libc::read(1004, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            stream.extend_from_slice(&buf[..n as usize]);
        }
        wait(pid);
        let res = text_of(1002);
        close(1004);
        close(1002);
        let dec = decode(&stream);
        println!(
            "# signal during checkpoint: checkpoint returned {res}; reader got {} bytes: {}",
            stream.len(),
            match &dec {
                Ok(im) => format!("valid image, {} fds", im.fds.len()),
                Err(e) => e.to_string(),
            }
        );
        // One image, not a restarted call's second one after the first.
        let magic = ckpt_image::CKPT_MAGIC_HEAD.to_le_bytes();
        let headers = stream.windows(8).filter(|w| *w == magic).count();
        eq!(headers, 1, "HEADER records in the pipe");
        match (res.starts_with("Ok("), dec) {
            (true, Ok(im)) if im.fds.len() == 100 => Ok(()),
            // EINTR: what was written stays, then an ERROR record if it could
            // still be written (the signal is pending: usually not).  The
            // writer fills the pipe 64 KiB at a time, so the stream may end
            // between records or inside one.
            (
                false,
                Err(ckpt_image::ImageError::ErrorRecord { .. }
                | ckpt_image::ImageError::Truncated { .. }
                | ckpt_image::ImageError::LenPastEnd { .. }),
            ) if res.contains("code: 4,") => Ok(()),
            (_, d) => Err(format!("checkpoint into a slow pipe with a signal: returned {res}, the reader got {} bytes: {:?}", stream.len(), d.map(|im| im.fds.len()))),
        }
    })
}

/// A write of the image that fails part-way (RLIMIT_FSIZE reached, SIGXFSZ
/// ignored: EFBIG) fails checkpoint(2) with that errno and leaves what was
/// written: the image's first bytes up to the limit, cut inside a record or
/// between two, never followed by an ERROR record (which would read as the
/// rest of a cut record).  The writer sends its buffer in one write, so
/// the first write is the partial one.
pub(crate) fn write_fails_midway() -> R {
    const LIMIT: u64 = 1000;
    on_mount(MNT, || {
        populate(MNT)?;
        memfd_at("img", 1002, b"")?;
        memfd_at("out", 1003, b"")?;
        let pid = fork()?;
        if pid == 0 {
            close_range(0, 1000);
            // SAFETY: plain signal(2) and setrlimit(2) calls.
            let r = unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let rl = libc::rlimit {
                    rlim_cur: LIMIT,
                    rlim_max: LIMIT,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &rl)
            };
            for i in 0..100 {
                let _ = open_at(&format!("{MNT}/f{}", i % 10), libc::O_RDONLY, 3 + i);
            }
            let res = if r == 0 {
                format!(
                    "{:?}",
                    checkpoint(0, 1002, ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED, -1)
                )
            } else {
                format!("setrlimit: {}", ename(errno()))
            };
            let _ = set_bytes(1003, res.as_bytes());
            exit(0);
        }
        wait(pid);
        let (img, res) = (get_bytes(1002), text_of(1003));
        close(1002);
        close(1003);
        let dec = decode(&img);
        println!(
            "# image write fails part-way: checkpoint returned {res}; {} bytes: {}",
            img.len(),
            match &dec {
                Ok(_) => "valid image".to_string(),
                Err(e) => e.to_string(),
            }
        );
        check!(
            res.contains(&format!("code: {},", libc::EFBIG)),
            "checkpoint with RLIMIT_FSIZE {LIMIT}: expected EFBIG, got {res}"
        );
        eq!(img.len() as u64, LIMIT, "image bytes written before EFBIG");
        match dec {
            Err(
                ckpt_image::ImageError::Truncated { .. }
                | ckpt_image::ImageError::LenPastEnd { .. },
            ) => Ok(()),
            d => Err(format!(
                "the image cut at {LIMIT} bytes should read as truncated, got {:?}",
                d.map(|im| im.fds.len())
            )),
        }
    })
}
