//! Probe set loading: one probe file, or every `*.toml` file of a directory. Names must be
//! unique; any bad file fails the whole load with `file:line:column`. And what a loaded probe keeps
//! between runs of the control plane: its AWS clients and reads, shared with the probes of the
//! same clients and chain ([`ControlCache`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::aws::sdk::SdkInventory;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::facts::control::{ControlFacts, ExecutionLogs};
use crate::finding::FindingId;
use crate::probe::Prober;

/// One configured probe: its validated config and the prober built from it.
#[derive(Debug)]
pub struct Probe {
    pub cfg: Config,
    pub prober: Prober,
    /// The probe file it came from.
    pub source: PathBuf,
    /// Everything the config says, to tell a changed probe from an unchanged one on reload.
    fingerprint: (u64, u64),
    /// The control plane's clients and last read.
    pub control: ControlCache,
}

/// Control-plane reads of one probe: the AWS clients (shared with every probe of the same region,
/// endpoint and roles), got on first use, and the reads it used. A read is shared by every probe
/// reading the same chain through the same clients ([`ReadKey`]): made once when none is fresh,
/// then reused until `control_plane_interval` has passed (AWS APIs are rate-limited and not free)
/// — and by each probe only while its data plane looks as it did beside the read: a probe keeps
/// its data-plane finding ids with the read it used, and wants a read made after a change.
#[derive(Debug, Default)]
pub struct ControlCache {
    inventory: tokio::sync::OnceCell<Arc<SdkInventory>>,
    reads: tokio::sync::OnceCell<Arc<ReadSlot>>,
    /// Boxed: most probes never read AWS.
    used: std::sync::Mutex<Option<Box<Used>>>,
    logs: std::sync::Mutex<Option<Box<CachedLogs>>>,
}

/// A look at the execution logs, when it was made, and the failures it was for.
#[derive(Debug, Clone)]
struct CachedLogs {
    at: Instant,
    failures: Vec<String>,
    logs: ExecutionLogs,
}

/// A control-plane read and when it began.
#[derive(Debug)]
pub struct Read {
    pub at: Instant,
    pub facts: ControlFacts,
    /// Made for a run, begun then, that saw its data plane change: the read shows the control
    /// plane after that change.
    pub for_change: Option<Instant>,
}

/// Which reads a run takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Reads begun at or after this (`None`: any).
    not_before: Option<Instant>,
    /// Or reads made for a change of the data plane some run saw after this instant (a probe's
    /// data plane changed after its previous run began; another probe of the chain that saw a
    /// change since has read after it).
    change_after: Option<Instant>,
    /// This run, begun then, wants a read for a change of its data plane.
    for_change: Option<Instant>,
}

impl Want {
    /// What a run begun at `start` takes when its data plane changed since the last run
    /// (`last`: what that run saw).
    fn after_change(last: Option<&Used>, start: Instant) -> Want {
        Want {
            not_before: Some(start),
            change_after: last.map(|u| u.start),
            for_change: Some(start),
        }
    }

    fn takes(&self, r: &Read) -> bool {
        self.not_before.is_none_or(|t| r.at >= t)
            || self
                .change_after
                .is_some_and(|p| r.for_change.is_some_and(|s| s > p))
    }
}

/// Who made a read a probe takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// Another run (of this probe or another), earlier.
    Shared,
    /// This run, in full.
    Now,
    /// This run, cut short by its deadline: not shared, and the next run reads again.
    Cut,
}

/// What a probe's last run saw: when it began, the data plane beside the read it used, and the
/// earliest start of a read its next run takes (after a read cut short, or a change of the data
/// plane with no time left to read again).
#[derive(Debug)]
struct Used {
    start: Instant,
    data_plane: Vec<FindingId>,
    not_before: Option<Instant>,
}

/// Which AWS clients a probe needs: region, endpoint URL, roles per account.
type ClientsKey = (String, Option<String>, BTreeMap<String, String>);

/// What a control-plane read depends on: the clients, then API id, stage, custom domain name and
/// its id.
type ReadKey = (ClientsKey, String, String, Option<String>, Option<String>);

/// The last complete read of one [`ReadKey`]. The lock is held while reading: probes wanting a
/// fresher read than the last wait for the one being made instead of making their own.
#[derive(Debug, Default)]
struct ReadSlot(tokio::sync::Mutex<Option<Arc<Read>>>);

