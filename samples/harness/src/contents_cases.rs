//! `ckpt-contents:` a ramfs_cr mount saved whole (CHECKPOINT_CONTENTS).

use crate::roundtrip::mount_with;
use crate::vm::*;
use ckpt_image::manifest::{format, image_manifest, live_lines, Line};
use ckpt_image::ramfs::{trees, Kind, Tree};
use ckpt_image::*;
use std::os::unix::fs::{symlink, FileExt, MetadataExt};

const CONTENTS: u64 = CHECKPOINT_CONTENTS;

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

/// The data of a small file saved in `tree`, found by path.
fn saved_data(tree: &Tree, path: &[u8]) -> Option<Vec<u8>> {
    tree.node(tree.lookup(path)?).map(|n| n.data())
}

/// checkpoint(2) of a clean child whose working directory is `dir`, with
/// contents, after `setup`; the image decoded, its one ramfs_cr tree checked.
fn save(dir: &str, img: &str, setup: impl FnOnce() -> R) -> Result<Image, String> {
    in_clean_child("checkpointing child", || {
        chdir(dir)?;
        setup()?;
        ck_ok(0, img, CONTENTS).map(drop)
    })?;
    let im = decode_file(img)?;
    let n = trees(&im).map_err(|e| format!("{img}: {e}"))?.len();
    eq!(n, 1, "{img}: ramfs_cr sections");
    Ok(im)
}

/// Every inode type, hard links, a sparse 1 GiB file, 10,000 small files,
/// a path near PATH_MAX, odd names; unlinked and O_TMPFILE files held open
/// by another process.
pub fn whole_mount() -> R {
    let m = mount_with(&[("d/e/", b""), ("many/", b""), ("d/a", b"linked twice")])?;
    io(std::fs::hard_link(m.p("d/a"), m.p("hard")))?;
    io(std::fs::hard_link(m.p("d/a"), m.p("d/e/hard")))?;
    io(symlink("d/a", m.p("sym")))?;
    io(symlink("nowhere", m.p("dangling")))?;
    for (name, mode, dev) in [
        ("fifo", libc::S_IFIFO, 0),
        ("null", libc::S_IFCHR, libc::makedev(1, 3)),
        ("loop", libc::S_IFBLK, libc::makedev(7, 0)),
        ("sock", libc::S_IFSOCK, 0),
    ] {
        mknod(&m.p(name), mode | 0o640, dev)?;
    }
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
    let deep = (0..19).fold(m.p(""), |p, i| {
        format!("{p}/{}", char::from(b'a' + i).to_string().repeat(200))
    });
    io(std::fs::create_dir_all(&deep))?;
    write_file(&format!("{deep}/end"), b"deep")?;
    let n = deep.len();
    check!(
        n + 4 < libc::PATH_MAX as usize && n > 3800,
        "deep path length {n}"
    );
    // Held open by another process: an unlinked file ([`ghost`]) and an
    // O_TMPFILE file.
    write_file(&m.p("ghost"), &ghost(2 << 20))?;
    let _holder = Target::paused(|| {
        open_at(&m.p("ghost"), libc::O_RDONLY, 50)?;
        open_mode(&m.p(""), libc::O_TMPFILE | libc::O_RDWR, 0o600, 51)?;
        alarm(0); // it holds them until the case ends
        write_fd(51, b"tmpfile data").map(drop).map_err(ename)
    })?;
    io(std::fs::remove_file(m.p("ghost")))?;
    let img = tmpfile("contents.img");
    let im = save(&m.p(""), &img, || Ok(()))?;
    // After the checkpoint: the walk stats each entry before it reads
    // it (files with O_NOATIME), so it sees the times the image saved.
    let (live, trees) = (io(live_lines(m.root()))?, io(trees(&im))?);
    let t = &trees[0];
    let manifest = image_manifest(t);
    eq!(
        manifest,
        format(&live),
        "manifest of the image (- ) vs the live mount"
    );
    let orphans = t.orphans.iter().filter_map(|&i| t.node(i));
    let orphans: Vec<_> = orphans.map(|n| (n.inode.nlink, n.data())).collect();
    let want = [(0, ghost(2 << 20)), (0, b"tmpfile data".to_vec())];
    let all = orphans.len() == 2 && want.iter().all(|w| orphans.contains(w));
    check!(all, "unlinked inodes: {} (nlink, bytes)", orphans.len());
    let sparse = t.lookup(b"/sparse").and_then(|i| t.node(i));
    let sparse = sparse.ok_or("no /sparse in the image")?;
    let saved: Vec<_> = sparse
        .extents
        .iter()
        .map(|e| (e.offset, e.data.len()))
        .collect();
    let pages = vec![(0, 4096), (512 << 20, 4096), ((1 << 30) - 4096, 4096)];
    let got = (sparse.inode.size, saved);
    eq!(
        got,
        (1 << 30, pages),
        "sparse file: size and the chunks saved"
    );
    // ckpt extract: the same tree in a plain directory, but sockets
    // (left out), the link numbers (readdir order differs) and the
    // access times (the walk's readdir moves a directory's).
    let out = tmpfile("extract");
    mkdir(&out, 0o755)?;
    let (code, _, err) = run_ckpt(&["extract", &img, &out])?;
    eq!(code, 0, "ckpt extract: {err}");
    let plain = |lines: Vec<Line>| {
        let kept = lines.into_iter().filter(|l| l.kind != Kind::Sock);
        let kept = kept.filter(|l| !l.path.starts_with(b"/.ckpt-unlinked"));
        let mut l: Vec<_> = kept
            .map(|l| {
                let t = l.text();
                let mut f: Vec<_> = t.split('\t').collect();
                if l.kind == Kind::Dir {
                    f[5] = "-"; // sizes of directories are each fs's own
                }
                [&f[..7], &f[9..]].concat().join(" ")
            })
            .collect();
        l.sort();
        l
    };
    let extracted = plain(io(live_lines(std::path::Path::new(&out)))?);
    eq!(extracted, plain(live), "extracted tree vs the live mount");
    let ino = |p: &str| {
        std::fs::metadata(format!("{out}/{p}"))
            .map(|s| s.ino())
            .ok()
    };
    let one = ino("d/a").is_some() && ino("d/a") == ino("hard") && ino("hard") == ino("d/e/hard");
    check!(one, "extracted d/a, hard, d/e/hard are one inode");
    Ok(())
}

