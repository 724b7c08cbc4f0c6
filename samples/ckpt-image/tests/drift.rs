//! Drift test: the Rust mirror of the image format must match the uapi header.
//!
//! The header is rebuilt from the patches in `patches/`: the lines of the
//! patch that adds `include/uapi/linux/checkpoint.h`, with the hunks of every
//! later patch that changes it applied in order (as `patches/series` leaves
//! it).  It is compiled into a tiny C program with `cc`, and every
//! sizeof/offsetof/constant it prints is compared with the Rust side.
//! `CKPT_UAPI_HEADER=/path/checkpoint.h` overrides the source (for work
//! before the patch exists).

use ckpt_image::offsets::*;
use ckpt_image::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const UAPI: &str = "include/uapi/linux/checkpoint.h";

/// A hunk's `-a,b` or `+c,d` range: (start, count).
fn hunk_range(r: &str) -> Result<(usize, usize), String> {
    let bad = || format!("bad hunk range {r:?}");
    let (a, b) = match r.split_once(',') {
        Some((a, b)) => (a, b.parse().map_err(|_| bad())?),
        None => (r, 1),
    };
    Ok((a.parse().map_err(|_| bad())?, b))
}

/// The UAPI header after the patch `text`, from `cur` (None: it does not
/// exist yet).  The part of the patch for UAPI is applied hunk by hunk: a
/// new file is the lines it adds; a change must find its context and
/// removed lines where the hunk says.  Other files are skipped.
fn apply_to_header(text: &str, cur: Option<String>) -> Result<Option<String>, String> {
    let mut file: Option<Vec<String>> = cur.map(|c| c.lines().map(String::from).collect());
    let mut lines = text.lines().peekable();
    let mut inside = false;
    // lines added minus lines removed by the earlier hunks of this patch
    let mut delta: isize = 0;
    while let Some(line) = lines.next() {
        if line.starts_with("diff --git ") {
            inside = false;
            continue;
        }
        if let Some(p) = line.strip_prefix("+++ ") {
            inside = p.trim_end() == format!("b/{UAPI}");
            delta = 0;
            continue;
        }
        if line.starts_with("--- /dev/null") {
            // a file created: whatever it is, there is nothing before it
            if lines.peek().map(|l| l.trim_end()) == Some(&format!("+++ b/{UAPI}")[..]) {
                if file.is_some() {
                    return Err(format!("a patch creates {UAPI} again"));
                }
                file = Some(Vec::new());
            }
            continue;
        }
        if !inside {
            continue;
        }
        let Some(h) = line.strip_prefix("@@ -") else {
            continue;
        };
        let f = file
            .as_mut()
            .ok_or_else(|| format!("a patch changes {UAPI} before one adds it"))?;
        let (old, rest) = h.split_once(" +").ok_or(format!("bad hunk {line:?}"))?;
        let new = rest.split(' ').next().unwrap_or("");
        let ((a, b), (_, d)) = (hunk_range(old)?, hunk_range(new)?);
        let (mut want, mut put) = (Vec::new(), Vec::new());
        while want.len() < b || put.len() < d {
            let l = lines.next().ok_or(format!("hunk {line:?} cut short"))?;
            if l.starts_with('\\') {
                continue; // "\ No newline at end of file"
            }
            // git writes an empty context line as " ", some tools as ""
            let (k, body) = l.split_at(l.len().min(1));
            match k {
                " " | "" => {
                    want.push(body.to_string());
                    put.push(body.to_string());
                }
                "-" => want.push(body.to_string()),
                "+" => put.push(body.to_string()),
                _ => return Err(format!("hunk {line:?}: bad line {l:?}")),
            }
        }
        // b == 0: the lines go after line a; else they replace lines a.. on
        let at = (if b == 0 { a } else { a - 1 }) as isize + delta;
        let at = usize::try_from(at).map_err(|_| format!("hunk {line:?} before the start"))?;
        if f.get(at..at + want.len()) != Some(&want[..]) {
            return Err(format!("hunk {line:?} does not apply to {UAPI}"));
        }
        f.splice(at..at + want.len(), put.iter().cloned());
        delta += put.len() as isize - want.len() as isize;
    }
    Ok(file.map(|f| f.iter().map(|l| format!("{l}\n")).collect()))
}

