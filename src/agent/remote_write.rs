//! Remote write: the agent's own series pushed to a Prometheus remote-write receiver (Amazon
//! Managed Service for Prometheus, Mimir, Thanos, Prometheus itself), for agents in VPCs no
//! central Prometheus can scrape. Remote write 1.0: every `interval` the registry as `/metrics`
//! shows it becomes one `WriteRequest` (protobuf, snappy, the external labels added), queued;
//! one sender pushes the queue in order, retrying 5xx and 429 with backoff and dropping (and
//! counting) what another 4xx refuses. The queue is bounded in samples; past it the oldest go.
//! Optionally signed with SigV4 (service `aps`), through a role.
//!
//! Configured by `--remote-write FILE`:
//!
//! ```toml
//! [remote_write]
//! url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-…/api/v1/remote_write"
//! interval = "30s"                # default
//! max_queue_samples = 200000      # default
//! [remote_write.sigv4]            # optional
//! region = "us-east-1"
//! role_arn = "arn:aws:iam::111122223333:role/pgw-remote-write"   # optional
//! [remote_write.external_labels]  # default: account, region, vpc_id, az, instance_id from IMDS
//! fleet = "prod"
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::aws::imds::Whereabouts;
use crate::metrics::{Metrics, PushResult};

/// One push waits this long at most for the receiver.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff between retries of a push: from the first, doubling, up to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// The remote-write settings, validated.
#[derive(Debug, Clone)]
pub struct RemoteWrite {
    pub url: Url,
    pub interval: Duration,
    pub max_queue_samples: usize,
    pub sigv4: Option<SigV4>,
    pub external_labels: BTreeMap<String, String>,
}

/// Sign pushes for service `aps` in `region`, as `role_arn` when given.
#[derive(Debug, Clone)]
pub struct SigV4 {
    pub region: String,
    pub role_arn: Option<String>,
}

/// An `http`/`https` URL: where to connect and what to ask.
#[derive(Debug, Clone)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl Url {
    fn parse(s: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("url {s:?}: http:// or https://"));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("url {s:?}: bad port"))?;
                (h, port)
            }
            _ => (authority, if https { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("url {s:?}: no host"));
        }
        Ok(Url {
            https,
            host: host.to_string(),
            port,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }

    /// The Host header.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.https, self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }

    fn as_string(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority(), self.path)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    remote_write: Spec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    url: String,
    interval: Option<String>,
    max_queue_samples: Option<usize>,
    sigv4: Option<SigV4Spec>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigV4Spec {
    region: String,
    role_arn: Option<String>,
}

/// A Prometheus label name that is not reserved (`__…`).
fn label_name_ok(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !n.starts_with("__")
}

impl RemoteWrite {
    /// Read and validate `path`; the error names `path:line:column` when TOML says where.
    pub fn load(path: &Path) -> Result<RemoteWrite, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        RemoteWrite::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<RemoteWrite, String> {
        let spec: FileSpec = toml::from_str(text)
            .map_err(|e| crate::config::toml_error(path, text, &e).to_string())?;
        let s = spec.remote_write;
        let plain = |m: String| format!("{}: {m}", path.display());
        let url = Url::parse(&s.url).map_err(plain)?;
        let interval = match &s.interval {
            Some(i) => {
                crate::config::parse_duration(i).map_err(|e| plain(format!("interval: {e}")))?
            }
            None => Duration::from_secs(30),
        };
        if interval < Duration::from_secs(1) {
            return Err(plain("interval: at least 1s".into()));
        }
        let max_queue_samples = s.max_queue_samples.unwrap_or(200_000);
        if max_queue_samples == 0 {
            return Err(plain("max_queue_samples: at least 1".into()));
        }
        if let Some(bad) = s.external_labels.keys().find(|k| !label_name_ok(k)) {
            return Err(plain(format!(
                "external_labels: {bad:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __…)"
            )));
        }
        Ok(RemoteWrite {
            url,
            interval,
            max_queue_samples,
            sigv4: s.sigv4.map(|v| SigV4 {
                region: v.region,
                role_arn: v.role_arn,
            }),
            external_labels: s.external_labels,
        })
    }
}

/// Remote write 1.0's protobuf messages (prometheus/prompb `remote.proto`, `types.proto`): the
/// fields pgw sends.
pub mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Sorted by name, `__name__` among them.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// One sample line of an exposition: name, labels, value.
pub type Line = (String, Vec<(String, String)>, f64);

/// The series of a Prometheus text exposition (0.0.4): one [`Line`] per sample line, lazily.
pub fn parse_exposition(text: &str) -> impl Iterator<Item = Line> + '_ {
    text.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<Line> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(r)?;
        labels = parsed;
        rest = after;
    }
    let value = match rest.split_whitespace().next().unwrap_or("") {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().ok()?,
    };
    Some((name.to_string(), labels, value))
}

