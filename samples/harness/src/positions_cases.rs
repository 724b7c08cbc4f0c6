//! Directory positions by identity (`Documentation/ramfs_cr.rst`,
//! "Directory positions").
//!
//! A reader of a ramfs_cr directory is checkpointed after reading part of
//! it, the directory is changed, and the image is restarted twice: as
//! written (ramfs_cr's FILE_FS record puts the reader back by identity) and
//! with the FILE_FS record taken out, which is what an image written before
//! that record existed holds (the core seeks the index back).
//!
//! The expectation comes from two listings taken by the harness, never from
//! the image: the directory as it was when the reader was checkpointed
//! (what the reader had returned, and what it had not) and as it is at
//! restart.  An entry is a name with its inode number, so a rename makes a
//! new entry.  After restart the rest of the listing must hold every entry
//! that existed at checkpoint, had not been returned and still exists,
//! exactly once; no entry already returned; nothing twice; nothing that
//! does not exist.  `lseek(fd, 0, SEEK_SET)` then lists the directory as a
//! fresh descriptor does.  The index restore must do what it always did
//! (resume at the saved index of the listing as it is now); what that gets
//! wrong is counted and printed as the table of `Documentation/ramfs_cr.rst`.

use crate::mutate;
use crate::vm::*;
use ckpt_image::decode;
use std::collections::HashSet;

/// A directory entry as getdents64 returns it: name and inode number.
type Ent = (String, u64);

/// Where the reader stands when it is checkpointed.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// Opened, nothing read (position 0).
    Start,
    /// "." read.
    Dot,
    /// "." and ".." and `n` entries read.
    Entries(usize),
}

/// What happens to the directory between checkpoint and restart.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    Nothing,
    UnlinkReturned,
    UnlinkPending,
    Create,
    RenameWithin,
    RenameAcross,
    UnlinkCursor,
    UnlinkNeighbours,
    UnlinkAll,
}

const CHANGES: [Change; 9] = [
    Change::Nothing,
    Change::UnlinkReturned,
    Change::UnlinkPending,
    Change::Create,
    Change::RenameWithin,
    Change::RenameAcross,
    Change::UnlinkCursor,
    Change::UnlinkNeighbours,
    Change::UnlinkAll,
];

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Nothing => "nothing",
            Change::UnlinkReturned => "unlink returned",
            Change::UnlinkPending => "unlink not yet returned",
            Change::Create => "create",
            Change::RenameWithin => "rename within",
            Change::RenameAcross => "rename across",
            Change::UnlinkCursor => "unlink the next entry",
            Change::UnlinkNeighbours => "unlink both neighbours",
            Change::UnlinkAll => "unlink all",
        }
    }
}

/// "." and ".." are 24 bytes each in a getdents64 buffer; our entry names
/// (`f00000`) 32.
const DOT_RECLEN: usize = 24;
const ENT_RECLEN: usize = 32;

fn is_dot(e: &Ent) -> bool {
    e.0 == "." || e.0 == ".."
}

/// A fresh descriptor's full listing of `dir`, dots included.
fn listing(dir: &str) -> Result<Vec<Ent>, String> {
    let fd = open_at(
        dir,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        -1,
    )?;
    let b = read_dir_fd(fd, 64 << 10);
    close(fd);
    Ok(dirents(&b?))
}

fn mknod(p: &str) -> R {
    let c = cstr(p);
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFREG | 0o644, 0) } != 0 {
        return Err(format!("mknod {p}: {}", ename(errno())));
    }
    Ok(())
}

fn unlink(p: &str) -> R {
    std::fs::remove_file(p).map_err(|e| format!("unlink {p}: {e}"))
}

fn rename(a: &str, b: &str) -> R {
    std::fs::rename(a, b).map_err(|e| format!("rename {a} {b}: {e}"))
}

