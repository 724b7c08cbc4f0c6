// SPDX-License-Identifier: GPL-2.0-only
//! ramfs_cr side by side with CRIU (Documentation/benchmarks.rst, "CRIU").
//!
//! For each N, a target process (`cr-bench --target`, exec'd: a small
//! process, not a copy of the bench's heap) holds N descriptors on
//! ramfs_cr, numbered 3..3+N: N/2 regular files, each at its own offset,
//! then N/2 directories, each read past its first entry (position 3).  Its
//! stdio is /dev/null and it is a session leader, so that CRIU needs no
//! `--shell-job`.  Every
//! repetition, in an order that alternates between the tools:
//!
//! * `ckpt checkpoint --pid P` and `criu dump -t P --leave-running`, whole
//!   commands, of the same running target;
//! * checkpoint(2) of the target alone (the fd phase) next to CRIU's own
//!   `frozen_time` (stats-dump);
//! * the target is killed; `criu restore -d` brings it back, and
//!   `ckpt restart --in IMG -- cr-bench --hold W` restores the image into a
//!   new process that signals on fd W once it runs.  Each restored process
//!   is checked from outside, through /proc/PID/fd and /proc/PID/fdinfo:
//!   every fd number, path, access mode and offset (directory positions
//!   included) must be what the target set up; a wrong restore stops the
//!   bench, it is never a time;
//! * restart(2) alone, in a child, next to CRIU's `restore_time`
//!   (stats-restore).
//!
//! Times of whole commands run from fork() to the command's exit (criu
//! restore -d, ckpt checkpoint, criu dump) or to the restored program's
//! first instruction of its own (ckpt restart: the `--hold` byte), in ms.

use std::ffi::CString;
use std::io::Write as _;

use crate::{close, cstr, die, ename, errno, mkdir, now_ns, open, settle, stat_of, Stat};

pub const CRIU: &str = "/usr/sbin/criu";
const CKPT: &str = "/bin/ckpt";
const SELF: &str = "/bin/cr-bench";

pub struct CriuRow {
    pub n: usize,
    /// Whole commands, ms, one sample per repetition.
    pub ckpt_checkpoint: Vec<f64>,
    pub criu_dump: Vec<f64>,
    pub ckpt_restart: Vec<f64>,
    pub criu_restore: Vec<f64>,
    /// The fd phase: checkpoint(2) and restart(2) alone, and what CRIU's
    /// stats images report (frozen_time, restore_time), ms.
    pub sys_checkpoint: Vec<f64>,
    pub sys_restart: Vec<f64>,
    pub criu_frozen: Vec<f64>,
    pub criu_restore_time: Vec<f64>,
    pub ckpt_image_bytes: usize,
    pub criu_image_bytes: usize,
}

/// `cr-bench --hold W`: what `ckpt restart` execs.  Tell the bench we run
/// (one byte on W), close W, and wait to be inspected and killed.
pub fn hold(fd: i32) -> ! {
    // SAFETY: plain syscalls on an inherited fd.
    unsafe {
        libc::write(fd, b"r".as_ptr().cast(), 1);
        libc::close(fd);
        loop {
            libc::pause();
        }
    }
}

/// `criu check`, its verdict (the last line it prints) and exit status.
pub fn criu_check() -> (bool, String) {
    match std::process::Command::new(CRIU).arg("check").output() {
        Ok(o) => {
            // The verdict ("Looks good.") is criu's last line on stdout;
            // warnings go to stderr.
            let out = String::from_utf8_lossy(&o.stdout);
            let err = String::from_utf8_lossy(&o.stderr);
            let verdict = last_line(&out)
                .or_else(|| last_line(&err))
                .unwrap_or_default();
            (o.status.success(), verdict)
        }
        Err(e) => (false, format!("cannot run {CRIU}: {e}")),
    }
}

