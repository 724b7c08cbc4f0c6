//! Round trips and every corruption kind restart(2) must refuse.

mod common;

use ckpt_image::*;
use common::{off_of, offsets};

fn sample() -> Image {
    let f = |pos: i64, mode: u32, flags: u32, name: &str, objref: i32| FileEntry {
        objref,
        file: File {
            f_type: CKPT_FILE_GENERIC,
            f_mode: mode,
            f_flags: flags,
            i_mode: 0o100644,
            f_pos: pos,
        },
        name: name.as_bytes().to_vec(),
        fs: None,
        inode: None,
    };
    let mut header = Header::new(42, 1234, "6.12.0-test");
    header.time = 1_700_000_000;
    Image {
        header,
        fs: Fs {
            umask: 0o022,
            reserved: 0,
        },
        root: b"/".to_vec(),
        cwd: b"/mnt/ck-1/dir".to_vec(),
        sbs: Vec::new(),
        files: vec![
            f(5, 3, 0o2 | 0o2000, "/mnt/ck-1/a", 1),
            FileEntry {
                objref: 2,
                file: File {
                    f_type: 1,
                    f_mode: 1,
                    f_flags: 0o200000,
                    i_mode: 0o040755,
                    f_pos: 12345,
                },
                name: b"/mnt/ck-1/dir".to_vec(),
                fs: None,
                inode: None,
            },
        ],
        fds: vec![
            FileDesc {
                fd_objref: 1,
                fd: 3,
                close_on_exec: 0,
                reserved: 0,
            },
            FileDesc {
                fd_objref: 2,
                fd: 4,
                close_on_exec: 1,
                reserved: 0,
            },
            FileDesc {
                fd_objref: 1,
                fd: 10,
                close_on_exec: 0,
                reserved: 0,
            },
        ],
        tail: Tail {
            magic: CKPT_MAGIC_TAIL,
            crc32c: 0,
            nr_records: 0,
        },
    }
}

fn good() -> Vec<u8> {
    sample().encode()
}

