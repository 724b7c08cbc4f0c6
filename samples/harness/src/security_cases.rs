//! The security review of the core (issue 10): each fails before its fix.

use crate::hardening_cases::root_image;
use crate::vm::*;
use ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED as SKIP;
use ckpt_image::{decode, FileDesc, CKPT_IMAGE_MAX, RESTART_DRY_RUN};
use libc::{ELOOP, ESTALE, S_IFCHR, S_IFIFO, S_IFLNK, S_IFREG};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

const MNT: &str = "/mnt/sec";
const SUID: &str = "/tmp/cr-suid";

/// Image of a root child holding each `MNT/name` read-only at its fd.
fn image_of(files: &[(&str, i32)]) -> Result<Vec<u8>, String> {
    let open = |(n, fd): &(&str, i32)| open_at(&format!("{MNT}/{n}"), libc::O_RDONLY, *fd);
    root_image(|| files.iter().try_for_each(|f| open(f).map(drop)))
}

/// Restart of `image` (fd 900, log 901) in a child after `prep` gives
/// `want`, changes nothing when refused and passes `then(log)` there.
fn expect_restart(
    what: &str,
    image: &[u8],
    want: Result<i64, i32>,
    prep: impl FnOnce() -> R,
    then: impl FnOnce(&str) -> R,
) -> R {
    in_child(what, 60, || {
        memfd_at("img", 900, image)?;
        memfd_at("log", 901, b"")?;
        prep()?;
        let before = snap_nopos(&[901], 900);
        let r = rs_start(900, 0, 901);
        let (after, log) = (snap_nopos(&[901], 900), text_of(901));
        eq!(show(&r), show(&want), "restart (log {log:?})");
        let d = snap_diff(&before, &after);
        check!(r.is_ok() || d.is_empty(), "failed but changed:\n{d}");
        then(&log)
    })
}

/// `p` as a symlink to `link`, a file holding "real" or a node (/dev/null's).
fn make(p: &str, kind: u32, link: &str) -> R {
    match kind {
        S_IFLNK => std::os::unix::fs::symlink(link, p).map_err(|e| format!("symlink {p}: {e}")),
        S_IFREG => write_file(p, b"real"),
        // SAFETY: valid C string.
        _ => match unsafe { libc::mknod(cstr(p).as_ptr(), kind | 0o644, libc::makedev(1, 3)) } {
            0 => Ok(()),
            _ => Err(format!("mknod {p}: {}", ename(errno()))),
        },
    }
}

/// `cr-harness --suid-open PATH FD` (the set-uid copy in `exec_race`).
pub fn suid_open(args: &[String]) -> ! {
    if let [path, fd] = args {
        let _ = fd.parse().map(|fd| open_at(path, libc::O_RDONLY, fd));
    }
    sleep_forever();
    exit(0)
}

/// A user's checkpoint of their process blocks on a full pipe while the
/// process execs a set-uid-root program that opens a root-only file: the
/// image shows only the pre-exec table (fd 5), or the call fails (EPERM).
pub(crate) fn exec_race() -> R {
    // in a child with an alarm: a deadlock is a failure, not a hung suite
    let r = on_mount(MNT, || in_child("exec race", 180, exec_race_body));
    let _ = std::fs::remove_file(SUID);
    r
}

