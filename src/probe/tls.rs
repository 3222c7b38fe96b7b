//! TLS probe: a real rustls handshake with the invoke host as SNI, trusting the system roots plus
//! any `--ca-file`; records the peer certificate's names and expiry even when verification fails,
//! and names the failure (name mismatch, unknown CA, expired, protocol).
//!
//! The probe offers classic key exchange (X25519, P-256, P-384) and AES-128-GCM first. What it
//! checks (reachability, trust, names, expiry) does not depend on the key exchange, and the
//! post-quantum hybrid share rustls offers by default costs about a quarter more CPU per
//! handshake (bench/README.md).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::facts::{TlsFacts, TlsOutcome, TlsVersion};

/// Trust roots and the crypto provider, built once per run.
#[derive(Clone)]
pub struct TlsSetup {
    verifier: Arc<ChainVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

/// Verifiers built so far, by their extra roots. Probes with the same `ca_file` share one, so
/// the system roots (~150 anchors, ~100 KiB parsed) are loaded once, not once per probe. A
/// verifier lives while some probe uses it; one built after the last user is gone re-reads the
/// system roots.
type VerifierCache = Vec<(Vec<CertificateDer<'static>>, Weak<ChainVerifier>)>;
static VERIFIERS: Mutex<VerifierCache> = Mutex::new(Vec::new());

impl TlsSetup {
    /// System roots (best effort) plus `extra` roots; handshakes offer `versions` (both when
    /// empty).
    pub fn new(
        extra: &[CertificateDer<'static>],
        versions: &[TlsVersion],
    ) -> Result<Self, super::ProbeError> {
        let provider = shared_provider();
        let versions = if versions.is_empty() {
            &TlsVersion::ALL[..]
        } else {
            versions
        };
        let versions = versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let mut cache = VERIFIERS.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|(_, v)| v.strong_count() > 0);
        if let Some(verifier) = cache
            .iter()
            .find(|(roots, _)| roots.as_slice() == extra)
            .and_then(|(_, v)| v.upgrade())
        {
            return Ok(TlsSetup {
                verifier,
                provider,
                versions,
            });
        }
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
        for c in extra {
            roots
                .add(c.clone())
                .map_err(|e| super::ProbeError::CaRejected(e.to_string()))?;
        }
        if roots.is_empty() {
            // Verification then fails with UnknownIssuer, which is the truth.
            tracing::warn!("no trust roots found: every certificate will be untrusted");
        }
        let verifier = Arc::new(ChainVerifier {
            inner: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| super::ProbeError::Verifier(e.to_string()))?,
            verified: Mutex::new(std::collections::VecDeque::new()),
        });
        cache.push((extra.to_vec(), Arc::downgrade(&verifier)));
        Ok(TlsSetup {
            verifier,
            provider,
            versions,
        })
    }

    /// Handshake over `tcp` with `server_name` as SNI.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        server_name: &str,
        timeout: Duration,
    ) -> (TlsFacts, Option<TlsStream<TcpStream>>) {
        let seen = Arc::new(Mutex::new(None));
        let recorder = Arc::new(Recording {
            inner: self.verifier.clone(),
            seen: seen.clone(),
        });
        let mut facts = TlsFacts {
            outcome: TlsOutcome::Ok,
            server_name: server_name.to_string(),
            version: None,
            peer_names: Vec::new(),
            not_after: None,
        };
        let mut config = match ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
        {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(recorder)
                .with_no_client_auth(),
            Err(e) => {
                facts.outcome = TlsOutcome::Protocol(e.to_string());
                return (facts, None);
            }
        };
        // Every probe is a full handshake: no session cache (rustls allocates one for 256
        // sessions per config otherwise).
        config.resumption = rustls::client::Resumption::disabled();
        let name = match ServerName::try_from(server_name.to_string()) {
            Ok(n) => n,
            Err(e) => {
                facts.outcome = TlsOutcome::Protocol(format!("invalid server name: {e}"));
                return (facts, None);
            }
        };
        let connector = TlsConnector::from(Arc::new(config));
        let result = tokio::time::timeout(timeout, connector.connect(name, tcp)).await;
        if let Some((names, not_after)) = seen.lock().expect("poisoned").take() {
            facts.peer_names = names;
            facts.not_after = not_after;
        }
        match result {
            Err(_) => {
                facts.outcome = TlsOutcome::Timeout;
                (facts, None)
            }
            Ok(Err(e)) => {
                facts.outcome = classify(&e);
                (facts, None)
            }
            Ok(Ok(stream)) => {
                facts.version = stream
                    .get_ref()
                    .1
                    .protocol_version()
                    .map(|v| format!("{v:?}").replace("TLSv1_", "TLS 1."));
                (facts, Some(stream))
            }
        }
    }
}

