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
use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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

fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW)`.
fn open_at(dir: RawFd, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let n = cstr(name)?;
    // SAFETY: n is a valid C string; the fd returned is new and ours.
    let fd = check(unsafe {
        libc::openat(dir, n.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW)
    })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `fstat(dir)` for an empty name.
fn stat_at(dir: RawFd, name: &[u8]) -> io::Result<libc::stat> {
    let n = cstr(name)?;
    let empty = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        0
    };
    // SAFETY: zeroed is a valid stat to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and stat buffer.
    check(unsafe { libc::fstatat(dir, n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW | empty) })?;
    Ok(st)
}

/// The names in directory `dir`, in readdir order, "." and ".." left out.
fn read_names(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    // SAFETY: dup of an open fd; fdopendir takes the copy over.
    let fd = check(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: fd is a directory fd we own; the stream owns it from here.
    let d = unsafe { libc::fdopendir(fd) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed: the fd is still ours.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let mut names = Vec::new();
    let r = loop {
        // SAFETY: readdir(3) tells the end from an error by errno.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: d is an open directory stream.
        let e = unsafe { libc::readdir64(d) };
        if e.is_null() {
            let err = io::Error::last_os_error();
            break match err.raw_os_error() {
                Some(0) => Ok(()),
                _ => Err(err),
            };
        }
        // SAFETY: the d_name of a returned entry is a NUL-terminated string.
        let n = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) }.to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    };
    // SAFETY: d is open; this closes its fd.
    unsafe { libc::closedir(d) };
    r.map(|_| names)
}

/// `statfs` f_type of the file systems whose page cache is all there is:
/// ramfs, ramfs_cr and tmpfs (without swap).
const IN_MEMORY: [i64; 3] = [0x858458f6, 0x5243_4652, 0x0102_1994];

/// CRC32C of the regular file `name` in `dir`, read without updating its
/// atime when allowed.  On an in-memory file system ([`IN_MEMORY`]) only
/// the pages in the page cache of a file above 64 KiB are read, the rest counted as the zeros of
/// a hole: reading a hole of ramfs gives it a page, so reading a sparse
/// 1 GiB file would fill 1 GiB.  mincore(2) of a mapping that is never
/// touched tells which pages are there; it is exact for the file's owner
/// or a writer, as the caller of a manifest is.
fn file_crc(dir: RawFd, name: &[u8]) -> io::Result<u32> {
    let fd = match open_at(dir, name, libc::O_RDONLY | libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open_at(dir, name, libc::O_RDONLY)?,
        r => r?,
    };
    let f = fs::File::from(fd);
    let size = f.metadata()?.len();
    // A small file is read whole (its holes, if any, cost a page each).
    let sparse_worth = size > 1 << 16;
    let resident = (sparse_worth && in_memory(&f)?)
        .then(|| resident_pages(&f, size))
        .flatten();
    let mut crc = !0u32;
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    while off < size {
        let page = (off / 4096) as usize;
        if let Some(r) = resident.as_ref().filter(|r| r[page] & 1 == 0) {
            // A run of absent pages at once: update_zeros is O(log len).
            let run = r[page..].iter().take_while(|&&b| b & 1 == 0).count() as u64;
            let len = (run * 4096 - off % 4096).min(size - off);
            crc = crate::crc32c::update_zeros(crc, len);
            off += len;
            continue;
        }
        // Page by page when pages are told apart, else a buffer at a time.
        let step = if resident.is_some() {
            4096 - off % 4096
        } else {
            buf.len() as u64
        };
        let want = step.min(size - off) as usize;
        let n = std::os::unix::fs::FileExt::read_at(&f, &mut buf[..want], off)?;
        if n == 0 {
            break;
        }
        crc = crate::crc32c::update(crc, &buf[..n]);
        off += n as u64;
    }
    Ok(!crc)
}

fn in_memory(f: &fs::File) -> io::Result<bool> {
    // SAFETY: zeroed is a valid statfs to fill in.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a statfs to fill in.
    check(unsafe { libc::fstatfs(f.as_raw_fd(), &mut s) })?;
    Ok(IN_MEMORY.contains(&(s.f_type as i64)))
}

/// One byte per page of `f` (mincore(2)): bit 0 set when the page is in
/// the page cache; `None` when it cannot be told.
fn resident_pages(f: &fs::File, size: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(size).ok().filter(|&l| l > 0)?;
    // SAFETY: a read-only shared mapping of the file, never touched, only
    // passed to mincore and unmapped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let mut v = vec![0u8; len.div_ceil(4096)];
    // SAFETY: `v` has one byte per page of the `len`-byte mapping at `p`.
    let r = unsafe { libc::mincore(p, len, v.as_mut_ptr()) };
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, len) };
    (r == 0).then_some(v)
}

/// The target of the symlink `name` in `dir`.
fn link_target(dir: RawFd, name: &[u8]) -> io::Result<Vec<u8>> {
    let n = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: valid C string, buffer of buf.len() bytes.
    let r = unsafe { libc::readlinkat(dir, n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// The line of `name` in `dir` (`st` its lstat), at `path`.
fn line_at(dir: RawFd, name: &[u8], st: &libc::stat, path: Vec<u8>, link: u64) -> io::Result<Line> {
    let kind = Kind::of(st.st_mode).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: mode {:#o}", escape(&path), st.st_mode),
        )
    })?;
    Ok(Line {
        kind,
        perm: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime: Time {
            sec: st.st_mtime,
            nsec: st.st_mtime_nsec as u32,
        },
        atime: Time {
            sec: st.st_atime,
            nsec: st.st_atime_nsec as u32,
        },
        link,
        rdev: matches!(kind, Kind::Chr | Kind::Blk)
            .then(|| (libc::major(st.st_rdev), libc::minor(st.st_rdev))),
        target: match kind {
            Kind::Symlink => Some(link_target(dir, name)?),
            _ => None,
        },
        crc: match kind {
            Kind::Reg => Some(file_crc(dir, name)?),
            _ => None,
        },
        path,
    })
}

/// A directory being walked: its entries, the next one, its manifest path
/// and its identity (device, inode).
struct Level {
    names: Vec<Vec<u8>>,
    next: usize,
    path: Vec<u8>,
    id: (u64, u64),
}

/// The manifest of the directory `root` as it is now: `lstat` of every
/// path, entries in readdir order, depth first; directories of another
/// file system (mount points) are listed but not entered.  Each path is
/// `lstat`ed before its data is read, and regular files are opened with
/// `O_NOATIME` when allowed, so their atimes are those from before the
/// walk; a directory's entries are read before its children are looked
/// at, which may update its atime (a second walk can see that).  The walk
/// goes from directory to directory by descriptor (`openat`, `fstatat`;
/// back up by "..", checked against the parent's device and inode), so
/// that neither the depth of the tree nor `PATH_MAX` limits it, with two
/// descriptors open at a time.  On a file system without holes in its
/// `read` (ramfs, ramfs_cr), only the pages a file has are read (see
/// `file_crc`).
pub fn live_lines(root: &Path) -> io::Result<Vec<Line>> {
    let mut links = Links(HashMap::new());
    let r = fs::File::open(root)?;
    if !r.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a directory", root.display()),
        ));
    }
    let mut cur = OwnedFd::from(r);
    let st = stat_at(cur.as_raw_fd(), b"")?;
    let id = (st.st_dev, st.st_ino);
    let root_line = line_at(cur.as_raw_fd(), b"", &st, b"/".to_vec(), links.number(id))?;
    let mut out = vec![root_line];
    // the line of the first name of each inode
    let mut seen: HashMap<(u64, u64), usize> = HashMap::from([(id, 0)]);
    let mut stack = vec![Level {
        names: read_names(&cur)?,
        next: 0,
        path: Vec::new(),
        id,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.names.get(top.next).cloned() else {
            stack.pop();
            if let Some(up) = stack.last() {
                cur = open_at(cur.as_raw_fd(), b"..", libc::O_RDONLY | libc::O_DIRECTORY)?;
                let st = stat_at(cur.as_raw_fd(), b"")?;
                if (st.st_dev, st.st_ino) != up.id {
                    return Err(io::Error::other(format!(
                        "{}: moved during the walk",
                        escape(&up.path)
                    )));
                }
            }
            continue;
        };
        top.next += 1;
        let mut p = top.path.clone();
        p.push(b'/');
        p.extend_from_slice(&name);
        let st = stat_at(cur.as_raw_fd(), &name)?;
        let id = (st.st_dev, st.st_ino);
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
        out.push(line_at(
            cur.as_raw_fd(),
            &name,
            &st,
            p.clone(),
            links.number(id),
        )?);
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR && st.st_dev == stack[0].id.0 {
            let child = open_at(cur.as_raw_fd(), &name, libc::O_RDONLY | libc::O_DIRECTORY)?;
            let names = read_names(&child)?;
            cur = child;
            stack.push(Level {
                names,
                next: 0,
                path: p,
                id,
            });
        }
    }
    Ok(out)
}

/// [`live_lines`] as text.
pub fn live_manifest(root: &Path) -> io::Result<String> {
    Ok(format(&live_lines(root)?))
}
