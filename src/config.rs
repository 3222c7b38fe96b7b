//! Config: probe files and flags, merged (flag wins) and validated into one [`Config`].
//!
//! Every error names where it came from: `file:line:column` for probe files, the flag otherwise.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use toml::Spanned;

/// The stage-relative paths invoked when none are configured: the stage root and one proxy path.
pub const DEFAULT_PATHS: [&str; 2] = ["/", "/pgw-probe"];
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_CONTROL_PLANE_INTERVAL: Duration = Duration::from_secs(300);

pub use crate::facts::InvokeVia;

/// A configuration error: one line, naming the file position or the flag.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    pub location: String,
    pub message: String,
}

impl ConfigError {
    fn flag(flag: &str, message: impl Into<String>) -> Self {
        ConfigError {
            location: flag.to_string(),
            message: message.into(),
        }
    }
}

/// A probe file as written (`probes/*.toml`). Unknown keys are rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub name: Option<Spanned<String>>,
    pub api_id: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub stage: Option<Spanned<String>>,
    pub paths: Option<Spanned<Vec<String>>>,
    pub method: Option<Spanned<String>>,
    pub invoke_via: Option<Spanned<InvokeVia>>,
    pub vpce_id: Option<Spanned<String>>,
    pub vpce_dns: Option<Spanned<String>>,
    pub resolvers: Option<Spanned<Vec<String>>>,
    pub port: Option<Spanned<u16>>,
    pub ca_file: Option<Spanned<String>>,
    pub sigv4: Option<bool>,
    pub no_aws: Option<bool>,
    pub aws_endpoint_url: Option<Spanned<String>>,
    pub roles: Option<Spanned<BTreeMap<String, String>>>,
    pub timeout: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub control_plane_interval: Option<Spanned<String>>,
}

/// Values given on the command line (or by environment); `None` = not given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub api_id: Option<String>,
    pub region: Option<String>,
    pub stage: Option<String>,
    pub paths: Vec<String>,
    pub method: Option<String>,
    pub invoke_via: Option<InvokeVia>,
    pub vpce_id: Option<String>,
    pub vpce_dns: Option<String>,
    pub resolvers: Vec<String>,
    pub port: Option<u16>,
    pub ca_file: Option<PathBuf>,
    pub sigv4: bool,
    pub aws_endpoint_url: Option<String>,
    pub roles: Vec<String>,
    pub no_aws: bool,
    pub timeout: Option<String>,
}

/// A validated probe configuration: one private API chain.
#[derive(Debug, Clone)]
pub struct Config {
    /// Empty only while the stage is unknown (see [`Config::set_stage`]).
    pub name: String,
    pub api_id: String,
    pub region: String,
    /// Empty when not configured ([`Config::stage_unknown`]): the doctor discovers it from AWS
    /// before probing; `build` refuses a missing stage with `--no-aws`.
    pub stage: String,
    pub paths: Vec<String>,
    pub method: http::Method,
    pub invoke_via: InvokeVia,
    pub vpce_id: Option<String>,
    pub vpce_dns: Option<String>,
    /// Empty: use the system's resolvers.
    pub resolvers: Vec<SocketAddr>,
    pub port: u16,
    pub ca_file: Option<PathBuf>,
    /// Extra trust roots read from `ca_file`.
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub sigv4: bool,
    pub aws_endpoint_url: Option<String>,
    pub roles: BTreeMap<String, String>,
    pub no_aws: bool,
    pub timeout: Duration,
    pub interval: Duration,
    pub control_plane_interval: Duration,
}

impl Config {
    /// The API's own host name.
    pub fn api_host(&self) -> String {
        api_host(&self.api_id, &self.region)
    }

    /// Whether no stage was configured: it is to be discovered from AWS before probing.
    pub fn stage_unknown(&self) -> bool {
        self.stage.is_empty()
    }

    /// Set the (discovered) stage; a default name follows it.
    pub fn set_stage(&mut self, stage: String) {
        if self.name.is_empty() {
            self.name = format!("{}-{stage}", self.api_id);
        }
        self.stage = stage;
    }
}

/// `{api}.execute-api.{region}.amazonaws.com` (`.com.cn` in the China partition).
pub fn api_host(api_id: &str, region: &str) -> String {
    format!("{api_id}.execute-api.{region}.{}", dns_suffix(region))
}

