//! The public side (`--check-public`): a private API must refuse, from outside its endpoints,
//! with API Gateway's 403 Forbidden. Any other answer is `api_reachable_publicly`; no answer at
//! all says nothing (no egress, a firewall): no finding.

use crate::facts::Facts;
use crate::finding::{Finding, FindingId};

use super::invoke_line;

pub(super) fn rules(f: &Facts) -> Option<Finding> {
    let p = f.public.as_ref()?;
    if p.refused() != Some(false) {
        return None;
    }
    let mut ev = vec![format!(
        "public resolver {}: {} -> {:?}",
        p.dns.resolver, p.dns.name, p.dns.addrs
    )];
    ev.extend(
        p.paths
            .iter()
            .filter(|x| x.response().is_some())
            .map(|x| format!("public side: {}", invoke_line(&f.target.method, x))),
    );
    ev.push("a private API answers 403 ForbiddenException outside its endpoints".into());
    Some(Finding::new(FindingId::ApiReachablePublicly, ev))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::facts::{DnsFacts, DnsOutcome, PublicFacts};
    use crate::finding::FindingId;

    fn public(f: &mut crate::facts::Facts, answer: crate::facts::HttpOutcome) {
        let mut p = path("203.0.113.10", "/", answer);
        p.request_path = "/test/".into();
        f.public = Some(PublicFacts {
            dns: DnsFacts {
                name: "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
                resolver: "198.51.100.53:53".into(),
                outcome: DnsOutcome::Answer,
                addrs: vec!["203.0.113.10".parse().unwrap()],
                duration: std::time::Duration::from_millis(3),
            },
            paths: vec![p],
        });
    }

    #[test]
    fn a_private_api_refusing_publicly_is_no_finding() {
        let mut f = healthy();
        public(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
        assert!(super::super::diagnose(&f).is_empty());
    }

    #[test]
    fn an_answer_on_the_public_side_is_critical_and_makes_the_chain_unhealthy() {
        let mut f = healthy();
        public(&mut f, backend(200));
        let d = super::super::diagnose(&f);
        assert_eq!(ids(&f), vec![FindingId::ApiReachablePublicly]);
        assert!(d[0].is_problem());
    }

    #[test]
    fn no_answer_on_the_public_side_says_nothing() {
        let mut f = healthy();
        public(&mut f, crate::facts::HttpOutcome::Timeout);
        assert!(super::super::diagnose(&f).is_empty());
    }
}
