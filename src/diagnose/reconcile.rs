//! The consistency pass between the two planes, in both directions, once both are known.
//!
//! - A control-plane finding predicts a data-plane symptom ([`Symptom`]): security group blocks
//!   443 ⇒ connects to its ENIs fail; VPC link FAILED ⇒ the paths behind it get no backend answer.
//!   When the probes saw the opposite, it is no failure: it becomes a `planes_disagree` note
//!   (severity info) naming both observations and the likely reasons.
//! - A data-plane guess that a control-plane state refutes gives way: `vpce_not_available` on
//!   an endpoint whose state is `available`, `vpce_sg_blocks_443` where the rules admit the
//!   address the endpoint sees. Its evidence moves under the cause that remains.
//!
//! Then the confirmed control-plane findings take the place of the symptoms they explain.

use std::net::IpAddr;

use crate::facts::control::{ControlFacts, EndpointState};
use crate::facts::{ConnectOutcome, Facts, PathFacts};
use crate::finding::{Finding, FindingId, Severity};

use super::control::{self, Confirmed, SgVerdict};
use super::{classify, invoke_line, Class};

/// A data-plane symptom a control-plane finding predicts.
#[derive(Debug, Clone)]
pub(super) enum Symptom {
    /// Connections to these addresses fail.
    ConnectsFail(Vec<IpAddr>),
    /// The invoke name resolves to none of these addresses (the endpoint's ENIs).
    NameNotOn(Vec<IpAddr>),
    /// The invoke name does not resolve at all.
    NameMissing,
    /// Calls on these paths (every path: `None`) stop at API Gateway (routing, authorization).
    StoppedAtGateway(Option<Vec<String>>),
    /// Unsigned calls stop at API Gateway.
    UnsignedRefused,
    /// Calls on these paths (every path: `None`) get no answer from the backend.
    IntegrationFails(Option<Vec<String>>),
    /// Every TLS handshake with the endpoint fails.
    HandshakesFail,
}

/// What a control-plane finding predicts, and why the planes may disagree when they do.
#[derive(Debug, Clone)]
pub(super) struct Prediction {
    pub symptom: Symptom,
    pub reasons: &'static [&'static str],
}

/// Every invoke: the main pass and the follow-ups (signed retry, header control).
fn all_invokes(f: &Facts) -> impl Iterator<Item = &PathFacts> {
    f.invokes()
        .chain(f.signed_retry.iter())
        .chain(f.header_control.iter())
}

/// Went past API Gateway's routing and authorization: the backend or the integration answered.
fn past_gateway(p: &PathFacts) -> bool {
    matches!(
        classify(p),
        Class::Ok
            | Class::Backend5xx
            | Class::IntegrationTimeout
            | Class::IntegrationNetwork
            | Class::IntegrationInternal
    )
}

fn on(paths: &Option<Vec<String>>, p: &PathFacts) -> bool {
    paths.as_ref().is_none_or(|v| v.contains(&p.path))
}

/// What the probes saw that contradicts `symptom`, as one line of evidence.
fn contradiction(f: &Facts, symptom: &Symptom) -> Option<String> {
    let method = &f.target.method;
    match symptom {
        Symptom::ConnectsFail(addrs) => f
            .enis
            .iter()
            .find(|e| {
                addrs.contains(&e.addr.ip())
                    && e.paths.iter().any(|p| p.conn.connect == ConnectOutcome::Ok)
            })
            .map(|e| format!("TCP {}: connected", e.addr)),
        Symptom::NameNotOn(addrs) => f
            .dns
            .iter()
            .find(|d| d.addrs.iter().any(|a| addrs.contains(a)))
            .map(|d| {
                let got: Vec<String> = d.addrs.iter().map(|a| a.to_string()).collect();
                format!(
                    "{} -> {} (resolver {}): the endpoint's ENIs",
                    d.name,
                    got.join(", "),
                    d.resolver
                )
            }),
        Symptom::NameMissing => f.dns.iter().find(|d| d.outcome.is_answer()).map(|d| {
            let got: Vec<String> = d.addrs.iter().map(|a| a.to_string()).collect();
            format!("{} -> {} (resolver {})", d.name, got.join(", "), d.resolver)
        }),
        Symptom::StoppedAtGateway(paths) => all_invokes(f)
            .find(|p| on(paths, p) && past_gateway(p))
            .map(|p| invoke_line(method, p)),
        Symptom::UnsignedRefused => all_invokes(f)
            .find(|p| !p.signed && past_gateway(p))
            .map(|p| invoke_line(method, p)),
        Symptom::IntegrationFails(paths) => all_invokes(f)
            .find(|p| on(paths, p) && matches!(classify(p), Class::Ok | Class::Backend5xx))
            .map(|p| invoke_line(method, p)),
        Symptom::HandshakesFail => f.invokes().find_map(|p| {
            let t = p.conn.tls.as_ref()?;
            (t.outcome == crate::facts::TlsOutcome::Ok).then(|| {
                format!(
                    "TLS {} SNI {}: handshake completed ({})",
                    p.addr,
                    t.server_name,
                    t.version.as_deref().unwrap_or("version unknown")
                )
            })
        }),
    }
}

