//! Bad input: exit 2, one line on stderr naming the problem, nothing on stdout.

use crate::support::{doctor, repo, run};

fn assert_usage_error(args: &[&str], needle: &str) {
    let mut c = doctor();
    c.args(args);
    let out = run(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
    assert!(out.stdout.is_empty(), "args {args:?}: stdout not empty");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "args {args:?}: not one line: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "args {args:?}: {stderr:?} lacks {needle:?}"
    );
}

#[test]
fn unknown_flag() {
    assert_usage_error(&["--api-id", "3eqr0osoc3", "--frobnicate"], "--frobnicate");
}

#[test]
fn malformed_api_id() {
    assert_usage_error(
        &[
            "--api-id",
            "NOT-AN-ID",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--no-aws",
        ],
        "--api-id: invalid API id",
    );
}

#[test]
fn no_stage_with_no_aws() {
    // Stage discovery needs AWS.
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--no-aws",
        ],
        "--stage: required with --no-aws (stage discovery needs AWS access)",
    );
}

#[test]
fn unreadable_ca_file() {
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--no-aws",
            "--ca-file",
            "/nonexistent/lab-ca.pem",
        ],
        "--ca-file: cannot read CA file",
    );
}

#[test]
fn bad_timeout_value() {
    assert_usage_error(
        &[
            "--api-id",
            "3eqr0osoc3",
            "--region",
            "us-east-1",
            "--stage",
            "test",
            "--timeout",
            "soon",
        ],
        "--timeout: invalid duration",
    );
}

#[test]
fn probe_file_unknown_key_names_file_line_column() {
    let dir = std::env::temp_dir().join(format!("pgw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.toml");
    std::fs::write(
        &p,
        "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\ntimout = \"2s\"\n",
    )
    .unwrap();
    let needle = format!("{}:4:1: unknown field `timout`", p.display());
    assert_usage_error(&["--config", p.to_str().unwrap()], &needle);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shipped_probe_examples_are_valid() {
    // --check-config is the agent's; for the doctor, a probe file with an unreachable resolver
    // must get past validation. Here we only parse and validate the examples.
    for entry in std::fs::read_dir(repo().join("probes")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let (pf, src) = pgw::config::read_probe_file(&p).unwrap_or_else(|e| panic!("{e}"));
        pgw::config::build(Some((&p, &src, &pf)), &Default::default(), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The completion scripts load in bash; the manual pages render with man.
#[test]
fn completions_load_in_bash_and_man_renders_the_pages() {
    let dir = std::env::temp_dir().join(format!("pgw-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doctor_bin = env!("CARGO_BIN_EXE_pgw-doctor");
    let agent_bin = env!("CARGO_BIN_EXE_pgw-agent");
    for (name, completions, man) in [
        (
            "pgw-doctor",
            vec![doctor_bin, "completions", "bash"],
            vec![doctor_bin, "man"],
        ),
        (
            "pgw-agent",
            vec![agent_bin, "--completions", "bash"],
            vec![agent_bin, "--man"],
        ),
    ] {
        let script = std::process::Command::new(completions[0])
            .args(&completions[1..])
            .output()
            .unwrap();
        assert!(script.status.success());
        let file = dir.join(format!("{name}.bash"));
        std::fs::write(&file, &script.stdout).unwrap();
        let check = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {} && complete -p {name}", file.display()))
            .output()
            .unwrap();
        let registered = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(registered.contains(name), "{registered}");

        let page = std::process::Command::new(man[0])
            .args(&man[1..])
            .output()
            .unwrap();
        assert!(page.status.success());
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, &page.stdout).unwrap();
        let shown = std::process::Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        assert!(text.contains(name) && text.contains("SYNOPSIS"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
