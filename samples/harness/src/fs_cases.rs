//! File-system behaviour cases (ramfs_cr module, mount options, parity with ramfs).
//!
//! They expect the module at `/lib/modules/ramfs_cr.ko`, busybox at
//! `/bin/busybox`, `/proc` mounted, and to run as root. Every case leaves the
//! module loaded and nothing mounted, whatever its outcome.

use crate::vm::{cstr, delete_module, ename, errno, mount, shrink_caches, umount2, Mount};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the initramfs puts the module.
const MODULE_PATH: &str = "/lib/modules/ramfs_cr.ko";
const MODULE_NAME: &str = "ramfs_cr";
/// `RAMFS_CR_MAGIC`, "RFCR".
const RAMFS_CR_MAGIC: i64 = 0x5243_4652;
/// `RAMFS_MAGIC` of mainline ramfs.
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Mount/fill/umount cycles of the Slab case.
const MOUNT_CYCLES: usize = 1000;
/// insmod/rmmod cycles of the Slab case.
const MODULE_CYCLES: usize = 100;
/// Slab growth (kB) above which a cycle case fails. Between two readings
/// of the idle debug VM (after `settle`) `Slab:` moved by +4 to +12 kB in our
/// runs (per-cpu slabs, RCU-deferred frees). One leaked inode (552 B + KASAN
/// redzone), dentry or super block per mount cycle is >= 190 kB over 1000
/// cycles and a leaked super block 1.3 MB, so those show; a leak of a small
/// kmalloc (e.g. the 2-byte mount info) per cycle does not, which is what the
/// inode/dentry counters below and kmemleak (`make check`) are for.
const SLAB_NOISE_KB: u64 = 256;
/// Allowed growth of the VFS's in-use inode and dentry counts over the mount
/// cycles: a leak of one per cycle would be +1000.
const VFS_NOISE: i64 = 50;

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("test paths have no NUL")
}

fn io_res<T>(r: io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => ename(e.raw_os_error().unwrap_or(0)),
    }
}

fn sys_res(ret: i64) -> String {
    if ret < 0 {
        ename(errno())
    } else {
        "ok".to_string()
    }
}

fn busybox(args: &[&str]) -> Result<String, String> {
    let out = Command::new("/bin/busybox")
        .args(args)
        .output()
        .map_err(|e| format!("busybox {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "busybox {}: expected exit 0, got {} ({})",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn module_loaded() -> bool {
    fs::read_to_string("/proc/modules")
        .map(|s| s.lines().any(|l| l.starts_with("ramfs_cr ")))
        .unwrap_or(false)
}

fn fs_registered() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| s.lines().any(|l| l == "nodev\tramfs_cr"))
        .unwrap_or(false)
}

fn insmod() -> Result<(), String> {
    busybox(&["insmod", MODULE_PATH]).map(drop)
}

fn rmmod() -> Result<(), String> {
    busybox(&["rmmod", MODULE_NAME]).map(drop)
}

fn ensure_loaded() -> Result<(), String> {
    if !module_loaded() {
        insmod()?;
    }
    if !module_loaded() || !fs_registered() {
        return Err("after insmod: expected ramfs_cr in /proc/modules and \
                    /proc/filesystems, it is missing"
            .to_string());
    }
    Ok(())
}

fn kmsg_count(needle: &str) -> Result<usize, String> {
    Ok(busybox(&["dmesg"])?.matches(needle).count())
}

fn statfs_type(path: &str) -> Result<i64, String> {
    let p = cstr(path);
    // SAFETY: an all-zero `statfs` is a valid out-parameter.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated, `buf` is a valid `statfs`.
    if unsafe { libc::statfs(p.as_ptr(), &mut buf) } != 0 {
        return Err(format!("statfs {path}: {}", ename(errno())));
    }
    Ok(buf.f_type)
}

fn mounts_line(path: &str) -> Option<String> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some(path))
        .map(str::to_string)
}

fn slab_kb() -> Result<u64, String> {
    let meminfo = fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "/proc/meminfo: no Slab: line".to_string())
}

/// In-use inodes (`/proc/sys/fs/inode-nr`: nr_inodes - nr_unused) and
/// dentries (`/proc/sys/fs/dentry-state`: nr_dentry).
fn vfs_counts() -> Result<(i64, i64), String> {
    let nums = |path: &str| -> Result<Vec<i64>, String> {
        let s = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Ok(s.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect())
    };
    let inodes = nums("/proc/sys/fs/inode-nr")?;
    let dentries = nums("/proc/sys/fs/dentry-state")?;
    match (inodes.as_slice(), dentries.first()) {
        ([nr, unused, ..], Some(d)) => Ok((nr - unused, *d)),
        _ => Err("/proc/sys/fs/inode-nr or dentry-state: unexpected format".to_string()),
    }
}

