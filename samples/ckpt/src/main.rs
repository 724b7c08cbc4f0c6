//! `ckpt`: take, restore and inspect checkpoint images.
//!
//! ```text
//! ckpt checkpoint --pid P --out FILE [--log FILE] [--skip-unsupported] [--contents]
//! ckpt restart --in FILE [--log FILE] [--dry-run] [--mount OLD=NEW]...
//!              [--no-contents] [-- CMD ARGS...]
//! ckpt inspect FILE [--json | --manifest [--sb N]]
//! ckpt extract IMAGE DIR
//! ckpt manifest DIR
//! ckpt readdir FD [--count N]
//! ```
//! Errors are printed as `ckpt: <what>: <ERRNO> (<last kernel log line>)`.

use ckpt_image::syscalls::{self, errno_name};
use ckpt_image::*;
use clap::{Parser, Subcommand};
use std::ffi::CString;
use std::fs::{File as StdFile, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::ExitCode;

mod inspect;

#[derive(Parser)]
#[command(
    name = "ckpt",
    version,
    about = "Checkpoint and restart processes (checkpoint(2)/restart(2))"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write an image of a process's open files, cwd and root.
    Checkpoint {
        /// Process to checkpoint (0 = this ckpt process itself).
        #[arg(long)]
        pid: i32,
        /// Image file to write (created or truncated).
        #[arg(long, value_name = "FILE")]
        out: String,
        /// Also write the kernel's log messages to FILE.
        #[arg(long, value_name = "FILE")]
        log: Option<String>,
        /// Leave out fds whose file cannot be checkpointed instead of failing.
        #[arg(long)]
        skip_unsupported: bool,
        /// Also save the contents of the file systems that save themselves
        /// (ramfs_cr): CHECKPOINT_CONTENTS, a version 2 image.
        #[arg(long)]
        contents: bool,
    },
    /// Restore an image into this process, then exec CMD (which inherits the
    /// restored fds that are not close-on-exec, and the restored cwd/root).
    Restart {
        /// Image to read ("-" for standard input).
        #[arg(long = "in", value_name = "FILE")]
        input: String,
        /// Also write the kernel's log messages to FILE.
        #[arg(long, value_name = "FILE")]
        log: Option<String>,
        /// Validate the image and reopen its files, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Attach the file system saved at mount point OLD at NEW instead
        /// (an image with contents; repeatable).
        #[arg(long = "mount", value_name = "OLD=NEW")]
        mounts: Vec<String>,
        /// Do not rebuild the saved file systems: reopen the files on the
        /// file systems as they are (the restart of an image without
        /// contents).
        #[arg(long)]
        no_contents: bool,
        /// Command to exec after the restart (after `--`).
        #[arg(last = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Print the next entries of an inherited directory fd, one per line.
    ///
    /// The fd's open file description is shared with the process that
    /// handed it down, so this moves that process's readdir position too:
    /// scripts use it to read a directory partway before a checkpoint and
    /// to show the rest after a restart.
    Readdir {
        /// Directory file descriptor inherited from the parent.
        fd: RawFd,
        /// Read at most this many entries (default: to the end).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Decode every record of an image and verify its checksum.
    Inspect {
        /// Image to read ("-" for standard input).
        file: String,
        /// Print JSON instead of text.
        #[arg(long, conflicts_with = "manifest")]
        json: bool,
        /// Print only the manifest of a saved superblock: one line per path
        /// (see Documentation/ckpt.rst).
        #[arg(long)]
        manifest: bool,
        /// The superblock (sb_id) for --manifest, when the image has several.
        #[arg(long, value_name = "N", requires = "manifest")]
        sb: Option<u32>,
    },
    /// Print the manifest of a live directory tree, in the format of
    /// `inspect --manifest`: to compare a restored mount with its image.
    Manifest {
        /// Root of the tree (a mount point, say).
        dir: String,
    },
    /// Write the file systems saved in an image (checkpoint --contents) into
    /// an existing empty directory; no kernel support needed.
    Extract {
        /// Image to read ("-" for standard input).
        image: String,
        /// Existing empty directory to write into.
        dir: String,
    },
}

/// A log fd for the kernel: the --log file, or an anonymous memfd.
struct Log {
    file: StdFile,
    path: Option<String>,
}

impl Log {
    fn open(path: Option<&str>) -> io::Result<Log> {
        match path {
            Some(p) => {
                let file = OpenOptions::new()
                    .write(true)
                    .read(true)
                    .create(true)
                    .truncate(true)
                    .open(p)?;
                Ok(Log {
                    file,
                    path: Some(p.to_string()),
                })
            }
            None => {
                let name = CString::new("ckpt-log").unwrap();
                // SAFETY: valid NUL-terminated name; returns a new fd or -1.
                let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: fd is a fresh fd we own.
                Ok(Log {
                    file: unsafe { StdFile::from_raw_fd(fd) },
                    path: None,
                })
            }
        }
    }

    /// The last non-empty line the kernel wrote.
    fn last_line(&mut self) -> Option<String> {
        let mut s = String::new();
        let mut f = match &self.path {
            Some(p) => StdFile::open(p).ok()?,
            None => self.file.try_clone().ok()?,
        };
        f.seek(SeekFrom::Start(0)).ok()?;
        f.read_to_string(&mut s).ok()?;
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }
}

fn fail(what: &str, e: &io::Error, log: Option<&mut Log>) -> ExitCode {
    let name = e
        .raw_os_error()
        .map(errno_name)
        .unwrap_or_else(|| e.to_string());
    match log.and_then(|l| l.last_line()) {
        Some(l) => eprintln!("ckpt: {what}: {name} ({l})"),
        None => eprintln!("ckpt: {what}: {name}"),
    }
    ExitCode::FAILURE
}

/// All of `r`: the kernel holds no more than CKPT_IMAGE_MAX of an image
/// but for the data of its files, which makes no limit on its size.
fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf)?;
    Ok(buf)
}

