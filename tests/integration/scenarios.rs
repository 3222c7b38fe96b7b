//! The scenario runner: every `lab/scenarios/*.toml` is started in the lab, the doctor is run
//! against it, and its JSON report must validate and match the scenario's expectations.

use std::sync::Arc;
use std::time::Duration;

use pgw_lab::{Lab, Scenario, LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY};

use crate::support::{doctor, repo, schema_errors};

/// Scenarios run at once (each is a handful of loopback sockets).
const PARALLEL: usize = 4;

/// The data-plane ids of interfaces.md: each needs a scenario whose first finding it is.
const DATA_PLANE_IDS: &[&str] = &[
    "dns_private_dns_disabled",
    "dns_nxdomain",
    "dns_resolver_failure",
    "dns_vpce_alias_not_associated",
    "vpce_sg_blocks_443",
    "vpce_eni_unreachable",
    "client_tls_name_mismatch",
    "tls_untrusted_ca",
    "missing_host_or_apigw_api_id_header",
    "stage_not_found",
    "missing_root_any_method",
    "missing_proxy_method",
    "resource_policy_denies_vpce",
    "resource_policy_missing",
    "iam_auth_required",
    "integration_timeout",
    "integration_network_error",
    "integration_internal_error",
    "backend_http_error",
    "throttled",
];

fn scenarios() -> Vec<(std::path::PathBuf, Scenario)> {
    Scenario::load_dir(&repo().join("lab/scenarios")).expect("scenarios load")
}

/// Run one scenario; `Err` describes every mismatch.
async fn run_one(s: Scenario) -> Result<String, String> {
    let lab = Lab::start(&s)
        .await
        .map_err(|e| format!("{}: lab: {e}", s.name))?;
    let mut args = lab.doctor_args();
    args.extend(["--output".to_string(), "json".to_string()]);
    let mut cmd = doctor();
    cmd.args(&args);
    if s.doctor.credentials {
        cmd.env("AWS_ACCESS_KEY_ID", LAB_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", LAB_SECRET_ACCESS_KEY);
    }
    let timeout =
        pgw::config::parse_duration(&s.doctor.timeout).map_err(|e| format!("{}: {e}", s.name))?;
    let started = std::time::Instant::now();
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", s.name))?;
    let wall = started.elapsed();
    lab.shutdown().await;

    let name = &s.name;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(&stdout).map_err(|e| {
        format!("{name}: stdout is not JSON ({e}); stderr: {stderr}; args {args:?}")
    })?;
    let mut problems = schema_errors(&report);
    let code = out.status.code().unwrap_or(-1);
    if code != s.expect.exit_code {
        problems.push(format!("exit code {code}, expected {}", s.expect.exit_code));
    }
    if report["verdict"] != s.expect.verdict.as_str() {
        problems.push(format!(
            "verdict {}, expected {}",
            report["verdict"], s.expect.verdict
        ));
    }
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let first = findings
        .first()
        .and_then(|f| f["id"].as_str())
        .map(str::to_string);
    if first != s.expect.first_finding {
        problems.push(format!(
            "first finding {first:?}, expected {:?}",
            s.expect.first_finding
        ));
    }
    if let Some(c) = &s.expect.confidence {
        if findings.first().and_then(|f| f["confidence"].as_str()) != Some(c.as_str()) {
            problems.push(format!("confidence of the first finding is not {c}"));
        }
    }
    // The deadline is a contract, not a speed target: the report must come by timeout + 10 %.
    if wall > timeout.mul_f64(1.1) {
        problems.push(format!("answered in {wall:?}, past {timeout:?} + 10%"));
    }
    if problems.is_empty() {
        Ok(format!(
            "{name}: ok ({} findings, {:.2}s)",
            findings.len(),
            wall.as_secs_f64()
        ))
    } else {
        let ids: Vec<_> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
        Err(format!(
            "{name}: {} | findings {ids:?} | args {args:?}",
            problems.join("; ")
        ))
    }
}

#[test]
fn every_scenario_gives_the_expected_diagnosis() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let list = scenarios();
    assert!(!list.is_empty(), "no scenarios found");
    let results = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut set = tokio::task::JoinSet::new();
        for (_, s) in list {
            let sem = sem.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.unwrap();
                tokio::time::timeout(Duration::from_secs(120), run_one(s.clone()))
                    .await
                    .unwrap_or_else(|_| Err(format!("{}: runner timed out", s.name)))
            });
        }
        set.join_all().await
    });
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(line) => println!("{line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn scenarios_cover_every_data_plane_id_and_both_healthy_paths() {
    let list = scenarios();
    for id in DATA_PLANE_IDS {
        assert!(
            list.iter()
                .any(|(_, s)| s.expect.first_finding.as_deref() == Some(*id)),
            "no scenario expects {id} first"
        );
    }
    let healthy: Vec<_> = list
        .iter()
        .filter(|(_, s)| s.expect.verdict == "healthy" && s.expect.exit_code == 0)
        .map(|(_, s)| s.name.clone())
        .collect();
    for want in ["healthy_path_a", "healthy_path_b"] {
        assert!(
            healthy.iter().any(|n| n == want),
            "no healthy scenario {want}"
        );
    }
}