/// Lets deferred frees happen and empties what caches can be emptied, so two
/// `Slab:` readings compare live objects: drop_caches, then every SLUB cache's
/// `shrink` (which also flushes that cache's KASAN quarantine) when
/// /sys/kernel/slab exists (not with SLUB_TINY). Returns the smallest of
/// three `Slab:` readings half a second apart: RCU-deferred frees lag more
/// on a loaded host, and a leak shows in every reading.
fn settled_slab_kb() -> Result<u64, String> {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(500));
    let mut min = u64::MAX;
    for _ in 0..3 {
        shrink_caches();
        std::thread::sleep(Duration::from_millis(500));
        min = min.min(slab_kb()?);
    }
    Ok(min)
}

// ---------------------------------------------------------------------------
// Module and mount-option cases.
// ---------------------------------------------------------------------------

pub(crate) fn module_loads() -> Result<(), String> {
    ensure_loaded()?;
    let taint = fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("ramfs_cr "))
        .map(str::to_string)
        .unwrap_or_default();
    println!("# /proc/modules: {taint}");
    Ok(())
}

pub(crate) fn mount_mode() -> Result<(), String> {
    ensure_loaded()?;
    let m = Mount::at("/mnt/rcr_mode", "ramfs_cr", Some("mode=0700"))?;
    let f_type = statfs_type(&m.dir)?;
    if f_type != RAMFS_CR_MAGIC {
        return Err(format!(
            "statfs f_type: expected {RAMFS_CR_MAGIC:#x}, got {f_type:#x}"
        ));
    }
    let md = fs::metadata(&m.dir).map_err(|e| format!("stat {}: {e}", m.dir))?;
    if md.mode() != libc::S_IFDIR | 0o700 {
        return Err(format!(
            "root mode: expected {:o}, got {:o}",
            libc::S_IFDIR | 0o700,
            md.mode()
        ));
    }
    if md.nlink() != 2 {
        return Err(format!("root nlink: expected 2, got {}", md.nlink()));
    }
    let line = mounts_line(&m.dir).unwrap_or_default();
    if !line.starts_with("none /mnt/rcr_mode ramfs_cr ") || !line.contains(",mode=700") {
        return Err(format!(
            "/proc/mounts: expected 'none /mnt/rcr_mode ramfs_cr rw,...,mode=700 0 0', got {line:?}"
        ));
    }
    m.umount()?;

    // The default mode 0755 is not shown, as in ramfs.
    let m = Mount::at("/mnt/rcr_mode", "ramfs_cr", None)?;
    let line = mounts_line(&m.dir).unwrap_or_default();
    let mode = fs::metadata(&m.dir).map(|md| md.mode()).unwrap_or(0);
    if line.contains("mode=") || mode != libc::S_IFDIR | 0o755 {
        return Err(format!(
            "default mount: expected root mode 40755 and no mode= in /proc/mounts, \
             got {mode:o} and {line:?}"
        ));
    }
    m.umount()?;

    // mode=1777 keeps the sticky bit (S_IALLUGO).
    let m = Mount::at("/mnt/rcr_mode", "ramfs_cr", Some("mode=1777"))?;
    let mode = fs::metadata(&m.dir).map(|md| md.mode()).unwrap_or(0);
    let line = mounts_line(&m.dir).unwrap_or_default();
    m.umount()?;
    if mode != libc::S_IFDIR | 0o1777 || !line.contains(",mode=1777") {
        return Err(format!(
            "mode=1777: expected root 41777 and ',mode=1777', got {mode:o} and {line:?}"
        ));
    }
    Ok(())
}

