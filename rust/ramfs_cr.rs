// SPDX-License-Identifier: GPL-2.0

//! ramfs_cr: ramfs whose directories and regular files can be checkpointed.
//!
//! The file system lives in `fs.rs`, the walk that saves a whole super
//! block in `checkpoint.rs` and the one that rebuilds it in `restore.rs`,
//! the adapter to the VFS (every raw pointer and
//! `unsafe`) in `vfs.rs` and `vfs/`.

use kernel::prelude::*;

#[cfg(CONFIG_CHECKPOINT)]
mod checkpoint;
mod fs;
#[cfg(CONFIG_CHECKPOINT)]
mod restore;
mod vfs;

module! {
    type: RamfsCr,
    name: "ramfs_cr",
    author: "ramfs_cr developers",
    description: "ramfs with checkpointable directories and files",
    license: "GPL",
}

struct RamfsCr {
    _fs: vfs::Registration,
}

impl kernel::Module for RamfsCr {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let fs = vfs::Registration::new(&fs::RAMFS_CR_FS_TYPE, module)?;
        pr_info!("registered file system type ramfs_cr\n");
        Ok(RamfsCr { _fs: fs })
    }
}
