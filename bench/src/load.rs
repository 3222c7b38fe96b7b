//! The load driver: `count` probes at a fixed concurrency, either run in this process with pgw's
//! own probe code (`--engine pgw`) or requested from a prober's `/probe` endpoint (`--engine url`,
//! blackbox_exporter or pgw-agent). Prints one JSON line: probes, failures, wall time, and the
//! measured process's CPU (utime+stime from /proc) and peak RSS (VmHWM).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use pgw::config::{build, read_ca_file, read_probe_file, Config, Overrides};
use pgw::facts::HttpOutcome;
use pgw::probe::invoke::{exchange, Request};
use pgw::probe::tls::TlsSetup;
use pgw::probe::{dns, tcp, Prober};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::procstat::ProcStat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// pgw's probe functions, in this process (the code pgw-agent runs).
    Pgw,
    /// HTTP GET of `--url` (a prober's /probe endpoint); the process `--pid` is measured.
    Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// TCP connect, then close.
    Tcp,
    /// One A query, no cache.
    Dns,
    /// TCP connect + TLS handshake (CA-verified) + GET, as blackbox's http prober.
    Https,
    /// A whole pgw run of a probe file (DNS + per address and path TCP/TLS/GET) and its diagnosis.
    Chain,
}

/// `pgw-bench load` options.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    #[arg(long, value_enum)]
    pub engine: Engine,
    /// What one probe is (a label only for `--engine url`).
    #[arg(long, value_enum)]
    pub kind: Kind,
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Probes run first and not counted.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// tcp/https: address to dial; dns: the resolver.
    #[arg(long)]
    pub target: Option<SocketAddr>,
    /// dns: name to look up; https: SNI and Host.
    #[arg(long, default_value = "abcdefghij.execute-api.us-east-1.amazonaws.com")]
    pub name: String,
    /// https: request path.
    #[arg(long, default_value = "/test/")]
    pub path: String,
    /// https: trust roots (PEM).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// chain: the probe file.
    #[arg(long)]
    pub probe_file: Option<PathBuf>,
    /// url: endpoints; worker i asks `url[i % n]` (repeatable).
    #[arg(long)]
    pub url: Vec<String>,
    /// url: the process to measure.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Extra label copied into the JSON line (e.g. `blackbox` / `pgw-agent`).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// One probe's work, as a cloneable closure over shared setup.
