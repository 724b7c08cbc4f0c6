//! Checkpoint/restart acceptance cases.  Processes that checkpoint or restart are clean children
//! (no fds, not even stdio: ttys are not checkpointable), so images hold only a case's own fds.

use crate::roundtrip::{check_image, image_of, image_on, mount_file, mount_with, round_trip};
use crate::{golden::apply, golden::Files, roundtrip::target_on, roundtrip::By, vm::*};
use ckpt_image::*;
use libc::{EACCES, EBADF, EFBIG, EINVAL, EIO, EMFILE, ENAMETOOLONG, ENOENT, ESRCH, ESTALE};
use libc::{O_APPEND, O_CREAT, O_DIRECTORY as O_DIR, O_RDONLY, O_RDWR, O_WRONLY};
use std::{os::unix::fs::MetadataExt, os::unix::process::CommandExt};
use testsupport::golden::{self as st, expected, Step};

fn dev_ino(p: &str) -> Result<(u64, u64), String> {
    let md = std::fs::metadata(p).map_err(|e| format!("stat {p}: {e}"))?;
    Ok((md.dev(), md.ino()))
}

/// In a clean child, [`busy_caller`] (its other file: 10 bytes of a new file), then `f()`.
fn busy_child(what: &str, f: impl FnOnce() -> R) -> R {
    let other = tmpfile("caller");
    write_mode(&other, b"0123456789", 0o666)?;
    in_clean_child(what, || busy_caller(&other).and_then(|()| f()))
}

pub(crate) fn self_checkpoint() -> R {
    const STEPS: &[Step] = &[st::open("a", O_RDWR, 3), st::seek(3, 6)];
    let (m, img) = (mount_with(&[("a", b"hello world")])?, tmpfile("self.ckpt"));
    in_clean_child("checkpointing child", || {
        apply(&m.dir, STEPS)?;
        let o = checkpoint_to(0, &img, 0)?;
        let (r, log, id) = (show(&o.r), o.log, o.r.unwrap_or(0));
        check!(id > 0, "checkpoint(0): {r}; log:\n{log}");
        let (im, me) = (decode_file(&img)?, std::process::id() as i32);
        let (h, ty) = (&im.header, im.files[0].file.i_mode & libc::S_IFMT);
        let rel = io(std::fs::read_to_string("/proc/sys/kernel/osrelease"))?;
        let got = (h.crid as i64, h.pid, h.uflags, h.release_str());
        eq!(got, (id, me, 0, rel.trim().to_string()), "HEADER");
        // fd 3 only: the kernel leaves IMG_FD and LOG_FD out
        let (want, cwd) = expected(STEPS, &m.dir);
        check_image(&im, &want, &cwd)?;
        eq!(ty, libc::S_IFREG, "FILE type");
        let ifd = format!("fd {IMG_FD}");
        check!(log.contains(&ifd), "log lacks the left-out {ifd}:\n{log}");
        let id2 = ck_ok(0, &img, 0)?;
        check!(id2 > 0 && id2 != id, "second id {id2}: not > 0, != {id}");
        Ok(())
    })
}

pub(crate) fn restore_fds() -> R {
    let d: Vec<u8> = (0..200).collect();
    let files: Files = &[("f1", &d), ("f2", &d), ("f3", &d)];
    const STEPS: &[Step] = &[
        st::open("f1", O_RDWR, 3),
        st::seek(3, 10),
        st::open("f2", O_WRONLY | O_APPEND, 5),
        st::open("f3", O_RDONLY | libc::O_NONBLOCK, 7),
        st::cloexec(7),
        st::seek(7, 33),
    ];
    round_trip(files, STEPS, By::Itself, |_| {
        let (a, b) = ((10..15).collect(), (33..37).collect());
        let got = (read_fd(3, 5), read_fd(7, 4), read_fd(5, 1));
        expect_eq(got, (Ok(a), Ok(b), Err(EBADF)), "reads of fds 3, 7, 5")
    })
}

pub(crate) fn dup_shared() -> R {
    let files: Files = &[("shared", &[b'x'; 100]), ("single", &[b'y'; 100])];
    const STEPS: &[Step] = &[
        st::open("shared", O_RDWR, 3),
        st::dup(3, 4),
        st::open("single", O_RDWR, 6),
        st::dup(3, 9),
        st::seek(3, 5),
        st::seek(6, 7),
    ];
    round_trip(files, STEPS, By::Itself, |_| {
        read_fd(9, 8).map_err(|e| format!("read fd 9: {}", ename(e)))?;
        let got = (pos(3), pos(4), pos(9), pos(6));
        eq!(got, (13, 13, 13, 7), "positions after reading fd 9");
        // F_SETFL on one shows on the others (one struct file)
        fcntl(3, libc::F_SETFL, O_APPEND);
        let got = (getfl(9) & O_APPEND, getfl(6) & O_APPEND);
        expect_eq(got, (O_APPEND, 0), "O_APPEND of fds 9, 6")
    })
}

pub(crate) fn cwd_restored() -> R {
    const STEPS: &[Step] = &[Step::Chdir("sub/deeper")];
    round_trip(&[("sub/deeper/", b"")], STEPS, By::Itself, |dir| {
        eq!(readlink("/proc/self/root"), "/", "root after restart");
        let want = dev_ino(&format!("{dir}/sub/deeper"))?;
        expect_eq(dev_ino(".")?, want, "stat(\".\") dev/ino")
    })
}

