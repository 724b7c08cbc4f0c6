// SPDX-License-Identifier: GPL-2.0

//! The `extern "C"` callbacks a file system `T` names in its ops tables,
//! instantiated for it (`mknod::<T>`): each turns its raw arguments into
//! references, calls `T`'s [`FileSystem`] method of the same name and turns
//! the `Result` into the C return convention.

#[cfg(CONFIG_CHECKPOINT)]
use super::{CkptCtx, FileFs, RsCtx, SbCtx};
use super::{Dentry, File, FileSystem, FsContext, FsParameter, Inode, SeqFile, SuperBlock};
use core::ptr;
#[cfg(CONFIG_CHECKPOINT)]
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::from_result;
#[cfg(CONFIG_CHECKPOINT)]
use kernel::ffi::c_uint;
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::str::CStr;

/// `inode_operations.link`: `simple_link`, then [`FileSystem::linked`].
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn link<T: FileSystem>(
    old_dentry: *mut bindings::dentry,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: the VFS passes a live positive dentry, the live parent
    // directory of `dentry` (its `i_rwsem` held) and a live negative dentry.
    let ret = unsafe { bindings::simple_link(old_dentry, dir, dentry) };
    if ret == 0 {
        // SAFETY: as above; `dentry` is now positive.
        T::linked(unsafe { Dentry::<T>::from_raw(dentry) });
    }
    ret
}

/// `inode_operations.rename`: `simple_rename`, then [`FileSystem::renamed`].
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn rename<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    old_dir: *mut bindings::inode,
    old_dentry: *mut bindings::dentry,
    new_dir: *mut bindings::inode,
    new_dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: the VFS passes live directories (both `i_rwsem`s held) and
    // live dentries in them.
    let ret =
        unsafe { bindings::simple_rename(idmap, old_dir, old_dentry, new_dir, new_dentry, flags) };
    if ret == 0 {
        // SAFETY: as above.
        let (old, new) = unsafe {
            (
                Dentry::<T>::from_raw(old_dentry),
                Dentry::<T>::from_raw(new_dentry),
            )
        };
        T::renamed(old, new, flags & bindings::RENAME_EXCHANGE != 0);
    }
    ret
}

/// `file_operations.checkpoint` of directories.
///
/// # Safety
///
/// Only the checkpoint core calls this, through the ops table that names
/// it, with its live context and a live file of ours.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn dir_checkpoint<T: FileSystem>(
    ctx: *mut bindings::ckpt_ctx,
    file: *mut bindings::file,
) -> c_int {
    let Some(ctx) = NonNull::new(ctx) else {
        return -(bindings::EINVAL as c_int);
    };
    // SAFETY: the core passes the file it is saving, live for the call.
    let file = unsafe { File::<T>::from_raw(file) };
    from_result(|| T::dir_checkpoint(&CkptCtx(ctx), file).map(|()| 0))
}

/// `ckpt_fs_operations.restore_file`.
///
/// # Safety
///
/// Only the checkpoint core calls this, through `ckpt_ops` of our
/// `file_system_type`, with a file of ours it just reopened and nobody
/// else uses yet, and a record it checked the framing of.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn restore_file<T: FileSystem>(
    file: *mut bindings::file,
    rec: *const bindings::ckpt_file_fs,
) -> c_int {
    // SAFETY: the file is live for the call; `rec` and its `len` bytes at
    // `data` (at most `CKPT_FILE_FS_MAX`) are in the image buffer, live for
    // the call.
    let (file, rec) = unsafe {
        let rec = &*rec;
        let data = if rec.len == 0 {
            &[][..]
        } else {
            core::slice::from_raw_parts(rec.data.cast::<u8>(), rec.len as usize)
        };
        (
            File::<T>::from_raw(file),
            FileFs {
                version: rec.fs_version,
                data,
            },
        )
    };
    from_result(|| T::restore_file(file, &rec).map(|()| 0))
}

/// `ckpt_fs_operations.checkpoint_sb`.
///
/// # Safety
///
/// Only the checkpoint core calls this, through `ckpt_ops` of our
/// `file_system_type`, with its live context and a super block of ours
/// that it froze.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn checkpoint_sb<T: FileSystem>(
    ctx: *mut bindings::ckpt_ctx,
    sb: *mut bindings::super_block,
) -> c_int {
    let Some(ctx) = NonNull::new(ctx) else {
        return -(bindings::EINVAL as c_int);
    };
    // SAFETY: the super block is live (frozen, and mounted where the core
    // holds a path) for the call.
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    from_result(|| T::checkpoint_sb(&SbCtx { ctx, sb }).map(|()| 0))
}

/// `ckpt_fs_operations.restore_sb`.
///
/// # Safety
///
/// Only the checkpoint core calls this, through `ckpt_ops` of our
/// `file_system_type`, with its live context and a super block of ours on
/// a detached mount it holds.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn restore_sb<T: FileSystem>(
    ctx: *mut bindings::ckpt_ctx,
    sb: *mut bindings::super_block,
    version: u32,
) -> c_int {
    let Some(ctx) = NonNull::new(ctx) else {
        return -(bindings::EINVAL as c_int);
    };
    // SAFETY: the super block is live (the core holds a mount of it) for
    // the call.
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    from_result(|| T::restore_sb(&RsCtx { ctx, sb }, version).map(|()| 0))
}

