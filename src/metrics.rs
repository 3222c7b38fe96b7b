//! Metrics: the only place pgw's metric names, help texts and label sets live (docs/agent.md).
//!
//! Per-probe series (`pgw_probe_success`, `pgw_check_*`, `pgw_finding`, …) are held as one
//! [`ProbeSnapshot`] per probe and encoded at scrape time, so each run replaces its probe's whole
//! series set atomically: a cleared finding or a vanished ENI simply stops being exported. Each
//! probe's cumulative series (its phase histograms and run counts) sit next to its snapshot, and
//! go with it. These per-probe families, most of an exposition, are written by `text`; the
//! agent's own families (reloads, remote write, discovery, AWS errors) are prometheus-client's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

mod text;
use text::{Bounds, Kind, Text, Value};

use crate::checks::CheckKind;
use crate::config::Config;
use crate::facts::control::{LogsOutcome, Operation};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};

/// Every metric name pgw exports, as registered (the exposition adds the unit and `_total` /
/// `_info` suffixes: `pgw_probe_duration` is exported as `pgw_probe_duration_seconds`). The
/// only place they are spelled; docs/agent.md documents each (a test keeps the table equal to
/// what is exported).
pub mod names {
    /// `pgw_build_info{version}`: the running version.
    pub const BUILD: &str = "pgw_build";
    /// `pgw_probe_success{probe,api_id,stage}`: 1 when the last run found no warning or critical finding.
    pub const PROBE_SUCCESS: &str = "pgw_probe_success";
    /// `pgw_probe_duration_seconds{probe}`: wall time of the last run.
    pub const PROBE_DURATION: &str = "pgw_probe_duration";
    /// `pgw_probe_last_run_timestamp_seconds{probe}`: when the last run finished.
    pub const PROBE_LAST_RUN_TIMESTAMP: &str = "pgw_probe_last_run_timestamp";
    /// `pgw_check_success{probe,layer,check,endpoint,path,az}`: one check of the last run.
    pub const CHECK_SUCCESS: &str = "pgw_check_success";
    /// `pgw_check_duration_seconds{probe,layer,check,endpoint,path,az,phase}`: one phase of one check.
    pub const CHECK_DURATION: &str = "pgw_check_duration";
    /// `pgw_finding{probe,id,layer,severity}`: an active finding (always 1).
    pub const FINDING: &str = "pgw_finding";
    /// `pgw_nlb_targets{probe,target_group,state}`: NLB targets by health state.
    pub const NLB_TARGETS: &str = "pgw_nlb_targets";
    /// `pgw_phase_duration_seconds{probe,phase}`: histogram of DNS and invoke phases.
    pub const PHASE_DURATION: &str = "pgw_phase_duration";
    /// `pgw_probe_runs_total{probe,result}`: scheduled runs by result.
    pub const PROBE_RUNS: &str = "pgw_probe_runs";
    /// `pgw_aws_api_errors_total{operation}`: failed AWS calls of scheduled runs.
    pub const AWS_API_ERRORS: &str = "pgw_aws_api_errors";
    /// `pgw_execution_log_lookups_total{probe,result}`: looks at the execution logs of failed runs.
    pub const EXECUTION_LOG_LOOKUPS: &str = "pgw_execution_log_lookups";
    /// `pgw_config_last_reload_successful`: whether the last (re)load succeeded.
    pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "pgw_config_last_reload_successful";
    /// `pgw_config_last_reload_success_timestamp_seconds`: when it last succeeded.
    pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP: &str =
        "pgw_config_last_reload_success_timestamp";
    /// `pgw_discovery_probes`: discovered probes in use (not shadowed by a file, within the cap).
    pub const DISCOVERY_PROBES: &str = "pgw_discovery_probes";
    /// `pgw_discovery_probes_capped`: (API, stage) pairs left out past `max_probes`.
    pub const DISCOVERY_CAPPED: &str = "pgw_discovery_probes_capped";
    /// `pgw_discovery_last_success_timestamp_seconds`: when a refresh last succeeded.
    pub const DISCOVERY_LAST_SUCCESS: &str = "pgw_discovery_last_success_timestamp";
    /// `pgw_discovery_errors_total{operation}`: failed refreshes, by the AWS call that failed.
    pub const DISCOVERY_ERRORS: &str = "pgw_discovery_errors";
    /// `pgw_agent_info{account,region,vpc_id,az,instance_id}`: where the agent runs on EC2 (IMDS).
    pub const AGENT_INFO: &str = "pgw_agent_info";
    /// `pgw_remote_write_samples_total{result}`: samples pushed by remote write: `sent`,
    /// `rejected` (a 4xx other than 429: never retried), `dropped` (the queue was full).
    pub const REMOTE_WRITE_SAMPLES: &str = "pgw_remote_write_samples";
    /// `pgw_remote_write_last_success_timestamp_seconds`: when a push last succeeded.
    pub const REMOTE_WRITE_LAST_SUCCESS: &str = "pgw_remote_write_last_success_timestamp";
    /// `pgw_remote_write_queue_samples`: samples waiting to be pushed.
    pub const REMOTE_WRITE_QUEUE: &str = "pgw_remote_write_queue_samples";
    /// `pgw_http_connections_rejected_total`: connections closed at once, past `--max-connections`.
    pub const HTTP_CONNECTIONS_REJECTED: &str = "pgw_http_connections_rejected";
    /// blackbox_exporter's `probe_success` (on `/probe` only).
    pub const BLACKBOX_PROBE_SUCCESS: &str = "probe_success";
    /// blackbox_exporter's `probe_duration_seconds` (on `/probe` only).
    pub const BLACKBOX_PROBE_DURATION_SECONDS: &str = "probe_duration_seconds";
}

/// Histogram buckets of phase durations, seconds (1 ms … 30 s).
const PHASE_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub use crate::checks::Phase;

/// How one scheduled run ended (`result` label of `pgw_probe_runs_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunResult {
    /// The run finished and the chain works end to end.
    Ok,
    /// The run finished and found the chain broken (at least one warning or critical finding).
    Failed,
    /// The run was not started: the previous run of the probe was still in flight.
    Skipped,
    /// The run could not be made: this host ran out of file descriptors or local ports (the
    /// agent's own failure, never a finding about the chain).
    Error,
}

impl RunResult {
    /// In exposition order.
    const ALL: [RunResult; 4] = [
        RunResult::Ok,
        RunResult::Failed,
        RunResult::Skipped,
        RunResult::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::Failed => "failed",
            RunResult::Skipped => "skipped",
            RunResult::Error => "error",
        }
    }
}

macro_rules! lowercase_label_value {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}
lowercase_label_value!(Operation, LogsOutcome, PushResult);

/// `{probe,api_id,stage,domain}`. `domain` is the private custom domain name a
/// `custom-domain` probe calls, left out for the other routes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeLabels {
    pub probe: String,
    pub api_id: String,
    pub stage: String,
    pub domain: String,
}

impl ProbeLabels {
    /// Its label pairs (`domain` only when set).
    fn pairs(&self) -> Vec<(&str, &str)> {
        let mut pairs = vec![
            ("probe", self.probe.as_str()),
            ("api_id", &self.api_id),
            ("stage", &self.stage),
        ];
        if !self.domain.is_empty() {
            pairs.push(("domain", &self.domain));
        }
        pairs
    }
}