fn read_input(path: &str) -> io::Result<Vec<u8>> {
    if path == "-" {
        read_all(io::stdin().lock())
    } else {
        read_all(StdFile::open(path)?)
    }
}

/// An image to restart from: the regular file it is (None for standard
/// input or anything else read whole), its bytes when they had to be
/// read, and the highest fd it records.
struct Input {
    file: Option<StdFile>,
    buf: Vec<u8>,
    top: Option<i32>,
}

/// Open `path` ("-": standard input) and find the image's highest fd.  A
/// regular file is read only at its end when that is the last FILE_DESC
/// and the TAIL (`last_fd()`), else only its record headers are read
/// (`highest_fd_at()`); anything else is read whole and its record
/// framing walked (`highest_fd()`).
fn open_input(path: &str) -> io::Result<Input> {
    let (file, buf) = if path == "-" {
        (None, read_input(path)?)
    } else {
        let f = StdFile::open(path)?;
        let meta = f.metadata()?;
        if !meta.file_type().is_file() {
            (None, read_all(f)?)
        } else {
            if meta.len() >= LAST_FD_WINDOW as u64 {
                let mut end = [0u8; LAST_FD_WINDOW];
                f.read_exact_at(&mut end, meta.len() - LAST_FD_WINDOW as u64)?;
                if let Some(fd) = last_fd(&end) {
                    return Ok(Input {
                        file: Some(f),
                        buf: Vec::new(),
                        top: Some(fd),
                    });
                }
            }
            let top = highest_fd_at(meta.len(), |off, b| f.read_exact_at(b, off));
            return Ok(Input {
                file: Some(f),
                buf: Vec::new(),
                top,
            });
        }
    };
    let top = highest_fd(&buf);
    Ok(Input { file, buf, top })
}

/// Move `fd` to a number >= `min` with close-on-exec set; closes the old one.
fn move_fd_above(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl on an fd we own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: closing the fd we just duplicated.
    unsafe { libc::close(fd) };
    Ok(n)
}

/// Exit status of `checkpoint` and `restart` on a kernel without the
/// checkpoint core (or with another image format version): distinct from
/// a failed call (1) and a usage error (2).
const EXIT_NO_KERNEL_SUPPORT: u8 = 3;

/// Nothing is created, read or called unless the kernel has the two system
/// calls: on a kernel without them their numbers may be other calls.
fn need_kernel_support() -> Result<(), ExitCode> {
    syscalls::kernel_support().map(|_| ()).map_err(|e| {
        eprintln!("ckpt: {e}");
        ExitCode::from(EXIT_NO_KERNEL_SUPPORT)
    })
}

