//! Images larger than what restart(2) holds in memory (CKPT_IMAGE_MAX):
//! `ckpt-contents:` 96 MiB in the main boot, `ckpt-big:` 1 GiB in a boot
//! of its own with the memory it needs (make vm-check).

use crate::contents_cases::{detached, mounts};
use crate::roundtrip::mount_with;
use crate::vm::*;
use ckpt_image::manifest::{format, live_lines};
use ckpt_image::*;
use std::os::unix::fs::FileExt;

/// Bytes of file `i` of a big mount: no two files, and no two 4 KiB
/// pages of one, alike.
fn pattern(i: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|j| (j ^ (j >> 12).wrapping_mul(2654435761) ^ i.wrapping_mul(40503)) as u8)
        .collect()
}

/// A gigabyte takes minutes under TCG with KASAN: the alarm, in seconds,
/// of a child that checkpoints or restores one (in_clean_child's is 60).
const BIG_SECS: u32 = 1200;

/// A ramfs_cr mount with `n` files of `len` bytes each and a small one,
/// checkpointed with contents by a child whose working directory is its
/// root.  The mount, its manifest and the image's path.
fn saved_mount(n: u32, len: usize, name: &str) -> Result<(Mount, String, String), String> {
    let m = mount_with(&[("small", b"small")])?;
    for i in 0..n {
        write_file(&m.p(&format!("f{i}")), &pattern(i, len))?;
    }
    let img = tmpfile(name);
    in_clean_child("checkpointing child", || {
        alarm(BIG_SECS);
        chdir(&m.dir)?;
        ck_ok(0, &img, CHECKPOINT_CONTENTS).map(drop)
    })?;
    // after the checkpoint: what it saw (the manifest's own readdir of the
    // root moves the root's atime, after it was read)
    let saved = format(&live_lines(m.root()).map_err(|e| e.to_string())?);
    Ok((m, saved, img))
}