pub(crate) fn root_restored() -> R {
    let m = mount_with(&[("sub/", b""), ("sub/file", b"inside")])?;
    let img = tmpfile("root.ckpt");
    let steps = [st::open("file", O_RDONLY, 3), st::seek(3, 2)];
    let t = Target::stopped(|| chroot(&m.dir).and_then(|_| apply("/sub", &steps)))?;
    ck_ok(t.pid, &img, 0)?;
    drop(t);
    let root = text(&decode_file(&img)?.root);
    eq!(root, m.dir, "recorded root (under ours)");
    let (r, sub) = (dev_ino(&m.dir)?, dev_ino(&m.p("sub"))?);
    check_restarted(&img, 1, || {
        // (no /proc inside the new root: dev/ino are the check)
        eq!((dev_ino("/")?, dev_ino(".")?), (r, sub), "root, cwd");
        eq!(pos(3), 2, "fd 3 f_pos");
        expect_eq(read_fd(3, 100), Ok(b"side".to_vec()), "fd 3 read")
    })
}

/// Restart keeps the last directory it looked up: files of interleaved directories must not mix.
pub(crate) fn lookup_dirs_and_mounts() -> R {
    const FILES: Files = &[("a/x", b"1"), ("b/x", b"2"), ("a/c/x", b"3"), ("a/y", b"4")];
    let m = mount_with(&[FILES, &[("over/under/", b"")]].concat())?;
    let top = Mount::at(&m.p("over"), "ramfs_cr", Some("mode=0755"))?;
    write_file(&top.p("on-top"), b"top")?;
    let opens = (3..).zip(FILES).map(|(fd, f)| st::open(f.0, O_RDONLY, fd));
    let mut steps: Vec<_> = opens.collect();
    steps.push(st::open("over", O_RDONLY | O_DIR, 7));
    let (topid, img) = (dev_ino(&top.dir)?, image_on(&m, &steps)?);
    check_restarted(&img, 5, || {
        for (fd, (p, data)) in (3..).zip(FILES) {
            eq!(read_fd(fd, 16), Ok(data.to_vec()), "fd {fd} ({p}) read");
        }
        eq!(dev_ino("/proc/self/fd/7")?, topid, "fd 7 (mounted root)");
        let names = dirent_names(&getdents(7, 4096).map_err(ename)?);
        let has = |n: &str| names.iter().any(|x| x == n);
        check!(has("on-top") && !has("under"), "fd 7 lists {names:?}");
        Ok(())
    })
}

pub(crate) fn readdir_case(entries: usize, bufsz: usize, first_calls: usize) -> R {
    let m = mount_with(&[("dir/", b"")])?;
    let d = m.p("dir");
    for i in 0..entries {
        write_file(&format!("{d}/entry-with-a-longish-name-{i:05}"), b"")?;
    }
    let (img, rest_file) = (tmpfile("dir.ckpt"), tmpfile("dir.rest"));
    in_clean_child("checkpointing child", || {
        open_at(&d, O_RDONLY | O_DIR, 3)?;
        let firsts = (0..first_calls).map(|_| getdents(3, bufsz).map(|b| dirent_names(&b).len()));
        let n: usize = firsts.sum::<Result<_, _>>().map_err(ename)?;
        let p = pos(3);
        ck_ok(0, &img, 0)?;
        eq!(pos(3), p, "dir position changed by checkpoint");
        let rest = read_dir_fd(3, bufsz)?;
        let m = n + dirent_names(&rest).len();
        eq!(m, entries + 2, "entries read before + after (with dots)");
        write_file(&rest_file, &rest)
    })?;
    let im = decode_file(&img)?;
    eq!(fd_names(&im), vec![(3, d)], "recorded fds");
    let (f_pos, mode) = (im.files[0].file.f_pos, im.files[0].file.i_mode);
    eq!(mode & libc::S_IFMT, libc::S_IFDIR, "FILE i_mode type");
    check!(f_pos > 0, "recorded dir f_pos {f_pos}: not > 0");
    let want = read_file(&rest_file)?;
    let wn = dirent_names(&want);
    check!(!wn.is_empty(), "nothing left to read after the checkpoint");
    check_restarted(&img, 1, || {
        eq!(pos(3), f_pos, "dir fd position after restart");
        let got = read_dir_fd(3, bufsz).map_err(|e| format!("after restart: {e}"))?;
        let gn = dirent_names(&got);
        let i = gn.iter().zip(&wn).position(|(a, b)| a != b);
        let (g, w) = ((got.len(), gn.len()), (want.len(), wn.len()));
        check!(
            got == want,
            "rest of the getdents64 stream differs: {g:?} (bytes, names) after restart vs {w:?} \
             unrestarted; first different name: #{i:?}"
        );
        Ok(())
    })
}

/// fd 4 on a dir or (`file`) a written file of a plain `fstype` mount: EBADF; its restart EIO.
pub(crate) fn refused_unsupported(fstype: &str, file: bool) -> R {
    let (_m, f) = mount_file("ok", b"ok")?;
    let (plain, img) = (Mount::new(fstype)?, tmpfile("ebadf.ckpt"));
    in_clean_child("checkpointing child", || {
        open_at(&f, O_RDONLY, 3)?;
        if file {
            open_at(&plain.p("file"), O_RDWR | O_CREAT, 4)?;
            write_fd(4, b"data").map_err(ename)?;
        } else {
            open_at(&plain.dir, O_RDONLY | O_DIR, 4)?;
        }
        let name = format!("\"{}\"", fd_path(4));
        let what = format!("checkpoint with a {fstype} {name} at fd 4");
        let on_line = [name, format!("({fstype})")];
        expect_checkpoint_refused(0, &img, EBADF, 4, &on_line, &what)
    })?;
    refused_restart(&img, 0, EIO, "restart of an image ending in ERROR")
}

