// SPDX-License-Identifier: GPL-2.0-only
//! cr-bench: ramfs_cr against mainline ramfs and tmpfs, and checkpoint/restart
//! scaling, in one boot (`make bench` runs it as the VM's init command).
//!
//! Every file-system benchmark runs on four mounts, interleaved: for each
//! repetition, for each benchmark, each mount in turn (the order rotates from
//! one repetition to the next so that no mount is always first or last):
//!
//! * `ramfs`    mainline ramfs (the baseline of every ratio);
//! * `ramfs_cr` the Rust module;
//! * `tmpfs`    mainline tmpfs;
//! * `ramfs-b`  a second mainline ramfs mount: the control.  `ramfs-b/ramfs`
//!   is what two identical file systems measure apart in this VM, i.e. the
//!   noise floor against which `ramfs_cr/ramfs` must be read.
//!
//! Times come from clock_gettime(CLOCK_MONOTONIC).  The console gets a table;
//! the same numbers go out as one JSON document between the lines
//! `BENCH-JSON-BEGIN` and `BENCH-JSON-END` (the Makefile puts it in
//! build/bench.json).  Nothing is asserted: this is a benchmark, not a test.
//!
//! With CRIU in the VM (`make bench` puts Debian's criu there, on a kernel
//! that can run it), the same fd counts are also measured side by side with
//! `criu dump` / `criu restore` (criu.rs).
//!
//! Then a whole ramfs_cr mount is saved and restored with its contents,
//! checkpoint(2)/restart(2) against GNU tar and CRIU's tar for tmpfs
//! (contents.rs).
//!
//! Usage: cr-bench [--reps N] [--entries N] [--io-mib N] [--mmap-mib N]
//!                 [--fds 100,1000,10000] [--quick] [--no-warmup] [--no-mmap] [--no-fs]
//!                 [--no-criu] [--no-contents] [--only-contents] [-v]
//!        cr-bench --hold FD   (what the CRIU rows' `ckpt restart` execs)
//!        cr-bench --target ROOT N   (the CRIU rows' target process)

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write as _;

mod contents;
mod criu;

use ckpt_image::syscalls::{checkpoint, restart};
use ckpt_image::{CHECKPOINT_FD_NONE, CHECKPOINT_SKIP_UNSUPPORTED, RESTART_DRY_RUN};

const MODULE: &str = "/lib/modules/ramfs_cr.ko";
const BASE: &str = "/mnt/bench";

/// Sizes the issue asks for (issue 7).
const ISSUE_ENTRIES: usize = 100_000;
const ISSUE_MIB: usize = 256;

#[derive(Clone)]
struct Config {
    reps: usize,
    entries: usize,
    io_mib: usize,
    mmap_mib: usize,
    fds: Vec<usize>,
    warmup: bool,
    mmap: bool,
    fs: bool,
    criu: bool,
    /// The fd-scaling rows (checkpoint/restart of N fds).
    scaling: bool,
    /// Saving and restoring a whole mount with its contents (contents.rs).
    contents: bool,
    /// The contents trees shrunk (--quick).
    contents_small: bool,
    verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            reps: 5,
            entries: ISSUE_ENTRIES,
            io_mib: ISSUE_MIB,
            mmap_mib: ISSUE_MIB,
            fds: vec![100, 1000, 10_000],
            warmup: true,
            mmap: true,
            fs: true,
            criu: true,
            scaling: true,
            contents: true,
            contents_small: false,
            verbose: false,
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: cr-bench [--reps N] [--entries N] [--io-mib N] [--mmap-mib N] [--fds a,b,c] [--quick] [--no-warmup] [--no-mmap] [--no-fs] [--no-criu] [--no-contents] [--only-contents] [-v]"
    );
    eprintln!(
        "  --no-contents    leave out saving/restoring a whole mount with its contents (vs tar)"
    );
    eprintln!("  --only-contents  only those rows (no file-system, fd-scaling or CRIU rows)");
    std::process::exit(2)
}

fn parse_args() -> Config {
    let mut c = Config::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let num = |it: &mut dyn Iterator<Item = String>| -> usize {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--reps" => c.reps = num(&mut it).max(1),
            "--entries" => c.entries = num(&mut it).max(1),
            "--io-mib" => c.io_mib = num(&mut it).max(1),
            "--mmap-mib" => c.mmap_mib = num(&mut it).max(1),
            "--fds" => {
                let v = it.next().unwrap_or_else(|| usage());
                c.fds = v
                    .split(',')
                    .map(|s| {
                        s.replace('_', "")
                            .parse::<usize>()
                            .unwrap_or_else(|_| usage())
                            .max(2)
                    })
                    .collect();
            }
            "--quick" => {
                c.reps = 2;
                c.entries = 5_000;
                c.io_mib = 16;
                c.mmap_mib = 16;
                c.fds = vec![100, 1000];
                c.contents_small = true;
            }
            "--no-warmup" => c.warmup = false,
            "--no-mmap" => c.mmap = false,
            "--no-fs" => c.fs = false,
            "--no-criu" => c.criu = false,
            "--no-contents" => c.contents = false,
            "--only-contents" => {
                c.contents = true;
                c.fs = false;
                c.scaling = false;
                c.criu = false;
            }
            "-v" | "--verbose" => c.verbose = true,
            _ => usage(),
        }
    }
    c
}

