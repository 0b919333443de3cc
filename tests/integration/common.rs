//! Helpers shared by the integration tests: the binary and the test data.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A `Command` for the `hashguard` binary under test.
pub fn hashguard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashguard"))
}

/// The path of `path` under the repository's `testdata/` directory.
pub fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}
