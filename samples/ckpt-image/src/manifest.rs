//! Manifests: one line per path of a tree, the same from an image
//! ([`image_manifest`]) and from a mounted directory ([`live_manifest`]),
//! so that a test can compare what was saved with what was there.
//!
//! One line per path, depth first from the root, the entries of each
//! directory in readdir order (the order of the image; `read_dir` on the
//! live side), columns separated by a tab:
//!
//! ```text
//! path type mode uid gid size mtime atime link rdev target data
//! ```
//!
//! - `path`: "/" for the root, "/a/b" below it, [`escape`]d (control
//!   characters, '\\' and bytes that are not UTF-8 as `\xHH`);
//! - `type`: dir, reg, symlink, chr, blk, fifo or sock;
//! - `mode`: the permission bits (`mode & 07777`) in octal, 4 digits;
//! - `uid`, `gid`, `size` in decimal;
//! - `mtime`, `atime`: `seconds.nanoseconds` (9 digits);
//! - `link`: `#N`, the inode's number in the order inodes are first met
//!   on this walk (the root is `#1`): two paths of one inode (hard links)
//!   have the same number, on both sides;
//! - `rdev`: `major:minor` for a device, `-` otherwise;
//! - `target`: a symlink's target, escaped, `-` otherwise;
//! - `data`: `crc32c:XXXXXXXX` for a regular file, the CRC32C (as the
//!   image's, `Documentation/checkpoint/format.rst`) of its `size` bytes,
//!   holes read as zeros; `-` otherwise.
//!
//! Inodes no entry names (unlinked but open) have no path and are not in
//! a manifest.  ctime is left out: nothing can set it back.

use crate::ramfs::{escape, Kind, Time, Tree};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// One line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: Time,
    pub atime: Time,
    pub link: u64,
    pub rdev: Option<(u32, u32)>,
    pub target: Option<Vec<u8>>,
    pub crc: Option<u32>,
}

impl Line {
    /// The line, without its newline.
    pub fn text(&self) -> String {
        let t = |t: Time| format!("{}.{:09}", t.sec, t.nsec);
        format!(
            "{}\t{}\t{:04o}\t{}\t{}\t{}\t{}\t{}\t#{}\t{}\t{}\t{}",
            escape(&self.path),
            self.kind.name(),
            self.perm,
            self.uid,
            self.gid,
            self.size,
            t(self.mtime),
            t(self.atime),
            self.link,
            self.rdev
                .map_or("-".to_string(), |(a, b)| format!("{a}:{b}")),
            self.target.as_deref().map_or("-".to_string(), escape),
            self.crc
                .map_or("-".to_string(), |c| format!("crc32c:{c:08x}")),
        )
    }
}

/// The text of `lines`, one per line, each ending with a newline.
pub fn format(lines: &[Line]) -> String {
    lines.iter().map(|l| l.text() + "\n").collect()
}

/// Numbers identities (image ids, `(dev, ino)` pairs) 1, 2, ... in the
/// order they are first seen.
struct Links<K>(HashMap<K, u64>);

impl<K: std::hash::Hash + Eq> Links<K> {
    fn number(&mut self, k: K) -> u64 {
        let n = self.0.len() as u64 + 1;
        *self.0.entry(k).or_insert(n)
    }
}

/// The manifest of a saved tree.
pub fn image_lines(tree: &Tree) -> Vec<Line> {
    let mut links = Links(HashMap::new());
    tree.walk()
        .into_iter()
        .map(|w| {
            let n = tree.node(w.ino).expect("the walk names defined inodes");
            let i = &n.inode;
            let kind = n.kind();
            Line {
                path: w.path,
                kind,
                perm: i.mode & 0o7777,
                uid: i.uid,
                gid: i.gid,
                size: i.size,
                mtime: i.mtime,
                atime: i.atime,
                link: links.number(w.ino),
                rdev: matches!(kind, Kind::Chr | Kind::Blk).then_some((i.rdev_major, i.rdev_minor)),
                target: (kind == Kind::Symlink).then(|| n.data()),
                crc: (kind == Kind::Reg).then(|| n.data_crc32c()),
            }
        })
        .collect()
}