// ------------------------------------------------------------------ helpers

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in path")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ename(e: i32) -> String {
    ckpt_image::syscalls::errno_name(e)
}

fn die(msg: &str) -> ! {
    println!("cr-bench: FATAL: {msg}");
    let _ = std::io::stdout().flush();
    std::process::exit(1)
}

/// CLOCK_MONOTONIC in nanoseconds.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn check(r: libc::c_int, what: &str) -> libc::c_int {
    if r < 0 {
        die(&format!("{what}: {}", ename(errno())));
    }
    r
}

fn open(path: &str, flags: i32, mode: u32) -> i32 {
    let p = cstr(path);
    // SAFETY: valid C string.
    check(
        unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, mode) },
        &format!("open {path}"),
    )
}

fn close(fd: i32) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

fn mkdir(path: &str) {
    let p = cstr(path);
    // SAFETY: valid C string.
    if unsafe { libc::mkdir(p.as_ptr(), 0o755) } != 0 && errno() != libc::EEXIST {
        die(&format!("mkdir {path}: {}", ename(errno())));
    }
}

fn rmdir(path: &str) {
    let p = cstr(path);
    // SAFETY: valid C string.
    check(unsafe { libc::rmdir(p.as_ptr()) }, &format!("rmdir {path}"));
}

fn unlink(path: &str) {
    let p = cstr(path);
    // SAFETY: valid C string.
    check(
        unsafe { libc::unlink(p.as_ptr()) },
        &format!("unlink {path}"),
    );
}

/// Let deferred kernel work of the previous step finish before the next timed
/// step: RCU-freed dentries and inodes of an unlink pass, kworkers.  Without
/// this, the frees of one mount's 100,000 unlinked inodes are charged to
/// whichever mount is timed next.  (Under -icount, the sleep costs no host
/// time: idle guest time is skipped.)
fn settle() {
    // SAFETY: plain syscalls.
    unsafe {
        libc::sync();
        // MEMBARRIER_CMD_GLOBAL (1): synchronize_rcu() in the kernel.
        libc::syscall(libc::SYS_membarrier, 1, 0, 0);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    // SAFETY: plain syscall.
    unsafe { libc::syscall(libc::SYS_membarrier, 1, 0, 0) };
}

fn black_box<T>(x: T) -> T {
    std::hint::black_box(x)
}

// ------------------------------------------------------------------- mounts

struct Fs {
    label: &'static str,
    fstype: &'static str,
    opts: &'static str,
    dir: String,
}

/// The mounts, in the order of the table columns; [0] is the baseline.
fn fs_list() -> Vec<Fs> {
    let mk = |label: &'static str, fstype: &'static str, opts: &'static str| Fs {
        label,
        fstype,
        opts,
        dir: format!("{BASE}/{label}"),
    };
    vec![
        mk("ramfs", "ramfs", "mode=0755"),
        mk("ramfs_cr", "ramfs_cr", "mode=0755"),
        mk("tmpfs", "tmpfs", "mode=0755,size=75%"),
        mk("ramfs-b", "ramfs", "mode=0755"),
    ]
}

fn ensure_module() {
    let fss = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fss
        .lines()
        .any(|l| l.split_whitespace().last() == Some("ramfs_cr"))
    {
        return;
    }
    let f = std::fs::File::open(MODULE).unwrap_or_else(|e| die(&format!("open {MODULE}: {e}")));
    let empty = cstr("");
    use std::os::fd::AsRawFd;
    // SAFETY: finit_module with an open fd and empty params.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
    if r != 0 && errno() != libc::EEXIST {
        die(&format!("insmod {MODULE}: {}", ename(errno())));
    }
}

fn mount(fs: &Fs) {
    std::fs::create_dir_all(&fs.dir).unwrap_or_else(|e| die(&format!("mkdir {}: {e}", fs.dir)));
    let (src, d, t, o) = (cstr("none"), cstr(&fs.dir), cstr(fs.fstype), cstr(fs.opts));
    // SAFETY: valid C strings.
    let r = unsafe { libc::mount(src.as_ptr(), d.as_ptr(), t.as_ptr(), 0, o.as_ptr().cast()) };
    if r != 0 {
        die(&format!(
            "mount -t {} -o {} none {}: {}",
            fs.fstype,
            fs.opts,
            fs.dir,
            ename(errno())
        ));
    }
}

fn umount(fs: &Fs) {
    let d = cstr(&fs.dir);
    // SAFETY: valid C string.
    unsafe {
        if libc::umount2(d.as_ptr(), 0) != 0 {
            libc::umount2(d.as_ptr(), libc::MNT_DETACH);
        }
    }
}

// --------------------------------------------------------------- statistics

#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat_of(v: &[f64]) -> Stat {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Stat {
        median,
        min: s[0],
        max: s[n - 1],
    }
}

/// Median over repetitions of sample[r] / base[r]: both were measured in the
/// same repetition, close in time, so slow drifts of the host cancel out.
fn paired_ratio(v: &[f64], base: &[f64]) -> f64 {
    let r: Vec<f64> = v.iter().zip(base).map(|(a, b)| a / b).collect();
    if r.is_empty() {
        return f64::NAN;
    }
    stat_of(&r).median
}

fn jnum(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        "null".into()
    }
}

fn jarr(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| jnum(*x)).collect();
    format!("[{}]", items.join(", "))
}

