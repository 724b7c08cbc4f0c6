//! Write the file systems saved in an image into an ordinary directory,
//! with no kernel support: `ckpt extract`.
//!
//! [`extract`] takes every superblock of the image: one is written into
//! the directory itself, several each into `sb<N>` (its `sb_id`) in it.
//! The directory must exist and be empty.  What a tree holds is written
//! as it was: directories, regular files (only their chunks: the holes
//! stay holes, the size is set with `ftruncate`), symlinks, hard links as
//! hard links, FIFOs, and device nodes when `mknod` is allowed (else a
//! warning and no node).  Sockets are left out with a warning: a socket
//! file is nothing without its listener.  The inodes no entry names
//! (unlinked but open) go to `.ckpt-unlinked/<id>` below the tree's
//! root, `<id>` their image id.
//!
//! Then, inode by inode, owners (`lchown`; a refusal when not root is one
//! warning), modes (after the owners: a `chown` clears set-user-ID bits)
//! and atime and mtime to the nanosecond (`utimensat`,
//! `AT_SYMLINK_NOFOLLOW`); directories last, the deepest first, so that
//! neither their children nor a mode without write or search permission
//! get in the way.  The root's attributes go to the directory it is
//! written into.
//!
//! Nothing is written outside the directory: every entry is created
//! relative to an open descriptor of its parent (`openat`, `mkdirat`,
//! `symlinkat`, `mknodat`, `linkat`), with `O_NOFOLLOW` and
//! `O_EXCL`/`AT_SYMLINK_NOFOLLOW`, and names were checked by the decoder
//! (1 to 255 bytes, no '/', not "." or "..").

use crate::ramfs::{check_entry_name, escape, Kind, Node, Tree};
use crate::Image;
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Where the unlinked inodes of a tree go, below its root.
pub const UNLINKED_DIR: &str = ".ckpt-unlinked";

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub dirs: usize,
    pub files: usize,
    /// Data bytes written (holes not counted).
    pub bytes: u64,
    pub symlinks: usize,
    /// Further names of inodes already written.
    pub hard_links: usize,
    pub fifos: usize,
    pub devices: usize,
    /// Inodes written to `.ckpt-unlinked`.
    pub unlinked: usize,
    /// What was not kept, one line each (printed by the caller).
    pub warnings: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} directories, {} files ({} bytes), {} symlinks, {} hard links, {} fifos, {} devices, {} unlinked; {} warning{}",
            self.dirs,
            self.files,
            self.bytes,
            self.symlinks,
            self.hard_links,
            self.fifos,
            self.devices,
            self.unlinked,
            self.warnings.len(),
            if self.warnings.len() == 1 { "" } else { "s" }
        )
    }
}

