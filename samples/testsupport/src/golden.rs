//! The set-up of the golden images: images the patched kernel wrote (by
//! `cr-harness --golden DIR` in the VM) and that are committed in
//! `samples/testdata/golden/`, so that the host decoder is checked against
//! real kernel output.  The VM makes each image by applying its steps in
//! a child with an empty fd table and checkpointing that child; the host
//! test derives what the image must hold from the same steps.

/// Where the VM mounts ramfs_cr (mode=0755) for the golden images.
pub const MNT: &str = "/mnt/golden";

/// Files the VM creates on [`MNT`] before any image: (name, bytes).
pub const FILES: &[(&str, &[u8])] = &[
    ("a", b"0123456789abcdef"),
    ("b", b"bbbbbbbb"),
    ("log", b"line 1\n"),
    ("sub/c", b"in sub"),
];

/// One step of a golden image's set-up (paths relative to [`MNT`]).
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// open(2) `path` with `flags` (libc values) at fd `fd`.
    Open {
        path: &'static str,
        flags: i32,
        fd: i32,
    },
    /// lseek(fd, pos, SEEK_SET).
    Seek { fd: i32, pos: i64 },
    /// dup2(from, to): `to` shares `from`'s open file.
    Dup { from: i32, to: i32 },
    /// fcntl(F_SETFD, FD_CLOEXEC).
    Cloexec { fd: i32 },
    /// chdir(2).
    Chdir(&'static str),
}

/// [`Step::Open`].
pub const fn open(path: &'static str, flags: i32, fd: i32) -> Step {
    Step::Open { path, flags, fd }
}

/// [`Step::Seek`].
pub const fn seek(fd: i32, pos: i64) -> Step {
    Step::Seek { fd, pos }
}

/// [`Step::Dup`].
pub const fn dup(from: i32, to: i32) -> Step {
    Step::Dup { from, to }
}

/// [`Step::Cloexec`].
pub const fn cloexec(fd: i32) -> Step {
    Step::Cloexec { fd }
}

/// A golden image: its file name in `samples/testdata/golden/` and steps.
pub struct Golden {
    pub file: &'static str,
    pub steps: &'static [Step],
}

// libc's values on x86_64, so that this crate needs no libc
pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_RDWR: i32 = 2;
pub const O_APPEND: i32 = 0o2000;
pub const O_NONBLOCK: i32 = 0o4000;
pub const O_DIRECTORY: i32 = 0o200000;

pub const GOLDEN: &[Golden] = &[
    Golden {
        file: "empty.img",
        steps: &[Step::Chdir("sub")],
    },
    Golden {
        file: "files.img",
        steps: &[
            open("a", O_RDWR, 3),
            seek(3, 5),
            dup(3, 4),
            open("b", O_RDONLY | O_NONBLOCK, 6),
            seek(6, 2),
            cloexec(6),
            open("sub", O_RDONLY | O_DIRECTORY, 7),
            open("log", O_WRONLY | O_APPEND, 9),
            Step::Chdir("sub"),
        ],
    },
    // A directory reader past its only entry: ramfs_cr's FILE_FS record.
    Golden {
        file: "dirpos.img",
        steps: &[open("sub", O_RDONLY | O_DIRECTORY, 3), seek(3, 3)],
    },
];

/// What an fd of a golden image must record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantFd {
    pub fd: i32,
    /// Absolute name (below [`MNT`]).
    pub name: String,
    /// `O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY` bits of f_flags.
    pub flags: i32,
    pub pos: i64,
    pub close_on_exec: bool,
    /// The fd whose open file this one shares (the lowest), itself if none.
    pub shares: i32,
}

/// What an image of a process set up by `steps` (paths relative to
/// `base`) must record: its fds (ascending) and cwd, derived from the
/// steps alone (the cwd is `base` when no step changes it).
pub fn expected(steps: &[Step], base: &str) -> (Vec<WantFd>, String) {
    let mut fds: Vec<WantFd> = Vec::new();
    let mut cwd = base.to_string();
    for s in steps {
        match *s {
            Step::Open { path, flags, fd } => fds.push(WantFd {
                fd,
                name: format!("{base}/{path}"),
                flags,
                pos: 0,
                close_on_exec: false,
                shares: fd,
            }),
            Step::Seek { fd, pos } => {
                let of = fds.iter().find(|w| w.fd == fd).unwrap().shares;
                for w in fds.iter_mut().filter(|w| w.shares == of) {
                    w.pos = pos;
                }
            }
            Step::Dup { from, to } => {
                let mut w = fds.iter().find(|w| w.fd == from).unwrap().clone();
                w.fd = to;
                w.close_on_exec = false;
                fds.push(w);
            }
            Step::Cloexec { fd } => {
                fds.iter_mut().find(|w| w.fd == fd).unwrap().close_on_exec = true;
            }
            Step::Chdir(p) => cwd = format!("{base}/{p}"),
        }
    }
    fds.sort_by_key(|w| w.fd);
    (fds, cwd)
}