/// The probes' provider, one for all of them (its suite and group lists are a few hundred bytes
/// per copy).
fn shared_provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<rustls::crypto::CryptoProvider>> =
        std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let provider = probe_provider();
            // aws-lc seeds its random generator on first use (CPU jitter entropy, tens of ms).
            // Do it now, so it is never counted in a handshake's time.
            let _ = provider.secure_random.fill(&mut [0u8; 32]);
            Arc::new(provider)
        })
        .clone()
}

/// aws-lc-rs with classic key-exchange groups only and the AES-128-GCM suites first (SHA-256
/// has hardware support where SHA-384 has none).
fn probe_provider() -> rustls::crypto::CryptoProvider {
    use rustls::{CipherSuite, NamedGroup};
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.kx_groups.retain(|g| {
        matches!(
            g.name(),
            NamedGroup::X25519 | NamedGroup::secp256r1 | NamedGroup::secp384r1
        )
    });
    p.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    p
}

/// Map a handshake error to an outcome.
pub fn classify(e: &std::io::Error) -> TlsOutcome {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsOutcome::NameMismatch
            }
            CertificateError::UnknownIssuer => TlsOutcome::UnknownCa,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsOutcome::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsOutcome::NotYetValid
            }
            other => TlsOutcome::BadCertificate(format!("{other:?}")),
        },
        Some(
            e @ (rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
            | rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13
                | rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
            )),
        ) => TlsOutcome::VersionRejected(e.to_string()),
        Some(other) => TlsOutcome::Protocol(other.to_string()),
        None => TlsOutcome::Protocol(e.to_string()),
    }
}

/// At most this many names of a certificate are kept (a hostile peer may send thousands)...
pub const MAX_CERT_NAMES: usize = 32;
/// ...each at most this long (a DNS name is at most 253 characters).
pub const MAX_CERT_NAME_LEN: usize = 253;

/// DNS names of a certificate (SANs, else the CN), bounded by [`MAX_CERT_NAMES`] and
/// [`MAX_CERT_NAME_LEN`], and its notAfter.
pub fn cert_names(der: &[u8]) -> (Vec<String>, Option<i64>) {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return (Vec::new(), None);
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_string());
            }
        }
    }
    names.truncate(MAX_CERT_NAMES);
    for n in &mut names {
        if n.len() > MAX_CERT_NAME_LEN {
            let end = n.floor_char_boundary(MAX_CERT_NAME_LEN);
            n.truncate(end);
        }
    }
    (names, Some(cert.validity().not_after.timestamp()))
}

/// Whether a certificate name (possibly `*.` wildcard) covers `host`.
pub fn name_covers(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

/// A certificate's names and notAfter, as [`cert_names`] gives them.
type Names = (Vec<String>, Option<i64>);

/// A chain webpki accepted: the same bytes for the same name, verified against the same roots,
/// get the same verdict until a certificate of it expires.
struct Verified {
    chain: Vec<Vec<u8>>,
    name: String,
    names: Names,
    /// Unix seconds: the earliest notAfter of the chain, at most [`VERIFIED_FOR`] after the check.
    until: u64,
}

/// How long an accepted chain is trusted without webpki looking again (a daemon probes the same
/// endpoint's certificate every interval: one ECDSA verification of two per handshake saved).
/// The handshake's own signature (possession of the key) is verified every time.
const VERIFIED_FOR: u64 = 600;
/// At most this many accepted chains remembered per set of roots (oldest forgotten first).
const VERIFIED_MAX: usize = 32;

/// webpki's verifier with a bounded memory of the chains it accepted. Refusals are never
/// remembered: every failing handshake is judged again.
pub(crate) struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verified: Mutex<std::collections::VecDeque<Verified>>,
}

impl std::fmt::Debug for ChainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainVerifier")
    }
}

