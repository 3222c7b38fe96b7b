//! The stage's execution logs: AWS's own words about a request API Gateway failed. A decisive
//! line confirms the cause it names (or names one the response cannot: the backend's
//! certificate, the integration's address); logging that is off, or lines not delivered yet, are
//! said once, never a failure of the diagnosis.

use crate::facts::control::{ControlFacts, ExecutionLogs, LogLookup};
use crate::facts::Facts;
use crate::finding::{Finding, FindingId, RecentFailure};

use super::control::Confirmed;

/// The cause a line names: the first of these patterns it contains (after `(<request id>) `).
const LINES: &[(&str, FindingId)] = &[
    (
        "does not match the certificate subject",
        FindingId::IntegrationTlsHostnameMismatch,
    ),
    (
        "PKIX path building failed",
        FindingId::IntegrationBackendCertUntrusted,
    ),
    (
        "unable to find valid certification path",
        FindingId::IntegrationBackendCertUntrusted,
    ),
    (
        "validity check failed",
        FindingId::IntegrationBackendCertExpired,
    ),
    (
        "General SSLEngine problem",
        FindingId::IntegrationBackendCertUntrusted,
    ),
    (
        "Invalid endpoint address",
        FindingId::IntegrationEndpointAddressInvalid,
    ),
    (
        "There was an internal error while executing your request",
        FindingId::IntegrationInternalError,
    ),
    ("an vpc link error", FindingId::IntegrationInternalError),
    (
        "network error communicating with endpoint",
        FindingId::IntegrationNetworkError,
    ),
    (
        "Execution failed due to a timeout error",
        FindingId::IntegrationTimeout,
    ),
    ("with an explicit deny", FindingId::ResourcePolicyDeniesVpce),
    (
        "is not authorized to perform: execute-api:Invoke",
        FindingId::ResourcePolicyMissing,
    ),
    ("throttle limit exceeded", FindingId::Throttled),
];

/// The cause `line` names, if any.
pub(super) fn cause_of(line: &str) -> Option<FindingId> {
    LINES
        .iter()
        .find(|(p, _)| line.contains(p))
        .map(|(_, id)| *id)
}

/// A request's decisive line and the cause it names.
fn decisive(l: &LogLookup) -> Option<(FindingId, &str)> {
    l.lines
        .iter()
        .find_map(|line| cause_of(line).map(|id| (id, line.as_str())))
}

/// One line of evidence quoting AWS.
fn quote(l: &LogLookup, line: &str) -> String {
    format!(
        "execution log of {} (x-amzn-RequestId {}): \"{line}\"",
        l.path, l.request_id
    )
}

/// The causes the execution logs name. A cause another control-plane finding already names (or
/// explains) gets the quote as evidence; else it becomes a confirmed finding of its own, first
/// when it names what the response alone cannot.
pub(super) fn rules(cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    let Some(logs) = &cf.execution_logs else {
        return;
    };
    for l in &logs.lookups {
        let Some((id, line)) = decisive(l) else {
            continue;
        };
        let ev = quote(l, line);
        if let Some(c) = out
            .iter_mut()
            .find(|c| c.finding.id == id || c.explains.contains(&id))
        {
            if !c.finding.evidence.contains(&ev) {
                c.finding.evidence.push(ev);
            }
            continue;
        }
        let explains: &'static [FindingId] = match id {
            FindingId::IntegrationTlsHostnameMismatch
            | FindingId::IntegrationBackendCertUntrusted
            | FindingId::IntegrationBackendCertExpired
            | FindingId::IntegrationEndpointAddressInvalid => {
                &[FindingId::IntegrationInternalError]
            }
            _ => &[],
        };
        let c = super::control::confirmed_by_log(id, vec![ev], explains);
        if explains.is_empty() {
            out.push(c);
        } else {
            out.insert(0, c);
        }
    }
}

/// What the logs could not say: logging off (one info finding with the commands that turn it
/// on), and requests whose lines were not delivered in time (evidence on the first finding, with
/// the command that finds them later).
pub(super) fn notes(cf: &ControlFacts, api_id: &str, stage: &str, out: &mut Vec<Finding>) {
    let Some(logs) = &cf.execution_logs else {
        return;
    };
    if let Some(why) = &logs.disabled {
        out.push(disabled(logs, why, api_id, stage));
        return;
    }
    let pending: Vec<String> = logs
        .lookups
        .iter()
        .filter(|l| l.lines.is_empty())
        .map(|l| match &l.error {
            Some(e) => format!(
                "execution log of {} (x-amzn-RequestId {}): not read ({e}); by hand: {}",
                l.path, l.request_id, l.command
            ),
            None => format!(
                "execution log of {} (x-amzn-RequestId {}): not delivered yet; later: {}",
                l.path, l.request_id, l.command
            ),
        })
        .collect();
    let unread = logs
        .recent
        .as_ref()
        .and_then(|r| r.error.as_ref())
        .map(|e| format!("recent failures in {}: not read ({e})", logs.group));
    if let Some(first) = out.first_mut() {
        first.evidence.extend(pending);
        first.evidence.extend(unread);
    }
}

fn disabled(logs: &ExecutionLogs, why: &str, api_id: &str, stage: &str) -> Finding {
    Finding::new(
        FindingId::ExecutionLoggingDisabled,
        vec![
            why.to_string(),
            format!("no execution log in {} to quote", logs.group),
            format!(
                "turn it on: aws apigateway update-stage --rest-api-id {api_id} --stage-name {stage} --patch-operations op=replace,path=/*/*/logging/loglevel,value=ERROR"
            ),
            "and once per region: aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=<role with AmazonAPIGatewayPushToCloudWatchLogs>".into(),
        ],
    )
}

