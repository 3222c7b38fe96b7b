//! The doctor's job, start to end: validated config → probes → diagnosis → report.

use tokio::time::Instant;

use crate::config::Config;
use crate::finding::Layer;
use crate::probe::Prober;
use crate::report::{Check, Report};

/// Run one diagnosis of `cfg`, answering by `start + cfg.timeout`.
pub async fn diagnose(cfg: &Config, start: Instant) -> Result<Report, String> {
    // Leave 3% of the budget for building and printing the report.
    let deadline = start + cfg.timeout.mul_f64(0.97);
    let prober = Prober::new(cfg)?;
    let facts = prober.run(cfg, deadline).await;
    let findings = crate::diagnose::diagnose(&facts);
    let mut extra = Vec::new();
    if !cfg.no_aws {
        extra.push(Check {
            layer: Layer::ControlPlane,
            name: "aws control plane".into(),
            endpoint: cfg.aws_endpoint_url.clone(),
            ok: false,
            duration_seconds: None,
            detail: serde_json::json!({
                "reason": "not checked: this version reads no AWS APIs yet (use --no-aws to silence)"
            }),
        });
    }
    let mut report = Report::new(&facts, findings, extra);
    report.duration_seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
