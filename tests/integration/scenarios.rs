//! The scenario runner: every `lab/scenarios/*.toml` is started in the lab, the doctor is run
//! against it, and its JSON report must validate and match the scenario's expectations.

use std::time::Duration;

use pgw_lab::{Lab, Scenario};

use crate::support::{doctor, repo, schema_errors};

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
    for (k, v) in lab.aws_env() {
        cmd.env(k, v);
    }
    // `--logs-wait` extends the deadline for the execution logs alone.
    let logs_wait = s
        .doctor
        .extra_args
        .iter()
        .position(|a| a == "--logs-wait")
        .and_then(|i| s.doctor.extra_args.get(i + 1))
        .map(|w| pgw::config::parse_duration(w))
        .transpose()
        .map_err(|e| format!("{}: {e}", s.name))?
        .unwrap_or_default();
    let timeout = pgw::config::parse_duration(&s.doctor.timeout)
        .map_err(|e| format!("{}: {e}", s.name))?
        + logs_wait;
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
    // The root cause: the first finding that is a failure (info notes never are, nor exposure
    // warnings).
    let first = findings
        .iter()
        .find(|f| {
            f["severity"] == "critical" || (f["severity"] == "warning" && f["layer"] != "exposure")
        })
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
    // Given or discovered, the report names the stage the lab serves.
    if report["target"]["stage"] != s.topology.stage.as_str() {
        problems.push(format!(
            "target.stage {}, expected {}",
            report["target"]["stage"], s.topology.stage
        ));
    }
    if let Some(want) = &s.expect.findings {
        let ids: Vec<&str> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
        if ids != want.iter().map(String::as_str).collect::<Vec<_>>() {
            problems.push(format!("findings {ids:?}, expected {want:?}"));
        }
    }
    for want in &s.expect.evidence {
        let quoted = findings.iter().any(|f| {
            f["evidence"].as_array().is_some_and(|ev| {
                ev.iter()
                    .any(|e| e.as_str().is_some_and(|e| e.contains(want.as_str())))
            })
        });
        if !quoted {
            problems.push(format!("no evidence line contains {want:?}"));
        }
    }
    problems.extend(recent_problems(&s, &report));
    if s.doctor.invoke_via == "custom-domain" {
        problems.extend(custom_domain_problems(&s, &report));
    }
    if s.control_plane.enabled {
        problems.extend(control_plane_problems(&s, &report));
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

/// Through a private custom domain, every handshake names the domain (SNI) and every invoke goes
/// under its base path; a healthy run handshakes with every endpoint ENI.
fn custom_domain_problems(s: &Scenario, report: &serde_json::Value) -> Vec<String> {
    let domain = s.topology.domain_name.as_str();
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    let of = |name: &str| -> Vec<&serde_json::Value> {
        checks
            .iter()
            .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .collect()
    };
    let mut out = Vec::new();
    let handshakes = of("handshake");
    for h in &handshakes {
        if h["detail"]["server_name"] != domain {
            out.push(format!(
                "handshake with SNI {}, not {domain}",
                h["detail"]["server_name"]
            ));
        }
    }
    let under = format!("invoke GET /{}/", s.topology.base_path);
    for i in of("invoke") {
        if !i["name"].as_str().is_some_and(|n| n.starts_with(&under)) {
            out.push(format!("{} is not under {under}", i["name"]));
        }
    }
    if s.expect.exit_code == 0 && handshakes.len() != s.topology.azs().len() {
        out.push(format!(
            "{} handshakes for {} endpoint ENIs",
            handshakes.len(),
            s.topology.azs().len()
        ));
    }
    out
}

/// `--since`: the report's `recent_failures` are `expect.recent_failures`, in order (`id=n`
/// exactly n, `id>=n` at least n: the doctor's own failures may or may not be delivered yet).
fn recent_problems(s: &Scenario, report: &serde_json::Value) -> Vec<String> {
    if s.expect.recent_failures.is_empty() {
        return Vec::new();
    }
    let got: Vec<(String, u64)> = report["recent_failures"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let id = c["id"].as_str().unwrap_or("null").to_string();
                    (id, c["count"].as_u64().unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default();
    let ok = got.len() == s.expect.recent_failures.len()
        && s.expect
            .recent_failures
            .iter()
            .zip(&got)
            .all(
                |(want, (id, n))| match want.split_once(">=").or_else(|| want.split_once('=')) {
                    Some((w, c)) => {
                        let c: u64 = c.parse().unwrap_or(u64::MAX);
                        w == id
                            && if want.contains(">=") {
                                *n >= c
                            } else {
                                *n == c
                            }
                    }
                    None => false,
                },
            );
    if ok {
        Vec::new()
    } else {
        vec![format!(
            "recent_failures {got:?}, expected {:?}",
            s.expect.recent_failures
        )]
    }
}

/// With a control plane, the failed `control_plane` checks are exactly `expect.not_checked`,
/// each saying "not checked: <reason>" (AWS's own error code for a `faults.aws_denied` one).
fn control_plane_problems(s: &Scenario, report: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let checks: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["layer"] == "control_plane")
        .collect();
    if checks.is_empty() {
        problems.push("no control_plane check: AWS was not read".into());
    }
    let mut failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    failed.sort();
    failed.dedup();
    let mut want: Vec<&str> = s.expect.not_checked.iter().map(String::as_str).collect();
    want.sort();
    want.dedup();
    if failed != want {
        problems.push(format!(
            "failed control-plane checks {failed:?}, expected {want:?}"
        ));
    }
    for c in checks.iter().filter(|c| c["ok"] == false) {
        let name = c["name"].as_str().unwrap_or_default();
        let reason = c["detail"]["reason"].as_str().unwrap_or_default();
        if !reason.starts_with("not checked: ") {
            problems.push(format!(
                "{name}: reason {reason:?} is not \"not checked: …\""
            ));
        }
        let denied = s.faults.aws_denied.iter().any(|d| d == name);
        if denied && !(reason.contains("AccessDenied") || reason.contains("UnauthorizedOperation"))
        {
            problems.push(format!("{name} was denied, yet its reason is {reason:?}"));
        }
    }
    problems
}

/// Run the scenario file `lab/scenarios/<name>.toml`; panics naming it on any mismatch.
fn run_file(name: &str) {
    let s = Scenario::load(&repo().join(format!("lab/scenarios/{name}.toml")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), run_one(s))
            .await
            .unwrap_or_else(|_| Err(format!("{name}: runner timed out")))
    });
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => panic!("{e}"),
    }
}

