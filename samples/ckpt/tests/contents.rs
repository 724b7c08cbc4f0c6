//! ramfs_cr sections (library side of `ckpt inspect` and `ckpt extract`):
//! the tree [`sample_tree`] decodes to, every rule of
//! the ramfs_cr decoder, extraction into a directory and the manifests of
//! both sides.

use ckpt_image::extract::{extract, UNLINKED_DIR};
use ckpt_image::manifest::{image_manifest, live_manifest};
use ckpt_image::ramfs::{self, Kind, Super, Tree};
use ckpt_image::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use testsupport::contents::*;
use testsupport::SampleImage;

fn euid() -> u32 {
    // SAFETY: geteuid() cannot fail.
    unsafe { libc::geteuid() }
}

/// A fresh empty directory.
fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ckpt-contents-{}-{name}", std::process::id()));
    if d.exists() {
        // a directory of an earlier run may have read-only parts
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+rwx"])
            .arg(&d)
            .status();
        fs::remove_dir_all(&d).unwrap();
    }
    fs::create_dir_all(&d).unwrap();
    d
}

fn sample_image() -> Vec<u8> {
    SampleImage::new("/mnt/cr")
        .sb(sample_tree(1, "/mnt/cr"))
        .bytes()
}

#[test]
fn the_sample_tree() {
    let b = sample_image();
    let img = decode(&b).unwrap();
    assert_eq!((img.header.version, img.sbs.len()), (2, 1));
    let t = Tree::decode(&img.sbs[0]).unwrap();
    assert_eq!((t.root, t.mount), (1, &b"/mnt/cr"[..]));
    assert_eq!(t.sup.next_seq, 19);
    assert_eq!(t.nodes().len(), 19);
    assert_eq!(t.orphans, vec![18, 19]);
    let walk: Vec<(String, u64, bool, usize)> = t
        .walk()
        .into_iter()
        .map(|w| (ramfs::escape(&w.path), w.ino, w.first, w.depth))
        .collect();
    let long = format!("/{}", "L".repeat(255));
    let want: Vec<(&str, u64, bool, usize)> = vec![
        ("/", 1, true, 0),
        ("/file", 2, true, 1),
        ("/sparse", 3, true, 1),
        ("/dir", 4, true, 1),
        ("/dir/nested", 5, true, 2),
        ("/dir/hardlink", 2, false, 2),
        ("/dir/ro", 6, true, 2),
        ("/dir/ro/inner", 7, true, 3),
        ("/link", 8, true, 1),
        ("/dangling", 9, true, 1),
        ("/fifo", 10, true, 1),
        ("/new\\x0aline", 14, true, 1),
        ("/ünïcødé", 15, true, 1),
        (&long, 16, true, 1),
        ("/slink2", 8, false, 1),
        ("/setuid", 17, true, 1),
        ("/null", 11, true, 1),
        ("/loop0", 12, true, 1),
        ("/sock", 13, true, 1),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(p, i, f, d)| (p.to_string(), i, f, d))
        .collect();
    assert_eq!(walk, want);
    let sparse = t.node(3).unwrap();
    assert_eq!(sparse.inode.size, SPARSE_SIZE);
    let ext: Vec<(u64, usize)> = sparse
        .extents
        .iter()
        .map(|e| (e.offset, e.data.len()))
        .collect();
    assert_eq!(
        ext,
        vec![
            (0, 4096),
            (SPARSE_AT, CKPT_SB_DATA_MAX),
            (
                SPARSE_AT + CKPT_SB_DATA_MAX as u64,
                70000 - CKPT_SB_DATA_MAX
            )
        ]
    );
    assert_eq!(sparse.data_bytes(), 4096 + 70000);
    // the CRC of the data with its holes, computed the long way
    let mut all = vec![0u8; SPARSE_SIZE as usize];
    all[..4096].fill(b'a');
    all[SPARSE_AT as usize..SPARSE_AT as usize + 70000].fill(b'b');
    assert_eq!(sparse.data_crc32c(), crc32c(&all));
    assert_eq!(t.node(8).unwrap().data(), b"dir/nested");
    assert_eq!(t.node(9).unwrap().data(), "../nowhere/é".as_bytes());
    assert_eq!(t.node(19).unwrap().kind(), Kind::Dir);
    // every path of the walk looks up to its inode
    for w in t.walk() {
        assert_eq!(t.lookup(&w.path), Some(w.ino), "{}", ramfs::escape(&w.path));
    }
    assert_eq!(t.lookup(b"/dir/ro/"), Some(6));
    assert_eq!(t.lookup(b"/dir/missing"), None);
    assert_eq!(t.lookup(b"/file/x"), None);
    assert_eq!(t.lookup(b"dir"), None);
    let root = t.node(1).unwrap();
    let seqs: Vec<u64> = root.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 14);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

