// SPDX-License-Identifier: GPL-2.0

//! The ramfs_cr file system: `fs/ramfs/inode.c` + `file-mmu.c` of Linux 6.12,
//! function for function, with these differences:
//!
//! - directories and regular files have a `.checkpoint` file operation when
//!   the kernel has `CONFIG_CHECKPOINT`: `generic_file_checkpoint` for
//!   regular files; for directories [`dir_checkpoint`], which also saves
//!   where the reader stands by the identity of the entries around it (see
//!   "Directory positions" below), and [`restore_file`] puts it back;
//! - every directory entry carries a sequence number in `d_fsdata`, given
//!   when it is created, linked or renamed;
//! - unknown mount options are refused with `EINVAL` (ramfs ignores them);
//! - the super block magic is [`RAMFS_CR_MAGIC`], not `RAMFS_MAGIC`.
//!
//! # Directory positions
//!
//! `dcache_readdir` keeps a directory's children newest first: an entry is
//! put at the head of the list when it is looked up, created or renamed, and
//! a reader walks from the head towards older entries.  Its position is only
//! an index, so restoring it with `lseek` repeats or skips entries once
//! entries were created or removed in front of the reader.  ramfs_cr numbers
//! its entries from a per-mount counter as they are created, linked or
//! renamed (under the directory's lock, so along the list the numbers go
//! down), and saves a reader as the number of the last entry it went past
//! and of the next one it would return.  Restart puts the reader before that
//! next entry if it still exists; else right after the last one if that
//! still exists; else before the first entry numbered below the next one,
//! i.e. older than it.  The guarantee this gives is in
//! `Documentation/ramfs_cr.rst`.
//!
//! All raw pointers and `unsafe` live in the adapter (`vfs.rs`, `vfs/`),
//! which calls this file through [`FileSystem`], implemented by [`RamfsCr`];
//! this file reads top to bottom like the C: inode creation, directory ops,
//! super ops, mount parameters, fs_context, registration.

use crate::vfs::{self, fsparam_end, fsparam_u32oct, zeroed, FileSystem, Table};
use crate::vfs::{FsParameter, FsType, SeqFile};
use kernel::bindings::{self, S_IALLUGO, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_IRWXUGO};
use kernel::c_str;
use kernel::ffi::c_int;
use kernel::prelude::*;

#[cfg(CONFIG_CHECKPOINT)]
use core::sync::atomic::{AtomicU64, Ordering};

/// ramfs_cr, for the adapter: its callbacks in the ops tables below are
/// instantiated for this type, and call the functions of this file.
pub(crate) struct RamfsCr;

type Inode = vfs::Inode<RamfsCr>;
type NewInode = vfs::NewInode<RamfsCr>;
type Dentry = vfs::Dentry<RamfsCr>;
type File = vfs::File<RamfsCr>;
type SuperBlock = vfs::SuperBlock<RamfsCr>;
type FsContext = vfs::FsContext<RamfsCr>;

impl FileSystem for RamfsCr {
    type Info = FsInfo;

