//! DNS rules: the invoke name missing, resolvers failing, the alias not associated, and the
//! private DNS name resolving somewhere other than the endpoint's ENIs.

use std::net::IpAddr;

use crate::facts::InvokeVia;
use crate::facts::{DnsFacts, DnsOutcome, Facts};
use crate::finding::{Finding, FindingId, Severity};

pub(super) fn rules(f: &Facts) -> Vec<Finding> {
    [
        private_dns_disabled(f),
        nxdomain(f),
        alias_not_associated(f),
        resolver_failure(f),
        unexpected_answer(f),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn line(d: &DnsFacts) -> String {
    match d.outcome {
        DnsOutcome::Answer => format!(
            "{} -> {} (resolver {})",
            d.name,
            d.addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            d.resolver
        ),
        ref o => {
            let detail = match o {
                DnsOutcome::Rcode(s) | DnsOutcome::Error(s) => format!(" ({s})"),
                _ => String::new(),
            };
            format!(
                "{} -> {}{} (resolver {})",
                d.name,
                o.as_str().to_uppercase(),
                detail,
                d.resolver
            )
        }
    }
}

fn no_name(d: &DnsFacts) -> bool {
    matches!(d.outcome, DnsOutcome::NxDomain | DnsOutcome::NoData)
}

fn failed(d: &DnsFacts) -> bool {
    !d.outcome.is_answer() && !no_name(d)
}

/// Private, shared and loopback addresses count as "inside a network"; the rest is public.
fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The private DNS name (or the private custom domain name) resolves, but to none of the
/// endpoint's ENIs (as pgw knows them from the endpoint's own name or the control plane), or,
/// knowing no ENI, to public addresses only.
fn private_dns_disabled(f: &Facts) -> Option<Finding> {
    let id = match f.target.invoke_via {
        InvokeVia::PrivateDns => FindingId::DnsPrivateDnsDisabled,
        InvokeVia::CustomDomain => FindingId::CustomDomainDnsNotEndpoint,
        _ => return None,
    };
    let answer = f.resolved();
    if answer.is_empty() {
        return None;
    }
    let enis = super::endpoint_addrs(f);
    let elsewhere = match &enis {
        None => answer.iter().all(|a| !is_private(a)),
        Some(enis) => answer.iter().all(|a| !enis.contains(a)),
    };
    if !elsewhere {
        return None;
    }
    let mut ev: Vec<String> = f
        .dns
        .iter()
        .filter(|d| d.outcome.is_answer())
        .map(line)
        .collect();
    if enis.is_none() {
        ev.push("every address is public, none inside the VPC".into());
    }
    ev.extend(
        f.reference_dns
            .iter()
            .filter(|d| d.outcome.is_answer())
            .map(|d| format!("endpoint ENIs: {}", line(d))),
    );
    if let Some(cp) = f.control.as_ref().and_then(|c| c.execute_api_addrs()) {
        ev.push(format!(
            "endpoint ENIs (ec2:DescribeNetworkInterfaces): {}",
            join(&cp)
        ));
    }
    if let Some(p) = f.invokes().find(|p| p.response().is_some()) {
        ev.push(super::invoke_line(&f.target.method, p));
    } else if let Some(e) = f.enis.first() {
        ev.push(super::tcp::line(e, ""));
    }
    let alternatives: &[FindingId] = match id {
        FindingId::DnsPrivateDnsDisabled => &[
            FindingId::DnsVpcDnsAttributesDisabled,
            FindingId::DnsNxdomain,
        ],
        _ => &[],
    };
    Some(Finding::new(id, ev).alternatives(alternatives))
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An answer longer than the cap on probed addresses: not an interface endpoint's.
fn unexpected_answer(f: &Facts) -> Option<Finding> {
    if f.unprobed.is_empty() {
        return None;
    }
    let total = f.resolved().len();
    let mut ev: Vec<String> = f
        .dns
        .iter()
        .filter(|d| d.outcome.is_answer())
        .map(|d| {
            format!(
                "{} -> {} addresses (resolver {})",
                d.name,
                d.addrs.len(),
                d.resolver
            )
        })
        .collect();
    ev.push(format!(
        "probed the first {} of {total} addresses; an interface endpoint has one ENI per AZ",
        total - f.unprobed.len()
    ));
    Some(
        Finding::new(FindingId::DnsUnexpectedAnswer, ev)
            .alternatives(&[FindingId::DnsPrivateDnsDisabled]),
    )
}

/// Every resolver says the invoke name does not exist (not for the alias route).
fn nxdomain(f: &Facts) -> Option<Finding> {
    if f.target.invoke_via == InvokeVia::Alias || f.dns.is_empty() || !f.dns.iter().all(no_name) {
        return None;
    }
    let ev = f.dns.iter().map(line).collect();
    let alternatives: &[FindingId] = match f.target.invoke_via {
        InvokeVia::PrivateDns => &[
            FindingId::DnsPrivateDnsDisabled,
            FindingId::DnsVpcDnsAttributesDisabled,
        ],
        // The domain's record in the private hosted zone (or the zone's association with the
        // VPC) is missing.
        InvokeVia::CustomDomain => {
            return Some(Finding::new(FindingId::CustomDomainDnsNotEndpoint, ev))
        }
        _ => &[FindingId::VpceNotAvailable],
    };
    Some(Finding::new(FindingId::DnsNxdomain, ev).alternatives(alternatives))
}

/// The `{api}-{vpce}` alias does not exist: the endpoint is not associated with the API.
fn alias_not_associated(f: &Facts) -> Option<Finding> {
    if f.target.invoke_via != InvokeVia::Alias || f.dns.is_empty() || !f.dns.iter().all(no_name) {
        return None;
    }
    Some(
        Finding::new(
            FindingId::DnsVpceAliasNotAssociated,
            f.dns.iter().map(line).collect(),
        )
        .alternatives(&[FindingId::DnsNxdomain]),
    )
}

/// Resolvers fail (SERVFAIL, REFUSED, timeout): critical when no resolver answered.
fn resolver_failure(f: &Facts) -> Option<Finding> {
    let bad: Vec<&DnsFacts> = f.dns.iter().filter(|d| failed(d)).collect();
    if bad.is_empty() {
        return None;
    }
    let any_answer = f.dns.iter().any(|d| d.outcome.is_answer());
    let mut ev: Vec<String> = bad.iter().map(|d| line(d)).collect();
    let finding = if any_answer {
        ev.extend(f.dns.iter().filter(|d| d.outcome.is_answer()).map(line));
        Finding::new(FindingId::DnsResolverFailure, ev).severity(Severity::Warning)
    } else {
        Finding::new(FindingId::DnsResolverFailure, ev)
    };
    Some(finding.alternatives(&[FindingId::DnsVpcDnsAttributesDisabled]))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::facts::DnsOutcome;
    use crate::facts::InvokeVia;
    use crate::finding::FindingId;

    fn set_dns(f: &mut crate::facts::Facts, o: DnsOutcome) {
        for d in &mut f.dns {
            d.outcome = o.clone();
            d.addrs.clear();
        }
    }

    #[test]
    fn healthy_has_no_dns_finding() {
        assert!(ids(&healthy()).is_empty());
    }

    #[test]
    fn nxdomain_hides_everything_above() {
        let mut f = healthy();
        set_dns(&mut f, DnsOutcome::NxDomain);
        assert_eq!(ids(&f), vec![FindingId::DnsNxdomain]);
    }

    #[test]
    fn servfail_is_resolver_failure() {
        let mut f = healthy();
        set_dns(&mut f, DnsOutcome::ServFail);
        let d = super::super::diagnose(&f);
        assert_eq!(d[0].id, FindingId::DnsResolverFailure);
        assert_eq!(d[0].severity, crate::finding::Severity::Critical);
        assert!(d[0].evidence[0].contains("SERVFAIL"), "{:?}", d[0].evidence);
    }

    #[test]
    fn one_failing_resolver_of_two_is_a_warning() {
        let mut f = healthy();
        let mut bad = f.dns[0].clone();
        bad.resolver = "10.0.0.3:53".into();
        bad.outcome = DnsOutcome::Timeout;
        bad.addrs.clear();
        f.dns.push(bad);
        let d = super::super::diagnose(&f);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].id, FindingId::DnsResolverFailure);
        assert_eq!(d[0].severity, crate::finding::Severity::Warning);
    }

    #[test]
    fn alias_nxdomain_is_not_associated() {
        let mut f = healthy();
        f.target.invoke_via = InvokeVia::Alias;
        set_dns(&mut f, DnsOutcome::NxDomain);
        assert_eq!(ids(&f), vec![FindingId::DnsVpceAliasNotAssociated]);
    }

    #[test]
    fn answer_elsewhere_than_the_endpoint_is_private_dns_disabled() {
        let mut f = healthy();
        f.dns[0].addrs = vec!["127.9.9.200".parse().unwrap()];
        set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
        assert_eq!(ids(&f), vec![FindingId::DnsPrivateDnsDisabled]);
    }

    #[test]
    fn public_answer_without_reference_is_private_dns_disabled() {
        let mut f = healthy();
        f.reference_dns.clear();
        f.dns[0].addrs = vec!["54.239.1.1".parse().unwrap()];
        assert_eq!(ids(&f), vec![FindingId::DnsPrivateDnsDisabled]);
        let mut g = healthy();
        g.reference_dns.clear();
        assert!(ids(&g).is_empty());
    }

    #[test]
    fn a_huge_answer_is_a_warning_and_probed_only_in_part() {
        let mut f = healthy();
        let many: Vec<std::net::IpAddr> = (0..100u8)
            .map(|i| std::net::IpAddr::from([10, 0, 9, i]))
            .collect();
        f.dns[0].addrs = many.clone();
        f.unprobed = many[crate::probe::MAX_ADDRESSES..].to_vec();
        let d = super::super::diagnose(&f);
        let w = d
            .iter()
            .find(|x| x.id == FindingId::DnsUnexpectedAnswer)
            .expect("warning");
        assert_eq!(w.severity, crate::finding::Severity::Warning);
        assert!(
            w.evidence.iter().any(|e| e.contains("first 16 of 100")),
            "{w:?}"
        );
    }

    mod properties {
        use super::super::super::testutil::*;
        use crate::facts::DnsOutcome;
        use crate::finding::Layer;
        use proptest::prelude::*;

        fn outcome() -> impl Strategy<Value = DnsOutcome> {
            prop_oneof![
                Just(DnsOutcome::Answer),
                Just(DnsOutcome::NxDomain),
                Just(DnsOutcome::NoData),
                Just(DnsOutcome::ServFail),
                Just(DnsOutcome::Refused),
                Just(DnsOutcome::Timeout),
                "[ -~]{0,20}".prop_map(DnsOutcome::Error),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any mix of resolver answers: no panic, one finding per id at most, and when no
            /// resolver gave an address, nothing above DNS is judged.
            #[test]
            fn any_answers_classify(
                answers in proptest::collection::vec(
                    (outcome(), proptest::collection::vec(any::<[u8; 4]>(), 0..6)),
                    1..4,
                )
            ) {
                let mut f = healthy();
                let template = f.dns[0].clone();
                f.dns = answers
                    .iter()
                    .map(|(o, addrs)| {
                        let mut d = template.clone();
                        d.outcome = o.clone();
                        d.addrs = if o.is_answer() {
                            addrs.iter().map(|a| std::net::IpAddr::from(*a)).collect()
                        } else {
                            Vec::new()
                        };
                        d
                    })
                    .collect();
                let d = super::super::super::diagnose(&f);
                let mut ids: Vec<_> = d.iter().map(|x| x.id).collect();
                ids.sort();
                let n = ids.len();
                ids.dedup();
                prop_assert_eq!(ids.len(), n, "{:?}", d);
                if f.resolved().is_empty() {
                    prop_assert!(d.iter().all(|x| x.layer == Layer::Dns), "{:?}", d);
                }
            }
        }
    }
}