/// Recompute the tail CRC after an edit, so only the intended error remains.
fn refix(buf: &mut [u8]) {
    let t = buf.len() - SIZE_TAIL;
    let crc = crc32c(&buf[..t]);
    buf[t + 16..t + 20].copy_from_slice(&crc.to_le_bytes());
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn round_trip() {
    let img = sample();
    let buf = img.encode();
    assert_eq!(buf.len() % 8, 0);
    let back = decode(&buf).expect("valid image");
    assert_eq!(back.header, img.header);
    assert_eq!(back.fs, img.fs);
    assert_eq!(back.root, img.root);
    assert_eq!(back.cwd, img.cwd);
    assert_eq!(back.files, img.files);
    assert_eq!(back.fds, img.fds);
    assert_eq!(back.tail.nr_records, 5 + 3 * 2 + 3);
    assert_eq!(back.tail.crc32c, crc32c(&buf[..buf.len() - SIZE_TAIL]));
    // re-encoding the decoded image gives the same bytes
    assert_eq!(back.encode(), buf);
}

#[test]
fn every_record_round_trips() {
    let recs = vec![
        Record::Header(Header::new(7, -1, "x")),
        Record::Objref(Objref {
            objtype: 1,
            objref: -5,
        }),
        Record::FileTable(FileTable {
            nr_fds: 9,
            reserved: 3,
        }),
        Record::FileDesc(FileDesc {
            fd_objref: 1,
            fd: 2,
            close_on_exec: 1,
            reserved: 0,
        }),
        Record::FileName(b"/1234567".to_vec()), // 8 + 8 + NUL -> 24
        Record::FileName(b"/123456".to_vec()),  // exactly 16
        Record::File(File {
            f_type: 1,
            f_mode: 2,
            f_flags: 0x8001,
            i_mode: 0o644,
            f_pos: -1,
        }),
        Record::Fs(Fs {
            umask: 0o77,
            reserved: 0,
        }),
        Record::Tail(Tail {
            magic: CKPT_MAGIC_TAIL,
            crc32c: 0xdeadbeef,
            nr_records: 3,
        }),
        Record::Error(ErrorRec {
            err: -9,
            fd: 5,
            msg: b"f_op lacks checkpoint".to_vec(),
        }),
    ];
    let mut off = 0;
    let buf = encode_records(&recs);
    for r in &recs {
        let (d, len) = Record::decode_at(&buf, off).unwrap();
        assert_eq!(&d, r);
        assert_eq!(len, r.encoded_len());
        assert_eq!(len % 8, 0);
        off += len;
    }
    assert_eq!(off, buf.len());
    assert_eq!(recs[4].encoded_len(), 24);
    assert_eq!(recs[5].encoded_len(), 16);
}

#[test]
fn empty_file_table_is_valid() {
    let mut img = sample();
    img.files.clear();
    img.fds.clear();
    let buf = img.encode();
    let d = decode(&buf).unwrap();
    assert!(d.fds.is_empty());
}

fn expect(buf: &[u8], kind: &str, offset: usize) -> ImageError {
    let e = decode(buf).expect_err("must be refused");
    assert_eq!(e.kind(), kind, "got {e}");
    assert_eq!(e.offset(), offset, "got {e}");
    assert_eq!(
        e.errno(),
        if kind == "ErrorRecord" {
            libc::EIO
        } else {
            libc::EINVAL
        }
    );
    e
}

#[test]
fn bad_magic() {
    let mut b = good();
    b[8] ^= 1;
    refix(&mut b);
    expect(&b, "BadMagic", 0);
    // tail magic
    let mut b = good();
    let t = off_of(&b, CKPT_HDR_TAIL, 0);
    b[t + 8] ^= 0x80;
    expect(&b, "BadMagic", t);
}

#[test]
fn bad_version_and_arch() {
    let mut b = good();
    b[16] = 3;
    refix(&mut b);
    expect(&b, "BadVersion", 0);
    let mut b = good();
    b[18] = 3;
    refix(&mut b);
    expect(&b, "BadArch", 0);
}

#[test]
fn truncated() {
    let b = good();
    // Cut in the middle of every record, and exactly between records.
    for (off, _) in offsets(&b) {
        let e = decode(&b[..off + 4]).unwrap_err();
        assert_eq!(e, ImageError::Truncated { offset: off });
        let e = decode(&b[..off + 12]).unwrap_err();
        assert_eq!(e.kind(), "LenPastEnd");
        assert_eq!(e.offset(), off);
        if off > 0 {
            // Missing records: ends cleanly at a boundary but TAIL is missing.
            assert!(decode(&b[..off]).is_err());
        }
    }
    assert_eq!(
        decode(&[]).unwrap_err(),
        ImageError::Truncated { offset: 0 }
    );
    let t = off_of(&b, CKPT_HDR_TAIL, 0);
    assert_eq!(
        decode(&b[..t]).unwrap_err(),
        ImageError::Truncated { offset: t }
    );
}

#[test]
fn len_past_end() {
    let mut b = good();
    let n = off_of(&b, CKPT_HDR_FILE_NAME, 1);
    put32(&mut b, n + 4, 4096);
    expect(&b, "LenPastEnd", n);
}

#[test]
fn bad_len_and_align() {
    let mut b = good();
    let fd = off_of(&b, CKPT_HDR_FILE_DESC, 0);
    put32(&mut b, fd + 4, 16);
    expect(&b, "BadLen", fd);
    put32(&mut b, fd + 4, 4);
    expect(&b, "BadLen", fd);
    put32(&mut b, fd + 4, 20);
    expect(&b, "BadAlign", fd);
    let mut b = good();
    put32(&mut b, 4, 0x8000_0000);
    expect(&b, "BadLen", 0);
}

#[test]
fn bad_crc() {
    let mut b = good();
    let n = off_of(&b, CKPT_HDR_FILE_NAME, 2);
    b[n + 9] = b'x'; // "/mnt..." -> "/xnt...", still a valid name
    let e = expect(&b, "BadCrc", off_of(&b, CKPT_HDR_TAIL, 0));
    match e {
        ImageError::BadCrc {
            expected, actual, ..
        } => {
            assert_eq!(expected, crc32c(&good()[..b.len() - SIZE_TAIL]));
            assert_eq!(actual, crc32c(&b[..b.len() - SIZE_TAIL]));
        }
        _ => unreachable!(),
    }
    // the CRC field itself
    let mut b = good();
    let l = b.len();
    b[l - 8] ^= 1;
    expect(&b, "BadCrc", l - SIZE_TAIL);
}

#[test]
fn unknown_type() {
    let mut b = good();
    let o = off_of(&b, CKPT_HDR_OBJREF, 1);
    // 311-349: reserved for the rest of file contents
    for t in [311, 349, 300, 350] {
        put32(&mut b, o, t);
        refix(&mut b);
        let e = expect(&b, "UnknownType", o);
        assert_eq!(
            e,
            ImageError::UnknownType {
                rtype: t,
                offset: o
            }
        );
    }
}

#[test]
fn reserved_nonzero() {
    for (t, field_off) in [
        (CKPT_HDR_HEADER, offsets::HEADER_RESERVED),
        (CKPT_HDR_FS, offsets::FS_RESERVED),
        (CKPT_HDR_FILE_TABLE, offsets::FILE_TABLE_RESERVED),
        (CKPT_HDR_FILE_DESC, offsets::FILE_DESC_RESERVED),
    ] {
        let mut b = good();
        let o = off_of(&b, t, 0);
        put32(&mut b, o + field_off, 1);
        refix(&mut b);
        expect(&b, "ReservedNonZero", o);
    }
}

#[test]
fn bad_names() {
    let cases: &[(&[u8], &str)] = &[
        (b"mnt/x", "does not start with '/'"),
        (b"/mnt/../etc/passwd", "has a '..' component"),
        (b"/..", "has a '..' component"),
        (b"/mnt/..", "has a '..' component"),
    ];
    for (name, why) in cases {
        let mut img = sample();
        img.files[0].name = name.to_vec();
        let b = img.encode();
        let n = off_of(&b, CKPT_HDR_FILE_NAME, 2);
        assert_eq!(
            decode(&b).unwrap_err(),
            ImageError::BadName { offset: n, why }
        );
    }
    // "..." and "..x" are ordinary names
    let mut img = sample();
    img.files[0].name = b"/mnt/.../..x/.a".to_vec();
    decode(&img.encode()).unwrap();
    // cwd
    let mut img = sample();
    img.cwd = b"relative".to_vec();
    let b = img.encode();
    expect(&b, "BadName", off_of(&b, CKPT_HDR_FILE_NAME, 1));
    // not NUL padded: garbage after the NUL
    let mut b = good();
    let n = off_of(&b, CKPT_HDR_FILE_NAME, 0); // "/" -> 8 + "/\0" + 6 pad
    b[n + 15] = b'z';
    refix(&mut b);
    expect(&b, "BadName", n);
    // no NUL at all
    let mut b = good();
    for i in 0..8 {
        b[n + 8 + i] = b'/';
    }
    refix(&mut b);
    expect(&b, "BadName", n);
    // too long: 4096 chars + NUL does not fit
    let mut img = sample();
    img.files[0].name = [b"/".as_slice(), &vec![b'a'; 4095]].concat();
    let b = img.encode();
    let n = off_of(&b, CKPT_HDR_FILE_NAME, 2);
    expect(&b, "BadLen", n);
    // longest that fits: 4095 chars + NUL
    let mut img = sample();
    img.files[0].name = [b"/".as_slice(), &vec![b'a'; 4094]].concat();
    decode(&img.encode()).unwrap();
}

#[test]
fn bad_order() {
    // FILE_DESC before the table
    let img = sample();
    let mut recs = img.records();
    recs.swap(4, 5);
    let b = encode_with_tail(&recs);
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_OBJREF, 0));
    // no HEADER first
    let b = encode_with_tail(&recs[1..]);
    expect(&b, "BadOrder", 0);
    // FILE without OBJREF
    let mut recs = img.records();
    recs.remove(5);
    let b = encode_with_tail(&recs);
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_FILE, 0));
    // data after TAIL
    let mut b = good();
    b.extend_from_slice(&good()[..16]);
    expect(&b, "TrailingData", good().len());
}

