// SPDX-License-Identifier: GPL-2.0

//! The records a file system writes into a checkpoint image
//! (`CONFIG_CHECKPOINT`).

use super::{Dentry, DentryRef, File, FileSystem, Inode, InodeRef, SuperBlock};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The checkpoint operation a `->checkpoint` call belongs to.
pub(crate) struct CkptCtx(pub(super) NonNull<bindings::ckpt_ctx>);

impl CkptCtx {
    /// `generic_file_checkpoint(ctx, file)`: the FILE and FILE_NAME records.
    pub(crate) fn generic_file<T: FileSystem>(&self, file: &File<T>) -> Result {
        // SAFETY: `self` is the context of the `->checkpoint` call that
        // `file` is being saved by (see `dir_checkpoint`).
        to_result(unsafe { bindings::generic_file_checkpoint(self.0.as_ptr(), file.as_ptr()) })
    }

    /// `ckpt_write_file_fs(ctx, file, version, data, len)`: the FILE_FS
    /// record of `file`, after `generic_file`.
    pub(crate) fn write_file_fs<T: FileSystem>(
        &self,
        file: &File<T>,
        version: u32,
        data: &[u8],
    ) -> Result {
        let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: as for `generic_file`; `data` is `len` readable bytes.
        to_result(unsafe {
            bindings::ckpt_write_file_fs(
                self.0.as_ptr(),
                file.as_ptr(),
                version,
                data.as_ptr().cast(),
                len,
            )
        })
    }
}

/// A FILE_FS record restart(2) hands back (`struct ckpt_file_fs`).
pub(crate) struct FileFs<'a> {
    /// The version of ramfs_cr's format the record was written in.
    pub(crate) version: u32,
    /// Its data.
    pub(crate) data: &'a [u8],
}

/// The checkpoint of one super block of a `T` file system, frozen, inside
/// `ckpt_fs_operations.checkpoint_sb`: the walk over it and the records it
/// writes.  The super block being frozen is what makes the walk safe: no
/// create, link, unlink or rename runs meanwhile, so names and the
/// inodes of positive dentries stay as they are.
pub(crate) struct SbCtx<'a, T: FileSystem> {
    pub(super) ctx: NonNull<bindings::ckpt_ctx>,
    pub(super) sb: &'a SuperBlock<T>,
}

impl<T: FileSystem> SbCtx<'_, T> {
    /// The super block being saved.
    pub(crate) fn sb(&self) -> &SuperBlock<T> {
        self.sb
    }

    /// `dget(sb->s_root)`.
    pub(crate) fn root(&self) -> Result<DentryRef<T>> {
        // SAFETY: the super block is live; `s_root` was set by `fill_super`
        // and stays until the super block is killed, and the core holds a
        // mount of it; `dget(NULL)` is NULL.
        let root = unsafe { bindings::dget((*self.sb.as_ptr()).s_root) };
        NonNull::new(root)
            .map(|p| DentryRef(p, PhantomData))
            .ok_or(EINVAL)
    }

    /// `simple_next_child(dir, prev)`: the next positive child of `dir`
    /// after `prev` (the first with `None`), in readdir order.
    pub(crate) fn next_child(
        &self,
        dir: &Dentry<T>,
        prev: Option<DentryRef<T>>,
    ) -> Option<DentryRef<T>> {
        let prev = prev.map_or(ptr::null_mut(), DentryRef::into_raw);
        // SAFETY: `dir` is live; `prev` is NULL or a child of `dir` whose
        // reference we hand over: `simple_next_child` drops it.
        let next = unsafe { bindings::simple_next_child(dir.as_ptr(), prev) };
        NonNull::new(next).map(|p| DentryRef(p, PhantomData))
    }

    /// `dget_parent(dentry)`, `None` for the root.
    pub(crate) fn parent(&self, dentry: &DentryRef<T>) -> Option<DentryRef<T>> {
        // SAFETY: the dentry is referenced; `dget_parent` returns its
        // parent with a reference, itself for a root.
        let parent = unsafe { bindings::dget_parent(dentry.as_ptr()) };
        let parent = DentryRef(NonNull::new(parent)?, PhantomData);
        (parent.as_ptr() != dentry.as_ptr()).then_some(parent)
    }

    /// The inode of a positive dentry.
    pub(crate) fn inode<'d>(&self, dentry: &'d DentryRef<T>) -> &'d Inode<T> {
        // SAFETY: the dentry is referenced, and it was positive when
        // `simple_next_child` or `root` took it; nothing makes it
        // negative while the super block is frozen (unlink waits).
        unsafe { Inode::from_raw(bindings::d_inode(dentry.as_ptr())) }
    }

    /// The name of a dentry, stable while the super block is frozen.
    pub(crate) fn name<'d>(&self, dentry: &'d DentryRef<T>) -> &'d [u8] {
        // SAFETY: the dentry is referenced; `d_name` changes only by
        // rename, which waits for the thaw; `name` points to `len` bytes.
        unsafe {
            let q = &(*dentry.as_ptr()).d_name;
            core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
        }
    }

    /// `ckpt_next_inode(sb, prev)`: the next inode of the super block in
    /// use after `prev` (the first with `None`).
    pub(crate) fn next_inode(&self, prev: Option<InodeRef<T>>) -> Option<InodeRef<T>> {
        let prev = prev.map_or(ptr::null_mut(), InodeRef::into_raw);
        // SAFETY: the super block is the one `checkpoint_sb` runs for;
        // `prev` is NULL or an inode of it whose reference we hand over.
        let next = unsafe { bindings::ckpt_next_inode(self.sb.as_ptr(), prev) };
        NonNull::new(next).map(|p| InodeRef(p, PhantomData))
    }

    /// `ckpt_obj_id(ctx, inode, &first)`: the inode's number in the image,
    /// and whether this is the first time it is asked for.
    pub(crate) fn inode_id(&self, inode: &Inode<T>) -> Result<(u64, bool)> {
        let mut first = false;
        // SAFETY: the context is live for the call; the core keeps the
        // pointer as a key only, and a frozen super block keeps its
        // inodes (see `ckpt_obj_id`).
        let id =
            unsafe { bindings::ckpt_obj_id(self.ctx.as_ptr(), inode.as_ptr().cast(), &mut first) };
        to_result(id.min(0))?;
        Ok((id as u64, first))
    }

    /// `ckpt_write_sb_rec(ctx, kind, data, len, more, more_len)`.
    pub(crate) fn write_rec(&self, kind: u32, data: &[u8], more: &[u8]) -> Result {
        let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        let more_len = u32::try_from(more.len()).map_err(|_| EINVAL)?;
        // SAFETY: the context is live for the call; both slices are
        // readable for their lengths.
        to_result(unsafe {
            bindings::ckpt_write_sb_rec(
                self.ctx.as_ptr(),
                kind,
                data.as_ptr().cast(),
                len,
                more.as_ptr().cast(),
                more_len,
            )
        })
    }

    /// `ckpt_write_sb_pages(ctx, inode->i_mapping, size)`: the pages of
    /// `inode` below `size`, after its record.
    pub(crate) fn write_pages(&self, inode: &Inode<T>, size: i64) -> Result {
        // SAFETY: the context is live for the call; the inode is live and
        // its `i_mapping` is set for its whole life.
        to_result(unsafe {
            bindings::ckpt_write_sb_pages(self.ctx.as_ptr(), (*inode.as_ptr()).i_mapping, size)
        })
    }
}
