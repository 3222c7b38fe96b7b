//! Config: probe files ([`file`]) and flags ([`flags`]) layered per field — flag, then file, then
//! default — each value checked where it came from ([`validate`]), then the checks across fields,
//! into one [`Config`].
//!
//! Every error names where it came from: `file:line:column` for a probe-file value, the file for a
//! missing key, the flag otherwise.

mod file;
mod flags;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use toml::Spanned;

pub use crate::facts::{InvokeVia, TlsVersion};
pub use file::{
    file_position, parse_probe_file, probe_from_text, read_bounded, read_probe_file, toml_error,
    ProbeFile, MAX_PROBE_FILE,
};
pub use flags::Overrides;
pub use validate::{
    parse_duration, parse_resolver, read_ca_file, valid_api_id, valid_stage, InvalidValue,
};

/// The stage-relative paths invoked when none are configured: the stage root and one proxy path.
pub const DEFAULT_PATHS: [&str; 2] = ["/", "/pgw-probe"];
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_CONTROL_PLANE_INTERVAL: Duration = Duration::from_secs(300);

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

/// A validated probe configuration: one private API chain.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Empty only while the stage is unknown (see [`Config::set_stage`]).
    pub name: String,
    pub api_id: String,
    pub region: String,
    /// `None` when not configured: the doctor discovers it from AWS before probing
    /// ([`Config::set_stage`]); `build` refuses a missing stage with `--no-aws`.
    pub stage: Option<String>,
    pub paths: Vec<String>,
    /// A path whose answer is large, invoked beside `paths` (`--large-path`).
    pub large_path: Option<String>,
    pub method: http::Method,
    pub invoke_via: InvokeVia,
    pub vpce_id: Option<String>,
    pub vpce_dns: Option<String>,
    /// `custom-domain`: the private custom domain name, and the base path mapped to the stage
    /// (`None`: the root mapping).
    pub domain_name: Option<String>,
    /// The domain's `domainNameId` (`None`: the one this endpoint's access association names).
    pub domain_name_id: Option<String>,
    pub base_path: Option<String>,
    /// Empty: use the system's resolvers.
    pub resolvers: Vec<SocketAddr>,
    pub port: u16,
    pub ca_file: Option<PathBuf>,
    /// Extra trust roots read from `ca_file`.
    pub extra_roots: std::sync::Arc<[CertificateDer<'static>]>,
    /// The TLS versions to offer, newest first.
    pub tls_versions: Vec<TlsVersion>,
    pub sigv4: bool,
    /// `--check-public`: the public resolver to resolve the API's public name with; `None`: the
    /// public side is not checked.
    pub public_resolver: Option<SocketAddr>,
    pub aws_endpoint_url: Option<String>,
    pub roles: BTreeMap<String, String>,
    pub no_aws: bool,
    pub timeout: Duration,
    /// How much longer than `timeout` the doctor may wait for execution logs (`--logs-wait`).
    pub logs_wait: Duration,
    /// The window of past failures to summarise from the execution logs (`--since`).
    pub since: Option<Duration>,
    pub interval: Duration,
    pub control_plane_interval: Duration,
}

impl Config {
    /// The API's own host name.
    pub fn api_host(&self) -> String {
        api_host(&self.api_id, &self.region)
    }

    /// The stage's name; empty only before discovery, which every run follows.
    pub fn stage_name(&self) -> &str {
        self.stage.as_deref().unwrap_or_default()
    }

    /// Set the (discovered) stage; a default name follows it.
    pub fn set_stage(&mut self, stage: String) {
        if self.name.is_empty() {
            self.name = format!("{}-{stage}", self.api_id);
        }
        self.stage = Some(stage);
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
    fn error(&self, message: impl std::fmt::Display) -> ConfigError {
        match self {
            Origin::Flag(f) => ConfigError::flag(f, message.to_string()),
            Origin::File { path, src, span } => ConfigError {
                location: file_position(path, src, span.start),
                message: message.to_string(),
            },
        }
    }
}

/// The layers under the flags: the probe file (if any) and where its text came from.
struct Layers<'a> {
    file: Option<(&'a Path, &'a str)>,
}

impl<'a> Layers<'a> {
    /// One field: the flag if given, else the file's value, checked by `check` and turned into an
    /// error that names its origin. `None`: neither gave it (the caller's default applies).
    fn field<T: Clone, U>(
        &self,
        flag: Option<T>,
        flag_name: &'static str,
        file: &Option<Spanned<T>>,
        check: impl FnOnce(T) -> Result<U, InvalidValue>,
    ) -> Result<Option<U>, ConfigError> {
        let (value, origin) = match (flag, file, self.file) {
            (Some(v), _, _) => (v, Origin::Flag(flag_name)),
            (None, Some(s), Some((path, src))) => (
                s.get_ref().clone(),
                Origin::File {
                    path,
                    src,
                    span: s.span(),
                },
            ),
            _ => return Ok(None),
        };
        check(value).map(Some).map_err(|e| origin.error(e))
    }

