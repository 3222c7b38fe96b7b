//! Checks: every probe of a run, as one list — the only place facts become checks. The doctor's
//! report shows them ([`crate::report`]), the agent exports them as `pgw_check_*` series
//! ([`crate::metrics`]); both read the same pass/fail rule and the same names from here.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::facts::control::Operation;
use crate::facts::{ConnectOutcome, Facts, HttpOutcome, PathFacts, TlsOutcome};
use crate::finding::Layer;

/// What a check is. `as_str()` is the `check` label of the metrics: a fixed word, or the AWS
/// operation of a control-plane call (a fixed word of the reader's code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    /// The lookup of the invoke name at one resolver.
    Resolve,
    /// The lookup of the endpoint's own regional DNS name (the reference addresses).
    ResolveVpceDns,
    Connect,
    Handshake,
    Invoke,
    /// The SigV4-signed retry after `MissingAuthenticationToken` everywhere.
    InvokeSignedRetry,
    /// `vpce-host` only: the call identified by `x-apigw-api-id` instead of `Host`.
    InvokeApiIdHeader,
    /// The path whose answer is large (`--large-path`).
    InvokeLarge,
    /// The addresses of an answer left unprobed (past the cap on addresses per name).
    AddressesNotProbed,
    /// `--check-public`: the API's public name at the public resolver.
    PublicResolve,
    /// `--check-public`: an invoke on the public side (passes when refused as a private API is).
    PublicInvoke,
    /// One AWS API call of the control-plane read, e.g. `apigateway:GetRestApi`.
    Aws(Operation),
}

impl CheckKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckKind::Resolve => "resolve",
            CheckKind::ResolveVpceDns => "resolve_vpce_dns",
            CheckKind::Connect => "connect",
            CheckKind::Handshake => "handshake",
            CheckKind::Invoke => "invoke",
            CheckKind::InvokeSignedRetry => "invoke_signed_retry",
            CheckKind::InvokeApiIdHeader => "invoke_api_id_header",
            CheckKind::InvokeLarge => "invoke_large",
            CheckKind::AddressesNotProbed => "addresses_not_probed",
            CheckKind::PublicResolve => "public_resolve",
            CheckKind::PublicInvoke => "public_invoke",
            CheckKind::Aws(op) => op.as_str(),
        }
    }
}

/// A timed phase of a check (`phase` label), as blackbox_exporter's `probe_http_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Resolve,
    Connect,
    Tls,
    Ttfb,
    Total,
}

impl Phase {
    /// In exposition order.
    pub const ALL: [Phase; 5] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Ttfb,
        Phase::Total,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Ttfb => "ttfb",
            Phase::Total => "total",
        }
    }
}

/// One probe that ran. Serialized, it is a check of the doctor's JSON report
/// (docs/doctor-report.schema.json): `layer`, `name`, `endpoint`, `ok`, `duration_seconds`, `detail`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub layer: Layer,
    #[serde(skip)]
    pub kind: CheckKind,
    /// What the report shows: `resolve <name>`, `connect`, `invoke GET /test/`, an AWS operation.
    pub name: String,
    pub endpoint: Option<String>,
    /// The configured stage-relative path of an invoke.
    #[serde(skip)]
    pub path: Option<String>,
    pub ok: bool,
    pub duration_seconds: Option<f64>,
    /// The phases reached, in order; a phase not reached is absent.
    #[serde(skip)]
    pub phases: Vec<(Phase, Duration)>,
    pub detail: serde_json::Value,
}

/// Every probe of `f` as a check, in layer order, the control-plane calls last.
pub fn of(f: &Facts) -> Vec<Check> {
    let mut out = dns(f);
    out.extend(connections(f));
    out.extend(invokes(f));
    out.extend(public(f));
    out.extend(aws_calls(f));
    out
}