fn cmd_checkpoint(pid: i32, out: &str, log: Option<&str>, flags: u64) -> ExitCode {
    if let Err(code) = need_kernel_support() {
        return code;
    }
    let img = match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(out)
    {
        Ok(f) => f,
        Err(e) => return fail(&format!("cannot create {out}"), &e, None),
    };
    let mut log = match Log::open(log) {
        Ok(l) => l,
        Err(e) => return fail("cannot open the log", &e, None),
    };
    match syscalls::checkpoint(pid, img.as_raw_fd(), flags, log.file.as_raw_fd()) {
        Ok(crid) => {
            println!("checkpoint id {crid}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("checkpoint of pid {pid}"), &e, Some(&mut log)),
    }
}

/// Make the soft RLIMIT_NOFILE at least `need` (one above the highest fd
/// this restart uses), as a user expects of a restore: raise it up to the
/// hard limit, or say in one line which fd needs which limit.
fn fit_nofile(top: Option<i32>, need: u64) -> Result<(), ExitCode> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(fail("getrlimit", &io::Error::last_os_error(), None));
    }
    if rl.rlim_cur >= need {
        return Ok(());
    }
    let what = match top {
        Some(fd) => format!("the image has fd {fd}"),
        None => "the image has no fds".to_string(),
    };
    if rl.rlim_max < need {
        eprintln!(
            "ckpt: {what}: restart needs RLIMIT_NOFILE {need}, above the hard limit {} (raise it: ulimit -Hn {need})",
            rl.rlim_max
        );
        return Err(ExitCode::FAILURE);
    }
    rl.rlim_cur = need;
    // SAFETY: rl holds the new soft limit, below the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        return Err(fail(
            &format!("{what}: raising RLIMIT_NOFILE to {need}"),
            &io::Error::last_os_error(),
            None,
        ));
    }
    Ok(())
}

/// The image for restart(2), positioned at its start: the regular file
/// `buf` was read from (no copy: the kernel reads it again), else a memfd
/// holding `buf` (standard input, a FIFO).
fn stage_image(file: Option<StdFile>, buf: &[u8]) -> io::Result<StdFile> {
    if let Some(mut f) = file {
        f.seek(SeekFrom::Start(0))?;
        return Ok(f);
    }
    let name = CString::new("ckpt-image").unwrap();
    // SAFETY: valid name; returns a new fd or -1.
    let mfd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if mfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: mfd is a fresh fd we own.
    let mut img = unsafe { StdFile::from_raw_fd(mfd) };
    img.write_all(buf)?;
    img.seek(SeekFrom::Start(0))?;
    Ok(img)
}

/// What `ckpt restart` does with the file systems an image saved.
struct Contents<'a> {
    /// Rebuild them (not `--no-contents`).
    rebuild: bool,
    /// `--mount OLD=NEW`.
    maps: &'a [String],
}

/// A saved file system to rebuild: its detached mount, above the recorded
/// fds, and where to attach it.
struct Rebuilt {
    mnt: std::os::fd::OwnedFd,
    target: CString,
}

/// Where a saved mount goes: `--mount OLD=NEW` for its OLD, else where it
/// was (under the task's saved root).
/// Whether `--mount OLD=...` names the file system saved at `mount`
/// (trailing slashes of OLD aside).
fn saved_at(old: &str, mount: &[u8]) -> bool {
    let old = old.trim_end_matches('/');
    mount == if old.is_empty() { "/" } else { old }.as_bytes()
}

fn mount_target(root: &[u8], mount: &[u8], maps: &[String]) -> Result<Vec<u8>, String> {
    for m in maps {
        let (old, new) = m
            .split_once('=')
            .filter(|(o, n)| o.starts_with('/') && !n.is_empty())
            .ok_or_else(|| format!("--mount {m}: not OLD=NEW with an absolute OLD"))?;
        if saved_at(old, mount) {
            return Ok(new.as_bytes().to_vec());
        }
    }
    let mut t = if root == b"/" {
        Vec::new()
    } else {
        root.to_vec()
    };
    t.extend_from_slice(mount);
    if t.len() > 1 && t.ends_with(b"/") {
        t.pop();
    }
    Ok(t)
}

