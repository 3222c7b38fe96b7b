//! Diagnosis: turn [`Facts`] into ranked [`Finding`]s, one small rule per finding id.
//!
//! Layers are judged in request order. A layer that nothing got through hides the symptoms it
//! causes further up (DNS fails ⇒ no TCP findings), so the first finding is the root cause.

mod api;
mod control;
mod dns;
pub mod policy;
mod tcp;
mod tls;

#[cfg(test)]
pub(crate) mod testutil;

use crate::facts::{Facts, HttpOutcome, PathFacts, ResponseSource};
use crate::finding::{Finding, CATALOG};

/// All findings for `facts`, ranked: root cause first; empty when healthy. Control-plane
/// findings that explain a data-plane symptom take its place, confirmed, with its evidence.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    let data = diagnose_data(facts);
    match &facts.control {
        Some(cf) => correlate(data, control::rules(facts, cf)),
        None => data,
    }
}

/// Merge confirmed control-plane findings into the ranked data-plane findings.
fn correlate(data: Vec<Finding>, control: Vec<control::Confirmed>) -> Vec<Finding> {
    // (rank, finding): a control finding inherits the best rank of the symptoms it explains.
    let mut slots: Vec<(usize, Option<Finding>)> = data
        .into_iter()
        .enumerate()
        .map(|(i, f)| (i, Some(f)))
        .collect();
    let mut extra: Vec<(usize, Finding)> = Vec::new();
    let tail = slots.len();
    for (n, c) in control.into_iter().enumerate() {
        let mut finding = c.finding;
        let mut rank = None;
        for (i, slot) in slots.iter_mut() {
            let Some(d) = slot else { continue };
            if d.id == finding.id || c.explains.contains(&d.id) {
                rank = Some(rank.map_or(*i, |r: usize| r.min(*i)));
                let explained = slot.take().expect("present");
                for e in explained.evidence {
                    if !finding.evidence.contains(&e) {
                        finding.evidence.push(e);
                    }
                }
            }
        }
        // Two control findings may explain the same symptom: the first keeps it, others follow.
        let rank = rank.or_else(|| {
            extra
                .iter()
                .find(|(_, f)| c.explains.contains(&f.id) || f.id == finding.id)
                .map(|(r, _)| *r)
        });
        if extra.iter().any(|(_, f)| f.id == finding.id) {
            continue;
        }
        extra.push((rank.unwrap_or(tail + n), finding));
    }
    let mut all: Vec<(usize, usize, Finding)> = slots
        .into_iter()
        .filter_map(|(i, f)| f.map(|f| (i, 1, f)))
        .chain(extra.into_iter().map(|(r, f)| (r, 0, f)))
        .collect();
    all.sort_by_key(|(r, tie, _)| (*r, *tie));
    all.into_iter().map(|(_, _, f)| f).collect()
}

/// Findings from the data plane alone, ranked.
pub fn diagnose_data(facts: &Facts) -> Vec<Finding> {
    let mut out = dns::rules(facts);
    let dns_blocks =
        facts.resolved().is_empty() || out.iter().any(|f| f.id == "dns_private_dns_disabled");
    if !dns_blocks {
        let tcp = tcp::rules(facts);
        out.extend(tcp);
        let connected = facts.enis.iter().any(|e| {
            e.first()
                .is_some_and(|c| c.connect == crate::facts::ConnectOutcome::Ok)
        });
        if connected {
            out.extend(tls::rules(facts));
            let established = facts
                .enis
                .iter()
                .any(|e| e.first().is_some_and(|c| c.established()));
            if established {
                out.extend(api::rules(facts));
            }
        }
    }
    rank(out)
}

/// Sort by severity, then layer, then catalog order (which follows request evaluation order).
fn rank(mut v: Vec<Finding>) -> Vec<Finding> {
    let order = |id: &str| {
        CATALOG
            .iter()
            .position(|e| e.id == id)
            .unwrap_or(usize::MAX)
    };
    v.sort_by_key(|f| (f.severity, f.layer, order(f.id)));
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
