// SPDX-License-Identifier: GPL-2.0

//! Super blocks, the mount context and its parameters, and the seq_file
//! of `/proc/mounts`.

use super::{is_enoparam, to_result_int, FileSystem, NewInode, Table};
use core::marker::PhantomData;
use core::ptr;
use kernel::bindings;
use kernel::c_str;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A live `struct super_block` of a `T` file system.
#[repr(transparent)]
pub(crate) struct SuperBlock<T: FileSystem>(Opaque<bindings::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `ptr` points to a live super block that stays live for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a SuperBlock<T> {
        // SAFETY: `SuperBlock` is `repr(transparent)` over the C struct and
        // the caller guarantees it is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The `FsInfo` that `init_fs_context` allocated and `sget_fc` moved from
    /// the fs_context to `s_fs_info`.
    pub(crate) fn fs_info(&self) -> &T::Info {
        // SAFETY: every ramfs_cr super block gets `s_fs_info` from
        // `FsContext::set_fs_info` (a `KBox<FsInfo>`), freed only in
        // `kill_sb`, after which the super block is gone.
        unsafe { &*(*self.as_ptr()).s_fs_info.cast::<T::Info>() }
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

    /// `dget(sb->s_root)`: the root of a super block that `fill_super` set
    /// up, for as long as the super block is mounted.
    #[cfg(CONFIG_CHECKPOINT)]
    pub(crate) fn root(&self) -> Result<super::DentryRef<T>> {
        // SAFETY: the super block is live; `s_root` was set by `fill_super`
        // and stays until the super block is killed, which a mount held by
        // the caller (the core holds one for checkpoint and restart)
        // prevents; `dget(NULL)` is NULL.
        let root = unsafe { bindings::dget((*self.as_ptr()).s_root) };
        ptr::NonNull::new(root)
            .map(|p| super::DentryRef(p, PhantomData))
            .ok_or(EINVAL)
    }

    /// `sb->s_root = d_make_root(inode)`; `ENOMEM` if that fails.
    pub(crate) fn make_root(&self, inode: NewInode<T>) -> Result {
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
pub(crate) struct FsContext<T: FileSystem>(Opaque<bindings::fs_context>, PhantomData<T>);

/// An option `fs_parse` recognised: its `opt` and its integer value.
pub(crate) struct ParsedOpt {
    pub(crate) opt: c_int,
    pub(crate) uint_32: u32,
}

impl<T: FileSystem> FsContext<T> {
    /// # Safety
    ///
    /// `ptr` points to a live fs_context that the caller has exclusive use of
    /// for `'a` (the VFS serialises the fs_context callbacks).
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::fs_context) -> &'a mut FsContext<T> {
        // SAFETY: `FsContext` is `repr(transparent)` over the C struct; the
        // caller guarantees liveness and exclusivity for `'a`.
        unsafe { &mut *ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::fs_context {
        self.0.get()
    }

    /// Stores the fs info and the context ops (end of `init_fs_context`).
    pub(crate) fn init(
        &mut self,
        fsi: KBox<T::Info>,
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
    pub(crate) fn fs_info_mut(&mut self) -> Option<&mut T::Info> {
        // SAFETY: `s_fs_info` is NULL or the `KBox<FsInfo>` from `init`;
        // access is exclusive through `&mut self`.
        unsafe { (*self.as_ptr()).s_fs_info.cast::<T::Info>().as_mut() }
    }

    /// Takes the fs info back (NULL once `sget_fc` gave it to a super block).
    pub(crate) fn take_fs_info(&mut self) -> Option<KBox<T::Info>> {
        // SAFETY: exclusive access; `s_fs_info` is NULL or a pointer from
        // `KBox::into_raw` that we reset so it is freed once.
        unsafe {
            let p = (*self.as_ptr()).s_fs_info.cast::<T::Info>();
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
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::fs_parameter) -> &'a FsParameter {
        // SAFETY: `repr(transparent)` over the C struct, live for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::fs_parameter {
        self.0.get()
    }
}

/// A `/proc/mounts`-style seq_file.
#[repr(transparent)]
pub(crate) struct SeqFile(Opaque<bindings::seq_file>);

impl SeqFile {
    /// # Safety
    ///
    /// `ptr` points to a live seq_file for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a SeqFile {
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
