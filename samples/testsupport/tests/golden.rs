//! The decoder against real kernel output: every golden image (made by the
//! patched kernel in the VM, see `testsupport::golden`) decodes, and holds
//! exactly what its set-up steps opened.

use ckpt_image::*;
use testsupport::golden::{expected, GOLDEN, MNT, O_APPEND, O_DIRECTORY, O_NONBLOCK};

const O_ACCMODE: i32 = 3;

fn golden(name: &str) -> Vec<u8> {
    let p = format!("{}/../testdata/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn golden_images_hold_what_their_steps_set_up() {
    for g in GOLDEN {
        let bytes = golden(g.file);
        let im = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", g.file));
        let (want, cwd) = expected(g.steps, MNT);
        let what = g.file;
        assert!(im.header.crid > 0, "{what}: crid");
        assert!(im.header.pid > 1, "{what}: pid {}", im.header.pid);
        assert!(
            im.header.release_str().starts_with("6.12"),
            "{what}: release"
        );
        assert_eq!(im.header.uflags, 0, "{what}: uflags");
        assert_eq!(im.root, b"/", "{what}: root");
        assert_eq!(String::from_utf8_lossy(&im.cwd), cwd, "{what}: cwd");
        assert_eq!(im.fds.len(), want.len(), "{what}: fds {:?}", im.fds);
        for (d, w) in im.fds.iter().zip(&want) {
            let f = im.file_of(d).unwrap();
            let fd = w.fd;
            assert_eq!(d.fd, fd, "{what}: fd number");
            assert_eq!(
                String::from_utf8_lossy(&f.name),
                w.name,
                "{what}: fd {fd} name"
            );
            assert_eq!(f.file.f_pos, w.pos, "{what}: fd {fd} f_pos");
            let mask = O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY;
            assert_eq!(
                f.file.f_flags as i32 & mask,
                w.flags,
                "{what}: fd {fd} f_flags"
            );
            // FMODE_READ 1, FMODE_WRITE 2 from the access mode
            let fmode = [1, 2, 3][(w.flags & O_ACCMODE) as usize];
            assert_eq!(f.file.f_mode, fmode, "{what}: fd {fd} f_mode");
            let dir = w.flags & O_DIRECTORY != 0;
            let ty = if dir { 0o040000 } else { 0o100000 };
            assert_eq!(f.file.i_mode & 0o170000, ty, "{what}: fd {fd} i_mode type");
            assert_eq!(
                d.close_on_exec != 0,
                w.close_on_exec,
                "{what}: fd {fd} cloexec"
            );
            // ramfs_cr saves a directory reader past an entry with its own
            // record (pos, mount id, last entry, next entry: here the end)
            match &f.fs {
                Some(fs) if dir && w.pos > 2 => {
                    assert_eq!(fs.fs_name, b"ramfs_cr", "{what}: fd {fd} FILE_FS name");
                    assert_eq!(fs.fs_version, 1, "{what}: fd {fd} FILE_FS version");
                    assert_eq!(fs.data.len(), 32, "{what}: fd {fd} FILE_FS length");
                    let u = |i: usize| u64::from_le_bytes(fs.data[i..i + 8].try_into().unwrap());
                    assert_eq!(u(0) as i64, w.pos, "{what}: fd {fd} FILE_FS pos");
                    assert_ne!(u(16), 0, "{what}: fd {fd} FILE_FS last entry");
                    assert_eq!(u(24), 0, "{what}: fd {fd} FILE_FS next entry (at the end)");
                }
                None if !(dir && w.pos > 2) => {}
                r => panic!("{what}: fd {fd} FILE_FS {r:?} (pos {}, dir {dir})", w.pos),
            }
            // fds that share an open file share its objref, and only they
            let sharer = im.fds.iter().find(|x| x.fd == w.shares).unwrap();
            assert_eq!(d.fd_objref, sharer.fd_objref, "{what}: fd {fd} objref");
        }
        let objrefs: std::collections::BTreeSet<_> = im.fds.iter().map(|d| d.fd_objref).collect();
        let shared: std::collections::BTreeSet<_> = want.iter().map(|w| w.shares).collect();
        assert_eq!(objrefs.len(), shared.len(), "{what}: open files");
        assert_eq!(im.files.len(), shared.len(), "{what}: FILE records");
        // what the decoder read, encoded again, is the kernel's bytes
        assert_eq!(im.encode(), bytes, "{what}: re-encoding");
    }
}