pub(crate) fn skip_unsupported() -> R {
    let (_m, f) = mount_file("ok", b"ok")?;
    let (plain, img) = (Mount::new("ramfs")?, tmpfile("skip.ckpt"));
    in_clean_child("checkpointing child", || {
        open_at(&plain.dir, O_RDONLY | O_DIR, 3)?;
        open_at(&f, O_RDONLY, 4)?;
        pipe_at(6, 7)?;
        let o = checkpoint_to(0, &img, CHECKPOINT_SKIP_UNSUPPORTED)?;
        let (r, log) = (show(&o.r), o.log);
        check!(o.r.unwrap_or(0) > 0, "checkpoint: {r}; log:\n{log}");
        for fd in [3, 6, 7] {
            let s = format!("fd {fd}");
            check!(log.contains(&s), "log lacks skipped {s}:\n{log}");
        }
        let im = decode_file(&img)?;
        eq!(fd_names(&im), vec![(4, f.clone())], "recorded fds");
        let uflags = im.header.uflags as u64;
        expect_eq(uflags, CHECKPOINT_SKIP_UNSUPPORTED, "HEADER uflags")
    })?;
    check_restarted(&img, 1, || {
        expect_eq((fd_path(4), getfd(3)), (f, -1), "fd 4, fd 3 (skipped)")
    })
}

/// A clean child runs `setup(dir of a fresh mount holding f)`: its checkpoint is refused on fd 3.
fn refused_self(setup: impl FnOnce(&str) -> R, want: i32, what: &str) -> R {
    let m = mount_with(&[("f", b"x")])?;
    in_clean_child("checkpointing child", || {
        setup(&m.dir)?;
        chdir("/")?;
        refused_fd3(0, want, what)
    })
}

fn refused_fd3(pid: i32, want: i32, what: &str) -> R {
    let img = tmpfile("refused.ckpt");
    expect_checkpoint_refused(pid, &img, want, 3, &[], what)
}

pub(crate) fn opath_ebadf() -> R {
    let setup = |d: &str| open_at(&format!("{d}/f"), libc::O_PATH, 3).map(drop);
    refused_self(setup, EBADF, "checkpoint with an O_PATH fd")
}

pub(crate) fn unlinked_ebadf() -> R {
    let setup = |d: &str| {
        open_at(&format!("{d}/f"), O_RDWR, 3)?;
        io(std::fs::remove_file(format!("{d}/f")))
    };
    refused_self(setup, EBADF, "checkpoint with an unlinked open file")
}

/// In a [`busy_child`]: restart of `img` (`flags`) is refused with `want`.
fn refused_restart(img: &str, flags: u64, want: i32, what: &str) -> R {
    busy_child("restart", || expect_restart_refused(img, flags, want, what))
}

pub(crate) fn deleted_enoent() -> R {
    let (m, img) = image_of(st::FILES, TARGET_STEPS)?;
    let b = m.p("b");
    io(std::fs::remove_file(&b))?;
    // a dry run reopens too: ENOENT as well
    check_each([0, RESTART_DRY_RUN], |f| {
        refused_restart(&img, f, ENOENT, &format!("flags {f}, {b} deleted"))
    })
}

pub(crate) fn append_after_restart() -> R {
    let steps = [st::open("log", O_WRONLY | O_APPEND, 3)];
    let (m, img) = image_of(&[("log", b"0123456789")], &steps)?;
    let f = m.p("log");
    write_file(&f, b"0123456789ABC")?; // the file grows after the checkpoint
    check_restarted(&img, 1, || {
        let fl = getfl(3);
        check!(fl & O_APPEND != 0, "O_APPEND lost: F_GETFL {fl:#o}");
        eq!(write_fd(3, b"xyz"), Ok(3), "write to fd 3");
        seek(3, 0)?;
        expect_eq(write_fd(3, b"!"), Ok(1), "write to fd 3 after lseek(0)")
    })?;
    expect_eq(text(&read_file(&f)?), "0123456789ABCxyz!", "file content")
}

pub(crate) fn rdonly_stays() -> R {
    const STEPS: &[Step] = &[st::open("ro", O_RDONLY, 3), st::seek(3, 5)];
    round_trip(&[("ro", b"read only")], STEPS, By::Itself, |dir| {
        eq!(write_fd(3, b"X"), Err(EBADF), "write to the O_RDONLY fd");
        eq!(read_fd(3, 100), Ok(b"only".to_vec()), "read from fd 3");
        let bytes = read_file(&format!("{dir}/ro"))?;
        expect_eq(bytes, b"read only".to_vec(), "file content")
    })
}

fn refused_ckpt(pid: i32, want: i32, what: &str) -> R {
    let o = checkpoint_to(pid, &tmpfile("refused.ckpt"), 0)?;
    expect_outcome(&o, Err(want), what)
}

pub(crate) fn no_process() -> R {
    work()?;
    // (the child is killed if need be and reaped as the Target is dropped)
    let dead = Target::spawn(|| {})?.pid;
    refused_ckpt(dead, ESRCH, &format!("checkpoint of reaped pid {dead}"))?;
    refused_ckpt(-5, EINVAL, "checkpoint of pid -5")
}

pub(crate) fn concurrent_writer() -> R {
    let (m, f) = mount_file("busy", &[b'0'; 4096])?;
    // the writer: O_APPEND 4 KiB chunks until killed
    let setup = || open_at(&f, O_WRONLY | O_APPEND, 3).map(|_| ());
    let w = Target::running(setup, |n| {
        if write_fd(3, &[b'w'; 4096]) != Ok(4096) {
            exit(4);
        }
        // keep the file bounded: 16 MiB then start over
        if n % 256 == 255 && pos(3) > 16 << 20 {
            ftruncate(3, 4096);
        }
    })?;
    let reader = target_on(&m, &[st::open("busy", O_RDONLY, 3), st::seek(3, 100)])?;
    let img = tmpfile("busy.ckpt");
    for i in 0..20 {
        for (who, pid) in [("reader", reader.pid), ("writer", w.pid)] {
            let ctx = |e| format!("round {i}, {who}: {e}");
            ck_ok(pid, &img, 0).map_err(ctx)?;
            let im = decode_file(&img).map_err(ctx)?;
            eq!(fd_names(&im), vec![(3, f.clone())], "round {i}: {who} fds");
            let p = im.files[0].file.f_pos;
            let ok = (who == "reader" && p == 100) || (who == "writer" && p % 4096 == 0 && p > 0);
            check!(ok, "round {i}: {who} f_pos {p}");
        }
    }
    expect_eq(w.ended().map(status_text), None, "writer still running")
}