/// Apply `c` to `dir`, where the reader had returned `ret` and not `pend`.
fn change(c: Change, dir: &str, other: &str, ret: &[Ent], pend: &[Ent]) -> R {
    let at = |e: &Ent| format!("{dir}/{}", e.0);
    match c {
        Change::Nothing => {}
        Change::UnlinkReturned => {
            for e in ret.iter().rev().take(3) {
                unlink(&at(e))?;
            }
        }
        Change::UnlinkPending => {
            for e in pend.iter().skip(1).step_by(2).take(3) {
                unlink(&at(e))?;
            }
        }
        Change::Create => {
            for i in 0..3 {
                mknod(&format!("{dir}/new{i}"))?;
            }
        }
        Change::RenameWithin => {
            if let Some(e) = ret.last() {
                rename(&at(e), &format!("{dir}/ren-r"))?;
            }
            if let Some(e) = pend.get(1) {
                rename(&at(e), &format!("{dir}/ren-p"))?;
            }
        }
        Change::RenameAcross => {
            if let Some(e) = pend.first() {
                rename(&at(e), &format!("{other}/{}", e.0))?;
            }
            rename(&format!("{other}/x"), &format!("{dir}/from-other"))?;
        }
        Change::UnlinkCursor => {
            if let Some(e) = pend.first() {
                unlink(&at(e))?;
            }
        }
        Change::UnlinkNeighbours => {
            if let Some(e) = ret.last() {
                unlink(&at(e))?;
            }
            if let Some(e) = pend.first() {
                unlink(&at(e))?;
            }
        }
        Change::UnlinkAll => {
            for e in ret.iter().chain(pend) {
                unlink(&at(e))?;
            }
        }
    }
    Ok(())
}

/// What an index restore got wrong in one case.
#[derive(Default, Clone, Copy)]
struct Wrong {
    /// Entries it should have returned and did not.
    missed: usize,
    /// Entries it returned a second time.
    repeated: usize,
}

/// The guarantee, checked on `got` (the rest after restart, dots
/// included) against the two listings.
fn check_guarantee(
    read: Read,
    got: &[Ent],
    ret: &[Ent],
    pend: &[Ent],
    now: &[Ent],
) -> Result<(), String> {
    let want_dots: &[&str] = match read {
        Read::Start => &[".", ".."],
        Read::Dot => &[".."],
        Read::Entries(_) => &[],
    };
    let dots: Vec<&str> = got
        .iter()
        .take_while(|e| is_dot(e))
        .map(|e| e.0.as_str())
        .collect();
    eq!(
        dots,
        want_dots.to_vec(),
        "dot entries at the start of the rest"
    );
    let rest: Vec<&Ent> = got.iter().skip(dots.len()).collect();
    check!(
        !rest.iter().any(|e| is_dot(e)),
        "a dot entry after the first entry: {got:?}"
    );
    let mut seen = HashSet::new();
    let now: HashSet<&Ent> = now.iter().collect();
    let ret: HashSet<&Ent> = ret.iter().collect();
    for e in &rest {
        check!(seen.insert(*e), "{e:?} returned twice");
        check!(now.contains(e), "{e:?} returned but does not exist");
        check!(
            !ret.contains(e),
            "{e:?} returned again (the reader had it before the checkpoint)"
        );
    }
    for e in pend {
        check!(
            !now.contains(e) || seen.contains(e),
            "{e:?} not returned: it existed at checkpoint, had not been returned and still exists"
        );
    }
    Ok(())
}

/// One reader, one change, both restores; returns what the index restore
/// got wrong.
fn one(m: &Mount, n: usize, read: Read, c: Change) -> Result<Wrong, String> {
    let what = format!("{n} entries, {read:?}, {}", c.name());
    let r = one_case(m, read, c);
    // The next case starts from the same entries (in another order).
    reset(m, n)?;
    r.map_err(|e| format!("{what}: {e}"))
}

/// `d` with exactly the entries f00000.. of `n` (created as needed, extra
/// ones removed) and `other` with exactly `x`.
fn reset(m: &Mount, n: usize) -> R {
    let (d, other) = (m.p("d"), m.p("other"));
    for dir in [&d, &other] {
        if std::fs::metadata(dir).is_err() {
            mkdir(dir, 0o755)?;
        }
    }
    let want: HashSet<String> = (0..n).map(|i| format!("f{i:05}")).collect();
    let mut have = HashSet::new();
    for (name, _) in listing(&d)?.iter().filter(|e| !is_dot(e)) {
        if want.contains(name) {
            have.insert(name.clone());
        } else {
            unlink(&format!("{d}/{name}"))?;
        }
    }
    for name in want.difference(&have) {
        mknod(&format!("{d}/{name}"))?;
    }
    for (name, _) in listing(&other)?.iter().filter(|e| !is_dot(e)) {
        if name != "x" {
            unlink(&format!("{other}/{name}"))?;
        }
    }
    if std::fs::metadata(format!("{other}/x")).is_err() {
        mknod(&format!("{other}/x"))?;
    }
    Ok(())
}

