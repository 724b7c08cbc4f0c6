//! The SB records of a version 2 image (CHECKPOINT_CONTENTS): round trips,
//! and every rule restart(2) applies to them (`ckpt_read_header()`,
//! `ckpt_skip_sbs()`) refused with the error the decoder names.

mod common;

use ckpt_image::*;
use common::{off_of, offsets};

fn rec(kind: u32, data: &[u8]) -> SbItem {
    SbItem::Rec(SbRec {
        kind,
        data: data.to_vec(),
    })
}

fn chunk(offset: u64, data: &[u8]) -> SbItem {
    SbItem::Data(SbData::new(offset, data.to_vec()))
}

/// Two sections: "ramfs_cr" at /mnt/a (a record, two chunks, a record) and
/// "other" at /mnt/b (one record of 8192 bytes, a chunk of 65536).
fn sections() -> Vec<SbSection> {
    vec![
        SbSection::new(
            1,
            "ramfs_cr",
            1,
            "/mnt/a",
            vec![
                rec(1, &[1; 16]),
                chunk(0, b"hello"),
                chunk(4096, &[7; 3]),
                rec(3, &[]),
            ],
        ),
        SbSection::new(
            2,
            "other",
            9,
            "/mnt/b",
            vec![
                rec(2, &[2; CKPT_SB_REC_MAX]),
                chunk(1, &[3; CKPT_SB_DATA_MAX]),
            ],
        ),
    ]
}

fn image(sbs: Vec<SbSection>) -> Image {
    Image {
        header: Header::new(5, 6, "6.12.0").with_contents(),
        fs: Fs {
            umask: 0o22,
            reserved: 0,
        },
        root: b"/".to_vec(),
        cwd: b"/mnt/a".to_vec(),
        sbs,
        files: Vec::new(),
        fds: Vec::new(),
        tail: Tail {
            magic: CKPT_MAGIC_TAIL,
            crc32c: 0,
            nr_records: 0,
        },
    }
}

fn good() -> Vec<u8> {
    image(sections()).encode()
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Re-encode `records` with a right TAIL.
fn with_tail(records: &[Record]) -> Vec<u8> {
    encode_with_tail(records)
}

/// The records of `b` (a valid image) without its TAIL.
fn records(b: &[u8]) -> Vec<Record> {
    let s = scan(b);
    assert!(s.result.is_ok(), "{:?}", s.result);
    let mut v: Vec<Record> = s.records.into_iter().map(|(_, r)| r).collect();
    assert!(matches!(v.pop(), Some(Record::Tail(_))));
    v
}

/// Recompute the TAIL after an edit, so only the intended error remains.
fn refix(b: &mut [u8]) {
    let t = b.len() - SIZE_TAIL;
    let crc = crc32c(&b[..t]);
    b[t + 16..t + 20].copy_from_slice(&crc.to_le_bytes());
}

#[track_caller]
fn expect(b: &[u8], kind: &str, offset: usize) -> ImageError {
    let e = decode(b).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (kind, offset), "{e}");
    e
}

#[test]
fn sections_round_trip() {
    let b = good();
    let im = decode(&b).unwrap();
    assert_eq!((im.header.version, im.header.uflags), (2, 2));
    assert_eq!(im.sbs.len(), 2);
    let s = &im.sbs[0];
    assert_eq!(
        (s.sb_id, &s.fs_name[..], s.fs_version),
        (1, &b"ramfs_cr"[..], 1)
    );
    assert_eq!(s.mount, b"/mnt/a");
    assert_eq!(s.data_bytes, 8);
    assert_eq!(s.offset, off_of(&b, CKPT_HDR_SB, 0));
    // items keep their offsets in the image
    let offs: Vec<usize> = s.records.iter().map(|(o, _)| *o).collect();
    let rec0 = off_of(&b, CKPT_HDR_SB_REC, 0);
    assert_eq!(offs[0], rec0);
    assert_eq!(offs[1], off_of(&b, CKPT_HDR_SB_DATA, 0));
    assert_eq!(im.sbs[1].data_bytes, CKPT_SB_DATA_MAX as u64);
    // the same image back, byte for byte
    assert_eq!(im.encode(), b);
    // scan keeps every record, decode the same image
    let sc = scan(&b);
    assert_eq!(sc.result.unwrap(), im);
    assert_eq!(sc.records.len(), 5 + 2 * 2 + 4 + 2 + 2 + 1);
}

