//! The checkpoint(2)/restart(2) image format, mirrored from the uapi header
//! `include/uapi/linux/checkpoint.h` (the single source of truth; the drift
//! test in `tests/drift.rs` compiles that header and compares every size,
//! offset and constant with this file).
//!
//! An image is a stream of records, each starting with `{u32 type; u32 len}`
//! where `len` counts the whole record and is a multiple of 8:
//!
//! ```text
//! HEADER
//! FS  FILE_NAME(root)  FILE_NAME(cwd)
//! [for each superblock saved, version 2 (CHECKPOINT_CONTENTS) only:
//!     SB  FILE_NAME(mount)  [SB_REC  [SB_DATA ...]] ...  SB_END]
//! FILE_TABLE
//!   for each recorded fd, lowest first:
//!     [OBJREF  FILE  FILE_NAME  [FILE_FS]]
//!                                 first time a struct file is seen
//!     FILE_DESC
//! TAIL                            CRC32C of every byte before it
//! ```
//! A failed checkpoint ends with an ERROR record instead of a TAIL.  The
//! optional FILE_FS after a file's FILE_NAME is that file's file system's own
//! record ([`FileFs`]): its data is opaque here, only its frame is checked.
//! The same holds for the SB sections ([`SbSection`]): their framing,
//! counts and chunk CRCs are checked here, what they say by the file
//! system that wrote them ([`ramfs`] for ramfs_cr).
//!
//! [`Record`] encodes/decodes one record; [`scan`] walks a whole image with
//! the same rules restart(2) applies and stops at the first problem
//! ([`ImageError`], which names the offending offset); [`decode`] is the
//! strict form returning an [`Image`].

use std::fmt;

pub mod crc32c;
pub mod extract;
pub mod manifest;
pub mod ramfs;
pub mod syscalls;

pub use crc32c::crc32c;

// ---------------------------------------------------------------- constants

pub const CHECKPOINT_SKIP_UNSUPPORTED: u64 = 0x1;
/// Also save the file systems that save themselves (a version 2 image).
pub const CHECKPOINT_CONTENTS: u64 = 0x2;
pub const CHECKPOINT_USER_FLAGS: u64 = CHECKPOINT_SKIP_UNSUPPORTED | CHECKPOINT_CONTENTS;
pub const RESTART_DRY_RUN: u64 = 0x1;
/// Rebuild the saved superblocks into the mounts passed (restart(2)'s
/// `mnt_fds`).
pub const RESTART_CONTENTS: u64 = 0x2;
pub const RESTART_USER_FLAGS: u64 = RESTART_DRY_RUN | RESTART_CONTENTS;
pub const CHECKPOINT_FD_NONE: i32 = -1;

pub const CKPT_MAGIC_HEAD: u64 = 0x00fe_ed0c_c0a2_d200;
pub const CKPT_MAGIC_TAIL: u64 = 0x002d_2a0c_c0de_ef00;
/// The newest format version: 2 for an image with CHECKPOINT_CONTENTS,
/// 1 for one without ([`CKPT_VERSION_PLAIN`]); readers take both.
pub const CKPT_VERSION: u16 = 2;
/// The version of an image without CHECKPOINT_CONTENTS.
pub const CKPT_VERSION_PLAIN: u16 = 1;
pub const CKPT_IMAGE_MAX: usize = 64 << 20;
pub const CKPT_NAME_MAX: usize = 4096;
/// Most data bytes in a FILE_FS record.
pub const CKPT_FILE_FS_MAX: usize = 256;
/// Most data bytes in an SB_REC record.
pub const CKPT_SB_REC_MAX: usize = 8192;
/// Most data bytes in an SB_DATA record (and at least 1).
pub const CKPT_SB_DATA_MAX: usize = 65536;

pub const CKPT_ARCH_X86_64: u16 = 2;

pub const CKPT_HDR_HEADER: u32 = 1;
pub const CKPT_HDR_OBJREF: u32 = 6;
pub const CKPT_HDR_FILE_TABLE: u32 = 301;
pub const CKPT_HDR_FILE_DESC: u32 = 302;
pub const CKPT_HDR_FILE_NAME: u32 = 303;
pub const CKPT_HDR_FILE: u32 = 304;
pub const CKPT_HDR_FILE_FS: u32 = 305;
pub const CKPT_HDR_SB: u32 = 306;
pub const CKPT_HDR_SB_REC: u32 = 307;
pub const CKPT_HDR_SB_DATA: u32 = 308;
pub const CKPT_HDR_SB_END: u32 = 309;
pub const CKPT_HDR_FILE_INODE: u32 = 310;
pub const CKPT_HDR_FS: u32 = 451;
pub const CKPT_HDR_TAIL: u32 = 9001;
pub const CKPT_HDR_ERROR: u32 = 9999;

pub const CKPT_OBJ_FILE: u32 = 1;
pub const CKPT_FILE_GENERIC: u32 = 1;
/// An unlinked regular file of a saved superblock: FILE_INODE, not FILE_NAME.
pub const CKPT_FILE_SAVED: u32 = 2;

/// FMODE_READ | FMODE_WRITE: the only bits `ckpt_hdr_file.f_mode` may hold.
pub const CKPT_FMODE_MASK: u32 = 0x3;

/// The kernel's VALID_OPEN_FLAGS on x86_64 (include/linux/fcntl.h).
pub const VALID_OPEN_FLAGS: u32 = 0o3
    | 0o100
    | 0o200
    | 0o400
    | 0o1000
    | 0o2000
    | 0o4000
    | 0o10000
    | 0o20000
    | 0o40000
    | 0o100000
    | 0o200000
    | 0o400000
    | 0o1000000
    | 0o2000000
    | 0o4000000
    | 0o10000000
    | 0o20000000;
/// Open flags a FILE record may not hold: O_CREAT O_EXCL O_NOCTTY O_TRUNC
/// O_PATH __O_TMPFILE (restart(2) refuses them).
pub const FORBIDDEN_FILE_FLAGS: u32 = 0o100 | 0o200 | 0o400 | 0o1000 | 0o10000000 | 0o20000000;

// Sizes of the fixed-size records (`sizeof(struct ckpt_hdr_*)`).
pub const SIZE_HDR: usize = 8;
pub const SIZE_HEADER: usize = 112;
pub const SIZE_TAIL: usize = 24;
pub const SIZE_OBJREF: usize = 16;
pub const SIZE_FILE_TABLE: usize = 16;
pub const SIZE_FILE_DESC: usize = 24;
pub const SIZE_FILE: usize = 32;
/// A FILE_FS record without its data (`sizeof(struct ckpt_hdr_file_fs)`).
pub const SIZE_FILE_FS: usize = 32;
/// Bytes of `ckpt_hdr_file_fs.fs_name`, NUL terminator and padding included.
pub const FILE_FS_NAME_LEN: usize = 16;
pub const SIZE_FS: usize = 16;
pub const SIZE_SB: usize = 40;
/// An SB_REC record without its data (`sizeof(struct ckpt_hdr_sb_rec)`).
pub const SIZE_SB_REC: usize = 16;
/// An SB_DATA record without its data (`sizeof(struct ckpt_hdr_sb_data)`).
pub const SIZE_SB_DATA: usize = 24;
pub const SIZE_SB_END: usize = 24;
pub const SIZE_FILE_INODE: usize = 24;
pub const SIZE_ERROR: usize = 16;
pub const RELEASE_LEN: usize = 64;

/// Largest legal FILE_NAME record: header + CKPT_NAME_MAX bytes (NUL included).
pub const FILE_NAME_MAX_LEN: usize = SIZE_HDR + CKPT_NAME_MAX;

/// Field offsets (`offsetof`), checked against the C header by the drift test.
pub mod offsets {
    pub const HDR_TYPE: usize = 0;
    pub const HDR_LEN: usize = 4;
    pub const HEADER_MAGIC: usize = 8;
    pub const HEADER_VERSION: usize = 16;
    pub const HEADER_ARCH: usize = 18;
    pub const HEADER_UFLAGS: usize = 20;
    pub const HEADER_CRID: usize = 24;
    pub const HEADER_TIME: usize = 32;
    pub const HEADER_PID: usize = 40;
    pub const HEADER_RESERVED: usize = 44;
    pub const HEADER_RELEASE: usize = 48;
    pub const TAIL_MAGIC: usize = 8;
    pub const TAIL_CRC32C: usize = 16;
    pub const TAIL_NR_RECORDS: usize = 20;
    pub const OBJREF_OBJTYPE: usize = 8;
    pub const OBJREF_OBJREF: usize = 12;
    pub const FILE_TABLE_NR_FDS: usize = 8;
    pub const FILE_TABLE_RESERVED: usize = 12;
    pub const FILE_DESC_FD_OBJREF: usize = 8;
    pub const FILE_DESC_FD: usize = 12;
    pub const FILE_DESC_CLOSE_ON_EXEC: usize = 16;
    pub const FILE_DESC_RESERVED: usize = 20;
    pub const FILE_F_TYPE: usize = 8;
    pub const FILE_F_MODE: usize = 12;
    pub const FILE_F_FLAGS: usize = 16;
    pub const FILE_I_MODE: usize = 20;
    pub const FILE_F_POS: usize = 24;
    pub const FILE_FS_FS_NAME: usize = 8;
    pub const FILE_FS_FS_VERSION: usize = 24;
    pub const FILE_FS_DATA_LEN: usize = 28;
    pub const SB_SB_ID: usize = 8;
    pub const SB_FS_VERSION: usize = 12;
    pub const SB_FS_NAME: usize = 16;
    pub const SB_RESERVED: usize = 32;
    pub const SB_REC_KIND: usize = 8;
    pub const SB_REC_DATA_LEN: usize = 12;
    pub const SB_DATA_OFFSET: usize = 8;
    pub const SB_DATA_DATA_LEN: usize = 16;
    pub const SB_DATA_CRC32C: usize = 20;
    pub const SB_END_SB_ID: usize = 8;
    pub const SB_END_NR_RECORDS: usize = 12;
    pub const SB_END_DATA_BYTES: usize = 16;
    pub const FILE_INODE_SB_ID: usize = 8;
    pub const FILE_INODE_RESERVED: usize = 12;
    pub const FILE_INODE_INO: usize = 16;
    pub const FS_UMASK: usize = 8;
    pub const FS_RESERVED: usize = 12;
    pub const ERROR_ERR: usize = 8;
    pub const ERROR_FD: usize = 12;
}

