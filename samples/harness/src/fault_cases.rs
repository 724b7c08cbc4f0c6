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
    lseek(FAIL_NTH, 0, libc::SEEK_SET);
    write_fd(FAIL_NTH, n.to_string().as_bytes())
        .map(|_| ())
        .map_err(|e| format!("write {n} to fail-nth: {}", ename(e)))
}

/// Whether the armed fault fired (fail-nth reads 0 then); disarms it.
fn fired() -> Result<bool, String> {
    lseek(FAIL_NTH, 0, libc::SEEK_SET);
    let b = read_fd(FAIL_NTH, 32).map_err(|e| format!("read fail-nth: {}", ename(e)))?;
    let left: u64 = String::from_utf8_lossy(&b).trim().parse().unwrap_or(1);
    lseek(FAIL_NTH, 0, libc::SEEK_SET);
    write_fd(FAIL_NTH, b"0").map_err(|e| format!("disarm fail-nth: {}", ename(e)))?;
    Ok(left == 0)
}

/// Call `call` with the N-th allocation failing for N = 1, 2, ... until it
/// succeeds; each failure must be ENOMEM with
/// `snap(skip)` unchanged.  Returns how many Ns failed the call.
fn every_n(
    what: &str,
    skip: &[i32],
    mut call: impl FnMut() -> Result<i64, i32>,
) -> Result<usize, String> {
    open_at(
        "/proc/thread-self/fail-nth",
        libc::O_RDWR | libc::O_CLOEXEC,
        FAIL_NTH,
    )?;
    // (the fail-nth fd itself aside: it is read and written in between)
    let skip = [skip, &[FAIL_NTH]].concat();
    let before = snap(&skip);
    for n in 1..=MAX_N {
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
            }
            Ok(_) => {
                // (an injected failure the call did without is fine too)
                close(FAIL_NTH);
                let note = format!(
                    "# {what}: failed with ENOMEM for fail-nth 1..{}, succeeded at {n}\n",
                    n - 1
                );
                write_file(&format!("{WORK}/fault-note"), note.as_bytes())?;
                return Ok(n - 1);
            }
        }
    }
    close(FAIL_NTH);
    Err(format!(
        "{what}: still failing after {MAX_N} injected failures"
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
            setup(&dir)?;
            let w = libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            open_at(&img, w, IMG_FD)?;
            let n = every_n("checkpoint", &[IMG_FD], || {
                let _ = set_bytes(IMG_FD, b"");
                ck(0, IMG_FD, CHECKPOINT_SKIP_UNSUPPORTED, -1)
            })?;
            check!(n > 0, "checkpoint made no allocation that could fail");
            let im =
                decode(&get_bytes(IMG_FD)).map_err(|e| format!("image after the loop: {e}"))?;
            let names = fd_names(&im);
            let f = format!("{dir}/f");
            eq!(
                names,
                vec![(3, f.clone()), (4, f), (6, dir.clone())],
                "recorded fds"
            );
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
            busy_caller(&other)?;
            open_at(&img, libc::O_RDONLY | libc::O_CLOEXEC, IMG_FD)?;
            let n = every_n("restart", &[IMG_FD], || {
                lseek(IMG_FD, 0, libc::SEEK_SET);
                rs(0, IMG_FD, 0, -1)
            })?;
            check!(n > 0, "restart made no allocation that could fail");
            let f = format!("{dir}/f");
            eq!(
                (fd_path(3), fd_path(4), fd_path(6)),
                (f.clone(), f, dir.clone()),
                "restored fds"
            );
            eq!(
                (pos(3), getfd(6)),
                (4, libc::FD_CLOEXEC),
                "fd 3 f_pos, fd 6 F_GETFD"
            );
            eq!(readlink("/proc/self/cwd"), dir, "cwd");
            Ok(())
        })
    })
}