fn last_line(t: &str) -> Option<String> {
    t.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn file_path(root: &str, i: usize) -> String {
    format!("{root}/f{i:05}")
}

fn dir_path(root: &str, i: usize) -> String {
    format!("{root}/d{i:05}")
}

/// What descriptor 3 + i of the target holds: path, O_ACCMODE, position.
fn expected(root: &str, n: usize, i: usize) -> (String, i32, i64) {
    if i < n / 2 {
        (
            file_path(root, i),
            libc::O_RDWR,
            ((i * 37) % 4096 + 1) as i64,
        )
    } else {
        (dir_path(root, i), libc::O_RDONLY, 3)
    }
}

/// The tree a target opens: N/2 files, N/2 directories of two entries.
fn make_tree(root: &str, n: usize) {
    mkdir(root);
    for i in 0..n {
        if i < n / 2 {
            close(open(
                &file_path(root, i),
                libc::O_CREAT | libc::O_RDWR,
                0o644,
            ));
        } else {
            let d = dir_path(root, i);
            mkdir(&d);
            for e in ["a", "b"] {
                close(open(
                    &format!("{d}/{e}"),
                    libc::O_CREAT | libc::O_RDWR,
                    0o644,
                ));
            }
        }
    }
}

fn wait_pid(pid: i32, flags: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for a child (or an orphan we reap as subreaper).
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    if r != pid {
        die(&format!("waitpid {pid}: {}", ename(errno())));
    }
    status
}

fn kill_reap(pid: i32) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_pid(pid, 0);
}

/// `cr-bench --target ROOT N`: the target process, exec'd fresh so that its
/// memory is a small program's and not the bench's heap (CRIU dumps it): a
/// session leader with stdio on /dev/null holding the N descriptors of
/// `expected()` at 3..3+N, stopped once set up, then waiting to be killed.
pub fn target(root: &str, n: usize) -> ! {
    let paths: Vec<(CString, i32, i64)> = (0..n)
        .map(|i| {
            let (p, mode, pos) = expected(root, n, i);
            (cstr(&p), mode, pos)
        })
        .collect();
    let null = cstr("/dev/null");
    // SAFETY: raw syscalls on memory prepared above.
    unsafe {
        libc::setsid();
        let z = libc::open(null.as_ptr(), libc::O_RDWR);
        for fd in 0..3 {
            libc::dup2(z, fd);
        }
        libc::syscall(libc::SYS_close_range, 3u32, !0u32, 0u32);
        for (i, (p, mode, pos)) in paths.iter().enumerate() {
            let flags = if *mode == libc::O_RDWR {
                libc::O_RDWR
            } else {
                libc::O_RDONLY | libc::O_DIRECTORY
            };
            let fd = libc::open(p.as_ptr(), flags);
            if fd != 3 + i as i32 || libc::lseek(fd, *pos, libc::SEEK_SET) != *pos {
                libc::_exit(100);
            }
        }
        libc::raise(libc::SIGSTOP);
        loop {
            libc::pause();
        }
    }
}

/// Start `cr-bench --target` and return once it is set up and running.
fn spawn_target(root: &str, n: usize) -> i32 {
    let pid = spawn(
        &[SELF.into(), "--target".into(), root.into(), n.to_string()],
        None,
    );
    let st = wait_pid(pid, libc::WUNTRACED);
    if !libc::WIFSTOPPED(st) {
        die(&format!("target {pid} did not set up (status {st:#x})"));
    }
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    pid
}

/// fork + exec `argv` with stdout on /dev/null (stderr stays on the
/// console, for diagnostics), `keep` = (fd, number) handed down at that
/// number, everything else closed.  Returns the pid.
fn spawn(argv: &[String], keep: Option<(i32, i32)>) -> i32 {
    let args: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let env = [cstr("PATH=/bin:/sbin:/usr/bin:/usr/sbin")];
    let envp = [env[0].as_ptr(), std::ptr::null()];
    let null = cstr("/dev/null");
    // SAFETY: the child makes raw syscalls only and execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        die(&format!("fork: {}", ename(errno())));
    }
    if pid == 0 {
        // SAFETY: child side; memory prepared before fork.
        unsafe {
            let z = libc::open(null.as_ptr(), libc::O_RDWR);
            libc::dup2(z, 0);
            libc::dup2(z, 1);
            let first = match keep {
                Some((fd, at)) => {
                    if fd != at {
                        libc::dup2(fd, at);
                    } else {
                        libc::fcntl(fd, libc::F_SETFD, 0);
                    }
                    libc::syscall(libc::SYS_close_range, 3u32, (at - 1) as u32, 0u32);
                    at + 1
                }
                None => 3,
            };
            libc::syscall(libc::SYS_close_range, first as u32, !0u32, 0u32);
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    pid
}

/// Run a command to its end; its exit status must be 0.  Returns ms.
fn run(argv: &[String]) -> f64 {
    let t0 = now_ns();
    let pid = spawn(argv, None);
    let st = wait_pid(pid, 0);
    let t1 = now_ns();
    if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
        die(&format!("{:?} failed (status {st:#x})", argv.join(" ")));
    }
    (t1 - t0) as f64 / 1e6
}