pub(crate) fn restart_twice() -> R {
    let steps = [st::open("twice", O_RDWR, 3), st::seek(3, 4)];
    let (_m, img) = image_of(&[("twice", b"abcdefghijklmnopqrstuvwxyz")], &steps)?;
    // restart #k (fd 3 at 4 in the image), then lseek(3, 10 + k)
    let restart = |k: i64| {
        eq!((rs_ok(&img)?, pos(3)), (1, 4), "restart #{k}, f_pos");
        seek(3, 10 + k)
    };
    // #0 stays (stopped) with its offset moved to 10, #1 moves its own to 11: own struct files
    let t = Target::stopped(|| restart(0))?;
    in_clean_child("restart #1", || {
        restart(1)?;
        let info = io(std::fs::read_to_string(format!("/proc/{}/fdinfo/3", t.pid)))?;
        let at = |l: &str| l.strip_prefix("pos:")?.trim().parse::<i64>().ok();
        let got = (info.lines().find_map(at), pos(3));
        eq!(got, (Some(10), 11), "restarts #0, #1: each its own offset");
        eq!(read_fd(3, 2), Ok(b"lm".to_vec()), "restart #1: read");
        expect_eq((rs_ok(&img)?, pos(3)), (1, 4), "restart #3, f_pos")
    })
}

pub(crate) fn bad_flags() -> R {
    let (_m, img) = image_of(&[("f", b"f")], &[st::open("f", O_RDONLY, 3)])?;
    let scratch = tmpfile("scratch.ckpt");
    in_clean_child("child", || {
        open_at(&scratch, O_WRONLY | O_CREAT, 10)?;
        for flags in [0x4u64, 0x8, 0x8000_0000, 0xffff_ffff, !0] {
            let r = ck(0, 10, flags, -1);
            expect_ret(r, Err(EINVAL), &format!("checkpoint flags {flags:#x}"))?;
        }
        // flags is an unsigned int (the register's upper half is ignored): 1 << 63 is flags 0
        let r = ck(0, 10, 1 << 63, -1);
        check!(r.unwrap_or(0) > 0, "checkpoint flags 1 << 63: {}", show(&r));
        open_at(&scratch, O_RDONLY, 11)?;
        expect_ret(ck(0, 11, 0, -1), Err(EBADF), "checkpoint to an O_RDONLY fd")?;
        expect_ret(ck(0, 999, 0, -1), Err(EBADF), "checkpoint to a closed fd")
    })?;
    busy_child("child", || {
        open_at(&img, O_RDONLY | libc::O_CLOEXEC, IMG_FD)?;
        let before = snap(&[]);
        for flags in [0x4u64, 0x8, 0x8000_0000, !0] {
            let r = rs_start(IMG_FD, flags, -1);
            expect_ret(r, Err(EINVAL), &format!("restart flags {flags:#x}"))?;
        }
        let r = rs_start(IMG_FD, (1 << 63) | RESTART_DRY_RUN, -1);
        expect_ret(r, Ok(1), "restart flags 1 << 63 | DRY_RUN")?;
        seek(IMG_FD, 0)?;
        expect_ret(rs(1, IMG_FD, 0, -1), Err(EINVAL), "restart into pid 1")?;
        let diff = snap_diff(&before, &snap(&[]));
        check!(diff.is_empty(), "caller changed:\n{diff}");
        seek(IMG_FD, 0)?;
        let r = rs(std::process::id() as i32, IMG_FD, 0, -1);
        expect_ret(r, Ok(1), "restart with pid = the caller's pid")
    })
}

/// Corrupt variants of a valid image: (name, bytes, expected errno).
fn corruptions(good: &[u8]) -> Vec<(&'static str, Vec<u8>, i32)> {
    let (tail, recs) = (good.len() - SIZE_TAIL, scan(good).records);
    let at = |t: u32, n: usize| recs.iter().filter(|r| r.1.rtype() == t).nth(n).unwrap().0;
    let (n, o) = (at(CKPT_HDR_FILE_NAME, 2), at(CKPT_HDR_FILE_DESC, 0));
    let (fl, o2) = (at(CKPT_HDR_FILE, 0), at(CKPT_HDR_FILE_DESC, 1));
    let t = at(CKPT_HDR_FILE_TABLE, 0);
    let len = u32::from_le_bytes(good[n + 4..n + 8].try_into().unwrap()) as usize;
    let le = |v: u32| v.to_le_bytes().to_vec();
    let x = |i: usize| vec![good[i] ^ 1];
    let cut = |n: usize| good[..n].to_vec();
    // `p` written at `at`, the CRC made right again
    let fix = |at: usize, p: &[u8]| {
        let mut b = good.to_vec();
        b[at..at + p.len()].copy_from_slice(p);
        let c = crc32c(&b[..tail]);
        b[tail + 16..tail + 20].copy_from_slice(&c.to_le_bytes());
        b
    };
    // a name byte: only the CRC is wrong now
    let crc = [&good[..n + 9], &x(n + 9), &good[n + 10..]].concat();
    let mut v = vec![
        ("bad header magic", fix(8, &[good[8] ^ 0xff]), EINVAL),
        ("bad version", fix(16, &[99]), EINVAL),
        ("bad arch", fix(18, &[7]), EINVAL),
        ("bad tail magic", fix(tail + 8, &x(tail + 8)), EINVAL),
        ("unknown record type", fix(o, &le(306)), EINVAL),
        ("FILE_DESC reserved nonzero", fix(o + 20, &[1]), EINVAL),
        ("HEADER reserved nonzero", fix(44, &[1]), EINVAL),
        ("len past the end", fix(fl + 4, &le(1 << 20)), EINVAL),
        ("len not a multiple of 8", fix(fl + 4, &le(36)), EINVAL),
        ("relative name", fix(n + 8, b"x"), EINVAL),
        ("name not NUL-padded", fix(n + len - 1, b"z"), EINVAL),
        ("undefined objref", fix(o + 8, &[9]), EINVAL),
        ("fd numbers not ascending", fix(o2 + 12, &le(3)), EINVAL),
        ("nr_fds wrong", fix(t + 8, &[7]), EINVAL),
        ("bad crc", crc, EINVAL),
        ("truncated in the tail", cut(good.len() - 8), EINVAL),
        ("tail missing", cut(tail), EINVAL),
        ("truncated to the header", cut(SIZE_HEADER), EINVAL),
        ("empty", Vec::new(), EINVAL),
    ];
    // the name's last component becomes "..", NUL-padded, when it has room
    let slash = (n + 8..n + len).rfind(|&i| good[i] == b'/').unwrap();
    let mut dd = b"..".to_vec();
    dd.resize(n + len - slash - 1, 0);
    if dd.len() > 2 {
        v.push(("name with a '..' component", fix(slash + 1, &dd), EINVAL));
    }
    v
}