/// The failures the stage logged in the `--since` window, grouped by the cause their line names
/// (lines pgw has no id for, by their text), counted, with the first and last time and one
/// request each; a cause the live diagnosis (`findings`) names comes first, then the most
/// frequent. `None` without a window.
pub fn recent_failures(f: &Facts, findings: &[Finding]) -> Option<Vec<RecentFailure>> {
    let recent = f
        .control
        .as_ref()?
        .execution_logs
        .as_ref()?
        .recent
        .as_ref()?;
    // A search that failed leaves no count to trust: said in the findings instead (`notes`).
    if recent.error.is_some() {
        return None;
    }
    let mut out: Vec<RecentFailure> = Vec::new();
    for e in &recent.events {
        let (rid, line) = match e.message.strip_prefix('(').and_then(|m| m.split_once(") ")) {
            Some((rid, line)) => (rid, line.trim_end()),
            None => ("", e.message.trim_end()),
        };
        let id = cause_of(line);
        let at = rfc3339(e.timestamp_ms);
        let same = |r: &RecentFailure| match id {
            Some(_) => r.id == id,
            None => r.id.is_none() && r.line == line,
        };
        match out.iter_mut().find(|r| same(r)) {
            Some(r) => {
                r.count += 1;
                r.last_seen = at;
            }
            None => out.push(RecentFailure {
                id,
                line: line.to_string(),
                count: 1,
                first_seen: at.clone(),
                last_seen: at,
                example_request_id: rid.to_string(),
                in_diagnosis: id.is_some_and(|i| findings.iter().any(|x| x.id == i)),
                at_least: recent.truncated,
            }),
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse((r.in_diagnosis, r.count)));
    Some(out)
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_failures_group_count_and_rank_what_the_diagnosis_names_first() {
        use crate::facts::control::{LogEvent, RecentLogs};
        let mut f = crate::diagnose::testutil::healthy_cp();
        let ev = |ms: i64, rid: &str, line: &str| LogEvent {
            timestamp_ms: ms,
            message: format!("({rid}) {line}"),
        };
        let mut events = Vec::new();
        for i in 0..40 {
            events.push(ev(
                1_000 * i,
                &format!("n{i}"),
                "Execution failed due to a network error communicating with endpoint",
            ));
        }
        for i in 0..3 {
            events.push(ev(50_000 + i, &format!("h{i}"), "Execution failed due to configuration error: Host name 'a' does not match the certificate subject provided by the peer (CN=b)"));
        }
        events.push(ev(60_000, "d0", "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn with an explicit deny"));
        events.push(ev(61_000, "x0", "Execution failed due to something new"));
        f.control.as_mut().unwrap().execution_logs = Some(ExecutionLogs {
            group: "g".into(),
            disabled: None,
            lookups: vec![],
            recent: Some(RecentLogs {
                since: std::time::Duration::from_secs(3600),
                events,
                truncated: false,
                error: None,
            }),
        });
        let live = vec![Finding::new(
            FindingId::IntegrationTlsHostnameMismatch,
            vec![],
        )];
        let r = recent_failures(&f, &live).unwrap();
        let got: Vec<(Option<FindingId>, u64, bool)> =
            r.iter().map(|x| (x.id, x.count, x.in_diagnosis)).collect();
        assert_eq!(
            got,
            [
                (Some(FindingId::IntegrationTlsHostnameMismatch), 3, true),
                (Some(FindingId::IntegrationNetworkError), 40, false),
                (Some(FindingId::ResourcePolicyDeniesVpce), 1, false),
                (None, 1, false),
            ]
        );
        assert_eq!(r[1].example_request_id, "n0");
        assert_eq!(r[1].first_seen, "1970-01-01T00:00:00Z");
        assert_eq!(r[1].last_seen, "1970-01-01T00:00:39Z");
        assert_eq!(r[3].line, "Execution failed due to something new");
    }

    #[test]
    fn aws_lines_name_their_causes() {
        let cases = [
            ("Execution failed due to configuration error: Host name 'nlb-b.internal' does not match the certificate subject provided by the peer (CN=orders.example.com)", FindingId::IntegrationTlsHostnameMismatch),
            ("Execution failed due to configuration error: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", FindingId::IntegrationBackendCertUntrusted),
            ("Execution failed due to configuration error: PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed", FindingId::IntegrationBackendCertExpired),
            ("Execution failed due to configuration error: Invalid endpoint address", FindingId::IntegrationEndpointAddressInvalid),
            ("Execution failed due to configuration error: There was an internal error while executing your request", FindingId::IntegrationInternalError),
            ("Execution failed due to a network error communicating with endpoint", FindingId::IntegrationNetworkError),
            ("Execution failed due to a timeout error", FindingId::IntegrationTimeout),
            ("User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/ with an explicit deny", FindingId::ResourcePolicyDeniesVpce),
            ("User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/", FindingId::ResourcePolicyMissing),
            ("Key throttle limit exceeded for RestApi 3eqr0osoc3, Stage test, Resource /, HttpMethod GET. Limit: 1.00 Burst: 1", FindingId::Throttled),
        ];
        for (line, id) in cases {
            assert_eq!(cause_of(line), Some(id), "{line}");
        }
        for line in [
            "Starting execution for request: 3c1f",
            "Method completed with status: 500",
            "Sending request to http://nlb-a.internal/",
        ] {
            assert_eq!(cause_of(line), None, "{line}");
        }
    }
}