/// Check pid's descriptors 3..3+n against `expected()` from outside.
fn verify(pid: i32, root: &str, n: usize, who: &str) {
    for i in 0..n {
        let fd = 3 + i;
        let (path, mode, pos) = expected(root, n, i);
        let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_else(|e| die(&format!("{who}: pid {pid} fd {fd}: {e}")));
        if link != path {
            die(&format!(
                "{who}: pid {pid} fd {fd} is {link}, expected {path}"
            ));
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .unwrap_or_else(|e| die(&format!("{who}: fdinfo {fd}: {e}")));
        let field = |k: &str| -> i64 {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::trim)
                .and_then(|v| {
                    if k == "flags:" {
                        i64::from_str_radix(v, 8).ok()
                    } else {
                        v.parse().ok()
                    }
                })
                .unwrap_or_else(|| die(&format!("{who}: fdinfo {fd}: no {k}")))
        };
        let (got_pos, flags) = (field("pos:"), field("flags:") as i32);
        if got_pos != pos || flags & libc::O_ACCMODE != mode {
            die(&format!(
                "{who}: pid {pid} fd {fd} ({path}): pos {got_pos} flags {flags:o}, expected pos {pos} access {mode}"
            ));
        }
    }
}

/// One protobuf varint at `b[*i..]`.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Varint fields of one protobuf message: (field number, value); nested
/// messages as (field number, bytes).
type PbFields = (Vec<(u64, u64)>, Vec<(u64, Vec<u8>)>);

fn pb_fields(b: &[u8]) -> PbFields {
    let (mut ints, mut msgs, mut i) = (vec![], vec![], 0);
    while i < b.len() {
        let Some(key) = varint(b, &mut i) else { break };
        match key & 7 {
            0 => match varint(b, &mut i) {
                Some(v) => ints.push((key >> 3, v)),
                None => break,
            },
            2 => {
                let Some(len) = varint(b, &mut i) else { break };
                let end = i + len as usize;
                if end > b.len() {
                    break;
                }
                msgs.push((key >> 3, b[i..end].to_vec()));
                i = end;
            }
            _ => break,
        }
    }
    (ints, msgs)
}

const STATS_MAGIC: u32 = 0x5709_3306;

/// A field of CRIU's stats-dump / stats-restore image (images/stats.proto:
/// stats_entry { dump = 1; restore = 2 }), in µs as CRIU writes it.
/// The image: magic words, the last being STATS_MAGIC, then one u32
/// length and the stats_entry message.
pub fn criu_stat(path: &str, which: u64, field: u64) -> Option<f64> {
    let b = std::fs::read(path).ok()?;
    let mut off = None;
    for k in 0..4 {
        let w = b.get(4 * k..4 * k + 4)?;
        if u32::from_le_bytes(w.try_into().ok()?) == STATS_MAGIC {
            off = Some(4 * k + 4);
            break;
        }
    }
    let off = off?;
    let len = u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?) as usize;
    let msg = b.get(off + 4..off + 4 + len)?;
    let (_, subs) = pb_fields(msg);
    let (_, sub) = subs.iter().find(|(f, _)| *f == which)?;
    let (ints, _) = pb_fields(sub);
    ints.iter()
        .find(|(f, _)| *f == field)
        .map(|(_, v)| *v as f64)
}

fn dir_bytes(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".img"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len() as usize)
                .sum()
        })
        .unwrap_or(0)
}

