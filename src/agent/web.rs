//! Access control of the agent's HTTP server: the Prometheus exporter-toolkit web configuration
//! file (`--web.config.file`), as node_exporter and blackbox_exporter read it — TLS
//! (`tls_server_config`) and basic authentication (`basic_auth_users`, bcrypt hashes). The file is
//! read again when it changes (checked at every new connection); a bad new file keeps the last
//! good one in force.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// The web configuration file as written. Keys of the toolkit pgw does not act on
/// (`http_server_config`, cipher and curve preferences, `max_version`) are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    #[serde(rename = "http_server_config")]
    _http_server_config: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    #[serde(rename = "max_version")]
    _max_version: Option<String>,
    #[serde(rename = "cipher_suites")]
    _cipher_suites: Option<serde_norway::Value>,
    #[serde(rename = "curve_preferences")]
    _curve_preferences: Option<serde_norway::Value>,
    #[serde(rename = "prefer_server_cipher_suites")]
    _prefer_server_cipher_suites: Option<bool>,
}

/// What the file asks for, ready to use.
#[derive(Clone, Default)]
pub struct Web {
    /// TLS for every connection (`None`: plain HTTP).
    pub tls: Option<TlsAcceptor>,
    /// user → bcrypt hash; empty: no authentication.
    users: BTreeMap<String, String>,
    /// `Authorization` header values bcrypt accepted: checked again without bcrypt (a scrape
    /// every few seconds would otherwise cost a deliberately slow hash each), at most
    /// [`VERIFIED_MAX`]; cleared with the file (a reload builds a new `Web`).
    verified: Arc<Mutex<Vec<String>>>,
}

/// How many accepted `Authorization` values are remembered (as exporter-toolkit's cache).
const VERIFIED_MAX: usize = 64;

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a web configuration file cannot be used (one line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct WebConfigError(pub String);

/// Why the answer to a request is 401.
#[derive(Debug, PartialEq, Eq)]
pub struct Unauthorized;

impl Web {
    /// Read and check the file at `path`; relative paths inside it are relative to the file.
    pub fn load(path: &Path) -> Result<Web, WebConfigError> {
        Web::parse(path).map_err(WebConfigError)
    }

    fn parse(path: &Path) -> Result<Web, String> {
        let bytes = crate::config::read_bounded(path, 1024 * 1024).map_err(|e| e.0)?;
        let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let file: WebConfigFile = serde_norway::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}: ", l.line(), l.column()))
                .unwrap_or_default();
            format!("{at}{}", e.to_string().replace('\n', " "))
        })?;
        for (user, hash) in &file.basic_auth_users {
            if !hash.starts_with("$2") {
                return Err(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n')"
                ));
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match file.tls_server_config {
            Some(t) => Some(acceptor(&t, base)?),
            None => None,
        };
        Ok(Web {
            tls,
            users: file.basic_auth_users,
            verified: Arc::default(),
        })
    }

    /// The answer without bcrypt when there is one: `Some(Ok)` with no users or for a header
    /// accepted before; `None` when [`Web::authorize`] must hash (off the runtime's threads).
    pub fn authorize_cheaply(
        &self,
        authorization: Option<&str>,
    ) -> Option<Result<(), Unauthorized>> {
        if self.users.is_empty() {
            return Some(Ok(()));
        }
        let header = authorization?;
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.iter().any(|v| v == header).then_some(Ok(()))
    }

    /// Check a request's `Authorization` header against `basic_auth_users` (bcrypt); an
    /// accepted header is remembered for [`Web::authorize_cheaply`].
    pub fn authorize(&self, authorization: Option<&str>) -> Result<(), Unauthorized> {
        if let Some(r) = self.authorize_cheaply(authorization) {
            return r;
        }
        let (user, password) = authorization
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64_decode(b.trim()))
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
            .ok_or(Unauthorized)?;
        let hash = self.users.get(&user).ok_or(Unauthorized)?;
        match bcrypt::verify(&password, hash) {
            Ok(true) => {
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.len() == VERIFIED_MAX {
                    verified.remove(0);
                }
                verified.extend(authorization.map(str::to_string));
                Ok(())
            }
            _ => Err(Unauthorized),
        }
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

