//! Validation: one function per value (`api_id`, `region`, …, each turning the text into the
//! value or saying why not), and the named checks across fields that [`super::build`] runs last.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::{ConfigError, InvokeVia, TlsVersion};

/// Why one value is not acceptable (the caller adds where it came from).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

type Checked<T> = Result<T, InvalidValue>;

fn invalid<T>(message: String) -> Checked<T> {
    Err(InvalidValue(message))
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

pub(super) fn api_id(s: String) -> Checked<String> {
    if !valid_api_id(&s) {
        return invalid(format!(
            "invalid API id {s:?}: expected 10 lowercase letters or digits"
        ));
    }
    Ok(s)
}

pub(super) fn region(s: String) -> Checked<String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return invalid(format!("invalid region {s:?}: expected e.g. us-east-1"));
    }
    Ok(s)
}

pub(super) fn stage(s: String) -> Checked<String> {
    if !valid_stage(&s) {
        return invalid(format!(
            "invalid stage {s:?}: letters, digits, '-' and '_' only, at most 128"
        ));
    }
    Ok(s)
}

pub(super) fn paths(paths: Vec<String>) -> Checked<Vec<String>> {
    if paths.is_empty() {
        return invalid("at least one path is required".into());
    }
    for p in &paths {
        if !p.starts_with('/') {
            return invalid(format!("path {p:?} must start with '/'"));
        }
        if p.len() > 1024 || p.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return invalid(format!(
                "path {p:?} must be at most 1024 characters with no spaces or control characters"
            ));
        }
        if p.parse::<http::uri::PathAndQuery>().is_err() {
            return invalid(format!("path {p:?} is not a valid URL path"));
        }
    }
    Ok(paths)
}

pub(super) fn method(m: String) -> Checked<http::Method> {
    let up = m.to_ascii_uppercase();
    match up.as_str() {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
            Ok(http::Method::from_bytes(up.as_bytes()).expect("known method"))
        }
        _ => invalid(format!("unsupported HTTP method {m:?}")),
    }
}

pub(super) fn vpce_id(s: String) -> Checked<String> {
    let ok = s.strip_prefix("vpce-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if !ok {
        return invalid(format!(
            "invalid endpoint id {s:?}: expected vpce- followed by 8 or 17 hex digits"
        ));
    }
    Ok(s)
}

pub(super) fn dns_name(s: String) -> Checked<String> {
    let t = s.trim_end_matches('.');
    let ok = !t.is_empty()
        && t.len() <= 253
        && t.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        });
    if !ok {
        return invalid(format!("invalid DNS name {s:?}"));
    }
    Ok(t.to_ascii_lowercase())
}

/// `--vpce-dns`: a name of the execute-api endpoint's shape (`…execute-api.{r}.vpce.amazonaws.com`,
/// `.com.cn` in China) must name `region` and its partition, or every call would go to an endpoint
/// in another region or to no name at all. Any other name (an NLB or a CNAME in front of the
/// endpoint) is taken as given: what it leads to is for the probes to find out.
pub(super) fn vpce_dns(s: String, region: &str) -> Checked<String> {
    let name = dns_name(s)?;
    let Some((_, rest)) = name.split_once(".execute-api.") else {
        return Ok(name);
    };
    let Some((r, suffix)) = rest.split_once(".vpce.") else {
        return Ok(name);
    };
    let want = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    if suffix.starts_with("amazonaws.com") && (r != region || suffix != want) {
        return invalid(format!(
            "{name} is an execute-api endpoint name in {r} (.{suffix}), not in {region}: expected …execute-api.{region}.vpce.{want}"
        ));
    }
    Ok(name)
}

/// `IP` or `IP:PORT` (`[v6]:port` for IPv6); port 53 by default.
pub fn parse_resolver(s: &str) -> Checked<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    invalid(format!(
        "invalid resolver {s:?}: expected IP or IP:PORT (e.g. 10.0.0.2 or 127.0.0.1:5353)"
    ))
}

pub(super) fn resolvers(list: Vec<String>) -> Checked<Vec<SocketAddr>> {
    list.iter().map(|r| parse_resolver(r)).collect()
}