fn rm_rf(dir: &str) {
    let _ = std::fs::remove_dir_all(dir);
}

fn ckpt_checkpoint(pid: i32, img: &str) -> f64 {
    run(&[
        CKPT.into(),
        "checkpoint".into(),
        "--pid".into(),
        pid.to_string(),
        "--out".into(),
        img.into(),
        "--skip-unsupported".into(),
    ])
}

fn criu_dump(pid: i32, dir: &str) -> f64 {
    rm_rf(dir);
    mkdir(dir);
    run(&[
        CRIU.into(),
        "dump".into(),
        "-t".into(),
        pid.to_string(),
        "-D".into(),
        dir.into(),
        "-o".into(),
        "dump.log".into(),
        "--leave-running".into(),
    ])
}

/// `criu restore -d`; the restored target (same pid) is then ours to reap
/// (cr-bench is a child subreaper).
fn criu_restore(dir: &str) -> f64 {
    run(&[
        CRIU.into(),
        "restore".into(),
        "-D".into(),
        dir.into(),
        "-o".into(),
        "restore.log".into(),
        "-d".into(),
    ])
}

/// `ckpt restart --in IMG -- cr-bench --hold W`: time to the held
/// program's byte on W.  Returns (ms, pid of the restored process).
fn ckpt_restart(img: &str, n: usize) -> (f64, i32) {
    let mut p = [0i32; 2];
    // SAFETY: valid out array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        die(&format!("pipe2: {}", ename(errno())));
    }
    let w = (n + 100) as i32;
    let argv: Vec<String> = vec![
        CKPT.into(),
        "restart".into(),
        "--in".into(),
        img.into(),
        "--".into(),
        SELF.into(),
        "--hold".into(),
        w.to_string(),
    ];
    let t0 = now_ns();
    let pid = spawn(&argv, Some((p[1], w)));
    close(p[1]);
    let mut b = [0u8; 1];
    // SAFETY: b is writable for one byte.
    let r = unsafe { libc::read(p[0], b.as_mut_ptr().cast(), 1) };
    let t1 = now_ns();
    close(p[0]);
    if r != 1 {
        let st = wait_pid(pid, 0);
        die(&format!(
            "ckpt restart of {img} did not reach its command (status {st:#x})"
        ));
    }
    ((t1 - t0) as f64 / 1e6, pid)
}