#[test]
fn record_sizes_and_fields() {
    let cases = [
        (
            Record::Sb(Sb {
                sb_id: 3,
                fs_version: 4,
                fs_name: b"ramfs_cr".to_vec(),
                reserved: 0,
            }),
            SIZE_SB,
        ),
        (
            Record::SbEnd(SbEnd {
                sb_id: 3,
                nr_records: 5,
                data_bytes: 1 << 40,
            }),
            SIZE_SB_END,
        ),
        (rec_record(0), SIZE_SB_REC),
        (rec_record(1), SIZE_SB_REC + 8),
        (rec_record(CKPT_SB_REC_MAX), SIZE_SB_REC + CKPT_SB_REC_MAX),
        (Record::SbData(SbData::new(9, vec![5; 1])), SIZE_SB_DATA + 8),
        (
            Record::SbData(SbData::new(u64::MAX - 8, vec![5; 9])),
            SIZE_SB_DATA + 16,
        ),
    ];
    for (r, len) in cases {
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(b.len(), len, "{r:?}");
        assert_eq!(r.encoded_len(), len);
        assert_eq!(Record::decode_at(&b, 0).unwrap(), (r, len));
    }
    let mut b = Vec::new();
    Record::SbData(SbData::new(0x1122, b"123456789".to_vec())).encode(&mut b);
    assert_eq!(&b[offsets::SB_DATA_OFFSET..][..8], &0x1122u64.to_le_bytes());
    assert_eq!(&b[offsets::SB_DATA_DATA_LEN..][..4], &9u32.to_le_bytes());
    assert_eq!(
        &b[offsets::SB_DATA_CRC32C..][..4],
        &0xE306_9283u32.to_le_bytes()
    );
    assert_eq!(&b[SIZE_SB_DATA..][..9], b"123456789");
    assert_eq!(type_name(CKPT_HDR_SB_DATA), "SB_DATA");
}

fn rec_record(n: usize) -> Record {
    Record::SbRec(SbRec {
        kind: 7,
        data: vec![0xab; n],
    })
}

#[test]
fn versions_and_the_contents_flag() {
    // an image without contents stays version 1
    let mut plain = image(Vec::new());
    plain.header = Header::new(5, 6, "6.12.0");
    let b = plain.encode();
    assert_eq!(decode(&b).unwrap().header.version, 1);
    // version 2 with CHECKPOINT_CONTENTS and no section: valid
    let b = image(Vec::new()).encode();
    assert_eq!(decode(&b).unwrap().sbs, vec![]);
    let edit = |version: u16, uflags: u32| {
        let mut b = good();
        b[offsets::HEADER_VERSION..][..2].copy_from_slice(&version.to_le_bytes());
        put32(&mut b, offsets::HEADER_UFLAGS, uflags);
        refix(&mut b);
        b
    };
    expect(&edit(0, 2), "BadVersion", 0);
    expect(&edit(3, 2), "BadVersion", 0);
    let e = expect(&edit(2, 0), "BadField", 0);
    assert!(e.to_string().contains("CHECKPOINT_CONTENTS"), "{e}");
    expect(&edit(1, 2), "BadField", 0);
    expect(&edit(2, 1), "BadField", 0);
    expect(&edit(2, 4 | 2), "BadField", 0);
    assert_eq!(decode(&edit(2, 3)).unwrap().header.uflags, 3);
    let e = expect(&edit(3, 2), "BadVersion", 0);
    assert_eq!(
        e.to_string(),
        "offset 0: unsupported version 3 (want 1 to 2)"
    );
}

#[test]
fn sections_only_in_version_2_and_in_place() {
    // an SB in a version 1 image
    let mut r = records(&good());
    r[0] = Record::Header(Header::new(5, 6, "6.12.0"));
    let b = with_tail(&r);
    let e = expect(&b, "BadOrder", off_of(&b, CKPT_HDR_SB, 0));
    assert!(e.to_string().contains("version 1"), "{e}");
    // an SB, SB_REC, SB_DATA or SB_END after the FILE_TABLE
    for extra in [
        Record::Sb(sections()[0].sb()),
        rec_record(1),
        Record::SbData(SbData::new(0, vec![1])),
        Record::SbEnd(sections()[0].end()),
    ] {
        let mut r = records(&good());
        r.push(extra.clone());
        let b = with_tail(&r);
        let at = offsets(&b)[r.len() - 1].0;
        expect(&b, "BadOrder", at);
    }
    // an SB_REC with no SB before it, where the FILE_TABLE must come
    let mut r = records(&image(Vec::new()).encode());
    r.insert(4, rec_record(1));
    let b = with_tail(&r);
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_SB_REC, 0));
    // no FILE_NAME after the SB
    let mut r = records(&good());
    r.remove(5);
    let b = with_tail(&r);
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_SB_REC, 0));
    // no SB_END: the next SB comes instead
    let mut r = records(&good());
    let end = r
        .iter()
        .position(|x| matches!(x, Record::SbEnd(_)))
        .unwrap();
    r.remove(end);
    let b = with_tail(&r);
    expect(&b, "BadOrder", off_of(&b, CKPT_HDR_SB, 1));
    // and an image that ends inside a section
    let b = good();
    let cut = off_of(&b, CKPT_HDR_SB_END, 0);
    expect(&b[..cut], "Truncated", cut);
}