    #[inline]
    fn init_fs_context(fc: &mut FsContext) -> Result {
        init_fs_context(fc)
    }
    #[inline]
    fn parse_param(fc: &mut FsContext, param: &FsParameter) -> Result {
        parse_param(fc, param)
    }
    #[inline]
    fn fill_super(sb: &SuperBlock) -> Result {
        fill_super(sb)
    }
    #[inline]
    fn show_options(m: &SeqFile, root: &Dentry) {
        show_options(m, root)
    }
    #[inline]
    fn mknod(dir: &Inode, dentry: &Dentry, mode: u16, dev: u32) -> Result {
        mknod(dir, dentry, mode, dev)
    }
    #[inline]
    fn mkdir(dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
        mkdir(dir, dentry, mode)
    }
    #[inline]
    fn create(dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
        create(dir, dentry, mode)
    }
    #[inline]
    fn symlink(dir: &Inode, dentry: &Dentry, symname: &CStr) -> Result {
        symlink(dir, dentry, symname)
    }
    #[inline]
    fn tmpfile(dir: &Inode, file: &File, mode: u16) -> Result {
        tmpfile(dir, file, mode)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn linked(dentry: &Dentry) {
        stamp(dentry)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn renamed(old: &Dentry, new: &Dentry, exchange: bool) {
        renamed(old, new, exchange)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn dir_checkpoint(ctx: &vfs::CkptCtx, file: &File) -> Result {
        dir_checkpoint(ctx, file)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn restore_file(file: &File, rec: &vfs::FileFs<'_>) -> Result {
        restore_file(file, rec)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn checkpoint_sb(ctx: &vfs::SbCtx<'_, Self>) -> Result {
        crate::checkpoint::checkpoint_sb(ctx)
    }
    #[cfg(CONFIG_CHECKPOINT)]
    #[inline]
    fn restore_sb(ctx: &vfs::RsCtx<'_, Self>, version: u32) -> Result {
        crate::restore::restore_sb(ctx, version)
    }
}

/// `statfs(2)` `f_type` of a ramfs_cr mount: "RFCR" read as a little-endian
/// `u32` (`RAMFS_MAGIC` is 0x858458f6).
pub(crate) const RAMFS_CR_MAGIC: u32 = 0x5243_4652;

/// Root directory mode when `mode=` is not given.
const RAMFS_DEFAULT_MODE: u16 = 0o755;

/// Per-mount state (`struct ramfs_fs_info` with its `ramfs_mount_opts`).
pub(crate) struct FsInfo {
    mode: u16,
    /// The sequence number the next directory entry gets; 0 means none.
    #[cfg(CONFIG_CHECKPOINT)]
    next_seq: AtomicU64,
    /// A random number naming this mount in directory records, so that a
    /// record is not applied to the numbers of another mount; restart
    /// gives a rebuilt mount the number of the saved one.
    #[cfg(CONFIG_CHECKPOINT)]
    id: AtomicU64,
}

/// Numbers `dentry` as the newest entry of its mount (see "Directory
/// positions").  Called with the parent's `i_rwsem` held exclusively.
#[cfg(CONFIG_CHECKPOINT)]
fn stamp(dentry: &Dentry) {
    let seq = dentry
        .sb()
        .fs_info()
        .next_seq
        .fetch_add(1, Ordering::Relaxed);
    dentry.set_fs_data(seq as usize);
}

/// Without `CONFIG_CHECKPOINT` no reader is ever saved: nothing to number.
#[cfg(not(CONFIG_CHECKPOINT))]
fn stamp(_dentry: &Dentry) {}

#[cfg(CONFIG_CHECKPOINT)]
impl FsInfo {
    /// The random number of this mount.
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    /// The number the next entry gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    /// After a restart rebuilt this mount: the saved mount's number and
    /// next entry number.
    pub(crate) fn set_restored(&self, id: u64, next_seq: u64) {
        self.id.store(id, Ordering::Relaxed);
        self.next_seq.store(next_seq, Ordering::Relaxed);
    }
}

/// The sequence number of an entry (0 for none).
#[cfg(CONFIG_CHECKPOINT)]
pub(crate) fn seq_of(dentry: &Dentry) -> u64 {
    dentry.fs_data() as u64
}

// `u16` views of the `u32` mode constants `bindgen` generates.
const IFMT: u16 = S_IFMT as u16;
const IFREG: u16 = S_IFREG as u16;
const IFDIR: u16 = S_IFDIR as u16;
const IFLNK: u16 = S_IFLNK as u16;

/// `ramfs_get_inode()`.
pub(crate) fn get_inode(
    sb: &SuperBlock,
    dir: Option<&Inode>,
    mode: u16,
    dev: u32,
) -> Option<NewInode> {
    let mut inode = NewInode::new(sb)?;

    inode.set_ino(vfs::get_next_ino());
    inode.init_owner(dir, mode);
    inode.use_ram_mapping();
    inode.init_ts();
    match mode & IFMT {
        IFREG => inode.set_ops(&RAMFS_FILE_INODE_OPERATIONS, &RAMFS_FILE_OPERATIONS),
        IFDIR => {
            inode.set_ops(&RAMFS_DIR_INODE_OPERATIONS, ramfs_dir_operations());
            // Directory inodes start off with i_nlink == 2 (for "." entry).
            inode.inc_nlink();
        }
        IFLNK => {
            inode.set_iop(vfs::page_symlink_inode_operations());
            inode.nohighmem();
        }
        _ => inode.init_special(mode, dev),
    }
    Some(inode)
}

/// `ramfs_mknod()`: file creation. Allocate an inode, and we're done.
fn mknod(dir: &Inode, dentry: &Dentry, mode: u16, dev: u32) -> Result {
    let inode = get_inode(dir.sb(), Some(dir), mode, dev).ok_or(ENOSPC)?;

    inode.init_security(dir, dentry)?;
    dentry.instantiate(inode);
    stamp(dentry);
    dentry.pin(); // Extra count - pin the dentry in core.
    dir.touch_mtime_ctime();
    Ok(())
}

/// `ramfs_mkdir()`.
fn mkdir(dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
    mknod(dir, dentry, mode | IFDIR, 0)?;
    dir.inc_nlink();
    Ok(())
}

/// `ramfs_create()`.
fn create(dir: &Inode, dentry: &Dentry, mode: u16) -> Result {
    mknod(dir, dentry, mode | IFREG, 0)
}

/// `ramfs_symlink()`: the target is stored in the page cache.
fn symlink(dir: &Inode, dentry: &Dentry, symname: &CStr) -> Result {
    let inode = get_inode(dir.sb(), Some(dir), IFLNK | S_IRWXUGO as u16, 0).ok_or(ENOSPC)?;

    inode.init_security(dir, dentry)?;
    inode.page_symlink(symname)?;
    dentry.instantiate(inode);
    stamp(dentry);
    dentry.pin();
    dir.touch_mtime_ctime();
    Ok(())
}

/// After `simple_rename()`: the VFS is about to move `old` (and with
/// `RENAME_EXCHANGE` `new` too, first) to the head of its new parent's list.
#[cfg(CONFIG_CHECKPOINT)]
fn renamed(old: &Dentry, new: &Dentry, exchange: bool) {
    if exchange {
        stamp(new);
    }
    stamp(old);
}

/// `ramfs_tmpfile()`; the adapter finishes the open.
fn tmpfile(dir: &Inode, file: &File, mode: u16) -> Result {
    let inode = get_inode(dir.sb(), Some(dir), mode, 0).ok_or(ENOSPC)?;

    inode.init_security(dir, file.dentry())?;
    file.d_tmpfile(inode);
    Ok(())
}

static RAMFS_DIR_INODE_OPERATIONS: Table<bindings::inode_operations> =
    Table(bindings::inode_operations {
        create: Some(vfs::create::<RamfsCr>),
        lookup: Some(bindings::simple_lookup),
        #[cfg(CONFIG_CHECKPOINT)]
        link: Some(vfs::link::<RamfsCr>),
        #[cfg(not(CONFIG_CHECKPOINT))]
        link: Some(bindings::simple_link),
        unlink: Some(bindings::simple_unlink),
        symlink: Some(vfs::symlink::<RamfsCr>),
        mkdir: Some(vfs::mkdir::<RamfsCr>),
        rmdir: Some(bindings::simple_rmdir),
        mknod: Some(vfs::mknod::<RamfsCr>),
        #[cfg(CONFIG_CHECKPOINT)]
        rename: Some(vfs::rename::<RamfsCr>),
        #[cfg(not(CONFIG_CHECKPOINT))]
        rename: Some(bindings::simple_rename),
        tmpfile: Some(vfs::tmpfile::<RamfsCr>),
        ..zeroed()
    });

/// Directory file operations: just like `simple_dir_operations` except for
/// `.checkpoint` (ramfs-dir-checkpoint-2010.patch, on 6.12 names).
#[cfg(CONFIG_CHECKPOINT)]
static RAMFS_DIR_OPERATIONS: Table<bindings::file_operations> = Table(bindings::file_operations {
    open: Some(bindings::dcache_dir_open),
    release: Some(bindings::dcache_dir_close),
    llseek: Some(bindings::dcache_dir_lseek),
    read: Some(bindings::generic_read_dir),
    iterate_shared: Some(bindings::dcache_readdir),
    fsync: Some(bindings::noop_fsync),
    // The checkpoint op is unlike simple_dir_operations.
    checkpoint: Some(vfs::dir_checkpoint::<RamfsCr>),
    ..zeroed()
});

/// Version of the FILE_FS record of a directory.
#[cfg(CONFIG_CHECKPOINT)]
const DIR_POS_VERSION: u32 = 1;

/// Where a directory reader stands: the FILE_FS record of a directory,
/// four little-endian `u64`s (`Documentation/ramfs_cr.rst`).
#[cfg(CONFIG_CHECKPOINT)]
#[derive(Debug, PartialEq)]
struct DirPos {
    /// The reader's position, as `dcache_dir_cursor` saw it.
    pos: u64,
    /// [`FsInfo::id`] of the mount the sequence numbers belong to.
    mount: u64,
    /// Sequence number of the last entry the reader went past, or 0.
    last: u64,
    /// Sequence number of the entry it returns next, or 0 (at the end).
    next: u64,
}

#[cfg(CONFIG_CHECKPOINT)]
impl DirPos {
    const LEN: usize = 32;

    fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..8].copy_from_slice(&self.pos.to_le_bytes());
        b[8..16].copy_from_slice(&self.mount.to_le_bytes());
        b[16..24].copy_from_slice(&self.last.to_le_bytes());
        b[24..32].copy_from_slice(&self.next.to_le_bytes());
        b
    }

    /// `None` for a record that is not one `encode` can write.
    fn decode(b: &[u8]) -> Option<DirPos> {
        let b: &[u8; Self::LEN] = b.try_into().ok()?;
        let u = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let p = DirPos {
            pos: u(0),
            mount: u(8),
            last: u(16),
            next: u(24),
        };
        // Before the first entry the reader has gone past none.
        let started = p.pos > 2;
        if p.pos > i64::MAX as u64 || (!started && (p.last != 0 || p.next != 0)) {
            return None;
        }
        Some(p)
    }
}

/// `file_operations.checkpoint` of directories: the generic FILE and
/// FILE_NAME records, then, once the reader has gone past an entry, a
/// FILE_FS record with its [`DirPos`].
#[cfg(CONFIG_CHECKPOINT)]
fn dir_checkpoint(ctx: &vfs::CkptCtx, file: &File) -> Result {
    ctx.generic_file(file)?;
    let vfs::DirCursor { pos, last, next } = file.dcache_cursor()?;
    if pos <= 2 {
        // Nothing but "." and ".." returned: the index in the FILE record
        // is exact, restart seeks it.
        return Ok(());
    }
    let rec = DirPos {
        pos: pos as u64,
        mount: file.dentry().sb().fs_info().id(),
        last: last.as_deref().map_or(0, seq_of),
        next: next.as_deref().map_or(0, seq_of),
    };
    ctx.write_file_fs(file, DIR_POS_VERSION, &rec.encode())
}

/// `ckpt_fs_operations.restore_file`: puts a reopened directory's reader
/// back where [`dir_checkpoint`] saw it (see "Directory positions").
#[cfg(CONFIG_CHECKPOINT)]
fn restore_file(file: &File, rec: &vfs::FileFs<'_>) -> Result {
    // Of another version: not ours.  For a regular file, the cursor
    // functions below refuse it.
    if rec.version != DIR_POS_VERSION {
        return Err(EINVAL);
    }
    let p = DirPos::decode(rec.data).ok_or(EINVAL)?;
    if p.pos <= 2 || p.mount != file.dentry().sb().fs_info().id() {
        // ".", ".." or nothing yet returned: the index is exact.  Another
        // mount: its numbers mean nothing here, the index is all there is.
        // (Seating the reader first refuses a file that is not a dcache
        // directory.)
        file.dcache_seat(|_| true)?;
        file.seek(p.pos as i64)?;
        return Ok(());
    }
    if p.next == 0 {
        // At the end: past every entry there is now.
        file.dcache_seat(|_| false)?;
        return Ok(());
    }
    // Before `next`, or right after `last`, whichever comes first.
    let mut found = false;
    let mut after_last = false;
    file.dcache_seat(|child| {
        let seq = seq_of(child);
        found = seq == p.next || after_last;
        after_last = p.last != 0 && seq == p.last;
        found
    })?;
    if !found {
        // Both are gone: before the first entry older than `next`.
        file.dcache_seat(|child| seq_of(child) < p.next)?;
    }
    Ok(())
}

#[cfg(CONFIG_CHECKPOINT)]
static RAMFS_CKPT_OPS: Table<bindings::ckpt_fs_operations> = Table(bindings::ckpt_fs_operations {
    restore_file: Some(vfs::restore_file::<RamfsCr>),
    checkpoint_sb: Some(vfs::checkpoint_sb::<RamfsCr>),
    restore_sb: Some(vfs::restore_sb::<RamfsCr>),
    sb_version: crate::checkpoint::SB_VERSION,
});

#[cfg(CONFIG_CHECKPOINT)]
fn ramfs_dir_operations() -> &'static bindings::file_operations {
    &RAMFS_DIR_OPERATIONS
}

/// Without `CONFIG_CHECKPOINT` there is nothing to add.
#[cfg(not(CONFIG_CHECKPOINT))]
fn ramfs_dir_operations() -> &'static bindings::file_operations {
    vfs::simple_dir_operations()
}

/// `ramfs_file_operations` (file-mmu.c) plus `.checkpoint`.
static RAMFS_FILE_OPERATIONS: Table<bindings::file_operations> = Table(bindings::file_operations {
    read_iter: Some(bindings::generic_file_read_iter),
    write_iter: Some(bindings::generic_file_write_iter),
    mmap: Some(bindings::generic_file_mmap),
    fsync: Some(bindings::noop_fsync),
    splice_read: Some(bindings::filemap_splice_read),
    splice_write: Some(bindings::iter_file_splice_write),
    llseek: Some(bindings::generic_file_llseek),
    // ramfs's is `mm_get_unmapped_area(current->mm, ...)`, which is what
    // `__get_unmapped_area()` does for a NULL op (without THP).  Reading
    // `current->mm` from Rust used bindgen's `task_struct` layout, whose `mm`
    // is 16 bytes off the C one on the base config: mmap(2) oopsed.
    get_unmapped_area: None,
    #[cfg(CONFIG_CHECKPOINT)]
    checkpoint: Some(bindings::generic_file_checkpoint),
    ..zeroed()
});

/// `ramfs_file_inode_operations` (file-mmu.c).
static RAMFS_FILE_INODE_OPERATIONS: Table<bindings::inode_operations> =
    Table(bindings::inode_operations {
        setattr: Some(bindings::simple_setattr),
        getattr: Some(bindings::simple_getattr),
        ..zeroed()
    });

/// `ramfs_show_options()`: display the mount options in /proc/mounts.
fn show_options(m: &SeqFile, root: &Dentry) {
    let fsi = root.sb().fs_info();

    if fsi.mode != RAMFS_DEFAULT_MODE {
        m.print_mode_option(fsi.mode);
    }
}

static RAMFS_OPS: Table<bindings::super_operations> = Table(bindings::super_operations {
    statfs: Some(bindings::simple_statfs),
    drop_inode: Some(bindings::generic_delete_inode),
    show_options: Some(vfs::show_options::<RamfsCr>),
    ..zeroed()
});

/// `enum ramfs_param`.
const OPT_MODE: u8 = 0;

static RAMFS_FS_PARAMETERS: Table<[bindings::fs_parameter_spec; 2]> =
    Table([fsparam_u32oct(c_str!("mode"), OPT_MODE), fsparam_end()]);

/// `ramfs_parse_param()`, except that an option that is neither ours nor
/// `source` is an error: "ramfs_cr: Unknown parameter 'foo'", `EINVAL`.
fn parse_param(fc: &mut FsContext, param: &FsParameter) -> Result {
    let Some(result) = fc.parse(&RAMFS_FS_PARAMETERS, param)? else {
        if fc.parse_source(param)? {
            return Ok(());
        }
        fc.log_unknown_param(c_str!("ramfs_cr"), param);
        return Err(EINVAL);
    };

    let fsi = fc.fs_info_mut().ok_or(EINVAL)?;
    if result.opt == c_int::from(OPT_MODE) {
        fsi.mode = (result.uint_32 & S_IALLUGO) as u16;
    }
    Ok(())
}

/// `ramfs_fill_super()`.
fn fill_super(sb: &SuperBlock) -> Result {
    let mode = sb.fs_info().mode;

    sb.setup(RAMFS_CR_MAGIC, &RAMFS_OPS, 1);
    let inode = get_inode(sb, None, IFDIR | mode, 0).ok_or(ENOMEM)?;
    sb.make_root(inode)
}

static RAMFS_CONTEXT_OPS: Table<bindings::fs_context_operations> =
    Table(bindings::fs_context_operations {
        free: Some(vfs::free_fc::<RamfsCr>),
        parse_param: Some(vfs::parse_param::<RamfsCr>),
        get_tree: Some(vfs::get_tree::<RamfsCr>),
        ..zeroed()
    });

/// `ramfs_init_fs_context()`.
fn init_fs_context(fc: &mut FsContext) -> Result {
    let fsi = KBox::new(
        FsInfo {
            mode: RAMFS_DEFAULT_MODE,
            #[cfg(CONFIG_CHECKPOINT)]
            next_seq: AtomicU64::new(1),
            #[cfg(CONFIG_CHECKPOINT)]
            id: AtomicU64::new(vfs::random_u64()),
        },
        GFP_KERNEL,
    )?;

    fc.init(fsi, &RAMFS_CONTEXT_OPS);
    Ok(())
}

/// `ramfs_fs_type`, named `ramfs_cr`; `owner` is set at registration.
pub(crate) static RAMFS_CR_FS_TYPE: FsType = FsType::new(bindings::file_system_type {
    name: c_str!("ramfs_cr").as_char_ptr(),
    init_fs_context: Some(vfs::init_fs_context::<RamfsCr>),
    parameters: &RAMFS_FS_PARAMETERS.0 as *const _ as *const bindings::fs_parameter_spec,
    kill_sb: Some(vfs::kill_sb::<RamfsCr>),
    #[cfg(CONFIG_CHECKPOINT)]
    ckpt_ops: &RAMFS_CKPT_OPS.0,
    fs_flags: bindings::FS_USERNS_MOUNT as c_int,
    ..zeroed()
});