/// The image or the log on the mount to be frozen: EBUSY before anything
/// is frozen (a write to the mount right after does not wait).
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
            let r = ck(0, IMG_FD, CONTENTS, LOG_FD);
            expect_ret(r, Err(libc::EBUSY), &format!("image {img}, log {log}"))?;
            let log = text(&read_file(&log)?);
            check!(log.contains(why), "log says {why:?}: {log}");
            alarm(10);
            write_file(&m.p("after"), b"not frozen")
        })
    })
}

/// The mapped file of [`mapping_writer_waits`], and its last u32.
const MAP_LEN: usize = 1 << 20;
const LAST: usize = MAP_LEN / 4 - 1;

/// A shared writable mapping written all through the checkpoint: the
/// saved file is one instant of it.  The writer bumps the first word of
/// 1 MiB, then the last; at any instant the first equals the last or is
/// one more.  A copy taken while the writer ran (1 MiB takes a while to
/// copy) would see the last above the first.
pub fn mapping_writer_waits() -> R {
    let m = mount_with(&[("map", &vec![0u8; MAP_LEN])])?;
    let fd = open_at(&m.p("map"), libc::O_RDWR, 60)?;
    let p = map_shared(fd, MAP_LEN);
    close(fd);
    let w = p?.cast::<u32>();
    // (no alarm: it writes until it is killed)
    let writer = Target::spawn(|| {
        alarm(0);
        // SAFETY: the mapping is LAST + 1 u32s, alive until this child dies.
        let last = unsafe { w.add(LAST) };
        loop {
            // SAFETY: as above.
            unsafe {
                w.write_volatile(w.read_volatile().wrapping_add(1));
                last.write_volatile(last.read_volatile().wrapping_add(1));
            }
        }
    })?;
    let img = tmpfile("map.img");
    let res = check_each(0..20, |i| {
        let im = save(&m.p(""), &img, || Ok(()))?;
        let t = io(trees(&im))?.remove(0);
        let d = saved_data(&t, b"/map").ok_or("no /map in the image")?;
        let word = |i: usize| u32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().unwrap());
        let (first, last) = (word(0), word(LAST));
        check!(
            first == last || first == last.wrapping_add(1),
            "checkpoint {i}: saved first word {first}, last {last}: not one instant"
        );
        Ok(())
    });
    // SAFETY: reads of the mapping the writer writes.
    let seen = || unsafe { w.read_volatile() };
    let before = seen();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let moved = seen() != before;
    drop(writer);
    // SAFETY: the mapping made above; the writer is gone.
    unsafe { libc::munmap(w.cast(), MAP_LEN) };
    res?;
    check!(moved, "the writer is still writing after the thaw");
    Ok(())
}

