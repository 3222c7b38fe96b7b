//! Facts: what the probes observed, layer by layer, per ENI and per path, with timings, and what
//! the control plane said ([`control`]).
//!
//! Facts are plain data at the bottom of the crate: probes and AWS reads produce them, diagnosis
//! reads them; nothing here imports anything above it or decides whether something is a problem.

pub mod control;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which of the three invoke routes of a private API to use (docs/architecture.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum, Hash,
)]
#[serde(rename_all = "kebab-case")]
pub enum InvokeVia {
    /// `{api}.execute-api.{region}.amazonaws.com` through the endpoint's private DNS.
    #[default]
    PrivateDns,
    /// The endpoint's own DNS name, with the API named by `Host` (or `x-apigw-api-id`).
    VpceHost,
    /// The Route 53 alias `{api}-{vpce}.execute-api.{region}.amazonaws.com`.
    Alias,
    /// A private custom domain name shared with the endpoint: SNI and Host are the domain, the
    /// path goes under its base path mapping instead of the stage.
    CustomDomain,
}

impl InvokeVia {
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeVia::PrivateDns => "private-dns",
            InvokeVia::VpceHost => "vpce-host",
            InvokeVia::Alias => "alias",
            InvokeVia::CustomDomain => "custom-domain",
        }
    }
}

impl std::fmt::Display for InvokeVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one diagnosis run observed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// How the invoke was addressed (names, headers).
    pub target: TargetFacts,
    /// The lookup of the name we connect to.
    pub dns: Vec<DnsFacts>,
    /// A second lookup of the endpoint's own regional DNS name, when known and different from
    /// the invoke name: the addresses the endpoint ENIs really have.
    pub reference_dns: Vec<DnsFacts>,
    /// One entry per resolved address (per execute-api endpoint ENI).
    pub enis: Vec<EniFacts>,
    /// Addresses of the answer that were not probed: past the cap on addresses per name.
    pub unprobed: Vec<IpAddr>,
    /// Signed retry of the invokes (SigV4), when unsigned calls were refused for lack of a token.
    pub signed_retry: Vec<PathFacts>,
    /// Whether a signed retry was wanted but no credentials could be loaded.
    pub signed_retry_unavailable: Option<String>,
    /// In `vpce-host` mode: the same invoke identified by `x-apigw-api-id` instead of `Host`.
    pub header_control: Vec<PathFacts>,
    /// The path whose answer is large (`--large-path`), invoked on every ENI beside the others:
    /// a path MTU black hole lets the small answers through and stalls this one.
    pub large: Vec<PathFacts>,
    /// `--check-public`: the API's public name called from outside the VPC.
    pub public: Option<PublicFacts>,
    /// What the AWS control plane says (`None` with `--no-aws`).
    pub control: Option<control::ControlFacts>,
    /// True when the overall deadline cut a probe short.
    pub deadline_hit: bool,
    /// This host could not run a probe (out of file descriptors, of local ports): the run says
    /// nothing about the chain.
    pub host_error: Option<String>,
    /// Wall time of the whole run.
    #[serde(with = "secs")]
    pub duration: Duration,
}

/// The public side (`--check-public`): the API's public name at a public resolver, and the
/// invokes on the first address it gives.
#[derive(Debug, Clone, Serialize)]
pub struct PublicFacts {
    pub dns: DnsFacts,
    pub paths: Vec<PathFacts>,
}

impl PublicFacts {
    /// Whether every answer was API Gateway's 403 ForbiddenException (what a private API answers
    /// outside its endpoints); `None` when nothing answered.
    pub fn refused(&self) -> Option<bool> {
        let answers: Vec<&HttpResponse> = self.paths.iter().filter_map(|p| p.response()).collect();
        (!answers.is_empty()).then(|| {
            answers
                .iter()
                .all(|r| r.is_error_type(403, "ForbiddenException"))
        })
    }
}

/// How the doctor addressed the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetFacts {
    pub api_id: String,
    pub region: String,
    pub stage: String,
    /// The API's own host name (`{api}.execute-api.{region}.amazonaws.com`).
    pub api_host: String,
    /// The name resolved and connected to (also the TLS SNI).
    pub connect_name: String,
    /// The Host header sent.
    pub host_header: String,
    /// The `x-apigw-api-id` header sent, if any.
    pub api_id_header: Option<String>,
    pub invoke_via: InvokeVia,
    pub port: u16,
    pub method: String,
    pub signed: bool,
    /// The execute-api endpoint's regional DNS name, when known.
    pub vpce_dns: Option<String>,
    /// The execute-api endpoint id, when configured.
    pub vpce_id: Option<String>,
    /// The TLS versions offered (those of the client pgw stands in for).
    pub tls_versions: Vec<TlsVersion>,
    /// `custom-domain`: the private custom domain name called, and its base path (`None`: the
    /// mapping at the domain's root).
    pub domain_name: Option<String>,
    pub base_path: Option<String>,
}