/// "image of N bytes, read into M bytes of memory" from a restart log.
fn held(log: &str) -> Option<(u64, u64)> {
    let l = log
        .lines()
        .find_map(|l| l.split("restart: image of ").nth(1))?;
    let (n, rest) = l.split_once(" bytes, read into ")?;
    let m = rest.strip_suffix(" bytes of memory")?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// RESTART_CONTENTS of `img` into a detached mount at fd 110, attached at
/// a new directory after: the restart's log and where the mount is.
fn restore(img: &str) -> Result<(Outcome, Mount), String> {
    alarm(BIG_SECS);
    let target = format!("/mnt/ck-{}-big", seq());
    mkdir(&target, 0o755)?;
    detached("ramfs_cr", 110)?;
    let o = restart_into(img, RESTART_CONTENTS, &[110])?;
    // the restart made the rebuilt root our cwd: leave it to unmount it
    chdir("/")?;
    if o.r.is_ok() {
        syscalls::move_mount(110, &cstr(&target)).map_err(|e| format!("move_mount: {e}"))?;
    }
    close(110);
    Ok((o, Mount { dir: target }))
}

/// The rebuilt mount of `o` holds what was saved, and the image of
/// `size` bytes was held in at most `limit` bytes of memory.
fn check_rebuilt(o: &Outcome, m: &Mount, saved: &str, size: u64, limit: u64) -> R {
    expect_outcome(o, Ok(0), "restart with contents")?;
    let now = format(&live_lines(m.root()).map_err(|e| e.to_string())?);
    eq!(now, saved, "rebuilt mount (+) vs the saved one (-)");
    let (n, mem) = held(&o.log).ok_or(format!("no memory figure in the log: {}", o.log))?;
    eq!(n, size, "image bytes the restart log counts");
    check!(
        mem <= limit,
        "a {size} byte image held in {mem} bytes of memory, over {limit}"
    );
    // the child's stdout is not the console's: the parent prints it
    write_file(
        FIGURE,
        format!("{size} byte image restored, held in {mem} bytes of memory").as_bytes(),
    )
}

/// Where [`check_rebuilt`] leaves its figure for the parent to print.
const FIGURE: &str = "/tmp/cr-harness/big.figure"; // in WORK

fn print_figure() {
    if let Ok(f) = read_file(FIGURE) {
        println!("# {}", text(&f));
    }
}

/// 96 MiB of file data in 3 files: the image is over CKPT_IMAGE_MAX.
/// From a regular file its data is left there and the restore is whole,
/// held in well under 1 MiB; from a pipe it is held whole: EFBIG, logged,
/// nothing changed, the mount given still empty.
pub fn over_the_limit() -> R {
    let (m, saved, img) = saved_mount(3, 32 << 20, "big96.img")?;
    let size = std::fs::metadata(&img).map_err(|e| e.to_string())?.len();
    check!(
        size > CKPT_IMAGE_MAX as u64,
        "image of {size} bytes, not over CKPT_IMAGE_MAX"
    );
    let fifo = tmpfile("big96.fifo");
    // SAFETY: a NUL-terminated path that lives for the call.
    sys(unsafe { libc::mkfifo(cstr(&fifo).as_ptr(), 0o600) }).map_err(ename)?;
    let feeder = fork()?;
    if feeder == 0 {
        // The reader stops at the limit: EPIPE then, which is expected.
        let ok = std::fs::read(&img).and_then(|b| std::fs::write(&fifo, b));
        exit(i32::from(ok.is_err()));
    }
    let r = in_clean_child("restoring child", || {
        let before = mounts();
        detached("ramfs_cr", 110)?;
        let (o, diff) = changes(&[110], -1, || restart_into(&fifo, RESTART_CONTENTS, &[110]));
        let o = o?;
        expect_outcome(
            &o,
            Err(libc::EFBIG),
            "RESTART_CONTENTS of the image from a pipe",
        )?;
        check!(
            o.log.contains("besides the data of its files"),
            "log should name the limit: {}",
            o.log
        );
        check!(diff.is_empty(), "caller changed:\n{diff}");
        // the mount fd is O_PATH: list its root through a real open
        // SAFETY: openat of "." below an fd of ours.
        let d =
            sys(unsafe { libc::openat(110, c".".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) });
        let d = d.map_err(|e| format!("open the mount's root: {}", ename(e)))? as i32;
        let names = dirent_names(&read_dir_fd(d, 4096)?);
        close(d);
        eq!(names, [".", ".."], "the mount given after EFBIG");
        close(110);
        eq!(mounts(), before, "mounts after EFBIG");
        let (o, rebuilt) = restore(&img)?;
        let r = check_rebuilt(&o, &rebuilt, &saved, size, 1 << 20);
        rebuilt.umount()?;
        r
    });
    wait(feeder);
    print_figure();
    let _ = std::fs::remove_file(&fifo);
    let _ = std::fs::remove_file(&img);
    m.umount()?;
    r
}

/// `MemTotal - MemFree - Cached - Buffers` of `info` (/proc/meminfo), in
/// bytes: the memory that is neither free nor page cache (ramfs_cr's
/// pages, and the tmpfs image, are page cache).
fn non_cache(info: &str) -> u64 {
    let kb = |k| kb_in(info, k);
    (kb("MemTotal:") - kb("MemFree:") - kb("Cached:") - kb("Buffers:")) * 1024
}

/// /proc/meminfo read again through `f`, kept open: the sampler must not
/// allocate and free kernel memory as it samples, since KASAN's
/// quarantine keeps freed objects counted as slab for a while.
fn meminfo(f: &std::fs::File, buf: &mut [u8]) -> String {
    let n = f.read_at(buf, 0).unwrap_or(0);
    text(&buf[..n])
}

/// 1 GiB of file data in 16 files (make vm-check gives this boot the
/// memory it needs): the image restores with the kernel holding at most
/// 2 MiB of it, and the memory that is not page cache, sampled every
/// 10 ms by another process during the restart, grows by less than
/// 32 MiB, while the restored pages are 1 GiB.
pub fn one_gib() -> R {
    let (m, saved, img) = saved_mount(16, 64 << 20, "big1g.img")?;
    let size = std::fs::metadata(&img).map_err(|e| e.to_string())?.len();
    check!(size > 1 << 30, "image of {size} bytes, not over 1 GiB");
    m.umount()?;
    let peak = tmpfile("big1g.peak");
    let at_base = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let base = non_cache(&at_base);
    let sampler = fork()?;
    if sampler == 0 {
        let (info, out) = (
            std::fs::File::open("/proc/meminfo"),
            std::fs::File::create(&peak),
        );
        let (Ok(info), Ok(out)) = (info, out) else {
            exit(1)
        };
        let (mut buf, mut top) = (vec![0u8; 8192], 0);
        loop {
            let now = meminfo(&info, &mut buf);
            if non_cache(&now) > top {
                top = non_cache(&now);
                let _ = out.write_at(format!("{top}\n{now}").as_bytes(), 0);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let r = in_clean_child("restoring child", || {
        let (o, rebuilt) = restore(&img)?;
        let r = check_rebuilt(&o, &rebuilt, &saved, size, 2 << 20);
        rebuilt.umount()?;
        r
    });
    kill(sampler, libc::SIGKILL);
    wait(sampler);
    r?;
    print_figure();
    let at_peak = text(&read_file(&peak)?);
    let top: u64 = at_peak
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("no peak sampled")?;
    let grew = top.saturating_sub(base);
    for (a, b) in at_base.lines().zip(at_peak.lines().skip(1)) {
        let kb = |l: &str| l.split_whitespace().nth(1)?.parse::<i64>().ok();
        if let (Some(x), Some(y)) = (kb(a), kb(b)) {
            if (y - x).abs() >= 1024 {
                println!(
                    "# at the peak: {} {:+} kB",
                    a.split(':').next().unwrap_or(""),
                    y - x
                );
            }
        }
    }
    println!("# memory that is not page cache grew by {grew} bytes at most during the restart");
    check!(
        grew < 32 << 20,
        "memory that is not page cache grew by {grew} bytes during the restart of a {size} byte image"
    );
    let _ = std::fs::remove_file(&img);
    Ok(())
}
