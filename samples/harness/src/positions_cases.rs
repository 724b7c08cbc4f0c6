//! Directory positions (`Documentation/ramfs_cr.rst`): a reader checkpointed part way, its
//! directory changed, restarted by identity (FILE_FS) and by the core's index (without FILE_FS).
//! Entries (name, inode number: a rename makes a new one) come from listings, never the image.

use crate::{golden::populate_files, mutate, roundtrip::mount_with, vm::*};
use ckpt_image::decode;
use std::collections::HashSet;

/// A directory entry as getdents64 returns it: name and inode number.
type Ent = (String, u64);

/// Changes between checkpoint and restart (the table of `ramfs_cr.rst`).
const CHANGES: [&str; 9] = [
    "nothing",
    "unlink returned",
    "unlink not yet returned",
    "create",
    "rename within",
    "rename across",
    "unlink the next entry",
    "unlink both neighbours",
    "unlink all",
];

fn is_dot(e: &Ent) -> bool {
    e.0 == "." || e.0 == ".."
}

/// The entries of `v` but "." and "..".
fn entries(v: &[Ent]) -> Vec<Ent> {
    v.iter().filter(|e| !is_dot(e)).cloned().collect()
}

/// A fresh descriptor's full listing of `dir`, dots included.
fn listing(dir: &str) -> Result<Vec<Ent>, String> {
    let fd = open_at(dir, libc::O_RDONLY | libc::O_DIRECTORY, -1)?;
    let b = read_dir_fd(fd, 64 << 10);
    close(fd);
    Ok(dirents(&b?))
}

/// Make the change `c` to `dir`; the reader had returned `ret`, not `pend`.
fn change(c: &str, dir: &str, other: &str, ret: &[Ent], pend: &[Ent]) -> R {
    let at = |e: &Ent| format!("{dir}/{}", e.0);
    let (last, next) = (ret.last(), pend.first());
    let mut moves: Vec<(String, String)> = Vec::new();
    let gone: Vec<&Ent> = match c {
        "unlink returned" => ret.iter().rev().take(3).collect(),
        "unlink not yet returned" => pend.iter().skip(1).step_by(2).take(3).collect(),
        "unlink the next entry" => next.into_iter().collect(),
        "unlink both neighbours" => last.into_iter().chain(next).collect(),
        "unlink all" => ret.iter().chain(pend).collect(),
        _ => Vec::new(),
    };
    match c {
        "create" => (0..3).try_for_each(|i| write_file(&format!("{dir}/new{i}"), b""))?,
        "rename within" => {
            moves.extend(last.map(|e| (at(e), format!("{dir}/ren-r"))));
            moves.extend(pend.get(1).map(|e| (at(e), format!("{dir}/ren-p"))));
        }
        "rename across" => {
            moves.extend(next.map(|e| (at(e), format!("{other}/{}", e.0))));
            moves.push((format!("{other}/x"), format!("{dir}/from-other")));
        }
        _ => {}
    }
    for e in gone {
        unlink(&at(e))?;
    }
    for (a, b) in moves {
        std::fs::rename(&a, &b).map_err(|e| format!("rename {a} {b}: {e}"))?;
    }
    Ok(())
}

/// `got`, the rest after restart of a reader of `head` entries (dots included): every entry
/// pending at checkpoint that still exists once; none returned before; nothing twice or absent.
fn check_guarantee(head: usize, got: &[Ent], ret: &[Ent], pend: &[Ent], now: &[Ent]) -> R {
    let dots = got.iter().take_while(|e| is_dot(e));
    let dots: Vec<&str> = dots.map(|e| e.0.as_str()).collect();
    let want = &[".", ".."][head.min(2)..];
    eq!(dots, want, "dot entries at the start of the rest");
    let rest = &got[dots.len()..];
    let late_dot = rest.iter().any(is_dot);
    check!(!late_dot, "a dot entry after the first entry: {got:?}");
    let mut seen = HashSet::new();
    let (now, ret): (HashSet<&Ent>, HashSet<&Ent>) = (now.iter().collect(), ret.iter().collect());
    for e in rest {
        check!(seen.insert(e), "{e:?} returned twice");
        check!(now.contains(e), "{e:?} returned but does not exist");
        let old = ret.contains(e);
        check!(!old, "{e:?} returned again: read before the checkpoint");
    }
    for e in pend.iter().filter(|e| now.contains(e)) {
        let ok = seen.contains(e);
        check!(ok, "{e:?} not returned: pending at checkpoint, still there");
    }
    Ok(())
}