/// `{api}-{vpce}.execute-api.{region}.amazonaws.com`.
pub fn alias_host(api_id: &str, vpce_id: &str, region: &str) -> String {
    format!(
        "{api_id}-{vpce_id}.execute-api.{region}.{}",
        dns_suffix(region)
    )
}

fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    Flag(&'static str),
    File {
        path: &'a Path,
        src: &'a str,
        span: std::ops::Range<usize>,
    },
}

impl Origin<'_> {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        match self {
            Origin::Flag(f) => ConfigError::flag(f, message),
            Origin::File { path, src, span } => ConfigError {
                location: file_position(path, src, span.start),
                message: message.into(),
            },
        }
    }
}

/// `file:line:column` (1-based) of a byte offset.
pub fn file_position(path: &Path, src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

/// Parse a probe file's text. Syntax errors and unknown keys name `file:line:column`.
pub fn parse_probe_file(path: &Path, src: &str) -> Result<ProbeFile, ConfigError> {
    toml::from_str::<ProbeFile>(src).map_err(|e| {
        let location = match e.span() {
            Some(span) => file_position(path, src, span.start),
            None => path.display().to_string(),
        };
        ConfigError {
            location,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// Read and parse a probe file.
pub fn read_probe_file(path: &Path) -> Result<(ProbeFile, String), ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read probe file: {e}"),
    })?;
    let file = parse_probe_file(path, &src)?;
    Ok((file, src))
}

/// Pick the flag value if given, else the file value, keeping its origin.
fn pick<'a, T: Clone>(
    flag: Option<T>,
    flag_name: &'static str,
    file: &Option<Spanned<T>>,
    path: &'a Path,
    src: &'a str,
) -> Option<(T, Origin<'a>)> {
    if let Some(v) = flag {
        return Some((v, Origin::Flag(flag_name)));
    }
    file.as_ref().map(|s| {
        (
            s.get_ref().clone(),
            Origin::File {
                path,
                src,
                span: s.span(),
            },
        )
    })
}

/// Build a validated [`Config`] from an optional probe file and the flags.
/// `env_region` is the region from the AWS environment, used when neither gives one.
pub fn build(
    file: Option<(&Path, &str, &ProbeFile)>,
    flags: &Overrides,
    env_region: Option<String>,
) -> Result<Config, ConfigError> {
    let empty = ProbeFile::default();
    let (path, src, pf) = match file {
        Some((p, s, f)) => (p, s, f),
        None => (Path::new("<flags>"), "", &empty),
    };

    let (api_id, origin) = pick(flags.api_id.clone(), "--api-id", &pf.api_id, path, src)
        .ok_or_else(|| ConfigError::flag("--api-id", "required (or --config FILE)"))?;
    if !valid_api_id(&api_id) {
        return Err(origin.error(format!(
            "invalid API id {api_id:?}: expected 10 lowercase letters or digits"
        )));
    }

    let region = match pick(flags.region.clone(), "--region", &pf.region, path, src) {
        Some((r, origin)) => {
            if !valid_region(&r) {
                return Err(origin.error(format!("invalid region {r:?}: expected e.g. us-east-1")));
            }
            r
        }
        None => match env_region {
            Some(r) if valid_region(&r) => r,
            _ => {
                return Err(ConfigError::flag(
                    "--region",
                    "required: not set and none found in AWS_REGION / AWS_DEFAULT_REGION",
                ))
            }
        },
    };

    let stage = match pick(flags.stage.clone(), "--stage", &pf.stage, path, src) {
        Some((stage, origin)) => {
            if !valid_stage(&stage) {
                return Err(origin.error(format!(
                    "invalid stage {stage:?}: letters, digits, '-' and '_' only, at most 128"
                )));
            }
            Some(stage)
        }
        None => None,
    };

    let paths = if !flags.paths.is_empty() {
        validate_paths(&flags.paths, &Origin::Flag("--path"))?
    } else if let Some(p) = &pf.paths {
        validate_paths(
            p.get_ref(),
            &Origin::File {
                path,
                src,
                span: p.span(),
            },
        )?
    } else {
        DEFAULT_PATHS.iter().map(|s| s.to_string()).collect()
    };

    let method = match pick(flags.method.clone(), "--method", &pf.method, path, src) {
        Some((m, origin)) => {
            let up = m.to_ascii_uppercase();
            match up.as_str() {
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                    http::Method::from_bytes(up.as_bytes()).expect("known method")
                }
                _ => return Err(origin.error(format!("unsupported HTTP method {m:?}"))),
            }
        }
        None => http::Method::GET,
    };

    let invoke_via = pick(flags.invoke_via, "--invoke-via", &pf.invoke_via, path, src)
        .map(|(v, _)| v)
        .unwrap_or_default();

    let vpce_id = match pick(flags.vpce_id.clone(), "--vpce-id", &pf.vpce_id, path, src) {
        Some((v, origin)) => {
            if !valid_vpce_id(&v) {
                return Err(origin.error(format!(
                    "invalid endpoint id {v:?}: expected vpce- followed by 8 or 17 hex digits"
                )));
            }
            Some(v)
        }
        None => None,
    };
    let vpce_dns = match pick(
        flags.vpce_dns.clone(),
        "--vpce-dns",
        &pf.vpce_dns,
        path,
        src,
    ) {
        Some((v, origin)) => {
            if !valid_dns_name(&v) {
                return Err(origin.error(format!("invalid DNS name {v:?}")));
            }
            Some(v.trim_end_matches('.').to_ascii_lowercase())
        }
        None => None,
    };

    let resolvers = if !flags.resolvers.is_empty() {
        flags
            .resolvers
            .iter()
            .map(|r| parse_resolver(r).map_err(|m| ConfigError::flag("--resolver", m)))
            .collect::<Result<Vec<_>, _>>()?
    } else if let Some(list) = &pf.resolvers {
        let origin = Origin::File {
            path,
            src,
            span: list.span(),
        };
        list.get_ref()
            .iter()
            .map(|r| parse_resolver(r).map_err(|m| origin.error(m)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };

    let port = match pick(flags.port, "--port", &pf.port, path, src) {
        Some((0, origin)) => return Err(origin.error("port must be 1-65535")),
        Some((p, _)) => p,
        None => 443,
    };

    let ca = match (&flags.ca_file, &pf.ca_file) {
        (Some(p), _) => Some((p.clone(), Origin::Flag("--ca-file"))),
        (None, Some(s)) => {
            // Relative paths in a probe file are relative to the file.
            let p = PathBuf::from(s.get_ref());
            let p = if p.is_relative() {
                path.parent().unwrap_or(Path::new(".")).join(p)
            } else {
                p
            };
            Some((
                p,
                Origin::File {
                    path,
                    src,
                    span: s.span(),
                },
            ))
        }
        (None, None) => None,
    };
    let (ca_file, extra_roots) = match ca {
        Some((p, origin)) => {
            let roots = read_ca_file(&p).map_err(|m| origin.error(m))?;
            (Some(p), roots)
        }
        None => (None, Vec::new()),
    };

    let aws_endpoint_url = match pick(
        flags.aws_endpoint_url.clone(),
        "--aws-endpoint-url",
        &pf.aws_endpoint_url,
        path,
        src,
    ) {
        Some((u, origin)) => {
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.parse::<http::Uri>().is_err()
            {
                return Err(origin.error(format!("invalid URL {u:?}")));
            }
            Some(u)
        }
        None => None,
    };

    let mut roles = BTreeMap::new();
    if !flags.roles.is_empty() {
        for r in &flags.roles {
            let (acct, arn) = r.split_once('=').ok_or_else(|| {
                ConfigError::flag("--role", format!("{r:?}: expected ACCOUNT=ROLE_ARN"))
            })?;
            validate_role(acct, arn).map_err(|m| ConfigError::flag("--role", m))?;
            roles.insert(acct.to_string(), arn.to_string());
        }
    } else if let Some(map) = &pf.roles {
        let origin = Origin::File {
            path,
            src,
            span: map.span(),
        };
        for (acct, arn) in map.get_ref() {
            validate_role(acct, arn).map_err(|m| origin.error(m))?;
            roles.insert(acct.clone(), arn.clone());
        }
    }

    let timeout = duration_field(flags.timeout.clone(), "--timeout", &pf.timeout, path, src)?
        .unwrap_or(DEFAULT_TIMEOUT);
    let interval =
        duration_field(None, "interval", &pf.interval, path, src)?.unwrap_or(DEFAULT_INTERVAL);
    let control_plane_interval = duration_field(
        None,
        "control_plane_interval",
        &pf.control_plane_interval,
        path,
        src,
    )?
    .unwrap_or(DEFAULT_CONTROL_PLANE_INTERVAL);

    let sigv4 = flags.sigv4 || pf.sigv4.unwrap_or(false);
    let no_aws = flags.no_aws || pf.no_aws.unwrap_or(false);
    // Without a stage the doctor discovers it (doctor::discover_stage), which needs AWS.
    let stage = match stage {
        Some(s) => s,
        None if no_aws => {
            let message = "required with --no-aws (stage discovery needs AWS access)";
            return Err(match file {
                Some(_) => ConfigError {
                    location: path.display().to_string(),
                    message: format!("stage (or --stage): {message}"),
                },
                None => ConfigError::flag("--stage", message),
            });
        }
        None => String::new(),
    };

    match invoke_via {
        InvokeVia::VpceHost if vpce_dns.is_none() => {
            return Err(ConfigError::flag(
                "--vpce-dns",
                "required with --invoke-via vpce-host (endpoint discovery needs AWS access)",
            ))
        }
        InvokeVia::Alias if vpce_id.is_none() => {
            return Err(ConfigError::flag(
                "--vpce-id",
                "required with --invoke-via alias (endpoint discovery needs AWS access)",
            ))
        }
        _ => {}
    }

    let name = match &pf.name {
        Some(n) => {
            let v = n.get_ref().clone();
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(Origin::File {
                    path,
                    src,
                    span: n.span(),
                }
                .error(format!(
                    "invalid name {v:?}: letters, digits, '-', '_' and '.' only"
                )));
            }
            v
        }
        None if stage.is_empty() => String::new(),
        None => format!("{api_id}-{stage}"),
    };

    Ok(Config {
        name,
        api_id,
        region,
        stage,
        paths,
        method,
        invoke_via,
        vpce_id,
        vpce_dns,
        resolvers,
        port,
        ca_file,
        extra_roots,
        sigv4,
        aws_endpoint_url,
        roles,
        no_aws,
        timeout,
        interval,
        control_plane_interval,
    })
}

fn duration_field(
    flag: Option<String>,
    flag_name: &'static str,
    file: &Option<Spanned<String>>,
    path: &Path,
    src: &str,
) -> Result<Option<Duration>, ConfigError> {
    match pick(flag, flag_name, file, path, src) {
        Some((s, origin)) => {
            let d = parse_duration(&s).map_err(|m| origin.error(m))?;
            Ok(Some(d))
        }
        None => Ok(None),
    }
}

/// Parse `10s`, `1500ms`, `1m 30s`; must be positive and at most one hour.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (e.g. 10s, 1500ms)"))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!(
            "duration {s:?} out of range: must be above 0 and at most 1h"
        ));
    }
    Ok(d)
}