/// Another process creates, writes (one 4 KiB write(2) of one byte value)
/// and renames files all through: every image decodes, passes a dry-run
/// restart, and holds whole writes only.
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
            let whole = d.iter().all(|&b| b == d[0]);
            check!(
                whole,
                "checkpoint {i}: inode #{ino} holds parts of two writes"
            );
        }
        let o = restart_from(&img, RESTART_DRY_RUN)?;
        expect_outcome(&o, Ok(0), &format!("dry-run restart of checkpoint {i}"))
    })
}

/// A version 2 image restarts in the same boot: the descriptors come
/// back, the contents stay as they are, and the log says so.
pub fn same_boot_restart() -> R {
    let m = mount_with(&[("f", b"0123456789")])?;
    let img = tmpfile("v2.img");
    in_clean_child("round trip", || {
        chdir(&m.p(""))?;
        open_at(&m.p("f"), libc::O_RDONLY, 7)?;
        seek(7, 4)?;
        ck_ok(0, &img, CONTENTS)?;
        close(7);
        let o = restart_from(&img, 0)?;
        expect_outcome(&o, Ok(1), "restart of a version 2 image")?;
        check!(
            o.log.contains("contents of 1 superblock left as they are"),
            "restart log: {}",
            o.log
        );
        eq!((fd_path(7), pos(7)), (m.p("f"), 4), "fd 7 after restart");
        Ok(())
    })?;
    eq!(
        decode_file(&img)?.header.version,
        2,
        "HEADER.version of an image with contents"
    );
    Ok(())
}