pub(crate) fn bad_options() -> Result<(), String> {
    ensure_loaded()?;
    fs::create_dir_all("/mnt/rcr_bad").map_err(|e| format!("mkdir: {e}"))?;
    let cases = [
        ("foo=1", "ramfs_cr: Unknown parameter 'foo'"),
        ("mode=99x", "ramfs_cr: Bad value for 'mode'"),
        ("mode=0700,bar", "ramfs_cr: Unknown parameter 'bar'"),
    ];
    for (opts, msg) in cases {
        let before = kmsg_count(msg)?;
        let r = mount("ramfs_cr", "/mnt/rcr_bad", Some(opts));
        if r.is_ok() {
            let _ = umount2("/mnt/rcr_bad", libc::MNT_DETACH);
        }
        if r != Err(libc::EINVAL) {
            return Err(format!(
                "mount -o {opts}: expected EINVAL, got {}",
                r.map_or_else(ename, |()| "success".to_string())
            ));
        }
        let after = kmsg_count(msg)?;
        if after != before + 1 {
            return Err(format!(
                "mount -o {opts}: expected one new {msg:?} in dmesg, found {} new",
                after as i64 - before as i64
            ));
        }
    }
    // Mainline ramfs ignores unknown options; ramfs_cr deliberately does not.
    match mount("ramfs", "/mnt/rcr_bad", Some("foo=1")) {
        Ok(()) => umount2("/mnt/rcr_bad", 0)
            .map_err(|e| format!("umount ramfs: expected success, got {}", ename(e))),
        Err(e) => Err(format!(
            "ramfs -o foo=1: expected success (ramfs ignores it), got {}",
            ename(e)
        )),
    }
}

