//! Round trips of set-up steps (`golden::Step`): the expectations come from them, never the image.

use crate::golden::{apply, populate_files, Files};
use crate::vm::*;
use testsupport::golden::{expected, Step, WantFd};

/// The flags the fd table keeps and a round trip compares.
const FLAGS: i32 = libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK | libc::O_DIRECTORY;

/// How the image is taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum By {
    /// The process checkpoints itself.
    Itself,
    /// Its parent checkpoints it, stopped.
    Parent,
    /// Its parent checkpoints it while it runs (system calls that leave its fds alone).
    Running,
    /// Its parent checkpoints it, stopped, with a second thread.
    Thread,
    /// Its parent checkpoints it, stopped; a process sharing its file table applied the fd steps.
    CloneFiles,
}

/// A process set up by `steps`, checkpointed `by`: the image records the expected fds and cwd, a
/// restart over other files at the first fd and fd 20 (kept) gives them; then `after(mount dir)`.
pub fn round_trip(files: Files, steps: &'static [Step], by: By, after: fn(&str) -> R) -> R {
    let m = mount_with(files)?;
    let (want, cwd) = expected(steps, &m.dir);
    let img = tmpfile("rt.ckpt");
    let setup = || {
        set_nofile(4096)?;
        match by {
            By::CloneFiles => {
                let c = clone_process(libc::CLONE_FILES, || {
                    if apply(&m.dir, steps).is_ok() {
                        sleep_forever();
                    }
                })?;
                // the table is shared: wait for the other process's fds
                let up = soon(500, 10, || want.iter().all(|x| getfd(x.fd) >= 0));
                check!(up, "fds of process {c} not in the table");
                // the cwd is each process's own: the one the steps leave
                chdir(&cwd)
            }
            By::Thread => {
                apply(&m.dir, steps)?;
                std::thread::spawn(sleep_forever);
                Ok(())
            }
            _ => apply(&m.dir, steps),
        }
    };
    if by == By::Itself {
        self_image(&img, setup)?;
    } else {
        let t = match by {
            // getppid(2) in a loop: system calls that leave the fds alone
            By::Running => Target::running(setup, |_| _ = std::os::unix::process::parent_id())?,
            _ => Target::stopped(setup)?,
        };
        let id = ck_ok(t.pid, &img, 0)?;
        let h = decode_file(&img)?.header;
        eq!(h.crid as i64, id, "HEADER crid");
        eq!(h.pid, t.pid, "HEADER pid (the child)");
        if by == By::Running {
            eq!(t.ended(), None, "target still running after the checkpoint");
        }
    }
    check_image(&decode_file(&img)?, &want, &cwd)?;
    let other = tmpfile("other");
    write_file(&other, b"other file")?;
    in_clean_child("restarting child", || {
        set_nofile(4096)?;
        if let Some(w) = want.first() {
            open_at(&other, libc::O_RDONLY, w.fd)?;
        }
        let kept = !want.iter().any(|w| w.fd == 20);
        if kept {
            open_at(&other, libc::O_RDONLY, 20)?;
            seek(20, 4)?;
        }
        let n = rs_ok(&img)? as usize;
        eq!(n, want.len(), "restart return value (fds installed)");
        check_table(&want, &cwd)?;
        if kept {
            let got = (fd_path(20), pos(20));
            eq!(got, (other.clone(), 4), "fd 20 (not in the image)");
        }
        after(&m.dir)
    })
}

/// A fresh ramfs_cr mount holding `files` (a name ending in '/' is a directory).
pub fn mount_with(files: Files) -> Result<Mount, String> {
    work()?;
    let m = Mount::new("ramfs_cr")?;
    populate_files(&m.dir, files)?;
    Ok(m)
}

/// [`mount_with`] one file: (the mount, the file's path).
pub fn mount_file(name: &str, bytes: &[u8]) -> Result<(Mount, String), String> {
    let m = mount_with(&[(name, bytes)])?;
    let p = m.p(name);
    Ok((m, p))
}