fn jstat(v: &[f64]) -> String {
    let s = stat_of(v);
    format!(
        "{{\"median\": {}, \"min\": {}, \"max\": {}, \"samples\": {}}}",
        jnum(s.median),
        jnum(s.min),
        jnum(s.max),
        jarr(v)
    )
}

/// Results of the file-system benchmarks: samples[bench][fs] in ms.
struct FsResults {
    names: Vec<&'static str>,
    samples: Vec<Vec<Vec<f64>>>,
}

impl FsResults {
    fn new(names: &[&'static str], nfs: usize) -> FsResults {
        FsResults {
            names: names.to_vec(),
            samples: vec![vec![Vec::new(); nfs]; names.len()],
        }
    }
    fn add(&mut self, bench: &str, fs: usize, ms: f64) {
        let i = self
            .names
            .iter()
            .position(|n| *n == bench)
            .expect("known bench");
        self.samples[i][fs].push(ms);
    }
}

// ------------------------------------------------------- file-system benches

fn names(n: usize, prefix: &str) -> Vec<CString> {
    (0..n).map(|i| cstr(&format!("{prefix}{i:07}"))).collect()
}

/// create, stat, readdir and unlink of `entries` empty files in one
/// directory.  Returns (create, stat, readdir, unlink) in ms.
fn bench_meta(root: &str, names: &[CString]) -> [f64; 4] {
    let dir = format!("{root}/meta");
    mkdir(&dir);
    let dfd = open(&dir, libc::O_RDONLY | libc::O_DIRECTORY, 0);

    settle();
    let t0 = now_ns();
    for n in names {
        // SAFETY: valid C string, dfd is a directory.
        let fd = unsafe {
            libc::openat(
                dfd,
                n.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd < 0 {
            die(&format!("create {dir}/{:?}: {}", n, ename(errno())));
        }
        close(fd);
    }
    let t1 = now_ns();

    // SAFETY: zeroed stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    settle();
    let t2 = now_ns();
    for n in names {
        // SAFETY: valid C string and out pointer.
        if unsafe { libc::fstatat(dfd, n.as_ptr(), &mut st, 0) } != 0 {
            die(&format!("stat {dir}/{:?}: {}", n, ename(errno())));
        }
        black_box(&st);
    }
    let t3 = now_ns();

    let mut buf = vec![0u8; 64 << 10];
    settle();
    let t4 = now_ns();
    let rfd = open(&dir, libc::O_RDONLY | libc::O_DIRECTORY, 0);
    let mut count = 0usize;
    loop {
        // SAFETY: buf is writable for buf.len() bytes.
        let r = unsafe { libc::syscall(libc::SYS_getdents64, rfd, buf.as_mut_ptr(), buf.len()) };
        if r < 0 {
            die(&format!("getdents64 {dir}: {}", ename(errno())));
        }
        if r == 0 {
            break;
        }
        let mut off = 0usize;
        while off < r as usize {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            count += 1;
            off += reclen;
        }
    }
    close(rfd);
    let t5 = now_ns();
    if count != names.len() + 2 {
        die(&format!(
            "readdir {dir}: {count} entries, expected {}",
            names.len() + 2
        ));
    }

    settle();
    let t6 = now_ns();
    for n in names {
        // SAFETY: valid C string.
        if unsafe { libc::unlinkat(dfd, n.as_ptr(), 0) } != 0 {
            die(&format!("unlink {dir}/{:?}: {}", n, ename(errno())));
        }
    }
    let t7 = now_ns();
    close(dfd);
    rmdir(&dir);
    let ms = |a: u64, b: u64| (b - a) as f64 / 1e6;
    [ms(t0, t1), ms(t2, t3), ms(t4, t5), ms(t6, t7)]
}

/// Sequential write then read of `bytes` with `bs`-byte calls.  Returns
/// (write, read) in ms.
fn bench_seq(root: &str, bytes: usize, bs: usize, buf: &mut [u8]) -> [f64; 2] {
    let path = format!("{root}/seq");
    let fd = open(&path, libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC, 0o644);
    let buf = &mut buf[..bs];
    settle();
    let t0 = now_ns();
    let mut done = 0usize;
    while done < bytes {
        // SAFETY: buf is readable for bs bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), bs) };
        if r <= 0 {
            die(&format!("write {path} at {done}: {}", ename(errno())));
        }
        done += r as usize;
    }
    let t1 = now_ns();
    // SAFETY: plain lseek.
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    settle();
    let t2 = now_ns();
    let mut got = 0usize;
    loop {
        // SAFETY: buf is writable for bs bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), bs) };
        if r < 0 {
            die(&format!("read {path} at {got}: {}", ename(errno())));
        }
        if r == 0 {
            break;
        }
        got += r as usize;
    }
    let t3 = now_ns();
    black_box(&buf);
    close(fd);
    unlink(&path);
    if got != bytes {
        die(&format!("read {path}: {got} bytes, wrote {bytes}"));
    }
    let ms = |a: u64, b: u64| (b - a) as f64 / 1e6;
    [ms(t0, t1), ms(t2, t3)]
}

/// mmap(MAP_SHARED) of a `bytes`-long file: write every byte, munmap; map
/// again, read every byte, munmap.  Returns (write, read) in ms, mmap and
/// munmap included.
fn bench_mmap(root: &str, bytes: usize, rep: usize) -> [f64; 2] {
    let path = format!("{root}/mmap");
    let fd = open(&path, libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC, 0o644);
    // SAFETY: plain ftruncate.
    check(
        unsafe { libc::ftruncate(fd, bytes as libc::off_t) },
        "ftruncate",
    );
    let map = |prot: i32| -> *mut u8 {
        // SAFETY: a fresh shared mapping of our own fd.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), bytes, prot, libc::MAP_SHARED, fd, 0) };
        if p == libc::MAP_FAILED {
            die(&format!("mmap {path}: {}", ename(errno())));
        }
        p.cast()
    };
    settle();
    let t0 = now_ns();
    let p = map(libc::PROT_READ | libc::PROT_WRITE);
    // SAFETY: p maps `bytes` writable bytes.
    unsafe {
        std::ptr::write_bytes(p, 0x5a ^ rep as u8, bytes);
        libc::munmap(p.cast(), bytes);
    }
    let t1 = now_ns();
    settle();
    let t2 = now_ns();
    let p = map(libc::PROT_READ);
    // SAFETY: p maps `bytes` readable bytes, 8-aligned (page aligned).
    let sum = unsafe {
        let w = std::slice::from_raw_parts(p as *const u64, bytes / 8);
        let mut acc = 0u64;
        for x in w {
            acc = acc.wrapping_add(*x);
        }
        libc::munmap(p.cast(), bytes);
        acc
    };
    let t3 = now_ns();
    black_box(sum);
    let want = u64::from_ne_bytes([0x5a ^ rep as u8; 8]).wrapping_mul((bytes / 8) as u64);
    close(fd);
    unlink(&path);
    if sum != want {
        die(&format!(
            "mmap {path}: read back sum {sum:#x}, expected {want:#x}"
        ));
    }
    let ms = |a: u64, b: u64| (b - a) as f64 / 1e6;
    [ms(t0, t1), ms(t2, t3)]
}

const FS_BENCHES: &[&str] = &[
    "create",
    "stat",
    "readdir",
    "unlink",
    "create+unlink",
    "write 4KiB",
    "read 4KiB",
    "write 1MiB",
    "read 1MiB",
    "mmap write",
    "mmap read",
];

fn progress(cfg: &Config, what: &str) {
    if cfg.verbose {
        println!("cr-bench: {what}");
        let _ = std::io::stdout().flush();
    }
}

fn run_fs_benches(cfg: &Config, fss: &[Fs]) -> FsResults {
    let mut res = FsResults::new(FS_BENCHES, fss.len());
    let meta_names = names(cfg.entries, "f");
    let io_bytes = cfg.io_mib << 20;
    let mmap_bytes = cfg.mmap_mib << 20;
    let mut buf = vec![0xa5u8; 1 << 20];
    let nfs = fss.len();

    if cfg.warmup {
        // Untimed, small: fault in the code paths and grow the slab caches a
        // little on every mount before the first timed repetition.
        let w = names((cfg.entries / 10).max(100), "w");
        for fs in fss {
            progress(cfg, &format!("warm-up {}: metadata", fs.label));
            bench_meta(&fs.dir, &w);
            progress(cfg, &format!("warm-up {}: read/write", fs.label));
            bench_seq(&fs.dir, (io_bytes / 16).max(1 << 20), 4096, &mut buf);
            if cfg.mmap {
                progress(cfg, &format!("warm-up {}: mmap", fs.label));
                bench_mmap(&fs.dir, (mmap_bytes / 16).max(1 << 20), 0);
            }
        }
    }

    for rep in 0..cfg.reps {
        let order: Vec<usize> = (0..nfs).map(|k| (k + rep) % nfs).collect();
        let t_rep = now_ns();
        for &i in &order {
            let [c, s, r, u] = bench_meta(&fss[i].dir, &meta_names);
            res.add("create", i, c);
            res.add("stat", i, s);
            res.add("readdir", i, r);
            res.add("unlink", i, u);
            res.add("create+unlink", i, c + u);
        }
        for (bs, wn, rn) in [
            (4096usize, "write 4KiB", "read 4KiB"),
            (1 << 20, "write 1MiB", "read 1MiB"),
        ] {
            for &i in &order {
                let [w, r] = bench_seq(&fss[i].dir, io_bytes, bs, &mut buf);
                res.add(wn, i, w);
                res.add(rn, i, r);
            }
        }
        for &i in order.iter().filter(|_| cfg.mmap) {
            progress(cfg, &format!("rep {rep} {}: mmap", fss[i].label));
            let [w, r] = bench_mmap(&fss[i].dir, mmap_bytes, rep);
            res.add("mmap write", i, w);
            res.add("mmap read", i, r);
        }
        println!(
            "cr-bench: file-system repetition {}/{} done in {:.1} s",
            rep + 1,
            cfg.reps,
            (now_ns() - t_rep) as f64 / 1e9
        );
        let _ = std::io::stdout().flush();
    }
    res
}

// ------------------------------------------------- checkpoint/restart bench

struct CkptResult {
    n: usize,
    /// Per-call times in µs, one sample per repetition.
    ckpt: Vec<f64>,
    dry: Vec<f64>,
    real: Vec<f64>,
    image_bytes: usize,
}

fn raise_nofile(n: usize) {
    let want = (n + 1024) as libc::rlim_t;
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rl.rlim_cur >= want {
        return;
    }
    let rl = libc::rlimit {
        rlim_cur: want,
        rlim_max: want.max(rl.rlim_max),
    };
    // SAFETY: valid rlimit.
    check(
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) },
        "setrlimit(RLIMIT_NOFILE)",
    );
}

/// One checkpoint of `pid` (0: the caller) into `img` (truncated first),
/// timed: µs and the image's size.
fn time_checkpoint(pid: i32, img: i32) -> (f64, usize) {
    // SAFETY: plain calls on our fd.
    unsafe {
        libc::ftruncate(img, 0);
        libc::lseek(img, 0, libc::SEEK_SET);
    }
    let t0 = now_ns();
    let r = checkpoint(pid, img, CHECKPOINT_SKIP_UNSUPPORTED, CHECKPOINT_FD_NONE);
    let t1 = now_ns();
    if let Err(e) = r {
        die(&format!(
            "checkpoint of pid {pid}: {}",
            ename(e.raw_os_error().unwrap_or(0))
        ));
    }
    // SAFETY: plain lseek.
    let size = unsafe { libc::lseek(img, 0, libc::SEEK_END) } as usize;
    ((t1 - t0) as f64 / 1e3, size)
}

fn time_dry_restart(img: i32, n: usize) -> f64 {
    // SAFETY: plain lseek.
    unsafe { libc::lseek(img, 0, libc::SEEK_SET) };
    let t0 = now_ns();
    let r = restart(0, img, RESTART_DRY_RUN, CHECKPOINT_FD_NONE);
    let t1 = now_ns();
    match r {
        Ok(k) if k as usize == n => {}
        Ok(k) => die(&format!("restart(DRY_RUN): {k} fds, expected {n}")),
        Err(e) => die(&format!(
            "restart(DRY_RUN): {}",
            ename(e.raw_os_error().unwrap_or(0))
        )),
    }
    (t1 - t0) as f64 / 1e3
}

/// A real restart, in a forked child with an unshared file table whose
/// `first..=last` descriptors were closed first.  Returns µs.
fn time_real_restart(img: i32, n: usize, first: i32, last: i32) -> f64 {
    let mut p = [0i32; 2];
    // SAFETY: valid out array.
    check(
        unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) },
        "pipe2",
    );
    // Above `last`: the child closes `first..=last` and the restart
    // replaces the image's fds, neither may take the pipe.
    for end in &mut p {
        // SAFETY: plain fcntl on our fd.
        let high = unsafe { libc::fcntl(*end, libc::F_DUPFD_CLOEXEC, last + 1) };
        check(high, "F_DUPFD_CLOEXEC");
        close(*end);
        *end = high;
    }
    // SAFETY: the child only makes raw syscalls and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        die(&format!("fork: {}", ename(errno())));
    }
    if pid == 0 {
        // SAFETY: child side; raw syscalls only.
        unsafe {
            libc::close(p[0]);
            libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32);
            libc::unshare(libc::CLONE_FILES);
            libc::lseek(img, 0, libc::SEEK_SET);
            let t0 = now_ns();
            let r = libc::syscall(
                ckpt_image::syscalls::SYS_RESTART,
                0i64,
                img as i64,
                0u64,
                -1i64,
                std::ptr::null::<i32>(),
                0u64,
            );
            let t1 = now_ns();
            let msg: [i64; 2] = [if r < 0 { -(errno() as i64) } else { r }, (t1 - t0) as i64];
            libc::write(p[1], msg.as_ptr().cast(), 16);
            libc::_exit(0);
        }
    }
    close(p[1]);
    let mut msg = [0i64; 2];
    // SAFETY: msg is writable for 16 bytes.
    let r = unsafe { libc::read(p[0], msg.as_mut_ptr().cast(), 16) };
    close(p[0]);
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != 16 {
        die("restart child: no result");
    }
    if msg[0] < 0 {
        die(&format!("restart: {}", ename(-msg[0] as i32)));
    }
    if msg[0] as usize != n {
        die(&format!("restart: {} fds, expected {n}", msg[0]));
    }
    msg[1] as f64 / 1e3
}