impl ReadSlot {
    /// The shared read when `want` takes it, else one made now with `read` (once for every probe
    /// waiting here) and shared when complete by `deadline`. A probe whose deadline passes while
    /// another reads makes its own read, cut short at once.
    async fn get<F>(
        &self,
        want: Want,
        deadline: Instant,
        read: impl FnOnce() -> F,
    ) -> (Arc<Read>, Made)
    where
        F: std::future::Future<Output = ControlFacts>,
    {
        let Ok(mut last) = tokio::time::timeout_at(deadline, self.0.lock()).await else {
            let at = Instant::now();
            let facts = read().await;
            let for_change = want.for_change;
            return (
                Arc::new(Read {
                    at,
                    facts,
                    for_change,
                }),
                Made::Cut,
            );
        };
        if let Some(r) = last.as_ref().filter(|r| want.takes(r)) {
            return (Arc::clone(r), Made::Shared);
        }
        let at = Instant::now();
        let read = Arc::new(Read {
            at,
            facts: read().await,
            for_change: want.for_change,
        });
        // A read the deadline cut short is not shared.
        if Instant::now() >= deadline {
            return (read, Made::Cut);
        }
        *last = Some(Arc::clone(&read));
        (read, Made::Now)
    }
}

/// The AWS clients in use, one set per [`ClientsKey`] (a set is a credential chain, an HTTP
/// client and its TLS roots: hundreds of KiB, once per agent instead of once per probe). Held
/// weakly: a set goes when its last probe does.
static CLIENTS: tokio::sync::Mutex<BTreeMap<ClientsKey, Weak<SdkInventory>>> =
    tokio::sync::Mutex::const_new(BTreeMap::new());

/// The read slots in use, one per [`ReadKey`], held weakly like [`CLIENTS`].
static READS: std::sync::Mutex<BTreeMap<ReadKey, Weak<ReadSlot>>> =
    std::sync::Mutex::new(BTreeMap::new());

fn clients_key(
    region: &str,
    endpoint_url: Option<&str>,
    roles: &BTreeMap<String, String>,
) -> ClientsKey {
    (
        region.to_string(),
        endpoint_url.map(str::to_string),
        roles.clone(),
    )
}

/// The shared clients for a region, endpoint URL and roles, built when nothing holds them
/// (probes, and discovery's refreshes: the probes it finds use the same set).
pub(crate) async fn shared_inventory(
    region: &str,
    endpoint_url: Option<&str>,
    roles: &BTreeMap<String, String>,
) -> Arc<SdkInventory> {
    let key = clients_key(region, endpoint_url, roles);
    let mut all = CLIENTS.lock().await;
    all.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = all.get(&key).and_then(Weak::upgrade) {
        return c;
    }
    let c = Arc::new(SdkInventory::new(region, endpoint_url, roles).await);
    all.insert(key, Arc::downgrade(&c));
    c
}

/// The read slot of `cfg`'s chain, made when no probe holds it.
fn shared_slot(cfg: &Config) -> Arc<ReadSlot> {
    let key: ReadKey = (
        clients_key(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles),
        cfg.api_id.clone(),
        cfg.stage_name().to_string(),
        cfg.domain_name.clone(),
        cfg.domain_name_id.clone(),
    );
    let mut all = READS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|_, w| w.strong_count() > 0);
    if let Some(s) = all.get(&key).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(ReadSlot::default());
    all.insert(key, Arc::downgrade(&s));
    s
}

impl ControlCache {
    /// The AWS clients for `cfg` (shared, got once).
    pub async fn inventory(&self, cfg: &Config) -> &SdkInventory {
        self.inventory
            .get_or_init(|| {
                shared_inventory(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles)
            })
            .await
    }

    /// The reads a run begun at `now` takes: begun less than `max_age` before, and after what
    /// the last run asked for.
    pub fn want(&self, now: Instant, max_age: Duration) -> Want {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // The later of the two (`None`, any read, is the least).
        let not_before = now
            .checked_sub(max_age)
            .max(used.as_ref().and_then(|u| u.not_before));
        Want {
            not_before,
            ..Want::default()
        }
    }

    /// The reads a run begun at `start` takes when its data plane changed since the last run:
    /// one begun in this run, or one made for a change another run saw since the last run began
    /// (the probes of one chain see a fault one after the other, and read once for it).
    pub fn want_after_change(&self, start: Instant) -> Want {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        Want::after_change(used.as_deref(), start)
    }

