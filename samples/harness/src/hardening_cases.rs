//! Privileges, races, umount/rmmod and leaks of checkpoint(2) and restart(2) (issue 6).

use crate::fuzz_cases::{make_image, on_populated, verify_restored_img, POPULATED};
use crate::{fs_cases::check_growth, golden::apply, vm::*};
use ckpt_image::RESTART_DRY_RUN;
use ckpt_image::{decode, Image, ImageError as IE, CHECKPOINT_SKIP_UNSUPPORTED as SKIP};
use libc::{EACCES, EAGAIN, EBADF, EBUSY, EFBIG, EINVAL, EISDIR, ELOOP, EPERM, ESRCH};
use testsupport::golden::{self as st, Step};

const MNT: &str = "/mnt/hard";
const CHURN: &str = "/mnt/hard/churn";
/// memfds above the fds the cases record: an image, what a child reports.
const IMG: i32 = 1001;
const OUT: i32 = 1002;

/// checkpoint(pid) (unsupported fds left out) into memfd 900: result, image.
fn ck_mem(pid: i32) -> Result<(Result<i64, i32>, Vec<u8>), String> {
    set_bytes(900, b"")?;
    Ok((ck(pid, 900, SKIP, -1), get_bytes(900)))
}

fn expect_image(b: &[u8], what: &str) -> Result<Image, String> {
    decode(b).map_err(|e| format!("{what}: {e}"))
}

pub(crate) fn root_image<F: FnOnce() -> R>(setup: F) -> Result<Vec<u8>, String> {
    let (img, r) = make_image(setup, SKIP)?;
    r.map_err(|e| format!("making the image: checkpoint {}", ename(e)))?;
    Ok(img)
}

fn steps_image(steps: &[Step]) -> Result<Vec<u8>, String> {
    root_image(|| apply(MNT, steps))
}

/// f0, f1, ..., f9, f0, ... opened with `flags` at each of `fds`.
fn opens(flags: i32, fds: impl IntoIterator<Item = i32>) -> Vec<Step> {
    let open = |(i, fd): (usize, i32)| st::open(POPULATED[i % 10], flags, fd);
    fds.into_iter().enumerate().map(open).collect()
}

/// A child that closes fds 3..900 and runs `f(0)`, `f(1)`, ... for `secs`.
fn spawn_loop(secs: u64, f: impl FnMut(u64)) -> Result<Target, String> {
    Target::spawn(move || {
        close_range(3, 899);
        until(secs).for_each(f);
    })
}

/// Checkpoints of `pid` for `secs`: images pass `ok`, failures are `errs` with nothing or an ERROR.
fn check_ckpts(pid: i32, secs: u64, errs: &[i32], mut ok: impl FnMut(Image) -> R) -> Counts {
    memfd_at("img", 900, b"")?;
    let mut hist = std::collections::BTreeMap::<String, usize>::new();
    for n in until(secs).map(|i| i + 1) {
        let (r, b) = ck_mem(pid)?;
        let name = match r {
            Ok(_) => {
                let im = expect_image(&b, &format!("checkpoint #{n} succeeded, image invalid"))?;
                ok(im)?;
                "ok".into()
            }
            Err(e) => {
                check!(errs.contains(&e), "checkpoint #{n}: {}", ename(e));
                let other = decode(&b);
                let er = matches!(other, Err(IE::ErrorRecord { err, .. }) if err == -e);
                let (ok, e) = (b.is_empty() || er, ename(e));
                check!(ok, "failed checkpoint #{n} ({e}): {other:?}");
                format!("checkpoint {e}")
            }
        };
        *hist.entry(name).or_default() += 1;
    }
    Ok((format!("{hist:?}"), hist.get("ok").copied().unwrap_or(0)))
}

type Counts = Result<(String, usize), String>;
type Ckpt100 = Result<(String, Vec<u8>, Result<usize, IE>), String>;

