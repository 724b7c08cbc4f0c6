//! Images over what restart(2) holds in memory (CKPT_IMAGE_MAX): 96 MiB in the main
//! boot, 1 GiB (`ckpt-big:`) in a boot of its own with the memory it needs.

use crate::contents_cases::{detached, expect_rebuilt, expect_refusal, mounts, pattern};
use crate::{roundtrip::mount_with, vm::*};
use ckpt_image::{manifest::live_manifest, *};
use std::{fs::File, os::unix::fs::FileExt};

/// The alarm (s) of a child that saves or restores a gigabyte: minutes under TCG with KASAN.
const BIG_SECS: u32 = 1200;

/// `n` files of `len` bytes and a small one saved whole: mount, manifest, image, size.
fn saved_mount(n: u32, len: usize, name: &str) -> Result<(Mount, String, String, u64), String> {
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
    // after the checkpoint, whose readdir of the root moved the root's atime
    let saved = io(live_manifest(m.root()))?;
    let size = io(std::fs::metadata(&img))?.len();
    Ok((m, saved, img, size))
}

/// "image of N bytes, read into M bytes of memory" from a restart log.
fn held(log: &str) -> Option<(u64, u64)> {
    let l = log.split("restart: image of ").nth(1)?.lines().next()?;
    let l = l.strip_suffix(" bytes of memory")?;
    let (n, m) = l.split_once(" bytes, read into ")?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// Where a restoring child leaves its figure: its stdout is not the console's.
const FIGURE: &str = "/tmp/cr-harness/big.figure";

/// RESTART_CONTENTS of `img` (`size` bytes) rebuilds `saved`, held in `limit` bytes at most.
fn check_restore(img: &str, saved: &str, size: u64, limit: u64) -> R {
    alarm(BIG_SECS);
    let dir = format!("/mnt/ck-{}-big", seq());
    mkdir(&dir, 0o755)?;
    let m = Mount { dir };
    let o = expect_rebuilt(img, &m.dir, 0, saved);
    // the restart made the rebuilt root our cwd: leave it to unmount it
    chdir("/")?;
    let log = o?.log;
    let (n, mem) = held(&log).ok_or(format!("no memory figure in the log: {log}"))?;
    eq!(n, size, "image bytes the restart log counts");
    let ok = mem <= limit;
    check!(ok, "{size} byte image held in {mem} bytes, over {limit}");
    let figure = format!("{size} byte image restored, held in {mem} bytes of memory");
    write_file(FIGURE, figure.as_bytes())?;
    m.umount()
}

fn print_figure() {
    if let Ok(f) = read_file(FIGURE) {
        println!("# {}", text(&f));
    }
}

/// 96 MiB in 3 files: from a file restored whole; from a pipe EFBIG, the mount still empty.
pub fn over_the_limit() -> R {
    let (m, saved, img, size) = saved_mount(3, 32 << 20, "big96.img")?;
    let over = size > CKPT_IMAGE_MAX as u64;
    check!(over, "image of {size} bytes, not over CKPT_IMAGE_MAX");
    let fifo = tmpfile("big96.fifo");
    mknod(&fifo, libc::S_IFIFO | 0o600, 0)?;
    let feeder = Target::spawn(|| {
        // the reader stops at the limit: EPIPE then
        let _ = std::fs::read(&img).and_then(|b| std::fs::write(&fifo, b));
    })?;
    let r = in_clean_child("restoring child", || {
        let before = mounts();
        detached("ramfs_cr", 110)?;
        let what = "RESTART_CONTENTS of the image from a pipe";
        let says = "besides the data of its files";
        expect_refusal(&fifo, RESTART_CONTENTS, &[110], libc::EFBIG, says, what)?;
        // the mount fd is O_PATH: list its root through a real open
        let d = open_at("/proc/self/fd/110", libc::O_RDONLY | libc::O_DIRECTORY, 111)?;
        let names = dirent_names(&read_dir_fd(d, 4096)?);
        eq!(names, [".", ".."], "the mount given after EFBIG");
        close_range(110, 111);
        eq!(mounts(), before, "mounts after EFBIG");
        check_restore(&img, &saved, size, 1 << 20)
    });
    drop(feeder);
    print_figure();
    let _ = std::fs::remove_file(&fifo);
    let _ = std::fs::remove_file(&img);
    m.umount().and(r)
}

/// Bytes neither free nor page cache (as ramfs_cr's pages and the tmpfs image are).
fn non_cache(info: &str) -> u64 {
    let kb = |k| kb_in(info, k);
    (kb("MemTotal:") - kb("MemFree:") - kb("Cached:") - kb("Buffers:")) * 1024
}

/// 1 GiB in 16 files: memory not page cache, sampled every 10 ms in the restart, grows < 32 MiB.
pub fn one_gib() -> R {
    let (m, saved, img, size) = saved_mount(16, 64 << 20, "big1g.img")?;
    check!(size > 1 << 30, "image of {size} bytes, not over 1 GiB");
    m.umount()?;
    let peak = tmpfile("big1g.peak");
    let at_base = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let sampler = Target::spawn(|| {
        alarm(0); // it samples until it is killed
        let (Ok(info), Ok(out)) = (File::open("/proc/meminfo"), File::create(&peak)) else {
            return;
        };
        let (mut buf, mut top) = (vec![0u8; 8192], 0);
        loop {
            // read through one open file: KASAN's quarantine counts freed objects as slab
            let n = info.read_at(&mut buf, 0).unwrap_or(0);
            let now = text(&buf[..n]);
            if non_cache(&now) > top {
                top = non_cache(&now);
                let _ = out.write_at(format!("{top}\n{now}").as_bytes(), 0);
            }
            nap(10);
        }
    })?;
    let r = in_clean_child("restoring child", || {
        check_restore(&img, &saved, size, 2 << 20)
    });
    drop(sampler);
    r?;
    print_figure();
    let at_peak = text(&read_file(&peak)?);
    let top = at_peak.lines().next().and_then(|l| l.parse::<u64>().ok());
    let base = non_cache(&at_base);
    let grew = top.ok_or("no peak sampled")?.saturating_sub(base);
    for (key, _) in at_base.lines().filter_map(|l| l.split_once(':')) {
        let kb = |info| kb_in(info, &format!("{key}:")) as i64;
        let d = kb(&at_peak) - kb(&at_base);
        if d.abs() >= 1024 {
            println!("# at the peak: {key} {d:+} kB");
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
