//! pgw-agent: the doctor's probes and diagnosis on a schedule, exported as Prometheus metrics.
//!
//! [`load`] reads the probe files, [`scheduler`] runs each probe on its interval, every run goes
//! through [`execute`] (the doctor's probe + diagnosis code) into [`crate::metrics`], and
//! [`server`] serves `/metrics`, `/probe`, `/healthz`, `/` and `POST /-/reload`. SIGHUP reloads,
//! SIGTERM drains.

pub mod args;
pub mod discovery;
pub mod exposition;
pub mod load;
mod ondemand;
mod pages;
pub mod remote_write;
pub mod scheduler;
pub mod server;
pub mod web;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ConfigError;
use crate::facts::control::{LogsOutcome, Operation};
use crate::facts::Facts;
use crate::finding::{Finding, FindingId, Layer, Severity};
use crate::metrics::{Metrics, ProbeSnapshot, RunResult};
use crate::run;
use load::{Made, Probe, ProbeSet};
use scheduler::{RunFn, Scheduler};

pub use args::{AgentArgs, LogFormat};

/// Why the agent could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The probe files are invalid (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The web configuration file is invalid (exit code 2).
    #[error("--web.config.file: {0}")]
    Web(String),
    /// The remote-write file is invalid (exit code 2).
    #[error("--remote-write: {0}")]
    RemoteWrite(String),
    /// The discovery file is invalid (exit code 2).
    #[error("--discovery: {0}")]
    Discovery(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
}

impl AgentError {
    /// Whether the configuration is at fault (exit code 2) rather than the environment.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            AgentError::Config(_)
                | AgentError::Web(_)
                | AgentError::RemoteWrite(_)
                | AgentError::Discovery(_)
        )
    }
}

/// Options of one agent.
#[derive(Debug, Clone)]
pub struct Options {
    /// A probe file or a directory of them.
    pub probes: PathBuf,
    /// At most this many probe runs at once, across probes.
    pub max_concurrent: usize,
    /// On SIGTERM, how long in-flight runs may finish before they are cut.
    pub drain_timeout: Duration,
    /// At most this many targets run on demand (`/probe`) at once.
    pub max_on_demand: usize,
    /// At most this many HTTP connections open at once.
    pub max_connections: usize,
    /// The exporter-toolkit web configuration file (TLS, basic auth), if any.
    pub web_config: Option<PathBuf>,
    /// Push the agent's series by Prometheus remote write, as this file says.
    pub remote_write: Option<PathBuf>,
    /// Discover probes as this file's `[[discovery]]` blocks say.
    pub discovery: Option<PathBuf>,
}

/// A finding as shown on the status page.
#[derive(Debug, Clone)]
pub struct ActiveFinding {
    pub id: &'static str,
    pub severity: Severity,
    pub layer: Layer,
    pub title: String,
    pub runbook: String,
    /// What the run saw (the probe's page shows it).
    pub evidence: Vec<String>,
}

/// The last completed run of a probe.
#[derive(Debug, Clone)]
pub struct ProbeStatus {
    pub finished: SystemTime,
    pub success: bool,
    pub duration: Duration,
    pub findings: Vec<ActiveFinding>,
}

/// State shared by the scheduled runs, the HTTP server and reloads.
pub struct Shared {
    pub metrics: Arc<Metrics>,
    probes: RwLock<Arc<ProbeSet>>,
    status: Mutex<BTreeMap<String, ProbeStatus>>,
    limiter: Semaphore,
    tracker: TaskTracker,
    /// `/probe` runs: their own budget, coalesced per target.
    on_demand: Arc<ondemand::OnDemand>,
}

/// The agent's runtime: tokio's multi-threaded one, with 8 MiB worker stacks (as a main thread has;
/// untouched pages cost nothing). The AWS SDK's futures nest deep: a run reading the control plane
/// overflowed the default 2 MiB in debug builds.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
}

/// The least time left in a run for reading the control plane again when the data plane changed.
const REREAD_MIN: Duration = Duration::from_secs(1);

