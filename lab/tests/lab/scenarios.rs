//! Every scenario file loads and starts.

use super::*;

#[test]
fn every_scenario_file_loads() {
    let list = Scenario::load_dir(&default_scenarios_dir()).unwrap();
    let names: Vec<&str> = list.iter().map(|(_, s)| s.name.as_str()).collect();
    for want in [
        "healthy_path_a",
        "healthy_path_b",
        "healthy_vpce_host",
        "healthy_alias",
        "dns_nxdomain",
        "dns_servfail",
        "dns_timeout",
        "dns_private_dns_disabled",
        "alias_not_associated",
        "sg_drop_all",
        "sg_drop_one_az",
        "tls_name_mismatch",
        "tls_untrusted_ca",
        "tls_ca_not_given",
        "host_header_stripped",
        "stage_not_found",
        "missing_root_method",
        "missing_proxy_method",
        "policy_other_vpce",
        "policy_missing",
        "iam_auth",
        "integration_timeout",
        "integration_network_error",
        "integration_blackhole_path_b",
        "vpc_link_failed",
        "backend_5xx",
        "throttled",
        "healthy_cp_path_a",
        "healthy_cp_path_b",
        "cp_targets_unhealthy",
        "cp_ip_drift",
        "cp_vpc_link_failed",
        "cp_vpc_link_pending",
        "cp_connection_pending",
        "cp_connection_rejected",
        "cp_policy_other_vpce",
        "cp_policy_not_redeployed",
        "cp_root_not_deployed",
        "cp_private_dns_off",
        "cp_vpc_dns_off",
        "cp_public_api",
        "cp_hybrid_timeout",
        "cp_one_call_denied",
        "cp_ec2_call_denied",
        "cp_stage_discovered",
        "cp_listeners_denied",
    ] {
        assert!(names.contains(&want), "missing scenario {want}");
    }
    for (path, s) in &list {
        assert_eq!(path.file_stem().unwrap().to_str(), Some(s.name.as_str()));
        assert!(!s.description.is_empty());
        assert_eq!(
            s.expect.exit_code,
            if s.expect.verdict == "healthy" { 0 } else { 1 }
        );
    }
    let (_, s) = Scenario::find("iam_auth", &default_scenarios_dir()).unwrap();
    assert_eq!(s.faults.authorization, Authorization::AwsIam);
    assert!(s.doctor.credentials);
}

/// Every scenario starts, and its doctor argv points at the lab (and at its control plane).
#[tokio::test]
async fn every_scenario_starts() {
    let mut moto = Vec::new();
    for (_, s) in Scenario::load_dir(&default_scenarios_dir()).unwrap() {
        if s.control_plane.enabled {
            moto.push(s);
        } else {
            check_start(&s).await;
        }
    }
    // Each of these starts a moto server: three side by side, not to starve the other tests.
    for chunk in moto.chunks(3) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|s| tokio::spawn(async move { check_start(&s).await }))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
}

async fn check_start(s: &Scenario) {
    let lab = Lab::start(s)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    let args = lab.doctor_args();
    let at = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert_eq!(at("--resolver"), Some(lab.resolver().to_string()));
    let stage = (!s.doctor.discover_stage).then(|| s.topology.stage.clone());
    assert_eq!(at("--stage"), stage, "{}", s.name);
    assert_eq!(
        at("--invoke-via").as_deref(),
        Some(s.doctor.invoke_via.as_str())
    );
    assert!(lab.describe().contains("pgw-doctor --api-id 3eqr0osoc3"));
    if s.control_plane.enabled {
        assert!(!args.contains(&"--no-aws".to_string()), "{}", s.name);
        assert_eq!(at("--aws-endpoint-url"), lab.aws_endpoint_url());
        assert_eq!(
            at("--role").as_deref(),
            Some("014770000000=arn:aws:iam::014770000000:role/pgw-read")
        );
        let env = lab.aws_env();
        assert!(env.contains(&("AWS_REGION".into(), "us-east-1".into())));
        assert!(env.iter().any(|(k, _)| k == "AWS_ACCESS_KEY_ID"));
    } else {
        assert!(args.contains(&"--no-aws".to_string()), "{}", s.name);
        assert_eq!(lab.aws_endpoint_url(), None);
    }
    lab.shutdown().await;
}