impl ChainVerifier {
    /// Verify the chain; the end entity's names with the verdict.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> (Names, Result<ServerCertVerified, rustls::Error>) {
        let name = server_name.to_str();
        let same = |v: &Verified| {
            v.until > now.as_secs()
                && v.name == name
                && v.chain.len() == intermediates.len() + 1
                && v.chain[0] == end_entity.as_ref()
                && v.chain[1..]
                    .iter()
                    .zip(intermediates)
                    .all(|(a, b)| a.as_slice() == b.as_ref())
        };
        {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = verified.iter().find(|v| same(v)) {
                return (v.names.clone(), Ok(ServerCertVerified::assertion()));
            }
        }
        let names = cert_names(end_entity);
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if verdict.is_ok() {
            let expiries = std::iter::once(names.1)
                .chain(intermediates.iter().map(|c| cert_names(c).1))
                .map(|t| t.map_or(0, |t| u64::try_from(t).unwrap_or(0)));
            let until = expiries.fold(now.as_secs() + VERIFIED_FOR, u64::min);
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified.retain(|v| v.until > now.as_secs());
            if verified.len() >= VERIFIED_MAX {
                verified.pop_front();
            }
            verified.push_back(Verified {
                chain: std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| c.to_vec())
                    .collect(),
                name: name.into_owned(),
                names: names.clone(),
                until,
            });
        }
        (names, verdict)
    }
}

/// A verifier that remembers the end-entity certificate's names, then delegates.
#[derive(Debug)]
struct Recording {
    inner: Arc<ChainVerifier>,
    seen: Arc<Mutex<Option<Names>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (names, verdict) =
            self.inner
                .verify(end_entity, intermediates, server_name, ocsp_response, now);
        *self.seen.lock().expect("poisoned") = Some(names);
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_with_the_same_roots_share_one_verifier() {
        let a = TlsSetup::new(&[], &[]).unwrap();
        let b = TlsSetup::new(&[], &[]).unwrap();
        assert!(Arc::ptr_eq(&a.verifier, &b.verifier));
        let extra = test_ca();
        let c = TlsSetup::new(&[extra], &[]).unwrap();
        assert!(!Arc::ptr_eq(&a.verifier, &c.verifier));
    }

