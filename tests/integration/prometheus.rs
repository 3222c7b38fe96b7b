//! pgw-agent against the lab, checked with the Debian package's real Prometheus tools:
//! `promtool check metrics` on `/metrics` and `/probe`, a finding that appears with the injected
//! fault and disappears with it, a reload that keeps an unchanged probe's series, and a real
//! Prometheus that scrapes the agent and answers queries with the expected values.

use pgw_lab::Faults;

use crate::promkit::{probe_toml, promtool, samples, Agent, Labs, Prometheus};

/// The value of the first sample line of `text` starting with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const FINDING_ROOT: &str = "pgw_finding{probe=\"chain\",id=\"missing_root_any_method\"";

#[test]
fn agent_metrics_pass_promtool_and_follow_faults_and_reloads() {
    let labs = Labs::new();
    let lab = labs.start("healthy_path_a");
    let agent = Agent::start(&[("chain", probe_toml("chain", &lab))]);
    let healthy = "pgw_probe_success{probe=\"chain\",api_id=\"3eqr0osoc3\",stage=\"test\"} 1";
    agent.metrics_until("a healthy run of `chain`", |m| m.contains(healthy));

    // promtool's linter on both exposition endpoints (Prometheus text 0.0.4).
    let metrics = agent.metrics();
    let (ok, out) = promtool(&["check", "metrics"], Some(&metrics));
    println!(
        "$ curl -s {}/metrics | promtool check metrics\n{out}(exit {})",
        agent.addr,
        if ok { 0 } else { 1 }
    );
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics on /metrics:\n{out}\n{metrics}"
    );
    let (status, probe) = agent.get("/probe?target=chain");
    assert_eq!(status, 200, "{probe}");
    assert!(probe.contains("\nprobe_success 1\n"), "{probe}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&probe));
    println!(
        "$ curl -s '{}/probe?target=chain' | promtool check metrics\n{out}(exit {})",
        agent.addr,
        if ok { 0 } else { 1 }
    );
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics on /probe:\n{out}\n{probe}"
    );

    // A fault appears as its finding, with the right id, and goes away with the fault.
    lab.set_faults(Faults {
        root_method: false,
        ..lab.faults()
    });
    let m = agent.metrics_until("pgw_finding missing_root_any_method", |m| {
        m.contains(FINDING_ROOT)
    });
    assert!(
        m.contains("pgw_finding{probe=\"chain\",id=\"missing_root_any_method\",layer=\"api\",severity=\"critical\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("pgw_probe_success{probe=\"chain\",api_id=\"3eqr0osoc3\",stage=\"test\"} 0"),
        "{m}"
    );
    let (ok, out) = promtool(&["check", "metrics"], Some(&m));
    assert!(ok && out.trim().is_empty(), "with a finding:\n{out}");
    let (_, probe) = agent.get("/probe?target=chain");
    assert!(probe.contains("\nprobe_success 0\n"), "{probe}");
    assert!(probe.contains(FINDING_ROOT), "{probe}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&probe));
    assert!(ok && out.trim().is_empty(), "/probe with a finding:\n{out}");

    lab.set_faults(Faults {
        root_method: true,
        ..lab.faults()
    });
    let m = agent.metrics_until("the finding to clear", |m| {
        !m.contains("pgw_finding{") && m.contains(healthy)
    });

    // Reload adding a probe: `chain` keeps its series (its cumulative counters are not reset).
    let runs = "pgw_probe_runs_total{probe=\"chain\",result=\"ok\"}";
    let count = "pgw_phase_duration_seconds_count{probe=\"chain\",phase=\"total\"}";
    let (runs_before, count_before) = (sample(&m, runs).unwrap(), sample(&m, count).unwrap());
    std::fs::write(agent.probes.join("second.toml"), probe_toml("second", &lab)).unwrap();
    let (status, body) = crate::promkit::http(&agent.addr, "POST", "/-/reload").unwrap();
    assert_eq!(status, 200, "{body}");
    let m = agent.metrics();
    assert!(
        m.contains(healthy),
        "unchanged probe lost its last-run series on reload:\n{m}"
    );
    assert!(sample(&m, runs).unwrap() >= runs_before, "{m}");
    assert!(sample(&m, count).unwrap() >= count_before, "{m}");
    let m = agent.metrics_until("the added probe's first run", |m| {
        m.contains("pgw_probe_success{probe=\"second\"")
    });
    assert!(m.contains("pgw_config_last_reload_successful 1"), "{m}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&m));
    assert!(ok && out.trim().is_empty(), "after reload:\n{out}");
    labs.stop(lab);
}

#[test]
fn real_prometheus_scrapes_the_agent() {
    let labs = Labs::new();
    let good = labs.start("healthy_path_a");
    let bad = labs.start("missing_root_method");
    let agent = Agent::start(&[
        ("good", probe_toml("good", &good)),
        ("bad", probe_toml("bad", &bad)),
    ]);
    let prom = Prometheus::start(&[&agent.addr], &["good", "bad"], &[]);
    prom.wait_targets_up();

    let want = |expr: &str, value: f64| {
        crate::promkit::wait_until(&format!("`{expr}` == {value}"), || {
            let r = prom.query(expr)?;
            let s = samples(&r);
            if s.len() == 1 && s[0].1 == value {
                Ok(s[0].0.clone())
            } else {
                Err(format!("{r:?}"))
            }
        })
    };
    let labels = want("pgw_probe_success{job=\"pgw-agent\",probe=\"good\"}", 1.0);
    assert_eq!(labels["api_id"], "3eqr0osoc3");
    assert_eq!(labels["stage"], "test");
    assert_eq!(labels["job"], "pgw-agent");
    want("pgw_probe_success{job=\"pgw-agent\",probe=\"bad\"}", 0.0);
    let f = want("pgw_finding{job=\"pgw-agent\",probe=\"bad\"}", 1.0);
    assert_eq!(f["id"], "missing_root_any_method", "{f:?}");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["layer"], "api");
    assert!(prom
        .query("pgw_finding{probe=\"good\"}")
        .unwrap()
        .is_empty());
    // The histogram arrives as a histogram Prometheus can take quantiles of.
    want(
        "count(histogram_quantile(0.99, sum by (le) (rate(pgw_phase_duration_seconds_bucket{probe=\"good\",phase=\"total\"}[1m]))) > 0)",
        1.0,
    );
    // The multi-target pattern of docs/agent.md: blackbox_exporter's names per probe.
    want("probe_success{job=\"pgw-probe\",instance=\"good\"}", 1.0);
    want("probe_success{job=\"pgw-probe\",instance=\"bad\"}", 0.0);
    let f = want("pgw_finding{job=\"pgw-probe\",instance=\"bad\"}", 1.0);
    assert_eq!(f["id"], "missing_root_any_method", "{f:?}");
    want("count(probe_duration_seconds{job=\"pgw-probe\"} > 0)", 2.0);
    labs.stop(good);
    labs.stop(bad);
}
