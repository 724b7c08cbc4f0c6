// SPDX-License-Identifier: GPL-2.0

//! A ramfs_cr super block saves itself: `ckpt_fs_operations.checkpoint_sb`.
//!
//! With `CHECKPOINT_CONTENTS` the core freezes each ramfs_cr super block
//! the checkpointed task reaches and calls [`checkpoint_sb`], which writes
//! the whole of it as `SB_REC` records in ramfs_cr's format (version
//! [`SB_VERSION`], `Documentation/ramfs_cr.rst`, "Contents"), with the
//! pages of regular files and symlinks as `SB_DATA` chunks:
//!
//! - `SUPER`: the mount's number and its next entry number, first;
//! - `INODE` of the root, then the tree depth first: for each entry of a
//!   directory in readdir order, the `INODE` (and data) of the inode it
//!   names the first time that inode is met, its `DIRENT`, and for a
//!   directory its own entries;
//! - last, the `INODE` (and data) of every inode in use that no entry
//!   names: unlinked but open or mapped, `O_TMPFILE`, a removed working
//!   directory.
//!
//! The walk is safe Rust over the adapter's [`SbCtx`]; the super block
//! being frozen is what keeps the tree still while it runs.

use crate::fs::{seq_of, RamfsCr};
use crate::vfs::{self, Attr, Timestamp};
use kernel::bindings::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use kernel::prelude::*;

type SbCtx<'a> = vfs::SbCtx<'a, RamfsCr>;
type Inode = vfs::Inode<RamfsCr>;

/// Version of ramfs_cr's format of its super block records.
pub(crate) const SB_VERSION: u32 = 1;

/// `SB_REC` kinds.
pub(crate) const SUPER: u32 = 1;
pub(crate) const INODE: u32 = 2;
pub(crate) const DIRENT: u32 = 3;

/// Bytes of a `SUPER` and of an `INODE` record, and of a `DIRENT` before
/// its name (`Documentation/ramfs_cr.rst`).
pub(crate) const SUPER_LEN: usize = 16;
pub(crate) const INODE_LEN: usize = 88;
pub(crate) const DIRENT_LEN: usize = 32;

/// Little-endian fields, appended in order.
struct Rec<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Rec<N> {
    fn new() -> Self {
        Rec {
            buf: [0; N],
            len: 0,
        }
    }

    fn put(mut self, bytes: &[u8]) -> Self {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self
    }

    fn u32(self, v: u32) -> Self {
        self.put(&v.to_le_bytes())
    }

    fn u64(self, v: u64) -> Self {
        self.put(&v.to_le_bytes())
    }

    fn time(self, t: Timestamp) -> Self {
        self.put(&t.sec.to_le_bytes()).u32(t.nsec).u32(0)
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `INODE`: 88 bytes, then the data of a regular file or a symlink (its
/// target) as `SB_DATA` chunks.
fn save_inode(ctx: &SbCtx<'_>, inode: &Inode, id: u64) -> Result {
    let a: Attr = inode.attr();
    let rec = Rec::<INODE_LEN>::new()
        .u64(id)
        .u32(a.mode)
        .u32(a.nlink)
        .u32(a.uid)
        .u32(a.gid)
        .u32(a.rdev_major)
        .u32(a.rdev_minor)
        .u64(a.size as u64)
        .time(a.atime)
        .time(a.mtime)
        .time(a.ctime);
    ctx.write_rec(INODE, rec.bytes(), &[])?;
    let fmt = a.mode & S_IFMT;
    if fmt == S_IFREG || fmt == S_IFLNK {
        ctx.write_pages(inode, a.size)?;
    }
    Ok(())
}

/// The number of `inode` in the image; its `INODE` record the first time.
fn inode_id(ctx: &SbCtx<'_>, inode: &Inode) -> Result<(u64, bool)> {
    let (id, first) = ctx.inode_id(inode)?;
    if first {
        save_inode(ctx, inode, id)?;
    }
    Ok((id, first))
}

/// `ckpt_fs_operations.checkpoint_sb` of ramfs_cr.
pub(crate) fn checkpoint_sb(ctx: &SbCtx<'_>) -> Result {
    let info = ctx.sb().fs_info();
    let sup = Rec::<SUPER_LEN>::new().u64(info.id()).u64(info.next_seq());
    ctx.write_rec(SUPER, sup.bytes(), &[])?;

    // Depth first, without recursion and without a stack: a path near
    // PATH_MAX is 2,000 directories deep.  The walk stands in `dir`, after
    // its child `last`; at the end of a directory it goes back up to the
    // parent, after that directory.  Nothing moves: the super block is
    // frozen.
    let mut dir = ctx.root()?;
    let (mut dir_id, _) = inode_id(ctx, ctx.inode(&dir))?;
    let mut last = None;
    loop {
        let Some(child) = ctx.next_child(&dir, last.take()) else {
            let Some(parent) = ctx.parent(&dir) else {
                break;
            };
            dir_id = ctx.inode_id(ctx.inode(&parent))?.0;
            last = Some(core::mem::replace(&mut dir, parent));
            continue;
        };
        let inode = ctx.inode(&child);
        let (id, first) = inode_id(ctx, inode)?;
        let name = ctx.name(&child);
        let len = u32::try_from(name.len()).map_err(|_| EINVAL)?;
        let dirent = Rec::<DIRENT_LEN>::new()
            .u64(dir_id)
            .u64(id)
            .u64(seq_of(&child))
            .u32(len)
            .u32(0);
        ctx.write_rec(DIRENT, dirent.bytes(), name)?;
        // A directory has one name: the first time is the only time.
        if first && inode.attr().mode & S_IFMT == S_IFDIR {
            dir = child;
            dir_id = id;
        } else {
            last = Some(child);
        }
    }

    // What no entry names.
    let mut inode = None;
    while let Some(i) = ctx.next_inode(inode.take()) {
        inode_id(ctx, &i)?;
        inode = Some(i);
    }
    Ok(())
}
