//! The security review of the core (issue 10): exec race, chroot checks,
//! one walk without symlinks, bounded allocations, the file-table
//! snapshot, all-or-nothing installation, the f_pos lock and escaped log
//! names.  Each case fails on the series before the fix.

use crate::hardening_cases::root_image;
use crate::vm::*;
use ckpt_image::syscalls::checkpoint;
use ckpt_image::{decode, FileDesc, CHECKPOINT_SKIP_UNSUPPORTED, CKPT_IMAGE_MAX, RESTART_DRY_RUN};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

const MNT: &str = "/mnt/sec";

// ------------------------------------------------------------------ helpers

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Image of a child (run as root) that opens `files` at their fd numbers.
fn image_of(files: Vec<(String, i32, i32)>) -> Result<Vec<u8>, String> {
    root_image(move || {
        for (p, flags, fd) in &files {
            open_at(p, *flags, *fd)?;
        }
        Ok(())
    })
}

/// `cr-harness --suid-open PATH FD NOTIFY`: what the set-uid copy of the
/// harness does in `exec_race`: open PATH at FD, say "y" on NOTIFY, wait.
pub fn suid_open(args: &[String]) -> ! {
    let ok = (|| -> R {
        let [path, fd, notify] = args else {
            return Err("usage".into());
        };
        let fd: i32 = fd.parse().map_err(|_| "fd")?;
        let notify: i32 = notify.parse().map_err(|_| "notify")?;
        open_at(path, libc::O_RDONLY, fd)?;
        // SAFETY: one byte from a static buffer.
        unsafe { libc::write(notify, b"y".as_ptr().cast(), 1) };
        close(notify);
        Ok(())
    })();
    if ok.is_err() {
        exit(2);
    }
    loop {
        // SAFETY: waits for a signal.
        unsafe { libc::pause() };
    }
}

// ---------------------------------------------------------------- 1. exec

/// checkpoint(2) of a user's own process blocks writing the header into a
/// full pipe.  Meanwhile the process execs a set-uid-root program that
/// opens a root-only file.  The image must describe the process the user
/// could look into (its fd 5 only), or the call must fail with EPERM; it
/// must never name the root-only file.
pub(crate) fn exec_race() -> R {
    // in a child with an alarm: a deadlock is a failure, not a hung suite
    on_mount(MNT, || in_child("exec race", 180, exec_race_body))
}