/// `{probe,layer,check,endpoint,path}`. `path` is a configured stage-relative path for invokes,
/// empty (= absent in PromQL) otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckLabels {
    pub probe: Shared,
    pub layer: Layer,
    /// A [`CheckKind`](crate::checks::CheckKind) word, or an AWS operation for control-plane calls.
    pub check: &'static str,
    pub endpoint: Shared,
    pub path: Shared,
    /// The Availability Zone of the endpoint's ENI (from the control plane's
    /// `DescribeNetworkInterfaces`); empty when pgw does not know it or the check is no ENI's.
    pub az: Shared,
}

/// A label value the series of one run share (a probe's name, an ENI's address, a path): one
/// allocation per distinct value and run, not one per check — these are most of what an agent
/// keeps per target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Shared(Arc<str>);

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The run's distinct label values, each allocated once.
#[derive(Default)]
struct Interner(Vec<Shared>);

impl Interner {
    fn get(&mut self, v: &str) -> Shared {
        if let Some(s) = self.0.iter().find(|s| &*s.0 == v) {
            return s.clone();
        }
        let s = Shared(Arc::from(v));
        self.0.push(s.clone());
        s
    }
}

/// `{probe,id,layer,severity}` of an active finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FindingLabels {
    pub probe: String,
    pub id: &'static str,
    pub layer: Layer,
    pub severity: Severity,
}

/// NLB targets per (target group, lower-case state), from the control plane.
fn nlb_targets(probe: &str, facts: &Facts) -> Vec<(NlbTargetLabels, u64)> {
    let mut n: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in facts.control.iter() {
        for tg in c.nlbs.iter().flat_map(|n| &n.target_groups) {
            for t in &tg.targets {
                let state = t.state.to_ascii_lowercase();
                *n.entry((tg.name.clone(), state)).or_default() += 1;
            }
        }
    }
    n.into_iter()
        .map(|((target_group, state), count)| {
            let labels = NlbTargetLabels {
                probe: probe.to_string(),
                target_group,
                state,
            };
            (labels, count)
        })
        .collect()
}

/// `{probe,target_group,state}` (filled by the control plane).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NlbTargetLabels {
    pub probe: String,
    pub target_group: String,
    pub state: String,
}

/// `{account,region,vpc_id,az,instance_id}` of `pgw_agent_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AgentInfoLabels {
    pub account: String,
    pub region: String,
    pub vpc_id: String,
    pub az: String,
    pub instance_id: String,
}

/// What became of remote-written samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushResult {
    Sent,
    /// The receiver refused them (a 4xx other than 429): a retry would be refused too.
    Rejected,
    /// The queue was full: the oldest were let go.
    Dropped,
}

impl PushResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PushResult::Sent => "sent",
            PushResult::Rejected => "rejected",
            PushResult::Dropped => "dropped",
        }
    }
}

/// `{result}` of the remote-write sample counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PushLabels {
    pub result: PushResult,
}

/// `{probe,result}` of the execution-log lookup counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LookupLabels {
    pub probe: String,
    pub result: LogsOutcome,
}

/// `{operation}` of the AWS API error counter, e.g. `DescribeVpcEndpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AwsErrorLabels {
    pub operation: Operation,
}

/// One check's last result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSeries {
    pub labels: CheckLabels,
    pub ok: bool,
    /// Where its phases are in the snapshot's (see [`ProbeSnapshot::phases_of`]).
    phases: std::ops::Range<u32>,
}

/// Every per-probe series of one run, replaced as a whole by the next run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSnapshot {
    pub probe: ProbeLabels,
    pub success: bool,
    pub duration_seconds: f64,
    /// Unix time the run finished.
    pub finished_unix: f64,
    pub checks: Vec<CheckSeries>,
    /// The phases every check reached, in seconds, in one allocation (not one per check: they
    /// are most of what an agent keeps per target); a phase not reached has no series.
    phases: Vec<(Phase, f64)>,
    pub findings: Vec<FindingLabels>,
    pub nlb_targets: Vec<(NlbTargetLabels, u64)>,
    /// This host could not make the run (see [`crate::facts::Facts::host_error`]).
    pub host_error: Option<String>,
    /// Operations of the AWS API calls of this run that failed (see [`Metrics::count_aws_api_errors`]).
    pub aws_errors: Vec<Operation>,
}

impl ProbeSnapshot {
    /// The series of one run of `cfg` that observed `facts` and diagnosed `findings`.
    /// `success` is the doctor's verdict: no finding of severity warning or critical.
    pub fn from_run(
        cfg: &Config,
        facts: &Facts,
        findings: &[Finding],
        finished_unix: f64,
    ) -> ProbeSnapshot {
        let name = &cfg.name;
        let (checks, phases) = Self::check_series(cfg, facts);
        let aws_errors = facts
            .control
            .iter()
            .flat_map(|c| c.calls.iter().filter(|c| !c.ok).map(|c| c.operation))
            .collect();
        let success = !findings.iter().any(|f| f.is_problem());
        let findings: BTreeSet<FindingLabels> = findings
            .iter()
            .map(|f| FindingLabels {
                probe: name.clone(),
                id: f.id.as_str(),
                layer: f.layer,
                severity: f.severity,
            })
            .collect();
        ProbeSnapshot {
            probe: ProbeLabels {
                probe: name.clone(),
                api_id: cfg.api_id.clone(),
                stage: cfg.stage_name().to_string(),
                domain: cfg.domain_name.clone().unwrap_or_default(),
            },
            success,
            duration_seconds: facts.duration.as_secs_f64(),
            finished_unix,
            checks,
            phases,
            findings: findings.into_iter().collect(),
            nlb_targets: nlb_targets(name, facts),
            host_error: facts.host_error.clone(),
            aws_errors,
        }
    }

    /// Checks of `facts` as series (only configured paths become `path` label values).
    fn check_series(cfg: &Config, facts: &Facts) -> (Vec<CheckSeries>, Vec<(Phase, f64)>) {
        let mut checks: Vec<CheckSeries> = Vec::new();
        let mut phases = Vec::new();
        let mut seen = BTreeSet::new();
        // The AZ of each execute-api endpoint ENI the control plane read.
        let azs: BTreeMap<std::net::IpAddr, &str> = facts
            .control
            .iter()
            .flat_map(|c| &c.execute_api_endpoints)
            .flat_map(|e| e.enis.iter().map(|(az, ip)| (*ip, az.as_str())))
            .collect();
        let mut values = Interner::default();
        let probe = values.get(&cfg.name);
        for c in crate::checks::of(facts) {
            // Only configured paths become label values.
            let path = match c.path.as_deref() {
                None => values.get(""),
                Some(p) if cfg.paths.iter().any(|x| x == p) => values.get(p),
                Some(_) => values.get("other"),
            };
            let endpoint = c.endpoint.unwrap_or_default();
            let az = endpoint
                .parse::<std::net::SocketAddr>()
                .ok()
                .and_then(|a| azs.get(&a.ip()).copied())
                .unwrap_or_default();
            let labels = CheckLabels {
                probe: probe.clone(),
                layer: c.layer,
                check: c.kind.as_str(),
                endpoint: values.get(&endpoint),
                path,
                az: values.get(az),
            };
            if seen.insert(labels.clone()) {
                let start = phases.len() as u32;
                phases.extend(c.phases.iter().map(|(p, d)| (*p, d.as_secs_f64())));
                checks.push(CheckSeries {
                    labels,
                    ok: c.ok,
                    phases: start..phases.len() as u32,
                });
            }
        }
        // Kept until the next run: no room for more.
        checks.shrink_to_fit();
        phases.shrink_to_fit();
        (checks, phases)
    }

