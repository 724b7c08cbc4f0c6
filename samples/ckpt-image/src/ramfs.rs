//! ramfs_cr's superblock sections (`Documentation/ramfs_cr.rst`,
//! "Contents"): the `SB_REC` kinds SUPER, INODE and DIRENT, and the tree
//! they describe.
//!
//! ```text
//! SUPER  INODE(root)
//! for each entry of a directory, depth first, in readdir order:
//!     [INODE [SB_DATA ...]]      the first time its inode is met
//!     DIRENT
//! INODE [SB_DATA ...] ...        inodes in use that no DIRENT names
//! ```
//!
//! [`Tree::decode`] reads one [`SbSection`] into a [`Tree`]: the inodes by
//! image id with their data chunks (borrowed from the section, not
//! copied), the entries of every directory in readdir order, and the
//! orphans.  Everything the format implies is checked, and the first
//! problem is a [`RamfsError`] naming the record.

use crate::{crc32c, SbItem, SbRec, SbSection};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// `SB.fs_name` of a ramfs_cr section.
pub const FS_NAME: &str = "ramfs_cr";
/// `SB.fs_version` this decoder reads.
pub const FS_VERSION: u32 = 1;

pub const KIND_SUPER: u32 = 1;
pub const KIND_INODE: u32 = 2;
pub const KIND_DIRENT: u32 = 3;

/// Sizes of the records' data (DIRENT: without its name).
pub const SUPER_LEN: usize = 16;
pub const INODE_LEN: usize = 88;
pub const DIRENT_LEN: usize = 32;
/// Longest entry name.
pub const NAME_MAX: usize = 255;

const S_IFMT: u32 = 0o170000;

/// A timestamp: seconds and nanoseconds (below 10^9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// SUPER: the mount's number and its next entry number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Super {
    pub mount: u64,
    pub next_seq: u64,
}

/// INODE: one inode, whose data (a file's bytes, a symlink's target)
/// follows as SB_DATA chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// The inode's id in the image (1, 2, ...: image-wide).
    pub ino: u64,
    /// `i_mode`, `S_IFMT` bits included.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

/// DIRENT: the entry `name` of directory `dir` names inode `ino`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub dir: u64,
    pub ino: u64,
    /// ramfs_cr's number of the entry.
    pub seq: u64,
    pub name: Vec<u8>,
}

/// The type of an inode, from its `S_IFMT` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Reg,
    Symlink,
    Chr,
    Blk,
    Fifo,
    Sock,
}

impl Kind {
    /// The kind of `mode`, None for a value no inode has.
    pub fn of(mode: u32) -> Option<Kind> {
        Some(match mode & S_IFMT {
            0o040000 => Kind::Dir,
            0o100000 => Kind::Reg,
            0o120000 => Kind::Symlink,
            0o020000 => Kind::Chr,
            0o060000 => Kind::Blk,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Sock,
            _ => return None,
        })
    }