/// Name of a record type ("FILE_DESC"), or "?" when unknown.
pub fn type_name(t: u32) -> &'static str {
    match t {
        CKPT_HDR_HEADER => "HEADER",
        CKPT_HDR_OBJREF => "OBJREF",
        CKPT_HDR_FILE_TABLE => "FILE_TABLE",
        CKPT_HDR_FILE_DESC => "FILE_DESC",
        CKPT_HDR_FILE_NAME => "FILE_NAME",
        CKPT_HDR_FILE => "FILE",
        CKPT_HDR_FILE_FS => "FILE_FS",
        CKPT_HDR_SB => "SB",
        CKPT_HDR_SB_REC => "SB_REC",
        CKPT_HDR_SB_DATA => "SB_DATA",
        CKPT_HDR_SB_END => "SB_END",
        CKPT_HDR_FS => "FS",
        CKPT_HDR_TAIL => "TAIL",
        CKPT_HDR_ERROR => "ERROR",
        _ => "?",
    }
}

/// Round `n` up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

// ------------------------------------------------------------------ records

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub magic: u64,
    pub version: u16,
    pub arch: u16,
    pub uflags: u32,
    pub crid: u64,
    pub time: u64,
    pub pid: i32,
    pub reserved: u32,
    pub release: [u8; RELEASE_LEN],
}

impl Header {
    /// A valid header of an image without contents (version 1, no flags)
    /// with the given id, pid and release string; [`Header::with_contents`]
    /// makes it that of an image with contents.
    pub fn new(crid: u64, pid: i32, release: &str) -> Header {
        let mut r = [0u8; RELEASE_LEN];
        let b = release.as_bytes();
        let n = b.len().min(RELEASE_LEN - 1);
        r[..n].copy_from_slice(&b[..n]);
        Header {
            magic: CKPT_MAGIC_HEAD,
            version: CKPT_VERSION_PLAIN,
            arch: CKPT_ARCH_X86_64,
            uflags: 0,
            crid,
            time: 0,
            pid,
            reserved: 0,
            release: r,
        }
    }

    /// The same header for an image with contents: version 2 and
    /// CHECKPOINT_CONTENTS.
    pub fn with_contents(mut self) -> Header {
        self.version = CKPT_VERSION;
        self.uflags |= CHECKPOINT_CONTENTS as u32;
        self
    }

    /// The release string up to its first NUL.
    pub fn release_str(&self) -> String {
        let end = self
            .release
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(RELEASE_LEN);
        String::from_utf8_lossy(&self.release[..end]).into_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub magic: u64,
    pub crc32c: u32,
    pub nr_records: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objref {
    pub objtype: u32,
    pub objref: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTable {
    pub nr_fds: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDesc {
    pub fd_objref: i32,
    pub fd: i32,
    pub close_on_exec: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub f_type: u32,
    pub f_mode: u32,
    pub f_flags: u32,
    pub i_mode: u32,
    pub f_pos: i64,
}

/// A FILE_INODE record: the unlinked file a FILE of type
/// [`CKPT_FILE_SAVED`] opens, by its inode's number in an SB section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInode {
    pub sb_id: u32,
    pub reserved: u32,
    pub ino: u64,
}

/// A FILE_FS record: what the file system of the file before it saved of
/// the file, in its own format (`data` is that file system's to check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFs {
    /// The `file_system_type` name, without its NULs.  It is encoded in
    /// [`FILE_FS_NAME_LEN`] bytes, NUL padded: a longer name is cut there
    /// (and a name of 16 bytes or more encodes to a record readers refuse).
    pub fs_name: Vec<u8>,
    /// Version of the file system's format of `data`.
    pub fs_version: u32,
    /// The file system's data, at most [`CKPT_FILE_FS_MAX`] bytes in a
    /// valid record; encoded with `data_len = data.len()`.
    pub data: Vec<u8>,
}

/// An SB record: a superblock section starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sb {
    /// 1, 2, ... in order.
    pub sb_id: u32,
    /// Version of the file system's format of the section.
    pub fs_version: u32,
    /// The `file_system_type` name without its NULs, encoded as
    /// [`FileFs::fs_name`] is.
    pub fs_name: Vec<u8>,
    pub reserved: u64,
}

/// An SB_REC record: one item of a file system's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbRec {
    /// Defined by the file system.
    pub kind: u32,
    /// At most [`CKPT_SB_REC_MAX`] bytes in a valid record; encoded with
    /// `data_len = data.len()`.
    pub data: Vec<u8>,
}

/// An SB_DATA record: a chunk of the data of the item of the SB_REC before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbData {
    /// Byte offset of the chunk in the item's data.
    pub offset: u64,
    /// As written in the record; [`SbData::new`] computes it.
    pub crc32c: u32,
    /// 1 to [`CKPT_SB_DATA_MAX`] bytes in a valid record; encoded with
    /// `data_len = data.len()`.
    pub data: Vec<u8>,
}

impl SbData {
    /// A chunk at `offset` with the right CRC32C.
    pub fn new(offset: u64, data: Vec<u8>) -> SbData {
        SbData {
            offset,
            crc32c: crc32c(&data),
            data,
        }
    }
}

/// An SB_END record: a superblock section ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbEnd {
    pub sb_id: u32,
    /// SB_REC and SB_DATA records of the section.
    pub nr_records: u32,
    /// Sum of their SB_DATA data lengths.
    pub data_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fs {
    pub umask: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRec {
    /// Negative errno.
    pub err: i32,
    /// The fd concerned, or -1.
    pub fd: i32,
    /// The message, without its NUL.
    pub msg: Vec<u8>,
}

/// One record of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Header(Header),
    Objref(Objref),
    FileTable(FileTable),
    FileDesc(FileDesc),
    /// A path, without its terminating NUL.
    FileName(Vec<u8>),
    File(File),
    FileFs(FileFs),
    FileInode(FileInode),
    Sb(Sb),
    SbRec(SbRec),
    SbData(SbData),
    SbEnd(SbEnd),
    Fs(Fs),
    Tail(Tail),
    Error(ErrorRec),
}

fn put_u16(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_le_bytes());
}
/// A file system name in its 16 bytes, NUL padded (cut at 16).
fn fs_name16(n: &[u8]) -> [u8; FILE_FS_NAME_LEN] {
    let mut name = [0u8; FILE_FS_NAME_LEN];
    let k = n.len().min(FILE_FS_NAME_LEN);
    name[..k].copy_from_slice(&n[..k]);
    name
}

fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn get_i32(b: &[u8], off: usize) -> i32 {
    get_u32(b, off) as i32
}
fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

impl Record {
    /// The `ckpt_hdr.type` of this record.
    pub fn rtype(&self) -> u32 {
        match self {
            Record::Header(_) => CKPT_HDR_HEADER,
            Record::Objref(_) => CKPT_HDR_OBJREF,
            Record::FileTable(_) => CKPT_HDR_FILE_TABLE,
            Record::FileDesc(_) => CKPT_HDR_FILE_DESC,
            Record::FileName(_) => CKPT_HDR_FILE_NAME,
            Record::File(_) => CKPT_HDR_FILE,
            Record::FileFs(_) => CKPT_HDR_FILE_FS,
            Record::FileInode(_) => CKPT_HDR_FILE_INODE,
            Record::Sb(_) => CKPT_HDR_SB,
            Record::SbRec(_) => CKPT_HDR_SB_REC,
            Record::SbData(_) => CKPT_HDR_SB_DATA,
            Record::SbEnd(_) => CKPT_HDR_SB_END,
            Record::Fs(_) => CKPT_HDR_FS,
            Record::Tail(_) => CKPT_HDR_TAIL,
            Record::Error(_) => CKPT_HDR_ERROR,
        }
    }