/// REST API ids are 10 lowercase alphanumerics.
pub fn valid_api_id(s: &str) -> bool {
    s.len() == 10
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Stage names: letters, digits, `-` and `_`, 1 to 128 characters.
pub fn valid_stage(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_vpce_id(s: &str) -> bool {
    s.strip_prefix("vpce-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn valid_dns_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        })
}

fn validate_paths(paths: &[String], origin: &Origin<'_>) -> Result<Vec<String>, ConfigError> {
    if paths.is_empty() {
        return Err(origin.error("at least one path is required"));
    }
    paths
        .iter()
        .map(|p| {
            if !p.starts_with('/') {
                return Err(origin.error(format!("path {p:?} must start with '/'")));
            }
            if p.len() > 1024 || p.chars().any(|c| c.is_ascii_control() || c == ' ') {
                return Err(origin.error(format!(
                    "path {p:?} must be at most 1024 characters with no spaces or control characters"
                )));
            }
            if p.parse::<http::uri::PathAndQuery>().is_err() {
                return Err(origin.error(format!("path {p:?} is not a valid URL path")));
            }
            Ok(p.clone())
        })
        .collect()
}

/// `IP` or `IP:PORT` (`[v6]:port` for IPv6); port 53 by default.
pub fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "invalid resolver {s:?}: expected IP or IP:PORT (e.g. 10.0.0.2 or 127.0.0.1:5353)"
    ))
}

