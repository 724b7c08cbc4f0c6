// SPDX-License-Identifier: GPL-2.0

//! The adapter between the VFS and `fs.rs`.
//!
//! This is the only file of the module with raw pointers and `unsafe`. It
//! provides:
//!
//! - [`Table`] and [`zeroed`], so `fs.rs` can write the C ops tables as plain
//!   `static`s that name C functions directly;
//! - thin references to VFS objects ([`Inode`], [`Dentry`], [`SuperBlock`],
//!   [`FsContext`], [`FsParameter`], [`File`], [`SeqFile`]) and an owned
//!   [`NewInode`] that is `iput` unless it is handed to a dentry;
//! - the `extern "C"` callbacks the tables name, each of which turns its raw
//!   arguments into those references, calls the function of the same name in
//!   `fs.rs` and turns the `Result` into the C return convention;
//! - [`FsType`] and [`Registration`] for `register_filesystem`;
//! - with `CONFIG_CHECKPOINT`, [`CkptCtx`] and [`FileFs`] for the records a
//!   file system writes into a checkpoint image and gets back at restart,
//!   and the dcache readdir cursor of a directory [`File`].

use crate::fs;
use core::cell::UnsafeCell;
#[cfg(CONFIG_CHECKPOINT)]
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::c_str;
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_char, c_int, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

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
// SAFETY: optional function pointers only.
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
assert_size!(ckpt_file_fs, ckpt_fs_operations);
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
// SAFETY: optional function pointers only.
#[cfg(CONFIG_CHECKPOINT)]
unsafe impl Zeroable for bindings::ckpt_fs_operations {}

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

// ---------------------------------------------------------------------------
// References to VFS objects.
// ---------------------------------------------------------------------------

/// A live `struct inode` the VFS lends us for the duration of a callback.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

