//! Locating (and if needed building) the workspace binaries under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Path of workspace binary `name` from package `package`, built with the same profile as the
/// running test or benchmark.
///
/// `cargo test --workspace` builds every binary before any test runs, so the file is normally
/// there and fresh; when only this package is tested, the binary is built here.
pub fn binary(package: &str, name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let profile_dir = profile_dir();
    let path = profile_dir.join(name);
    let _guard = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !path.exists() {
        build(package, name, &profile_dir);
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
