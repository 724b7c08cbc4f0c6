//! `ckpt inspect`: print every record of an image and the checksum verdict,
//! then the tree of every superblock the image holds, as `tar tv` lists an
//! archive; or only the manifest of one superblock (`--manifest`).

use ckpt_image::ramfs::{self, Kind, Node, Tree};
use ckpt_image::*;
use std::fmt::Write as _;
use std::process::ExitCode;

fn open_flags(f: u32) -> String {
    let f = f as i32;
    let mut v = vec![match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE?",
    }
    .to_string()];
    let names = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_DIRECT, "O_DIRECT"),
        (0o100000, "O_LARGEFILE"), // kernel value (glibc: 0 on x86_64)
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NOATIME, "O_NOATIME"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        (0o4000000 & !libc::O_DSYNC, "__O_SYNC"),
    ];
    let mut rest = f & !libc::O_ACCMODE;
    for (bit, n) in names {
        if bit != 0 && rest & bit == bit {
            v.push(n.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        v.push(format!("{rest:#o}"));
    }
    v.join("|")
}

fn mode_str(m: u32) -> String {
    let t = match m & libc::S_IFMT {
        libc::S_IFREG => "reg",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "lnk",
        libc::S_IFCHR => "chr",
        libc::S_IFBLK => "blk",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "sock",
        _ => "?",
    };
    format!("{t} {:04o}", m & 0o7777)
}

fn fmode_str(m: u32) -> &'static str {
    match m {
        0 => "-",
        1 => "r",
        2 => "w",
        3 => "rw",
        _ => "?",
    }
}

fn esc(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(s);
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(2 * b.len()), |mut o, c| {
            let _ = write!(o, "{c:02x}");
            o
        })
}

/// The JSON object of a FILE_FS record: `{"name", "version", "data_len",
/// "data"}`, the data in hex.
fn fs_json(f: &FileFs) -> String {
    format!(
        "{{\"name\":\"{}\",\"version\":{},\"data_len\":{},\"data\":\"{}\"}}",
        esc(&f.fs_name),
        f.fs_version,
        f.data.len(),
        hex(&f.data)
    )
}

/// Bytes of an SB_REC's data the text listing shows (JSON shows them all).
const SB_REC_TEXT_MAX: usize = 96;