pub(crate) fn bad_images() -> R {
    let (_m, img) = image_of(st::FILES, TARGET_STEPS)?;
    let (good, n) = (read_file(&img)?, expected(TARGET_STEPS, "").0.len() as i64);
    decode(&good).map_err(|e| format!("kernel image does not decode: {e}"))?;
    let bad = check_each(corruptions(&good), |(what, bytes, want)| {
        let p = tmpfile("bad.ckpt");
        write_file(&p, &bytes)?;
        let accepted = decode(&bytes).is_ok();
        check!(!accepted, "{what}: the userspace decoder accepts it");
        refused_restart(&p, 0, want, &format!("restart of image with {what}"))
    });
    let control = || expect_eq(rs_ok(&img)?, n, "restart of the unmodified image");
    check_each([bad, busy_child("control", control)], |r| r)
}

pub(crate) fn error_image_eio() -> R {
    // a hand-built image ending in ERROR (a kernel-made one: refused_unsupported)
    work()?;
    let mut recs = testsupport::SampleImage::new("/").id(1, 1, "x").records();
    if let Record::FileTable(t) = &mut recs[4] {
        t.nr_fds = 1;
    }
    let (err, fd, msg) = (-EBADF, 3, b"f_op lacks checkpoint".to_vec());
    recs.push(Record::Error(ErrorRec { err, fd, msg }));
    let p = tmpfile("error.ckpt");
    write_file(&p, &encode_records(&recs))?;
    refused_restart(&p, 0, EIO, "restart of an image with an ERROR record")
}

pub(crate) fn pipe_and_offset() -> R {
    let steps = [st::open("f", O_RDWR, 3), st::seek(3, 3)];
    let (_m, img) = image_of(&[("f", b"0123456789")], &steps)?;
    let good = read_file(&img)?;
    let n = good.len();
    check!(n < 60000, "image too large for one pipe buffer: {n} bytes");
    in_clean_child("restart from a pipe", || {
        pipe_at(40, 41)?;
        eq!(write_fd(41, &good), Ok(n), "write image into the pipe");
        close(41);
        expect_ret(rs(0, 40, 0, -1), Ok(1), "restart from a pipe")?;
        expect_eq(pos(3), 3, "f_pos")
    })?;
    let off = tmpfile("offset.ckpt");
    write_file(&off, &[vec![0xa5u8; 64], good].concat())?;
    in_clean_child("restart from the fd's position", || {
        open_at(&off, O_RDONLY, 40)?;
        seek(40, 64)?;
        expect_ret(rs(0, 40, 0, -1), Ok(1), "restart from offset 64")?;
        eq!(pos(3), 3, "f_pos");
        expect_ret(rs_start(40, 0, -1), Err(EINVAL), "restart from offset 0")
    })
}

pub(crate) fn too_big() -> R {
    // a real header, then FILE_NAME records of 64 KiB (all zeros) past CKPT_IMAGE_MAX: all held
    let (_m, img) = image_of(&[], &[])?;
    let rec = encode_records(&[Record::FileName(vec![0; (64 << 10) - 16])]);
    let mut held = read_file(&img)?[..SIZE_HEADER].to_vec();
    held.extend(rec.repeat(CKPT_IMAGE_MAX >> 16));
    let (p, size) = (tmpfile("big.ckpt"), held.len());
    write_file(&p, &held)?;
    drop(held);
    let r = refused_restart(&p, 0, EFBIG, &format!("restart of {size} bytes of records"));
    // sparse zeros: no memory used for the holes, a record length of 0
    io(io(std::fs::File::create(&p))?.set_len(CKPT_IMAGE_MAX as u64 + 4096))?;
    let r2 = refused_restart(&p, 0, EINVAL, "restart of a sparse file of zeros");
    let _ = std::fs::remove_file(&p);
    r.and(r2)
}

pub(crate) fn dry_run() -> R {
    let (_m, img) = image_of(st::FILES, TARGET_STEPS)?;
    let n = expected(TARGET_STEPS, "").0.len() as i64;
    busy_child("restarting child", || {
        let (o, diff) = changes(&[], -1, || restart_from(&img, RESTART_DRY_RUN));
        let o = o?;
        expect_outcome(&o, Ok(n), "RESTART_DRY_RUN (fds it would install)")?;
        check!(o.log.contains("dry run"), "log lacks dry run:\n{}", o.log);
        check!(diff.is_empty(), "DRY_RUN changed the caller:\n{diff}");
        Ok(())
    })
}

pub(crate) fn all_or_nothing() -> R {
    // a reopens, b cannot (EACCES as uid 65534; EPERM: the root change was refused first)
    let (m, img) = image_of(st::FILES, TARGET_STEPS)?;
    chmod(&m.p("a"), 0o666)?;
    chmod(&m.p("b"), 0o600)?;
    chmod(&img, 0o644)?;
    busy_child("restarting child", || {
        drop_to(65534)?;
        expect_restart_refused(&img, 0, EACCES, "restart as uid 65534, b mode 0600")
    })
}

