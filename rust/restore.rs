// SPDX-License-Identifier: GPL-2.0

//! A ramfs_cr super block rebuilds itself: `ckpt_fs_operations.restore_sb`.
//!
//! With `RESTART_CONTENTS` the core hands [`restore_sb`] an empty ramfs_cr
//! super block on a detached mount the caller made, and the records
//! [`crate::checkpoint`] wrote, one at a time.  Each record is checked
//! against what came before it (`Documentation/ramfs_cr.rst`, "Restoring
//! contents"): the image is untrusted, and a record that does not fit
//! fails the restart with `EINVAL` before anything else of the caller
//! changed.  Entries are added in the order of the image, each after the
//! one before it, so that readdir gives them back in the saved order, with
//! their saved numbers: a directory reader saved by the identity of its
//! entries resumes where it was.

use crate::checkpoint::{DIRENT, DIRENT_LEN, INODE, INODE_LEN, SB_VERSION, SUPER, SUPER_LEN};
use crate::fs::{get_inode, RamfsCr};
use crate::vfs::{self, Timestamp};
use kernel::bindings::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use kernel::prelude::*;

type RsCtx<'a> = vfs::RsCtx<'a, RamfsCr>;
type DentryRef = vfs::DentryRef<RamfsCr>;
type InodeRef = vfs::InodeRef<RamfsCr>;

/// Little-endian fields of a record, read in order; `EINVAL` past its end.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let head = self.0.get(..N).ok_or(EINVAL)?;
        self.0 = &self.0[N..];
        head.try_into().map_err(|_| EINVAL)
    }

    fn u32(&mut self) -> Result<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn time(&mut self) -> Result<Timestamp> {
        let sec = self.take().map(i64::from_le_bytes)?;
        let nsec = self.u32()?;
        if nsec >= 1_000_000_000 || self.u32()? != 0 {
            return Err(EINVAL);
        }
        Ok(Timestamp { sec, nsec })
    }
}

/// An inode rebuilt from its `INODE` record.
struct Slot {
    inode: InodeRef,
    /// `S_IFMT` bits.
    fmt: u32,
    /// The saved link count.
    nlink: u32,
    /// Entries made for it so far.
    links: u32,
    /// A directory's entry (the root's for the root), once made.
    dentry: Option<DentryRef>,
    /// A directory's last entry so far, and its number.
    last: Option<(DentryRef, u64)>,
}

/// What is rebuilt so far.
struct Tree {
    slots: KVec<Slot>,
    /// Image number of the first inode (the root) minus one.
    base: u64,
    /// `SUPER.next_seq`: every entry number is below it.
    next_seq: u64,
}

impl Tree {
    fn slot(&self, id: u64) -> Result<usize> {
        let i = id.checked_sub(self.base + 1).ok_or(EINVAL)?;
        let i = usize::try_from(i).map_err(|_| EINVAL)?;
        if i < self.slots.len() {
            Ok(i)
        } else {
            Err(EINVAL)
        }
    }

    /// `INODE`: the root's attributes for the first, a new inode after.
    fn inode(&mut self, ctx: &RsCtx<'_>, root: &DentryRef, data: &[u8]) -> Result {
        if data.len() != INODE_LEN {
            return Err(EINVAL);
        }
        let mut f = Fields(data);
        let id = f.u64()?;
        let mode = f.u32()?;
        let nlink = f.u32()?;
        let (uid, gid) = (f.u32()?, f.u32()?);
        let (major, minor) = (f.u32()?, f.u32()?);
        let size = i64::try_from(f.u64()?).map_err(|_| EINVAL)?;
        let times = [f.time()?, f.time()?, f.time()?];

        let fmt = mode & S_IFMT;
        let device = fmt == S_IFCHR || fmt == S_IFBLK;
        let size_ok = match fmt {
            S_IFREG => true,
            S_IFLNK => (1..4096).contains(&size),
            S_IFDIR | S_IFIFO | S_IFSOCK => size == 0,
            _ => device && size == 0,
        };
        if !size_ok
            || mode & !(S_IFMT | 0o7777) != 0
            || major >= 1 << 12
            || minor >= 1 << 20
            || (!device && (major | minor) != 0)
        {
            return Err(EINVAL);
        }
        // A `u16` mode: S_IFMT and 0o7777 bits only, checked above.
        let mode16 = mode as u16;
        if self.slots.is_empty() {
            // The root: the directory that is there, given the saved
            // attributes.
            if fmt != S_IFDIR || id == 0 {
                return Err(EINVAL);
            }
            self.base = id - 1;
            let inode = ctx.root_inode(root)?;
            ctx.restore_inode(inode, mode16, uid, gid, times)?;
            return self.push(Slot {
                inode: inode.to_ref(),
                fmt,
                nlink,
                links: 0,
                dentry: Some(root.clone()),
                last: None,
            });
        }
        if id != self.base + self.slots.len() as u64 + 1 {
            return Err(EINVAL);
        }
        let inode = get_inode(ctx.sb(), None, mode16, major << 20 | minor).ok_or(ENOMEM)?;
        ctx.restore_inode(&inode, mode16, uid, gid, times)?;
        if fmt == S_IFREG || fmt == S_IFLNK {
            let bytes = ctx.read_pages(&inode, size)?;
            // A symlink's target is all there, as page_get_link() reads it.
            if fmt == S_IFLNK && bytes != size {
                return Err(EINVAL);
            }
        }
        self.push(Slot {
            inode: inode.into_ref(),
            fmt,
            nlink,
            links: 0,
            dentry: None,
            last: None,
        })
    }

