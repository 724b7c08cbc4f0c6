// SPDX-License-Identifier: GPL-2.0

//! Inodes: one the VFS lends a callback, and a fresh one being set up.

use super::{Dentry, FileSystem, SuperBlock};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A live `struct inode` of a `T` super block, lent for a callback.
#[repr(transparent)]
pub(crate) struct Inode<T: FileSystem>(Opaque<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> Inode<T> {
    /// # Safety
    ///
    /// `ptr` points to a live inode that stays live for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Inode<T> {
        // SAFETY: `Inode` is `repr(transparent)` over the C struct and the
        // caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The super block this inode belongs to.
    pub(crate) fn sb(&self) -> &SuperBlock<T> {
        // SAFETY: `i_sb` of a live inode is set by `new_inode` and outlives
        // the inode.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).i_sb) }
    }

    /// `inc_nlink(inode)`.
    pub(crate) fn inc_nlink(&self) {
        // SAFETY: the inode is live; `inc_nlink` needs the inode's
        // `i_rwsem` or exclusive ownership: the VFS holds the parent's
        // `i_rwsem` in `->mkdir`, and a `NewInode` is not yet visible.
        unsafe { bindings::inc_nlink(self.as_ptr()) }
    }

    /// `inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir))`: a
    /// directory entry was added.
    pub(crate) fn touch_mtime_ctime(&self) {
        // SAFETY: the inode is live and the VFS holds its `i_rwsem` in the
        // directory callbacks that call this.
        unsafe {
            let now = bindings::inode_set_ctime_current(self.as_ptr());
            bindings::inode_set_mtime_to_ts(self.as_ptr(), now);
        }
    }
}

/// An inode fresh from `new_inode()`, not yet attached to a dentry. Dropping
/// it calls `iput()`.
pub(crate) struct NewInode<T: FileSystem>(NonNull<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> core::ops::Deref for NewInode<T> {
    type Target = Inode<T>;

    fn deref(&self) -> &Inode<T> {
        // SAFETY: we own a reference to the inode, so it is live while `self`
        // is.
        unsafe { Inode::from_raw(self.0.as_ptr()) }
    }
}

impl<T: FileSystem> Drop for NewInode<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the inode and give it back.
        unsafe { bindings::iput(self.0.as_ptr()) }
    }
}

impl<T: FileSystem> NewInode<T> {
    /// `new_inode(sb)`; `None` when out of memory.
    pub(crate) fn new(sb: &SuperBlock<T>) -> Option<NewInode<T>> {
        // SAFETY: `sb` is a live super block.
        NonNull::new(unsafe { bindings::new_inode(sb.as_ptr()) }).map(|p| NewInode(p, PhantomData))
    }

    /// Gives up ownership without `iput()`, for C calls that consume it.
    pub(super) fn into_raw(self) -> *mut bindings::inode {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// The reference, as a counted reference to a set-up inode.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn into_ref(self) -> InodeRef<T> {
        let ptr = self.0;
        core::mem::forget(self);
        InodeRef(ptr, PhantomData)
    }

    /// `inode->i_ino = ino`.
    pub(crate) fn set_ino(&mut self, ino: c_ulong) {
        // SAFETY: the inode is not visible to anyone else yet.
        unsafe { (*self.as_ptr()).i_ino = ino }
    }

    /// `inode_init_owner(&nop_mnt_idmap, inode, dir, mode)`.
    pub(crate) fn init_owner(&mut self, dir: Option<&Inode<T>>, mode: u16) {
        let dir = dir.map_or(ptr::null(), |d| d.as_ptr().cast_const());
        // SAFETY: the inode is ours; `dir` is NULL or a live inode;
        // `nop_mnt_idmap` is a static C object.
        unsafe {
            bindings::inode_init_owner(
                ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                self.as_ptr(),
                dir,
                mode,
            )
        }
    }

    /// The page-cache setup of a ramfs inode: `ram_aops`, `GFP_HIGHUSER`,
    /// never evicted.
    pub(crate) fn use_ram_mapping(&mut self) {
        // SAFETY: the inode is ours; `i_mapping` points to its embedded
        // `i_data` after `new_inode`; `ram_aops` is a static C object.
        unsafe {
            let mapping = (*self.as_ptr()).i_mapping;
            (*mapping).a_ops = ptr::addr_of!(bindings::ram_aops);
            bindings::mapping_set_gfp_mask(mapping, bindings::GFP_HIGHUSER);
            bindings::mapping_set_unevictable(mapping);
        }
    }

    /// `simple_inode_init_ts(inode)`: atime = mtime = ctime = now.
    pub(crate) fn init_ts(&mut self) {
        // SAFETY: the inode is ours.
        unsafe { bindings::simple_inode_init_ts(self.as_ptr()) };
    }

    /// `inode->i_op = iop; inode->i_fop = fop`.
    pub(crate) fn set_ops(
        &mut self,
        iop: &'static bindings::inode_operations,
        fop: &'static bindings::file_operations,
    ) {
        // SAFETY: the inode is ours; both tables are `'static`.
        unsafe {
            (*self.as_ptr()).i_op = iop;
            (*self.as_ptr()).__bindgen_anon_3.i_fop = fop;
        }
    }