/// `ckpt ARGS` must exit with `rc`: its stdout and stderr.
fn ckpt_cli(args: &[&str], rc: i32) -> Result<(String, String), String> {
    let (got, out, err) = run_ckpt(args)?;
    let err = err.trim().to_string();
    eq!(got, rc, "ckpt {args:?}: exit status (stderr: {err})");
    Ok((out, err))
}

pub(crate) fn cli() -> R {
    let (m, f) = mount_file("cli", b"0123456789")?;
    let plain = Mount::new("ramfs")?;
    let t = target_on(&m, &[st::open("cli", O_RDONLY, 3), st::seek(3, 4)])?;
    let (img, log, pid) = (tmpfile("cli.ckpt"), tmpfile("cli.log"), t.pid.to_string());
    let args = ["checkpoint", "--pid", &pid, "--out", &img, "--log", &log];
    let (out, _) = ckpt_cli(&args, 0)?;
    drop(t);
    let id = decode_file(&img)?.header.crid;
    check!(id > 0, "HEADER crid {id}: not > 0");
    let want = format!("checkpoint id {id}");
    eq!(out.trim(), want, "ckpt checkpoint output");
    let log = text(&read_file(&log)?);
    let want = format!("id {id}");
    check!(log.contains(&want), "--log lacks the summary:\n{log}");
    let (out, _) = ckpt_cli(&["inspect", &img], 0)?;
    for want in [f.as_str(), "f_pos=4", "crc32c ok", "image valid"] {
        check!(out.contains(want), "ckpt inspect lacks {want:?}:\n{out}");
    }
    let (out, _) = ckpt_cli(&["inspect", "--json", &img], 0)?;
    check!(out.contains("\"valid\":true"), "ckpt inspect --json: {out}");
    let (out, _) = ckpt_cli(&["restart", "--in", &img, "--dry-run"], 0)?;
    let want = "dry run: image valid, 1 fds would be installed";
    eq!(out.trim(), want, "ckpt restart --dry-run");
    let sh = "readlink /proc/$$/fd/3; head -c 3 <&3";
    let (out, _) = ckpt_cli(&["restart", "--in", &img, "--", "sh", "-c", sh], 0)?;
    eq!(out, format!("{f}\n456"), "ckpt restart -- sh");
    // errors: checkpoint of a process holding a plain ramfs dir
    let t = Target::stopped(|| open_at(&plain.dir, O_RDONLY | O_DIR, 4).map(|_| ()))?;
    let pid = t.pid.to_string();
    let (_, err) = ckpt_cli(&["checkpoint", "--pid", &pid, "--out", &img], 1)?;
    drop(t);
    let want = format!("ckpt: checkpoint of pid {pid}: EBADF (checkpoint: fd 4 \"{}\" (ramfs): f_op lacks checkpoint [-EBADF])", plain.dir);
    eq!(err.trim(), want, "ckpt checkpoint error message");
    let (_, err) = ckpt_cli(&["inspect", &img], 1)?;
    let bad = "first bad record ERROR at offset";
    check!(err.contains(bad), "ckpt inspect stderr: {err}");
    let (_, err) = ckpt_cli(&["restart", "--in", &img], 1)?;
    let want = format!("ckpt: restart from {img}: EIO (restart: record ");
    check!(err.starts_with(&want), "ckpt restart stderr: {err}");
    Ok(())
}

pub(crate) fn rlimit_emfile() -> R {
    let steps = [st::open("f", O_RDONLY, 3), st::open("f", O_RDONLY, 900)];
    let (_m, img) = image_of(&[("f", b"f")], &steps)?;
    busy_child("restarting child", || {
        set_nofile(200)?;
        expect_restart_refused(&img, 0, EMFILE, "restart of fd 900, RLIMIT_NOFILE 200")
    })
}

pub(crate) fn high_fds() -> R {
    let mut steps = Vec::new();
    for fd in [3, 64, 65, 1000, 3000] {
        steps.extend([st::open("f", O_RDONLY, fd), st::seek(fd, fd as i64)]);
        steps.extend([64, 1000].contains(&fd).then_some(st::cloexec(fd)));
    }
    round_trip(&[("f", &[7; 5000])], steps.leak(), By::Itself, |_| Ok(()))
}

pub(crate) fn replaced_estale() -> R {
    let m = mount_with(&[("a", b"a"), ("b", b"b")])?;
    let img_a = image_on(&m, &[st::open("a", O_RDONLY, 3)])?;
    let img_b = image_on(&m, &[st::open("b", O_RDONLY, 3)])?;
    let (a, b) = (m.p("a"), m.p("b"));
    io(std::fs::remove_file(&a))?;
    io(std::fs::create_dir(&a))?;
    io(std::fs::remove_file(&b))?;
    mknod(&b, libc::S_IFIFO | 0o644, 0)?;
    refused_restart(&img_a, 0, ESTALE, &format!("restart of {a} now a dir"))?;
    // (a restart blocked on the FIFO would end with the child's 60 s alarm)
    refused_restart(&img_b, 0, ESTALE, &format!("restart of {b} now a FIFO"))
        .map_err(|e| format!("{e} (signal 14 = SIGALRM: blocked on the FIFO)"))
}