/// A section from `c`, decoded: the error's record index and text.
fn refused(c: Contents) -> (Option<usize>, String) {
    let s = c.section(1, "/m");
    let e = Tree::decode(&s).unwrap_err();
    (e.index, e.what)
}

fn root() -> Contents {
    Contents::new().inode(inode(1, 0o040755))
}

#[test]
fn ramfs_rules() {
    let reg = |i| inode(i, 0o100644);
    let dir = |i| inode(i, 0o040755);
    let cases: Vec<(Contents, usize, &str)> = vec![
        // the records: index 0 is the SUPER the section puts first
        (
            root().dirent(1, 9, b"x"),
            2,
            "names inode 9, not defined before",
        ),
        (
            root().inode(reg(2)).dirent(3, 2, b"x"),
            3,
            "DIRENT in inode 3, not defined before",
        ),
        (
            root().inode(reg(2)).dirent(2, 2, b"x"),
            3,
            "which is not a directory",
        ),
        (root().inode(reg(2)).dirent(1, 2, b""), 3, "empty"),
        (
            root().inode(reg(2)).dirent(1, 2, b"."),
            3,
            "is \".\" or \"..\"",
        ),
        (
            root().inode(reg(2)).dirent(1, 2, b".."),
            3,
            "is \".\" or \"..\"",
        ),
        (root().inode(reg(2)).dirent(1, 2, b"a/b"), 3, "holds a '/'"),
        (root().inode(reg(2)).dirent(1, 2, b"a\0b"), 3, "holds a NUL"),
        (
            root().inode(reg(2)).dirent(1, 2, &[b'n'; 256]),
            3,
            "longer than 255 bytes",
        ),
        (
            root().inode(reg(2)).dirent(1, 2, b"a").dirent(1, 2, b"a"),
            4,
            "directory 1 has two entries a",
        ),
        (
            root().inode(dir(2)).dirent(1, 2, b"a").dirent(1, 2, b"b"),
            4,
            "gives directory 2 a second name",
        ),
        (
            root().dirent(1, 1, b"self"),
            2,
            "gives directory 1 a second name",
        ),
        (
            root().inode(dir(2)).inode(reg(3)).dirent(2, 3, b"x"),
            4,
            "before that directory has a name",
        ),
        (root().inode(reg(1)), 2, "inode 1 defined twice"),
        (Contents::new().inode(reg(1)), 1, "is not a directory"),
        (root().inode(inode(2, 0o070644)), 2, "no such file type"),
        (root().inode(inode(2, 0o110644)), 2, "no such file type"),
        (root().inode(inode(0, 0o100644)), 2, "INODE id 0"),
        // chunks: ascending, apart, within the size, after a file
        (
            root().data(0, b"x"),
            2,
            "SB_DATA after a record that has no data",
        ),
        (
            root().inode(reg(2)).dirent(1, 2, b"a").data(0, b"x"),
            4,
            "SB_DATA after a record that has no data",
        ),
        (
            root().inode(dir(2)).data(0, b"x"),
            3,
            "SB_DATA after a record",
        ),
        (root().inode(reg(2)).data(0, b"x"), 3, "past its size 0"),
        (
            root()
                .inode(ramfs::Inode { size: 10, ..reg(2) })
                .data(4, b"abcd")
                .data(7, b"x"),
            4,
            "before the end of the previous one (8)",
        ),
        (
            root()
                .inode(ramfs::Inode { size: 10, ..reg(2) })
                .data(4, b"abcd")
                .data(2, b"x"),
            4,
            "before the end",
        ),
        (
            root()
                .inode(ramfs::Inode { size: 10, ..reg(2) })
                .data(8, b"abc"),
            3,
            "chunk of 3 bytes at 8 of inode 2: past its size 10",
        ),
        (
            root()
                .inode(ramfs::Inode { size: 10, ..reg(2) })
                .data(u64::MAX, b"a"),
            3,
            "past its size",
        ),
        // records
        (
            root().item(SbItem::Rec(SbRec {
                kind: 4,
                data: vec![],
            })),
            2,
            "unknown record kind 4",
        ),
        (
            root().item(SbItem::Rec(
                Super {
                    mount: 1,
                    next_seq: 1,
                }
                .encode(),
            )),
            2,
            "a second SUPER",
        ),
    ];
    for (k, (c, index, what)) in cases.into_iter().enumerate() {
        let (i, w) = refused(c);
        assert_eq!(i, Some(index), "case {k}: {w}");
        assert!(w.contains(what), "case {k}: {w:?} lacks {what:?}");
    }
}