pub fn run_criu_bench(fds: &[usize], reps: usize, cr_dir: &str, tmp: &str) -> Vec<CriuRow> {
    // SAFETY: plain prctl: orphans (criu restore -d's restored task) are
    // re-parented to us, so that we can reap them.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut rows = Vec::new();
    for &n in fds {
        let root = format!("{cr_dir}/criu-{n}");
        make_tree(&root, n);
        let img = format!("{tmp}/criu-bench-{n}.img");
        let sys_img = format!("{tmp}/criu-bench-{n}.sys.img");
        let dir = format!("{tmp}/criu-bench-{n}.d");
        let fd = open(
            &sys_img,
            libc::O_CREAT | libc::O_RDWR | libc::O_TRUNC,
            0o600,
        );
        // Above every fd the image restores, for restart(2) in a child.
        // SAFETY: plain fcntl on our fd.
        let sys_fd = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, (n + 200) as i32) };
        if sys_fd < 0 {
            die(&format!("F_DUPFD_CLOEXEC: {}", ename(errno())));
        }
        close(fd);
        let mut row = CriuRow {
            n,
            ckpt_checkpoint: vec![],
            criu_dump: vec![],
            ckpt_restart: vec![],
            criu_restore: vec![],
            sys_checkpoint: vec![],
            sys_restart: vec![],
            criu_frozen: vec![],
            criu_restore_time: vec![],
            ckpt_image_bytes: 0,
            criu_image_bytes: 0,
        };
        // One untimed round first: page cache, dentries, criu's libraries.
        for rep in 0..=reps {
            let target = spawn_target(&root, n);
            settle();
            let (c, d) = if rep % 2 == 0 {
                let c = ckpt_checkpoint(target, &img);
                settle();
                (c, criu_dump(target, &dir))
            } else {
                let d = criu_dump(target, &dir);
                settle();
                (ckpt_checkpoint(target, &img), d)
            };
            settle();
            let sc = crate::time_checkpoint(target, sys_fd).0 / 1e3;
            kill_reap(target);
            settle();
            let restore_criu = || {
                let t = criu_restore(&dir);
                verify(target, &root, n, "criu restore");
                kill_reap(target);
                t
            };
            let restore_ckpt = || {
                let (t, pid) = ckpt_restart(&img, n);
                verify(pid, &root, n, "ckpt restart");
                kill_reap(pid);
                t
            };
            let (rc, rr) = if rep % 2 == 0 {
                let a = restore_ckpt();
                settle();
                (a, restore_criu())
            } else {
                let b = restore_criu();
                settle();
                (restore_ckpt(), b)
            };
            settle();
            let sr = crate::time_real_restart(sys_fd, n, 3, (n + 2) as i32) / 1e3;
            let frozen = criu_stat(&format!("{dir}/stats-dump"), 1, 2);
            let rtime = criu_stat(&format!("{dir}/stats-restore"), 2, 4);
            if rep == 0 {
                continue;
            }
            row.ckpt_checkpoint.push(c);
            row.criu_dump.push(d);
            row.ckpt_restart.push(rc);
            row.criu_restore.push(rr);
            row.sys_checkpoint.push(sc);
            row.sys_restart.push(sr);
            row.criu_frozen.push(frozen.map_or(f64::NAN, |us| us / 1e3));
            row.criu_restore_time
                .push(rtime.map_or(f64::NAN, |us| us / 1e3));
        }
        row.ckpt_image_bytes = std::fs::metadata(&img).map_or(0, |m| m.len() as usize);
        row.criu_image_bytes = dir_bytes(&dir);
        println!(
            "cr-bench: criu N={n} done ({reps} reps, each restore verified: {n} fds, paths, modes, offsets, directory positions)"
        );
        let _ = std::io::stdout().flush();
        close(sys_fd);
        let _ = std::fs::remove_file(&img);
        let _ = std::fs::remove_file(&sys_img);
        rm_rf(&dir);
        rows.push(row);
    }
    rows
}

fn fmt(s: Stat) -> String {
    format!("{:.1} [{:.1}-{:.1}]", s.median, s.min, s.max)
}

/// Median ratio criu / ckpt: how many times faster ckpt is.
fn ratio(criu: &[f64], ckpt: &[f64]) -> f64 {
    stat_of(criu).median / stat_of(ckpt).median
}

/// One table of two ckpt/CRIU pairs per N: ckpt, criu, criu / ckpt, twice.
fn print_pairs(rows: &[CriuRow], heads: [&str; 4], cols: fn(&CriuRow) -> [&Vec<f64>; 4]) {
    println!(
        "{:>6} {:>24} {:>24} {:>7} {:>24} {:>24} {:>7}",
        "N", heads[0], heads[1], "x", heads[2], heads[3], "x"
    );
    for r in rows {
        let [a, b, c, d] = cols(r);
        println!(
            "{:>6} {:>24} {:>24} {:>7.1} {:>24} {:>24} {:>7.1}",
            r.n,
            fmt(stat_of(a)),
            fmt(stat_of(b)),
            ratio(b, a),
            fmt(stat_of(c)),
            fmt(stat_of(d)),
            ratio(d, c)
        );
    }
}

pub fn print_criu_table(rows: &[CriuRow], check: &(bool, String)) {
    println!();
    println!(
        "ramfs_cr vs CRIU: a process holding N fds on ramfs_cr (half files, half directories)"
    );
    println!("criu check: {}", check.1);
    println!(
        "whole commands, ms, median [min-max]; x = criu / ckpt (how many times faster ckpt is)"
    );
    print_pairs(
        rows,
        [
            "ckpt checkpoint",
            "criu dump",
            "ckpt restart",
            "criu restore -d",
        ],
        |r| {
            [
                &r.ckpt_checkpoint,
                &r.criu_dump,
                &r.ckpt_restart,
                &r.criu_restore,
            ]
        },
    );
    println!(
        "the fd phase, ms: checkpoint(2) / restart(2) vs CRIU's stats (frozen_time / restore_time)"
    );
    print_pairs(
        rows,
        [
            "checkpoint(2)",
            "criu frozen",
            "restart(2)",
            "criu restore_time",
        ],
        |r| {
            [
                &r.sys_checkpoint,
                &r.criu_frozen,
                &r.sys_restart,
                &r.criu_restore_time,
            ]
        },
    );
    println!("image bytes: ckpt (one file) vs criu (*.img)");
    for r in rows {
        println!(
            "{:>6} {:>12} {:>12} {:>7.2}",
            r.n,
            r.ckpt_image_bytes,
            r.criu_image_bytes,
            r.criu_image_bytes as f64 / r.ckpt_image_bytes.max(1) as f64
        );
    }
}

