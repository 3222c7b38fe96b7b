//! Probes: turn a validated [`Config`] into [`Facts`] by resolving the invoke name, then dialling
//! every resolved address concurrently (TCP → TLS → HTTP per path), all under one deadline.
//!
//! Two follow-ups run only when the first pass calls for them and time remains: a SigV4-signed
//! retry when every unsigned call was refused for lack of a token, and (for `vpce-host`) the same
//! call identified by `x-apigw-api-id` when every call identified by `Host` was forbidden.

pub mod dns;
pub mod invoke;
pub mod sigv4;
pub mod tcp;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use tokio::time::Instant;

use crate::config::{alias_host, Config, InvokeVia};
use crate::facts::{
    ConnFacts, ConnectOutcome, EniFacts, Facts, HttpOutcome, PathFacts, PublicFacts, TargetFacts,
    Timings,
};
use crate::progress::{Progress, Stage};
use invoke::Request;
use tls::TlsSetup;

/// Why probes could not be set up, or a request not signed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot read the system resolver configuration: {0}")]
    ResolvConf(String),
    #[error("no nameserver in /etc/resolv.conf")]
    NoNameserver,
    #[error("CA certificate rejected: {0}")]
    CaRejected(String),
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(String),
    #[error("timed out loading AWS credentials")]
    CredentialsTimeout,
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("no AWS credentials in the environment (--no-aws reads only AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")]
    NoEnvironmentCredentials,
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// Addresses probed per name at most. An execute-api endpoint has one ENI per AZ (at most six in
/// any region today): an answer longer than this is not an interface endpoint's, and probing all
/// of it would multiply connects, checks and series by the attacker's choice.
pub const MAX_ADDRESSES: usize = 16;

/// errno values that say this host, not the chain, failed: out of file descriptors (EMFILE,
/// ENFILE), of local ports (EADDRNOTAVAIL), of buffer space (ENOBUFS).
const HOST_ERRNOS: [i32; 4] = [24, 23, 99, 105];

/// Whether an error message (an `io::Error`, or one that wraps it) is this host's own failure.
pub fn is_host_error(message: &str) -> bool {
    HOST_ERRNOS
        .iter()
        .any(|n| message.contains(&format!("(os error {n})")))
}

/// The first error of `f` that is this host's own (see [`is_host_error`]).
fn host_error(f: &Facts) -> Option<String> {
    use crate::facts::DnsOutcome;
    let dns = f
        .dns
        .iter()
        .chain(&f.reference_dns)
        .filter_map(|d| match &d.outcome {
            DnsOutcome::Error(e) => Some(e),
            _ => None,
        });
    let paths = f
        .invokes()
        .chain(&f.signed_retry)
        .chain(&f.header_control)
        .chain(&f.large)
        .flat_map(|p| {
            let connect = match &p.conn.connect {
                ConnectOutcome::Error(e) => Some(e),
                _ => None,
            };
            let http = match &p.http {
                HttpOutcome::Error(e) => Some(e),
                _ => None,
            };
            connect.into_iter().chain(http)
        });
    dns.chain(paths).find(|e| is_host_error(e)).cloned()
}

/// What is left of the run's time for one phase: at most `cap`, never past `deadline`.
pub fn budget(deadline: Instant, cap: Duration) -> Duration {
    deadline.saturating_duration_since(Instant::now()).min(cap)
}

/// Everything a run needs besides the config: trust roots and resolvers, built once.
#[derive(Debug, Clone)]
pub struct Prober {
    tls: TlsSetup,
    resolvers: Vec<SocketAddr>,
    /// Where a run reports what it is waiting for (the doctor's progress line).
    progress: Option<Arc<Progress>>,
}

/// How a single invoke identifies the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identify {
    /// By the Host header (the configured route's normal form).
    Host,
    /// `vpce-host` only: Host = the endpoint name, API named by `x-apigw-api-id`.
    ApiIdHeader,
}

impl Prober {
    /// Build trust roots and pick resolvers (the system's when none are configured).
    pub fn new(cfg: &Config) -> Result<Self, ProbeError> {
        let tls = TlsSetup::new(&cfg.extra_roots, &cfg.tls_versions)?;
        let resolvers = if cfg.resolvers.is_empty() {
            dns::system_resolvers()?
        } else {
            cfg.resolvers.clone()
        };
        Ok(Prober {
            tls,
            resolvers,
            progress: None,
        })
    }

    /// Report what runs wait for into `progress`.
    pub fn with_progress(mut self, progress: Arc<Progress>) -> Prober {
        self.progress = Some(progress);
        self
    }

