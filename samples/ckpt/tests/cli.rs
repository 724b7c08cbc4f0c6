//! CLI tests on the host: argument parsing, inspect on hand-built images, and
//! what `checkpoint` and `restart` say on a kernel without the syscalls.

use ckpt_image::*;
use std::path::PathBuf;
use std::process::{Command, Output};
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
    let o = ckpt(&["checkpoint", "--pid", "1", "--out", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(s(&o.stderr), format!("{want}\n"));
    assert!(o.stdout.is_empty());
    assert!(!p.exists(), "the output file was created");
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
