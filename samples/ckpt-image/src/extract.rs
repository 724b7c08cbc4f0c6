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
//! Each inode gets its owner (`lchown`; a refusal when not root is one
//! warning), then its mode (after the owner: a `chown` clears set-user-ID
//! bits), then its atime and mtime to the nanosecond (`futimens`,
//! `utimensat` with `AT_SYMLINK_NOFOLLOW`) as it is written; a directory
//! once all its entries are (the deepest first), so that writing them
//! does not change its times, and one without search permission for its
//! owner at the very end, so that hard links can be made through it.
//! The root's attributes go to the directory it is written into, last.
//!
//! Nothing is written outside the directory: names were checked by the
//! decoder (1 to 255 bytes, no '/', not "." or ".."), and every entry is
//! created relative to an open descriptor of its parent (`openat` with
//! `O_EXCL|O_NOFOLLOW`, `mkdirat`, `symlinkat`, `mknodat`, `linkat` from a
//! directory reached component by component with `O_NOFOLLOW`).  The walk
//! holds the descriptor of the directory it writes in only and goes back
//! up by "..", checked against the device and inode it came from, so
//! neither the depth of the tree nor `PATH_MAX` limits it.

use crate::ramfs::{check_entry_name, escape, Kind, Node, Tree};
use crate::Image;
use std::collections::HashMap;
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
    let mut x = State {
        sum: &mut sum,
        owners_warned: false,
    };
    if trees.len() == 1 {
        extract_tree(&trees[0], base.as_raw_fd(), b"", &mut x)?;
    } else {
        for t in &trees {
            let name = format!("sb{}", t.sb_id);
            let n = cstr(name.as_bytes());
            // SAFETY: valid C string, base is an open directory.
            check(unsafe { libc::mkdirat(base.as_raw_fd(), n.as_ptr(), 0o700) })
                .map_err(|e| err(name.as_bytes(), "mkdir", e))?;
            let sub = open_dir_at(base.as_raw_fd(), name.as_bytes())
                .map_err(|e| err(name.as_bytes(), "open", e))?;
            extract_tree(t, sub.as_raw_fd(), name.as_bytes(), &mut x)?;
        }
    }
    Ok(sum)
}

/// How the attributes of an inode are set: through an open descriptor of
/// it, or by its name in an open directory (symlinks, FIFOs, devices and
/// directories set last) without following a symlink.
#[derive(Clone, Copy)]
enum Target<'n> {
    Fd(RawFd),
    At(RawFd, &'n [u8]),
}

/// Owner, then mode (a `chown` clears set-user-ID bits), then atime and
/// mtime of `node`.  A refused `lchown` when not root is one warning for
/// the whole extraction.
fn set_attrs(t: Target, node: &Node, shown: &[u8], x: &mut State) -> Result<(), ExtractError> {
    let i = &node.inode;
    let r = match t {
        // SAFETY: an open fd.
        Target::Fd(fd) => check(unsafe { libc::fchown(fd, i.uid, i.gid) }),
        Target::At(dir, name) => {
            let n = cstr(name);
            // SAFETY: valid C string and directory fd; no symlink followed.
            check(unsafe {
                libc::fchownat(dir, n.as_ptr(), i.uid, i.gid, libc::AT_SYMLINK_NOFOLLOW)
            })
        }
    };
    match r {
        // SAFETY: geteuid() cannot fail.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && unsafe { libc::geteuid() } != 0 => {
            if !x.owners_warned {
                x.owners_warned = true;
                x.sum.warnings.push(format!(
                    "{}: owners not kept (not root): lchown to {}:{}: {e}",
                    escape(shown),
                    i.uid,
                    i.gid
                ));
            }
        }
        r => r.map_err(|e| err(shown, "lchown", e))?,
    }
    let mode = i.mode & 0o7777;
    match (t, node.kind()) {
        // a symlink has no mode of its own
        (_, Kind::Symlink) => Ok(()),
        // SAFETY: an open fd.
        (Target::Fd(fd), _) => check(unsafe { libc::fchmod(fd, mode) }),
        (Target::At(dir, name), _) => {
            let n = cstr(name);
            // SAFETY: valid C string and directory fd; the name is not a
            // symlink (it was created here as something else).
            check(unsafe { libc::fchmodat(dir, n.as_ptr(), mode, 0) })
        }
    }
    .map_err(|e| err(shown, "chmod", e))?;
    let ts = |t: crate::ramfs::Time| libc::timespec {
        tv_sec: t.sec as libc::time_t,
        tv_nsec: t.nsec as libc::c_long,
    };
    let times = [ts(i.atime), ts(i.mtime)];
    match t {
        // SAFETY: an open fd and two timespecs.
        Target::Fd(fd) => check(unsafe { libc::futimens(fd, times.as_ptr()) }),
        Target::At(dir, name) => {
            let n = cstr(name);
            // SAFETY: valid C string, directory fd and two timespecs.
            check(unsafe {
                libc::utimensat(dir, n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW)
            })
        }
    }
    .map_err(|e| err(shown, "utimensat", e))
}