#[test]
fn ramfs_record_rules() {
    let bad_rec = |kind, data: Vec<u8>| {
        let s = SbSection::new(
            1,
            ramfs::FS_NAME,
            1,
            "/m",
            vec![
                SbItem::Rec(
                    Super {
                        mount: 0,
                        next_seq: 5,
                    }
                    .encode(),
                ),
                SbItem::Rec(inode(1, 0o040755).encode()),
                SbItem::Rec(inode(2, 0o100644).encode()),
                SbItem::Rec(SbRec { kind, data }),
            ],
        );
        let e = Tree::decode(&s).unwrap_err();
        assert_eq!(e.index, Some(3), "{e}");
        e.what
    };
    let good_inode = inode(3, 0o100644).encode().data;
    let mut short = good_inode.clone();
    short.pop();
    assert!(bad_rec(2, short).contains("INODE of 87 bytes, not 88"));
    let mut nsec = good_inode.clone();
    nsec[48..52].copy_from_slice(&1_000_000_000u32.to_le_bytes());
    assert!(bad_rec(2, nsec).contains("atime nanoseconds 1000000000"));
    let mut pad = good_inode.clone();
    pad[84] = 1;
    assert!(bad_rec(2, pad).contains("ctime padding is not zero"));
    let d = ramfs::Dirent {
        dir: 1,
        ino: 2,
        seq: 1,
        name: b"abc".to_vec(),
    }
    .encode()
    .data;
    let mut long = d.clone();
    long.push(b'd');
    assert!(bad_rec(3, long).contains("DIRENT of 36 bytes with a name of 3"));
    let mut pad = d.clone();
    pad[28] = 1;
    assert!(bad_rec(3, pad).contains("DIRENT padding is not zero"));
    let mut seq = d.clone();
    seq[16..24].copy_from_slice(&5u64.to_le_bytes());
    let w = bad_rec(3, seq);
    assert!(
        w.contains("number 5 not below SUPER's next number 5"),
        "{w}"
    );
    assert!(bad_rec(3, d[..20].to_vec()).contains("less than 32"));

    // the section as a whole
    let whole = |s: SbSection| {
        let e = Tree::decode(&s).unwrap_err();
        assert_eq!((e.index, e.sb_id), (None, s.sb_id), "{e}");
        e.to_string()
    };
    let mut s = root().section(3, "/m");
    s.fs_name = b"tmpfs".to_vec();
    assert_eq!(
        whole(s),
        "superblock 3 (offset 0): file system tmpfs, not ramfs_cr"
    );
    let mut s = root().section(1, "/m");
    s.fs_version = 2;
    assert!(whole(s).contains("format version 2, this reader knows 1"));
    let s = SbSection::new(1, ramfs::FS_NAME, 1, "/", vec![]);
    assert!(whole(s).contains("no SUPER"));
    let s = Contents::new().section(1, "/");
    assert!(whole(s).contains("no INODE of the root"));
    let s = SbSection::new(
        1,
        ramfs::FS_NAME,
        1,
        "/",
        vec![SbItem::Rec(inode(1, 0o040755).encode())],
    );
    let e = Tree::decode(&s).unwrap_err();
    assert_eq!(e.index, Some(0));
    assert!(e.what.contains("before SUPER"), "{e}");
    // symlink targets: whole, no NUL, not empty
    let lnk = |size| ramfs::Inode {
        size,
        ..inode(2, 0o120777)
    };
    for (c, why) in [
        (root().inode(lnk(0)), "is empty"),
        (root().inode(lnk(4)).data(0, b"ab"), "has holes"),
        (root().file(lnk(0), b"a\0b"), "holds a NUL"),
    ] {
        let w = whole(c.section(1, "/"));
        assert!(
            w.ends_with(&format!("the target of symlink 2 {why}")),
            "{w}"
        );
    }
    // the error names the record's offset in an image
    let s = root().dirent(1, 7, b"x").section(1, "/mnt/cr");
    let b = SampleImage::new("/").sb(s).bytes();
    let img = decode(&b).unwrap();
    let e = Tree::decode(&img.sbs[0]).unwrap_err();
    assert_eq!(e.offset, img.sbs[0].records[2].0);
    assert!(e.offset > img.sbs[0].offset);
}