    /// A required field nobody gave: the file names its missing key, else the flag is required.
    fn missing(&self, flag_name: &str, key: &str, hint: &str) -> ConfigError {
        match self.file {
            Some((path, _)) => ConfigError {
                location: path.display().to_string(),
                message: format!("missing key {key}{hint}"),
            },
            None => ConfigError::flag(flag_name, format!("required{hint}")),
        }
    }
}

/// A repeatable flag given at least once.
fn given<T>(v: &[T]) -> Option<Vec<T>>
where
    T: Clone,
{
    (!v.is_empty()).then(|| v.to_vec())
}

/// Build a validated [`Config`] from an optional probe file and the flags: one layered field at a
/// time (flag > file > default), then the checks across fields. `env_region` is the region from
/// the AWS environment, used when neither gives one.
pub fn build(
    file: Option<(&Path, &str, &ProbeFile)>,
    flags: &Overrides,
    env_region: Option<String>,
) -> Result<Config, ConfigError> {
    let empty = ProbeFile::default();
    let pf = file.map_or(&empty, |(_, _, f)| f);
    let l = Layers {
        file: file.map(|(p, s, _)| (p, s)),
    };
    let mut cfg = identity(&l, flags, pf, env_region)?;
    route(&l, flags, pf, &mut cfg)?;
    aws(&l, flags, pf, &mut cfg)?;
    timing(&l, flags, pf, &mut cfg)?;
    validate::check_stage_vs_no_aws(&cfg.stage, cfg.no_aws, l.file.map(|(p, _)| p))?;
    validate::check_route_needs_endpoint(cfg.invoke_via, &cfg.vpce_dns, &cfg.vpce_id)?;
    validate::check_route_needs_domain(cfg.invoke_via, &cfg.domain_name, &cfg.domain_name_id)?;
    Ok(cfg)
}

/// Which chain: API id, region (else the AWS environment's), stage, and the probe's name.
fn identity(
    l: &Layers<'_>,
    flags: &Overrides,
    pf: &ProbeFile,
    env_region: Option<String>,
) -> Result<Config, ConfigError> {
    let no_file = if l.file.is_some() {
        ""
    } else {
        " (or --config FILE)"
    };
    let api_id = l
        .field(
            flags.api_id.clone(),
            "--api-id",
            &pf.api_id,
            validate::api_id,
        )?
        .ok_or_else(|| l.missing("--api-id", "api_id", no_file))?;
    let region = match l.field(
        flags.region.clone(),
        "--region",
        &pf.region,
        validate::region,
    )? {
        Some(r) => r,
        None => env_region
            .and_then(|r| validate::region(r).ok())
            .ok_or_else(|| {
                l.missing(
                    "--region",
                    "region",
                    ": not set and none found in AWS_REGION / AWS_DEFAULT_REGION",
                )
            })?,
    };
    let stage = l.field(flags.stage.clone(), "--stage", &pf.stage, validate::stage)?;
    let name = match l.field(None, "name", &pf.name, validate::name)? {
        Some(n) => n,
        None => stage
            .as_ref()
            .map(|s| format!("{api_id}-{s}"))
            .unwrap_or_default(),
    };
    Ok(Config {
        name,
        api_id,
        region,
        stage,
        ..Config::default()
    })
}

/// How to call it: paths, method, route, endpoint, resolvers, port.
fn route(
    l: &Layers<'_>,
    flags: &Overrides,
    pf: &ProbeFile,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    cfg.paths = l
        .field(given(&flags.paths), "--path", &pf.paths, validate::paths)?
        .unwrap_or_else(|| DEFAULT_PATHS.iter().map(|s| s.to_string()).collect());
    cfg.large_path = l
        .field(
            flags.large_path.clone(),
            "--large-path",
            &pf.large_path,
            |p: String| validate::paths(vec![p]),
        )?
        .and_then(|mut v| v.pop());
    cfg.method = l
        .field(
            flags.method.clone(),
            "--method",
            &pf.method,
            validate::method,
        )?
        .unwrap_or(http::Method::GET);
    cfg.invoke_via = l
        .field(flags.invoke_via, "--invoke-via", &pf.invoke_via, Ok)?
        .unwrap_or_default();
    cfg.vpce_id = l.field(
        flags.vpce_id.clone(),
        "--vpce-id",
        &pf.vpce_id,
        validate::vpce_id,
    )?;
    let region = cfg.region.clone();
    cfg.vpce_dns = l.field(flags.vpce_dns.clone(), "--vpce-dns", &pf.vpce_dns, |s| {
        validate::vpce_dns(s, &region)
    })?;
    cfg.domain_name = l.field(
        flags.domain_name.clone(),
        "--domain-name",
        &pf.domain_name,
        validate::dns_name,
    )?;
    cfg.domain_name_id = l.field(
        flags.domain_name_id.clone(),
        "--domain-name-id",
        &pf.domain_name_id,
        validate::domain_name_id,
    )?;
    cfg.base_path = l
        .field(
            flags.base_path.clone(),
            "--base-path",
            &pf.base_path,
            validate::base_path,
        )?
        .flatten();
    cfg.resolvers = l
        .field(
            given(&flags.resolvers),
            "--resolver",
            &pf.resolvers,
            validate::resolvers,
        )?
        .unwrap_or_default();
    cfg.port = l
        .field(flags.port, "--port", &pf.port, validate::port)?
        .unwrap_or(443);
    (cfg.ca_file, cfg.extra_roots) = ca(l, flags, pf)?;
    cfg.tls_versions = l
        .field(
            given(&flags.tls_versions),
            "--tls-version",
            &pf.tls_versions,
            validate::tls_versions,
        )?
        .unwrap_or_else(|| TlsVersion::ALL.to_vec());
    Ok(())
}

