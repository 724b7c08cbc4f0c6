//! Allocation failures (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC with
//! CONFIG_FAULT_INJECTION_DEBUG_FS, in the debug kernel): the N-th
//! allocation of checkpoint(2) and of restart(2) fails, for N = 1, 2, ...
//! until the call succeeds.  Each failure must be ENOMEM (the only errno an
//! allocation failure may become: a failed kmalloc, page or file allocation
//! is -ENOMEM in every path the calls take; anything else would mean an
//! error path that turns it into another error, or a partial result), the
//! caller's fd table, cwd, root and umask unchanged, and no splat; leaks
//! show in the kmemleak scan at the end of the run.

use crate::vm::*;
use ckpt_image::{decode, CHECKPOINT_SKIP_UNSUPPORTED};

/// More allocations than either call makes for the small images here.
const MAX_N: usize = 2000;
/// fd of /proc/thread-self/fail-nth (left out of images as unsupported).
const FAIL_NTH: i32 = 990;

const KNOBS: &[&str] = &[
    "/sys/kernel/debug/failslab/ignore-gfp-wait",
    "/sys/kernel/debug/failslab/verbose",
    "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait",
    "/sys/kernel/debug/fail_page_alloc/verbose",
];

/// Set every knob to 0 (GFP_KERNEL allocations may fail, no stack
/// dump), run `f`, put the old values back.
fn with_fault_injection(f: impl FnOnce() -> R) -> R {
    let mut old = Vec::new();
    for k in KNOBS {
        let v = std::fs::read_to_string(k)
            .map_err(|e| format!("{k}: {e} (no CONFIG_FAILSLAB/FAIL_PAGE_ALLOC debugfs?)"))?;
        old.push(v.trim().to_string());
    }
    let set = |vals: &[String]| -> R {
        for (k, v) in KNOBS.iter().zip(vals) {
            std::fs::write(k, v).map_err(|e| format!("write {v} to {k}: {e}"))?;
        }
        Ok(())
    };
    set(&vec!["0".to_string(); KNOBS.len()])?;
    let splats0 = kmsg_splats().len();
    let _ = std::fs::remove_file(format!("{WORK}/fault-note"));
    let r = f();
    set(&old)?;
    // the note of the child that ran the loop (its stdout is closed)
    print!(
        "{}",
        std::fs::read_to_string(format!("{WORK}/fault-note")).unwrap_or_default()
    );
    r.and(new_splats(splats0))
}

/// Arm the fault: the `n`-th allocation of this thread from now fails.
fn arm(n: usize) -> R {
    let b = n.to_string();
    // SAFETY: writing our own buffer (fail-nth has no lseek: pwrite at 0)
    if unsafe { libc::pwrite(FAIL_NTH, b.as_ptr().cast(), b.len(), 0) } != b.len() as isize {
        return Err(format!("write {n} to fail-nth: {}", ename(errno())));
    }
    Ok(())
}

/// Whether the armed fault fired (fail-nth reads 0 then); disarms it.
fn fired() -> Result<bool, String> {
    let mut b = [0u8; 32];
    // SAFETY: reading into our own buffer (pread at 0, as in arm()).
    let n = unsafe { libc::pread(FAIL_NTH, b.as_mut_ptr().cast(), b.len(), 0) };
    let text = String::from_utf8_lossy(&b[..n.max(0) as usize])
        .trim()
        .to_string();
    let left: u64 = text
        .parse()
        .map_err(|_| format!("read fail-nth: {text:?} ({})", ename(errno())))?;
    // SAFETY: a static buffer.
    if unsafe { libc::pwrite(FAIL_NTH, b"0".as_ptr().cast(), 1, 0) } != 1 {
        return Err(format!("disarm fail-nth: {}", ename(errno())));
    }
    Ok(left == 0)
}