#[test]
fn bad_objrefs_and_fds() {
    // fd refers to an objref not yet seen
    let mut img = sample();
    img.fds[0].fd_objref = 2;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_OBJREF, 0)); // OBJREF 2 first, not 1
    let mut img = sample();
    img.fds[2].fd_objref = 3;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE_DESC, 2));
    // fds not ascending
    let mut img = sample();
    img.fds[2].fd = 4;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE_DESC, 2));
    let mut img = sample();
    img.fds[0].fd = -1;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE_DESC, 0));
    // close_on_exec not 0/1
    let mut img = sample();
    img.fds[1].close_on_exec = 2;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE_DESC, 1));
    // nr_fds mismatch
    let mut recs = sample().records();
    recs[4] = Record::FileTable(FileTable {
        nr_fds: 2,
        reserved: 0,
    });
    let b = encode_with_tail(&recs);
    expect(&b, "BadCount", off_of(&b, CKPT_HDR_FILE_TABLE, 0));
    // nr_records mismatch
    let mut b = good();
    let t = off_of(&b, CKPT_HDR_TAIL, 0);
    put32(&mut b, t + 20, 1);
    expect(&b, "BadCount", t);
    // f_type reserved value, f_mode bad
    let mut img = sample();
    img.files[0].file.f_type = 3;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE, 0));
    // an unlinked file (type 2) is followed by FILE_INODE, not FILE_NAME
    let mut img = sample();
    img.files[0].file.f_type = CKPT_FILE_SAVED;
    let b = img.encode();
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_FILE_NAME, 2));
    let mut img = sample();
    img.files[1].file.f_mode = 4;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE, 1));
}

