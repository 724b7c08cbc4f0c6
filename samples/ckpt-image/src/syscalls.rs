//! Thin wrappers around checkpoint(2) and restart(2) (x86_64: 463, 464).

use std::io;
use std::os::fd::RawFd;

/// x86_64 syscall number of checkpoint(2).
pub const SYS_CHECKPOINT: libc::c_long = 463;
/// x86_64 syscall number of restart(2).
pub const SYS_RESTART: libc::c_long = 464;

fn ret(r: libc::c_long) -> io::Result<i64> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `checkpoint(pid, fd, flags, logfd)`: write an image of `pid` (0 = self)
/// at `fd`'s position.  `logfd` is [`crate::CHECKPOINT_FD_NONE`] for no log.
/// Returns the checkpoint id.
pub fn checkpoint(pid: libc::pid_t, fd: RawFd, flags: u64, logfd: RawFd) -> io::Result<i64> {
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

/// `restart(pid, fd, flags, logfd)`: restore the image read from `fd` into
/// the calling task (`pid` 0 or the caller's pid).  Returns the number of fds
/// installed.
pub fn restart(pid: libc::pid_t, fd: RawFd, flags: u64, logfd: RawFd) -> io::Result<i64> {
    // SAFETY: plain syscall with integer arguments only.
    let r = unsafe {
        libc::syscall(
            SYS_RESTART,
            pid as libc::c_long,
            fd as libc::c_long,
            flags as libc::c_ulong,
            logfd as libc::c_long,
        )
    };
    ret(r)
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