#[test]
fn sb_rules() {
    // numbers 1, 2, ... in order
    let mut s = sections();
    s[0].sb_id = 2;
    let b = image(s).encode();
    let e = expect(&b, "BadField", off_of(&b, CKPT_HDR_SB, 0));
    assert!(e.to_string().contains("sb_id"), "{e}");
    let mut s = sections();
    s[1].sb_id = 3;
    let b = image(s).encode();
    expect(&b, "BadField", off_of(&b, CKPT_HDR_SB, 1));
    // reserved
    let mut b = good();
    let sb = off_of(&b, CKPT_HDR_SB, 1);
    b[sb + offsets::SB_RESERVED + 7] = 1;
    refix(&mut b);
    expect(&b, "ReservedNonZero", sb);
    // fs_name: empty, 16 bytes without a NUL, not NUL-padded
    for (name, why) in [
        (&b""[..], "SB fs_name is empty"),
        (
            b"0123456789abcdef",
            "SB fs_name is not NUL-terminated within 16 bytes",
        ),
        (b"ab\0c", "SB fs_name is not NUL-padded"),
    ] {
        let mut b = good();
        let sb = off_of(&b, CKPT_HDR_SB, 0);
        let f = &mut b[sb + offsets::SB_FS_NAME..][..16];
        f.fill(0);
        f[..name.len()].copy_from_slice(name);
        refix(&mut b);
        let e = expect(&b, "BadName", sb);
        assert_eq!(e, ImageError::BadName { offset: sb, why });
    }
    // the mount name follows the FILE_NAME rules
    let mut s = sections();
    s[0].mount = b"mnt/a".to_vec();
    let b = image(s).encode();
    expect(&b, "BadName", off_of(&b, CKPT_HDR_FILE_NAME, 2));
    let mut s = sections();
    s[1].mount = b"/mnt/../b".to_vec();
    let b = image(s).encode();
    expect(&b, "BadName", off_of(&b, CKPT_HDR_FILE_NAME, 3));
    // an SB record of the wrong size
    let mut b = good();
    let sb = off_of(&b, CKPT_HDR_SB, 0);
    put32(&mut b, sb + 4, 48);
    refix(&mut b);
    expect(&b, "BadLen", sb);
}

#[test]
fn sb_rec_rules() {
    let at = |b: &[u8]| off_of(b, CKPT_HDR_SB_REC, 0);
    // data_len over CKPT_SB_REC_MAX (a record of that length encodes)
    let mut s = sections();
    s[0].records[0].1 = rec(1, &[0; CKPT_SB_REC_MAX + 1]);
    let b = image(s).encode();
    let e = expect(&b, "BadField", at(&b));
    assert!(e.to_string().contains("sb_rec.data_len 8193"), "{e}");
    // len not the aligned size of the data: data_len 5 in a 32-byte record
    let mut b = good();
    let r = at(&b);
    put32(&mut b, r + offsets::SB_REC_DATA_LEN, 5);
    refix(&mut b);
    expect(&b, "BadLen", r);
    // shorter than the fixed part
    let mut b = good();
    let r = at(&b);
    put32(&mut b, r + 4, 8);
    expect(&b, "BadLen", r);
    // nonzero padding: a record of 3 bytes of data has 5 of padding
    let mut s = sections();
    s[0].records[3].1 = rec(3, b"abc");
    let mut b = image(s).encode();
    let r = off_of(&b, CKPT_HDR_SB_REC, 1);
    b[r + SIZE_SB_REC + 3] = 1;
    refix(&mut b);
    expect(&b, "ReservedNonZero", r);
}