/// What an extraction carries along.
struct State<'s> {
    sum: &'s mut Summary,
    owners_warned: bool,
}

/// Create the inode `node` as `name` in `parent`, with its attributes
/// unless it is a directory (whose attributes are set once its entries
/// are written).  Ok(false) when it is left out (a warning says why).
fn create(
    node: &Node,
    parent: RawFd,
    name: &[u8],
    shown: &[u8],
    x: &mut State,
) -> Result<bool, ExtractError> {
    let n = cstr(name);
    let i = &node.inode;
    let at = Target::At(parent, name);
    match node.kind() {
        Kind::Dir => {
            // SAFETY: valid C string and directory fd.
            check(unsafe { libc::mkdirat(parent, n.as_ptr(), 0o700) })
                .map_err(|e| err(shown, "mkdir", e))?;
            x.sum.dirs += 1;
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
                x.sum.bytes += e.data.len() as u64;
            }
            f.set_len(i.size).map_err(|e| err(shown, "truncate", e))?;
            set_attrs(Target::Fd(f.as_raw_fd()), node, shown, x)?;
            x.sum.files += 1;
        }
        Kind::Symlink => {
            let t = cstr(&node.data());
            // SAFETY: valid C strings and directory fd.
            check(unsafe { libc::symlinkat(t.as_ptr(), parent, n.as_ptr()) })
                .map_err(|e| err(shown, "symlink", e))?;
            set_attrs(at, node, shown, x)?;
            x.sum.symlinks += 1;
        }
        Kind::Fifo => {
            // SAFETY: valid C string and directory fd.
            check(unsafe { libc::mknodat(parent, n.as_ptr(), libc::S_IFIFO | 0o600, 0) })
                .map_err(|e| err(shown, "mkfifo", e))?;
            set_attrs(at, node, shown, x)?;
            x.sum.fifos += 1;
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
                    x.sum.warnings.push(format!(
                        "{}: device {}:{} not created: mknod: {e}",
                        escape(shown),
                        i.rdev_major,
                        i.rdev_minor
                    ));
                    return Ok(false);
                }
                r => r.map_err(|e| err(shown, "mknod", e))?,
            }
            set_attrs(at, node, shown, x)?;
            x.sum.devices += 1;
        }
        Kind::Sock => {
            x.sum
                .warnings
                .push(format!("{}: socket left out", escape(shown)));
            return Ok(false);
        }
    }
    Ok(true)
}