fn acceptor(t: &TlsServerConfig, base: &Path) -> Result<TlsAcceptor, String> {
    let cert_file = resolve(base, &t.cert_file);
    let key_file = resolve(base, &t.key_file);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("cert_file {}: no certificate", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("key_file {}: {e}", key_file.display()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "min_version {v:?}: TLS12 or TLS13 (older versions are insecure)"
            ))
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = t
                .client_ca_file
                .as_ref()
                .ok_or_else(|| format!("client_auth_type {auth} needs client_ca_file"))?;
            let ca = resolve(base, ca);
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "client_auth_type {other:?}: NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert (a client certificate nobody verifies proves nothing)"
            ))
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("cert_file and key_file: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Standard base64 (RFC 4648, with padding), as `Authorization: Basic` carries it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// The web configuration in force, re-read when its file changes.
pub struct WebState {
    path: Option<PathBuf>,
    current: Mutex<(Option<SystemTime>, Web)>,
}

impl WebState {
    /// No file: plain HTTP, no authentication.
    pub fn none() -> WebState {
        WebState {
            path: None,
            current: Mutex::new((None, Web::default())),
        }
    }

    /// Load `path` now (a bad file at start is an error).
    pub fn load(path: &Path) -> Result<WebState, WebConfigError> {
        let web =
            Web::load(path).map_err(|e| WebConfigError(format!("{}: {e}", path.display())))?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(WebState {
            path: Some(path.to_path_buf()),
            current: Mutex::new((mtime, web)),
        })
    }

    /// The configuration for a new connection: the file again if it changed since it was read;
    /// a bad new file is logged and the last good one stays.
    pub fn get(&self) -> Web {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.path {
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if mtime != cur.0 {
                cur.0 = mtime;
                match Web::load(path) {
                    Ok(w) => {
                        tracing::info!(file = %path.display(), "web configuration reloaded");
                        cur.1 = w;
                    }
                    Err(e) => tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "web configuration not reloaded; keeping the last good one"
                    ),
                }
            }
        }
        cur.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        crate::agent::load::tests::temp_dir()
    }

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let d = dir();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(
            d.join("web.yml"),
            format!("basic_auth_users:\n  prom: '{hash}'\n"),
        )
        .unwrap();
        let w = Web::load(&d.join("web.yml")).unwrap();
        assert!(w.tls.is_none());
        let basic = |s: &str| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        // Nothing accepted yet: bcrypt must decide.
        assert_eq!(w.authorize_cheaply(Some(&basic("prom:s3cret"))), None);
        assert_eq!(w.authorize(Some(&basic("prom:s3cret"))), Ok(()));
        // Accepted once: known without bcrypt; a wrong password never is.
        assert_eq!(
            w.authorize_cheaply(Some(&basic("prom:s3cret"))),
            Some(Ok(()))
        );
        assert_eq!(w.authorize(Some(&basic("prom:wrong"))), Err(Unauthorized));
        assert_eq!(w.authorize_cheaply(Some(&basic("prom:wrong"))), None);
        assert_eq!(w.authorize(Some(&basic("eve:s3cret"))), Err(Unauthorized));
        assert_eq!(w.authorize(None), Err(Unauthorized));
        assert_eq!(w.authorize(Some("Bearer x")), Err(Unauthorized));
        assert_eq!(Web::default().authorize(None), Ok(()));
        assert_eq!(Web::default().authorize_cheaply(None), Some(Ok(())));
    }

    #[test]
    fn bad_files_say_why() {
        let d = dir();
        let cases = [
            (
                "basic_auth_users:\n  prom: plaintext\n",
                "not a bcrypt hash",
            ),
            (
                "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  bogus: 1\n",
                "unknown field `bogus`",
            ),
            (
                "tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n",
                "cert_file",
            ),
            ("tls_server_configs: {}\n", "unknown field"),
        ];
        for (text, want) in cases {
            std::fs::write(d.join("web.yml"), text).unwrap();
            let e = Web::load(&d.join("web.yml")).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