/// Calls per sample so that a sample covers about 10,000 saved fds.
fn inner_iters(n: usize) -> usize {
    (10_000 / n).clamp(1, 50)
}

fn run_ckpt_bench(cfg: &Config, cr: &Fs, tmp_dir: &str) -> Vec<CkptResult> {
    let max = cfg.fds.iter().copied().max().unwrap_or(0);
    raise_nofile(max);
    let mut out = Vec::new();
    for &n in &cfg.fds {
        let root = format!("{}/ckpt-{n}", cr.dir);
        mkdir(&root);
        let img_path = format!("{tmp_dir}/ckpt-{n}.img");
        let img = open(
            &img_path,
            libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
            0o600,
        );
        // N/2 regular files, then N/2 directories, all kept open.
        let mut fds = Vec::with_capacity(n);
        for i in 0..n {
            let fd = if i < n / 2 {
                open(
                    &format!("{root}/f{i:05}"),
                    libc::O_CREAT | libc::O_RDWR,
                    0o644,
                )
            } else {
                let d = format!("{root}/d{i:05}");
                mkdir(&d);
                open(&d, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            };
            fds.push(fd);
        }
        // checkpoint(2) does not save close-on-exec-ness differently; keep the
        // flags as a real program would have them (open() sets O_CLOEXEC).
        let (first, last) = (fds[0], fds[n - 1]);
        if (last - first) as usize != n - 1 {
            die("ckpt bench: fds not contiguous");
        }
        let iters = inner_iters(n);
        let (_, image_bytes) = time_checkpoint(0, img); // warm-up + image for restarts
        time_dry_restart(img, n);
        let mut r = CkptResult {
            n,
            ckpt: vec![],
            dry: vec![],
            real: vec![],
            image_bytes,
        };
        for _ in 0..cfg.reps {
            settle();
            let mut s = 0.0;
            for _ in 0..iters {
                s += time_checkpoint(0, img).0;
            }
            r.ckpt.push(s / iters as f64);
            let mut s = 0.0;
            for _ in 0..iters {
                s += time_dry_restart(img, n);
            }
            r.dry.push(s / iters as f64);
            let mut s = 0.0;
            for _ in 0..iters {
                s += time_real_restart(img, n, first, last);
            }
            r.real.push(s / iters as f64);
        }
        println!(
            "cr-bench: checkpoint/restart N={n} done ({} samples x {iters} calls, image {} bytes)",
            cfg.reps, image_bytes
        );
        let _ = std::io::stdout().flush();
        for fd in fds {
            close(fd);
        }
        close(img);
        unlink(&img_path);
        out.push(r);
    }
    out
}

// ------------------------------------------------------------------ report

fn fmt_stat(s: Stat) -> String {
    format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max)
}