pub(crate) fn rmmod_while_mounted() -> Result<(), String> {
    ensure_loaded()?;
    let m = Mount::at("/mnt/rcr_busy", "ramfs_cr", None)?;
    fs::write(m.root().join("f"), "x").map_err(|e| format!("write: {e}"))?;
    // The super block holds a reference on the module (owner = THIS_MODULE):
    // delete_module(O_NONBLOCK) refuses a module in use with EWOULDBLOCK
    // (= EAGAIN) in 6.12 (try_stop_module()); EBUSY would mean a module
    // still initialising or without an exit function, not the mount.
    let Err(e) = delete_module() else {
        return Err("rmmod while mounted: expected failure, module was removed".to_string());
    };
    if e != libc::EAGAIN {
        return Err(format!(
            "rmmod while mounted: expected EAGAIN (EWOULDBLOCK), got {}",
            ename(e)
        ));
    }
    println!("# rmmod while mounted: {}", ename(e));
    if !module_loaded() {
        return Err("after refused rmmod: module is gone from /proc/modules".to_string());
    }
    if busybox(&["rmmod", MODULE_NAME]).is_ok() {
        return Err("busybox rmmod while mounted: expected non-zero exit, got 0".to_string());
    }
    m.umount()?;
    rmmod()?;
    let gone = !module_loaded() && !fs_registered();
    ensure_loaded()?;
    if !gone {
        return Err(
            "after rmmod: expected ramfs_cr gone from /proc/modules and \
                    /proc/filesystems, still listed"
                .to_string(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Parity with ramfs.
// ---------------------------------------------------------------------------

/// Facts the parity transcript must contain (so identical transcripts cannot
/// both be wrong in the same way unnoticed).
const KEY_FACTS: &[&str] = &[
    "stat root: dir mode=40755 nlink=2 size=0 uid=0 gid=0",
    "read f: \"hello world\\n\"",
    "stat f: file mode=100644 nlink=1 size=12 uid=0 gid=0",
    "stat root after mkdir d: dir mode=40755 nlink=3 size=0 uid=0 gid=0",
    "mkdir d again: EEXIST",
    "rmdir d (not empty): ENOTEMPTY",
    "stat d after rmdir: ENOENT",
    "stat f after link g: file mode=100644 nlink=2 size=12 uid=0 gid=0",
    "readlink s: \"f\"",
    "lstat s: symlink mode=120777 nlink=1 size=1 uid=0 gid=0",
    "stat c: chardev mode=20600 nlink=1 size=0 uid=0 gid=0 rdev=1:3",
    "stat p: fifo mode=10644 nlink=1 size=0 uid=0 gid=0",
    "renameat2 a b NOREPLACE: EEXIST",
    "renameat2 c dd EXCHANGE: ok",
    "stat c after exchange: dir mode=40755 nlink=2 size=0 uid=0 gid=0",
    "read dd after exchange: \"A\"",
    "rename e2 onto non-empty c: ENOTEMPTY",
    "fstat tmpfile: file mode=100600 nlink=0 size=8 uid=0 gid=0",
    "linkat tmpfile t: ok",
    "read t: \"tmp data\"",
    "stat t: file mode=100600 nlink=1 size=8 uid=0 gid=0",
    "read m after mmap writes: [77, 77, 65, 80] [80, 65, 71, 69, 50] size=8192",
    "mmap sees pwrite: [97, 98, 99]",
    "read f after truncate 5: \"hello\"",
    "read f after extend 10: \"hello\\0\\0\\0\\0\\0\"",
    "1MiB pattern round trip: true",
];

pub(crate) fn parity() -> Result<(), String> {
    ensure_loaded()?;
    let ramfs = run_transcript("ramfs", "/mnt/parity_ramfs")?;
    let ramfs_cr = run_transcript("ramfs_cr", "/mnt/parity_ramfs_cr")?;
    if std::env::var_os("RAMFS_CR_TRANSCRIPT").is_some() {
        for (a, b) in ramfs.iter().zip(&ramfs_cr) {
            println!("# {}{b}", if a == b { "" } else { "DIFF " });
        }
    }
    let n = ramfs.len().max(ramfs_cr.len());
    for i in 0..n {
        let (a, b) = (ramfs.get(i), ramfs_cr.get(i));
        if a != b {
            return Err(format!(
                "transcripts differ at fact {i}: ramfs {a:?}, ramfs_cr {b:?} \
                 ({} vs {} facts)",
                ramfs.len(),
                ramfs_cr.len()
            ));
        }
    }
    for fact in KEY_FACTS {
        if !ramfs_cr.iter().any(|f| f == fact) {
            let near: Vec<&String> = ramfs_cr
                .iter()
                .filter(|f| f.split(':').next() == fact.split(':').next())
                .collect();
            return Err(format!(
                "expected fact {fact:?} in both transcripts; got {near:?}"
            ));
        }
    }
    println!(
        "# parity: {} facts identical on ramfs and ramfs_cr, {} key facts checked",
        ramfs_cr.len(),
        KEY_FACTS.len()
    );
    Ok(())
}

fn run_transcript(fstype: &str, path: &str) -> Result<Vec<String>, String> {
    let m = Mount::at(path, fstype, None)?;
    let magic = statfs_type(path)?;
    let expected = if fstype == "ramfs" {
        RAMFS_MAGIC
    } else {
        RAMFS_CR_MAGIC
    };
    if magic != expected {
        return Err(format!(
            "{fstype} statfs f_type: expected {expected:#x}, got {magic:#x}"
        ));
    }
    // SAFETY: umask(2) has no preconditions.
    let old_umask = unsafe { libc::umask(0o022) };
    let facts = transcript(m.root());
    // SAFETY: as above.
    unsafe { libc::umask(old_umask) };
    m.umount()?;
    Ok(facts)
}

#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    fn fact(&mut self, s: String) {
        self.0.push(s);
    }

    fn op(&mut self, what: &str, result: String) {
        self.fact(format!("{what}: {result}"));
    }

    fn stat(&mut self, what: &str, md: io::Result<fs::Metadata>) {
        let s = match md {
            Ok(md) => describe(&md),
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        };
        self.fact(format!("{what}: {s}"));
    }

    fn read(&mut self, what: &str, path: &Path) {
        let s = match fs::read(path) {
            Ok(b) => format!("{:?}", String::from_utf8_lossy(&b)),
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        };
        self.fact(format!("{what}: {s}"));
    }
}

fn describe(md: &fs::Metadata) -> String {
    let ft = md.file_type();
    let kinds = [
        (ft.is_dir(), "dir"),
        (ft.is_file(), "file"),
        (ft.is_symlink(), "symlink"),
        (ft.is_fifo(), "fifo"),
        (ft.is_char_device(), "chardev"),
        (ft.is_block_device(), "blockdev"),
        (ft.is_socket(), "socket"),
    ];
    let kind = kinds.iter().find(|k| k.0).map_or("other", |k| k.1);
    let mut s = format!(
        "{kind} mode={:o} nlink={} size={} uid={} gid={}",
        md.mode(),
        md.nlink(),
        md.size(),
        md.uid(),
        md.gid()
    );
    if ft.is_char_device() || ft.is_block_device() {
        let rdev = md.rdev();
        s += &format!(" rdev={}:{}", libc::major(rdev), libc::minor(rdev));
    }
    s
}

fn mknod(path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> String {
    let p = cpath(path);
    // SAFETY: `p` is NUL-terminated.
    sys_res(i64::from(unsafe { libc::mknod(p.as_ptr(), mode, dev) }))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> String {
    let (f, t) = (cpath(from), cpath(to));
    // SAFETY: both paths are NUL-terminated.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    };
    sys_res(i64::from(r))
}

/// The same sequence of operations on a fresh mount of `root`, written down
/// as facts that do not depend on inode numbers or times.
fn transcript(root: &Path) -> Vec<String> {
    let mut t = Transcript::default();
    let p = |name: &str| -> PathBuf { root.join(name) };

    t.stat("stat root", fs::metadata(root));

    // Regular file: write, read, stat.
    t.op("write f", io_res(fs::write(p("f"), "hello world\n")));
    t.read("read f", &p("f"));
    t.stat("stat f", fs::metadata(p("f")));
    t.op("open missing", io_res(fs::File::open(p("missing"))));
    t.op("unlink missing", io_res(fs::remove_file(p("missing"))));

    // Directories and link counts.
    t.op("mkdir d", io_res(fs::create_dir(p("d"))));
    t.stat("stat d", fs::metadata(p("d")));
    t.stat("stat root after mkdir d", fs::metadata(root));
    t.op("mkdir d again", io_res(fs::create_dir(p("d"))));
    t.op(
        "create f again O_EXCL",
        io_res(
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p("f")),
        ),
    );
    t.op("write d/x", io_res(fs::write(p("d/x"), "x")));
    t.op("rmdir d (not empty)", io_res(fs::remove_dir(p("d"))));
    t.op("unlink d", io_res(fs::remove_file(p("d"))));
    t.op("rmdir f", io_res(fs::remove_dir(p("f"))));
    t.op("unlink d/x", io_res(fs::remove_file(p("d/x"))));
    t.op("rmdir d", io_res(fs::remove_dir(p("d"))));
    t.stat("stat d after rmdir", fs::metadata(p("d")));
    t.stat("stat root after rmdir d", fs::metadata(root));

    // Hard links.
    t.op("link f g", io_res(fs::hard_link(p("f"), p("g"))));
    t.stat("stat f after link g", fs::metadata(p("f")));
    let same = match (fs::metadata(p("f")), fs::metadata(p("g"))) {
        (Ok(a), Ok(b)) => (a.ino() == b.ino()).to_string(),
        _ => "stat failed".to_string(),
    };
    t.fact(format!("f and g same inode: {same}"));
    t.op("link f g again", io_res(fs::hard_link(p("f"), p("g"))));
    t.op(
        "link missing h",
        io_res(fs::hard_link(p("missing"), p("h"))),
    );
    t.op("unlink g", io_res(fs::remove_file(p("g"))));
    t.stat("stat f after unlink g", fs::metadata(p("f")));

    // Symlinks (page symlinks).
    t.op(
        "symlink s -> f",
        io_res(std::os::unix::fs::symlink("f", p("s"))),
    );
    t.op(
        "readlink s",
        match fs::read_link(p("s")) {
            Ok(target) => format!("{:?}", target.to_string_lossy()),
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        },
    );
    t.stat("lstat s", fs::symlink_metadata(p("s")));
    t.read("read through s", &p("s"));
    let long: String = "x/".repeat(1500) + "end";
    t.op(
        "symlink long (3003 bytes)",
        io_res(std::os::unix::fs::symlink(&long, p("long"))),
    );
    t.op(
        "readlink long",
        match fs::read_link(p("long")) {
            Ok(target) => format!(
                "len={} same={}",
                target.as_os_str().len(),
                target.as_os_str() == long.as_str()
            ),
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        },
    );
    t.op(
        "symlink s again",
        io_res(std::os::unix::fs::symlink("x", p("s"))),
    );

    // Special files.
    t.op(
        "mknod p fifo 0644",
        mknod(&p("p"), libc::S_IFIFO | 0o644, 0),
    );
    t.stat("stat p", fs::metadata(p("p")));
    t.op(
        "mknod c chr 0620 1:3",
        mknod(&p("c"), libc::S_IFCHR | 0o620, libc::makedev(1, 3)),
    );
    t.stat("stat c", fs::symlink_metadata(p("c")));
    t.op(
        "mknod b blk 0600 7:0",
        mknod(&p("b"), libc::S_IFBLK | 0o600, libc::makedev(7, 0)),
    );
    t.stat("stat b", fs::symlink_metadata(p("b")));
    t.op(
        "mknod so sock 0755",
        mknod(&p("so"), libc::S_IFSOCK | 0o755, 0),
    );
    t.stat("stat so", fs::symlink_metadata(p("so")));
    t.op("mknod p again", mknod(&p("p"), libc::S_IFIFO | 0o644, 0));
    t.op(
        "rm c b so",
        format!(
            "{} {} {}",
            io_res(fs::remove_file(p("c"))),
            io_res(fs::remove_file(p("b"))),
            io_res(fs::remove_file(p("so")))
        ),
    );

    // rename / renameat2 (simple_rename: NOREPLACE and EXCHANGE only).
    t.op("write a", io_res(fs::write(p("a"), "A")));
    t.op("write b", io_res(fs::write(p("b"), "B")));
    let rename2 = |t: &mut Transcript, a: &str, b: &str, flag, name| {
        t.op(
            &format!("renameat2 {a} {b} {name}"),
            renameat2(&p(a), &p(b), flag),
        );
    };
    rename2(&mut t, "a", "b", libc::RENAME_NOREPLACE, "NOREPLACE");
    rename2(&mut t, "a", "c", libc::RENAME_NOREPLACE, "NOREPLACE");
    t.read("read c", &p("c"));
    t.stat("stat a after rename", fs::metadata(p("a")));
    t.op("mkdir dd", io_res(fs::create_dir(p("dd"))));
    rename2(&mut t, "c", "dd", libc::RENAME_EXCHANGE, "EXCHANGE");
    t.stat("stat c after exchange", fs::metadata(p("c")));
    t.read("read dd after exchange", &p("dd"));
    rename2(&mut t, "c", "missing", libc::RENAME_EXCHANGE, "EXCHANGE");
    rename2(&mut t, "b", "z", libc::RENAME_WHITEOUT, "WHITEOUT");
    t.op("rename b onto dd", io_res(fs::rename(p("b"), p("dd"))));
    t.read("read dd after rename", &p("dd"));
    t.stat("stat b after rename", fs::metadata(p("b")));
    t.op("mkdir c/in", io_res(fs::create_dir(p("c/in"))));
    t.op("mkdir e2", io_res(fs::create_dir(p("e2"))));
    t.op(
        "rename e2 onto non-empty c",
        io_res(fs::rename(p("e2"), p("c"))),
    );
    t.op("rename c onto file dd", io_res(fs::rename(p("c"), p("dd"))));
    t.op(
        "rename file dd onto dir e2",
        io_res(fs::rename(p("dd"), p("e2"))),
    );
    t.op(
        "rename c into c/in/x",
        io_res(fs::rename(p("c"), p("c/in/x"))),
    );
    t.op(
        "rename e2 into c/in/e2",
        io_res(fs::rename(p("e2"), p("c/in/e2"))),
    );
    t.stat("stat c/in after move", fs::metadata(p("c/in")));
    t.stat("stat root after renames", fs::metadata(root));

    // O_TMPFILE + linkat.
    tmpfile_facts(&mut t, root);

    // mmap.
    mmap_facts(&mut t, root);

    // truncate and extend.
    let truncate = |len| {
        fs::OpenOptions::new()
            .write(true)
            .open(p("f"))
            .and_then(|f| f.set_len(len))
    };
    t.op("truncate f 5", io_res(truncate(5)));
    t.read("read f after truncate 5", &p("f"));
    t.op("extend f 10", io_res(truncate(10)));
    t.read("read f after extend 10", &p("f"));
    t.stat("stat f after extend", fs::metadata(p("f")));
    let end = fs::File::open(p("f")).and_then(|mut f| f.seek(SeekFrom::End(0)));
    t.op(
        "seek end f",
        end.map_or_else(|e| ename(e.raw_os_error().unwrap_or(0)), |o| o.to_string()),
    );

    // A large file through the page cache.
    let pattern: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    t.op("write big 1MiB", io_res(fs::write(p("big"), &pattern)));
    let back = fs::read(p("big")).unwrap_or_default();
    t.fact(format!("1MiB pattern round trip: {}", back == pattern));
    t.stat("stat big", fs::metadata(p("big")));
    let mid = fs::File::open(p("big")).and_then(|f| {
        let mut b = [0u8; 4];
        f.read_exact_at(&mut b, 500_000).map(|()| b)
    });
    t.op(
        "pread big @500000",
        mid.map_or_else(
            |e| ename(e.raw_os_error().unwrap_or(0)),
            |b| format!("{b:?}"),
        ),
    );

    // setattr: chmod, chown.
    t.op(
        "chmod f 0600",
        io_res(fs::set_permissions(
            p("f"),
            fs::Permissions::from_mode(0o600),
        )),
    );
    t.op(
        "chown f 1000:1000",
        io_res(std::os::unix::fs::chown(p("f"), Some(1000), Some(1000))),
    );
    t.stat("stat f after chmod/chown", fs::metadata(p("f")));

    // readdir, sorted.
    for dir in ["", "c", "c/in"] {
        let listing = match fs::read_dir(p(dir)) {
            Ok(rd) => {
                let mut names: Vec<String> = rd
                    .flatten()
                    .map(|e| {
                        let kind = match e.file_type() {
                            Ok(ft) if ft.is_dir() => "/",
                            Ok(ft) if ft.is_symlink() => "@",
                            Ok(ft) if ft.is_fifo() => "|",
                            _ => "",
                        };
                        format!("{}{kind}", e.file_name().to_string_lossy())
                    })
                    .collect();
                names.sort();
                names.join(" ")
            }
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        };
        t.fact(format!("readdir /{dir}: {listing}"));
    }

    // statfs, apart from f_type (the magic differs by design).
    let c = cpath(root);
    // SAFETY: an all-zero `statfs` is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` a valid `statfs`.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    t.fact(format!(
        "statfs: {} bsize={} namelen={} blocks={} files={}",
        sys_res(i64::from(r)),
        st.f_bsize,
        st.f_namelen,
        st.f_blocks,
        st.f_files
    ));
    t.0
}

/// linkat(2) of an open file (by its /proc/self/fd link) to `to`.
fn link_fd(f: &fs::File, to: &Path) -> i32 {
    let proc_path = cstr(&format!("/proc/self/fd/{}", f.as_raw_fd()));
    let target = cpath(to);
    // SAFETY: both paths are NUL-terminated.
    unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    }
}