/// `path`'s first data offset at or after `from` (SEEK_DATA), or None in
/// a hole up to the end.
fn seek_data(path: &Path, from: i64) -> Option<i64> {
    let f = fs::File::open(path).unwrap();
    // SAFETY: lseek on an open fd.
    let r = unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(&f), from, libc::SEEK_DATA) };
    (r >= 0).then_some(r)
}

#[test]
fn extract_the_sample() {
    let b = sample_image();
    let img = decode(&b).unwrap();
    let d = tmpdir("one");
    let sum = extract(&img, &d).unwrap();
    let root = euid() == 0;
    // counts include the unlinked inodes: a directory and a file
    assert_eq!(sum.dirs, 3, "{sum}");
    assert_eq!(sum.files, 9);
    assert_eq!(sum.bytes, 13 + 4096 + 70000 + 1 + 5 + 5 + 10 + 14);
    assert_eq!((sum.symlinks, sum.hard_links, sum.fifos), (2, 2, 1));
    assert_eq!(sum.devices, if root { 2 } else { 0 });
    assert_eq!(sum.unlinked, 2);
    // the socket, and as a user the devices and the owners
    let warns = sum.warnings.join("\n");
    assert!(warns.contains("sock: socket left out"), "{warns}");
    assert_eq!(sum.warnings.len(), if root { 1 } else { 4 }, "{warns}");

    let p = |s: &str| d.join(s);
    let m = |s: &str| fs::symlink_metadata(p(s)).unwrap();
    // times to the nanosecond, before anything is read
    for (path, ino) in [
        ("file", 2),
        ("sparse", 3),
        ("dir", 4),
        ("dir/ro", 6),
        ("link", 8),
        ("fifo", 10),
        ("", 1),
    ] {
        let want = inode(ino, 0);
        let got = m(path);
        assert_eq!(
            (got.mtime(), got.mtime_nsec() as u32),
            (want.mtime.sec, want.mtime.nsec),
            "mtime of /{path}"
        );
        assert_eq!(
            (got.atime(), got.atime_nsec() as u32),
            (want.atime.sec, want.atime.nsec),
            "atime of /{path}"
        );
    }
    assert_eq!(fs::read(p("file")).unwrap(), FILE_DATA);
    assert_eq!(fs::read(p("dir/nested")).unwrap(), b"x");
    assert_eq!(fs::read(p("dir/ro/inner")).unwrap(), b"inner");
    assert_eq!(fs::read(p("ünïcødé")).unwrap(), b"utf8\n");
    assert_eq!(fs::read(p("new\nline")).unwrap(), b"");
    assert_eq!(
        fs::read(d.join(std::str::from_utf8(&long_name()).unwrap())).unwrap(),
        b""
    );
    // hard links are links
    assert_eq!(m("file").ino(), m("dir/hardlink").ino());
    assert_eq!(m("file").nlink(), 2);
    assert_eq!(m("link").ino(), m("slink2").ino());
    assert_ne!(m("file").ino(), m("dir/nested").ino());
    // symlinks are not followed
    assert_eq!(
        fs::read_link(p("link")).unwrap().as_os_str().as_bytes(),
        b"dir/nested"
    );
    assert_eq!(
        fs::read_link(p("dangling")).unwrap().as_os_str().as_bytes(),
        "../nowhere/é".as_bytes()
    );
    assert!(m("fifo").file_type().is_fifo());
    assert!(!p("sock").exists());
    if root {
        assert!(m("null").file_type().is_char_device());
        assert_eq!(m("null").rdev(), libc::makedev(1, 3));
        assert!(m("loop0").file_type().is_block_device());
        assert_eq!(m("loop0").rdev(), libc::makedev(7, 0));
        assert_eq!((m("file").uid(), m("file").gid()), (1000, 1000));
        assert_eq!((m("setuid").uid(), m("setuid").gid()), (0, 0));
    } else {
        assert!(!p("null").exists() && !p("loop0").exists());
    }
    // the sparse file: its bytes, its size, and holes that stayed holes
    let sp = fs::read(p("sparse")).unwrap();
    assert_eq!(sp.len() as u64, SPARSE_SIZE);
    assert!(sp[..4096].iter().all(|&c| c == b'a'));
    assert!(sp[4096..SPARSE_AT as usize].iter().all(|&c| c == 0));
    assert!(sp[SPARSE_AT as usize..][..70000].iter().all(|&c| c == b'b'));
    assert!(sp[SPARSE_AT as usize + 70000..].iter().all(|&c| c == 0));
    let blocks = m("sparse").blocks() * 512;
    assert!(
        blocks < 1 << 20,
        "sparse file holds {blocks} bytes of blocks"
    );
    if let Some(first) = seek_data(&p("sparse"), 4096) {
        // a file system with SEEK_DATA finds the second chunk past the hole
        assert!(first >= 1 << 20 && first <= SPARSE_AT as i64, "{first}");
        assert_eq!(
            seek_data(&p("sparse"), SPARSE_AT as i64 + 70000 + 8192),
            None
        );
    }
    // modes (set-user-ID kept) and times to the nanosecond
    assert_eq!(m("setuid").mode(), 0o104755);
    assert_eq!(m("dir/ro").mode(), 0o040555);
    assert_eq!(m("dir/ro/inner").mode(), 0o100444);
    assert_eq!(m("dir").mode(), 0o040750);
    assert_eq!(m("fifo").mode(), 0o010644);
    assert_eq!(m("sparse").mode(), 0o100640);
    assert_eq!(m("").mode(), 0o040755);
    // the unlinked inodes, by id
    let u = p(UNLINKED_DIR);
    assert_eq!(fs::read(u.join("18")).unwrap(), b"gone but open\n");
    assert_eq!(fs::symlink_metadata(u.join("18")).unwrap().mode(), 0o100600);
    assert!(u.join("19").is_dir());
    let mut names: Vec<_> = fs::read_dir(&u)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["18", "19"]);
}