/// One test per scenario file, named after it: `cargo test --test integration --
/// scenario::missing_root_method` runs just that one. [`every_scenario_file_has_a_test`] keeps
/// the list equal to `lab/scenarios/`.
macro_rules! scenario_tests {
    ($($name:ident,)*) => {
        mod scenario {
            $(
                #[test]
                fn $name() {
                    super::run_file(stringify!($name));
                }
            )*
        }
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

scenario_tests! {
    alias_not_associated,
    backend_5xx,
    cp_api_key_required,
    cp_api_policy_denies_via_custom_domain,
    cp_api_regional_vpce_host,
    cp_client_nacl_blocks,
    cp_client_other_vpc_unrouted,
    cp_client_resolver_corporate,
    cp_client_sg_egress_blocked,
    cp_connection_pending,
    cp_connection_rejected,
    cp_custom_domain_base_path_unmapped,
    cp_custom_domain_certificate_mismatch,
    cp_custom_domain_dns_elsewhere,
    cp_custom_domain_not_associated,
    cp_custom_domain_not_available,
    cp_custom_domain_policy_denies,
    cp_default_endpoint_disabled,
    cp_ec2_call_denied,
    cp_hybrid_route_blackhole,
    cp_hybrid_route_missing,
    cp_hybrid_target_public_ip,
    cp_hybrid_timeout,
    cp_integration_scheme_mismatch,
    cp_integration_uri_without_proxy,
    cp_ip_drift,
    cp_link_nlb_sg_blocks,
    cp_listener_port_mismatch,
    cp_listeners_denied,
    cp_log_backend_cert_expired,
    cp_log_backend_cert_untrusted,
    cp_log_backend_hostname_mismatch,
    cp_log_endpoint_address_invalid,
    cp_log_network_error,
    cp_log_policy_deny,
    cp_log_policy_missing,
    cp_log_timeout,
    cp_log_vpc_link_failed,
    cp_logging_no_role,
    cp_logging_off,
    cp_logs_denied,
    cp_logs_late,
    cp_logs_late_waited,
    cp_logs_since,
    cp_one_call_denied,
    cp_policy_not_redeployed,
    cp_policy_other_vpce,
    cp_private_dns_off,
    cp_private_dns_off_refused,
    cp_private_dns_off_timeout,
    cp_provider_az_missing,
    cp_provider_permission_removed,
    cp_provider_targets_unhealthy,
    cp_public_api,
    cp_root_not_deployed,
    cp_service_endpoint_sg_blocks,
    cp_sg_drop_all,
    cp_sg_other_group,
    cp_source_nat,
    cp_stage_discovered,
    cp_stage_variable_undefined,
    cp_strict_access_mode_vpce_host,
    cp_target_az_not_enabled,
    cp_targets_unhealthy,
    cp_tls_version_rejected,
    cp_vpc_dns_off,
    cp_vpc_link_failed,
    cp_vpc_link_pending,
    cp_vpc_link_service_deleted,
    cp_vpc_link_service_failed,
    cp_vpce_endpoint_policy_denies,
    cp_vpce_failed,
    cp_vpce_name_mistyped,
    cp_waf_blocked,
    custom_domain_base_path_unmapped,
    custom_domain_certificate_mismatch,
    custom_domain_dns_missing,
    custom_domain_not_associated,
    custom_domain_policy_denies,
    deadline_everything_blackholed,
    deadline_one_eni_and_backend_blackholed,
    dns_nxdomain,
    dns_private_dns_disabled,
    dns_private_dns_off_refused,
    dns_private_dns_off_timeout,
    dns_servfail,
    dns_timeout,
    exposure_association_mismatch,
    exposure_policy_open,
    exposure_policy_unknown_endpoint,
    exposure_vpce_policy_full_access,
    healthy_alias,
    healthy_check_public,
    healthy_cp_client_other_vpc,
    healthy_cp_custom_domain,
    healthy_cp_path_a,
    healthy_cp_path_b,
    healthy_cp_sg_client_group,
    healthy_cp_stage_variable,
    healthy_cp_strict_access_mode,
    healthy_cp_tls13_policy,
    healthy_cp_waf_allows,
    healthy_custom_domain,
    healthy_custom_domain_default_endpoint_disabled,
    healthy_path_a,
    healthy_path_b,
    healthy_path_b_large_answer,
    healthy_vpce_host,
    host_header_stripped,
    hybrid_mtu_blackhole,
    iam_auth,
    iam_clock_skew,
    iam_unknown_key,
    iam_wrong_secret,
    integration_blackhole_path_b,
    integration_network_error,
    integration_timeout,
    integration_uri_without_proxy,
    listener_port_mismatch,
    missing_proxy_method,
    missing_root_method,
    policy_missing,
    policy_other_vpce,
    public_api_reachable,
    sg_drop_all,
    sg_drop_one_az,
    stage_not_found,
    throttled,
    tls_ca_not_given,
    tls_name_mismatch,
    tls_untrusted_ca,
    tls_version_rejected,
    vpc_link_failed,
    vpce_endpoint_policy_denies,
}

#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = scenarios().into_iter().map(|(_, s)| s.name).collect();
    files.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "lab/scenarios/*.toml and scenario_tests! in tests/integration/scenarios.rs differ"
    );
}