pub(super) fn tls_versions(list: Vec<String>) -> Checked<Vec<TlsVersion>> {
    let mut out = Vec::new();
    for v in &list {
        let Some(t) = TlsVersion::parse(v) else {
            return invalid(format!("unsupported TLS version {v:?}: 1.2 or 1.3"));
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return invalid("no TLS version given: 1.2, 1.3 or both".into());
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

pub(super) fn port(p: u16) -> Checked<u16> {
    if p == 0 {
        return invalid("port must be 1-65535".into());
    }
    Ok(p)
}

pub(super) fn url(u: String) -> Checked<String> {
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.parse::<http::Uri>().is_err() {
        return invalid(format!("invalid URL {u:?}"));
    }
    Ok(u)
}

/// Parse `10s`, `1500ms`, `1m 30s`; must be positive and at most one hour.
pub fn parse_duration(s: &str) -> Checked<Duration> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| InvalidValue(format!("invalid duration {s:?}: {e} (e.g. 10s, 1500ms)")))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return invalid(format!(
            "duration {s:?} out of range: must be above 0 and at most 1h"
        ));
    }
    Ok(d)
}

pub(super) fn duration(s: String) -> Checked<Duration> {
    parse_duration(&s)
}

/// A window back in time (`--since`): above 0, at most a day.
pub(super) fn window(s: String) -> Checked<Duration> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| InvalidValue(format!("invalid duration {s:?}: {e} (e.g. 1h, 30m)")))?;
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return invalid(format!(
            "window {s:?} out of range: above 0 and at most 24h"
        ));
    }
    Ok(d)
}

/// One role per account: 12-digit account, IAM role ARN.
pub(super) fn role(acct: &str, arn: &str) -> Checked<()> {
    if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
        return invalid(format!("invalid account {acct:?}: expected 12 digits"));
    }
    if !(arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/")) {
        return invalid(format!("invalid role ARN {arn:?}"));
    }
    Ok(())
}

/// `ACCOUNT=ROLE_ARN` flags.
pub(super) fn role_flags(list: Vec<String>) -> Checked<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for r in &list {
        let (acct, arn) = r
            .split_once('=')
            .ok_or_else(|| InvalidValue(format!("{r:?}: expected ACCOUNT=ROLE_ARN")))?;
        role(acct, arn)?;
        out.insert(acct.to_string(), arn.to_string());
    }
    Ok(out)
}

/// A probe file's `roles` table.
pub(super) fn role_table(map: BTreeMap<String, String>) -> Checked<BTreeMap<String, String>> {
    for (acct, arn) in &map {
        role(acct, arn)?;
    }
    Ok(map)
}

/// A probe's `name`: letters, digits, `-`, `_` and `.`.
pub(super) fn name(v: String) -> Checked<String> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return invalid(format!(
            "invalid name {v:?}: letters, digits, '-', '_' and '.' only"
        ));
    }
    Ok(v)
}