/// `--check-public`: the public name's lookup and the public invokes; an invoke passes when API
/// Gateway refused it as it refuses a private API outside its endpoints (403 Forbidden).
fn public(f: &Facts) -> Vec<Check> {
    let Some(p) = &f.public else {
        return Vec::new();
    };
    let d = &p.dns;
    let mut out = vec![Check {
        layer: Layer::Exposure,
        kind: CheckKind::PublicResolve,
        name: format!("public resolve {}", d.name),
        endpoint: Some(d.resolver.to_string()),
        path: None,
        ok: d.outcome.is_answer(),
        duration_seconds: Some(d.duration.as_secs_f64()),
        phases: vec![(Phase::Resolve, d.duration)],
        detail: json!({"outcome": d.outcome.as_str(), "addresses": d.addrs}),
    }];
    for path in &p.paths {
        let mut c = invoke(
            CheckKind::PublicInvoke,
            "public invoke",
            &f.target.method,
            path,
        );
        c.layer = Layer::Exposure;
        c.ok = path
            .response()
            .is_some_and(|r| r.is_error_type(403, "ForbiddenException"));
        out.push(c);
    }
    out
}

/// One check per resolver and name looked up, and one for the addresses left unprobed.
fn dns(f: &Facts) -> Vec<Check> {
    let mut out = lookups(f);
    if !f.unprobed.is_empty() {
        out.push(Check {
            layer: Layer::Dns,
            kind: CheckKind::AddressesNotProbed,
            name: format!("{} more addresses not probed", f.unprobed.len()),
            endpoint: None,
            path: None,
            ok: false,
            duration_seconds: None,
            phases: Vec::new(),
            detail: json!({"count": f.unprobed.len(), "addresses": f.unprobed.iter().take(8).collect::<Vec<_>>()}),
        });
    }
    out
}

fn lookups(f: &Facts) -> Vec<Check> {
    let main = f.dns.iter().map(|d| (CheckKind::Resolve, d));
    let reference = f
        .reference_dns
        .iter()
        .map(|d| (CheckKind::ResolveVpceDns, d));
    main.chain(reference)
        .map(|(kind, d)| Check {
            layer: Layer::Dns,
            kind,
            name: format!("resolve {}", d.name),
            endpoint: Some(d.resolver.clone()),
            path: None,
            ok: d.outcome.is_answer(),
            duration_seconds: Some(d.duration.as_secs_f64()),
            phases: vec![(Phase::Resolve, d.duration)],
            detail: json!({"outcome": d.outcome.as_str(), "addresses": d.addrs}),
        })
        .collect()
}

/// TCP and TLS of the first attempt on every resolved address.
fn connections(f: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    for e in &f.enis {
        let Some(first) = e.paths.first() else {
            continue;
        };
        let t = &first.timings;
        out.push(Check {
            layer: Layer::Tcp,
            kind: CheckKind::Connect,
            name: "connect".into(),
            endpoint: Some(e.addr.to_string()),
            path: None,
            ok: first.conn.connect == ConnectOutcome::Ok,
            duration_seconds: t.connect.map(|d| d.as_secs_f64()),
            phases: t.connect.map(|d| (Phase::Connect, d)).into_iter().collect(),
            detail: json!({"outcome": first.conn.connect.as_str()}),
        });
        if let Some(tls) = &first.conn.tls {
            out.push(Check {
                layer: Layer::Tls,
                kind: CheckKind::Handshake,
                name: "handshake".into(),
                endpoint: Some(e.addr.to_string()),
                path: None,
                ok: tls.outcome == TlsOutcome::Ok,
                duration_seconds: t.tls.map(|d| d.as_secs_f64()),
                phases: t.tls.map(|d| (Phase::Tls, d)).into_iter().collect(),
                detail: json!({
                    "outcome": tls.outcome.as_str(), "server_name": tls.server_name,
                    "version": tls.version, "peer_names": tls.peer_names, "not_after": tls.not_after,
                }),
            });
        }
    }
    out
}

