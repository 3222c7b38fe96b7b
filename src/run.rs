//! One run, as the doctor and every scheduled agent run make it: the data-plane probes and the
//! control-plane read side by side under one deadline, then the diagnosis.

use std::future::Future;

use tokio::time::Instant;

use crate::aws::{gather, Inventory};
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
    let mut cf = gather(inv, &cfg.api_id, cfg.stage_name(), &cfg.region, deadline).await;
    cf.endpoint = cfg.aws_endpoint_url.clone();
    cf
}

#[cfg(test)]
mod tests {
    use super::*;
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