    /// The `ckpt_hdr.len` this record encodes to.
    pub fn encoded_len(&self) -> usize {
        match self {
            Record::Header(_) => SIZE_HEADER,
            Record::Objref(_) => SIZE_OBJREF,
            Record::FileTable(_) => SIZE_FILE_TABLE,
            Record::FileDesc(_) => SIZE_FILE_DESC,
            Record::FileName(n) => align8(SIZE_HDR + n.len() + 1),
            Record::File(_) => SIZE_FILE,
            Record::FileFs(f) => align8(SIZE_FILE_FS + f.data.len()),
            Record::FileInode(_) => SIZE_FILE_INODE,
            Record::Sb(_) => SIZE_SB,
            Record::SbRec(r) => align8(SIZE_SB_REC + r.data.len()),
            Record::SbData(d) => align8(SIZE_SB_DATA + d.data.len()),
            Record::SbEnd(_) => SIZE_SB_END,
            Record::Fs(_) => SIZE_FS,
            Record::Tail(_) => SIZE_TAIL,
            Record::Error(e) => align8(SIZE_ERROR + e.msg.len() + 1),
        }
    }

    /// Append the encoded record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let len = self.encoded_len();
        put_u32(out, self.rtype());
        put_u32(out, len as u32);
        match self {
            Record::Header(h) => {
                put_u64(out, h.magic);
                put_u16(out, h.version);
                put_u16(out, h.arch);
                put_u32(out, h.uflags);
                put_u64(out, h.crid);
                put_u64(out, h.time);
                put_u32(out, h.pid as u32);
                put_u32(out, h.reserved);
                out.extend_from_slice(&h.release);
            }
            Record::Objref(r) => {
                put_u32(out, r.objtype);
                put_u32(out, r.objref as u32);
            }
            Record::FileTable(t) => {
                put_u32(out, t.nr_fds);
                put_u32(out, t.reserved);
            }
            Record::FileDesc(d) => {
                put_u32(out, d.fd_objref as u32);
                put_u32(out, d.fd as u32);
                put_u32(out, d.close_on_exec);
                put_u32(out, d.reserved);
            }
            Record::FileName(n) => {
                out.extend_from_slice(n);
            }
            Record::File(f) => {
                put_u32(out, f.f_type);
                put_u32(out, f.f_mode);
                put_u32(out, f.f_flags);
                put_u32(out, f.i_mode);
                put_u64(out, f.f_pos as u64);
            }
            Record::FileFs(f) => {
                out.extend_from_slice(&fs_name16(&f.fs_name));
                put_u32(out, f.fs_version);
                put_u32(out, f.data.len() as u32);
                out.extend_from_slice(&f.data);
            }
            Record::FileInode(i) => {
                put_u32(out, i.sb_id);
                put_u32(out, i.reserved);
                put_u64(out, i.ino);
            }
            Record::Sb(b) => {
                put_u32(out, b.sb_id);
                put_u32(out, b.fs_version);
                out.extend_from_slice(&fs_name16(&b.fs_name));
                put_u64(out, b.reserved);
            }
            Record::SbRec(r) => {
                put_u32(out, r.kind);
                put_u32(out, r.data.len() as u32);
                out.extend_from_slice(&r.data);
            }
            Record::SbData(d) => {
                put_u64(out, d.offset);
                put_u32(out, d.data.len() as u32);
                put_u32(out, d.crc32c);
                out.extend_from_slice(&d.data);
            }
            Record::SbEnd(e) => {
                put_u32(out, e.sb_id);
                put_u32(out, e.nr_records);
                put_u64(out, e.data_bytes);
            }
            Record::Fs(f) => {
                put_u32(out, f.umask);
                put_u32(out, f.reserved);
            }
            Record::Tail(t) => {
                put_u64(out, t.magic);
                put_u32(out, t.crc32c);
                put_u32(out, t.nr_records);
            }
            Record::Error(e) => {
                put_u32(out, e.err as u32);
                put_u32(out, e.fd as u32);
                out.extend_from_slice(&e.msg);
            }
        }
        out.resize(start + len, 0);
    }

    /// Decode the record at `off` in `buf`, checking only what concerns the
    /// record alone: header bounds, length, alignment, known type, exact size,
    /// NUL-terminated and NUL-padded strings, and for a FILE_FS what restart(2)
    /// checks of it (in its order: at least [`SIZE_FILE_FS`] bytes, `fs_name`
    /// not empty, NUL-terminated and NUL-padded, `data_len` at most
    /// [`CKPT_FILE_FS_MAX`], `len` the aligned size of that data, zero
    /// padding).  Returns the record and its len.
    pub fn decode_at(buf: &[u8], off: usize) -> Result<(Record, usize), ImageError> {
        if buf.len() < off + SIZE_HDR {
            return Err(ImageError::Truncated { offset: off });
        }
        let rtype = get_u32(buf, off);
        let len = get_u32(buf, off + 4) as usize;
        if len < SIZE_HDR {
            return Err(ImageError::BadLen {
                offset: off,
                rtype,
                len,
            });
        }
        if !len.is_multiple_of(8) {
            return Err(ImageError::BadAlign { offset: off, len });
        }
        let fixed = match rtype {
            CKPT_HDR_HEADER => Some(SIZE_HEADER),
            CKPT_HDR_OBJREF => Some(SIZE_OBJREF),
            CKPT_HDR_FILE_TABLE => Some(SIZE_FILE_TABLE),
            CKPT_HDR_FILE_DESC => Some(SIZE_FILE_DESC),
            CKPT_HDR_FILE => Some(SIZE_FILE),
            CKPT_HDR_FS => Some(SIZE_FS),
            CKPT_HDR_TAIL => Some(SIZE_TAIL),
            CKPT_HDR_SB => Some(SIZE_SB),
            CKPT_HDR_SB_END => Some(SIZE_SB_END),
            CKPT_HDR_FILE_INODE => Some(SIZE_FILE_INODE),
            CKPT_HDR_FILE_NAME | CKPT_HDR_FILE_FS | CKPT_HDR_SB_REC | CKPT_HDR_SB_DATA
            | CKPT_HDR_ERROR => None,
            _ => return Err(ImageError::UnknownType { rtype, offset: off }),
        };
        match fixed {
            Some(sz) if len != sz => {
                return Err(ImageError::BadLen {
                    offset: off,
                    rtype,
                    len,
                })
            }
            None => {
                let (min, max) = match rtype {
                    // at least "/" + NUL
                    CKPT_HDR_FILE_NAME => (SIZE_HDR + 8, FILE_NAME_MAX_LEN),
                    // the upper bound follows from data_len, checked below
                    CKPT_HDR_FILE_FS => (SIZE_FILE_FS, CKPT_IMAGE_MAX),
                    CKPT_HDR_SB_REC => (SIZE_SB_REC, CKPT_IMAGE_MAX),
                    CKPT_HDR_SB_DATA => (SIZE_SB_DATA, CKPT_IMAGE_MAX),
                    // restart(2) takes any ERROR record as "failed checkpoint"
                    _ => (SIZE_HDR, CKPT_IMAGE_MAX),
                };
                if len < min || len > max {
                    return Err(ImageError::BadLen {
                        offset: off,
                        rtype,
                        len,
                    });
                }
            }
            _ => {}
        }
        if buf.len() - off < len {
            return Err(ImageError::LenPastEnd {
                offset: off,
                len,
                end: buf.len(),
            });
        }
        let b = &buf[off..off + len];
        let rec = match rtype {
            CKPT_HDR_HEADER => {
                let mut release = [0u8; RELEASE_LEN];
                release.copy_from_slice(&b[48..48 + RELEASE_LEN]);
                Record::Header(Header {
                    magic: get_u64(b, 8),
                    version: get_u16(b, 16),
                    arch: get_u16(b, 18),
                    uflags: get_u32(b, 20),
                    crid: get_u64(b, 24),
                    time: get_u64(b, 32),
                    pid: get_i32(b, 40),
                    reserved: get_u32(b, 44),
                    release,
                })
            }
            CKPT_HDR_OBJREF => Record::Objref(Objref {
                objtype: get_u32(b, 8),
                objref: get_i32(b, 12),
            }),
            CKPT_HDR_FILE_TABLE => Record::FileTable(FileTable {
                nr_fds: get_u32(b, 8),
                reserved: get_u32(b, 12),
            }),
            CKPT_HDR_FILE_DESC => Record::FileDesc(FileDesc {
                fd_objref: get_i32(b, 8),
                fd: get_i32(b, 12),
                close_on_exec: get_u32(b, 16),
                reserved: get_u32(b, 20),
            }),
            CKPT_HDR_FILE => Record::File(File {
                f_type: get_u32(b, 8),
                f_mode: get_u32(b, 12),
                f_flags: get_u32(b, 16),
                i_mode: get_u32(b, 20),
                f_pos: get_u64(b, 24) as i64,
            }),
            CKPT_HDR_FS => Record::Fs(Fs {
                umask: get_u32(b, 8),
                reserved: get_u32(b, 12),
            }),
            CKPT_HDR_TAIL => Record::Tail(Tail {
                magic: get_u64(b, 8),
                crc32c: get_u32(b, 16),
                nr_records: get_u32(b, 20),
            }),
            CKPT_HDR_FILE_NAME => {
                let s = nul_string(&b[SIZE_HDR..]).ok_or(ImageError::BadName {
                    offset: off,
                    why: "not NUL-terminated and NUL-padded",
                })?;
                if len != align8(SIZE_HDR + s.len() + 1) {
                    return Err(ImageError::BadName {
                        offset: off,
                        why: "padding is not canonical",
                    });
                }
                Record::FileName(s.to_vec())
            }
            CKPT_HDR_FILE_FS => Record::FileFs(decode_file_fs(b, off)?),
            CKPT_HDR_SB => Record::Sb(Sb {
                sb_id: get_u32(b, offsets::SB_SB_ID),
                fs_version: get_u32(b, offsets::SB_FS_VERSION),
                fs_name: fs_name_of(b, off, offsets::SB_FS_NAME, true)?,
                reserved: get_u64(b, offsets::SB_RESERVED),
            }),
            CKPT_HDR_SB_REC => {
                let data = sized_data(b, off, SIZE_SB_REC, offsets::SB_REC_DATA_LEN, 0)?;
                Record::SbRec(SbRec {
                    kind: get_u32(b, offsets::SB_REC_KIND),
                    data: data.to_vec(),
                })
            }
            CKPT_HDR_SB_DATA => {
                let data = sized_data(b, off, SIZE_SB_DATA, offsets::SB_DATA_DATA_LEN, 1)?;
                let crc = get_u32(b, offsets::SB_DATA_CRC32C);
                let actual = crc32c(data);
                if crc != actual {
                    return Err(ImageError::BadCrc {
                        offset: off,
                        expected: crc,
                        actual,
                    });
                }
                Record::SbData(SbData {
                    offset: get_u64(b, offsets::SB_DATA_OFFSET),
                    crc32c: crc,
                    data: data.to_vec(),
                })
            }
            CKPT_HDR_FILE_INODE => Record::FileInode(FileInode {
                sb_id: get_u32(b, offsets::FILE_INODE_SB_ID),
                reserved: get_u32(b, offsets::FILE_INODE_RESERVED),
                ino: get_u64(b, offsets::FILE_INODE_INO),
            }),
            CKPT_HDR_SB_END => Record::SbEnd(SbEnd {
                sb_id: get_u32(b, offsets::SB_END_SB_ID),
                nr_records: get_u32(b, offsets::SB_END_NR_RECORDS),
                data_bytes: get_u64(b, offsets::SB_END_DATA_BYTES),
            }),
            CKPT_HDR_ERROR => {
                if len < SIZE_ERROR {
                    Record::Error(ErrorRec {
                        err: 0,
                        fd: -1,
                        msg: Vec::new(),
                    })
                } else {
                    let m = &b[SIZE_ERROR..];
                    let end = m.iter().position(|&c| c == 0).unwrap_or(m.len());
                    Record::Error(ErrorRec {
                        err: get_i32(b, 8),
                        fd: get_i32(b, 12),
                        msg: m[..end].to_vec(),
                    })
                }
            }
            _ => unreachable!(),
        };
        Ok((rec, len))
    }
}