/// A TLS protocol version pgw can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    /// Both, newest first: what pgw offers unless told otherwise.
    pub const ALL: [TlsVersion; 2] = [TlsVersion::Tls13, TlsVersion::Tls12];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    /// `1.2`, `1.3` (also `TLSv1.2`, `tls1.3`).
    pub fn parse(s: &str) -> Option<TlsVersion> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.trim_start_matches("tlsv").trim_start_matches("tls");
        match t {
            "1.2" => Some(TlsVersion::Tls12),
            "1.3" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

/// The result of asking one resolver for one name.
#[derive(Debug, Clone, Serialize)]
pub struct DnsFacts {
    pub name: String,
    /// `ip:port` of the resolver, or `system` when the system configuration was used.
    pub resolver: String,
    pub outcome: DnsOutcome,
    pub addrs: Vec<IpAddr>,
    #[serde(with = "secs")]
    pub duration: Duration,
}

/// How a DNS lookup ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum DnsOutcome {
    /// At least one A record.
    Answer,
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no A record.
    NoData,
    ServFail,
    Refused,
    /// Another response code.
    Rcode(String),
    /// No answer within the phase timeout.
    Timeout,
    /// Any other failure (no resolver configured, I/O error).
    Error(String),
}

impl DnsOutcome {
    pub fn is_answer(&self) -> bool {
        matches!(self, DnsOutcome::Answer)
    }
    /// A stable short name, used in check names and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsOutcome::Answer => "answer",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::NoData => "nodata",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Rcode(_) => "rcode",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Error(_) => "error",
        }
    }
}

/// One resolved address and every invoke sent to it.
#[derive(Debug, Clone, Serialize)]
pub struct EniFacts {
    pub addr: SocketAddr,
    /// The local address this host uses to reach `addr` (for security group checks).
    pub source: Option<IpAddr>,
    pub paths: Vec<PathFacts>,
}

impl EniFacts {
    /// The connection facts of the first attempt on this address (all attempts dial the same
    /// address; the first one stands for the ENI in the layer view).
    pub fn first(&self) -> Option<&ConnFacts> {
        self.paths.first().map(|p| &p.conn)
    }
}

/// One invoke of one path on one address: its own connection, TLS session and request.
#[derive(Debug, Clone, Serialize)]
pub struct PathFacts {
    /// Stage-relative path as configured (`/`, `/pgw-probe`).
    pub path: String,
    /// The request target actually sent (`/test/pgw-probe`).
    pub request_path: String,
    pub addr: SocketAddr,
    pub signed: bool,
    /// Which header identified the API (`host` or `x-apigw-api-id`).
    pub identified_by: &'static str,
    pub conn: ConnFacts,
    pub http: HttpOutcome,
    pub timings: Timings,
}

impl PathFacts {
    pub fn response(&self) -> Option<&HttpResponse> {
        match &self.http {
            HttpOutcome::Response(r) => Some(r),
            _ => None,
        }
    }
}

/// TCP and TLS outcome of one connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnFacts {
    pub connect: ConnectOutcome,
    /// `None` when TCP did not connect.
    pub tls: Option<TlsFacts>,
}

impl ConnFacts {
    pub fn established(&self) -> bool {
        self.connect == ConnectOutcome::Ok
            && self
                .tls
                .as_ref()
                .is_some_and(|t| t.outcome == TlsOutcome::Ok)
    }
}

/// How a TCP connect ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ConnectOutcome {
    Ok,
    /// No SYN-ACK within the phase timeout: dropped by a security group, NACL or route.
    Timeout,
    /// RST: nothing listens there.
    Refused,
    /// ICMP unreachable or no route.
    Unreachable,
    /// The overall deadline passed before the connect was tried.
    NotTried,
    Error(String),
}

impl ConnectOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectOutcome::Ok => "ok",
            ConnectOutcome::Timeout => "timeout",
            ConnectOutcome::Refused => "refused",
            ConnectOutcome::Unreachable => "unreachable",
            ConnectOutcome::NotTried => "not_tried",
            ConnectOutcome::Error(_) => "error",
        }
    }
}

