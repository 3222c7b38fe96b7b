//! Diagnosis: turn [`Facts`] into ranked [`Finding`]s, one small rule per finding id.
//!
//! Layers are judged in request order. A layer that nothing got through hides the symptoms it
//! causes further up (DNS fails ⇒ no TCP findings), so the first finding is the root cause.

mod api;
mod control;
mod dns;
mod logs;
mod public;

pub use logs::recent_failures;

/// What the resource and endpoint policies decide for each probed path (the report's
/// `policy_by_path`), beside what the calls got.
pub fn policy_by_path(f: &Facts) -> Option<Vec<crate::finding::PathPolicy>> {
    control::policy_by_path(f)
}
pub mod policy;
mod reconcile;
mod tcp;
mod tls;

#[cfg(test)]
mod matrix;
#[cfg(test)]
pub(crate) mod testutil;

use std::net::IpAddr;

use crate::facts::{EniFacts, Facts, HttpOutcome, PathFacts, ResponseSource};
use crate::finding::{Finding, FindingId};

/// All findings for `facts`, ranked: root cause first; empty when healthy. With control-plane
/// facts, the two planes are reconciled ([`reconcile`]): a cause one plane refutes is never a
/// failure finding, and control-plane findings that explain a data-plane symptom take its place,
/// confirmed, with its evidence.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    // A run this host could not make (out of descriptors or ports) says nothing about the chain:
    // the caller reports the host's error instead.
    if facts.host_error.is_some() {
        return Vec::new();
    }
    let data = diagnose_data(facts);
    match &facts.control {
        Some(cf) => {
            let control = control::rules(facts, cf, &data);
            let mut out = reconcile::reconcile(facts, cf, data, control);
            logs::notes(cf, &facts.target.api_id, &facts.target.stage, &mut out);
            out
        }
        None => data,
    }
}

/// The execute-api endpoint ENI addresses pgw knows: the answer for the endpoint's own DNS name
/// (`--vpce-dns`) and, with the control plane, the ENIs of every execute-api endpoint it read.
/// `None` when it knows none.
pub(crate) fn endpoint_addrs(f: &Facts) -> Option<Vec<IpAddr>> {
    let mut v = f.reference_addrs();
    if let Some(cp) = f.control.as_ref().and_then(|c| c.execute_api_addrs()) {
        v.extend(cp);
    }
    v.sort();
    v.dedup();
    (!v.is_empty()).then_some(v)
}

/// The connections the TCP and TLS rules judge: those to the endpoint's ENIs when pgw knows them,
/// else every resolved address.
fn endpoint_enis(f: &Facts) -> Vec<&EniFacts> {
    match endpoint_addrs(f) {
        Some(known) => f
            .enis
            .iter()
            .filter(|e| known.contains(&e.addr.ip()))
            .collect(),
        None => f.enis.iter().collect(),
    }
}

/// Findings from the data plane alone, ranked.
pub fn diagnose_data(facts: &Facts) -> Vec<Finding> {
    let mut out = dns::rules(facts);
    let dns_blocks = facts.resolved().is_empty()
        || out.iter().any(|f| {
            matches!(
                f.id,
                FindingId::DnsPrivateDnsDisabled | FindingId::CustomDomainDnsNotEndpoint
            )
        });
    if !dns_blocks {
        let enis = endpoint_enis(facts);
        out.extend(tcp::rules(&enis));
        let connected = enis.iter().any(|e| {
            e.first()
                .is_some_and(|c| c.connect == crate::facts::ConnectOutcome::Ok)
        });
        if connected {
            out.extend(tls::rules(&enis, &facts.target));
            let established = enis
                .iter()
                .any(|e| e.first().is_some_and(|c| c.established()));
            if established {
                out.extend(api::rules(facts));
            }
        }
    }
    out.extend(public::rules(facts));
    rank(out)
}

/// Sort by severity, then layer, then catalog order (which follows request evaluation order).
fn rank(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by_key(|f| (f.severity, f.layer, f.id));
    v
}

/// What one invoke came to, for API and integration rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Reached the backend (any status below 500), or a non-error answer.
    Ok,
    /// 403 MissingAuthenticationTokenException.
    MissingToken,
    /// 403 ForbiddenException.
    Forbidden,
    /// 403 AccessDeniedException "... with an explicit deny".
    DeniedExplicit,
    /// 403 AccessDeniedException without explicit deny.
    DeniedImplicit,
    /// 403 InvalidSignatureException "Signature expired" / "Signature not yet current": clocks.
    SignatureExpired,
    /// 403 for the signature or the key: does not match, wrong scope, unknown or expired key.
    SignatureRejected,
    /// 429 TooManyRequestsException.
    Throttled,
    /// 504 "Endpoint request timed out".
    IntegrationTimeout,
    /// 504 "Network error communicating with endpoint".
    IntegrationNetwork,
    /// 500 InternalServerErrorException.
    IntegrationInternal,
    /// A 5xx from the backend itself.
    Backend5xx,
    /// Another API Gateway error.
    GatewayOther,
    /// No response before the deadline.
    NoResponse,
    /// The connection broke.
    ConnError,
    /// Never sent (TCP or TLS failed).
    NotSent,
}

pub(crate) fn classify(p: &PathFacts) -> Class {
    match &p.http {
        HttpOutcome::NotSent => Class::NotSent,
        HttpOutcome::Timeout => Class::NoResponse,
        HttpOutcome::Error(_) => Class::ConnError,
        HttpOutcome::Response(r) => {
            if r.source == ResponseSource::Backend {
                return if r.status >= 500 {
                    Class::Backend5xx
                } else {
                    Class::Ok
                };
            }
            let msg = r.message.as_deref().unwrap_or_default();
            match (r.status, r.error_type.as_deref().unwrap_or_default()) {
                (403, "MissingAuthenticationTokenException") => Class::MissingToken,
                (403, "ForbiddenException") => Class::Forbidden,
                (403, "InvalidSignatureException")
                    if msg.starts_with("Signature expired")
                        || msg.starts_with("Signature not yet current") =>
                {
                    Class::SignatureExpired
                }
                (
                    403,
                    "InvalidSignatureException"
                    | "IncompleteSignatureException"
                    | "UnrecognizedClientException"
                    | "ExpiredTokenException",
                ) => Class::SignatureRejected,
                (403, "AccessDeniedException")
                    if msg.contains("security token included in the request is") =>
                {
                    Class::SignatureRejected
                }
                (403, "AccessDeniedException") if msg.contains("explicit deny") => {
                    Class::DeniedExplicit
                }
                (403, "AccessDeniedException") => Class::DeniedImplicit,
                (429, _) => Class::Throttled,
                (504, _) if msg.contains("timed out") => Class::IntegrationTimeout,
                (504, _) => Class::IntegrationNetwork,
                (500, _) => Class::IntegrationInternal,
                (s, _) if s < 400 => Class::Ok,
                _ => Class::GatewayOther,
            }
        }
    }
}

/// One line of evidence for an invoke: `GET /test/ -> 403 MissingAuthenticationTokenException "…" (10.0.1.25:443)`.
pub(crate) fn invoke_line(method: &str, p: &PathFacts) -> String {
    let what = match &p.http {
        HttpOutcome::Response(r) => r.summary(),
        HttpOutcome::Timeout => "no response before the deadline".to_string(),
        HttpOutcome::Error(e) => format!("connection error: {e}"),
        HttpOutcome::NotSent => "not sent".to_string(),
    };
    let signed = if p.signed { " (SigV4-signed)" } else { "" };
    format!(
        "{method} {}{signed} -> {what} via {}",
        p.request_path, p.addr
    )
}
