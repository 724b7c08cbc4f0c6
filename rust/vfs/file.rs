// SPDX-License-Identifier: GPL-2.0

//! Files: one being opened or saved, and the readdir cursor of a dcache
//! directory.

#[cfg(CONFIG_CHECKPOINT)]
use super::DentryRef;
use super::{Dentry, FileSystem, NewInode};
#[cfg(CONFIG_CHECKPOINT)]
use core::ffi::c_void;
use core::marker::PhantomData;
#[cfg(CONFIG_CHECKPOINT)]
use core::ptr::{self, NonNull};
use kernel::bindings;
#[cfg(CONFIG_CHECKPOINT)]
use kernel::ffi::c_int;
#[cfg(CONFIG_CHECKPOINT)]
use kernel::prelude::*;
use kernel::types::Opaque;

/// Where a `dcache_readdir` reader stands ([`File::dcache_cursor`]).
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct DirCursor<T: FileSystem> {
    /// `f_pos`.
    pub(crate) pos: i64,
    /// The last child the reader went past.
    pub(crate) last: Option<DentryRef<T>>,
    /// The child it returns next.
    pub(crate) next: Option<DentryRef<T>>,
}

/// A live `struct file` of a `T` file system (being opened by
/// `->tmpfile`, saved by `->checkpoint` or restored).
#[repr(transparent)]
pub(crate) struct File<T: FileSystem>(Opaque<bindings::file>, PhantomData<T>);

impl<T: FileSystem> File<T> {
    /// # Safety
    ///
    /// `ptr` points to a live file for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a File<T> {
        // SAFETY: `repr(transparent)` over the C struct, live for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }

    /// `file_dentry(file)`.
    pub(crate) fn dentry(&self) -> &Dentry<T> {
        // SAFETY: the file is live, and so is its dentry while it is.
        unsafe { Dentry::from_raw(bindings::file_dentry(self.as_ptr())) }
    }

    /// Whether the file was opened by `dcache_dir_open`, so that its
    /// `private_data` is a `dcache_readdir` cursor.
    #[cfg(CONFIG_CHECKPOINT)]
    fn is_dcache_dir(&self) -> bool {
        type Open = unsafe extern "C" fn(*mut bindings::inode, *mut bindings::file) -> c_int;
        // SAFETY: the file is live, and so is its `f_op` table (a static of
        // the module that opened it, pinned by the file).
        let open = unsafe { (*(*self.as_ptr()).f_op).open };
        open.is_some_and(|f| f as usize == bindings::dcache_dir_open as Open as usize)
    }

    /// `dcache_dir_cursor(file, &prev, &next)`: the position of a
    /// `dcache_readdir` reader, the last child it went past and the next
    /// child it returns.  `EINVAL` for a file not opened by
    /// `dcache_dir_open`.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn dcache_cursor(&self) -> Result<DirCursor<T>> {
        if !self.is_dcache_dir() {
            return Err(EINVAL);
        }
        let mut prev = ptr::null_mut();
        let mut next = ptr::null_mut();
        // SAFETY: the file is live and was opened by `dcache_dir_open`
        // (checked above: its `private_data` is the cursor); the helper
        // fills in NULL or dentries it took a reference on, which the
        // `DentryRef`s own.
        let pos = unsafe { bindings::dcache_dir_cursor(self.as_ptr(), &mut prev, &mut next) };
        Ok(DirCursor {
            pos,
            last: NonNull::new(prev).map(|d| DentryRef(d, PhantomData)),
            next: NonNull::new(next).map(|d| DentryRef(d, PhantomData)),
        })
    }

    /// `dcache_dir_seat(file, match, arg)`: puts the reader before the first
    /// child for which `accept` returns true (or past the last one) and
    /// returns the new position.  `accept` runs under the directory's
    /// `d_lock` and must not sleep.  `EINVAL` for a file not opened by
    /// `dcache_dir_open`.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn dcache_seat(&self, mut accept: impl FnMut(&Dentry<T>) -> bool) -> Result<i64> {
        if !self.is_dcache_dir() {
            return Err(EINVAL);
        }
        /// The C callback: `arg` is the `&mut dyn FnMut` below.
        ///
        /// # Safety
        ///
        /// Only `dcache_dir_seat` calls it, with the `arg` passed below and
        /// a live child.
        unsafe extern "C" fn trampoline<T: FileSystem>(
            child: *mut bindings::dentry,
            arg: *mut c_void,
        ) -> bool {
            // SAFETY: `arg` is the `&mut &mut dyn FnMut` passed to
            // `dcache_dir_seat` below, live for that call; `child` is a
            // positive child, live under the parent's `d_lock` it holds.
            unsafe {
                let accept = &mut *arg.cast::<&mut dyn FnMut(&Dentry<T>) -> bool>();
                (*accept)(Dentry::from_raw(child))
            }
        }
        let mut accept: &mut dyn FnMut(&Dentry<T>) -> bool = &mut accept;
        // SAFETY: the file is live and was opened by `dcache_dir_open`
        // (checked above); `trampoline` and its argument live for the call.
        Ok(unsafe {
            bindings::dcache_dir_seat(
                self.as_ptr(),
                Some(trampoline::<T>),
                ptr::addr_of_mut!(accept).cast(),
            )
        })
    }

    /// `vfs_llseek(file, pos, SEEK_SET)`.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn seek(&self, pos: i64) -> Result<i64> {
        // SAFETY: the file is live.
        let ret = unsafe { bindings::vfs_llseek(self.as_ptr(), pos, bindings::SEEK_SET as c_int) };
        if ret < 0 {
            return Err(Error::from_errno(ret as c_int));
        }
        Ok(ret)
    }

    /// `d_tmpfile(file, inode)`: the file's dentry takes the inode.
    pub(crate) fn d_tmpfile(&self, inode: NewInode<T>) {
        // SAFETY: the VFS calls `->tmpfile` with a file whose dentry is a
        // fresh negative dentry; `d_tmpfile` consumes the inode reference.
        unsafe { bindings::d_tmpfile(self.as_ptr(), inode.into_raw()) }
    }
}