/// [`mount_with`] and [`image_on`] it by `steps`: (the mount, the image's path).
pub fn image_of(files: Files, steps: &[Step]) -> Result<(Mount, String), String> {
    let m = mount_with(files)?;
    let img = image_on(&m, steps)?;
    Ok((m, img))
}

/// The image of a clean child set up by `steps` on `m` (paths relative to it, its cwd first).
pub fn image_on(m: &Mount, steps: &[Step]) -> Result<String, String> {
    let img = tmpfile("image.ckpt");
    self_image(&img, || {
        set_nofile(4096)?;
        apply(&m.dir, steps)
    })?;
    Ok(img)
}

/// A stopped target set up by `steps` on `m` (see [`image_on`]).
pub fn target_on(m: &Mount, steps: &[Step]) -> Result<Target, String> {
    let (dir, steps) = (m.dir.clone(), steps.to_vec());
    Target::stopped(move || apply(&dir, &steps))
}

/// The image records the fds (numbers, names, positions, flags, close-on-exec, sharing) and cwd.
pub fn check_image(im: &ckpt_image::Image, want: &[WantFd], cwd: &str) -> R {
    let names: Vec<_> = want.iter().map(|w| (w.fd, w.name.clone())).collect();
    eq!(fd_names(im), names, "recorded fds");
    for (d, w) in im.fds.iter().zip(want) {
        let f = &im.file_of(d).ok_or(format!("fd {}: no FILE", d.fd))?.file;
        let fd = w.fd;
        eq!(f.f_pos, w.pos, "fd {fd}: recorded f_pos");
        let flags = f.f_flags as i32 & FLAGS;
        eq!(flags, w.flags, "fd {fd}: recorded f_flags");
        // FMODE_READ 1, FMODE_WRITE 2
        let fmode = [1, 2, 3][(w.flags & libc::O_ACCMODE) as usize];
        eq!(f.f_mode, fmode, "fd {fd}: recorded f_mode");
        let cloexec = d.close_on_exec != 0;
        eq!(cloexec, w.close_on_exec, "fd {fd}: recorded close_on_exec");
        let (lead, shares) = (im.fds.iter().find(|x| x.fd == w.shares), w.shares);
        let (objref, lead) = (Some(d.fd_objref), lead.map(|x| x.fd_objref));
        eq!(objref, lead, "fd {fd}: objref (shares fd {shares})");
    }
    let files = want.iter().filter(|w| w.shares == w.fd).count();
    eq!(im.files.len(), files, "FILE records (struct files)");
    eq!(text(&im.cwd), cwd, "recorded cwd");
    expect_eq(text(&im.root), "/", "recorded root")
}

/// The fd table (fds >= 20 not in `want` aside) and cwd are `want`'s; shared fds move together.
pub fn check_table(want: &[WantFd], cwd: &str) -> R {
    let mut fds = open_fds();
    fds.retain(|&fd| fd < 20 || want.iter().any(|w| w.fd == fd));
    let wfds: Vec<i32> = want.iter().map(|w| w.fd).collect();
    eq!(fds, wfds, "open fds after restart");
    for w in want {
        let fd = w.fd;
        eq!(fd_path(fd), w.name, "fd {fd} path");
        eq!(pos(fd), w.pos, "fd {fd} f_pos");
        eq!(getfl(fd) & FLAGS, w.flags, "fd {fd} F_GETFL");
        let fdfl = if w.close_on_exec { libc::FD_CLOEXEC } else { 0 };
        eq!(getfd(fd), fdfl, "fd {fd} F_GETFD");
    }
    // a shared file's position moves on every fd of it
    let is_lead = |w: &&WantFd| w.shares == w.fd && w.flags & libc::O_DIRECTORY == 0;
    for w in want.iter().filter(is_lead) {
        let lead = w.fd;
        seek(lead, 4242)?;
        for fd in want.iter().filter(|x| x.shares == lead).map(|x| x.fd) {
            eq!(pos(fd), 4242, "fd {fd} after lseek(fd {lead}, 4242)");
        }
        seek(lead, w.pos)?;
    }
    expect_eq(readlink("/proc/self/cwd"), cwd, "cwd after restart")
}