pub(crate) fn image_position_pipe() -> R {
    let (m, img) = (mount_with(&[("f", b"0123456789")])?, tmpfile("pos.ckpt"));
    let t = target_on(&m, &[st::open("f", O_RDONLY, 3), st::seek(3, 2)])?;
    write_file(&img, &[0x5a; 64])?;
    in_clean_child("checkpointer", || {
        open_at(&img, O_WRONLY, 10)?;
        seek(10, 40)?;
        let id = ck(t.pid, 10, 0, -1).map_err(|e| format!("ck at offset 40: {}", ename(e)))?;
        let b = read_file(&img)?;
        eq!(b[..40].to_vec(), vec![0x5au8; 40], "bytes before the image");
        let im = decode(&b[40..]).map_err(|e| format!("image at offset 40: {e}"))?;
        eq!(im.header.crid as i64, id, "HEADER crid");
        eq!(pos(10), b.len() as i64, "image fd position after (its end)");
        let (pr, pw) = pipe()?;
        let id = ck(t.pid, pw, 0, -1).map_err(|e| format!("ck into a pipe: {}", ename(e)))?;
        close(pw);
        let im = decode(&read_all_bytes(pr)).map_err(|e| format!("image from the pipe: {e}"))?;
        eq!(im.header.crid as i64, id, "HEADER crid (pipe)");
        expect_eq(im.files[0].file.f_pos, 2, "recorded f_pos (pipe)")
    })
}

pub(crate) fn outside_root_ebadf() -> R {
    let m = mount_with(&[("jail/", b""), ("outside", b"x")])?;
    let steps = [st::open("outside", O_RDONLY, 3), Step::Chdir("jail")];
    let t = Target::stopped(|| apply(&m.dir, &steps).and_then(|_| chroot(".")))?;
    refused_fd3(t.pid, EBADF, "checkpoint of a file outside target's root")
}

pub(crate) fn removed_cwd_ebadf() -> R {
    let m = mount_with(&[("gone/", b"")])?;
    let t = target_on(&m, &[Step::Chdir("gone")])?;
    io(std::fs::remove_dir(m.p("gone")))?;
    refused_ckpt(t.pid, EBADF, "checkpoint with its cwd removed")
}

pub(crate) fn pos_edges() -> R {
    let m = mount_with(&[("f", b"short"), ("d/0", b""), ("d/1", b"")])?;
    let (f, d, img) = (m.p("f"), m.p("d"), tmpfile("edges.ckpt"));
    self_image(&img, || {
        open_at(&f, O_RDWR, 3)?;
        seek(3, 1 << 40)?;
        open_at(&d, O_RDONLY | O_DIR, 4)?;
        read_dir_fd(4, 4096).map(|_| ())
    })?;
    check_restarted(&img, 2, || {
        eq!(pos(3), 1i64 << 40, "fd 3 f_pos past EOF");
        eq!(read_fd(3, 10), Ok(Vec::new()), "read past EOF");
        let names = getdents(4, 4096).map(|b| dirent_names(&b));
        expect_eq(names, Ok(vec![]), "getdents of the fully read dir")
    })
}

pub(crate) fn over_image_fd() -> R {
    let steps = [st::open("f", O_RDONLY, 3), st::seek(3, 5)];
    let (m, img) = image_of(&[("f", b"0123456789")], &steps)?;
    let f = m.p("f");
    in_clean_child("restarting child", || {
        open_at(&img, O_RDONLY, 3)?;
        expect_ret(rs(0, 3, 0, -1), Ok(1), "restart reading from fd 3")?;
        expect_eq((fd_path(3), pos(3)), (f, 5), "fd 3 after restart, f_pos")
    })
}

/// From `base`, chdir into new dirs of 200-byte names (relative: past PATH_MAX) below `max` bytes.
fn descend(base: &str, max: usize) -> Result<String, String> {
    chdir(base)?;
    let (comp, mut p) = ("d".repeat(200), base.to_string());
    while p.len() + 1 + comp.len() < max {
        if let Err(e) = mkdir(&comp, 0o755) {
            return Err(format!("mkdir (relative): {e}"));
        }
        chdir(&comp)?;
        p = format!("{p}/{comp}");
    }
    Ok(p)
}

pub(crate) fn big_image() -> R {
    let (m, n, img) = (mount_with(&[])?, 1000, tmpfile("big.ckpt"));
    let deep = m.p(&vec!["d".repeat(200); 14].join("/"));
    mkdirs(&deep)?;
    // fds 3, 4, ... skipping IMG_FD and LOG_FD
    let fd = |i: usize| 3 + i as i32 + if 3 + i as i32 >= IMG_FD { 2 } else { 0 };
    for i in 0..n {
        write_file(&format!("{deep}/f{i:04}"), format!("file {i}").as_bytes())?;
    }
    self_image(&img, || {
        set_nofile(4096)?;
        (0..n).try_for_each(|i| {
            open_at(&format!("{deep}/f{i:04}"), O_RDONLY, fd(i))?;
            seek(fd(i), (i % 7) as i64)
        })
    })?;
    eq!(decode_file(&img)?.fds.len(), n, "recorded fds");
    let size = io(std::fs::metadata(&img))?.len();
    check!(size > 2_500_000, "image size {size}: expected > 2.5 MB");
    in_clean_child("restarting child", || {
        set_nofile(4096)?;
        eq!(rs_ok(&img)?, n as i64, "restart return value");
        for i in 0..n {
            let (fd, want) = (fd(i), (format!("{deep}/f{i:04}"), (i % 7) as i64));
            eq!((fd_path(fd), pos(fd)), want, "fd {fd} path, f_pos");
        }
        Ok(())
    })
}

pub(crate) fn too_long_path() -> R {
    refused_long(4500, "checkpoint of an fd whose path is > PATH_MAX")?;
    let m = mount_with(&[])?;
    in_clean_child("checkpointing child (cwd)", || {
        descend(&m.dir, 4500)?;
        refused_ckpt(0, ENAMETOOLONG, "checkpoint with a cwd > PATH_MAX")
    })
}

/// In a clean child: a file holding "edge" at a path of `len` bytes below `base`, fd 3, cwd /.
fn open_path_of_len(base: &str, len: usize) -> R {
    // the last directory leaves room for a name of 50 to 250 bytes
    let dir = descend(base, len - 50)?;
    let name = "n".repeat(len - dir.len() - 1);
    open_at(&name, O_RDWR | O_CREAT, 3)?;
    write_fd(3, b"edge").map_err(ename)?;
    chdir("/")
}

