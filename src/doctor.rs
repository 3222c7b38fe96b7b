//! The doctor's job, start to end: validated config → (stage discovery) → probes → diagnosis →
//! report.

use std::io::IsTerminal;
use std::sync::Arc;

use tokio::time::Instant;

use crate::aws::{sdk::SdkInventory, AwsError, ErrorKind, Inventory};
use crate::config::{valid_stage, Config, ConfigError};
use crate::probe::{ProbeError, Prober};
use crate::progress::{Progress, Stage};
use crate::report::Report;
use crate::run;

/// Await `work`; with `p` (a terminal), from its second second on, keep one line on stderr saying
/// what it waits for and how long is left, cleared when it is done.
async fn show_progress<F: std::future::Future>(
    p: Option<&Progress>,
    deadline: Instant,
    work: F,
) -> F::Output {
    let Some(p) = p else {
        return work.await;
    };
    let mut work = std::pin::pin!(work);
    let first = Instant::now() + std::time::Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(first, std::time::Duration::from_millis(200));
    let mut shown = false;
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick() => {
                if let Some(line) = p.line(deadline.saturating_duration_since(Instant::now())) {
                    eprint!("\r\x1b[2K{line}");
                    shown = true;
                }
            }
        }
    };
    if shown {
        eprint!("\r\x1b[2K");
    }
    out
}

/// Why the doctor could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// A flag, the probe file, or stage discovery.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Trust roots or resolvers could not be set up.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// This host could not run the probes (out of file descriptors or local ports): no finding
    /// about the chain can be made.
    #[error("this host could not run the probes: {0}")]
    Host(String),
}

/// The whole doctor run, answering by `start + cfg.timeout`: discover the stage when none was
/// given (at most a third of the budget, like every phase), then one [`run`](crate::run).
/// The AWS clients built for discovery serve the diagnosis too.
pub async fn run(mut cfg: Config, start: Instant) -> Result<Report, DoctorError> {
    let mut inv = None;
    if cfg.stage.is_none() {
        let (stage, i) = discover_stage(&cfg, start + cfg.timeout / 3).await?;
        cfg.set_stage(stage);
        inv = Some(i);
    }
    diagnose_with(&cfg, start, inv).await
}

/// Find the stage of `cfg`'s API when none is configured: `apigateway:GetStages` by `deadline`.
/// Exactly one stage is the answer; none, several, or a failed call are a `--stage` error that
/// says why (exit code 2). Returns the stage and the AWS clients that found it.
pub async fn discover_stage(
    cfg: &Config,
    deadline: Instant,
) -> Result<(String, SdkInventory), ConfigError> {
    let read = async {
        let inv = SdkInventory::new(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles).await;
        let stages = inv.get_stages(&cfg.api_id).await;
        (inv, stages)
    };
    match tokio::time::timeout_at(deadline, read).await {
        Ok((inv, stages)) => choose_stage(&cfg.api_id, stages).map(|s| (s, inv)),
        Err(_) => {
            let late = Err(AwsError {
                kind: ErrorKind::Unreachable,
                message: "no answer in time".into(),
            });
            Err(choose_stage(&cfg.api_id, late).expect_err("a failed read never chooses"))
        }
    }
}

/// The stage to use given what GetStages answered for `api_id`.
pub fn choose_stage(
    api_id: &str,
    stages: Result<Vec<String>, AwsError>,
) -> Result<String, ConfigError> {
    let why = match stages {
        Ok(s) if s.len() == 1 && valid_stage(&s[0]) => return Ok(s[0].clone()),
        Ok(s) if s.is_empty() => format!("API {api_id} has no stage"),
        Ok(s) if s.len() == 1 => {
            format!("API {api_id} has one stage, {:?}, not a valid name", s[0])
        }
        Ok(s) => format!("API {api_id} has stages {}", s.join(", ")),
        Err(e) => format!(
            "cannot discover it: apigateway:GetStages {api_id} failed: {}",
            e.message.split_whitespace().collect::<Vec<_>>().join(" ")
        ),
    };
    Err(ConfigError {
        location: "--stage".into(),
        message: format!("required: {why}"),
    })
}

/// One diagnosis of `cfg`, answering by `start + cfg.timeout`, with AWS clients already built
/// (`None`: build them, unless `--no-aws`).
async fn diagnose_with(
    cfg: &Config,
    start: Instant,
    inv: Option<SdkInventory>,
) -> Result<Report, DoctorError> {
    // Leave 3% of the budget for building and printing the report.
    let deadline = start + cfg.timeout.mul_f64(0.97);
    // On a terminal, a run that waits says what for (stderr only).
    let progress = std::io::stderr()
        .is_terminal()
        .then(Arc::<Progress>::default);
    let mut prober = Prober::new(cfg)?;
    if let Some(p) = &progress {
        prober = prober.with_progress(p.clone());
    }
    // The AWS clients, kept for the execution logs of what failed.
    let mut clients = None;
    let control = async {
        if cfg.no_aws {
            return None;
        }
        let _waiting = crate::progress::enter(&progress, Stage::Aws);
        let inv = match inv {
            Some(inv) => inv,
            None => {
                SdkInventory::new(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles).await
            }
        };
        let cf = run::read_control_plane(&inv, cfg, deadline).await;
        clients = Some(inv);
        Some(cf)
    };
    let work = run::probe_and_diagnose(cfg, &prober, deadline, control);
    let (mut facts, mut findings) = show_progress(progress.as_deref(), deadline, work).await;
    if let Some(inv) = &clients {
        // `--logs-wait` extends the deadline for these alone.
        let logs_deadline = deadline + cfg.logs_wait;
        let _waiting = crate::progress::enter(&progress, Stage::Logs);
        let failed = run::failed_at_gateway(&facts);
        let work =
            run::add_execution_logs(inv, cfg, &failed, &mut facts, &mut findings, logs_deadline);
        show_progress(progress.as_deref(), logs_deadline, work).await;
    }
    if let Some(e) = facts.host_error {
        return Err(DoctorError::Host(e));
    }
    let mut report = Report::new(&facts, findings);
    report.duration_seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Result<Vec<String>, AwsError> {
        Ok(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn exactly_one_stage_is_used() {
        assert_eq!(
            choose_stage("3eqr0osoc3", names(&["test"])).unwrap(),
            "test"
        );
    }

    #[test]
    fn none_or_several_stages_require_the_flag() {
        let e = choose_stage("3eqr0osoc3", names(&["dev", "test"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--stage: required: API 3eqr0osoc3 has stages dev, test"
        );
        let e = choose_stage("3eqr0osoc3", names(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--stage: required: API 3eqr0osoc3 has no stage"
        );
        let e = choose_stage("3eqr0osoc3", names(&["a b"])).unwrap_err();
        assert!(e.to_string().contains("not a valid name"), "{e}");
    }

    #[test]
    fn a_failed_call_requires_the_flag_and_says_why_on_one_line() {
        let denied = Err(AwsError {
            kind: ErrorKind::AccessDenied,
            message: "AccessDeniedException: User: x is not\nauthorized".into(),
        });
        let e = choose_stage("3eqr0osoc3", denied).unwrap_err().to_string();
        assert_eq!(
            e,
            "--stage: required: cannot discover it: apigateway:GetStages 3eqr0osoc3 failed: \
             AccessDeniedException: User: x is not authorized"
        );
    }
}
