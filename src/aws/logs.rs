//! The stage's execution logs, read after the probes: for each invoke API Gateway failed, the
//! lines it logged under that request's id (`x-amzn-RequestId`), once the stage's logging
//! settings say they exist.

use tokio::time::{Duration, Instant};

use super::{Inventory, Recorder};
use crate::facts::control::{ControlFacts, ExecutionLogs, LogLookup, Operation, RecentLogs};

/// One invoke to look up: its request id, its stage-relative path and when it was answered
/// (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct Failed {
    pub request_id: String,
    pub path: String,
    pub at_ms: i64,
    /// The answer: status, error type and message (what tells two failures apart).
    pub answer: String,
}

/// How far before and after the answer a request's lines are searched (API Gateway stamps them
/// with its own clock; delivery takes seconds, sometimes minutes).
const BEFORE_MS: i64 = 60_000;
const AFTER_MS: i64 = 300_000;
/// Between two searches for lines not delivered yet.
const RETRY: Duration = Duration::from_secs(1);
/// The most events read for one request (one request logs about 15 lines).
const PER_REQUEST: usize = 100;
/// The most failure lines read per search of a window (`--since`).
const PER_WINDOW: usize = 1000;
/// What a failure line of API Gateway's execution log contains: one search each (CloudWatch
/// Logs' quoted terms; `?` alternatives are not portable).
const FAILURE_TERMS: &[&str] = &[
    "Execution failed due to",
    "is not authorized to perform: execute-api:Invoke",
    "throttle limit exceeded",
];

/// `API-Gateway-Execution-Logs_{api}/{stage}`.
pub fn group(api_id: &str, stage: &str) -> String {
    format!("API-Gateway-Execution-Logs_{api_id}/{stage}")
}

/// Read the execution-log lines of `failed` into `cf.execution_logs` by `deadline`: first
/// whether the stage logs at all (its level from the stage read with `cf`, the account's
/// CloudWatch role), then each request's lines, searched again until they arrive or the deadline
/// passes, and with `since` the failures logged in that window. Calls are recorded in `cf.calls`.
#[allow(clippy::too_many_arguments)]
pub async fn read_execution_logs<I: Inventory>(
    inv: &I,
    cf: &mut ControlFacts,
    region: &str,
    api_id: &str,
    stage: &str,
    failed: &[Failed],
    since: Option<Duration>,
    deadline: Instant,
) {
    if failed.is_empty() && since.is_none() {
        return;
    }
    let rec = Recorder {
        calls: std::sync::Mutex::new(Vec::new()),
        deadline,
    };
    let group = group(api_id, stage);
    let mut logs = ExecutionLogs {
        group: group.clone(),
        disabled: None,
        lookups: Vec::new(),
        recent: None,
    };
    let level = cf.stage.as_ref().map(|s| s.logging_level.clone());
    let role = rec
        .call(Operation::GetAccount, inv.get_account_role())
        .await;
    logs.disabled = match (level, role) {
        (Some(l), _) if !matches!(l.as_deref(), Some("ERROR" | "INFO")) => Some(format!(
            "apigateway:GetStage {stage}: methodSettings[\"*/*\"].loggingLevel={}",
            l.as_deref().unwrap_or("unset (OFF)")
        )),
        (_, Some(None)) => Some(
            "apigateway:GetAccount: no cloudwatchRoleArn: API Gateway may not write to CloudWatch Logs in this region"
                .into(),
        ),
        _ => None,
    };
    if logs.disabled.is_none() {
        let searches = failed
            .iter()
            .map(|f| lines_of(&rec, inv, &group, f, region, deadline));
        let recent = async {
            match since {
                Some(w) => Some(recent(&rec, inv, &group, w).await),
                None => None,
            }
        };
        (logs.lookups, logs.recent) =
            tokio::join!(futures_util::future::join_all(searches), recent);
    }
    cf.calls.extend(rec.calls.into_inner().expect("poisoned"));
    cf.execution_logs = Some(logs);
}

/// The lines of one request: searched until some arrive or `deadline` passes.
async fn lines_of<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    group: &str,
    f: &Failed,
    region: &str,
    deadline: Instant,
) -> LogLookup {
    let pattern = format!("\"{}\"", f.request_id);
    let (start, end) = (f.at_ms - BEFORE_MS, f.at_ms + AFTER_MS);
    let prefix = format!("({}) ", f.request_id);
    let mut lines = Vec::new();
    let mut error = None;
    loop {
        let found = rec
            .try_call(
                Operation::FilterLogEvents,
                inv.filter_log_events(group, &pattern, start, end, PER_REQUEST),
            )
            .await;
        match found {
            Ok(events) => {
                lines = events
                    .iter()
                    .filter_map(|e| e.message.strip_prefix(&prefix))
                    .map(|m| m.trim_end().to_string())
                    .collect();
            }
            // Denied or unreachable: asking again will not help.
            Err(e) => {
                error = Some(e.message);
                break;
            }
        }
        if !lines.is_empty() || Instant::now() + RETRY >= deadline {
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    LogLookup {
        request_id: f.request_id.clone(),
        path: f.path.clone(),
        lines,
        error,
        command: format!(
            "aws logs filter-log-events --region {region} --log-group-name '{group}' --filter-pattern '\"{}\"' --start-time {start} --end-time {end} --query 'events[].message' --output text",
            f.request_id
        ),
    }
}

/// The failure lines logged in the last `since`: one bounded search per kind of failure line,
/// merged in time order.
async fn recent<I: Inventory>(rec: &Recorder, inv: &I, group: &str, since: Duration) -> RecentLogs {
    let end = now_ms();
    let start = end - since.as_millis() as i64;
    let searches = FAILURE_TERMS.iter().map(|t| {
        let pattern = format!("\"{t}\"");
        async move {
            rec.try_call(
                Operation::FilterLogEvents,
                inv.filter_log_events(group, &pattern, start, end, PER_WINDOW),
            )
            .await
        }
    });
    let mut out = RecentLogs {
        since,
        events: Vec::new(),
        truncated: false,
        error: None,
    };
    for r in futures_util::future::join_all(searches).await {
        match r {
            Ok(events) => {
                out.truncated |= events.len() >= PER_WINDOW;
                out.events.extend(events);
            }
            Err(e) => out.error = Some(e.message),
        }
    }
    out.events.sort_by_key(|e| e.timestamp_ms);
    out.events.dedup();
    out
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