    /// Lower-case name ("dir", "reg", "symlink", "chr", "blk", "fifo",
    /// "sock"), as in a manifest.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::Reg => "reg",
            Kind::Symlink => "symlink",
            Kind::Chr => "chr",
            Kind::Blk => "blk",
            Kind::Fifo => "fifo",
            Kind::Sock => "sock",
        }
    }

    /// Whether SB_DATA chunks may follow the INODE.
    pub fn has_data(self) -> bool {
        matches!(self, Kind::Reg | Kind::Symlink)
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn put_time(o: &mut Vec<u8>, t: Time) {
    o.extend_from_slice(&t.sec.to_le_bytes());
    o.extend_from_slice(&t.nsec.to_le_bytes());
    o.extend_from_slice(&0u32.to_le_bytes());
}

impl Super {
    pub fn encode(&self) -> SbRec {
        let mut d = Vec::with_capacity(SUPER_LEN);
        d.extend_from_slice(&self.mount.to_le_bytes());
        d.extend_from_slice(&self.next_seq.to_le_bytes());
        SbRec {
            kind: KIND_SUPER,
            data: d,
        }
    }

    pub fn decode(d: &[u8]) -> Result<Super, String> {
        if d.len() != SUPER_LEN {
            return Err(format!("SUPER of {} bytes, not {SUPER_LEN}", d.len()));
        }
        Ok(Super {
            mount: u64_at(d, 0),
            next_seq: u64_at(d, 8),
        })
    }
}

impl Inode {
    pub fn kind(&self) -> Option<Kind> {
        Kind::of(self.mode)
    }

    pub fn encode(&self) -> SbRec {
        let mut d = Vec::with_capacity(INODE_LEN);
        d.extend_from_slice(&self.ino.to_le_bytes());
        for v in [
            self.mode,
            self.nlink,
            self.uid,
            self.gid,
            self.rdev_major,
            self.rdev_minor,
        ] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&self.size.to_le_bytes());
        put_time(&mut d, self.atime);
        put_time(&mut d, self.mtime);
        put_time(&mut d, self.ctime);
        SbRec {
            kind: KIND_INODE,
            data: d,
        }
    }

    /// An INODE record's data: exactly [`INODE_LEN`] bytes, a known file
    /// type, id not 0, timestamps with nanoseconds below 10^9 and zero
    /// padding.
    pub fn decode(d: &[u8]) -> Result<Inode, String> {
        if d.len() != INODE_LEN {
            return Err(format!("INODE of {} bytes, not {INODE_LEN}", d.len()));
        }
        let time = |at: usize, what: &str| {
            let t = Time {
                sec: u64_at(d, at) as i64,
                nsec: u32_at(d, at + 8),
            };
            if t.nsec >= 1_000_000_000 {
                return Err(format!("INODE {what} nanoseconds {}", t.nsec));
            }
            if u32_at(d, at + 12) != 0 {
                return Err(format!("INODE {what} padding is not zero"));
            }
            Ok(t)
        };
        let i = Inode {
            ino: u64_at(d, 0),
            mode: u32_at(d, 8),
            nlink: u32_at(d, 12),
            uid: u32_at(d, 16),
            gid: u32_at(d, 20),
            rdev_major: u32_at(d, 24),
            rdev_minor: u32_at(d, 28),
            size: u64_at(d, 32),
            atime: time(40, "atime")?,
            mtime: time(56, "mtime")?,
            ctime: time(72, "ctime")?,
        };
        if i.ino == 0 {
            return Err("INODE id 0".into());
        }
        if i.kind().is_none() {
            return Err(format!(
                "INODE {} mode {:#o}: no such file type",
                i.ino, i.mode
            ));
        }
        if i.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(format!("INODE {} mode {:#o}: unknown bits", i.ino, i.mode));
        }
        if i.size > i64::MAX as u64 {
            return Err(format!("INODE {} size {} past i64", i.ino, i.size));
        }
        Ok(i)
    }
}

impl Dirent {
    pub fn encode(&self) -> SbRec {
        let mut d = Vec::with_capacity(DIRENT_LEN + self.name.len());
        d.extend_from_slice(&self.dir.to_le_bytes());
        d.extend_from_slice(&self.ino.to_le_bytes());
        d.extend_from_slice(&self.seq.to_le_bytes());
        d.extend_from_slice(&(self.name.len() as u32).to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&self.name);
        SbRec {
            kind: KIND_DIRENT,
            data: d,
        }
    }

