//! The agent behind the exporter-toolkit web configuration: TLS and basic auth, checked with curl
//! and with a real Prometheus scraping over TLS with basic auth.

use std::path::Path;
use std::process::Command;

use crate::promkit::{temp_dir, wait_until, Agent, Prometheus};

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM files in `dir`.
fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf whose subject equals its issuer looks self-signed.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pgw test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// `curl`'s HTTP status for `url` (0 when it could not talk HTTP at all).
fn curl(args: &[&str], url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if code == 0 {
        eprintln!(
            "curl {args:?} {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    code
}

#[test]
fn tls_and_basic_auth_for_curl_and_for_a_real_prometheus() {
    let dir = temp_dir("web");
    pki(&dir);
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS12\n\
             basic_auth_users:\n  prom: '{hash}'\n"
        ),
    )
    .unwrap();
    let probe = "name = \"a\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
                 resolvers = [\"127.0.0.1:1\"]\nno_aws = true\ntimeout = \"1s\"\ninterval = \"1s\"\n";
    let web = dir.join("web.yml").display().to_string();
    let agent = Agent::start_with(
        &[("a", probe.to_string())],
        &[],
        &["--web.config.file", &web],
    );
    let https = format!("https://{}/metrics", agent.addr);
    let ca = dir.join("ca.pem").display().to_string();

    assert_eq!(curl(&["--cacert", &ca, "-u", "prom:s3cret"], &https), 200);
    assert_eq!(curl(&["--cacert", &ca], &https), 401);
    assert_eq!(curl(&["--cacert", &ca, "-u", "prom:wrong"], &https), 401);
    assert_eq!(curl(&["--cacert", &ca, "-u", "eve:s3cret"], &https), 401);
    // Plain HTTP gets no answer; neither does a client that does not trust the certificate.
    assert_eq!(
        curl(
            &["-u", "prom:s3cret"],
            &format!("http://{}/metrics", agent.addr)
        ),
        0
    );
    assert_eq!(curl(&["-u", "prom:s3cret"], &https), 0);
    // POST /-/reload is behind the same door.
    let reload = format!("https://{}/-/reload", agent.addr);
    assert_eq!(curl(&["--cacert", &ca, "-X", "POST"], &reload), 401);
    assert_eq!(
        curl(
            &["--cacert", &ca, "-u", "prom:s3cret", "-X", "POST"],
            &reload
        ),
        200
    );

    // A real Prometheus scrapes over TLS with basic auth.
    let pdir = temp_dir("prometheus-web");
    let config = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
         scrape_configs:\n  - job_name: pgw-agent\n    scheme: https\n    \
         tls_config: {{ca_file: '{ca}'}}\n    basic_auth: {{username: prom, password: s3cret}}\n    \
         static_configs: [{{targets: ['{}']}}]\n",
        agent.addr
    );
    let prom = Prometheus::launch(pdir, &config);
    wait_until("the agent scraped over TLS with basic auth", || {
        let r = prom.query("up{job=\"pgw-agent\"} == 1 and on() pgw_build_info")?;
        if r.is_empty() {
            Err(format!("not yet: {:?}", prom.query("up")))
        } else {
            Ok(())
        }
    });

    // The file is read again when it changes: a new password works, the old one no longer.
    let hash2 = bcrypt::hash("n3w", 6).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             basic_auth_users:\n  prom: '{hash2}'\n"
        ),
    )
    .unwrap();
    wait_until("the new password in force", || {
        match curl(&["--cacert", &ca, "-u", "prom:n3w"], &https) {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        }
    });
    assert_eq!(curl(&["--cacert", &ca, "-u", "prom:s3cret"], &https), 401);
}

#[test]
fn listens_on_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this host: skipped");
        return;
    }
    let probe = "name = \"a\"\napi_id = \"3eqr0osoc3\"\nregion = \"us-east-1\"\nstage = \"test\"\n\
                 resolvers = [\"127.0.0.1:1\"]\nno_aws = true\ntimeout = \"1s\"\ninterval = \"1s\"\n";
    let agent = Agent::start_with(&[("a", probe.to_string())], &[], &["--listen", "[::1]:0"]);
    assert!(agent.addr.starts_with("[::1]:"), "{}", agent.addr);
    assert_eq!(curl(&[], &format!("http://{}/healthz", agent.addr)), 200);
}