/// Why an extraction stopped: the path concerned (relative to the
/// directory) and what failed.
#[derive(Debug)]
pub struct ExtractError {
    pub path: String,
    pub what: String,
    pub err: Option<io::Error>,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.what)?;
        if let Some(e) = &self.err {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExtractError {}

fn err(path: &[u8], what: &str, e: io::Error) -> ExtractError {
    ExtractError {
        path: escape(path),
        what: what.to_string(),
        err: Some(e),
    }
}

fn cstr(b: &[u8]) -> CString {
    CString::new(b).expect("names and targets hold no NUL (checked by the decoder)")
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `openat(dir, name, flags)` as an owned fd.
fn open_at(dir: RawFd, name: &[u8], flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let n = cstr(name);
    // SAFETY: n is a valid C string; the fd returned is new and ours.
    let fd = unsafe {
        libc::openat(
            dir,
            n.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    check(fd)?;
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_dir_at(dir: RawFd, name: &[u8]) -> io::Result<OwnedFd> {
    open_at(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// An inode written, for its attributes afterwards: its path from the
/// directory's descriptor ("." for the root).
struct Done<'t, 'a> {
    node: &'t Node<'a>,
    path: Vec<u8>,
}

/// Extract every superblock of `img` into the existing empty directory
/// `dir`: see the module's documentation.
pub fn extract(img: &Image, dir: &Path) -> Result<Summary, ExtractError> {
    let whole = |what: String| ExtractError {
        path: dir.display().to_string(),
        what,
        err: None,
    };
    if img.sbs.is_empty() {
        return Err(whole(
            "the image holds no file system contents (it was taken without --contents)".into(),
        ));
    }
    let trees = crate::ramfs::trees(img).map_err(|e| whole(e.to_string()))?;
    let d = cstr(dir.as_os_str().as_bytes());
    // SAFETY: d is a valid C string.
    let fd = unsafe {
        libc::open(
            d.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(err(
            dir.as_os_str().as_bytes(),
            "cannot open the directory",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: a fresh fd we own.
    let base = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut entries =
        std::fs::read_dir(dir).map_err(|e| err(dir.as_os_str().as_bytes(), "cannot read", e))?;
    if entries.next().is_some() {
        return Err(whole("not empty".into()));
    }
    let mut sum = Summary::default();
    let mut owners_warned = false;
    if trees.len() == 1 {
        extract_tree(
            &trees[0],
            base.as_raw_fd(),
            b"",
            &mut sum,
            &mut owners_warned,
        )?;
    } else {
        for t in &trees {
            let name = format!("sb{}", t.sb_id);
            let n = cstr(name.as_bytes());
            // SAFETY: valid C string, base is an open directory.
            check(unsafe { libc::mkdirat(base.as_raw_fd(), n.as_ptr(), 0o700) })
                .map_err(|e| err(name.as_bytes(), "mkdir", e))?;
            let sub = open_dir_at(base.as_raw_fd(), name.as_bytes())
                .map_err(|e| err(name.as_bytes(), "open", e))?;
            extract_tree(
                t,
                sub.as_raw_fd(),
                name.as_bytes(),
                &mut sum,
                &mut owners_warned,
            )?;
        }
    }
    Ok(sum)
}

/// Create the inode `node` as `name` in `parent`.  Ok(false) when it is
/// left out (a warning says why).
fn create(
    node: &Node,
    parent: RawFd,
    name: &[u8],
    shown: &[u8],
    sum: &mut Summary,
) -> Result<bool, ExtractError> {
    let n = cstr(name);
    let i = &node.inode;
    match node.kind() {
        Kind::Dir => {
            // SAFETY: valid C string and directory fd.
            check(unsafe { libc::mkdirat(parent, n.as_ptr(), 0o700) })
                .map_err(|e| err(shown, "mkdir", e))?;
            sum.dirs += 1;
        }
        Kind::Reg => {
            let fd = open_at(
                parent,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )
            .map_err(|e| err(shown, "create", e))?;
            let f = File::from(fd);
            for e in &node.extents {
                f.write_all_at(e.data, e.offset)
                    .map_err(|er| err(shown, "write", er))?;
                sum.bytes += e.data.len() as u64;
            }
            f.set_len(i.size).map_err(|e| err(shown, "truncate", e))?;
            sum.files += 1;
        }
        Kind::Symlink => {
            let t = cstr(&node.data());
            // SAFETY: valid C strings and directory fd.
            check(unsafe { libc::symlinkat(t.as_ptr(), parent, n.as_ptr()) })
                .map_err(|e| err(shown, "symlink", e))?;
            sum.symlinks += 1;
        }
        Kind::Fifo => {
            // SAFETY: valid C string and directory fd.
            check(unsafe { libc::mknodat(parent, n.as_ptr(), libc::S_IFIFO | 0o600, 0) })
                .map_err(|e| err(shown, "mkfifo", e))?;
            sum.fifos += 1;
        }
        Kind::Chr | Kind::Blk => {
            let t = if node.kind() == Kind::Chr {
                libc::S_IFCHR
            } else {
                libc::S_IFBLK
            };
            let dev = libc::makedev(i.rdev_major, i.rdev_minor);
            // SAFETY: valid C string and directory fd.
            let r = check(unsafe { libc::mknodat(parent, n.as_ptr(), t | 0o600, dev) });
            match r {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    sum.warnings.push(format!(
                        "{}: device {}:{} not created: mknod: {e}",
                        escape(shown),
                        i.rdev_major,
                        i.rdev_minor
                    ));
                    return Ok(false);
                }
                r => r.map_err(|e| err(shown, "mknod", e))?,
            }
            sum.devices += 1;
        }
        Kind::Sock => {
            sum.warnings
                .push(format!("{}: socket left out", escape(shown)));
            return Ok(false);
        }
    }
    Ok(true)
}

fn extract_tree(
    tree: &Tree,
    base: RawFd,
    prefix: &[u8],
    sum: &mut Summary,
    owners_warned: &mut bool,
) -> Result<(), ExtractError> {
    // the path shown in messages
    let shown = |p: &[u8]| -> Vec<u8> {
        let mut v = prefix.to_vec();
        if !v.is_empty() && !p.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(p);
        v
    };
    let root = tree.node(tree.root).expect("decoded");
    let mut done = vec![Done {
        node: root,
        path: b".".to_vec(),
    }];
    // the first path of each inode written (None: left out), for hard links
    let mut first: std::collections::HashMap<u64, Option<Vec<u8>>> = Default::default();
    // open descriptors of the directories above the entry being written
    let mut dirs: Vec<OwnedFd> = Vec::new();
    for w in tree.walk().into_iter().skip(1) {
        let rel = &w.path[1..];
        let name = rel.rsplit(|&c| c == b'/').next().unwrap_or(rel);
        if let Some(why) = check_entry_name(name) {
            return Err(ExtractError {
                path: escape(&shown(rel)),
                what: format!("bad name: {why}"),
                err: None,
            });
        }
        dirs.truncate(w.depth - 1);
        let parent = dirs.last().map_or(base, |d| d.as_raw_fd());
        let node = tree.node(w.ino).expect("decoded");
        if !w.first {
            match first.get(&w.ino).expect("met before") {
                Some(target) => {
                    let (t, n) = (cstr(target), cstr(name));
                    // SAFETY: valid C strings and directory fds; flags 0:
                    // a symlink is linked, not followed.
                    check(unsafe { libc::linkat(base, t.as_ptr(), parent, n.as_ptr(), 0) })
                        .map_err(|e| err(&shown(rel), "link", e))?;
                    sum.hard_links += 1;
                }
                None => sum.warnings.push(format!(
                    "{}: not linked: its inode was left out",
                    escape(&shown(rel))
                )),
            }
            continue;
        }
        let made = create(node, parent, name, &shown(rel), sum)?;
        first.insert(w.ino, made.then(|| rel.to_vec()));
        if !made {
            continue;
        }
        if node.kind() == Kind::Dir {
            dirs.push(open_dir_at(parent, name).map_err(|e| err(&shown(rel), "open", e))?);
        }
        done.push(Done {
            node,
            path: rel.to_vec(),
        });
    }
    drop(dirs);
    if !tree.orphans.is_empty() {
        let u = UNLINKED_DIR.as_bytes();
        if root.entries.iter().any(|e| e.name == u) {
            return Err(ExtractError {
                path: escape(&shown(u)),
                what: "the saved root has an entry of that name: no room for the unlinked inodes"
                    .into(),
                err: None,
            });
        }
        let n = cstr(u);
        // SAFETY: valid C string and directory fd.
        check(unsafe { libc::mkdirat(base, n.as_ptr(), 0o700) })
            .map_err(|e| err(&shown(u), "mkdir", e))?;
        let ufd = open_dir_at(base, u).map_err(|e| err(&shown(u), "open", e))?;
        for &id in &tree.orphans {
            let node = tree.node(id).expect("decoded");
            let name = id.to_string();
            let rel = [u, b"/", name.as_bytes()].concat();
            if create(node, ufd.as_raw_fd(), name.as_bytes(), &shown(&rel), sum)? {
                sum.unlinked += 1;
                done.push(Done { node, path: rel });
            }
        }
    }
    // attributes: other inodes in order, then directories deepest first
    let (mut dirs, others): (Vec<_>, Vec<_>) =
        done.into_iter().partition(|d| d.node.kind() == Kind::Dir);
    dirs.reverse();
    for d in others.iter().chain(dirs.iter()) {
        set_attrs(d, base, &shown(&d.path), sum, owners_warned)?;
    }
    Ok(())
}

/// Owner, then mode, then times of an inode written.
fn set_attrs(
    d: &Done,
    base: RawFd,
    shown: &[u8],
    sum: &mut Summary,
    owners_warned: &mut bool,
) -> Result<(), ExtractError> {
    let i = &d.node.inode;
    let p = cstr(&d.path);
    // SAFETY: valid C string, directory fd; the final symlink is not followed.
    let r =
        check(unsafe { libc::fchownat(base, p.as_ptr(), i.uid, i.gid, libc::AT_SYMLINK_NOFOLLOW) });
    match r {
        // SAFETY: geteuid() cannot fail.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && unsafe { libc::geteuid() } != 0 => {
            if !*owners_warned {
                *owners_warned = true;
                sum.warnings.push(format!(
                    "{}: owners not kept (not root): lchown to {}:{}: {e}",
                    escape(shown),
                    i.uid,
                    i.gid
                ));
            }
        }
        r => r.map_err(|e| err(shown, "lchown", e))?,
    }
    if d.node.kind() != Kind::Symlink {
        // SAFETY: valid C string, directory fd; the path is not a symlink.
        check(unsafe { libc::fchmodat(base, p.as_ptr(), i.mode & 0o7777, 0) })
            .map_err(|e| err(shown, "chmod", e))?;
    }
    let ts = |t: crate::ramfs::Time| libc::timespec {
        tv_sec: t.sec as libc::time_t,
        tv_nsec: t.nsec as libc::c_long,
    };
    let times = [ts(i.atime), ts(i.mtime)];
    // SAFETY: valid C string, directory fd and two timespecs.
    check(unsafe { libc::utimensat(base, p.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map_err(|e| err(shown, "utimensat", e))
}