/// `d` with exactly the entries f00000.. of `n` (missing created, extra removed), a new `other/x`.
fn reset(m: &Mount, n: usize) -> R {
    let d = m.p("d");
    let _ = std::fs::remove_dir_all(m.p("other"));
    mkdir(&d, 0o755)?;
    let mut want: HashSet<String> = (0..n).map(|i| format!("f{i:05}")).collect();
    for (name, _) in entries(&listing(&d)?) {
        if !want.remove(&name) {
            unlink(&format!("{d}/{name}"))?;
        }
    }
    for name in want {
        write_file(&format!("{d}/{name}"), b"")?;
    }
    populate_files(&m.dir, &[("other/x", b"")])
}

/// The image (at `img`) of a clean child that read `head` entries of `d` (dots included) at fd 3.
fn reader_image(d: &str, head: usize, img: &str) -> Result<Vec<Ent>, String> {
    let got = tmpfile("pos.head");
    in_clean_child("checkpointing reader", || {
        open_at(d, libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
        // getdents64 records: 24 bytes for "." and "..", 32 for our names (`f00000`)
        let sz = head.min(2) * 24 + head.saturating_sub(2) * 32;
        if sz > 0 {
            let b = getdents(3, sz).map_err(|e| format!("getdents: {}", ename(e)))?;
            write_file(&got, &b)?;
        }
        ck_ok(0, img, 0).map(drop)
    })?;
    Ok(dirents(&std::fs::read(&got).unwrap_or_default()))
}

/// A reader of `head` entries (dots included), change `c`, both restores: index (missed, repeated).
fn one_case(m: &Mount, head: usize, c: &str) -> Result<(usize, usize), String> {
    let (d, img) = (m.p("d"), tmpfile("pos.ckpt"));
    let got = reader_image(&d, head, &img)?;
    // The directory as the reader saw it (nothing changed it since).
    let then = listing(&d)?;
    eq!(got.len(), head, "entries read before the checkpoint");
    eq!(got[..], then[..head], "entries read: the listing's start");
    let (ret, pend) = (entries(&got), entries(&then[head..]));

    // Without FILE_FS: as written before the record existed (none before the first entry).
    let mut im = decode_file(&img)?;
    eq!(im.files.len(), 1, "files in the image");
    let fs_name = im.files[0].fs.take().map(|fs| fs.fs_name);
    let want = (head > 2).then(|| b"ramfs_cr".to_vec());
    eq!(fs_name, want, "FILE_FS fs_name at {head}");
    let old = tmpfile("pos-old.ckpt");
    write_file(&old, &im.encode())?;
    let f_pos = im.files[0].file.f_pos;

    change(c, &d, &m.p("other"), &ret, &pend)?;
    let now = listing(&d)?;
    let from = (f_pos as usize).min(now.len());
    check_restarted(&img, 1, || {
        // Identity: the guarantee, then a full listing after rewinding.
        let rest = dirents(&read_dir_fd(3, 64 << 10)?);
        check_guarantee(head, &rest, &ret, &pend, &now)?;
        eq!(lseek(3, 0, libc::SEEK_SET), 0, "lseek(fd, 0, SEEK_SET)");
        let all = dirents(&read_dir_fd(3, 64 << 10)?);
        eq!(all, now, "full listing after rewinding");
        // Index: what the core always did (the image without FILE_FS).
        close(3);
        eq!(rs_ok(&old)?, 1, "restart return value");
        eq!(pos(3), f_pos, "position after an index restore");
        let idx = dirents(&read_dir_fd(3, 64 << 10)?);
        expect_eq(
            &idx[..],
            &now[from..],
            &format!("index restore: from index {f_pos}"),
        )
    })?;
    // What the index restore gets wrong.
    let (idx, now): (HashSet<&Ent>, HashSet<&Ent>) =
        (now[from..].iter().collect(), now.iter().collect());
    let missed = pend.iter().filter(|e| now.contains(e) && !idx.contains(e));
    let repeated = ret.iter().filter(|e| idx.contains(e));
    Ok((missed.count(), repeated.count()))
}

/// Every change for a directory of `n` entries and a reader at 0, after "." and "..", 1, half,
/// all but one and all entries; prints the index's mistakes as "# positions:" lines.
pub(crate) fn matrix(n: usize) -> R {
    let heads = [0, 1, 2, 3, 2 + n / 2, 1 + n, 2 + n];
    let m = mount_with(&[])?;
    reset(&m, n)?;
    let mut errs = Vec::new();
    for c in CHANGES {
        let (mut ok, mut wrong) = (0, Vec::new());
        for head in heads {
            let r = one_case(&m, head, c);
            // The next case starts from the same entries (in another order).
            reset(&m, n)?;
            match r {
                Ok((0, 0)) => ok += 1,
                Ok((miss, rep)) => {
                    ok += 1;
                    wrong.push(format!("{head} read: {miss} missed, {rep} repeated"));
                }
                Err(e) => errs.push(format!("{n} entries, {head} read, {c}: {e}")),
            }
        }
        let (h, k) = (heads.len(), wrong.len());
        let (sep, wrong) = (if k > 0 { ": " } else { "" }, wrong.join("; "));
        println!("# positions: {n} entries, {c}: identity ok in {ok}/{h} readers; index wrong in {k}{sep}{wrong}");
    }
    check_all(errs)
}

/// A change to a FILE_FS record.
type Edit = fn(Vec<u8>) -> Vec<u8>;

/// `r` with `b` at `off`.
fn put(mut r: Vec<u8>, off: usize, b: &[u8]) -> Vec<u8> {
    r.resize(r.len().max(off + b.len()), 0);
    r[off..off + b.len()].copy_from_slice(b);
    r
}

/// FILE_FS record `r` with data_len `n` and room for it, padded to 8.
fn data_len(r: Vec<u8>, n: usize) -> Vec<u8> {
    let mut r = put(r, 28, &(n as u32).to_le_bytes());
    r.resize(32 + n.next_multiple_of(8), 0);
    r
}

/// FILE_FS: header, fs_name[16] at 8, fs_version at 24, data_len at 28, data (position, ...) at 32.
pub(crate) fn bad_records() -> R {
    let (m, img) = (mount_with(&[])?, tmpfile("posbad.ckpt"));
    reset(&m, 4)?;
    reader_image(&m.p("d"), 3, &img)?;
    let chunks = mutate::body(&read_file(&img)?);
    let fs = mutate::of_type(&chunks, ckpt_image::CKPT_HDR_FILE_FS);
    let at = *fs.first().ok_or("no FILE_FS record in the image")?;
    let with = |f: Edit| {
        let (mut c, r) = (chunks.clone(), f(chunks[at].clone()));
        let len = (r.len() as u32).to_le_bytes();
        c[at] = put(r, 4, &len);
        mutate::seal(&c)
    };
    // Records that decode but ramfs_cr did not write, then badly framed ones ("FILE_FS ...").
    #[rustfmt::skip]
    let variants: [(&str, Edit, i32); 11] = [
        ("version 2", |r| put(r, 24, &[2]), libc::EINVAL),
        ("16 bytes of data", |r| data_len(r, 16), libc::EINVAL),
        ("position 1 with entries named", |r| put(put(r, 32, &1u64.to_le_bytes()), 48, &5u64.to_le_bytes()), libc::EINVAL),
        ("fs_name tmpfs", |r| put(r, 8, b"tmpfs\0\0\0\0\0\0\0\0\0\0\0"), libc::ESTALE),
        ("FILE_FS name without a NUL", |r| put(r, 8, &[b'a'; 16]), libc::EINVAL),
        ("FILE_FS name padded with non-NUL", |r| put(r, 23, b"x"), libc::EINVAL),
        ("FILE_FS empty name", |r| put(r, 8, &[0; 16]), libc::EINVAL),
        ("FILE_FS data_len 257", |r| data_len(r, 257), libc::EINVAL),
        ("FILE_FS longer than its data", |r| [r, vec![0; 8]].concat(), libc::EINVAL),
        ("FILE_FS data padding not zero", |r| put(data_len(r, 28), 60, &[1]), libc::EINVAL),
        ("FILE_FS shorter than its header", |r| r[..24].to_vec(), libc::EINVAL),
    ];
    let mut images: Vec<_> = variants.iter().map(|&(w, f, e)| (w, with(f), e)).collect();
    let twice = mutate::seal(&[&chunks[..=at], &chunks[at..]].concat());
    images.push(("FILE_FS twice for one file", twice, libc::EINVAL));
    let refused = check_each(images, |(what, bytes, want)| {
        // it decodes exactly when its framing is right
        let (framing, decodes) = (what.starts_with("FILE_FS "), decode(&bytes).is_ok());
        check!(framing != decodes, "{what}: decodes: {decodes}");
        let p = tmpfile("posbad-variant.ckpt");
        write_file(&p, &bytes)?;
        in_clean_child(what, || {
            open_at("/", libc::O_RDONLY | libc::O_DIRECTORY, 3)?;
            expect_restart_refused(&p, 0, want, what)
        })
    });
    // The name comes from the image: it reaches the log escaped.
    let p = tmpfile("posbad-name.ckpt");
    write_file(&p, &with(|r| put(r, 8, b"x\x1b[1m\nfake\0\0\0\0\0\0")))?;
    let escaped = in_clean_child("fs_name with control characters", || {
        let o = restart_from(&p, 0)?;
        expect_outcome(&o, Err(libc::ESTALE), "fs_name with control characters")?;
        let ok = !o.log.contains('\x1b') && o.log.contains("x\\e[1m\\nfake");
        check!(ok, "fs_name not escaped in the log: {:?}", o.log);
        Ok(())
    });
    refused.and(escaped)
}