/// The AWS side: endpoint URL, roles, signing, whether to read AWS at all.
fn aws(
    l: &Layers<'_>,
    flags: &Overrides,
    pf: &ProbeFile,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    cfg.aws_endpoint_url = l.field(
        flags.aws_endpoint_url.clone(),
        "--aws-endpoint-url",
        &pf.aws_endpoint_url,
        validate::url,
    )?;
    cfg.roles = match given(&flags.roles) {
        Some(r) => validate::role_flags(r).map_err(|e| ConfigError::flag("--role", e.0))?,
        None => l
            .field(None, "--role", &pf.roles, validate::role_table)?
            .unwrap_or_default(),
    };
    cfg.sigv4 = flags.sigv4 || pf.sigv4.unwrap_or(false);
    let check_public = flags.check_public || pf.check_public.unwrap_or(false);
    let public_resolver = l.field(
        flags.public_resolver.clone(),
        "--public-resolver",
        &pf.public_resolver,
        |r| validate::parse_resolver(&r),
    )?;
    cfg.public_resolver = match (check_public, public_resolver) {
        (true, Some(r)) => Some(r),
        (true, None) => {
            return Err(ConfigError::flag(
                "--public-resolver",
                "required with --check-public (a public DNS server: the VPC resolver answers the private zone)",
            ))
        }
        (false, Some(_)) => {
            return Err(ConfigError::flag(
                "--public-resolver",
                "goes with --check-public",
            ))
        }
        (false, None) => None,
    };
    cfg.no_aws = flags.no_aws || pf.no_aws.unwrap_or(false);
    Ok(())
}

/// The deadline of a run and the agent's intervals.
fn timing(
    l: &Layers<'_>,
    flags: &Overrides,
    pf: &ProbeFile,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let duration = |flag: Option<String>, name, file: &Option<Spanned<String>>, default| {
        l.field(flag, name, file, validate::duration)
            .map(|d| d.unwrap_or(default))
    };
    cfg.timeout = duration(
        flags.timeout.clone(),
        "--timeout",
        &pf.timeout,
        DEFAULT_TIMEOUT,
    )?;
    cfg.interval = duration(None, "interval", &pf.interval, DEFAULT_INTERVAL)?;
    cfg.logs_wait = l
        .field(
            flags.logs_wait.clone(),
            "--logs-wait",
            &None,
            validate::duration,
        )?
        .unwrap_or_default();
    cfg.since = l.field(flags.since.clone(), "--since", &None, validate::window)?;
    cfg.control_plane_interval = duration(
        None,
        "control_plane_interval",
        &pf.control_plane_interval,
        DEFAULT_CONTROL_PLANE_INTERVAL,
    )?;
    Ok(())
}

/// The doctor's configuration: the probe file at `file` (if any) under the flags, the region
/// falling back to the AWS environment's.
pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, ConfigError> {
    match file {
        Some(path) => {
            let (pf, src) = read_probe_file(path)?;
            build(Some((path, &src, &pf)), flags, env_region())
        }
        None => build(None, flags, env_region()),
    }
}

