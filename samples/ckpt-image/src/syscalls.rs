//! Thin wrappers around checkpoint(2) and restart(2) (x86_64 and the
//! generic table: 500, 501).
//!
//! A kernel without the checkpoint core may give those numbers to other
//! system calls (463 and 464, the numbers of the first versions of the
//! series, are `setxattrat` and `getxattrat` from Linux 6.13 on).  The
//! wrappers therefore never make a call before [`kernel_support`] has
//! found `/sys/kernel/checkpoint/version`; without it they fail with
//! `ENOSYS` and the kernel is not entered.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// Syscall number of checkpoint(2) (x86_64 and the generic table).
pub const SYS_CHECKPOINT: libc::c_long = 500;
/// Syscall number of restart(2) (x86_64 and the generic table).
pub const SYS_RESTART: libc::c_long = 501;
/// Present if and only if the running kernel has the checkpoint core; holds
/// the newest image format version it writes and reads (1: images without
/// contents only; 2: also CHECKPOINT_CONTENTS, and it reads both).
pub const VERSION_FILE: &str = "/sys/kernel/checkpoint/version";

/// Why checkpoint(2)/restart(2) cannot be used on the running kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSupport {
    /// `/sys` has no `kernel/` directory: sysfs is not mounted there.
    NoSysfs,
    /// sysfs is there but the version file is not: no `CONFIG_CHECKPOINT`.
    NoCore,
    /// The version file could not be read (the error's text).
    Unreadable(String),
    /// The kernel's newest image format version is not one this library
    /// knows (1 or 2).
    Version(String),
}

impl fmt::Display for NoSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoSupport::NoSysfs => write!(
                f,
                "cannot tell whether this kernel has checkpoint/restart: sysfs is not mounted on /sys"
            ),
            NoSupport::NoCore => write!(
                f,
                "this kernel has no checkpoint/restart core (no {VERSION_FILE}; it needs CONFIG_CHECKPOINT and the ramfs_cr patches)"
            ),
            NoSupport::Unreadable(e) => write!(f, "cannot read {VERSION_FILE}: {e}"),
            NoSupport::Version(v) => write!(
                f,
                "this kernel's checkpoint image format is version {v}, this tool knows versions {} and {}",
                crate::CKPT_VERSION_PLAIN,
                crate::CKPT_VERSION
            ),
        }
    }
}

/// Read `path` as a version file: `Ok(version)` when it names a format
/// version this library knows (1 or 2; a kernel of version 1 cannot take
/// CHECKPOINT_CONTENTS: it refuses the flag with EINVAL).
pub fn check_version_file(path: &std::path::Path) -> Result<u32, NoSupport> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let sys_kernel = path.parent().and_then(|p| p.parent());
            return Err(match sys_kernel {
                Some(d) if !d.is_dir() => NoSupport::NoSysfs,
                _ => NoSupport::NoCore,
            });
        }
        Err(e) => return Err(NoSupport::Unreadable(e.to_string())),
    };
    let v = text.trim_end_matches('\n');
    match v.parse::<u32>() {
        Ok(n)
            if (u32::from(crate::CKPT_VERSION_PLAIN)..=u32::from(crate::CKPT_VERSION))
                .contains(&n)
                && text.ends_with('\n') =>
        {
            Ok(n)
        }
        _ => Err(NoSupport::Version(v.escape_debug().to_string())),
    }
}

/// Whether the running kernel has checkpoint(2)/restart(2) of the image
/// format this library knows, from [`VERSION_FILE`].  An answer is kept
/// once known; a file that could not be read (`ENOMEM`, `EMFILE`, ...) is
/// read again next time.
pub fn kernel_support() -> Result<u32, NoSupport> {
    static SUPPORT: OnceLock<Result<u32, NoSupport>> = OnceLock::new();
    if let Some(known) = SUPPORT.get() {
        return known.clone();
    }
    let r = check_version_file(std::path::Path::new(VERSION_FILE));
    if matches!(r, Err(NoSupport::Unreadable(_))) {
        return r;
    }
    SUPPORT.get_or_init(|| r).clone()
}

fn supported() -> io::Result<()> {
    kernel_support()
        .map(|_| ())
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOSYS))
}

fn ret(r: libc::c_long) -> io::Result<i64> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `checkpoint(pid, fd, flags, logfd)`: write an image of `pid` (0 = self)
/// at `fd`'s position.  `logfd` is [`crate::CHECKPOINT_FD_NONE`] for no log.
/// Returns the checkpoint id.  `flags` is passed in a full register; the
/// kernel reads its low 32 bits (`unsigned int`).  `ENOSYS` without a
/// system call when [`kernel_support`] fails.
pub fn checkpoint(pid: libc::pid_t, fd: RawFd, flags: u64, logfd: RawFd) -> io::Result<i64> {
    supported()?;
    // SAFETY: plain syscall with integer arguments only.
    let r = unsafe {
        libc::syscall(
            SYS_CHECKPOINT,
            pid as libc::c_long,
            fd as libc::c_long,
            flags as libc::c_ulong,
            logfd as libc::c_long,
        )
    };
    ret(r)
}

