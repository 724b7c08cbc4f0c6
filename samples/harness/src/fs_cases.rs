//! File-system behaviour cases (ramfs_cr module, mount options, parity with ramfs).

use crate::case::Case;

pub fn cases() -> Vec<Case> {
    Vec::new()
}