impl Inode {
    /// # Safety
    ///
    /// `ptr` points to a live inode that stays live for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Inode {
        // SAFETY: `Inode` is `repr(transparent)` over the C struct and the
        // caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The super block this inode belongs to.
    pub(crate) fn sb(&self) -> &SuperBlock {
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
pub(crate) struct NewInode(NonNull<bindings::inode>);

impl core::ops::Deref for NewInode {
    type Target = Inode;

    fn deref(&self) -> &Inode {
        // SAFETY: we own a reference to the inode, so it is live while `self`
        // is.
        unsafe { Inode::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for NewInode {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the inode and give it back.
        unsafe { bindings::iput(self.0.as_ptr()) }
    }
}

impl NewInode {
    /// `new_inode(sb)`; `None` when out of memory.
    pub(crate) fn new(sb: &SuperBlock) -> Option<NewInode> {
        // SAFETY: `sb` is a live super block.
        NonNull::new(unsafe { bindings::new_inode(sb.as_ptr()) }).map(NewInode)
    }

    /// Gives up ownership without `iput()`, for C calls that consume it.
    fn into_raw(self) -> *mut bindings::inode {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// `inode->i_ino = ino`.
    pub(crate) fn set_ino(&mut self, ino: c_ulong) {
        // SAFETY: the inode is not visible to anyone else yet.
        unsafe { (*self.as_ptr()).i_ino = ino }
    }

    /// `inode_init_owner(&nop_mnt_idmap, inode, dir, mode)`.
    pub(crate) fn init_owner(&mut self, dir: Option<&Inode>, mode: u16) {
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
    pub(crate) fn init_security(&self, dir: &Inode, dentry: &Dentry) -> Result {
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

/// A live `struct dentry` the VFS lends us for the duration of a callback.
#[repr(transparent)]
pub(crate) struct Dentry(Opaque<bindings::dentry>);

impl Dentry {
    /// # Safety
    ///
    /// `ptr` points to a live dentry that stays live for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Dentry {
        // SAFETY: `Dentry` is `repr(transparent)` over the C struct and the
        // caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// The super block of this dentry.
    pub(crate) fn sb(&self) -> &SuperBlock {
        // SAFETY: `d_sb` of a live dentry is set at allocation and outlives it.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).d_sb) }
    }

    /// `d_instantiate(dentry, inode)`: the dentry takes the inode reference.
    pub(crate) fn instantiate(&self, inode: NewInode) {
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
pub(crate) struct DentryRef(NonNull<bindings::dentry>);

#[cfg(CONFIG_CHECKPOINT)]
impl core::ops::Deref for DentryRef {
    type Target = Dentry;

    fn deref(&self) -> &Dentry {
        // SAFETY: we own a reference, so the dentry is live while `self` is.
        unsafe { Dentry::from_raw(self.0.as_ptr()) }
    }
}

#[cfg(CONFIG_CHECKPOINT)]
impl Drop for DentryRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it back.
        unsafe { bindings::dput(self.0.as_ptr()) }
    }
}

/// A live `struct super_block`.
#[repr(transparent)]
pub(crate) struct SuperBlock(Opaque<bindings::super_block>);

impl SuperBlock {
    /// # Safety
    ///
    /// `ptr` points to a live super block that stays live for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a SuperBlock {
        // SAFETY: `SuperBlock` is `repr(transparent)` over the C struct and
        // the caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The `FsInfo` that `init_fs_context` allocated and `sget_fc` moved from
    /// the fs_context to `s_fs_info`.
    pub(crate) fn fs_info(&self) -> &fs::FsInfo {
        // SAFETY: every ramfs_cr super block gets `s_fs_info` from
        // `FsContext::set_fs_info` (a `KBox<FsInfo>`), freed only in
        // `kill_sb`, after which the super block is gone.
        unsafe { &*(*self.as_ptr()).s_fs_info.cast::<fs::FsInfo>() }
    }

    /// The geometry, magic and ops of a fresh super block (the first lines of
    /// `ramfs_fill_super`).
    pub(crate) fn setup(
        &self,
        magic: u32,
        ops: &'static bindings::super_operations,
        time_gran: u32,
    ) {
        // SAFETY: `fill_super` runs before the super block is visible to
        // anyone else.
        unsafe {
            let sb = self.as_ptr();
            (*sb).s_maxbytes = i64::MAX; // MAX_LFS_FILESIZE
            (*sb).s_blocksize = bindings::PAGE_SIZE as c_ulong;
            (*sb).s_blocksize_bits = bindings::PAGE_SHIFT as u8;
            (*sb).s_magic = magic as c_ulong;
            (*sb).s_op = ops;
            (*sb).s_time_gran = time_gran;
        }
    }

    /// `sb->s_root = d_make_root(inode)`; `ENOMEM` if that fails.
    pub(crate) fn make_root(&self, inode: NewInode) -> Result {
        // SAFETY: `d_make_root` consumes the inode reference (it `iput`s on
        // failure); the super block is not yet visible.
        unsafe {
            let root = bindings::d_make_root(inode.into_raw());
            (*self.as_ptr()).s_root = root;
            if root.is_null() {
                return Err(ENOMEM);
            }
        }
        Ok(())
    }
}

/// A `struct fs_context` being set up by `mount(2)` / `fsconfig(2)`.
#[repr(transparent)]
pub(crate) struct FsContext(Opaque<bindings::fs_context>);

/// An option `fs_parse` recognised: its `opt` and its integer value.
pub(crate) struct ParsedOpt {
    pub(crate) opt: c_int,
    pub(crate) uint_32: u32,
}

impl FsContext {
    /// # Safety
    ///
    /// `ptr` points to a live fs_context that the caller has exclusive use of
    /// for `'a` (the VFS serialises the fs_context callbacks).
    unsafe fn from_raw<'a>(ptr: *mut bindings::fs_context) -> &'a mut FsContext {
        // SAFETY: `FsContext` is `repr(transparent)` over the C struct; the
        // caller guarantees liveness and exclusivity for `'a`.
        unsafe { &mut *ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::fs_context {
        self.0.get()
    }

    /// Stores the fs info and the context ops (end of `init_fs_context`).
    pub(crate) fn init(
        &mut self,
        fsi: KBox<fs::FsInfo>,
        ops: &'static bindings::fs_context_operations,
    ) {
        // SAFETY: exclusive access; ownership of the box moves to
        // `s_fs_info`, taken back by `take_fs_info` or `kill_sb`.
        unsafe {
            (*self.as_ptr()).s_fs_info = KBox::into_raw(fsi).cast();
            (*self.as_ptr()).ops = ops;
        }
    }

    /// The fs info while the context owns it.
    pub(crate) fn fs_info_mut(&mut self) -> Option<&mut fs::FsInfo> {
        // SAFETY: `s_fs_info` is NULL or the `KBox<FsInfo>` from `init`;
        // access is exclusive through `&mut self`.
        unsafe { (*self.as_ptr()).s_fs_info.cast::<fs::FsInfo>().as_mut() }
    }

    /// Takes the fs info back (NULL once `sget_fc` gave it to a super block).
    pub(crate) fn take_fs_info(&mut self) -> Option<KBox<fs::FsInfo>> {
        // SAFETY: exclusive access; `s_fs_info` is NULL or a pointer from
        // `KBox::into_raw` that we reset so it is freed once.
        unsafe {
            let p = (*self.as_ptr()).s_fs_info.cast::<fs::FsInfo>();
            (*self.as_ptr()).s_fs_info = ptr::null_mut();
            (!p.is_null()).then(|| KBox::from_raw(p))
        }
    }

    /// `fs_parse(fc, specs, param, &result)`: `Ok(None)` for `-ENOPARAM`
    /// (not one of ours), `Err` for a bad value (already logged by
    /// `fs_parse` as "ramfs_cr: Bad value for 'mode'").
    pub(crate) fn parse<const N: usize>(
        &mut self,
        specs: &'static Table<[bindings::fs_parameter_spec; N]>,
        param: &FsParameter,
    ) -> Result<Option<ParsedOpt>> {
        // `fs_parse` walks the table up to the `fsparam_end()` entry.
        if specs.0.last().map_or(true, |end| !end.name.is_null()) {
            return Err(EINVAL);
        }
        let mut result = bindings::fs_parse_result::default();
        // SAFETY: the context, the table (NULL-terminated, checked above) and
        // the parameter are live; `result` is a local that `fs_parse` fills.
        let ret = unsafe {
            bindings::fs_parse(self.as_ptr(), specs.0.as_ptr(), param.as_ptr(), &mut result)
        };
        if is_enoparam(ret) {
            return Ok(None);
        }
        let opt = to_result_int(ret)?;
        // SAFETY: `result` was zeroed by `default()` and every member of the
        // union is a plain integer, so reading `uint_32` is always defined.
        let uint_32 = unsafe { result.__bindgen_anon_1.uint_32 };
        Ok(Some(ParsedOpt { opt, uint_32 }))
    }

    /// `vfs_parse_fs_param_source(fc, param)`: `Ok(true)` if it was `source`.
    pub(crate) fn parse_source(&mut self, param: &FsParameter) -> Result<bool> {
        // SAFETY: the context and parameter are live and ours for the call.
        let ret = unsafe { bindings::vfs_parse_fs_param_source(self.as_ptr(), param.as_ptr()) };
        if is_enoparam(ret) {
            return Ok(false);
        }
        to_result(ret).map(|()| true)
    }

    /// Logs "`prefix`: Unknown parameter '`key`'" as an error through the
    /// fs_context log (`errorf`): dmesg for `mount(2)`, the fd for `fsopen`.
    pub(crate) fn log_unknown_param(&self, prefix: &CStr, param: &FsParameter) {
        // SAFETY: `log.log` is NULL (printk) or the context's live log;
        // the format takes one `%s`, matched by the NUL-terminated `key`.
        unsafe {
            bindings::logfc(
                (*self.as_ptr()).log.log,
                prefix.as_char_ptr(),
                b'e' as c_char,
                c_str!("Unknown parameter '%s'").as_char_ptr(),
                (*param.as_ptr()).key,
            )
        }
    }
}

/// A mount parameter being parsed.
#[repr(transparent)]
pub(crate) struct FsParameter(Opaque<bindings::fs_parameter>);

impl FsParameter {
    /// # Safety
    ///
    /// `ptr` points to a live parameter for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::fs_parameter) -> &'a FsParameter {
        // SAFETY: `repr(transparent)` over the C struct, live for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::fs_parameter {
        self.0.get()
    }
}

/// A `struct file` being opened (`->tmpfile`).
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

impl File {
    /// # Safety
    ///
    /// `ptr` points to a live file for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a File {
        // SAFETY: `repr(transparent)` over the C struct, live for `'a`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }

    /// `file_dentry(file)`.
    pub(crate) fn dentry(&self) -> &Dentry {
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
    pub(crate) fn dcache_cursor(&self) -> Result<(i64, Option<DentryRef>, Option<DentryRef>)> {
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
        Ok((
            pos,
            NonNull::new(prev).map(DentryRef),
            NonNull::new(next).map(DentryRef),
        ))
    }

    /// `dcache_dir_seat(file, match, arg)`: puts the reader before the first
    /// child for which `accept` returns true (or past the last one) and
    /// returns the new position.  `accept` runs under the directory's
    /// `d_lock` and must not sleep.  `EINVAL` for a file not opened by
    /// `dcache_dir_open`.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn dcache_seat(&self, mut accept: impl FnMut(&Dentry) -> bool) -> Result<i64> {
        if !self.is_dcache_dir() {
            return Err(EINVAL);
        }
        /// The C callback: `arg` is the `&mut dyn FnMut` below.
        ///
        /// # Safety
        ///
        /// Only `dcache_dir_seat` calls it, with the `arg` passed below and
        /// a live child.
        unsafe extern "C" fn trampoline(child: *mut bindings::dentry, arg: *mut c_void) -> bool {
            // SAFETY: `arg` is the `&mut &mut dyn FnMut` passed to
            // `dcache_dir_seat` below, live for that call; `child` is a
            // positive child, live under the parent's `d_lock` it holds.
            unsafe {
                let accept = &mut *arg.cast::<&mut dyn FnMut(&Dentry) -> bool>();
                (*accept)(Dentry::from_raw(child))
            }
        }
        let mut accept: &mut dyn FnMut(&Dentry) -> bool = &mut accept;
        // SAFETY: the file is live and was opened by `dcache_dir_open`
        // (checked above); `trampoline` and its argument live for the call.
        Ok(unsafe {
            bindings::dcache_dir_seat(
                self.as_ptr(),
                Some(trampoline),
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
    pub(crate) fn d_tmpfile(&self, inode: NewInode) {
        // SAFETY: the VFS calls `->tmpfile` with a file whose dentry is a
        // fresh negative dentry; `d_tmpfile` consumes the inode reference.
        unsafe { bindings::d_tmpfile(self.as_ptr(), inode.into_raw()) }
    }
}

/// A `/proc/mounts`-style seq_file.
#[repr(transparent)]
pub(crate) struct SeqFile(Opaque<bindings::seq_file>);

impl SeqFile {
    /// # Safety
    ///
    /// `ptr` points to a live seq_file for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a SeqFile {
        // SAFETY: `repr(transparent)` over the C struct, live for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// `seq_printf(m, ",mode=%o", mode)`.
    pub(crate) fn print_mode_option(&self, mode: u16) {
        // SAFETY: the seq_file is live; `%o` takes an `unsigned int`.
        unsafe {
            bindings::seq_printf(
                self.0.get(),
                c_str!(",mode=%o").as_char_ptr(),
                c_uint::from(mode),
            );
        }
    }
}

/// The checkpoint operation a `->checkpoint` call belongs to.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct CkptCtx(NonNull<bindings::ckpt_ctx>);

#[cfg(CONFIG_CHECKPOINT)]
impl CkptCtx {
    /// `generic_file_checkpoint(ctx, file)`: the FILE and FILE_NAME records.
    pub(crate) fn generic_file(&self, file: &File) -> Result {
        // SAFETY: `self` is the context of the `->checkpoint` call that
        // `file` is being saved by (see `dir_checkpoint`).
        to_result(unsafe { bindings::generic_file_checkpoint(self.0.as_ptr(), file.as_ptr()) })
    }

    /// `ckpt_write_file_fs(ctx, file, version, data, len)`: the FILE_FS
    /// record of `file`, after `generic_file`.
    pub(crate) fn write_file_fs(&self, file: &File, version: u32, data: &[u8]) -> Result {
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
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) struct FileFs<'a> {
    /// The version of ramfs_cr's format the record was written in.
    pub(crate) version: u32,
    /// Its data.
    pub(crate) data: &'a [u8],
}

// ---------------------------------------------------------------------------
// The callbacks named in the ops tables of `fs.rs`.
// ---------------------------------------------------------------------------

/// `inode_operations.link`: `simple_link`, then `fs::linked`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn link(
    old_dentry: *mut bindings::dentry,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: the VFS passes a live positive dentry, the live parent
    // directory of `dentry` (its `i_rwsem` held) and a live negative dentry.
    let ret = unsafe { bindings::simple_link(old_dentry, dir, dentry) };
    if ret == 0 {
        // SAFETY: as above; `dentry` is now positive.
        fs::linked(unsafe { Dentry::from_raw(dentry) });
    }
    ret
}

/// `inode_operations.rename`: `simple_rename`, then `fs::renamed`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn rename(
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
        let (old, new) = unsafe { (Dentry::from_raw(old_dentry), Dentry::from_raw(new_dentry)) };
        fs::renamed(old, new, flags & bindings::RENAME_EXCHANGE != 0);
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
pub(crate) unsafe extern "C" fn dir_checkpoint(
    ctx: *mut bindings::ckpt_ctx,
    file: *mut bindings::file,
) -> c_int {
    let Some(ctx) = NonNull::new(ctx) else {
        return -(bindings::EINVAL as c_int);
    };
    // SAFETY: the core passes the file it is saving, live for the call.
    let file = unsafe { File::from_raw(file) };
    from_result(|| fs::dir_checkpoint(&CkptCtx(ctx), file).map(|()| 0))
}

/// `ckpt_fs_operations.restore_file`.
///
/// # Safety
///
/// Only the checkpoint core calls this, through `ckpt_ops` of our
/// `file_system_type`, with a file of ours it just reopened and nobody
/// else uses yet, and a record it checked the framing of.
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) unsafe extern "C" fn restore_file(
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
            File::from_raw(file),
            FileFs {
                version: rec.fs_version,
                data,
            },
        )
    };
    from_result(|| fs::restore_file(file, &rec).map(|()| 0))
}

/// `inode_operations.mknod`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn mknod(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: the VFS passes a live parent directory (its `i_rwsem` held)
    // and a live negative dentry for the duration of the call.
    let (dir, dentry) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    from_result(|| fs::mknod(dir, dentry, mode, dev).map(|()| 0))
}

/// `inode_operations.mkdir`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn mkdir(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: as for `mknod`.
    let (dir, dentry) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    from_result(|| fs::mkdir(dir, dentry, mode).map(|()| 0))
}

/// `inode_operations.create`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn create(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: as for `mknod`.
    let (dir, dentry) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    from_result(|| fs::create(dir, dentry, mode).map(|()| 0))
}

/// `inode_operations.symlink`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn symlink(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    symname: *const c_char,
) -> c_int {
    // SAFETY: as for `mknod`; `symname` is a NUL-terminated kernel copy of
    // the user's string, live for the call.
    let (dir, dentry, symname) = unsafe {
        (
            Inode::from_raw(dir),
            Dentry::from_raw(dentry),
            CStr::from_char_ptr(symname),
        )
    };
    from_result(|| fs::symlink(dir, dentry, symname).map(|()| 0))
}

/// `inode_operations.tmpfile`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn tmpfile(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    file: *mut bindings::file,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: the VFS passes a live directory and a live file being opened.
    let (dir, new_file) = unsafe { (Inode::from_raw(dir), File::from_raw(file)) };
    let error = from_result(|| fs::tmpfile(dir, new_file, mode).map(|()| 0));
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
pub(crate) unsafe extern "C" fn show_options(
    m: *mut bindings::seq_file,
    root: *mut bindings::dentry,
) -> c_int {
    // SAFETY: the VFS passes a live seq_file and the live root of a mounted
    // ramfs_cr super block.
    let (m, root) = unsafe { (SeqFile::from_raw(m), Dentry::from_raw(root)) };
    fs::show_options(m, root);
    0
}

/// `fs_context_operations.parse_param`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn parse_param(
    fc: *mut bindings::fs_context,
    param: *mut bindings::fs_parameter,
) -> c_int {
    // SAFETY: the VFS passes the live context (serialised by the caller) and
    // a live parameter.
    let (fc, param) = unsafe { (FsContext::from_raw(fc), FsParameter::from_raw(param)) };
    from_result(|| fs::parse_param(fc, param).map(|()| 0))
}

/// The `fill_super` that `get_tree_nodev` calls for a new super block.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
unsafe extern "C" fn fill_super(
    sb: *mut bindings::super_block,
    fc: *mut bindings::fs_context,
) -> c_int {
    // SAFETY: `get_tree_nodev` passes a new, not yet visible super block and
    // the live context it was made from.
    let (sb, _fc) = unsafe { (SuperBlock::from_raw(sb), FsContext::from_raw(fc)) };
    from_result(|| fs::fill_super(sb).map(|()| 0))
}

/// `fs_context_operations.get_tree`: `get_tree_nodev(fc, fill_super)`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn get_tree(fc: *mut bindings::fs_context) -> c_int {
    // SAFETY: the VFS passes a live context.
    unsafe { bindings::get_tree_nodev(fc, Some(fill_super)) }
}

/// `fs_context_operations.free`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn free_fc(fc: *mut bindings::fs_context) {
    // SAFETY: the VFS passes the context it is about to free; nobody else
    // uses it.
    let fc = unsafe { FsContext::from_raw(fc) };
    drop(fc.take_fs_info());
}

/// `file_system_type.init_fs_context`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> c_int {
    // SAFETY: the VFS passes a new context it has not shared yet.
    let fc = unsafe { FsContext::from_raw(fc) };
    from_result(|| fs::init_fs_context(fc).map(|()| 0))
}

/// `file_system_type.kill_sb`: frees the fs info, then
/// `kill_litter_super(sb)`.
///
/// # Safety
///
/// Only the VFS calls this, through the ops table that names it, with
/// the arguments and locking its `struct ..._operations` member documents.
pub(crate) unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
    // SAFETY: the VFS calls `kill_sb` once on a super block that is going
    // away; its `s_fs_info` is NULL or the `KBox<FsInfo>` moved there from
    // the context, so it is freed exactly once here.
    unsafe {
        let fsi = (*sb).s_fs_info.cast::<fs::FsInfo>();
        (*sb).s_fs_info = ptr::null_mut();
        if !fsi.is_null() {
            drop(KBox::from_raw(fsi));
        }
        bindings::kill_litter_super(sb);
    }
}

// ---------------------------------------------------------------------------
// Registration.
// ---------------------------------------------------------------------------

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