#[test]
fn error_record() {
    let img = sample();
    let mut recs = img.records()[..5].to_vec();
    recs.push(Record::Error(ErrorRec {
        err: -libc::EBADF,
        fd: 5,
        msg: b"checkpoint: fd 5 \"/mnt/x\" (ramfs): f_op lacks checkpoint [-EBADF]".to_vec(),
    }));
    let b = encode_records(&recs);
    let e = expect(&b, "ErrorRecord", off_of(&b, CKPT_HDR_ERROR, 0));
    match e {
        ImageError::ErrorRecord { err, fd, msg, .. } => {
            assert_eq!(err, -libc::EBADF);
            assert_eq!(fd, 5);
            assert!(msg.contains("f_op lacks checkpoint"), "{msg}");
        }
        _ => unreachable!(),
    }
    assert_eq!(scan(&b).records.len(), 6);
}

#[test]
fn too_big() {
    // records restart(2) holds, past CKPT_IMAGE_MAX
    let mut b = vec![0u8; CKPT_IMAGE_MAX + 8];
    for r in b.chunks_mut(8) {
        r[..4].copy_from_slice(&CKPT_HDR_FILE_NAME.to_le_bytes());
        r[4..].copy_from_slice(&8u32.to_le_bytes());
    }
    let e = decode(&b).unwrap_err();
    assert_eq!(e.kind(), "TooBig");
    assert_eq!(e.errno(), libc::EFBIG);
    assert_eq!(held_bytes(&b), b.len());
    // zeros: the framing breaks at once, and only that header is held
    let z = vec![0u8; CKPT_IMAGE_MAX + 8];
    assert_eq!(held_bytes(&z), 8);
    assert_ne!(decode(&z).unwrap_err().kind(), "TooBig");
}

#[test]
fn file_data_is_not_held() {
    // 2,000 SB_DATA records of 64 KiB: 125 MiB, held as 48 bytes each
    let mut rec = vec![0u8; SIZE_SB_DATA + CKPT_SB_DATA_MAX];
    rec[..4].copy_from_slice(&CKPT_HDR_SB_DATA.to_le_bytes());
    let len = rec.len() as u32;
    rec[4..8].copy_from_slice(&len.to_le_bytes());
    let b: Vec<u8> = (0..2000).flat_map(|_| rec.clone()).collect();
    assert_eq!(held_bytes(&b), 2000 * 48);
    assert_ne!(decode(&b).unwrap_err().kind(), "TooBig");
}

#[test]
fn errno_names() {
    assert_eq!(syscalls::errno_name(libc::EBADF), "EBADF");
    assert_eq!(syscalls::errno_name(libc::ENOENT), "ENOENT");
    assert_eq!(syscalls::errno_name(9999), "E9999");
}