    /// Run every data-plane probe of `cfg`, finishing by `deadline`.
    pub async fn run(&self, cfg: &Config, deadline: Instant) -> Facts {
        let start = Instant::now();
        let total = deadline.saturating_duration_since(start);
        // No single phase may eat more than a third of the run.
        let phase_cap = total / 3;
        let target = target_facts(cfg);
        let mut facts = Facts {
            target: target.clone(),
            ..Default::default()
        };

        let want_reference = target
            .vpce_dns
            .as_ref()
            .filter(|v| **v != target.connect_name)
            .cloned();
        let dns_timeout = budget(deadline, phase_cap);
        let main = dns::lookup_all(&target.connect_name, &self.resolvers, dns_timeout);
        let reference = async {
            match &want_reference {
                Some(name) => dns::lookup_all(name, &self.resolvers, dns_timeout).await,
                None => Vec::new(),
            }
        };
        let waiting = crate::progress::enter(&self.progress, Stage::Dns);
        let (main, reference) = tokio::join!(main, reference);
        drop(waiting);
        facts.dns = main;
        facts.reference_dns = reference;

        let mut addrs = facts.resolved();
        if addrs.len() > MAX_ADDRESSES {
            facts.unprobed = addrs.split_off(MAX_ADDRESSES);
        }
        if addrs.is_empty() {
            facts.deadline_hit = Instant::now() >= deadline;
            facts.duration = start.elapsed();
            facts.host_error = host_error(&facts);
            return facts;
        }

        // Credentials for --sigv4 are loaded once, for every invoke of the run.
        let creds = if cfg.sigv4 {
            match credentials(cfg, budget(deadline, phase_cap)).await {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!("cannot sign invokes: {e}");
                    None
                }
            }
        } else {
            None
        };
        let pass = Pass {
            tls: self.tls.clone(),
            sni: target.connect_name.clone(),
            region: cfg.region.clone(),
            identify: Identify::Host,
            creds,
            deadline,
            phase_cap,
            progress: self.progress.clone(),
        };
        // The large answer's path, beside the others on every address.
        let large: &[String] = cfg.large_path.as_slice();
        let (enis, large) =
            tokio::join!(pass.invoke_all(cfg, &target, &addrs, &cfg.paths), async {
                if large.is_empty() {
                    Vec::new()
                } else {
                    pass.invoke_all(cfg, &target, &addrs, large).await
                }
            });
        facts.enis = enis;
        facts.large = large.into_iter().flat_map(|e| e.paths).collect();

        let (_, public) = tokio::join!(self.follow_ups(cfg, &target, &pass, &mut facts), async {
            match cfg.public_resolver {
                Some(r) => Some(check_public(cfg, r, &pass).await),
                None => None,
            }
        });
        facts.public = public;
        facts.deadline_hit = Instant::now() >= deadline;
        facts.duration = start.elapsed();
        facts.host_error = host_error(&facts);
        facts
    }

    /// The follow-ups the main pass calls for, on one address that answered: a SigV4-signed
    /// retry when every unsigned call lacked a token, and (`vpce-host`) the call identified by
    /// `x-apigw-api-id` when every call identified by `Host` was forbidden.
    async fn follow_ups(&self, cfg: &Config, target: &TargetFacts, pass: &Pass, facts: &mut Facts) {
        let (deadline, phase_cap) = (pass.deadline, pass.phase_cap);
        let all_main = |status: u16, t: &str| {
            let n = facts.invokes().count();
            let hits = facts
                .invokes()
                .filter_map(|p| p.response())
                .filter(|r| r.is_error_type(status, t))
                .count();
            n > 0 && hits == n
        };
        let all_mat = all_main(403, "MissingAuthenticationTokenException");
        let all_forbidden = all_main(403, "ForbiddenException");
        let working_addr = facts
            .enis
            .iter()
            .find(|e| e.paths.iter().any(|p| p.response().is_some()))
            .map(|e| e.addr.ip());

        if !cfg.sigv4 && all_mat {
            let creds = credentials(cfg, budget(deadline, phase_cap)).await;
            match (creds, working_addr) {
                (Ok(c), Some(ip)) => {
                    let signed = Pass {
                        creds: Some(Arc::new(c)),
                        ..pass.clone()
                    };
                    let retry = signed.invoke_all(cfg, target, &[ip], &cfg.paths).await;
                    facts.signed_retry = retry.into_iter().flat_map(|e| e.paths).collect();
                }
                (Err(e), _) => facts.signed_retry_unavailable = Some(e.to_string()),
                (Ok(_), None) => {}
            }
        }
        if cfg.invoke_via == InvokeVia::VpceHost && all_forbidden {
            if let Some(ip) = working_addr {
                let by_header = Pass {
                    identify: Identify::ApiIdHeader,
                    ..pass.clone()
                };
                let control = by_header.invoke_all(cfg, target, &[ip], &cfg.paths).await;
                facts.header_control = control.into_iter().flat_map(|e| e.paths).collect();
            }
        }
    }
}

