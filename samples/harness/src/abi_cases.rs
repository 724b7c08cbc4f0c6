//! How tools meet the kernel: `ckpt` on a kernel without the checkpoint
//! core, and the descriptor limit a restart needs.

use crate::vm::*;
use ckpt_image::syscalls::VERSION_FILE;
use std::path::Path;

/// In the debug VM the version file is hidden (an empty tmpfs over
/// /sys/kernel/checkpoint, in a mount namespace of the child's own), which
/// is what a kernel without CONFIG_CHECKPOINT shows; in the nockpt VM the
/// kernel really has no core.  Then a version file of another format.
pub(crate) fn no_core() -> R {
    work()?;
    let have_core = Path::new(VERSION_FILE).exists();
    in_child("child without the version file", 60, move || {
        if have_core {
            // SAFETY: unshare(2) and mount(2) with valid arguments.
            unsafe {
                check!(
                    libc::unshare(libc::CLONE_NEWNS) == 0,
                    "unshare: {}",
                    ename(errno())
                );
                let root = cstr("/");
                let r = libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
                check!(r == 0, "mount --make-rprivate /: {}", ename(errno()));
            }
            mount("tmpfs", "/sys/kernel/checkpoint", None)
                .map_err(|e| format!("mount tmpfs on /sys/kernel/checkpoint: {}", ename(e)))?;
        }
        let want = format!(
            "ckpt: this kernel has no checkpoint/restart core (no {VERSION_FILE}; it needs CONFIG_CHECKPOINT and the ramfs_cr patches)\n"
        );
        let out = tmpfile("never.ckpt");
        let r = run_ckpt(&["checkpoint", "--pid", "1", "--out", &out])?;
        eq!(
            r,
            (3, String::new(), want.clone()),
            "ckpt checkpoint --pid 1"
        );
        check!(!Path::new(&out).exists(), "{out} was created");
        let img = tmpfile("any.ckpt");
        write_file(&img, b"not read")?;
        for dry in [false, true] {
            let mut args = vec!["restart", "--in", img.as_str()];
            if dry {
                args.push("--dry-run");
            }
            let r = run_ckpt(&args)?;
            eq!(r, (3, String::new(), want.clone()), "ckpt {args:?}");
        }
        if have_core {
            write_file("/sys/kernel/checkpoint/version", b"2\n")?;
            let r = run_ckpt(&["checkpoint", "--pid", "1", "--out", &out])?;
            let want = "ckpt: this kernel's checkpoint image format is version 2, this tool knows version 1\n";
            eq!(r, (3, String::new(), want.to_string()), "with version 2");
            check!(!Path::new(&out).exists(), "{out} was created");
        }
        Ok(())
    })
}

/// An image of a process holding one ramfs_cr file at fd 300.  `ckpt
/// restart` keeps its image and log fds above it (301, 302), so it needs
/// RLIMIT_NOFILE 303: from soft 64 it raises that to 303 when the hard
/// limit is 4096, and refuses with one line when the hard limit is 100.
pub(crate) fn nofile() -> R {
    work()?;
    let m = Mount::cr()?;
    let f = m.p("f");
    write_file(&f, b"x")?;
    let img = tmpfile("fd300.ckpt");
    let fd = 300;
    self_image(&img, {
        let f = f.clone();
        move || open_at(&f, libc::O_RDONLY, fd).map(|_| ())
    })?;
    let need = fd + 3;
    in_child("hard limit 4096", 60, || {
        set_nofile_limits(64, 4096)?;
        let sh = format!("readlink /proc/self/fd/{fd}; ulimit -n");
        let r = run_ckpt(&["restart", "--in", &img, "--", "/bin/sh", "-c", &sh])?;
        eq!(
            r,
            (0, format!("{f}\n{need}\n"), String::new()),
            "restart under soft 64"
        );
        Ok(())
    })?;
    in_child("hard limit 100", 60, || {
        set_nofile_limits(64, 100)?;
        let r = run_ckpt(&["restart", "--in", &img])?;
        let want = format!(
            "ckpt: the image has fd {fd}: restart needs RLIMIT_NOFILE {need}, above the hard limit 100 (raise it: ulimit -Hn {need})\n"
        );
        eq!(r, (1, String::new(), want), "restart under hard 100");
        Ok(())
    })
}
