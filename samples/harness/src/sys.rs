//! Small system helpers every group of cases uses.

use ckpt_image::syscalls::errno_name;
use std::ffi::CString;
use std::os::fd::AsRawFd;

/// The module file in the VM's initramfs.
pub const MODULE: &str = "/lib/modules/ramfs_cr.ko";

pub type R = Result<(), String>;

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `EBADF`, `ENOENT`, ... for messages.
pub fn ename(e: i32) -> String {
    errno_name(e)
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Load ramfs_cr unless /proc/filesystems already lists it.
pub fn ensure_module() -> R {
    let fss = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fss
        .lines()
        .any(|l| l.split_whitespace().last() == Some("ramfs_cr"))
    {
        return Ok(());
    }
    let f = std::fs::File::open(MODULE).map_err(|e| format!("open {MODULE}: {e}"))?;
    let empty = cstr("");
    // SAFETY: finit_module with an open fd and empty params.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
    if r != 0 && errno() != libc::EEXIST {
        return Err(format!("insmod {MODULE}: {}", ename(errno())));
    }
    Ok(())
}

/// `Ok` when no error was collected, else every error, one per line.
pub fn all_ok(errs: Vec<String>) -> R {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}