/// Damaged contents are refused with EINVAL, the kernel log naming the
/// fault, and the caller keeps everything.
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
        ("a data byte flipped", Box::new(move |r| if let Record::SbData(d) = &mut r[data] { d.data[100] ^= 1 }), "SB_DATA CRC32C"),
        ("SB_END one record short", Box::new(move |r| if let Record::SbEnd(e) = &mut r[end] { e.nr_records -= 1 }), "SB_END counts"),
        ("SB_END of another superblock", Box::new(move |r| if let Record::SbEnd(e) = &mut r[end] { e.sb_id = 2 }), "SB_END counts"),
        ("data before any SB_REC", Box::new(move |r| r[first_rec] = Record::SbData(SbData::new(0, vec![1]))), "without an SB_REC"),
        ("a version 1 image with contents", Box::new(|r| if let Record::Header(h) = &mut r[0] { h.version = 1 }), "a version 1 image with"),
        ("the section cut before SB_END", Box::new(move |r| { r.truncate(end); }), "SB_END"),
    ];
    check_each(rows, |(what, edit, says)| {
        let bad = edited(&recs, &edit)?;
        expect_restart_refused(&bad, 0, libc::EINVAL, what)?;
        let o = restart_from(&bad, RESTART_DRY_RUN)?;
        check!(
            o.log.contains(says),
            "{what}: log should say {says:?}: {}",
            o.log
        );
        Ok(())
    })?;
    // The same flip in the saved image, its TAIL left as it was: restart(2)
    // carries the image's CRC32C over data left in the file from the
    // chunk's CRC, and checks the data when it reads it: after the records
    // without RESTART_CONTENTS, while the mount is rebuilt with it.
    let mut b = read_file(&img)?;
    let at = b.windows(64).position(|w| w.iter().all(|&x| x == 7));
    b[at.ok_or("no file data in the image")? + 100] ^= 1;
    let rot = tmpfile("rot.img");
    io(std::fs::write(&rot, &b))?;
    let what = "a data byte flipped, the TAIL as saved";
    expect_restart_refused(&rot, 0, libc::EINVAL, what)?;
    let o = restart_from(&rot, RESTART_DRY_RUN)?;
    check!(o.log.contains("SB_DATA CRC32C"), "{what}: log: {}", o.log);
    let before = mounts();
    in_clean_child(what, || {
        detached("ramfs_cr", 110)?;
        let (o, diff) = changes(&[110], -1, || restart_into(&rot, RESTART_CONTENTS, &[110]));
        let o = o?;
        expect_outcome(&o, Err(libc::EINVAL), "RESTART_CONTENTS of it")?;
        check!(
            o.log.contains("SB_DATA CRC32C"),
            "{what}: RESTART_CONTENTS log: {}",
            o.log
        );
        check!(diff.is_empty(), "{what}: caller changed:\n{diff}");
        Ok(())
    })?;
    eq!(mounts(), before, "{what}: mounts after");
    Ok(())
}

/// A new, empty, detached ramfs_cr mount (or of `fs`) at fd `at`.
pub(crate) fn detached(fs: &str, at: i32) -> R {
    let m = syscalls::detached_mount(fs).map_err(|e| format!("new {fs} mount: {e}"))?;
    dup2(std::os::fd::AsRawFd::as_raw_fd(&m), at)
}

/// `/proc/self/mountinfo` without the mount ids, to compare.
pub(crate) fn mounts() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .map(|l| l.split(' ').skip(2).collect::<Vec<_>>().join(" ") + "\n")
        .collect()
}

/// Every inode type but sockets, a hard link, a 64 MiB sparse file, owners
/// and modes, 299 entries in "big", an odd name: what the restore cases
/// rebuild.  Returns the order readdir gives "big" in, before anything
/// else read it.
fn populate(m: &Mount) -> Result<Vec<String>, String> {
    for d in ["d/e", "big"] {
        io(std::fs::create_dir_all(m.p(d)))?;
    }
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
    let names = io(std::fs::read_dir(m.p("big")))?;
    let names = names.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()));
    io(names.collect::<Result<_, _>>())
}

/// The `len` bytes an unlinked file holds: 2 MiB in the restore cases,
/// 64 MiB in the migration (CRIU's default limit is 1 MiB).
fn ghost(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(7) + i / 4096) as u8)
        .collect()
}

/// The unlinked file of the migration.
const MIG_GHOST: usize = 64 << 20;

/// In the process about to be checkpointed, `order` the order of "big":
/// cwd "d", fd 5 on "big" read partway, fd 6 on "d/a" at offset 4, fd 8 on
/// an unlinked file of `ghost_len` bytes ([`ghost`]) at offset 10.  The names fd 5 has still to
/// return.
fn stand_in(m: &Mount, order: &[String], ghost_len: usize) -> Result<Vec<String>, String> {
    chdir(&m.p("d"))?;
    open_at(&m.p("big"), libc::O_RDONLY | libc::O_DIRECTORY, 5)?;
    let first = dirent_names(&getdents(5, 600).map_err(ename)?);
    let seen = first.iter().filter(|n| !n.starts_with('.')).count();
    check!(
        seen > 4 && seen < order.len(),
        "a partial read of big gave {seen} entries"
    );
    open_at(&m.p("d/a"), libc::O_RDWR, 6)?;
    seek(6, 4)?;
    write_file(&m.p("ghost"), &ghost(ghost_len))?;
    open_at(&m.p("ghost"), libc::O_RDONLY, 8)?;
    seek(8, 10)?;
    io(std::fs::remove_file(m.p("ghost")))?;
    Ok(order[seen..].to_vec())
}