/// Every invoke: the main pass, then the follow-ups.
fn invokes(f: &Facts) -> Vec<Check> {
    let method = &f.target.method;
    let main = f.invokes().map(|p| (CheckKind::Invoke, "invoke", p));
    let signed = f
        .signed_retry
        .iter()
        .map(|p| (CheckKind::InvokeSignedRetry, "invoke signed retry", p));
    let header = f.header_control.iter().map(|p| {
        (
            CheckKind::InvokeApiIdHeader,
            "invoke with x-apigw-api-id",
            p,
        )
    });
    let large = f
        .large
        .iter()
        .map(|p| (CheckKind::InvokeLarge, "invoke large answer", p));
    main.chain(signed)
        .chain(header)
        .chain(large)
        .map(|(kind, what, p)| invoke(kind, what, method, p))
        .collect()
}

/// One check per AWS API call of the control-plane read.
fn aws_calls(f: &Facts) -> Vec<Check> {
    let Some(cf) = &f.control else {
        return Vec::new();
    };
    cf.calls
        .iter()
        .map(|c| Check {
            layer: Layer::ControlPlane,
            kind: CheckKind::Aws(c.operation),
            name: c.operation.as_str().to_string(),
            endpoint: cf.endpoint.clone(),
            path: None,
            ok: c.ok,
            duration_seconds: Some(c.duration.as_secs_f64()),
            phases: vec![(Phase::Total, c.duration)],
            detail: match &c.error {
                Some(e) => json!({"reason": format!("not checked: {e}")}),
                None => json!({}),
            },
        })
        .collect()
}

/// Whether an invoke passed: an answer below 500 that is not an API Gateway error.
fn invoke_ok(p: &PathFacts) -> bool {
    match &p.http {
        HttpOutcome::Response(r) => r.status < 500 && r.error_type.is_none(),
        _ => false,
    }
}

fn invoke(kind: CheckKind, what: &str, method: &str, p: &PathFacts) -> Check {
    let detail = match &p.http {
        HttpOutcome::Response(r) => json!({
            "status": r.status, "error_type": r.error_type, "message": r.message,
            "source": r.source, "ttfb_seconds": p.timings.ttfb.map(|d| d.as_secs_f64()),
            "identified_by": p.identified_by, "signed": p.signed, "request_id": r.request_id,
        }),
        HttpOutcome::Timeout => json!({"outcome": "timeout"}),
        HttpOutcome::Error(e) => json!({"outcome": "error", "error": e}),
        HttpOutcome::NotSent => json!({"outcome": "not_sent"}),
    };
    let t = &p.timings;
    Check {
        layer: Layer::Api,
        kind,
        name: format!("{what} {method} {}", p.request_path),
        endpoint: Some(p.addr.to_string()),
        path: Some(p.path.clone()),
        ok: invoke_ok(p),
        duration_seconds: t.total.map(|d| d.as_secs_f64()),
        phases: [
            (Phase::Connect, t.connect),
            (Phase::Tls, t.tls),
            (Phase::Ttfb, t.ttfb),
            (Phase::Total, t.total),
        ]
        .into_iter()
        .filter_map(|(ph, d)| d.map(|d| (ph, d)))
        .collect(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testutil;

    #[test]
    fn a_gateway_error_below_500_fails_and_a_backend_4xx_passes() {
        let mut f = testutil::healthy();
        testutil::set_path(
            &mut f,
            "/",
            testutil::gateway(403, "ForbiddenException", "Forbidden"),
        );
        testutil::set_path(&mut f, "/pgw-probe", testutil::backend(404));
        let checks = of(&f);
        let invoke = |path: &str| {
            checks
                .iter()
                .filter(|c| c.kind == CheckKind::Invoke && c.path.as_deref() == Some(path))
                .map(|c| c.ok)
                .collect::<Vec<_>>()
        };
        assert_eq!(invoke("/"), [false, false]);
        assert_eq!(invoke("/pgw-probe"), [true, true]);
    }

    #[test]
    fn names_and_labels_of_a_healthy_run() {
        let checks = of(&testutil::healthy());
        let kinds: Vec<&str> = checks.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "resolve",
                "resolve_vpce_dns",
                "connect",
                "handshake",
                "connect",
                "handshake",
                "invoke",
                "invoke",
                "invoke",
                "invoke"
            ]
        );
        assert_eq!(checks[6].name, "invoke GET /test/");
        assert!(checks.iter().all(|c| c.ok));
    }
}
