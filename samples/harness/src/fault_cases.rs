//! Allocation failures (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, debug kernel): the N-th
//! allocation of checkpoint(2) and restart(2) fails, for N = 1, 2, ... until the call
//! succeeds.  Each failure must be ENOMEM (what every path makes of a failed allocation:
//! another errno is an error path that changes it, or a partial result), the caller
//! unchanged, no splat; leaks show in the kmemleak scan at the end of the run.

use crate::vm::*;
use ckpt_image::{decode, CHECKPOINT_SKIP_UNSUPPORTED};
use std::os::{fd::FromRawFd, unix::fs::FileExt};

/// More allocations than either call makes for the small images here.
const MAX_N: usize = 2000;
const DIR: &str = "/mnt/fault";

/// `f` in a clean child (`what`), on a fresh ramfs_cr on DIR, with the knobs below at 0
/// (GFP_KERNEL allocations may fail, no stack dump: only where fail-nth arms a fault).
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

/// Write `n` to fail-nth (the `n`-th allocation of this thread from now fails; 0 disarms):
/// what it read before (0 when an armed fault fired).  It has no lseek: read/write at 0.
fn fail_nth(f: &std::fs::File, n: usize) -> Result<u64, String> {
    let mut b = [0u8; 32];
    let got = f.read_at(&mut b, 0).map_err(|e| e.to_string());
    let text = String::from_utf8_lossy(&b[..got?]);
    let left = text.trim().parse::<u64>();
    let w = f.write_at(n.to_string().as_bytes(), 0);
    w.map_err(|e| format!("write {n} to fail-nth: {e}"))?;
    left.map_err(|_| format!("read fail-nth: {text:?}"))
}

/// `call` with the N-th allocation failing, N = 1, 2, ... until it succeeds without the
/// fault firing.  Each failure must be ENOMEM with `snap` (IMG_FD aside) as it was, one
/// at least; a success although the fault fired (a fallback) is counted and the loop goes
/// on.  Every success must pass `verify`.
fn every_n(what: &str, call: impl Fn() -> Result<i64, i32>, verify: impl Fn(i64) -> R) -> R {
    // The wrappers read /sys/kernel/checkpoint/version on their first call: before any
    // fault is armed (else the first case of a run sees ENOSYS, not the call's ENOMEM).
    ckpt_image::syscalls::kernel_support().map_err(|e| format!("{what}: {e}"))?;
    alarm(600); // N runs of the call under KASAN
    let fd = open_at("/proc/thread-self/fail-nth", libc::O_RDWR, -1)?;
    // SAFETY: a fresh fd, owned by the File from here on.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    // (the fail-nth fd itself aside: it is read and written in between)
    let skip = [IMG_FD, fd];
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
    let f = format!("{DIR}/f");
    write_file(&f, b"0123456789")?;
    open_at(&f, libc::O_RDWR, 3)?;
    seek(3, 4)?;
    dup2(3, 4)?;
    open_at(DIR, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 6)?;
    chdir(DIR)
}

pub(crate) fn checkpoint_fail_nth() -> R {
    with_fault_injection("checkpointing child", || {
        setup()?;
        memfd_at("img", IMG_FD, b"")?;
        let f = format!("{DIR}/f");
        let want = vec![(3, f.clone()), (4, f), (6, DIR.to_string())];
        let call = || {
            let _ = set_bytes(IMG_FD, b"");
            ck(0, IMG_FD, CHECKPOINT_SKIP_UNSUPPORTED, -1)
        };
        let verify = |_| {
            let im = decode(&get_bytes(IMG_FD)).map_err(|e| format!("image: {e}"))?;
            eq!(fd_names(&im), want, "recorded fds");
            Ok(())
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
        let f = format!("{DIR}/f");
        let verify = |v| {
            eq!(v, 3, "restart return value");
            let paths = (fd_path(3), fd_path(4), fd_path(6));
            eq!(paths, (f.clone(), f.clone(), DIR.into()), "restored fds");
            let got = (pos(3), getfd(6));
            eq!(got, (4, libc::FD_CLOEXEC), "fd 3 f_pos, fd 6 F_GETFD");
            eq!(readlink("/proc/self/cwd"), DIR, "cwd");
            Ok(())
        };
        every_n("restart", || rs_start(IMG_FD, 0, -1), verify)
    })
}