    /// `cfg`'s chain as `want` takes it by `deadline` ([`ReadSlot::get`]), and who made the
    /// read.
    pub async fn read(&self, cfg: &Config, want: Want, deadline: Instant) -> (Arc<Read>, Made) {
        let slot = self.reads.get_or_init(|| async { shared_slot(cfg) }).await;
        let inv = self.inventory(cfg).await;
        // Boxed: the SDK's futures are large.
        let read = || Box::pin(crate::run::read_control_plane(inv, cfg, deadline));
        slot.get(want, deadline, read).await
    }

    /// Whether `read` stands beside the data plane of a run begun at `start` (its finding ids,
    /// `data_plane`): it does unless the data plane changed since this probe's last run and the
    /// read is not one [`ControlCache::want_after_change`] takes.
    pub fn beside(&self, read: &Read, start: Instant, data_plane: &[FindingId]) -> bool {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let Some(u) = used.as_deref() else {
            return true;
        };
        u.data_plane == data_plane || Want::after_change(Some(u), start).takes(read)
    }

    /// A run begun at `start` used `read` beside `data_plane`; the next run may too, unless the
    /// deadline cut the read short (`cut`).
    pub fn keep(&self, read: &Read, start: Instant, data_plane: Vec<FindingId>, cut: bool) {
        self.set(start, data_plane, cut.then_some(read.at));
    }

    /// A run begun at `start` saw its data plane change (`data_plane`) and had no time left to
    /// read again: the next run takes a read made after `start`.
    pub fn reread_after(&self, start: Instant, data_plane: Vec<FindingId>) {
        self.set(start, data_plane, Some(start));
    }

    fn set(&self, start: Instant, data_plane: Vec<FindingId>, not_before: Option<Instant>) {
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(Used {
            start,
            data_plane,
            not_before,
        }));
    }

    /// The last look at the execution logs, if made for the same `failures` less than `max_age`
    /// before `now`.
    pub fn logs_for(
        &self,
        failures: &[String],
        now: Instant,
        max_age: Duration,
    ) -> Option<ExecutionLogs> {
        let last = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|l| l.failures == failures && now.saturating_duration_since(l.at) < max_age)
            .map(|l| l.logs.clone())
    }

    /// Keep a look at the execution logs made at `at` for `failures`.
    pub fn store_logs(&self, at: Instant, failures: Vec<String>, logs: ExecutionLogs) {
        *self.logs.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Box::new(CachedLogs { at, failures, logs }));
    }
}