fn holding(name: &'static str, fd: i32) -> Result<Target, String> {
    Target::paused(move || {
        close_range(3, 899);
        open_at(&format!("{MNT}/{name}"), libc::O_RDONLY, fd).map(|_| ())
    })
}

pub(crate) fn perm_checkpoint() -> R {
    on_populated(MNT, || {
        memfd_at("img", 900, b"")?;
        let root = holding("secret", 5)?;
        in_child("unprivileged child", 60, || {
            drop_to(UID)?;
            close_range(3, 899);
            for pid in [root.pid, 1] {
                let r = ck(pid, 900, 0, -1);
                eq!(show(&r), "Err(EPERM)", "checkpoint of root's pid {pid}");
            }
            eq!(get_bytes(900).len(), 0, "bytes the EPERM checkpoints wrote");
            // self and own child: works, the image records only `name` at `fd`
            open_at(&format!("{MNT}/ro"), libc::O_RDONLY, 7)?;
            let kid = holding("f1", 4)?;
            for (pid, fd, name) in [(0, 7, "ro"), (kid.pid, 4, "f1")] {
                let (r, b) = ck_mem(pid)?;
                let got = decode(&b).map(|im| fd_names(&im));
                let ok = matches!(&got, Ok(f) if *f == [(fd, format!("{MNT}/{name}"))]);
                let (ok, r) = (ok && r.is_ok_and(|id| id > 0), show(&r));
                check!(ok, "own image (pid {pid}, uid {UID}): {r}, {got:?}");
            }
            Ok(())
        })
    })
}

pub(crate) fn perm_restart() -> R {
    on_populated(MNT, || {
        // images made by root
        let secret = steps_image(&[st::open("secret", libc::O_RDONLY, 5)])?;
        let ro_rdwr = steps_image(&[st::open("ro", libc::O_RDWR, 5)])?;
        let ro_rdonly = steps_image(&[st::open("ro", libc::O_RDONLY, 5), st::seek(5, 3)])?;
        let noexec_cwd = steps_image(&[Step::Chdir("noexec")])?;
        let edit = |f: &dyn Fn(&mut Image)| {
            let mut im = expect_image(&ro_rdonly, "image of ro")?;
            f(&mut im);
            Ok::<_, String>(im.encode())
        };
        // a process chrooted into MNT as its parent sees it: root MNT, cwd /
        let chrooted = edit(&|im| {
            (im.root, im.cwd) = (MNT.into(), b"/".to_vec());
            im.files[0].name = b"/ro".to_vec();
        })?;
        // O_NOATIME on a file the user does not own (open(2): EPERM)
        let noatime = edit(&|im| im.files[0].file.f_flags |= libc::O_NOATIME as u32)?;
        // a path through /proc/1 (init's root: needs ptrace rights)
        let proc1 = edit(&|im| im.files[0].name = format!("/proc/1/root{MNT}/ro").into())?;
        let cases: Vec<(&str, Vec<u8>, Result<i64, i32>)> = vec![
            ("0600 root file O_RDONLY", secret, Err(EACCES)),
            ("0644 root file O_RDWR", ro_rdwr, Err(EACCES)),
            ("cwd without search permission", noexec_cwd, Err(EACCES)),
            ("root change without CAP_SYS_CHROOT", chrooted, Err(EPERM)),
            ("O_NOATIME on another user's file", noatime, Err(EPERM)),
            // a magic link: never followed (once it was, up to ptrace's EACCES)
            ("path through /proc/1/root", proc1, Err(ELOOP)),
            ("0644 root file O_RDONLY", ro_rdonly, Ok(1)),
        ];
        check_each(cases, |(what, bytes, want)| {
            memfd_at("img", 900, &bytes)?;
            in_child(what, 60, move || {
                // a victim fd at the number the image restores, and another
                open_at("/dev/null", libc::O_RDONLY, 5)?;
                open_at("/dev/null", libc::O_WRONLY, 6)?;
                drop_to(UID)?;
                std::env::set_current_dir("/home/user").ok();
                close_range(0, 2);
                for flags in [RESTART_DRY_RUN, 0] {
                    let before = snap_nopos(&[], 900);
                    let r = rs_start(900, flags, -1);
                    eq!(show(&r), show(&want), "flags {flags}");
                    if r.is_ok() && flags == 0 {
                        verify_restored_img(&expect_image(&bytes, what)?, &before, 900)?;
                        let w = write_fd(5, b"x");
                        check!(w == Err(EBADF), "write to the restored O_RDONLY fd: {w:?}");
                    } else {
                        let (r, d) = (show(&r), snap_diff(&before, &snap_nopos(&[], 900)));
                        check!(d.is_empty(), "flags {flags}: {r} but changed:\n{d}");
                    }
                }
                Ok(())
            })
        })
    })
}

