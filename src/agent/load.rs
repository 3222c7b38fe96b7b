//! Probe set loading: one probe file, or every `*.toml` file of a directory. Names must be
//! unique; any bad file fails the whole load with `file:line:column`.

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
/// endpoint and roles), got on first use, and the last read, reused until `control_plane_interval`
/// has passed (AWS APIs are rate-limited and not free) — and only while the data plane looks as it
/// did then: the data-plane finding ids of the run that read it are kept with it.
#[derive(Debug, Default)]
pub struct ControlCache {
    inventory: tokio::sync::OnceCell<Arc<SdkInventory>>,
    /// Boxed: a read is ~1.3 KiB before any of its contents, and most probes never make one.
    last: std::sync::Mutex<Option<Box<CachedRead>>>,
    logs: std::sync::Mutex<Option<Box<CachedLogs>>>,
}

/// A look at the execution logs, when it was made, and the failures it was for.
#[derive(Debug, Clone)]
struct CachedLogs {
    at: Instant,
    failures: Vec<String>,
    logs: ExecutionLogs,
}

/// A control-plane read, when it was made, and the data plane beside it.
#[derive(Debug, Clone)]
struct CachedRead {
    at: Instant,
    facts: ControlFacts,
    data_plane: Vec<FindingId>,
}

/// Which AWS clients a probe needs: region, endpoint URL, roles per account.
type ClientsKey = (String, Option<String>, BTreeMap<String, String>);

/// The AWS clients in use, one set per [`ClientsKey`] (a set is a credential chain, an HTTP
/// client and its TLS roots: hundreds of KiB, once per agent instead of once per probe). Held
/// weakly: a set goes when its last probe does.
static CLIENTS: tokio::sync::Mutex<BTreeMap<ClientsKey, Weak<SdkInventory>>> =
    tokio::sync::Mutex::const_new(BTreeMap::new());

/// The shared clients for `cfg`, built when no probe holds them.
async fn shared_clients(cfg: &Config) -> Arc<SdkInventory> {
    shared_inventory(&cfg.region, cfg.aws_endpoint_url.as_deref(), &cfg.roles).await
}

/// The shared clients for a region, endpoint URL and roles, built when nothing holds them
/// (probes, and discovery's refreshes: the probes it finds use the same set).
pub(crate) async fn shared_inventory(
    region: &str,
    endpoint_url: Option<&str>,
    roles: &BTreeMap<String, String>,
) -> Arc<SdkInventory> {
    let key: ClientsKey = (
        region.to_string(),
        endpoint_url.map(str::to_string),
        roles.clone(),
    );
    let mut all = CLIENTS.lock().await;
    all.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = all.get(&key).and_then(Weak::upgrade) {
        return c;
    }
    let c = Arc::new(SdkInventory::new(region, endpoint_url, roles).await);
    all.insert(key, Arc::downgrade(&c));
    c
}

impl ControlCache {
    /// The last read, if younger than `max_age` at `now`.
    pub fn fresh(&self, now: Instant, max_age: Duration) -> Option<ControlFacts> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|r| now.saturating_duration_since(r.at) < max_age)
            .map(|r| r.facts.clone())
    }

    /// Whether the data plane showed `data_plane` (its finding ids) when the last read was made.
    pub fn read_beside(&self, data_plane: &[FindingId]) -> bool {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref().is_some_and(|r| r.data_plane == data_plane)
    }

    /// Drop the last read: the next run reads the control plane.
    pub fn forget(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Keep `cf`, read at `at` while the data plane showed `data_plane`.
    pub fn store(&self, at: Instant, cf: ControlFacts, data_plane: Vec<FindingId>) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(CachedRead {
            at,
            facts: cf,
            data_plane,
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

    /// The AWS clients for `cfg` (shared, got once).
    pub async fn inventory(&self, cfg: &Config) -> &SdkInventory {
        self.inventory.get_or_init(|| shared_clients(cfg)).await
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

    #[test]
    fn control_read_is_reused_within_its_interval() {
        let c = ControlCache::default();
        let t0 = Instant::now();
        let five_min = Duration::from_secs(300);
        assert!(c.fresh(t0, five_min).is_none());
        c.store(t0, ControlFacts::default(), vec![]);
        assert!(c.fresh(t0 + Duration::from_secs(299), five_min).is_some());
        assert!(c.fresh(t0 + five_min, five_min).is_none());
        assert!(c.read_beside(&[]));
        assert!(!c.read_beside(&[FindingId::IntegrationTimeout]));
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