fn exec_race_body() -> R {
    let (pre, secret) = (format!("{MNT}/pre"), format!("{MNT}/secret"));
    write_mode(&pre, b"before exec", 0o644)?;
    write_mode(&secret, b"root only", 0o600)?;
    std::fs::copy("/proc/self/exe", SUID).map_err(|e| format!("copy: {e}"))?;
    chmod(SUID, 0o4755)?;
    let (img_r, img_w) = pipe()?;
    // SAFETY: fcntl on our pipe: one page, which one write fills.
    let filled = unsafe { libc::fcntl(img_w, libc::F_SETPIPE_SZ, 4096) }.max(0) as usize;
    eq!(write_fd(img_w, &vec![0x55; filled]), Ok(filled), "filler");
    let ((go_r, go_w), (res_r, res_w)) = (pipe()?, pipe()?);
    let target = fork()?;
    if target == 0 {
        // on "go" it execs the set-uid program, which opens secret at 7
        keep_only(&[(go_r, 108)]);
        let ok = open_at(&pre, libc::O_RDONLY, 5).is_ok() && drop_to_user().is_ok();
        if ok && read_fd(108, 1).is_ok() {
            let _ = std::process::Command::new(SUID)
                .arg0("cr-suid")
                .args(["--suid-open", &secret, "7"])
                .exec();
        }
        exit(3);
    }
    let _t = Target { pid: target };
    let ckp = fork()?;
    if ckp == 0 {
        keep_only(&[(img_w, 200), (res_w, 201)]);
        let msg = match drop_to_user().map(|()| ck(target, 200, SKIP, -1)) {
            Err(e) => format!("setup {e}"),
            Ok(Ok(id)) => format!("OK {id}"),
            Ok(Err(e)) => format!("E {e}"),
        };
        let _ = write_fd(201, msg.as_bytes());
        exit(0);
    }
    let _c = Target { pid: ckp };
    [img_w, go_r, res_w].into_iter().for_each(close);
    // whether `cond` holds within 60 s, polled every 20 ms
    let soon = |cond: &dyn Fn() -> bool| {
        (0..3000).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            cond()
        })
    };
    let wchan = || std::fs::read_to_string(format!("/proc/{ckp}/wchan")).unwrap_or_default();
    if !soon(&|| wchan().trim() == "pipe_write") {
        let w = wchan();
        kill(ckp, libc::SIGKILL); // what it said, if it was done
        let said = read_all(res_r);
        return Err(format!(
            "the checkpointer never blocked on the pipe (wchan {w:?}; checkpoint: {said})"
        ));
    }
    // now the target execs the set-uid program
    let _ = write_fd(go_w, b"g");
    let fd7 = format!("/proc/{target}/fd/7");
    let opened = soon(&|| readlink(&fd7) == secret);
    let said = readlink(&fd7);
    check!(opened, "set-uid program did not open the secret ({said:?})");
    let data = read_all_bytes(img_r);
    wait(ckp);
    let res = read_all(res_r);
    let n = data.len();
    check!(n >= filled, "{n} bytes from the pipe, {filled} were filler");
    let image = &data[filled..];
    let leak = image.windows(6).any(|w| w == b"secret");
    check!(!leak, "image names the secret (checkpoint {res})");
    match res.strip_prefix("OK ") {
        Some(id) => {
            let im = decode(image).map_err(|e| format!("checkpoint OK {id}, image: {e}"))?;
            let got = (fd_names(&im), im.files.len());
            eq!(got, (vec![(5, pre.clone())], 1), "pre-exec fds, files");
        }
        None => eq!(res, format!("E {}", libc::EPERM), "checkpoint, not OK"),
    }
    Ok(())
}

/// In a user namespace the caller has CAP_SYS_CHROOT; a root it cannot
/// search is still refused as chroot(2) does, and the log names the root.
pub(crate) fn userns_chroot() -> R {
    on_mount(MNT, || {
        mkdir(&format!("{MNT}/locked"), 0o700)?;
        mkdir(&format!("{MNT}/open"), 0o755)?;
        let inode = |p: &str| std::fs::metadata(p).map_or(0, |m| m.ino());
        let open_ino = inode(&format!("{MNT}/open"));
        let base = image_of(&[])?;
        let mut errs = Vec::new();
        for (dir, want) in [("locked", Err(libc::EACCES)), ("open", Ok(0))] {
            let mut im = decode(&base).map_err(|e| e.to_string())?;
            im.root = format!("{MNT}/{dir}").into_bytes();
            im.cwd = b"/".to_vec();
            let prep = || {
                drop_to_user()?;
                // SAFETY: unshare with a flag.
                let u = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
                check!(u == 0, "unshare(CLONE_NEWUSER): {}", ename(errno()));
                Ok(())
            };
            let r = expect_restart(dir, &im.encode(), want, prep, |text| {
                if want.is_err() {
                    let root = format!("root \"{MNT}/{dir}\"");
                    check!(text.contains(&root), "log lacks {root}: {text:?}");
                } else {
                    let ino = inode("/");
                    check!(ino == open_ino, "root inode {ino}, expected {open_ino}");
                }
                Ok(())
            });
            errs.extend(r.err());
        }
        check_all(errs)
    })
}

