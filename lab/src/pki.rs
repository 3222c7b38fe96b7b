//! The lab's certificates: a lab CA (written to `ca_file`), the front door's
//! `*.execute-api` certificate, an expired one, and one from a foreign "TLS inspection"
//! CA; each wrapped in a rustls server configuration (TLS 1.2 and 1.3, ALPN http/1.1).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{LabError, TlsFault};

/// The front door's TLS configurations, one per `tls` fault.
pub struct Pki {
    /// PEM of the lab CA (the trust root to give the doctor).
    pub ca_pem: String,
    ok: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    untrusted: Arc<ServerConfig>,
    tls13_only: Arc<ServerConfig>,
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

fn server_config(
    ca: &Ca,
    region: &str,
    domain: &str,
    expired: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ServerConfig>, LabError> {
    let names = vec![
        format!("*.execute-api.{region}.amazonaws.com"),
        format!("*.execute-api.{region}.vpce.amazonaws.com"),
        // The private custom domain's ACM certificate (served by the same front door).
        domain.to_string(),
    ];
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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(err)?;
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
        Ok(Pki {
            ok: server_config(&lab_ca, region, domain, false, BOTH)?,
            expired: server_config(&lab_ca, region, domain, true, BOTH)?,
            untrusted: server_config(&foreign_ca, region, domain, false, BOTH)?,
            tls13_only: server_config(&lab_ca, region, domain, false, &[&rustls::version::TLS13])?,
            ca_pem: lab_ca.pem,
        })
    }

    /// The server configuration the front door uses under `fault`.
    pub fn server_config(&self, fault: TlsFault) -> Arc<ServerConfig> {
        match fault {
            TlsFault::Ok => self.ok.clone(),
            TlsFault::Expired => self.expired.clone(),
            TlsFault::UntrustedCa => self.untrusted.clone(),
            TlsFault::Tls13Only => self.tls13_only.clone(),
        }
    }
}