/// (text, json) description of a record's fields.
fn fields(r: &Record) -> (String, String) {
    match r {
        Record::Header(h) => (
            format!(
                "magic={:#018x} version={} arch={} uflags={:#x} crid={} time={} pid={} reserved={} release=\"{}\"",
                h.magic, h.version, h.arch, h.uflags, h.crid, h.time, h.pid, h.reserved, h.release_str()
            ),
            format!(
                "\"magic\":{},\"version\":{},\"arch\":{},\"uflags\":{},\"crid\":{},\"time\":{},\"pid\":{},\"reserved\":{},\"release\":\"{}\"",
                h.magic, h.version, h.arch, h.uflags, h.crid, h.time, h.pid, h.reserved, esc(h.release_str().as_bytes())
            ),
        ),
        Record::Sb(b) => (
            format!(
                "sb_id={} fs_name=\"{}\" fs_version={} reserved={}",
                b.sb_id,
                esc(&b.fs_name),
                b.fs_version,
                b.reserved
            ),
            format!(
                "\"sb_id\":{},\"fs_name\":\"{}\",\"fs_version\":{},\"reserved\":{}",
                b.sb_id,
                esc(&b.fs_name),
                b.fs_version,
                b.reserved
            ),
        ),
        Record::SbRec(r) => (
            format!(
                "kind={} data_len={} data={}",
                r.kind,
                r.data.len(),
                match r.data.len() {
                    0 => "-".to_string(),
                    n if n > SB_REC_TEXT_MAX => format!(
                        "{}... (+{} bytes)",
                        hex(&r.data[..SB_REC_TEXT_MAX]),
                        n - SB_REC_TEXT_MAX
                    ),
                    _ => hex(&r.data),
                }
            ),
            format!(
                "\"kind\":{},\"data_len\":{},\"data\":\"{}\"",
                r.kind,
                r.data.len(),
                hex(&r.data)
            ),
        ),
        Record::SbData(d) => (
            format!(
                "offset={} data_len={} crc32c={:#010x}",
                d.offset,
                d.data.len(),
                d.crc32c
            ),
            format!(
                "\"offset\":{},\"data_len\":{},\"crc32c\":{}",
                d.offset,
                d.data.len(),
                d.crc32c
            ),
        ),
        Record::FileInode(i) => (
            format!("sb_id={} ino={}", i.sb_id, i.ino),
            format!("\"sb_id\":{},\"ino\":{}", i.sb_id, i.ino),
        ),
        Record::SbEnd(e) => (
            format!(
                "sb_id={} nr_records={} data_bytes={}",
                e.sb_id, e.nr_records, e.data_bytes
            ),
            format!(
                "\"sb_id\":{},\"nr_records\":{},\"data_bytes\":{}",
                e.sb_id, e.nr_records, e.data_bytes
            ),
        ),
        Record::Fs(f) => (
            format!("umask={:04o} reserved={}", f.umask, f.reserved),
            format!("\"umask\":{},\"reserved\":{}", f.umask, f.reserved),
        ),
        Record::FileName(n) => {
            (format!("\"{}\"", esc(n)), format!("\"name\":\"{}\"", esc(n)))
        }
        Record::FileTable(t) => (
            format!("nr_fds={} reserved={}", t.nr_fds, t.reserved),
            format!("\"nr_fds\":{},\"reserved\":{}", t.nr_fds, t.reserved),
        ),
        Record::Objref(o) => (
            format!("objtype={} objref={}", o.objtype, o.objref),
            format!("\"objtype\":{},\"objref\":{}", o.objtype, o.objref),
        ),
        Record::File(f) => (
            format!(
                "f_type={} f_mode={} ({}) f_flags={:#o} ({}) i_mode={:#o} ({}) f_pos={}",
                f.f_type,
                f.f_mode,
                fmode_str(f.f_mode),
                f.f_flags,
                open_flags(f.f_flags),
                f.i_mode,
                mode_str(f.i_mode),
                f.f_pos
            ),
            format!(
                "\"f_type\":{},\"f_mode\":{},\"f_flags\":{},\"f_flags_names\":\"{}\",\"i_mode\":{},\"f_pos\":{}",
                f.f_type,
                f.f_mode,
                f.f_flags,
                open_flags(f.f_flags),
                f.i_mode,
                f.f_pos
            ),
        ),
        Record::FileFs(f) => (
            format!(
                "fs_name=\"{}\" fs_version={} data_len={} data={}",
                esc(&f.fs_name),
                f.fs_version,
                f.data.len(),
                if f.data.is_empty() {
                    "-".to_string()
                } else {
                    hex(&f.data)
                }
            ),
            format!("\"fs\":{}", fs_json(f)),
        ),
        Record::FileDesc(d) => (
            format!(
                "fd={} objref={} close_on_exec={} reserved={}",
                d.fd, d.fd_objref, d.close_on_exec, d.reserved
            ),
            format!(
                "\"fd\":{},\"fd_objref\":{},\"close_on_exec\":{},\"reserved\":{}",
                d.fd, d.fd_objref, d.close_on_exec, d.reserved
            ),
        ),
        Record::Tail(t) => (
            format!("magic={:#018x} crc32c={:#010x} nr_records={}", t.magic, t.crc32c, t.nr_records),
            format!("\"magic\":{},\"crc32c\":{},\"nr_records\":{}", t.magic, t.crc32c, t.nr_records),
        ),
        Record::Error(e) => (
            format!(
                "err={} ({}) fd={} msg=\"{}\"",
                e.err,
                syscalls::errno_name(-e.err),
                e.fd,
                esc(&e.msg)
            ),
            format!(
                "\"err\":{},\"errno\":\"{}\",\"fd\":{},\"msg\":\"{}\"",
                e.err,
                syscalls::errno_name(-e.err),
                e.fd,
                esc(&e.msg)
            ),
        ),
    }
}