#[derive(Clone)]
enum Work {
    Tcp(SocketAddr),
    Dns(SocketAddr, String),
    Https(SocketAddr, Arc<TlsSetup>, String, Arc<Request>),
    Chain(Arc<Prober>, Arc<Config>),
    Url(Arc<Vec<http::Uri>>),
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl Work {
    fn new(a: &LoadArgs) -> anyhow::Result<Work> {
        let target = || a.target.context("--target is required");
        Ok(match (a.engine, a.kind) {
            (Engine::Url, _) => {
                if a.url.is_empty() || a.pid.is_none() {
                    bail!("--engine url needs --url and --pid");
                }
                let urls = a.url.iter().map(|u| u.parse()).collect::<Result<_, _>>()?;
                Work::Url(Arc::new(urls))
            }
            (Engine::Pgw, Kind::Tcp) => Work::Tcp(target()?),
            (Engine::Pgw, Kind::Dns) => Work::Dns(target()?, a.name.clone()),
            (Engine::Pgw, Kind::Https) => {
                let roots = match &a.ca_file {
                    Some(p) => read_ca_file(p).map_err(anyhow::Error::msg)?,
                    None => Default::default(),
                };
                let tls = TlsSetup::new(&roots, &[]).map_err(anyhow::Error::msg)?;
                let req = Request {
                    method: http::Method::GET,
                    path: a.path.clone(),
                    headers: vec![
                        ("host".into(), a.name.clone()),
                        ("user-agent".into(), "pgw-bench".into()),
                    ],
                };
                Work::Https(target()?, Arc::new(tls), a.name.clone(), Arc::new(req))
            }
            (Engine::Pgw, Kind::Chain) => {
                let path = a.probe_file.as_ref().context("--probe-file is required")?;
                let (pf, src) = read_probe_file(path)?;
                let cfg = build(Some((path, &src, &pf)), &Overrides::default(), None)?;
                let prober = Prober::new(&cfg).map_err(anyhow::Error::msg)?;
                Work::Chain(Arc::new(prober), Arc::new(cfg))
            }
        })
    }

    /// Run one probe; whether it succeeded.
    async fn once(&self, worker: usize, client: &mut Option<UrlClient>) -> bool {
        match self {
            Work::Tcp(addr) => tcp::connect(*addr, TIMEOUT).await.1.is_some(),
            Work::Dns(resolver, name) => dns::lookup(name, *resolver, TIMEOUT)
                .await
                .outcome
                .is_answer(),
            Work::Https(addr, tls, name, req) => {
                let Some(tcp) = tcp::connect(*addr, TIMEOUT).await.1 else {
                    return false;
                };
                let Some(stream) = tls.handshake(tcp, name, TIMEOUT).await.1 else {
                    return false;
                };
                let ex = exchange(stream, req, Instant::now() + TIMEOUT).await;
                matches!(ex.outcome, HttpOutcome::Response(r) if r.status == 200)
            }
            Work::Chain(prober, cfg) => {
                let facts = prober.run(cfg, Instant::now() + cfg.timeout).await;
                let findings = pgw::diagnose::diagnose(&facts);
                findings.is_empty() && facts.invokes().count() > 0
            }
            Work::Url(urls) => {
                let uri = &urls[worker % urls.len()];
                match UrlClient::get(client, uri).await {
                    Ok(body) => body.windows(15).any(|w| w == b"probe_success 1"),
                    Err(_) => {
                        *client = None;
                        false
                    }
                }
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection to the prober.
struct UrlClient {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl UrlClient {
    async fn get(slot: &mut Option<UrlClient>, uri: &http::Uri) -> anyhow::Result<Bytes> {
        if slot.is_none() {
            let host = uri.host().context("url host")?;
            let port = uri.port_u16().unwrap_or(80);
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            *slot = Some(UrlClient { send });
        }
        let c = slot.as_mut().expect("just set");
        let req = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", uri.authority().map_or("", |a| a.as_str()))
            .body(Empty::new())?;
        let resp = c.send.send_request(req).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }
}

/// Run `n` probes on `concurrency` workers; returns failures.
async fn drive(work: &Work, n: usize, concurrency: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (work, next, failed) = (work.clone(), next.clone(), failed.clone());
        set.spawn(async move {
            let mut client = None;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                if !work.once(worker, &mut client).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    set.join_all().await;
    failed.load(Ordering::Relaxed)
}

pub async fn run(a: LoadArgs) -> anyhow::Result<()> {
    let work = Work::new(&a)?;
    let pid = match a.engine {
        Engine::Url => a.pid.context("--pid")?,
        Engine::Pgw => std::process::id(),
    };
    let warm_failed = drive(&work, a.warmup, a.concurrency).await;
    let before = ProcStat::read(pid)?;
    let start = Instant::now();
    let failed = drive(&work, a.count, a.concurrency).await;
    let wall = start.elapsed().as_secs_f64();
    let after = ProcStat::read(pid)?;
    let cpu = after.cpu_seconds - before.cpu_seconds;
    let line = serde_json::json!({
        "engine": format!("{:?}", a.engine).to_lowercase(),
        "label": a.label,
        "kind": format!("{:?}", a.kind).to_lowercase(),
        "concurrency": a.concurrency,
        "count": a.count,
        "failed": failed,
        "warmup_failed": warm_failed,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "cpu_ms_per_probe": cpu * 1000.0 / a.count as f64,
        "probes_per_second": a.count as f64 / wall,
        "peak_rss_kib": after.peak_rss_kib,
    });
    println!("{line}");
    Ok(())
}