/// [`refused_self`] with fd 3 at a path of `len` bytes: ENAMETOOLONG.
fn refused_long(len: usize, what: &str) -> R {
    refused_self(|d| open_path_of_len(d, len), ENAMETOOLONG, what)
}

pub(crate) fn path_max_boundary() -> R {
    const PATH_MAX: usize = libc::PATH_MAX as usize;
    let (m, img) = (mount_with(&[])?, tmpfile("pathmax.ckpt"));
    // PATH_MAX - 1 bytes (+ NUL = PATH_MAX): recorded and restarted
    in_clean_child("checkpointing child (PATH_MAX - 1)", || {
        open_path_of_len(&m.dir, PATH_MAX - 1)?;
        eq!(fd_path(3).len(), PATH_MAX - 1, "length of the path of fd 3");
        ck_ok(0, &img, 0)?;
        let im = decode_file(&img)?;
        eq!(im.files.len(), 1, "FILE records");
        eq!(im.files[0].name.len(), PATH_MAX - 1, "recorded name length");
        expect_eq(text(&im.files[0].name), fd_path(3), "recorded name")
    })?;
    check_restarted(&img, 1, || {
        eq!(fd_path(3).len(), PATH_MAX - 1, "restored fd's path length");
        eq!(pos(3), 4, "restored f_pos");
        seek(3, 0)?;
        expect_eq(read_fd(3, 10), Ok(b"edge".to_vec()), "restored fd read")
    })?;
    refused_long(PATH_MAX, "checkpoint of an fd whose path is PATH_MAX bytes")
}

pub(crate) fn churning_target() -> R {
    let ((_m, f), img) = (mount_file("churn", b"x")?, tmpfile("churn.ckpt"));
    let setup = move || open_at(&f, O_RDONLY, 3).map(|_| ());
    let t = Target::running(setup, |i| {
        let _ = dup2(3, 4 + (i % 60) as i32);
        if i % 3 == 0 {
            close(4 + ((i * 7) % 60) as i32);
        }
    })?;
    for round in 0..50 {
        let o = checkpoint_to(t.pid, &img, 0)?;
        let (ok, r, log) = (o.r.is_ok(), show(&o.r), o.log.trim());
        check!(ok, "round {round}: checkpoint failed: {r}; log: {log}");
        let e = decode_file(&img).err().unwrap_or_default();
        check!(e.is_empty(), "round {round}: {e}");
    }
    Ok(())
}

pub(crate) fn odd_log_fds() -> R {
    let (m, bad) = image_of(&[("f", b"x")], &[st::open("f", O_RDONLY, 3)])?;
    let (f, img) = (m.p("f"), tmpfile("samelog.ckpt"));
    let mut bytes = read_file(&bad)?;
    let l = bytes.len();
    bytes[l - 8] ^= 1; // bad CRC: restart fails and logs why
    write_file(&bad, &bytes)?;
    in_clean_child("odd log fds", || {
        open_at(&f, O_RDONLY, 3)?;
        open_at(&img, O_WRONLY | O_CREAT | libc::O_TRUNC, 10)?;
        // the ABI: a log on the image file itself is EINVAL
        expect_ret(ck(0, 10, 0, 10), Err(EINVAL), "checkpoint(fd 10, logfd 10)")?;
        // a pipe without reader: its write end is left out of the image as the log file
        let (pr, pw) = pipe()?;
        close(pr);
        let r = ck(0, 10, 0, pw);
        check!(r.unwrap_or(0) > 0, "ck with a pipe log: {}", show(&r));
        // restart with the log on the image's own O_RDWR fd: the image file must not change
        open_at(&bad, O_RDWR, 10)?;
        expect_ret(rs(0, 10, 0, 10), Err(EINVAL), "restart(fd 10, logfd 10)")
    })
    .map_err(|e| format!("{e} (signal 13 = SIGPIPE: a log write killed it)"))?;
    let after = read_file(&bad)?;
    let head = text(&after[..after.len().min(80)]);
    check!(after == bytes, "logfd == fd: image changed: {head:?}");
    Ok(())
}

/// The target set-up (on `st::FILES`): the golden `files.img`'s shared, close-on-exec, dir fds, cwd.
const TARGET_STEPS: &[Step] = st::GOLDEN[1].steps;

/// [`round_trip`] of the target set-up, checkpointed by each of `bys`.
pub(crate) fn target_round_trip(bys: &[By]) -> R {
    bys.iter()
        .try_for_each(|&by| round_trip(st::FILES, TARGET_STEPS, by, |_| Ok(())))
}

pub(crate) fn exec_after_restart() -> R {
    let (m, img) = image_of(st::FILES, TARGET_STEPS)?;
    let (want, out) = (expected(TARGET_STEPS, &m.dir).0, tmpfile("exec.out"));
    let script = format!(
        "for fd in 3 4 5 6 7 8 9; do if [ -e /proc/self/fd/$fd ]; then echo \"$fd $(readlink /proc/self/fd/$fd)\"; fi; done > {out}"
    );
    check_restarted(&img, want.len() as i64, || {
        let mut sh = std::process::Command::new("/bin/busybox");
        let e = sh.args(["sh", "-c", &script]).exec();
        Err(format!("execv: {e}"))
    })?;
    let kept = want.iter().filter(|w| !w.close_on_exec);
    let want: String = kept.map(|w| format!("{} {}\n", w.fd, w.name)).collect();
    let got = text(&read_file(&out)?);
    expect_eq(got, want, "fds after exec (cloexec ones closed)")
}

#[cfg(test)]
#[test]
fn corruptions_are_all_refused_by_the_decoder() {
    let good = testsupport::two_files("/mnt/ck-12-ramfs_cr");
    decode(&good).unwrap();
    let c = corruptions(&good);
    assert!(c.len() >= 18, "{}", c.len());
    for (what, b, errno) in c {
        let e = decode(&b).expect_err(what);
        assert_eq!(e.errno(), errno, "{what}: {e}");
    }
}
