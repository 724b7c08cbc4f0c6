//! CLI tests on the host: argument parsing, inspect on hand-built images, and
//! what `checkpoint` and `restart` say on a kernel without the syscalls.

use ckpt_image::*;
use std::path::PathBuf;
use std::process::{Command, Output};
use testsupport::contents::{inode, sample_tree, Contents};
use testsupport::{regular, SampleImage};

fn ckpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .args(args)
        .output()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ckpt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The records every image starts with: HEADER, FS, the root "/", the
/// working directory `cwd` and a FILE_TABLE of no descriptors.
fn head(cwd: &[u8]) -> Vec<Record> {
    let mut b = SampleImage::new("").id(7, 321, "6.12.0");
    b.cwd = cwd.to_vec();
    b.records()
}

fn image() -> Vec<u8> {
    SampleImage::new("/mnt/cr")
        .id(7, 321, "6.12.0")
        .file("/mnt/cr/file \"q\"", regular(3, 0o102002, 17))
        .fd(3, 1, false)
        .fd(7, 1, true)
        .bytes()
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_everywhere() {
    for args in [
        &["--help"][..],
        &["checkpoint", "--help"],
        &["restart", "--help"],
        &["inspect", "--help"],
        &["extract", "--help"],
    ] {
        let o = ckpt(args);
        assert!(o.status.success(), "{args:?}");
        assert!(
            s(&o.stdout).contains("Usage:"),
            "{args:?}: {}",
            s(&o.stdout)
        );
    }
    let o = ckpt(&["checkpoint", "--out", "x"]);
    assert!(!o.status.success());
    assert!(s(&o.stderr).contains("--pid"), "{}", s(&o.stderr));
}

#[test]
fn inspect_good() {
    let p = tmp("good.ckpt");
    std::fs::write(&p, image()).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    let out = s(&o.stdout);
    assert!(o.status.success(), "{out}{}", s(&o.stderr));
    for want in [
        "HEADER",
        "crid=7",
        "pid=321",
        "release=\"6.12.0\"",
        "\"/mnt/cr\"",
        "f_pos=17",
        "O_RDWR|O_APPEND|O_LARGEFILE",
        "reg 0644",
        "fd=7 objref=1 close_on_exec=1",
        "crc32c ok",
        "image valid: 11 records",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let o = ckpt(&["inspect", "--json", p.to_str().unwrap()]);
    let j = s(&o.stdout);
    assert!(o.status.success());
    assert!(j.contains("\"valid\":true"), "{j}");
    assert!(j.contains("\"crc_ok\":true"), "{j}");
    assert!(j.contains("\"name\":\"/mnt/cr/file \\\"q\\\"\""), "{j}");
    assert!(
        j.contains("{\"offset\":0,\"type\":\"HEADER\",\"type_id\":1,\"len\":112,"),
        "{j}"
    );
}

#[test]
fn inspect_bad_crc() {
    let p = tmp("badcrc.ckpt");
    // flip a byte inside a name, so only the CRC is wrong
    let mut b2 = image();
    let pos = b2.windows(7).position(|w| w == b"/mnt/cr").unwrap();
    b2[pos + 1] = b'x';
    std::fs::write(&p, &b2).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (out, err) = (s(&o.stdout), s(&o.stderr));
    assert!(out.contains("crc32c BAD"), "{out}");
    let tail_off = b2.len() - SIZE_TAIL;
    assert!(
        err.contains(&format!("first bad record TAIL at offset {tail_off}")),
        "{err}"
    );
}

#[test]
fn inspect_truncated_and_error_record() {
    let b = image();
    let p = tmp("trunc.ckpt");
    std::fs::write(&p, &b[..b.len() - 12]).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = s(&o.stderr);
    assert!(
        err.contains(&format!("offset {}", b.len() - SIZE_TAIL)),
        "{err}"
    );
    assert!(err.contains("runs past the end"), "{err}");

    let mut recs = head(b"/");
    recs[4] = Record::FileTable(FileTable {
        nr_fds: 1,
        reserved: 0,
    });
    recs.push(Record::Error(ErrorRec {
        err: -9,
        fd: 5,
        msg: b"checkpoint: fd 5 \"/mnt/x\" (ramfs): f_op lacks checkpoint [-EBADF]".to_vec(),
    }));
    let e = encode_records(&recs);
    std::fs::write(&p, &e).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (out, err) = (s(&o.stdout), s(&o.stderr));
    assert!(
        out.contains("ERROR") && out.contains("err=-9 (EBADF) fd=5"),
        "{out}"
    );
    assert!(out.contains("no TAIL"), "{out}");
    assert!(err.contains("first bad record ERROR at offset"), "{err}");
    let o = ckpt(&["inspect", "--json", p.to_str().unwrap()]);
    assert!(s(&o.stdout).contains("\"kind\":\"ErrorRecord\""));
}

#[test]
fn inspect_from_stdin() {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .args(["inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&image()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(s(&o.stdout).contains("image valid"));
}

/// On a kernel without the checkpoint core (the host's), `checkpoint` and
/// `restart` say so in one line and exit with status 3, before creating
/// the output file and without making a system call (on a 6.13+ kernel the
/// numbers of the first versions of the series were setxattrat and
/// getxattrat).  Skipped on a kernel that has the core.
#[test]
fn no_kernel_support_is_one_line_and_status_3() {
    if std::path::Path::new(syscalls::VERSION_FILE).exists() {
        println!("SKIP: this kernel has the checkpoint core");
        return;
    }
    let want = format!(
        "ckpt: this kernel has no checkpoint/restart core (no {}; it needs CONFIG_CHECKPOINT and the ramfs_cr patches)",
        syscalls::VERSION_FILE
    );
    let p = tmp("never-created.ckpt");
    let _ = std::fs::remove_file(&p);
    for contents in [false, true] {
        let mut args = vec!["checkpoint", "--pid", "1", "--out", p.to_str().unwrap()];
        if contents {
            args.push("--contents");
        }
        let o = ckpt(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert_eq!(s(&o.stderr), format!("{want}\n"));
        assert!(o.stdout.is_empty());
        assert!(!p.exists(), "the output file was created");
    }
    let q = tmp("in.ckpt");
    std::fs::write(&q, image()).unwrap();
    for dry in [false, true] {
        let mut args = vec!["restart", "--in", q.to_str().unwrap()];
        if dry {
            args.push("--dry-run");
        }
        let o = ckpt(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert_eq!(s(&o.stderr), format!("{want}\n"), "{args:?}");
    }
    // The library refuses too, without entering the kernel.
    let e = syscalls::checkpoint(0, -1, 0, -1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSYS));
    let e = syscalls::restart(0, -1, 0, -1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSYS));
}

/// `ckpt inspect --json FILE` parsed by a real JSON parser.
fn inspect_json(p: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let o = ckpt(&["inspect", "--json", p.to_str().unwrap()]);
    let out = s(&o.stdout);
    let v = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("inspect --json printed invalid JSON ({e}):\n{out}"));
    (o.status.code(), v)
}

#[test]
fn inspect_json_parses() {
    // A valid image, its record list and values.
    let p = tmp("json-good.ckpt");
    let img = image();
    std::fs::write(&p, &img).unwrap();
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(0), "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["crc_ok"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["size"], img.len());
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 11, "{v}");
    assert_eq!(recs[0]["type"], "HEADER");
    assert_eq!(recs[0]["pid"], 321);
    assert_eq!(recs[0]["magic"], CKPT_MAGIC_HEAD);
    assert_eq!(recs[10]["type"], "TAIL");
    let names: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "FILE_NAME")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/", "/mnt/cr", "/mnt/cr/file \"q\""]);
    let mut off = 0;
    for r in recs {
        assert_eq!(r["offset"], off, "{r}");
        off += r["len"].as_u64().unwrap();
    }
    assert_eq!(off, img.len() as u64);

    // A name with every kind of byte JSON must escape, and invalid UTF-8.
    let hostile = b"/mnt/cr/\x01\x1f\t\n\"\\\x7f\xff\xfe end".to_vec();
    let recs = head(&hostile);
    let p = tmp("json-names.ckpt");
    std::fs::write(&p, encode_with_tail(&recs)).unwrap();
    let (_, v) = inspect_json(&p);
    let name = v["records"][3]["name"].as_str().unwrap();
    assert_eq!(
        name,
        "/mnt/cr/\u{1}\u{1f}\t\n\"\\\u{7f}\u{fffd}\u{fffd} end"
    );

    // Bad images: still one JSON document, with the first problem.
    let mut bad = image();
    let pos = bad.windows(7).position(|w| w == b"/mnt/cr").unwrap();
    bad[pos + 1] = b'x';
    let p = tmp("json-badcrc.ckpt");
    std::fs::write(&p, &bad).unwrap();
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(1));
    assert_eq!(v["valid"], false);
    assert_eq!(v["crc_ok"], false);
    assert_eq!(v["error"]["kind"], "BadCrc", "{v}");
    assert_eq!(v["error"]["record"], "TAIL", "{v}");
    assert_eq!(v["error"]["offset"], bad.len() - SIZE_TAIL);

    let p = tmp("json-trunc.ckpt");
    std::fs::write(&p, &img[..img.len() - 12]).unwrap();
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(1));
    assert_eq!(v["crc_ok"], serde_json::Value::Null, "{v}");
    assert_eq!(v["error"]["kind"], "LenPastEnd", "{v}");
}

