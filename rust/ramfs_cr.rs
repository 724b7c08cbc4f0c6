// SPDX-License-Identifier: GPL-2.0

//! ramfs_cr: ramfs whose directories and regular files can be checkpointed.
//!
//! The file system lives in `fs.rs`, the unsafe glue to the VFS in `ffi.rs`.

use kernel::prelude::*;

mod ffi;
mod fs;

module! {
    type: RamfsCr,
    name: "ramfs_cr",
    author: "ramfs_cr developers",
    description: "ramfs with checkpointable directories and files",
    license: "GPL",
}

struct RamfsCr {
    _fs: ffi::Registration,
}

impl kernel::Module for RamfsCr {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let fs = ffi::Registration::new(&fs::RAMFS_CR_FS_TYPE, module)?;
        pr_info!("registered file system type ramfs_cr\n");
        Ok(RamfsCr { _fs: fs })
    }
}