/// The UAPI header as the patches (in order) leave it, and the patches
/// that made it; None when no patch adds it.
fn header_from_patches(patches: &[(String, String)]) -> Result<Option<(String, String)>, String> {
    let mut cur: Option<String> = None;
    let mut from: Vec<&str> = Vec::new();
    for (name, text) in patches {
        let next = apply_to_header(text, cur.clone()).map_err(|e| format!("{name}: {e}"))?;
        if next != cur {
            from.push(name);
        }
        cur = next;
    }
    Ok(cur.map(|h| (h, from.join(" + "))))
}

fn find_header() -> Option<(String, String)> {
    if let Ok(p) = std::env::var("CKPT_UAPI_HEADER") {
        let t = std::fs::read_to_string(&p).expect("read CKPT_UAPI_HEADER");
        return Some((t, p));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    let patches: Vec<(String, String)> = paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
        .collect();
    header_from_patches(&patches).unwrap_or_else(|e| panic!("rebuilding {UAPI}: {e}"))
}

fn c_values(header: &str) -> BTreeMap<String, i128> {
    let tmp = std::env::temp_dir().join(format!("ckpt-drift-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("linux")).unwrap();
    std::fs::write(tmp.join("linux/checkpoint.h"), header).unwrap();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/checkpoint.h>\n\
         #define S(t) printf(\"sizeof %s %lld\\n\", #t, (long long)sizeof(struct t));\n\
         #define O(t, f) printf(\"offsetof %s.%s %lld\\n\", #t, #f, (long long)offsetof(struct t, f));\n\
         #define C(c) printf(\"const %s %lld\\n\", #c, (long long)(c));\n\
         #define U(c) printf(\"const %s %llu\\n\", #c, (unsigned long long)(c));\n\
         int main(void) {\n",
    );
    for (k, _) in rust_values() {
        let (kind, rest) = k.split_once(' ').unwrap();
        match kind {
            "sizeof" => c += &format!("S({rest})\n"),
            "offsetof" => {
                let (t, f) = rest.split_once('.').unwrap();
                c += &format!("O({t}, {f})\n");
            }
            "const" if rest.starts_with("CKPT_MAGIC") => c += &format!("U({rest})\n"),
            "const" => c += &format!("C({rest})\n"),
            _ => unreachable!(),
        }
    }
    c += "return 0; }\n";
    std::fs::write(tmp.join("d.c"), c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Werror", "-I"])
        .arg(&tmp)
        .arg("-o")
        .arg(tmp.join("d"))
        .arg(tmp.join("d.c"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(tmp.join("d")).output().unwrap();
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&tmp);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse::<i128>().unwrap())
        })
        .collect()
}

fn rust_values() -> Vec<(String, i128)> {
    let mut v: Vec<(String, i128)> = Vec::new();
    let mut s = |k: &str, x: i128| v.push((k.to_string(), x));
    s("sizeof ckpt_hdr", SIZE_HDR as i128);
    s("sizeof ckpt_hdr_header", SIZE_HEADER as i128);
    s("sizeof ckpt_hdr_tail", SIZE_TAIL as i128);
    s("sizeof ckpt_hdr_objref", SIZE_OBJREF as i128);
    s("sizeof ckpt_hdr_file_table", SIZE_FILE_TABLE as i128);
    s("sizeof ckpt_hdr_file_desc", SIZE_FILE_DESC as i128);
    s("sizeof ckpt_hdr_file", SIZE_FILE as i128);
    s("sizeof ckpt_hdr_file_fs", SIZE_FILE_FS as i128);
    s("sizeof ckpt_hdr_fs", SIZE_FS as i128);
    s("sizeof ckpt_hdr_error", SIZE_ERROR as i128);
    s("offsetof ckpt_hdr.type", HDR_TYPE as i128);
    s("offsetof ckpt_hdr.len", HDR_LEN as i128);
    s("offsetof ckpt_hdr_header.magic", HEADER_MAGIC as i128);
    s("offsetof ckpt_hdr_header.version", HEADER_VERSION as i128);
    s("offsetof ckpt_hdr_header.arch", HEADER_ARCH as i128);
    s("offsetof ckpt_hdr_header.uflags", HEADER_UFLAGS as i128);
    s("offsetof ckpt_hdr_header.crid", HEADER_CRID as i128);
    s("offsetof ckpt_hdr_header.time", HEADER_TIME as i128);
    s("offsetof ckpt_hdr_header.pid", HEADER_PID as i128);
    s("offsetof ckpt_hdr_header.reserved", HEADER_RESERVED as i128);
    s("offsetof ckpt_hdr_header.release", HEADER_RELEASE as i128);
    s("offsetof ckpt_hdr_tail.magic", TAIL_MAGIC as i128);
    s("offsetof ckpt_hdr_tail.crc32c", TAIL_CRC32C as i128);
    s("offsetof ckpt_hdr_tail.nr_records", TAIL_NR_RECORDS as i128);
    s("offsetof ckpt_hdr_objref.objtype", OBJREF_OBJTYPE as i128);
    s("offsetof ckpt_hdr_objref.objref", OBJREF_OBJREF as i128);
    s(
        "offsetof ckpt_hdr_file_table.nr_fds",
        FILE_TABLE_NR_FDS as i128,
    );
    s(
        "offsetof ckpt_hdr_file_table.reserved",
        FILE_TABLE_RESERVED as i128,
    );
    s(
        "offsetof ckpt_hdr_file_desc.fd_objref",
        FILE_DESC_FD_OBJREF as i128,
    );
    s("offsetof ckpt_hdr_file_desc.fd", FILE_DESC_FD as i128);
    s(
        "offsetof ckpt_hdr_file_desc.close_on_exec",
        FILE_DESC_CLOSE_ON_EXEC as i128,
    );
    s(
        "offsetof ckpt_hdr_file_desc.reserved",
        FILE_DESC_RESERVED as i128,
    );
    s("offsetof ckpt_hdr_file.f_type", FILE_F_TYPE as i128);
    s("offsetof ckpt_hdr_file.f_mode", FILE_F_MODE as i128);
    s("offsetof ckpt_hdr_file.f_flags", FILE_F_FLAGS as i128);
    s("offsetof ckpt_hdr_file.i_mode", FILE_I_MODE as i128);
    s("offsetof ckpt_hdr_file.f_pos", FILE_F_POS as i128);
    s("offsetof ckpt_hdr_file_fs.fs_name", FILE_FS_FS_NAME as i128);
    s(
        "offsetof ckpt_hdr_file_fs.fs_version",
        FILE_FS_FS_VERSION as i128,
    );
    s(
        "offsetof ckpt_hdr_file_fs.data_len",
        FILE_FS_DATA_LEN as i128,
    );
    s("sizeof ckpt_hdr_sb", SIZE_SB as i128);
    s("sizeof ckpt_hdr_sb_rec", SIZE_SB_REC as i128);
    s("sizeof ckpt_hdr_sb_data", SIZE_SB_DATA as i128);
    s("sizeof ckpt_hdr_sb_end", SIZE_SB_END as i128);
    s("sizeof ckpt_hdr_file_inode", SIZE_FILE_INODE as i128);
    s(
        "offsetof ckpt_hdr_file_inode.sb_id",
        FILE_INODE_SB_ID as i128,
    );
    s(
        "offsetof ckpt_hdr_file_inode.reserved",
        FILE_INODE_RESERVED as i128,
    );
    s("offsetof ckpt_hdr_file_inode.ino", FILE_INODE_INO as i128);
    s("offsetof ckpt_hdr_sb.sb_id", SB_SB_ID as i128);
    s("offsetof ckpt_hdr_sb.fs_version", SB_FS_VERSION as i128);
    s("offsetof ckpt_hdr_sb.fs_name", SB_FS_NAME as i128);
    s("offsetof ckpt_hdr_sb.reserved", SB_RESERVED as i128);
    s("offsetof ckpt_hdr_sb_rec.kind", SB_REC_KIND as i128);
    s("offsetof ckpt_hdr_sb_rec.data_len", SB_REC_DATA_LEN as i128);
    s("offsetof ckpt_hdr_sb_data.offset", SB_DATA_OFFSET as i128);
    s(
        "offsetof ckpt_hdr_sb_data.data_len",
        SB_DATA_DATA_LEN as i128,
    );
    s("offsetof ckpt_hdr_sb_data.crc32c", SB_DATA_CRC32C as i128);
    s("offsetof ckpt_hdr_sb_end.sb_id", SB_END_SB_ID as i128);
    s(
        "offsetof ckpt_hdr_sb_end.nr_records",
        SB_END_NR_RECORDS as i128,
    );
    s(
        "offsetof ckpt_hdr_sb_end.data_bytes",
        SB_END_DATA_BYTES as i128,
    );
    s("offsetof ckpt_hdr_fs.umask", FS_UMASK as i128);
    s("offsetof ckpt_hdr_fs.reserved", FS_RESERVED as i128);
    s("offsetof ckpt_hdr_error.err", ERROR_ERR as i128);
    s("offsetof ckpt_hdr_error.fd", ERROR_FD as i128);
    s(
        "const CHECKPOINT_SKIP_UNSUPPORTED",
        CHECKPOINT_SKIP_UNSUPPORTED as i128,
    );
    s("const CHECKPOINT_CONTENTS", CHECKPOINT_CONTENTS as i128);
    s("const CHECKPOINT_USER_FLAGS", CHECKPOINT_USER_FLAGS as i128);
    s("const RESTART_DRY_RUN", RESTART_DRY_RUN as i128);
    s("const RESTART_CONTENTS", RESTART_CONTENTS as i128);
    s("const RESTART_USER_FLAGS", RESTART_USER_FLAGS as i128);
    s("const CHECKPOINT_FD_NONE", CHECKPOINT_FD_NONE as i128);
    s("const CKPT_MAGIC_HEAD", CKPT_MAGIC_HEAD as i128);
    s("const CKPT_MAGIC_TAIL", CKPT_MAGIC_TAIL as i128);
    s("const CKPT_VERSION", CKPT_VERSION as i128);
    s("const CKPT_NAME_MAX", CKPT_NAME_MAX as i128);
    s("const CKPT_FILE_FS_MAX", CKPT_FILE_FS_MAX as i128);
    s("const CKPT_SB_REC_MAX", CKPT_SB_REC_MAX as i128);
    s("const CKPT_SB_DATA_MAX", CKPT_SB_DATA_MAX as i128);
    s("const CKPT_ARCH_X86_64", CKPT_ARCH_X86_64 as i128);
    s("const CKPT_HDR_HEADER", CKPT_HDR_HEADER as i128);
    s("const CKPT_HDR_OBJREF", CKPT_HDR_OBJREF as i128);
    s("const CKPT_HDR_FILE_TABLE", CKPT_HDR_FILE_TABLE as i128);
    s("const CKPT_HDR_FILE_DESC", CKPT_HDR_FILE_DESC as i128);
    s("const CKPT_HDR_FILE_NAME", CKPT_HDR_FILE_NAME as i128);
    s("const CKPT_HDR_FILE", CKPT_HDR_FILE as i128);
    s("const CKPT_HDR_FILE_FS", CKPT_HDR_FILE_FS as i128);
    s("const CKPT_HDR_SB", CKPT_HDR_SB as i128);
    s("const CKPT_HDR_SB_REC", CKPT_HDR_SB_REC as i128);
    s("const CKPT_HDR_SB_DATA", CKPT_HDR_SB_DATA as i128);
    s("const CKPT_HDR_SB_END", CKPT_HDR_SB_END as i128);
    s("const CKPT_HDR_FILE_INODE", CKPT_HDR_FILE_INODE as i128);
    s("const CKPT_HDR_FS", CKPT_HDR_FS as i128);
    s("const CKPT_HDR_TAIL", CKPT_HDR_TAIL as i128);
    s("const CKPT_HDR_ERROR", CKPT_HDR_ERROR as i128);
    s("const CKPT_OBJ_FILE", CKPT_OBJ_FILE as i128);
    s("const CKPT_FILE_GENERIC", CKPT_FILE_GENERIC as i128);
    s("const CKPT_FILE_SAVED", CKPT_FILE_SAVED as i128);
    v
}

/// Field sizes: the Rust encoder must write exactly sizeof(struct) bytes for
/// each fixed record (checked via encoded_len against the C sizes above), and
/// the release field must be the rest of the header.
/// CKPT_IMAGE_MAX is the kernel's limit, not the format's: it is defined in
/// fs/checkpoint/internal.h, not in the uapi header, and the library's
/// mirror must match it.
#[test]
fn image_max_matches_the_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        println!("SKIP: no patches/");
        return;
    };
    let mut defs = Vec::new();
    for e in rd.flatten() {
        let t = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut file = String::new();
        for l in t.lines() {
            if let Some(f) = l.strip_prefix("+++ b/") {
                file = f.to_string();
            } else if let Some(d) = l.strip_prefix("+#define CKPT_IMAGE_MAX") {
                defs.push((file.clone(), d.trim().to_string()));
            }
        }
    }
    defs.sort();
    defs.dedup();
    assert_eq!(
        defs.len(),
        1,
        "#define CKPT_IMAGE_MAX in patches/: {defs:?}"
    );
    assert_eq!(defs[0].0, "fs/checkpoint/internal.h");
    let v = defs[0].1.trim_matches(['(', ')']);
    let (a, b) = v.split_once("<<").expect("CKPT_IMAGE_MAX is (A << B)");
    let n: usize = a.trim().parse::<usize>().unwrap() << b.trim().parse::<u32>().unwrap();
    assert_eq!(n, CKPT_IMAGE_MAX);
}

