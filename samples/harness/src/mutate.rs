//! Mutator of checkpoint images for the restart(2) fuzz pass, a pure function of (base, donor,
//! seed) so that a failure replays: edits raw records, re-seals mutants "valid except for X".

use ckpt_image::*;

/// splitmix64: tiny, fast, good enough, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
    pub fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())].clone()
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct as usize
    }
}

/// Split an image into records by their `len` (the last chunk keeps what does not parse).
pub fn split(img: &[u8]) -> Vec<Vec<u8>> {
    let (mut v, mut off) = (Vec::new(), 0);
    while off < img.len() {
        let len = get(img, off + 4, 4) as usize;
        let end = [img.len(), off + len][(8..=img.len() - off).contains(&len) as usize];
        v.push(img[off..end].to_vec());
        off = end;
    }
    v
}

pub fn u32le(b: &[u8], off: usize) -> u32 {
    get(b, off, 4) as u32
}

/// Write `n` bytes of `v` at `off`, little-endian (its 8 bytes repeated), if they fit in `b`.
fn put_le(b: &mut [u8], off: usize, v: u64, n: usize) {
    let field = b.get_mut(off..off + n).unwrap_or_default();
    let bytes = v.to_le_bytes().into_iter().cycle();
    field.iter_mut().zip(bytes).for_each(|(x, y)| *x = y);
}

/// The `n`-byte (up to 8) little-endian field at `off`, 0 when not in `b`.
fn get(b: &[u8], off: usize, n: usize) -> u64 {
    let f = b.get(off..off + n).unwrap_or_default();
    f.iter().rev().fold(0, |v, &x| v << 8 | x as u64)
}

/// The records before the TAIL (the TAIL itself dropped, if last).
pub fn body(img: &[u8]) -> Vec<Vec<u8>> {
    let mut v = split(img);
    v.pop_if(|c| u32le(c, 0) == CKPT_HDR_TAIL);
    v
}

/// The indices of the records of type `t`.
pub fn of_type(recs: &[Vec<u8>], t: u32) -> Vec<usize> {
    let is_t = |i: &usize| u32le(&recs[*i], 0) == t;
    (0..recs.len()).filter(is_t).collect()
}

/// Concatenate the records and append a TAIL with the right CRC and count.
pub fn seal(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = chunks.concat();
    append_tail(&mut out, chunks.len() as u32);
    out
}

/// Boundary values for 32-bit fields (record type numbers among them).
const B32: &[u64] = &[
    0, 1, 2, 3, 7, 8, 9, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 999, 1000, 1023, 1024,
    4095, 4096, 4104, 0x7ffffff8, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff, 301, 302, 303,
    304, 305, 349, 451, 9001, 9999,
];
/// Boundary values for 64-bit fields (PAGE: the last page below 2^63).
const B64: &[u64] = &[0, 1, 4096, IMAX, IMIN, NEG1, 1 << 40, PAGE, I64, !I64, !0];
const I64: u64 = i64::MAX as u64;
const PAGE: u64 = I64 & !0xfff;
/// Unknown record types, and known ones out of their place.
const TYPES: &[u64] = &[
    0, 2, 5, 7, 300, 320, 349, 350, 450, 452, 9000, 9002, 9998, 0x80000000, 0xffffffff, 1, 6, 301,
    302, 303, 304, 305, 451, 9001, 9999,
];

