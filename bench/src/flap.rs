//! Labs whose faults flap: the soak benchmark's targets. One lab per fault kind, each started
//! healthy from the seed topology; every lab but `none` switches its fault on and off at random
//! times (a seeded schedule). Prints one JSON line per lab (`{"lab", "args", "env"}`: its
//! pgw-doctor arguments and environment), then `ready`, then one line per switch
//! (`{"t": unix seconds, "lab", "fault": true|false}`), until SIGTERM / Ctrl-C.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgw_lab::{DnsFault, Faults, IntegrationFault, Lab, PolicyFault, Scenario};
use tokio::signal::unix::{signal, SignalKind};

#[derive(clap::Args)]
pub struct FlapArgs {
    /// Run every lab with its AWS control plane (moto).
    #[arg(long)]
    control_plane: bool,
    /// Shortest time a fault stays on or off, seconds.
    #[arg(long, default_value_t = 20)]
    min_secs: u64,
    /// Longest time a fault stays on or off, seconds.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
    /// Seed of the switching schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The labs: `none` never has a fault; each other one flaps its own.
const KINDS: [&str; 5] = [
    "none",
    "syn_drop",
    "backend_timeout",
    "policy_deny",
    "dns_servfail",
];

/// The seed topology's faults with `kind` switched on.
fn with_fault(kind: &str, healthy: &Faults, azs: &[String]) -> Faults {
    let mut f = healthy.clone();
    match kind {
        "syn_drop" => f.sg_drop = azs.last().into_iter().cloned().collect(),
        "backend_timeout" => f.integration = IntegrationFault::BackendSlow,
        "policy_deny" => f.resource_policy = PolicyFault::OtherVpce,
        "dns_servfail" => f.dns = DnsFault::Servfail,
        _ => {}
    }
    f
}

/// xorshift64*: a reproducible schedule without a dependency.
struct Rng(u64);

impl Rng {
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo + 1)
    }
}

fn line(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub async fn run(a: FlapArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.min_secs >= 1 && a.min_secs <= a.max_secs,
        "need 1 <= --min-secs <= --max-secs"
    );
    let base = if a.control_plane {
        "healthy_cp_path_a"
    } else {
        "healthy_path_a"
    };
    let scenario = Scenario::named(base, None)?;
    let mut labs = Vec::new();
    for kind in KINDS {
        let lab = std::sync::Arc::new(Lab::start(&scenario).await?);
        let env: serde_json::Map<String, serde_json::Value> = lab
            .aws_env()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect();
        line(serde_json::json!({"lab": kind, "args": lab.doctor_args(), "env": env}));
        labs.push((kind, lab));
    }
    line("ready".into());

    let mut tasks = tokio::task::JoinSet::new();
    for (i, (kind, lab)) in labs.iter().enumerate().skip(1) {
        let (kind, lab) = (*kind, lab.clone());
        let mut rng = Rng(a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1));
        let (lo, hi) = (a.min_secs, a.max_secs);
        tasks.spawn(async move {
            let healthy = lab.faults();
            let faulty = with_fault(kind, &healthy, &lab.topology().azs());
            let mut on = false;
            loop {
                tokio::time::sleep(Duration::from_secs(rng.between(lo, hi))).await;
                on = !on;
                let next = if on { faulty.clone() } else { healthy.clone() };
                let lab = lab.clone();
                // With a control plane, set_faults re-seeds moto and blocks for a moment.
                let _ = tokio::task::spawn_blocking(move || lab.set_faults(next)).await;
                line(serde_json::json!({"t": now(), "lab": kind, "fault": on}));
            }
        });
    }
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! { r = tokio::signal::ctrl_c() => r?, _ = term.recv() => {} }
    tasks.shutdown().await;
    Ok(())
}