/// An image whose second file (a directory) has a FILE_FS record.
fn image_fs(fs_name: &[u8]) -> Vec<u8> {
    SampleImage::new("/mnt/cr")
        .id(7, 321, "6.12.0")
        .file("/mnt/cr/f", regular(3, 0o102002, 17))
        .file("/mnt/cr/dir", {
            let mut d = regular(1, 0o200000, 3);
            d.i_mode = 0o040755;
            d
        })
        .file_fs(FileFs {
            fs_name: fs_name.to_vec(),
            fs_version: 1,
            data: vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
        })
        .fd(3, 1, false)
        .fd(4, 2, false)
        .bytes()
}

#[test]
fn inspect_file_fs() {
    let p = tmp("filefs.ckpt");
    let img = image_fs(b"ramfs_cr");
    std::fs::write(&p, &img).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    let out = s(&o.stdout);
    assert!(o.status.success(), "{out}{}", s(&o.stderr));
    let fs_off = img.len() - SIZE_TAIL - SIZE_FILE_DESC - 40;
    let want = format!(
        "{fs_off:>8}  FILE_FS       40  fs_name=\"ramfs_cr\" fs_version=1 data_len=6 data=deadbeef0001"
    );
    assert!(out.lines().any(|l| l == want), "missing {want:?} in\n{out}");
    // right after the directory's FILE_NAME, right before its FILE_DESC
    let types: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        types[10..14],
        ["FILE", "FILE_NAME", "FILE_FS", "FILE_DESC"],
        "{out}"
    );
    assert!(out.contains("image valid: 15 records"), "{out}");

    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(0), "{v}");
    let recs = v["records"].as_array().unwrap();
    let want = serde_json::json!({
        "name": "ramfs_cr", "version": 1, "data_len": 6, "data": "deadbeef0001"
    });
    let fs = &recs[12];
    assert_eq!(fs["type"], "FILE_FS", "{v}");
    assert_eq!(fs["type_id"], 305);
    assert_eq!(fs["offset"], fs_off);
    assert_eq!(fs["len"], 40);
    assert_eq!(fs["fs"], want);
    // each FILE says which FILE_FS is its own, or null
    let files: Vec<&serde_json::Value> = recs.iter().filter(|r| r["type"] == "FILE").collect();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["fs"], serde_json::Value::Null, "{v}");
    assert_eq!(files[1]["fs"], want, "{v}");

    // a FILE_FS the kernel refuses: an empty fs_name
    let bad = image_fs(b"");
    std::fs::write(&p, &bad).unwrap();
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = s(&o.stderr);
    assert!(
        err.contains(&format!(
            "first bad record FILE_FS at offset {fs_off}: offset {fs_off}: bad name: FILE_FS fs_name is empty"
        )),
        "{err}"
    );
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(1));
    assert_eq!(v["error"]["kind"], "BadName", "{v}");
    assert_eq!(v["error"]["record"], "FILE_FS", "{v}");
    assert_eq!(v["error"]["offset"], fs_off);
}