fn print_fs_table(res: &FsResults, fss: &[Fs]) {
    println!();
    println!("File-system benchmarks: ms, median [min-max]; ratios: of medians (in parentheses: median of the per-repetition ratios)");
    let mut h = format!("{:<14}", "benchmark");
    for fs in fss {
        let _ = write!(h, " {:>26}", fs.label);
    }
    for fs in &fss[1..] {
        let _ = write!(h, " {:>18}", format!("{}/ramfs", fs.label));
    }
    println!("{h}");
    for (b, name) in res.names.iter().enumerate() {
        if res.samples[b][0].is_empty() {
            continue;
        }
        let st: Vec<Stat> = res.samples[b].iter().map(|v| stat_of(v)).collect();
        let mut line = format!("{name:<14}");
        for s in &st {
            let _ = write!(line, " {:>26}", fmt_stat(*s));
        }
        for (i, s) in st[1..].iter().enumerate() {
            let _ = write!(
                line,
                " {:>18}",
                format!(
                    "{:.3} ({:.3})",
                    s.median / st[0].median,
                    paired_ratio(&res.samples[b][i + 1], &res.samples[b][0])
                )
            );
        }
        println!("{line}");
    }
}

fn print_ckpt_table(rs: &[CkptResult]) {
    println!();
    println!(
        "Checkpoint/restart of a process holding N fds on ramfs_cr (half files, half directories)"
    );
    println!("per call: us, median [min-max]; per fd: us (median / N)");
    println!(
        "{:>7} {:>10} {:>28} {:>8} {:>28} {:>8} {:>28} {:>8}",
        "N", "image B", "checkpoint", "/fd", "restart dry-run", "/fd", "restart (child)", "/fd"
    );
    for r in rs {
        let (c, d, x) = (stat_of(&r.ckpt), stat_of(&r.dry), stat_of(&r.real));
        let n = r.n as f64;
        println!(
            "{:>7} {:>10} {:>28} {:>8.2} {:>28} {:>8.2} {:>28} {:>8.2}",
            r.n,
            r.image_bytes,
            fmt_stat(c),
            c.median / n,
            fmt_stat(d),
            d.median / n,
            fmt_stat(x),
            x.median / n
        );
    }
    for (a, b) in scaling_pairs(rs) {
        let f = |g: fn(&CkptResult) -> &Vec<f64>| stat_of(g(b)).median / stat_of(g(a)).median;
        println!(
            "scaling N={} / N={} ({:.1}x the fds): checkpoint {:.2}x, restart dry-run {:.2}x, restart {:.2}x (linear + 10%: <= {:.1}x)",
            b.n,
            a.n,
            b.n as f64 / a.n as f64,
            f(|r| &r.ckpt),
            f(|r| &r.dry),
            f(|r| &r.real),
            (b.n as f64 / a.n as f64) * 1.1
        );
    }
}

