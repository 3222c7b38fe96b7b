//! One run, as the doctor and every scheduled agent run make it: the data-plane probes and the
//! control-plane read side by side under one deadline, then the diagnosis.

use std::future::Future;

use tokio::time::Instant;

use crate::aws::logs::{read_execution_logs, Failed};
use crate::aws::{gather, DomainQuery, Inventory};
use crate::config::Config;
use crate::facts::control::ControlFacts;
use crate::facts::Facts;
use crate::finding::Finding;
use crate::probe::Prober;

/// One run, as the doctor and every agent run make it: the data-plane probes of `cfg` and
/// `control` — the control-plane read (`None` without AWS) — side by side, both bounded by
/// `deadline`, then the diagnosis. The doctor reads AWS in `control`; the agent reads it or
/// passes its cached read.
pub async fn probe_and_diagnose(
    cfg: &Config,
    prober: &Prober,
    deadline: Instant,
    control: impl Future<Output = Option<ControlFacts>>,
) -> (Facts, Vec<Finding>) {
    let (mut facts, control) = tokio::join!(prober.run(cfg, deadline), control);
    facts.control = control;
    let findings = crate::diagnose::diagnose(&facts);
    (facts, findings)
}

/// Read `cfg`'s chain from AWS with `inv`, by `deadline`.
pub async fn read_control_plane<I: Inventory>(
    inv: &I,
    cfg: &Config,
    deadline: Instant,
) -> ControlFacts {
    let domain = cfg.domain_name.as_deref().map(|name| DomainQuery {
        name,
        id: cfg.domain_name_id.as_deref(),
    });
    let stage = cfg.stage_name();
    let mut cf = gather(inv, &cfg.api_id, stage, &cfg.region, domain, deadline).await;
    cf.endpoint = cfg.aws_endpoint_url.clone();
    cf
}

/// The invokes API Gateway failed whose execution log may say why: one per distinct answer
/// (status, error type, message) with an `x-amzn-RequestId`. Not a 403 Missing Authentication
/// Token (API Gateway logs none for a path it does not know) nor Forbidden (a request it could
/// not tie to the API and stage: another API, the public front end, a web ACL), nor a backend's
/// own answer.
pub fn failed_at_gateway(f: &Facts) -> Vec<Failed> {
    let now_ms = crate::aws::logs::now_ms();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for p in f.invokes().chain(&f.large) {
        let Some(r) = p.response() else { continue };
        let (Some(kind), Some(id)) = (&r.error_type, &r.request_id) else {
            continue;
        };
        if r.status < 400
            || kind == "MissingAuthenticationTokenException"
            || kind == "ForbiddenException"
        {
            continue;
        }
        let answer = format!(
            "{} {kind} {}",
            r.status,
            r.message.as_deref().unwrap_or_default()
        );
        if seen.contains(&answer) {
            continue;
        }
        seen.push(answer.clone());
        out.push(Failed {
            request_id: id.clone(),
            path: format!("{} {}", f.target.method, p.request_path),
            at_ms: now_ms,
            answer,
        });
    }
    out
}

/// After a run with the control plane: read the execution logs of the invokes API Gateway
/// failed (`failed`: [`failed_at_gateway`]), and with `--since` the failures logged in that window (by `deadline`), and diagnose
/// again with them. Nothing when nothing failed there and no window is asked for.
pub async fn add_execution_logs<I: Inventory>(
    inv: &I,
    cfg: &Config,
    failed: &[Failed],
    facts: &mut Facts,
    findings: &mut Vec<Finding>,
    deadline: Instant,
) {
    let wanted = !failed.is_empty() || cfg.since.is_some();
    let Some(cf) = facts.control.as_mut().filter(|_| wanted) else {
        return;
    };
    let stage = cfg.stage_name();
    let (region, api) = (&cfg.region, &cfg.api_id);
    read_execution_logs(inv, cf, region, api, stage, failed, cfg.since, deadline).await;
    *findings = crate::diagnose::diagnose(facts);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only API Gateway's own failures that it logs are looked up, one per distinct answer: a
    /// healthy chain costs no AWS call.
    #[test]
    fn what_failed_at_gateway_is_looked_up_once_per_answer() {
        use crate::diagnose::testutil::{gateway, healthy, set_all, set_path};
        let mut f = healthy();
        assert!(failed_at_gateway(&f).is_empty());
        let with_id = |mut h: crate::facts::HttpOutcome, id: &str| {
            if let crate::facts::HttpOutcome::Response(r) = &mut h {
                r.request_id = Some(id.into());
            }
            h
        };
        set_all(
            &mut f,
            with_id(
                gateway(500, "InternalServerErrorException", "Internal server error"),
                "r1",
            ),
        );
        set_path(
            &mut f,
            "/pgw-probe",
            with_id(
                gateway(
                    504,
                    "InternalServerErrorException",
                    "Endpoint request timed out",
                ),
                "r2",
            ),
        );
        let ids: Vec<String> = failed_at_gateway(&f)
            .into_iter()
            .map(|x| x.request_id)
            .collect();
        assert_eq!(ids, ["r1", "r2"]);
        set_all(
            &mut f,
            with_id(
                gateway(
                    403,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ),
                "r3",
            ),
        );
        assert!(failed_at_gateway(&f).is_empty());
    }
    use crate::config::{build, Overrides};
    use crate::finding::FindingId;
    use std::time::Duration;

    /// The control read starts with the probes, not after them, and its facts are diagnosed.
    #[tokio::test]
    async fn probes_and_the_control_read_run_side_by_side() {
        // A resolver that never answers: the DNS phase takes its whole timeout.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let o = Overrides {
            api_id: Some("3eqr0osoc3".into()),
            region: Some("us-east-1".into()),
            stage: Some("test".into()),
            resolvers: vec![silent.local_addr().unwrap().to_string()],
            timeout: Some("1500ms".into()),
            ..Default::default()
        };
        let cfg = build(None, &o, None).unwrap();
        let prober = Prober::new(&cfg).unwrap();
        let start = Instant::now();
        let mut control_started = None;
        let control = async {
            control_started = Some(start.elapsed());
            Some(ControlFacts {
                api_not_found: true,
                ..Default::default()
            })
        };
        let (facts, findings) =
            probe_and_diagnose(&cfg, &prober, start + cfg.timeout, control).await;
        let probed = start.elapsed();
        assert!(probed >= Duration::from_millis(300), "{probed:?}");
        let control_started = control_started.unwrap();
        assert!(
            control_started < Duration::from_millis(100),
            "{control_started:?}"
        );
        assert!(facts.control.as_ref().is_some_and(|c| c.api_not_found));
        let ids: Vec<FindingId> = findings.iter().map(|f| f.id).collect();
        assert!(ids.contains(&FindingId::DnsResolverFailure), "{ids:?}");
        assert!(ids.contains(&FindingId::ApiNotPrivateOrWrongApi), "{ids:?}");
    }
}
