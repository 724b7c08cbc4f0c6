//! The N-th allocation (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC) of checkpoint(2) and restart(2)
//! fails, N = 1, 2, ... until the call succeeds: ENOMEM (another errno is an error path that
//! changes it, or a partial result), the caller unchanged, no splat; kmemleak scans at the end.

use crate::vm::*;
use ckpt_image::{decode, CHECKPOINT_SKIP_UNSUPPORTED};
use std::{fs::File, os::fd::AsRawFd, os::unix::fs::FileExt};

/// More allocations than either call makes for the small images here.
const MAX_N: usize = 2000;
const DIR: &str = "/mnt/fault";
const F: &str = "/mnt/fault/f"; // the file of [`setup`]

/// `f` in a clean child on a fresh DIR, the knobs at 0: GFP_KERNEL allocations fail, no dump.
fn with_fault_injection(what: &str, f: fn() -> R) -> R {
    let knobs = ["failslab", "fail_page_alloc"]
        .map(|d| ["ignore-gfp-wait", "verbose"].map(|k| format!("/sys/kernel/debug/{d}/{k}")));
    let knobs = knobs.concat();
    let old: Result<Vec<_>, _> = knobs.iter().map(|k| read_file(k)).collect();
    let old = old.map_err(|e| format!("{e} (no CONFIG_FAILSLAB/FAIL_PAGE_ALLOC debugfs?)"))?;
    let set = |v: &[Vec<u8>]| knobs.iter().zip(v).try_for_each(|(k, v)| write_file(k, v));
    let note = format!("{WORK}/fault-note");
    work()?;
    let _ = std::fs::remove_file(&note);
    let r = on_mount(DIR, || {
        set(&vec![b"0".to_vec(); knobs.len()])?;
        let r = in_clean_child(what, f);
        set(&old).and(r)
    });
    // the note of the child that ran the loop (its stdout is closed)
    print!("{}", std::fs::read_to_string(&note).unwrap_or_default());
    r
}

/// `n` into fail-nth (n-th allocation fails, 0 disarms; no lseek: at 0): what it held (0: fired).
fn fail_nth(f: &File, n: usize) -> Result<u64, String> {
    let mut b = [0u8; 32];
    let got = io(f.read_at(&mut b, 0))?;
    let text = String::from_utf8_lossy(&b[..got]);
    let left = text.trim().parse::<u64>();
    let w = f.write_at(n.to_string().as_bytes(), 0);
    w.map_err(|e| format!("write {n} to fail-nth: {e}"))?;
    left.map_err(|_| format!("read fail-nth: {text:?}"))
}

/// `call` with the N-th allocation failing, N = 1, 2, ... until it succeeds unfaulted: every
/// failure ENOMEM, the caller unchanged; every success (a faulted one tolerated) passes `verify`.
fn every_n(what: &str, call: impl Fn() -> Result<i64, i32>, verify: impl Fn(i64) -> R) -> R {
    // the wrappers' first call reads /sys/kernel/checkpoint/version: unfaulted (not ENOSYS)
    ckpt_image::syscalls::kernel_support().map_err(|e| format!("{what}: {e}"))?;
    alarm(600); // N runs of the call under KASAN
    let p = "/proc/thread-self/fail-nth";
    let f = io(File::options().read(true).write(true).open(p))?;
    // (the fail-nth fd itself aside: it is read and written in between)
    let skip = [IMG_FD, f.as_raw_fd()];
    let (mut failed, mut tolerated) = (0, 0);
    for n in 1..=MAX_N {
        let before = snap(&skip);
        fail_nth(&f, n)?;
        let r = call();
        let (hit, d) = (fail_nth(&f, 0)? == 0, snap_diff(&before, &snap(&skip)));
        let t = if hit { " (tolerated)" } else { "" };
        match r {
            Err(e) => {
                let e = ename(e);
                check!(hit, "{what}, fail-nth {n}: {e} without an injected failure");
                eq!(e, ename(libc::ENOMEM), "{what}, fail-nth {n}: errno");
                check!(d.is_empty(), "{what}, fail-nth {n}: caller changed:\n{d}");
                failed += 1;
            }
            Ok(v) => verify(v).map_err(|e| format!("{what}, fail-nth {n}{t}: {e}"))?,
        }
        tolerated += usize::from(r.is_ok() && hit);
        if r.is_ok() && !hit {
            check!(failed > 0, "{what} made no allocation that could fail");
            let note = format!("# {what}: {} allocations; failing one gave ENOMEM {failed} times, was tolerated {tolerated} times\n", n - 1);
            return write_file(&format!("{WORK}/fault-note"), note.as_bytes());
        }
    }
    Err(format!("{what}: still allocating at fail-nth {MAX_N}"))
}

/// A file at fds 3 (position 4) and 4 (a dup), DIR at fd 6 (close-on-exec) and as cwd.
fn setup() -> R {
    write_file(F, b"0123456789")?;
    open_at(F, libc::O_RDWR, 3)?;
    seek(3, 4)?;
    dup2(3, 4)?;
    open_at(DIR, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 6)?;
    chdir(DIR)
}

pub(crate) fn checkpoint_fail_nth() -> R {
    with_fault_injection("checkpointing child", || {
        setup()?;
        memfd_at("img", IMG_FD, b"")?;
        let want = vec![(3, F.to_string()), (4, F.to_string()), (6, DIR.to_string())];
        let call = || {
            let _ = set_bytes(IMG_FD, b"");
            ck(0, IMG_FD, CHECKPOINT_SKIP_UNSUPPORTED, -1)
        };
        let verify = |_| {
            let im = decode(&get_bytes(IMG_FD)).map_err(|e| format!("image: {e}"))?;
            expect_eq(&fd_names(&im), &want, "recorded fds")
        };
        every_n("checkpoint", call, verify)
    })
}

pub(crate) fn restart_fail_nth() -> R {
    with_fault_injection("restarting child", || {
        self_image(&format!("{WORK}/nth-r.ckpt"), setup)?;
        write_file(&format!("{WORK}/nth-caller"), b"0123456789")?;
        busy_caller(&format!("{WORK}/nth-caller"))?;
        open_at(&format!("{WORK}/nth-r.ckpt"), libc::O_RDONLY, IMG_FD)?;
        let verify = |v| {
            eq!(v, 3, "restart return value");
            let paths = (fd_path(3), fd_path(4), fd_path(6));
            eq!(paths, (F.into(), F.into(), DIR.into()), "restored fds");
            let got = (pos(3), getfd(6));
            eq!(got, (4, libc::FD_CLOEXEC), "fd 3 f_pos, fd 6 F_GETFD");
            expect_eq(readlink("/proc/self/cwd"), DIR, "cwd")
        };
        every_n("restart", || rs_start(IMG_FD, 0, -1), verify)
    })
}
