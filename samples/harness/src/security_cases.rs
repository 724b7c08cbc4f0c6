//! The security review of the core (issue 10): each fails before its fix.

use crate::{hardening_cases::root_image, vm::*};
use ckpt_image::CHECKPOINT_SKIP_UNSUPPORTED as SKIP;
use ckpt_image::{decode, FileDesc, CKPT_IMAGE_MAX, RESTART_DRY_RUN};
use libc::{ELOOP, ESTALE, S_IFCHR, S_IFIFO, S_IFLNK, S_IFREG};
use std::os::unix::{fs::MetadataExt, process::CommandExt};

const MNT: &str = "/mnt/sec";
const SUID: &str = "/mnt/sec/suid"; // the set-uid copy of cr-harness in `exec_race`
const SECS: u64 = 6; // how long the races run

/// Image of a root child holding each `MNT/name` read-only at its fd.
fn image_of(files: &[(&str, i32)]) -> Result<Vec<u8>, String> {
    let open = |(n, fd): &(&str, i32)| open_at(&format!("{MNT}/{n}"), libc::O_RDONLY, *fd);
    root_image(|| files.iter().try_for_each(|f| open(f).map(drop)))
}

/// Restart of `image` in a child after `prep`: `want`, no change, one log line holding `must`.
fn expect_refused(what: &str, image: &[u8], want: i32, prep: fn() -> R, must: &str) -> R {
    in_child(what, 60, || {
        memfd_at("img", 900, image).and(memfd_at("log", 901, b""))?;
        prep()?;
        let (r, d) = changes(&[901], 900, || rs_start(900, 0, 901));
        let log = text_of(901);
        eq!(show(&r), show(&Err(want)), "restart (log {log:?})");
        check!(d.is_empty(), "failed but changed:\n{d}");
        let ok = log.lines().count() == 1 && log.contains(must);
        check!(ok, "one log line containing {must:?}, got {log:?}");
        Ok(())
    })
}