    /// A DIRENT record's data: [`DIRENT_LEN`] bytes, zero padding, then
    /// exactly `name_len` bytes of a valid name ([`check_entry_name`]).
    pub fn decode(d: &[u8]) -> Result<Dirent, String> {
        if d.len() < DIRENT_LEN {
            return Err(format!(
                "DIRENT of {} bytes, less than {DIRENT_LEN}",
                d.len()
            ));
        }
        let name_len = u32_at(d, 24) as usize;
        if d.len() != DIRENT_LEN + name_len {
            return Err(format!(
                "DIRENT of {} bytes with a name of {name_len}",
                d.len()
            ));
        }
        if u32_at(d, 28) != 0 {
            return Err("DIRENT padding is not zero".into());
        }
        let name = &d[DIRENT_LEN..];
        if let Some(why) = check_entry_name(name) {
            return Err(format!("DIRENT name {}: {why}", escape(name)));
        }
        Ok(Dirent {
            dir: u64_at(d, 0),
            ino: u64_at(d, 8),
            seq: u64_at(d, 16),
            name: name.to_vec(),
        })
    }
}

/// Why `n` cannot be the name of a directory entry, None when it can:
/// 1 to 255 bytes, no '/' and no NUL, not "." or "..".
pub fn check_entry_name(n: &[u8]) -> Option<&'static str> {
    if n.is_empty() {
        return Some("empty");
    }
    if n.len() > NAME_MAX {
        return Some("longer than 255 bytes");
    }
    if n.contains(&b'/') {
        return Some("holds a '/'");
    }
    if n.contains(&0) {
        return Some("holds a NUL");
    }
    if n == b"." || n == b".." {
        return Some("is \".\" or \"..\"");
    }
    None
}

/// `b` for a message or a listing: valid UTF-8 as it is, control
/// characters, '\\' and bytes that are not UTF-8 as `\xHH`.
pub fn escape(b: &[u8]) -> String {
    let mut o = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if (c as u32) < 0x20 || c == '\x7f' || c == '\\' {
                o.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                o.push(c);
            }
        }
        for &x in chunk.invalid() {
            o.push_str(&format!("\\x{x:02x}"));
        }
    }
    o
}

/// A chunk of an inode's data, as in the image: the bytes between two
/// chunks are a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent<'a> {
    pub offset: u64,
    pub data: &'a [u8],
}

/// An entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub seq: u64,
}

/// An inode of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    pub inode: Inode,
    /// Data chunks, ascending and apart (regular files and symlinks).
    pub extents: Vec<Extent<'a>>,
    /// Entries of a directory, in readdir order.
    pub entries: Vec<Entry>,
    /// How many DIRENTs name it.
    pub names: u32,
}

impl Node<'_> {
    pub fn kind(&self) -> Kind {
        self.inode.kind().expect("checked by Inode::decode")
    }

    /// The data with the holes as zeros: a symlink's target, a small
    /// file's bytes.  It allocates `size` bytes: for a large sparse file
    /// use [`Node::extents`] and [`Node::data_crc32c`].
    pub fn data(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.inode.size as usize];
        for e in &self.extents {
            v[e.offset as usize..e.offset as usize + e.data.len()].copy_from_slice(e.data);
        }
        v
    }

    /// CRC32C of the data, holes read as zeros (0 without data).
    pub fn data_crc32c(&self) -> u32 {
        let mut crc = !0u32;
        let mut at = 0u64;
        for e in &self.extents {
            crc = crc32c::update_zeros(crc, e.offset - at);
            crc = crc32c::update(crc, e.data);
            at = e.offset + e.data.len() as u64;
        }
        if self.kind().has_data() {
            crc = crc32c::update_zeros(crc, self.inode.size - at);
        }
        !crc
    }

    /// Bytes held in chunks (the rest of `size` is holes).
    pub fn data_bytes(&self) -> u64 {
        self.extents.iter().map(|e| e.data.len() as u64).sum()
    }
}

/// The first problem of a ramfs_cr section: the section, the record
/// (its index among the section's SB_REC and SB_DATA records, and its
/// byte offset in the image) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamfsError {
    pub sb_id: u32,
    /// Index among the section's SB_REC/SB_DATA records; None for the
    /// section as a whole.
    pub index: Option<usize>,
    /// Byte offset of the record (of the SB for the whole section).
    pub offset: usize,
    pub what: String,
}