#[test]
fn scenarios_cover_every_data_plane_id_and_both_healthy_paths() {
    let list = scenarios();
    for id in pgw::finding::INTERFACE_DATA_PLANE_IDS {
        assert!(
            list.iter()
                .any(|(_, s)| s.expect.first_finding.as_deref() == Some(id.as_str())),
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

/// Run the doctor against a healthy lab with the AWS API at `url`; return (exit, report, wall).
async fn with_aws_at(url: &str, timeout: &str) -> (i32, serde_json::Value, Duration) {
    let s = Scenario::load(&repo().join("lab/scenarios/healthy_path_a.toml")).unwrap();
    let lab = Lab::start(&s).await.unwrap();
    let mut args: Vec<String> = lab
        .doctor_args()
        .into_iter()
        .filter(|a| a != "--no-aws")
        .collect();
    let i = args.iter().position(|a| a == "--timeout").unwrap();
    args[i + 1] = timeout.to_string();
    args.extend(["--aws-endpoint-url", url, "--output", "json"].map(String::from));
    let mut cmd = doctor();
    cmd.args(&args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::from(cmd).output().await.unwrap();
    let wall = started.elapsed();
    lab.shutdown().await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        schema_errors(&report).is_empty(),
        "{:?}",
        schema_errors(&report)
    );
    (out.status.code().unwrap_or(-1), report, wall)
}

fn assert_degraded(code: i32, report: &serde_json::Value) {
    // The data plane still answers (healthy), and the control plane is named as not checked.
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "healthy");
    let cp: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["layer"] == "control_plane")
        .collect();
    assert!(!cp.is_empty(), "no control-plane check in {report:#}");
    assert!(cp.iter().all(|c| c["ok"] == false));
    assert!(cp.iter().all(|c| c["detail"]["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("not checked"))));
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["layer"] == "api" && c["ok"] == true));
}

#[test]
fn aws_endpoint_refusing_degrades_the_report() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A port nothing listens on: every AWS call is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, report, wall) = rt.block_on(with_aws_at(&format!("http://127.0.0.1:{port}"), "5s"));
    assert_degraded(code, &report);
    // The reason is the innermost cause, not the SDK's Debug chain.
    for c in report["checks"].as_array().unwrap() {
        if c["layer"] == "control_plane" {
            assert_eq!(
                c["detail"]["reason"], "not checked: Connection refused (os error 111)",
                "{c}"
            );
        }
    }
    assert!(wall <= Duration::from_millis(5500), "{wall:?}");
}