/// Rebuilt in another mount (RESTART_CONTENTS, attached elsewhere): the
/// tree, its directory order, owners, modes, times and data; a directory
/// reader read partway resumes at its next entry, a file at its offset,
/// the working directory is the rebuilt one.
pub fn restore_elsewhere() -> R {
    let m = mount_with(&[])?;
    let order = populate(&m)?;
    let img = tmpfile("restore.img");
    let target = format!("/mnt/ck-{}-rebuilt", seq());
    mkdir(&target, 0o755)?;
    let rebuilt = Mount {
        dir: target.clone(),
    };
    in_clean_child("restoring child", || {
        let left = stand_in(&m, &order, 2 << 20)?;
        ck_ok(0, &img, CONTENTS)?;
        let saved = io(live_lines(m.root()))?;
        close_range(5, 8);
        detached("ramfs_cr", 110)?;
        let o = restart_into(&img, RESTART_CONTENTS, &[110])?;
        expect_outcome(&o, Ok(3), "restart with contents")?;
        check!(
            o.log.contains("contents of 1 superblock rebuilt"),
            "restart log: {}",
            o.log
        );
        syscalls::move_mount(110, &cstr(&target)).map_err(|e| format!("move_mount: {e}"))?;
        close(110);
        let now = io(live_lines(std::path::Path::new(&target)))?;
        eq!(
            format(&now),
            format(&saved),
            "rebuilt mount (+) vs the saved one (-)"
        );
        eq!(
            dirent_names(&read_dir_fd(5, 4096)?),
            left,
            "big read on after restart"
        );
        eq!(
            (
                fd_path(6),
                pos(6),
                read_fd(6, 3),
                readlink("/proc/self/cwd")
            ),
            (
                format!("{target}/d/a"),
                4,
                Ok(b"456".to_vec()),
                format!("{target}/d")
            ),
            "fd 6 and cwd after restart"
        );
        let nlink = std::fs::metadata("/proc/self/fd/8").map_or(1, |s| s.nlink());
        check!(
            fd_path(8).ends_with(" (deleted)") && nlink == 0,
            "fd 8: {} nlink {nlink}",
            fd_path(8)
        );
        eq!(
            (pos(8), read_fd(8, 3 << 20)),
            (10, Ok(ghost(2 << 20)[10..].to_vec())),
            "fd 8: unlinked file after restart"
        );
        Ok(())
    })?;
    rebuilt.umount()
}

/// Contents are rebuilt with the caller's rights: a user in a user and
/// mount namespace of its own (root there is its uid) rebuilds files it
/// would own, but not another owner (EOVERFLOW: no id in its namespace)
/// nor a device node (EPERM: mknod needs CAP_MKNOD).
pub fn restore_unprivileged() -> R {
    #[rustfmt::skip]
    let rows = [
        ("a file of another owner", Some(UID), false, Err(libc::EOVERFLOW)),
        ("a device node", None, true, Err(libc::EPERM)),
        ("files it would own", None, false, Ok(1)),
    ];
    check_each(rows, |(what, owner, dev, want)| {
        let m = mount_with(&[("f", b"mine")])?;
        if let Some(u) = owner {
            chown(&m.p("f"), u, u)?;
        }
        if dev {
            mknod(&m.p("null"), libc::S_IFCHR | 0o666, libc::makedev(1, 3))?;
        }
        let img = tmpfile("unpriv.img");
        save(&m.p(""), &img, || {
            open_at(&m.p("f"), libc::O_RDONLY, 5).map(drop)
        })?;
        in_clean_child(what, || {
            drop_to_user()?;
            unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)?;
            for (f, v) in [
                ("uid_map", "0 1000 1"),
                ("setgroups", "deny"),
                ("gid_map", "0 1000 1"),
            ] {
                std::fs::write(format!("/proc/self/{f}"), v).map_err(|e| format!("{f}: {e}"))?;
            }
            detached("ramfs_cr", 110)?;
            let o = restart_into(&img, RESTART_CONTENTS, &[110])?;
            expect_outcome(&o, want, what)?;
            if want.is_ok() {
                eq!(
                    read_fd(5, 9),
                    Ok(b"mine".to_vec()),
                    "{what}: fd 5 after restart"
                );
            }
            Ok(())
        })
    })
}

