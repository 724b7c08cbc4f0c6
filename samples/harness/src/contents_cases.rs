//! `ckpt-contents:` a ramfs_cr mount saved whole (CHECKPOINT_CONTENTS).

use crate::{golden::populate_files, roundtrip::mount_with, vm::*};
use ckpt_image::manifest::{format, image_manifest, live_lines, live_manifest, Line};
use ckpt_image::ramfs::{trees, Kind};
use ckpt_image::*;
use std::os::unix::fs::{symlink, FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// A change made to the records of an image.
type Edit = Box<dyn Fn(&mut Vec<Record>)>;

/// `recs` changed by `edit`, written to a fresh file: its path.
fn edited(recs: &[Record], edit: &Edit) -> Result<String, String> {
    let (mut r, bad) = (recs.to_vec(), tmpfile("bad.img"));
    edit(&mut r);
    io(std::fs::write(&bad, encode_with_tail(&r))).map(|()| bad)
}

/// The data of SB_REC record `i` of `r`.
fn sb_rec(r: &mut [Record], i: usize) -> &mut Vec<u8> {
    match &mut r[i] {
        Record::SbRec(s) => &mut s.data,
        other => panic!("record {i} is not an SB_REC: {other:?}"),
    }
}

/// checkpoint(2) with contents of a clean child in `dir` after `setup`: the image (one tree).
fn save(dir: &str, img: &str, setup: impl FnOnce() -> R) -> Result<Image, String> {
    in_clean_child("checkpointing child", || {
        chdir(dir)?;
        setup()?;
        ck_ok(0, img, CHECKPOINT_CONTENTS).map(drop)
    })?;
    let im = decode_file(img)?;
    let n = trees(&im).map_err(|e| format!("{img}: {e}"))?.len();
    eq!(n, 1, "{img}: ramfs_cr sections");
    Ok(im)
}

/// `o` returned `want` and its log says `says`.
fn expect_logged(o: &Outcome, want: Result<i64, i32>, says: &str, what: &str) -> R {
    expect_outcome(o, want, what)?;
    let said = o.log.contains(says);
    check!(said, "{what}: log should say {says:?}: {}", o.log);
    Ok(())
}

/// restart(2) of `img` (`flags`, mounts `fds`): `want`, `says` logged, the caller unchanged.
pub fn expect_refusal(img: &str, flags: u64, fds: &[i32], want: i32, says: &str, what: &str) -> R {
    let (o, diff) = changes(fds, -1, || restart_into(img, flags, fds));
    expect_logged(&o?, Err(want), says, what)?;
    check!(diff.is_empty(), "{what}: caller changed:\n{diff}");
    Ok(())
}

/// RESTART_CONTENTS of `img` returns `n`; the mount, attached at `target`, holds `saved`.
pub fn expect_rebuilt(img: &str, target: &str, n: i64, saved: &str) -> Result<Outcome, String> {
    detached("ramfs_cr", 110)?;
    let o = restart_into(img, RESTART_CONTENTS, &[110])?;
    let says = "contents of 1 superblock rebuilt";
    expect_logged(&o, Ok(n), says, "restart with contents")?;
    syscalls::move_mount(110, &cstr(target)).map_err(|e| format!("move_mount: {e}"))?;
    close(110);
    let now = io(live_manifest(Path::new(target)))?;
    eq!(now, saved, "rebuilt mount (+) vs the saved one (-)");
    Ok(o)
}

pub fn whole_mount() -> R {
    let m = mount_with(&[("d/e/", b""), ("many/", b""), ("d/a", b"linked twice")])?;
    io(std::fs::hard_link(m.p("d/a"), m.p("hard")))?;
    io(std::fs::hard_link(m.p("d/a"), m.p("d/e/hard")))?;
    io(symlink("d/a", m.p("sym")))?;
    io(symlink("nowhere", m.p("dangling")))?;
    mknod(&m.p("fifo"), libc::S_IFIFO | 0o640, 0)?;
    mknod(&m.p("null"), libc::S_IFCHR | 0o640, libc::makedev(1, 3))?;
    mknod(&m.p("loop"), libc::S_IFBLK | 0o640, libc::makedev(7, 0))?;
    mknod(&m.p("sock"), libc::S_IFSOCK | 0o640, 0)?;
    let sparse = io(std::fs::File::create(m.p("sparse")))?;
    io(sparse.set_len(1 << 30))?;
    for off in [0, 512 << 20, (1 << 30) - 3] {
        io(sparse.write_at(b"abc", off))?;
    }
    for i in 0..10_000 {
        write_file(&m.p(&format!("many/{i}")), format!("{i}").as_bytes())?;
    }
    for name in ["new\nline", "ünïcødé ✓", &"x".repeat(255)] {
        write_file(&m.p(name), name.as_bytes())?;
    }
    // 19 levels of 200 bytes: the file is some 3,900 bytes from "/".
    let deep = (b'a'..b't').fold(m.p(""), |p, c| format!("{p}/{}", text(&[c; 200])));
    populate_files(&deep, &[("end", b"deep")])?;
    let n = deep.len();
    let near = n + 4 < libc::PATH_MAX as usize && n > 3800;
    check!(near, "deep path length {n}");
    // held open by another process: an unlinked file and an O_TMPFILE one
    write_file(&m.p("ghost"), &pattern(0, 2 << 20))?;
    let _holder = Target::paused(|| {
        open_at(&m.p("ghost"), libc::O_RDONLY, 50)?;
        open_mode(&m.p(""), libc::O_TMPFILE | libc::O_RDWR, 0o600, 51)?;
        alarm(0); // it holds them until the case ends
        write_fd(51, b"tmpfile data").map(drop).map_err(ename)
    })?;
    io(std::fs::remove_file(m.p("ghost")))?;
    let img = tmpfile("contents.img");
    let im = save(&m.p(""), &img, || Ok(()))?;
    // after the checkpoint: the walk stats an entry before it reads it (O_NOATIME)
    let (live, trees) = (io(live_lines(m.root()))?, io(trees(&im))?);
    let t = &trees[0];
    let (saved, now) = (image_manifest(t), format(&live));
    eq!(saved, now, "manifest of the image (- ) vs the live mount");
    let orphans = t.orphans.iter().filter_map(|&i| t.node(i));
    let orphans: Vec<_> = orphans.map(|n| (n.inode.nlink, n.data())).collect();
    let want = [(0, pattern(0, 2 << 20)), (0, b"tmpfile data".to_vec())];
    let all = orphans.len() == 2 && want.iter().all(|w| orphans.contains(w));
    check!(all, "unlinked inodes: {} (nlink, bytes)", orphans.len());
    let s = t.lookup(b"/sparse").and_then(|i| t.node(i));
    let s = s.ok_or("no /sparse in the image")?;
    let chunks = s.extents.iter().map(|e| (e.offset, e.data.len())).collect();
    let pages = vec![(0, 4096), (512 << 20, 4096), ((1 << 30) - 4096, 4096)];
    let (got, want) = ((s.inode.size, chunks), (1 << 30, pages));
    eq!(got, want, "sparse file: size and the chunks saved");
    // ckpt extract: the same tree but sockets, link numbers (readdir order) and atimes
    let out = tmpfile("extract");
    mkdir(&out, 0o755)?;
    let (code, _, err) = run_ckpt(&["extract", &img, &out])?;
    eq!(code, 0, "ckpt extract: {err}");
    let plain = |mut v: Vec<Line>| {
        v.retain(|l| l.kind != Kind::Sock && !l.path.starts_with(b"/.ckpt-unlinked"));
        for l in &mut v {
            (l.atime, l.link) = (Default::default(), 0);
            if l.kind == Kind::Dir {
                l.size = 0; // sizes of directories are each fs's own
            }
        }
        v.sort_by_key(|l| l.path.clone());
        v
    };
    let extracted = plain(io(live_lines(Path::new(&out)))?);
    eq!(extracted, plain(live), "extracted tree vs the live mount");
    let ino = |p: &str| Some(std::fs::metadata(format!("{out}/{p}")).ok()?.ino());
    let one = ino("d/a").is_some() && ino("d/a") == ino("hard") && ino("hard") == ino("d/e/hard");
    check!(one, "extracted d/a, hard, d/e/hard are one inode");
    Ok(())
}

/// The image or the log on the mount: EBUSY before anything is frozen.
pub fn image_on_saved_mount() -> R {
    let m = mount_with(&[])?;
    let outside = tmpfile("busy.img");
    let rows = [
        (m.p("img"), outside.clone(), "the image file is on"),
        (outside.clone(), m.p("log"), "the log file is on"),
    ];
    check_each(rows, |(img, log, why)| {
        in_clean_child("checkpointing child", || {
            chdir(&m.p(""))?;
            let wr = libc::O_WRONLY | libc::O_CREAT;
            open_at(&img, wr, IMG_FD)?;
            open_at(&log, wr, LOG_FD)?;
            let r = ck(0, IMG_FD, CHECKPOINT_CONTENTS, LOG_FD);
            expect_ret(r, Err(libc::EBUSY), &format!("image {img}, log {log}"))?;
            let log = text(&read_file(&log)?);
            check!(log.contains(why), "log says {why:?}: {log}");
            alarm(10);
            write_file(&m.p("after"), b"not frozen")
        })
    })
}

const MAP_LEN: usize = 1 << 20;
const LAST: usize = MAP_LEN / 4 - 1;

/// The writer bumps the first word of the mapping, then the last: one instant has
/// first == last or last + 1; a copy taken while it ran sees the last above the first.
pub fn mapping_writer_waits() -> R {
    let m = mount_with(&[("map", &vec![0u8; MAP_LEN])])?;
    let fd = open_at(&m.p("map"), libc::O_RDWR, 60)?;
    let p = map_shared(fd, MAP_LEN);
    close(fd);
    let p = p?;
    // SAFETY: the mapping is LAST + 1 u32s, unmapped below once nothing uses `w`.
    let w = unsafe { std::slice::from_raw_parts(p.cast::<AtomicU32>(), LAST + 1) };
    let bump = |a: &AtomicU32| a.store(a.load(Relaxed).wrapping_add(1), Relaxed);
    // (no alarm: it writes until it is killed)
    let writer = Target::spawn(|| {
        alarm(0);
        loop {
            bump(&w[0]);
            bump(&w[LAST]);
        }
    })?;
    let img = tmpfile("map.img");
    let res = check_each(0..20, |i| {
        let im = save(&m.p(""), &img, || Ok(()))?;
        let t = io(trees(&im))?.remove(0);
        let d = t.lookup(b"/map").and_then(|i| t.node(i)).map(|n| n.data());
        let d = d.ok_or("no /map in the image")?;
        let word = |i: usize| u32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().unwrap());
        let (first, last) = (word(0), word(LAST));
        check!(
            first == last || first == last.wrapping_add(1),
            "checkpoint {i}: saved first word {first}, last {last}: not one instant"
        );
        Ok(())
    });
    let before = w[0].load(Relaxed);
    nap(200);
    let moved = w[0].load(Relaxed) != before;
    drop(writer);
    // SAFETY: the mapping made above; the writer is gone.
    unsafe { libc::munmap(p, MAP_LEN) };
    res?;
    check!(moved, "the writer is still writing after the thaw");
    Ok(())
}

