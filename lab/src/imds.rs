//! The EC2 instance metadata service (IMDSv2) of the diagnosing host, on loopback: `PUT
//! /latest/api/token` with a TTL header gives a token; reads carry it in
//! `X-aws-ec2-metadata-token`, and without a valid one answer 401, as on EC2. It says where the
//! host stands: account, region, AZ, instance, its interface's VPC.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use tokio::net::TcpListener;

use crate::responses::Body;
use crate::runtime::Tasks;

/// The lab host's instance id, interface MAC and VPC id as IMDS gives them.
pub const INSTANCE_ID: &str = "i-0a1b2c3d4e5f60071";
pub const MAC: &str = "0e:49:61:0f:c3:11";
pub const VPC_ID: &str = "vpc-0a1b2c3d4e5f60031";

/// What the host's IMDS says.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub account: String,
    pub region: String,
    pub az: String,
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

/// Serves IMDSv2 on `listener` until the lab stops.
pub(crate) fn serve(listener: TcpListener, instance: Instance, tasks: &Tasks) {
    let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let inner = tasks.clone();
    tasks.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tokens, instance) = (tokens.clone(), instance.clone());
            inner.spawn(crate::httpd::serve(stream, move |req| {
                let answer = answer(
                    &tokens,
                    &instance,
                    req.method(),
                    req.uri().path(),
                    req.headers(),
                );
                async move { answer }
            }));
        }
    });
}

fn answer(
    tokens: &Mutex<Vec<String>>,
    i: &Instance,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
) -> Response<Body> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    if path == "/latest/api/token" {
        if method != Method::PUT {
            return text(StatusCode::METHOD_NOT_ALLOWED, String::new());
        }
        let ttl =
            header("x-aws-ec2-metadata-token-ttl-seconds").and_then(|t| t.parse::<u32>().ok());
        if !ttl.is_some_and(|t| (1..=21_600).contains(&t)) {
            return text(StatusCode::BAD_REQUEST, String::new());
        }
        let token = format!("AQAEA{:016x}", crate::ids::random_u64());
        tokens.lock().expect("poisoned").push(token.clone());
        return text(StatusCode::OK, token);
    }
    let known = header("x-aws-ec2-metadata-token")
        .is_some_and(|t| tokens.lock().expect("poisoned").iter().any(|k| k == t));
    if !known {
        return text(StatusCode::UNAUTHORIZED, String::new());
    }
    let vpc_path = format!("/latest/meta-data/network/interfaces/macs/{MAC}/vpc-id");
    match path {
        "/latest/dynamic/instance-identity/document" => text(
            StatusCode::OK,
            serde_json::json!({
                "accountId": i.account, "region": i.region, "availabilityZone": i.az,
                "instanceId": INSTANCE_ID, "instanceType": "t3.small", "architecture": "x86_64",
                "imageId": "ami-0a1b2c3d4e5f60081", "privateIp": "127.0.0.1",
            })
            .to_string(),
        ),
        "/latest/meta-data/mac" => text(StatusCode::OK, MAC.into()),
        p if p == vpc_path => text(StatusCode::OK, VPC_ID.into()),
        _ => text(StatusCode::NOT_FOUND, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_a_token_from_a_put_with_a_ttl() {
        let tokens = Mutex::new(Vec::new());
        let i = Instance {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            az: "us-east-1a".into(),
        };
        let mut h = http::HeaderMap::new();
        let doc = "/latest/dynamic/instance-identity/document";
        assert_eq!(answer(&tokens, &i, &Method::GET, doc, &h).status(), 401);
        assert_eq!(
            answer(&tokens, &i, &Method::PUT, "/latest/api/token", &h).status(),
            400
        );
        h.insert(
            "x-aws-ec2-metadata-token-ttl-seconds",
            "60".parse().unwrap(),
        );
        let r = answer(&tokens, &i, &Method::PUT, "/latest/api/token", &h);
        assert_eq!(r.status(), 200);
        let token = tokens.lock().unwrap()[0].clone();
        let mut with = http::HeaderMap::new();
        with.insert("x-aws-ec2-metadata-token", token.parse().unwrap());
        assert_eq!(answer(&tokens, &i, &Method::GET, doc, &with).status(), 200);
        with.insert("x-aws-ec2-metadata-token", "forged".parse().unwrap());
        assert_eq!(answer(&tokens, &i, &Method::GET, doc, &with).status(), 401);
    }
}