/// One detached mount per file system the image saved, fds at `min` and
/// up, each checked to have a directory to be attached to.
fn make_mounts(
    saved: &(Vec<u8>, Vec<SavedMount>),
    maps: &[String],
    min: RawFd,
) -> Result<Vec<Rebuilt>, ExitCode> {
    let (root, mounts) = saved;
    for m in maps {
        let old = m.split_once('=').map_or(m.as_str(), |(o, _)| o);
        if !mounts.iter().any(|s| saved_at(old, &s.mount)) {
            eprintln!("ckpt: --mount {m}: the image saved no file system at {old}");
            return Err(ExitCode::FAILURE);
        }
    }
    let mut out = Vec::new();
    for s in mounts {
        let target = match mount_target(root, &s.mount, maps) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("ckpt: {e}");
                return Err(ExitCode::FAILURE);
            }
        };
        let shown = String::from_utf8_lossy(&target).into_owned();
        let Ok(target) = CString::new(target) else {
            eprintln!("ckpt: mount point {shown:?} contains a NUL byte");
            return Err(ExitCode::FAILURE);
        };
        match std::fs::metadata(&shown) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(fail(
                    &format!("mount point {shown}"),
                    &io::Error::from_raw_os_error(libc::ENOTDIR),
                    None,
                ))
            }
            Err(e) => return Err(fail(&format!("mount point {shown}"), &e, None)),
        }
        let mnt = match syscalls::detached_mount(&s.fs_name) {
            Ok(m) => m,
            Err(e) => {
                return Err(fail(
                    &format!("new {} mount for {shown}", s.fs_name),
                    &e,
                    None,
                ))
            }
        };
        let fd = match move_fd_above(std::os::fd::IntoRawFd::into_raw_fd(mnt), min) {
            Ok(fd) => fd,
            Err(e) => return Err(fail("fcntl", &e, None)),
        };
        // SAFETY: `fd` is the mount fd just moved, ours from here on.
        let mnt = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        out.push(Rebuilt { mnt, target });
    }
    Ok(out)
}

/// The image's saved root and file systems, from its record framing.
fn read_saved_mounts(file: Option<&StdFile>, buf: &[u8]) -> Option<(Vec<u8>, Vec<SavedMount>)> {
    match file {
        Some(f) if buf.is_empty() => saved_mounts(|off, b| f.read_exact_at(b, off)),
        _ => saved_mounts(read_at_slice(buf)),
    }
}

fn cmd_restart(
    input: &str,
    log: Option<&str>,
    dry_run: bool,
    contents: Contents<'_>,
    cmd: &[String],
) -> ExitCode {
    if let Err(code) = need_kernel_support() {
        return code;
    }
    let Input { file, buf, top } = match open_input(input) {
        Ok(i) => i,
        Err(e) => return fail(&format!("cannot read {input}"), &e, None),
    };
    // The file systems to rebuild; none when the image saved none (or its
    // framing is broken: restart(2) says how).
    let saved = if contents.rebuild {
        read_saved_mounts(file.as_ref(), &buf).filter(|(_, m)| !m.is_empty())
    } else {
        None
    };
    if saved.is_none() && !contents.maps.is_empty() {
        eprintln!("ckpt: --mount: the image has no file system to rebuild");
        return ExitCode::FAILURE;
    }
    // The kernel installs fds at their recorded numbers, replacing what is
    // there: keep the image and log fds above every recorded fd.  Only the
    // image's end, or its record framing, is read here; restart(2) checks
    // everything.
    let min = top.unwrap_or(0).clamp(2, 1 << 20) + 1;
    // The image fd and the log fd go to `min` and `min + 1`, and the kernel
    // installs the recorded fds below the caller's RLIMIT_NOFILE.
    if let Err(code) = fit_nofile(top, min as u64 + 2) {
        return code;
    }
    let mut log = match Log::open(log) {
        Ok(l) => l,
        Err(e) => return fail("cannot open the log", &e, None),
    };
    // A regular file goes to the kernel as it is, read from its start; what
    // came from standard input is staged in a memfd.
    let img = match stage_image(file, &buf) {
        Ok(f) => f,
        Err(e) => return fail("cannot stage the image", &e, None),
    };
    drop(buf);
    let img_fd = match move_fd_above(std::os::fd::IntoRawFd::into_raw_fd(img), min) {
        Ok(fd) => fd,
        Err(e) => return fail("fcntl", &e, None),
    };
    let log_fd = match move_fd_above(
        std::os::fd::IntoRawFd::into_raw_fd(log.file.try_clone().unwrap()),
        min,
    ) {
        Ok(fd) => fd,
        Err(e) => return fail("fcntl", &e, None),
    };
    // Keep only the high copy of the log fd open.
    // SAFETY: log_fd is the fresh duplicate made above, owned from here on.
    drop(std::mem::replace(&mut log.file, unsafe {
        StdFile::from_raw_fd(log_fd)
    }));
    // Made only now, above the log fd's number too.
    let rebuilt = match &saved {
        Some(s) => match make_mounts(s, contents.maps, min + 2) {
            Ok(r) => r,
            Err(code) => return code,
        },
        None => Vec::new(),
    };
    let mnt_fds: Vec<RawFd> = rebuilt.iter().map(|r| r.mnt.as_raw_fd()).collect();
    let flags = if dry_run { RESTART_DRY_RUN } else { 0 }
        | if saved.is_some() { RESTART_CONTENTS } else { 0 };
    let r = syscalls::restart_mounts(0, img_fd, flags, log_fd, &mnt_fds);
    // SAFETY: our staging fd.
    unsafe { libc::close(img_fd) };
    let n = match r {
        Ok(n) => n,
        Err(e) => return fail(&format!("restart from {input}"), &e, Some(&mut log)),
    };
    if dry_run {
        let fs = match rebuilt.len() {
            0 => String::new(),
            k => format!(", {k} file system(s) rebuilt"),
        };
        println!("dry run: image valid, {n} fds would be installed{fs}");
        return ExitCode::SUCCESS;
    }
    // The restored fds and cwd already point into the rebuilt mounts;
    // attaching them makes them reachable by name.  A failure here ends
    // this process, and with it the restored fds and the mounts.
    for r in &rebuilt {
        if let Err(e) = syscalls::move_mount(r.mnt.as_raw_fd(), &r.target) {
            return fail(
                &format!("attach the rebuilt mount at {}", r.target.to_string_lossy()),
                &e,
                Some(&mut log),
            );
        }
    }
    drop(rebuilt);
    if cmd.is_empty() {
        println!("restarted: {n} fds installed");
        return ExitCode::SUCCESS;
    }
    drop(log);
    let args: Vec<CString> = match cmd.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("ckpt: command contains a NUL byte");
            return ExitCode::FAILURE;
        }
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    fail(
        &format!("exec {}", cmd[0]),
        &io::Error::last_os_error(),
        None,
    )
}