#[test]
fn manifests_of_image_and_extraction_agree() {
    let b = sample_image();
    let img = decode(&b).unwrap();
    let t = Tree::decode(&img.sbs[0]).unwrap();
    let image = image_manifest(&t);
    let lines: Vec<&str> = image.lines().collect();
    assert_eq!(lines.len(), 19);
    assert_eq!(
        lines[0],
        "/\tdir\t0755\t0\t0\t0\t1700000001.000001007\t1600000001.123456789\t#1\t-\t-\t-"
    );
    assert_eq!(
        lines[1],
        format!(
            "/file\treg\t0644\t1000\t1000\t13\t1700000002.000002007\t1600000002.123456789\t#2\t-\t-\tcrc32c:{:08x}",
            crc32c(FILE_DATA)
        )
    );
    assert!(lines[5].starts_with("/dir/hardlink\treg\t0644\t1000\t1000\t13\t"));
    assert!(lines[5].contains("\t#2\t"), "{}", lines[5]);
    assert!(
        lines[8].starts_with("/link\tsymlink\t0777\t"),
        "{}",
        lines[8]
    );
    assert!(lines[8].ends_with("\t#8\t-\tdir/nested\t-"), "{}", lines[8]);
    assert!(
        lines[11].starts_with("/new\\x0aline\treg\t"),
        "{}",
        lines[11]
    );
    assert!(lines[14].starts_with("/slink2\tsymlink\t") && lines[14].contains("\t#8\t"));
    assert!(lines[16].contains("\t1:3\t-\t-"), "{}", lines[16]);

    let d = tmpdir("manifest");
    extract(&img, &d).unwrap();
    let live = live_manifest(&d).unwrap();
    // the live side lists .ckpt-unlinked (the image has no name for it),
    // and has no socket: those lines aside, the same manifest
    let root = euid() == 0;
    let keep = |l: &&str| {
        let p = l.split('\t').next().unwrap();
        p != "/sock" && (root || (p != "/null" && p != "/loop0"))
    };
    // a directory's size is its file system's own (ext4: blocks, tmpfs:
    // entries, ramfs_cr: 0); owners are only kept by root
    let mask = |l: &str| -> String {
        let mut f: Vec<&str> = l.split('\t').collect();
        if f[1] == "dir" {
            f[5] = "-";
        }
        if !root {
            (f[3], f[4]) = ("-", "-");
        }
        f.join("\t")
    };
    let want: Vec<String> = lines.iter().copied().filter(keep).map(mask).collect();
    let got: Vec<String> = live
        .lines()
        .filter(|l| !l.starts_with(&format!("/{UNLINKED_DIR}")))
        .map(mask)
        .collect();
    // the walk orders differ (readdir of ext4 or tmpfs is not ramfs_cr's):
    // compare path by path, and the link numbers as a partition
    assert_eq!(by_path(&got), by_path(&want));
    assert_eq!(groups(&got), groups(&want));
}