/// The TLS handshake and what the peer presented.
#[derive(Debug, Clone, Serialize)]
pub struct TlsFacts {
    pub outcome: TlsOutcome,
    /// SNI sent.
    pub server_name: String,
    pub version: Option<String>,
    /// DNS names (SANs, or the CN when there are none) of the peer's leaf certificate.
    pub peer_names: Vec<String>,
    /// Leaf certificate `notAfter`, seconds since the epoch.
    pub not_after: Option<i64>,
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum TlsOutcome {
    Ok,
    /// The certificate does not cover the name we asked for.
    NameMismatch,
    /// The chain does not end at a trusted root.
    UnknownCa,
    Expired,
    NotYetValid,
    /// Any other certificate problem (revoked, bad signature, …).
    BadCertificate(String),
    /// No TLS version in common: the peer refused the versions offered (alert
    /// `protocol_version`), or chose one not offered.
    VersionRejected(String),
    /// Alerts, cipher disagreement, garbage.
    Protocol(String),
    Timeout,
}

impl TlsOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            TlsOutcome::Ok => "ok",
            TlsOutcome::NameMismatch => "name_mismatch",
            TlsOutcome::UnknownCa => "unknown_ca",
            TlsOutcome::Expired => "expired",
            TlsOutcome::NotYetValid => "not_yet_valid",
            TlsOutcome::BadCertificate(_) => "bad_certificate",
            TlsOutcome::VersionRejected(_) => "version_rejected",
            TlsOutcome::Protocol(_) => "protocol",
            TlsOutcome::Timeout => "timeout",
        }
    }
}

/// How the HTTP exchange ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum HttpOutcome {
    /// The connection was never usable.
    NotSent,
    Response(HttpResponse),
    /// No response head before the phase timeout / deadline.
    Timeout,
    /// The connection broke (reset, closed, malformed response).
    Error(String),
}

/// Who produced a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSource {
    /// API Gateway itself (it carries `x-amzn-ErrorType`).
    Gateway,
    /// The backend, relayed through the integration.
    Backend,
}

/// A response, reduced to what diagnosis needs.
#[derive(Debug, Clone, Serialize)]
pub struct HttpResponse {
    pub status: u16,
    /// `x-amzn-ErrorType`, without any `:`-suffix.
    pub error_type: Option<String>,
    /// `message` / `Message` of a JSON body.
    pub message: Option<String>,
    pub source: ResponseSource,
    /// Whether API Gateway's request id headers were present.
    pub gateway_headers: bool,
    /// `x-amzn-RequestId`: what AWS Support asks for first.
    pub request_id: Option<String>,
    /// The `Server` header, if any.
    pub server: Option<String>,
    /// The responder's clock against this host's: its `Date` header minus the local time when the
    /// response was read, in whole seconds (`Date` has no finer resolution). Positive: this host is
    /// behind.
    pub clock_skew_s: Option<i64>,
    /// The first bytes of the body (printable, capped).
    pub body_snippet: String,
    pub body_bytes: usize,
    pub body_truncated: bool,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..400).contains(&self.status)
    }
    /// Status and error type, e.g. `403 MissingAuthenticationTokenException`.
    pub fn summary(&self) -> String {
        match (&self.error_type, &self.message) {
            (Some(t), Some(m)) => format!("{} {t} \"{m}\"", self.status),
            (Some(t), None) => format!("{} {t}", self.status),
            (None, _) => format!("{} (from the backend)", self.status),
        }
    }
    pub fn is_error_type(&self, status: u16, error_type: &str) -> bool {
        self.status == status && self.error_type.as_deref() == Some(error_type)
    }
}

/// Phase durations of one invoke (`None` = phase not reached).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    #[serde(with = "opt_secs")]
    pub connect: Option<Duration>,
    #[serde(with = "opt_secs")]
    pub tls: Option<Duration>,
    /// From the start of this invoke's connect to the first response byte.
    #[serde(with = "opt_secs")]
    pub ttfb: Option<Duration>,
    /// From the start of the connect to the end of the (capped) body.
    #[serde(with = "opt_secs")]
    pub total: Option<Duration>,
}

pub(crate) mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub(crate) mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

impl Facts {
    /// Every invoke of the main pass (all ENIs, all paths).
    pub fn invokes(&self) -> impl Iterator<Item = &PathFacts> {
        self.enis.iter().flat_map(|e| e.paths.iter())
    }
    /// Addresses of every answer of the invoke name.
    pub fn resolved(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.dns.iter().flat_map(|d| d.addrs.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
    /// Addresses of the endpoint's own DNS name.
    pub fn reference_addrs(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .reference_dns
            .iter()
            .flat_map(|d| d.addrs.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
