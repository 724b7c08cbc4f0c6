//! The shape every in-VM test case has.

/// One test case: a behaviour name and the function that checks it.
///
/// `run` returns `Err(why)` with expected-versus-actual text on failure.
/// A case must clean up what it created (mounts, files, children) even on
/// failure, so the cases after it start from the same state.
pub struct Case {
    /// KTAP name, e.g. `ramfs_cr: readdir resumes after restart`.
    pub name: &'static str,
    pub run: fn() -> Result<(), String>,
}