/// The "field" strategy: (name, record type, offset, width, how: `=` set, `+` add (`!0` is -1),
/// `^` xor or `*` multiply, values); 32-bit values are written as their low bytes.
type Field = (&'static str, u32, usize, usize, char, &'static [u64]);
#[rustfmt::skip]
const FIELDS: &[Field] = &[
    ("magic", CKPT_HDR_HEADER, 8, 8, '=', &[0, 0x002d_2a0c_c0de_ef00, !0]),
    ("version", CKPT_HDR_HEADER, 16, 2, '=', &[0, 2, 0xff, 0xffff]),
    ("arch", CKPT_HDR_HEADER, 18, 2, '=', &[0, 1, 3, 62, 0xffff]),
    ("uflags", CKPT_HDR_HEADER, 20, 4, '=', &[2, IMIN, NEG1]),
    ("crid", CKPT_HDR_HEADER, 24, 8, '=', B64),
    ("time", CKPT_HDR_HEADER, 32, 8, '=', B64),
    ("pid", CKPT_HDR_HEADER, 40, 4, '=', &[0, NEG1, 1]),
    ("reserved", CKPT_HDR_HEADER, 44, 4, '=', &[1, NEG1]),
    ("release, no NUL", CKPT_HDR_HEADER, 48, 64, '=', &[AAAA]),
    ("umask", CKPT_HDR_FS, 8, 4, '=', &[0o1000, 0o7777, NEG1, 0o777, 0]),
    ("reserved", CKPT_HDR_FS, 12, 4, '=', &[1]),
    ("nr_fds", CKPT_HDR_FILE_TABLE, 8, 4, '=', &[0, 1, IMAX, NEG1, 1 << 20]),
    ("nr_fds", CKPT_HDR_FILE_TABLE, 8, 4, '+', &[1, !0]),
    ("nr_fds", CKPT_HDR_FILE_TABLE, 8, 4, '*', &[2]),
    ("reserved", CKPT_HDR_FILE_TABLE, 12, 4, '=', &[1]),
    ("objtype", CKPT_HDR_OBJREF, 8, 4, '=', &[0, 2, NEG1]),
    ("objref", CKPT_HDR_OBJREF, 12, 4, '=', REFS),
    ("objref", CKPT_HDR_OBJREF, 12, 4, '+', &[1, !0]),
    ("f_type", CKPT_HDR_FILE, 8, 4, '=', &[0, 2, 15, 16, NEG1]),
    ("f_mode", CKPT_HDR_FILE, 12, 4, '=', &[0, 1, 2, 3, 4, NEG1]),
    ("f_flags", CKPT_HDR_FILE, 16, 4, '=', FLAGS),
    ("f_flags", CKPT_HDR_FILE, 16, 4, '^', FLAGS),
    ("i_mode", CKPT_HDR_FILE, 20, 4, '=', IMODES),
    ("f_pos", CKPT_HDR_FILE, 24, 8, '=', B64),
    ("fd_objref", CKPT_HDR_FILE_DESC, 8, 4, '=', REFS),
    ("fd", CKPT_HDR_FILE_DESC, 12, 4, '=', FDS),
    ("fd", CKPT_HDR_FILE_DESC, 12, 4, '+', &[1, !0]),
    ("close_on_exec", CKPT_HDR_FILE_DESC, 16, 4, '=', &[2, NEG1, IMIN]),
    ("reserved", CKPT_HDR_FILE_DESC, 20, 4, '=', &[1]),
    ("sb_id", CKPT_HDR_SB, 8, 4, '=', &[0, 2, NEG1]),
    ("fs_version", CKPT_HDR_SB, 12, 4, '=', &[0, 2, NEG1]),
    ("fs_name", CKPT_HDR_SB, 16, 8, '=', &[0, AAAA]),
    ("reserved", CKPT_HDR_SB, 32, 8, '=', &[1]),
    ("kind", CKPT_HDR_SB_REC, 8, 4, '=', &[0, 4, NEG1]),
    ("data_len", CKPT_HDR_SB_REC, 12, 4, '+', &[1, !0, 8]),
    ("data_len", CKPT_HDR_SB_REC, 12, 4, '=', &[0, 8193, NEG1]),
    ("data (a byte)", CKPT_HDR_SB_REC, 16, 1, '^', &[1, 0x80]),
    ("offset", CKPT_HDR_SB_DATA, 8, 8, '=', B64),
    ("data_len", CKPT_HDR_SB_DATA, 16, 4, '=', &[0, 65537, NEG1]),
    ("data_len", CKPT_HDR_SB_DATA, 16, 4, '+', &[1, !0]),
    ("crc32c (one bit)", CKPT_HDR_SB_DATA, 20, 4, '^', &[1, IMIN]),
    ("data (a bit)", CKPT_HDR_SB_DATA, 24, 1, '^', &[1, 0x80]),
    ("sb_id", CKPT_HDR_SB_END, 8, 4, '=', &[0, 2]),
    ("nr_records", CKPT_HDR_SB_END, 12, 4, '+', &[1, !0]),
    ("data_bytes", CKPT_HDR_SB_END, 16, 8, '+', &[1, !0]),
    ("len", CKPT_HDR_TAIL, 4, 4, '=', &[16, 32, 0x7fff_fff8]),
    ("magic", CKPT_HDR_TAIL, 8, 8, '=', B64),
    ("crc (one bit)", CKPT_HDR_TAIL, 16, 4, '^', &[1, 0x100, 0x10000, IMIN]),
    ("nr_records", CKPT_HDR_TAIL, 20, 4, '=', &[0, NEG1]),
    ("nr_records", CKPT_HDR_TAIL, 20, 4, '+', &[1, !0]),
];
/// -1, INT_MIN and INT_MAX as 32-bit fields.
const NEG1: u64 = 0xffff_ffff;
const AAAA: u64 = 0x4141_4141_4141_4141;
const IMIN: u64 = 0x8000_0000;
const IMAX: u64 = 0x7fff_ffff;
const REFS: &[u64] = &[0, NEG1, 2, 3, 100, IMAX, IMIN, 1];
/// O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_DIRECT, O_DIRECTORY, O_NOFOLLOW,
/// O_NOATIME, O_PATH, O_TMPFILE, __FMODE_EXEC, bit 31...
const FLAGS: &[u64] = &[
    0o1, 0o2, 0o3, 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000, 0o40000, 0o200000, 0o400000,
    0o1000000, 0o2000000, 0o10000000, 0o20200000, 0o40, IMIN,
];
/// Links, directories, devices, FIFOs, sockets, set-uid.
const IMODES: &[u64] = &[
    0o100644, 0o40755, 0o120777, 0o20666, 0o60660, 0o10644, 0o140755, 0, 0o177777, 0o104755,
];
/// -1, -2, INT_MIN, INT_MAX, around 1000 (the children's RLIMIT_NOFILE), 1024, 2^16, 2^20.
const FDS: &[u64] = &[
    NEG1, 0xfffffffe, IMIN, IMAX, 0, 1, 2, 998, 999, 1000, 1023, 1024, 1025, 4096, 65535, 0x100000,
    0xfffff,
];

