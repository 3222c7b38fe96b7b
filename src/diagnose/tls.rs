//! TLS rules: the certificate not covering the dialled name, an untrusted chain, an expired
//! certificate, or a failed handshake — on every connected ENI (critical) or some (warning).

use crate::facts::{ConnectOutcome, EniFacts, InvokeVia, TargetFacts, TlsFacts, TlsOutcome};
use crate::finding::{Finding, FindingId, Severity};

/// Whether `name` is one of the names an execute-api endpoint's own certificate carries
/// (`*.execute-api.{region}.amazonaws.com`, `*.execute-api.{region}.vpce.amazonaws.com`).
fn endpoint_default_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("*.execute-api.") && n.ends_with(".amazonaws.com")
}

/// Which id a certificate not covering the dialled name is. Through a private custom domain:
/// the endpoint presenting its own certificate does not serve the domain (no access association,
/// or the domain not available); another certificate is the domain's, and it does not cover it.
fn mismatch_id(target: &TargetFacts, t: &TlsFacts) -> FindingId {
    if target.invoke_via != InvokeVia::CustomDomain {
        FindingId::ClientTlsNameMismatch
    } else if !t.peer_names.is_empty() && t.peer_names.iter().all(|n| endpoint_default_name(n)) {
        FindingId::CustomDomainNotAssociated
    } else {
        FindingId::CustomDomainCertificateMismatch
    }
}

pub(super) fn rules(f: &[&EniFacts], target: &TargetFacts) -> Vec<Finding> {
    let offered: Vec<&str> = target.tls_versions.iter().map(|v| v.as_str()).collect();
    let version = rule(f, FindingId::ClientTlsVersionRejected, |o| {
        matches!(o, TlsOutcome::VersionRejected(_))
    })
    .map(|mut x| {
        x.evidence.push(format!(
            "pgw offered TLS {} only (--tls-version: the versions of the client it stands in for)",
            offered.join(" and ")
        ));
        x
    });
    [
        version,
        mismatch(f, target, FindingId::ClientTlsNameMismatch),
        mismatch(f, target, FindingId::CustomDomainNotAssociated)
            .map(|x| x.alternatives(&[FindingId::CustomDomainNotAvailable])),
        mismatch(f, target, FindingId::CustomDomainCertificateMismatch),
        rule(f, FindingId::TlsUntrustedCa, |o| {
            *o == TlsOutcome::UnknownCa
        }),
        rule(f, FindingId::TlsCertificateExpired, |o| {
            matches!(o, TlsOutcome::Expired | TlsOutcome::NotYetValid)
        }),
        rule(f, FindingId::TlsHandshakeFailed, |o| {
            matches!(
                o,
                TlsOutcome::Protocol(_) | TlsOutcome::Timeout | TlsOutcome::BadCertificate(_)
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Certificates not covering the dialled name, of the kind `id` ([`mismatch_id`]).
fn mismatch(f: &[&EniFacts], target: &TargetFacts, id: FindingId) -> Option<Finding> {
    rule_where(f, id, |t| {
        t.outcome == TlsOutcome::NameMismatch && mismatch_id(target, t) == id
    })
}

fn tls_of(e: &EniFacts) -> Option<&TlsFacts> {
    e.first()
        .filter(|c| c.connect == ConnectOutcome::Ok)
        .and_then(|c| c.tls.as_ref())
}

fn line(addr: std::net::SocketAddr, t: &TlsFacts) -> String {
    let names = if t.peer_names.is_empty() {
        "no certificate seen".to_string()
    } else {
        format!("certificate names: {}", t.peer_names.join(", "))
    };
    let detail = match &t.outcome {
        TlsOutcome::Protocol(s)
        | TlsOutcome::BadCertificate(s)
        | TlsOutcome::VersionRejected(s) => format!(" ({s})"),
        _ => String::new(),
    };
    format!(
        "TLS {addr} SNI {}: {}{detail}; {names}",
        t.server_name,
        t.outcome.as_str()
    )
}

fn rule(f: &[&EniFacts], id: FindingId, matches: impl Fn(&TlsOutcome) -> bool) -> Option<Finding> {
    rule_where(f, id, |t| matches(&t.outcome))
}

fn rule_where(
    f: &[&EniFacts],
    id: FindingId,
    matches: impl Fn(&TlsFacts) -> bool,
) -> Option<Finding> {
    let connected: Vec<(&EniFacts, &TlsFacts)> = f
        .iter()
        .filter_map(|e| tls_of(e).map(|t| (*e, t)))
        .collect();
    let hit: Vec<_> = connected.iter().filter(|(_, t)| matches(t)).collect();
    if hit.is_empty() {
        return None;
    }
    let mut ev: Vec<String> = hit.iter().map(|(e, t)| line(e.addr, t)).collect();
    if let Some((_, t)) = hit.first() {
        if id == FindingId::TlsCertificateExpired {
            if let Some(na) = t.not_after {
                ev.push(format!("certificate notAfter: {na} (unix seconds)"));
            }
        }
    }
    let finding = Finding::new(id, ev);
    Some(if hit.len() < connected.len() {
        finding.severity(Severity::Warning)
    } else {
        finding
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::facts::{Facts, HttpOutcome, TlsOutcome};
    use crate::finding::FindingId;

    fn set_tls(f: &mut Facts, o: TlsOutcome) {
        for e in &mut f.enis {
            for p in &mut e.paths {
                p.conn.tls.as_mut().unwrap().outcome = o.clone();
                p.http = HttpOutcome::NotSent;
            }
        }
    }

    #[test]
    fn name_mismatch() {
        let mut f = healthy();
        set_tls(&mut f, TlsOutcome::NameMismatch);
        let d = super::super::diagnose(&f);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].id, FindingId::ClientTlsNameMismatch);
        assert!(d[0].evidence[0].contains("*.execute-api.us-east-1.amazonaws.com"));
    }

    #[test]
    fn unknown_ca() {
        let mut f = healthy();
        set_tls(&mut f, TlsOutcome::UnknownCa);
        assert_eq!(ids(&f), vec![FindingId::TlsUntrustedCa]);
    }

    #[test]
    fn expired() {
        let mut f = healthy();
        set_tls(&mut f, TlsOutcome::Expired);
        assert_eq!(ids(&f), vec![FindingId::TlsCertificateExpired]);
    }

    #[test]
    fn no_version_in_common_names_what_was_offered() {
        let mut f = healthy();
        f.target.tls_versions = vec![crate::facts::TlsVersion::Tls12];
        set_tls(
            &mut f,
            TlsOutcome::VersionRejected("received fatal alert: ProtocolVersion".into()),
        );
        let d = super::super::diagnose(&f);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].id, FindingId::ClientTlsVersionRejected);
        assert!(d[0].evidence[0].contains("version_rejected (received fatal alert"));
        assert!(d[0]
            .evidence
            .last()
            .unwrap()
            .contains("offered TLS 1.2 only"));
    }

    #[test]
    fn handshake_timeout() {
        let mut f = healthy();
        set_tls(&mut f, TlsOutcome::Timeout);
        assert_eq!(ids(&f), vec![FindingId::TlsHandshakeFailed]);
    }
}