impl Probe {
    /// Validate `cfg` into a probe, building its prober (trust roots, resolvers).
    pub fn new(cfg: Config, source: PathBuf) -> Result<Probe, ConfigError> {
        let prober = Prober::new(&cfg).map_err(|e| ConfigError {
            location: source.display().to_string(),
            message: e.to_string(),
        })?;
        let fingerprint = fingerprint(&cfg);
        Ok(Probe {
            cfg,
            prober,
            source,
            fingerprint,
            control: ControlCache::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Same configuration (the file it came from does not matter).
    pub fn same_config(&self, other: &Probe) -> bool {
        self.fingerprint == other.fingerprint
    }
}

/// A 128-bit digest of the configuration as `Debug` shows it, written straight into two hashers:
/// the text itself (a probe with a CA file shows its certificate in hex, ~2 KiB) was the agent's
/// largest allocation per probe when kept.
fn fingerprint(cfg: &Config) -> (u64, u64) {
    use std::fmt::Write as _;
    use std::hash::Hasher;
    struct Digest(std::hash::DefaultHasher, std::hash::DefaultHasher);
    impl std::fmt::Write for Digest {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            self.1.write(s.as_bytes());
            Ok(())
        }
    }
    let mut d = Digest(
        std::hash::DefaultHasher::new(),
        std::hash::DefaultHasher::new(),
    );
    d.1.write_u8(0x5a);
    let _ = write!(d, "{cfg:?}");
    (d.0.finish(), d.1.finish())
}

/// The loaded probes, by name.
#[derive(Debug, Default, Clone)]
pub struct ProbeSet {
    pub probes: BTreeMap<String, Arc<Probe>>,
}

impl ProbeSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Probe>> {
        self.probes.get(name)
    }
    pub fn len(&self) -> usize {
        self.probes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }
    /// Whether `probe` (this very instance) is part of the set.
    pub fn contains(&self, probe: &Arc<Probe>) -> bool {
        self.get(probe.name())
            .is_some_and(|p| Arc::ptr_eq(p, probe))
    }
}

/// The probe files at `path`: the file itself, or the directory's `*.toml` files, sorted.
pub fn probe_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let err = |message: String| ConfigError {
        location: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| err(format!("cannot list: {e}")))? {
        let p = entry.map_err(|e| err(format!("cannot list: {e}")))?.path();
        // Every *.toml is a probe file: one that cannot be read (a dangling symlink, a loop) or is
        // no regular file (a FIFO, a device) is an error naming it, never skipped.
        if p.extension().is_some_and(|x| x == "toml") {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(err("no probe files (*.toml) in this directory".into()));
    }
    Ok(files)
}

/// Load and validate every probe at `path` (a file or a directory).
pub fn load(path: &Path) -> Result<ProbeSet, ConfigError> {
    let mut set = ProbeSet::default();
    for file in probe_files(path)? {
        let (pf, src) = config::read_probe_file(&file)?;
        let cfg = config::build(
            Some((&file, &src, &pf)),
            &Overrides::default(),
            config::env_region(),
        )?;
        if cfg.stage.is_none() {
            // The doctor discovers a missing stage; a probe run every 30 s names it.
            return Err(ConfigError {
                location: file.display().to_string(),
                message:
                    "stage: required in probe files for pgw-agent (only pgw-doctor discovers it)"
                        .into(),
            });
        }
        if let Some(other) = set.get(&cfg.name) {
            let offset = pf.name.as_ref().map_or(0, |n| n.span().start);
            return Err(ConfigError {
                location: config::file_position(&file, &src, offset),
                message: format!(
                    "duplicate probe name {:?} (also in {}); set a unique `name`",
                    cfg.name,
                    other.source.display()
                ),
            });
        }
        let probe = Probe::new(cfg, file)?;
        set.probes.insert(probe.name().to_string(), Arc::new(probe));
    }
    Ok(set)
}

impl super::scheduler::Schedule for Probe {
    fn name(&self) -> &str {
        Probe::name(self)
    }
    fn interval(&self) -> Duration {
        self.cfg.interval
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh empty directory under the system temp dir.
    pub(crate) fn temp_dir() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "pgw-agent-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A valid probe file body (loopback resolver: no system configuration needed).
    pub(crate) fn probe_toml(name: &str) -> String {
        format!(
            "name = \"{name}\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
             resolvers = [\"127.0.0.1:1\"]\nno_aws = true\ntimeout = \"1s\"\ninterval = \"30s\"\n"
        )
    }

    #[test]
    fn loads_every_toml_in_a_directory() {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("a")).unwrap();
        std::fs::write(d.join("b.toml"), probe_toml("b")).unwrap();
        std::fs::write(d.join("notes.txt"), "not a probe").unwrap();
        let set = load(&d).unwrap();
        assert_eq!(set.probes.keys().collect::<Vec<_>>(), ["a", "b"]);
        let one = load(&d.join("a.toml")).unwrap();
        assert_eq!(one.len(), 1);
    }

    /// Each kind of file that is not a plain probe file fails the load with one line naming it.
    #[test]
    fn probe_files_that_are_not_plain_files_are_errors_naming_them() {
        use std::os::unix::fs::symlink;
        type Make = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Make, &str)> = vec![
            (
                "dangling.toml",
                Box::new(|p| symlink("/nonexistent/pgw/probe.toml", p).unwrap()),
                "dangling.toml: probe file: cannot read",
            ),
            (
                "loop.toml",
                Box::new(|p| symlink(p, p).unwrap()),
                "loop.toml: probe file: cannot read",
            ),
            (
                "fifo.toml",
                Box::new(|p| {
                    let ok = std::process::Command::new("mkfifo")
                        .arg(p)
                        .status()
                        .unwrap();
                    assert!(ok.success());
                }),
                "fifo.toml: probe file: not a regular file",
            ),
            (
                "latin1.toml",
                Box::new(|p| {
                    std::fs::write(p, b"api_id = \"3eqr0osoc3\"\nname = \"caf\xe9\"\n").unwrap()
                }),
                "latin1.toml:2:12: not UTF-8",
            ),
        ];
        for (name, make, want) in cases {
            let d = temp_dir();
            std::fs::write(d.join("a.toml"), probe_toml("a")).unwrap();
            make(&d.join(name));
            let e = load(&d).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_ca_file_that_never_ends_is_refused_at_once() {
        let d = temp_dir();
        let body = probe_toml("a") + "ca_file = \"/dev/zero\"\n";
        std::fs::write(d.join("a.toml"), body).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(
            e.contains("cannot read CA file /dev/zero: not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_names_fail_with_position() {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("same")).unwrap();
        std::fs::write(d.join("b.toml"), probe_toml("same")).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(
            e.contains("b.toml:1:8: duplicate probe name \"same\""),
            "{e}"
        );
    }

    #[test]
    fn bad_file_fails_the_whole_load() {
        let d = temp_dir();
        std::fs::write(d.join("a.toml"), probe_toml("a")).unwrap();
        std::fs::write(d.join("b.toml"), "api_id = \"3eqr0osoc3\"\nbogus = 1\n").unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("b.toml:2:1: unknown field `bogus`"), "{e}");
        assert!(!e.contains('\n'));
    }

    /// A probe config reading `api` from an AWS endpoint at `endpoint`.
    fn aws_cfg(api: &str, endpoint: &str) -> Config {
        let src = format!(
            "api_id = \"{api}\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
             aws_endpoint_url = \"{endpoint}\"\n"
        );
        let p = Path::new("p.toml");
        let pf = config::parse_probe_file(p, &src).unwrap();
        config::build(Some((p, &src, &pf)), &Overrides::default(), None).unwrap()
    }

    #[test]
    fn probes_of_one_chain_and_clients_share_one_read_slot() {
        let e = "http://127.0.0.1:1";
        let a = shared_slot(&aws_cfg("aaaaaaaaaa", e));
        assert!(Arc::ptr_eq(&a, &shared_slot(&aws_cfg("aaaaaaaaaa", e))));
        assert!(!Arc::ptr_eq(&a, &shared_slot(&aws_cfg("bbbbbbbbbb", e))));
        let other_endpoint = shared_slot(&aws_cfg("aaaaaaaaaa", "http://127.0.0.1:2"));
        assert!(!Arc::ptr_eq(&a, &other_endpoint));
    }

    /// A read taking `took`, counted in `n`.
    async fn slow_read(n: &std::sync::atomic::AtomicUsize, took: Duration) -> ControlFacts {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(took).await;
        ControlFacts::default()
    }

    /// Reads begun at or after `t`.
    fn since(t: Instant) -> Want {
        Want {
            not_before: Some(t),
            ..Want::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_read_for_the_probes_waiting_and_reused_within_its_interval() {
        let slot = ReadSlot::default();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let sec = Duration::from_secs(1);
        let deadline = Instant::now() + 10 * sec;
        let any = Want::default();
        // Three probes wanting a read at once: one reads, the others wait for it.
        let (a, b, c) = tokio::join!(
            slot.get(any, deadline, || slow_read(&n, 2 * sec)),
            slot.get(any, deadline, || slow_read(&n, 2 * sec)),
            slot.get(any, deadline, || slow_read(&n, 2 * sec)),
        );
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&a.0, &b.0) && Arc::ptr_eq(&a.0, &c.0));
        let mut made = [a.1, b.1, c.1];
        made.sort_by_key(|m| *m == Made::Shared);
        assert_eq!(made, [Made::Now, Made::Shared, Made::Shared]);
        // Recent enough: reused; wanted newer: read again, then that one is shared.
        let (r, m) = slot
            .get(since(a.0.at), deadline, || slow_read(&n, sec))
            .await;
        assert!(Arc::ptr_eq(&r, &a.0) && m == Made::Shared);
        let (r, m) = slot
            .get(since(Instant::now()), deadline, || slow_read(&n, sec))
            .await;
        assert!(!Arc::ptr_eq(&r, &a.0) && m == Made::Now);
        let (r2, m) = slot.get(since(r.at), deadline, || slow_read(&n, sec)).await;
        assert!(Arc::ptr_eq(&r, &r2) && m == Made::Shared);
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_cut_short_is_not_shared_and_a_waiter_keeps_its_deadline() {
        let slot = ReadSlot::default();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let sec = Duration::from_secs(1);
        let now = Instant::now();
        let any = Want::default();
        // One probe reads for 20 s with 10 s left; another with 3 s left waits, then reads alone.
        let (a, b) = tokio::join!(
            slot.get(any, now + 10 * sec, || async {
                tokio::time::timeout_at(now + 10 * sec, slow_read(&n, 20 * sec))
                    .await
                    .unwrap_or_default()
            }),
            async {
                tokio::time::sleep(sec).await;
                slot.get(any, now + 3 * sec, || async { ControlFacts::default() })
                    .await
            }
        );
        assert_eq!((a.1, b.1), (Made::Cut, Made::Cut));
        assert_eq!(
            b.0.at,
            now + 3 * sec,
            "the waiter stopped waiting at its deadline"
        );
        // Neither was kept: the next probe reads.
        let (_, m) = slot
            .get(any, Instant::now() + 10 * sec, || slow_read(&n, sec))
            .await;
        assert_eq!(m, Made::Now);
    }

    fn read_at(at: Instant, for_change: Option<Instant>) -> Read {
        Read {
            at,
            facts: ControlFacts::default(),
            for_change,
        }
    }

    #[test]
    fn a_probe_whose_data_plane_changed_wants_a_read_made_after() {
        let c = ControlCache::default();
        let five_min = Duration::from_secs(300);
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        let read = read_at(t0, None);
        // The first run: no data plane seen before, the read stands beside any.
        let run1 = t0 + 5 * s;
        assert!(c.beside(&read, run1, &[FindingId::IntegrationTimeout]));
        c.keep(&read, run1, vec![], false);
        let run2 = run1 + 5 * s;
        assert!(c.beside(&read, run2, &[]));
        assert_eq!(
            c.want(run2, five_min),
            since_or_any(run2.checked_sub(five_min))
        );
        // The data plane changed: a read begun in this run stands beside it, or one another
        // probe of the chain made for a change it saw since this probe's last run began.
        let timeout = [FindingId::IntegrationTimeout];
        assert!(!c.beside(&read, run2, &timeout));
        assert!(c.beside(&read_at(run2, None), run2, &timeout));
        assert!(c.beside(&read_at(run1 + s, Some(run1 + s)), run2, &timeout));
        assert!(!c.beside(&read_at(run1 + s, None), run2, &timeout));
        assert!(!c.beside(&read_at(run1 - s, Some(run1 - s)), run2, &timeout));
        let want = c.want_after_change(run2);
        assert_eq!(
            (want.not_before, want.change_after, want.for_change),
            (Some(run2), Some(run1), Some(run2))
        );
        // No time to read again: the next run takes no read made before this one began.
        c.reread_after(run2, timeout.to_vec());
        let run3 = run2 + 5 * s;
        assert_eq!(c.want(run3, five_min), since(run2));
        assert!(c.beside(&read, run3, &timeout));
        // A read cut short is not reused by the next run either.
        c.keep(&read, run3, timeout.to_vec(), true);
        assert_eq!(c.want(run3 + 5 * s, five_min), since(t0));
    }

    fn since_or_any(t: Option<Instant>) -> Want {
        Want {
            not_before: t,
            ..Want::default()
        }
    }

    #[test]
    fn probe_file_without_stage_is_rejected() {
        let d = temp_dir();
        let body = probe_toml("a").replace("stage = \"test\"\n", "");
        // With AWS allowed (the doctor would discover the stage) ...
        std::fs::write(d.join("a.toml"), body.replace("no_aws = true\n", "")).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.ends_with("a.toml: stage: required in probe files for pgw-agent (only pgw-doctor discovers it)"), "{e}");
        // ... and without.
        std::fs::write(d.join("a.toml"), body).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.ends_with("a.toml: stage (or --stage): required with --no-aws (stage discovery needs AWS access)"), "{e}");
    }

    #[test]
    fn empty_directory_is_an_error() {
        let d = temp_dir();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("no probe files"), "{e}");
    }

    #[tokio::test]
    async fn probes_of_one_region_endpoint_and_roles_share_their_aws_clients() {
        let cfg = |region: &str| {
            let src = format!(
                "api_id = \"3eqr0osoc3\"\nregion = \"{region}\"\nstage = \"test\"\n\
                 aws_endpoint_url = \"http://127.0.0.1:1\"\n"
            );
            let p = Path::new("p.toml");
            let pf = config::parse_probe_file(p, &src).unwrap();
            config::build(Some((p, &src, &pf)), &Overrides::default(), None).unwrap()
        };
        let (a, b, c) = (cfg("us-east-1"), cfg("us-east-1"), cfg("eu-west-1"));
        let (ca, cb, cc) = (
            ControlCache::default(),
            ControlCache::default(),
            ControlCache::default(),
        );
        let (ia, ib, ic) = (
            ca.inventory(&a).await as *const SdkInventory,
            cb.inventory(&b).await as *const SdkInventory,
            cc.inventory(&c).await as *const SdkInventory,
        );
        assert_eq!(
            ia, ib,
            "same region, endpoint and roles: one set of clients"
        );
        assert_ne!(ia, ic, "another region: its own clients");
    }
}