#[test]
fn drift_against_uapi_header() {
    let Some((header, from)) = find_header() else {
        // The series adds the header in its first patch; once patches/ holds
        // a series, a missing header is drift too.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patches/series");
        assert!(
            !dir.exists(),
            "patches/series exists but no patch in patches/ adds {UAPI}"
        );
        println!(
            "SKIP drift test: no patch in patches/ adds {UAPI} yet \
             (set CKPT_UAPI_HEADER=/path/to/checkpoint.h to run it)"
        );
        return;
    };
    println!("drift: header from {from}");
    let c = c_values(&header);
    let mut bad = Vec::new();
    for (k, r) in rust_values() {
        match c.get(&k) {
            Some(cv) if *cv == r => {}
            Some(cv) => bad.push(format!("{k}: C {cv}, Rust {r}")),
            None => bad.push(format!("{k}: missing from C output")),
        }
    }
    assert_eq!(SIZE_HEADER - HEADER_RELEASE, RELEASE_LEN);
    // fs_name is what lies between its offset and fs_version's (FILE_FS)
    // or reserved's (SB)
    assert_eq!(FILE_FS_FS_VERSION - FILE_FS_FS_NAME, FILE_FS_NAME_LEN);
    assert_eq!(SB_RESERVED - SB_FS_NAME, FILE_FS_NAME_LEN);
    assert!(bad.is_empty(), "uapi drift ({from}):\n{}", bad.join("\n"));
    // the record types the header's enum lists must be exactly those we know
    let enum_types: Vec<&str> = header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CKPT_HDR_"))
        .map(|l| l.split([' ', '=', '\t']).next().unwrap())
        .collect();
    let ours = [
        "HEADER",
        "OBJREF",
        "FILE_TABLE",
        "FILE_DESC",
        "FILE_NAME",
        "FILE",
        "FILE_FS",
        "SB",
        "SB_REC",
        "SB_DATA",
        "SB_END",
        "FILE_INODE",
        "FS",
        "TAIL",
        "ERROR",
    ];
    assert_eq!(enum_types, ours, "record types in {from}");
}