/// `ls -l`'s mode string: "drwxr-xr-x", "-rwsr-xr-x", ...
pub fn mode_string(mode: u32) -> String {
    let t = match Kind::of(mode) {
        Some(Kind::Dir) => 'd',
        Some(Kind::Reg) => '-',
        Some(Kind::Symlink) => 'l',
        Some(Kind::Chr) => 'c',
        Some(Kind::Blk) => 'b',
        Some(Kind::Fifo) => 'p',
        Some(Kind::Sock) => 's',
        None => '?',
    };
    let mut o = String::from(t);
    for (shift, special, set, unset) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let b = mode >> shift;
        o.push(if b & 4 != 0 { 'r' } else { '-' });
        o.push(if b & 2 != 0 { 'w' } else { '-' });
        o.push(match (b & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    o
}

/// "YYYY-MM-DD HH:MM:SS" of `sec` seconds since the epoch, in UTC.
pub fn utc(sec: i64) -> String {
    let (days, rem) = (sec.div_euclid(86400), sec.rem_euclid(86400));
    // days to a civil date (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The listing line of `n` named `name`, with `tail` after the name.
fn list_line(n: &Node, name: &str, tail: &str) -> String {
    let i = &n.inode;
    let size = match n.kind() {
        Kind::Chr | Kind::Blk => format!("{},{}", i.rdev_major, i.rdev_minor),
        _ => i.size.to_string(),
    };
    format!(
        "{} {:<11} {size:>10} {} {name}{tail}",
        mode_string(i.mode),
        format!("{}/{}", i.uid, i.gid),
        utc(i.mtime.sec)
    )
}

/// A tree as `tar tv` lists an archive: the named paths in image order
/// (a further name of an inode: "link to" its first path; a symlink:
/// "-> target"), then the unlinked inodes as "(unlinked #ID)".
pub fn listing(t: &Tree) -> Vec<String> {
    let mut first: std::collections::HashMap<u64, Vec<u8>> = Default::default();
    let mut out = Vec::new();
    for w in t.walk() {
        let n = t.node(w.ino).expect("decoded");
        let tail = match first.get(&w.ino) {
            Some(p) => format!(" link to {}", ramfs::escape(p)),
            None if n.kind() == Kind::Symlink => format!(" -> {}", ramfs::escape(&n.data())),
            None => String::new(),
        };
        out.push(list_line(n, &ramfs::escape(&w.path), &tail));
        first.entry(w.ino).or_insert(w.path);
    }
    for &id in &t.orphans {
        let n = t.node(id).expect("decoded");
        out.push(list_line(n, &format!("(unlinked #{id})"), ""));
    }
    out
}

fn node_json(n: &Node) -> String {
    let i = &n.inode;
    let t = |t: ramfs::Time| format!("{{\"sec\":{},\"nsec\":{}}}", t.sec, t.nsec);
    format!(
        "\"ino\":{},\"type\":\"{}\",\"mode\":{},\"nlink\":{},\"uid\":{},\"gid\":{},\"size\":{},\"rdev\":{},\"atime\":{},\"mtime\":{},\"ctime\":{},\"data_bytes\":{},\"crc32c\":{},\"target\":{}",
        i.ino,
        n.kind().name(),
        i.mode,
        i.nlink,
        i.uid,
        i.gid,
        i.size,
        match n.kind() {
            Kind::Chr | Kind::Blk => format!("[{},{}]", i.rdev_major, i.rdev_minor),
            _ => "null".into(),
        },
        t(i.atime),
        t(i.mtime),
        t(i.ctime),
        n.data_bytes(),
        if n.kind() == Kind::Reg {
            n.data_crc32c().to_string()
        } else {
            "null".into()
        },
        if n.kind() == Kind::Symlink {
            format!("\"{}\"", esc(&n.data()))
        } else {
            "null".into()
        }
    )
}

/// The JSON object of a superblock section: its SB fields, `tree` (one
/// object per path, in image order, `link_to` the first path of the inode
/// for a further name) and `unlinked`.
fn tree_json(sec: &SbSection, t: &Tree) -> String {
    let mut first: std::collections::HashMap<u64, Vec<u8>> = Default::default();
    let paths: Vec<String> = t
        .walk()
        .into_iter()
        .map(|w| {
            let n = t.node(w.ino).expect("decoded");
            let link = first
                .get(&w.ino)
                .map_or("null".to_string(), |p| format!("\"{}\"", esc(p)));
            let s = format!(
                "{{\"path\":\"{}\",\"link_to\":{link},{}}}",
                esc(&w.path),
                node_json(n)
            );
            first.entry(w.ino).or_insert(w.path);
            s
        })
        .collect();
    let unlinked: Vec<String> = t
        .orphans
        .iter()
        .map(|&id| format!("{{{}}}", node_json(t.node(id).expect("decoded"))))
        .collect();
    format!(
        "{{\"sb_id\":{},\"fs_name\":\"{}\",\"fs_version\":{},\"mount\":\"{}\",\"root\":{},\"tree\":[{}],\"unlinked\":[{}]}}",
        sec.sb_id,
        esc(&sec.fs_name),
        sec.fs_version,
        esc(&sec.mount),
        t.root,
        paths.join(","),
        unlinked.join(",")
    )
}

fn rec_len(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap())
}

/// `ckpt inspect --manifest`: the manifest of superblock `sb` (or of the
/// only one).
pub fn manifest(file: &str, buf: &[u8], sb: Option<u32>) -> ExitCode {
    let img = match decode(buf) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ckpt: {file}: bad image: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sec = match (sb, img.sbs.len()) {
        (None, 1) => &img.sbs[0],
        (None, 0) => {
            eprintln!("ckpt: {file}: no superblock saved (taken without --contents)");
            return ExitCode::FAILURE;
        }
        (None, n) => {
            eprintln!("ckpt: {file}: {n} superblocks saved: choose one with --sb N");
            return ExitCode::FAILURE;
        }
        (Some(id), _) => match img.sbs.iter().find(|s| s.sb_id == id) {
            Some(s) => s,
            None => {
                eprintln!("ckpt: {file}: no superblock {id} in the image");
                return ExitCode::FAILURE;
            }
        },
    };
    match Tree::decode(sec) {
        Ok(t) => {
            print!("{}", manifest::image_manifest(&t));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ckpt: {file}: bad contents: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(file: &str, buf: &[u8], json: bool) -> ExitCode {
    let s = scan(buf);
    // checksum verdict
    let tail = s.records.iter().find_map(|(o, r)| match r {
        Record::Tail(t) => Some((*o, t.clone())),
        _ => None,
    });
    let (crc_ok, crc_text) = match (&tail, s.computed_crc) {
        (Some((_, t)), Some(c)) if t.crc32c == c => (Some(true), format!("crc32c ok ({c:#010x})")),
        (Some((_, t)), Some(c)) => (
            Some(false),
            format!(
                "crc32c BAD: tail says {:#010x}, computed {c:#010x}",
                t.crc32c
            ),
        ),
        (Some((o, t)), None) => {
            let c = crc32c(&buf[..*o]);
            if c == t.crc32c {
                (Some(true), format!("crc32c ok ({c:#010x})"))
            } else {
                (
                    Some(false),
                    format!(
                        "crc32c BAD: tail says {:#010x}, computed {c:#010x}",
                        t.crc32c
                    ),
                )
            }
        }
        (None, _) => (None, "crc32c not checked: no TAIL record".to_string()),
    };
    let err_text = s.result.as_ref().err().map(|e| {
        let t = s
            .records
            .iter()
            .find(|(o, _)| *o == e.offset())
            .map(|(_, r)| type_name(r.rtype()));
        let t = t.or_else(|| {
            (buf.len() >= e.offset() + 8).then(|| {
                type_name(u32::from_le_bytes(
                    buf[e.offset()..e.offset() + 4].try_into().unwrap(),
                ))
            })
        });
        (e, t.unwrap_or("end of image"))
    });
    // the trees of a valid image
    let trees = match &s.result {
        Ok(img) => match ramfs::trees(img) {
            Ok(t) => Some(Ok(img.sbs.iter().zip(t).collect::<Vec<_>>())),
            Err(e) => Some(Err(e)),
        },
        Err(_) => None,
    };
    if json {
        let mut o = String::from("{");
        let _ = write!(
            o,
            "\"file\":\"{}\",\"size\":{},\"records\":[",
            esc(file.as_bytes()),
            buf.len()
        );
        for (i, (off, r)) in s.records.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            // a FILE says which FILE_FS is its own: the one after its FILE_NAME
            let file_fs = match r {
                Record::File(_) => match (s.records.get(i + 1), s.records.get(i + 2)) {
                    (Some((_, Record::FileName(_))), Some((_, Record::FileFs(f)))) => {
                        format!(",\"fs\":{}", fs_json(f))
                    }
                    _ => ",\"fs\":null".to_string(),
                },
                _ => String::new(),
            };
            let _ = write!(
                o,
                "{{\"offset\":{off},\"type\":\"{}\",\"type_id\":{},\"len\":{},{}{file_fs}}}",
                type_name(r.rtype()),
                r.rtype(),
                rec_len(buf, *off),
                fields(r).1
            );
        }
        o.push_str("],");
        match crc_ok {
            Some(b) => {
                let _ = write!(o, "\"crc_ok\":{b},");
            }
            None => o.push_str("\"crc_ok\":null,"),
        }
        match &trees {
            Some(Ok(t)) => {
                let v: Vec<String> = t.iter().map(|(s, t)| tree_json(s, t)).collect();
                let _ = write!(o, "\"sbs\":[{}],\"contents_error\":null,", v.join(","));
            }
            Some(Err(e)) => {
                let _ = write!(
                    o,
                    "\"sbs\":null,\"contents_error\":\"{}\",",
                    esc(e.to_string().as_bytes())
                );
            }
            None => o.push_str("\"sbs\":null,\"contents_error\":null,"),
        }
        match &err_text {
            None => o.push_str("\"valid\":true,\"error\":null}"),
            Some((e, t)) => {
                let _ = write!(
                    o,
                    "\"valid\":false,\"error\":{{\"kind\":\"{}\",\"offset\":{},\"record\":\"{t}\",\"message\":\"{}\"}}}}",
                    e.kind(),
                    e.offset(),
                    esc(e.to_string().as_bytes())
                );
            }
        }
        println!("{o}");
    } else {
        println!("{file}: {} bytes", buf.len());
        println!("{:>8}  {:<10} {:>5}  fields", "offset", "type", "len");
        for (off, r) in &s.records {
            println!(
                "{off:>8}  {:<10} {:>5}  {}",
                type_name(r.rtype()),
                rec_len(buf, *off),
                fields(r).0
            );
        }
        println!("{crc_text}");
        if err_text.is_none() {
            println!("image valid: {} records", s.records.len());
        }
        if let Some(Ok(t)) = &trees {
            for (sec, t) in t {
                println!(
                    "superblock {}: {} (format {}) at \"{}\": {} inodes, {} unlinked",
                    sec.sb_id,
                    esc(&sec.fs_name),
                    sec.fs_version,
                    esc(&sec.mount),
                    t.nodes().len(),
                    t.orphans.len()
                );
                for l in listing(t) {
                    println!("{l}");
                }
            }
        }
    }
    if let Some(Err(e)) = &trees {
        eprintln!("ckpt: {file}: bad contents: {e}");
        return ExitCode::FAILURE;
    }
    match err_text {
        None => ExitCode::SUCCESS,
        Some((e, t)) => {
            eprintln!(
                "ckpt: {file}: bad image: first bad record {t} at offset {}: {e}",
                e.offset()
            );
            ExitCode::FAILURE
        }
    }
}