/// Where the migration cases mount, in both boots.
const MIG: &str = "/mnt/migrate";

/// What the restored process of [`migrate_restore`] prints: the manifest
/// of the rebuilt mount first (nothing has read it yet), then its cwd, fd
/// 6's name and the rest of its data, and what fd 5 has still to list.
const MIG_SCRIPT: &str = "ckpt manifest /mnt/migrate >/tmp/migrate.manifest && \
    echo cwd $(readlink /proc/self/cwd) && echo fd6 $(readlink /proc/self/fd/6) && \
    cat <&6 && echo && ckpt readdir 5 && \
    echo fd8 $(stat -L -c %h /proc/self/fd/8) $(wc -c <&8) && md5sum </proc/self/fd/8 | cut -d' ' -f1";

/// A newc cpio archive of `files` (name, mode, data), with its trailer.
fn cpio(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let (mut out, trailer) = (Vec::new(), ("TRAILER!!!", 0, &[][..]));
    for (i, &(name, mode, data)) in files.iter().chain([&trailer]).enumerate() {
        let (ino, mode, size, namesize) = (i + 1, mode as usize, data.len(), name.len() + 1);
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let f = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0];
        out.extend(format!("070701{}{name}\0", f.map(|v| format!("{v:08x}")).concat()).bytes());
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

/// Migration, first boot: a process with fds and cwd on a ramfs_cr mount
/// is checkpointed with contents; the image, the live mount's manifest
/// and what the restored process must print go to the host through the
/// second serial port (/dev/ttyS1), as a cpio archive the second boot
/// finds under /migrate.
pub fn migrate_save() -> R {
    work()?;
    ensure_module()?;
    let m = Mount::at(MIG, "ramfs_cr", Some("mode=0755"))?;
    let order = populate(&m)?;
    let img = tmpfile("migrate.img");
    in_clean_child("migrating child", || {
        // 64 MiB over an emulated serial port take minutes
        alarm(800);
        let left = stand_in(&m, &order, MIG_GHOST)?;
        ck_ok(0, &img, CONTENTS)?;
        let manifest = format(&live_lines(m.root()).map_err(|e| e.to_string())?);
        // the unlinked file's MD5, by busybox md5sum of a copy of its bytes
        let copy = tmpfile("ghost");
        write_file(&copy, &ghost(MIG_GHOST))?;
        let md5 = std::process::Command::new("md5sum").arg(&copy).output();
        let md5 = md5.map_err(|e| format!("md5sum: {e}"))?.stdout;
        let _ = std::fs::remove_file(&copy);
        let md5 = text(&md5).split(' ').next().unwrap_or("").to_string();
        let out = format!(
            "cwd {MIG}/d\nfd6 {MIG}/d/a\n456789\n{}\nfd8 0 {}\n{md5}\n",
            left.join("\n"),
            MIG_GHOST - 10
        );
        let img = read_file(&img)?;
        let (dir, file) = (0o40755, 0o100644);
        let files = [
            ("migrate", dir, &b""[..]),
            ("migrate/img", file, &img),
            ("migrate/manifest", file, manifest.as_bytes()),
            ("migrate/out", file, out.as_bytes()),
        ];
        let tty = open_at("/dev/ttyS1", libc::O_WRONLY | libc::O_NOCTTY, 7)?;
        // SAFETY: termios of an open tty, into and from a zeroed struct.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            check!(
                libc::tcgetattr(tty, &mut t) == 0,
                "tcgetattr ttyS1: {}",
                ename(errno())
            );
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(tty, libc::TCSANOW, &t);
        }
        let a = cpio(&files);
        eq!(
            write_fd(tty, &a),
            Ok(a.len()),
            "image archive written to ttyS1"
        );
        // SAFETY: an open tty.
        unsafe { libc::tcdrain(tty) };
        Ok(())
    })?;
    // Figures for Documentation/ramfs_cr.rst, as KTAP diagnostics.
    let log = text(&read_file(&format!("{img}.log"))?);
    let frozen = log.lines().find(|l| l.contains("frozen")).unwrap_or("");
    println!("# image {} bytes; {frozen}", read_file(&img)?.len());
    Ok(())
}