/// `k="v",…}` (escapes `\\`, `\"`, `\n`); the labels and what follows the `}`.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, r) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key.trim().to_string(), value));
        rest = &r[end + 1..];
    }
}

/// One interval's samples, ready to push.
struct Batch {
    body: Bytes,
    samples: usize,
}

/// At most this many series per `WriteRequest`: an interval's series go in several, so that the
/// owned copies of one chunk only are alive at a time (an agent with 10 000 targets exposes
/// ~150 000 series).
const CHUNK: usize = 5_000;

/// Series parsed from the pieces of an exposition (see [`super::exposition`]), with `external`
/// labels (a series' own label wins), at `now_ms`, handed to `emit` as snappy-compressed
/// `WriteRequest`s of at most [`CHUNK`] series: one chunk's owned series are alive at a time.
struct Batcher<'a, E: FnMut(Batch)> {
    pending: Vec<Line>,
    external: &'a BTreeMap<String, String>,
    now_ms: i64,
    emit: E,
}

impl<'a, E: FnMut(Batch)> Batcher<'a, E> {
    fn new(external: &'a BTreeMap<String, String>, now_ms: i64, emit: E) -> Self {
        Batcher {
            pending: Vec::new(),
            external,
            now_ms,
            emit,
        }
    }

    fn piece(&mut self, text: &str) {
        for line in parse_exposition(text) {
            self.pending.push(line);
            if self.pending.len() == CHUNK {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        let lines = std::mem::take(&mut self.pending);
        if !lines.is_empty() {
            (self.emit)(batch(lines.into_iter(), self.external, self.now_ms));
        }
    }
}

/// [`Batcher`] over one whole exposition.
#[cfg(test)]
fn batches(exposition: &str, external: &BTreeMap<String, String>, now_ms: i64) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut b = Batcher::new(external, now_ms, |x| out.push(x));
    b.piece(exposition);
    b.flush();
    drop(b);
    out
}

fn batch(
    lines: impl Iterator<Item = Line>,
    external: &BTreeMap<String, String>,
    now_ms: i64,
) -> Batch {
    use prost::Message;
    let mut req = wire::WriteRequest::default();
    for (name, labels, value) in lines {
        let mut all: BTreeMap<String, String> = external.clone();
        all.extend(labels);
        all.insert("__name__".into(), name);
        req.timeseries.push(wire::TimeSeries {
            labels: all
                .into_iter()
                .map(|(name, value)| wire::Label { name, value })
                .collect(),
            samples: vec![wire::Sample {
                value,
                timestamp: now_ms,
            }],
        });
    }
    let samples = req.timeseries.len();
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default();
    Batch {
        body: Bytes::from(body),
        samples,
    }
}

/// How one push ended.
enum Pushed {
    Ok,
    /// Worth retrying: 5xx, 429, no connection, no answer.
    Retry(String),
    /// Refused for good: another 4xx.
    Refused(String),
}

/// Credentials for SigV4, from the standard chain (through the role when configured).
async fn credential_provider(
    s: &SigV4,
) -> aws_credential_types::provider::SharedCredentialsProvider {
    use aws_credential_types::provider::SharedCredentialsProvider;
    let region = aws_config::Region::new(s.region.clone());
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(region.clone())
        .build()
        .await;
    match &s.role_arn {
        None => SharedCredentialsProvider::new(chain),
        Some(arn) => SharedCredentialsProvider::new(
            aws_config::sts::AssumeRoleProvider::builder(arn.clone())
                .region(region)
                .session_name("pgw-remote-write")
                .build_from_provider(chain)
                .await,
        ),
    }
}

/// The pusher: the queue, the connection settings, the counters.
struct Pusher {
    cfg: RemoteWrite,
    external: BTreeMap<String, String>,
    metrics: Arc<Metrics>,
    queue: Mutex<VecDeque<Batch>>,
    ready: Notify,
    tls: Option<crate::probe::tls::TlsSetup>,
    creds: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Pusher {
    /// Queue `b`, letting the oldest batches go past the bound.
    fn enqueue(&self, b: Batch) {
        let mut q = self.queue.lock().expect("poisoned");
        q.push_back(b);
        let mut total: usize = q.iter().map(|b| b.samples).sum();
        while total > self.cfg.max_queue_samples && q.len() > 1 {
            if let Some(old) = q.pop_front() {
                total -= old.samples;
                self.metrics
                    .count_pushed(PushResult::Dropped, old.samples as u64, now_unix());
            }
        }
        self.metrics.set_push_queue(total);
        drop(q);
        self.ready.notify_one();
    }

    /// Push the queue's head until it is empty or the agent stops.
    async fn drain(&self, stop: &CancellationToken) {
        let mut backoff = BACKOFF.0;
        loop {
            let head = {
                let q = self.queue.lock().expect("poisoned");
                q.front().map(|b| (b.body.clone(), b.samples))
            };
            let Some((body, samples)) = head else { return };
            let outcome = match tokio::time::timeout(PUSH_TIMEOUT, self.push(body)).await {
                Ok(o) => o,
                Err(_) => Pushed::Retry(format!("no answer within {PUSH_TIMEOUT:?}")),
            };
            let done = match outcome {
                Pushed::Ok => Some(PushResult::Sent),
                Pushed::Refused(why) => {
                    tracing::warn!(url = %self.cfg.url.as_string(), "remote write refused, dropped: {why}");
                    Some(PushResult::Rejected)
                }
                Pushed::Retry(why) => {
                    tracing::debug!(url = %self.cfg.url.as_string(), "remote write failed, will retry: {why}");
                    None
                }
            };
            match done {
                Some(result) => {
                    backoff = BACKOFF.0;
                    let mut q = self.queue.lock().expect("poisoned");
                    q.pop_front();
                    self.metrics
                        .set_push_queue(q.iter().map(|b| b.samples).sum());
                    drop(q);
                    self.metrics
                        .count_pushed(result, samples as u64, now_unix());
                }
                None => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    }

    async fn push(&self, body: Bytes) -> Pushed {
        let url = &self.cfg.url;
        let mut headers = vec![
            ("host".to_string(), url.authority()),
            ("content-encoding".to_string(), "snappy".to_string()),
            (
                "content-type".to_string(),
                "application/x-protobuf".to_string(),
            ),
            (
                "x-prometheus-remote-write-version".to_string(),
                "0.1.0".to_string(),
            ),
            (
                "user-agent".to_string(),
                format!("pgw/{}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        if let (Some(sig), Some(provider)) = (&self.cfg.sigv4, &self.creds) {
            let creds = match provider.provide_credentials().await {
                Ok(c) => c,
                Err(e) => return Pushed::Retry(format!("no credentials: {e}")),
            };
            match crate::probe::sigv4::signature_headers(
                "POST",
                &url.as_string(),
                &headers,
                &body,
                ("aps", &sig.region),
                &creds,
                SystemTime::now(),
            ) {
                Ok(added) => headers.extend(added),
                Err(e) => return Pushed::Refused(format!("cannot sign: {e}")),
            }
        }
        let addr = match tokio::net::lookup_host((url.host.as_str(), url.port)).await {
            Ok(mut a) => match a.next() {
                Some(a) => a,
                None => return Pushed::Retry(format!("{} has no address", url.host)),
            },
            Err(e) => return Pushed::Retry(format!("cannot resolve {}: {e}", url.host)),
        };
        let tcp = match tokio::net::TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => return Pushed::Retry(format!("connect {addr}: {e}")),
        };
        match &self.tls {
            None => send(tcp, addr, headers, body, &url.path).await,
            Some(tls) => match tls.handshake(tcp, &url.host, PUSH_TIMEOUT).await {
                (_, Some(stream)) => send(stream, addr, headers, body, &url.path).await,
                (facts, None) => {
                    Pushed::Retry(format!("TLS with {}: {}", url.host, facts.outcome.as_str()))
                }
            },
        }
    }
}

/// One POST over `io`: the answer's class.
async fn send<T>(
    io: T,
    addr: SocketAddr,
    headers: Vec<(String, String)>,
    body: Bytes,
    path: &str,
) -> Pushed
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(x) => x,
        Err(e) => return Pushed::Retry(format!("{addr}: {e}")),
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder().method("POST").uri(path);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = match req.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return Pushed::Refused(e.to_string()),
    };
    let outcome = match sender.send_request(req).await {
        Err(e) => Pushed::Retry(format!("{addr}: {e}")),
        Ok(resp) => {
            let status = resp.status();
            let text = Limited::new(resp.into_body(), 1024)
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
                .unwrap_or_default();
            match status.as_u16() {
                200..=299 => Pushed::Ok,
                429 | 500..=599 => Pushed::Retry(format!("HTTP {status} {text}")),
                _ => Pushed::Refused(format!("HTTP {status} {text}")),
            }
        }
    };
    driver.abort();
    outcome
}

/// Push the registry of `metrics` every interval until `stop`. The external labels are the
/// configured ones over those `located` gives (account, region, VPC, AZ, instance).
pub async fn run(
    cfg: RemoteWrite,
    located: Option<Whereabouts>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut external: BTreeMap<String, String> = BTreeMap::new();
    if let Some(w) = located {
        for (k, v) in [
            ("account", w.account),
            ("region", w.region),
            ("vpc_id", w.vpc_id),
            ("az", w.az),
            ("instance_id", w.instance_id),
        ] {
            external.insert(k.into(), v);
        }
    }
    external.extend(cfg.external_labels.clone());
    let tls = if cfg.url.https {
        match crate::probe::tls::TlsSetup::new(&[], &crate::facts::TlsVersion::ALL) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!("remote write off: no TLS setup: {e}");
                return;
            }
        }
    } else {
        None
    };
    let creds = match &cfg.sigv4 {
        Some(s) => Some(credential_provider(s).await),
        None => None,
    };
    let pusher = Arc::new(Pusher {
        cfg,
        external,
        metrics,
        queue: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        tls,
        creds,
    });
    let sender = {
        let (p, stop) = (pusher.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = p.ready.notified() => p.drain(&stop).await,
                }
            }
        })
    };
    let mut tick = tokio::time::interval(pusher.cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let now_ms = (now_unix() * 1000.0) as i64;
                let p = pusher.clone();
                // Encoding and compressing 150 000 series is CPU work: off the runtime's threads,
                // one piece of the exposition at a time.
                let _ = tokio::task::spawn_blocking(move || {
                    let mut b = Batcher::new(&p.external, now_ms, |x| p.enqueue(x));
                    let _ = super::exposition::encode_pieces(|w| p.metrics.encode(w, false), |piece| {
                        b.piece(&piece);
                        true
                    });
                    b.flush();
                })
                .await;
            }
        }
    }
    let _ = sender.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_validated_with_its_position() {
        let f = Path::new("rw.toml");
        let ok = RemoteWrite::parse(
            f,
            "[remote_write]\nurl = \"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write\"\n[remote_write.sigv4]\nregion = \"us-east-1\"\n[remote_write.external_labels]\nfleet = \"prod\"\n",
        )
        .unwrap();
        assert!(ok.url.https && ok.url.port == 443);
        assert_eq!(ok.url.path, "/workspaces/ws-1/api/v1/remote_write");
        assert_eq!(ok.interval, Duration::from_secs(30));
        let msg = RemoteWrite::parse(
            f,
            "[remote_write]\nurl = \"http://a\"\nintervall = \"1s\"\n",
        )
        .err()
        .unwrap();
        assert!(msg.starts_with("rw.toml:3:1: "), "{msg}");
        let msg = RemoteWrite::parse(
            f,
            "[remote_write]\nurl = \"http://a:9090/api/v1/write\"\n[remote_write.external_labels]\n__x = \"1\"\n",
        )
        .err()
        .unwrap();
        assert!(msg.contains("not a label name"), "{msg}");
        assert!(RemoteWrite::parse(f, "[remote_write]\nurl = \"ftp://a\"\n").is_err());
    }

    #[test]
    fn the_exposition_becomes_series_with_external_labels() {
        let text = "# HELP x y\n# TYPE pgw_finding gauge\npgw_finding{probe=\"a\",id=\"b\",path=\"q\\\"uote\"} 1\npgw_build_info{version=\"0.1.0\"} 1\nup 0\nh_bucket{le=\"+Inf\"} 3\n";
        let s: Vec<Line> = parse_exposition(text).collect();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].1[2], ("path".to_string(), "q\"uote".to_string()));
        let external: BTreeMap<String, String> = [
            ("fleet".to_string(), "prod".to_string()),
            ("probe".to_string(), "x".to_string()),
        ]
        .into_iter()
        .collect();
        let b = &batches(text, &external, 1_700_000_000_000)[0];
        assert_eq!(b.samples, 4);
        let raw = snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
        let req = <wire::WriteRequest as prost::Message>::decode(raw.as_slice()).unwrap();
        let first = &req.timeseries[0];
        let names: Vec<&str> = first.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "fleet", "id", "path", "probe"]);
        // The series' own label wins over an external one.
        assert_eq!(first.labels[4].value, "a");
        assert_eq!(first.samples[0].timestamp, 1_700_000_000_000);
    }

    #[test]
    fn an_interval_with_many_series_goes_in_chunks() {
        let text: String = (0..CHUNK * 2 + 3)
            .map(|i| format!("s{{i=\"{i}\"}} 1\n"))
            .collect();
        let b = batches(&text, &BTreeMap::new(), 0);
        let sizes: Vec<usize> = b.iter().map(|b| b.samples).collect();
        assert_eq!(sizes, [CHUNK, CHUNK, 3]);
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:9090/api/v1/write").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9090, "/api/v1/write")
        );
        assert_eq!(u.authority(), "127.0.0.1:9090");
        let u = Url::parse("https://[::1]:8443/w").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
        assert_eq!(u.authority(), "[::1]:8443");
    }
}