    /// The phases `c` (one of [`Self::checks`]) reached, in seconds.
    pub fn phases_of(&self, c: &CheckSeries) -> &[(Phase, f64)] {
        &self.phases[c.phases.start as usize..c.phases.end as usize]
    }

    /// Phase observations of the main pass (DNS lookups and first-try invokes) for histograms.
    fn phase_observations(&self) -> impl Iterator<Item = (Phase, f64)> + '_ {
        self.checks
            .iter()
            .filter(|c| {
                c.labels.check == CheckKind::Resolve.as_str()
                    || c.labels.check == CheckKind::Invoke.as_str()
            })
            .flat_map(|c| self.phases_of(c).iter().copied())
    }
}

/// One probe's series: its last run's (replaced as a whole by the next run) and its cumulative
/// ones (kept across runs and reloads until the probe goes).
#[derive(Debug, Default)]
struct ProbeSeries {
    last: Option<Arc<ProbeSnapshot>>,
    tally: Arc<Mutex<Tally>>,
}

/// Every probe's series, by name. A scrape takes the `Arc`s and lets the lock go: it never holds
/// up a run being recorded, however slowly its client reads.
type Probes = BTreeMap<Arc<str>, ProbeSeries>;

/// A probe's cumulative series: `pgw_phase_duration_seconds` and `pgw_probe_runs_total`.
#[derive(Debug, Clone, Default)]
struct Tally {
    /// By phase, in [`Phase::ALL`] order; a phase never observed has no series.
    phases: [Option<PhaseHistogram>; 5],
    /// By result, in [`RunResult::ALL`] order; a result never counted has no series.
    runs: [Option<u64>; 4],
}

/// A histogram over [`PHASE_BUCKETS`] and `+Inf`, as prometheus_client's `Histogram` counts.
#[derive(Debug, Clone, Default)]
struct PhaseHistogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`'s.
    buckets: [u64; PHASE_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl PhaseHistogram {
    fn observe(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
        // Past the last bound, and NaN: `+Inf` (which always equals `count`).
        let i = PHASE_BUCKETS
            .iter()
            .position(|b| *b >= v)
            .unwrap_or(PHASE_BUCKETS.len());
        self.buckets[i] += 1;
    }
}

impl Tally {
    // `Phase::ALL` and `RunResult::ALL` list their variants in declaration order: a variant's
    // discriminant is its index.
    fn observe(&mut self, phase: Phase, secs: f64) {
        self.phases[phase as usize]
            .get_or_insert_with(Default::default)
            .observe(secs);
    }

    fn count(&mut self, result: RunResult) {
        *self.runs[result as usize].get_or_insert(0) += 1;
    }
}

/// What a scrape encodes of one probe, taken under the lock.
struct Taken {
    name: Arc<str>,
    last: Option<Arc<ProbeSnapshot>>,
    tally: Option<Arc<Mutex<Tally>>>,
}

/// One per-probe family: its name, help text, unit, and how one run's series are written.
struct SnapshotFamily {
    name: &'static str,
    help: &'static str,
    unit: Option<&'static str>,
    series: fn(&ProbeSnapshot, &mut Text) -> std::fmt::Result,
}

impl CheckLabels {
    /// Its label pairs, in exposition order.
    fn pairs(&self) -> [(&str, &str); 6] {
        [
            ("probe", &self.probe),
            ("layer", self.layer.as_str()),
            ("check", self.check),
            ("endpoint", &self.endpoint),
            ("path", &self.path),
            ("az", &self.az),
        ]
    }
}

/// Every per-probe family of the last runs, in exposition order (all gauges). Help texts end
/// with a full stop, as prometheus_client's registry adds to the others.
const SNAPSHOT_FAMILIES: &[SnapshotFamily] = &[
    SnapshotFamily {
        name: names::PROBE_SUCCESS,
        help: "Whether the last run found the whole chain working end to end (no warning or critical finding).",
        unit: None,
        series: |s, t| {
            t.labels(&s.probe.pairs());
            t.sample(None, Value::Int(i64::from(s.success)))
        },
    },
    SnapshotFamily {
        name: names::PROBE_DURATION,
        help: "Wall time of the last run of the probe.",
        unit: Some("seconds"),
        series: |s, t| {
            t.labels(&[("probe", &s.probe.probe)]);
            t.sample(None, Value::Float(s.duration_seconds))
        },
    },
    SnapshotFamily {
        name: names::PROBE_LAST_RUN_TIMESTAMP,
        help: "Unix time the last run of the probe finished.",
        unit: Some("seconds"),
        series: |s, t| {
            t.labels(&[("probe", &s.probe.probe)]);
            t.sample(None, Value::Float(s.finished_unix))
        },
    },
    SnapshotFamily {
        name: names::CHECK_SUCCESS,
        help: "Whether one check of the last run passed, per layer, endpoint (resolver or ENI address) and path.",
        unit: None,
        series: |s, t| {
            for c in &s.checks {
                t.labels(&c.labels.pairs());
                t.sample(None, Value::Int(i64::from(c.ok)))?;
            }
            Ok(())
        },
    },
    SnapshotFamily {
        name: names::CHECK_DURATION,
        help: "Duration of one phase of one check of the last run.",
        unit: Some("seconds"),
        series: |s, t| {
            for c in &s.checks {
                t.labels(&c.labels.pairs());
                for (phase, secs) in s.phases_of(c) {
                    t.sample(Some(("phase", phase.as_str())), Value::Float(*secs))?;
                }
            }
            Ok(())
        },
    },
    SnapshotFamily {
        name: names::FINDING,
        help: "An active finding of the last run (always 1): the root-cause hint; ids are in docs/runbooks/.",
        unit: None,
        series: |s, t| {
            for f in &s.findings {
                t.labels(&[
                    ("probe", &f.probe),
                    ("id", f.id),
                    ("layer", f.layer.as_str()),
                    ("severity", f.severity.as_str()),
                ]);
                t.sample(None, Value::Int(1))?;
            }
            Ok(())
        },
    },
    SnapshotFamily {
        name: names::NLB_TARGETS,
        help: "Targets of the integration's NLB target groups by health state (control plane).",
        unit: None,
        series: |s, t| {
            for (l, n) in &s.nlb_targets {
                t.labels(&[
                    ("probe", &l.probe),
                    ("target_group", &l.target_group),
                    ("state", &l.state),
                ]);
                t.sample(None, Value::Int(i64::try_from(*n).unwrap_or(i64::MAX)))?;
            }
            Ok(())
        },
    },
];

/// The per-probe families of `probes`: blackbox_exporter's two gauges first when `blackbox`
/// (a `/probe` answer: one probe), the last runs' families, then the cumulative ones of the
/// probes that have a tally. They end the exposition: OpenMetrics' `# EOF` follows.
fn encode_probes(t: &mut Text, probes: &[Taken], blackbox: bool) -> std::fmt::Result {
    let lasts: Vec<&ProbeSnapshot> = probes.iter().filter_map(|p| p.last.as_deref()).collect();
    if blackbox {
        // blackbox_exporter's names and meaning.
        for s in &lasts {
            t.labels(&[]);
            t.family(
                names::BLACKBOX_PROBE_SUCCESS,
                "Displays whether or not the probe was a success.",
                None,
                Kind::Gauge,
            )?;
            t.sample(None, Value::Int(i64::from(s.success)))?;
            t.family(
                names::BLACKBOX_PROBE_DURATION_SECONDS,
                "Returns how long the probe took to complete in seconds.",
                None,
                Kind::Gauge,
            )?;
            t.sample(None, Value::Float(s.duration_seconds))?;
        }
    }
    for f in SNAPSHOT_FAMILIES {
        t.family(f.name, f.help, f.unit, Kind::Gauge)?;
        for s in &lasts {
            (f.series)(s, t)?;
        }
    }
    if !blackbox {
        encode_tallies(t, probes)?;
    }
    if t.openmetrics() {
        t.eof()?;
    }
    Ok(())
}