fn tmpfile_facts(t: &mut Transcript, root: &Path) {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(root);
    let mut f = match f {
        Ok(f) => f,
        Err(e) => {
            t.op("open O_TMPFILE", ename(e.raw_os_error().unwrap_or(0)));
            return;
        }
    };
    t.op("open O_TMPFILE", "ok".to_string());
    t.op("write tmpfile", io_res(f.write_all(b"tmp data")));
    t.stat("fstat tmpfile", f.metadata());
    let listed = fs::read_dir(root).map(|rd| rd.count()).unwrap_or(0);
    t.fact(format!("root entries while tmpfile unlinked: {listed}"));
    let r = link_fd(&f, &root.join("t"));
    t.op("linkat tmpfile t", sys_res(i64::from(r)));
    t.stat("fstat tmpfile after linkat", f.metadata());
    t.read("read t", &root.join("t"));
    t.stat("stat t", fs::metadata(root.join("t")));
    let mut back = String::new();
    let reread = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut back));
    t.op(
        "reread tmpfile fd",
        reread.map_or_else(
            |e| ename(e.raw_os_error().unwrap_or(0)),
            |_| format!("{back:?}"),
        ),
    );

    // O_EXCL tmpfiles can never be linked.
    let excl = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE | libc::O_EXCL)
        .mode(0o600)
        .open(root);
    match excl {
        Ok(g) => {
            let r = link_fd(&g, &root.join("t2"));
            t.op("linkat O_EXCL tmpfile", sys_res(i64::from(r)));
        }
        Err(e) => t.op(
            "open O_TMPFILE|O_EXCL",
            ename(e.raw_os_error().unwrap_or(0)),
        ),
    }
}