#[test]
fn kernel_name_rules() {
    for (name, why) in [
        (&b"/mnt/"[..], "ends with '/'"),
        (b"/mnt/./x", "has a '.' component"),
        (b"/mnt//x", "has an empty component"),
        (b"/.", "has a '.' component"),
    ] {
        let mut img = sample();
        img.files[0].name = name.to_vec();
        let b = img.encode();
        let n = off_of(&b, CKPT_HDR_FILE_NAME, 2);
        assert_eq!(
            decode(&b).unwrap_err(),
            ImageError::BadName { offset: n, why },
            "{:?}",
            name
        );
    }
    // non-canonical padding: 8 more NUL bytes than needed
    let img = sample();
    let mut recs = img.records();
    let mut b = encode_records(&recs[..2]);
    let n = b.len();
    b.extend_from_slice(&CKPT_HDR_FILE_NAME.to_le_bytes());
    b.extend_from_slice(&24u32.to_le_bytes());
    b.extend_from_slice(b"/\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    b.extend(encode_records(&recs[3..]));
    append_tail(&mut b, recs.len() as u32);
    expect(&b, "BadName", n);
    recs.clear();
}

/// A named edit of a FILE record.
type FileEdit = (&'static str, Box<dyn Fn(&mut File)>);

#[test]
fn kernel_file_rules() {
    let cases: Vec<FileEdit> = vec![
        ("O_CREAT", Box::new(|f| f.f_flags |= 0o100)),
        ("O_TRUNC", Box::new(|f| f.f_flags |= 0o1000)),
        ("O_PATH", Box::new(|f| f.f_flags |= 0o10000000)),
        ("unknown flag", Box::new(|f| f.f_flags |= 0o40000000)),
        ("accmode 3", Box::new(|f| f.f_flags |= 3)),
        ("f_mode mismatch", Box::new(|f| f.f_mode = 1)),
        ("fifo", Box::new(|f| f.i_mode = 0o010644)),
        ("negative f_pos", Box::new(|f| f.f_pos = -1)),
    ];
    for (what, edit) in cases {
        let mut img = sample();
        edit(&mut img.files[0].file);
        let b = img.encode();
        let e = expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE, 0));
        assert!(e.to_string().contains("file."), "{what}: {e}");
    }
    // umask out of range, release without NUL
    let mut img = sample();
    img.fs.umask = 0o1000;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FS, 0));
    let mut img = sample();
    img.header.release = [b'x'; RELEASE_LEN];
    expect(&img.encode(), "BadField", 0);
    // a new OBJREF must be used by the FILE_DESC right after it
    let img = sample();
    let mut recs = img.records();
    // records: H FS N N FT | O1 F N D(3,1) | O2 F N D(4,2) | D(10,1)
    if let Record::FileDesc(d) = &mut recs[12] {
        assert_eq!(d.fd, 4);
        d.fd_objref = 1;
    } else {
        panic!("layout");
    }
    let b = encode_with_tail(&recs);
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE_DESC, 1));
}

/// A checkpoint that fails early leaves a FILE_TABLE announcing more fds
/// than follow, then an ERROR record: restart(2) says EIO (K1), not the
/// count mismatch, and so must the decoder.
#[test]
fn error_record_wins_over_earlier_problems() {
    let mut recs = sample().records()[..5].to_vec();
    recs[4] = Record::FileTable(FileTable {
        nr_fds: 1000,
        reserved: 0,
    });
    recs.push(Record::Error(ErrorRec {
        err: -libc::EBADF,
        fd: 3,
        msg: b"unlinked".to_vec(),
    }));
    let b = encode_records(&recs);
    let e = decode(&b).unwrap_err();
    assert_eq!(e.kind(), "ErrorRecord", "{e}");
    assert_eq!(e.errno(), libc::EIO);
    assert_eq!(e.offset(), off_of(&b, CKPT_HDR_ERROR, 0));
}

/// Access mode 3 (O_ACCMODE: ioctl only) has f_mode 0 and restores (K2).
#[test]
fn access_mode_three_is_valid() {
    let mut img = sample();
    img.files[0].file.f_flags = (img.files[0].file.f_flags & !3) | 3;
    img.files[0].file.f_mode = 0;
    let b = img.encode();
    decode(&b).expect("access mode 3 with f_mode 0 decodes");
    img.files[0].file.f_mode = 3;
    let b = img.encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_FILE, 0));
}

// ------------------------------------------------------------------ FILE_FS

fn dir_fs() -> FileFs {
    FileFs {
        fs_name: b"ramfs_cr".to_vec(),
        fs_version: 1,
        data: (1..=20).collect(), // 32 + 20 -> len 56, 4 bytes of padding
    }
}

/// `sample()` with a FILE_FS for its directory (objref 2, fd 4):
/// H FS N N FT | O1 F N D(3) | O2 F N FILE_FS D(4) | D(10)
fn sample_fs() -> Image {
    let mut img = sample();
    img.files[1].fs = Some(dir_fs());
    img
}

