//! `cr-harness --golden`: print the golden images the host tests decode (`testsupport::golden`)
//! as hex between marker lines, from which `samples/testdata/golden/extract` writes them.

use crate::vm::*;
use libc::{FD_CLOEXEC, F_SETFD};
use testsupport::golden::{Step, FILES, GOLDEN, MNT};

/// Apply set-up steps (paths relative to `base`, the first cwd) in this process.
pub fn apply(base: &str, steps: &[Step]) -> R {
    chdir(base)?;
    let at = |p: &str| format!("{base}/{p}");
    steps.iter().try_for_each(|s| match *s {
        Step::Open { path, flags, fd } => open_at(&at(path), flags, fd).map(drop),
        Step::Seek { fd, pos } => seek(fd, pos),
        Step::Dup { from, to } => dup2(from, to),
        Step::Cloexec { fd } => sys_or(fcntl(fd, F_SETFD, FD_CLOEXEC), "F_SETFD").map(drop),
        Step::Chdir(p) => chdir(&at(p)),
    })
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
    work().and_then(|()| ensure_module())?;
    let _m = Mount::at(MNT, "ramfs_cr", Some("mode=0755"))?;
    populate_files(MNT, FILES)?;
    for g in GOLDEN {
        let img = tmpfile(g.file);
        self_image(&img, || apply(MNT, g.steps))?;
        println!("golden-begin {}", g.file);
        for line in read_file(&img)?.chunks(64) {
            let hex: String = line.iter().map(|b| format!("{b:02x}")).collect();
            println!("{hex}");
        }
        println!("golden-end {}", g.file);
    }
    Ok(())
}