/// Another process writes (4 KiB of one byte value a write) and renames files all through.
pub fn concurrent_changes() -> R {
    let m = mount_with(&[])?;
    // (no alarm: it goes on until it is killed)
    let _churn = Target::spawn(|| {
        alarm(0);
        for k in 0u32.. {
            let (f, r) = (m.p(&format!("f{}", k % 8)), m.p(&format!("r{}", k % 8)));
            let _ = write_file(&f, &[(k % 251) as u8; 4096]);
            let _ = std::fs::rename(&f, &r);
        }
    })?;
    let img = tmpfile("busy.img");
    check_each(0..10, |i| {
        let im = save(&m.p(""), &img, || Ok(()))?;
        let t = io(trees(&im))?.remove(0);
        for n in t.nodes().iter().filter(|n| n.kind() == Kind::Reg) {
            let (d, ino) = (n.data(), n.inode.ino);
            let ok = d.iter().all(|&b| b == d[0]);
            check!(ok, "checkpoint {i}: inode #{ino} holds parts of two writes");
        }
        let o = restart_from(&img, RESTART_DRY_RUN)?;
        expect_outcome(&o, Ok(0), &format!("dry-run restart of checkpoint {i}"))
    })
}

pub fn same_boot_restart() -> R {
    let m = mount_with(&[("f", b"0123456789")])?;
    let img = tmpfile("v2.img");
    let at7 = || open_at(&m.p("f"), libc::O_RDONLY, 7).and_then(|_| seek(7, 4));
    let v = save(&m.p(""), &img, at7)?.header.version;
    eq!(v, 2, "HEADER.version of an image with contents");
    in_clean_child("round trip", || {
        let o = restart_from(&img, 0)?;
        let says = "contents of 1 superblock left as they are";
        expect_logged(&o, Ok(1), says, "restart of a version 2 image")?;
        expect_eq((fd_path(7), pos(7)), (m.p("f"), 4), "fd 7 after restart")
    })
}