#[test]
fn rust_encoding_matches_sizes() {
    let fixed = [
        (Record::Header(Header::new(1, 1, "")), SIZE_HEADER),
        (
            Record::Objref(Objref {
                objtype: 1,
                objref: 1,
            }),
            SIZE_OBJREF,
        ),
        (
            Record::FileTable(FileTable {
                nr_fds: 0,
                reserved: 0,
            }),
            SIZE_FILE_TABLE,
        ),
        (
            Record::FileDesc(FileDesc {
                fd_objref: 1,
                fd: 0,
                close_on_exec: 0,
                reserved: 0,
            }),
            SIZE_FILE_DESC,
        ),
        (
            Record::File(File {
                f_type: 1,
                f_mode: 1,
                f_flags: 0,
                i_mode: 0,
                f_pos: 0,
            }),
            SIZE_FILE,
        ),
        (
            Record::Fs(Fs {
                umask: 0,
                reserved: 0,
            }),
            SIZE_FS,
        ),
        (
            Record::Tail(Tail {
                magic: 0,
                crc32c: 0,
                nr_records: 0,
            }),
            SIZE_TAIL,
        ),
    ];
    for (r, sz) in fixed {
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(b.len(), sz, "{}", type_name(r.rtype()));
    }
    // FILE_FS: the fixed part, then the data padded to 8
    for (n, sz) in [
        (0, SIZE_FILE_FS),
        (1, SIZE_FILE_FS + 8),
        (256, SIZE_FILE_FS + 256),
    ] {
        let r = Record::FileFs(FileFs {
            fs_name: b"ramfs".to_vec(),
            fs_version: 1,
            data: vec![1; n],
        });
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(b.len(), sz, "FILE_FS of {n} bytes");
        assert_eq!(&b[offsets::FILE_FS_FS_NAME..][..6], b"ramfs\0");
        assert_eq!(
            b[offsets::FILE_FS_DATA_LEN..][..4],
            (n as u32).to_le_bytes()
        );
    }
}

