//! Checkpoint/restart acceptance cases (run as root in the VM, with the
//! patched kernel and ramfs_cr.ko at /lib/modules/ramfs_cr.ko).
//!
//! Every case mounts ramfs_cr on a fresh /mnt/ck-N and unmounts it after.
//! Processes that checkpoint themselves or restart are forked children that
//! first close *every* fd (stdio included: ttys are not checkpointable), so
//! their images hold only the fds the case set up.  A child reports back by
//! writing a result file under /tmp/cr-harness after its checks, plus its exit
//! status.  Images and logs live in /tmp/cr-harness (tmpfs), outside the
//! mounts under test; the image and log fds are themselves left out of an
//! image by the kernel.

use crate::roundtrip::{image_of, image_on, mount_file, mount_with, round_trip, target_on, By};
use crate::vm::*;
use ckpt_image::*;
use std::os::unix::fs::MetadataExt;
use testsupport::golden::{self as st, Step};

// -------------------------------------------------------------------- cases

pub(crate) fn self_checkpoint() -> R {
    let (m, f) = mount_file("a", b"hello world")?;
    let img = tmpfile("self.ckpt");
    let (f2, img2, dir) = (f.clone(), img.clone(), m.dir.clone());
    in_clean_child("checkpointing child", move || {
        open_at(&f2, libc::O_RDWR, 3)?;
        seek(3, 6)?;
        chdir(&dir)?;
        let o = checkpoint_to(0, &img2, 0)?;
        let id = match o.r {
            Ok(id) => id,
            Err(e) => {
                return Err(format!(
                    "checkpoint(0): expected an id > 0, got {}; log:\n{}",
                    ename(e),
                    o.log
                ))
            }
        };
        check!(id > 0, "checkpoint id: expected > 0, got {id}");
        let im = decode_file(&img2)?;
        eq!(im.header.crid as i64, id, "HEADER crid vs returned id");
        eq!(im.header.pid, std::process::id() as i32, "HEADER pid");
        eq!(im.header.uflags, 0, "HEADER uflags");
        // SAFETY: uname into a zeroed struct.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        unsafe { libc::uname(&mut u) };
        // SAFETY: release is NUL terminated.
        let rel = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        eq!(im.header.release_str(), rel, "HEADER release");
        eq!(
            fd_names(&im),
            vec![(3, f2.clone())],
            "recorded fds (image fd {IMG_FD} and log fd {LOG_FD} must be left out)"
        );
        let fe = &im.files[0].file;
        eq!(fe.f_pos, 6, "FILE f_pos");
        eq!(fe.f_mode, 3, "FILE f_mode");
        eq!(
            fe.f_flags as i32 & libc::O_ACCMODE,
            libc::O_RDWR,
            "FILE f_flags access mode"
        );
        eq!(fe.i_mode & libc::S_IFMT, libc::S_IFREG, "FILE i_mode type");
        eq!(String::from_utf8_lossy(&im.cwd), dir, "cwd name");
        eq!(String::from_utf8_lossy(&im.root), "/", "root name");
        eq!(im.fds[0].close_on_exec, 0, "close_on_exec");
        check!(
            o.log.contains(&format!("fd {IMG_FD}")),
            "log should mention the left-out image fd {IMG_FD}:\n{}",
            o.log
        );
        // a second checkpoint gets another id
        let id2 = ck_ok(0, &img2, 0)?;
        check!(
            id2 > 0 && id2 != id,
            "second checkpoint id: expected > 0 and != {id}, got {id2}"
        );
        Ok(())
    })
}

/// 200 bytes 0, 1, 2, ... (of three files of restore_fds).
fn data200() -> Vec<u8> {
    (0..200u32).map(|i| (i % 251) as u8).collect()
}

pub(crate) fn restore_fds() -> R {
    let d = data200();
    let files: &[(&str, &[u8])] = &[("f1", &d), ("f2", &d), ("f3", &d)];
    const STEPS: &[Step] = &[
        st::open("f1", libc::O_RDWR, 3),
        st::seek(3, 10),
        st::open("f2", libc::O_WRONLY | libc::O_APPEND, 5),
        st::open("f3", libc::O_RDONLY | libc::O_NONBLOCK, 7),
        st::cloexec(7),
        st::seek(7, 33),
    ];
    round_trip(files, STEPS, By::Itself, |_| {
        let data = data200();
        eq!(
            read_fd(3, 5),
            Ok(data[10..15].to_vec()),
            "fd 3 read after restart"
        );
        eq!(
            read_fd(7, 4),
            Ok(data[33..37].to_vec()),
            "fd 7 read after restart"
        );
        eq!(
            read_fd(5, 1),
            Err(libc::EBADF),
            "read from the O_WRONLY fd 5"
        );
        Ok(())
    })
}

pub(crate) fn dup_shared() -> R {
    let files: &[(&str, &[u8])] = &[("shared", &[b'x'; 100]), ("single", &[b'y'; 100])];
    const STEPS: &[Step] = &[
        st::open("shared", libc::O_RDWR, 3),
        st::dup(3, 4),
        st::open("single", libc::O_RDWR, 6),
        st::dup(3, 9),
        st::seek(3, 5),
        st::seek(6, 7),
    ];
    round_trip(files, STEPS, By::Itself, |_| {
        read_fd(9, 8).map_err(|e| format!("read fd 9: {}", ename(e)))?;
        eq!(
            (pos(3), pos(4), pos(9), pos(6)),
            (13, 13, 13, 7),
            "positions after reading 8 bytes from fd 9"
        );
        // F_SETFL on one shows on the others (one struct file)
        // SAFETY: fcntl on our fd.
        unsafe { libc::fcntl(3, libc::F_SETFL, libc::O_APPEND) };
        check!(
            getfl(9) & libc::O_APPEND != 0,
            "O_APPEND set on fd 3 not visible on fd 9"
        );
        check!(
            getfl(6) & libc::O_APPEND == 0,
            "O_APPEND set on fd 3 visible on fd 6 (not shared)"
        );
        Ok(())
    })
}

pub(crate) fn cwd_restored() -> R {
    const STEPS: &[Step] = &[Step::Chdir("sub/deeper")];
    round_trip(&[("sub/deeper/", b"")], STEPS, By::Itself, |dir| {
        eq!(readlink("/proc/self/root"), "/", "root after restart");
        let md = std::fs::metadata(".").map_err(|e| e.to_string())?;
        let want = std::fs::metadata(format!("{dir}/sub/deeper")).map_err(|e| e.to_string())?;
        eq!(
            (md.dev(), md.ino()),
            (want.dev(), want.ino()),
            "stat(\".\") dev/ino"
        );
        Ok(())
    })
}

pub(crate) fn root_restored() -> R {
    work()?;
    let m = Mount::cr()?;
    let sub = m.p("sub");
    std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
    write_file(&m.p("sub/file"), b"inside")?;
    let img = tmpfile("root.ckpt");
    let dir = m.dir.clone();
    let t = Target::stopped(move || {
        chroot(&dir)?;
        chdir("/sub")?;
        open_at("/sub/file", libc::O_RDONLY, 3)?;
        seek(3, 2)?;
        Ok(())
    })?;
    ck_ok(t.pid, &img, 0)?;
    drop(t);
    let im = decode_file(&img)?;
    eq!(
        String::from_utf8_lossy(&im.root),
        m.dir,
        "recorded root (relative to the checkpointer's root)"
    );
    let (rootmd, submd) = (
        std::fs::metadata(&m.dir).map_err(|e| e.to_string())?,
        std::fs::metadata(&sub).map_err(|e| e.to_string())?,
    );
    in_clean_child("restarting child", move || {
        keep_result_fd()?;
        let n = rs_ok(&img)?;
        eq!(n, 1, "restart return value");
        let r = std::fs::metadata("/").map_err(|e| e.to_string())?;
        eq!(
            (r.dev(), r.ino()),
            (rootmd.dev(), rootmd.ino()),
            "stat(\"/\") after restart (root should be the mount)"
        );
        let c = std::fs::metadata(".").map_err(|e| e.to_string())?;
        eq!(
            (c.dev(), c.ino()),
            (submd.dev(), submd.ino()),
            "stat(\".\") after restart (cwd should be sub)"
        );
        // (no /proc inside the new root: dev/ino above are the check)
        eq!(pos(3), 2, "fd 3 f_pos");
        eq!(read_fd(3, 100), Ok(b"side".to_vec()), "fd 3 read");
        Ok(())
    })
}