/// How long a probe's control-plane read stands in: between one and 1.2 `control_plane_interval`s,
/// by the probe's name. Probes that made their first reads together at start (all of them) would
/// otherwise all read again together every interval, and their reads queue at the AWS APIs while
/// their runs wait (500 probes: a minute of mostly skipped runs every 5 minutes).
fn read_lifetime(cfg: &crate::config::Config) -> Duration {
    let every = cfg.control_plane_interval;
    every + scheduler::phase(&cfg.name, every / 5)
}

/// The doctor's run, start to end ([`run::probe_and_diagnose`]): data-plane probes and
/// control-plane reads side by side under the probe's timeout, then diagnosis. The control plane
/// is read at most once per `control_plane_interval` ([`read_lifetime`]) for all the probes of
/// one chain and clients ([`load::ControlCache`]); in between, the last read stands in — while
/// the probe's data plane shows what it showed beside that read. When it shows something else
/// (a fault came or went), a read made after the change is taken before anything is concluded
/// from it (this run's, or one another probe of the chain made for the change): a stale read
/// would contradict the probes (a fixed policy "not deployed", a fault "not seen").
/// Returns whether this run read the control plane.
pub async fn execute(
    probe: &Probe,
    timeout: Duration,
) -> (Facts, Vec<Finding>, bool, Option<LogsOutcome>) {
    let cfg = &probe.cfg;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut taken = None;
    let control = async {
        if cfg.no_aws {
            return None;
        }
        let want = probe.control.want(start, read_lifetime(cfg));
        let (read, made) = probe.control.read(cfg, want, deadline).await;
        let facts = read.facts.clone();
        taken = Some((read, made));
        Some(facts)
    };
    let (mut facts, mut findings) =
        run::probe_and_diagnose(cfg, &probe.prober, deadline, control).await;
    let (Some(cf), Some((read, made))) = (facts.control.take(), taken) else {
        return (facts, findings, false, None);
    };
    let mut read_now = made != Made::Shared;
    let data_plane: Vec<FindingId> = crate::diagnose::diagnose(&facts)
        .iter()
        .map(|f| f.id)
        .collect();
    if probe.control.beside(&read, start, &data_plane) {
        probe
            .control
            .keep(&read, start, data_plane, made == Made::Cut);
        facts.control = Some(cf);
    } else if deadline.saturating_duration_since(Instant::now()) < REREAD_MIN {
        // No time left in this run: the next one reads it afresh, beside its probes.
        probe.control.reread_after(start, data_plane);
        facts.control = Some(cf);
    } else {
        // Boxed: the SDK's futures are large, and this one would double the run's.
        let want = probe.control.want_after_change(start);
        let (read, made) = Box::pin(probe.control.read(cfg, want, deadline)).await;
        probe
            .control
            .keep(&read, start, data_plane, made == Made::Cut);
        facts.control = Some(read.facts.clone());
        findings = crate::diagnose::diagnose(&facts);
        read_now |= made != Made::Shared;
    }
    let logs = execution_logs(probe, &mut facts, &mut findings, start, deadline).await;
    (facts, findings, read_now, logs)
}

