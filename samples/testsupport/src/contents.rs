//! ramfs_cr superblock sections built by hand, as the module writes them
//! (`Documentation/ramfs_cr.rst`, "Contents"), and [`sample_tree`]: one of
//! every inode type, hard links, a sparse file, odd names and unlinked
//! inodes, for the decoder, `ckpt inspect` and `ckpt extract` tests.

use ckpt_image::ramfs::{Dirent, Inode, Super, Time, FS_NAME, FS_VERSION};
use ckpt_image::{SbData, SbItem, SbSection, CKPT_SB_DATA_MAX};

/// The SB_REC and SB_DATA records of a ramfs_cr section, in the order
/// they are added; [`Contents::section`] puts the SUPER first.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    items: Vec<SbItem>,
    next_seq: u64,
}

/// An inode of id `ino`, mode `mode` (type bits included), owned by
/// 1000:1000, nlink 1, size 0, rdev 0:0, with times of its own: atime
/// 1600000000+ino seconds and 123456789 ns, mtime 1700000000+ino and
/// ino*1000+7 ns, ctime 1800000000+ino.
pub fn inode(ino: u64, mode: u32) -> Inode {
    Inode {
        ino,
        mode,
        nlink: 1,
        uid: 1000,
        gid: 1000,
        rdev_major: 0,
        rdev_minor: 0,
        size: 0,
        atime: Time {
            sec: 1_600_000_000 + ino as i64,
            nsec: 123_456_789,
        },
        mtime: Time {
            sec: 1_700_000_000 + ino as i64,
            nsec: ino as u32 * 1000 + 7,
        },
        ctime: Time {
            sec: 1_800_000_000 + ino as i64,
            nsec: 0,
        },
    }
}

impl Contents {
    pub fn new() -> Contents {
        Contents {
            items: Vec::new(),
            next_seq: 1,
        }
    }

    /// An INODE record.
    pub fn inode(mut self, i: Inode) -> Contents {
        self.items.push(SbItem::Rec(i.encode()));
        self
    }

    /// An INODE record with its data as the module writes it: `data`
    /// from offset 0, in chunks of at most [`CKPT_SB_DATA_MAX`] bytes,
    /// the size set to its length.
    pub fn file(self, mut i: Inode, data: &[u8]) -> Contents {
        i.size = data.len() as u64;
        let mut c = self.inode(i);
        if !data.is_empty() {
            c = c.data(0, data);
        }
        c
    }

    /// SB_DATA chunks of `data` at `offset`, at most [`CKPT_SB_DATA_MAX`]
    /// bytes each.
    pub fn data(mut self, offset: u64, data: &[u8]) -> Contents {
        for (k, c) in data.chunks(CKPT_SB_DATA_MAX).enumerate() {
            let at = offset + (k * CKPT_SB_DATA_MAX) as u64;
            self.items.push(SbItem::Data(SbData::new(at, c.to_vec())));
        }
        self
    }

    /// A DIRENT with the next entry number.
    pub fn dirent(mut self, dir: u64, ino: u64, name: &[u8]) -> Contents {
        let d = Dirent {
            dir,
            ino,
            seq: self.next_seq,
            name: name.to_vec(),
        };
        self.next_seq += 1;
        self.items.push(SbItem::Rec(d.encode()));
        self
    }

    /// Any record (for broken sections).
    pub fn item(mut self, i: SbItem) -> Contents {
        self.items.push(i);
        self
    }

    /// The section: SUPER (mount number 0x5eed, the next entry number),
    /// then the records added.
    pub fn section(self, sb_id: u32, mount: &str) -> SbSection {
        let sup = Super {
            mount: 0x5eed,
            next_seq: self.next_seq,
        };
        let mut items = vec![SbItem::Rec(sup.encode())];
        items.extend(self.items);
        SbSection::new(sb_id, FS_NAME, FS_VERSION, mount, items)
    }
}

/// Name of 255 bytes in [`sample_tree`].
pub fn long_name() -> Vec<u8> {
    vec![b'L'; 255]
}

/// Bytes of `/file` in [`sample_tree`] (also `/dir/hardlink`).
pub const FILE_DATA: &[u8] = b"hello, world\n";
/// Size of `/sparse`: 3 MiB + 5; data at 0 (4096 bytes of 'a') and at
/// 2 MiB (70000 bytes of 'b', two chunks); the rest holes.
pub const SPARSE_SIZE: u64 = (3 << 20) + 5;
pub const SPARSE_AT: u64 = 2 << 20;

