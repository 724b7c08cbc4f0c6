// SPDX-License-Identifier: GPL-2.0

//! The adapter between the VFS and a file system written in Rust.
//!
//! This directory holds every raw pointer and every `unsafe` block of the
//! module, one file per VFS object:
//!
//! - `inode.rs`: [`Inode`] and the owned [`NewInode`] (`iput` unless it is
//!   handed to a dentry);
//! - `dentry.rs`: [`Dentry`] and the counted [`DentryRef`];
//! - `super_block.rs`: [`SuperBlock`], [`FsContext`], [`FsParameter`],
//!   [`SeqFile`];
//! - `file.rs`: [`File`], with the dcache readdir cursor of a directory;
//! - `checkpoint.rs` (`CONFIG_CHECKPOINT`): [`CkptCtx`] and [`FileFs`], the
//!   records a file system writes into a checkpoint image and gets back at
//!   restart, and the walk of a frozen super block it saves whole;
//! - `callbacks.rs`: the `extern "C"` functions a file system puts in its
//!   ops tables, generic over [`FileSystem`]: raw arguments in, the trait's
//!   method called, `Result` to the C return convention out;
//! - `registration.rs`: [`FsType`] and [`Registration`].
//!
//! This file has [`Table`] and [`zeroed`], so that a file system writes its
//! C ops tables as plain `static`s that name C functions directly, the
//! compile-time layout checks, and the [`FileSystem`] trait: what the
//! adapter calls.  The adapter never names the file system's code; the file
//! system names the adapter's callbacks, instantiated for itself.

use core::ptr;
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;
use kernel::str::CStr;

mod callbacks;
#[cfg(CONFIG_CHECKPOINT)]
mod checkpoint;
mod dentry;
mod file;
mod inode;
mod registration;
mod super_block;

pub(crate) use callbacks::*;
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) use checkpoint::{CkptCtx, FileFs, RsCtx, SbCtx};
pub(crate) use dentry::Dentry;
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) use dentry::DentryRef;
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) use file::DirCursor;
pub(crate) use file::File;
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) use inode::{Attr, InodeRef, Timestamp};
pub(crate) use inode::{Inode, NewInode};
pub(crate) use registration::{FsType, Registration};
pub(crate) use super_block::{FsContext, FsParameter, SeqFile, SuperBlock};