/// `pgw_phase_duration_seconds` and `pgw_probe_runs_total` of the probes that have a tally.
fn encode_tallies(t: &mut Text, probes: &[Taken]) -> std::fmt::Result {
    let tallies: Vec<(&str, &Mutex<Tally>)> = probes
        .iter()
        .filter_map(|p| Some((&*p.name, &**p.tally.as_ref()?)))
        .collect();
    let bounds = Bounds::new(&PHASE_BUCKETS, t.openmetrics());
    t.family(
        names::PHASE_DURATION,
        "Distribution of phase durations of the probes' DNS lookups and invokes.",
        Some("seconds"),
        Kind::Histogram,
    )?;
    for (name, tally) in &tallies {
        // A copy: the lock is not held while writing.
        let phases = tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .phases
            .clone();
        for (phase, h) in Phase::ALL.iter().zip(&phases) {
            if let Some(h) = h {
                t.labels(&[("probe", name), ("phase", phase.as_str())]);
                t.histogram(&bounds, &h.buckets, h.sum, h.count)?;
            }
        }
    }
    t.family(
        names::PROBE_RUNS,
        "Scheduled probe runs by result: ok (chain healthy), failed (findings), skipped (previous run still in flight), error (this host could not run it: out of file descriptors or ports).",
        None,
        Kind::Counter,
    )?;
    for (name, tally) in &tallies {
        let runs = tally.lock().unwrap_or_else(|e| e.into_inner()).runs;
        for (result, n) in RunResult::ALL.iter().zip(runs) {
            if let Some(n) = n {
                t.labels(&[("probe", name), ("result", result.as_str())]);
                t.sample(None, Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))?;
            }
        }
    }
    Ok(())
}

/// The agent's metrics: its registry and handles to everything it updates.
#[derive(Debug)]
pub struct Metrics {
    /// The families that are not per probe.
    registry: Registry,
    probes: RwLock<Probes>,
    aws_api_errors: Family<AwsErrorLabels, Counter>,
    log_lookups: Family<LookupLabels, Counter>,
    reload_ok: Gauge,
    reload_ts: Gauge<f64, AtomicU64>,
    rejected: Counter,
    agent_info: Family<AgentInfoLabels, Gauge>,
    pushed: Family<PushLabels, Counter>,
    discovery: (Gauge, Gauge, Gauge<f64, AtomicU64>),
    discovery_errors: Family<AwsErrorLabels, Counter>,
    push_last_success: Gauge<f64, AtomicU64>,
    push_queue: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric of the agent.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        registry.register(
            names::BUILD,
            "pgw build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let aws_api_errors = Family::<AwsErrorLabels, Counter>::default();
        registry.register(
            names::AWS_API_ERRORS,
            "AWS API calls that failed (denied, throttled, unreachable), by operation",
            aws_api_errors.clone(),
        );
        let log_lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            names::EXECUTION_LOG_LOOKUPS,
            "Looks at the stage's execution logs for the requests a run saw API Gateway fail (at most one per probe per control_plane_interval), by result: found, not_delivered, disabled (the stage writes none), error",
            log_lookups.clone(),
        );
        let reload_ok = Gauge::default();
        registry.register(
            names::CONFIG_LAST_RELOAD_SUCCESSFUL,
            "Whether the last probe configuration (re)load succeeded",
            reload_ok.clone(),
        );
        let reload_ts = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            names::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
            "Unix time of the last successful probe configuration (re)load",
            Unit::Seconds,
            reload_ts.clone(),
        );
        let rejected = Counter::default();
        registry.register(
            names::HTTP_CONNECTIONS_REJECTED,
            "HTTP connections closed at once because --max-connections were open",
            rejected.clone(),
        );
        let agent_info = Family::<AgentInfoLabels, Gauge>::default();
        registry.register(
            names::AGENT_INFO,
            "Where this agent runs, from EC2's instance metadata (IMDSv2): 1, absent off EC2",
            agent_info.clone(),
        );
        let pushed = Family::<PushLabels, Counter>::default();
        registry.register(
            names::REMOTE_WRITE_SAMPLES,
            "Samples pushed by remote write (--remote-write), by result: sent, rejected (a 4xx other than 429), dropped (the queue was full)",
            pushed.clone(),
        );
        let push_last_success = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            names::REMOTE_WRITE_LAST_SUCCESS,
            "Unix time of the last successful remote-write push (0: none yet, or remote write off)",
            Unit::Seconds,
            push_last_success.clone(),
        );
        let push_queue = Gauge::default();
        registry.register(
            names::REMOTE_WRITE_QUEUE,
            "Samples waiting to be pushed by remote write",
            push_queue.clone(),
        );
        let discovery = (
            Gauge::default(),
            Gauge::default(),
            Gauge::<f64, AtomicU64>::default(),
        );
        registry.register(
            names::DISCOVERY_PROBES,
            "Probes the last good discovery refresh found (--discovery), after max_probes",
            discovery.0.clone(),
        );
        registry.register(
            names::DISCOVERY_CAPPED,
            "Private API stages discovery left out past max_probes",
            discovery.1.clone(),
        );
        registry.register_with_unit(
            names::DISCOVERY_LAST_SUCCESS,
            "Unix time of the last good discovery refresh (0: none yet, or discovery off)",
            Unit::Seconds,
            discovery.2.clone(),
        );
        let discovery_errors = Family::<AwsErrorLabels, Counter>::default();
        registry.register(
            names::DISCOVERY_ERRORS,
            "Failed discovery refreshes, by the AWS call that failed (the last good set stays)",
            discovery_errors.clone(),
        );
        Metrics {
            discovery,
            discovery_errors,
            pushed,
            push_last_success,
            push_queue,
            agent_info,
            registry,
            probes: RwLock::default(),
            aws_api_errors,
            log_lookups,
            reload_ok,
            reload_ts,
            rejected,
        }
    }

    /// The whole exposition, as OpenMetrics 1.0.0 or Prometheus text 0.0.4: the registry's
    /// families, then the probes'.
    pub fn encode(&self, w: &mut dyn Write, openmetrics: bool) -> std::fmt::Result {
        let probes: Vec<Taken> = self
            .probes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, p)| Taken {
                name: name.clone(),
                last: p.last.clone(),
                tally: Some(p.tally.clone()),
            })
            .collect();
        if openmetrics {
            prometheus_client::encoding::text::encode_registry(&mut &mut *w, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut &mut *w, &self.registry)?;
        }
        encode_probes(&mut Text::new(w, openmetrics), &probes, false)
    }

    /// Run `f` on `probe`'s series, made if it has none.
    fn with_probe<T>(&self, probe: &str, f: impl FnOnce(&mut ProbeSeries) -> T) -> T {
        let mut probes = self.probes.write().unwrap_or_else(|e| e.into_inner());
        match probes.get_mut(probe) {
            Some(p) => f(p),
            None => f(probes.entry(Arc::from(probe)).or_default()),
        }
    }

    /// Replace `snap`'s probe's series with `snap` (atomically) and feed the histograms.
    pub fn record_run(&self, snap: ProbeSnapshot) {
        let result = if snap.success {
            RunResult::Ok
        } else {
            RunResult::Failed
        };
        let name = snap.probe.probe.clone();
        self.with_probe(&name, |p| {
            let mut tally = p.tally.lock().unwrap_or_else(|e| e.into_inner());
            for (phase, secs) in snap.phase_observations() {
                tally.observe(phase, secs);
            }
            tally.count(result);
            drop(tally);
            p.last = Some(Arc::new(snap));
        });
    }

    /// One connection closed at once: `--max-connections` were open.
    pub fn count_rejected_connection(&self) {
        self.rejected.inc();
    }

    pub fn count_run(&self, probe: &str, result: RunResult) {
        self.with_probe(probe, |p| {
            p.tally
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .count(result)
        });
    }

    /// `pgw_probe_runs_total{probe,result}` so far.
    pub fn run_count(&self, probe: &str, result: RunResult) -> u64 {
        let probes = self.probes.read().unwrap_or_else(|e| e.into_inner());
        probes
            .get(probe)
            .and_then(|p| p.tally.lock().unwrap_or_else(|e| e.into_inner()).runs[result as usize])
            .unwrap_or(0)
    }

    /// Count the failed AWS calls of `snap` (once per control-plane read, not per reuse).
    pub fn count_aws_api_errors(&self, snap: &ProbeSnapshot) {
        for op in &snap.aws_errors {
            self.count_aws_api_error(*op);
        }
    }

    /// Count one look at the execution logs for `probe`.
    pub fn count_log_lookup(&self, probe: &str, result: LogsOutcome) {
        self.log_lookups
            .get_or_create(&LookupLabels {
                probe: probe.to_string(),
                result,
            })
            .inc();
    }

    /// Export `pgw_aws_api_errors_total` at 0 for every operation a control-plane read records,
    /// so that `rate()` and `increase()` see the first error (a counter that appears at 1 hides
    /// it). Idempotent; the agent calls it once some probe reads AWS.
    pub fn init_aws_api_errors(&self) {
        for op in Operation::ALL.iter().filter(|o| o.recorded()) {
            drop(
                self.aws_api_errors
                    .get_or_create(&AwsErrorLabels { operation: *op }),
            );
        }
    }

    pub fn count_aws_api_error(&self, operation: Operation) {
        self.aws_api_errors
            .get_or_create(&AwsErrorLabels { operation })
            .inc();
    }

    /// Drop the last-run series of `probe` (its config changed), keeping its cumulative series.
    pub fn forget_last_run(&self, probe: &str) {
        let mut probes = self.probes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = probes.get_mut(probe) {
            p.last = None;
        }
    }

    /// Drop every series of `probe` (it is no longer configured).
    pub fn remove_probe(&self, probe: &str) {
        let mut probes = self.probes.write().unwrap_or_else(|e| e.into_inner());
        probes.remove(probe);
    }

    /// The last-run series of `probe`, if it ran.
    pub fn last_run(&self, probe: &str) -> Option<Arc<ProbeSnapshot>> {
        let probes = self.probes.read().unwrap_or_else(|e| e.into_inner());
        probes.get(probe).and_then(|p| p.last.clone())
    }

    /// Record a configuration (re)load; `now_unix` is the wall clock.
    /// `n` remote-written samples ended as `result` (at `now_unix` for `sent`).
    pub fn count_pushed(&self, result: PushResult, n: u64, now_unix: f64) {
        self.pushed.get_or_create(&PushLabels { result }).inc_by(n);
        if result == PushResult::Sent {
            self.push_last_success.set(now_unix);
        }
    }

    /// Discovered probes in use (`kept`) and left out past `max_probes` (`capped`).
    pub fn discovery_counts(&self, kept: usize, capped: usize) {
        self.discovery
            .0
            .set(i64::try_from(kept).unwrap_or(i64::MAX));
        self.discovery
            .1
            .set(i64::try_from(capped).unwrap_or(i64::MAX));
    }

    /// A good discovery refresh at `now_unix`.
    pub fn discovery_succeeded(&self, now_unix: f64) {
        self.discovery.2.set(now_unix);
    }

    /// A failed discovery refresh, by its failed call.
    pub fn count_discovery_error(&self, operation: Operation) {
        self.discovery_errors
            .get_or_create(&AwsErrorLabels { operation })
            .inc();
    }

    /// Samples waiting in the remote-write queue.
    pub fn set_push_queue(&self, samples: usize) {
        self.push_queue
            .set(i64::try_from(samples).unwrap_or(i64::MAX));
    }

    /// Where the agent runs (`pgw_agent_info`), once IMDS said.
    pub fn set_whereabouts(&self, w: &crate::aws::imds::Whereabouts) {
        self.agent_info.clear();
        self.agent_info
            .get_or_create(&AgentInfoLabels {
                account: w.account.clone(),
                region: w.region.clone(),
                vpc_id: w.vpc_id.clone(),
                az: w.az.clone(),
                instance_id: w.instance_id.clone(),
            })
            .set(1);
    }

    pub fn config_loaded(&self, ok: bool, now_unix: f64) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_ts.set(now_unix);
        }
    }
}

