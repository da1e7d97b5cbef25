//! `alexandria-operator crd`: its output is exactly the committed `crds/*.yaml`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 3] = [
    "alexandriainstances.yaml",
    "retentionpolicies.yaml",
    "networkisolations.yaml",
];

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

fn operator(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_alexandria-operator"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "alexandria-operator {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn crd_prints_the_committed_files_as_one_yaml_stream() {
    let expected: String = FILES
        .iter()
        .map(|f| {
            format!(
                "---\n{}",
                std::fs::read_to_string(committed_dir().join(f)).unwrap()
            )
        })
        .collect();
    let stdout = String::from_utf8(operator(&["crd"]).stdout).unwrap();
    assert!(
        stdout == expected,
        "`alexandria-operator crd` differs from crds/*.yaml; run \
         `cargo run -p alexandria-operator -- crd --output-dir crds` and commit the result"
    );
}

#[test]
fn crd_output_dir_writes_one_file_per_crd_equal_to_the_committed_ones() {
    let dir = tempfile::tempdir().unwrap();
    operator(&["crd", "--output-dir", dir.path().to_str().unwrap()]);
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(written, expected);
    for file in FILES {
        let fresh = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let committed = std::fs::read_to_string(committed_dir().join(file)).unwrap();
        assert!(fresh == committed, "{file} differs from crds/{file}");
    }
}

#[test]
fn crd_output_dir_that_does_not_exist_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let output = Command::new(env!("CARGO_BIN_EXE_alexandria-operator"))
        .args(["crd", "--output-dir", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("writing") && stderr.contains("missing"),
        "{stderr}"
    );
}