fn scaling_pairs(rs: &[CkptResult]) -> Vec<(&CkptResult, &CkptResult)> {
    rs.windows(2).map(|w| (&w[0], &w[1])).collect()
}

/// `ramfs_cr.bench_clock=` from the kernel command line (make bench sets it:
/// "icount" when QEMU runs with -icount, "wall" otherwise), or "unknown".
fn bench_clock() -> String {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("ramfs_cr.bench_clock=").map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn json(
    cfg: &Config,
    fss: &[Fs],
    res: &FsResults,
    ck: &[CkptResult],
    criu_part: &str,
    reduced: &[String],
) -> String {
    let mut j = String::new();
    let uname = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let ncpu = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|x| x.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    let _ = writeln!(j, "{{");
    let _ = writeln!(j, "  \"schema\": 1,");
    let _ = writeln!(j, "  \"kernel\": \"{}\",", uname.trim());
    let _ = writeln!(j, "  \"cpus\": {ncpu},");
    let _ = writeln!(j, "  \"mem_kib\": {mem_kb},");
    let cs =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    let _ = writeln!(j, "  \"clock\": \"CLOCK_MONOTONIC\",");
    let _ = writeln!(j, "  \"bench_clock\": \"{}\",", bench_clock());
    let _ = writeln!(j, "  \"clocksource\": \"{}\",", cs.trim());
    let fds: Vec<String> = cfg.fds.iter().map(|x| x.to_string()).collect();
    let _ = writeln!(
        j,
        "  \"config\": {{\"reps\": {}, \"entries\": {}, \"io_mib\": {}, \"mmap_mib\": {}, \"fds\": [{}], \"fs\": {}, \"scaling\": {}, \"contents\": {}, \"contents_small\": {}}},",
        cfg.reps,
        cfg.entries,
        cfg.io_mib,
        cfg.mmap_mib,
        fds.join(", "),
        cfg.fs,
        cfg.scaling,
        cfg.contents,
        cfg.contents_small
    );
    let red: Vec<String> = reduced.iter().map(|s| format!("\"{s}\"")).collect();
    let _ = writeln!(j, "  \"reduced_from_issue_sizes\": [{}],", red.join(", "));
    let labels: Vec<String> = fss.iter().map(|f| format!("\"{}\"", f.label)).collect();
    let _ = writeln!(j, "  \"filesystems\": [{}],", labels.join(", "));
    let _ = writeln!(j, "  \"fs\": [");
    let done: Vec<usize> = (0..res.names.len())
        .filter(|&b| !res.samples[b][0].is_empty())
        .collect();
    for (k, &b) in done.iter().enumerate() {
        let name = res.names[b];
        let _ = writeln!(j, "    {{\"bench\": \"{name}\", \"unit\": \"ms\",");
        let base = stat_of(&res.samples[b][0]);
        let mut ratios = Vec::new();
        for (i, fs) in fss.iter().enumerate().skip(1) {
            let s = stat_of(&res.samples[b][i]);
            ratios.push(format!(
                "\"{}/ramfs\": {{\"median\": {}, \"min\": {}, \"paired\": {}}}",
                fs.label,
                jnum(s.median / base.median),
                jnum(s.min / base.min),
                jnum(paired_ratio(&res.samples[b][i], &res.samples[b][0]))
            ));
        }
        let _ = writeln!(j, "     \"ratios\": {{{}}},", ratios.join(", "));
        let _ = writeln!(j, "     \"results\": {{");
        for (i, fs) in fss.iter().enumerate() {
            let comma = if i + 1 < fss.len() { "," } else { "" };
            let _ = writeln!(
                j,
                "       \"{}\": {}{comma}",
                fs.label,
                jstat(&res.samples[b][i])
            );
        }
        let comma = if k + 1 < done.len() { "," } else { "" };
        let _ = writeln!(j, "     }}}}{comma}");
    }
    let _ = writeln!(j, "  ],");
    j.push_str(criu_part);
    let _ = writeln!(j, "  \"ckpt\": [");
    for (k, r) in ck.iter().enumerate() {
        let n = r.n as f64;
        let per_fd = |v: &[f64]| jnum(stat_of(v).median / n);
        let _ = writeln!(
            j,
            "    {{\"n\": {}, \"unit\": \"us\", \"image_bytes\": {},",
            r.n, r.image_bytes
        );
        let _ = writeln!(
            j,
            "     \"checkpoint\": {}, \"checkpoint_per_fd\": {},",
            jstat(&r.ckpt),
            per_fd(&r.ckpt)
        );
        let _ = writeln!(
            j,
            "     \"restart_dry_run\": {}, \"restart_dry_run_per_fd\": {},",
            jstat(&r.dry),
            per_fd(&r.dry)
        );
        let comma = if k + 1 < ck.len() { "," } else { "" };
        let _ = writeln!(
            j,
            "     \"restart\": {}, \"restart_per_fd\": {}}}{comma}",
            jstat(&r.real),
            per_fd(&r.real)
        );
    }
    let _ = writeln!(j, "  ],");
    let pairs = scaling_pairs(ck);
    let _ = writeln!(j, "  \"ckpt_scaling\": [");
    for (k, (a, b)) in pairs.iter().enumerate() {
        let f = |g: fn(&CkptResult) -> &Vec<f64>| jnum(stat_of(g(b)).median / stat_of(g(a)).median);
        let comma = if k + 1 < pairs.len() { "," } else { "" };
        let _ = writeln!(
            j,
            "    {{\"from\": {}, \"to\": {}, \"checkpoint\": {}, \"restart_dry_run\": {}, \"restart\": {}}}{comma}",
            a.n,
            b.n,
            f(|r| &r.ckpt),
            f(|r| &r.dry),
            f(|r| &r.real)
        );
    }
    let _ = writeln!(j, "  ]");
    let _ = writeln!(j, "}}");
    j
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--hold" {
        criu::hold(args[2].parse().unwrap_or_else(|_| usage()));
    }
    if args.len() == 4 && args[1] == "--target" {
        criu::target(&args[2], args[3].parse().unwrap_or_else(|_| usage()));
    }
    let cfg = parse_args();
    let t_start = now_ns();
    // Keep kernel messages off the console so they cannot split table or
    // JSON lines (the VM console is the only way out).
    let _ = std::fs::write("/proc/sys/kernel/printk", "1 4 1 7");

    let mut reduced = Vec::new();
    if cfg.entries != ISSUE_ENTRIES {
        reduced.push(format!("entries {} (issue: {ISSUE_ENTRIES})", cfg.entries));
    }
    if cfg.io_mib != ISSUE_MIB {
        reduced.push(format!(
            "sequential I/O {} MiB (issue: {ISSUE_MIB} MiB)",
            cfg.io_mib
        ));
    }
    if cfg.mmap_mib != ISSUE_MIB {
        reduced.push(format!(
            "mmap {} MiB (issue: {ISSUE_MIB} MiB)",
            cfg.mmap_mib
        ));
    }
    if cfg.contents && cfg.contents_small {
        reduced.push(
            "contents trees 16 MiB in 16 files and 1,000 files in 10 dirs (issue: 256 MiB in 16 files, 64 MiB in 10,000 files)"
                .to_string(),
        );
    }
    if cfg.fds != [100, 1000, 10_000] {
        reduced.push(format!("fds {:?} (issue: [100, 1000, 10000])", cfg.fds));
    }

    println!(
        "cr-bench: clock {} (clocksource {})",
        bench_clock(),
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "cr-bench: kernel {}, {} reps, {} entries, seq I/O {} MiB, mmap {} MiB, fds {:?}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        cfg.reps,
        cfg.entries,
        cfg.io_mib,
        cfg.mmap_mib,
        cfg.fds
    );
    for r in &reduced {
        println!("cr-bench: NOTE: reduced size: {r}");
    }

    ensure_module();
    let fss = fs_list();
    mkdir(BASE);
    for fs in &fss {
        mount(fs);
    }
    let _ = std::io::stdout().flush();

    let res = if cfg.fs {
        run_fs_benches(&cfg, &fss)
    } else {
        FsResults::new(&[], fss.len())
    };
    let ck = if cfg.scaling {
        run_ckpt_bench(&cfg, &fss[1], "/tmp")
    } else {
        vec![]
    };
    let with_criu = cfg.criu && std::path::Path::new(criu::CRIU).exists();
    let (check, criu_rows) = if with_criu {
        let check = criu::criu_check();
        println!("cr-bench: criu check: {}", check.1);
        let _ = std::io::stdout().flush();
        let rows = if check.0 {
            criu::run_criu_bench(&cfg.fds, cfg.reps, &fss[1].dir, "/tmp")
        } else {
            println!("cr-bench: NOTE: criu check failed: no CRIU rows");
            vec![]
        };
        (check, rows)
    } else {
        println!(
            "cr-bench: NOTE: no CRIU rows ({} absent or --no-criu)",
            criu::CRIU
        );
        ((false, "not run".to_string()), vec![])
    };

    let contents_rows = if cfg.contents {
        let tar = contents::find_tar();
        println!(
            "cr-bench: contents: {} / {}, {} reps",
            tar.version, tar.gzip, cfg.reps
        );
        let _ = std::io::stdout().flush();
        let specs = contents::trees(cfg.contents_small);
        Some((contents::run(&specs, cfg.reps, BASE, "/tmp", &tar), tar))
    } else {
        None
    };

    if cfg.fs {
        print_fs_table(&res, &fss);
    }
    if cfg.scaling {
        print_ckpt_table(&ck);
    }
    if with_criu {
        criu::print_criu_table(&criu_rows, &check);
    }
    if let Some((rows, tar)) = &contents_rows {
        contents::print_table(rows, tar);
    }
    for r in &reduced {
        println!("NOTE: reduced from the issue's sizes: {r}");
    }
    println!("cr-bench: total {:.1} s", (now_ns() - t_start) as f64 / 1e9);
    println!("BENCH-JSON-BEGIN");
    let mut criu_part = if with_criu {
        criu::criu_json(&criu_rows, &check)
    } else {
        String::new()
    };
    if let Some((rows, tar)) = &contents_rows {
        criu_part.push_str(&contents::json(rows, tar));
    }
    print!("{}", json(&cfg, &fss, &res, &ck, &criu_part, &reduced));
    println!("BENCH-JSON-END");
    let _ = std::io::stdout().flush();
    for fs in &fss {
        umount(fs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = stat_of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(stat_of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }

    #[test]
    fn paired_ratio_is_median_of_ratios() {
        assert_eq!(paired_ratio(&[2.0, 3.0, 10.0], &[1.0, 3.0, 1.0]), 2.0);
        assert!(paired_ratio(&[], &[]).is_nan());
    }

    #[test]
    fn json_has_no_dangling_commas() {
        let cfg = Config {
            reps: 2,
            ..Config::default()
        };
        let fss = fs_list();
        let mut res = FsResults::new(FS_BENCHES, fss.len());
        for (i, _) in fss.iter().enumerate() {
            res.add("create", i, 1.0 + i as f64);
            res.add("create", i, 2.0);
        }
        let ck = vec![
            CkptResult {
                n: 100,
                ckpt: vec![1.0],
                dry: vec![1.0],
                real: vec![1.0],
                image_bytes: 1,
            },
            CkptResult {
                n: 1000,
                ckpt: vec![10.0],
                dry: vec![11.0],
                real: vec![9.0],
                image_bytes: 2,
            },
        ];
        let j = json(&cfg, &fss, &res, &ck, "", &["x".to_string()]);
        let squeezed: String = j.split_whitespace().collect();
        assert!(!squeezed.contains(",]") && !squeezed.contains(",}"), "{j}");
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
        assert!(squeezed.contains("\"bench\":\"create\""));
        assert!(
            !squeezed.contains("\"bench\":\"stat\""),
            "benchmarks without samples are left out"
        );
        assert!(squeezed.contains("\"from\":100,\"to\":1000,\"checkpoint\":10.000000"));
    }
}
