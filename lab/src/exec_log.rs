//! API Gateway's execution log for the lab's stage: the lines it writes for a request it failed
//! (`faults.execution_logs = "error"`), in AWS's format — each prefixed `(<x-amzn-RequestId>) ` —
//! delivered into moto's CloudWatch Logs group `API-Gateway-Execution-Logs_{api}/{stage}` after
//! `execution_log_delay_ms`, as AWS delivers them seconds later.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::Topology;

/// The lines of one failed request: `cause` is the decisive one.
pub(crate) fn lines(
    h: &HeaderMap,
    method: &str,
    path: &str,
    cause: &str,
    status: StatusCode,
) -> (String, Vec<String>) {
    let header = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (rid, apigw) = (header("x-amzn-RequestId"), header("x-amz-apigw-id"));
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (stage, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let resource = if rest.is_empty() { "/" } else { "/{proxy+}" };
    let lines = [
        format!("Extended Request Id: {apigw}"),
        format!("Starting execution for request: {rid}"),
        format!("HTTP Method: {method}, Resource Path: {resource}"),
        cause.to_string(),
        format!("Method completed with status: {}", status.as_u16()),
    ]
    .into_iter()
    .map(|l| format!("({rid}) {l}"))
    .collect();
    (stage.to_string(), lines)
}

/// Writes `lines` of `stage` into moto at `moto` after `delay`, in the background (a lost write
/// is a log AWS did not deliver: nothing else depends on it).
pub(crate) fn deliver(
    moto: SocketAddr,
    topo: &Topology,
    (stage, lines): (String, Vec<String>),
    delay: Duration,
) {
    let topo = topo.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let now = now_ms();
        let events = lines.into_iter().map(|m| (now, m)).collect();
        let post = move || put(moto, &topo, &stage, "pgw-lab", events);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(post).await {
            eprintln!("pgw-lab: execution log not delivered: {e}");
        }
    });
}

/// The current time in Unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Appends `events` (timestamp, message) to `stage`'s execution-log group, stream `stream`, in
/// moto at `moto` (blocking).
fn put(
    moto: SocketAddr,
    topo: &Topology,
    stage: &str,
    stream: &str,
    events: Vec<(u64, String)>,
) -> Result<(), String> {
    let doc = json!({
        "account": topo.account, "region": topo.region,
        "group": format!("API-Gateway-Execution-Logs_{}/{stage}", topo.api_id),
        "stream": stream,
        "events": events
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect::<Vec<_>>(),
    });
    crate::control::post_json(moto, "/_pgw/logs", &doc)
}

/// The failures `faults.execution_log_history` seeds, written into moto at `moto` (blocking): each
/// kind's line, `count` times, its requests spread evenly over the last 50 minutes.
pub(crate) fn write_history(
    moto: SocketAddr,
    topo: &Topology,
    faults: &crate::Faults,
) -> Result<(), String> {
    if faults.execution_logs != crate::ExecutionLogs::Error
        || faults.execution_log_history.is_empty()
    {
        return Ok(());
    }
    let now = now_ms();
    let span: u64 = 50 * 60 * 1000;
    let mut events = Vec::new();
    let mut n = 0u64;
    for (kind, count) in &faults.execution_log_history {
        let line = crate::HISTORY_KINDS
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, l)| *l)
            .unwrap_or_default();
        for i in 0..*count as u64 {
            n += 1;
            let at = now - span + (span * i) / u64::from((*count).max(1)) + n;
            let rid = format!("{:08x}-0000-4000-8000-{:012x}", n, at);
            events.push((at, format!("({rid}) {line}")));
        }
    }
    events.sort_by_key(|(t, _)| *t);
    put(moto, topo, &topo.stage, "pgw-lab-history", events)
}