/// restart(2) keeps the directory of the last name it looked up: files of
/// several directories, interleaved, each come back as their own file, and
/// a directory fd on the root of a mount stacked on a directory comes back
/// as that root (a walk crosses the mount), not as the directory under it.
pub(crate) fn lookup_dirs_and_mounts() -> R {
    const FILES: [(&str, &str); 4] = [
        ("a/x", "ax"),
        ("b/x", "bx"),
        ("a/c/x", "acx"),
        ("a/y", "ay"),
    ];
    work()?;
    let m = Mount::cr()?;
    for d in ["a/c", "b", "over"] {
        std::fs::create_dir_all(m.p(d)).map_err(|e| e.to_string())?;
    }
    for (p, data) in FILES {
        write_file(&m.p(p), data.as_bytes())?;
    }
    write_file(&m.p("over/under"), b"hidden")?;
    let top = Mount::at(&m.p("over"), "ramfs_cr", Some("mode=0755"))?;
    write_file(&top.p("on-top"), b"top")?;
    let topmd = std::fs::metadata(&top.dir).map_err(|e| e.to_string())?;
    let img = tmpfile("lookup.ckpt");
    let (dir, topdir) = (m.dir.clone(), top.dir.clone());
    let t = Target::stopped(move || {
        for (i, (p, _)) in FILES.iter().enumerate() {
            open_at(&format!("{dir}/{p}"), libc::O_RDONLY, 3 + i as i32)?;
        }
        open_at(&topdir, libc::O_RDONLY | libc::O_DIRECTORY, 7)?;
        Ok(())
    })?;
    ck_ok(t.pid, &img, 0)?;
    drop(t);
    in_clean_child("restarting child", move || {
        keep_result_fd()?;
        eq!(rs_ok(&img)?, 5, "restart return value");
        for (i, (p, data)) in FILES.iter().enumerate() {
            let fd = 3 + i as i32;
            eq!(
                read_fd(fd, 16),
                Ok(data.as_bytes().to_vec()),
                "fd {fd} ({p}) read"
            );
        }
        let md = std::fs::metadata("/proc/self/fd/7").map_err(|e| e.to_string())?;
        eq!(
            (md.dev(), md.ino()),
            (topmd.dev(), topmd.ino()),
            "fd 7 dev/ino (the root of the mount on over/, not over/ itself)"
        );
        let b = getdents(7, 4096).map_err(|e| format!("getdents fd 7: {}", ename(e)))?;
        let names: Vec<String> = dirents(&b).into_iter().map(|(n, _)| n).collect();
        check!(
            names.iter().any(|n| n == "on-top") && !names.iter().any(|n| n == "under"),
            "fd 7 lists {names:?}: expected the mounted root's on-top, not under"
        );
        Ok(())
    })
}