fn good_fs() -> Vec<u8> {
    sample_fs().encode()
}

#[test]
fn file_fs_round_trip() {
    let img = sample_fs();
    let buf = img.encode();
    let back = decode(&buf).expect("valid image with a FILE_FS");
    assert_eq!(back.files, img.files);
    assert_eq!(back.files[0].fs, None);
    assert_eq!(back.files[1].fs, Some(dir_fs()));
    assert_eq!(back.fds, img.fds);
    assert_eq!(back.tail.nr_records, 5 + 3 * 2 + 1 + 3);
    assert_eq!(back.encode(), buf);
    // where it is and what its bytes are
    let recs = img.records();
    assert_eq!(recs[11], Record::FileName(b"/mnt/ck-1/dir".to_vec()));
    assert_eq!(recs[12], Record::FileFs(dir_fs()));
    assert_eq!(recs[13].rtype(), CKPT_HDR_FILE_DESC);
    let o = off_of(&buf, CKPT_HDR_FILE_FS, 0);
    let r = &buf[o..o + 56];
    assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 56);
    let name = &r[offsets::FILE_FS_FS_NAME..offsets::FILE_FS_FS_VERSION];
    assert_eq!(name, b"ramfs_cr\0\0\0\0\0\0\0\0");
    assert_eq!(r[offsets::FILE_FS_FS_VERSION], 1);
    assert_eq!(r[offsets::FILE_FS_DATA_LEN], 20);
    assert_eq!(&r[SIZE_FILE_FS..SIZE_FILE_FS + 20], &dir_fs().data[..]);
    assert_eq!(&r[52..56], &[0; 4]);
    // every file may have one; the largest and the smallest
    let mut img = sample_fs();
    img.files[0].fs = Some(FileFs {
        fs_name: b"fifteen_bytes_x".to_vec(),
        fs_version: u32::MAX,
        data: vec![0xff; CKPT_FILE_FS_MAX],
    });
    img.files[1].fs = Some(FileFs {
        fs_name: b"x".to_vec(),
        fs_version: 0,
        data: Vec::new(),
    });
    let buf = img.encode();
    assert_eq!(decode(&buf).unwrap().files, img.files);
    let o = off_of(&buf, CKPT_HDR_FILE_FS, 0);
    assert_eq!(Record::decode_at(&buf, o).unwrap().1, SIZE_FILE_FS + 256);
    let o = off_of(&buf, CKPT_HDR_FILE_FS, 1);
    assert_eq!(Record::decode_at(&buf, o).unwrap().1, SIZE_FILE_FS);
}

#[test]
fn file_fs_records_round_trip() {
    for n in [0usize, 1, 7, 8, 9, 255, 256] {
        let r = Record::FileFs(FileFs {
            fs_name: b"ramfs".to_vec(),
            fs_version: 3,
            data: (0..n).map(|i| i as u8 | 1).collect(),
        });
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(b.len(), align8(SIZE_FILE_FS + n));
        assert_eq!(r.encoded_len(), b.len());
        assert_eq!(Record::decode_at(&b, 0).unwrap(), (r, b.len()));
    }
    assert_eq!(type_name(CKPT_HDR_FILE_FS), "FILE_FS");
}

/// A named edit of an image.
type Edit<'a> = (&'a str, Box<dyn Fn(&mut [u8]) + 'a>);

#[test]
fn file_fs_bad_name() {
    let o = off_of(&good_fs(), CKPT_HDR_FILE_FS, 0);
    let n = o + offsets::FILE_FS_FS_NAME;
    let cases: Vec<Edit<'static>> = vec![
        (
            "FILE_FS fs_name is empty",
            Box::new(move |b| b[n..n + 16].fill(0)),
        ),
        (
            "FILE_FS fs_name is not NUL-terminated within 16 bytes",
            Box::new(move |b| b[n..n + 16].fill(b'a')),
        ),
        (
            "FILE_FS fs_name is not NUL-padded",
            Box::new(move |b| b[n + 15] = b'x'),
        ),
        (
            "FILE_FS fs_name is not NUL-padded",
            Box::new(move |b| b[n + 9] = b'x'), // "ramfs_cr\0x"
        ),
    ];
    for (why, edit) in cases {
        let mut b = good_fs();
        edit(&mut b);
        refix(&mut b);
        assert_eq!(
            decode(&b).unwrap_err(),
            ImageError::BadName { offset: o, why }
        );
        expect(&b, "BadName", o);
    }
    // a name of 16 bytes has no room for its NUL
    let mut img = sample_fs();
    img.files[1].fs.as_mut().unwrap().fs_name = b"sixteen_bytes_xx".to_vec();
    let b = img.encode();
    expect(&b, "BadName", o);
    // an empty one, built by the encoder
    img.files[1].fs.as_mut().unwrap().fs_name.clear();
    let b = img.encode();
    expect(&b, "BadName", o);
}

