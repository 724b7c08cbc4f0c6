// SPDX-License-Identifier: GPL-2.0

//! Registration of a file system type.

use core::cell::UnsafeCell;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// A `struct file_system_type` in a `static`: the VFS links it into its list
/// when registered, so it must be writable.
#[repr(transparent)]
pub(crate) struct FsType(UnsafeCell<bindings::file_system_type>);

// SAFETY: we write the struct only in `Registration::new`, before
// `register_filesystem` publishes it; afterwards only the VFS touches it,
// under `file_systems_lock` and its own locks.
unsafe impl Sync for FsType {}

impl FsType {
    pub(crate) const fn new(fs_type: bindings::file_system_type) -> FsType {
        FsType(UnsafeCell::new(fs_type))
    }
}

/// A registered file system type; unregistered on drop.
pub(crate) struct Registration(&'static FsType);

impl Registration {
    /// Sets `owner = THIS_MODULE` and calls `register_filesystem`.
    ///
    /// Called once, from module init: the `owner` write happens before the
    /// type is published. A second call for the same `FsType` would fail
    /// with `EBUSY` (the name is taken) but would first rewrite `owner`
    /// (to the same value) while the VFS may read it.
    pub(crate) fn new(fs_type: &'static FsType, module: &'static ThisModule) -> Result<Self> {
        let p = fs_type.0.get();
        // SAFETY: module init runs once, before the type is registered, so
        // nothing else reads the struct while we set `owner`; the `static`
        // lives as long as the module.
        unsafe {
            (*p).owner = module.as_ptr();
            to_result(bindings::register_filesystem(p))?;
        }
        Ok(Registration(fs_type))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the type was registered by `new`; module exit runs only
        // when no super block holds a module reference, i.e. none is mounted.
        unsafe { bindings::unregister_filesystem(self.0 .0.get()) };
    }
}