/// Hostile FILE_NAMEs (MNT the mount): for the root elsewhere (CAP_SYS_CHROOT) or gone, the
/// cwd a file, gone, not searchable or in /proc, and worse for files.
const HOSTILE: &str = "/ /.. /../etc/passwd /../../../../etc/passwd MNT/../../etc/passwd \
    MNT/./f0 MNT/f0/. MNT/f0/.. MNT//f0 //etc/passwd MNT/f0/ etc/passwd f0 . .. /etc/passwd \
    /etc /proc/self/root/etc/passwd /proc/self/fd/0 /proc/self/cwd /proc/1/root /dev/null \
    /dev/console /sys/kernel/debug/kmemleak MNT MNT/d0 MNT/nonexistent MNT/f0/sub MNT/secret \
    MNT/lnk MNT/f0\n /tmp MNT/f0\0/etc/passwd MNT/f0\0 \0/etc/passwd MNT/\u{1}\u{7f} \
    MNT/noexec /nonexistent /proc/self";

fn hostile_names(mnt: &str) -> Vec<Vec<u8>> {
    let sub = |s: &str| s.replace("MNT", mnt).into_bytes();
    let mut v: Vec<Vec<u8>> = HOSTILE.split(' ').map(sub).collect();
    v.push(Vec::new());
    // not UTF-8, a 255- and a 256-byte component, 4094- to 8192-byte paths, 1500 "/.."
    for tail in [&b"\xff\xfe\x80"[..], &[b'c'; 255], &[b'c'; 256]] {
        v.push([mnt.as_bytes(), b"/", tail].concat());
    }
    let long = format!("{mnt}{}", "/abcdefghijklmnopqrstuvwxyz".repeat(320)).into_bytes();
    for n in [4094, 4095, 4096, 4097, 5000, 8192] {
        let c = long[n - 1];
        v.push([&long[..n - 1], &[if c == b'/' { b'z' } else { c }]].concat());
    }
    v.push("/..".repeat(1500).into_bytes());
    v
}

/// One per seed ("field" thrice as often): "flip", "truncate", "tail", "error" may not re-seal it,
/// "cut" drops the records from one on or cuts inside it, "stack" applies 2-4 others.
const STRATEGIES: &[&str] = &[
    "flip", "flipseal", "bound32", "bound64", "len", "truncate", "cut", "dup", "reorder", "delete",
    "type", "insert", "field", "field", "field", "name", "rootcwd", "tail", "error", "splice",
    "stack",
];