pub(crate) fn odd_sources() -> R {
    on_populated(MNT, || {
        memfd_at("img", 901, &steps_image(&opens(libc::O_RDWR, 3..6))?)?;
        in_child("child", 120, || {
            let (r, rl) = (|fd| rs(0, fd, 0, -1), |log| rs(0, 901, 0, log));
            let (c, cl) = (|fd| ck(0, fd, SKIP, -1), |log| ck(0, 912, SKIP, log));
            let dir = open_at(MNT, libc::O_RDONLY | libc::O_DIRECTORY, 910)?;
            let zero = open_at("/dev/zero", libc::O_RDONLY, 911)?;
            let wr = open_at(&format!("{MNT}/f5"), libc::O_WRONLY, 912)?;
            let opath = open_at(&format!("{MNT}/f5"), libc::O_PATH, 913)?;
            let rdonly = open_at(&format!("{MNT}/f6"), libc::O_RDONLY, 914)?;
            // positions of the odd fds may move (they were read); names and flags may not
            let nopos = |mut s: Snap| {
                s.fds.iter_mut().for_each(|x| x.2 = 0);
                s
            };
            let before = nopos(snap(&[]));
            let cases: Vec<(&str, Result<i64, i32>, &[i32])> = vec![
                ("restart from a directory fd", r(dir), &[EISDIR, EINVAL]),
                // __kernel_read() refuses /dev/zero's ->read (EINVAL), else endless: EFBIG
                ("restart from /dev/zero", r(zero), &[EINVAL, EFBIG]),
                ("restart from an O_WRONLY fd", r(wr), &[EBADF]),
                ("restart from an O_PATH fd", r(opath), &[EBADF]),
                ("restart from a closed fd", r(999), &[EBADF]),
                ("restart from fd -5", r(-5), &[EBADF]),
                ("restart with a read-only log fd", rl(rdonly), &[EBADF]),
                ("restart with log fd -2", rl(-2), &[EBADF]),
                ("restart with an O_PATH log fd", rl(opath), &[EBADF]),
                ("checkpoint into a read-only fd", c(rdonly), &[EBADF]),
                ("checkpoint into an O_PATH fd", c(opath), &[EBADF]),
                ("checkpoint into a directory", c(dir), &[EBADF, EISDIR]),
                ("checkpoint with a read-only log fd", cl(rdonly), &[EBADF]),
            ];
            for (what, r, want) in cases {
                let w: Vec<_> = want.iter().map(|&w| ename(w)).collect();
                let ok = matches!(r, Err(e) if want.contains(&e));
                check!(ok, "{what}: expected {}, got {r:?}", w.join("/"));
            }
            let d = snap_diff(&before, &nopos(snap(&[])));
            check!(d.is_empty(), "failed calls changed the fd table:\n{}", d);
            Ok(())
        })
    })
}