fn mmap_facts(t: &mut Transcript, root: &Path) {
    let path = root.join("m");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path);
    let f = match f.and_then(|f| f.set_len(8192).map(|()| f)) {
        Ok(f) => f,
        Err(e) => {
            t.op("create m 8192", ename(e.raw_os_error().unwrap_or(0)));
            return;
        }
    };
    t.op("create m 8192", "ok".to_string());
    t.op("pwrite m @100 abc", io_res(f.write_all_at(b"abc", 100)));
    // SAFETY: a fresh shared mapping of 8192 bytes of an 8192-byte file; we
    // touch only bytes inside it and unmap it before `f` is closed.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        t.op("mmap m", ename(errno()));
        return;
    }
    t.op("mmap m", "ok".to_string());
    // SAFETY: `addr` maps 8192 readable and writable bytes (see above).
    let map = unsafe { std::slice::from_raw_parts_mut(addr.cast::<u8>(), 8192) };
    t.fact(format!("mmap sees pwrite: {:?}", &map[100..103]));
    map[0..4].copy_from_slice(b"MMAP");
    map[4096..4101].copy_from_slice(b"PAGE2");
    // SAFETY: `addr`/8192 is exactly the mapping made above, no longer used.
    let r = unsafe { libc::munmap(addr, 8192) };
    t.op("munmap m", sys_res(i64::from(r)));
    match fs::read(&path) {
        Ok(b) if b.len() >= 4101 => t.fact(format!(
            "read m after mmap writes: {:?} {:?} size={}",
            &b[0..4],
            &b[4096..4101],
            b.len()
        )),
        Ok(b) => t.fact(format!(
            "read m after mmap writes: short, {} bytes",
            b.len()
        )),
        Err(e) => t.op(
            "read m after mmap writes",
            ename(e.raw_os_error().unwrap_or(0)),
        ),
    }
    drop(f);
}