fn readdir_case(entries: usize, bufsz: usize, first_calls: usize) -> R {
    work()?;
    let m = Mount::cr()?;
    let d = m.p("dir");
    std::fs::create_dir(&d).map_err(|e| e.to_string())?;
    for i in 0..entries {
        let p = format!("{d}/entry-with-a-longish-name-{i:05}");
        std::fs::File::create(&p).map_err(|e| format!("create {p}: {e}"))?;
    }
    let img = tmpfile("dir.ckpt");
    let reference = tmpfile("dir.rest");
    let first = tmpfile("dir.first");
    {
        let (d, img, reference, first) = (d.clone(), img.clone(), reference.clone(), first.clone());
        in_clean_child("checkpointing child", move || {
            open_at(&d, libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
            let mut head = Vec::new();
            for _ in 0..first_calls {
                head.extend(getdents(3, bufsz).map_err(|e| format!("getdents: {}", ename(e)))?);
            }
            let p = pos(3);
            ck_ok(0, &img, 0)?;
            eq!(pos(3), p, "dir position changed by checkpoint");
            let mut rest = Vec::new();
            loop {
                let b = getdents(3, bufsz).map_err(|e| format!("getdents: {}", ename(e)))?;
                if b.is_empty() {
                    break;
                }
                rest.extend(b);
            }
            write_file(&first, &head)?;
            write_file(&reference, &rest)?;
            Ok(())
        })?;
    }
    let im = decode_file(&img)?;
    eq!(fd_names(&im), vec![(3, d.clone())], "recorded fds");
    let fe = &im.files[0].file;
    eq!(fe.i_mode & libc::S_IFMT, libc::S_IFDIR, "FILE i_mode type");
    check!(
        fe.f_pos > 0,
        "recorded dir f_pos: expected > 0 (read partway), got {}",
        fe.f_pos
    );
    let head = read_file(&first)?;
    let want = read_file(&reference)?;
    let head_names = dirent_names(&head);
    let want_names = dirent_names(&want);
    eq!(
        head_names.len() + want_names.len(),
        entries + 2,
        "entries read before + after checkpoint (with . and ..)"
    );
    check!(
        !want_names.is_empty(),
        "nothing left to read after the checkpoint: adjust the case"
    );
    in_clean_child("restarting child", move || {
        eq!(rs_ok(&img)?, 1, "restart return value");
        eq!(pos(3), fe.f_pos, "dir fd position after restart");
        let mut got = Vec::new();
        loop {
            let b =
                getdents(3, bufsz).map_err(|e| format!("getdents after restart: {}", ename(e)))?;
            if b.is_empty() {
                break;
            }
            got.extend(b);
        }
        if got != want {
            let gn = dirent_names(&got);
            let i = gn
                .iter()
                .zip(want_names.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(gn.len().min(want_names.len()));
            return Err(format!(
                "rest of the getdents64 stream differs: {} bytes/{} names after restart vs {} bytes/{} names unrestarted; \
                 first difference at name #{i}: got {:?}, expected {:?}",
                got.len(),
                gn.len(),
                want.len(),
                want_names.len(),
                gn.get(i),
                want_names.get(i)
            ));
        }
        Ok(())
    })
}

pub(crate) fn readdir_small() -> R {
    readdir_case(20, 200, 1)
}

pub(crate) fn readdir_large() -> R {
    readdir_case(10_000, 8192, 30)
}

/// A checkpointing child with fd 3 on ramfs_cr and `open(at 4)` (a file or
/// directory on a plain `fstype` mount): EBADF, logged with the name and
/// the fs type, an image ending in ERROR, whose restart is EIO.
fn refused_unsupported(fstype: &str, open: fn(&str) -> R) -> R {
    let (_m, f) = mount_file("ok", b"ok")?;
    let plain = Mount::new(fstype, "mode=0755")?;
    let img = tmpfile("ebadf.ckpt");
    let (pd, img2) = (plain.dir.clone(), img.clone());
    let fstype2 = fstype.to_string();
    in_clean_child("checkpointing child", move || {
        open_at(&f, libc::O_RDONLY, 3)?;
        open(&pd)?;
        let name = format!("\"{}\"", fd_path(4));
        let on_line = [name.clone(), format!("({fstype2})")];
        expect_checkpoint_refused(
            0,
            &img2,
            libc::EBADF,
            4,
            &on_line,
            &format!("checkpoint with a {fstype2} {name} at fd 4"),
        )
    })?;
    // restart of that image: EIO
    in_clean_child("restarting child", move || {
        expect_restart_refused(&img, 0, libc::EIO, "restart of an image ending in ERROR")
    })
}

fn unsupported_dir(fstype: &str) -> R {
    refused_unsupported(fstype, |d| {
        open_at(d, libc::O_RDONLY | libc::O_DIRECTORY, 4).map(|_| ())
    })
}

/// A regular file on a plain `fstype` mount (created by the child).
fn unsupported_file(fstype: &str) -> R {
    refused_unsupported(fstype, |d| {
        open_at(&format!("{d}/file"), libc::O_RDWR | libc::O_CREAT, 4)?;
        write_fd(4, b"data").map_err(ename)?;
        Ok(())
    })
}

pub(crate) fn ramfs_file_ebadf() -> R {
    unsupported_file("ramfs")
}

pub(crate) fn tmpfs_file_ebadf() -> R {
    unsupported_file("tmpfs")
}

pub(crate) fn ramfs_dir_ebadf() -> R {
    unsupported_dir("ramfs")
}

pub(crate) fn tmpfs_dir_ebadf() -> R {
    unsupported_dir("tmpfs")
}

pub(crate) fn skip_unsupported() -> R {
    let (_m, f) = mount_file("ok", b"ok")?;
    let plain = Mount::new("ramfs", "mode=0755")?;
    let img = tmpfile("skip.ckpt");
    let (pd, img2, f2) = (plain.dir.clone(), img.clone(), f.clone());
    in_clean_child("checkpointing child", move || {
        open_at(&pd, libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
        open_at(&f2, libc::O_RDONLY, 4)?;
        pipe_at(6, 7)?;
        let o = checkpoint_to(0, &img2, CHECKPOINT_SKIP_UNSUPPORTED)?;
        check!(
            matches!(o.r, Ok(id) if id > 0),
            "checkpoint with SKIP_UNSUPPORTED: got {}; log:\n{}",
            show(&o.r),
            o.log
        );
        for fd in [3, 6, 7] {
            check!(
                o.log.contains(&format!("fd {fd}")),
                "log should mention skipped fd {fd}:\n{}",
                o.log
            );
        }
        let im = decode_file(&img2)?;
        eq!(fd_names(&im), vec![(4, f2.clone())], "recorded fds");
        eq!(
            im.header.uflags as u64,
            CHECKPOINT_SKIP_UNSUPPORTED,
            "HEADER uflags"
        );
        Ok(())
    })?;
    in_clean_child("restarting child", move || {
        eq!(rs_ok(&img)?, 1, "restart return value");
        eq!(fd_path(4), f, "fd 4");
        eq!(getfd(3), -1, "fd 3 (skipped) must not be open");
        Ok(())
    })
}

/// A clean child runs `setup(dir of a fresh ramfs_cr mount)` and
/// checkpoints itself: refused with `want`, fd 3 named in the log and in
/// the image's ERROR record.
fn refused_self(setup: fn(&str) -> R, want: i32, what: &'static str) -> R {
    work()?;
    let m = Mount::cr()?;
    let img = tmpfile("refused.ckpt");
    let dir = m.dir.clone();
    in_clean_child("checkpointing child", move || {
        setup(&dir)?;
        chdir("/")?;
        expect_checkpoint_refused(0, &img, want, 3, &[], what)
    })
}

pub(crate) fn opath_ebadf() -> R {
    let setup = |d: &str| {
        write_file(&format!("{d}/f"), b"x")?;
        open_at(&format!("{d}/f"), libc::O_PATH, 3).map(|_| ())
    };
    refused_self(setup, libc::EBADF, "checkpoint with an O_PATH fd")
}

pub(crate) fn unlinked_ebadf() -> R {
    let setup = |d: &str| {
        let f = format!("{d}/gone");
        write_file(&f, b"x")?;
        open_at(&f, libc::O_RDWR, 3)?;
        std::fs::remove_file(&f).map_err(|e| e.to_string())
    };
    refused_self(setup, libc::EBADF, "checkpoint with an unlinked open file")
}

pub(crate) fn deleted_enoent() -> R {
    let files: &[(&str, &[u8])] = &[("a", b"aaaa"), ("b", b"bbbb")];
    let steps = [
        st::open("a", libc::O_RDWR, 3),
        st::open("b", libc::O_RDWR, 4),
        st::open("a", libc::O_RDONLY, 5),
    ];
    let (m, img) = image_of(files, &steps)?;
    let b = m.p("b");
    std::fs::remove_file(&b).map_err(|e| e.to_string())?;
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    in_clean_child("restarting child", move || {
        busy_caller(&other)?;
        expect_restart_refused(&img, 0, libc::ENOENT, &format!("restart with {b} deleted"))?;
        // dry run reopens too: ENOENT as well
        let o = restart_from(&img, RESTART_DRY_RUN)?;
        expect_outcome(
            &o,
            Err(libc::ENOENT),
            &format!("RESTART_DRY_RUN with {b} deleted"),
        )?;
        Ok(())
    })
}

pub(crate) fn append_after_restart() -> R {
    let steps = [st::open("log", libc::O_WRONLY | libc::O_APPEND, 3)];
    let (m, img) = image_of(&[("log", b"0123456789")], &steps)?;
    let f = m.p("log");
    // the file grows after the checkpoint
    {
        use std::io::Write;
        let mut h = std::fs::OpenOptions::new()
            .append(true)
            .open(&f)
            .map_err(|e| e.to_string())?;
        h.write_all(b"ABC").map_err(|e| e.to_string())?;
    }
    let f2 = f.clone();
    in_clean_child("restarting child", move || {
        eq!(rs_ok(&img)?, 1, "restart return value");
        check!(
            getfl(3) & libc::O_APPEND != 0,
            "O_APPEND lost: F_GETFL {:#o}",
            getfl(3)
        );
        eq!(write_fd(3, b"xyz"), Ok(3), "write to fd 3");
        seek(3, 0)?;
        eq!(write_fd(3, b"!"), Ok(1), "write to fd 3 after lseek(0)");
        Ok(())
    })?;
    eq!(
        String::from_utf8_lossy(&read_file(&f2)?).into_owned(),
        "0123456789ABCxyz!",
        "file content after appending writes"
    );
    Ok(())
}

pub(crate) fn rdonly_stays() -> R {
    const STEPS: &[Step] = &[st::open("ro", libc::O_RDONLY, 3), st::seek(3, 5)];
    round_trip(&[("ro", b"read only")], STEPS, By::Itself, |dir| {
        eq!(
            write_fd(3, b"X"),
            Err(libc::EBADF),
            "write to the O_RDONLY fd"
        );
        eq!(read_fd(3, 100), Ok(b"only".to_vec()), "read from fd 3");
        eq!(
            read_file(&format!("{dir}/ro"))?,
            b"read only".to_vec(),
            "file content"
        );
        Ok(())
    })
}

pub(crate) fn checkpoint_child() -> R {
    let files: &[(&str, &[u8])] = &[
        ("a", &[b'a'; 64]),
        ("d/", b""),
        ("d/e0", b""),
        ("d/e1", b""),
    ];
    const STEPS: &[Step] = &[
        st::open("a", libc::O_RDWR | libc::O_APPEND, 4),
        st::seek(4, 11),
        st::open("d", libc::O_RDONLY | libc::O_DIRECTORY, 8),
        st::cloexec(8),
        Step::Chdir("d"),
    ];
    round_trip(files, STEPS, By::Parent, |_| Ok(()))
}

pub(crate) fn no_process() -> R {
    work()?;
    let img = tmpfile("perm.ckpt");
    // a reaped child's pid: no such process
    let dead = fork()?;
    if dead == 0 {
        exit(0);
    }
    wait(dead);
    in_clean_child("checkpointer", move || {
        let o = checkpoint_to(dead, &img, 0)?;
        expect_outcome(
            &o,
            Err(libc::ESRCH),
            &format!("checkpoint of reaped pid {dead}"),
        )?;
        let o = checkpoint_to(-5, &img, 0)?;
        eq!(show(&o.r), show(&Err(libc::EINVAL)), "checkpoint of pid -5");
        Ok(())
    })
}

pub(crate) fn concurrent_writer() -> R {
    let (m, f) = mount_file("busy", &[b'0'; 4096])?;
    // the writer: O_APPEND 4 KiB chunks until killed
    let f2 = f.clone();
    let setup = move || open_at(&f2, libc::O_WRONLY | libc::O_APPEND, 3).map(|_| ());
    let w = Target::running(setup, |n| {
        if write_fd(3, &[b'w'; 4096]) != Ok(4096) {
            exit(4);
        }
        // keep the file bounded: 16 MiB then start over
        if n % 256 == 255 && pos(3) > 16 << 20 {
            // SAFETY: our fd.
            unsafe { libc::ftruncate(3, 4096) };
        }
    })?;
    let wpid = w.pid;
    let reader = target_on(&m, &[st::open("busy", libc::O_RDONLY, 3), st::seek(3, 100)])?;
    let img = tmpfile("busy.ckpt");
    for i in 0..20 {
        // the target holding the file open while it changes
        ck_ok(reader.pid, &img, 0).map_err(|e| format!("round {i}, reader: {e}"))?;
        let im = decode_file(&img).map_err(|e| format!("round {i}, reader: {e}"))?;
        eq!(fd_names(&im), vec![(3, f.clone())], "round {i}: reader fds");
        eq!(im.files[0].file.f_pos, 100, "round {i}: reader f_pos");
        // the writer itself, running
        ck_ok(w.pid, &img, 0).map_err(|e| format!("round {i}, writer: {e}"))?;
        let im = decode_file(&img).map_err(|e| format!("round {i}, writer: {e}"))?;
        eq!(fd_names(&im), vec![(3, f.clone())], "round {i}: writer fds");
        let p = im.files[0].file.f_pos;
        check!(
            p >= 4096 && p % 4096 == 0,
            "round {i}: writer f_pos {p} is not a multiple of 4096 >= 4096"
        );
    }
    // the writer is still alive
    let mut st = 0;
    // SAFETY: non-blocking status check of our child.
    let r = unsafe { libc::waitpid(wpid, &mut st, libc::WNOHANG) };
    eq!(r, 0, "writer still running (status {})", status_text(st));
    drop(reader);
    drop(w);
    Ok(())
}

pub(crate) fn restart_twice() -> R {
    let steps = [st::open("twice", libc::O_RDWR, 3), st::seek(3, 4)];
    let (_m, img) = image_of(&[("twice", b"abcdefghijklmnopqrstuvwxyz")], &steps)?;
    // two processes restart concurrently from the same image, each with its own struct file
    let flag = tmpfile("go");
    let mut pids = Vec::new();
    for k in 0..2 {
        let (img, flag) = (img.clone(), flag.clone());
        let res = format!("{WORK}/twice-{k}");
        let _ = std::fs::remove_file(&res);
        let pid = fork()?;
        if pid == 0 {
            close_all();
            alarm(60);
            let r = (|| -> R {
                eq!(rs_ok(&img)?, 1, "restart #{k}");
                eq!(pos(3), 4, "restart #{k}: f_pos");
                seek(3, 10 + k as i64)?;
                // wait for the other one to have restarted and moved too
                for _ in 0..500 {
                    if std::path::Path::new(&flag).exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                eq!(
                    pos(3),
                    10 + k as i64,
                    "restart #{k}: own offset after the other moved its own"
                );
                eq!(
                    read_fd(3, 2),
                    Ok(if k == 0 {
                        b"kl".to_vec()
                    } else {
                        b"lm".to_vec()
                    }),
                    "restart #{k}: read"
                );
                Ok(())
            })();
            let _ = std::fs::write(&res, r.err().unwrap_or_default());
            unsafe { libc::_exit(0) };
        }
        pids.push((pid, res));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    write_file(&flag, b"go")?;
    let mut errs = Vec::new();
    for (pid, res) in pids {
        let st = wait(pid);
        let msg = std::fs::read_to_string(&res)
            .unwrap_or_else(|_| format!("no result ({})", status_text(st)));
        if !msg.is_empty() {
            errs.push(msg);
        }
    }
    check!(errs.is_empty(), "{}", errs.join("\n"));
    // and a third time, sequentially, still from the recorded offset
    in_clean_child("third restart", move || {
        eq!(rs_ok(&img)?, 1, "restart #3");
        eq!(pos(3), 4, "restart #3: f_pos");
        Ok(())
    })
}

pub(crate) fn bad_flags() -> R {
    let (_m, img) = image_of(&[("f", b"f")], &[st::open("f", libc::O_RDONLY, 3)])?;
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    let scratch = tmpfile("scratch.ckpt");
    in_clean_child("child", move || {
        open_at(&scratch, libc::O_WRONLY | libc::O_CREAT, 10)?;
        for flags in [0x2u64, 0x4, 0x8000_0000, 0xffff_ffff, !0] {
            eq!(
                show(&ck(0, 10, flags, -1)),
                show(&Err(libc::EINVAL)),
                "checkpoint flags {flags:#x}"
            );
        }
        // flags is an unsigned int: the upper half of the register is not
        // looked at, so 1 << 63 is flags 0 (the image fd itself is left out).
        let r = ck(0, 10, 1 << 63, -1);
        check!(
            matches!(r, Ok(id) if id > 0),
            "checkpoint flags 1 << 63 (flags 0 as unsigned int): expected an id > 0, got {}",
            show(&r)
        );
        // image fd not open for writing
        open_at(&scratch, libc::O_RDONLY, 11)?;
        eq!(
            show(&ck(0, 11, 0, -1)),
            show(&Err(libc::EBADF)),
            "checkpoint to an O_RDONLY fd"
        );
        eq!(
            show(&ck(0, 999, 0, -1)),
            show(&Err(libc::EBADF)),
            "checkpoint to a closed fd"
        );
        close(10);
        close(11);
        busy_caller(&other)?;
        open_at(&img, libc::O_RDONLY | libc::O_CLOEXEC, IMG_FD)?;
        let before = snap(&[]);
        for flags in [0x2u64, 0x4, 0x8000_0000, !0] {
            seek(IMG_FD, 0)?;
            eq!(
                show(&rs(0, IMG_FD, flags, -1)),
                show(&Err(libc::EINVAL)),
                "restart flags {flags:#x}"
            );
        }
        seek(IMG_FD, 0)?;
        eq!(
            show(&rs(0, IMG_FD, (1 << 63) | ckpt_image::RESTART_DRY_RUN, -1)),
            show(&Ok(1)),
            "restart flags 1 << 63 | RESTART_DRY_RUN (a dry run of the 1-fd image)"
        );
        seek(IMG_FD, 0)?;
        eq!(
            show(&rs(1, IMG_FD, 0, -1)),
            show(&Err(libc::EINVAL)),
            "restart into pid 1 (not the caller)"
        );
        let after = snap(&[]);
        check!(
            before == after,
            "caller changed:\n{}",
            snap_diff(&before, &after)
        );
        // pid = own pid is allowed
        seek(IMG_FD, 0)?;
        let me = std::process::id() as i32;
        eq!(
            show(&rs(me, IMG_FD, 0, -1)),
            show(&Ok(1)),
            "restart with pid = the caller's pid"
        );
        Ok(())
    })
}

/// Corrupt variants of a valid image: (name, bytes, expected errno).
fn corruptions(good: &[u8]) -> Vec<(&'static str, Vec<u8>, i32)> {
    let tail = good.len() - SIZE_TAIL;
    let refix = |mut b: Vec<u8>| {
        let t = b.len() - SIZE_TAIL;
        let c = crc32c(&b[..t]);
        b[t + 16..t + 20].copy_from_slice(&c.to_le_bytes());
        b
    };
    let recs = scan(good).records;
    let off_of = |t: u32, n: usize| {
        recs.iter()
            .filter(|(_, r)| r.rtype() == t)
            .nth(n)
            .map(|x| x.0)
            .unwrap()
    };
    let mut v: Vec<(&'static str, Vec<u8>, i32)> = Vec::new();
    let mut b = good.to_vec();
    b[8] ^= 0xff;
    v.push(("bad header magic", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[16] = 99;
    v.push(("bad version", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[18] = 7;
    v.push(("bad arch", refix(b), libc::EINVAL));
    v.push((
        "truncated in the tail",
        good[..good.len() - 8].to_vec(),
        libc::EINVAL,
    ));
    v.push(("tail missing", good[..tail].to_vec(), libc::EINVAL));
    v.push((
        "truncated to the header",
        good[..SIZE_HEADER].to_vec(),
        libc::EINVAL,
    ));
    v.push(("empty", Vec::new(), libc::EINVAL));
    let mut b = good.to_vec();
    let n = off_of(CKPT_HDR_FILE_NAME, 2);
    b[n + 9] ^= 0x01; // a name byte: only the CRC is wrong now
    v.push(("bad crc", b, libc::EINVAL));
    let mut b = good.to_vec();
    b[tail + 8] ^= 1;
    v.push(("bad tail magic", b, libc::EINVAL));
    let mut b = good.to_vec();
    let o = off_of(CKPT_HDR_FILE_DESC, 0);
    b[o..o + 4].copy_from_slice(&306u32.to_le_bytes());
    v.push(("unknown record type", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[o + 20] = 1;
    v.push(("FILE_DESC reserved nonzero", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[44] = 1;
    v.push(("HEADER reserved nonzero", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    let fl = off_of(CKPT_HDR_FILE, 0);
    b[fl + 4..fl + 8].copy_from_slice(&(1u32 << 20).to_le_bytes());
    v.push(("len past the end", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[fl + 4..fl + 8].copy_from_slice(&36u32.to_le_bytes());
    v.push(("len not a multiple of 8", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[n + 8] = b'x'; // name no longer starts with '/'
    v.push(("relative name", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    let name_len = u32::from_le_bytes(b[n + 4..n + 8].try_into().unwrap()) as usize;
    let nb = &mut b[n + 8..n + name_len];
    let slash = nb.iter().rposition(|&c| c == b'/').unwrap();
    if slash + 3 < nb.len() {
        nb[slash + 1] = b'.';
        nb[slash + 2] = b'.';
        for c in nb[slash + 3..].iter_mut() {
            *c = 0;
        }
        v.push(("name with a '..' component", refix(b), libc::EINVAL));
    }
    let mut b = good.to_vec();
    b[n + name_len - 1] = b'z'; // last padding/NUL byte: not NUL-terminated/padded
    v.push(("name not NUL-padded", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    b[o + 8] = 9; // fd_objref 9: never defined
    v.push(("undefined objref", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    let o2 = off_of(CKPT_HDR_FILE_DESC, 1);
    b[o2 + 12..o2 + 16].copy_from_slice(&3i32.to_le_bytes()); // same fd twice
    v.push(("fd numbers not ascending", refix(b), libc::EINVAL));
    let mut b = good.to_vec();
    let t = off_of(CKPT_HDR_FILE_TABLE, 0);
    b[t + 8] = 7;
    v.push(("nr_fds wrong", refix(b), libc::EINVAL));
    v
}

pub(crate) fn bad_images() -> R {
    let files: &[(&str, &[u8])] = &[("a", b"aaaa"), ("b", b"bbbb")];
    let steps = [
        st::open("a", libc::O_RDWR, 3),
        st::open("b", libc::O_RDONLY, 4),
        st::seek(4, 1),
    ];
    let (_m, img) = image_of(files, &steps)?;
    let good = read_file(&img)?;
    decode(&good).map_err(|e| format!("kernel image does not decode: {e}"))?;
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    let mut errs = Vec::new();
    for (what, bytes, want) in corruptions(&good) {
        let p = tmpfile("bad.ckpt");
        write_file(&p, &bytes)?;
        // our decoder must refuse it too
        if decode(&bytes).is_ok() {
            errs.push(format!("{what}: the userspace decoder accepts it"));
        }
        let other = other.clone();
        let r = in_clean_child(what, move || {
            busy_caller(&other)?;
            expect_restart_refused(&p, 0, want, &format!("restart of image with {what}"))?;
            let _ = std::fs::remove_file(&p);
            Ok(())
        });
        if let Err(e) = r {
            errs.push(e);
        }
    }
    // the unmodified image works in the same setting
    in_clean_child("control", move || {
        busy_caller(&other)?;
        eq!(rs_ok(&img)?, 2, "restart of the unmodified image");
        Ok(())
    })
    .map_err(|e| errs.push(e))
    .ok();
    check_all(errs)
}

pub(crate) fn error_image_eio() -> R {
    // a hand-built image ending in ERROR, and a kernel-made one (plain ramfs dir)
    work()?;
    let recs = vec![
        Record::Header(Header::new(1, 1, "x")),
        Record::Fs(Fs {
            umask: 0o22,
            reserved: 0,
        }),
        Record::FileName(b"/".to_vec()),
        Record::FileName(b"/".to_vec()),
        Record::FileTable(FileTable {
            nr_fds: 1,
            reserved: 0,
        }),
        Record::Error(ErrorRec {
            err: -libc::EBADF,
            fd: 3,
            msg: b"f_op lacks checkpoint".to_vec(),
        }),
    ];
    let p = tmpfile("error.ckpt");
    write_file(&p, &encode_records(&recs))?;
    in_clean_child("restarting child", move || {
        chdir("/tmp")?;
        expect_restart_refused(&p, 0, libc::EIO, "restart of an image with an ERROR record")?;
        Ok(())
    })
}

pub(crate) fn pipe_and_offset() -> R {
    let steps = [st::open("f", libc::O_RDWR, 3), st::seek(3, 3)];
    let (_m, img) = image_of(&[("f", b"0123456789")], &steps)?;
    let good = read_file(&img)?;
    check!(
        good.len() < 60000,
        "image too large for one pipe buffer: {} bytes",
        good.len()
    );
    let g2 = good.clone();
    in_clean_child("restart from a pipe", move || {
        pipe_at(40, 41)?;
        eq!(write_fd(41, &g2), Ok(g2.len()), "write image into the pipe");
        close(41);
        eq!(show(&rs(0, 40, 0, -1)), show(&Ok(1)), "restart from a pipe");
        eq!(pos(3), 3, "f_pos");
        Ok(())
    })?;
    // image at offset 64 of a file, fd positioned there
    let off = tmpfile("offset.ckpt");
    let mut b = vec![0xa5u8; 64];
    b.extend_from_slice(&good);
    write_file(&off, &b)?;
    in_clean_child("restart from the fd's position", move || {
        open_at(&off, libc::O_RDONLY, 40)?;
        seek(40, 64)?;
        eq!(
            show(&rs(0, 40, 0, -1)),
            show(&Ok(1)),
            "restart from offset 64"
        );
        eq!(pos(3), 3, "f_pos");
        seek(40, 0)?;
        eq!(
            show(&rs(0, 40, 0, -1)),
            show(&Err(libc::EINVAL)),
            "restart from offset 0 (junk first)"
        );
        Ok(())
    })
}

pub(crate) fn too_big() -> R {
    work()?;
    let p = tmpfile("big.ckpt");
    let fh = std::fs::File::create(&p).map_err(|e| e.to_string())?;
    // sparse: no memory used for the holes
    fh.set_len(CKPT_IMAGE_MAX as u64 + 4096)
        .map_err(|e| e.to_string())?;
    drop(fh);
    let p2 = p.clone();
    let r = in_clean_child("restarting child", move || {
        expect_restart_refused(
            &p2,
            0,
            libc::EFBIG,
            &format!("restart of a {} byte image", CKPT_IMAGE_MAX + 4096),
        )?;
        Ok(())
    });
    let _ = std::fs::remove_file(&p);
    r
}

pub(crate) fn dry_run() -> R {
    let files: &[(&str, &[u8])] = &[("a", b"aaaa"), ("sub/", b"")];
    let steps = [
        st::open("a", libc::O_RDWR, 3),
        st::open("a", libc::O_RDONLY, 4),
        Step::Chdir("sub"),
    ];
    let (_m, img) = image_of(files, &steps)?;
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    in_clean_child("restarting child", move || {
        busy_caller(&other)?;
        let before = snap(&[]);
        let o = restart_from(&img, RESTART_DRY_RUN)?;
        let after = snap(&[]);
        expect_outcome(
            &o,
            Ok(2),
            "RESTART_DRY_RUN return value (fds that would be installed)",
        )?;
        check!(
            o.log.contains("dry run"),
            "log should say dry run:\n{}",
            o.log
        );
        check!(
            before == after,
            "RESTART_DRY_RUN changed the caller:\n{}",
            snap_diff(&before, &after)
        );
        Ok(())
    })
}

pub(crate) fn all_or_nothing() -> R {
    // the first file reopens fine, the second cannot (EACCES for an
    // unprivileged restarter): nothing may change.
    let files: &[(&str, &[u8])] = &[("a", b"aaaa"), ("b", b"bbbb")];
    let steps = [
        st::open("a", libc::O_RDWR, 3),
        st::open("b", libc::O_RDWR, 4),
    ];
    let (m, img) = image_of(files, &steps)?;
    let b = m.p("b");
    chmod(&m.p("a"), 0o666)?;
    chmod(&b, 0o600)?;
    chmod(&img, 0o644)?;
    let other = tmpfile("caller");
    write_mode(&other, b"0123456789", 0o666)?;
    in_clean_child("unprivileged restarting child", move || {
        drop_to_nobody()?;
        busy_caller(&other)?;
        let before = snap(&[]);
        open_at(&img, libc::O_RDONLY | libc::O_CLOEXEC, IMG_FD)?;
        let r = rs(0, IMG_FD, 0, -1);
        close(IMG_FD);
        let after = snap(&[]);
        // EACCES from reopening b (a reopened fine); EPERM would mean the
        // root change was refused first (image root "/" needs CAP_SYS_CHROOT?)
        check!(
            r == Err(libc::EACCES),
            "restart as uid 65534 with {b} mode 0600 root-owned: expected Err(EACCES), got {}",
            show(&r)
        );
        check!(
            before == after,
            "caller changed:\n{}",
            snap_diff(&before, &after)
        );
        Ok(())
    })
}

pub(crate) fn cli() -> R {
    let (m, f) = mount_file("cli", b"0123456789")?;
    let plain = Mount::new("ramfs", "mode=0755")?;
    let t = target_on(&m, &[st::open("cli", libc::O_RDONLY, 3), st::seek(3, 4)])?;
    let img = tmpfile("cli.ckpt");
    let log = tmpfile("cli.log");
    let pid = t.pid.to_string();
    let (rc, out, err) = run_ckpt(&["checkpoint", "--pid", &pid, "--out", &img, "--log", &log])?;
    eq!(
        rc,
        0,
        "ckpt checkpoint exit status (stderr: {})",
        err.trim()
    );
    let id: i64 = out
        .trim()
        .strip_prefix("checkpoint id ")
        .and_then(|n| n.parse().ok())
        .ok_or(format!(
            "ckpt checkpoint output: expected 'checkpoint id N', got {out:?}"
        ))?;
    drop(t);
    let im = decode_file(&img)?;
    eq!(im.header.crid as i64, id, "printed id vs HEADER crid");
    let logtext = String::from_utf8_lossy(&read_file(&log)?).into_owned();
    check!(
        logtext.contains(&format!("id {id}")),
        "--log file should hold the kernel's summary line:\n{logtext}"
    );
    let (rc, out, err) = run_ckpt(&["inspect", &img])?;
    eq!(rc, 0, "ckpt inspect exit status (stderr: {})", err.trim());
    for want in [f.as_str(), "f_pos=4", "crc32c ok", "image valid"] {
        check!(
            out.contains(want),
            "ckpt inspect output lacks {want:?}:\n{out}"
        );
    }
    let (rc, out, _) = run_ckpt(&["inspect", "--json", &img])?;
    eq!(rc, 0, "ckpt inspect --json exit status");
    check!(out.contains("\"valid\":true"), "ckpt inspect --json: {out}");
    let (rc, out, err) = run_ckpt(&["restart", "--in", &img, "--dry-run"])?;
    eq!(
        (rc, out.trim()),
        (0, "dry run: image valid, 1 fds would be installed"),
        "ckpt restart --dry-run (stderr: {})",
        err.trim()
    );
    let (rc, out, err) = run_ckpt(&[
        "restart",
        "--in",
        &img,
        "--",
        "sh",
        "-c",
        "readlink /proc/$$/fd/3; head -c 3 <&3",
    ])?;
    let want_out = format!("{f}\n456");
    eq!(
        (rc, out.as_str()),
        (0, want_out.as_str()),
        "ckpt restart -- sh (stderr: {})",
        err.trim()
    );
    // errors: checkpoint of a process holding a plain ramfs dir
    let pd = plain.dir.clone();
    let t =
        Target::stopped(move || open_at(&pd, libc::O_RDONLY | libc::O_DIRECTORY, 4).map(|_| ()))?;
    let pid = t.pid.to_string();
    let (rc, _, err) = run_ckpt(&["checkpoint", "--pid", &pid, "--out", &img])?;
    drop(t);
    eq!(rc, 1, "ckpt checkpoint exit status with an unsupported fd");
    let want = format!("ckpt: checkpoint of pid {pid}: EBADF (checkpoint: fd 4 \"{}\" (ramfs): f_op lacks checkpoint [-EBADF])", plain.dir);
    eq!(err.trim(), want, "ckpt checkpoint error message");
    let (rc, _, err) = run_ckpt(&["inspect", &img])?;
    eq!(rc, 1, "ckpt inspect of the failed image");
    check!(
        err.contains("first bad record ERROR at offset"),
        "ckpt inspect stderr: {err}"
    );
    let (rc, _, err) = run_ckpt(&["restart", "--in", &img])?;
    eq!(rc, 1, "ckpt restart of the failed image");
    check!(
        err.starts_with(&format!("ckpt: restart from {img}: EIO (restart: record ")),
        "ckpt restart stderr: {err}"
    );
    Ok(())
}

pub(crate) fn rlimit_emfile() -> R {
    let steps = [
        st::open("f", libc::O_RDONLY, 3),
        st::open("f", libc::O_RDONLY, 900),
    ];
    let (_m, img) = image_of(&[("f", b"f")], &steps)?;
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    in_clean_child("restarting child", move || {
        busy_caller(&other)?;
        set_nofile(200)?;
        expect_restart_refused(
            &img,
            0,
            libc::EMFILE,
            "restart of fd 900 with RLIMIT_NOFILE 200",
        )?;
        Ok(())
    })
}

pub(crate) fn high_fds() -> R {
    const fn at(fd: i32) -> [Step; 2] {
        [st::open("f", libc::O_RDONLY, fd), st::seek(fd, fd as i64)]
    }
    const STEPS: &[Step] = &[
        at(3)[0],
        at(3)[1],
        at(64)[0],
        at(64)[1],
        st::cloexec(64),
        at(65)[0],
        at(65)[1],
        at(1000)[0],
        at(1000)[1],
        st::cloexec(1000),
        at(3000)[0],
        at(3000)[1],
    ];
    round_trip(&[("f", &[7u8; 5000])], STEPS, By::Itself, |_| Ok(()))
}

pub(crate) fn replaced_estale() -> R {
    let m = mount_with(&[("a", b"a"), ("b", b"b")])?;
    let img_a = image_on(&m, &[st::open("a", libc::O_RDONLY, 3)])?;
    let img_b = image_on(&m, &[st::open("b", libc::O_RDONLY, 3)])?;
    let (a, b) = (m.p("a"), m.p("b"));
    std::fs::remove_file(&a).map_err(|e| e.to_string())?;
    std::fs::create_dir(&a).map_err(|e| e.to_string())?;
    std::fs::remove_file(&b).map_err(|e| e.to_string())?;
    let cb = cstr(&b);
    // SAFETY: valid C string.
    if unsafe { libc::mkfifo(cb.as_ptr(), 0o644) } != 0 {
        return Err(format!("mkfifo {b}: {}", ename(errno())));
    }
    let mut errs = Vec::new();
    let r = in_clean_child("restart with the file replaced by a directory", move || {
        expect_restart_refused(
            &img_a,
            0,
            libc::ESTALE,
            &format!("restart of {a} now a directory"),
        )?;
        Ok(())
    });
    if let Err(e) = r {
        errs.push(e);
    }
    let r = in_clean_child("restart with the file replaced by a FIFO", move || {
        alarm(5);
        let o = restart_from(&img_b, 0)?;
        expect_outcome(&o, Err(libc::ESTALE), &format!("restart of {b} now a FIFO"))?;
        Ok(())
    });
    if let Err(e) = r {
        errs.push(format!(
            "{e} (signal 14 = SIGALRM: restart blocked for 5 s opening the FIFO)"
        ));
    }
    check_all(errs)
}

pub(crate) fn image_position_pipe() -> R {
    let (_m, f) = mount_file("f", b"0123456789")?;
    let f2 = f.clone();
    let t = Target::stopped(move || {
        open_at(&f2, libc::O_RDONLY, 3)?;
        seek(3, 2)
    })?;
    let pid = t.pid;
    let img = tmpfile("pos.ckpt");
    write_file(&img, &[0x5a; 64])?;
    in_clean_child("checkpointer", move || {
        open_at(&img, libc::O_WRONLY, 10)?;
        seek(10, 40)?;
        let id =
            ck(pid, 10, 0, -1).map_err(|e| format!("checkpoint at offset 40: {}", ename(e)))?;
        let b = read_file(&img)?;
        eq!(
            b[..40].to_vec(),
            vec![0x5au8; 40],
            "bytes before the image's offset"
        );
        let im =
            decode(&b[40..]).map_err(|e| format!("image at offset 40 does not decode: {e}"))?;
        eq!(im.header.crid as i64, id, "HEADER crid");
        eq!(
            pos(10),
            b.len() as i64,
            "image fd position after checkpoint (its end)"
        );
        // into a pipe
        let mut p = [0i32; 2];
        // SAFETY: pipe into a valid array.
        unsafe { libc::pipe(p.as_mut_ptr()) };
        let id =
            ck(pid, p[1], 0, -1).map_err(|e| format!("checkpoint into a pipe: {}", ename(e)))?;
        close(p[1]);
        let mut b = Vec::new();
        loop {
            let c = read_fd(p[0], 65536).map_err(|e| format!("read pipe: {}", ename(e)))?;
            if c.is_empty() {
                break;
            }
            b.extend(c);
        }
        let im = decode(&b).map_err(|e| format!("image from the pipe does not decode: {e}"))?;
        eq!(im.header.crid as i64, id, "HEADER crid (pipe)");
        eq!(im.files[0].file.f_pos, 2, "recorded f_pos (pipe)");
        Ok(())
    })?;
    drop(t);
    Ok(())
}

pub(crate) fn outside_root_ebadf() -> R {
    work()?;
    let m = Mount::cr()?;
    std::fs::create_dir(m.p("jail")).map_err(|e| e.to_string())?;
    let f = m.p("outside");
    write_file(&f, b"x")?;
    let jail = m.p("jail");
    let t = Target::stopped(move || {
        open_at(&f, libc::O_RDONLY, 3)?;
        chroot(&jail)?;
        chdir("/")
    })?;
    let img = tmpfile("outside.ckpt");
    let pid = t.pid;
    let img2 = img.clone();
    let r = in_clean_child("checkpointer", move || {
        expect_checkpoint_refused(
            pid,
            &img2,
            libc::EBADF,
            3,
            &[],
            "checkpoint of a file outside the target's root",
        )
    });
    drop(t);
    r
}

pub(crate) fn removed_cwd_ebadf() -> R {
    work()?;
    let m = Mount::cr()?;
    let d = m.p("gone");
    std::fs::create_dir(&d).map_err(|e| e.to_string())?;
    let d2 = d.clone();
    let t = Target::stopped(move || chdir(&d2))?;
    std::fs::remove_dir(&d).map_err(|e| e.to_string())?;
    let img = tmpfile("cwd-gone.ckpt");
    let pid = t.pid;
    let r = in_clean_child("checkpointer", move || {
        let o = checkpoint_to(pid, &img, 0)?;
        expect_outcome(
            &o,
            Err(libc::EBADF),
            "checkpoint of a task whose cwd was removed",
        )?;
        Ok(())
    });
    drop(t);
    r
}

pub(crate) fn pos_edges() -> R {
    work()?;
    let m = Mount::cr()?;
    let (f, d) = (m.p("f"), m.p("d"));
    write_file(&f, b"short")?;
    std::fs::create_dir(&d).map_err(|e| e.to_string())?;
    for i in 0..3 {
        write_file(&format!("{d}/e{i}"), b"")?;
    }
    let img = tmpfile("edges.ckpt");
    {
        let (f, d) = (f.clone(), d.clone());
        self_image(&img, move || {
            open_at(&f, libc::O_RDWR, 3)?;
            seek(3, 1 << 40)?;
            open_at(&d, libc::O_RDONLY | libc::O_DIRECTORY, 4)?;
            while !getdents(4, 4096).map_err(ename)?.is_empty() {}
            Ok(())
        })?;
    }
    in_clean_child("restarting child", move || {
        eq!(rs_ok(&img)?, 2, "restart return value");
        eq!(pos(3), 1i64 << 40, "fd 3 f_pos past EOF");
        eq!(read_fd(3, 10), Ok(Vec::new()), "read past EOF");
        eq!(
            getdents(4, 4096).map(|b| dirent_names(&b)),
            Ok(Vec::<String>::new()),
            "getdents of the fully read dir"
        );
        Ok(())
    })
}

pub(crate) fn over_image_fd() -> R {
    let steps = [st::open("f", libc::O_RDONLY, 3), st::seek(3, 5)];
    let (m, img) = image_of(&[("f", b"0123456789")], &steps)?;
    let f = m.p("f");
    in_clean_child("restarting child", move || {
        open_at(&img, libc::O_RDONLY, 3)?;
        eq!(
            show(&rs(0, 3, 0, -1)),
            show(&Ok(1)),
            "restart reading the image from fd 3, which the image records"
        );
        eq!(fd_path(3), f, "fd 3 after restart");
        eq!(pos(3), 5, "fd 3 f_pos");
        Ok(())
    })
}

/// Make a chain of directories under `base` whose total path is about `len` bytes.
fn deep_dir(base: &str, len: usize) -> Result<String, String> {
    let mut p = base.to_string();
    let comp = "d".repeat(200);
    while p.len() + comp.len() + 1 < len {
        p = format!("{p}/{comp}");
        std::fs::create_dir(&p).map_err(|e| format!("mkdir ({} bytes): {e}", p.len()))?;
    }
    Ok(p)
}

/// fd number of the i-th file of big_image: 3, 4, ... skipping IMG_FD and LOG_FD.
fn big_fd(i: usize) -> i32 {
    let fd = 3 + i as i32;
    if fd >= IMG_FD {
        fd + 2
    } else {
        fd
    }
}

pub(crate) fn big_image() -> R {
    work()?;
    let m = Mount::cr()?;
    let deep = deep_dir(&m.dir, 3000)?;
    let n = 1000;
    for i in 0..n {
        write_file(&format!("{deep}/f{i:04}"), format!("file {i}").as_bytes())?;
    }
    let img = tmpfile("big.ckpt");
    {
        let deep = deep.clone();
        self_image(&img, move || {
            set_nofile(4096)?;
            for i in 0..n {
                open_at(&format!("{deep}/f{i:04}"), libc::O_RDONLY, big_fd(i))?;
                seek(big_fd(i), (i % 7) as i64)?;
            }
            Ok(())
        })?;
    }
    let im = decode_file(&img)?;
    let size = std::fs::metadata(&img).map_err(|e| e.to_string())?.len();
    eq!(im.fds.len(), n, "recorded fds");
    check!(size > 2_500_000, "image size {size}: expected > 2.5 MB");
    in_clean_child("restarting child", move || {
        set_nofile(4096)?;
        eq!(rs_ok(&img)?, n as i64, "restart return value");
        for i in 0..n {
            let fd = big_fd(i);
            eq!(pos(fd), (i % 7) as i64, "fd {fd} f_pos");
            eq!(fd_path(fd), format!("{deep}/f{i:04}"), "fd {fd} path");
        }
        Ok(())
    })
}

/// chdir into a fresh chain of 22 directories of 200-byte names below `base`
/// (a path of more than 4400 bytes), creating them relative to each other.
fn descend_deep(base: &str) -> R {
    chdir(base)?;
    let comp = "d".repeat(200);
    for _ in 0..22 {
        let c = cstr(&comp);
        // SAFETY: valid C string.
        let r = unsafe { libc::mkdir(c.as_ptr(), 0o755) };
        if r != 0 && errno() != libc::EEXIST {
            return Err(format!("mkdir (relative): {}", ename(errno())));
        }
        chdir(&comp)?;
    }
    Ok(())
}

pub(crate) fn too_long_path() -> R {
    let setup = |d: &str| {
        descend_deep(d)?;
        open_at("f", libc::O_RDWR | libc::O_CREAT, 3).map(|_| ())
    };
    let r = refused_self(
        setup,
        libc::ENAMETOOLONG,
        "checkpoint of an fd whose path is > PATH_MAX",
    );
    work()?;
    let m = Mount::cr()?;
    let img = tmpfile("toolong.ckpt");
    let dir = m.dir.clone();
    let r2 = in_clean_child("checkpointing child (cwd)", move || {
        descend_deep(&dir)?;
        let o = checkpoint_to(0, &img, 0)?;
        expect_outcome(
            &o,
            Err(libc::ENAMETOOLONG),
            "checkpoint with a cwd whose path is > PATH_MAX",
        )?;
        Ok(())
    });
    r?;
    r2
}

/// Create (relative to each other) directories below `base` and a file in
/// the last one, so that the file's absolute path is exactly `len` bytes;
/// leaves the cwd in that directory and returns the file's name there.
fn file_of_path_len(base: &str, len: usize) -> Result<String, String> {
    chdir(base)?;
    let mut have = base.len();
    let comp = "p".repeat(200);
    // room for "/" + a last name of 1..=200 bytes
    while have + 1 + comp.len() + 1 + 200 < len {
        let c = cstr(&comp);
        // SAFETY: valid C string.
        if unsafe { libc::mkdir(c.as_ptr(), 0o755) } != 0 {
            return Err(format!("mkdir (relative): {}", ename(errno())));
        }
        chdir(&comp)?;
        have += 1 + comp.len();
    }
    let name = "n".repeat(len - have - 1);
    open_at(&name, libc::O_RDWR | libc::O_CREAT, 3)?;
    close(3);
    Ok(name)
}

pub(crate) fn path_max_boundary() -> R {
    const PATH_MAX: usize = libc::PATH_MAX as usize;
    work()?;
    let m = Mount::cr()?;
    let img = tmpfile("pathmax.ckpt");
    // PATH_MAX - 1 bytes (+ NUL = PATH_MAX): recorded and restarted
    let (dir, img2) = (m.p("a"), img.clone());
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    in_clean_child("checkpointing child (PATH_MAX - 1)", move || {
        let name = file_of_path_len(&dir, PATH_MAX - 1)?;
        open_at(&name, libc::O_RDWR, 3)?;
        write_fd(3, b"edge").map_err(ename)?;
        chdir("/")?;
        eq!(fd_path(3).len(), PATH_MAX - 1, "length of the path of fd 3");
        ck_ok(0, &img2, 0)?;
        let im = decode_file(&img2)?;
        eq!(im.files.len(), 1, "FILE records");
        eq!(im.files[0].name.len(), PATH_MAX - 1, "recorded name length");
        eq!(
            String::from_utf8_lossy(&im.files[0].name),
            fd_path(3),
            "recorded name"
        );
        Ok(())
    })?;
    in_clean_child("restarting child (PATH_MAX - 1)", move || {
        eq!(rs_ok(&img)?, 1, "restart of a PATH_MAX - 1 byte name");
        eq!(
            fd_path(3).len(),
            PATH_MAX - 1,
            "length of the restored fd's path"
        );
        eq!(pos(3), 4, "restored f_pos");
        seek(3, 0)?;
        eq!(
            read_fd(3, 10),
            Ok(b"edge".to_vec()),
            "restored fd reads the file"
        );
        Ok(())
    })?;
    // PATH_MAX bytes: one too many
    let (dir, img) = (m.p("b"), tmpfile("pathmax1.ckpt"));
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    in_clean_child("checkpointing child (PATH_MAX)", move || {
        let name = file_of_path_len(&dir, PATH_MAX)?;
        open_at(&name, libc::O_RDWR, 3)?;
        chdir("/")?;
        expect_checkpoint_refused(
            0,
            &img,
            libc::ENAMETOOLONG,
            3,
            &[],
            "checkpoint of an fd whose path is PATH_MAX bytes",
        )
    })
}

pub(crate) fn churning_target() -> R {
    let (_m, f) = mount_file("churn", b"x")?;
    let f2 = f.clone();
    let setup = move || open_at(&f2, libc::O_RDONLY, 3).map(|_| ());
    let t = Target::running(setup, |i| {
        let _ = dup2(3, 4 + (i % 60) as i32);
        if i % 3 == 0 {
            close(4 + ((i * 7) % 60) as i32);
        }
    })?;
    let pid = t.pid;
    let img = tmpfile("churn.ckpt");
    let mut errs = Vec::new();
    for round in 0..50 {
        match checkpoint_to(pid, &img, 0) {
            Ok(o) => match o.r {
                Ok(_) => {
                    if let Err(e) = decode_file(&img) {
                        errs.push(format!("round {round}: {e}"));
                    }
                }
                Err(e) => errs.push(format!(
                    "round {round}: checkpoint failed: {}; log: {}",
                    ename(e),
                    o.log.trim()
                )),
            },
            Err(e) => errs.push(e),
        }
        if errs.len() > 3 {
            break;
        }
    }
    drop(t);
    check_all(errs)
}

pub(crate) fn odd_log_fds() -> R {
    let (_m, f) = mount_file("f", b"x")?;
    let img = tmpfile("samelog.ckpt");
    let f2 = f.clone();
    let r1 = in_clean_child("log fd == image fd", move || {
        open_at(&f2, libc::O_RDONLY, 3)?;
        open_at(&img, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 10)?;
        let r = ck(0, 10, 0, 10);
        close(10);
        // the ABI: a log on the image file itself is EINVAL
        match r {
            Err(libc::EINVAL) => Ok(()),
            r => Err(format!(
                "checkpoint(fd 10, logfd 10): expected EINVAL, got {}",
                show(&r)
            )),
        }
    });
    // restart with the log on the image's own O_RDWR fd: the image file must not change
    let good = tmpfile("rlog.ckpt");
    {
        let f = f.clone();
        self_image(&good, move || open_at(&f, libc::O_RDONLY, 3).map(|_| ()))?;
    }
    let mut bytes = read_file(&good)?;
    let l = bytes.len();
    bytes[l - 8] ^= 1; // bad CRC: restart fails and logs why
    write_file(&good, &bytes)?;
    let good2 = good.clone();
    let r3 = in_clean_child("restart log fd == image fd", move || {
        open_at(&good2, libc::O_RDWR, 10)?;
        let r = rs(0, 10, 0, 10);
        close(10);
        check!(
            r == Err(libc::EINVAL),
            "restart(fd 10, logfd 10) of a bad-CRC image: {}",
            show(&r)
        );
        Ok(())
    });
    let after = read_file(&good)?;
    let r3 = r3.and_then(|_| {
        check!(
            after == bytes,
            "restart(fd 10, logfd 10) modified the image file: first bytes now {:?}",
            String::from_utf8_lossy(&after[..after.len().min(80)])
        );
        Ok(())
    });
    let img2 = tmpfile("pipelog.ckpt");
    let r2 = in_clean_child("log fd is a pipe without reader", move || {
        open_at(&f, libc::O_RDONLY, 3)?;
        open_at(&img2, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 10)?;
        let mut p = [0i32; 2];
        // SAFETY: pipe into a valid array.
        unsafe { libc::pipe(p.as_mut_ptr()) };
        close(p[0]);
        // the pipe's write end is left out of the image as the log file
        let r = ck(0, 10, 0, p[1]);
        check!(
            matches!(r, Ok(id) if id > 0),
            "checkpoint with a reader-less pipe as log fd: {}",
            show(&r)
        );
        Ok(())
    });
    let mut errs = Vec::new();
    if let Err(e) = r1 {
        errs.push(e);
    }
    if let Err(e) = r2 {
        errs.push(format!(
            "{e} (signal 13 = SIGPIPE: the log write killed the caller)"
        ));
    }
    if let Err(e) = r3 {
        errs.push(e);
    }
    check_all(errs)
}

/// The set-up of the shared-table and running targets.
const TARGET_FILES: &[(&str, &[u8])] = &[("a", b"0123456789"), ("b", b"bbbbbbbbbb"), ("d/", b"")];
const TARGET_STEPS: &[Step] = &[
    st::open("a", libc::O_RDWR | libc::O_APPEND, 3),
    st::seek(3, 4),
    st::open("b", libc::O_RDONLY, 5),
    st::cloexec(5),
    st::seek(5, 7),
    st::dup(3, 6),
    Step::Chdir("d"),
];

/// Targets whose file table is shared: by a second thread, and with
/// another process (CLONE_FILES without CLONE_VM) that opened the fds in
/// it.  Checkpoint records the one table; a single-threaded restart
/// restores it.
pub(crate) fn shared_table_targets() -> R {
    round_trip(TARGET_FILES, TARGET_STEPS, By::Thread, |_| Ok(()))?;
    round_trip(TARGET_FILES, TARGET_STEPS, By::CloneFiles, |_| Ok(()))
}

/// exec(2) after restart: close-on-exec, as recorded, takes effect.
pub(crate) fn exec_after_restart() -> R {
    let files: &[(&str, &[u8])] = &[("kept", b"kept"), ("closed", b"closed")];
    let steps = [
        st::open("kept", libc::O_RDONLY, 3),
        st::open("closed", libc::O_RDONLY, 4),
        st::cloexec(4),
    ];
    let (m, img) = image_of(files, &steps)?;
    let a = m.p("kept");
    let out = tmpfile("exec.out");
    let script = format!(
        "for fd in 3 4; do if [ -e /proc/self/fd/$fd ]; then echo \"$fd $(readlink /proc/self/fd/$fd)\"; fi; done > {out}"
    );
    in_clean_child("restarting child that execs", move || {
        eq!(rs_ok(&img)?, 2, "restart return value");
        let argv = [cstr("/bin/busybox"), cstr("sh"), cstr("-c"), cstr(&script)];
        let mut p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        p.push(std::ptr::null());
        // SAFETY: NULL-terminated argv of valid C strings.
        unsafe { libc::execv(p[0], p.as_ptr()) };
        Err(format!("execv: {}", ename(errno())))
    })?;
    let got = String::from_utf8_lossy(&read_file(&out)?).into_owned();
    eq!(
        got,
        format!("3 {a}\n"),
        "fds open after exec (fd 4 was close-on-exec)"
    );
    Ok(())
}

/// The image of a running target (not stopped): restored and verified.
pub(crate) fn running_target() -> R {
    round_trip(TARGET_FILES, TARGET_STEPS, By::Running, |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