fn exec_race_body() -> R {
    {
        let pre = format!("{MNT}/pre");
        let secret = format!("{MNT}/secret");
        write_mode(&pre, b"before exec", 0o644)?;
        write_mode(&secret, b"root only", 0o600)?;
        let suid = "/tmp/cr-suid";
        std::fs::copy("/proc/self/exe", suid).map_err(|e| format!("copy: {e}"))?;
        let c = cstr(suid);
        // SAFETY: valid C string.
        unsafe { libc::chown(c.as_ptr(), 0, 0) };
        std::fs::set_permissions(suid, std::fs::Permissions::from_mode(0o4755))
            .map_err(|e| e.to_string())?;

        let (img_r, img_w) = pipe()?;
        // SAFETY: fcntl on our pipe.
        let filled = unsafe {
            libc::fcntl(img_w, libc::F_SETPIPE_SZ, 4096);
            libc::fcntl(img_w, libc::F_SETFL, libc::O_NONBLOCK);
            let mut n = 0usize;
            loop {
                let w = libc::write(img_w, [0x55u8; 512].as_ptr().cast(), 512);
                if w <= 0 {
                    break;
                }
                n += w as usize;
            }
            libc::fcntl(img_w, libc::F_SETFL, 0);
            n
        };
        let (go_r, go_w) = pipe()?;
        let (ntf_r, ntf_w) = pipe()?;
        let (res_r, res_w) = pipe()?;

        let target = fork()?;
        if target == 0 {
            keep_only(&[(go_r, 108), (ntf_w, 109)]);
            let ok = (|| -> R {
                open_at(&pre, libc::O_RDONLY, 5)?;
                dup2(108, 8)?;
                dup2(109, 9)?;
                close(108);
                close(109);
                drop_to_user()?;
                let mut b = [0u8; 1];
                // SAFETY: one byte into a local buffer.
                unsafe { libc::read(8, b.as_mut_ptr().cast(), 1) };
                let argv: Vec<std::ffi::CString> = ["cr-suid", "--suid-open", &secret, "7", "9"]
                    .iter()
                    .map(|s| cstr(s))
                    .collect();
                let mut p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
                p.push(std::ptr::null());
                let path = cstr(suid);
                // SAFETY: NULL-terminated argv of valid C strings.
                unsafe { libc::execv(path.as_ptr(), p.as_ptr()) };
                Err("execv".into())
            })();
            exit(if ok.is_ok() { 0 } else { 3 });
        }
        let ck = fork()?;
        if ck == 0 {
            keep_only(&[(img_w, 200), (res_w, 201)]);
            let msg = match drop_to_user() {
                Err(e) => format!("setup {e}"),
                Ok(()) => match checkpoint(target, 200, CHECKPOINT_SKIP_UNSUPPORTED, -1) {
                    Ok(id) => format!("OK {id}"),
                    Err(e) => format!("E {}", e.raw_os_error().unwrap_or(0)),
                },
            };
            // SAFETY: our own buffer.
            unsafe { libc::write(201, msg.as_ptr().cast(), msg.len()) };
            exit(0);
        }
        for fd in [img_w, go_r, ntf_w, res_w] {
            close(fd);
        }
        let r = (|| -> R {
            // the checkpointer blocks on the full pipe
            let end = Instant::now() + Duration::from_secs(60);
            loop {
                let w = std::fs::read_to_string(format!("/proc/{ck}/wchan")).unwrap_or_default();
                if w.trim() == "pipe_write" {
                    break;
                }
                if Instant::now() > end {
                    // Say what the checkpointer did instead, if it is done.
                    let mut st = 0;
                    // SAFETY: polling our own child.
                    let done = unsafe { libc::waitpid(ck, &mut st, libc::WNOHANG) } == ck;
                    let said = if done {
                        read_all(res_r)
                    } else {
                        "still running".into()
                    };
                    return Err(format!(
                        "the checkpointer never blocked on the pipe (wchan {w:?}; checkpoint: {said})"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // now the target execs the set-uid program
            // SAFETY: one byte from a static buffer.
            unsafe { libc::write(go_w, b"g".as_ptr().cast(), 1) };
            // one byte, not EOF: the checkpointer's snapshot holds the
            // write end until its image is drained
            let mut pfd = libc::pollfd {
                fd: ntf_r,
                events: libc::POLLIN,
                revents: 0,
            };
            let mut b = [0u8; 1];
            // SAFETY: poll and read on our pipe into a local buffer.
            let said = unsafe {
                if libc::poll(&mut pfd, 1, 60_000) == 1
                    && libc::read(ntf_r, b.as_mut_ptr().cast(), 1) == 1
                {
                    String::from_utf8_lossy(&b).into_owned()
                } else {
                    String::new()
                }
            };
            if said != "y" {
                return Err(format!(
                    "the set-uid program did not open the secret ({said:?})"
                ));
            }
            let data = read_all_bytes(img_r);
            wait(ck);
            let res = read_all(res_r);
            if data.len() < filled {
                return Err(format!(
                    "{} bytes from the pipe, {filled} were filler",
                    data.len()
                ));
            }
            let image = &data[filled..];
            if contains(image, b"secret") {
                return Err(format!(
                    "checkpoint ({res}) wrote the root-only file of the exec'd set-uid process into the image"
                ));
            }
            if let Some(id) = res.strip_prefix("OK ") {
                let im = decode(image).map_err(|e| format!("checkpoint OK {id}, image: {e}"))?;
                let fds: Vec<i32> = im.fds.iter().map(|d| d.fd).collect();
                let names: Vec<String> = im
                    .files
                    .iter()
                    .map(|f| String::from_utf8_lossy(&f.name).into_owned())
                    .collect();
                if fds != [5] || names != [pre.clone()] {
                    return Err(format!(
                        "expected the pre-exec table (fd 5 {pre}), got fds {fds:?} names {names:?}"
                    ));
                }
                Ok(())
            } else if res == format!("E {}", libc::EPERM) {
                Ok(())
            } else {
                Err(format!(
                    "checkpoint: expected success or EPERM, got {res:?}"
                ))
            }
        })();
        // SAFETY: kill our children.
        unsafe {
            libc::kill(target, libc::SIGKILL);
            libc::kill(ck, libc::SIGKILL);
        }
        wait(target);
        wait(ck);
        for fd in [img_r, go_w, ntf_r, res_r] {
            close(fd);
        }
        let _ = std::fs::remove_file(suid);
        r
    }
}

// ---------------------------------------------------------------- 2. chroot

/// In a user namespace the caller has CAP_SYS_CHROOT; changing the root to
/// a directory it cannot search must still fail, as chroot(2) does, and
/// the log must say it is the root that was refused.
pub(crate) fn userns_chroot() -> R {
    on_mount(MNT, || {
        mkdir(&format!("{MNT}/locked"), 0o700)?;
        mkdir(&format!("{MNT}/open"), 0o755)?;
        let open_ino = std::fs::metadata(format!("{MNT}/open"))
            .map_err(|e| e.to_string())?
            .ino();
        let base = image_of(vec![])?;
        let mut rows = Vec::new();
        for (dir, want) in [("locked", Some(libc::EACCES)), ("open", None)] {
            let mut im = decode(&base).map_err(|e| e.to_string())?;
            im.root = format!("{MNT}/{dir}").into_bytes();
            im.cwd = b"/".to_vec();
            rows.push((dir, im.encode(), want));
        }
        let mut errs = Vec::new();
        for (dir, bytes, want) in rows {
            memfd_at("img", 900, &bytes)?;
            memfd_at("log", 901, b"")?;
            let r = in_child(dir, 60, move || {
                drop_to_user()?;
                // SAFETY: unshare with a flag.
                if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
                    return Err(format!("unshare(CLONE_NEWUSER): {}", ename(errno())));
                }
                let before = snap_nopos(&[901], 900);
                let r = rs_start(900, 0, 901);
                let text = text_of(901);
                match (want, r) {
                    (Some(w), Err(e)) if e == w => {
                        let after = snap_nopos(&[901], 900);
                        if before != after {
                            return Err(format!(
                                "failed but changed:\n{}",
                                snap_diff(&before, &after)
                            ));
                        }
                        if !text.contains(&format!("root \"{MNT}/{dir}\"")) {
                            return Err(format!("the log does not name the root: {text:?}"));
                        }
                        Ok(())
                    }
                    (None, Ok(0)) => {
                        let ino = std::fs::metadata("/").map_err(|e| e.to_string())?.ino();
                        if ino != open_ino {
                            return Err(format!("root inode {ino}, expected {open_ino}"));
                        }
                        Ok(())
                    }
                    (w, r) => Err(format!(
                        "expected {}, got {r:?}; log {text:?}",
                        w.map(ename).unwrap_or_else(|| "success (0 fds)".into())
                    )),
                }
            });
            close(900);
            close(901);
            if let Err(e) = r {
                errs.push(e);
            }
        }
        check_all(errs)
    })
}

// ---------------------------------------------------------- 3. one walk

fn symlink(target: &str, at: &str) -> R {
    std::os::unix::fs::symlink(target, at).map_err(|e| format!("symlink {at}: {e}"))
}

fn mknod(path: &str, mode: u32, dev: u64) -> R {
    let c = cstr(path);
    // SAFETY: valid C string.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } != 0 {
        return Err(format!("mknod {path}: {}", ename(errno())));
    }
    Ok(())
}

fn rename(a: &str, b: &str) -> R {
    std::fs::rename(a, b).map_err(|e| format!("rename {a} {b}: {e}"))
}

/// An image names `real` (fd 5) and `d/f` (fd 6).  Each row puts something
/// else in the place of one of them; restart must refuse it without
/// following or opening it, and change nothing.
pub(crate) fn no_symlinks() -> R {
    on_mount(MNT, || {
        let m = MNT;
        write_mode(&format!("{m}/real"), b"real", 0o644)?;
        write_mode(&format!("{m}/other"), b"other", 0o644)?;
        mkdir(&format!("{m}/d"), 0o755)?;
        mkdir(&format!("{m}/d2"), 0o755)?;
        write_mode(&format!("{m}/d/f"), b"d-f", 0o644)?;
        write_mode(&format!("{m}/d2/f"), b"d2-f", 0o644)?;
        let img = image_of(vec![
            (format!("{m}/real"), libc::O_RDONLY, 5),
            (format!("{m}/d/f"), libc::O_RDONLY, 6),
        ])?;
        let real = format!("{m}/real");
        let d = format!("{m}/d");
        // (what, the replacement, errno)
        type Swap = Box<dyn Fn() -> R>;
        let rows: Vec<(&str, Swap, i32)> = vec![
            (
                "file -> symlink to another file",
                Box::new({
                    let real = real.clone();
                    move || symlink("other", &real)
                }),
                libc::ELOOP,
            ),
            (
                "directory -> symlink to another directory",
                Box::new({
                    let d = d.clone();
                    move || symlink("d2", &d)
                }),
                libc::ELOOP,
            ),
            (
                "file -> FIFO",
                Box::new({
                    let real = real.clone();
                    move || mknod(&real, libc::S_IFIFO | 0o644, 0)
                }),
                libc::ESTALE,
            ),
            (
                "file -> character device (/dev/null's)",
                Box::new({
                    let real = real.clone();
                    move || mknod(&real, libc::S_IFCHR | 0o644, libc::makedev(1, 3))
                }),
                libc::ESTALE,
            ),
        ];
        memfd_at("img", 900, &img)?;
        let mut errs = Vec::new();
        for (what, swap, want) in rows {
            let moved = if what.starts_with("directory") {
                &d
            } else {
                &real
            };
            rename(moved, &format!("{moved}.orig"))?;
            let r = swap().and_then(|()| {
                in_child(what, 60, move || {
                    close_range(0, 899);
                    let before = snap_nopos(&[], 900);
                    let r = rs_start(900, 0, -1);
                    let after = snap_nopos(&[], 900);
                    if r != Err(want) {
                        let got = match r {
                            Ok(n) => {
                                let mut b = [0u8; 16];
                                // SAFETY: buffer valid.
                                let k = unsafe { libc::pread(5, b.as_mut_ptr().cast(), 16, 0) };
                                format!(
                                    "success ({n} fds; fd 5 reads {:?})",
                                    String::from_utf8_lossy(&b[..k.max(0) as usize])
                                )
                            }
                            Err(e) => ename(e),
                        };
                        return Err(format!("expected {}, got {got}", ename(want)));
                    }
                    if before != after {
                        return Err(format!(
                            "failed but changed:\n{}",
                            snap_diff(&before, &after)
                        ));
                    }
                    Ok(())
                })
            });
            let _ = std::fs::remove_file(moved);
            rename(&format!("{moved}.orig"), moved)?;
            if let Err(e) = r {
                errs.push(e);
            }
        }
        close(900);
        check_all(errs)
    })
}

/// One process restarts an image naming `t` (a regular file holding
/// "real") in a loop while another keeps renaming a FIFO, a symlink to
/// `other` and a fresh regular file over `t`.  Every restart either opens
/// a regular file holding "real" or fails with ESTALE or ELOOP, and none
/// blocks.
pub(crate) fn swap_race() -> R {
    on_mount(MNT, || {
        let m = MNT;
        write_mode(&format!("{m}/t"), b"real", 0o644)?;
        write_mode(&format!("{m}/other"), b"other", 0o644)?;
        let img = image_of(vec![(format!("{m}/t"), libc::O_RDONLY, 5)])?;
        memfd_at("img", 900, &img)?;
        memfd_at("out", 901, b"")?;
        let secs = 6u64;
        let swapper = fork()?;
        if swapper == 0 {
            let end = Instant::now() + Duration::from_secs(secs + 2);
            let t = format!("{m}/t");
            let (f, l, r) = (format!("{m}/.f"), format!("{m}/.l"), format!("{m}/.r"));
            while Instant::now() < end {
                let _ = mknod(&f, libc::S_IFIFO | 0o644, 0).and_then(|()| rename(&f, &t));
                let _ = symlink("other", &l).and_then(|()| rename(&l, &t));
                let _ = std::fs::write(&r, b"real")
                    .map_err(|e| e.to_string())
                    .and_then(|()| rename(&r, &t));
            }
            exit(0);
        }
        let r = in_child("restarting", (secs + 60) as u32, move || {
            close_range(0, 899);
            let end = Instant::now() + Duration::from_secs(secs);
            let (mut ok, mut estale, mut eloop) = (0u64, 0u64, 0u64);
            while Instant::now() < end {
                match rs_start(900, 0, -1) {
                    Ok(1) => {
                        let mut st: libc::stat = unsafe { std::mem::zeroed() };
                        let mut b = [0u8; 16];
                        // SAFETY: fstat and pread into valid buffers.
                        let (s, k) = unsafe {
                            (
                                libc::fstat(5, &mut st),
                                libc::pread(5, b.as_mut_ptr().cast(), 16, 0),
                            )
                        };
                        if s != 0
                            || st.st_mode & libc::S_IFMT != libc::S_IFREG
                            || &b[..k.max(0) as usize] != b"real"
                        {
                            return Err(format!(
                                "restart opened mode {:#o} reading {:?}",
                                st.st_mode,
                                String::from_utf8_lossy(&b[..k.max(0) as usize])
                            ));
                        }
                        close(5);
                        ok += 1;
                    }
                    Err(libc::ESTALE) => estale += 1,
                    Err(libc::ELOOP) => eloop += 1,
                    r => return Err(format!("restart: {r:?}")),
                }
            }
            let _ = set_bytes(901, format!("{ok} {estale} {eloop}").as_bytes());
            Ok(())
        });
        wait(swapper);
        let counts = text_of(901);
        println!("# swap race: restarts ok / ESTALE / ELOOP: {counts}");
        close(900);
        close(901);
        r?;
        let v: Vec<u64> = counts.split(' ').filter_map(|x| x.parse().ok()).collect();
        if v.len() != 3 || v[0] == 0 || v[1] + v[2] == 0 {
            return Err(format!(
                "the race did not exercise both outcomes: {counts:?}"
            ));
        }
        Ok(())
    })
}

// ----------------------------------------------------------- 4. allocations

/// restart(2) of a 64 MiB regular file (CKPT_IMAGE_MAX) that is a valid
/// header followed by junk: EINVAL, and the free memory never drops by
/// more than the image size (plus KASAN's shadow of it and 16 MiB of
/// slack for the rest of the system; measured: 65-71 MiB); of one 8 bytes
/// larger: EFBIG with no allocation at all (measured: 0).  The buffer that
/// used to double to CKPT_IMAGE_MAX + 1 held twice the image (measured on
/// v3: 107 MiB).
pub(crate) fn image_memory() -> R {
    let base = image_of(vec![])?;
    let mut errs = Vec::new();
    for (size, want) in [
        (CKPT_IMAGE_MAX, libc::EINVAL),
        (CKPT_IMAGE_MAX + 8, libc::EFBIG),
    ] {
        let path = "/tmp/huge.img";
        let mut b = vec![0x41u8; size];
        b[..112].copy_from_slice(&base[..112]);
        std::fs::write(path, &b).map_err(|e| format!("write {path}: {e}"))?;
        drop(b);
        let r = in_child("huge", 300, move || {
            let fd = open_at(path, libc::O_RDONLY, 900)?;
            std::thread::sleep(Duration::from_millis(500));
            let free0 = (0..5).map(|_| meminfo_kb("MemFree:")).max().unwrap_or(0);
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            let sampler = std::thread::spawn(move || {
                let mut min = u64::MAX;
                while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                    min = min.min(meminfo_kb("MemFree:"));
                }
                min
            });
            let r = rs_start(fd, RESTART_DRY_RUN, -1);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let min = sampler.join().unwrap_or(0);
            let drop_kb = free0.saturating_sub(min);
            let bound_kb = if want == libc::EFBIG {
                8 << 10
            } else {
                (size / 1024 + size / 8192 + (16 << 10)) as u64
            };
            println!(
                "# {size}-byte image: {r:?}, MemFree dropped by {drop_kb} kB (bound {bound_kb} kB)"
            );
            if r != Err(want) {
                return Err(format!(
                    "{size}-byte image: expected {}, got {r:?}",
                    ename(want)
                ));
            }
            if drop_kb > bound_kb {
                return Err(format!(
                    "{size}-byte image: MemFree dropped by {drop_kb} kB during restart, bound {bound_kb} kB"
                ));
            }
            Ok(())
        });
        let _ = std::fs::remove_file(path);
        if let Err(e) = r {
            errs.push(e);
        }
    }
    check_all(errs)
}

// ------------------------------------------------------ 5. file-table snapshot

/// A target holding a pipe at fd 0 and a file at fd 65000 restarts (dry
/// run) an image in a loop while its parent checkpoints it in a loop.
/// Each checkpoint reads the 65,536-slot table and then fails on the pipe
/// (EBADF), so it spends most of its time reading the table.
/// Checkpoint used to take a reference on the target's files_struct for
/// that, so the target's restart saw a shared table and failed with EBUSY.
pub(crate) fn no_shared_table() -> R {
    on_mount(MNT, || {
        write_mode(&format!("{MNT}/a"), b"a", 0o644)?;
        let img = image_of(vec![])?;
        memfd_at("img", 1001, &img)?;
        memfd_at("out", 1002, b"")?;
        let secs = 6u64;
        let target = fork()?;
        if target == 0 {
            close_range(0, 1000);
            close_range(1003, u32::MAX);
            alarm(secs as u32 + 60);
            let mut p = [0i32; 2];
            // SAFETY: pipe into a 2-int array (fds 0 and 1).
            unsafe { libc::pipe(p.as_mut_ptr()) };
            // a table of 65,536 slots, so that reading it takes a while
            nofile_of(0, 70000, 70000);
            let a = format!("{MNT}/a");
            if open_at(&a, libc::O_RDONLY, 65000).is_err() {
                exit(2);
            }
            let end = Instant::now() + Duration::from_secs(secs);
            let (mut ok, mut ebusy, mut other) = (0u64, 0u64, 0u64);
            while Instant::now() < end {
                match rs_start(1001, RESTART_DRY_RUN, -1) {
                    Ok(_) => ok += 1,
                    Err(libc::EBUSY) => ebusy += 1,
                    Err(_) => other += 1,
                }
            }
            let _ = set_bytes(1002, format!("{ok} {ebusy} {other}").as_bytes());
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
        close(ckfd);
        let st = wait(target);
        let counts = text_of(1002);
        close(1001);
        close(1002);
        println!("# {cks} checkpoints of the target (EBADF on its pipe); its dry-run restarts ok / EBUSY / other: {counts}");
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            return Err(format!("target: status {st:#x}"));
        }
        if !ck_other.is_empty() || cks == 0 {
            return Err(format!(
                "checkpoints: {cks} EBADF as expected, then {ck_other}"
            ));
        }
        let v: Vec<u64> = counts.split(' ').filter_map(|x| x.parse().ok()).collect();
        if v.len() != 3 || v[0] == 0 || v[1] != 0 || v[2] != 0 {
            return Err(format!(
                "the target's restarts (ok / EBUSY / other) were {counts:?}: checkpoint made its table look shared"
            ));
        }
        Ok(())
    })
}

// ------------------------------------------------------------ 5. f_pos lock

/// A regular log file shared (one struct file) by the caller of checkpoint
/// and by a child that writes 2,000 fixed lines into it.  Checkpoints of a
/// target holding 200 pipes log 200 lines each.  Every line of both must
/// survive whole: the checkpoint writes at the file position under its
/// f_pos_lock, as write(2) does.
pub(crate) fn log_pos_lock() -> R {
    on_mount(MNT, || {
        let logp = format!("{MNT}/log");
        let lfd = open_at(&logp, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 700)?;
        // a target with 200 pipe fds: a long checkpoint log
        let t = Target::paused(|| {
            close_range(0, 1018);
            close_range(1020, u32::MAX);
            for _ in 0..100 {
                pipe()?;
            }
            Ok(())
        })?;
        let target = t.pid;
        let line = b"writer: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij\n";
        let n_lines = 2000;
        let writer = fork()?;
        if writer == 0 {
            for _ in 0..n_lines {
                // SAFETY: a static buffer.
                if unsafe { libc::write(lfd, line.as_ptr().cast(), line.len()) }
                    != line.len() as isize
                {
                    exit(1);
                }
            }
            exit(0);
        }
        let img = memfd("img")?;
        let mut cks = 0;
        let mut ck_err = None;
        loop {
            let mut st = 0;
            // SAFETY: non-blocking wait for our child.
            let done = unsafe { libc::waitpid(writer, &mut st, libc::WNOHANG) } == writer;
            if cks > 0 && done {
                break;
            }
            set_bytes(img, b"")?;
            match checkpoint(target, img, CHECKPOINT_SKIP_UNSUPPORTED, lfd) {
                Ok(_) => cks += 1,
                Err(e) => {
                    ck_err = Some(e.to_string());
                    break;
                }
            }
            if done {
                break;
            }
        }
        drop(t);
        wait(writer);
        close(img);
        close(lfd);
        if let Some(e) = ck_err {
            return Err(format!("checkpoint: {e}"));
        }
        let text = std::fs::read(&logp).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&text);
        let writer_lines = text
            .lines()
            .filter(|l| l.as_bytes() == &line[..line.len() - 1])
            .count();
        let ck_lines = text
            .lines()
            .filter(|l| l.starts_with("checkpoint: fd ") && l.ends_with("left out"))
            .count();
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.as_bytes() != &line[..line.len() - 1]
                    && !(l.starts_with("checkpoint: ")
                        && (l.ends_with("left out") || l.contains(" bytes")))
            })
            .take(3)
            .collect();
        println!(
            "# {cks} checkpoints; {writer_lines} writer lines, {ck_lines} skip lines in the log"
        );
        if writer_lines != n_lines || ck_lines < cks * 200 || !bad.is_empty() {
            return Err(format!(
                "lines overwritten: writer {writer_lines} of {n_lines}, checkpoint skip lines {ck_lines} of {}; torn: {bad:?}",
                cks * 200
            ));
        }
        Ok(())
    })
}