fn one_case(m: &Mount, read: Read, c: Change) -> Result<Wrong, String> {
    let d = m.p("d");
    let other = m.p("other");
    let img = tmpfile("pos.ckpt");
    let head = tmpfile("pos.head");
    let then = tmpfile("pos.then");
    {
        let (d, img, head, then) = (d.clone(), img.clone(), head.clone(), then.clone());
        in_clean_child("checkpointing reader", move || {
            open_at(&d, libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
            let mut b = Vec::new();
            let mut get = |sz: usize| -> R {
                b.extend(getdents(3, sz).map_err(|e| format!("getdents: {}", ename(e)))?);
                Ok(())
            };
            match read {
                Read::Start => {}
                Read::Dot => get(DOT_RECLEN)?,
                Read::Entries(k) => {
                    get(2 * DOT_RECLEN)?;
                    if k > 0 {
                        get(k * ENT_RECLEN)?;
                    }
                }
            }
            // The directory as it is when the reader is saved.
            let l = listing(&d)?;
            write_file(&then, &encode(&l))?;
            write_file(&head, &b)?;
            ck_ok(0, &img, 0)?;
            Ok(())
        })?;
    }
    let got_head = dirents(&read_file(&head)?);
    let then = decode_ents(&read_file(&then)?);
    let want_head = match read {
        Read::Start => 0,
        Read::Dot => 1,
        Read::Entries(k) => 2 + k,
    };
    eq!(
        got_head.len(),
        want_head,
        "entries the reader read before the checkpoint"
    );
    eq!(
        got_head[..],
        then[..want_head],
        "what the reader read: the start of the listing"
    );
    let ret: Vec<Ent> = got_head.iter().filter(|e| !is_dot(e)).cloned().collect();
    let pend: Vec<Ent> = then[want_head..]
        .iter()
        .filter(|e| !is_dot(e))
        .cloned()
        .collect();

    // The image has ramfs_cr's record for the directory; the same image
    // without it is what the kernel wrote before the record existed.
    // Before the first entry there is no record: the index is exact.
    let mut im = decode_file(&img)?;
    eq!(im.files.len(), 1, "files in the image");
    let fs = im.files[0].fs.take();
    if want_head <= 2 {
        check!(fs.is_none(), "a FILE_FS record for a reader at {want_head}");
    } else {
        let fs = fs.ok_or("no FILE_FS record for the directory")?;
        eq!(
            String::from_utf8_lossy(&fs.fs_name),
            "ramfs_cr",
            "FILE_FS fs_name"
        );
    }
    let old = tmpfile("pos-old.ckpt");
    write_file(&old, &im.encode())?;
    let f_pos = im.files[0].file.f_pos;

    change(c, &d, &other, &ret, &pend)?;
    let now = listing(&d)?;
    let now_ents: Vec<Ent> = now.iter().filter(|e| !is_dot(e)).cloned().collect();

    // Identity: the guarantee, then a full listing after rewinding.
    let out = tmpfile("pos.rest");
    {
        let (img, out, now) = (img.clone(), out.clone(), now.clone());
        in_clean_child("restarting reader", move || {
            eq!(rs_ok(&img)?, 1, "restart return value");
            let rest = read_dir_fd(3, 64 << 10)?;
            write_file(&out, &rest)?;
            eq!(
                lseek(3, 0, libc::SEEK_SET),
                0,
                "lseek(fd, 0, SEEK_SET) after restart"
            );
            let all = dirents(&read_dir_fd(3, 64 << 10)?);
            eq!(all, now, "full listing after rewinding the restored reader");
            Ok(())
        })?;
    }
    let rest = dirents(&read_file(&out)?);
    check_guarantee(read, &rest, &ret, &pend, &now_ents)?;

    // Index: what the core always did, and what it gets wrong.
    {
        let (old, out) = (old.clone(), out.clone());
        in_clean_child(
            "restarting reader from the image without FILE_FS",
            move || {
                eq!(rs_ok(&old)?, 1, "restart return value");
                eq!(pos(3), f_pos, "position after an index restore");
                write_file(&out, &read_dir_fd(3, 64 << 10)?)
            },
        )?;
    }
    let idx = dirents(&read_file(&out)?);
    let from = (f_pos as usize).min(now.len());
    eq!(
        idx[..],
        now[from..],
        "index restore: the listing as it is now, from index {f_pos}"
    );
    let idx_set: HashSet<&Ent> = idx.iter().collect();
    let now_set: HashSet<&Ent> = now_ents.iter().collect();
    Ok(Wrong {
        missed: pend
            .iter()
            .filter(|e| now_set.contains(e) && !idx_set.contains(e))
            .count(),
        repeated: ret.iter().filter(|e| idx_set.contains(e)).count(),
    })
}

/// Ents as "name\tino\n" lines, to pass through a file.
fn encode(v: &[Ent]) -> Vec<u8> {
    v.iter()
        .map(|(n, i)| format!("{n}\t{i}\n"))
        .collect::<String>()
        .into_bytes()
}

fn decode_ents(b: &[u8]) -> Vec<Ent> {
    String::from_utf8_lossy(b)
        .lines()
        .filter_map(|l| {
            let (n, i) = l.split_once('\t')?;
            Some((n.to_string(), i.parse().ok()?))
        })
        .collect()
}

/// The whole matrix for a directory of `n` entries; prints the index
/// restore's mistakes per change, as "# positions:" lines.
fn matrix(n: usize) -> R {
    let reads = [
        Read::Start,
        Read::Dot,
        Read::Entries(0),
        Read::Entries(1),
        Read::Entries(n / 2),
        Read::Entries(n - 1),
        Read::Entries(n),
    ];
    let m = Mount::cr()?;
    reset(&m, n)?;
    let mut errs = Vec::new();
    for c in CHANGES {
        let mut wrong = Vec::new();
        for r in reads {
            match one(&m, n, r, c) {
                Ok(w) => wrong.push((r, w)),
                Err(e) => errs.push(e),
            }
        }
        let bad: Vec<String> = wrong
            .iter()
            .filter(|(_, w)| w.missed + w.repeated > 0)
            .map(|(r, w)| format!("{r:?}: {} missed, {} repeated", w.missed, w.repeated))
            .collect();
        println!(
            "# positions: {n} entries, {}: identity ok in {}/{} readers; index wrong in {}{}{}",
            c.name(),
            wrong.len(),
            reads.len(),
            bad.len(),
            if bad.is_empty() { "" } else { ": " },
            bad.join("; ")
        );
    }
    check_all(errs)
}

pub(crate) fn matrix_10() -> R {
    work()?;
    matrix(10)
}

pub(crate) fn matrix_10000() -> R {
    work()?;
    matrix(10_000)
}

/// An image whose FILE_FS record for a ramfs_cr directory is not one
/// ramfs_cr wrote (bad version, bad length, bad contents) is refused with
/// EINVAL and the caller keeps its fds; one that names another file
/// system gets ESTALE.
pub(crate) fn bad_records() -> R {
    work()?;
    let m = Mount::cr()?;
    let d = m.p("d");
    mkdir(&d, 0o755)?;
    for i in 0..4 {
        mknod(&format!("{d}/f{i:05}"))?;
    }
    let img = tmpfile("posbad.ckpt");
    {
        let (d, img) = (d.clone(), img.clone());
        in_clean_child("checkpointing reader", move || {
            open_at(&d, libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
            getdents(3, 2 * DOT_RECLEN + ENT_RECLEN).map_err(ename)?;
            ck_ok(0, &img, 0).map(|_| ())
        })?;
    }
    let im = decode_file(&img)?;
    let good = im.files[0].fs.clone().ok_or("no FILE_FS record")?;
    let mut variants: Vec<(&str, ckpt_image::FileFs, i32)> = Vec::new();
    let mut v = good.clone();
    v.fs_version = 2;
    variants.push(("version 2", v, libc::EINVAL));
    let mut v = good.clone();
    v.data.truncate(16);
    variants.push(("16 bytes of data", v, libc::EINVAL));
    let mut v = good.clone();
    v.data[0..8].copy_from_slice(&1u64.to_le_bytes());
    v.data[16..24].copy_from_slice(&5u64.to_le_bytes());
    variants.push(("position 1 with entries named", v, libc::EINVAL));
    let mut v = good.clone();
    v.fs_name = b"tmpfs".to_vec();
    variants.push(("fs_name tmpfs", v, libc::ESTALE));
    let mut images: Vec<(&str, Vec<u8>, i32)> = Vec::new();
    for (what, fs, want) in variants {
        let mut bad = im.clone();
        bad.files[0].fs = Some(fs);
        check!(
            decode(&bad.encode()).is_ok(),
            "{what}: the variant image must be well-formed"
        );
        images.push((what, bad.encode(), want));
    }
    // Records whose framing is wrong ("FILE_FS ..."): the core refuses
    // them, and so does the decoder.
    let good_bytes = read_file(&img)?;
    let mut chunks: Vec<Vec<u8>> = mutate::split(&good_bytes);
    chunks.pop(); // the TAIL
    let at = chunks
        .iter()
        .position(|c| mutate::u32le(c, 0) == ckpt_image::CKPT_HDR_FILE_FS)
        .ok_or("no FILE_FS record in the image")?;
    let framed = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut c = chunks.clone();
        f(&mut c[at]);
        let n = c[at].len() as u32;
        c[at][4..8].copy_from_slice(&n.to_le_bytes());
        mutate::seal(&c)
    };
    images.push((
        "FILE_FS name without a NUL",
        framed(&|r| r[8..24].fill(b'a')),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS name padded with non-NUL",
        framed(&|r| r[23] = b'x'),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS empty name",
        framed(&|r| r[8..24].fill(0)),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS data_len 257",
        framed(&|r| {
            r[28..32].copy_from_slice(&257u32.to_le_bytes());
            r.resize(32 + 264, 0);
        }),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS longer than its data",
        framed(&|r| r.resize(r.len() + 8, 0)),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS data padding not zero",
        framed(&|r| {
            r[28..32].copy_from_slice(&28u32.to_le_bytes());
            r[60] = 1;
        }),
        libc::EINVAL,
    ));
    images.push((
        "FILE_FS shorter than its header",
        framed(&|r| r.truncate(24)),
        libc::EINVAL,
    ));
    {
        let mut c = chunks.clone();
        let dup = c[at].clone();
        c.insert(at, dup);
        images.push(("FILE_FS twice for one file", mutate::seal(&c), libc::EINVAL));
    }
    let mut errs = Vec::new();
    for (what, bytes, want) in images {
        if what.starts_with("FILE_FS ") && decode(&bytes).is_ok() {
            errs.push(format!("{what}: the decoder accepts it"));
        }
        let p = tmpfile("posbad-variant.ckpt");
        write_file(&p, &bytes)?;
        let r = in_clean_child(what, move || {
            open_at("/", libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
            expect_restart_refused(&p, 0, want, what)
        });
        if let Err(e) = r {
            errs.push(e);
        }
    }
    // The name comes from the image: it reaches the log escaped.
    let mut bad = im.clone();
    let mut fs = good.clone();
    fs.fs_name = b"x\x1b[1m\nfake".to_vec();
    bad.files[0].fs = Some(fs);
    let p = tmpfile("posbad-name.ckpt");
    write_file(&p, &bad.encode())?;
    let r = in_clean_child("fs_name with control characters", move || {
        let o = restart_from(&p, 0)?;
        expect_outcome(&o, Err(libc::ESTALE), "fs_name with control characters")?;
        check!(
            !o.log.contains('\x1b') && o.log.contains("x\\e[1m\\nfake"),
            "fs_name not escaped in the log: {:?}",
            o.log
        );
        Ok(())
    });
    if let Err(e) = r {
        errs.push(e);
    }
    check_all(errs)
}