/// The sample ramfs_cr tree (testsupport) saved at /mnt/cr, in a file.
fn contents_image(name: &str) -> (PathBuf, Vec<u8>) {
    let b = SampleImage::new("/mnt/cr")
        .id(7, 321, "6.12.0")
        .sb(sample_tree(1, "/mnt/cr"))
        .bytes();
    let p = tmp(name);
    std::fs::write(&p, &b).unwrap();
    (p, b)
}

/// A fresh empty directory.
fn tmp_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    if d.exists() {
        let _ = Command::new("chmod").args(["-R", "u+rwx"]).arg(&d).status();
        std::fs::remove_dir_all(&d).unwrap();
    }
    std::fs::create_dir(&d).unwrap();
    d
}

#[test]
fn inspect_lists_the_tree() {
    let (p, b) = contents_image("tree.ckpt");
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    let out = s(&o.stdout);
    assert!(o.status.success(), "{out}{}", s(&o.stderr));
    let img = decode(&b).unwrap();
    let sb = img.sbs[0].offset;
    assert!(
        out.contains(&format!(
            "\n{sb:>8}  SB            40  sb_id=1 fs_name=\"ramfs_cr\" fs_version=1 reserved=0\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("  SB_DATA     4120  offset=0 data_len=4096 crc32c="),
        "{out}"
    );
    assert!(
        out.contains("  SB_END        24  sb_id=1 nr_records=49 data_bytes=74167\n"),
        "{out}"
    );
    let tree: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("superblock 1:"))
        .collect();
    let long = "L".repeat(255);
    let want = [
        "superblock 1: ramfs_cr (format 1) at \"/mnt/cr\": 19 inodes, 2 unlinked",
        "drwxr-xr-x 0/0                  0 2023-11-14 22:13:21 /",
        "-rw-r--r-- 1000/1000           13 2023-11-14 22:13:22 /file",
        "-rw-r----- 1000/1000      3145733 2023-11-14 22:13:23 /sparse",
        "drwxr-x--- 1000/1000            0 2023-11-14 22:13:24 /dir",
        "-rw------- 1000/1000            1 2023-11-14 22:13:25 /dir/nested",
        "-rw-r--r-- 1000/1000           13 2023-11-14 22:13:22 /dir/hardlink link to /file",
        "dr-xr-xr-x 1000/1000            0 2023-11-14 22:13:26 /dir/ro",
        "-r--r--r-- 1000/1000            5 2023-11-14 22:13:27 /dir/ro/inner",
        "lrwxrwxrwx 1000/1000           10 2023-11-14 22:13:28 /link -> dir/nested",
        "lrwxrwxrwx 1000/1000           13 2023-11-14 22:13:29 /dangling -> ../nowhere/é",
        "prw-r--r-- 1000/1000            0 2023-11-14 22:13:30 /fifo",
        "-rw-r--r-- 1000/1000            0 2023-11-14 22:13:34 /new\\x0aline",
        "-rw-r--r-- 1000/1000            5 2023-11-14 22:13:35 /ünïcødé",
        &format!("-rw-r--r-- 1000/1000            0 2023-11-14 22:13:36 /{long}"),
        "lrwxrwxrwx 1000/1000           10 2023-11-14 22:13:28 /slink2 link to /link",
        "-rwsr-xr-x 0/0                 10 2023-11-14 22:13:37 /setuid",
        "crw-rw-rw- 1000/1000          1,3 2023-11-14 22:13:31 /null",
        "brw-rw---- 1000/1000          7,0 2023-11-14 22:13:32 /loop0",
        "srwxr-xr-x 1000/1000            0 2023-11-14 22:13:33 /sock",
        "-rw------- 1000/1000           14 2023-11-14 22:13:38 (unlinked #18)",
        "drwx------ 1000/1000            0 2023-11-14 22:13:39 (unlinked #19)",
    ];
    assert_eq!(tree, want);
}

#[test]
fn inspect_json_has_the_tree() {
    let (p, _) = contents_image("tree-json.ckpt");
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(0), "{v}");
    assert_eq!(v["contents_error"], serde_json::Value::Null);
    let sb = &v["sbs"][0];
    assert_eq!(
        (&sb["sb_id"], &sb["fs_name"], &sb["mount"], &sb["root"]),
        (
            &serde_json::json!(1),
            &serde_json::json!("ramfs_cr"),
            &serde_json::json!("/mnt/cr"),
            &serde_json::json!(1)
        )
    );
    let tree = sb["tree"].as_array().unwrap();
    assert_eq!(tree.len(), 19);
    let by = |path: &str| tree.iter().find(|e| e["path"] == path).unwrap();
    let f = by("/file");
    assert_eq!(f["type"], "reg");
    assert_eq!(f["mode"], 0o100644);
    assert_eq!(
        (&f["uid"], &f["nlink"], &f["size"]),
        (&1000.into(), &2.into(), &13.into())
    );
    assert_eq!(
        f["mtime"],
        serde_json::json!({"sec": 1700000002, "nsec": 2007})
    );
    assert_eq!(f["crc32c"], crc32c(testsupport::contents::FILE_DATA));
    assert_eq!(f["link_to"], serde_json::Value::Null);
    assert_eq!(by("/dir/hardlink")["link_to"], "/file");
    assert_eq!(by("/dir/hardlink")["ino"], 2);
    assert_eq!(by("/link")["target"], "dir/nested");
    assert_eq!(by("/null")["rdev"], serde_json::json!([1, 3]));
    assert_eq!(by("/new\nline")["size"], 0);
    let sp = by("/sparse");
    assert_eq!(
        (&sp["size"], &sp["data_bytes"]),
        (&3145733.into(), &74096.into())
    );
    let unl: Vec<&serde_json::Value> = sb["unlinked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["ino"])
        .collect();
    assert_eq!(unl, [&serde_json::json!(18), &serde_json::json!(19)]);
    // the section's records are in the record list
    let recs = v["records"].as_array().unwrap();
    let types: Vec<&str> = recs.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types[4..7], ["SB", "FILE_NAME", "SB_REC"]);
    assert_eq!(recs[6]["kind"], 1);
    assert_eq!(recs[6]["data_len"], 16);
    let d = recs.iter().find(|r| r["type"] == "SB_DATA").unwrap();
    assert_eq!((&d["offset"], &d["data_len"]), (&0.into(), &13.into()));
    assert_eq!(d["crc32c"], crc32c(testsupport::contents::FILE_DATA));
}