/// The file system name at `at` in the record `b` found at `off` (an SB
/// record when `sb`, else a FILE_FS), checked as restart(2) checks it: not empty,
/// NUL-terminated and NUL-padded.
fn fs_name_of(b: &[u8], off: usize, at: usize, sb: bool) -> Result<Vec<u8>, ImageError> {
    let name = &b[at..at + FILE_FS_NAME_LEN];
    let why = match name.iter().position(|&c| c == 0) {
        None => [
            "FILE_FS fs_name is not NUL-terminated within 16 bytes",
            "SB fs_name is not NUL-terminated within 16 bytes",
        ],
        Some(0) => ["FILE_FS fs_name is empty", "SB fs_name is empty"],
        Some(n) if name[n..].iter().any(|&c| c != 0) => [
            "FILE_FS fs_name is not NUL-padded",
            "SB fs_name is not NUL-padded",
        ],
        Some(n) => return Ok(name[..n].to_vec()),
    };
    Err(ImageError::BadName {
        offset: off,
        why: why[sb as usize],
    })
}

/// The data of the SB_REC or SB_DATA record `b` found at `off`, whose fixed
/// part is `fixed` bytes and whose `data_len` field is at `len_at`: checked
/// as restart(2) checks it (`data_len` from `min` to the type's maximum,
/// `len` the aligned size of the data, zero padding).
fn sized_data(
    b: &[u8],
    off: usize,
    fixed: usize,
    len_at: usize,
    min: usize,
) -> Result<&[u8], ImageError> {
    let rtype = get_u32(b, 0);
    let (max, field, pad) = if rtype == CKPT_HDR_SB_REC {
        (
            CKPT_SB_REC_MAX,
            "sb_rec.data_len",
            "sb_rec padding after data",
        )
    } else {
        (
            CKPT_SB_DATA_MAX,
            "sb_data.data_len",
            "sb_data padding after data",
        )
    };
    let data_len = get_u32(b, len_at) as usize;
    if data_len < min || data_len > max {
        return Err(ImageError::BadField {
            offset: off,
            field,
            value: data_len as i64,
        });
    }
    if b.len() != align8(fixed + data_len) {
        return Err(ImageError::BadLen {
            offset: off,
            rtype,
            len: b.len(),
        });
    }
    check_padding(&b[fixed + data_len..], off, pad)?;
    Ok(&b[fixed..fixed + data_len])
}

/// Zero padding, or the error naming `field`.
fn check_padding(pad: &[u8], off: usize, field: &'static str) -> Result<(), ImageError> {
    if pad.iter().any(|&c| c != 0) {
        // at most 7 bytes: the value is the padding read as a little-endian u64
        let mut v = [0u8; 8];
        v[..pad.len()].copy_from_slice(pad);
        return Err(ImageError::ReservedNonZero {
            offset: off,
            field,
            value: u64::from_le_bytes(v),
        });
    }
    Ok(())
}

/// The FILE_FS record `b` (its `len` bytes, at least [`SIZE_FILE_FS`]) found
/// at `off`, checked as restart(2) checks it.
fn decode_file_fs(b: &[u8], off: usize) -> Result<FileFs, ImageError> {
    use offsets::*;
    let name = fs_name_of(b, off, FILE_FS_FS_NAME, false)?;
    let data_len = get_u32(b, FILE_FS_DATA_LEN) as usize;
    if data_len > CKPT_FILE_FS_MAX {
        return Err(ImageError::BadField {
            offset: off,
            field: "file_fs.data_len",
            value: data_len as i64,
        });
    }
    if b.len() != align8(SIZE_FILE_FS + data_len) {
        return Err(ImageError::BadLen {
            offset: off,
            rtype: CKPT_HDR_FILE_FS,
            len: b.len(),
        });
    }
    check_padding(
        &b[SIZE_FILE_FS + data_len..],
        off,
        "file_fs padding after data",
    )?;
    Ok(FileFs {
        fs_name: name,
        fs_version: get_u32(b, FILE_FS_FS_VERSION),
        data: b[SIZE_FILE_FS..SIZE_FILE_FS + data_len].to_vec(),
    })
}

/// The bytes before the first NUL, if there is one and everything after it is NUL.
fn nul_string(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().position(|&c| c == 0)?;
    if b[n..].iter().all(|&c| c == 0) {
        Some(&b[..n])
    } else {
        None
    }
}

/// Why a name cannot be in an image, or None when it can.
pub fn check_name(n: &[u8]) -> Option<&'static str> {
    if n.first() != Some(&b'/') {
        return Some("does not start with '/'");
    }
    if n.len() + 1 > CKPT_NAME_MAX {
        return Some("longer than CKPT_NAME_MAX");
    }
    if n.len() == 1 {
        return None;
    }
    if n.ends_with(b"/") {
        return Some("ends with '/'");
    }
    for c in n[1..].split(|&c| c == b'/') {
        match c {
            b".." => return Some("has a '..' component"),
            b"." => return Some("has a '.' component"),
            b"" => return Some("has an empty component"),
            _ => {}
        }
    }
    None
}

// ------------------------------------------------------------------- errors