#[test]
fn aws_endpoint_blackholed_still_answers_by_the_deadline() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A listener whose accept queue is full drops SYNs: every AWS call hangs.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = sock.listen(0).unwrap();
        let addr = l.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            match tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(s)) => held.push(s),
                _ => break,
            }
        }
        let (code, report, wall) = with_aws_at(&format!("http://{addr}"), "3s").await;
        assert_degraded(code, &report);
        assert!(
            wall <= Duration::from_millis(3300),
            "answered in {wall:?}, past 3s + 10%"
        );
        drop(held);
    });
}

/// The doctor without `--stage` against `healthy_cp_path_a` changed by `edit`:
/// (exit code, stdout, stderr).
async fn without_stage(edit: impl FnOnce(&mut Scenario)) -> (i32, String, String) {
    let mut s = Scenario::load(&repo().join("lab/scenarios/healthy_cp_path_a.toml")).unwrap();
    s.doctor.discover_stage = true;
    edit(&mut s);
    let lab = Lab::start(&s).await.unwrap();
    let args = lab.doctor_args();
    assert!(!args.iter().any(|a| a == "--stage"), "{args:?}");
    let mut cmd = doctor();
    cmd.args(&args).args(["--output", "json"]);
    for (k, v) in lab.aws_env() {
        cmd.env(k, v);
    }
    let out = tokio::process::Command::from(cmd).output().await.unwrap();
    lab.shutdown().await;
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Stage discovery: exactly one stage or exit 2 with one line naming `--stage` and why
/// (the healthy one-stage case is the scenario `cp_stage_discovered`).
#[test]
fn without_stage_the_api_must_have_exactly_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (two, none, denied) = rt.block_on(async {
        tokio::join!(
            without_stage(|s| s.topology.deployed_stages = vec!["dev".into(), "test".into()]),
            without_stage(|s| s.topology.deployed_stages.clear()),
            without_stage(|s| s.faults.aws_denied = vec!["apigateway:GetStages".into()]),
        )
    });
    for (code, stdout, stderr) in [&two, &none, &denied] {
        assert_eq!(*code, 2, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert_eq!(
        two.2.trim_end(),
        "pgw-doctor: --stage: required: API 3eqr0osoc3 has stages dev, test"
    );
    assert_eq!(
        none.2.trim_end(),
        "pgw-doctor: --stage: required: API 3eqr0osoc3 has no stage"
    );
    let want = "pgw-doctor: --stage: required: cannot discover it: apigateway:GetStages \
                3eqr0osoc3 failed: AccessDeniedException: User: ";
    assert!(denied.2.starts_with(want), "{}", denied.2);
}