/// A valid image whose ramfs_cr section is not: a DIRENT naming inode 5.
fn bad_contents_image(name: &str) -> PathBuf {
    let sec = Contents::new()
        .inode(inode(1, 0o040755))
        .dirent(1, 5, b"x")
        .section(1, "/mnt/cr");
    let p = tmp(name);
    std::fs::write(&p, SampleImage::new("/").sb(sec).bytes()).unwrap();
    p
}

#[test]
fn inspect_bad_contents() {
    let p = bad_contents_image("badtree.ckpt");
    let img = decode(&std::fs::read(&p).unwrap()).unwrap();
    let at = img.sbs[0].records[2].0;
    let o = ckpt(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(s(&o.stdout).contains("image valid"));
    let want = format!(
        "ckpt: {}: bad contents: superblock 1: record 2 (offset {at}): DIRENT x names inode 5, not defined before\n",
        p.display()
    );
    assert_eq!(s(&o.stderr), want);
    let (rc, v) = inspect_json(&p);
    assert_eq!(rc, Some(1));
    assert_eq!(v["valid"], true);
    assert_eq!(v["sbs"], serde_json::Value::Null);
    assert!(
        v["contents_error"]
            .as_str()
            .unwrap()
            .contains("names inode 5"),
        "{v}"
    );
    for args in [&["inspect", "--manifest"][..], &["extract"]] {
        let mut a = args.to_vec();
        a.push(p.to_str().unwrap());
        let d = tmp_dir("badtree-x");
        if args[0] == "extract" {
            a.push(d.to_str().unwrap());
        }
        let o = ckpt(&a);
        assert_eq!(o.status.code(), Some(1), "{a:?}");
        assert!(
            s(&o.stderr).contains("names inode 5, not defined before"),
            "{a:?}: {}",
            s(&o.stderr)
        );
        assert!(o.stdout.is_empty(), "{a:?}");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "{a:?}: wrote into the directory"
        );
    }
}