    /// `inode->i_op = iop`.
    pub(crate) fn set_iop(&mut self, iop: &'static bindings::inode_operations) {
        // SAFETY: the inode is ours; the table is `'static`.
        unsafe { (*self.as_ptr()).i_op = iop };
    }

    /// `inode_nohighmem(inode)`.
    pub(crate) fn nohighmem(&mut self) {
        // SAFETY: the inode is ours.
        unsafe { bindings::inode_nohighmem(self.as_ptr()) };
    }

    /// `init_special_inode(inode, mode, dev)`: fifo, socket, char or block
    /// device.
    pub(crate) fn init_special(&mut self, mode: u16, dev: u32) {
        // SAFETY: the inode is ours.
        unsafe { bindings::init_special_inode(self.as_ptr(), mode, dev) };
    }

    /// `security_inode_init_security(inode, dir, &dentry->d_name, NULL,
    /// NULL)`.
    pub(crate) fn init_security(&self, dir: &Inode<T>, dentry: &Dentry<T>) -> Result {
        // SAFETY: both inodes and the dentry are live; `d_name` is stable
        // while the VFS holds the parent's `i_rwsem`.
        to_result(unsafe {
            bindings::security_inode_init_security(
                self.as_ptr(),
                dir.as_ptr(),
                ptr::addr_of!((*dentry.as_ptr()).d_name),
                None,
                ptr::null_mut(),
            )
        })
    }

    /// `page_symlink(inode, symname, strlen(symname) + 1)`.
    pub(crate) fn page_symlink(&self, symname: &CStr) -> Result {
        let len = c_int::try_from(symname.len_with_nul()).map_err(|_| EINVAL)?;
        // SAFETY: the inode is ours and has a page-cache mapping;
        // `symname` is a NUL-terminated string of `len` bytes.
        to_result(unsafe { bindings::page_symlink(self.as_ptr(), symname.as_char_ptr(), len) })
    }
}

/// A timestamp of an inode.
#[cfg(CONFIG_CHECKPOINT)]
#[derive(Clone, Copy)]
pub(crate) struct Timestamp {
    /// Seconds since the epoch.
    pub(crate) sec: i64,
    /// Nanoseconds, below 10^9.
    pub(crate) nsec: u32,
}

/// What `stat(2)` would say of an inode, ids as its super block's user
/// namespace sees them.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct Attr {
    pub(crate) mode: u32,
    pub(crate) nlink: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) rdev_major: u32,
    pub(crate) rdev_minor: u32,
    pub(crate) size: i64,
    pub(crate) atime: Timestamp,
    pub(crate) mtime: Timestamp,
    pub(crate) ctime: Timestamp,
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> Inode<T> {
    /// `ihold(inode)`: a counted reference of our own.
    pub(crate) fn to_ref(&self) -> InodeRef<T> {
        // SAFETY: the inode is live, so it has a reference already, which
        // is what `ihold` needs.
        unsafe { bindings::ihold(self.as_ptr()) };
        // SAFETY: `as_ptr` of a live inode is not NULL.
        InodeRef(
            unsafe { NonNull::new_unchecked(self.as_ptr()) },
            PhantomData,
        )
    }

    /// `generic_fillattr()`, `i_uid_read()` and `i_gid_read()`.
    pub(crate) fn attr(&self) -> Attr {
        let mut st: bindings::kstat = super::zeroed();
        let ts = |t: bindings::timespec64| Timestamp {
            sec: t.tv_sec,
            nsec: t.tv_nsec as u32,
        };
        // SAFETY: the inode is live; `generic_fillattr` only reads it (its
        // fields are read unlocked, as stat(2) does) and fills `st`;
        // `nop_mnt_idmap` is a static C object.
        let (uid, gid) = unsafe {
            bindings::generic_fillattr(
                ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                bindings::STATX_BASIC_STATS,
                self.as_ptr(),
                &mut st,
            );
            (
                bindings::i_uid_read(self.as_ptr()),
                bindings::i_gid_read(self.as_ptr()),
            )
        };
        Attr {
            mode: st.mode.into(),
            nlink: st.nlink,
            uid,
            gid,
            // MAJOR() and MINOR() of a kernel dev_t.
            rdev_major: st.rdev >> 20,
            rdev_minor: st.rdev & 0xfffff,
            size: st.size,
            atime: ts(st.atime),
            mtime: ts(st.mtime),
            ctime: ts(st.ctime),
        }
    }
}

/// A counted reference to an inode; `iput()` on drop.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct InodeRef<T: FileSystem>(
    pub(super) NonNull<bindings::inode>,
    pub(super) PhantomData<T>,
);

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> core::ops::Deref for InodeRef<T> {
    type Target = Inode<T>;

    fn deref(&self) -> &Inode<T> {
        // SAFETY: we own a reference, so the inode is live while `self` is.
        unsafe { Inode::from_raw(self.0.as_ptr()) }
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> InodeRef<T> {
    /// Gives up ownership without `iput()`, for C calls that consume it.
    pub(super) fn into_raw(self) -> *mut bindings::inode {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        ptr
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl<T: FileSystem> Drop for InodeRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the inode and give it back.
        unsafe { bindings::iput(self.0.as_ptr()) }
    }
}