/// The `/probe?target=` answer: blackbox_exporter's `probe_success` and
/// `probe_duration_seconds`, then `snap`'s series.
pub fn encode_probe(
    snap: Arc<ProbeSnapshot>,
    w: &mut dyn Write,
    openmetrics: bool,
) -> std::fmt::Result {
    let probes = [Taken {
        name: Arc::from(snap.probe.probe.as_str()),
        last: Some(snap),
        tally: None,
    }];
    encode_probes(&mut Text::new(w, openmetrics), &probes, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{build, Overrides};
    use crate::diagnose::testutil;
    use prometheus_client::metrics::histogram::Histogram;

    fn cfg() -> Config {
        let o = Overrides {
            api_id: Some("3eqr0osoc3".into()),
            region: Some("us-east-1".into()),
            stage: Some("test".into()),
            ..Default::default()
        };
        build(None, &o, None).unwrap()
    }

    fn run(m: &Metrics, facts: &Facts) -> ProbeSnapshot {
        let cfg = cfg();
        let findings = crate::diagnose::diagnose(facts);
        let snap = ProbeSnapshot::from_run(&cfg, facts, &findings, 1_700_000_000.0);
        m.record_run(snap.clone());
        snap
    }

    /// With the control plane, each ENI's checks carry its AZ; a resolver's none.
    #[test]
    fn eni_checks_carry_their_az() {
        let m = Metrics::new();
        run(&m, &testutil::healthy_cp());
        let t = text(&m);
        assert!(
            t.contains("pgw_check_success{probe=\"3eqr0osoc3-test\",layer=\"tcp\",check=\"connect\",endpoint=\"10.0.1.25:443\",path=\"\",az=\"us-east-1a\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("endpoint=\"10.0.0.2:53\",path=\"\",az=\"\"}"),
            "{t}"
        );
    }

    /// The control plane's NLB `orders-nlb` with one IP target group `orders-tg` on port 443.
    fn orders_nlb(targets: &[(&str, &str)]) -> crate::facts::control::Nlb {
        use crate::facts::control::{Nlb, Target, TargetGroup};
        Nlb {
            arn: "arn:nlb".into(),
            name: "orders-nlb".into(),
            vpc_id: None,
            azs: vec![],
            subnets: vec![],
            security_groups: vec![],
            enforce_privatelink_sg: None,
            listeners: None,
            target_groups: vec![TargetGroup {
                arn: "arn:tg".into(),
                name: "orders-tg".into(),
                port: Some(443),
                target_type: Some("ip".into()),
                targets: targets
                    .iter()
                    .map(|(id, state)| Target {
                        id: (*id).into(),
                        port: Some(443),
                        az: None,
                        state: (*state).into(),
                        reason: None,
                        description: None,
                    })
                    .collect(),
            }],
        }
    }

    fn text(m: &Metrics) -> String {
        let mut out = String::new();
        m.encode(&mut out, false).unwrap();
        out
    }

    fn probe_text(snap: ProbeSnapshot) -> String {
        let mut out = String::new();
        encode_probe(Arc::new(snap), &mut out, false).unwrap();
        out
    }

    #[test]
    fn healthy_run_encodes_contract_names() {
        let m = Metrics::new();
        m.config_loaded(true, 1_700_000_000.0);
        m.count_aws_api_error(Operation::DescribeVpcEndpoints);
        run(&m, &testutil::healthy());
        let t = text(&m);
        for want in [
            "pgw_build_info{version=\"",
            "pgw_probe_success{probe=\"3eqr0osoc3-test\",api_id=\"3eqr0osoc3\",stage=\"test\"} 1",
            "pgw_check_success{probe=\"3eqr0osoc3-test\",layer=\"tcp\",check=\"connect\",endpoint=\"10.0.1.25:443\",path=\"\",az=\"\"} 1",
            "pgw_check_success{probe=\"3eqr0osoc3-test\",layer=\"api\",check=\"invoke\",endpoint=\"10.0.2.25:443\",path=\"/pgw-probe\",az=\"\"} 1",
            "pgw_check_duration_seconds{probe=\"3eqr0osoc3-test\",layer=\"dns\",check=\"resolve\",endpoint=\"10.0.0.2:53\",path=\"\",az=\"\",phase=\"resolve\"} 0.001",
            "# TYPE pgw_phase_duration_seconds histogram",
            "pgw_phase_duration_seconds_count{probe=\"3eqr0osoc3-test\",phase=\"resolve\"} 1",
            "pgw_probe_runs_total{probe=\"3eqr0osoc3-test\",result=\"ok\"} 1",
            "pgw_aws_api_errors_total{operation=\"ec2:DescribeVpcEndpoints\"} 1",
            "# TYPE pgw_nlb_targets gauge",
            "pgw_config_last_reload_successful 1",
            "pgw_config_last_reload_success_timestamp_seconds 1700000000",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
        assert!(!t.contains("pgw_finding{"), "{t}");
        let mut om = String::new();
        m.encode(&mut om, true).unwrap();
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(
            om.contains("# UNIT pgw_check_duration_seconds seconds"),
            "{om}"
        );
    }

    #[test]
    fn cleared_finding_disappears_after_replace() {
        let m = Metrics::new();
        let mut broken = testutil::healthy();
        testutil::set_path(
            &mut broken,
            "/",
            testutil::gateway(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
        );
        let snap = run(&m, &broken);
        assert!(!snap.success);
        let t = text(&m);
        assert!(
            t.contains("pgw_finding{probe=\"3eqr0osoc3-test\",id=\"missing_root_any_method\",layer=\"api\",severity=\"critical\"} 1"),
            "{t}"
        );
        assert!(t.contains(
            "pgw_probe_success{probe=\"3eqr0osoc3-test\",api_id=\"3eqr0osoc3\",stage=\"test\"} 0"
        ));
        assert!(t.contains("result=\"failed\"} 1"), "{t}");

        run(&m, &testutil::healthy());
        let t = text(&m);
        assert!(!t.contains("pgw_finding{"), "{t}");
        assert!(t.contains(
            "pgw_probe_success{probe=\"3eqr0osoc3-test\",api_id=\"3eqr0osoc3\",stage=\"test\"} 1"
        ));
    }

    #[test]
    fn vanished_eni_series_disappear() {
        let m = Metrics::new();
        run(&m, &testutil::healthy());
        assert!(text(&m).contains("endpoint=\"10.0.2.25:443\""));
        let mut one = testutil::healthy();
        one.enis.truncate(1);
        run(&m, &one);
        assert!(!text(&m).contains("endpoint=\"10.0.2.25:443\""));
    }

    #[test]
    fn control_plane_calls_and_nlb_targets() {
        use crate::facts::control::{AwsCall, ControlFacts};
        let call = |operation: Operation, ok: bool| AwsCall {
            operation,
            ok,
            error: (!ok).then(|| "AccessDenied".into()),
            duration: std::time::Duration::from_millis(20),
        };
        let mut f = testutil::healthy();
        f.control = Some(ControlFacts {
            calls: vec![
                call(Operation::GetRestApi, true),
                call(Operation::DescribeVpcEndpoints, false),
            ],
            nlbs: vec![orders_nlb(&[
                ("10.1.0.5", "healthy"),
                ("10.1.1.5", "unhealthy"),
                ("10.1.2.5", "unhealthy"),
            ])],
            ..Default::default()
        });
        let m = Metrics::new();
        let snap = run(&m, &f);
        m.count_aws_api_errors(&snap);
        let t = text(&m);
        for want in [
            "pgw_check_success{probe=\"3eqr0osoc3-test\",layer=\"control_plane\",check=\"apigateway:GetRestApi\",endpoint=\"\",path=\"\",az=\"\"} 1",
            "pgw_check_success{probe=\"3eqr0osoc3-test\",layer=\"control_plane\",check=\"ec2:DescribeVpcEndpoints\",endpoint=\"\",path=\"\",az=\"\"} 0",
            "pgw_aws_api_errors_total{operation=\"ec2:DescribeVpcEndpoints\"} 1",
            "pgw_nlb_targets{probe=\"3eqr0osoc3-test\",target_group=\"orders-tg\",state=\"healthy\"} 1",
            "pgw_nlb_targets{probe=\"3eqr0osoc3-test\",target_group=\"orders-tg\",state=\"unhealthy\"} 2",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }

    #[test]
    fn aws_api_errors_start_at_zero_for_every_recorded_operation() {
        let m = Metrics::new();
        assert!(!text(&m).contains("pgw_aws_api_errors_total{"));
        m.init_aws_api_errors();
        m.count_aws_api_error(Operation::DescribeTargetHealth);
        m.init_aws_api_errors();
        let t = text(&m);
        let recorded: Vec<&Operation> = Operation::ALL.iter().filter(|o| o.recorded()).collect();
        for op in &recorded {
            let n = u64::from(**op == Operation::DescribeTargetHealth);
            let want = format!("pgw_aws_api_errors_total{{operation=\"{op}\"}} {n}\n");
            assert!(t.contains(&want), "missing {want:?} in\n{t}");
        }
        assert_eq!(
            t.matches("pgw_aws_api_errors_total{").count(),
            recorded.len()
        );
    }

    /// Exported family → its label names (`le` aside), from Prometheus text.
    fn label_sets(text: &str) -> BTreeMap<String, BTreeSet<String>> {
        let histograms: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" histogram"))
            .collect();
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let (sample, rest) = line.split_at(end);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| sample.strip_suffix(s))
                .find(|base| histograms.contains(base))
                .unwrap_or(sample);
            let labels = out.entry(family.to_string()).or_default();
            let Some(mut body) = rest.strip_prefix('{') else {
                continue;
            };
            // key="value" pairs; values may hold escaped quotes.
            while let Some((key, after)) = body.split_once("=\"") {
                labels.insert(key.trim_start_matches(',').to_string());
                let mut escaped = false;
                let close = after
                    .char_indices()
                    .find(|&(_, c)| {
                        let end = c == '"' && !escaped;
                        escaped = c == '\\' && !escaped;
                        end
                    })
                    .map(|(i, _)| i)
                    .expect("closed label value");
                body = &after[close + 1..];
                if body.starts_with('}') {
                    break;
                }
            }
        }
        for labels in out.values_mut() {
            labels.remove("le");
        }
        out
    }

    /// Documented metric → label names, from the metrics table of docs/agent.md.
    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md");
        let text = std::fs::read_to_string(path).unwrap();
        let table = text
            .split("| metric | type | labels |")
            .nth(1)
            .expect("metrics table");
        let backticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let mut out = BTreeMap::new();
        for row in table.lines().skip(2).take_while(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').collect();
            let labels: BTreeSet<String> = backticked(cells[3])
                .first()
                .map(|l| l.split(", ").map(str::to_string).collect())
                .unwrap_or_default();
            for name in backticked(cells[1]) {
                out.insert(name, labels.clone());
            }
        }
        out
    }

    /// A healthy chain whose `/` answers API Gateway's 403 MissingAuthenticationTokenException
    /// (a finding).
    fn missing_token_on_root() -> Facts {
        let mut f = testutil::healthy();
        testutil::set_path(
            &mut f,
            "/",
            testutil::gateway(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
        );
        f
    }

    #[test]
    fn documented_label_sets_are_the_exported_ones() {
        use crate::facts::control::{AwsCall, ControlFacts};
        // A run that exports every series: DNS, TCP, TLS and invokes, a finding, control-plane
        // calls (one failed) and NLB targets; a skipped run; a reload.
        let mut f = missing_token_on_root();
        f.control = Some(ControlFacts {
            calls: vec![AwsCall {
                operation: Operation::DescribeVpcEndpoints,
                ok: false,
                error: Some("UnauthorizedOperation".into()),
                duration: std::time::Duration::from_millis(20),
            }],
            nlbs: vec![orders_nlb(&[("10.1.0.5", "healthy")])],
            ..Default::default()
        });
        let m = Metrics::new();
        m.config_loaded(true, 1_700_000_000.0);
        m.init_aws_api_errors();
        let mut snap = run(&m, &f);
        assert!(!snap.findings.is_empty());
        // A custom-domain probe: `domain` is exported (the other routes leave it out).
        snap.probe.domain = "orders.internal.example.com".into();
        m.count_aws_api_errors(&snap);
        m.count_run("3eqr0osoc3-test", RunResult::Skipped);
        m.count_log_lookup("3eqr0osoc3-test", LogsOutcome::Found);
        m.count_pushed(PushResult::Sent, 10, 1_700_000_000.0);
        m.discovery_counts(3, 1);
        m.discovery_succeeded(1_700_000_000.0);
        m.count_discovery_error(Operation::GetRestApis);
        m.set_whereabouts(&crate::aws::imds::Whereabouts {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            vpc_id: "vpc-0a1b2c3d4e5f60031".into(),
            az: "us-east-1a".into(),
            instance_id: "i-0a1b2c3d4e5f60071".into(),
        });
        let mut exported = label_sets(&text(&m));
        exported.extend(label_sets(&probe_text(snap)));
        assert_eq!(
            documented(),
            exported,
            "docs/agent.md's metrics table and the exported label sets differ"
        );
    }

    #[test]
    fn removed_probe_loses_all_series() {
        let m = Metrics::new();
        run(&m, &testutil::healthy());
        m.remove_probe("3eqr0osoc3-test");
        let t = text(&m);
        assert!(!t.contains("probe=\"3eqr0osoc3-test\""), "{t}");
    }

    #[test]
    fn probe_registry_has_blackbox_names() {
        let snap = ProbeSnapshot::from_run(&cfg(), &testutil::healthy(), &[], 0.0);
        let t = probe_text(snap);
        assert!(t.contains("\nprobe_success 1\n"), "{t}");
        assert!(t.contains("\nprobe_duration_seconds "), "{t}");
        assert!(t.contains("pgw_probe_success{"), "{t}");
        assert!(!t.contains("pgw_build_info"), "{t}");
    }
    /// prometheus_client's own encoding of the per-probe families: the reference the
    /// hand-written text (`metrics::text`) must equal byte for byte, series order aside.
    type Labels = Vec<(String, String)>;

    struct Reference {
        snaps: Vec<ProbeSnapshot>,
        blackbox: bool,
        phases: Family<Labels, Histogram, fn() -> Histogram>,
        runs: Family<Labels, Counter>,
    }

    impl std::fmt::Debug for Reference {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Reference")
        }
    }

    fn pairs(l: &[(&str, &str)]) -> Vec<(String, String)> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    impl Reference {
        fn new(blackbox: bool) -> Reference {
            fn h() -> Histogram {
                Histogram::new(PHASE_BUCKETS)
            }
            Reference {
                snaps: Vec::new(),
                blackbox,
                phases: Family::new_with_constructor(h as fn() -> Histogram),
                runs: Family::default(),
            }
        }

        /// What `Metrics::record_run` records.
        fn record(&mut self, s: &ProbeSnapshot) {
            for (phase, secs) in s.phase_observations() {
                let l = pairs(&[("probe", &s.probe.probe), ("phase", phase.as_str())]);
                self.phases.get_or_create(&l).observe(secs);
            }
            let result = if s.success { "ok" } else { "failed" };
            self.count(&s.probe.probe, result);
            self.snaps.retain(|x| x.probe.probe != s.probe.probe);
            self.snaps.push(s.clone());
            self.snaps.sort_by(|a, b| a.probe.probe.cmp(&b.probe.probe));
        }

        fn count(&mut self, probe: &str, result: &str) {
            self.runs
                .get_or_create(&pairs(&[("probe", probe), ("result", result)]))
                .inc();
        }
    }

    impl prometheus_client::collector::Collector for Reference {
        fn encode(
            &self,
            mut enc: prometheus_client::encoding::DescriptorEncoder,
        ) -> std::fmt::Result {
            use prometheus_client::encoding::EncodeMetric;
            use prometheus_client::metrics::gauge::ConstGauge;
            use prometheus_client::metrics::MetricType;
            if self.blackbox {
                for s in &self.snaps {
                    let m = enc.encode_descriptor(
                        "probe_success",
                        "Displays whether or not the probe was a success.",
                        None,
                        MetricType::Gauge,
                    )?;
                    ConstGauge::new(i64::from(s.success)).encode(m)?;
                    let m = enc.encode_descriptor(
                        "probe_duration_seconds",
                        "Returns how long the probe took to complete in seconds.",
                        None,
                        MetricType::Gauge,
                    )?;
                    ConstGauge::new(s.duration_seconds).encode(m)?;
                }
            }
            for f in SNAPSHOT_FAMILIES {
                let unit = f.unit.map(|_| Unit::Seconds);
                let mut m =
                    enc.encode_descriptor(f.name, f.help, unit.as_ref(), MetricType::Gauge)?;
                for s in &self.snaps {
                    for (l, v) in reference_series(f.name, s) {
                        match v {
                            Value::Int(v) => ConstGauge::new(v).encode(m.encode_family(&l)?)?,
                            Value::Float(v) => ConstGauge::new(v).encode(m.encode_family(&l)?)?,
                        }
                    }
                }
            }
            if !self.blackbox {
                self.phases.encode(enc.encode_descriptor(
                    names::PHASE_DURATION,
                    "Distribution of phase durations of the probes' DNS lookups and invokes.",
                    Some(&Unit::Seconds),
                    MetricType::Histogram,
                )?)?;
                self.runs.encode(enc.encode_descriptor(
                    names::PROBE_RUNS,
                    "Scheduled probe runs by result: ok (chain healthy), failed (findings), skipped (previous run still in flight), error (this host could not run it: out of file descriptors or ports).",
                    None,
                    MetricType::Counter,
                )?)?;
            }
            Ok(())
        }
    }

    /// One run's series of per-probe family `name`, built apart from `SNAPSHOT_FAMILIES`'
    /// writers.
    fn reference_series(name: &str, s: &ProbeSnapshot) -> Vec<(Labels, Value)> {
        let probe = || pairs(&[("probe", &s.probe.probe)]);
        match name {
            names::PROBE_SUCCESS => {
                let mut l = pairs(&[
                    ("probe", &s.probe.probe),
                    ("api_id", &s.probe.api_id),
                    ("stage", &s.probe.stage),
                ]);
                if !s.probe.domain.is_empty() {
                    l.extend(pairs(&[("domain", &s.probe.domain)]));
                }
                vec![(l, Value::Int(i64::from(s.success)))]
            }
            names::PROBE_DURATION => vec![(probe(), Value::Float(s.duration_seconds))],
            names::PROBE_LAST_RUN_TIMESTAMP => vec![(probe(), Value::Float(s.finished_unix))],
            names::CHECK_SUCCESS => s
                .checks
                .iter()
                .map(|c| (pairs(&c.labels.pairs()), Value::Int(i64::from(c.ok))))
                .collect(),
            names::CHECK_DURATION => s
                .checks
                .iter()
                .flat_map(|c| {
                    s.phases_of(c).iter().map(|(phase, secs)| {
                        let mut l = pairs(&c.labels.pairs());
                        l.extend(pairs(&[("phase", phase.as_str())]));
                        (l, Value::Float(*secs))
                    })
                })
                .collect(),
            names::FINDING => s
                .findings
                .iter()
                .map(|f| {
                    let l = pairs(&[
                        ("probe", &f.probe),
                        ("id", f.id),
                        ("layer", f.layer.as_str()),
                        ("severity", f.severity.as_str()),
                    ]);
                    (l, Value::Int(1))
                })
                .collect(),
            names::NLB_TARGETS => s
                .nlb_targets
                .iter()
                .map(|(t, n)| {
                    let l = pairs(&[
                        ("probe", &t.probe),
                        ("target_group", &t.target_group),
                        ("state", &t.state),
                    ]);
                    (l, Value::Int(*n as i64))
                })
                .collect(),
            other => panic!("no reference for {other}"),
        }
    }

    /// `text` with each family's series sorted (a series' lines kept together and in order):
    /// prometheus_client's `Family` writes its series in hash order.
    fn series_sorted(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut series: BTreeMap<String, String> = BTreeMap::new();
        let flush = |series: &mut BTreeMap<String, String>, out: &mut Vec<String>| {
            out.extend(std::mem::take(series).into_values());
        };
        for line in text.lines() {
            if line.starts_with("# HELP ") || line == "# EOF" {
                flush(&mut series, &mut out);
            }
            if line.starts_with('#') {
                out.push(line.to_string());
                continue;
            }
            let labels = line
                .find('{')
                .map_or("", |i| &line[i..line.rfind('}').unwrap()]);
            let key = labels.split(",le=\"").next().unwrap().to_string();
            let s = series.entry(key).or_default();
            s.push_str(line);
            s.push('\n');
        }
        flush(&mut series, &mut out);
        out
    }

    /// Runs whose series exercise every writer path: label values to escape, a custom domain,
    /// findings, NLB targets, phase values on and past the bucket bounds, non-finite ones.
    fn odd_runs() -> Vec<ProbeSnapshot> {
        let mut f = missing_token_on_root();
        f.control = Some(crate::facts::control::ControlFacts {
            nlbs: vec![orders_nlb(&[
                ("10.1.0.5", "healthy"),
                ("10.1.0.6", "unhealthy"),
                ("10.1.0.7", "healthy"),
            ])],
            ..Default::default()
        });
        let findings = crate::diagnose::diagnose(&f);
        let a = ProbeSnapshot::from_run(&cfg(), &f, &findings, 1_700_000_000.123);
        let mut b = ProbeSnapshot::from_run(&cfg(), &testutil::healthy(), &[], 1_700_000_030.5);
        b.probe.probe = "odd \"name\" \\ with\nline".into();
        b.probe.domain = "orders.internal.example.com".into();
        b.duration_seconds = 12.0;
        let odd = Shared(Arc::from(b.probe.probe.as_str()));
        for c in &mut b.checks {
            c.labels.probe = odd.clone();
            if c.labels.check == CheckKind::Resolve.as_str() {
                // Every bucket edge and the non-finite values, as this check's phases.
                let start = b.phases.len() as u32;
                b.phases.extend(
                    [0.0, 0.001, 0.0025, 0.7, 30.0, 31.0, 1e-9, 2.5e6]
                        .into_iter()
                        .map(|v| (Phase::Resolve, v))
                        .chain([(Phase::Connect, f64::INFINITY), (Phase::Tls, f64::NAN)]),
                );
                c.phases = start..b.phases.len() as u32;
            }
        }
        b.nlb_targets = vec![(
            NlbTargetLabels {
                probe: b.probe.probe.clone(),
                target_group: "tg\"1\\".into(),
                state: "initial".into(),
            },
            2,
        )];
        vec![a, b]
    }

    #[test]
    fn tally_indexes_are_the_exposition_order() {
        // `Tally` indexes by discriminant and is written in `ALL` order.
        for (i, p) in Phase::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i, "{p:?}");
        }
        for (i, r) in RunResult::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    #[test]
    fn hand_written_text_is_prometheus_clients() {
        let m = Metrics::new();
        m.config_loaded(true, 1_700_000_000.0);
        let mut reference = Reference::new(false);
        for round in 0..2 {
            for s in odd_runs() {
                if round == 1 && s.probe.probe != "3eqr0osoc3-test" {
                    // Run counts by every result.
                    m.count_run(&s.probe.probe, RunResult::Skipped);
                    reference.count(&s.probe.probe, "skipped");
                    m.count_run(&s.probe.probe, RunResult::Error);
                    reference.count(&s.probe.probe, "error");
                }
                m.record_run(s.clone());
                reference.record(&s);
            }
        }
        let snap = m.last_run("3eqr0osoc3-test").unwrap();
        let mut ref_probe = Reference::new(true);
        ref_probe.snaps.push((*snap).clone());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(reference));
        let mut probe_registry = Registry::default();
        probe_registry.register_collector(Box::new(ref_probe));
        for openmetrics in [false, true] {
            let mut want = String::new();
            let mut probe_want = String::new();
            if openmetrics {
                use prometheus_client::encoding::text::{encode, encode_registry};
                encode_registry(&mut want, &m.registry).unwrap();
                encode(&mut want, &registry).unwrap();
                encode(&mut probe_want, &probe_registry).unwrap();
            } else {
                use prometheus_client::encoding::prometheus_text::encode;
                encode(&mut want, &m.registry).unwrap();
                encode(&mut want, &registry).unwrap();
                encode(&mut probe_want, &probe_registry).unwrap();
            }
            let mut got = String::new();
            m.encode(&mut got, openmetrics).unwrap();
            assert!(got.contains("odd \\\"name\\\" \\\\ with\\nline"), "{got}");
            assert!(got.contains("+Inf") && got.contains("NaN"), "{got}");
            assert_eq!(
                series_sorted(&got),
                series_sorted(&want),
                "openmetrics: {openmetrics}"
            );
            let mut probe_got = String::new();
            encode_probe(snap.clone(), &mut probe_got, openmetrics).unwrap();
            assert_eq!(probe_got, probe_want, "openmetrics: {openmetrics}");
        }
    }
}