/// `--check-public`: the API's public name at the public resolver `resolver`, then the configured
/// paths (stage paths, unsigned, Host and SNI = that name) on the first address it gives.
async fn check_public(cfg: &Config, resolver: SocketAddr, pass: &Pass) -> PublicFacts {
    let mut public_cfg = cfg.clone();
    public_cfg.invoke_via = InvokeVia::PrivateDns;
    public_cfg.domain_name = None;
    public_cfg.base_path = None;
    let target = target_facts(&public_cfg);
    let dns = dns::lookup(
        &target.api_host,
        resolver,
        budget(pass.deadline, pass.phase_cap),
    )
    .await;
    let mut paths = Vec::new();
    if let Some(ip) = dns.addrs.first() {
        let public_pass = Pass {
            sni: target.api_host.clone(),
            identify: Identify::Host,
            creds: None,
            ..pass.clone()
        };
        let enis = public_pass
            .invoke_all(&public_cfg, &target, &[*ip], &cfg.paths)
            .await;
        paths = enis.into_iter().flat_map(|e| e.paths).collect();
    }
    PublicFacts { dns, paths }
}

/// The run-wide settings of one pass of invokes: every attempt of the pass shares them.
#[derive(Debug, Clone)]
struct Pass {
    tls: TlsSetup,
    /// The dialled name (TLS SNI).
    sni: String,
    region: String,
    identify: Identify,
    /// Sign every invoke of the pass with these.
    creds: Option<Arc<Credentials>>,
    deadline: Instant,
    /// No phase longer than this.
    phase_cap: Duration,
    progress: Option<Arc<Progress>>,
}

impl Pass {
    /// Every one of `paths` on every address in `addrs`, concurrently; one [`EniFacts`] per
    /// address, in order.
    async fn invoke_all(
        &self,
        cfg: &Config,
        target: &TargetFacts,
        addrs: &[IpAddr],
        paths: &[String],
    ) -> Vec<EniFacts> {
        let mut set = tokio::task::JoinSet::new();
        for (ai, ip) in addrs.iter().enumerate() {
            for (pi, path) in paths.iter().enumerate() {
                let addr = SocketAddr::new(*ip, cfg.port);
                let req = build_request(cfg, target, path, self.identify);
                let pass = self.clone();
                let path = path.clone();
                set.spawn(async move { (ai, pi, pass.attempt(addr, path, req).await) });
            }
        }
        let mut results = set.join_all().await;
        results.sort_by_key(|(a, p, _)| (*a, *p));
        let mut enis: Vec<EniFacts> = addrs
            .iter()
            .map(|ip| EniFacts {
                addr: SocketAddr::new(*ip, cfg.port),
                source: None,
                paths: Vec::new(),
            })
            .collect();
        for (ai, _, (f, local)) in results {
            enis[ai].source = enis[ai].source.or(local);
            enis[ai].paths.push(f);
        }
        // No connection said which local address it used: ask the kernel's routing.
        for eni in &mut enis {
            if eni.source.is_none() {
                eni.source = source_ip(eni.addr);
            }
        }
        enis
    }

    /// One invoke of `path` at `addr` over its own connection: TCP, TLS, (signing,) HTTP; and
    /// the local address the connection had, if it was made.
    async fn attempt(
        &self,
        addr: SocketAddr,
        path: String,
        req: Request,
    ) -> (PathFacts, Option<IpAddr>) {
        let mut local = None;
        let facts = self.attempt_on(addr, path, req, &mut local).await;
        (facts, local)
    }