pub fn criu_json(rows: &[CriuRow], check: &(bool, String)) -> String {
    use crate::{jnum, jstat};
    let mut j = String::new();
    let verdict = check.1.replace('\\', "\\\\").replace('"', "\\\"");
    j.push_str(&format!(
        "  \"criu_check\": {{\"ok\": {}, \"verdict\": \"{verdict}\"}},\n",
        check.0
    ));
    j.push_str("  \"criu\": [\n");
    for (k, r) in rows.iter().enumerate() {
        let comma = if k + 1 < rows.len() { "," } else { "" };
        j.push_str(&format!(
            "    {{\"n\": {}, \"unit\": \"ms\", \"ckpt_image_bytes\": {}, \"criu_image_bytes\": {},\n",
            r.n, r.ckpt_image_bytes, r.criu_image_bytes
        ));
        j.push_str(&format!(
            "     \"ckpt_checkpoint\": {}, \"criu_dump\": {}, \"checkpoint_x\": {},\n",
            jstat(&r.ckpt_checkpoint),
            jstat(&r.criu_dump),
            jnum(ratio(&r.criu_dump, &r.ckpt_checkpoint))
        ));
        j.push_str(&format!(
            "     \"ckpt_restart\": {}, \"criu_restore\": {}, \"restart_x\": {},\n",
            jstat(&r.ckpt_restart),
            jstat(&r.criu_restore),
            jnum(ratio(&r.criu_restore, &r.ckpt_restart))
        ));
        j.push_str(&format!(
            "     \"sys_checkpoint\": {}, \"criu_frozen\": {}, \"sys_restart\": {}, \"criu_restore_time\": {}}}{comma}\n",
            jstat(&r.sys_checkpoint),
            jstat(&r.criu_frozen),
            jstat(&r.sys_restart),
            jstat(&r.criu_restore_time)
        ));
    }
    j.push_str("  ],\n");
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_image_fields() {
        // stats_entry { dump { freezing_time: 7, frozen_time: 300 } }
        // after the service and stats magics.
        let dump = [0x08, 7, 0x10, 0xac, 0x02];
        let mut msg = vec![0x0a, dump.len() as u8];
        msg.extend_from_slice(&dump);
        let mut img = 0x5510_5940u32.to_le_bytes().to_vec();
        img.extend_from_slice(&STATS_MAGIC.to_le_bytes());
        img.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        img.extend_from_slice(&msg);
        let p = std::env::temp_dir().join(format!("cr-bench-stats-{}", std::process::id()));
        std::fs::write(&p, &img).unwrap();
        let path = p.to_str().unwrap();
        assert_eq!(criu_stat(path, 1, 2), Some(300.0));
        assert_eq!(criu_stat(path, 1, 1), Some(7.0));
        assert_eq!(criu_stat(path, 2, 4), None);
        std::fs::write(&p, &img[..img.len() - 1]).unwrap();
        assert_eq!(
            criu_stat(path, 1, 2),
            None,
            "a truncated image gives nothing"
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn expectations_alternate_files_then_dirs() {
        assert_eq!(expected("/r", 4, 0), ("/r/f00000".into(), libc::O_RDWR, 1));
        assert_eq!(expected("/r", 4, 1), ("/r/f00001".into(), libc::O_RDWR, 38));
        assert_eq!(
            expected("/r", 4, 2),
            ("/r/d00002".into(), libc::O_RDONLY, 3)
        );
    }
}
