//! Deterministic mutator of checkpoint images for the restart(2) fuzz pass.
//!
//! Everything is a pure function of (base image, donor image, seed): the
//! same seed on the same base images gives the same mutant, so a failure
//! replays (`CR_FUZZ_SEED=S CR_FUZZ_N=1 cr-harness ckpt-fuzz`; see
//! Documentation/hardening.rst).  The mutator works on the raw records of
//! a valid image (split by their `len`) and, for the mutations meant to be
//! "valid except for X", re-seals the image: a fresh TAIL with the right
//! CRC32C and record count, so that restart(2) gets past the checksum to
//! the deeper checks.

use ckpt_image::{
    align8, append_tail, decode, Image, Record, CKPT_HDR_ERROR, CKPT_HDR_FILE, CKPT_HDR_FILE_DESC,
    CKPT_HDR_FILE_FS, CKPT_HDR_FILE_NAME, CKPT_HDR_FILE_TABLE, CKPT_HDR_FS, CKPT_HDR_HEADER,
    CKPT_HDR_OBJREF, CKPT_HDR_TAIL, CKPT_MAGIC_TAIL,
};

/// splitmix64: tiny, fast, good enough, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x005e_ed0f_c4ec_4b01)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())].clone()
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// A mutated image and what was done to it (for the replay message).
pub struct Mutant {
    pub bytes: Vec<u8>,
    pub ops: Vec<String>,
}

/// Split an image into its records by their `len` fields (the last chunk
/// keeps whatever does not parse).
pub fn split(img: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < img.len() {
        let len = if img.len() - off >= 8 {
            u32le(img, off + 4) as usize
        } else {
            0
        };
        if len < 8 || len > img.len() - off {
            v.push(img[off..].to_vec());
            break;
        }
        v.push(img[off..off + len].to_vec());
        off += len;
    }
    v
}

pub fn u32le(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    if off + 4 <= b.len() {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    if off + 8 <= b.len() {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
}
fn rtype(c: &[u8]) -> u32 {
    if c.len() >= 4 {
        u32le(c, 0)
    } else {
        0
    }
}

/// The records before the TAIL (the TAIL itself dropped, if last).
fn body(img: &[u8]) -> Vec<Vec<u8>> {
    let mut v = split(img);
    if v.last().map(|c| rtype(c)) == Some(CKPT_HDR_TAIL) {
        v.pop();
    }
    v
}

/// Concatenate the records and append a TAIL with the right CRC and count.
pub fn seal(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = chunks.concat();
    append_tail(&mut out, chunks.len() as u32);
    out
}

/// Boundary values for 32-bit fields.
const B32: &[u32] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    15,
    16,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x10000,
    999,
    1000,
    1023,
    1024,
    4095,
    4096,
    4104,
    0x7fff_fff8,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff8,
    0xffff_ffff,
    301,
    302,
    303,
    304,
    305,
    349,
    451,
    9001,
    9999,
];
/// Boundary values for 64-bit fields.
const B64: &[u64] = &[
    0,
    1,
    4096,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 40,
    0x7fff_ffff_ffff_f000,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
];
/// Unknown or out-of-place record types.  FILE_FS (305) has its place only
/// right after a file's FILE_NAME; it stays where 305 was, so that a seed
/// gives the mutant it gave before FILE_FS existed.
const TYPES: &[u32] = &[
    0,
    2,
    5,
    7,
    300,
    CKPT_HDR_FILE_FS,
    320,
    349,
    350,
    450,
    452,
    9000,
    9002,
    9998,
    0x8000_0000,
    0xffff_ffff,
    CKPT_HDR_HEADER,
    CKPT_HDR_OBJREF,
    CKPT_HDR_FILE_TABLE,
    CKPT_HDR_FILE_DESC,
    CKPT_HDR_FILE_NAME,
    CKPT_HDR_FILE,
    CKPT_HDR_FS,
    CKPT_HDR_TAIL,
    CKPT_HDR_ERROR,
];

/// Hostile names for FILE_NAME records (root, cwd or a file).
pub fn hostile_names(mnt: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "/",
        "",
        "/..",
        "/../etc/passwd",
        "/../../../../etc/passwd",
        "MNT/../../etc/passwd",
        "MNT/./f0",
        "MNT/f0/.",
        "MNT/f0/..",
        "MNT//f0",
        "//etc/passwd",
        "MNT/f0/",
        "etc/passwd",
        "f0",
        ".",
        "..",
        "/etc/passwd",
        "/etc",
        "/proc/self/root/etc/passwd",
        "/proc/self/fd/0",
        "/proc/self/cwd",
        "/proc/1/root",
        "/dev/null",
        "/dev/console",
        "/sys/kernel/debug/kmemleak",
        "MNT",
        "MNT/d0",
        "MNT/nonexistent",
        "MNT/f0/sub",
        "MNT/secret",
        "MNT/lnk",
        "MNT/f0\n",
        "/tmp",
    ]
    .iter()
    .map(|s| s.replace("MNT", mnt).into_bytes())
    .collect();
    // embedded NULs, non-UTF-8, control characters
    v.push(format!("{mnt}/f0\0/etc/passwd").into_bytes());
    v.push(format!("{mnt}/f0\0").into_bytes());
    v.push(b"\0/etc/passwd".to_vec());
    v.push(format!("{mnt}/\u{1}\u{7f}").into_bytes());
    let mut nu = format!("{mnt}/").into_bytes();
    nu.extend_from_slice(&[0xff, 0xfe, 0x80]);
    v.push(nu);
    // long names: a 255- and a 256-byte component, 4094/4095/4096/5000-byte paths
    v.push(format!("{mnt}/{}", "c".repeat(255)).into_bytes());
    v.push(format!("{mnt}/{}", "c".repeat(256)).into_bytes());
    for total in [4094usize, 4095, 4096, 4097, 5000, 8192] {
        let mut s = mnt.to_string();
        while s.len() < total {
            s.push_str("/abcdefghijklmnopqrstuvwxyz");
        }
        s.truncate(total);
        if s.ends_with('/') {
            s.pop();
            s.push('z');
        }
        v.push(s.into_bytes());
    }
    let mut dots = String::new();
    for _ in 0..1500 {
        dots.push_str("/..");
    }
    v.push(dots.into_bytes());
    v
}