/// The first problem found in an image.  Every variant that concerns a record
/// carries the record's byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// restart(2) would hold more than CKPT_IMAGE_MAX of the image
    /// ([`held_bytes`]).
    TooBig {
        len: usize,
    },
    /// The stream ends inside (or before) a record that must come at `offset`.
    Truncated {
        offset: usize,
    },
    /// The record's len runs past the end of the image.
    LenPastEnd {
        offset: usize,
        len: usize,
        end: usize,
    },
    /// len is not the size this record type has (or is out of bounds).
    BadLen {
        offset: usize,
        rtype: u32,
        len: usize,
    },
    /// len is not a multiple of 8.
    BadAlign {
        offset: usize,
        len: usize,
    },
    UnknownType {
        rtype: u32,
        offset: usize,
    },
    BadMagic {
        offset: usize,
        found: u64,
    },
    BadVersion {
        offset: usize,
        found: u16,
    },
    BadArch {
        offset: usize,
        found: u16,
    },
    /// The tail's CRC32C (`expected`) differs from the one computed (`actual`).
    BadCrc {
        offset: usize,
        expected: u32,
        actual: u32,
    },
    /// A record of type `rtype` where `expected` must come.
    BadOrder {
        offset: usize,
        rtype: u32,
        expected: &'static str,
    },
    BadName {
        offset: usize,
        why: &'static str,
    },
    ReservedNonZero {
        offset: usize,
        field: &'static str,
        value: u64,
    },
    /// A field with a value the format does not allow.
    BadField {
        offset: usize,
        field: &'static str,
        value: i64,
    },
    /// A count (nr_records) that does not match the stream.
    BadCount {
        offset: usize,
        field: &'static str,
        expected: u64,
        actual: u64,
    },
    /// Bytes after the TAIL record.
    TrailingData {
        offset: usize,
    },
    /// The image ends with an ERROR record: the checkpoint failed.
    ErrorRecord {
        offset: usize,
        err: i32,
        fd: i32,
        msg: String,
    },
}

impl ImageError {
    /// Byte offset of the offending record (0 for whole-image problems).
    pub fn offset(&self) -> usize {
        use ImageError::*;
        match *self {
            TooBig { .. } => 0,
            Truncated { offset }
            | LenPastEnd { offset, .. }
            | BadLen { offset, .. }
            | BadAlign { offset, .. }
            | UnknownType { offset, .. }
            | BadMagic { offset, .. }
            | BadVersion { offset, .. }
            | BadArch { offset, .. }
            | BadCrc { offset, .. }
            | BadOrder { offset, .. }
            | BadName { offset, .. }
            | ReservedNonZero { offset, .. }
            | BadField { offset, .. }
            | BadCount { offset, .. }
            | TrailingData { offset }
            | ErrorRecord { offset, .. } => offset,
        }
    }

    /// The errno restart(2) returns for this image: EIO for an ERROR record,
    /// EFBIG when too big, EINVAL otherwise.
    pub fn errno(&self) -> i32 {
        match self {
            ImageError::ErrorRecord { .. } => libc::EIO,
            ImageError::TooBig { .. } => libc::EFBIG,
            _ => libc::EINVAL,
        }
    }

    /// Short machine-friendly kind name ("BadCrc").
    pub fn kind(&self) -> &'static str {
        use ImageError::*;
        match self {
            TooBig { .. } => "TooBig",
            Truncated { .. } => "Truncated",
            LenPastEnd { .. } => "LenPastEnd",
            BadLen { .. } => "BadLen",
            BadAlign { .. } => "BadAlign",
            UnknownType { .. } => "UnknownType",
            BadMagic { .. } => "BadMagic",
            BadVersion { .. } => "BadVersion",
            BadArch { .. } => "BadArch",
            BadCrc { .. } => "BadCrc",
            BadOrder { .. } => "BadOrder",
            BadName { .. } => "BadName",
            ReservedNonZero { .. } => "ReservedNonZero",
            BadField { .. } => "BadField",
            BadCount { .. } => "BadCount",
            TrailingData { .. } => "TrailingData",
            ErrorRecord { .. } => "ErrorRecord",
        }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ImageError::*;
        match self {
            TooBig { len } => write!(f, "restart would hold {len} bytes of the image, more than CKPT_IMAGE_MAX ({CKPT_IMAGE_MAX})"),
            Truncated { offset } => write!(f, "offset {offset}: image truncated (record expected here)"),
            LenPastEnd { offset, len, end } => {
                write!(f, "offset {offset}: record len {len} runs past the end of the image ({end} bytes)")
            }
            BadLen { offset, rtype, len } => {
                write!(f, "offset {offset}: {} record has bad len {len}", type_name(*rtype))
            }
            BadAlign { offset, len } => write!(f, "offset {offset}: record len {len} is not a multiple of 8"),
            UnknownType { rtype, offset } => write!(f, "offset {offset}: unknown record type {rtype}"),
            BadMagic { offset, found } => write!(f, "offset {offset}: bad magic {found:#018x}"),
            BadVersion { offset, found } => {
                write!(
                    f,
                    "offset {offset}: unsupported version {found} (want {CKPT_VERSION_PLAIN} to {CKPT_VERSION})"
                )
            }
            BadArch { offset, found } => {
                write!(f, "offset {offset}: unsupported arch {found} (want {CKPT_ARCH_X86_64})")
            }
            BadCrc { offset, expected, actual } => write!(
                f,
                "offset {offset}: TAIL crc32c {expected:#010x} does not match computed {actual:#010x}"
            ),
            BadOrder { offset, rtype, expected } => write!(
                f,
                "offset {offset}: {} record ({rtype}) where {expected} was expected",
                type_name(*rtype)
            ),
            BadName { offset, why } => write!(f, "offset {offset}: bad name: {why}"),
            ReservedNonZero { offset, field, value } => {
                write!(f, "offset {offset}: reserved field {field} is {value:#x}, not 0")
            }
            BadField { offset, field, value } => write!(f, "offset {offset}: bad {field} {value}"),
            BadCount { offset, field, expected, actual } => {
                write!(f, "offset {offset}: {field} is {actual}, stream has {expected}")
            }
            TrailingData { offset } => write!(f, "offset {offset}: data after the TAIL record"),
            ErrorRecord { offset, err, fd, msg } => write!(
                f,
                "offset {offset}: ERROR record: checkpoint failed with {} on fd {fd}: {msg}",
                syscalls::errno_name(-err)
            ),
        }
    }
}

impl std::error::Error for ImageError {}

// -------------------------------------------------------------- whole image

/// A file (one struct file) recorded in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub objref: i32,
    pub file: File,
    /// Empty for an unlinked file ([`FileEntry::inode`]).
    pub name: Vec<u8>,
    /// The FILE_FS record after the FILE_NAME, if the file has one.
    pub fs: Option<FileFs>,
    /// The FILE_INODE record of an unlinked file ([`CKPT_FILE_SAVED`]).
    pub inode: Option<FileInode>,
}

/// An SB_REC or SB_DATA record of an SB section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbItem {
    Rec(SbRec),
    Data(SbData),
}

/// A superblock section of an image: its SB, FILE_NAME and the records up
/// to its SB_END (which holds nothing else: [`SbSection::end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbSection {
    /// Byte offset of the SB record (0 in a section built by hand).
    pub offset: usize,
    pub sb_id: u32,
    pub fs_name: Vec<u8>,
    pub fs_version: u32,
    /// Where the task reached the superblock: its mount root, from the
    /// task's root.
    pub mount: Vec<u8>,
    /// The SB_REC and SB_DATA records, each with its byte offset in the
    /// image (0 in a section built by hand).
    pub records: Vec<(usize, SbItem)>,
    /// Sum of the SB_DATA data lengths.
    pub data_bytes: u64,
}

impl SbSection {
    /// A section of sb_id `sb_id` holding `items` (offsets 0).
    pub fn new(
        sb_id: u32,
        fs_name: &str,
        fs_version: u32,
        mount: &str,
        items: Vec<SbItem>,
    ) -> Self {
        let data_bytes = items
            .iter()
            .map(|i| match i {
                SbItem::Data(d) => d.data.len() as u64,
                SbItem::Rec(_) => 0,
            })
            .sum();
        SbSection {
            offset: 0,
            sb_id,
            fs_name: fs_name.as_bytes().to_vec(),
            fs_version,
            mount: mount.as_bytes().to_vec(),
            records: items.into_iter().map(|i| (0, i)).collect(),
            data_bytes,
        }
    }

    /// The SB record.
    pub fn sb(&self) -> Sb {
        Sb {
            sb_id: self.sb_id,
            fs_version: self.fs_version,
            fs_name: self.fs_name.clone(),
            reserved: 0,
        }
    }

    /// The SB_END record.
    pub fn end(&self) -> SbEnd {
        SbEnd {
            sb_id: self.sb_id,
            nr_records: self.records.len() as u32,
            data_bytes: self.data_bytes,
        }
    }

    /// Every record of the section, SB to SB_END.
    pub fn to_records(&self) -> Vec<Record> {
        let mut v = vec![Record::Sb(self.sb()), Record::FileName(self.mount.clone())];
        v.extend(self.records.iter().map(|(_, i)| match i {
            SbItem::Rec(r) => Record::SbRec(r.clone()),
            SbItem::Data(d) => Record::SbData(d.clone()),
        }));
        v.push(Record::SbEnd(self.end()));
        v
    }
}

/// A fully validated image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub header: Header,
    pub fs: Fs,
    pub root: Vec<u8>,
    pub cwd: Vec<u8>,
    /// The superblock sections (version 2 images only), sb_id 1, 2, ...
    pub sbs: Vec<SbSection>,
    /// Files in order of first use (objref 1, 2, ...).
    pub files: Vec<FileEntry>,
    /// File descriptors, ascending.
    pub fds: Vec<FileDesc>,
    pub tail: Tail,
}