#[test]
fn file_fs_bad_data_len() {
    let o = off_of(&good_fs(), CKPT_HDR_FILE_FS, 0);
    let dl = o + offsets::FILE_FS_DATA_LEN;
    // more than CKPT_FILE_FS_MAX: refused whatever len says
    let mut img = sample_fs();
    img.files[1].fs.as_mut().unwrap().data = vec![1; CKPT_FILE_FS_MAX + 1];
    let b = img.encode();
    assert_eq!(
        decode(&b).unwrap_err(),
        ImageError::BadField {
            offset: o,
            field: "file_fs.data_len",
            value: 257
        }
    );
    for v in [257u32, 0x8000_0000, u32::MAX] {
        let mut b = good_fs();
        put32(&mut b, dl, v);
        refix(&mut b);
        let e = expect(&b, "BadField", o);
        assert!(e.to_string().contains("file_fs.data_len"), "{e}");
    }
    // len not the aligned size of data_len (20: len 56)
    for v in [0u32, 12, 16, 25, 28, 256] {
        let mut b = good_fs();
        put32(&mut b, dl, v);
        refix(&mut b);
        let e = expect(&b, "BadLen", o);
        assert_eq!(
            e,
            ImageError::BadLen {
                offset: o,
                rtype: CKPT_HDR_FILE_FS,
                len: 56
            }
        );
    }
    // the same data_len in a record 8 bytes longer (zeros)
    let mut recs = sample_fs().records();
    let mut b = encode_records(&recs[..12]);
    let mut r = Vec::new();
    recs[12].encode(&mut r);
    r[4..8].copy_from_slice(&64u32.to_le_bytes());
    r.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&r);
    b.extend(encode_records(&recs[13..]));
    append_tail(&mut b, recs.len() as u32);
    expect(&b, "BadLen", o);
    // shorter than the fixed part
    for len in [8u32, 16, 24] {
        let mut b = encode_records(&recs[..12]);
        let mut r = vec![0u8; len as usize];
        r[0..4].copy_from_slice(&CKPT_HDR_FILE_FS.to_le_bytes());
        r[4..8].copy_from_slice(&len.to_le_bytes());
        if len >= 16 {
            r[8] = b'x';
        }
        b.extend_from_slice(&r);
        b.extend(encode_records(&recs[13..]));
        append_tail(&mut b, recs.len() as u32);
        expect(&b, "BadLen", o);
    }
    // data_len 17..24 all make len 56: with 20 bytes of data, 18 says the
    // last two are padding, and they are not zero
    let mut b = good_fs();
    put32(&mut b, dl, 24);
    refix(&mut b);
    assert_eq!(
        decode(&b).unwrap().files[1].fs.as_ref().unwrap().data.len(),
        24
    );
    let mut b = good_fs();
    put32(&mut b, dl, 18);
    refix(&mut b);
    expect(&b, "ReservedNonZero", o);
    recs.clear();
}

#[test]
fn file_fs_nonzero_padding() {
    let o = off_of(&good_fs(), CKPT_HDR_FILE_FS, 0);
    // 20 bytes of data, then 4 of padding
    for (at, v, want) in [(52, 1u8, 1u64), (53, 0x80, 0x8000), (55, 0xff, 0xff00_0000)] {
        let mut b = good_fs();
        b[o + at] = v;
        refix(&mut b);
        assert_eq!(
            decode(&b).unwrap_err(),
            ImageError::ReservedNonZero {
                offset: o,
                field: "file_fs padding after data",
                value: want
            }
        );
    }
    // a non-zero last data byte is data
    let mut b = good_fs();
    b[o + 51] = 0xee;
    refix(&mut b);
    assert_eq!(
        decode(&b).unwrap().files[1].fs.as_ref().unwrap().data[19],
        0xee
    );
}