#[test]
fn sb_data_rules() {
    let at = |b: &[u8]| off_of(b, CKPT_HDR_SB_DATA, 0);
    // right after the FILE_NAME: no SB_REC before it
    let mut s = sections();
    s[0].records.remove(0);
    let b = image(s).encode();
    let e = expect(&b, "BadOrder", at(&b));
    assert!(e.to_string().contains("follows an SB_REC"), "{e}");
    // data_len 0 and over CKPT_SB_DATA_MAX
    for n in [0, CKPT_SB_DATA_MAX + 1] {
        let mut s = sections();
        s[0].records[1].1 = chunk(0, &vec![1; n]);
        let b = image(s).encode();
        let e = expect(&b, "BadField", at(&b));
        assert!(
            e.to_string().contains(&format!("sb_data.data_len {n}")),
            "{e}"
        );
    }
    // the CRC32C of the data
    let mut b = good();
    let d = at(&b);
    b[d + SIZE_SB_DATA] ^= 1;
    refix(&mut b);
    let e = expect(&b, "BadCrc", d);
    assert_eq!(
        e,
        ImageError::BadCrc {
            offset: d,
            expected: crc32c(b"hello"),
            actual: crc32c(b"iello"),
        }
    );
    // len not the aligned size of the data
    let mut b = good();
    let d = at(&b);
    put32(&mut b, d + offsets::SB_DATA_DATA_LEN, 9);
    refix(&mut b);
    expect(&b, "BadLen", d);
    // padding after "hello"
    let mut b = good();
    let d = at(&b);
    b[d + SIZE_SB_DATA + 6] = 0xff;
    refix(&mut b);
    expect(&b, "ReservedNonZero", d);
    // shorter than the fixed part
    let mut b = good();
    let d = at(&b);
    put32(&mut b, d + 4, 16);
    expect(&b, "BadLen", d);
}

#[test]
fn sb_end_rules() {
    let at = |b: &[u8], n| off_of(b, CKPT_HDR_SB_END, n);
    let edit = |field: usize, v: u64, n: usize| {
        let mut b = good();
        let e = at(&b, n);
        let w = if field == offsets::SB_END_DATA_BYTES {
            8
        } else {
            4
        };
        b[e + field..][..w].copy_from_slice(&v.to_le_bytes()[..w]);
        refix(&mut b);
        (b, e)
    };
    let (b, e) = edit(offsets::SB_END_SB_ID, 2, 0);
    expect(&b, "BadField", e);
    let (b, e) = edit(offsets::SB_END_NR_RECORDS, 5, 0);
    assert_eq!(
        expect(&b, "BadCount", e),
        ImageError::BadCount {
            offset: e,
            field: "sb_end.nr_records",
            expected: 4,
            actual: 5,
        }
    );
    let (b, e) = edit(offsets::SB_END_DATA_BYTES, 7, 0);
    assert_eq!(
        expect(&b, "BadCount", e),
        ImageError::BadCount {
            offset: e,
            field: "sb_end.data_bytes",
            expected: 8,
            actual: 7,
        }
    );
    let (b, e) = edit(offsets::SB_END_DATA_BYTES, 0, 1);
    expect(&b, "BadCount", e);
    let mut b = good();
    let e = at(&b, 0);
    put32(&mut b, e + 4, 32);
    refix(&mut b);
    expect(&b, "BadLen", e);
}

#[test]
fn the_tail_counts_section_records() {
    let b = good();
    let im = decode(&b).unwrap();
    assert_eq!(im.tail.nr_records as usize, offsets(&b).len() - 1);
    // an empty section: SB, FILE_NAME, SB_END
    let b = image(vec![SbSection::new(1, "x", 0, "/", Vec::new())]).encode();
    let im = decode(&b).unwrap();
    assert_eq!(im.sbs[0].end().nr_records, 0);
    assert_eq!(im.tail.nr_records, 8);
}

/// `saved_mounts` finds the root and each section's file system and mount
/// point from the framing, through a reader that fails past the end, and
/// gives up on framing that is cut short.
#[test]
fn saved_mounts_from_the_framing() {
    let b = good();
    let at = |b: &[u8], off: u64, out: &mut [u8]| -> std::io::Result<()> {
        let src = b.get(off as usize..off as usize + out.len());
        out.copy_from_slice(src.ok_or(std::io::ErrorKind::UnexpectedEof)?);
        Ok(())
    };
    let mount = |fs: &str, m: &str| SavedMount {
        fs_name: fs.into(),
        mount: m.as_bytes().to_vec(),
    };
    assert_eq!(
        saved_mounts(|o, out| at(&b, o, out)),
        Some((
            b"/".to_vec(),
            vec![mount("ramfs_cr", "/mnt/a"), mount("other", "/mnt/b")]
        ))
    );
    let mut im = image(sections());
    im.root = b"/jail".to_vec();
    let b2 = im.encode();
    assert_eq!(
        saved_mounts(|o, out| at(&b2, o, out)).map(|s| s.0),
        Some(b"/jail".to_vec())
    );
    let cut = &b[..b.len() / 2];
    assert_eq!(saved_mounts(|o, out| at(cut, o, out)), None);
}
