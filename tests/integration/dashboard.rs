//! dashboards/pgw-overview.json and the rules against reality: the dashboard's shape (inputs,
//! variables, the panels issue 5 asks for, runbook links, provisioning files), and every PromQL
//! expression of the dashboard and of alerts.yaml — variables substituted the way Grafana does —
//! evaluated by a real Prometheus that scrapes pgw-agent probing four lab scenarios: each must
//! return data (no panel silently empty) and every metric they use must exist.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::promkit::{
    probe_toml, probe_toml_aws, read, repo_file, wait_until, Agent, Labs, Prometheus,
};

const DASHBOARD: &str = "dashboards/pgw-overview.json";

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON")
}

/// Every non-row panel, nested rows included.
fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn var<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no template variable {name}"))
}

#[test]
fn dashboard_shape() {
    let d = dashboard();
    let input = d["__inputs"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["name"] == "DS_PROMETHEUS"))
        .expect("__inputs has DS_PROMETHEUS");
    assert_eq!(input["type"], "datasource");
    assert_eq!(input["pluginId"], "prometheus");
    assert_eq!(var(&d, "DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var(&d, "DS_PROMETHEUS")["query"], "prometheus");
    for (name, label) in [
        ("account", "account"),
        ("vpc_id", "vpc_id"),
        ("api_id", "api_id"),
        ("stage", "stage"),
        ("probe", "probe"),
    ] {
        let v = var(&d, name);
        assert_eq!(v["type"], "query", "{name}");
        assert!(
            v["definition"]
                .as_str()
                .unwrap()
                .starts_with("label_values(pgw_probe_success"),
            "{v}"
        );
        assert!(v["definition"]
            .as_str()
            .unwrap()
            .ends_with(&format!(", {label})")));
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}", "{name}");
    }

    let ps = panels(&d);
    let mut ids = BTreeSet::new();
    for p in &ps {
        assert!(
            ids.insert(p["id"].as_i64().unwrap()),
            "duplicate panel id {p}"
        );
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
            assert!(!t["expr"].as_str().unwrap_or("").is_empty());
        }
    }
    // The panels of issue 5, each over the series it is about.
    let wanted = [
        ("End-to-end status per API", "pgw_probe_success"),
        ("Layer status per endpoint", "pgw:layer_success"),
        ("Active findings", "pgw_finding"),
        ("Phase latency p50 / p99", "pgw:phase_duration_seconds:p99"),
        ("Phase latency per ENI", "pgw_check_duration_seconds"),
        ("NLB target health by state", "pgw_nlb_targets"),
        ("Probe run errors", "pgw_probe_runs_total"),
        ("AWS API errors", "pgw_aws_api_errors_total"),
    ];
    for (title, metric) in wanted {
        let p = ps
            .iter()
            .find(|p| p["title"].as_str().unwrap().starts_with(title))
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        let exprs = p["targets"].to_string();
        assert!(exprs.contains(metric), "{title}: {exprs}");
    }
    // Findings: id, layer, severity and a runbook link on the id.
    let findings = ps.iter().find(|p| p["title"] == "Active findings").unwrap();
    let expr = findings["targets"][0]["expr"].as_str().unwrap();
    assert!(expr.contains("by (probe, id, layer, severity)"), "{expr}");
    let links = findings["fieldConfig"]["overrides"].to_string();
    assert!(
        links.contains("${runbook_base}/${__value.raw}.md"),
        "{links}"
    );
    assert_eq!(var(&d, "runbook_base")["query"], "docs/runbooks");
    // The grid has the five layers: four from the checks, integration from a recording rule.
    assert!(read("dashboards/alerts.yaml").contains("layer: integration"));

    let provider = read("dashboards/provisioning/dashboards/pgw.yaml");
    assert!(
        provider.contains("type: file") && provider.contains("path:"),
        "{provider}"
    );
    let ds = read("dashboards/provisioning/datasources/pgw-prometheus.yaml");
    assert!(ds.contains("type: prometheus"), "{ds}");
    let readme = read("README.md");
    assert!(readme.contains("pgw-overview.json") && readme.contains("alerts.yaml"));
}