/// What restart logs for file data that fails its CRC.
const BAD_CRC: &str = "SB_DATA CRC32C";

pub fn bad_contents() -> R {
    let m = mount_with(&[("f", &[7u8; 9000])])?;
    let img = tmpfile("good.img");
    let recs = save(&m.p(""), &img, || Ok(()))?.records();
    let at = |pred: &dyn Fn(&Record) -> bool| recs.iter().position(pred).unwrap_or(0);
    let data = at(&|r| matches!(r, Record::SbData(_)));
    let end = at(&|r| matches!(r, Record::SbEnd(_)));
    let first_rec = at(&|r| matches!(r, Record::SbRec(_)));
    #[rustfmt::skip]
    let rows: Vec<(&str, Edit, &str)> = vec![
        ("a data byte flipped", Box::new(move |r| if let Record::SbData(d) = &mut r[data] { d.data[100] ^= 1 }), BAD_CRC),
        ("SB_END one record short", Box::new(move |r| if let Record::SbEnd(e) = &mut r[end] { e.nr_records -= 1 }), "SB_END counts"),
        ("SB_END of another superblock", Box::new(move |r| if let Record::SbEnd(e) = &mut r[end] { e.sb_id = 2 }), "SB_END counts"),
        ("data before any SB_REC", Box::new(move |r| r[first_rec] = Record::SbData(SbData::new(0, vec![1]))), "without an SB_REC"),
        ("a version 1 image with contents", Box::new(|r| if let Record::Header(h) = &mut r[0] { h.version = 1 }), "a version 1 image with"),
        ("the section cut before SB_END", Box::new(move |r| { r.truncate(end); }), "SB_END"),
    ];
    // refused by restart(2), and by a dry run whose log names the fault
    let refused = |bad: &str, what: &str, says: &str| -> R {
        expect_restart_refused(bad, 0, libc::EINVAL, what)?;
        expect_refusal(bad, RESTART_DRY_RUN, &[], libc::EINVAL, says, what)
    };
    check_each(rows, |(what, edit, says)| {
        refused(&edited(&recs, &edit)?, what, says)
    })?;
    // The same flip in the TAIL as saved: checked as restart(2) reads it, or while rebuilding.
    let mut b = read_file(&img)?;
    let at = b.windows(64).position(|w| w.iter().all(|&x| x == 7));
    b[at.ok_or("no file data in the image")? + 100] ^= 1;
    let rot = tmpfile("rot.img");
    io(std::fs::write(&rot, &b))?;
    let what = "a data byte flipped, the TAIL as saved";
    refused(&rot, what, BAD_CRC)?;
    let before = mounts();
    in_clean_child(what, || {
        detached("ramfs_cr", 110)?;
        let what = "RESTART_CONTENTS of it";
        expect_refusal(&rot, RESTART_CONTENTS, &[110], libc::EINVAL, BAD_CRC, what)
    })?;
    expect_eq(mounts(), before, &format!("{what}: mounts after"))
}