pub(crate) fn odd_targets() -> R {
    let splats0 = kmsg_splats().len();
    memfd_at("out", 900, b"")?;
    // init, kthreadd and what else /proc lists without a cmdline (kernel threads)
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    let pids = pids.filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    let kt = |p: &i32| read_file(&format!("/proc/{p}/cmdline")).is_ok_and(|c| c.is_empty());
    let targets: Vec<i32> = pids.filter(|&p| p > 2).filter(kt).take(10).collect();
    let (mut seen, z) = (Vec::new(), Target::spawn(|| {})?);
    nap(200);
    let each = check_each([1, 2].into_iter().chain(targets), |pid| {
        let (r, b) = ck_mem(pid)?;
        seen.push(format!("{pid}:{}", show(&r)));
        // root may ptrace every task, kthreads share init's fs and files: an image, unless gone
        if r == Err(ESRCH) && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Ok(());
        }
        check!(r.is_ok(), "pid {pid}: expected an image, got {}", show(&r));
        let im = expect_image(&b, &format!("pid {pid}: image invalid"))?;
        expect_eq(im.header.pid, pid, &format!("pid {pid}: HEADER pid"))
    });
    let zombie = expect_ret(ck_mem(z.pid)?.0, Err(ESRCH), "checkpoint of a zombie");
    println!("# odd targets: {}", seen.join(" "));
    close(900);
    each.and(zombie).and(new_splats(splats0))
}

pub(crate) fn shared_table() -> R {
    on_populated(MNT, || {
        memfd_at("img", 901, &steps_image(&opens(libc::O_RDWR, 3..6))?)?;
        check_each(["a thread", "a CLONE_FILES process"], |sharer| {
            in_child(sharer, 60, || {
                // the table shared (CLONE_FILES) with a thread or a process (no CLONE_VM)
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (t, other) = if sharer == "a thread" {
                    (Some(std::thread::spawn(move || rx.recv().ok())), None)
                } else {
                    let pid = clone_process(libc::CLONE_FILES, sleep_forever)?;
                    (None, Some(Target { pid }))
                };
                let (r, d) = changes(&[], 901, || rs_start(901, 0, -1));
                drop((tx, other));
                let _ = t.map(|t| t.join());
                check!(r == Err(EBUSY), "shared table: expected EBUSY, got {r:?}");
                check!(d.is_empty(), "EBUSY restart changed the caller:\n{}", d);
                let r = rs_start(901, 0, -1);
                check!(r == Ok(3), "restart after the thread exited: {r:?}");
                Ok(())
            })
        })
    })
}

pub(crate) fn race_churn() -> R {
    const SECS: u64 = 10;
    on_populated(MNT, || {
        let p = |name: &str, i: u64| format!("{CHURN}/{name}{i}");
        mkdir(&p("sub", 0), 0o755)?;
        (0..20).try_for_each(|i| write_file(&p("f", i), b"0123456789"))?;
        // creator/unlinker: n* never opened; every 256th round an f* the target may hold (EBADF)
        let creator = spawn_loop(SECS, |i| {
            let _ = std::fs::write(p("n", i % 50), b"n");
            let _ = std::fs::remove_file(p("n", (i + 25) % 50));
            if i % 256 == 0 {
                let f = p("f", (i / 256) % 20);
                let _ = std::fs::remove_file(&f);
                let _ = std::fs::write(&f, b"0123456789");
            }
        })?;
        // renamer: f<i> <-> g<i> (never over an existing name), sub0 <-> sub1
        let mover = spawn_loop(SECS, |i| {
            let (a, b) = (p("f", i % 20), p("g", i % 20));
            let _ = std::fs::rename(&a, &b).or_else(|_| std::fs::rename(&b, &a));
            let _ = std::fs::rename(p("sub", i % 2), p("sub", (i + 1) % 2));
        })?;
        let entries = || std::fs::read_dir(CHURN).into_iter().flatten().flatten();
        let reader = spawn_loop(SECS, |_| entries().for_each(|e| drop(e.metadata())))?;
        let target = spawn_loop(SECS + 2, |i| {
            let _ = open_at(&p("f", i % 20), libc::O_RDWR, 5 + (i % 4) as i32);
            let _ = open_at(CHURN, libc::O_RDONLY | libc::O_DIRECTORY, 12);
            let _ = getdents(12, 256);
            let _ = dup2(5, 20);
            let _ = chdir(&p("sub", i % 2));
            if i % 3 == 0 {
                close(6);
            }
        })?;
        // clean errors: an unlinked file or cwd (EBADF), the target exiting (ESRCH)
        let (h, ok) = check_ckpts(target.pid, SECS, &[EBADF, ESRCH], |im| {
            let n = im.fds.len() as i64;
            in_child("dry run", 60, || {
                let r = rs_start(900, RESTART_DRY_RUN, -1);
                let clean = [Err(libc::ENOENT), Err(libc::ESTALE), Err(libc::ENOTDIR)];
                let ok = r == Ok(n) || clean.contains(&r);
                check!(ok, "dry run of a fresh image of {n} fds: {}", show(&r));
                Ok(())
            })
        })?;
        check_each([creator, mover, reader], |t| expect_exit(t, "churn child"))?;
        println!("# race: checkpoints in {SECS} s: {h}");
        check!(ok > 0, "no checkpoint succeeded");
        Ok(())
    })
}