/// Call `call` with the N-th allocation failing, for N = 1, 2, ... until
/// the call makes fewer than N allocations (it succeeds and the fault did
/// not fire).  Each failure must be ENOMEM with `snap(skip)` as it was
/// right before that call; a call that succeeds although the fault fired
/// (an allocation with a fallback) is counted and the loop goes on.  Every
/// success, fired or not, must pass `verify(result)`.  Returns how many Ns
/// failed the call.
fn every_n(
    what: &str,
    skip: &[i32],
    mut call: impl FnMut() -> Result<i64, i32>,
    verify: impl Fn(i64) -> R,
) -> Result<usize, String> {
    let fl = libc::O_RDWR | libc::O_CLOEXEC;
    open_at("/proc/thread-self/fail-nth", fl, FAIL_NTH)?;
    // (the fail-nth fd itself aside: it is read and written in between)
    let skip = [skip, &[FAIL_NTH]].concat();
    let (mut failed, mut tolerated) = (0, 0);
    for n in 1..=MAX_N {
        let before = snap(&skip);
        arm(n)?;
        let r = call();
        let hit = fired()?;
        let after = snap(&skip);
        match r {
            Err(e) => {
                check!(
                    hit,
                    "{what}, fail-nth {n}: {} without an injected failure",
                    ename(e)
                );
                eq!(ename(e), ename(libc::ENOMEM), "{what}, fail-nth {n}: errno");
                check!(
                    before == after,
                    "{what}, fail-nth {n}: caller changed:\n{}",
                    snap_diff(&before, &after)
                );
                failed += 1;
            }
            Ok(v) if hit => {
                verify(v).map_err(|e| format!("{what}, fail-nth {n} (tolerated): {e}"))?;
                tolerated += 1;
            }
            Ok(v) => {
                verify(v).map_err(|e| format!("{what}, fail-nth {n}: {e}"))?;
                close(FAIL_NTH);
                let note = format!(
                    "# {what}: {} allocations; failing one gave ENOMEM {failed} times, \
                     was tolerated {tolerated} times\n",
                    n - 1
                );
                write_file(&format!("{WORK}/fault-note"), note.as_bytes())?;
                return Ok(failed);
            }
        }
    }
    close(FAIL_NTH);
    Err(format!(
        "{what}: still allocating after {MAX_N} injected failures"
    ))
}

/// Files, a dup, a directory and a cwd on a fresh mount.
fn setup(dir: &str) -> R {
    let f = format!("{dir}/f");
    write_file(&f, b"0123456789")?;
    open_at(&f, libc::O_RDWR, 3)?;
    seek(3, 4)?;
    dup2(3, 4)?;
    open_at(dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 6)?;
    chdir(dir)
}

pub(crate) fn checkpoint_fail_nth() -> R {
    work()?;
    let m = Mount::cr()?;
    let (dir, img) = (m.dir.clone(), tmpfile("nth.ckpt"));
    with_fault_injection(|| {
        in_clean_child("checkpointing child", move || {
            alarm(600); // N runs of the call under KASAN
            setup(&dir)?;
            let w = libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            open_at(&img, w, IMG_FD)?;
            let f = format!("{dir}/f");
            let want = vec![(3, f.clone()), (4, f), (6, dir.clone())];
            let call = || {
                let _ = set_bytes(IMG_FD, b"");
                ck(0, IMG_FD, CHECKPOINT_SKIP_UNSUPPORTED, -1)
            };
            let verify = |_| {
                let b = get_bytes(IMG_FD);
                let im = decode(&b).map_err(|e| format!("image: {e}"))?;
                eq!(fd_names(&im), want, "recorded fds");
                Ok(())
            };
            let n = every_n("checkpoint", &[IMG_FD], call, verify)?;
            check!(n > 0, "checkpoint made no allocation that could fail");
            Ok(())
        })
    })
}

pub(crate) fn restart_fail_nth() -> R {
    work()?;
    let m = Mount::cr()?;
    let img = tmpfile("nth-r.ckpt");
    let dir = m.dir.clone();
    {
        let dir = dir.clone();
        self_image(&img, move || setup(&dir))?;
    }
    let other = tmpfile("caller");
    write_file(&other, b"0123456789")?;
    with_fault_injection(|| {
        in_clean_child("restarting child", move || {
            alarm(600); // N runs of the call under KASAN
            busy_caller(&other)?;
            open_at(&img, libc::O_RDONLY | libc::O_CLOEXEC, IMG_FD)?;
            let f = format!("{dir}/f");
            let call = || rs_start(IMG_FD, 0, -1);
            let verify = |v| {
                eq!(v, 3, "restart return value");
                let paths = (fd_path(3), fd_path(4), fd_path(6));
                eq!(paths, (f.clone(), f.clone(), dir.clone()), "restored fds");
                eq!(
                    (pos(3), getfd(6)),
                    (4, libc::FD_CLOEXEC),
                    "fd 3 f_pos, fd 6 F_GETFD"
                );
                eq!(readlink("/proc/self/cwd"), dir, "cwd");
                Ok(())
            };
            let n = every_n("restart", &[IMG_FD], call, verify)?;
            check!(n > 0, "restart made no allocation that could fail");
            Ok(())
        })
    })
}