#[test]
fn patch_extraction() {
    let p = "From x\nSubject: y\n---\ndiff --git a/include/uapi/linux/checkpoint.h b/include/uapi/linux/checkpoint.h\nnew file mode 100644\n--- /dev/null\n+++ b/include/uapi/linux/checkpoint.h\n@@ -0,0 +1,3 @@\n+#ifndef A\n+#define A 1\n+#endif\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n+nope\n-- \n2.39\n";
    assert_eq!(
        apply_to_header(p, None).unwrap().unwrap(),
        "#ifndef A\n#define A 1\n#endif\n"
    );
    assert_eq!(
        apply_to_header("diff --git a/x b/x\n+++ b/x\n+a\n", None).unwrap(),
        None
    );
    // a later patch changes it: two hunks, the second after the first moved lines
    let q = "Subject: z\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\ndiff --git a/include/uapi/linux/checkpoint.h b/include/uapi/linux/checkpoint.h\nindex 1..2 100644\n--- a/include/uapi/linux/checkpoint.h\n+++ b/include/uapi/linux/checkpoint.h\n@@ -1,2 +1,3 @@\n #ifndef A\n+#define B 2\n #define A 1\n@@ -3 +4,2 @@\n-#endif\n+#define C 3\n+#endif /* A */\n-- \n2.39\n";
    let patches = [
        ("1.patch".to_string(), p.to_string()),
        ("2.patch".to_string(), q.to_string()),
    ];
    let (h, from) = header_from_patches(&patches).unwrap().unwrap();
    assert_eq!(
        h,
        "#ifndef A\n#define B 2\n#define A 1\n#define C 3\n#endif /* A */\n"
    );
    assert_eq!(from, "1.patch + 2.patch");
    // a hunk that does not match, or a change before the file exists
    let bad = q.replace(" #define A 1", " #define A 9");
    let patches = [
        ("1.patch".to_string(), p.to_string()),
        ("2.patch".to_string(), bad),
    ];
    let e = header_from_patches(&patches).unwrap_err();
    assert!(
        e.starts_with("2.patch: hunk \"@@ -1,2 +1,3 @@\" does not apply"),
        "{e}"
    );
    assert!(apply_to_header(q, None).is_err());
    assert!(header_from_patches(&[]).unwrap().is_none());
}