pub(crate) fn race_ckpt_restart() -> R {
    on_populated(MNT, || {
        memfd_at("img", 901, &steps_image(&opens(libc::O_RDWR, 3..11))?)?;
        memfd_at("counts", 902, b"")?;
        let mut seen = std::collections::BTreeMap::<String, u32>::new();
        let target = spawn_loop(6, move |_| {
            *seen.entry(show(&rs_start(901, 0, -1))).or_default() += 1;
            let _ = set_bytes(902, format!("{seen:?}").as_bytes());
        })?;
        let (h, ok) = check_ckpts(target.pid, 5, &[ESRCH, EBADF], |im| {
            let fds: Vec<i32> = im.fds.iter().map(|d| d.fd).collect();
            let ok = fds.iter().all(|&fd| fd == 901 || (3..11).contains(&fd));
            check!(ok, "unexpected fds {:?}", fds);
            Ok(())
        })?;
        expect_exit(target, "restarting target")?;
        let c = text_of(902);
        println!("# race: checkpoint of a restarting process: {h}; the target's restarts: {c}");
        // checkpoint takes no reference on the target's files (v4): never shared
        let (busy, ran) = (c.contains("Err("), c.contains("Ok("));
        check!(!busy, "the target's restarts: {c}");
        check!(ran && ok > 0, "no restart or no checkpoint succeeded");
        Ok(())
    })
}

pub(crate) fn race_umount_rmmod() -> R {
    let r = on_populated(MNT, || {
        let d0 = st::open("d0", libc::O_RDONLY | libc::O_DIRECTORY, 4);
        let img = steps_image(&[st::open("f0", libc::O_RDWR, 3), d0])?;
        memfd_at("img", 901, &img)?;
        let holder = Target::paused(|| {
            close_range(0, 900);
            expect_eq(rs_start(901, 0, -1), Ok(2), "the holder's restart")
        })?;
        eq!(umount2(MNT, 0), Err(EBUSY), "umount with restored fds open");
        // rmmod while mounted and in use, hammered while checkpoints (all must work) go on
        let refused = |rm: &Result<(), i32>| matches!(rm, Err(EBUSY | EAGAIN));
        let (_, tries) = check_ckpts(holder.pid, 3, &[], |_| {
            let rm = delete_module();
            check!(refused(&rm), "rmmod while mounted: {rm:?}");
            Ok(())
        })?;
        // lazy umount: the superblock lives on in the holder's fds; rmmod still fails
        let _ = umount2(MNT, libc::MNT_DETACH);
        let rm = delete_module();
        check!(refused(&rm), "rmmod after lazy umount: {rm:?}");
        // the holder's fds still checkpoint (now unreachable: EBADF is fine)
        let detached = show(&ck_mem(holder.pid)?.0);
        drop(holder);
        close_range(900, 901);
        let freed = soon(20, 300, || delete_module().is_ok());
        let rm = if freed { Ok(()) } else { delete_module() };
        check!(rm.is_ok(), "rmmod once every fd is closed: {rm:?}");
        println!("# race: {tries} rmmod attempts while mounted all refused; checkpoint after lazy umount: {detached}");
        Ok(())
    });
    ensure_module().and(r)
}

