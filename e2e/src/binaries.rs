//! Locating (and if needed building) the workspace binaries under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Path of workspace binary `name` from package `package`, built with the same profile as the
/// running test or benchmark.
///
/// Each binary is brought up to date once per process with `cargo build` (a no-op after
/// `cargo test --workspace`, which builds every binary first), so a test or benchmark never runs
/// a stale binary when only this package is built or tested.
pub fn binary(package: &str, name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let profile_dir = profile_dir();
    let path = profile_dir.join(name);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|b| b == name) {
        build(package, name, &profile_dir);
        built.push(name.to_owned());
    }
    assert!(
        path.exists(),
        "binary {} not found after building",
        path.display()
    );
    path
}

/// `target/<profile>`, derived from the running executable (`target/<profile>/deps/…` for tests,
/// `target/<profile>/…` for binaries).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current executable path");
    let dir = exe.parent().expect("executable has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

fn build(package: &str, name: &str, profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "--locked",
        "--package",
        package,
        "--bin",
        name,
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build");
    assert!(status.success(), "cargo build of {name} failed");
}
