// SPDX-License-Identifier: GPL-2.0

//! Dentries: one the VFS lends a callback, and a counted reference.

use super::{FileSystem, NewInode, SuperBlock};
#[cfg(CONFIG_CHECKPOINT)]
use core::ffi::c_void;
use core::marker::PhantomData;
#[cfg(CONFIG_CHECKPOINT)]
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::types::Opaque;

/// A live `struct dentry` of a `T` super block, lent for a callback.
#[repr(transparent)]
pub(crate) struct Dentry<T: FileSystem>(Opaque<bindings::dentry>, PhantomData<T>);

impl<T: FileSystem> Dentry<T> {
    /// # Safety
    ///
    /// `ptr` points to a live dentry that stays live for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Dentry<T> {
        // SAFETY: `Dentry` is `repr(transparent)` over the C struct and the
        // caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// The super block of this dentry.
    pub(crate) fn sb(&self) -> &SuperBlock<T> {
        // SAFETY: `d_sb` of a live dentry is set at allocation and outlives it.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).d_sb) }
    }

    /// `d_instantiate(dentry, inode)`: the dentry takes the inode reference.
    pub(crate) fn instantiate(&self, inode: NewInode<T>) {
        // SAFETY: the dentry is a live negative dentry (the VFS hands
        // `->create`/`->mknod`/... a negative one); `d_instantiate` consumes
        // our inode reference.
        unsafe { bindings::d_instantiate(self.as_ptr(), inode.into_raw()) }
    }

    /// `dget(dentry)` and keep the reference: pins the dentry in core, as
    /// ramfs does; `kill_litter_super` drops it at unmount.
    pub(crate) fn pin(&self) {
        // SAFETY: the dentry is live; the extra reference is deliberately
        // never put by us.
        unsafe { bindings::dget(self.as_ptr()) };
    }

    /// `dentry->d_fsdata`, read as an integer (0 until `set_fs_data`).
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn fs_data(&self) -> usize {
        // SAFETY: the dentry is live; ramfs_cr stores only integers in
        // `d_fsdata` (nothing else uses it on its dentries), written with
        // one aligned pointer-sized store, so a racing read sees the old or
        // the new value, never a mix.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_ptr()).d_fsdata)) as usize }
    }

    /// `dentry->d_fsdata = value`, an integer of the file system's.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn set_fs_data(&self, value: usize) {
        // SAFETY: the dentry is live, and the callers (the directory
        // callbacks of `fs.rs`) hold the parent directory's `i_rwsem`
        // exclusively, which readers under the lock shared rely on.
        unsafe {
            ptr::write_volatile(
                ptr::addr_of_mut!((*self.as_ptr()).d_fsdata),
                value as *mut c_void,
            )
        }
    }
}

/// A counted reference to a dentry; `dput()` on drop.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct DentryRef<T: FileSystem>(
    pub(super) NonNull<bindings::dentry>,
    pub(super) PhantomData<T>,
);

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> core::ops::Deref for DentryRef<T> {
    type Target = Dentry<T>;

    fn deref(&self) -> &Dentry<T> {
        // SAFETY: we own a reference, so the dentry is live while `self` is.
        unsafe { Dentry::from_raw(self.0.as_ptr()) }
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> Clone for DentryRef<T> {
    /// `dget()`.
    fn clone(&self) -> Self {
        // SAFETY: the dentry is live while `self` is; `dget` of a live
        // dentry returns it with one more reference.
        unsafe { bindings::dget(self.0.as_ptr()) };
        DentryRef(self.0, PhantomData)
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> DentryRef<T> {
    /// Gives up ownership without `dput()`, for C calls that consume it.
    pub(super) fn into_raw(self) -> *mut bindings::dentry {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        ptr
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> Drop for DentryRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it back.
        unsafe { bindings::dput(self.0.as_ptr()) }
    }
}