/// `n` checkpoint/restart cycles (real, dry run; every 10th a corrupt image) of a child with 8 fds.
fn cycles(n: usize) -> R {
    in_child("cycling child", 600, move || {
        close_range(0, 899);
        let d0 = st::open("d0", libc::O_RDONLY | libc::O_DIRECTORY, 11);
        let more = [st::dup(3, 10), d0, Step::Chdir("sub")];
        apply(MNT, &[opens(libc::O_RDWR, 3..9), more.to_vec()].concat())?;
        memfd_at("img", 900, b"")?;
        let fds0 = open_fds().len();
        for i in 0..n {
            let (r, mut b) = ck_mem(0)?;
            check!(r.is_ok(), "cycle {i}: checkpoint {}", show(&r));
            let r = rs_start(900, if i % 2 == 0 { 0 } else { RESTART_DRY_RUN }, -1);
            check!(r == Ok(8), "cycle {i}: restart {r:?}");
            if i % 10 == 0 {
                let l = b.len();
                b[l - 8] ^= 1; // CRC mismatch
                set_bytes(900, &b)?;
                let r = rs_start(900, 0, -1);
                check!(r == Err(EINVAL), "cycle {i}: corrupted restart {r:?}");
            }
        }
        expect_eq(open_fds().len(), fds0, "open fds after the cycles")
    })
}

pub(crate) fn leak_cycles() -> R {
    // a leak of one small object per cycle is ~100 kB of Slab; allow noise
    let max = [Some(1024), None, None, Some(16), Some(64)];
    let what = "checkpoint+restart (8 fds, every 10th also a corrupted restart)";
    on_populated(MNT, || check_growth(what, (20, 1000), max, cycles))
}

/// SIGUSR1 caught by a do-nothing handler with SA_RESTART (glibc's signal(3) sets it).
fn usr1_restartable() -> R {
    extern "C" fn on_usr1(_: libc::c_int) {}
    // SAFETY: installing a handler that does nothing.
    let r = unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
    sys_or(r, "signal").map(drop)
}

