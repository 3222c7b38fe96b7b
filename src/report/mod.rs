//! Report: the doctor's result — target, verdict, ranked findings and every check that ran —
//! built from facts and findings, rendered as text ([`text`]) or JSON ([`json`]).

pub mod json;
pub mod text;

use serde::Serialize;
use serde_json::json;

use crate::facts::{Facts, HttpOutcome, PathFacts};
use crate::finding::{Finding, Layer};

/// The report contract (docs/doctor-report.schema.json).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pgw_version: &'static str,
    pub target: Target,
    pub verdict: &'static str,
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub api_id: String,
    pub region: String,
    pub stage: Option<String>,
    pub host: String,
    pub invoke_via: &'static str,
}

/// One probe that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub layer: Layer,
    pub name: String,
    pub endpoint: Option<String>,
    pub ok: bool,
    pub duration_seconds: Option<f64>,
    pub detail: serde_json::Value,
}

impl Report {
    /// Assemble the report; `extra` are checks from outside the data plane (e.g. skipped AWS).
    pub fn new(facts: &Facts, findings: Vec<Finding>, extra: Vec<Check>) -> Report {
        let verdict = if findings.iter().any(|f| f.is_problem()) {
            "unhealthy"
        } else {
            "healthy"
        };
        let mut checks = checks(facts);
        checks.extend(extra);
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
            duration_seconds: facts.duration.as_secs_f64(),
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

/// Every probe of `facts` as a check, in layer order.
pub fn checks(f: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    for d in f.dns.iter().chain(f.reference_dns.iter()) {
        out.push(Check {
            layer: Layer::Dns,
            name: format!("resolve {}", d.name),
            endpoint: Some(d.resolver.clone()),
            ok: d.outcome.is_answer(),
            duration_seconds: Some(d.duration.as_secs_f64()),
            detail: json!({"outcome": d.outcome.as_str(), "addresses": d.addrs}),
        });
    }
    for e in &f.enis {
        let Some(first) = e.paths.first() else {
            continue;
        };
        out.push(Check {
            layer: Layer::Tcp,
            name: "connect".into(),
            endpoint: Some(e.addr.to_string()),
            ok: first.conn.connect == crate::facts::ConnectOutcome::Ok,
            duration_seconds: first.timings.connect.map(|d| d.as_secs_f64()),
            detail: json!({"outcome": first.conn.connect.as_str()}),
        });
        if let Some(t) = &first.conn.tls {
            out.push(Check {
                layer: Layer::Tls,
                name: "handshake".into(),
                endpoint: Some(e.addr.to_string()),
                ok: t.outcome == crate::facts::TlsOutcome::Ok,
                duration_seconds: first.timings.tls.map(|d| d.as_secs_f64()),
                detail: json!({
                    "outcome": t.outcome.as_str(), "server_name": t.server_name,
                    "version": t.version, "peer_names": t.peer_names, "not_after": t.not_after,
                }),
            });
        }
    }
    let method = &f.target.method;
    for p in f.invokes() {
        out.push(invoke_check(method, p, "invoke"));
    }
    for p in &f.signed_retry {
        out.push(invoke_check(method, p, "invoke signed retry"));
    }
    for p in &f.header_control {
        out.push(invoke_check(method, p, "invoke with x-apigw-api-id"));
    }
    out
}

fn invoke_check(method: &str, p: &PathFacts, what: &str) -> Check {
    let (ok, detail) = match &p.http {
        HttpOutcome::Response(r) => (
            r.status < 500 && r.error_type.is_none(),
            json!({
                "status": r.status, "error_type": r.error_type, "message": r.message,
                "source": r.source, "ttfb_seconds": p.timings.ttfb.map(|d| d.as_secs_f64()),
                "identified_by": p.identified_by, "signed": p.signed,
            }),
        ),
        HttpOutcome::Timeout => (false, json!({"outcome": "timeout"})),
        HttpOutcome::Error(e) => (false, json!({"outcome": "error", "error": e})),
        HttpOutcome::NotSent => (false, json!({"outcome": "not_sent"})),
    };
    Check {
        layer: Layer::Api,
        name: format!("{what} {method} {}", p.request_path),
        endpoint: Some(p.addr.to_string()),
        ok,
        duration_seconds: p.timings.total.map(|d| d.as_secs_f64()),
        detail,
    }
}
