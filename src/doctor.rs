//! The doctor's job, start to end: validated config → probes → diagnosis → report.

use tokio::time::Instant;

use crate::aws::{gather, sdk::SdkInventory};
use crate::config::Config;
use crate::finding::Layer;
use crate::probe::Prober;
use crate::report::{Check, Report};

/// Run one diagnosis of `cfg`, answering by `start + cfg.timeout`.
pub async fn diagnose(cfg: &Config, start: Instant) -> Result<Report, String> {
    // Leave 3% of the budget for building and printing the report.
    let deadline = start + cfg.timeout.mul_f64(0.97);
    let prober = Prober::new(cfg)?;
    let control = async {
        if cfg.no_aws {
            return None;
        }
        let inv = SdkInventory::new(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles).await;
        Some(gather(&inv, &cfg.api_id, &cfg.stage, &cfg.region, deadline).await)
    };
    let (mut facts, control) = tokio::join!(prober.run(cfg, deadline), control);
    facts.control = control;
    let findings = crate::diagnose::diagnose(&facts);
    let mut extra = Vec::new();
    if let Some(cf) = &facts.control {
        for c in &cf.calls {
            extra.push(Check {
                layer: Layer::ControlPlane,
                name: c.operation.clone(),
                endpoint: cfg.aws_endpoint_url.clone(),
                ok: c.ok,
                duration_seconds: Some(c.duration.as_secs_f64()),
                detail: match &c.error {
                    Some(e) => serde_json::json!({"reason": format!("not checked: {e}")}),
                    None => serde_json::json!({}),
                },
            });
        }
    }
    let mut report = Report::new(&facts, findings, extra);
    report.duration_seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