/// An image names `real` (fd 5) and `d/f` (fd 6); each row replaces one:
/// restart refuses without following or opening it, and changes nothing.
pub(crate) fn no_symlinks() -> R {
    on_mount(MNT, || {
        mkdir(&format!("{MNT}/d"), 0o755)?;
        mkdir(&format!("{MNT}/d2"), 0o755)?;
        for p in ["real", "other", "d/f", "d2/f"] {
            write_mode(&format!("{MNT}/{p}"), p.as_bytes(), 0o644)?;
        }
        let img = image_of(&[("real", 5), ("d/f", 6)])?;
        let mut errs = Vec::new();
        for (what, kind, want) in [
            ("file -> symlink to another file", S_IFLNK, ELOOP),
            ("directory -> symlink to another directory", S_IFLNK, ELOOP),
            ("file -> FIFO", S_IFIFO, ESTALE),
            ("file -> character device (/dev/null's)", S_IFCHR, ESTALE),
        ] {
            // (the recorded name replaced, the symlink's target)
            let (name, link) = [("real", "other"), ("d", "d2")][what.starts_with("dir") as usize];
            let p = format!("{MNT}/{name}");
            std::fs::rename(&p, format!("{p}.orig")).map_err(|e| e.to_string())?;
            let r = make(&p, kind, link)
                .and_then(|()| expect_restart(what, &img, Err(want), || Ok(()), |_| Ok(())));
            let _ = std::fs::remove_file(&p);
            std::fs::rename(format!("{p}.orig"), &p).map_err(|e| e.to_string())?;
            errs.extend(r.err());
        }
        check_all(errs)
    })
}

/// Restarts of an image naming `t` (holding "real") while FIFOs, symlinks
/// and fresh files are renamed over `t`: each opens a regular file holding
/// "real" or fails with ESTALE or ELOOP, and none blocks.
pub(crate) fn swap_race() -> R {
    on_mount(MNT, || {
        let (t, tmp) = (format!("{MNT}/t"), format!("{MNT}/.x"));
        write_mode(&t, b"real", 0o644)?;
        write_mode(&format!("{MNT}/other"), b"other", 0o644)?;
        let img = image_of(&[("t", 5)])?;
        let secs = 6;
        let swapper = fork()?;
        if swapper == 0 {
            let end = Instant::now() + Duration::from_secs(secs + 2);
            while Instant::now() < end {
                for kind in [S_IFIFO, S_IFLNK, S_IFREG] {
                    let _ = make(&tmp, kind, "other").map(|()| std::fs::rename(&tmp, &t));
                }
            }
            exit(0);
        }
        let r = in_child("restarting", secs as u32 + 60, move || {
            close_range(3, 899);
            memfd_at("img", 900, &img)?;
            let end = Instant::now() + Duration::from_secs(secs);
            let (mut ok, mut estale, mut eloop) = (0, 0, 0);
            while Instant::now() < end {
                match rs_start(900, 0, -1) {
                    Ok(1) => {
                        // SAFETY: fd 5 is the restarted file; it stays open.
                        let f = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(5) });
                        let mode = f.metadata().map_or(0, |m| m.mode());
                        let b = read_fd(5, 16).unwrap_or_default();
                        let s = String::from_utf8_lossy(&b);
                        let reg = mode & libc::S_IFMT == S_IFREG;
                        check!(reg && s == "real", "opened mode {mode:#o} reading {s:?}");
                        close(5);
                        ok += 1;
                    }
                    Err(ESTALE) => estale += 1,
                    Err(ELOOP) => eloop += 1,
                    r => return Err(format!("restart: {r:?}")),
                }
            }
            let counts = format!("{ok} {estale} {eloop}");
            println!("# swap race: restarts ok / ESTALE / ELOOP: {counts}");
            let both = ok > 0 && estale + eloop > 0;
            check!(both, "the race did not exercise both outcomes: {counts:?}");
            Ok(())
        });
        wait(swapper);
        r
    })
}