/// `p` as a symlink to `link`, a file holding "real" or a node (/dev/null's).
fn make(p: &str, kind: u32, link: &str) -> R {
    match kind {
        S_IFLNK => std::os::unix::fs::symlink(link, p).map_err(|e| format!("symlink {p}: {e}")),
        S_IFREG => write_file(p, b"real"),
        _ => mknod(p, kind | 0o644, libc::makedev(1, 3)),
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

/// A set-uid exec while a user checkpoint blocks on a full pipe: only the pre-exec fd 5, or EPERM.
pub(crate) fn exec_race() -> R {
    // in a child with an alarm: a deadlock is a failure, not a hung suite
    on_mount(MNT, || in_child("exec race", 180, exec_race_body))
}

fn exec_race_body() -> R {
    let (pre, secret) = (format!("{MNT}/pre"), format!("{MNT}/secret"));
    write_mode(&secret, b"root only", 0o600)?;
    std::fs::copy("/proc/self/exe", SUID).map_err(|e| format!("copy: {e}"))?;
    chmod(SUID, 0o4755)?;
    let (img_r, img_w) = pipe()?;
    // one page, which one write fills
    let filled = fcntl(img_w, libc::F_SETPIPE_SZ, 4096).max(0) as usize;
    eq!(write_fd(img_w, &vec![0x55; filled]), Ok(filled), "filler");
    let (go, args) = (format!("{MNT}/go"), ["--suid-open", &secret, "7"]);
    let setup = || open_at(&pre, libc::O_RDONLY | libc::O_CREAT, 5).and(drop_to(UID));
    // once `go` exists it execs the set-uid program, which opens secret at 7
    let t = Target::running(setup, |_| {
        if std::path::Path::new(&go).exists() {
            let _ = std::process::Command::new(SUID).args(args).exec();
        }
    })?;
    // the checkpointer's exit status: the errno (255: it could not become the user)
    let c = Target::spawn(|| {
        keep_only(&[(img_w, 200)]);
        exit(drop_to(UID).map_or(255, |()| ck(t.pid, 200, SKIP, -1).err().unwrap_or(0)));
    })?;
    close(img_w);
    let wchan = || std::fs::read_to_string(format!("/proc/{}/wchan", c.pid)).unwrap_or_default();
    let in_write = soon(3000, 20, || wchan().trim() == "pipe_write");
    let w = wchan();
    check!(in_write, "checkpointer never blocked on the pipe: {w:?}");
    write_file(&go, b"")?;
    let fd7 = format!("/proc/{}/fd/7", t.pid);
    let opened = soon(3000, 20, || readlink(&fd7) == secret);
    let said = readlink(&fd7);
    check!(opened, "set-uid program did not open the secret ({said:?})");
    let (data, res) = (read_all_bytes(img_r), status_text(wait(c.pid)));
    let n = data.len();
    check!(n >= filled, "{n} bytes from the pipe, {filled} were filler");
    let image = &data[filled..];
    let leak = image.windows(6).any(|w| w == b"secret");
    check!(!leak, "image names the secret (checkpoint {res})");
    if res == "exit 0" {
        let im = decode(image).map_err(|e| format!("checkpoint OK, image: {e}"))?;
        let got = (fd_names(&im), im.files.len());
        return expect_eq(got, (vec![(5, pre)], 1), "pre-exec fds, files");
    }
    expect_eq(res, format!("exit {}", libc::EPERM), "checkpoint, not OK")
}

/// With CAP_SYS_CHROOT in a user namespace, a root the user cannot search is still refused, logged.
pub(crate) fn userns_chroot() -> R {
    on_mount(MNT, || {
        mkdir(&format!("{MNT}/locked"), 0o700)?;
        mkdir(&format!("{MNT}/open"), 0o755)?;
        let base = io(decode(&image_of(&[])?))?;
        let rooted = |dir: &str| {
            let mut im = base.clone();
            (im.root, im.cwd) = (format!("{MNT}/{dir}").into_bytes(), b"/".to_vec());
            im.encode()
        };
        let user_ns = || drop_to(UID).and(unshare(libc::CLONE_NEWUSER));
        let root = format!("root \"{MNT}/locked\"");
        expect_refused("locked", &rooted("locked"), libc::EACCES, user_ns, &root)?;
        let ino = |p: &str| std::fs::metadata(p).map_or(0, |m| m.ino());
        let open_ino = ino(&format!("{MNT}/open"));
        in_child("open", 60, || {
            user_ns()?;
            memfd_at("img", 900, &rooted("open"))?;
            eq!(show(&rs_start(900, 0, -1)), show(&Ok(0)), "restart");
            expect_eq(ino("/"), open_ino, "root inode")
        })
    })
}

/// An image of `real` (fd 5) and `d/f` (fd 6), each row replacing one: refused, never followed.
pub(crate) fn no_symlinks() -> R {
    on_mount(MNT, || {
        mkdir(&format!("{MNT}/d"), 0o755)?;
        mkdir(&format!("{MNT}/d2"), 0o755)?;
        for p in ["real", "other", "d/f", "d2/f"] {
            write_mode(&format!("{MNT}/{p}"), p.as_bytes(), 0o644)?;
        }
        let img = image_of(&[("real", 5), ("d/f", 6)])?;
        let rows = [
            ("file -> symlink to another file", S_IFLNK, ELOOP),
            ("directory -> symlink to another directory", S_IFLNK, ELOOP),
            ("file -> FIFO", S_IFIFO, ESTALE),
            ("file -> character device (/dev/null's)", S_IFCHR, ESTALE),
        ];
        check_each(rows, |(what, kind, want)| {
            // (the recorded name replaced, the symlink's target)
            let (name, link) = [("real", "other"), ("d", "d2")][what.starts_with("dir") as usize];
            let p = format!("{MNT}/{name}");
            io(std::fs::rename(&p, format!("{p}.orig")))?;
            let r = make(&p, kind, link);
            let r = r.and_then(|()| expect_refused(what, &img, want, || Ok(()), &p));
            let _ = std::fs::remove_file(&p);
            io(std::fs::rename(format!("{p}.orig"), &p))?;
            r
        })
    })
}

/// Restarts of `t` while FIFOs, symlinks and files are renamed over it: "real", ESTALE or ELOOP.
pub(crate) fn swap_race() -> R {
    on_mount(MNT, || {
        let (t, tmp) = (format!("{MNT}/t"), format!("{MNT}/.x"));
        write_mode(&t, b"real", 0o644)?;
        write_mode(&format!("{MNT}/other"), b"other", 0o644)?;
        let img = image_of(&[("t", 5)])?;
        let kind = |i: u64| [S_IFIFO, S_IFLNK, S_IFREG][i as usize % 3];
        let swap = |i| _ = make(&tmp, kind(i), "other").map(|()| std::fs::rename(&tmp, &t));
        let _swapper = Target::running(|| Ok(()), swap)?;
        in_child("restarting", SECS as u32 + 60, move || {
            close_range(3, 899);
            memfd_at("img", 900, &img)?;
            let mut n = [0; 3]; // ok, ESTALE, ELOOP
            for _ in until(SECS) {
                n[match rs_start(900, 0, -1) {
                    Ok(1) => {
                        // (the next restart replaces fd 5)
                        let mode = std::fs::metadata("/proc/self/fd/5").map_or(0, |m| m.mode());
                        let s = text(&read_fd(5, 16).unwrap_or_default());
                        let reg = mode & libc::S_IFMT == S_IFREG;
                        check!(reg && s == "real", "opened mode {mode:#o} reading {s:?}");
                        0
                    }
                    Err(ESTALE) => 1,
                    Err(ELOOP) => 2,
                    r => return Err(format!("restart: {r:?}")),
                }] += 1;
            }
            println!("# swap race: restarts ok / ESTALE / ELOOP: {n:?}");
            let both = n[0] > 0 && n[1] + n[2] > 0;
            check!(both, "the race did not exercise both outcomes: {n:?}");
            Ok(())
        })
    })
}

/// A header and junk, CKPT_IMAGE_MAX long: EINVAL, MemFree down by at most the image, KASAN's
/// shadow and 16 MiB (measured 65-71 MiB); 8 bytes longer: EINVAL, nothing held (measured 0).
pub(crate) fn image_memory() -> R {
    let (base, max) = (image_of(&[])?, CKPT_IMAGE_MAX);
    let bound = max / 1024 + max / 8192 + (16 << 10);
    check_each([(max, bound), (max + 8, 8 << 10)], |(size, bound_kb)| {
        in_child("huge", 300, || {
            let huge = [&base[..112], &vec![0x41; size - 112]].concat();
            memfd_at("huge", 900, &huge)?;
            nap(500);
            let free0 = (0..5).map(|_| meminfo_kb("MemFree:")).max().unwrap_or(0);
            let restart = std::thread::spawn(|| rs_start(900, RESTART_DRY_RUN, -1));
            let samples = std::iter::repeat_with(|| meminfo_kb("MemFree:"));
            let min = samples.take_while(|_| !restart.is_finished()).min();
            let r = restart.join().unwrap_or(Err(0));
            let drop_kb = free0.saturating_sub(min.unwrap_or(u64::MAX)) as usize;
            println!("# {size}-byte image: {r:?}, MemFree -{drop_kb} kB (bound {bound_kb})");
            eq!(show(&r), show(&Err(libc::EINVAL)), "{size}-byte image");
            let ok = drop_kb <= bound_kb;
            check!(ok, "{size} bytes: MemFree -{drop_kb} kB, bound {bound_kb}");
            Ok(())
        })
    })
}

/// A target restarting in a loop while checkpointed (EBADF on its pipe) never sees a shared table.
pub(crate) fn no_shared_table() -> R {
    on_mount(MNT, || {
        let img = image_of(&[])?;
        // a pipe at fds 0 and 1, a table of 65,536 slots (slow to read)
        let setup = || {
            memfd_at("img", 1001, &img)?;
            let _ = pipe();
            let _ = nofile_of(0, 70000, 70000);
            open_at(MNT, libc::O_RDONLY, 65000).map(drop)
        };
        // a failed restart ends it, its errno the exit status
        let restart = |_| _ = rs_start(1001, RESTART_DRY_RUN, -1).inspect_err(|&e| exit(e));
        let t = Target::running(setup, restart)?;
        in_child("checkpoints", 120, || {
            let ckfd = memfd("ck")?;
            let cks = until(SECS).try_fold(0, |_, cks| {
                set_bytes(ckfd, b"")?;
                let r = ck(t.pid, ckfd, 0, -1);
                check!(r == Err(libc::EBADF), "checkpoint {cks}: {}", show(&r));
                Ok(cks + 1)
            })?;
            println!("# {cks} checkpoints of the target, each EBADF on its pipe");
            Ok(())
        })?;
        // exit 16: EBUSY, checkpoint made the target's table look shared
        expect_eq(t.ended().map(status_text), None, "target's restarts")
    })
}

/// A log shared by checkpoint (200 lines each) and a writer thread: f_pos_lock keeps lines whole.
pub(crate) fn log_pos_lock() -> R {
    on_mount(MNT, || {
        in_child("log", 300, || {
            let logp = format!("{MNT}/log");
            let lfd = open_at(&logp, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 700)?;
            let t = Target::stopped(|| (0..100).try_for_each(|_| pipe().map(drop)))?;
            let line = "writer: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij\n";
            let n_lines = 2000;
            let write = move |_| write_fd(lfd, line.as_bytes()) == Ok(line.len());
            let writer = std::thread::spawn(move || (0..n_lines).all(write));
            let (img, mut cks) = (memfd("img")?, 0);
            while cks == 0 || !writer.is_finished() {
                set_bytes(img, b"")?;
                let r = ck(t.pid, img, SKIP, lfd);
                check!(r.is_ok(), "checkpoint: {}", show(&r));
                cks += 1;
            }
            let text = text(&read_file(&logp)?);
            let n = |f: &dyn Fn(&str) -> bool| text.lines().filter(|l| f(l)).count();
            let writer_lines = n(&|l| l == line.trim_end());
            let ck_lines = n(&|l| l.starts_with("checkpoint: fd ") && l.ends_with("left out"));
            let ends = n(&|l| l.starts_with("checkpoint: id ") && l.ends_with(" bytes"));
            let torn = text.lines().count() - writer_lines - ck_lines - ends;
            println!("# {cks} checkpoints; {writer_lines} writer lines, {ck_lines} skip lines");
            let whole = writer_lines == n_lines && ck_lines >= cks * 200 && torn == 0;
            check!(whole, "lines overwritten (counts above) or torn: {torn}");
            Ok(())
        })
    })
}

/// Control characters in names are escaped (no forged log line); too many fds refused by count.
pub(crate) fn log_escapes() -> R {
    on_mount(MNT, || {
        // checkpoint: a tmpfs file named with a newline is left out, one log line
        let evil = "/tmp/evil\nname";
        let t = Target::stopped(|| open_at(evil, libc::O_RDONLY | libc::O_CREAT, 7).map(drop))?;
        let o = checkpoint_to(t.pid, &format!("{MNT}/evil.ckpt"), SKIP);
        let _ = std::fs::remove_file(evil);
        let Outcome { r, log: text } = o?;
        let must = "checkpoint: fd 7 \"/tmp/evil\\nname\" (tmpfs): f_op lacks checkpoint, left out";
        let ok = r.is_ok() && text.lines().any(|l| l == must) && !text.contains("evil\nname");
        check!(ok, "checkpoint {r:?}: not the line {must:?}: {text:?}");
        // restart: a forged name, too many descriptors
        let mut im = io(decode(&image_of(&[("", 5)])?))?;
        let mut many = im.clone();
        many.fds = (0..1500).map(|fd| FileDesc { fd, ..im.fds[0] }).collect();
        im.files[0].name = format!("{MNT}/no\nrestart: forged [-EPERM]\x1b[2J").into_bytes();
        // (what, image, errno, the log line's text)
        #[rustfmt::skip]
        let rows = [
            ("name with a newline and ESC", im, libc::ENOENT, "no\\nrestart: forged [-EPERM]\\e[2J\": lookup failed"),
            ("1500 descriptors, RLIMIT_NOFILE 1000", many, libc::EMFILE, "1500 descriptors, above the caller's RLIMIT_NOFILE 1000"),
        ];
        check_each(rows, |(what, im, want, must)| {
            expect_refused(what, &im.encode(), want, || nofile_of(0, 1000, 4096), must)
        })
    })
}