/// Vector selectors (`name` or `name{…}`) of `expr` over pgw's metrics or `up`.
fn selectors(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let name = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let metric = name.starts_with("pgw_") || name.starts_with("pgw:") || name == "up";
            if j < b.len() && b[j] == b'(' || !metric {
                continue;
            }
            if j < b.len() && b[j] == b'{' {
                let mut k = j;
                let mut quote = None;
                while k < b.len() {
                    match (quote, b[k]) {
                        (None, b'"') => quote = Some(b'"'),
                        (Some(_), b'\\') => k += 1,
                        (Some(q), x) if x == q => quote = None,
                        (None, b'}') => break,
                        _ => {}
                    }
                    k += 1;
                }
                out.push(expr[start..=k].to_string());
                i = k + 1;
            } else {
                out.push(name.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn selector_scanner() {
    assert_eq!(
        selectors(
            r#"sum by (probe, le) (rate(pgw_x_bucket{a="}", le=~"1|1\\.0"}[5m])) / up and on (probe) pgw:y"#
        ),
        vec![r#"pgw_x_bucket{a="}", le=~"1|1\\.0"}"#, "up", "pgw:y"]
    );
    assert_eq!(
        selectors(r#"label_join(pgw_a, "pgw_no", " ")"#),
        vec!["pgw_a"]
    );
}

/// The metric name of a selector.
fn name_of(selector: &str) -> &str {
    selector.split('{').next().unwrap().trim()
}

/// Grafana's multi-value regex formatting: `(a|b)` with regex metacharacters escaped.
fn regex_of(values: &[String]) -> String {
    let esc: Vec<String> = values
        .iter()
        .map(|v| {
            v.chars()
                .flat_map(|c| {
                    if r"\.+*?()|[]{}^$".contains(c) {
                        vec!['\\', '\\', c]
                    } else {
                        vec![c]
                    }
                })
                .collect()
        })
        .collect();
    format!("({})", esc.join("|"))
}

fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let mut e = expr.to_string();
    // Grafana's own: a rate window at least 4 scrape intervals (1 s here) and covering the data.
    for (k, v) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "5m"),
    ] {
        e = e.replace(k, v);
    }
    for (k, v) in vars {
        e = e
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    assert!(!e.contains('$'), "unsubstituted variable in {e}");
    e
}

/// `label_values(selector, label)`: the values of `label` on the series matching `selector`.
fn label_values(prom: &Prometheus, query: &str) -> Result<Vec<String>, String> {
    let inner = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .ok_or_else(|| format!("not label_values: {query}"))?;
    let (selector, label) = inner.rsplit_once(',').unwrap();
    let data = prom.api(&format!(
        "series?match[]={}",
        crate::promkit::urlencode(selector.trim())
    ))?;
    let values: BTreeSet<String> = data
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s[label.trim()].as_str().map(str::to_string))
        .collect();
    if values.is_empty() {
        Err(format!("{query}: no values"))
    } else {
        Ok(values.into_iter().collect())
    }
}

/// Names (sample names and `# TYPE` families) in an exposition.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap_or(""));
            names.insert(name.to_string());
            if kind == "histogram" {
                for s in ["_bucket", "_count", "_sum"] {
                    names.insert(format!("{name}{s}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

/// Agents pushing by remote write beside the scraped one.
const FLEET: usize = 20;

#[test]
fn every_dashboard_and_rule_expression_returns_data_in_a_real_prometheus() {
    let labs = Labs::new();
    // (probe, scenario, with the control plane): findings of every severity and layer, skipped
    // runs, one ENI down, NLB target states from the lab's AWS control plane (moto), a probe
    // through a private custom domain (its `domain` label), an exposure warning.
    let scenarios = [
        ("healthy", "healthy_path_a", false),
        ("broken", "missing_root_method", false),
        ("one-az", "sg_drop_one_az", false),
        ("slow", "integration_timeout", false),
        ("targets", "cp_targets_unhealthy", true),
        ("cp-healthy", "healthy_cp_path_a", true),
        ("domain", "cp_custom_domain_policy_denies", true),
        ("exposed", "exposure_policy_open", true),
    ];
    let mut lab_list = Vec::new();
    let mut probes = Vec::new();
    let mut env = Vec::new();
    for (probe, scenario, aws) in scenarios {
        let lab = labs.start(scenario);
        if aws {
            probes.push((probe, probe_toml_aws(probe, &lab)));
            env = lab.aws_env();
        } else {
            probes.push((probe, probe_toml(probe, &lab)));
        }
        lab_list.push(lab);
    }
    // AWS API reads that fail: an endpoint URL nobody listens on (pgw_aws_api_errors_total).
    let unreachable = probe_toml("aws-down", &lab_list[0]).replace(
        "no_aws = true",
        "aws_endpoint_url = \"http://127.0.0.1:9\"\ncontrol_plane_interval = \"1s\"",
    );
    probes.push(("aws-down", unreachable));
    let agent = Agent::start_env(&probes, &env);
    let rules = repo_file("dashboards/alerts.yaml");
    let prom = Prometheus::start(&[&agent.addr], &[], &[rules]);
    prom.wait_targets_up();
    // A fleet beside the scraped agent: 20 agents, each its own probe and account and VPC,
    // pushing by remote write into the same Prometheus.
    let fleet: Vec<(String, Agent)> = (1..=FLEET)
        .map(|n| {
            let name = format!("fleet-{n:02}");
            let file = crate::promkit::temp_dir("fleet").join("remote-write.toml");
            std::fs::write(
                &file,
                format!(
                    "[remote_write]\nurl = \"http://{}/api/v1/write\"\ninterval = \"1s\"\n[remote_write.external_labels]\naccount = \"1000000000{n:02}\"\nvpc_id = \"vpc-0fleet{n:02}\"\n",
                    prom.addr
                ),
            )
            .unwrap();
            let agent = Agent::start_with(
                &[(name.as_str(), probe_toml(&name, &lab_list[0]))],
                &[],
                &["--remote-write", &file.display().to_string()],
            );
            (name, agent)
        })
        .collect();
    agent.metrics_until("a run of every probe", |m| {
        probes
            .iter()
            .all(|(p, _)| m.contains(&format!("pgw_probe_success{{probe=\"{p}\"")))
    });
    let m = agent.metrics();
    assert!(
        m.contains("domain=\"orders.internal.example.com\"} 0")
            && m.contains("id=\"custom_domain_policy_denies\""),
        "{m}"
    );

    // The variables, as Grafana resolves them: each query returns values; selecting them all.
    // account, vpc_id and az are All (`.*`, Grafana's default): the scraped agent's series have
    // no account or VPC, the fleet's no AZ (no control plane), and All keeps both.
    let d = dashboard();
    let mut vars = BTreeMap::new();
    for name in ["account", "vpc_id", "az"] {
        let q = substitute(var(&d, name)["definition"].as_str().unwrap(), &vars);
        let values = wait_until(&format!("values of ${name}"), || {
            label_values(&prom, &q).and_then(|v| match name {
                "account" if v.len() < FLEET => Err(format!("{} of {FLEET} accounts", v.len())),
                _ if v.is_empty() => Err("none yet".into()),
                _ => Ok(v),
            })
        });
        if name == "account" {
            assert_eq!(values.len(), FLEET, "{values:?}");
        }
        vars.insert(name.to_string(), ".*".to_string());
    }
    for name in ["api_id", "stage", "probe"] {
        let q = substitute(var(&d, name)["definition"].as_str().unwrap(), &vars);
        let values = wait_until(&format!("values of ${name}"), || label_values(&prom, &q));
        if name == "probe" {
            let mut want: Vec<String> = probes.iter().map(|(p, _)| p.to_string()).collect();
            want.extend(fleet.iter().map(|(n, _)| n.clone()));
            want.sort();
            assert_eq!(values, want);
        }
        vars.insert(name.to_string(), regex_of(&values));
    }
    vars.insert("runbook_base".into(), "docs/runbooks".into());

    // Every expression: (where, PromQL, whether it must return data as a whole).
    let mut exprs: Vec<(String, String, bool)> = Vec::new();
    for p in panels(&d) {
        for t in p["targets"].as_array().unwrap() {
            let e = substitute(t["expr"].as_str().unwrap(), &vars);
            exprs.push((
                format!(
                    "panel {:?} {}",
                    p["title"].as_str().unwrap(),
                    t["refId"].as_str().unwrap()
                ),
                e,
                true,
            ));
        }
    }
    let groups = wait_until("every rule evaluated, healthy", || {
        let g = prom.api("rules")?["groups"].clone();
        let bad: Vec<&Value> = g
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .filter(|r| r["health"] != "ok")
            .collect();
        if bad.is_empty() {
            Ok(g)
        } else {
            Err(format!("{bad:#?}"))
        }
    });
    let mut recorded = BTreeSet::new();
    let mut n_rules = 0;
    for g in groups.as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            n_rules += 1;
            let q = r["query"].as_str().unwrap().to_string();
            if r["type"] == "recording" {
                recorded.insert(r["name"].as_str().unwrap().to_string());
                exprs.push((format!("record {}", r["name"]), q, true));
            } else {
                // An alert's expression returns data only while it fires: its selectors must.
                exprs.push((format!("alert {}", r["name"]), q, false));
            }
        }
    }
    assert!(n_rules > 10, "alerts.yaml not loaded: {groups}");

    // Poll until every expression and every selector has data (bounded).
    wait_until("every expression to return data", || {
        let mut empty = Vec::new();
        for (place, e, whole) in &exprs {
            let r = prom.query(e).map_err(|err| format!("{place}: {err}"))?;
            if *whole && r.is_empty() {
                empty.push(format!("{place}: no data: {e}"));
            }
            for s in selectors(e) {
                if prom.query(&s)?.is_empty() {
                    empty.push(format!("{place}: selector {s} has no data"));
                }
            }
        }
        if empty.is_empty() {
            Ok(())
        } else {
            Err(empty.join("\n"))
        }
    });

    // Every metric used exists: in the agent's /metrics, or recorded by the rules.
    let names = exposed(&agent.metrics());
    for (place, e, _) in &exprs {
        for s in selectors(e) {
            let n = name_of(&s);
            if n.contains(':') {
                assert!(
                    recorded.contains(n),
                    "{place}: {n} is not recorded by alerts.yaml"
                );
            } else if n != "up" {
                assert!(
                    names.contains(n),
                    "{place}: {n} is not in pgw-agent's /metrics"
                );
            }
        }
    }
    println!(
        "{} expressions (dashboard panels and rules) evaluated with data in a real Prometheus",
        exprs.len()
    );
    for lab in lab_list {
        labs.stop(lab);
    }
}