#[test]
fn several_superblocks_and_refusals() {
    let second = root()
        .file(inode(2, 0o100600), b"second")
        .dirent(1, 2, b"only")
        .section(2, "/mnt/two");
    let b = SampleImage::new("/")
        .sb(sample_tree(1, "/mnt/cr"))
        .sb(second)
        .bytes();
    let img = decode(&b).unwrap();
    let d = tmpdir("two");
    let sum = extract(&img, &d).unwrap();
    assert_eq!(sum.files, 10);
    assert_eq!(fs::read(d.join("sb2/only")).unwrap(), b"second");
    assert_eq!(fs::read(d.join("sb1/file")).unwrap(), FILE_DATA);
    assert!(d.join("sb1").join(UNLINKED_DIR).join("18").exists());
    assert_eq!(
        fs::symlink_metadata(d.join("sb2")).unwrap().mode(),
        0o040755
    );

    // not empty, missing, no contents, bad contents
    let e = extract(&img, &d).unwrap_err();
    assert_eq!(e.what, "not empty");
    let e = extract(&img, &d.join("missing")).unwrap_err();
    assert_eq!(e.err.unwrap().raw_os_error(), Some(libc::ENOENT));
    let plain = decode(&SampleImage::new("/").bytes()).unwrap();
    let e = extract(&plain, &tmpdir("plain")).unwrap_err();
    assert!(e.what.contains("without --contents"), "{e}");
    let bad = decode(
        &SampleImage::new("/")
            .sb(root().dirent(1, 5, b"x").section(1, "/"))
            .bytes(),
    )
    .unwrap();
    let e = extract(&bad, &tmpdir("bad")).unwrap_err();
    assert!(e.what.contains("names inode 5, not defined before"), "{e}");
    // no room for the unlinked inodes
    let clash = root()
        .inode(inode(2, 0o040700))
        .dirent(1, 2, UNLINKED_DIR.as_bytes())
        .inode(ramfs::Inode {
            nlink: 0,
            ..inode(3, 0o100600)
        })
        .section(1, "/");
    let clash = decode(&SampleImage::new("/").sb(clash).bytes()).unwrap();
    let e = extract(&clash, &tmpdir("clash")).unwrap_err();
    assert!(e.what.contains("no room for the unlinked inodes"), "{e}");
}

