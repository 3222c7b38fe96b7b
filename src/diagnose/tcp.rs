//! TCP rules: every endpoint ENI dropping SYNs (a security group), some ENIs failing while
//! others work (one AZ), or every ENI refusing (nothing there). They judge only the addresses
//! that are the endpoint's ENIs (see [`super::endpoint_enis`]): a connection to anything else
//! says nothing about the endpoint.

use crate::facts::{ConnectOutcome, EniFacts};
use crate::finding::{Finding, FindingId, Severity};

pub(super) fn rules(enis: &[&EniFacts]) -> Vec<Finding> {
    [
        sg_blocks_443(enis),
        eni_unreachable(enis),
        none_listening(enis),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn outcome(e: &EniFacts) -> ConnectOutcome {
    e.first()
        .map_or(ConnectOutcome::NotTried, |c| c.connect.clone())
}

pub(super) fn line(e: &EniFacts, port_phrase: &str) -> String {
    let o = outcome(e);
    let what = match &o {
        ConnectOutcome::Ok => "connected".to_string(),
        ConnectOutcome::Timeout => "connect timed out (SYN unanswered)".to_string(),
        ConnectOutcome::Refused => "connection refused (RST)".to_string(),
        ConnectOutcome::Unreachable => "unreachable (no route / ICMP)".to_string(),
        ConnectOutcome::NotTried => "not tried (deadline)".to_string(),
        ConnectOutcome::Error(s) => format!("error: {s}"),
    };
    format!("TCP {}{port_phrase}: {what}", e.addr)
}

/// Every ENI's connect timed out.
fn sg_blocks_443(enis: &[&EniFacts]) -> Option<Finding> {
    if enis.is_empty() || !enis.iter().all(|e| outcome(e) == ConnectOutcome::Timeout) {
        return None;
    }
    Some(
        Finding::new(
            FindingId::VpceSgBlocks443,
            enis.iter().map(|e| line(e, "")).collect(),
        )
        .alternatives(&[FindingId::VpceNotAvailable]),
    )
}

/// Some ENIs connect, others do not.
fn eni_unreachable(enis: &[&EniFacts]) -> Option<Finding> {
    let ok = enis
        .iter()
        .filter(|e| outcome(e) == ConnectOutcome::Ok)
        .count();
    let failing = enis
        .iter()
        .filter(|e| !matches!(outcome(e), ConnectOutcome::Ok | ConnectOutcome::NotTried))
        .count();
    if ok == 0 || failing == 0 {
        return None;
    }
    let mut ev: Vec<String> = enis.iter().map(|e| line(e, "")).collect();
    ev.push(format!(
        "{failing} of {} endpoint addresses fail: clients resolving to them fail",
        enis.len()
    ));
    Some(
        Finding::new(FindingId::VpceEniUnreachable, ev)
            .severity(Severity::Warning)
            .alternatives(&[FindingId::VpceSgBlocks443, FindingId::VpceNotAvailable]),
    )
}

/// No ENI connects and not all timed out: refusals or unreachable means nothing serves there.
fn none_listening(enis: &[&EniFacts]) -> Option<Finding> {
    let all_failed = !enis.is_empty()
        && enis.iter().all(|e| {
            matches!(
                outcome(e),
                ConnectOutcome::Refused
                    | ConnectOutcome::Unreachable
                    | ConnectOutcome::Timeout
                    | ConnectOutcome::Error(_)
            )
        });
    let all_timeout = enis.iter().all(|e| outcome(e) == ConnectOutcome::Timeout);
    if !all_failed || all_timeout {
        return None;
    }
    Some(
        Finding::new(
            FindingId::VpceNotAvailable,
            enis.iter().map(|e| line(e, "")).collect(),
        )
        .alternatives(&[FindingId::VpceSgBlocks443, FindingId::DnsPrivateDnsDisabled]),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::facts::ConnectOutcome;
    use crate::finding::FindingId;

    #[test]
    fn all_timeouts_is_sg() {
        let mut f = healthy();
        fail_eni(&mut f, 0, ConnectOutcome::Timeout);
        fail_eni(&mut f, 1, ConnectOutcome::Timeout);
        assert_eq!(ids(&f), vec![FindingId::VpceSgBlocks443]);
    }

    #[test]
    fn one_eni_down_is_partial() {
        let mut f = healthy();
        fail_eni(&mut f, 1, ConnectOutcome::Timeout);
        let d = super::super::diagnose(&f);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].id, FindingId::VpceEniUnreachable);
        assert!(d[0]
            .evidence
            .iter()
            .any(|e| e.contains(ENI_B) && e.contains("timed out")));
    }

    #[test]
    fn all_refused_is_not_available() {
        let mut f = healthy();
        fail_eni(&mut f, 0, ConnectOutcome::Refused);
        fail_eni(&mut f, 1, ConnectOutcome::Refused);
        assert_eq!(ids(&f), vec![FindingId::VpceNotAvailable]);
    }
}