/// The mutant of `base` for `seed` (`donor`: a valid image to splice from; `mnt`: the mount).
pub fn mutate(base: &[u8], donor: &[u8], mnt: &str, seed: u64) -> (Vec<u8>, Ops) {
    let mut rng = Rng(seed ^ 0x005e_ed0f_c4ec_4b01);
    let (mut ops, n) = (Vec::new(), STRATEGIES.len());
    let strat = STRATEGIES[rng.below(n)];
    if strat != "stack" {
        return (step(base, donor, mnt, strat, &mut rng, &mut ops), ops);
    }
    let mut cur = base.to_vec();
    for _ in 0..2 + rng.below(3) {
        let s = STRATEGIES[rng.below(n - 1)];
        cur = step(&cur, donor, mnt, s, &mut rng, &mut ops);
    }
    if rng.chance(50) {
        ops.push("reseal".into());
        cur = seal(&body(&cur));
    }
    (cur, ops)
}

/// What was done to an image, one entry a step (for the replay message).
type Ops = Vec<String>;

/// `img` after the strategy `strat`.
fn step(img: &[u8], donor: &[u8], mnt: &str, strat: &str, rng: &mut Rng, ops: &mut Ops) -> Vec<u8> {
    let mut recs = body(img);
    if recs.is_empty() {
        recs.push(vec![0; 8]);
    }
    let ri = rng.below(recs.len());
    let rn = format!("record {ri} ({})", type_name(u32le(&recs[ri], 0)));
    let cl = recs[ri].len();
    let op = match strat {
        "flip" | "flipseal" => {
            let raw = strat == "flip";
            let mut b = if raw { img.to_vec() } else { recs.concat() };
            for _ in 0..1 + rng.below(4) {
                let (o, bit) = (rng.below(b.len()), rng.below(8));
                if let Some(x) = b.get_mut(o) {
                    *x ^= 1 << bit;
                    ops.push(format!("{strat} byte {o} bit {bit}"));
                }
            }
            return if raw { b } else { seal(&split(&b)) };
        }
        "bound32" | "bound64" => {
            let w = if strat == "bound32" { 4 } else { 8 };
            let o = rng.below((cl / w).max(1)) * w;
            let v = match w {
                4 if rng.chance(20) => (cl as u64 + rng.pick(&[8, 0xfffffff8, 16, 1])) & 0xffffffff,
                4 => rng.pick(B32),
                _ => rng.pick(B64),
            };
            put_le(&mut recs[ri], o, v, w);
            format!("{rn} u{} at +{o} = {v:#x}", w * 8)
        }
        "len" => {
            // 0, its length, the bytes to the end (TAIL included) or its offset, plus a delta
            let before: usize = recs[..ri].iter().map(|c| c.len()).sum();
            let rest = recs.concat().len() + 24 - before;
            let from = rng.pick(&[0, cl, rest, before]) as u64;
            let v = from + rng.pick(&[0, 4, 8, 0xfffffff8, 4096, 0x7ffffff8, 0xffffffff]);
            put_le(&mut recs[ri], 4, v, 4);
            format!("{rn} len {cl} -> {:#x}", v & 0xffffffff)
        }
        "truncate" => {
            let n = rng.below(img.len() + 1);
            ops.push(format!("truncate to {n} of {}", img.len()));
            return img[..n].to_vec();
        }
        "cut" if rng.chance(50) => {
            recs.truncate(ri);
            format!("keep records 0..{ri}, sealed")
        }
        "cut" => {
            let cut = rng.below(cl);
            recs[ri].truncate(cut);
            recs.truncate(ri + 1);
            format!("cut {rn} at {cut}, sealed")
        }
        "dup" => {
            let at = [ri + 1, rng.below(recs.len() + 1)][rng.chance(40) as usize];
            recs.insert(at, recs[ri].clone());
            format!("duplicate {rn} at {at}")
        }
        "reorder" => {
            let j = [(ri + 1).min(recs.len() - 1), rng.below(recs.len())][rng.chance(40) as usize];
            recs.swap(ri, j);
            format!("swap {rn} and {j}")
        }
        "delete" => {
            recs.remove(ri);
            format!("delete {rn}")
        }
        "type" => {
            let t = rng.pick(TYPES);
            put_le(&mut recs[ri], 0, t, 4);
            format!("{rn} type -> {t}")
        }
        "insert" => {
            let (t, len) = (rng.pick(TYPES), rng.pick(&[8, 16, 24, 32, 112, 4104]));
            let (mut c, at) = (vec![0u8; len], rng.below(recs.len() + 1));
            put_le(&mut c, 0, t | (len as u64) << 32, 8);
            recs.insert(at, c);
            format!("insert type {t} len {len} at {at}")
        }
        "field" => return field(recs, rng, ops),
        "name" | "rootcwd" => {
            // any FILE_NAME, or the root or the cwd (the first two)
            let names = of_type(&recs, CKPT_HDR_FILE_NAME);
            let k = rng.below(if strat == "name" { names.len() } else { 2 });
            let n = rng.pick(&hostile_names(mnt));
            let s = String::from_utf8_lossy(&n[..n.len().min(80)]).into_owned();
            let Some(&i) = names.get(k) else {
                return seal(&recs);
            };
            recs[i] = encode_records(&[Record::FileName(n)]);
            format!("FILE_NAME record {i} = {s:?}")
        }
        "tail" => {
            // no TAIL, two, or 1, 7 or 8 bytes of a second one after it
            let mut b = recs.concat();
            let t = seal(&recs).split_off(b.len());
            let k = rng.pick(&[0, 25, 31, 32, 48]);
            b.extend(t.iter().cycle().take(k));
            ops.push(format!("{k} bytes of TAILs"));
            return b;
        }
        "error" => {
            let msg = rng.pick(&[&b""[..], b"x", b"failed", &[b'A'; 300][..]]);
            let mut c = vec![0u8; align8(16 + msg.len() + 1)];
            let len = [c.len() as u64, rng.pick(&[8, 12, 0x7ffffff8])][rng.chance(30) as usize];
            // type, len; err (-EBADF, 0, INT_MIN, 1), fd
            let err = rng.pick(&[0xfffffff7, 0, IMIN, 1]);
            put_le(&mut c, 0, u64::from(CKPT_HDR_ERROR) | len << 32, 8);
            put_le(&mut c, 8, err | rng.pick(&[NEG1, 0, 1023]) << 32, 8);
            c[16..16 + msg.len()].copy_from_slice(msg);
            let at = rng.below(recs.len() + 1);
            if rng.chance(50) {
                recs.insert(at, c);
                format!("ERROR record (len {len}) inserted at {at}")
            } else {
                recs.truncate(at.max(1));
                recs.push(c);
                ops.push(format!("ERROR record (len {len}) at {at}, no TAIL"));
                return recs.concat();
            }
        }
        "splice" => {
            let d = body(donor);
            let (di, at) = (rng.below(d.len()), rng.below(recs.len() + 1));
            let replace = rng.chance(50) && at < recs.len();
            recs.splice(at..at + replace as usize, [d[di].clone()]);
            format!("donor record {di} at {at}, replacing: {replace}")
        }
        _ => unreachable!("strategy {strat}"),
    };
    ops.push(op);
    seal(&recs)
}