// ---------------------------------------------------------- 5. log escapes

/// Control characters in a name, from an image (restart) or from a task
/// (checkpoint), are escaped in the log: each event stays one line, and an
/// image cannot forge log lines.  Also: an image with more descriptors
/// than RLIMIT_NOFILE is refused by its count, before any is read.
pub(crate) fn log_escapes() -> R {
    on_mount(MNT, || {
        write_mode(&format!("{MNT}/a"), b"a", 0o644)?;
        let base = image_of(vec![(format!("{MNT}/a"), libc::O_RDONLY, 5)])?;
        let mut im = decode(&base).map_err(|e| e.to_string())?;
        im.files[0].name = format!("{MNT}/no\nrestart: forged [-EPERM]\x1b[2J").into_bytes();
        let forged = im.encode();
        let mut im = decode(&base).map_err(|e| e.to_string())?;
        im.fds = (0..1500)
            .map(|fd| FileDesc {
                fd_objref: 1,
                fd,
                close_on_exec: 0,
                reserved: 0,
            })
            .collect();
        let many = im.encode();
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
                many,
                libc::EMFILE,
                "1500 descriptors, above the caller's RLIMIT_NOFILE 1000",
            ),
        ] {
            memfd_at("img", 900, &bytes)?;
            memfd_at("log", 901, b"")?;
            let r = in_child(what, 60, move || {
                nofile_of(0, 1000, 4096);
                let r = rs_start(900, 0, 901);
                let text = text_of(901);
                if r != Err(want) {
                    return Err(format!("expected {}, got {r:?}", ename(want)));
                }
                if text.lines().count() != 1 || !text.contains(must) {
                    return Err(format!(
                        "expected one log line containing {must:?}, got {text:?}"
                    ));
                }
                Ok(())
            });
            close(900);
            close(901);
            if let Err(e) = r {
                errs.push(e);
            }
        }
        // checkpoint: a tmpfs file whose name holds a newline is left out
        // and logged on one line
        let evil = "/tmp/evil\nname";
        std::fs::write(evil, b"x").map_err(|e| e.to_string())?;
        let target = fork()?;
        if target == 0 {
            close_range(0, u32::MAX);
            if open_at(evil, libc::O_RDONLY, 7).is_err() {
                exit(2);
            }
            loop {
                // SAFETY: waits for a signal.
                unsafe { libc::pause() };
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let log = memfd("log")?;
        let img = memfd("img")?;
        let r = checkpoint(target, img, CHECKPOINT_SKIP_UNSUPPORTED, log);
        kill(target, libc::SIGKILL);
        wait(target);
        let text = text_of(log);
        close(log);
        close(img);
        let _ = std::fs::remove_file(evil);
        let must = "checkpoint: fd 7 \"/tmp/evil\\nname\" (tmpfs): f_op lacks checkpoint, left out";
        if r.is_err() || !text.lines().any(|l| l == must) || text.contains("evil\nname") {
            errs.push(format!(
                "checkpoint {r:?}: expected the log line {must:?}, got {text:?}"
            ));
        }
        check_all(errs)
    })
}