/// Restart of f1 (fd 5), f7 (`at`) blocked by a lease or a pipe (`how`), poked: both fds or `err`.
fn blocked(how: &str, at: i32, err: i32, pre: fn() -> R, poke: fn(i32), what: &str) -> R {
    on_populated(MNT, || {
        let f7 = st::open("f7", libc::O_RDWR, at);
        let base = steps_image(&[st::open("f1", libc::O_RDONLY, 5), f7])?;
        memfd_at("img", IMG, &base)?;
        memfd_at("out", OUT, b"")?;
        pipe_at(1004, 1005)?;
        // (with a lease the image is read from IMG, the pipe unread)
        let (lease, (first, rest)) = (how == "lease", base.split_at(base.len() / 2));
        open_at(&format!("{MNT}/f7"), libc::O_RDONLY, 1003)?;
        let r = lease && fcntl(1003, libc::F_SETLEASE, libc::F_RDLCK) != 0;
        check!(!r, "F_SETLEASE F_RDLCK: {}", ename(errno()));
        // SAFETY: ignore the lease-break signal.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
        let t = Target::spawn(|| {
            keep_only(&[(IMG, IMG), (OUT, OUT), (1004, 1004)]);
            let r = pre().map(|_| show(&rs(0, if lease { IMG } else { 1004 }, 0, OUT)));
            let (r, log) = (r.unwrap_or_else(|e| e), text_of(OUT).replace('\n', " | "));
            let (o5, o) = (getfd(5) >= 0, getfd(at) >= 0);
            let msg = format!("{r} fd5 {o5} fd{at} {o}; log: {log}");
            let _ = set_bytes(OUT, msg.as_bytes());
        })?;
        close(1004);
        let _ = write_fd(1005, first);
        // wait until the child sleeps (lease break or pipe read pending)
        let st = || std::fs::read_to_string(format!("/proc/{}/stat", t.pid)).unwrap_or_default();
        let blocked = soon(100, 50, || st().contains(") S ") || st().contains(") D "));
        nap(100);
        poke(t.pid);
        nap(300);
        fcntl(1003, libc::F_SETLEASE, libc::F_UNLCK); // (without a lease: EAGAIN)
        let _ = write_fd(1005, rest);
        close(1005);
        let r = expect_exit(t, &format!("{how}: restarting child"));
        // SAFETY: restore the default disposition.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_DFL) };
        let (msg, e) = (text_of(OUT), ename(err));
        println!("# {how}: the restarting child saw {msg}");
        r?;
        check!(blocked, "child never blocked ({how}); it saw {msg}");
        let all = msg.starts_with(&format!("Ok(2) fd5 true fd{at} true"));
        let ok = all || msg.starts_with(&format!("Err({e}) fd5 false fd{at} false"));
        check!(ok, "{what}: {msg}; expected all fds, or {e} and none");
        Ok(())
    })
}

/// prlimit(2) lowers RLIMIT_NOFILE during restart(2): never a half-done install (WARN_ON_ONCE).
pub(crate) fn race_prlimit() -> R {
    const SECS: u64 = 8;
    on_populated(MNT, || {
        // 300 files, highest fd 947
        let fds: Vec<i32> = (0..300).map(|i| 50 + 3 * i).collect();
        let img = steps_image(&opens(libc::O_RDONLY, fds.clone()))?;
        memfd_at("img", IMG, &img)?;
        memfd_at("out", OUT, b"")?;
        // the restarting child (no fds before each call) counts all, none with EMFILE, bad ones
        let mut seen = std::collections::BTreeMap::<String, u32>::new();
        let t = spawn_loop(SECS, move |_| {
            close_range(0, 1000);
            let r = rs_start(IMG, 0, -1);
            let open = fds.iter().filter(|&&fd| getfd(fd) >= 0).count();
            let k = match r {
                Ok(k) if k as usize == fds.len() && open == fds.len() => "all fds".into(),
                Err(libc::EMFILE) if open == 0 => "EMFILE, no fd".into(),
                _ => format!("bad: {} with {open} of 300 fds open", show(&r)),
            };
            *seen.entry(k).or_default() += 1;
            let _ = set_bytes(OUT, format!("{seen:?}").as_bytes());
        })?;
        let flip = |i: u64| {
            let _ = nofile_of(t.pid, [64, 1000][i as usize % 2], 4096);
            (0..(i + 1) % 200).for_each(|_| std::hint::spin_loop());
        };
        let flips = until(SECS).map(flip).count();
        expect_exit(t, "restarting child")?;
        let msg = text_of(OUT);
        println!("# prlimit race: {flips} limit changes; restarts {msg}");
        check!(!msg.contains("bad:"), "restart misbehaved: {msg}");
        Ok(())
    })
}

/// The race above made certain (K3): the limit drops while the reopen waits for a lease break.
pub(crate) fn race_prlimit_lease() -> R {
    let pre = || nofile_of(0, 1000, 4096);
    let poke = |pid| drop(nofile_of(pid, 64, 4096));
    let what = "restart with RLIMIT_NOFILE lowered to 64 during the reopen of fd 900";
    blocked("lease", 900, libc::EMFILE, pre, poke, what)
}

