//! `cr-harness --golden`: print the golden images the host tests decode (`testsupport::golden`)
//! as hex between marker lines, from which `samples/testdata/golden/extract` writes them.

use crate::vm::*;
use testsupport::golden::{Step, FILES, GOLDEN, MNT};

/// Apply set-up steps (paths relative to `base`, the first cwd) in this process.
pub fn apply(base: &str, steps: &[Step]) -> R {
    chdir(base)?;
    for s in steps {
        match *s {
            Step::Open { path, flags, fd } => {
                open_at(&format!("{base}/{path}"), flags, fd)?;
            }
            Step::Seek { fd, pos } => seek(fd, pos)?,
            Step::Dup { from, to } => dup2(from, to)?,
            Step::Cloexec { fd } => drop(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)),
            Step::Chdir(p) => chdir(&format!("{base}/{p}"))?,
        }
    }
    Ok(())
}

/// Files to create: (name, bytes); a name ending in '/' is a directory.
pub type Files<'a> = &'a [(&'a str, &'a [u8])];

/// Create `files` below `base`, with their directories.
pub fn populate_files(base: &str, files: Files) -> R {
    for (name, bytes) in files {
        let p = format!("{base}/{name}");
        let (dir, file) = p.rsplit_once('/').unwrap_or((base, name));
        mkdirs(dir)?;
        if !file.is_empty() {
            write_file(&p, bytes)?;
        }
    }
    Ok(())
}

pub fn make_all() -> R {
    work()?;
    ensure_module()?;
    let _m = Mount::at(MNT, "ramfs_cr", Some("mode=0755"))?;
    populate_files(MNT, FILES)?;
    for g in GOLDEN {
        let img = tmpfile(g.file);
        self_image(&img, || apply(MNT, g.steps))?;
        let bytes = read_file(&img)?;
        println!("golden-begin {}", g.file);
        for line in bytes.chunks(64) {
            let hex: String = line.iter().map(|b| format!("{b:02x}")).collect();
            println!("{hex}");
        }
        println!("golden-end {}", g.file);
    }
    Ok(())
}
