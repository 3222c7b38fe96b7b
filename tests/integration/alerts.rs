//! dashboards/alerts.yaml: `promtool check rules`, the `promtool test rules` unit tests (every
//! alert has a firing and a not-firing case), runbook links that exist, and lab faults that make
//! the matching alert fire in a real Prometheus evaluating the rules — and resolve when removed.

use std::collections::{BTreeMap, BTreeSet};

use pgw_lab::{Faults, TargetsFault};
use serde_json::Value;

use crate::promkit::{
    probe_toml, probe_toml_aws, promtool, read, repo_file, rules_without_for, samples, temp_dir,
    wait_until, Agent, Labs, Prometheus,
};

const RULES: &str = "dashboards/alerts.yaml";
const UNIT_TESTS: &str = "dashboards/tests/alerts_test.yaml";

/// The alerts a chain fault raises (the live test checks these are quiet on a healthy chain).
const CHAIN_ALERTS: &[&str] = &[
    "PgwChainDown",
    "PgwCriticalFinding",
    "PgwWarningFinding",
    "PgwPartialAzOutage",
];

/// `- alert: Name` lines of the rules file.
fn alert_names() -> BTreeSet<String> {
    read(RULES)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn promtool_check_rules() {
    let (ok, out) = promtool(&["check", "rules", RULES], None);
    println!("$ promtool check rules {RULES}\n{out}");
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_unit_tests_pass_and_cover_every_alert() {
    let (ok, out) = promtool(&["test", "rules", UNIT_TESTS], None);
    println!("$ promtool test rules {UNIT_TESTS}\n{out}");
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");

    // Coverage, from the unit-test file's layout: each `alertname:` entry is followed by its
    // `exp_alerts:` — `[]` (must not fire) or a list of `exp_labels` (fires).
    let text = read(UNIT_TESTS);
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix("- alertname:")
            .or(line.strip_prefix("alertname:"))
        {
            current = Some(name.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("exp_alerts:") {
            let name = current.clone().expect("exp_alerts after alertname");
            let e = cases.entry(name).or_default();
            if rest.trim() == "[]" {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
    }
    let mut missing = Vec::new();
    for name in alert_names() {
        let (firing, quiet) = cases.get(&name).copied().unwrap_or_default();
        if firing == 0 {
            missing.push(format!("{name}: no firing case"));
        }
        if quiet == 0 {
            missing.push(format!("{name}: no not-firing case"));
        }
    }
    assert!(missing.is_empty(), "{UNIT_TESTS}: {missing:#?}");
    for name in cases.keys() {
        assert!(
            alert_names().contains(name),
            "{UNIT_TESTS} tests unknown alert {name}"
        );
    }
}

/// Every fixed runbook link in the rules exists; templated ones name docs/runbooks/<id>.md.
#[test]
fn runbook_links_exist() {
    let text = read(RULES);
    let mut n = 0;
    for line in text.lines().map(str::trim) {
        let Some(url) = line.strip_prefix("runbook_url:") else {
            continue;
        };
        n += 1;
        let url = url.trim().trim_matches(|c| c == '"' || c == '\'');
        if url.contains("{{") {
            assert!(url.contains("docs/runbooks/{{"), "{url}");
            assert!(url.contains(".md"), "{url}");
            for fixed in url.split("{{ else }}").skip(1) {
                let path = fixed.split("{{").next().unwrap();
                assert!(repo_file(path).is_file(), "{path} (in {url})");
            }
        } else {
            assert!(repo_file(url).is_file(), "runbook_url {url} does not exist");
        }
    }
    assert_eq!(n, alert_names().len(), "every alert has a runbook_url");
}

fn firing(prom: &Prometheus, alert: &str, probe: &str) -> Vec<Value> {
    prom.alerts()
        .into_iter()
        .filter(|a| {
            a["labels"]["alertname"] == alert
                && a["labels"]["probe"] == probe
                && a["state"] == "firing"
        })
        .collect()
}

fn wait_firing(prom: &Prometheus, alert: &str, probe: &str) -> Vec<Value> {
    wait_until(&format!("{alert} firing for {probe}"), || {
        let f = firing(prom, alert, probe);
        if f.is_empty() {
            Err(format!("{:#?}", prom.alerts()))
        } else {
            Ok(f)
        }
    })
}

fn wait_resolved(prom: &Prometheus, alert: &str, probe: &str) {
    wait_until(&format!("{alert} to resolve for {probe}"), || {
        let active: Vec<_> = prom
            .alerts()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == alert && a["labels"]["probe"] == probe)
            .collect();
        if active.is_empty() {
            Ok(())
        } else {
            Err(format!("{active:#?}"))
        }
    })
}

/// The live test. Prometheus evaluates a copy of alerts.yaml whose `for:` are all `0s` (waiting
/// the shipped minutes would make the test slow, not more real; expressions, labels and
/// annotations are the shipped ones).
#[test]
fn lab_faults_fire_and_resolve_alerts_in_a_real_prometheus() {
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let agent = Agent::start(&[("orders", probe_toml("orders", &lab))]);
    let dir = temp_dir("alerts");
    let prom = Prometheus::start(&[&agent.addr], &[], &[rules_without_for(&dir)]);
    prom.wait_targets_up();
    wait_until("a healthy run scraped", || {
        let r = prom.query("pgw_probe_success{probe=\"orders\"} == 1")?;
        if r.is_empty() {
            Err("not yet".into())
        } else {
            Ok(())
        }
    });
    let mine = || -> Vec<Value> {
        prom.alerts()
            .into_iter()
            .filter(|a| {
                let name = a["labels"]["alertname"].as_str().unwrap_or("");
                a["labels"]["probe"] == "orders" && CHAIN_ALERTS.contains(&name)
            })
            .collect()
    };
    let active = mine();
    assert!(
        active.is_empty(),
        "before any fault: alerts active on a healthy chain: {active:#?}"
    );

    // 1. The stage root loses its ANY method: the critical finding's alert, with its id and
    // runbook, and the chain-down alert naming it as the root cause.
    let healthy = lab.faults();
    lab.set_faults(Faults {
        root_method: false,
        ..healthy.clone()
    });
    let f = wait_firing(&prom, "PgwCriticalFinding", "orders");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["labels"]["id"], "missing_root_any_method", "{f:#?}");
    assert_eq!(f[0]["labels"]["severity"], "critical");
    assert_eq!(
        f[0]["annotations"]["runbook_url"],
        "docs/runbooks/missing_root_any_method.md"
    );
    assert!(
        f[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("missing_root_any_method"),
        "{f:#?}"
    );
    let down = wait_firing(&prom, "PgwChainDown", "orders");
    let desc = down[0]["annotations"]["description"].as_str().unwrap();
    assert!(
        desc.contains("Root cause: missing_root_any_method (critical, api)"),
        "{desc}"
    );
    assert_eq!(
        down[0]["annotations"]["runbook_url"],
        "docs/runbooks/missing_root_any_method.md"
    );
    println!("fired: {}", serde_json::to_string_pretty(&f[0]).unwrap());

    lab.set_faults(healthy.clone());
    wait_resolved(&prom, "PgwCriticalFinding", "orders");
    wait_resolved(&prom, "PgwChainDown", "orders");
    // The finding's series is gone from Prometheus too (stale once the agent stops exporting it).
    assert!(prom
        .query("pgw_finding{probe=\"orders\"}")
        .unwrap()
        .is_empty());
    let up = samples(&prom.query("pgw_probe_success{probe=\"orders\"}").unwrap());
    assert_eq!(up[0].1, 1.0, "{up:?}");
    // A run that straddled the fault's removal may have seen it on one ENI and not on the other
    // (a partial-AZ alert here, with no `for:`) until the next run: what must not stay is an alert.
    wait_until("no alert left after the fault was removed", || {
        let active = mine();
        if active.is_empty() {
            Ok(())
        } else {
            Err(format!("alerts active on a healthy chain: {active:#?}"))
        }
    });

    // 2. One AZ's ENI drops SYNs: the partial-AZ alert for exactly that ENI.
    let (az, ip) = lab.eni_addrs()[1].clone();
    lab.set_faults(Faults {
        sg_drop: vec![az.clone()],
        ..healthy.clone()
    });
    let p = wait_firing(&prom, "PgwPartialAzOutage", "orders");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0]["labels"]["endpoint"],
        format!("{ip}:{}", lab.port()),
        "{p:#?}"
    );
    let desc = p[0]["annotations"]["description"].as_str().unwrap();
    assert!(desc.contains("vpce_eni_unreachable"), "{desc}");
    lab.set_faults(healthy);
    wait_resolved(&prom, "PgwPartialAzOutage", "orders");
    labs.stop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The control plane's side: the running lab's NLB targets turn unhealthy (moto re-seeded, the
/// data plane answers 504): `PgwNlbNoHealthyTargets`, `PgwNlbTargetsUnhealthy` and the critical
/// finding `nlb_no_healthy_targets` fire from real control-plane series, and resolve when the
/// targets are healthy again.
#[test]
fn lab_unhealthy_targets_fire_and_resolve_the_nlb_alerts() {
    let labs = Labs::new();
    let lab = labs.start("healthy_cp_path_a");
    let agent = Agent::start_env(
        &[("orders", probe_toml_aws("orders", &lab))],
        &lab.aws_env(),
    );
    let dir = temp_dir("alerts-cp");
    let prom = Prometheus::start(&[&agent.addr], &[], &[rules_without_for(&dir)]);
    prom.wait_targets_up();
    wait_until("healthy NLB targets scraped", || {
        let r = prom.query("pgw_nlb_targets{probe=\"orders\",state=\"healthy\"} > 0")?;
        if r.is_empty() {
            Err(format!("{:?}", prom.query("pgw_nlb_targets")))
        } else {
            Ok(())
        }
    });
    let healthy = lab.faults();
    lab.set_faults(Faults {
        targets: TargetsFault::Unhealthy,
        ..healthy.clone()
    });
    let a = wait_firing(&prom, "PgwNlbNoHealthyTargets", "orders");
    assert_eq!(
        a[0]["annotations"]["runbook_url"],
        "docs/runbooks/nlb_no_healthy_targets.md"
    );
    let u = wait_firing(&prom, "PgwNlbTargetsUnhealthy", "orders");
    assert_eq!(u[0]["value"], "2e+00", "{u:#?}");
    let f = wait_until("the nlb_no_healthy_targets finding alert", || {
        let f: Vec<Value> = firing(&prom, "PgwCriticalFinding", "orders")
            .into_iter()
            .filter(|a| a["labels"]["id"] == "nlb_no_healthy_targets")
            .collect();
        if f.is_empty() {
            Err(format!("{:#?}", prom.alerts()))
        } else {
            Ok(f)
        }
    });
    assert_eq!(f[0]["labels"]["layer"], "control_plane");
    lab.set_faults(healthy);
    wait_resolved(&prom, "PgwNlbNoHealthyTargets", "orders");
    wait_resolved(&prom, "PgwNlbTargetsUnhealthy", "orders");
    wait_resolved(&prom, "PgwCriticalFinding", "orders");
    labs.stop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