/// `inode_operations.mknod`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn mknod<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: the VFS passes a live parent directory (its `i_rwsem` held)
    // and a live negative dentry for the duration of the call.
    let (dir, dentry) = unsafe { (Inode::<T>::from_raw(dir), Dentry::<T>::from_raw(dentry)) };
    from_result(|| T::mknod(dir, dentry, mode, dev).map(|()| 0))
}

/// `inode_operations.mkdir`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn mkdir<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: as for `mknod`.
    let (dir, dentry) = unsafe { (Inode::<T>::from_raw(dir), Dentry::<T>::from_raw(dentry)) };
    from_result(|| T::mkdir(dir, dentry, mode).map(|()| 0))
}

/// `inode_operations.create`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn create<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: as for `mknod`.
    let (dir, dentry) = unsafe { (Inode::<T>::from_raw(dir), Dentry::<T>::from_raw(dentry)) };
    from_result(|| T::create(dir, dentry, mode).map(|()| 0))
}

/// `inode_operations.symlink`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn symlink<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    symname: *const c_char,
) -> c_int {
    // SAFETY: as for `mknod`; `symname` is a NUL-terminated kernel copy of
    // the user's string, live for the call.
    let (dir, dentry, symname) = unsafe {
        (
            Inode::<T>::from_raw(dir),
            Dentry::<T>::from_raw(dentry),
            CStr::from_char_ptr(symname),
        )
    };
    from_result(|| T::symlink(dir, dentry, symname).map(|()| 0))
}

/// `inode_operations.tmpfile`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn tmpfile<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    file: *mut bindings::file,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: the VFS passes a live directory and a live file being opened.
    let (dir, new_file) = unsafe { (Inode::<T>::from_raw(dir), File::<T>::from_raw(file)) };
    let error = from_result(|| T::tmpfile(dir, new_file, mode).map(|()| 0));
    // SAFETY: `file` is the file being opened; `finish_open_simple` returns
    // `error` if non-zero, else completes the open.
    unsafe { bindings::finish_open_simple(file, error) }
}

/// `super_operations.show_options`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn show_options<T: FileSystem>(
    m: *mut bindings::seq_file,
    root: *mut bindings::dentry,
) -> c_int {
    // SAFETY: the VFS passes a live seq_file and the live root of a mounted
    // ramfs_cr super block.
    let (m, root) = unsafe { (SeqFile::from_raw(m), Dentry::<T>::from_raw(root)) };
    T::show_options(m, root);
    0
}

/// `fs_context_operations.parse_param`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn parse_param<T: FileSystem>(
    fc: *mut bindings::fs_context,
    param: *mut bindings::fs_parameter,
) -> c_int {
    // SAFETY: the VFS passes the live context (serialised by the caller) and
    // a live parameter.
    let (fc, param) = unsafe { (FsContext::<T>::from_raw(fc), FsParameter::from_raw(param)) };
    from_result(|| T::parse_param(fc, param).map(|()| 0))
}

/// The `fill_super` that `get_tree_nodev` calls for a new super block.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
unsafe extern "C" fn fill_super<T: FileSystem>(
    sb: *mut bindings::super_block,
    fc: *mut bindings::fs_context,
) -> c_int {
    // SAFETY: `get_tree_nodev` passes a new, not yet visible super block and
    // the live context it was made from.
    let (sb, _fc) = unsafe { (SuperBlock::<T>::from_raw(sb), FsContext::<T>::from_raw(fc)) };
    from_result(|| T::fill_super(sb).map(|()| 0))
}

/// `fs_context_operations.get_tree`: `get_tree_nodev(fc, fill_super)`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn get_tree<T: FileSystem>(fc: *mut bindings::fs_context) -> c_int {
    // SAFETY: the VFS passes a live context.
    unsafe { bindings::get_tree_nodev(fc, Some(fill_super::<T>)) }
}

/// `fs_context_operations.free`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn free_fc<T: FileSystem>(fc: *mut bindings::fs_context) {
    // SAFETY: the VFS passes the context it is about to free; nobody else
    // uses it.
    let fc = unsafe { FsContext::<T>::from_raw(fc) };
    drop(fc.take_fs_info());
}

/// `file_system_type.init_fs_context`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn init_fs_context<T: FileSystem>(
    fc: *mut bindings::fs_context,
) -> c_int {
    // SAFETY: the VFS passes a new context it has not shared yet.
    let fc = unsafe { FsContext::<T>::from_raw(fc) };
    from_result(|| T::init_fs_context(fc).map(|()| 0))
}

/// `file_system_type.kill_sb`: frees the fs info, then
/// `kill_litter_super(sb)`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn kill_sb<T: FileSystem>(sb: *mut bindings::super_block) {
    // SAFETY: the VFS calls `kill_sb` once on a super block that is going
    // away; its `s_fs_info` is NULL or the `KBox<T::Info>` moved there from
    // the context, so it is freed exactly once here.
    unsafe {
        let fsi = (*sb).s_fs_info.cast::<T::Info>();
        (*sb).s_fs_info = ptr::null_mut();
        if !fsi.is_null() {
            drop(KBox::from_raw(fsi));
        }
        bindings::kill_litter_super(sb);
    }
}