/// Device and inode of an open fd.
fn ident(fd: RawFd) -> io::Result<(u64, u64)> {
    // SAFETY: zeroed is a valid stat to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open fd and a stat buffer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

/// The directory holding `rel` (a path below `base` made of directories
/// this extraction created), opened component by component without
/// following a symlink, and the last component: no `PATH_MAX` limit.
fn open_parent(base: RawFd, rel: &[u8]) -> io::Result<(Option<OwnedFd>, &[u8])> {
    let mut parts: Vec<&[u8]> = rel.split(|&c| c == b'/').collect();
    let name = parts.pop().unwrap_or(rel);
    let mut dir: Option<OwnedFd> = None;
    for p in parts {
        let at = dir.as_ref().map_or(base, |d| d.as_raw_fd());
        dir = Some(open_at(
            at,
            p,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?);
    }
    Ok((dir, name))
}

/// A directory being written: its inode, its path from the tree's root
/// and its identity.
struct Level<'t, 'a> {
    node: &'t Node<'a>,
    rel: Vec<u8>,
    id: (u64, u64),
}

/// Leave the directory at the end of `chain` (its descriptor `cur`): its
/// attributes (or later, in `deferred`, without search permission for
/// its owner), then back to its parent by "..", which must be the
/// directory entered before it (`base_id` for the root).
fn leave<'t, 'a>(
    chain: &mut Vec<Level<'t, 'a>>,
    cur: &mut Option<OwnedFd>,
    deferred: &mut Vec<Level<'t, 'a>>,
    base_id: (u64, u64),
    shown: &dyn Fn(&[u8]) -> Vec<u8>,
    x: &mut State,
) -> Result<(), ExtractError> {
    let l = chain.pop().expect("a directory to leave");
    let fd = cur.take().expect("its descriptor");
    let here = shown(&l.rel);
    if l.node.inode.mode & 0o100 == 0 {
        deferred.push(l);
    } else {
        set_attrs(Target::Fd(fd.as_raw_fd()), l.node, &here, x)?;
    }
    let up = open_at(fd.as_raw_fd(), b"..", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| err(&here, "open ..", e))?;
    let want = chain.last().map_or(base_id, |c| c.id);
    if ident(up.as_raw_fd()).map_err(|e| err(&here, "fstat ..", e))? != want {
        return Err(ExtractError {
            path: escape(&here),
            what: "its parent moved during the extraction".into(),
            err: None,
        });
    }
    *cur = (!chain.is_empty()).then_some(up);
    Ok(())
}

/// Write `tree` into the directory `base` (`prefix` its name in
/// messages).  The walk holds a descriptor of the directory it writes in
/// only, goes back up by ".." (checked against the device and inode it
/// left), and sets a directory's attributes as it leaves it, so neither
/// the depth of the tree nor `PATH_MAX` limits it.  A directory without
/// search permission for its owner gets its attributes at the end,
/// deepest first, so that hard links can still be made through it.
fn extract_tree(
    tree: &Tree,
    base: RawFd,
    prefix: &[u8],
    x: &mut State,
) -> Result<(), ExtractError> {
    let shown = |p: &[u8]| -> Vec<u8> {
        let mut v = prefix.to_vec();
        if !v.is_empty() && !p.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(p);
        v
    };
    let base_id = ident(base).map_err(|e| err(&shown(b""), "fstat", e))?;
    let root = tree.node(tree.root).expect("decoded");
    // the first path of each inode written (None: left out), for hard links
    let mut first: HashMap<u64, Option<Vec<u8>>> = HashMap::new();
    let mut chain: Vec<Level> = Vec::new();
    // the descriptor of chain.last(), None for base
    let mut cur: Option<OwnedFd> = None;
    let mut deferred: Vec<Level> = Vec::new();
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
        while chain.len() > w.depth - 1 {
            leave(&mut chain, &mut cur, &mut deferred, base_id, &shown, x)?;
        }
        let parent = cur.as_ref().map_or(base, |d| d.as_raw_fd());
        let node = tree.node(w.ino).expect("decoded");
        if !w.first {
            match first.get(&w.ino).expect("met before") {
                Some(src) => {
                    let (dir, sname) =
                        open_parent(base, src).map_err(|e| err(&shown(src), "open", e))?;
                    let sdir = dir.as_ref().map_or(base, |d| d.as_raw_fd());
                    let (s, n) = (cstr(sname), cstr(name));
                    // SAFETY: valid C strings and directory fds; flags 0:
                    // a symlink is linked, not followed.
                    check(unsafe { libc::linkat(sdir, s.as_ptr(), parent, n.as_ptr(), 0) })
                        .map_err(|e| err(&shown(rel), "link", e))?;
                    x.sum.hard_links += 1;
                }
                None => x.sum.warnings.push(format!(
                    "{}: not linked: its inode was left out",
                    escape(&shown(rel))
                )),
            }
            continue;
        }
        let made = create(node, parent, name, &shown(rel), x)?;
        first.insert(w.ino, made.then(|| rel.to_vec()));
        if made && node.kind() == Kind::Dir {
            let fd = open_dir_at(parent, name).map_err(|e| err(&shown(rel), "open", e))?;
            let id = ident(fd.as_raw_fd()).map_err(|e| err(&shown(rel), "fstat", e))?;
            chain.push(Level {
                node,
                rel: rel.to_vec(),
                id,
            });
            cur = Some(fd);
        }
    }
    while !chain.is_empty() {
        leave(&mut chain, &mut cur, &mut deferred, base_id, &shown, x)?;
    }
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
            let here = shown(&[u, b"/", name.as_bytes()].concat());
            if create(node, ufd.as_raw_fd(), name.as_bytes(), &here, x)? {
                x.sum.unlinked += 1;
                if node.kind() == Kind::Dir {
                    set_attrs(Target::At(ufd.as_raw_fd(), name.as_bytes()), node, &here, x)?;
                }
            }
        }
    }
    for l in deferred {
        let (dir, name) = open_parent(base, &l.rel).map_err(|e| err(&shown(&l.rel), "open", e))?;
        let dir = dir.as_ref().map_or(base, |d| d.as_raw_fd());
        set_attrs(Target::At(dir, name), l.node, &shown(&l.rel), x)?;
    }
    set_attrs(Target::Fd(base), root, &shown(b"."), x)
}
