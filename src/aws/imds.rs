//! Where this host stands on EC2, from the instance metadata service (IMDSv2: a session token,
//! then reads with it): account, region, VPC, Availability Zone and instance id. Off EC2, or with
//! IMDS unreachable within the timeout, there is nothing to say: an error the caller logs once.
//!
//! The SDK's own settings decide where and whether: `AWS_EC2_METADATA_DISABLED=true` turns it off,
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it (default `http://169.254.169.254`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// At most this much of an IMDS answer is read.
const MAX_BODY: usize = 16 * 1024;
/// The token's lifetime asked for: one read, so the minimum AWS allows is plenty.
const TOKEN_TTL_S: &str = "60";

/// The instance pgw runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whereabouts {
    pub account: String,
    pub region: String,
    pub vpc_id: String,
    pub az: String,
    pub instance_id: String,
}

/// Why IMDS said nothing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImdsError(String);

/// The IMDS address the SDK settings give, or `None` when IMDS is turned off.
pub fn endpoint_from_env() -> Option<Result<SocketAddr, ImdsError>> {
    let off = std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if off {
        return None;
    }
    let url = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| "http://169.254.169.254".into());
    Some(parse_endpoint(&url))
}

/// `http://IP[:PORT][/]` (IMDS has no name to resolve: an address or nothing).
fn parse_endpoint(url: &str) -> Result<SocketAddr, ImdsError> {
    let bad = || {
        ImdsError(format!(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT {url:?}: http://IP[:PORT]"
        ))
    };
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let host = rest.trim_end_matches('/');
    if let Ok(a) = host.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 80))
        .map_err(|_| bad())
}

/// Read where this host stands from IMDS at `addr`, all within `timeout`.
pub async fn whereabouts(addr: SocketAddr, timeout: Duration) -> Result<Whereabouts, ImdsError> {
    let deadline = Instant::now() + timeout;
    tokio::time::timeout_at(deadline, read(addr))
        .await
        .map_err(|_| ImdsError(format!("no answer from IMDS at {addr} within {timeout:?}")))?
}

async fn read(addr: SocketAddr) -> Result<Whereabouts, ImdsError> {
    let token = call(
        addr,
        "PUT",
        "/latest/api/token",
        ("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_S),
    )
    .await?;
    let with = ("x-aws-ec2-metadata-token", token.trim());
    let doc = call(
        addr,
        "GET",
        "/latest/dynamic/instance-identity/document",
        with,
    )
    .await?;
    let doc: serde_json::Value = serde_json::from_str(&doc)
        .map_err(|e| ImdsError(format!("instance identity document: {e}")))?;
    let field = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ImdsError(format!("instance identity document has no {k}")))
    };
    let mac = call(addr, "GET", "/latest/meta-data/mac", with).await?;
    let vpc_path = format!(
        "/latest/meta-data/network/interfaces/macs/{}/vpc-id",
        mac.trim()
    );
    let vpc_id = call(addr, "GET", &vpc_path, with).await?;
    Ok(Whereabouts {
        account: field("accountId")?,
        region: field("region")?,
        vpc_id: vpc_id.trim().to_string(),
        az: field("availabilityZone")?,
        instance_id: field("instanceId")?,
    })
}

/// One request on its own connection; the body of a 200, else an error naming the status.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    header: (&str, &str),
) -> Result<String, ImdsError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ImdsError(format!("IMDS {path}: {what}: {e}"));
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| fail("connect", &e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| fail("handshake", &e))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.ip().to_string())
        .header(header.0, header.1)
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail("request", &e))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| fail("request", &e))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| fail("body", &e))?
        .to_bytes();
    driver.abort();
    if !status.is_success() {
        return Err(ImdsError(format!("IMDS {path}: HTTP {status}")));
    }
    String::from_utf8(body.to_vec()).map_err(|e| fail("body", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_addresses() {
        assert_eq!(
            parse_endpoint("http://169.254.169.254").unwrap(),
            "169.254.169.254:80".parse().unwrap()
        );
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            parse_endpoint("http://[fd00:ec2::254]").unwrap(),
            "[fd00:ec2::254]:80".parse().unwrap()
        );
        assert!(parse_endpoint("https://imds.example").is_err());
    }

    /// Nothing listens: an error within the timeout, never a hang.
    #[tokio::test]
    async fn unreachable_imds_is_an_error_soon() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert!(whereabouts(addr, Duration::from_secs(1)).await.is_err());
    }
}
