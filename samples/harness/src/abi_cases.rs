//! How tools meet the kernel: `ckpt` without the checkpoint core, the fd limit of a restart.

use crate::{roundtrip::mount_file, vm::*};
use ckpt_image::syscalls::VERSION_FILE;

/// Hide the version file (a tmpfs over /sys/kernel/checkpoint, in a mount namespace of our own) as
/// a kernel without CONFIG_CHECKPOINT (the nockpt VM) does; then a version file of another format.
pub(crate) fn no_core() -> R {
    work()?;
    let have_core = std::path::Path::new(VERSION_FILE).exists();
    in_child("child without the version file", 60, move || {
        if have_core {
            unshare(libc::CLONE_NEWNS)?;
            let (null, fl) = (std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE);
            // SAFETY: mount(2) of "/" (a C string alive for the call), NULLs.
            let r = unsafe { libc::mount(null, c"/".as_ptr(), null, fl, null.cast()) };
            check!(r == 0, "mount --make-rprivate /: {}", ename(errno()));
            mount("tmpfs", "/sys/kernel/checkpoint", None)
                .map_err(|e| format!("mount tmpfs on /sys/kernel/checkpoint: {}", ename(e)))?;
        }
        let (out, img) = (tmpfile("never.ckpt"), tmpfile("any.ckpt"));
        write_file(&img, b"not read")?;
        // exit 3, nothing on stdout, `want` on stderr, no image
        let says = |args: &[&str], want: &str| -> R {
            let r = run_ckpt(args)?;
            eq!(r, (3, String::new(), want.to_string()), "ckpt {args:?}");
            check!(!std::path::Path::new(&out).exists(), "{out} was created");
            Ok(())
        };
        let none = format!("ckpt: this kernel has no checkpoint/restart core (no {VERSION_FILE}; it needs CONFIG_CHECKPOINT and the ramfs_cr patches)\n");
        says(&["checkpoint", "--pid", "1", "--out", &out], &none)?;
        says(&["restart", "--in", &img], &none)?;
        says(&["restart", "--in", &img, "--dry-run"], &none)?;
        if have_core {
            write_file(VERSION_FILE, b"3\n")?;
            let v3 = "ckpt: this kernel's checkpoint image format is version 3, this tool knows versions 1 and 2\n";
            says(&["checkpoint", "--pid", "1", "--out", &out], v3)?;
        }
        Ok(())
    })
}

/// An image holding fd 300: `ckpt restart` keeps its image and log fds at 301 and 302, so it raises
/// a soft RLIMIT_NOFILE of 64 to 303 within a hard limit of 4096; under a hard 100 it refuses.
pub(crate) fn nofile() -> R {
    let ((_m, f), img, fd) = (mount_file("f", b"x")?, tmpfile("fd300.ckpt"), 300);
    self_image(&img, || open_at(&f, libc::O_RDONLY, fd).map(drop))?;
    let (need, sh) = (fd + 3, format!("readlink /proc/self/fd/{fd}; ulimit -n"));
    let refused = format!("ckpt: the image has fd {fd}: restart needs RLIMIT_NOFILE {need}, above the hard limit 100 (raise it: ulimit -Hn {need})\n");
    let rows = [
        (4096, (0, format!("{f}\n{need}\n"), String::new())),
        (100, (1, String::new(), refused)),
    ];
    check_each(rows, |(hard, want)| {
        in_child(&format!("hard limit {hard}"), 60, || {
            nofile_of(0, 64, hard)?;
            let r = run_ckpt(&["restart", "--in", &img, "--", "/bin/sh", "-c", &sh])?;
            expect_eq(r, want, &format!("restart under soft 64, hard {hard}"))
        })
    })
}