/// A file system the adapter's callbacks serve: the callbacks a file
/// system names in its ops tables are instantiated for it
/// (`mknod::<MyFs>`), and call these methods with safe references.
pub(crate) trait FileSystem: Sized + 'static {
    /// Per-mount state: made by [`FileSystem::init_fs_context`], moved to
    /// the super block by `sget_fc`, freed at `kill_sb`.
    type Info: Send + Sync;

    /// `file_system_type.init_fs_context`: the context's [`Self::Info`]
    /// and ops ([`FsContext::init`]).
    fn init_fs_context(fc: &mut FsContext<Self>) -> Result;
    /// `fs_context_operations.parse_param`.
    fn parse_param(fc: &mut FsContext<Self>, param: &FsParameter) -> Result;
    /// The `fill_super` of `get_tree_nodev`.
    fn fill_super(sb: &SuperBlock<Self>) -> Result;
    /// `super_operations.show_options`.
    fn show_options(m: &SeqFile, root: &Dentry<Self>);
    /// `inode_operations.mknod`.
    fn mknod(dir: &Inode<Self>, dentry: &Dentry<Self>, mode: u16, dev: u32) -> Result;
    /// `inode_operations.mkdir`.
    fn mkdir(dir: &Inode<Self>, dentry: &Dentry<Self>, mode: u16) -> Result;
    /// `inode_operations.create`.
    fn create(dir: &Inode<Self>, dentry: &Dentry<Self>, mode: u16) -> Result;
    /// `inode_operations.symlink`.
    fn symlink(dir: &Inode<Self>, dentry: &Dentry<Self>, symname: &CStr) -> Result;
    /// `inode_operations.tmpfile`; the adapter finishes the open.
    fn tmpfile(dir: &Inode<Self>, file: &File<Self>, mode: u16) -> Result;
    /// After `simple_link()` made `dentry` a new name of an inode ([`link`]).
    #[cfg(CONFIG_CHECKPOINT)]
    fn linked(dentry: &Dentry<Self>);
    /// After `simple_rename()` ([`rename`]): the VFS is about to move `old`
    /// (and with `RENAME_EXCHANGE` `new` too, first) to the head of its new
    /// parent's list.
    #[cfg(CONFIG_CHECKPOINT)]
    fn renamed(old: &Dentry<Self>, new: &Dentry<Self>, exchange: bool);
    /// `file_operations.checkpoint` of a directory ([`dir_checkpoint`]).
    #[cfg(CONFIG_CHECKPOINT)]
    fn dir_checkpoint(ctx: &CkptCtx, file: &File<Self>) -> Result;
    /// `ckpt_fs_operations.restore_file` ([`restore_file`]).
    #[cfg(CONFIG_CHECKPOINT)]
    fn restore_file(file: &File<Self>, rec: &FileFs<'_>) -> Result;
    /// `ckpt_fs_operations.checkpoint_sb` ([`checkpoint_sb`]): save the
    /// whole of a frozen super block.
    #[cfg(CONFIG_CHECKPOINT)]
    fn checkpoint_sb(ctx: &SbCtx<'_, Self>) -> Result;
    /// `ckpt_fs_operations.restore_sb` ([`restore_sb`]): rebuild a saved
    /// super block, from records in format `version`, into an empty one.
    #[cfg(CONFIG_CHECKPOINT)]
    fn restore_sb(ctx: &RsCtx<'_, Self>, version: u32) -> Result;
}

/// A C struct (ops table, parameter table) kept in a `static`.
#[repr(transparent)]
pub(crate) struct Table<T>(pub(crate) T);

/// C tables a `Table` may hold: structs of function pointers, integers and
/// pointers to immutable statics (names, other tables).
///
/// # Safety
///
/// Only implement for such `bindgen` structs: sharing one that is never
/// written must be sharing read-only data.
pub(crate) unsafe trait CTable {}

// SAFETY: optional function pointers and an owner pointer, never written.
unsafe impl CTable for bindings::file_operations {}
// SAFETY: optional function pointers only.
unsafe impl CTable for bindings::inode_operations {}
// SAFETY: optional function pointers only.
unsafe impl CTable for bindings::super_operations {}
// SAFETY: optional function pointers only.
unsafe impl CTable for bindings::fs_context_operations {}
// SAFETY: a static name, a type function pointer, integers and a pointer
// to static data.
unsafe impl CTable for bindings::fs_parameter_spec {}
// SAFETY: optional function pointers and an integer only.
#[cfg(CONFIG_CHECKPOINT)]
unsafe impl CTable for bindings::ckpt_fs_operations {}
// SAFETY: an array of such tables is such a table.
unsafe impl<T: CTable, const N: usize> CTable for [T; N] {}

// SAFETY: a `Table` is never written after its constant initialiser, and
// `T: CTable` holds only function pointers, integers and pointers to other
// immutable statics, so sharing it between threads is sharing read-only data.
unsafe impl<T: CTable> Sync for Table<T> {}

/// `offset_of!(bindings::$s, $rust) == LAYOUT_OFFSETOF_$s__$c` at compile
/// time: C's offsetof, emitted by rust/bindings/bindings_helper.h, against
/// bindgen's layout.
macro_rules! assert_offset {
    ($s:ident, $rust:ident, $c:ident) => {
        const _: () = assert!(
            core::mem::offset_of!(bindings::$s, $rust)
        == ::kernel::macros::paste!(bindings::[<LAYOUT_OFFSETOF_ $s __ $c>]) as usize,
            concat!(
                "bindgen's ",
                stringify!($s),
                ".",
                stringify!($c),
                " is not where C has it"
            )
        );
    };
    ($s:ident, $m:ident) => {
        assert_offset!($s, $m, $m);
    };
}

/// `size_of::<bindings::$s>() == LAYOUT_SIZEOF_$s` at compile time.
macro_rules! assert_size {
    ($($s:ident),*) => {$(
        const _: () = assert!(
            core::mem::size_of::<bindings::$s>()
                == ::kernel::macros::paste!(bindings::[<LAYOUT_SIZEOF_ $s>]) as usize,
            concat!("bindgen's struct ", stringify!($s), " is not C's size")
        );
    )*};
}

// Every member this module reads or writes through a raw pointer, and every
// C struct it builds as a value.
assert_offset!(inode, i_mode);
assert_offset!(inode, i_op);
assert_offset!(inode, i_sb);
assert_offset!(inode, i_mapping);
assert_offset!(inode, i_ino);
// `i_fop` is the first member of an anonymous union.
assert_offset!(inode, __bindgen_anon_3, i_fop);
assert_offset!(address_space, a_ops);
assert_offset!(dentry, d_name);
assert_offset!(dentry, d_sb);
assert_offset!(dentry, d_fsdata);
assert_offset!(super_block, s_blocksize_bits);
assert_offset!(super_block, s_blocksize);
assert_offset!(super_block, s_maxbytes);
assert_offset!(super_block, s_op);
assert_offset!(super_block, s_magic);
assert_offset!(super_block, s_root);
assert_offset!(super_block, s_fs_info);
assert_offset!(super_block, s_time_gran);
assert_offset!(fs_context, ops);
assert_offset!(fs_context, s_fs_info);
assert_offset!(fs_context, log);
assert_offset!(fs_parameter, key);
assert_offset!(file, f_op);
assert_offset!(file_system_type, owner);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(file_system_type, ckpt_ops);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_file_fs, len);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_file_fs, data);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_file_fs, pos);
#[cfg(CONFIG_CHECKPOINT)]
assert_size!(
    ckpt_file_fs,
    ckpt_fs_operations,
    kstat,
    ckpt_sb_rec,
    timespec64
);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_fs_operations, checkpoint_sb);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_fs_operations, sb_version);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_fs_operations, restore_sb);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_sb_rec, len);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(ckpt_sb_rec, data);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(qstr, name);
#[cfg(CONFIG_CHECKPOINT)]
const _: () = assert!(
    core::mem::offset_of!(bindings::qstr, __bindgen_anon_1.__bindgen_anon_1.len)
        == bindings::LAYOUT_OFFSETOF_qstr__len,
    "bindgen's qstr.len is not where C has it"
);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, mode);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, nlink);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, rdev);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, size);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, atime);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, mtime);
#[cfg(CONFIG_CHECKPOINT)]
assert_offset!(kstat, ctime);
assert_size!(
    file_operations,
    inode_operations,
    super_operations,
    fs_context_operations,
    fs_parameter_spec,
    file_system_type
);

