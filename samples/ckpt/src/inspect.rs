//! `ckpt inspect`: print every record of an image and the checksum verdict.

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

fn rec_len(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap())
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