/// A new, empty, detached ramfs_cr mount (or of `fs`) at fd `at`.
pub(crate) fn detached(fs: &str, at: i32) -> R {
    let m = syscalls::detached_mount(fs).map_err(|e| format!("new {fs} mount: {e}"))?;
    dup2(std::os::fd::AsRawFd::as_raw_fd(&m), at)
}

/// `/proc/self/mountinfo` without the mount ids, to compare.
pub(crate) fn mounts() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let rest = info.lines().filter_map(|l| l.splitn(3, ' ').nth(2));
    rest.map(|l| l.to_string() + "\n").collect()
}

/// Bytes of file `i`: no two files, nor two 4 KiB pages of one, alike.
pub(crate) fn pattern(i: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|j| (j ^ (j >> 12).wrapping_mul(2654435761) ^ i.wrapping_mul(40503)) as u8)
        .collect()
}

/// The unlinked file of the migration (CRIU's limit is 1 MiB).
const MIG_GHOST: usize = 64 << 20;

/// A tree on `m` and here cwd "d", fd 5 on "big" read partway, fd 6 on "d/a" at 4, fd 8
/// on an unlinked file of `ghost_len` bytes at 10: the names fd 5 has still to return.
fn stand_in(m: &Mount, ghost_len: usize) -> Result<Vec<String>, String> {
    mkdirs(&m.p("d/e"))?;
    mkdirs(&m.p("big"))?;
    write_file(&m.p("d/a"), b"0123456789")?;
    io(std::fs::hard_link(m.p("d/a"), m.p("d/e/hard")))?;
    io(symlink("../d/a", m.p("d/e/sym")))?;
    mknod(&m.p("fifo"), libc::S_IFIFO | 0o600, 0)?;
    mknod(&m.p("null"), libc::S_IFCHR | 0o666, libc::makedev(1, 3))?;
    chown(&m.p("d/a"), 1000, 100)?;
    chmod(&m.p("d/e"), 0o2751)?;
    let sparse = io(std::fs::File::create(m.p("sparse")))?;
    io(sparse.set_len(64 << 20))?;
    io(sparse.write_at(b"middle", 32 << 20))?;
    for i in 0..300 {
        write_file(&m.p(&format!("big/{i}")), &[i as u8; 3])?;
    }
    io(std::fs::remove_file(m.p("big/7")))?;
    write_file(&m.p("ünï\ncødé"), b"odd")?;
    // the order readdir gives "big" in, before anything else reads it
    let names = io(std::fs::read_dir(m.p("big")))?;
    let names = names.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()));
    let order: Vec<_> = io(names.collect())?;
    chdir(&m.p("d"))?;
    open_at(&m.p("big"), libc::O_RDONLY | libc::O_DIRECTORY, 5)?;
    let first = dirent_names(&getdents(5, 600).map_err(ename)?);
    let seen = first.iter().filter(|n| !n.starts_with('.')).count();
    let partway = seen > 4 && seen < order.len();
    check!(partway, "a partial read of big gave {seen} entries");
    open_at(&m.p("d/a"), libc::O_RDWR, 6)?;
    seek(6, 4)?;
    write_file(&m.p("ghost"), &pattern(0, ghost_len))?;
    open_at(&m.p("ghost"), libc::O_RDONLY, 8)?;
    seek(8, 10)?;
    io(std::fs::remove_file(m.p("ghost")))?;
    Ok(order[seen..].to_vec())
}