impl Image {
    /// The file an fd refers to.
    pub fn file_of(&self, d: &FileDesc) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.objref == d.fd_objref)
    }

    /// The records of this image, tail excluded.
    pub fn records(&self) -> Vec<Record> {
        let mut v = vec![
            Record::Header(self.header.clone()),
            Record::Fs(self.fs.clone()),
            Record::FileName(self.root.clone()),
            Record::FileName(self.cwd.clone()),
        ];
        for sb in &self.sbs {
            v.extend(sb.to_records());
        }
        v.push(Record::FileTable(FileTable {
            nr_fds: self.fds.len() as u32,
            reserved: 0,
        }));
        let mut seen = std::collections::HashSet::new();
        for d in &self.fds {
            if seen.insert(d.fd_objref) {
                if let Some(f) = self.file_of(d) {
                    v.push(Record::Objref(Objref {
                        objtype: CKPT_OBJ_FILE,
                        objref: f.objref,
                    }));
                    v.push(Record::File(f.file.clone()));
                    match &f.inode {
                        Some(i) => v.push(Record::FileInode(i.clone())),
                        None => v.push(Record::FileName(f.name.clone())),
                    }
                    if let Some(fs) = &f.fs {
                        v.push(Record::FileFs(fs.clone()));
                    }
                }
            }
            v.push(Record::FileDesc(d.clone()));
        }
        v
    }

    /// Encode with a freshly computed tail.
    pub fn encode(&self) -> Vec<u8> {
        encode_with_tail(&self.records())
    }
}

/// Encode `records` and append a TAIL with the right CRC and record count.
pub fn encode_with_tail(records: &[Record]) -> Vec<u8> {
    let mut out = encode_records(records);
    append_tail(&mut out, records.len() as u32);
    out
}

/// Encode `records` back to back, nothing added.
pub fn encode_records(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        r.encode(&mut out);
    }
    out
}

/// Append a TAIL record over everything already in `out`.
pub fn append_tail(out: &mut Vec<u8>, nr_records: u32) {
    let crc = crc32c(out);
    Record::Tail(Tail {
        magic: CKPT_MAGIC_TAIL,
        crc32c: crc,
        nr_records,
    })
    .encode(out);
}

/// Result of walking an image: every record read (with its offset), the
/// validated image when everything was right, or the first problem.
#[derive(Debug, Clone)]
pub struct Scan {
    pub records: Vec<(usize, Record)>,
    pub result: Result<Image, ImageError>,
    /// CRC32C computed over the bytes before the TAIL, when a TAIL was reached.
    pub computed_crc: Option<u32>,
}

/// Walk `buf` with every rule restart(2) applies and stop at the first problem.
///
/// Like restart(2), an ERROR record in the well-formed prefix of the stream
/// (records whose length is sane, whatever their type) wins over any other
/// problem: the image is that of a failed checkpoint.
/// The highest fd number among the image's FILE_DESC records, from the
/// record framing alone (no decoding, no checksum): what `ckpt restart`
/// needs to keep its own fds out of the way, at the cost of one pass over
/// the record headers.  The walk stops at the first record whose framing
/// is bad; restart(2) refuses such an image before it installs anything.
pub fn highest_fd(buf: &[u8]) -> Option<i32> {
    highest_fd_at(buf.len() as u64, read_at_slice(buf))
}

/// A `read_at(offset, buf)` over an image in memory, for [`highest_fd_at`]
/// and [`saved_mounts`]: UnexpectedEof past its end, as `pread` of a file.
pub fn read_at_slice(img: &[u8]) -> impl Fn(u64, &mut [u8]) -> std::io::Result<()> + '_ {
    move |off, b| {
        let off = usize::try_from(off).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let end = off
            .checked_add(b.len())
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        b.copy_from_slice(img.get(off..end).ok_or(std::io::ErrorKind::UnexpectedEof)?);
        Ok(())
    }
}

/// [`highest_fd`] of an image of `size` bytes read with `read_at(offset,
/// buf)` (`pread` of a file): only the record headers and FILE_DESCs are
/// read.
pub fn highest_fd_at(
    size: u64,
    read_at: impl Fn(u64, &mut [u8]) -> std::io::Result<()>,
) -> Option<i32> {
    let (mut off, mut top) = (0u64, None::<i32>);
    while size - off >= SIZE_HDR as u64 {
        let mut h = [0u8; 16];
        let n = if size - off >= 16 { 16 } else { SIZE_HDR };
        if read_at(off, &mut h[..n]).is_err() {
            break;
        }
        let len = get_u32(&h, 4) as u64;
        if len < SIZE_HDR as u64 || !len.is_multiple_of(8) || len > size - off {
            break;
        }
        if get_u32(&h, 0) == CKPT_HDR_FILE_DESC && len == SIZE_FILE_DESC as u64 {
            let fd = get_i32(&h, 12);
            top = Some(top.map_or(fd, |t| t.max(fd)));
        }
        off += len;
    }
    top
}

/// Bytes of `buf` restart(2) holds in memory when it reads the image from
/// a regular file: every record up to where the framing breaks (only its
/// header then), but for the data of an SB_DATA record, held as a 48-byte
/// stand-in (the kernel's `struct ckpt_sb_left`).  More than
/// [`CKPT_IMAGE_MAX`] is EFBIG.
pub fn held_bytes(buf: &[u8]) -> usize {
    const LEFT: usize = 48;
    let (mut off, mut held) = (0usize, 0usize);
    while buf.len() - off >= SIZE_HDR {
        let (ty, len) = (get_u32(buf, off), get_u32(buf, off + 4) as usize);
        if len < SIZE_HDR || !len.is_multiple_of(8) {
            return held + SIZE_HDR;
        }
        let data = ty == CKPT_HDR_SB_DATA && len > LEFT && len <= SIZE_SB_DATA + CKPT_SB_DATA_MAX;
        if data && len <= buf.len() - off {
            held += LEFT;
        } else {
            held += len.min(buf.len() - off);
        }
        off += len.min(buf.len() - off);
    }
    held + (buf.len() - off)
}

/// Bytes at the end of an image that [`last_fd`] reads.
pub const LAST_FD_WINDOW: usize = SIZE_FILE_DESC + SIZE_TAIL;

/// The highest fd of an image from its last [`LAST_FD_WINDOW`] bytes alone.
/// A valid image lists its descriptors in ascending order and ends with the
/// last one's FILE_DESC and the TAIL (Documentation/checkpoint/format.rst),
/// so when `end` is a FILE_DESC followed by a TAIL, that FILE_DESC's fd is
/// the highest.  None when `end` is not shaped so (no fds, or not a valid
/// image: then [`highest_fd`] over the whole image decides).
pub fn last_fd(end: &[u8]) -> Option<i32> {
    if end.len() != LAST_FD_WINDOW {
        return None;
    }
    let desc = get_u32(end, 0) == CKPT_HDR_FILE_DESC && get_u32(end, 4) as usize == SIZE_FILE_DESC;
    let tail = get_u32(end, SIZE_FILE_DESC) == CKPT_HDR_TAIL
        && get_u32(end, SIZE_FILE_DESC + 4) as usize == SIZE_TAIL;
    (desc && tail).then(|| get_i32(end, 12))
}

/// A file system an image saved, as `ckpt restart` needs it to make the
/// mount restart(2) rebuilds it into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMount {
    /// `SB.fs_name`.
    pub fs_name: String,
    /// Its mount root, from the task's root (the `FILE_NAME` after the SB).
    pub mount: Vec<u8>,
}

/// The task's root (relative to the checkpointing caller's root) and the
/// file systems saved in an image, in SB order, from the record framing
/// of the records before the FILE_TABLE, read with `read_at(offset,
/// buf)` (a whole image in memory or `pread` of a file): the data chunks
/// are skipped, not read.  None when the framing before the FILE_TABLE
/// is broken; restart(2) refuses such an image.
pub fn saved_mounts(
    read_at: impl Fn(u64, &mut [u8]) -> std::io::Result<()>,
) -> Option<(Vec<u8>, Vec<SavedMount>)> {
    let name = |off: u64, len: usize| -> Option<Vec<u8>> {
        let mut b = vec![0u8; len.checked_sub(SIZE_HDR)?];
        read_at(off + SIZE_HDR as u64, &mut b).ok()?;
        let end = b.iter().position(|&c| c == 0)?;
        b.truncate(end);
        Some(b)
    };
    let (mut off, mut root, mut mounts) = (0u64, None, Vec::new());
    let mut fs_name = None;
    let mut names_after_fs = 0;
    loop {
        let mut h = [0u8; SIZE_HDR];
        read_at(off, &mut h).ok()?;
        let (ty, len) = (get_u32(&h, 0), get_u32(&h, 4) as usize);
        if len < SIZE_HDR || !len.is_multiple_of(8) || len > CKPT_IMAGE_MAX {
            return None;
        }
        match ty {
            CKPT_HDR_FS => names_after_fs = 1,
            CKPT_HDR_FILE_NAME if names_after_fs == 1 => {
                root = Some(name(off, len)?);
                names_after_fs = 2;
            }
            CKPT_HDR_SB if len >= 40 => {
                let mut sb = [0u8; 40];
                read_at(off, &mut sb).ok()?;
                let raw = &sb[16..32];
                let n = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
                fs_name = Some(String::from_utf8_lossy(&raw[..n]).into_owned());
            }
            CKPT_HDR_FILE_NAME if fs_name.is_some() => mounts.push(SavedMount {
                fs_name: fs_name.take()?,
                mount: name(off, len)?,
            }),
            CKPT_HDR_FILE_TABLE | CKPT_HDR_TAIL | CKPT_HDR_ERROR => break,
            _ => {}
        }
        off += len as u64;
    }
    Some((root?, mounts))
}