/// A valid header and junk, CKPT_IMAGE_MAX (64 MiB) long: EINVAL, and
/// MemFree drops by no more than the image, KASAN's shadow and 16 MiB of
/// slack (measured 65-71 MiB; the old doubling buffer took 107); 8 bytes
/// longer: EFBIG with no allocation (measured 0).
pub(crate) fn image_memory() -> R {
    let (base, max, mut errs) = (image_of(&[])?, CKPT_IMAGE_MAX, Vec::new());
    for (size, want, bound_kb) in [
        (max, libc::EINVAL, max / 1024 + max / 8192 + (16 << 10)),
        (max + 8, libc::EFBIG, 8 << 10),
    ] {
        let path = "/tmp/huge.img";
        let mut b = vec![0x41u8; size];
        b[..112].copy_from_slice(&base[..112]);
        write_file(path, &b)?;
        drop(b);
        let r = in_child("huge", 300, move || {
            let fd = open_at(path, libc::O_RDONLY, 900)?;
            std::thread::sleep(Duration::from_millis(500));
            let free0 = (0..5).map(|_| meminfo_kb("MemFree:")).max().unwrap_or(0);
            let (r, min) = std::thread::scope(|s| {
                let restart = s.spawn(|| rs_start(fd, RESTART_DRY_RUN, -1));
                let mut min = u64::MAX;
                while !restart.is_finished() {
                    min = min.min(meminfo_kb("MemFree:"));
                }
                (restart.join().unwrap_or(Err(0)), min)
            });
            let drop_kb = free0.saturating_sub(min) as usize;
            println!("# {size}-byte image: {r:?}, MemFree -{drop_kb} kB (bound {bound_kb})");
            eq!(show(&r), show(&Err(want)), "{size}-byte image");
            check!(
                drop_kb <= bound_kb,
                "{size}-byte image: MemFree dropped by {drop_kb} kB during restart, bound {bound_kb} kB"
            );
            Ok(())
        });
        let _ = std::fs::remove_file(path);
        errs.extend(r.err());
    }
    check_all(errs)
}

/// A target with a pipe at fds 0 and 1 and a file at 65000 restarts (dry
/// run) in a loop while its parent checkpoints it (EBADF on the pipe after
/// reading the whole table); a files_struct reference taken for that
/// read made the target's restart see a shared table (EBUSY).
pub(crate) fn no_shared_table() -> R {
    on_mount(MNT, || {
        write_mode(&format!("{MNT}/a"), b"a", 0o644)?;
        let img = image_of(&[])?;
        in_child("table", 120, move || {
            memfd_at("img", 1001, &img)?;
            memfd_at("out", 1002, b"")?;
            let secs = 6;
            let target = fork()?;
            if target == 0 {
                keep_only(&[(1001, 1001), (1002, 1002)]);
                alarm(secs as u32 + 60);
                // a pipe at fds 0 and 1, a table of 65,536 slots (slow to read)
                let _ = pipe();
                nofile_of(0, 70000, 70000);
                if open_at(&format!("{MNT}/a"), libc::O_RDONLY, 65000).is_err() {
                    exit(2);
                }
                let end = Instant::now() + Duration::from_secs(secs);
                let mut n = [0u64; 3]; // ok, EBUSY, other
                while Instant::now() < end {
                    n[match rs_start(1001, RESTART_DRY_RUN, -1) {
                        Ok(_) => 0,
                        Err(libc::EBUSY) => 1,
                        Err(_) => 2,
                    }] += 1;
                }
                let _ = set_bytes(1002, format!("{} {} {}", n[0], n[1], n[2]).as_bytes());
                exit(0);
            }
            let ckfd = memfd("ck")?;
            let end = Instant::now() + Duration::from_secs(secs);
            let (mut cks, mut ck_other) = (0u64, String::new());
            while Instant::now() < end {
                set_bytes(ckfd, b"")?;
                match ck(target, ckfd, 0, -1) {
                    Err(libc::EBADF) => cks += 1,
                    r if ck_other.is_empty() => ck_other = format!("{r:?}"),
                    _ => {}
                }
            }
            let st = wait(target);
            let counts = text_of(1002);
            println!("# {cks} checkpoints of the target (EBADF on its pipe); its dry-run restarts ok / EBUSY / other: {counts}");
            eq!(status_text(st), "exit 0", "target");
            let ok = ck_other.is_empty() && cks > 0;
            check!(ok, "checkpoints: {cks} EBADF as expected, then {ck_other}");
            let v: Vec<u64> = counts.split(' ').filter_map(|x| x.parse().ok()).collect();
            // an EBUSY: checkpoint made the target's table look shared
            let ok = matches!(v[..], [ok, 0, 0] if ok > 0);
            check!(ok, "target's restarts ok / EBUSY / other: {counts:?}");
            Ok(())
        })
    })
}