#[test]
fn file_fs_order() {
    let img = sample_fs();
    // H FS N N FT | O1 F N D(3) | O2 F N FILE_FS D(4) | D(10)
    let recs = img.records();
    assert_eq!(recs[12].rtype(), CKPT_HDR_FILE_FS);
    // refused at the `nth` FILE_FS, with `expected` what had to be there
    let bad_order = |recs: &[Record], nth: usize, expected: &'static str| {
        let b = encode_with_tail(recs);
        assert_eq!(
            decode(&b).unwrap_err(),
            ImageError::BadOrder {
                offset: off_of(&b, CKPT_HDR_FILE_FS, nth),
                rtype: CKPT_HDR_FILE_FS,
                expected
            }
        );
    };
    // two for one file: the second is where the FILE_DESC must be
    let mut r = recs.clone();
    r.insert(13, recs[12].clone());
    bad_order(&r, 1, "FILE_DESC");
    // after the FILE_DESC of its file
    let mut r = recs.clone();
    r.swap(12, 13);
    bad_order(&r, 0, "OBJREF, FILE_DESC or TAIL");
    // after a FILE_DESC that reuses an objref (the last one)
    let mut r = recs.clone();
    r.remove(12);
    r.push(recs[12].clone());
    bad_order(&r, 0, "OBJREF, FILE_DESC or TAIL");
    // between FILE and FILE_NAME
    let mut r = recs.clone();
    r.swap(11, 12);
    bad_order(&r, 0, "FILE_NAME (file)");
    // after the root or the cwd: not a file's FILE_NAME
    let mut r = recs.clone();
    r.insert(3, recs[12].clone());
    r.remove(13);
    bad_order(&r, 0, "FILE_NAME (cwd)");
    let mut r = recs.clone();
    r.insert(4, recs[12].clone());
    r.remove(13);
    bad_order(&r, 0, "FILE_TABLE");
    // as the first record of a file (instead of its OBJREF)
    let mut r = recs.clone();
    r.insert(9, recs[12].clone());
    r.remove(13);
    bad_order(&r, 0, "OBJREF, FILE_DESC or TAIL");
    // and the well-placed one decodes
    decode(&encode_with_tail(&recs)).unwrap();
}

#[test]
fn file_fs_truncated() {
    let b = good_fs();
    let o = off_of(&b, CKPT_HDR_FILE_FS, 0);
    for cut in [o + 4, o + 31, o + 55] {
        let e = decode(&b[..cut]).unwrap_err();
        let want = if cut < o + 8 {
            "Truncated"
        } else {
            "LenPastEnd"
        };
        assert_eq!((e.kind(), e.offset()), (want, o), "cut at {cut}: {e}");
    }
}

#[test]
fn highest_fd_reads_the_framing_only() {
    let buf = good();
    assert_eq!(highest_fd(&buf), Some(10), "fds 3, 4 and 10 in sample()");
    // Framing cut short before the last FILE_DESC: only what came before.
    let fd10 = scan(&buf)
        .records
        .iter()
        .find(|(_, r)| matches!(r, Record::FileDesc(d) if d.fd == 10))
        .map(|(off, _)| *off)
        .expect("the fd 10 record");
    assert_eq!(highest_fd(&buf[..fd10]), Some(4));
    assert_eq!(highest_fd(&buf[..8]), None);
    assert_eq!(highest_fd(&[]), None);
}

#[test]
fn last_fd_reads_the_end_only() {
    let buf = good();
    let end = &buf[buf.len() - LAST_FD_WINDOW..];
    assert_eq!(last_fd(end), Some(10), "the FILE_DESC before the TAIL");
    assert_eq!(
        last_fd(&buf[..LAST_FD_WINDOW]),
        None,
        "not a FILE_DESC + TAIL"
    );
    assert_eq!(last_fd(&end[1..]), None, "short window");
    let no_fds = Image {
        fds: vec![],
        files: vec![],
        ..sample()
    }
    .encode();
    assert_eq!(
        last_fd(&no_fds[no_fds.len() - LAST_FD_WINDOW..]),
        None,
        "FILE_TABLE + TAIL: no fd, the whole-image walk decides"
    );
    assert_eq!(highest_fd(&no_fds), None);
}
