//! The shape every in-VM test case has, and the one list of them.

use crate::{roundtrip::By, *};

/// A case: its KTAP name and `run`, `Err(expected versus actual)` on failure; a case cleans up
/// what it created (mounts, files, children) even then, so the next one starts from the same state.
pub struct Case {
    pub name: &'static str,
    pub run: fn() -> vm::R,
}

/// Every case, in the order they run; the name's prefix is its area (`ramfs_cr:` the file system,
/// `ckpt:` checkpoint/restart, `ckpt-fuzz:` .. `ckpt-sec:` hardening, `ckpt-contents:` contents).
#[rustfmt::skip]
pub fn all_cases() -> Vec<Case> {
    vec![
        Case { name: "ramfs_cr: module loads and registers ramfs_cr", run: fs_cases::module_loads },
        Case { name: "ramfs_cr: mount -o mode=0700 sets magic, root mode and /proc/mounts", run: fs_cases::mount_mode },
        Case { name: "ramfs_cr: unknown or malformed mount options fail with EINVAL and a message", run: fs_cases::bad_options },
        Case { name: "ramfs_cr: rmmod fails while mounted and works after umount", run: fs_cases::rmmod_while_mounted },
        Case { name: "ramfs_cr: same behaviour as ramfs (parity transcript)", run: fs_cases::parity },
        Case { name: "ramfs_cr: 1000 mount/fill/umount cycles leak no inodes, dentries or Slab", run: fs_cases::mount_cycles },
        Case { name: "ramfs_cr: 100 module unload/load cycles do not grow Slab", run: fs_cases::module_cycles },
        Case { name: "ramfs_cr: ckpt on a kernel without the checkpoint core says so in one line, exits 3 and creates nothing", run: abi_cases::no_core },
        Case { name: "ckpt: restart raises the soft RLIMIT_NOFILE to what the image's highest fd needs within the hard limit, else names the fd and the limit", run: abi_cases::nofile },
        Case { name: "ckpt: self-checkpoint returns an id > 0 and the image decodes", run: ckpt_cases::self_checkpoint },
        Case { name: "ckpt: restart restores fd numbers, f_pos, flags, access mode and close-on-exec", run: ckpt_cases::restore_fds },
        Case { name: "ckpt: dup'd fds share one offset after restart", run: ckpt_cases::dup_shared },
        Case { name: "ckpt: cwd is restored", run: ckpt_cases::cwd_restored },
        Case { name: "ckpt: restart reopens files of several directories, interleaved, and a directory fd on a stacked mount's root as that root", run: ckpt_cases::lookup_dirs_and_mounts },
        Case { name: "ckpt: root and cwd of a chrooted process are restored", run: ckpt_cases::root_restored },
        Case { name: "ckpt: directory readdir resumes after restart (small dir)", run: || ckpt_cases::readdir_case(20, 200, 1) },
        Case { name: "ckpt: directory readdir resumes after restart (10000 entries)", run: || ckpt_cases::readdir_case(10_000, 8192, 30) },
        Case { name: "ckpt: directory of 10 entries changed between checkpoint and restart: the reader resumes by identity (every pending entry that still exists once, nothing returned again), an image without FILE_FS at the index", run: || positions_cases::matrix(10) },
        Case { name: "ckpt: directory of 10000 entries changed between checkpoint and restart: the reader resumes by identity (every pending entry that still exists once, nothing returned again), an image without FILE_FS at the index", run: || positions_cases::matrix(10_000) },
        Case { name: "ckpt: a FILE_FS record ramfs_cr did not write is refused with EINVAL, one of another file system with ESTALE; the caller keeps its fds", run: positions_cases::bad_records },
        Case { name: "ckpt-contents: a whole mount (every inode type, hard links, a sparse 1 GiB file, 10000 files, a path near PATH_MAX, odd names, unlinked and O_TMPFILE files held open) is saved with its directory orders: the image's manifest is the live mount's, ckpt extract writes the same tree", run: contents_cases::whole_mount },
        Case { name: "ckpt-contents: the image or log file on a mount to be frozen fails with EBUSY, logged, nothing frozen", run: contents_cases::image_on_saved_mount },
        Case { name: "ckpt-contents: a store through a shared mapping waits for the thaw: the saved file is one instant of the writer (it fails without the unmap)", run: contents_cases::mapping_writer_waits },
        Case { name: "ckpt-contents: creates, writes and renames by another process during the checkpoint: every image decodes, restarts (dry run) and holds whole writes only", run: contents_cases::concurrent_changes },
        Case { name: "ckpt-contents: a version 2 image restarts in the same boot: fds back, contents left as they are, logged", run: contents_cases::same_boot_restart },
        Case { name: "ckpt-contents: damaged contents (chunk CRC, SB_END counts, data before a record, version, a cut section) fail with EINVAL, logged, caller unchanged", run: contents_cases::bad_contents },
        Case { name: "ckpt-contents: RESTART_CONTENTS rebuilds the mount in a detached one attached elsewhere: same manifest and directory order, a directory reader resumes at its next entry, fd offset and cwd kept", run: contents_cases::restore_elsewhere },
        Case { name: "ckpt-contents: RESTART_CONTENTS refuses bad records (name, inode number, link count, entry order), missing, extra, foreign, attached and non-empty mounts, mounts without the flag, a version 1 image: errno, caller and mounts unchanged", run: contents_cases::restore_refused },
        Case { name: "ckpt-contents: RESTART_CONTENTS by a user in its own user namespace rebuilds files it would own; another owner gives EOVERFLOW, a device node EPERM", run: contents_cases::restore_unprivileged },
        Case { name: "ckpt-contents: an image of 96 MiB of file data, over CKPT_IMAGE_MAX: from a regular file it restores whole, held in under 1 MiB of memory; from a pipe EFBIG, logged, nothing changed", run: big_cases::over_the_limit },
        Case { name: "ckpt-big: an image of 1 GiB of file data in 16 files restores whole; the kernel holds at most 2 MiB of it, and memory that is not page cache grows by less than 32 MiB", run: big_cases::one_gib },
        Case { name: "ckpt-migrate: save: a process and its ramfs_cr mount checkpointed with contents, the image handed to the host", run: contents_cases::migrate_save },
        Case { name: "ckpt-migrate: restore: in a second boot, ckpt restart rebuilds the mount: manifest, directory order, cwd, fd offset, directory position and an unlinked 64 MiB file (its bytes' MD5) as the first boot saw them", run: contents_cases::migrate_restore },
        Case { name: "ckpt: a multi-threaded target and one sharing its table with another process (CLONE_FILES) are checkpointed and restored", run: || ckpt_cases::target_round_trip(&[By::Thread, By::CloneFiles]) },
        Case { name: "ckpt: exec after restart closes the fds recorded close-on-exec and keeps the others", run: ckpt_cases::exec_after_restart },
        Case { name: "ckpt: the image of a running (not stopped) target restores its fds, positions, flags and cwd", run: || ckpt_cases::target_round_trip(&[By::Running]) },
        Case { name: "ckpt: plain ramfs directory fd fails with EBADF, logged, ERROR record", run: || ckpt_cases::refused_unsupported("ramfs", false) },
        Case { name: "ckpt: tmpfs directory fd fails with EBADF, logged, ERROR record", run: || ckpt_cases::refused_unsupported("tmpfs", false) },
        Case { name: "ckpt: regular file on plain ramfs fails with EBADF, named in the log, ERROR record", run: || ckpt_cases::refused_unsupported("ramfs", true) },
        Case { name: "ckpt: regular file on tmpfs fails with EBADF, named in the log, ERROR record", run: || ckpt_cases::refused_unsupported("tmpfs", true) },
        Case { name: "ckpt: CHECKPOINT_SKIP_UNSUPPORTED leaves unsupported fds out", run: ckpt_cases::skip_unsupported },
        Case { name: "ckpt: O_PATH fd is refused with EBADF", run: ckpt_cases::opath_ebadf },
        Case { name: "ckpt: unlinked open file is refused with EBADF", run: ckpt_cases::unlinked_ebadf },
        Case { name: "ckpt: recorded file deleted before restart gives ENOENT and changes nothing", run: ckpt_cases::deleted_enoent },
        Case { name: "ckpt: O_APPEND writes after restart land at the end", run: ckpt_cases::append_after_restart },
        Case { name: "ckpt: O_RDONLY file stays read-only after restart", run: ckpt_cases::rdonly_stays },
        Case { name: "ckpt: checkpoint of a child process by its parent", run: || ckpt_cases::target_round_trip(&[By::Parent]) },
        Case { name: "ckpt: checkpoint of no process: ESRCH for a reaped pid, EINVAL for a negative one", run: ckpt_cases::no_process },
        Case { name: "ckpt: checkpoint while another process keeps writing to the file", run: ckpt_cases::concurrent_writer },
        Case { name: "ckpt: the same image restarts in two processes", run: ckpt_cases::restart_twice },
        Case { name: "ckpt: unknown flags and bad arguments give EINVAL/EBADF for both calls", run: ckpt_cases::bad_flags },
        Case { name: "ckpt: bad images are refused with EINVAL and change nothing", run: ckpt_cases::bad_images },
        Case { name: "ckpt: image with an ERROR record is refused with EIO", run: ckpt_cases::error_image_eio },
        Case { name: "ckpt: restart reads the image from a pipe and from the fd's position", run: ckpt_cases::pipe_and_offset },
        Case { name: "ckpt: an image holding more than CKPT_IMAGE_MAX of records is refused with EFBIG, logged; a longer sparse file of zeros with EINVAL", run: ckpt_cases::too_big },
        Case { name: "ckpt: RESTART_DRY_RUN validates and reopens but changes nothing", run: ckpt_cases::dry_run },
        Case { name: "ckpt: restart failure after a partial reopen leaves the caller unchanged", run: ckpt_cases::all_or_nothing },
        Case { name: "ckpt: the ckpt CLI checkpoints, inspects and restarts a process", run: ckpt_cases::cli },
        Case { name: "ckpt: restart of an fd above RLIMIT_NOFILE gives EMFILE and changes nothing", run: ckpt_cases::rlimit_emfile },
        Case { name: "ckpt: high fd numbers are restored (the fd table grows)", run: ckpt_cases::high_fds },
        Case { name: "ckpt: recorded file replaced by a directory or a FIFO gives ESTALE", run: ckpt_cases::replaced_estale },
        Case { name: "ckpt: checkpoint writes at the image fd's position and into a pipe", run: ckpt_cases::image_position_pipe },
        Case { name: "ckpt: file outside a chrooted target's root gives EBADF", run: ckpt_cases::outside_root_ebadf },
        Case { name: "ckpt: removed working directory gives EBADF", run: ckpt_cases::removed_cwd_ebadf },
        Case { name: "ckpt: f_pos past EOF and a fully read directory are restored", run: ckpt_cases::pos_edges },
        Case { name: "ckpt: restart may install over the image fd itself", run: ckpt_cases::over_image_fd },
        Case { name: "ckpt: 1000 fds with 3000-byte paths (multi-MiB image) round trip", run: ckpt_cases::big_image },
        Case { name: "ckpt: a path longer than PATH_MAX fails the checkpoint cleanly", run: ckpt_cases::too_long_path },
        Case { name: "ckpt: a path of PATH_MAX - 1 bytes round trips, one of PATH_MAX bytes is ENAMETOOLONG", run: ckpt_cases::path_max_boundary },
        Case { name: "ckpt: checkpoint of a target that opens and closes fds all the time", run: ckpt_cases::churning_target },
        Case { name: "ckpt: log fd that is the image fd or a broken pipe", run: ckpt_cases::odd_log_fds },
        Case { name: "ckpt-fuzz: restart(2) of mutated images: clean errno, state unchanged, accepted ones valid", run: fuzz_cases::fuzz },
        Case { name: "ckpt-fuzz: hostile names (.., outside root, NUL, > PATH_MAX) and huge fds are refused", run: fuzz_cases::hostile_fixed },
        Case { name: "ckpt-fuzz: checkpoint/restart symmetry: what checkpoint saves, restart takes (tmpfile, O_ACCMODE, O_ASYNC, deep paths)", run: || fuzz_cases::symmetry(false) },
        Case { name: "ckpt-fuzz: image of a checkpoint that failed early among many fds restarts with EIO (K1)", run: || fuzz_cases::symmetry(true) },
        Case { name: "ckpt-perm: unprivileged checkpoint of a root process is EPERM, of its own processes works", run: hardening_cases::perm_checkpoint },
        Case { name: "ckpt-perm: unprivileged restart never gets more access than open(2) (EACCES, EPERM, nothing changes)", run: hardening_cases::perm_restart },
        Case { name: "ckpt-race: checkpoint loop while others create, unlink, rename and readdir in the same directory", run: hardening_cases::race_churn },
        Case { name: "ckpt-race: checkpoint of a process that is restarting gives valid images, its restarts never EBUSY", run: hardening_cases::race_ckpt_restart },
        Case { name: "ckpt-race: umount is EBUSY and rmmod fails while restored fds are open", run: hardening_cases::race_umount_rmmod },
        Case { name: "ckpt-race: RLIMIT_NOFILE lowered by prlimit(2) during restart: EMFILE with no fd installed, or every fd installed, no WARN", run: hardening_cases::race_prlimit },
        Case { name: "ckpt-race: RLIMIT_NOFILE lowered while restart is blocked in open (lease break): EMFILE or all fds, no WARN (K3)", run: hardening_cases::race_prlimit_lease },
        Case { name: "ckpt-race: a signal with SA_RESTART while restart blocks (lease break, pipe) does not break it (K4)", run: hardening_cases::race_signal_restart },
        Case { name: "ckpt-race: a signal with SA_RESTART while checkpoint blocks on a full pipe leaves one valid image (K4)", run: hardening_cases::race_signal_checkpoint },
        Case { name: "ckpt: an image write that fails part-way (RLIMIT_FSIZE) gives EFBIG and a truncated image, no ERROR record after the cut", run: hardening_cases::write_fails_midway },
        Case { name: "ckpt-race: restart with a file table shared with a thread or another process is EBUSY and changes nothing", run: hardening_cases::shared_table },
        Case { name: "ckpt-perm: odd image and log fds (directory, /dev/zero, O_WRONLY, O_PATH) give clean errors", run: hardening_cases::odd_sources },
        Case { name: "ckpt-perm: root's checkpoint of kernel threads and init gives an image, of a zombie ESRCH", run: hardening_cases::odd_targets },
        Case { name: "ckpt-leak: 1000 checkpoint/restart cycles leave Slab, file count and fds bounded", run: hardening_cases::leak_cycles },
        Case { name: "ckpt-fault: the N-th allocation of checkpoint fails, for every N until it succeeds: ENOMEM, caller unchanged", run: fault_cases::checkpoint_fail_nth },
        Case { name: "ckpt-fault: the N-th allocation of restart fails, for every N until it succeeds: ENOMEM, caller unchanged", run: fault_cases::restart_fail_nth },
        Case { name: "ckpt-sec: the target execs a set-uid program while checkpoint blocks on a full pipe: the image shows the pre-exec process only", run: security_cases::exec_race },
        Case { name: "ckpt-sec: restart to a root the user cannot search is EACCES from a user namespace too (chroot(2)'s checks)", run: security_cases::userns_chroot },
        Case { name: "ckpt-sec: a symlink, FIFO or device in place of a recorded file or directory is never followed or opened", run: security_cases::no_symlinks },
        Case { name: "ckpt-sec: FIFOs and symlinks swapped in during restart are never opened or followed, restart never blocks", run: security_cases::swap_race },
        Case { name: "ckpt-sec: a 64 MiB hostile image costs restart no more than its size, a larger one nothing", run: security_cases::image_memory },
        Case { name: "ckpt-sec: a target restarting itself while it is checkpointed never sees its table as shared", run: security_cases::no_shared_table },
        Case { name: "ckpt-sec: checkpoint log lines and a thread writing the same log file never overwrite each other", run: security_cases::log_pos_lock },
        Case { name: "ckpt-sec: names with control characters reach the log escaped, one line per event", run: security_cases::log_escapes },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn case_names_are_unique_and_prefixed() {
        let prefixes = "ramfs_cr ckpt ckpt-fuzz ckpt-perm ckpt-race ckpt-leak ckpt-fault ckpt-sec ckpt-contents ckpt-migrate ckpt-big";
        let mut seen = std::collections::HashSet::new();
        for c in super::all_cases() {
            let prefix = c.name.split_once(": ").map_or("", |p| p.0);
            assert!(prefixes.split(' ').any(|p| p == prefix), "{}", c.name);
            assert!(seen.insert(c.name), "{} twice", c.name);
        }
    }
}