    async fn attempt_on(
        &self,
        addr: SocketAddr,
        path: String,
        mut req: Request,
        local: &mut Option<IpAddr>,
    ) -> PathFacts {
        let (deadline, cap) = (self.deadline, self.phase_cap);
        let t0 = Instant::now();
        let mut timings = Timings::default();
        let identified_by = match self.identify {
            Identify::Host => "host",
            Identify::ApiIdHeader => "x-apigw-api-id",
        };
        let mut facts = PathFacts {
            path,
            request_path: req.path.clone(),
            addr,
            signed: self.creds.is_some(),
            identified_by,
            conn: ConnFacts {
                connect: ConnectOutcome::NotTried,
                tls: None,
            },
            http: HttpOutcome::NotSent,
            timings: Timings::default(),
        };
        let waiting = crate::progress::enter(&self.progress, Stage::Tcp);
        let (outcome, tcp) = tcp::connect(addr, budget(deadline, cap)).await;
        drop(waiting);
        facts.conn.connect = outcome;
        let Some(tcp) = tcp else {
            return facts;
        };
        *local = tcp.local_addr().ok().map(|a| a.ip());
        let t_conn = Instant::now();
        timings.connect = Some(t_conn - t0);
        let waiting = crate::progress::enter(&self.progress, Stage::Tls);
        let (tls_facts, stream) = self
            .tls
            .handshake(tcp, &self.sni, budget(deadline, cap))
            .await;
        drop(waiting);
        facts.conn.tls = Some(tls_facts);
        let Some(stream) = stream else {
            facts.timings = timings;
            return facts;
        };
        timings.tls = Some(Instant::now() - t_conn);
        if let Some(c) = &self.creds {
            let host = req
                .headers
                .iter()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if let Err(e) = sigv4::sign_request(&mut req, &host, &self.region, c, SystemTime::now())
            {
                facts.http = HttpOutcome::Error(e.to_string());
                facts.timings = timings;
                return facts;
            }
        }
        let waiting = crate::progress::enter(&self.progress, Stage::Http);
        let ex = invoke::exchange(stream, &req, deadline).await;
        drop(waiting);
        timings.ttfb = ex.first_byte.map(|t| t - t0);
        if matches!(ex.outcome, HttpOutcome::Response(_)) {
            timings.total = Some(ex.done - t0);
        }
        facts.http = ex.outcome;
        facts.timings = timings;
        facts
    }
}

