//! Report: the doctor's result — target, verdict, ranked findings and every check that ran —
//! built from facts and findings, rendered as text ([`text`]) or JSON ([`json`]).

pub mod json;
pub mod markdown;
pub mod text;

use serde::Serialize;

use crate::facts::Facts;
use crate::finding::Finding;

/// The report contract (docs/doctor-report.schema.json).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pgw_version: &'static str,
    pub target: Target,
    pub verdict: &'static str,
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
    /// With `--since`: the failures the stage's execution log holds for that window, by cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_failures: Option<Vec<crate::finding::RecentFailure>>,
    /// With the control plane: what the policies decide for each probed path, beside what the
    /// calls got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_by_path: Option<Vec<crate::finding::PathPolicy>>,
    pub duration_seconds: f64,
    /// When the report was made (not in the JSON contract; the Markdown report shows it).
    #[serde(skip)]
    pub finished: std::time::SystemTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub api_id: String,
    pub region: String,
    pub stage: Option<String>,
    pub host: String,
    pub invoke_via: &'static str,
}

pub use crate::checks::Check;

impl Report {
    /// Assemble the report of one run: its checks ([`crate::checks::of`]) and findings.
    pub fn new(facts: &Facts, findings: Vec<Finding>) -> Report {
        let verdict = if findings.iter().any(|f| f.is_problem()) {
            "unhealthy"
        } else {
            "healthy"
        };
        let checks = crate::checks::of(facts);
        let recent_failures = crate::diagnose::recent_failures(facts, &findings);
        Report {
            pgw_version: env!("CARGO_PKG_VERSION"),
            target: Target {
                api_id: facts.target.api_id.clone(),
                region: facts.target.region.clone(),
                stage: Some(facts.target.stage.clone()),
                host: facts.target.connect_name.clone(),
                invoke_via: facts.target.invoke_via.as_str(),
            },
            verdict,
            findings,
            checks,
            recent_failures,
            policy_by_path: crate::diagnose::policy_by_path(facts),
            duration_seconds: facts.duration.as_secs_f64(),
            finished: std::time::SystemTime::now(),
        }
    }

    /// 0 healthy, 1 findings.
    pub fn exit_code(&self) -> i32 {
        if self.verdict == "healthy" {
            0
        } else {
            1
        }
    }
}
