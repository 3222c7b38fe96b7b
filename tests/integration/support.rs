//! Shared helpers: run the built `pgw-doctor` with a clean AWS environment, validate reports.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `program` (a built pgw binary) in a clean environment that can never reach AWS by itself: no
/// ambient `AWS_*` / `PGW_*` variables, credentials or profiles, IMDS off, no colour.
pub fn clean(program: &str) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("PGW_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/pgw-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/pgw-test/credentials",
        )
        .env("NO_COLOR", "1");
    c
}

/// `pgw-doctor`, [`clean`].
pub fn doctor() -> Command {
    clean(env!("CARGO_BIN_EXE_pgw-doctor"))
}

/// `pgw-agent`, [`clean`].
pub fn agent() -> Command {
    clean(env!("CARGO_BIN_EXE_pgw-agent"))
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("pgw-doctor runs")
}

fn schema() -> &'static jsonschema::Validator {
    static S: OnceLock<jsonschema::Validator> = OnceLock::new();
    S.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("docs/doctor-report.schema.json"))
            .expect("schema exists");
        let v: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&v).expect("schema compiles")
    })
}

/// Errors of `report` against `docs/doctor-report.schema.json` (empty = valid).
pub fn schema_errors(report: &serde_json::Value) -> Vec<String> {
    schema()
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