/// A ramfs_cr tree with one of everything, ids 1 to 19 (the root is 1):
///
/// ```text
/// /                    dir 0755 root:root
/// /file                reg 0644 "hello, world\n", nlink 2   (2)
/// /sparse              reg 0640 SPARSE_SIZE, holes          (3)
/// /dir                 dir 0750                             (4)
/// /dir/nested          reg 0600 "x"                         (5)
/// /dir/hardlink        -> inode 2
/// /dir/ro              dir 0555                             (6)
/// /dir/ro/inner        reg 0444 "inner"                     (7)
/// /link                symlink "dir/nested", nlink 2        (8)
/// /dangling            symlink "../nowhere/é"               (9)
/// /fifo                fifo 0644                            (10)
/// /new\nline           reg 0644 empty                       (14)
/// /ünïcødé             reg 0644 "utf8\n"                    (15)
/// /LLL...L (255)       reg 0644 empty                       (16)
/// /slink2              -> inode 8
/// /setuid              reg 04755 "#!/bin/sh\n" root:root    (17)
/// /null                chr 1:3 0666                         (11)
/// /loop0               blk 7:0 0660                         (12)
/// /sock                sock 0755                            (13)
/// unlinked: 18 (reg "gone but open\n", nlink 0), 19 (dir, nlink 0)
/// ```
///
/// The devices and the socket come last, so that the manifest of an
/// extraction that could not make them differs only by their lines.
pub fn sample_contents() -> Contents {
    let dir = |ino, mode: u32| inode(ino, 0o040000 | mode);
    let reg = |ino, mode: u32| inode(ino, 0o100000 | mode);
    let lnk = |ino| inode(ino, 0o120777);
    let mut root = dir(1, 0o755);
    (root.uid, root.gid, root.nlink) = (0, 0, 3);
    let mut file = reg(2, 0o644);
    file.nlink = 2;
    let mut sparse = reg(3, 0o640);
    sparse.size = SPARSE_SIZE;
    let mut d = dir(4, 0o750);
    d.nlink = 3;
    let mut link = lnk(8);
    link.nlink = 2;
    let dev = |ino, t: u32, maj, min, mode: u32| {
        let mut i = inode(ino, t | mode);
        (i.rdev_major, i.rdev_minor) = (maj, min);
        i
    };
    let mut setuid = reg(17, 0o4755);
    (setuid.uid, setuid.gid) = (0, 0);
    let mut gone = reg(18, 0o600);
    gone.nlink = 0;
    let mut rmdir = dir(19, 0o700);
    rmdir.nlink = 0;
    Contents::new()
        .inode(root)
        .file(file, FILE_DATA)
        .dirent(1, 2, b"file")
        .inode(sparse)
        .data(0, &[b'a'; 4096])
        .data(SPARSE_AT, &[b'b'; 70000])
        .dirent(1, 3, b"sparse")
        .inode(d)
        .dirent(1, 4, b"dir")
        .file(reg(5, 0o600), b"x")
        .dirent(4, 5, b"nested")
        .dirent(4, 2, b"hardlink")
        .inode(dir(6, 0o555))
        .dirent(4, 6, b"ro")
        .file(reg(7, 0o444), b"inner")
        .dirent(6, 7, b"inner")
        .file(link, b"dir/nested")
        .dirent(1, 8, b"link")
        .file(lnk(9), "../nowhere/é".as_bytes())
        .dirent(1, 9, b"dangling")
        .inode(inode(10, 0o010644))
        .dirent(1, 10, b"fifo")
        .inode(reg(14, 0o644))
        .dirent(1, 14, b"new\nline")
        .file(reg(15, 0o644), b"utf8\n")
        .dirent(1, 15, "ünïcødé".as_bytes())
        .inode(reg(16, 0o644))
        .dirent(1, 16, &long_name())
        .dirent(1, 8, b"slink2")
        .file(setuid, b"#!/bin/sh\n")
        .dirent(1, 17, b"setuid")
        .inode(dev(11, 0o020000, 1, 3, 0o666))
        .dirent(1, 11, b"null")
        .inode(dev(12, 0o060000, 7, 0, 0o660))
        .dirent(1, 12, b"loop0")
        .inode(inode(13, 0o140755))
        .dirent(1, 13, b"sock")
        .file(gone, b"gone but open\n")
        .inode(rmdir)
}

/// [`sample_contents`] as section `sb_id` mounted at `mount`.
pub fn sample_tree(sb_id: u32, mount: &str) -> SbSection {
    sample_contents().section(sb_id, mount)
}