pub fn scan(buf: &[u8]) -> Scan {
    walk(buf, true)
}

fn walk(buf: &[u8], keep: bool) -> Scan {
    let mut w = Walker {
        buf,
        off: 0,
        records: Vec::new(),
        keep,
        count: 0,
        computed_crc: None,
    };
    let mut result = w.walk();
    if let Err(e) = &result {
        if !matches!(
            e,
            ImageError::TooBig { .. } | ImageError::ErrorRecord { .. }
        ) {
            if let Some(err) = find_error_record(buf) {
                result = Err(err);
            }
        }
    }
    Scan {
        records: w.records,
        result,
        computed_crc: w.computed_crc,
    }
}

/// The first ERROR record among the records whose `len` is at least a
/// header, a multiple of 8 and inside the buffer: restart(2)'s pre-scan.
fn find_error_record(buf: &[u8]) -> Option<ImageError> {
    let mut off = 0;
    while buf.len() - off >= SIZE_HDR {
        let len = get_u32(buf, off + 4) as usize;
        if len < SIZE_HDR || !len.is_multiple_of(8) || len > buf.len() - off {
            return None;
        }
        if get_u32(buf, off) == CKPT_HDR_ERROR {
            let b = &buf[off..off + len];
            let field = |at: usize| if len >= at + 4 { get_i32(b, at) } else { 0 };
            let msg = b.get(16..).unwrap_or(&[]);
            let msg = &msg[..msg.iter().position(|&c| c == 0).unwrap_or(msg.len())];
            return Some(ImageError::ErrorRecord {
                offset: off,
                err: field(8),
                fd: field(12),
                msg: String::from_utf8_lossy(msg).into_owned(),
            });
        }
        off += len;
    }
    None
}

/// Strictly decode and validate a whole image.
pub fn decode(buf: &[u8]) -> Result<Image, ImageError> {
    walk(buf, false).result
}

struct Walker<'a> {
    buf: &'a [u8],
    off: usize,
    /// Every record read, when `keep` (a [`scan`]): [`decode`] does not
    /// keep them, so that the data of SB records is copied once only.
    records: Vec<(usize, Record)>,
    keep: bool,
    /// Records read.
    count: usize,
    computed_crc: Option<u32>,
}

