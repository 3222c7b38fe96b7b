//! Docs against code: every catalog id has a runbook naming it, every runbook names a catalog
//! id, and the report schema knows every id.

use crate::support::repo;
use pgw::finding::CATALOG;

#[test]
fn every_id_has_a_runbook_and_every_runbook_an_id() {
    let dir = repo().join("docs/runbooks");
    for e in CATALOG {
        let p = dir.join(format!("{}.md", e.id));
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("no runbook for {}", e.id));
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.contains(e.id.as_str()),
            "{}: first line does not name the id",
            p.display()
        );
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        if stem == "README" {
            continue;
        }
        assert!(
            CATALOG.iter().any(|e| e.id.as_str() == stem),
            "runbook {} names no catalog id",
            p.display()
        );
    }
}

#[test]
fn schema_enumerates_exactly_the_catalog() {
    let text = std::fs::read_to_string(repo().join("docs/doctor-report.schema.json")).unwrap();
    for e in CATALOG {
        assert!(
            text.contains(&format!("\"{}\"", e.id)),
            "schema lacks {}",
            e.id
        );
    }
}

#[test]
fn iam_policy_lists_exactly_the_actions_pgw_calls() {
    let text = std::fs::read_to_string(repo().join("docs/iam-policy.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut in_policy: Vec<String> = v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    in_policy.sort();
    in_policy.dedup();
    let mut in_code: Vec<String> = pgw::facts::control::Operation::ALL
        .iter()
        .map(|o| o.iam_action().to_string())
        .collect();
    in_code.sort();
    in_code.dedup();
    assert_eq!(
        in_policy, in_code,
        "docs/iam-policy.json and pgw::facts::control::Operation differ"
    );
    for s in v["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        for a in s["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(
                a == "apigateway:GET"
                    || a == "sts:AssumeRole"
                    || a == "logs:FilterLogEvents"
                    || a.contains(":Describe"),
                "{a} is not read-only"
            );
        }
    }
}

#[test]
fn the_lab_can_deny_exactly_the_operations_pgw_calls() {
    let mut lab: Vec<&str> = pgw_lab::DENIABLE_OPERATIONS.to_vec();
    lab.sort();
    let mut pgw: Vec<&str> = pgw::facts::control::Operation::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    pgw.sort();
    assert_eq!(
        lab, pgw,
        "lab DENIABLE_OPERATIONS and pgw's Operation differ"
    );
}

/// deploy/cloudformation/pgw-agent.yaml passes cfn-lint (the lab venv's), and its read policy is
/// docs/iam-policy.json's, statement for statement (the role name of AssumeRole is a parameter,
/// `pgw-read` by default).
#[test]
fn the_cloudformation_template_lints_clean_and_grants_the_documented_policy() {
    let template = repo().join("deploy/cloudformation/pgw-agent.yaml");
    let lint = pgw_lab::moto_venv().join("bin/cfn-lint");
    let out = std::process::Command::new(&lint)
        .arg(&template)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh installs it)", lint.display()));
    assert!(
        out.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(&template).unwrap()).unwrap();
    let policies = t["Resources"]["AgentRole"]["Properties"]["Policies"]
        .as_array()
        .unwrap();
    let read = policies
        .iter()
        .find(|p| p["PolicyName"] == "pgw-read")
        .expect("the pgw-read policy");
    let mut in_template = read["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let docs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let assume = in_template
        .iter_mut()
        .find(|s| s["Sid"] == "PgwAssumeReadRolesInOtherAccounts")
        .unwrap();
    assert_eq!(
        assume["Resource"]["Fn::Sub"],
        "arn:${AWS::Partition}:iam::*:role/${ReadRoleName}"
    );
    assert_eq!(t["Parameters"]["ReadRoleName"]["Default"], "pgw-read");
    assume["Resource"] = "arn:aws:iam::*:role/pgw-read".into();
    // Actions and resources may be a string or a list: compare as lists.
    let norm = |s: &serde_json::Value| {
        let list = |v: &serde_json::Value| match v {
            serde_json::Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        (
            s["Sid"].clone(),
            s["Effect"].clone(),
            list(&s["Action"]),
            list(&s["Resource"]),
        )
    };
    let a: Vec<_> = in_template.iter().map(norm).collect();
    let b: Vec<_> = docs["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(norm)
        .collect();
    assert_eq!(
        a, b,
        "the template's pgw-read policy and docs/iam-policy.json differ"
    );
}