    fn push(&mut self, slot: Slot) -> Result {
        self.slots.push(slot, GFP_KERNEL)?;
        Ok(())
    }

    /// `DIRENT`: an entry of a directory met before, for an inode met
    /// before, after the directory's entries so far.
    fn dirent(&mut self, ctx: &RsCtx<'_>, data: &[u8]) -> Result {
        let mut f = Fields(data);
        let (dir, ino, seq) = (f.u64()?, f.u64()?, f.u64()?);
        let name_len = f.u32()? as usize;
        let name = data.get(DIRENT_LEN..).ok_or(EINVAL)?;
        if f.u32()? != 0
            || name.len() != name_len
            || !(1..=255).contains(&name_len)
            || name == b"."
            || name == b".."
            || name.iter().any(|&c| c == b'/' || c == 0)
            || seq == 0
            || seq >= self.next_seq
        {
            return Err(EINVAL);
        }
        let (d, i) = (self.slot(dir)?, self.slot(ino)?);
        let parent = &self.slots[d];
        let Some(parent_dentry) = parent.dentry.as_ref().filter(|_| parent.fmt == S_IFDIR) else {
            return Err(EINVAL);
        };
        // Entries of a directory come newest first: numbers go down.
        if parent.last.as_ref().is_some_and(|(_, s)| seq >= *s) {
            return Err(EINVAL);
        }
        let target = &self.slots[i];
        let is_dir = target.fmt == S_IFDIR;
        // A directory has one entry, and the root none.
        if (is_dir && target.dentry.is_some()) || i == 0 || target.links >= target.nlink {
            return Err(EINVAL);
        }
        let prev = parent.last.as_ref().map(|(p, _)| &**p);
        let dentry = ctx.add_child(parent_dentry, name, &target.inode, prev)?;
        // Pinned as ramfs pins its entries; `kill_litter_super` drops it.
        dentry.pin();
        dentry.set_fs_data(seq as usize);
        if is_dir {
            self.slots[d].inode.inc_nlink();
            self.slots[i].dentry = Some(dentry.clone());
        } else if self.slots[i].links > 0 {
            self.slots[i].inode.inc_nlink();
        }
        self.slots[i].links += 1;
        self.slots[d].last = Some((dentry, seq));
        Ok(())
    }

    /// Every inode has the links its record says: an entry each for a
    /// file, 2 and one per subdirectory for a directory; none for an
    /// inode that no entry named (unlinked but open), whose regular files
    /// go to the core for the file table.
    fn finish(&self, ctx: &RsCtx<'_>) -> Result {
        for (i, s) in self.slots.iter().enumerate() {
            let linked = i == 0 || s.links > 0;
            let ok = if !linked {
                if s.nlink == 0 && s.fmt == S_IFREG {
                    ctx.restore_unlinked(self.base + i as u64 + 1, &s.inode)?;
                }
                s.nlink == 0
            } else if s.fmt == S_IFDIR {
                s.inode.attr().nlink == s.nlink
            } else {
                s.links == s.nlink
            };
            if !ok {
                return Err(EINVAL);
            }
        }
        Ok(())
    }
}

/// `ckpt_fs_operations.restore_sb` of ramfs_cr.
pub(crate) fn restore_sb(ctx: &RsCtx<'_>, version: u32) -> Result {
    if version != SB_VERSION {
        return Err(EINVAL);
    }
    let root = ctx.root()?;
    let info = ctx.sb().fs_info();
    // Fresh: no entry was ever made in it.
    if info.next_seq() != 1 || ctx.has_children(&root) {
        return Err(EBUSY);
    }
    let rec = ctx.read_rec()?.ok_or(EINVAL)?;
    if rec.kind != SUPER || rec.data.len() != SUPER_LEN {
        return Err(EINVAL);
    }
    let mut f = Fields(rec.data);
    let (id, next_seq) = (f.u64()?, f.u64()?);
    if next_seq == 0 {
        return Err(EINVAL);
    }
    let mut tree = Tree {
        slots: KVec::new(),
        base: 0,
        next_seq,
    };
    while let Some(rec) = ctx.read_rec()? {
        match rec.kind {
            INODE => tree.inode(ctx, &root, rec.data)?,
            DIRENT if !tree.slots.is_empty() => tree.dirent(ctx, rec.data)?,
            _ => return Err(EINVAL),
        }
    }
    if tree.slots.is_empty() {
        return Err(EINVAL);
    }
    tree.finish(ctx)?;
    info.set_restored(id, next_seq);
    Ok(())
}