impl fmt::Display for RamfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(
                f,
                "superblock {}: record {i} (offset {}): {}",
                self.sb_id, self.offset, self.what
            ),
            None => write!(
                f,
                "superblock {} (offset {}): {}",
                self.sb_id, self.offset, self.what
            ),
        }
    }
}

impl std::error::Error for RamfsError {}

/// A ramfs_cr superblock as its section describes it.
#[derive(Debug, Clone)]
pub struct Tree<'a> {
    pub sb_id: u32,
    /// The mount root, from the task's root (the section's FILE_NAME).
    pub mount: &'a [u8],
    pub sup: Super,
    /// Id of the root directory (its first INODE).
    pub root: u64,
    /// In the order of their INODE records.
    nodes: Vec<Node<'a>>,
    index: HashMap<u64, usize>,
    /// Inodes no DIRENT names (unlinked but in use), in image order.
    pub orphans: Vec<u64>,
}

/// One step of [`Tree::walk`]: the path (from the mount root: "/" for the
/// root, "/a/b" below it) of entry naming inode `ino`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub path: Vec<u8>,
    pub ino: u64,
    /// The first path met of this inode (false for a further hard link).
    pub first: bool,
    /// Depth below the root (0 for the root).
    pub depth: usize,
}

impl<'a> Tree<'a> {
    /// Read a ramfs_cr section (already framed and checked by
    /// [`crate::decode`]).
    pub fn decode(sec: &'a SbSection) -> Result<Tree<'a>, RamfsError> {
        let whole = |what: String| RamfsError {
            sb_id: sec.sb_id,
            index: None,
            offset: sec.offset,
            what,
        };
        if sec.fs_name != FS_NAME.as_bytes() {
            return Err(whole(format!(
                "file system {}, not {FS_NAME}",
                escape(&sec.fs_name)
            )));
        }
        if sec.fs_version != FS_VERSION {
            return Err(whole(format!(
                "{FS_NAME} format version {}, this reader knows {FS_VERSION}",
                sec.fs_version
            )));
        }
        let mut t = Tree {
            sb_id: sec.sb_id,
            mount: &sec.mount,
            sup: Super {
                mount: 0,
                next_seq: 0,
            },
            root: 0,
            nodes: Vec::new(),
            index: HashMap::new(),
            orphans: Vec::new(),
        };
        // the node SB_DATA may extend now, and where its data ends so far
        let mut data_of: Option<(usize, u64)> = None;
        let mut names: HashSet<(u64, &'a [u8])> = HashSet::new();
        let mut have_super = false;
        for (i, (off, item)) in sec.records.iter().enumerate() {
            let bad = |what: String| RamfsError {
                sb_id: sec.sb_id,
                index: Some(i),
                offset: *off,
                what,
            };
            let r = match item {
                SbItem::Data(d) => {
                    let Some((n, end)) = data_of else {
                        return Err(bad("SB_DATA after a record that has no data".into()));
                    };
                    let node = &mut t.nodes[n];
                    let len = d.data.len() as u64;
                    if d.offset < end {
                        return Err(bad(format!(
                            "chunk at {} of inode {}: before the end of the previous one ({end})",
                            d.offset, node.inode.ino
                        )));
                    }
                    if d.offset
                        .checked_add(len)
                        .is_none_or(|e| e > node.inode.size)
                    {
                        return Err(bad(format!(
                            "chunk of {len} bytes at {} of inode {}: past its size {}",
                            d.offset, node.inode.ino, node.inode.size
                        )));
                    }
                    node.extents.push(Extent {
                        offset: d.offset,
                        data: &d.data,
                    });
                    data_of = Some((n, d.offset + len));
                    continue;
                }
                SbItem::Rec(r) => r,
            };
            data_of = None;
            if !have_super {
                if r.kind != KIND_SUPER {
                    return Err(bad(format!("record of kind {} before SUPER", r.kind)));
                }
                t.sup = Super::decode(&r.data).map_err(bad)?;
                have_super = true;
                continue;
            }
            match r.kind {
                KIND_SUPER => return Err(bad("a second SUPER".into())),
                KIND_INODE => {
                    let inode = Inode::decode(&r.data).map_err(bad)?;
                    if t.index.contains_key(&inode.ino) {
                        return Err(bad(format!("inode {} defined twice", inode.ino)));
                    }
                    let kind = inode.kind().expect("decoded");
                    if t.nodes.is_empty() {
                        if kind != Kind::Dir {
                            return Err(bad(format!(
                                "the root, inode {}, is not a directory (mode {:#o})",
                                inode.ino, inode.mode
                            )));
                        }
                        t.root = inode.ino;
                    }
                    if kind.has_data() {
                        data_of = Some((t.nodes.len(), 0));
                    }
                    t.index.insert(inode.ino, t.nodes.len());
                    t.nodes.push(Node {
                        inode,
                        extents: Vec::new(),
                        entries: Vec::new(),
                        names: 0,
                    });
                }
                KIND_DIRENT => {
                    let d = Dirent::decode(&r.data).map_err(bad)?;
                    let Some(&di) = t.index.get(&d.dir) else {
                        return Err(bad(format!(
                            "DIRENT in inode {}, not defined before",
                            d.dir
                        )));
                    };
                    let Some(&ni) = t.index.get(&d.ino) else {
                        return Err(bad(format!(
                            "DIRENT {} names inode {}, not defined before",
                            escape(&d.name),
                            d.ino
                        )));
                    };
                    let dir = &t.nodes[di];
                    if dir.kind() != Kind::Dir {
                        return Err(bad(format!(
                            "DIRENT in inode {}, which is not a directory",
                            d.dir
                        )));
                    }
                    if d.dir != t.root && dir.names == 0 {
                        return Err(bad(format!(
                            "DIRENT in directory {} before that directory has a name",
                            d.dir
                        )));
                    }
                    let node = &t.nodes[ni];
                    if node.kind() == Kind::Dir && (node.names > 0 || d.ino == t.root) {
                        return Err(bad(format!(
                            "DIRENT {} gives directory {} a second name",
                            escape(&d.name),
                            d.ino
                        )));
                    }
                    if d.seq >= t.sup.next_seq {
                        return Err(bad(format!(
                            "DIRENT {} number {} not below SUPER's next number {}",
                            escape(&d.name),
                            d.seq,
                            t.sup.next_seq
                        )));
                    }
                    let Dirent { dir, ino, seq, .. } = d;
                    let name: &'a [u8] = &r.data[DIRENT_LEN..];
                    if !names.insert((dir, name)) {
                        return Err(bad(format!(
                            "directory {dir} has two entries {}",
                            escape(name)
                        )));
                    }
                    t.nodes[ni].names += 1;
                    t.nodes[di].entries.push(Entry {
                        name: d.name,
                        ino,
                        seq,
                    });
                }
                k => return Err(bad(format!("unknown record kind {k}"))),
            }
        }
        if !have_super {
            return Err(whole("no SUPER record".into()));
        }
        if t.nodes.is_empty() {
            return Err(whole("no INODE of the root".into()));
        }
        for n in &t.nodes {
            if n.inode.ino != t.root && n.names == 0 {
                t.orphans.push(n.inode.ino);
            }
            if n.kind() == Kind::Symlink {
                let why = if n.inode.size == 0 {
                    Some("is empty")
                } else if n.data_bytes() != n.inode.size {
                    Some("has holes")
                } else if n.extents.iter().any(|e| e.data.contains(&0)) {
                    Some("holds a NUL")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(whole(format!(
                        "the target of symlink {} {why}",
                        n.inode.ino
                    )));
                }
            }
        }
        Ok(t)
    }

    /// The inode of image id `ino`.
    pub fn node(&self, ino: u64) -> Option<&Node<'a>> {
        self.index.get(&ino).map(|&i| &self.nodes[i])
    }

    /// The image id of the inode at `path` ("/" for the root, "/a/b" below
    /// it, as [`Tree::walk`] names paths), following no symlink.
    pub fn lookup(&self, path: &[u8]) -> Option<u64> {
        let rest = path.strip_prefix(b"/")?;
        let mut ino = self.root;
        for c in rest.split(|&c| c == b'/').filter(|c| !c.is_empty()) {
            ino = self.node(ino)?.entries.iter().find(|e| e.name == c)?.ino;
        }
        Some(ino)
    }

    /// Every inode, in the order of their INODE records.
    pub fn nodes(&self) -> &[Node<'a>] {
        &self.nodes
    }

    /// The named tree, depth first from the root, entries in readdir order:
    /// the order of the image, and of a walk of the mounted file system
    /// with readdir(3).
    pub fn walk(&self) -> Vec<Walked> {
        let mut out = vec![Walked {
            path: b"/".to_vec(),
            ino: self.root,
            first: true,
            depth: 0,
        }];
        let mut seen = HashSet::from([self.root]);
        // (directory, next entry index, its path)
        let mut stack = vec![(self.root, 0usize, Vec::new())];
        while let Some((dir, i, path)) = stack.last_mut() {
            let node = self.node(*dir).expect("entries name defined inodes");
            let Some(e) = node.entries.get(*i) else {
                stack.pop();
                continue;
            };
            *i += 1;
            let mut p = path.clone();
            p.push(b'/');
            p.extend_from_slice(&e.name);
            let first = seen.insert(e.ino);
            let depth = stack.len();
            out.push(Walked {
                path: p.clone(),
                ino: e.ino,
                first,
                depth,
            });
            if first && self.node(e.ino).is_some_and(|n| n.kind() == Kind::Dir) {
                stack.push((e.ino, 0, p));
            }
        }
        out
    }
}

/// Every section of `img`, decoded (a section of another file system is
/// an error: ramfs_cr is the only one that saves itself).
pub fn trees(img: &crate::Image) -> Result<Vec<Tree<'_>>, RamfsError> {
    img.sbs.iter().map(Tree::decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(check_entry_name(b"a"), None);
        assert_eq!(check_entry_name(&[b'x'; 255]), None);
        assert_eq!(check_entry_name("é\n".as_bytes()), None);
        assert!(check_entry_name(&[b'x'; 256]).is_some());
        for n in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(check_entry_name(n).is_some(), "{n:?}");
        }
        assert_eq!(escape(b"a\nb\\\xff\xc3\xa9"), "a\\x0ab\\x5c\\xffé");
    }

    #[test]
    fn records_round_trip() {
        let i = Inode {
            ino: 7,
            mode: 0o100644,
            nlink: 2,
            uid: 1000,
            gid: 100,
            rdev_major: 0,
            rdev_minor: 0,
            size: 12345,
            atime: Time { sec: -5, nsec: 1 },
            mtime: Time {
                sec: 1 << 40,
                nsec: 999_999_999,
            },
            ctime: Time::default(),
        };
        let r = i.encode();
        assert_eq!((r.kind, r.data.len()), (KIND_INODE, INODE_LEN));
        assert_eq!(Inode::decode(&r.data), Ok(i));
        let d = Dirent {
            dir: 1,
            ino: 7,
            seq: 3,
            name: b"x y".to_vec(),
        };
        let r = d.encode();
        assert_eq!(r.data.len(), DIRENT_LEN + 3);
        assert_eq!(Dirent::decode(&r.data), Ok(d));
        let s = Super {
            mount: u64::MAX,
            next_seq: 9,
        };
        assert_eq!(Super::decode(&s.encode().data), Ok(s));
    }
}