pub fn restore_elsewhere() -> R {
    let m = mount_with(&[])?;
    let img = tmpfile("restore.img");
    let target = format!("/mnt/ck-{}-rebuilt", seq());
    mkdir(&target, 0o755)?;
    let rebuilt = Mount { dir: target };
    let target = &rebuilt.dir;
    in_clean_child("restoring child", || {
        let left = stand_in(&m, 2 << 20)?;
        ck_ok(0, &img, CHECKPOINT_CONTENTS)?;
        let saved = io(live_manifest(m.root()))?;
        close_range(5, 8);
        expect_rebuilt(&img, target, 3, &saved)?;
        let rest = dirent_names(&read_dir_fd(5, 4096)?);
        eq!(rest, left, "big read on after restart");
        let fd6 = (fd_path(6), pos(6), read_fd(6, 3));
        let want6 = (format!("{target}/d/a"), 4, Ok(b"456".to_vec()));
        let want = (want6, format!("{target}/d"));
        let got = (fd6, readlink("/proc/self/cwd"));
        eq!(got, want, "fd 6 and cwd after restart");
        let nlink = std::fs::metadata("/proc/self/fd/8").map_or(1, |s| s.nlink());
        let gone = fd_path(8).ends_with(" (deleted)") && nlink == 0;
        check!(gone, "fd 8: {} nlink {nlink}", fd_path(8));
        let got = (pos(8), read_fd(8, 3 << 20));
        let want = (10, Ok(pattern(0, 2 << 20)[10..].to_vec()));
        expect_eq(got, want, "fd 8: unlinked file after restart")
    })?;
    rebuilt.umount()
}

