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
    let (account, region, api) = (
        topo.account.clone(),
        topo.region.clone(),
        topo.api_id.clone(),
    );
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let doc = json!({
            "account": account, "region": region,
            "group": format!("API-Gateway-Execution-Logs_{api}/{stage}"),
            "stream": "pgw-lab",
            "events": lines.iter().map(|m| json!({"timestamp": now, "message": m})).collect::<Vec<_>>(),
        });
        let post = move || crate::control::post_json(moto, "/_pgw/logs", &doc);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(post).await {
            eprintln!("pgw-lab: execution log not delivered: {e}");
        }
    });
}