/// `ckpt readdir`: one getdents64 call per entry, with a buffer that only
/// grows until the next entry fits, so exactly `count` entries are
/// consumed from the shared position.
fn cmd_readdir(fd: RawFd, count: Option<usize>) -> ExitCode {
    let mut buf = [0u8; 512];
    let mut out = io::stdout().lock();
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        let mut size = 24;
        let n = loop {
            // SAFETY: buf is valid for `size` <= 512 bytes of writes.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), size) };
            let err = io::Error::last_os_error();
            if n >= 0 {
                break n as usize;
            }
            if err.raw_os_error() == Some(libc::EINVAL) && size < buf.len() {
                size += 8;
                continue;
            }
            return fail(&format!("getdents64 on fd {fd}"), &err, None);
        };
        if n == 0 {
            break;
        }
        // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name
        let name = &buf[19..n];
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
        let _ = writeln!(out, "{}", String::from_utf8_lossy(name));
        seen += 1;
    }
    ExitCode::SUCCESS
}

/// `ckpt extract`: warnings and a summary line; nonzero only on an error.
fn cmd_extract(image: &str, dir: &str) -> ExitCode {
    let buf = match read_input(image) {
        Ok(b) => b,
        Err(e) => return fail(&format!("cannot read {image}"), &e, None),
    };
    let img = match decode(&buf) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ckpt: {image}: bad image: {e}");
            return ExitCode::FAILURE;
        }
    };
    match extract::extract(&img, std::path::Path::new(dir)) {
        Ok(sum) => {
            for w in &sum.warnings {
                eprintln!("ckpt: warning: {w}");
            }
            println!("extracted into {dir}: {sum}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ckpt: extract into {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Checkpoint {
            pid,
            out,
            log,
            skip_unsupported,
            contents,
        } => {
            let flags = if skip_unsupported {
                CHECKPOINT_SKIP_UNSUPPORTED
            } else {
                0
            } | if contents { CHECKPOINT_CONTENTS } else { 0 };
            cmd_checkpoint(pid, &out, log.as_deref(), flags)
        }
        Cmd::Restart {
            input,
            log,
            dry_run,
            mounts,
            no_contents,
            cmd,
        } => cmd_restart(
            &input,
            log.as_deref(),
            dry_run,
            Contents {
                rebuild: !no_contents,
                maps: &mounts,
            },
            &cmd,
        ),
        Cmd::Readdir { fd, count } => cmd_readdir(fd, count),
        Cmd::Inspect {
            file,
            json,
            manifest,
            sb,
        } => match read_input(&file) {
            Ok(buf) if manifest => inspect::manifest(&file, &buf, sb),
            Ok(buf) => inspect::run(&file, &buf, json),
            Err(e) => fail(&format!("cannot read {file}"), &e, None),
        },
        Cmd::Extract { image, dir } => cmd_extract(&image, &dir),
        Cmd::Manifest { dir } => match manifest::live_lines(std::path::Path::new(&dir)) {
            Ok(lines) => {
                print!("{}", manifest::format(&lines));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("manifest of {dir}"), &e, None),
        },
    }
}