/// A run API Gateway failed, with the control plane: the execution logs of what failed, looked at
/// at most once per `control_plane_interval` for the same failures (the last look stands in
/// meanwhile), within the run's deadline. Returns how a look made now ended.
async fn execution_logs(
    probe: &Probe,
    facts: &mut Facts,
    findings: &mut Vec<Finding>,
    start: Instant,
    deadline: Instant,
) -> Option<LogsOutcome> {
    let cfg = &probe.cfg;
    let failed = run::failed_at_gateway(facts);
    if failed.is_empty() || facts.control.is_none() {
        return None;
    }
    let failures: Vec<String> = failed.iter().map(|f| f.answer.clone()).collect();
    if let Some(logs) = probe
        .control
        .logs_for(&failures, start, cfg.control_plane_interval)
    {
        facts.control.as_mut()?.execution_logs = Some(logs);
        *findings = crate::diagnose::diagnose(facts);
        return None;
    }
    let inv = probe.control.inventory(cfg).await;
    Box::pin(run::add_execution_logs(
        inv, cfg, &failed, facts, findings, deadline,
    ))
    .await;
    let logs = facts.control.as_ref()?.execution_logs.clone()?;
    let outcome = logs.outcome();
    probe.control.store_logs(start, failures, logs);
    Some(outcome)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Shared {
    /// The current probe set.
    pub fn probes(&self) -> Arc<ProbeSet> {
        self.probes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Last results, by probe name.
    pub fn status(&self) -> BTreeMap<String, ProbeStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Run `probe` once within the global concurrency limit; returns its series.
    pub async fn run_once(&self, probe: &Probe) -> (ProbeSnapshot, Vec<Finding>) {
        // The semaphore is never closed.
        let _permit = self.limiter.acquire().await.ok();
        // Boxed after the permit: a run's state is ~19 KiB, and with a thousand probes due at
        // once the ones waiting for a permit must not each hold it (RSS at 10 000 targets).
        self.run_unlimited(probe, probe.cfg.timeout).await
    }

    /// One run of `probe` bounded by `timeout`, outside the scheduled runs' limit.
    async fn run_unlimited(
        &self,
        probe: &Probe,
        timeout: Duration,
    ) -> (ProbeSnapshot, Vec<Finding>) {
        let (facts, findings, read, logs) = Box::pin(execute(probe, timeout)).await;
        let snap = ProbeSnapshot::from_run(&probe.cfg, &facts, &findings, unix_now());
        if read {
            // A reused read's failures were counted when it was made.
            self.metrics.count_aws_api_errors(&snap);
        } else if logs.is_some() {
            // Only the look at the logs was made now.
            for op in &snap.aws_errors {
                if matches!(op, Operation::GetAccount | Operation::FilterLogEvents) {
                    self.metrics.count_aws_api_error(*op);
                }
            }
        }
        if let Some(outcome) = logs {
            self.metrics.count_log_lookup(probe.name(), outcome);
        }
        (snap, findings)
    }

    /// An on-demand (`/probe`) run: its own budget (held by the caller), bounded by the scrape's
    /// timeout when it is shorter than the probe's.
    pub(crate) async fn run_on_demand(
        &self,
        probe: &Probe,
        timeout: Option<Duration>,
    ) -> (ProbeSnapshot, Vec<Finding>) {
        let t = timeout.map_or(probe.cfg.timeout, |t| t.min(probe.cfg.timeout));
        self.run_unlimited(probe, t).await
    }

    /// A scheduled run: run, then publish, unless the probe was replaced meanwhile.
    async fn scheduled_run(self: Arc<Self>, probe: Arc<Probe>) {
        let (snap, findings) = self.run_once(&probe).await;
        // Holding the read lock keeps a reload from interleaving with the publication.
        let current = self.probes.read().unwrap_or_else(|e| e.into_inner());
        if !current.contains(&probe) {
            return;
        }
        if let Some(e) = &snap.host_error {
            // The agent's own failure: the last good series stay, nothing is said of the chain.
            tracing::warn!(probe = probe.name(), error = %e, "probe run impossible on this host");
            self.metrics.count_run(probe.name(), RunResult::Error);
            return;
        }
        let status = ProbeStatus {
            finished: SystemTime::now(),
            success: snap.success,
            duration: Duration::from_secs_f64(snap.duration_seconds),
            findings: findings
                .iter()
                .map(|f| ActiveFinding {
                    id: f.id.as_str(),
                    severity: f.severity,
                    layer: f.layer,
                    title: f.title.clone(),
                    runbook: f.runbook.clone(),
                    evidence: f.evidence.clone(),
                })
                .collect(),
        };
        tracing::debug!(
            probe = probe.name(),
            success = snap.success,
            duration_seconds = snap.duration_seconds,
            "probe run finished"
        );
        self.metrics.record_run(snap);
        let mut all = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let before = all
            .get(probe.name())
            .map(|s| s.findings.clone())
            .unwrap_or_default();
        log_changes(probe.name(), &before, &findings);
        all.insert(probe.name().to_string(), status);
    }
}

/// One info line per finding raised or cleared.
fn log_changes(probe: &str, before: &[ActiveFinding], now: &[Finding]) {
    for f in now {
        if !before.iter().any(|b| b.id == f.id.as_str()) {
            tracing::info!(
                probe,
                id = f.id.as_str(),
                severity = f.severity.as_str(),
                layer = f.layer.as_str(),
                runbook = %f.runbook,
                "finding raised: {}",
                f.title
            );
        }
    }
    for b in before {
        if !now.iter().any(|f| f.id.as_str() == b.id) {
            tracing::info!(probe, id = b.id, "finding cleared: {}", b.title);
        }
    }
}

/// A running agent: shared state plus the scheduler.
pub struct Agent {
    pub shared: Arc<Shared>,
    scheduler: tokio::sync::Mutex<Scheduler<Probe>>,
    source: PathBuf,
    /// With `--discovery`: what its last good refresh found and what it last did; the probe
    /// directory may then hold no file.
    discovery: Option<Mutex<Discovered>>,
}

/// Discovery's state: the probes its last good refresh found (a probe file of the same API and
/// stage, or name, wins), at most `max` of them in use, and what the status page shows.
#[derive(Debug, Default)]
struct Discovered {
    found: Vec<crate::config::Config>,
    max: usize,
    status: DiscoveryStatus,
}

/// Discovery as the status page shows it.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryStatus {
    pub in_use: usize,
    pub capped: usize,
    pub last_success: Option<SystemTime>,
    /// The last failed refresh: its call and error.
    pub last_error: Option<String>,
}

impl Agent {
    /// Load the probe files and start scheduling them. A bad configuration is an error.
    pub async fn start(opts: &Options) -> Result<Arc<Agent>, AgentError> {
        let metrics = Arc::new(Metrics::new());
        let tracker = TaskTracker::new();
        let shared = Arc::new(Shared {
            metrics: metrics.clone(),
            probes: RwLock::new(Arc::new(ProbeSet::default())),
            status: Mutex::new(BTreeMap::new()),
            limiter: Semaphore::new(opts.max_concurrent.max(1)),
            tracker: tracker.clone(),
            on_demand: Arc::new(ondemand::OnDemand::new(opts.max_on_demand)),
        });
        let for_runs = shared.clone();
        let run: RunFn<Probe> = Arc::new(move |p| Box::pin(for_runs.clone().scheduled_run(p)));
        let agent = Arc::new(Agent {
            shared,
            scheduler: tokio::sync::Mutex::new(Scheduler::new(run, metrics, tracker)),
            source: opts.probes.clone(),
            discovery: opts.discovery.as_ref().map(|_| Mutex::default()),
        });
        // At start there is no last good configuration: the caller reports the error.
        agent.load(false).await?;
        Ok(agent)
    }

    /// Reload the probe files. On error the last good configuration stays, the error is logged
    /// and `pgw_config_last_reload_successful` drops to 0. Unchanged probes keep their series.
    pub async fn reload(&self) -> Result<usize, ConfigError> {
        self.load(true).await
    }

    async fn load(&self, is_reload: bool) -> Result<usize, ConfigError> {
        let mut scheduler = self.scheduler.lock().await;
        let path = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || load::load(&path))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigError {
                    location: self.source.display().to_string(),
                    message: format!("loading panicked: {e}"),
                })
            });
        let metrics = &self.shared.metrics;
        let loaded = match (loaded, &self.discovery) {
            // With discovery, a directory without probe files is no error.
            (Err(e), Some(_)) if e.message.starts_with("no probe files") => Ok(ProbeSet::default()),
            (other, _) => other,
        };
        let mut new = match loaded {
            Ok(s) => s,
            Err(e) => {
                if is_reload {
                    tracing::warn!(error = %e, "configuration not reloaded; keeping the last good one");
                }
                metrics.config_loaded(false, unix_now());
                return Err(e);
            }
        };
        if let Some(d) = &self.discovery {
            let mut d = d.lock().unwrap_or_else(|e| e.into_inner());
            let files: Vec<&crate::config::Config> = new.probes.values().map(|p| &p.cfg).collect();
            let (kept, capped) = discovery::unshadowed(&d.found, &files, d.max);
            metrics.discovery_counts(kept.len(), capped);
            (d.status.in_use, d.status.capped) = (kept.len(), capped);
            drop(d);
            for cfg in kept {
                match Probe::new(cfg, PathBuf::from("(discovered)")) {
                    Ok(p) => {
                        new.probes.insert(p.name().to_string(), Arc::new(p));
                    }
                    Err(e) => tracing::warn!(error = %e, "discovered probe not loaded"),
                }
            }
        }
        let mut current = self
            .shared
            .probes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let (mut added, mut changed, mut removed) = (0, 0, 0);
        for (name, p) in new.probes.iter_mut() {
            match current.get(name) {
                Some(old) if old.same_config(p) => *p = old.clone(),
                Some(_) => {
                    changed += 1;
                    metrics.forget_last_run(name);
                }
                None => added += 1,
            }
        }
        {
            let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
            for name in current.probes.keys() {
                if new.get(name).is_none() {
                    removed += 1;
                    metrics.remove_probe(name);
                    if let Some(s) = status.remove(name) {
                        log_changes(name, &s.findings, &[]);
                    }
                }
            }
        }
        let n = new.len();
        if new.probes.values().any(|p| !p.cfg.no_aws) {
            metrics.init_aws_api_errors();
        }
        scheduler.apply(new.probes.values().cloned());
        *current = Arc::new(new);
        drop(current);
        metrics.config_loaded(true, unix_now());
        tracing::info!(probes = n, added, changed, removed, "configuration loaded");
        Ok(n)
    }

    /// Discovery's state, changed by `f` (nothing without `--discovery`).
    fn with_discovery(&self, f: impl FnOnce(&mut Discovered)) {
        if let Some(d) = &self.discovery {
            f(&mut d.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// What discovery last did, for the status page (`None`: discovery off).
    pub fn discovery_status(&self) -> Option<DiscoveryStatus> {
        let d = self.discovery.as_ref()?;
        Some(d.lock().unwrap_or_else(|e| e.into_inner()).status.clone())
    }

    /// Refresh discovery on its interval (jittered) until `stop`: a good refresh replaces the
    /// discovered probes and reloads; a failed one keeps the last good set.
    async fn discover(
        self: Arc<Self>,
        specs: Vec<discovery::Discovery>,
        vpc: Option<String>,
        stop: CancellationToken,
    ) {
        let every = specs
            .iter()
            .map(|d| d.interval)
            .min()
            .unwrap_or(Duration::from_secs(600));
        let metrics = self.shared.metrics.clone();
        loop {
            let mut found = Vec::new();
            let max: usize = specs.iter().map(|d| d.max_probes).sum();
            let mut failed = None;
            for d in &specs {
                let vpc = d.vpc_id.clone().or_else(|| vpc.clone());
                match discovery::refresh(d, vpc.as_deref()).await {
                    Ok(f) => found.extend(f),
                    Err(f) => {
                        failed = Some(f);
                        break;
                    }
                }
            }
            match failed {
                Some(f) => {
                    tracing::warn!(operation = %f.operation, error = %f.error, "discovery refresh failed; keeping the last good set");
                    metrics.count_discovery_error(f.operation);
                    self.with_discovery(|d| {
                        d.status.last_error = Some(format!("{}: {}", f.operation, f.error))
                    });
                }
                None => {
                    metrics.discovery_succeeded(unix_now());
                    self.with_discovery(|d| {
                        (d.found, d.max) = (found, max);
                        (d.status.last_success, d.status.last_error) =
                            (Some(SystemTime::now()), None);
                    });
                    let _ = self.reload().await;
                }
            }
            // ±10 % so that agents started together do not refresh together.
            let jitter = every.mul_f64(0.9 + 0.2 * (unix_now().fract()));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(jitter) => {}
            }
        }
    }

    /// Stop scheduling and wait for in-flight runs (scheduled and `/probe`).
    pub async fn drain(&self) {
        self.scheduler.lock().await.drain().await;
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }

    /// [`Agent::drain`] bounded by `within`: returns what was still running then — the scheduled
    /// probes by name, and how many runs in all (on-demand `/probe` runs included).
    pub async fn drain_within(&self, within: Duration) -> (Vec<String>, usize) {
        let deadline = Instant::now() + within;
        let cut = self.scheduler.lock().await.drain_until(deadline).await;
        self.shared.tracker.close();
        let _ = tokio::time::timeout_at(deadline, self.shared.tracker.wait()).await;
        (cut, self.shared.tracker.len())
    }
}

/// Install the tracing subscriber: `PGW_LOG` / `RUST_LOG` filter (default `info`), on stderr.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PGW_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Run the agent until SIGTERM (or Ctrl-C), then drain and return.
/// Where this agent stands on EC2 (IMDSv2, once, within 2 s), as `pgw_agent_info`; off EC2 a line
/// in the log and nothing else.
async fn locate(metrics: Arc<Metrics>) -> Option<crate::aws::imds::Whereabouts> {
    use crate::aws::imds;
    let addr = imds::endpoint_from_env()?;
    let found = match addr {
        Ok(a) => imds::whereabouts(a, Duration::from_secs(2)).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(w) => {
            tracing::info!(account = %w.account, region = %w.region, vpc_id = %w.vpc_id, az = %w.az, instance_id = %w.instance_id, "running on EC2");
            metrics.set_whereabouts(&w);
            Some(w)
        }
        Err(e) => {
            tracing::info!("not on EC2, or its metadata service is unreachable: {e}");
            None
        }
    }
}

pub async fn run(opts: Options, listen: SocketAddr) -> Result<(), AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let signal_err = |signal| move |source| AgentError::Signal { signal, source };
    let mut hup = signal(SignalKind::hangup()).map_err(signal_err("SIGHUP"))?;
    let mut term = signal(SignalKind::terminate()).map_err(signal_err("SIGTERM"))?;
    let web = Arc::new(match &opts.web_config {
        Some(path) => web::WebState::load(path).map_err(|e| AgentError::Web(e.to_string()))?,
        None => web::WebState::none(),
    });
    let push = match &opts.remote_write {
        Some(path) => Some(remote_write::RemoteWrite::load(path).map_err(AgentError::RemoteWrite)?),
        None => None,
    };
    let specs = match &opts.discovery {
        Some(path) => Some(discovery::Discovery::load(path).map_err(AgentError::Discovery)?),
        None => None,
    };
    let agent = Agent::start(&opts).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| AgentError::Listen {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!(listen = %local, version = env!("CARGO_PKG_VERSION"), "pgw-agent started");
    let stop_push = CancellationToken::new();
    let pusher = {
        let (metrics, stop) = (agent.shared.metrics.clone(), stop_push.clone());
        let agent = agent.clone();
        tokio::spawn(async move {
            let located = locate(metrics.clone()).await;
            let discovering = specs.map(|s| {
                let vpc = located.as_ref().map(|w| w.vpc_id.clone());
                tokio::spawn(agent.discover(s, vpc, stop.clone()))
            });
            if let Some(cfg) = push {
                remote_write::run(cfg, located, metrics, stop).await;
            }
            if let Some(d) = discovering {
                let _ = d.await;
            }
        })
    };
    let stop_http = CancellationToken::new();
    let server = tokio::spawn(server::serve(
        listener,
        agent.clone(),
        stop_http.clone(),
        opts.max_connections,
        web,
    ));
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the probe files");
                let _ = agent.reload().await;
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Stop accepting at once; connections finish the request they are serving.
    stop_http.cancel();
    let _ = server.await;
    tracing::info!(
        drain_timeout = ?opts.drain_timeout,
        "draining: no new runs, waiting for in-flight ones"
    );
    let (cut, left) = agent.drain_within(opts.drain_timeout).await;
    if left > 0 {
        tracing::warn!(
            runs = left,
            probes = cut.join(","),
            "drain deadline passed: cancelling the runs still going"
        );
    }
    stop_push.cancel();
    let _ = pusher.await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::load::tests::{probe_toml, temp_dir};
    use super::*;
    use crate::facts::control::Operation;

    #[test]
    fn control_plane_reads_stand_for_one_to_one_point_two_intervals_spread_by_name() {
        let every = Duration::from_secs(300);
        let lifetimes: Vec<Duration> = (0..500)
            .map(|i| {
                read_lifetime(&crate::config::Config {
                    name: format!("p{i}"),
                    control_plane_interval: every,
                    ..Default::default()
                })
            })
            .collect();
        // Never read more often than once per interval; spread over the extra fifth, not together.
        assert!(lifetimes.iter().all(|l| *l >= every && *l < every * 6 / 5));
        let part = |l: &Duration| ((*l - every).as_secs() / 12) as usize;
        let mut per_part = [0; 5];
        for l in &lifetimes {
            per_part[part(l)] += 1;
        }
        assert!(
            per_part.iter().all(|n| (50..=150).contains(n)),
            "{per_part:?}"
        );
    }

    #[tokio::test]
    async fn bad_reload_keeps_the_last_good_config() {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("a")).unwrap();
        let agent = Agent::start(&Options {
            probes: d.clone(),
            max_concurrent: 2,
            drain_timeout: Duration::from_secs(5),
            max_on_demand: 2,
            max_connections: 16,
            web_config: None,
            remote_write: None,
            discovery: None,
        })
        .await
        .unwrap();
        let before = agent.shared.probes();
        // A run of `a` published (as if scheduled): its series must survive the reloads below.
        let metrics = &agent.shared.metrics;
        let cfg = &before.probes["a"].cfg;
        let facts = crate::diagnose::testutil::healthy();
        metrics.record_run(ProbeSnapshot::from_run(cfg, &facts, &[], 0.0));
        let t = server::render(|w, om| agent.shared.metrics.encode(w, om), false).0;
        assert!(t.contains("pgw_config_last_reload_successful 1"), "{t}");

        std::fs::write(d.join("b.toml"), "name = \"b\"\ntimout = \"1s\"\n").unwrap();
        let e = agent.reload().await.unwrap_err().to_string();
        assert!(e.contains("b.toml:2:1:"), "{e}");
        let after = agent.shared.probes();
        assert_eq!(after.probes.keys().collect::<Vec<_>>(), ["a"]);
        assert!(Arc::ptr_eq(&before.probes["a"], &after.probes["a"]));
        let t = server::render(|w, om| agent.shared.metrics.encode(w, om), false).0;
        assert!(t.contains("pgw_config_last_reload_successful 0"), "{t}");

        // Fixed: `a` is unchanged and keeps its instance (its loop and series), `b` is added.
        std::fs::write(d.join("b.toml"), probe_toml("b")).unwrap();
        assert_eq!(agent.reload().await.unwrap(), 2);
        let fixed = agent.shared.probes();
        assert!(Arc::ptr_eq(&before.probes["a"], &fixed.probes["a"]));
        assert!(metrics.last_run("a").is_some());

        // Removed: every series of `a` goes.
        std::fs::remove_file(d.join("a.toml")).unwrap();
        assert_eq!(agent.reload().await.unwrap(), 1);
        assert!(metrics.last_run("a").is_none());
        let t = server::render(|w, om| metrics.encode(w, om), false).0;
        assert!(!t.contains("probe=\"a\""), "{t}");
        agent.drain().await;
    }

    #[tokio::test]
    async fn aws_error_counters_appear_at_zero_once_a_probe_reads_aws() {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("a")).unwrap();
        let agent = Agent::start(&Options {
            probes: d.clone(),
            max_concurrent: 2,
            drain_timeout: Duration::from_secs(5),
            max_on_demand: 2,
            max_connections: 16,
            web_config: None,
            remote_write: None,
            discovery: None,
        })
        .await
        .unwrap();
        let metrics = &agent.shared.metrics;
        // Data plane only: no AWS error series at all.
        let t = server::render(|w, om| metrics.encode(w, om), false).0;
        assert!(!t.contains("pgw_aws_api_errors_total{"), "{t}");
        // A probe that reads AWS (at a closed port: nothing leaves loopback).
        let b = probe_toml("b").replace(
            "no_aws = true\n",
            "aws_endpoint_url = \"http://127.0.0.1:1\"\ninterval = \"1h\"\n",
        );
        std::fs::write(d.join("b.toml"), b.replace("interval = \"30s\"\n", "")).unwrap();
        assert_eq!(agent.reload().await.unwrap(), 2);
        let t = server::render(|w, om| metrics.encode(w, om), false).0;
        for op in Operation::ALL.iter().filter(|o| o.recorded()) {
            let series = format!("pgw_aws_api_errors_total{{operation=\"{op}\"}} ");
            assert!(t.contains(&series), "missing {series:?} in\n{t}");
        }
        agent.drain().await;
    }
}