impl Walker<'_> {
    /// Read the next record; an ERROR record anywhere ends the walk.
    fn next(&mut self) -> Result<(usize, Record), ImageError> {
        let off = self.off;
        let (rec, len) = Record::decode_at(self.buf, off)?;
        if self.keep {
            self.records.push((off, rec.clone()));
        }
        self.count += 1;
        self.off += len;
        if let Record::Error(e) = &rec {
            if e.err >= 0 {
                return Err(ImageError::BadField {
                    offset: off,
                    field: "error err",
                    value: e.err as i64,
                });
            }
            return Err(ImageError::ErrorRecord {
                offset: off,
                err: e.err,
                fd: e.fd,
                msg: String::from_utf8_lossy(&e.msg).into_owned(),
            });
        }
        Ok((off, rec))
    }

    fn peek_type(&self) -> Option<u32> {
        if self.buf.len() >= self.off + SIZE_HDR {
            Some(get_u32(self.buf, self.off))
        } else {
            None
        }
    }

    fn name(&mut self, what: &'static str) -> Result<Vec<u8>, ImageError> {
        match self.next()? {
            (off, Record::FileName(n)) => {
                if let Some(why) = check_name(&n) {
                    return Err(ImageError::BadName { offset: off, why });
                }
                Ok(n)
            }
            (off, r) => Err(ImageError::BadOrder {
                offset: off,
                rtype: r.rtype(),
                expected: what,
            }),
        }
    }

    /// The SB sections after FILE_NAME(cwd), checked as restart(2) checks
    /// them (`ckpt_skip_sbs()`): framing, order, counts and chunk CRCs.
    fn sections(&mut self, version: u16) -> Result<Vec<SbSection>, ImageError> {
        let mut sbs: Vec<SbSection> = Vec::new();
        while self.peek_type() == Some(CKPT_HDR_SB) {
            let (off, Record::Sb(sb)) = self.next()? else {
                unreachable!("peeked an SB")
            };
            if version < CKPT_VERSION {
                return Err(ImageError::BadOrder {
                    offset: off,
                    rtype: CKPT_HDR_SB,
                    expected: "FILE_TABLE (an SB in a version 1 image)",
                });
            }
            if sb.sb_id as usize != sbs.len() + 1 {
                return Err(ImageError::BadField {
                    offset: off,
                    field: "sb.sb_id (not the next superblock number)",
                    value: sb.sb_id as i64,
                });
            }
            if sb.reserved != 0 {
                return Err(ImageError::ReservedNonZero {
                    offset: off,
                    field: "sb.reserved",
                    value: sb.reserved,
                });
            }
            let mount = self.name("FILE_NAME (mount)")?;
            let mut records = Vec::new();
            let mut data_bytes = 0u64;
            while let Some(CKPT_HDR_SB_REC | CKPT_HDR_SB_DATA) = self.peek_type() {
                match self.next()? {
                    (roff, Record::SbRec(r)) => records.push((roff, SbItem::Rec(r))),
                    (roff, Record::SbData(d)) => {
                        if records.is_empty() {
                            return Err(ImageError::BadOrder {
                                offset: roff,
                                rtype: CKPT_HDR_SB_DATA,
                                expected: "SB_REC (an SB_DATA follows an SB_REC or an SB_DATA)",
                            });
                        }
                        data_bytes += d.data.len() as u64;
                        records.push((roff, SbItem::Data(d)));
                    }
                    _ => unreachable!("peeked an SB_REC or SB_DATA"),
                }
            }
            let end = match self.next()? {
                (eoff, Record::SbEnd(e)) => (eoff, e),
                (eoff, r) => {
                    return Err(ImageError::BadOrder {
                        offset: eoff,
                        rtype: r.rtype(),
                        expected: "SB_REC, SB_DATA or SB_END",
                    })
                }
            };
            let (eoff, e) = end;
            if e.sb_id != sb.sb_id {
                return Err(ImageError::BadField {
                    offset: eoff,
                    field: "sb_end.sb_id (not its SB's)",
                    value: e.sb_id as i64,
                });
            }
            if e.nr_records as usize != records.len() {
                return Err(ImageError::BadCount {
                    offset: eoff,
                    field: "sb_end.nr_records",
                    expected: records.len() as u64,
                    actual: e.nr_records as u64,
                });
            }
            if e.data_bytes != data_bytes {
                return Err(ImageError::BadCount {
                    offset: eoff,
                    field: "sb_end.data_bytes",
                    expected: data_bytes,
                    actual: e.data_bytes,
                });
            }
            sbs.push(SbSection {
                offset: off,
                sb_id: sb.sb_id,
                fs_name: sb.fs_name,
                fs_version: sb.fs_version,
                mount,
                records,
                data_bytes,
            });
        }
        Ok(sbs)
    }

    fn walk(&mut self) -> Result<Image, ImageError> {
        let held = held_bytes(self.buf);
        if held > CKPT_IMAGE_MAX {
            return Err(ImageError::TooBig { len: held });
        }
        // HEADER
        let header = match self.next()? {
            (off, Record::Header(h)) => {
                if h.magic != CKPT_MAGIC_HEAD {
                    return Err(ImageError::BadMagic {
                        offset: off,
                        found: h.magic,
                    });
                }
                if !(CKPT_VERSION_PLAIN..=CKPT_VERSION).contains(&h.version) {
                    return Err(ImageError::BadVersion {
                        offset: off,
                        found: h.version,
                    });
                }
                if h.arch != CKPT_ARCH_X86_64 {
                    return Err(ImageError::BadArch {
                        offset: off,
                        found: h.arch,
                    });
                }
                if h.reserved != 0 {
                    return Err(ImageError::ReservedNonZero {
                        offset: off,
                        field: "header.reserved",
                        value: h.reserved as u64,
                    });
                }
                if !h.release.contains(&0) {
                    return Err(ImageError::BadField {
                        offset: off,
                        field: "header.release (no NUL)",
                        value: 0,
                    });
                }
                if h.uflags as u64 & !CHECKPOINT_USER_FLAGS != 0 {
                    return Err(ImageError::BadField {
                        offset: off,
                        field: "header.uflags",
                        value: h.uflags as i64,
                    });
                }
                let contents = h.uflags as u64 & CHECKPOINT_CONTENTS != 0;
                if contents != (h.version > CKPT_VERSION_PLAIN) {
                    return Err(ImageError::BadField {
                        offset: off,
                        field: "header.uflags (CHECKPOINT_CONTENTS is set iff version is 2)",
                        value: h.uflags as i64,
                    });
                }
                h
            }
            (off, r) => {
                return Err(ImageError::BadOrder {
                    offset: off,
                    rtype: r.rtype(),
                    expected: "HEADER",
                })
            }
        };
        // FS root cwd
        let fs = match self.next()? {
            (off, Record::Fs(f)) => {
                if f.reserved != 0 {
                    return Err(ImageError::ReservedNonZero {
                        offset: off,
                        field: "fs.reserved",
                        value: f.reserved as u64,
                    });
                }
                if f.umask & !0o777 != 0 {
                    return Err(ImageError::BadField {
                        offset: off,
                        field: "fs.umask",
                        value: f.umask as i64,
                    });
                }
                f
            }
            (off, r) => {
                return Err(ImageError::BadOrder {
                    offset: off,
                    rtype: r.rtype(),
                    expected: "FS",
                })
            }
        };
        let root = self.name("FILE_NAME (root)")?;
        let cwd = self.name("FILE_NAME (cwd)")?;
        let sbs = self.sections(header.version)?;
        // FILE_TABLE
        let (table_off, table) = match self.next()? {
            (off, Record::FileTable(t)) => {
                if t.reserved != 0 {
                    return Err(ImageError::ReservedNonZero {
                        offset: off,
                        field: "file_table.reserved",
                        value: t.reserved as u64,
                    });
                }
                (off, t)
            }
            (off, r) => {
                return Err(ImageError::BadOrder {
                    offset: off,
                    rtype: r.rtype(),
                    expected: "FILE_TABLE",
                })
            }
        };
        let mut files: Vec<FileEntry> = Vec::new();
        let mut fds: Vec<FileDesc> = Vec::new();
        loop {
            match self.peek_type() {
                Some(CKPT_HDR_TAIL) | None => break,
                _ => {}
            }
            // [OBJREF FILE FILE_NAME [FILE_FS]] FILE_DESC
            let (off, rec) = self.next()?;
            let rec = match rec {
                Record::Objref(o) => {
                    if o.objtype != CKPT_OBJ_FILE {
                        return Err(ImageError::BadField {
                            offset: off,
                            field: "objref.objtype",
                            value: o.objtype as i64,
                        });
                    }
                    let want = files.len() as i32 + 1;
                    if o.objref != want {
                        return Err(ImageError::BadField {
                            offset: off,
                            field: "objref.objref",
                            value: o.objref as i64,
                        });
                    }
                    let file = match self.next()? {
                        (foff, Record::File(f)) => {
                            if f.f_type != CKPT_FILE_GENERIC && f.f_type != CKPT_FILE_SAVED {
                                return Err(ImageError::BadField {
                                    offset: foff,
                                    field: "file.f_type",
                                    value: f.f_type as i64,
                                });
                            }
                            let acc = f.f_flags & 3;
                            // Access mode 3 (ioctl-only) restores with f_mode 0, as open(2) allows it.
                            if f.f_flags & !VALID_OPEN_FLAGS != 0
                                || f.f_flags & FORBIDDEN_FILE_FLAGS != 0
                            {
                                return Err(ImageError::BadField {
                                    offset: foff,
                                    field: "file.f_flags",
                                    value: f.f_flags as i64,
                                });
                            }
                            if f.f_mode != (acc + 1) & 3 {
                                return Err(ImageError::BadField {
                                    offset: foff,
                                    field: "file.f_mode",
                                    value: f.f_mode as i64,
                                });
                            }
                            if f.f_pos < 0 {
                                return Err(ImageError::BadField {
                                    offset: foff,
                                    field: "file.f_pos",
                                    value: f.f_pos,
                                });
                            }
                            let t = f.i_mode & 0o170000;
                            if t != 0o100000 && t != 0o040000 {
                                return Err(ImageError::BadField {
                                    offset: foff,
                                    field: "file.i_mode",
                                    value: f.i_mode as i64,
                                });
                            }
                            f
                        }
                        (foff, r) => {
                            return Err(ImageError::BadOrder {
                                offset: foff,
                                rtype: r.rtype(),
                                expected: "FILE",
                            })
                        }
                    };
                    // an unlinked file of a saved superblock: FILE_INODE
                    let inode = if file.f_type == CKPT_FILE_SAVED {
                        match self.next()? {
                            (ioff, Record::FileInode(i)) => {
                                if i.reserved != 0
                                    || i.ino == 0
                                    || i.sb_id == 0
                                    || i.sb_id as usize > sbs.len()
                                    || file.i_mode & 0o170000 != 0o100000
                                {
                                    return Err(ImageError::BadField {
                                        offset: ioff,
                                        field: "file_inode",
                                        value: i.sb_id as i64,
                                    });
                                }
                                Some(i)
                            }
                            (ioff, r) => {
                                return Err(ImageError::BadOrder {
                                    offset: ioff,
                                    rtype: r.rtype(),
                                    expected: "FILE_INODE",
                                })
                            }
                        }
                    } else {
                        None
                    };
                    let name = if inode.is_some() {
                        Vec::new()
                    } else {
                        self.name("FILE_NAME (file)")?
                    };
                    // at most one FILE_FS, right after the FILE_NAME: a second
                    // one is where the FILE_DESC must come
                    let fs = if inode.is_none() && self.peek_type() == Some(CKPT_HDR_FILE_FS) {
                        match self.next()? {
                            (_, Record::FileFs(f)) => Some(f),
                            _ => unreachable!("peeked a FILE_FS"),
                        }
                    } else {
                        None
                    };
                    files.push(FileEntry {
                        objref: o.objref,
                        file,
                        name,
                        fs,
                        inode,
                    });
                    match self.next()? {
                        (doff, Record::FileDesc(d)) => {
                            if d.fd_objref != o.objref {
                                return Err(ImageError::BadField {
                                    offset: doff,
                                    field: "file_desc.fd_objref (not the objref just defined)",
                                    value: d.fd_objref as i64,
                                });
                            }
                            (doff, d)
                        }
                        (doff, r) => {
                            return Err(ImageError::BadOrder {
                                offset: doff,
                                rtype: r.rtype(),
                                expected: "FILE_DESC",
                            })
                        }
                    }
                }
                Record::FileDesc(d) => (off, d),
                r => {
                    return Err(ImageError::BadOrder {
                        offset: off,
                        rtype: r.rtype(),
                        expected: "OBJREF, FILE_DESC or TAIL",
                    })
                }
            };
            let (doff, d) = rec;
            if d.fd_objref < 1 || d.fd_objref as usize > files.len() {
                return Err(ImageError::BadField {
                    offset: doff,
                    field: "file_desc.fd_objref",
                    value: d.fd_objref as i64,
                });
            }
            if d.fd < 0 || fds.last().is_some_and(|p| d.fd <= p.fd) {
                return Err(ImageError::BadField {
                    offset: doff,
                    field: "file_desc.fd (not ascending)",
                    value: d.fd as i64,
                });
            }
            if d.close_on_exec > 1 {
                return Err(ImageError::BadField {
                    offset: doff,
                    field: "file_desc.close_on_exec",
                    value: d.close_on_exec as i64,
                });
            }
            if d.reserved != 0 {
                return Err(ImageError::ReservedNonZero {
                    offset: doff,
                    field: "file_desc.reserved",
                    value: d.reserved as u64,
                });
            }
            fds.push(d);
        }
        // TAIL
        let tail_off = self.off;
        if self.peek_type().is_none() {
            return Err(ImageError::Truncated { offset: tail_off });
        }
        if fds.len() != table.nr_fds as usize {
            return Err(ImageError::BadCount {
                offset: table_off,
                field: "file_table.nr_fds",
                expected: fds.len() as u64,
                actual: table.nr_fds as u64,
            });
        }
        let nrec = self.count as u64;
        let (off, rec) = self.next()?;
        let tail = match rec {
            Record::Tail(t) => t,
            r => {
                return Err(ImageError::BadOrder {
                    offset: off,
                    rtype: r.rtype(),
                    expected: "TAIL",
                })
            }
        };
        if tail.magic != CKPT_MAGIC_TAIL {
            return Err(ImageError::BadMagic {
                offset: off,
                found: tail.magic,
            });
        }
        let actual = crc32c(&self.buf[..tail_off]);
        self.computed_crc = Some(actual);
        if tail.crc32c != actual {
            return Err(ImageError::BadCrc {
                offset: off,
                expected: tail.crc32c,
                actual,
            });
        }
        if tail.nr_records as u64 != nrec {
            return Err(ImageError::BadCount {
                offset: off,
                field: "tail.nr_records",
                expected: nrec,
                actual: tail.nr_records as u64,
            });
        }
        if self.off != self.buf.len() {
            return Err(ImageError::TrailingData { offset: self.off });
        }
        Ok(Image {
            header,
            fs,
            root,
            cwd,
            sbs,
            files,
            fds,
            tail,
        })
    }
}