#[test]
fn inspect_manifest() {
    let (p, b) = contents_image("manifest.ckpt");
    let o = ckpt(&["inspect", "--manifest", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", s(&o.stderr));
    let img = decode(&b).unwrap();
    let t = ckpt_image::ramfs::Tree::decode(&img.sbs[0]).unwrap();
    assert_eq!(s(&o.stdout), ckpt_image::manifest::image_manifest(&t));
    assert_eq!(s(&o.stdout).lines().count(), 19);
    let o2 = ckpt(&["inspect", "--manifest", "--sb", "1", p.to_str().unwrap()]);
    assert_eq!(o2.stdout, o.stdout);
    // which superblock
    let two = SampleImage::new("/")
        .sb(sample_tree(1, "/a"))
        .sb(sample_tree(2, "/b"))
        .bytes();
    let q = tmp("manifest2.ckpt");
    std::fs::write(&q, two).unwrap();
    let plain = tmp("manifest0.ckpt");
    std::fs::write(&plain, image()).unwrap();
    let q = q.to_str().unwrap();
    let plain = plain.to_str().unwrap();
    for (args, want) in [
        (vec![q], "2 superblocks saved: choose one with --sb N"),
        (vec!["--sb", "3", q], "no superblock 3 in the image"),
        (
            vec![plain],
            "no superblock saved (taken without --contents)",
        ),
    ] {
        let mut a = vec!["inspect", "--manifest"];
        a.extend(&args);
        let o = ckpt(&a);
        assert_eq!(o.status.code(), Some(1), "{a:?}");
        let file = args.last().unwrap();
        assert_eq!(s(&o.stderr), format!("ckpt: {file}: {want}\n"), "{a:?}");
    }
    let o = ckpt(&["inspect", "--manifest", "--sb", "2", q]);
    assert!(o.status.success());
    assert_eq!(
        o.stdout,
        ckpt(&["inspect", "--manifest", "--sb", "1", q]).stdout
    );
    // --json and --manifest do not go together; --sb needs --manifest
    assert_eq!(
        ckpt(&["inspect", "--json", "--manifest", q]).status.code(),
        Some(2)
    );
    assert_eq!(ckpt(&["inspect", "--sb", "1", q]).status.code(), Some(2));
}

#[test]
fn extract_writes_the_tree() {
    let (p, _) = contents_image("extract.ckpt");
    let d = tmp_dir("extract-out");
    let o = ckpt(&["extract", p.to_str().unwrap(), d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", s(&o.stderr));
    // SAFETY: geteuid() cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let (devices, warnings) = if root { (2, 1) } else { (0, 4) };
    assert_eq!(
        s(&o.stdout),
        format!(
            "extracted into {}: 3 directories, 9 files (74144 bytes), 2 symlinks, 2 hard links, 1 fifos, {devices} devices, 2 unlinked; {warnings} warning{}\n",
            d.display(),
            if warnings == 1 { "" } else { "s" }
        )
    );
    let err = s(&o.stderr);
    assert_eq!(err.lines().count(), warnings, "{err}");
    assert!(
        err.lines().all(|l| l.starts_with("ckpt: warning: ")),
        "{err}"
    );
    assert!(
        err.contains("ckpt: warning: sock: socket left out\n"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(d.join("file")).unwrap(),
        testsupport::contents::FILE_DATA
    );
    assert_eq!(
        std::fs::read(d.join(".ckpt-unlinked/18")).unwrap(),
        b"gone but open\n"
    );
    // from standard input too
    let d2 = tmp_dir("extract-stdin");
    let o = Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .args(["extract", "-", d2.to_str().unwrap()])
        .stdin(std::fs::File::open(&p).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", s(&o.stderr));
    assert_eq!(std::fs::read(d2.join("dir/ro/inner")).unwrap(), b"inner");
}

#[test]
fn extract_refusals() {
    let (p, b) = contents_image("extract-bad.ckpt");
    let p = p.to_str().unwrap().to_string();
    // a bad image: one bit of one chunk
    let mut bad = b.clone();
    let img = decode(&b).unwrap();
    let (at, _) = img.sbs[0].records[3];
    bad[at + SIZE_SB_DATA] ^= 1;
    let q = tmp("extract-crc.ckpt");
    std::fs::write(&q, &bad).unwrap();
    let d = tmp_dir("extract-refused");
    let o = ckpt(&["extract", q.to_str().unwrap(), d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = s(&o.stderr);
    assert!(
        err.starts_with(&format!("ckpt: {}: bad image: offset {at}: ", q.display())),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    // no such directory, a file, a directory not empty
    let missing = d.join("missing");
    let o = ckpt(&["extract", &p, missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        s(&o.stderr),
        format!(
            "ckpt: extract into {0}: {0}: cannot open the directory: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let file = tmp("extract-file");
    std::fs::write(&file, b"x").unwrap();
    let o = ckpt(&["extract", &p, file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        s(&o.stderr).contains("cannot open the directory: Not a directory"),
        "{}",
        s(&o.stderr)
    );
    std::fs::write(d.join("x"), b"").unwrap();
    let o = ckpt(&["extract", &p, d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        s(&o.stderr),
        format!("ckpt: extract into {0}: {0}: not empty\n", d.display())
    );
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    // an image without contents, an image that is not one
    let plain = tmp("extract-plain.ckpt");
    std::fs::write(&plain, image()).unwrap();
    let e = tmp_dir("extract-plain");
    let o = ckpt(&["extract", plain.to_str().unwrap(), e.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(s(&o.stderr)
        .contains("the image holds no file system contents (it was taken without --contents)"));
    let o = ckpt(&["extract", "/nonexistent.ckpt", e.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        s(&o.stderr).starts_with("ckpt: cannot read /nonexistent.ckpt: "),
        "{}",
        s(&o.stderr)
    );
    // usage
    assert_eq!(ckpt(&["extract", &p]).status.code(), Some(2));
}
