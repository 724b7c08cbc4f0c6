// SPDX-License-Identifier: GPL-2.0

//! The records a file system writes into a checkpoint image
//! (`CONFIG_CHECKPOINT`).

use super::{Dentry, DentryRef, File, FileSystem, Inode, InodeRef, SuperBlock, Timestamp};
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
        self.sb.root()
    }

    /// `simple_next_child(dir, prev)`: the next positive child of `dir`
    /// after `prev` (the first with `None`), in readdir order.
    pub(crate) fn next_child(
        &self,
        dir: &Dentry<T>,
        prev: Option<DentryRef<T>>,
    ) -> Option<DentryRef<T>> {
        next_child(dir, prev)
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

/// `simple_next_child(dir, prev)`.
fn next_child<T: FileSystem>(dir: &Dentry<T>, prev: Option<DentryRef<T>>) -> Option<DentryRef<T>> {
    let prev = prev.map_or(ptr::null_mut(), DentryRef::into_raw);
    // SAFETY: `dir` is live; `prev` is NULL or a child of `dir` whose
    // reference we hand over: `simple_next_child` drops it.
    let next = unsafe { bindings::simple_next_child(dir.as_ptr(), prev) };
    NonNull::new(next).map(|p| DentryRef(p, PhantomData))
}

/// An `SB_REC` record read back (`struct ckpt_sb_rec`).
pub(crate) struct SbRec<'a> {
    /// What the file system said the record is.
    pub(crate) kind: u32,
    /// Its data.
    pub(crate) data: &'a [u8],
}

/// The restart of one super block of a `T` file system, inside
/// `ckpt_fs_operations.restore_sb`: an empty super block on a detached
/// mount the caller made for it, and the records read back into it.
pub(crate) struct RsCtx<'a, T: FileSystem> {
    pub(super) ctx: NonNull<bindings::ckpt_ctx>,
    pub(super) sb: &'a SuperBlock<T>,
}

impl<T: FileSystem> RsCtx<'_, T> {
    /// The super block being rebuilt.
    pub(crate) fn sb(&self) -> &SuperBlock<T> {
        self.sb
    }

    /// `dget(sb->s_root)`.
    pub(crate) fn root(&self) -> Result<DentryRef<T>> {
        self.sb.root()
    }

    /// The inode of the root, which no unlink makes negative.
    pub(crate) fn root_inode<'d>(&self, root: &'d DentryRef<T>) -> Result<&'d Inode<T>> {
        if root.as_ptr() != self.root()?.as_ptr() {
            return Err(EINVAL);
        }
        // SAFETY: the root dentry is referenced and always positive: it
        // cannot be unlinked.
        Ok(unsafe { Inode::from_raw(bindings::d_inode(root.as_ptr())) })
    }

    /// Whether `dir` has a positive child.
    pub(crate) fn has_children(&self, dir: &Dentry<T>) -> bool {
        next_child(dir, None).is_some()
    }

    /// `ckpt_read_sb_rec(ctx, &rec)`: the next record, `None` at the end.
    /// The data stays valid for the whole `restore_sb` call.
    pub(crate) fn read_rec(&self) -> Result<Option<SbRec<'_>>> {
        let mut rec: bindings::ckpt_sb_rec = super::zeroed();
        // SAFETY: the context is live for the call; `rec` is writable.
        let ret = unsafe { bindings::ckpt_read_sb_rec(self.ctx.as_ptr(), &mut rec) };
        to_result(ret.min(0))?;
        if ret == 0 {
            return Ok(None);
        }
        let data = if rec.len == 0 {
            &[][..]
        } else {
            // SAFETY: the core hands back `len` bytes at `data`, inside the
            // image buffer, which lives until restart(2) returns, beyond
            // this context.
            unsafe { core::slice::from_raw_parts(rec.data.cast::<u8>(), rec.len as usize) }
        };
        Ok(Some(SbRec {
            kind: rec.kind,
            data,
        }))
    }

    /// `ckpt_read_sb_pages(ctx, inode, size)`: the data chunks after the
    /// last record into `inode`'s page cache, and its size; the number of
    /// data bytes read.
    pub(crate) fn read_pages(&self, inode: &Inode<T>, size: i64) -> Result<i64> {
        // SAFETY: the context is live for the call; the inode is live.
        let ret = unsafe { bindings::ckpt_read_sb_pages(self.ctx.as_ptr(), inode.as_ptr(), size) };
        to_result(ret.clamp(i32::MIN.into(), 0) as i32)?;
        Ok(ret)
    }

    /// `ckpt_restore_inode(ctx, inode, mode, uid, gid, times)`: permission
    /// bits, owner (as far as the caller may) and atime, mtime, ctime.
    pub(crate) fn restore_inode(
        &self,
        inode: &Inode<T>,
        mode: u16,
        uid: u32,
        gid: u32,
        times: [Timestamp; 3],
    ) -> Result {
        let ts = times.map(|t| bindings::timespec64 {
            tv_sec: t.sec,
            // Below 10^9: fits any `long`.
            tv_nsec: t.nsec as _,
        });
        // SAFETY: the context is live for the call; the inode is live;
        // `ts` holds the three timestamps the function reads.
        to_result(unsafe {
            bindings::ckpt_restore_inode(
                self.ctx.as_ptr(),
                inode.as_ptr(),
                mode,
                uid,
                gid,
                ts.as_ptr(),
            )
        })
    }

    /// `ckpt_restore_unlinked(ctx, id, inode)`: a regular file no entry
    /// names, number `id` in the image, kept for the descriptors of the
    /// file table that name it.
    pub(crate) fn restore_unlinked(&self, id: u64, inode: &Inode<T>) -> Result {
        // SAFETY: the context is live for the call; the inode is a live
        // inode of the super block being restored.
        to_result(unsafe { bindings::ckpt_restore_unlinked(self.ctx.as_ptr(), id, inode.as_ptr()) })
    }

    /// `simple_add_child(dir, name, inode, prev)`: a new entry `name` in
    /// `dir` for `inode`, right after `prev` in readdir order (first for
    /// `None`).  The entry keeps its own inode reference; the one returned
    /// is the caller's.
    pub(crate) fn add_child(
        &self,
        dir: &Dentry<T>,
        name: &[u8],
        inode: &Inode<T>,
        prev: Option<&Dentry<T>>,
    ) -> Result<DentryRef<T>> {
        let len = u32::try_from(name.len()).map_err(|_| EINVAL)?;
        let prev = prev.map_or(ptr::null_mut(), Dentry::as_ptr);
        // SAFETY: `dir` is a live directory of this super block, `inode` a
        // live inode of it with our reference, `prev` NULL or a live child
        // of `dir`; `name` is `len` readable bytes, copied by `d_alloc`.
        let d = unsafe {
            bindings::simple_add_child(
                dir.as_ptr(),
                name.as_ptr().cast(),
                len,
                inode.as_ptr(),
                prev,
            )
        };
        let d = kernel::error::from_err_ptr(d)?;
        NonNull::new(d)
            .map(|p| DentryRef(p, PhantomData))
            .ok_or(ENOMEM)
    }
}