/// The note that replaces a control-plane finding the probes contradict.
fn disagreement(c: &Confirmed, seen: String, reasons: &[&str]) -> Finding {
    let mut ev = vec![format!(
        "control plane: {} — {}",
        c.finding.id, c.finding.title
    )];
    ev.extend(c.finding.evidence.iter().cloned());
    ev.push(format!("data plane: {seen}"));
    ev.extend(reasons.iter().map(|r| format!("likely: {r}")));
    Finding::new(FindingId::PlanesDisagree, ev).alternatives(&[c.finding.id])
}

/// Reconcile the ranked data-plane findings `data` with the control-plane findings `control`.
pub(super) fn reconcile(
    f: &Facts,
    cf: &ControlFacts,
    data: Vec<Finding>,
    control: Vec<Confirmed>,
) -> Vec<Finding> {
    let mut notes = Vec::new();
    let mut kept = Vec::new();
    for c in control {
        let seen = c
            .predicts
            .as_ref()
            .and_then(|p| contradiction(f, &p.symptom).map(|s| (s, p.reasons)));
        match seen {
            Some((seen, reasons)) => notes.push(disagreement(&c, seen, reasons)),
            None => kept.push(c),
        }
    }
    let data = data.into_iter().map(|d| refute(f, cf, d)).collect();
    let mut out = correlate(data, kept);
    out.extend(notes);
    out
}

/// A data-plane guess checked against the control plane: refuted ones give way to what is left.
fn refute(f: &Facts, cf: &ControlFacts, mut d: Finding) -> Finding {
    let ep = control::client_endpoint(f, cf);
    match (d.id, ep) {
        // Every connect failed, yet the endpoint is available: something between this host and
        // the ENIs refuses or drops.
        (FindingId::VpceNotAvailable, Some(e)) if e.state() == EndpointState::Available => {
            let mut ev = d.evidence;
            ev.push(format!(
                "ec2:DescribeVpcEndpoints {}: State={}: the endpoint is up",
                e.id, e.state
            ));
            Finding::new(FindingId::VpceEniUnreachable, ev).severity(Severity::Critical)
        }
        // Every connect timed out, yet a rule admits the address the endpoint sees: the drop is
        // elsewhere.
        (FindingId::VpceSgBlocks443, Some(e)) => match control::sg_verdict(f, cf, e) {
            SgVerdict::Admits(ip) => {
                let mut ev = d.evidence;
                ev.push(format!(
                    "a rule of {} admits TCP 443 from {ip}: the SYNs are dropped elsewhere (the subnets' network ACLs, this host's egress rules, routes)",
                    e.security_groups.join(", ")
                ));
                Finding::new(FindingId::VpceEniUnreachable, ev).severity(Severity::Critical)
            }
            _ => d,
        },
        // The name resolves elsewhere though private DNS is on: not the endpoint's setting.
        (FindingId::DnsPrivateDnsDisabled, Some(e)) if e.private_dns_enabled => {
            let vpc_dns_on = e
                .vpc_id
                .as_ref()
                .and_then(|v| cf.vpc_dns.get(v))
                .is_some_and(|(s, h)| *s && *h);
            if vpc_dns_on {
                d.evidence.push(format!(
                    "ec2:DescribeVpcEndpoints {}: PrivateDnsEnabled=true and the VPC's DNS attributes are on: the answer comes from elsewhere — a private hosted zone overriding the API's name, or a resolver outside the VPC",
                    e.id
                ));
            }
            d
        }
        _ => d,
    }
}

/// Merge confirmed control-plane findings into the ranked data-plane findings.
fn correlate(data: Vec<Finding>, control: Vec<Confirmed>) -> Vec<Finding> {
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