/// Migration, second boot of the same kernel: `ckpt restart` of the image
/// the first boot wrote rebuilds the mount at its place; the manifest,
/// cwd, fd offset and directory position are those the first boot saw.
pub fn migrate_restore() -> R {
    work()?;
    ensure_module()?;
    let (manifest, out) = (read_file("/migrate/manifest")?, read_file("/migrate/out")?);
    std::fs::create_dir_all(MIG).map_err(|e| e.to_string())?;
    let args = [
        "restart",
        "--in",
        "/migrate/img",
        "--log",
        "/tmp/migrate.rlog",
        "--",
        "/bin/sh",
        "-c",
        MIG_SCRIPT,
    ];
    let (code, stdout, err) = run_ckpt(&args)?;
    let m = Mount { dir: MIG.into() };
    eq!(
        (code, err.as_str()),
        (0, ""),
        "ckpt restart in the second boot"
    );
    let log = text(&read_file("/tmp/migrate.rlog")?);
    println!(
        "# {}",
        log.lines().find(|l| l.contains("rebuilt in")).unwrap_or("")
    );
    eq!(
        stdout,
        text(&out),
        "what the restored process printed (+) vs the first boot (-)"
    );
    eq!(
        text(&read_file("/tmp/migrate.manifest")?),
        text(&manifest),
        "rebuilt mount (+) vs the first boot's (-)"
    );
    m.umount()
}

/// A refused RESTART_CONTENTS leaves the caller's fds and mounts as they
/// were: bad records, bad mounts, a mount that is not empty.
pub fn restore_refused() -> R {
    let m = mount_with(&[("d/f", b"data")])?;
    io(symlink("f", m.p("d/s")))?;
    let img = tmpfile("good.img");
    let recs = save(&m.p(""), &img, || Ok(()))?.records();
    let plain = tmpfile("plain.img");
    in_clean_child("checkpointing child", || ck_ok(0, &plain, 0).map(drop))?;
    let v1 = decode_file(&plain)?.records();
    let fs_rec = |kind: u32, nth: usize| {
        let hits = recs
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Record::SbRec(s) if s.kind == kind));
        hits.map(|(i, _)| i).nth(nth).unwrap_or(0)
    };
    let (inode2, dirent1, dirent2) = (fs_rec(2, 1), fs_rec(3, 0), fs_rec(3, 1));
    let poke = |i: usize, off: usize, v: u8| -> Edit { Box::new(move |r| sb_rec(r, i)[off] = v) };
    let swap_seq: Edit = Box::new(move |r| {
        let (a, b) = (
            sb_rec(r, dirent1)[16..24].to_vec(),
            sb_rec(r, dirent2)[16..24].to_vec(),
        );
        sb_rec(r, dirent1)[16..24].copy_from_slice(&b);
        sb_rec(r, dirent2)[16..24].copy_from_slice(&a);
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
            let (o, diff) = changes(&fds, -1, || restart_into(&bad, flags, &fds));
            let o = o?;
            expect_outcome(&o, Err(want), what)?;
            check!(diff.is_empty(), "{what}: caller changed:\n{diff}");
            check!(o.log.contains(says), "{what}: log: {}", o.log);
            Ok(())
        })?;
        eq!(mounts(), before.clone(), "{what}: mounts after");
        Ok(())
    })
}
