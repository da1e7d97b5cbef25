//! The shipped example configuration loads, documents every field, and `config check` reports
//! mistakes naming the field.

#![allow(clippy::unwrap_used)] // a failed unwrap is a test failure with its message

use std::path::{Path, PathBuf};
use std::process::Command;

use alexandria_api::audit::{CheckpointSigner, HmacKeyRing};
use alexandria_api::config::env::{LEAVES, variable_for};
use alexandria_api::config::{Config, ToolCeiling};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/api-server.example.yaml")
}

/// A directory with the example as `api-server.yaml` and the secret files it names.
fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example_path(), dir.path().join("api-server.yaml")).unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(
        secrets.join("database-url"),
        "postgres://alexandria:pw@db:5432/alexandria\n",
    )
    .unwrap();
    std::fs::write(secrets.join("jwt-secret"), format!("{}\n", "s".repeat(48))).unwrap();
    let hmac = serde_yaml::to_string(&HmacKeyRing::generate("k1").to_file()).unwrap();
    std::fs::write(secrets.join("audit-hmac-keys.yaml"), hmac).unwrap();
    let signer = CheckpointSigner::generate("s2");
    std::fs::write(
        secrets.join("audit-signing-key.yaml"),
        serde_yaml::to_string(&signer.to_file()).unwrap(),
    )
    .unwrap();
    let retired = CheckpointSigner::generate("s1").public_keys();
    std::fs::write(
        secrets.join("audit-public-keys.yaml"),
        serde_yaml::to_string(&retired.to_file()).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn the_shipped_example_loads_with_the_values_it_documents() {
    let dir = example_dir();
    let (config, report) = Config::load(&dir.path().join("api-server.yaml"), Vec::new()).unwrap();
    assert!(report.unknown_variables.is_empty());
    assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.body_limit, 1024 * 1024);
    assert_eq!(config.auth.bcrypt_cost, 12);
    assert_eq!(config.auth.lockout.max_attempts, 5);
    assert_eq!(config.auth.jwt_ttl.as_secs(), 3600);
    assert_eq!(
        config.database.url(),
        "postgres://alexandria:pw@db:5432/alexandria"
    );
    assert_eq!(config.audit.settings.checkpoint_every_rows, 1000);
    assert!(matches!(config.tools.ceiling, ToolCeiling::Only(ref t) if t.len() == 2));
    assert_eq!(
        config.otlp.unwrap().endpoint.as_str(),
        "http://otel-collector:4318/"
    );
}

#[test]
fn the_example_documents_every_configurable_field() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    for (path, _) in LEAVES {
        let field = path.rsplit('.').next().unwrap();
        assert!(
            text.lines().any(|l| l
                .trim_start()
                .trim_start_matches("# ")
                .starts_with(&format!("{field}:"))),
            "{path} ({}) is not in the example",
            variable_for(path)
        );
    }
}

fn check(dir: &Path, envs: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alexandria-api"));
    command
        .args(["config", "check"])
        .arg(dir.join("api-server.yaml"));
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn config_check_accepts_the_example_and_names_the_field_of_a_mistake() {
    let dir = example_dir();
    let (ok, said) = check(dir.path(), &[]);
    assert!(ok, "{said}");
    assert!(said.contains("is valid"), "{said}");

    let (ok, said) = check(dir.path(), &[("ALEXANDRIA_AUTH_LOCKOUT_WINDOW", "15x")]);
    assert!(!ok);
    assert!(
        said.contains(r#"auth.lockout.window: "15x" is not a duration"#),
        "{said}"
    );

    let file = dir.path().join("api-server.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("  jwt_ttl: 1h", "  jwt_ttl: 1h\n  jwt_tll: 2h"),
    )
    .unwrap();
    let (ok, said) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(
        said.contains("auth.jwt_tll: unknown field `jwt_tll`"),
        "{said}"
    );

    std::fs::write(&file, &text).unwrap();
    std::fs::write(dir.path().join("secrets/jwt-secret"), "too short").unwrap();
    let (ok, said) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(said.contains("auth.jwt_secret: is 9 bytes"), "{said}");
}