/// Manifest lines by path, without the link numbers: walk orders differ
/// between file systems (readdir of ext4 or tmpfs is not ramfs_cr's).
fn by_path(v: &[String]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|l| {
            let (p, rest) = l.split_once('\t').unwrap();
            let f: Vec<&str> = rest.split('\t').collect();
            (p.to_string(), [&f[..7], &f[8..]].concat().join("\t"))
        })
        .collect();
    v.sort();
    v
}

/// The paths of each link number, as a sorted partition.
fn groups(v: &[String]) -> Vec<Vec<String>> {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in v {
        let f: Vec<&str> = l.split('\t').collect();
        m.entry(f[8].to_string())
            .or_default()
            .push(f[0].to_string());
    }
    let mut g: Vec<Vec<String>> = m
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    g.sort();
    g
}

/// A tree deeper than PATH_MAX: 250 nested directories of 19-byte names
/// (paths of 5000 bytes), a file and a directory without search
/// permission (mode 0600) at the bottom, and at the root hard links to
/// the file and to a file inside that directory.  Extraction and the live
/// manifest go by descriptors, never by whole paths.
#[test]
fn deeper_than_path_max() {
    const DEPTH: u64 = 250;
    let mut c = Contents::new().inode(inode(1, 0o040755));
    for k in 0..DEPTH {
        let id = k + 2;
        c = c
            .inode(inode(id, 0o040755))
            .dirent(id - 1, id, format!("d{k:018}").as_bytes());
    }
    let bottom = DEPTH + 1;
    let (f, closed, inner) = (DEPTH + 2, DEPTH + 3, DEPTH + 4);
    let two = |i| ramfs::Inode {
        nlink: 2,
        ..inode(i, 0o100644)
    };
    let c = c
        .file(two(f), b"at the bottom")
        .dirent(bottom, f, b"f")
        .inode(inode(closed, 0o040600))
        .dirent(bottom, closed, b"closed")
        .file(two(inner), b"inside")
        .dirent(closed, inner, b"in")
        .dirent(1, f, b"link")
        .dirent(1, inner, b"link2");
    let b = SampleImage::new("/").sb(c.section(1, "/mnt/deep")).bytes();
    let img = decode(&b).unwrap();
    let t = Tree::decode(&img.sbs[0]).unwrap();
    let deepest = t.walk().iter().map(|w| w.path.len()).max().unwrap();
    assert!(deepest > libc::PATH_MAX as usize, "{deepest}");

    let d = tmpdir("deep");
    let sum = extract(&img, &d).unwrap();
    assert_eq!(
        (sum.dirs, sum.files, sum.hard_links),
        (DEPTH as usize + 1, 2, 2),
        "{sum}"
    );
    let m = |p: &str| fs::symlink_metadata(d.join(p)).unwrap();
    assert_eq!(m("link").nlink(), 2);
    assert_eq!(m("link2").nlink(), 2);
    assert_eq!(m("link").mtime(), inode(f, 0).mtime.sec);
    if euid() != 0 {
        // the rest needs a walk through the directory without search
        // permission
        assert_eq!(fs::read(d.join("link")).unwrap(), b"at the bottom");
        return;
    }
    // the manifest first: reading a file moves its atime
    let live = live_manifest(&d).unwrap();
    let want: Vec<String> = image_manifest(&t).lines().map(String::from).collect();
    let got: Vec<String> = live
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('\t').collect();
            if f[1] == "dir" {
                f[5] = "0";
            }
            f.join("\t")
        })
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(by_path(&got), by_path(&want));
    assert_eq!(groups(&got), groups(&want));
    let closed_line = want.iter().find(|l| l.contains("/closed\t")).unwrap();
    assert!(closed_line.contains("\tdir\t0600\t"), "{closed_line}");
    assert_eq!(fs::read(d.join("link")).unwrap(), b"at the bottom");
    assert_eq!(fs::read(d.join("link2")).unwrap(), b"inside");
}