/// [`image_lines`] as text.
pub fn image_manifest(tree: &Tree) -> String {
    format(&image_lines(tree))
}

/// CRC32C of the file `p` (opened without following a symlink, and
/// without updating its atime when allowed).
fn file_crc(p: &Path) -> io::Result<u32> {
    let open = |noatime: bool| {
        let flags = libc::O_NOFOLLOW | if noatime { libc::O_NOATIME } else { 0 };
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(p)
    };
    let mut f = match open(true) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(false)?,
        r => r?,
    };
    let mut crc = !0u32;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc = crate::crc32c::update(crc, &buf[..n]);
    }
    Ok(!crc)
}

fn line_of(path: Vec<u8>, full: &Path, m: &fs::Metadata, link: u64) -> io::Result<Line> {
    let kind = Kind::of(m.mode()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: mode {:#o}", full.display(), m.mode()),
        )
    })?;
    let dev = m.rdev();
    Ok(Line {
        path,
        kind,
        perm: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        size: m.size(),
        mtime: Time {
            sec: m.mtime(),
            nsec: m.mtime_nsec() as u32,
        },
        atime: Time {
            sec: m.atime(),
            nsec: m.atime_nsec() as u32,
        },
        link,
        rdev: matches!(kind, Kind::Chr | Kind::Blk).then(|| (libc::major(dev), libc::minor(dev))),
        target: match kind {
            Kind::Symlink => Some(fs::read_link(full)?.as_os_str().as_bytes().to_vec()),
            _ => None,
        },
        crc: match kind {
            Kind::Reg => Some(file_crc(full)?),
            _ => None,
        },
    })
}

/// The manifest of the directory `root` as it is now: `lstat` of every
/// path, entries in `read_dir` (readdir) order, depth first; directories
/// of another file system (mount points) are listed but not entered.
/// Each path is `lstat`ed before its data or its entries are read, and
/// regular files are opened with `O_NOATIME` when allowed, so the atimes
/// are those from before the walk (reading a directory may still update
/// its atime afterwards: a second walk can see that).  On a file system
/// without holes in its `read` (ramfs, ramfs_cr), reading a sparse file
/// reads its holes as zeros, which may give them pages.
pub fn live_lines(root: &Path) -> io::Result<Vec<Line>> {
    let mut links = Links(HashMap::new());
    let m = fs::symlink_metadata(root)?;
    let dev = m.dev();
    let mut out = vec![line_of(
        b"/".to_vec(),
        root,
        &m,
        links.number((m.dev(), m.ino())),
    )?];
    if !m.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a directory", root.display()),
        ));
    }
    // (entries being read, the directory's manifest path)
    let mut stack = vec![(fs::read_dir(root)?, Vec::new())];
    // the line of the first name of each inode
    let mut seen: HashMap<(u64, u64), usize> = HashMap::from([((m.dev(), m.ino()), 0)]);
    while let Some((it, path)) = stack.last_mut() {
        let Some(e) = it.next() else {
            stack.pop();
            continue;
        };
        let e = e?;
        let full = e.path();
        let mut p = path.clone();
        p.push(b'/');
        p.extend_from_slice(e.file_name().as_bytes());
        let m = fs::symlink_metadata(&full)?;
        let id = (m.dev(), m.ino());
        // a further name of an inode: the line of its first name (reading
        // a symlink or a file again could have changed its atime)
        if let Some(&k) = seen.get(&id) {
            let line = Line {
                path: p,
                ..out[k].clone()
            };
            out.push(line);
            continue;
        }
        seen.insert(id, out.len());
        out.push(line_of(p.clone(), &full, &m, links.number(id))?);
        if m.is_dir() && m.dev() == dev {
            stack.push((fs::read_dir(&full)?, p));
        }
    }
    Ok(out)
}

/// [`live_lines`] as text.
pub fn live_manifest(root: &Path) -> io::Result<String> {
    Ok(format(&live_lines(root)?))
}