/// A log file (one struct file) shared by the caller of checkpoint and a
/// child writing 2,000 lines; checkpoints of a 200-pipe target log 200
/// lines each, under f_pos_lock as write(2): every line survives whole.
pub(crate) fn log_pos_lock() -> R {
    on_mount(MNT, || {
        in_child("log", 300, || {
            let logp = format!("{MNT}/log");
            let lfd = open_at(&logp, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 700)?;
            let t = Target::paused(|| {
                close_range(0, 1018);
                close_range(1020, u32::MAX);
                (0..100).try_for_each(|_| pipe().map(drop))
            })?;
            let line = "writer: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij";
            let n_lines = 2000;
            let writer = fork()?;
            if writer == 0 {
                let l = format!("{line}\n");
                let ok = (0..n_lines).all(|_| write_fd(lfd, l.as_bytes()) == Ok(l.len()));
                exit(if ok { 0 } else { 1 });
            }
            let _w = Target { pid: writer };
            let (img, mut cks, mut st) = (memfd("img")?, 0, 0);
            // SAFETY: non-blocking wait for our child.
            while cks == 0 || unsafe { libc::waitpid(writer, &mut st, libc::WNOHANG) } == 0 {
                set_bytes(img, b"")?;
                if let Err(e) = ck(t.pid, img, SKIP, lfd).map_err(ename) {
                    return Err(format!("checkpoint: {e}"));
                }
                cks += 1;
            }
            let text = String::from_utf8_lossy(&read_file(&logp)?).into_owned();
            let writer_lines = text.lines().filter(|&l| l == line).count();
            let skip = |l: &str| l.starts_with("checkpoint: fd ") && l.ends_with("left out");
            let ck_lines = text.lines().filter(|l| skip(l)).count();
            let fine = |l: &str| {
                l == line
                    || l.starts_with("checkpoint: ")
                        && (l.ends_with("left out") || l.contains(" bytes"))
            };
            let bad: Vec<&str> = text.lines().filter(|l| !fine(l)).take(3).collect();
            println!("# {cks} checkpoints; {writer_lines} writer lines, {ck_lines} skip lines");
            check!(
                writer_lines == n_lines && ck_lines >= cks * 200 && bad.is_empty(),
                "lines overwritten: writer {writer_lines} of {n_lines}, checkpoint skip lines {ck_lines} of {}; torn: {bad:?}",
                cks * 200
            );
            Ok(())
        })
    })
}

/// Control characters in names (from an image or a task) are escaped: one
/// log line per event, none forged.  Also: more descriptors than
/// RLIMIT_NOFILE are refused by their count, before any is read.
pub(crate) fn log_escapes() -> R {
    on_mount(MNT, || {
        write_mode(&format!("{MNT}/a"), b"a", 0o644)?;
        let base = image_of(&[("a", 5)])?;
        let mut im = decode(&base).map_err(|e| e.to_string())?;
        im.files[0].name = format!("{MNT}/no\nrestart: forged [-EPERM]\x1b[2J").into_bytes();
        let forged = im.encode();
        im = decode(&base).map_err(|e| e.to_string())?;
        im.fds = (0..1500).map(|fd| FileDesc { fd, ..im.fds[0] }).collect();
        let mut errs = Vec::new();
        for (what, bytes, want, must) in [
            (
                "name with a newline and ESC",
                forged,
                libc::ENOENT,
                "no\\nrestart: forged [-EPERM]\\e[2J\": lookup failed",
            ),
            (
                "1500 descriptors, RLIMIT_NOFILE 1000",
                im.encode(),
                libc::EMFILE,
                "1500 descriptors, above the caller's RLIMIT_NOFILE 1000",
            ),
        ] {
            let prep = || set_nofile_limits(1000, 4096);
            let r = expect_restart(what, &bytes, Err(want), prep, |text| {
                let ok = text.lines().count() == 1 && text.contains(must);
                check!(ok, "one log line containing {must:?}, got {text:?}");
                Ok(())
            });
            errs.extend(r.err());
        }
        // checkpoint: a tmpfs file named with a newline is left out, one log line
        let evil = "/tmp/evil\nname";
        write_file(evil, b"x")?;
        let t = Target::stopped(|| open_at(evil, libc::O_RDONLY, 7).map(drop))?;
        let o = checkpoint_to(t.pid, &format!("{MNT}/evil.ckpt"), SKIP);
        let _ = std::fs::remove_file(evil);
        let Outcome { r, log: text } = o?;
        let must = "checkpoint: fd 7 \"/tmp/evil\\nname\" (tmpfs): f_op lacks checkpoint, left out";
        if r.is_err() || !text.lines().any(|l| l == must) || text.contains("evil\nname") {
            errs.push(format!(
                "checkpoint {r:?}: expected the log line {must:?}, got {text:?}"
            ));
        }
        check_all(errs)
    })
}