/// A FILE_NAME record holding exactly `name` (canonical padding).
fn name_rec(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Record::FileName(name.to_vec()).encode(&mut out);
    out
}

/// The mutation strategies; `pick_strategy` chooses one per seed.
const STRATEGIES: &[&str] = &[
    "bitflip",
    "bitflip+seal",
    "boundary32+seal",
    "boundary64+seal",
    "len+seal",
    "truncate",
    "truncate+seal",
    "duplicate+seal",
    "reorder+seal",
    "delete+seal",
    "type+seal",
    "insert-unknown+seal",
    "header+seal",
    "fd+seal",
    "name+seal",
    "file-fields+seal",
    "objref+seal",
    "table+seal",
    "tail",
    "fs+seal",
    "error-record",
    "splice+seal",
    "stack",
];

/// Produce the mutant of `base` for `seed` (`donor` is another valid image,
/// for splicing; `mnt` the mount the base images live on).
pub fn mutate(base: &[u8], donor: &[u8], mnt: &str, seed: u64) -> Mutant {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::new();
    let strat = rng.below(STRATEGIES.len());
    let bytes = if STRATEGIES[strat] == "stack" {
        let mut cur = base.to_vec();
        for _ in 0..2 + rng.below(3) {
            let s = rng.below(STRATEGIES.len() - 1);
            cur = apply(&cur, donor, mnt, s, &mut rng, &mut ops);
        }
        if rng.chance(50) {
            ops.push("reseal".into());
            cur = seal(&body(&cur));
        }
        cur
    } else {
        apply(base, donor, mnt, strat, &mut rng, &mut ops)
    };
    Mutant { bytes, ops }
}