/// CA files larger than this are refused (a bundle of every public root is about 200 KiB).
pub const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Read PEM certificates from a regular file of at most [`MAX_CA_FILE`] bytes; at least one must
/// be present. Probes that read the same certificates share one copy of them.
pub fn read_ca_file(path: &Path) -> Checked<Arc<[CertificateDer<'static>]>> {
    let bytes = super::file::read_bounded(path, MAX_CA_FILE)
        .map_err(|e| InvalidValue(format!("cannot read CA file {}: {e}", path.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| InvalidValue(format!("CA file {}: invalid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return invalid(format!(
            "CA file {}: no PEM certificate found",
            path.display()
        ));
    }
    Ok(shared_roots(certs))
}

/// The copy of `certs` some probe already holds, else `certs`, kept for the next probe while one
/// holds it (ten thousand probes naming one `ca_file` hold one copy, not ten thousand).
fn shared_roots(certs: Vec<CertificateDer<'static>>) -> Arc<[CertificateDer<'static>]> {
    static READ: Mutex<Vec<Weak<[CertificateDer<'static>]>>> = Mutex::new(Vec::new());
    let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
    read.retain(|w| w.strong_count() > 0);
    if let Some(same) = read
        .iter()
        .filter_map(Weak::upgrade)
        .find(|c| **c == *certs)
    {
        return same;
    }
    let certs: Arc<[CertificateDer<'static>]> = certs.into();
    read.push(Arc::downgrade(&certs));
    certs
}

/// Without a stage the doctor discovers it (`doctor::discover_stage`), which needs AWS.
pub(super) fn check_stage_vs_no_aws(
    stage: &Option<String>,
    no_aws: bool,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    if stage.is_some() || !no_aws {
        return Ok(());
    }
    let message = "required with --no-aws (stage discovery needs AWS access)";
    Err(match file {
        Some(path) => ConfigError {
            location: path.display().to_string(),
            message: format!("stage (or --stage): {message}"),
        },
        None => ConfigError::flag("--stage", message),
    })
}

/// `custom-domain` calls a domain name; the domain flags mean nothing on the other routes.
pub(super) fn check_route_needs_domain(
    via: InvokeVia,
    domain: &Option<String>,
    domain_id: &Option<String>,
) -> Result<(), ConfigError> {
    if domain.is_none() && domain_id.is_some() {
        return Err(ConfigError::flag(
            "--domain-name-id",
            "goes with --domain-name",
        ));
    }
    match (via, domain) {
        (InvokeVia::CustomDomain, None) => Err(ConfigError::flag(
            "--domain-name",
            "required with --invoke-via custom-domain",
        )),
        (v, Some(_)) if v != InvokeVia::CustomDomain => Err(ConfigError::flag(
            "--domain-name",
            "goes with --invoke-via custom-domain",
        )),
        _ => Ok(()),
    }
}

/// A `domainNameId`: letters and digits, as API Gateway issues them.
pub(super) fn domain_name_id(s: String) -> Checked<String> {
    let t = s.trim();
    if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return invalid(format!("invalid domain name id {s:?}: letters and digits"));
    }
    Ok(t.to_string())
}

/// A base path: one or more path segments without the leading or trailing `/` (`v1`,
/// `orders/v2`); `/` or empty is the root mapping.
pub(super) fn base_path(s: String) -> Checked<Option<String>> {
    let t = s.trim_matches('/');
    if t.is_empty() {
        return Ok(None);
    }
    let ok = t.len() <= 512
        && t.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    if !ok {
        return invalid(format!(
            "invalid base path {s:?}: path segments of letters, digits and - . _ ~"
        ));
    }
    Ok(Some(t.to_string()))
}

/// `vpce-host` dials the endpoint's own name, `alias` needs the endpoint id.
pub(super) fn check_route_needs_endpoint(
    via: InvokeVia,
    vpce_dns: &Option<String>,
    vpce_id: &Option<String>,
) -> Result<(), ConfigError> {
    match via {
        InvokeVia::VpceHost if vpce_dns.is_none() => Err(ConfigError::flag(
            "--vpce-dns",
            "required with --invoke-via vpce-host (endpoint discovery needs AWS access)",
        )),
        InvokeVia::Alias if vpce_id.is_none() => Err(ConfigError::flag(
            "--vpce-id",
            "required with --invoke-via alias (endpoint discovery needs AWS access)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_forms() {
        assert_eq!(parse_resolver("10.0.0.2").unwrap().port(), 53);
        assert_eq!(parse_resolver("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_resolver("[::1]:53").unwrap().port(), 53);
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn stage_vs_no_aws() {
        assert!(check_stage_vs_no_aws(&Some("test".into()), true, None).is_ok());
        assert!(check_stage_vs_no_aws(&None, false, None).is_ok());
        let e = check_stage_vs_no_aws(&None, true, None).unwrap_err();
        assert!(
            e.to_string().starts_with("--stage: required with --no-aws"),
            "{e}"
        );
        let e = check_stage_vs_no_aws(&None, true, Some(Path::new("p.toml"))).unwrap_err();
        assert!(
            e.to_string().starts_with("p.toml: stage (or --stage)"),
            "{e}"
        );
    }

    #[test]
    fn route_needs_endpoint() {
        let e = check_route_needs_endpoint(InvokeVia::VpceHost, &None, &None).unwrap_err();
        assert!(e.to_string().starts_with("--vpce-dns:"), "{e}");
        let e = check_route_needs_endpoint(InvokeVia::Alias, &None, &None).unwrap_err();
        assert!(e.to_string().starts_with("--vpce-id:"), "{e}");
        assert!(check_route_needs_endpoint(InvokeVia::PrivateDns, &None, &None).is_ok());
    }

    #[test]
    fn roles_need_account_and_role_arn() {
        let ok = role_flags(vec![
            "014770000000=arn:aws:iam::014770000000:role/pgw-read".into()
        ]);
        assert_eq!(ok.unwrap().len(), 1);
        assert!(role_flags(vec!["014770000000".into()]).is_err());
        assert!(role("1234", "arn:aws:iam::1234:role/x").is_err());
        assert!(role("014770000000", "arn:aws:s3:::bucket").is_err());
    }

    #[test]
    fn probes_reading_the_same_certificates_share_one_copy() {
        let d = std::env::temp_dir().join(format!("pgw-ca-share-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let pem = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            cert.pem()
        };
        let (one, other) = (pem("one.test"), pem("other.test"));
        // The same certificates in two files: one copy; other certificates: another.
        for (f, text) in [("a.pem", &one), ("b.pem", &one), ("c.pem", &other)] {
            std::fs::write(d.join(f), text).unwrap();
        }
        let a = read_ca_file(&d.join("a.pem")).unwrap();
        let b = read_ca_file(&d.join("b.pem")).unwrap();
        let c = read_ca_file(&d.join("c.pem")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_ne!(a, c);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("30 parsecs").is_err());
    }
}
