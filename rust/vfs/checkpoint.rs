// SPDX-License-Identifier: GPL-2.0

//! The records a file system writes into a checkpoint image
//! (`CONFIG_CHECKPOINT`).

use super::{File, FileSystem};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The checkpoint operation a `->checkpoint` call belongs to.
pub(crate) struct CkptCtx(pub(super) NonNull<bindings::ckpt_ctx>);

impl CkptCtx {
    /// `generic_file_checkpoint(ctx, file)`: the FILE and FILE_NAME records.
    pub(crate) fn generic_file<T: FileSystem>(&self, file: &File<T>) -> Result {
        // SAFETY: `self` is the context of the `->checkpoint` call that
        // `file` is being saved by (see `dir_checkpoint`).
        to_result(unsafe { bindings::generic_file_checkpoint(self.0.as_ptr(), file.as_ptr()) })
    }

    /// `ckpt_write_file_fs(ctx, file, version, data, len)`: the FILE_FS
    /// record of `file`, after `generic_file`.
    pub(crate) fn write_file_fs<T: FileSystem>(
        &self,
        file: &File<T>,
        version: u32,
        data: &[u8],
    ) -> Result {
        let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: as for `generic_file`; `data` is `len` readable bytes.
        to_result(unsafe {
            bindings::ckpt_write_file_fs(
                self.0.as_ptr(),
                file.as_ptr(),
                version,
                data.as_ptr().cast(),
                len,
            )
        })
    }
}

/// A FILE_FS record restart(2) hands back (`struct ckpt_file_fs`).
pub(crate) struct FileFs<'a> {
    /// The version of ramfs_cr's format the record was written in.
    pub(crate) version: u32,
    /// Its data.
    pub(crate) data: &'a [u8],
}
