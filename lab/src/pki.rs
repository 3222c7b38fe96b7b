//! The lab's certificates: a lab CA (written to `ca_file`), the front door's
//! `*.execute-api` certificate, an expired one, and one from a foreign "TLS inspection"
//! CA, each beside the private custom domain's own certificate (chosen by SNI); each wrapped in a
//! rustls server configuration (TLS 1.2 and 1.3, ALPN http/1.1).

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{DomainCertificate, LabError, TlsFault};

/// The front door's TLS configurations, one per `tls` fault.
pub struct Pki {
    /// PEM of the lab CA (the trust root to give the doctor).
    pub ca_pem: String,
    ok: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    untrusted: Arc<ServerConfig>,
    tls13_only: Arc<ServerConfig>,
    /// The custom domain's SNI answered with the endpoint's own certificate.
    domain_not_served: Arc<ServerConfig>,
    /// The custom domain's certificate names `*.example.com` only.
    domain_wrong_name: Arc<ServerConfig>,
}

/// The certificate by SNI: the custom domain's for its name, the endpoint's for any other.
#[derive(Debug)]
struct BySni {
    domain: String,
    for_domain: Arc<CertifiedKey>,
    endpoint: Arc<CertifiedKey>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let ours = hello
            .server_name()
            .is_some_and(|n| n.eq_ignore_ascii_case(&self.domain));
        Some(
            if ours {
                &self.for_domain
            } else {
                &self.endpoint
            }
            .clone(),
        )
    }
}

fn err(e: impl std::fmt::Display) -> LabError {
    LabError::Pki(e.to_string())
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn make_ca(common_name: &str) -> Result<Ca, LabError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "pgw-lab");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    })
}

/// A leaf certificate for `names`, signed by `ca`, with its key.
fn leaf(
    ca: &Ca,
    names: Vec<String>,
    expired: bool,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, LabError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.clone()).map_err(err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    } else {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    }
    let cert = params.signed_by(&key, &ca.issuer).map_err(err)?;
    let chain = vec![cert.der().clone(), ca.der.clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = provider.key_provider.load_private_key(key).map_err(err)?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// The front door's configuration: the endpoint's `*.execute-api` certificate, and for the
/// custom domain's SNI the certificate `domain_cert` says.
fn server_config(
    ca: &Ca,
    region: &str,
    domain: &str,
    domain_cert: DomainCertificate,
    expired: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ServerConfig>, LabError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let endpoint = leaf(
        ca,
        vec![
            format!("*.execute-api.{region}.amazonaws.com"),
            format!("*.execute-api.{region}.vpce.amazonaws.com"),
        ],
        expired,
        &provider,
    )?;
    let for_domain = match domain_cert {
        DomainCertificate::Served => leaf(ca, vec![domain.to_string()], expired, &provider)?,
        DomainCertificate::NotServed => endpoint.clone(),
        // One label short: a wildcard covers one label only.
        DomainCertificate::WrongName => {
            let parent = domain.split_once('.').map_or(domain, |(_, p)| p);
            let wider = parent.split_once('.').map_or(parent, |(_, p)| p);
            leaf(ca, vec![format!("*.{wider}")], expired, &provider)?
        }
    };
    let resolver = Arc::new(BySni {
        domain: domain.to_string(),
        for_domain,
        endpoint,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(err)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS12, &rustls::version::TLS13];

impl Pki {
    /// Generates fresh keys and certificates for one lab.
    pub fn generate(region: &str, domain: &str) -> Result<Pki, LabError> {
        let lab_ca = make_ca("pgw-lab root CA")?;
        let foreign_ca = make_ca("pgw-lab TLS inspection CA")?;
        let config = |ca, cert, expired, versions| {
            server_config(ca, region, domain, cert, expired, versions)
        };
        use DomainCertificate::{NotServed, Served, WrongName};
        Ok(Pki {
            ok: config(&lab_ca, Served, false, BOTH)?,
            expired: config(&lab_ca, Served, true, BOTH)?,
            untrusted: config(&foreign_ca, Served, false, BOTH)?,
            tls13_only: config(&lab_ca, Served, false, &[&rustls::version::TLS13])?,
            domain_not_served: config(&lab_ca, NotServed, false, BOTH)?,
            domain_wrong_name: config(&lab_ca, WrongName, false, BOTH)?,
            ca_pem: lab_ca.pem,
        })
    }

    /// The server configuration the front door uses under `fault`, the custom domain's
    /// certificate as `domain` says (with the endpoint's certificate intact only).
    pub fn server_config(&self, fault: TlsFault, domain: DomainCertificate) -> Arc<ServerConfig> {
        match (fault, domain) {
            (TlsFault::Ok, DomainCertificate::NotServed) => self.domain_not_served.clone(),
            (TlsFault::Ok, DomainCertificate::WrongName) => self.domain_wrong_name.clone(),
            _ => self.tls_config(fault),
        }
    }

    fn tls_config(&self, fault: TlsFault) -> Arc<ServerConfig> {
        match fault {
            TlsFault::Ok => self.ok.clone(),
            TlsFault::Expired => self.expired.clone(),
            TlsFault::UntrustedCa => self.untrusted.clone(),
            TlsFault::Tls13Only => self.tls13_only.clone(),
        }
    }
}
