//! An HTTPS client for the front doors (real rustls with the lab CA, hyper over the connection), and assertions on API Gateway's error shape.

use super::*;

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn error_type(&self) -> Option<&str> {
        self.headers
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
    }
}

pub(crate) fn tls_config(lab: &Lab) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(lab.ca_file()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A request to send through the front door at `addr`, with `sni` as TLS name.
pub(crate) struct Call<'a> {
    pub(crate) addr: SocketAddr,
    pub(crate) sni: &'a str,
    pub(crate) req: http::Request<Vec<u8>>,
}

pub(crate) async fn call(lab: &Lab, c: Call<'_>) -> Result<Reply, String> {
    let tcp = timeout(Duration::from_secs(2), TcpStream::connect(c.addr))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(lab));
    let name = ServerName::try_from(c.sni.to_string()).unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let (parts, body) = c.req.into_parts();
    let req = http::Request::from_parts(parts, http_body_util::Full::new(Bytes::from(body)));
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub(crate) fn get(host: &str, path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .header("host", host)
        .body(Vec::new())
        .unwrap()
}

pub(crate) fn eni(lab: &Lab, i: usize) -> SocketAddr {
    SocketAddr::new(lab.eni_addrs()[i].1, lab.port())
}

pub(crate) async fn via_private_dns(lab: &Lab, path: &str) -> Reply {
    call(
        lab,
        Call {
            addr: eni(lab, 0),
            sni: API_HOST,
            req: get(API_HOST, path),
        },
    )
    .await
    .unwrap()
}

pub(crate) fn assert_gateway_error(r: &Reply, status: u16, error_type: &str, body: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.error_type(), Some(error_type));
    assert_eq!(r.body, body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.contains_key("x-amzn-RequestId"));
    assert!(r.headers["x-amz-apigw-id"].to_str().unwrap().ends_with('='));
}