/// Rebuilt with the caller's rights: no id for another owner (EOVERFLOW), no CAP_MKNOD (EPERM).
pub fn restore_unprivileged() -> R {
    #[rustfmt::skip]
    let rows = [
        ("a file of another owner", UID, false, Err(libc::EOVERFLOW)),
        ("a device node", 0, true, Err(libc::EPERM)),
        ("files it would own", 0, false, Ok(1)),
    ];
    check_each(rows, |(what, owner, dev, want)| {
        let m = mount_with(&[("f", b"mine")])?;
        chown(&m.p("f"), owner, owner)?;
        if dev {
            mknod(&m.p("null"), libc::S_IFCHR | 0o666, libc::makedev(1, 3))?;
        }
        let (img, f) = (tmpfile("unpriv.img"), m.p("f"));
        save(&m.p(""), &img, || open_at(&f, libc::O_RDONLY, 5).map(drop))?;
        in_clean_child(what, || {
            drop_to(UID)?;
            unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)?;
            let id = format!("0 {UID} 1");
            for (f, v) in [("uid_map", &*id), ("setgroups", "deny"), ("gid_map", &*id)] {
                std::fs::write(format!("/proc/self/{f}"), v).map_err(|e| format!("{f}: {e}"))?;
            }
            detached("ramfs_cr", 110)?;
            let o = restart_into(&img, RESTART_CONTENTS, &[110])?;
            expect_outcome(&o, want, what)?;
            if want.is_ok() {
                let got = read_fd(5, 9);
                eq!(got, Ok(b"mine".to_vec()), "{what}: fd 5 after restart");
            }
            Ok(())
        })
    })
}

/// Where the migration cases mount, in both boots.
const MIG: &str = "/mnt/migrate";

/// What the restored process prints (the manifest first: nothing has read the mount yet).
const MIG_SCRIPT: &str = "ckpt manifest /mnt/migrate >/tmp/migrate.manifest && \
    echo cwd $(readlink /proc/self/cwd) && echo fd6 $(readlink /proc/self/fd/6) && \
    cat <&6 && echo && ckpt readdir 5 && \
    echo fd8 $(stat -L -c %h /proc/self/fd/8) $(wc -c <&8) && md5sum </proc/self/fd/8 | cut -d' ' -f1";

/// Run in `WORK`: migrate/ (its log aside) to the host, a newc cpio through a raw ttyS1, drained
/// (busybox stty sets with TCSADRAIN).
const MIG_SEND: &str = "exec 7>/dev/ttyS1 && stty raw <&7 && \
    find migrate ! -name img.log | cpio -o -H newc >&7 && stty raw <&7";

/// The image, the manifest and what the restored process must print, to the host via ttyS1.
pub fn migrate_save() -> R {
    work()?;
    ensure_module()?;
    let m = Mount::at(MIG, "ramfs_cr", Some("mode=0755"))?;
    let p = |f: &str| format!("{WORK}/migrate/{f}");
    mkdir(&p(""), 0o755)?;
    in_clean_child("migrating child", || {
        // 64 MiB over an emulated serial port take minutes
        alarm(800);
        let (left, size) = (stand_in(&m, MIG_GHOST)?.join("\n"), MIG_GHOST - 10);
        let sh = |c: &str| run(&["sh", "-c", &format!("cd {WORK} && {c}")]);
        let quiet = (0, String::new(), String::new());
        let out = format!("cwd {MIG}/d\nfd6 {MIG}/d/a\n456789\n{left}\nfd8 0 {size}\n");
        write_file(&p("out"), out.as_bytes())?;
        // and the MD5 (busybox md5sum) of the unlinked file as set up, before the checkpoint
        let md5 = format!("md5sum </proc/self/fd/8 | cut -d' ' -f1 >>{}", p("out"));
        eq!(sh(&md5)?, quiet, "{md5:?}: status, stdout, stderr");
        ck_ok(0, &p("img"), CHECKPOINT_CONTENTS)?;
        write_file(&p("manifest"), io(live_manifest(m.root()))?.as_bytes())?;
        expect_eq(
            sh(MIG_SEND)?,
            quiet,
            &format!("{MIG_SEND:?}: status, stdout, stderr"),
        )
    })?;
    // Figures for Documentation/ramfs_cr.rst, as KTAP diagnostics.
    let log = text(&read_file(&p("img.log"))?);
    let frozen = log.lines().find(|l| l.contains("frozen")).unwrap_or("");
    let size = io(std::fs::metadata(p("img")))?.len();
    println!("# image {size} bytes; {frozen}");
    Ok(())
}