    /// A self-signed P-256 CA certificate (made with `openssl req -x509`).
    fn test_ca() -> CertificateDer<'static> {
        const PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBhDCCASmgAwIBAgIUYbtQNstEZS7nt1qeFdbqSLKi3BswCgYIKoZIzj0EAwIw\n\
FjEUMBIGA1UEAwwLcGd3IHRlc3QgQ0EwIBcNMjYxMTI2MDA0OTI0WhgPMjEyNjEx\n\
MDIwMDQ5MjRaMBYxFDASBgNVBAMMC3BndyB0ZXN0IENBMFkwEwYHKoZIzj0CAQYI\n\
KoZIzj0DAQcDQgAEXuTdT3XXW2/zhAPvvziFZGSHTGd74Drhy9hqdu8Q4XgNcrlJ\n\
R2aQxebnNAvwJpYMyENlbgtM5En1qcT5bKAJN6NTMFEwHQYDVR0OBBYEFG723PIB\n\
rog5m4KGi5gsJpiVO1UHMB8GA1UdIwQYMBaAFG723PIBrog5m4KGi5gsJpiVO1UH\n\
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANyLAXk18iDjWckV\n\
qDsKGdCLM0B1aLz4wQsPzFYKyhH9AiEA814n/8d64wNAGJB37k4nkU76GJc9x9TQ\n\
1PW7fbhGwhs=\n\
-----END CERTIFICATE-----";
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(PEM.as_bytes()).unwrap()
    }

    #[test]
    fn accepted_chains_are_remembered_until_they_expire_and_refusals_never() {
        // A CA and a leaf it signed for "localhost", valid 2020..2030.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca.clone(), &ca_key);
        let ca_der = ca.self_signed(&ca_key).unwrap().der().clone();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let leaf_der = leaf.signed_by(&leaf_key, &issuer).unwrap().der().clone();
        let setup = TlsSetup::new(&[ca_der], &[]).unwrap();
        let v = &setup.verifier;
        let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let name = |n: &'static str| ServerName::try_from(n).unwrap();
        let remembered = || v.verified.lock().unwrap().len();
        let y2026 = 1_780_000_000;

        // Another name: refused, and not remembered.
        let (names, verdict) = v.verify(&leaf_der, &[], &name("other.example"), &[], at(y2026));
        assert!(verdict.is_err());
        assert_eq!(names.0, ["localhost"]);
        assert_eq!(remembered(), 0);
        // Accepted: remembered, and accepted again from memory with the same names.
        assert!(v
            .verify(&leaf_der, &[], &name("localhost"), &[], at(y2026))
            .1
            .is_ok());
        assert_eq!(remembered(), 1);
        let (names, verdict) = v.verify(&leaf_der, &[], &name("localhost"), &[], at(y2026 + 10));
        assert!(verdict.is_ok());
        assert_eq!(names.0, ["localhost"]);
        assert_eq!(remembered(), 1);
        // The memory never outlives the certificate: after its notAfter webpki judges (expired).
        let after = 1_893_456_000 + 1; // 2030-01-01 + 1 s
        let (_, verdict) = v.verify(&leaf_der, &[], &name("localhost"), &[], at(after));
        assert!(matches!(
            verdict,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            )) | Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
        ));
        // Nor its own lifetime: past VERIFIED_FOR, the entry is not used (a new one is made).
        assert!(v
            .verify(
                &leaf_der,
                &[],
                &name("localhost"),
                &[],
                at(y2026 + VERIFIED_FOR + 1)
            )
            .1
            .is_ok());
        assert_eq!(remembered(), 1);
    }

    /// A handshake offering `offered` with a real rustls server on loopback that accepts `accepts`.
    async fn handshake_with(
        accepts: &'static rustls::SupportedProtocolVersion,
        offered: &[TlsVersion],
    ) -> TlsFacts {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().clone();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[accepts])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let setup = TlsSetup::new(&[der], offered).unwrap();
        setup
            .handshake(tcp, "localhost", Duration::from_secs(5))
            .await
            .0
    }

    #[tokio::test]
    async fn versions_in_common_or_not() {
        use rustls::version::{TLS12, TLS13};
        let both = handshake_with(&TLS13, &[]).await;
        assert_eq!(
            (both.outcome, both.version.as_deref()),
            (TlsOutcome::Ok, Some("TLS 1.3"))
        );
        let old = handshake_with(&TLS12, &TlsVersion::ALL).await;
        assert_eq!(old.version.as_deref(), Some("TLS 1.2"));
        // A TLS 1.3-only endpoint refuses a TLS 1.2 client with alert protocol_version...
        let refused = handshake_with(&TLS13, &[TlsVersion::Tls12]).await;
        assert!(
            matches!(&refused.outcome, TlsOutcome::VersionRejected(m) if m.contains("ProtocolVersion")),
            "{:?}",
            refused.outcome
        );
        // ...and a TLS 1.3-only client will not take the TLS 1.2 a server chooses.
        let chosen = handshake_with(&TLS12, &[TlsVersion::Tls13]).await;
        assert!(
            matches!(chosen.outcome, TlsOutcome::VersionRejected(_)),
            "{:?}",
            chosen.outcome
        );
    }

    #[test]
    fn provider_offers_classic_groups_and_aes_128_first() {
        use rustls::{CipherSuite, NamedGroup};
        let p = probe_provider();
        let groups: Vec<NamedGroup> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
        assert_eq!(
            p.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        // Nothing dropped: only the order changed.
        let all = rustls::crypto::aws_lc_rs::default_provider()
            .cipher_suites
            .len();
        assert_eq!(p.cipher_suites.len(), all);
    }

    #[test]
    fn wildcard_covers_one_label() {
        assert!(name_covers(
            "*.execute-api.us-east-1.amazonaws.com",
            "3eqr0osoc3.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(name_covers(
            "*.execute-api.us-east-1.amazonaws.com",
            "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(!name_covers(
            "*.execute-api.us-east-1.amazonaws.com",
            "a.b.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(!name_covers(
            "*.execute-api.us-east-1.amazonaws.com",
            "nlb-0123.elb.us-east-1.amazonaws.com"
        ));
        assert!(name_covers("Api.Example.com", "api.example.com"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn cert_with(names: &[String]) -> Vec<u8> {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(names.to_vec()).unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Any bytes: no panic, and the output stays bounded.
            #[test]
            fn any_bytes_give_bounded_names(der in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let (names, _) = cert_names(&der);
                prop_assert!(names.len() <= MAX_CERT_NAMES);
                prop_assert!(names.iter().all(|n| n.len() <= MAX_CERT_NAME_LEN));
            }

            /// A real certificate: its SANs, in order, at most MAX_CERT_NAMES of them.
            #[test]
            fn a_certificate_gives_its_sans(labels in proptest::collection::vec("[a-z][a-z0-9]{0,20}", 1..40)) {
                let sans: Vec<String> = labels.iter().enumerate().map(|(i, l)| format!("{l}{i}.example.com")).collect();
                let (names, not_after) = cert_names(&cert_with(&sans));
                let want: Vec<String> = sans.iter().take(MAX_CERT_NAMES).cloned().collect();
                prop_assert_eq!(names, want);
                prop_assert!(not_after.is_some());
            }
        }
    }
}