/// `ca_file` and the roots read from it. A relative path in a probe file is relative to the file.
fn ca(
    l: &Layers<'_>,
    flags: &Overrides,
    pf: &ProbeFile,
) -> Result<(Option<PathBuf>, std::sync::Arc<[CertificateDer<'static>]>), ConfigError> {
    let base = l
        .file
        .and_then(|(p, _)| p.parent())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let read = |p: PathBuf| read_ca_file(&p).map(|roots| (p, roots));
    let found = match &flags.ca_file {
        Some(p) => Some(read(p.clone()).map_err(|e| ConfigError::flag("--ca-file", e.0))?),
        None => l.field(None, "--ca-file", &pf.ca_file, |s: String| {
            read(base.join(s))
        })?,
    };
    Ok(match found {
        Some((p, roots)) => (Some(p), roots),
        None => (None, Default::default()),
    })
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
        assert_eq!(c.stage, None);
        c.set_stage("dev".into());
        assert_eq!((c.stage_name(), c.name.as_str()), ("dev", "3eqr0osoc3-dev"));
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
    fn a_probe_file_without_a_required_key_names_the_file_and_the_key() {
        let p = Path::new("probes/orders.toml");
        for (src, key) in [
            ("", "api_id"),
            ("# nothing but a comment\n", "api_id"),
            ("api_id = \"3eqr0osoc3\"\n", "region"),
        ] {
            let pf = parse_probe_file(p, src).unwrap();
            let e = build(Some((p, src, &pf)), &Overrides::default(), None)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("probes/orders.toml: missing key {key}")),
                "{e}"
            );
            assert!(!e.contains("--"), "names a flag: {e}");
        }
    }

    #[test]
    fn tls_versions_from_flags_or_file() {
        assert_eq!(
            build(None, &flags(), None).unwrap().tls_versions,
            TlsVersion::ALL
        );
        let mut f = flags();
        f.tls_versions = vec!["TLSv1.2".into(), "1.2".into()];
        assert_eq!(
            build(None, &f, None).unwrap().tls_versions,
            [TlsVersion::Tls12]
        );
        f.tls_versions = vec!["1.1".into()];
        let e = build(None, &f, None).unwrap_err().to_string();
        assert!(
            e.starts_with("--tls-version: unsupported TLS version \"1.1\""),
            "{e}"
        );
        let src = "api_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\ntls_versions = [\"1.0\"]\n";
        let p = Path::new("p.toml");
        let pf = parse_probe_file(p, src).unwrap();
        let e = build(Some((p, src, &pf)), &Overrides::default(), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:4:16: unsupported TLS version"),
            "{e}"
        );
    }

    #[test]
    fn an_endpoint_name_of_another_region_or_partition_is_refused() {
        let with = |region: &str, name: &str| {
            let mut f = flags();
            f.region = Some(region.into());
            f.vpce_dns = Some(name.into());
            build(None, &f, None).map(|c| c.vpce_dns.unwrap())
        };
        let ours = "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com";
        assert_eq!(with("us-east-1", ours).unwrap(), ours);
        let e = with("us-west-2", ours).unwrap_err().to_string();
        assert!(
            e.starts_with("--vpce-dns: vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com is an execute-api endpoint name in us-east-1"),
            "{e}"
        );
        // China: the partition's own suffix, `.com.cn`.
        let cn = "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.cn-northwest-1.vpce.amazonaws.com";
        let e = with("cn-northwest-1", cn).unwrap_err().to_string();
        assert!(
            e.contains("expected …execute-api.cn-northwest-1.vpce.amazonaws.com.cn"),
            "{e}"
        );
        assert!(with("cn-northwest-1", &format!("{cn}.cn")).is_ok());
        // Another name in front of the endpoint is the probes' business.
        let nlb = "pgw-chain-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com";
        assert_eq!(with("eu-west-1", nlb).unwrap(), nlb);
    }

    #[test]
    fn custom_domain_route_needs_its_domain_and_takes_a_base_path() {
        let mut f = flags();
        f.invoke_via = Some(InvokeVia::CustomDomain);
        let e = build(None, &f, None).unwrap_err().to_string();
        assert_eq!(e, "--domain-name: required with --invoke-via custom-domain");
        f.domain_name = Some("Orders.Internal.Example.com".into());
        f.base_path = Some("/v1/".into());
        let c = build(None, &f, None).unwrap();
        assert_eq!(
            c.domain_name.as_deref(),
            Some("orders.internal.example.com")
        );
        assert_eq!(c.base_path.as_deref(), Some("v1"));
        f.base_path = Some("/".into());
        assert_eq!(build(None, &f, None).unwrap().base_path, None);
        f.base_path = Some("v 1".into());
        assert!(build(None, &f, None)
            .unwrap_err()
            .to_string()
            .starts_with("--base-path: invalid base path"));
        let mut f = flags();
        f.domain_name = Some("orders.internal.example.com".into());
        let e = build(None, &f, None).unwrap_err().to_string();
        assert_eq!(e, "--domain-name: goes with --invoke-via custom-domain");
    }

    #[test]
    fn china_partition_host() {
        assert_eq!(
            api_host("3eqr0osoc3", "cn-northwest-1"),
            "3eqr0osoc3.execute-api.cn-northwest-1.amazonaws.com.cn"
        );
    }
}