// ---------------------------------------------------------------------------
// Leak cycles.
// ---------------------------------------------------------------------------

/// One mount of ramfs_cr, filled with a file of each kind, unmounted.
fn fill_cycle() -> Result<(), String> {
    let m = Mount::at("/mnt/rcr_cycle", "ramfs_cr", None)?;
    let r = (|| -> io::Result<()> {
        let root = m.root();
        fs::write(root.join("f"), [7u8; 5000])?;
        fs::create_dir(root.join("d"))?;
        fs::write(root.join("d/g"), "g")?;
        fs::hard_link(root.join("f"), root.join("d/h"))?;
        std::os::unix::fs::symlink("d/g", root.join("s"))?;
        fs::rename(root.join("d/g"), root.join("g2"))?;
        fs::remove_file(root.join("d/h"))?;
        Ok(())
    })();
    r.map_err(|e| format!("filling {}: {e}", m.dir))?;
    m.umount()
}

fn slab_growth_check(
    what: &str,
    n: usize,
    before: u64,
    after: u64,
    secs: f64,
) -> Result<(), String> {
    println!(
        "# {what}: {n} cycles in {secs:.1} s, Slab before {before} kB, after {after} kB \
         (growth {} kB, bound {SLAB_NOISE_KB} kB)",
        after as i64 - before as i64
    );
    if after > before + SLAB_NOISE_KB {
        return Err(format!(
            "{what}: Slab grew from {before} kB to {after} kB over {n} cycles; \
             expected at most +{SLAB_NOISE_KB} kB"
        ));
    }
    Ok(())
}