/// The local address the kernel would use to reach `to` (a UDP "connect" sends nothing): the
/// address an endpoint ENI sees when nothing translates it.
pub fn source_ip(to: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(to).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// Credentials for signing: the standard chain, or only the environment with `--no-aws`.
async fn credentials(cfg: &Config, timeout: Duration) -> Result<Credentials, ProbeError> {
    if cfg.no_aws {
        env_credentials()
    } else {
        sigv4::load_credentials(&cfg.region, timeout).await
    }
}

/// Credentials from the environment only (`--no-aws` never asks IMDS or STS).
fn env_credentials() -> Result<Credentials, ProbeError> {
    let id = std::env::var("AWS_ACCESS_KEY_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .ok()
        .filter(|s| !s.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(
            id,
            secret,
            std::env::var("AWS_SESSION_TOKEN")
                .ok()
                .filter(|s| !s.is_empty()),
            None,
            "environment",
        )),
        _ => Err(ProbeError::NoEnvironmentCredentials),
    }
}

/// Names and headers of the configured invoke route.
pub fn target_facts(cfg: &Config) -> TargetFacts {
    let api_host = cfg.api_host();
    let (connect_name, host_header) = match cfg.invoke_via {
        InvokeVia::PrivateDns => (api_host.clone(), api_host.clone()),
        InvokeVia::VpceHost => (cfg.vpce_dns.clone().unwrap_or_default(), api_host.clone()),
        InvokeVia::Alias => {
            let a = alias_host(
                &cfg.api_id,
                cfg.vpce_id.as_deref().unwrap_or_default(),
                &cfg.region,
            );
            (a.clone(), a)
        }
        InvokeVia::CustomDomain => {
            let d = cfg.domain_name.clone().unwrap_or_default();
            (d.clone(), d)
        }
    };
    TargetFacts {
        api_id: cfg.api_id.clone(),
        region: cfg.region.clone(),
        stage: cfg.stage_name().to_string(),
        api_host,
        connect_name,
        host_header,
        api_id_header: None,
        invoke_via: cfg.invoke_via,
        port: cfg.port,
        method: cfg.method.to_string(),
        signed: cfg.sigv4,
        vpce_dns: cfg.vpce_dns.clone(),
        vpce_id: cfg.vpce_id.clone(),
        tls_versions: cfg.tls_versions.clone(),
        domain_name: cfg.domain_name.clone(),
        base_path: cfg.base_path.clone(),
    }
}

fn build_request(cfg: &Config, target: &TargetFacts, path: &str, identify: Identify) -> Request {
    // A custom domain maps its base path to the stage: the stage is not in the path.
    let request_path = match (cfg.invoke_via, &cfg.base_path) {
        (InvokeVia::CustomDomain, Some(b)) => format!("/{b}{path}"),
        (InvokeVia::CustomDomain, None) => path.to_string(),
        _ => stage_path(cfg.stage_name(), path),
    };
    let mut headers = Vec::new();
    match identify {
        Identify::Host => headers.push(("host".to_string(), target.host_header.clone())),
        Identify::ApiIdHeader => {
            headers.push(("host".to_string(), target.connect_name.clone()));
            headers.push(("x-apigw-api-id".to_string(), cfg.api_id.clone()));
        }
    }
    headers.push((
        "user-agent".to_string(),
        format!("pgw/{}", env!("CARGO_PKG_VERSION")),
    ));
    headers.push(("accept".to_string(), "*/*".to_string()));
    Request {
        method: cfg.method.clone(),
        path: request_path,
        headers,
    }
}

/// `/{stage}` + the stage-relative path (`/` stays `/{stage}/`).
pub fn stage_path(stage: &str, path: &str) -> String {
    format!("/{stage}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{build, Overrides};
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    /// A resolver on loopback that answers every query with `n` A records in 127.77.0.0/24.
    async fn long_answers(n: u8) -> SocketAddr {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = sock.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.recursion_available = true;
                for query in &q.queries {
                    r.add_query(query.clone());
                    for i in 1..=n {
                        let a = RData::A(A(std::net::Ipv4Addr::new(127, 77, 0, i)));
                        r.add_answer(Record::from_rdata(query.name().clone(), 60, a));
                    }
                }
                let _ = sock.send_to(&r.to_vec().unwrap(), from).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn only_the_first_addresses_of_a_long_answer_are_probed() {
        let resolver = long_answers(24).await;
        // A port nothing listens on: every connect is refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = Overrides {
            api_id: Some("3eqr0osoc3".into()),
            region: Some("us-east-1".into()),
            stage: Some("test".into()),
            resolvers: vec![resolver.to_string()],
            port: Some(closed),
            no_aws: true,
            timeout: Some("3s".into()),
            ..Default::default()
        };
        let cfg = build(None, &o, None).unwrap();
        let prober = Prober::new(&cfg).unwrap();
        let f = prober.run(&cfg, Instant::now() + cfg.timeout).await;
        assert_eq!(f.resolved().len(), 24);
        assert_eq!(f.enis.len(), MAX_ADDRESSES);
        assert_eq!(f.unprobed.len(), 24 - MAX_ADDRESSES);
    }
}

#[cfg(test)]
mod host_error_tests {
    use super::*;
    use crate::diagnose::testutil;

    /// `custom-domain`: SNI and Host are the domain; the path goes under the base path (the
    /// mapping names the stage), or straight under the root mapping.
    #[test]
    fn custom_domain_requests_carry_the_domain_and_its_base_path() {
        use crate::config::{build, Overrides};
        let mut o = Overrides {
            api_id: Some("3eqr0osoc3".into()),
            region: Some("us-east-1".into()),
            stage: Some("test".into()),
            invoke_via: Some(InvokeVia::CustomDomain),
            domain_name: Some("orders.internal.example.com".into()),
            base_path: Some("v1".into()),
            ..Default::default()
        };
        let cfg = build(None, &o, None).unwrap();
        let t = target_facts(&cfg);
        assert_eq!(t.connect_name, "orders.internal.example.com");
        let r = build_request(&cfg, &t, "/pgw-probe", Identify::Host);
        assert_eq!(r.path, "/v1/pgw-probe");
        let host: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "host")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(host, ["orders.internal.example.com"]);
        o.base_path = None;
        let cfg = build(None, &o, None).unwrap();
        assert_eq!(build_request(&cfg, &t, "/", Identify::Host).path, "/");
    }

    #[test]
    fn running_out_of_descriptors_is_the_hosts_error_not_a_finding() {
        assert!(is_host_error("Too many open files (os error 24)"));
        assert!(is_host_error(
            "io error: Cannot assign requested address (os error 99)"
        ));
        assert!(!is_host_error("Connection reset by peer (os error 104)"));
        let mut f = testutil::healthy();
        testutil::fail_all_connects(
            &mut f,
            ConnectOutcome::Error("Too many open files (os error 24)".into()),
        );
        // Without the host check this is a chain finding.
        assert!(!crate::diagnose::diagnose(&f).is_empty());
        f.host_error = host_error(&f);
        assert_eq!(
            f.host_error.as_deref(),
            Some("Too many open files (os error 24)")
        );
        assert!(crate::diagnose::diagnose(&f).is_empty());
    }
}