fn apply(
    img: &[u8],
    donor: &[u8],
    mnt: &str,
    strat: usize,
    rng: &mut Rng,
    ops: &mut Vec<String>,
) -> Vec<u8> {
    let name = STRATEGIES[strat];
    let mut recs = body(img);
    if recs.is_empty() {
        recs.push(vec![0; 8]);
    }
    let ri = rng.below(recs.len());
    let rt = rtype(&recs[ri]);
    let tn = ckpt_image::type_name(rt);
    match name {
        "bitflip" | "bitflip+seal" => {
            let mut b = if name == "bitflip" {
                img.to_vec()
            } else {
                recs.concat()
            };
            let n = 1 + rng.below(4);
            for _ in 0..n {
                if b.is_empty() {
                    break;
                }
                let o = rng.below(b.len());
                let bit = rng.below(8);
                b[o] ^= 1 << bit;
                ops.push(format!("{name} byte {o} bit {bit}"));
            }
            if name == "bitflip" {
                b
            } else {
                seal(&body_of_bytes(&b, recs.len()))
            }
        }
        "boundary32+seal" => {
            let c = &mut recs[ri];
            let slots = (c.len() / 4).max(1);
            let o = rng.below(slots) * 4;
            let mut v = rng.pick(B32);
            if rng.chance(20) {
                v = (c.len() as u32).wrapping_add(rng.pick(&[8u32, 0xffff_fff8, 16, 1]));
            }
            put32(c, o, v);
            ops.push(format!("record {ri} ({tn}) u32 at +{o} = {v:#x}"));
            seal(&recs)
        }
        "boundary64+seal" => {
            let c = &mut recs[ri];
            let slots = (c.len() / 8).max(1);
            let o = rng.below(slots) * 8;
            let v = rng.pick(B64);
            put64(c, o, v);
            ops.push(format!("record {ri} ({tn}) u64 at +{o} = {v:#x}"));
            seal(&recs)
        }
        "len+seal" => {
            let total: usize = recs.iter().map(|c| c.len()).sum();
            let before: usize = recs[..ri].iter().map(|c| c.len()).sum();
            let rest = (total + 24 - before) as u32; // to the end, TAIL included
            let cl = recs[ri].len() as u32;
            let v = rng.pick(&[
                0,
                4,
                8,
                cl.wrapping_sub(8),
                cl + 8,
                cl + 4,
                rest,
                rest + 8,
                rest - 8,
                rest + 0x1000,
                0x7fff_fff8,
                0xffff_fff8,
                0xffff_ffff,
                before as u32 + 8,
            ]);
            put32(&mut recs[ri], 4, v);
            ops.push(format!("record {ri} ({tn}) len {cl} -> {v:#x}"));
            seal(&recs)
        }
        "truncate" => {
            let n = rng.below(img.len() + 1);
            ops.push(format!("truncate to {n} of {}", img.len()));
            img[..n].to_vec()
        }
        "truncate+seal" => {
            // drop records from ri on (a short but sealed stream), or cut inside ri
            if rng.chance(50) {
                ops.push(format!("keep records 0..{ri}, sealed"));
                seal(&recs[..ri])
            } else {
                let cut = rng.below(recs[ri].len().max(1));
                recs[ri].truncate(cut);
                recs.truncate(ri + 1);
                ops.push(format!("cut record {ri} ({tn}) at {cut}, sealed"));
                seal(&recs)
            }
        }
        "duplicate+seal" => {
            let c = recs[ri].clone();
            let at = if rng.chance(60) {
                ri + 1
            } else {
                rng.below(recs.len() + 1)
            };
            recs.insert(at, c);
            ops.push(format!("duplicate record {ri} ({tn}) at {at}"));
            seal(&recs)
        }
        "reorder+seal" => {
            let j = if rng.chance(60) {
                (ri + 1).min(recs.len() - 1)
            } else {
                rng.below(recs.len())
            };
            recs.swap(ri, j);
            ops.push(format!("swap records {ri} ({tn}) and {j}"));
            seal(&recs)
        }
        "delete+seal" => {
            recs.remove(ri);
            ops.push(format!("delete record {ri} ({tn})"));
            seal(&recs)
        }
        "type+seal" => {
            let t = rng.pick(TYPES);
            put32(&mut recs[ri], 0, t);
            ops.push(format!("record {ri} ({tn}) type -> {t}"));
            seal(&recs)
        }
        "insert-unknown+seal" => {
            let t = rng.pick(TYPES);
            let len = rng.pick(&[8usize, 16, 24, 32, 112, 4104]);
            let mut c = vec![0u8; len];
            put32(&mut c, 0, t);
            put32(&mut c, 4, len as u32);
            let at = rng.below(recs.len() + 1);
            recs.insert(at, c);
            ops.push(format!("insert type {t} len {len} at {at}"));
            seal(&recs)
        }
        "header+seal" => {
            let h = &mut recs[0];
            let (what, o, v): (&str, usize, u64) = match rng.below(8) {
                0 => ("version", 16, rng.pick(&[0u64, 2, 0xff, 0xffff])),
                1 => ("arch", 18, rng.pick(&[0u64, 1, 3, 62, 0xffff])),
                2 => ("uflags", 20, rng.pick(&[2u64, 0x8000_0000, 0xffff_ffff])),
                3 => ("reserved", 44, rng.pick(&[1u64, 0xffff_ffff])),
                4 => (
                    "magic",
                    8,
                    rng.pick(&[0u64, 0x002d_2a0c_c0de_ef00, u64::MAX]),
                ),
                5 => ("release", 48, 0x4141_4141_4141_4141),
                6 => ("pid", 40, rng.pick(&[0u64, 0xffff_ffff, 1])),
                _ => ("crid/time", 24 + 8 * rng.below(2), rng.pick(B64)),
            };
            if what == "release" {
                for b in h.iter_mut().skip(48).take(64) {
                    *b = b'A';
                }
            } else if o == 16 || o == 18 {
                if o + 2 <= h.len() {
                    h[o..o + 2].copy_from_slice(&(v as u16).to_le_bytes());
                }
            } else if o == 8 || o == 24 || o == 32 {
                put64(h, o, v);
            } else {
                put32(h, o, v as u32);
            }
            ops.push(format!("header {what} = {v:#x}"));
            seal(&recs)
        }
        "fd+seal" | "name+seal" | "file-fields+seal" | "objref+seal" | "table+seal" | "fs+seal" => {
            structured(img, &mut recs, mnt, name, rng, ops)
        }
        "tail" => {
            let mut b = recs.concat();
            let n = recs.len() as u32;
            let crc = ckpt_image::crc32c(&b);
            let mut t = vec![0u8; 24];
            put32(&mut t, 0, CKPT_HDR_TAIL);
            put32(&mut t, 4, 24);
            put64(&mut t, 8, CKPT_MAGIC_TAIL);
            put32(&mut t, 16, crc);
            put32(&mut t, 20, n);
            match rng.below(7) {
                0 => {
                    put32(&mut t, 20, rng.pick(&[0, n - 1, n + 1, u32::MAX]));
                    ops.push("tail nr_records wrong".into());
                }
                1 => {
                    put32(&mut t, 16, crc ^ (1 << rng.below(32)));
                    ops.push("tail crc off by one bit".into());
                }
                2 => {
                    put64(&mut t, 8, rng.pick(B64));
                    ops.push("tail magic".into());
                }
                3 => {
                    let extra = rng.pick(&[1usize, 7, 8, 24]);
                    b.extend_from_slice(&t);
                    t = t[..extra.min(24)].to_vec();
                    ops.push(format!("{extra} bytes after the tail"));
                }
                4 => {
                    put32(&mut t, 4, rng.pick(&[16u32, 32, 0x7fff_fff8]));
                    ops.push("tail len".into());
                }
                5 => {
                    b.extend_from_slice(&t.clone());
                    ops.push("two tails".into());
                }
                _ => {
                    t.clear();
                    ops.push("no tail".into());
                }
            }
            b.extend_from_slice(&t);
            b
        }
        "error-record" => {
            let msg = rng.pick(&[&b""[..], b"x", b"failed", &[b'A'; 300][..]]);
            let mut c = vec![0u8; align8(16 + msg.len() + 1)];
            put32(&mut c, 0, CKPT_HDR_ERROR);
            let mut len = c.len() as u32;
            if rng.chance(30) {
                len = rng.pick(&[8u32, 12, 0x7fff_fff8]);
            }
            put32(&mut c, 4, len);
            put32(&mut c, 8, rng.pick(&[-9i32 as u32, 0, 0x8000_0000, 1]));
            put32(&mut c, 12, rng.pick(&[u32::MAX, 0, 1023]));
            c[16..16 + msg.len()].copy_from_slice(msg);
            let at = rng.below(recs.len() + 1);
            if rng.chance(50) {
                recs.insert(at, c);
                ops.push(format!("ERROR record (len {len}) inserted at {at}"));
                seal(&recs)
            } else {
                recs.truncate(at.max(1));
                recs.push(c);
                ops.push(format!(
                    "ERROR record (len {len}) instead of record {at} and the tail"
                ));
                recs.concat()
            }
        }
        "splice+seal" => {
            let d = body(donor);
            if d.is_empty() {
                return seal(&recs);
            }
            let di = rng.below(d.len());
            let at = rng.below(recs.len() + 1);
            if rng.chance(50) && at < recs.len() {
                recs[at] = d[di].clone();
                ops.push(format!("donor record {di} replaces record {at}"));
            } else {
                recs.insert(at, d[di].clone());
                ops.push(format!("donor record {di} inserted at {at}"));
            }
            seal(&recs)
        }
        _ => img.to_vec(),
    }
}