/// A caught SA_RESTART signal while restart(2) sleeps: success or EINTR, no re-read image (K4).
pub(crate) fn race_signal_restart() -> R {
    let usr1 = |pid| _ = kill(pid, libc::SIGUSR1);
    check_each(["lease", "pipe"], |how| {
        let what = format!("{how}: SIGUSR1 (SA_RESTART) during restart");
        blocked(how, 6, libc::EINTR, usr1_restartable, usr1, &what)
    })
}

/// A child's checkpoint of 100 fds into `fd` after `pre`, while `mid(pid)` runs: result, bytes, fds.
fn ckpt_100(fd: i32, pre: fn() -> R, mid: fn(i32) -> Vec<u8>) -> Ckpt100 {
    memfd_at("out", OUT, b"")?;
    let t = Target::spawn(move || {
        keep_only(&[(fd, fd), (OUT, OUT)]);
        let r = pre().and_then(|_| apply(MNT, &opens(libc::O_RDONLY, 3..103)));
        let r = r.map(|_| show(&ck(0, fd, SKIP, -1)));
        let _ = set_bytes(OUT, r.unwrap_or_else(|e| e).as_bytes());
    })?;
    let mut bytes = mid(t.pid);
    expect_exit(t, "checkpointing child")?;
    bytes.extend(get_bytes(fd));
    let got = decode(&bytes).map(|im| im.fds.len());
    let (res, len) = (text_of(OUT), bytes.len());
    println!("# checkpoint returned {res}; {len} bytes: {got:?}");
    Ok((res, bytes, got))
}

/// A SA_RESTART signal while checkpoint(2) blocks on a pipe: one valid image, or EINTR, a cut (K4).
pub(crate) fn race_signal_checkpoint() -> R {
    on_populated(MNT, || {
        pipe_at(1004, 1005)?;
        fcntl(1005, libc::F_SETPIPE_SZ, 4096); // one page
        let (res, stream, got) = ckpt_100(1005, usr1_restartable, |pid| {
            close(1005);
            nap(400);
            kill(pid, libc::SIGUSR1);
            nap(200);
            read_all_bytes(1004)
        })?;
        let magic = ckpt_image::CKPT_MAGIC_HEAD.to_le_bytes();
        let headers = stream.windows(8).filter(|w| *w == magic).count();
        eq!(headers, 1, "HEADER records in the pipe");
        // EINTR: what was written stays (cut anywhere), maybe an ERROR record (rarely: signal pending)
        let cut = matches!(got, Err(IE::ErrorRecord { .. } | IE::Truncated { .. }));
        let cut = cut || matches!(got, Err(IE::LenPastEnd { .. }));
        let ok = matches!(got, Ok(100)) && res.starts_with("Ok(") || cut && res == "Err(EINTR)";
        check!(ok, "checkpoint into a slow pipe with a signal: returned {res}, the reader got {} bytes: {:?}", stream.len(), got);
        Ok(())
    })
}

/// RLIMIT_FSIZE cuts the image write: EFBIG, the bytes up to it, no ERROR record (it reads as cut).
pub(crate) fn write_fails_midway() -> R {
    const LIMIT: u64 = 1000;
    on_populated(MNT, || {
        memfd_at("img", IMG, b"")?;
        let fsize = || {
            // SAFETY: signal(2), and setrlimit(2) with a struct rlimit (two rlim_t).
            let r = unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                libc::setrlimit(libc::RLIMIT_FSIZE, [LIMIT; 2].as_ptr().cast())
            };
            sys_or(r, "setrlimit").map(drop)
        };
        let (res, img, got) = ckpt_100(IMG, fsize, |_| Vec::new())?;
        eq!(res, show(&Err(EFBIG)), "checkpoint with RLIMIT_FSIZE");
        eq!(img.len() as u64, LIMIT, "image bytes written before EFBIG");
        let cut = matches!(got, Err(IE::Truncated { .. } | IE::LenPastEnd { .. }));
        check!(cut, "the image cut at {LIMIT} bytes: {got:?}");
        Ok(())
    })
}