/// `restart(pid, fd, flags, logfd, NULL, 0)`: restore the image read from
/// `fd` into the calling task (`pid` 0 or the caller's pid).  Returns the
/// number of fds installed.  `ENOSYS` without a system call when
/// [`kernel_support`] fails.
pub fn restart(pid: libc::pid_t, fd: RawFd, flags: u64, logfd: RawFd) -> io::Result<i64> {
    restart_mounts(pid, fd, flags, logfd, &[])
}

/// `restart(pid, fd, flags, logfd, mnt_fds, nr_mnt_fds)`: with
/// `RESTART_CONTENTS`, `mnt_fds` holds one detached mount (see
/// [`detached_mount`]) per saved superblock of the image, in order; else it
/// is empty (passed as NULL, 0).
pub fn restart_mounts(
    pid: libc::pid_t,
    fd: RawFd,
    flags: u64,
    logfd: RawFd,
    mnt_fds: &[RawFd],
) -> io::Result<i64> {
    supported()?;
    let fds = if mnt_fds.is_empty() {
        std::ptr::null()
    } else {
        mnt_fds.as_ptr()
    };
    // SAFETY: integer arguments and a pointer to `mnt_fds.len()` ints (or
    // NULL with 0) that outlive the call.
    let r = unsafe {
        libc::syscall(
            SYS_RESTART,
            pid as libc::c_long,
            fd as libc::c_long,
            flags as libc::c_ulong,
            logfd as libc::c_long,
            fds,
            mnt_fds.len() as libc::c_ulong,
        )
    };
    ret(r)
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// A new, empty, detached mount of file system type `fs_name`:
/// `fsopen()`, `fsconfig(FSCONFIG_CMD_CREATE)`, `fsmount()`.  Closing the
/// fd destroys it unless [`move_mount`] attached it.
pub fn detached_mount(fs_name: &str) -> io::Result<OwnedFd> {
    let name =
        std::ffi::CString::new(fs_name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated name and flags.
    let fs = ret(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: `fs` is the new fd, ours from here on.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: an fs_context fd, a command, NULL key and value.
    ret(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            null,
            null,
            0,
        )
    })?;
    // SAFETY: an fs_context fd with a created superblock, flags.
    let mnt = ret(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) })?;
    // SAFETY: `mnt` is the new fd, ours from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}

/// `move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attach
/// a detached mount at `target`.
pub fn move_mount(mnt: RawFd, target: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: a mount fd, an empty and a NUL-terminated path, flags.
    ret(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(|_| ())
}

/// Name of an errno value ("EBADF"), or "E<number>" when unknown.
pub fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ESTALE => "ESTALE",
        _ => return format!("E{e}"),
    };
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// A fake sysfs root: `<dir>/kernel/checkpoint/version` holding `text`
    /// (no `kernel/` at all for `None`).
    fn fake_sysfs(name: &str, text: Option<&str>, kernel_dir: bool) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ckpt-sysfs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        if kernel_dir {
            std::fs::create_dir_all(d.join("kernel/checkpoint")).unwrap();
        }
        if let Some(t) = text {
            std::fs::write(d.join("kernel/checkpoint/version"), t).unwrap();
        }
        d.join("kernel/checkpoint/version")
    }

    fn check(p: &Path) -> Result<u32, NoSupport> {
        check_version_file(p)
    }

    #[test]
    fn version_file_cases() {
        assert_eq!(check(&fake_sysfs("ok", Some("1\n"), true)), Ok(1));
        assert_eq!(check(&fake_sysfs("v2", Some("2\n"), true)), Ok(2));
        for (name, text, v) in [
            ("v0", "0\n", "0"),
            ("v3", "3\n", "3"),
            ("nonl", "1", "1"),
            ("nonl2", "2", "2"),
            ("two", "1\n2\n", "1\\n2"),
        ] {
            assert_eq!(
                check(&fake_sysfs(name, Some(text), true)),
                Err(NoSupport::Version(v.into())),
                "{text:?}"
            );
        }
        assert_eq!(
            check(&fake_sysfs("junk", Some("x\u{1b}\n"), true)),
            Err(NoSupport::Version("x\\u{1b}".into()))
        );
        assert_eq!(
            check(&fake_sysfs("nocore", None, true)),
            Err(NoSupport::NoCore)
        );
        assert_eq!(
            check(&fake_sysfs("nosysfs", None, false)),
            Err(NoSupport::NoSysfs)
        );
    }

    #[test]
    fn messages_are_one_line() {
        for e in [
            NoSupport::NoSysfs,
            NoSupport::NoCore,
            NoSupport::Unreadable("Permission denied".into()),
            NoSupport::Version("3".into()),
        ] {
            let m = e.to_string();
            assert!(!m.contains('\n') && !m.is_empty(), "{m:?}");
        }
        assert_eq!(
            NoSupport::Version("3".into()).to_string(),
            "this kernel's checkpoint image format is version 3, this tool knows versions 1 and 2"
        );
    }
}