/// Re-split bytes that were mutated in place (record lengths may now lie):
/// keep the original chunk count where possible.
fn body_of_bytes(b: &[u8], _n: usize) -> Vec<Vec<u8>> {
    let v = split(b);
    if v.is_empty() {
        vec![b.to_vec()]
    } else {
        v
    }
}

/// Mutations of decoded fields, re-encoded through ckpt-image (so every
/// other record stays exactly valid).
fn structured(
    img: &[u8],
    recs: &mut Vec<Vec<u8>>,
    mnt: &str,
    name: &str,
    rng: &mut Rng,
    ops: &mut Vec<String>,
) -> Vec<u8> {
    let im: Image = match decode(img) {
        Ok(im) => im,
        Err(_) => return seal(recs),
    };
    // indices of the records by kind in the re-encoded stream
    let mut r: Vec<Record> = im.records();
    let idx = |r: &Vec<Record>, t: u32| -> Vec<usize> {
        r.iter()
            .enumerate()
            .filter(|(_, x)| x.rtype() == t)
            .map(|(i, _)| i)
            .collect()
    };
    match name {
        "fd+seal" => {
            let fds = idx(&r, CKPT_HDR_FILE_DESC);
            if let Some(&i) = fds.get(rng.below(fds.len().max(1))) {
                if let Record::FileDesc(d) = &mut r[i] {
                    let v = rng.pick(&[
                        -1i32,
                        -2,
                        i32::MIN,
                        i32::MAX,
                        0,
                        1,
                        2,
                        998,
                        999,
                        1000,
                        1023,
                        1024,
                        1025,
                        4096,
                        65535,
                        1 << 20,
                        (1 << 20) - 1,
                        d.fd + 1,
                        d.fd - 1,
                    ]);
                    match rng.below(4) {
                        0 => {
                            ops.push(format!("fd {} -> {v}", d.fd));
                            d.fd = v;
                        }
                        1 => {
                            let c = rng.pick(&[2u32, 0xffff_ffff, 0x8000_0000]);
                            ops.push(format!("fd {} close_on_exec = {c:#x}", d.fd));
                            d.close_on_exec = c;
                        }
                        2 => {
                            ops.push(format!("fd {} reserved = 1", d.fd));
                            d.reserved = 1;
                        }
                        _ => {
                            let o = rng.pick(&[0, -1, 2, 3, 100, i32::MAX, i32::MIN]);
                            ops.push(format!("fd {} fd_objref {} -> {o}", d.fd, d.fd_objref));
                            d.fd_objref = o;
                        }
                    }
                }
            }
        }
        "name+seal" => {
            let names = idx(&r, CKPT_HDR_FILE_NAME);
            let i = names[rng.below(names.len())];
            let hn = hostile_names(mnt);
            let n = rng.pick(&hn);
            ops.push(format!(
                "FILE_NAME record {i} = {:?}",
                String::from_utf8_lossy(&n[..n.len().min(80)])
            ));
            r[i] = Record::FileName(n);
        }
        "file-fields+seal" => {
            let files = idx(&r, CKPT_HDR_FILE);
            if let Some(&i) = files.get(rng.below(files.len().max(1))) {
                if let Record::File(f) = &mut r[i] {
                    match rng.below(5) {
                        0 => {
                            let fl = rng.pick(&[
                                0o1,
                                0o2,
                                0o3,
                                0o100,
                                0o200,
                                0o400,
                                0o1000,
                                0o2000,
                                0o4000,
                                0o40000,
                                0o200000,
                                0o400000,
                                0o1000000,
                                0o2000000,
                                0o10000000,
                                0o20200000,
                                0o40,
                                0x8000_0000,
                            ]);
                            let v = if rng.chance(50) { f.f_flags ^ fl } else { fl };
                            ops.push(format!("f_flags {:#o} -> {v:#o}", f.f_flags));
                            f.f_flags = v;
                            if rng.chance(60) {
                                f.f_mode = ((v & 3) + 1) & 3; // keep f_mode consistent
                            }
                        }
                        1 => {
                            let m = rng.pick(&[0u32, 1, 2, 3, 4, 0xffff_ffff]);
                            ops.push(format!("f_mode {} -> {m}", f.f_mode));
                            f.f_mode = m;
                        }
                        2 => {
                            let m = rng.pick(&[
                                0o100644, 0o40755, 0o120777, 0o20666, 0o60660, 0o10644, 0o140755,
                                0, 0o177777, 0o104755,
                            ]);
                            ops.push(format!("i_mode {:#o} -> {m:#o}", f.i_mode));
                            f.i_mode = m;
                        }
                        3 => {
                            let p = rng.pick(B64) as i64;
                            ops.push(format!("f_pos {} -> {p}", f.f_pos));
                            f.f_pos = p;
                        }
                        _ => {
                            let t = rng.pick(&[0u32, 2, 15, 16, 0xffff_ffff]);
                            ops.push(format!("f_type -> {t}"));
                            f.f_type = t;
                        }
                    }
                }
            }
        }
        "objref+seal" => {
            let objs = idx(&r, CKPT_HDR_OBJREF);
            if let Some(&i) = objs.get(rng.below(objs.len().max(1))) {
                if let Record::Objref(o) = &mut r[i] {
                    if rng.chance(30) {
                        o.objtype = rng.pick(&[0u32, 2, 0xffff_ffff]);
                        ops.push(format!("objref {} objtype {}", o.objref, o.objtype));
                    } else {
                        let v =
                            rng.pick(&[0, -1, i32::MIN, i32::MAX, o.objref + 1, o.objref - 1, 1]);
                        ops.push(format!("objref {} -> {v}", o.objref));
                        o.objref = v;
                    }
                }
            }
        }
        "table+seal" => {
            let t = idx(&r, CKPT_HDR_FILE_TABLE)[0];
            if let Record::FileTable(ft) = &mut r[t] {
                if rng.chance(20) {
                    ft.reserved = 1;
                    ops.push("FILE_TABLE reserved = 1".into());
                } else {
                    let n = ft.nr_fds;
                    let v = rng.pick(&[
                        0u32,
                        1,
                        n.wrapping_sub(1),
                        n + 1,
                        n * 2,
                        0x7fff_ffff,
                        u32::MAX,
                        1 << 20,
                    ]);
                    ops.push(format!("nr_fds {n} -> {v}"));
                    ft.nr_fds = v;
                }
            }
        }
        "fs+seal" => {
            let t = idx(&r, CKPT_HDR_FS)[0];
            if let Record::Fs(fs) = &mut r[t] {
                match rng.below(4) {
                    0 => {
                        fs.umask = rng.pick(&[0o1000u32, 0o7777, u32::MAX, 0o777, 0]);
                        ops.push(format!("umask {:#o}", fs.umask));
                    }
                    1 => {
                        fs.reserved = 1;
                        ops.push("FS reserved = 1".into());
                    }
                    2 => {
                        // root: somewhere else (needs CAP_SYS_CHROOT), or gone
                        let n = rng.pick(&[
                            mnt.to_string(),
                            format!("{mnt}/d0"),
                            "/nonexistent".into(),
                            "/tmp".into(),
                        ]);
                        ops.push(format!("root = {n}"));
                        r[t + 1] = Record::FileName(n.into_bytes());
                    }
                    _ => {
                        let n = rng.pick(&[
                            format!("{mnt}/f0"),
                            "/nonexistent".into(),
                            format!("{mnt}/noexec"),
                            "/proc/self".into(),
                        ]);
                        ops.push(format!("cwd = {n}"));
                        r[t + 2] = Record::FileName(n.into_bytes());
                    }
                }
            }
        }
        _ => {}
    }
    *recs = r
        .iter()
        .map(|x| {
            let mut o = Vec::new();
            x.encode(&mut o);
            o
        })
        .collect();
    let _ = name_rec;
    seal(recs)
}

/// Hand-made images for the fixed regression cases: `records` sealed.
pub fn sealed(records: &[Record]) -> Vec<u8> {
    ckpt_image::encode_with_tail(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_seal_round_trip() {
        let img = testsupport::two_files("/mnt/fuzz");
        assert!(decode(&img).is_ok());
        assert_eq!(seal(&body(&img)), img);
    }

    #[test]
    fn deterministic() {
        let img = testsupport::two_files("/mnt/fuzz");
        for s in 0..500 {
            let a = mutate(&img, &img, "/mnt/fuzz", s);
            let b = mutate(&img, &img, "/mnt/fuzz", s);
            assert_eq!(a.bytes, b.bytes, "seed {s}");
            assert_eq!(a.ops, b.ops);
        }
    }

    #[test]
    fn most_mutants_are_invalid() {
        let img = testsupport::two_files("/mnt/fuzz");
        let bad = (0..2000)
            .filter(|&s| decode(&mutate(&img, &img, "/mnt/fuzz", s).bytes).is_err())
            .count();
        assert!(bad > 1500, "only {bad} of 2000 mutants invalid");
    }
}
