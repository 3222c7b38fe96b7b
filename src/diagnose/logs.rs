//! The stage's execution logs: AWS's own words about a request API Gateway failed. A decisive
//! line confirms the cause it names (or names one the response cannot: the backend's
//! certificate, the integration's address); logging that is off, or lines not delivered yet, are
//! said once, never a failure of the diagnosis.

use crate::facts::control::{ControlFacts, ExecutionLogs, LogLookup};
use crate::finding::{Finding, FindingId};

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
    if let Some(first) = out.first_mut() {
        first.evidence.extend(pending);
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

#[cfg(test)]
mod tests {
    use super::*;

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
