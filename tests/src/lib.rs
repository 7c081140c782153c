//! Support for the cross-crate integration tests in `tests/tests/`: finding
//! the workspace's binaries and running them.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of a workspace binary built beside the running test
/// (`target/<profile>/<name>`); `make test` builds them before the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `make test`, which builds every binary first",
        path.display()
    );
    path
}

/// Runs a workspace binary with `args` and returns its output, failing the
/// test with its stderr when it exits unsuccessfully.
pub fn run_ok(name: &str, args: &[&str]) -> Output {
    let output = Command::new(binary(name))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("the binary starts");
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a workspace binary expected to fail and returns its stderr.
pub fn run_err(name: &str, args: &[&str]) -> String {
    let output = Command::new(binary(name))
        .args(args)
        .output()
        .expect("the binary starts");
    assert!(!output.status.success(), "{name} {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}