/// One of [`FIELDS`] in a record of its type, re-sealed unless it is the TAIL's.
fn field(mut recs: Vec<Vec<u8>>, rng: &mut Rng, ops: &mut Ops) -> Vec<u8> {
    let (what, t, off, n, how, vals) = rng.pick(FIELDS);
    if t == CKPT_HDR_TAIL {
        recs.push(seal(&recs).split_off(recs.concat().len()));
    }
    let of_t = of_type(&recs, t);
    if let Some(&i) = of_t.get(rng.below(of_t.len())) {
        let (old, v) = (get(&recs[i], off, n.min(8)), rng.pick(vals));
        let new = match how {
            '+' => old.wrapping_add(v),
            '^' => old ^ v,
            '*' => old.wrapping_mul(v),
            _ => v,
        };
        put_le(&mut recs[i], off, new, n);
        // keep f_mode consistent with new access flags, to get past that check
        if what == "f_flags" && rng.chance(60) {
            put_le(&mut recs[i], 12, ((new & 3) + 1) & 3, 4);
        }
        ops.push(format!("{} {i} {what} {old:#x} {how} {v:#x}", type_name(t)));
    }
    if t == CKPT_HDR_TAIL {
        return recs.concat();
    }
    seal(&recs)
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
            let [a, b] = [0, 1].map(|_| mutate(&img, &img, "/mnt/fuzz", s));
            assert_eq!(a, b, "seed {s}");
        }
    }

    #[test]
    fn most_mutants_are_invalid() {
        let img = testsupport::two_files("/mnt/fuzz");
        let bad = (0..2000)
            .filter(|&s| decode(&mutate(&img, &img, "/mnt/fuzz", s).0).is_err())
            .count();
        assert!(bad > 1500, "only {bad} of 2000 mutants invalid");
    }
}
