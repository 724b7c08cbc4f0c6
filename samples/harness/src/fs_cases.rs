//! File-system cases (module, mount options, parity with ramfs, leaks), as root with busybox;
//! each leaves the module loaded and nothing mounted, and none needs CONFIG_CHECKPOINT.

use crate::{golden::populate_files, vm::*};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{chown, symlink, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::time::Instant;

/// `RAMFS_CR_MAGIC` ("RFCR") and mainline ramfs's `RAMFS_MAGIC`.
const RAMFS_CR_MAGIC: i64 = 0x5243_4652;
const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// Slab growth (kB) that fails a cycle case: the idle VM's noise is +4..+12 kB, one leaked
/// inode, dentry or super block a cycle >= 190 kB over 1000 (smaller: VFS counts, kmemleak).
const SLAB_NOISE_KB: i64 = 256;
/// Growth of in-use inodes and dentries allowed over the cycles (one leaked a cycle: +1000).
const VFS_NOISE: i64 = 50;

fn busybox(args: &[&str]) -> Result<String, String> {
    let argv = [&["busybox"], args].concat();
    let (cmd, (st, out, err)) = (argv.join(" "), run(&argv)?);
    check!(st == 0, "{cmd}: expected exit 0, got {st} ({err})");
    Ok(out)
}

/// The first line of the /proc file `file` that `pick` accepts.
fn proc_line(file: &str, pick: impl Fn(&str) -> bool) -> Option<String> {
    let s = fs::read_to_string(file).ok()?;
    s.lines().find(|l| pick(l)).map(str::to_string)
}

/// Whether /proc/modules and /proc/filesystems list ramfs_cr: (modules, filesystems).
fn listed() -> (bool, bool) {
    let m = proc_line("/proc/modules", |l| l.starts_with("ramfs_cr ")).is_some();
    let fs = proc_line("/proc/filesystems", |l| l == "nodev\tramfs_cr").is_some();
    (m, fs)
}

fn ensure_loaded() -> R {
    if !listed().0 {
        busybox(&["insmod", MODULE])?;
    }
    let both = listed();
    expect_eq(both, (true, true), "after insmod: (modules, filesystems)")
}

fn statfs(path: &str) -> Result<libc::statfs, String> {
    let p = cstr(path);
    // SAFETY: an all-zero `statfs` is a valid out-parameter.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated, `buf` is a valid `statfs`.
    let r = unsafe { libc::statfs(p.as_ptr(), &mut buf) };
    sys_or(r, format_args!("statfs {path}")).map(|_| buf)
}

/// What [`settled`] reads: Slab, in-use inodes (inode-nr: nr_inodes - nr_unused), nr_dentry,
/// struct files (file-nr), active filp objects (/sys/kernel/slab or /proc/slabinfo).
const COUNTERS: [&str; 5] = ["Slab (kB)", "inodes", "dentries", "struct files", "filps"];
type Readings = [i64; 5];

/// The [`COUNTERS`] after sync and [`shrink_caches`]; Slab is the least of three readings
/// 0.5 s apart (RCU-deferred frees lag on a loaded host; a leak shows in every one).
fn settled() -> Result<Readings, String> {
    sync();
    nap(500);
    let mut min = u64::MAX;
    for _ in 0..3 {
        shrink_caches();
        nap(500);
        min = min.min(meminfo_kb("Slab:"));
    }
    check!(min > 0, "/proc/meminfo: no Slab: line");
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    // the leading numbers of `s`
    let nums = |s: &str| -> Vec<i64> {
        let words = s.split_whitespace();
        words.map_while(|w| w.parse().ok()).collect()
    };
    let sys = |f: &str| nums(&read(&format!("/proc/sys/fs/{f}")));
    let slab = read("/sys/kernel/slab/filp/objects");
    let slabinfo = read("/proc/slabinfo");
    let filp_line = slabinfo.lines().find_map(|l| l.strip_prefix("filp "));
    let first = |v: Vec<i64>| v.first().copied().unwrap_or(0);
    let files = first(sys("file-nr"));
    let filps = first([nums(&slab), nums(filp_line.unwrap_or(""))].concat());
    match (&sys("inode-nr")[..], &sys("dentry-state")[..]) {
        ([nr, unused, ..], [d, ..]) => Ok([min as i64, nr - unused, *d, files, filps]),
        _ => Err("/proc/sys/fs/inode-nr or dentry-state: unexpected format".to_string()),
    }
}

// Module and mount-option cases.

pub(crate) fn module_loads() -> R {
    ensure_loaded()?;
    let line = proc_line("/proc/modules", |l| l.starts_with("ramfs_cr "));
    println!("# /proc/modules: {}", line.unwrap_or_default());
    Ok(())
}

/// The root's mode (S_IALLUGO: 1777 keeps the sticky bit); /proc/mounts shows `,mode=` unless 0755.
pub(crate) fn mount_mode() -> R {
    ensure_loaded()?;
    for (opts, mode, shown) in [
        (Some("mode=0700"), 0o700, ",mode=700"),
        (None, 0o755, ""),
        (Some("mode=1777"), 0o1777, ",mode=1777"),
    ] {
        let m = Mount::at("/mnt/rcr_mode", "ramfs_cr", opts)?;
        let f_type = statfs(&m.dir)?.f_type;
        let md = fs::metadata(&m.dir).map_err(|e| format!("stat {}: {e}", m.dir))?;
        let line = proc_line("/proc/mounts", |l| l.contains(" /mnt/rcr_mode "));
        m.umount()?;
        let want_line = format!("none /mnt/rcr_mode ramfs_cr rw,relatime{shown} 0 0");
        let want = (RAMFS_CR_MAGIC, libc::S_IFDIR | mode, 2, Some(want_line));
        let got = (f_type, md.mode(), md.nlink(), line);
        let o = opts.unwrap_or("(none)");
        eq!(got, want, "-o {o}: f_type, root mode, nlink, /proc/mounts");
    }
    Ok(())
}

pub(crate) fn bad_options() -> R {
    ensure_loaded()?;
    mkdir("/mnt/rcr_bad", 0o755)?;
    for (opts, msg) in [
        ("foo=1", "ramfs_cr: Unknown parameter 'foo'"),
        ("mode=99x", "ramfs_cr: Bad value for 'mode'"),
        ("mode=0700,bar", "ramfs_cr: Unknown parameter 'bar'"),
    ] {
        let before = busybox(&["dmesg"])?.matches(msg).count();
        let r = mount("ramfs_cr", "/mnt/rcr_bad", Some(opts));
        if r.is_ok() {
            let _ = umount2("/mnt/rcr_bad", libc::MNT_DETACH);
        }
        eq!(r.map_err(ename), Err("EINVAL".into()), "mount -o {opts}");
        let new = busybox(&["dmesg"])?.matches(msg).count() as i64 - before as i64;
        eq!(new, 1, "mount -o {opts}: new {msg:?} lines in dmesg");
    }
    // Mainline ramfs ignores unknown options; ramfs_cr deliberately does not.
    Mount::at("/mnt/rcr_bad", "ramfs", Some("foo=1"))?.umount()
}

pub(crate) fn rmmod_while_mounted() -> R {
    ensure_loaded()?;
    let m = Mount::at("/mnt/rcr_busy", "ramfs_cr", None)?;
    write_file(&m.p("f"), b"x")?;
    // the super block pins it: EAGAIN from try_stop_module(); EBUSY: initialising or no exit fn
    let r = delete_module().map_err(ename);
    eq!(r, Err("EAGAIN".into()), "rmmod while mounted");
    let refused = busybox(&["rmmod", "ramfs_cr"]).is_err();
    check!(refused, "busybox rmmod while mounted: exit 0");
    let now = listed();
    eq!(now, (true, true), "refused rmmods: (modules, filesystems)");
    m.umount()?;
    busybox(&["rmmod", "ramfs_cr"])?;
    let gone = listed();
    ensure_loaded()?;
    expect_eq(gone, (false, false), "after rmmod: (modules, filesystems)")
}

/// Parity with ramfs: a line `OP ARGS (note)` on a fresh mount of each gives the fact `OP ARGS
/// (note): RESULT`; a known `=> RESULT` keeps both from being wrong the same way unnoticed.
const SCRIPT: &str = r#"
stat . (fresh) => mode=40755 nlink=2 size=0 uid=0 gid=0 rdev=0:0
write f hello world\n
read f => "hello world\n"
stat f => mode=100644 nlink=1 size=12 uid=0 gid=0 rdev=0:0
read missing
unlink missing
mkdir d
stat d
stat . (after mkdir d) => mode=40755 nlink=3 size=0 uid=0 gid=0 rdev=0:0
mkdir d (again) => EEXIST
excl f (create f again O_EXCL)
write d/x x
rmdir d (not empty) => ENOTEMPTY
unlink d
rmdir f
unlink d/x
rmdir d
stat d (after rmdir) => ENOENT
stat . (after rmdir d)
link f g
stat f (after link g) => mode=100644 nlink=2 size=12 uid=0 gid=0 rdev=0:0
same f g (same inode)
link f g (again)
link missing h
unlink g
stat f (after unlink g)
symlink f s
readlink s => "f"
lstat s => mode=120777 nlink=1 size=1 uid=0 gid=0 rdev=0:0
read s (through the symlink)
symlink LONG long (page symlinks; LONG: a target of 3003 bytes)
readlink long => "LONG"
symlink x s (again)
mknod p 10644 0 0
stat p => mode=10644 nlink=1 size=0 uid=0 gid=0 rdev=0:0
mknod c 20620 1 3
lstat c => mode=20600 nlink=1 size=0 uid=0 gid=0 rdev=1:3
mknod b 60600 7 0
lstat b
mknod so 140755 0 0
lstat so
mknod p 10644 0 0 (again)
unlink c
unlink b
unlink so
write a A
write b B
rename a b 1 (renameat2 flags; simple_rename: RENAME_NOREPLACE 1, RENAME_EXCHANGE 2 only) => EEXIST
rename a c 1
read c
stat a (after rename)
mkdir dd
rename c dd 2 => ok
stat c (after exchange) => mode=40755 nlink=2 size=0 uid=0 gid=0 rdev=0:0
read dd (after exchange) => "A"
rename c missing 2
rename b z 4 (RENAME_WHITEOUT)
rename b dd 0
read dd (after rename)
stat b (after rename)
mkdir c/in
mkdir e2
rename e2 c 0 (onto non-empty c) => ENOTEMPTY
rename c dd 0 (dir onto file dd)
rename dd e2 0 (file onto dir e2)
rename c c/in/x 0 (into itself)
rename e2 c/in/e2 0
stat c/in (after move)
stat . (after renames)
hold . tmpfile
fwrite tmp data
fstat (tmpfile) => mode=100600 nlink=0 size=8 uid=0 gid=0 rdev=0:0
readdir . (while the tmpfile is unlinked)
linkfd t => ok
fstat (after linkat)
read t => "tmp data"
stat t => mode=100600 nlink=1 size=8 uid=0 gid=0 rdev=0:0
reread (the tmpfile fd)
hold . tmpfile excl
linkfd t2 (an O_EXCL tmpfile can never be linked)
hold m
ftruncate 8192
pwrite 100 abc
mmap (sees pwrite, then writes MMAP at 0 and PAGE2 at 4096) => [97, 98, 99]
pread m 0 4 (after mmap writes) => [77, 77, 65, 80]
pread m 4096 5 => [80, 65, 71, 69, 50]
stat m => mode=100600 nlink=1 size=8192 uid=0 gid=0 rdev=0:0
hold f
ftruncate 5
read f (after truncate 5) => "hello"
ftruncate 10 (extend)
read f (after extend 10) => "hello\0\0\0\0\0"
stat f (after extend)
seekend f
write1m big
check1m big (round trip) => true
stat big
pread big 500000 4
chmod f 600
chown f 1000
stat f (after chmod/chown)
readdir . (sorted)
readdir c
readdir c/in
statfs . (bsize, namelen, blocks, files: f_type differs by design)
"#;

fn ok<T>(_: T) -> String {
    "ok".to_string()
}

/// A system call's "ok", or its errno.
fn sys(r: i32) -> io::Result<String> {
    (r >= 0).then(|| ok(r)).ok_or_else(io::Error::last_os_error)
}

fn describe(md: fs::Metadata) -> String {
    let (mode, nlink, size) = (md.mode(), md.nlink(), md.size());
    let (uid, gid, dev) = (md.uid(), md.gid(), md.rdev());
    let rdev = format!("{}:{}", libc::major(dev), libc::minor(dev));
    format!("mode={mode:o} nlink={nlink} size={size} uid={uid} gid={gid} rdev={rdev}")
}

/// The file the transcript holds open (EBADF when there is none).
fn file(held: &mut Option<fs::File>) -> io::Result<&mut fs::File> {
    let none = || io::Error::from_raw_os_error(libc::EBADF);
    held.as_mut().ok_or_else(none)
}

/// The result of one operation line (see [`SCRIPT`]) on the mount `root`, holding `held` open.
fn parity_op(root: &str, held: &mut Option<fs::File>, line: &str) -> io::Result<String> {
    let long = "x/".repeat(1500) + "end";
    let w: Vec<&str> = line.split(" (").next().unwrap_or("").split(' ').collect();
    let p = |name: &str| format!("{root}/{name}");
    let num = |s: &str| s.parse::<u64>().expect("a number");
    let octal = |s: &str| u32::from_str_radix(s, 8).expect("an octal mode");
    let perms = |s: &str| fs::Permissions::from_mode(octal(s));
    let pattern = || (0..1 << 20).map(|i: u32| (i % 251) as u8);
    match w[..] {
        ["stat", a] => fs::metadata(p(a)).map(describe),
        ["lstat", a] => fs::symlink_metadata(p(a)).map(describe),
        ["read", a] => fs::read(p(a)).map(|b| format!("{:?}", text(&b))),
        ["write", a, ..] => fs::write(p(a), w[2..].join(" ").replace("\\n", "\n")).map(ok),
        ["excl", a] => fs::File::create_new(p(a)).map(ok),
        ["mkdir", a] => fs::create_dir(p(a)).map(ok),
        ["rmdir", a] => fs::remove_dir(p(a)).map(ok),
        ["unlink", a] => fs::remove_file(p(a)).map(ok),
        ["link", a, b] => fs::hard_link(p(a), p(b)).map(ok),
        ["same", a, b] => Ok((fs::metadata(p(a))?.ino() == fs::metadata(p(b))?.ino()).to_string()),
        ["symlink", t, a] => symlink(t.replace("LONG", &long), p(a)).map(ok),
        ["readlink", a] => Ok(format!("{:?}", fs::read_link(p(a))?).replace(&long, "LONG")),
        ["mknod", a, mode, major, minor] => {
            let dev = libc::makedev(num(major) as u32, num(minor) as u32);
            let a = cstr(&p(a));
            // SAFETY: `a` is NUL-terminated.
            sys(unsafe { libc::mknod(a.as_ptr(), octal(mode), dev) })
        }
        ["rename", a, b, flags] => {
            let (a, b, at) = (cstr(&p(a)), cstr(&p(b)), libc::AT_FDCWD);
            // SAFETY: both paths are NUL-terminated.
            sys(unsafe { libc::renameat2(at, a.as_ptr(), at, b.as_ptr(), num(flags) as u32) })
        }
        ["seekend", a] => Ok(fs::File::open(p(a))?.seek(SeekFrom::End(0))?.to_string()),
        ["chmod", a, mode] => fs::set_permissions(p(a), perms(mode)).map(ok),
        ["chown", a, id] => chown(p(a), Some(num(id) as u32), Some(num(id) as u32)).map(ok),
        ["readdir", a] => {
            let name = |e: fs::DirEntry| format!("{:?}", (e.file_name(), e.file_type().ok()));
            let mut names: Vec<String> = fs::read_dir(p(a))?.flatten().map(name).collect();
            names.sort();
            Ok(names.join(" "))
        }
        ["statfs", a] => {
            let s = statfs(&p(a)).map_err(io::Error::other)?;
            let t = (s.f_bsize, s.f_namelen, s.f_blocks, s.f_files);
            Ok(format!("{t:?}"))
        }
        ["hold", a, ref how @ ..] => {
            let flags = match how {
                ["tmpfile"] => libc::O_TMPFILE,
                ["tmpfile", "excl"] => libc::O_TMPFILE | libc::O_EXCL,
                _ => libc::O_CREAT,
            };
            let mut o = OpenOptions::new();
            o.read(true).write(true).mode(0o600).custom_flags(flags);
            *held = None;
            *held = Some(o.open(p(a))?);
            Ok(ok(()))
        }
        ["ftruncate", len] => file(held)?.set_len(num(len)).map(ok),
        ["fwrite", ..] => file(held)?.write_all(w[1..].join(" ").as_bytes()).map(ok),
        ["pwrite", off, data] => file(held)?.write_all_at(data.as_bytes(), num(off)).map(ok),
        ["fstat"] => file(held)?.metadata().map(describe),
        ["reread"] => {
            let (f, mut s) = (file(held)?, String::new());
            f.seek(SeekFrom::Start(0))?;
            f.read_to_string(&mut s)?;
            Ok(format!("{s:?}"))
        }
        ["linkfd", a] => {
            let (to, at, follow) = (cstr(&p(a)), libc::AT_FDCWD, libc::AT_SYMLINK_FOLLOW);
            let from = cstr(&format!("/proc/self/fd/{}", file(held)?.as_raw_fd()));
            // SAFETY: both paths are NUL-terminated.
            sys(unsafe { libc::linkat(at, from.as_ptr(), at, to.as_ptr(), follow) })
        }
        ["mmap"] => {
            let addr = map_shared(file(held)?.as_raw_fd(), 8192).map_err(io::Error::other)?;
            // SAFETY: `addr` maps the 8192 bytes of the held file, read-write, until munmap.
            let map = unsafe { std::slice::from_raw_parts_mut(addr.cast::<u8>(), 8192) };
            let seen = format!("{:?}", &map[100..103]);
            map[0..4].copy_from_slice(b"MMAP");
            map[4096..4101].copy_from_slice(b"PAGE2");
            // SAFETY: `addr`/8192 is exactly the mapping made above, no longer used.
            sys(unsafe { libc::munmap(addr, 8192) }).map(|_| seen)
        }
        ["pread", a, off, n] => {
            let mut b = vec![0u8; num(n) as usize];
            fs::File::open(p(a))?.read_exact_at(&mut b, num(off))?;
            Ok(format!("{b:?}"))
        }
        ["write1m", a] => fs::write(p(a), pattern().collect::<Vec<u8>>()).map(ok),
        ["check1m", a] => Ok(fs::read(p(a))?.into_iter().eq(pattern()).to_string()),
        _ => panic!("parity transcript: unknown operation {line:?}"),
    }
}

pub(crate) fn parity() -> R {
    ensure_loaded()?;
    let ramfs = run_transcript("ramfs", "/mnt/parity_ramfs", RAMFS_MAGIC)?;
    let ramfs_cr = run_transcript("ramfs_cr", "/mnt/parity_ramfs_cr", RAMFS_CR_MAGIC)?;
    let print = std::env::var_os("RAMFS_CR_TRANSCRIPT").is_some();
    for (a, b) in ramfs.iter().zip(&ramfs_cr).filter(|_| print) {
        println!("# {}{b}", if a == b { "" } else { "DIFF " });
    }
    let (lines, mut keys) = (SCRIPT.trim().lines(), 0);
    for (i, (line, (a, b))) in lines.zip(ramfs.iter().zip(&ramfs_cr)).enumerate() {
        eq!(b, a, "fact {i}, ramfs_cr (got) against ramfs (expected)");
        if let Some((label, want)) = line.split_once(" => ") {
            eq!(*b, format!("{label}: {want}"), "key fact {i}");
            keys += 1;
        }
    }
    let n = ramfs_cr.len();
    println!("# parity: {n} facts identical on ramfs and ramfs_cr, {keys} key facts checked");
    Ok(())
}

fn run_transcript(fstype: &str, path: &str, expected: i64) -> Result<Vec<String>, String> {
    let m = Mount::at(path, fstype, None)?;
    let magic = format!("{:#x}", statfs(path)?.f_type);
    eq!(magic, format!("{expected:#x}"), "{fstype} statfs f_type");
    let old_umask = umask(0o022);
    let (mut held, mut facts) = (None, Vec::new());
    for line in SCRIPT.trim().lines() {
        let label = line.split(" => ").next().unwrap_or("");
        let r = parity_op(&m.dir, &mut held, label);
        let r = r.unwrap_or_else(|e| e.raw_os_error().map_or(e.to_string(), ename));
        facts.push(format!("{label}: {r}"));
    }
    drop(held);
    umask(old_umask);
    m.umount().map(|()| facts)
}

// Leak cycles.

/// `run(warm)`, then `run(n)` between two [`settled`] readings: each counter grows by `max` at most.
pub(crate) fn check_growth(
    what: &str,
    (warm, n): (usize, usize),
    max: [Option<i64>; 5],
    run: impl Fn(usize) -> R,
) -> R {
    run(warm)?;
    let (before, start) = (settled()?, Instant::now());
    run(n)?;
    let (after, secs) = (settled()?, start.elapsed().as_secs_f64());
    println!("# {what}: {n} cycles in {secs:.1} s: {COUNTERS:?} {before:?} -> {after:?}");
    check_each(COUNTERS.iter().zip(max).enumerate(), |(i, (name, max))| {
        let grew = after[i] - before[i];
        let ok = max.is_none_or(|max| grew <= max);
        check!(ok, "{name}: {grew:+} over {n} {what} cycles, max {max:?}");
        Ok(())
    })
}

/// `cycle` `n` times, a failure named by its number.
fn repeat(n: usize, cycle: impl Fn() -> R) -> R {
    (0..n).try_for_each(|i| cycle().map_err(|e| format!("cycle {i}: {e}")))
}

pub(crate) fn mount_cycles() -> R {
    ensure_loaded()?;
    // Warm-up cycles: per-cpu caches, IDA/xarray nodes for mount and device ids.
    let (slab, vfs) = (Some(SLAB_NOISE_KB), Some(VFS_NOISE));
    let max = [slab, vfs, vfs, None, None];
    let cycle = || {
        let m = Mount::at("/mnt/rcr_cycle", "ramfs_cr", None)?;
        populate_files(&m.dir, &[("f", &[7u8; 5000]), ("d/g", b"g")])?;
        let p = |n: &str| m.root().join(n);
        let fill = |r: io::Result<()>| r.map_err(|e| format!("filling {}: {e}", m.dir));
        fill(fs::hard_link(p("f"), p("d/h")))?;
        fill(symlink("d/g", p("s")))?;
        fill(fs::rename(p("d/g"), p("g2")))?;
        fill(fs::remove_file(p("d/h")))?;
        m.umount()
    };
    check_growth("mount/fill/umount", (50, 1000), max, |n| repeat(n, cycle))
}

/// delete_module and finit_module, what rmmod and insmod do, without busybox's fork+exec.
pub(crate) fn module_cycles() -> R {
    ensure_loaded()?;
    let cycle = || {
        delete_module().map_err(|e| format!("delete_module: {}", ename(e)))?;
        ensure_module()
    };
    let max = [Some(SLAB_NOISE_KB), None, None, None, None];
    let r = check_growth("insmod/rmmod", (3, 100), max, |n| repeat(n, cycle));
    // Leave the module loaded for the cases after this one.
    r.and(ensure_loaded())
}