impl<T> core::ops::Deref for Table<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// C structs for which all-zero bytes are a valid value (NULL pointers,
/// `None` callbacks, zero integers).
///
/// # Safety
///
/// Only implement for `bindgen` structs made of integers, raw pointers and
/// `Option`s of function pointers.
pub(crate) unsafe trait Zeroable {}

// SAFETY: integers, raw pointers and optional function pointers only.
unsafe impl Zeroable for bindings::file_operations {}
// SAFETY: integers, raw pointers and optional function pointers only.
unsafe impl Zeroable for bindings::inode_operations {}
// SAFETY: integers, raw pointers and optional function pointers only.
unsafe impl Zeroable for bindings::super_operations {}
// SAFETY: integers, raw pointers and optional function pointers only.
unsafe impl Zeroable for bindings::fs_context_operations {}
// SAFETY: integers, raw pointers, lock class keys (plain counters) and
// optional function pointers only; `{}` initialises it the same way in C.
unsafe impl Zeroable for bindings::file_system_type {}
// SAFETY: integers, raw pointers and an optional function pointer only.
unsafe impl Zeroable for bindings::fs_parameter_spec {}
// SAFETY: optional function pointers and an integer only.
#[cfg(CONFIG_CHECKPOINT)]
unsafe impl Zeroable for bindings::ckpt_fs_operations {}
// SAFETY: integers and integer-only structs (ids, timespecs) only.
#[cfg(CONFIG_CHECKPOINT)]
unsafe impl Zeroable for bindings::kstat {}
// SAFETY: integers and a pointer, which may be NULL.
#[cfg(CONFIG_CHECKPOINT)]
unsafe impl Zeroable for bindings::ckpt_sb_rec {}

/// The all-zero value of `T`: what C's `{}` / omitted members give.
pub(crate) const fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `T: Zeroable` promises that all-zero bytes are a valid `T`.
    unsafe { core::mem::zeroed() }
}

/// `fsparam_u32oct(name, opt)`: a `u32` parameter parsed in base 8.
pub(crate) const fn fsparam_u32oct(name: &'static CStr, opt: u8) -> bindings::fs_parameter_spec {
    bindings::fs_parameter_spec {
        name: name.as_char_ptr(),
        type_: Some(bindings::fs_param_is_u32),
        opt,
        flags: 0,
        // The number base for `fs_param_is_u32`, as `fsparam_u32oct` stores it.
        data: 8usize as *const core::ffi::c_void,
    }
}

/// The `{}` entry that ends an `fs_parameter_spec` table.
pub(crate) const fn fsparam_end() -> bindings::fs_parameter_spec {
    zeroed()
}

/// `simple_dir_operations`, used for directories without `CONFIG_CHECKPOINT`.
#[cfg_attr(CONFIG_CHECKPOINT, allow(dead_code))]
pub(crate) fn simple_dir_operations() -> &'static bindings::file_operations {
    // SAFETY: `simple_dir_operations` is an exported `const` C object that
    // lives as long as the kernel.
    unsafe { &*ptr::addr_of!(bindings::simple_dir_operations) }
}

/// `page_symlink_inode_operations`, for symlinks stored in the page cache.
pub(crate) fn page_symlink_inode_operations() -> &'static bindings::inode_operations {
    // SAFETY: `page_symlink_inode_operations` is an exported `const` C object
    // that lives as long as the kernel.
    unsafe { &*ptr::addr_of!(bindings::page_symlink_inode_operations) }
}

/// `get_next_ino()`: a fresh inode number for an in-memory file system.
pub(crate) fn get_next_ino() -> c_ulong {
    // SAFETY: `get_next_ino` has no preconditions.
    unsafe { bindings::get_next_ino() as c_ulong }
}

/// `get_random_u64()`.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) fn random_u64() -> u64 {
    // SAFETY: `get_random_u64` has no preconditions.
    unsafe { bindings::get_random_u64() }
}

/// Turns a negative C return value into an `Err`, keeping the value.
fn to_result_int(ret: c_int) -> Result<c_int> {
    to_result(ret.min(0)).map(|()| ret)
}

/// `-ENOPARAM`: "this parameter is not mine".
fn is_enoparam(ret: c_int) -> bool {
    ret == -(bindings::ENOPARAM as c_int)
}