fn validate_role(acct: &str, arn: &str) -> Result<(), String> {
    if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid account {acct:?}: expected 12 digits"));
    }
    if !(arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/")) {
        return Err(format!("invalid role ARN {arn:?}"));
    }
    Ok(())
}

/// Read PEM certificates; at least one must be present.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file {}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "CA file {}: no PEM certificate found",
            path.display()
        ));
    }
    Ok(certs)
}

/// The region from the AWS environment variables, if set.
pub fn env_region() -> Option<String> {
    std::env::var("AWS_REGION")
        .ok()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Overrides {
        Overrides {
            api_id: Some("3eqr0osoc3".into()),
            region: Some("us-east-1".into()),
            stage: Some("test".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_from_flags() {
        let c = build(None, &flags(), None).unwrap();
        assert_eq!(c.paths, vec!["/", "/pgw-probe"]);
        assert_eq!(c.port, 443);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.name, "3eqr0osoc3-test");
        assert_eq!(
            c.api_host(),
            "3eqr0osoc3.execute-api.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn bad_api_id_names_flag() {
        let mut f = flags();
        f.api_id = Some("ABC".into());
        let e = build(None, &f, None).unwrap_err();
        assert!(e.to_string().starts_with("--api-id: invalid API id"), "{e}");
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let src = "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\n  timout = \"2s\"\n";
        let e = parse_probe_file(Path::new("p.toml"), src).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:3:3: unknown field `timout`"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn invalid_value_in_file_names_its_position() {
        let src = "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\ntimeout = \"30 parsecs\"\n";
        let p = Path::new("p.toml");
        let pf = parse_probe_file(p, src).unwrap();
        let e = build(Some((p, src, &pf)), &Overrides::default(), None).unwrap_err();
        assert!(
            e.to_string().starts_with("p.toml:4:11: invalid duration"),
            "{e}"
        );
    }

    #[test]
    fn flag_wins_over_file() {
        let src =
            "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\nport = 8443\n";
        let p = Path::new("p.toml");
        let pf = parse_probe_file(p, src).unwrap();
        let f = Overrides {
            port: Some(9443),
            ..Default::default()
        };
        let c = build(Some((p, src, &pf)), &f, None).unwrap();
        assert_eq!(c.port, 9443);
    }

    #[test]
    fn missing_stage_is_discovered_unless_no_aws() {
        let mut f = flags();
        f.stage = None;
        let mut c = build(None, &f, None).unwrap();
        assert!(c.stage_unknown());
        c.set_stage("dev".into());
        assert_eq!(
            (c.stage.as_str(), c.name.as_str()),
            ("dev", "3eqr0osoc3-dev")
        );
        f.no_aws = true;
        let e = build(None, &f, None).unwrap_err().to_string();
        assert!(e.starts_with("--stage: required with --no-aws"), "{e}");
        // A configured name stays.
        let src = "name = \"orders\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\n";
        let p = Path::new("p.toml");
        let pf = parse_probe_file(p, src).unwrap();
        let mut c = build(Some((p, src, &pf)), &Overrides::default(), None).unwrap();
        c.set_stage("test".into());
        assert_eq!(c.name, "orders");
    }

    #[test]
    fn vpce_host_needs_vpce_dns() {
        let mut f = flags();
        f.invoke_via = Some(InvokeVia::VpceHost);
        let e = build(None, &f, None).unwrap_err();
        assert!(e.to_string().starts_with("--vpce-dns:"), "{e}");
    }

    #[test]
    fn unreadable_ca_file() {
        let mut f = flags();
        f.ca_file = Some("/nonexistent/ca.pem".into());
        let e = build(None, &f, None).unwrap_err();
        assert!(
            e.to_string().starts_with("--ca-file: cannot read CA file"),
            "{e}"
        );
    }

    #[test]
    fn resolver_forms() {
        assert_eq!(parse_resolver("10.0.0.2").unwrap().port(), 53);
        assert_eq!(parse_resolver("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_resolver("[::1]:53").unwrap().port(), 53);
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn china_partition_host() {
        assert_eq!(
            api_host("3eqr0osoc3", "cn-northwest-1"),
            "3eqr0osoc3.execute-api.cn-northwest-1.amazonaws.com.cn"
        );
    }
}