pub fn migrate_restore() -> R {
    work()?;
    ensure_module()?;
    let (manifest, out) = (read_file("/migrate/manifest")?, read_file("/migrate/out")?);
    let (manifest, out) = (text(&manifest), text(&out));
    mkdirs(MIG)?;
    let rs = "restart --in /migrate/img --log /tmp/migrate.rlog -- /bin/sh -c";
    let args: Vec<_> = rs.split(' ').chain([MIG_SCRIPT]).collect();
    let (code, stdout, err) = run_ckpt(&args)?;
    let m = Mount { dir: MIG.into() };
    let got = (code, err.as_str());
    eq!(got, (0, ""), "ckpt restart in the second boot");
    let log = text(&read_file("/tmp/migrate.rlog")?);
    let rebuilt = log.lines().find(|l| l.contains("rebuilt in"));
    println!("# {}", rebuilt.unwrap_or(""));
    eq!(stdout, out, "restored process output (+) vs first boot (-)");
    let now = text(&read_file("/tmp/migrate.manifest")?);
    eq!(now, manifest, "rebuilt mount (+) vs the first boot's (-)");
    m.umount()
}

pub fn restore_refused() -> R {
    let m = mount_with(&[("d/f", b"data")])?;
    io(symlink("f", m.p("d/s")))?;
    let img = tmpfile("good.img");
    let recs = save(&m.p(""), &img, || Ok(()))?.records();
    let plain = tmpfile("plain.img");
    self_image(&plain, || Ok(()))?;
    let v1 = decode_file(&plain)?.records();
    let fs_rec = |kind: u32, nth: usize| {
        let sb = |i: &usize| matches!(&recs[*i], Record::SbRec(s) if s.kind == kind);
        (0..recs.len()).filter(sb).nth(nth).unwrap_or(0)
    };
    let (inode2, dirent1, dirent2) = (fs_rec(2, 1), fs_rec(3, 0), fs_rec(3, 1));
    let poke = |i: usize, off: usize, v: u8| -> Edit { Box::new(move |r| sb_rec(r, i)[off] = v) };
    let swap_seq: Edit = Box::new(move |r| {
        let a = sb_rec(r, dirent1)[16..24].to_vec();
        let b: Vec<_> = sb_rec(r, dirent2).splice(16..24, a).collect();
        sb_rec(r, dirent1)[16..24].copy_from_slice(&b);
    });
    let keep = || -> Edit { Box::new(|_| {}) };
    // (what, image edit, mounts to make at 110.., flags, errno, what the log says)
    type Row<'a> = (&'a str, Edit, &'a [&'a str], u64, i32, &'a str);
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("an entry name with '/'", poke(dirent1, 32, b'/'), &["ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("an inode number skipped", poke(inode2, 0, 9), &["ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("a link count one too high", poke(inode2, 12, 5), &["ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("entry numbers going up", swap_seq, &["ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("no mount for the saved superblock", keep(), &[], RESTART_CONTENTS, libc::EINVAL, ""),
        ("two mounts for one superblock", keep(), &["ramfs_cr", "ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("a tmpfs mount for a ramfs_cr superblock", keep(), &["tmpfs"], RESTART_CONTENTS, libc::ESTALE, ""),
        ("the root of an attached mount", keep(), &["attached"], RESTART_CONTENTS, libc::EINVAL, ""),
        ("a mount that is not empty", keep(), &["full"], RESTART_CONTENTS, libc::EBUSY, ""),
        ("mounts without RESTART_CONTENTS", keep(), &["ramfs_cr"], 0, libc::EINVAL, ""),
        // a version 1 image has nothing to rebuild
        ("RESTART_CONTENTS of a version 1 image", Box::new(move |r| *r = v1.clone()), &["ramfs_cr"], RESTART_CONTENTS, libc::EINVAL, "has no contents"),
    ];
    let before = mounts();
    check_each(rows, |(what, edit, mnts, flags, want, says)| {
        let bad = edited(&recs, &edit)?;
        in_clean_child(what, || {
            let fds: Vec<i32> = (110..).take(mnts.len()).collect();
            for (&fs, &fd) in mnts.iter().zip(&fds) {
                match fs {
                    "attached" => open_at(&m.p(""), libc::O_PATH, fd).map(drop)?,
                    "full" => {
                        detached("ramfs_cr", fd)?;
                        write_file(&format!("/proc/self/fd/{fd}/x"), b"")?;
                    }
                    fs => detached(fs, fd)?,
                }
            }
            expect_refusal(&bad, flags, &fds, want, says, what)
        })?;
        expect_eq(mounts(), before.clone(), &format!("{what}: mounts after"))
    })
}
