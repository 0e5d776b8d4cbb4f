//! Helpers shared by the unit tests of every verifier module.

use std::path::PathBuf;

/// A path in `shared/testdata` (beside the repository), where the cross-project vectors live.
pub(crate) fn shared_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .join(rel)
}

/// Reads a file of the shared test data set, naming it when it cannot be read.
pub(crate) fn shared(rel: &str) -> Vec<u8> {
    let path = shared_path(rel);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}