pub(crate) fn mount_cycles() -> Result<(), String> {
    ensure_loaded()?;
    // Warm up: per-cpu caches, IDA/xarray nodes for mount and device ids.
    for _ in 0..50 {
        fill_cycle()?;
    }
    let before = settled_slab_kb()?;
    let (inodes0, dentries0) = vfs_counts()?;
    let start = Instant::now();
    for i in 0..MOUNT_CYCLES {
        fill_cycle().map_err(|e| format!("cycle {i}: {e}"))?;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = settled_slab_kb()?;
    let (inodes1, dentries1) = vfs_counts()?;
    println!(
        "# mount/fill/umount: in-use inodes {inodes0} -> {inodes1}, dentries {dentries0} -> {dentries1} \
         (bound +{VFS_NOISE})"
    );
    if inodes1 - inodes0 > VFS_NOISE || dentries1 - dentries0 > VFS_NOISE {
        return Err(format!(
            "after {MOUNT_CYCLES} mount cycles: expected at most +{VFS_NOISE} inodes and dentries, \
             got {:+} inodes, {:+} dentries",
            inodes1 - inodes0,
            dentries1 - dentries0
        ));
    }
    slab_growth_check("mount/fill/umount", MOUNT_CYCLES, before, after, secs)
}

/// `finit_module(ramfs_cr.ko)`, what insmod does, without a fork+exec per
/// cycle (the Command-based insmod/rmmod are exercised by the cases above).
fn finit_module() -> Result<(), String> {
    let f = fs::File::open(MODULE_PATH).map_err(|e| format!("open {MODULE_PATH}: {e}"))?;
    let params = cstr("");
    // SAFETY: `f` is an open module file and `params` a NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    if r != 0 {
        return Err(format!(
            "finit_module: expected success, got {}",
            ename(errno())
        ));
    }
    Ok(())
}

pub(crate) fn module_cycles() -> Result<(), String> {
    ensure_loaded()?;
    let run = |n: usize| -> Result<(), String> {
        for i in 0..n {
            delete_module().map_err(|e| {
                format!(
                    "cycle {i}: delete_module: expected success, got {}",
                    ename(e)
                )
            })?;
            finit_module().map_err(|e| format!("cycle {i}: {e}"))?;
        }
        Ok(())
    };
    let r = (|| {
        run(3)?;
        let before = settled_slab_kb()?;
        let start = Instant::now();
        run(MODULE_CYCLES)?;
        let secs = start.elapsed().as_secs_f64();
        let after = settled_slab_kb()?;
        slab_growth_check("insmod/rmmod", MODULE_CYCLES, before, after, secs)
    })();
    // Leave the module loaded for the cases after this one.
    let loaded = ensure_loaded();
    r.and(loaded)
}
