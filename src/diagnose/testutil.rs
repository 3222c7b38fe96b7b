//! Builders of [`Facts`] for rule tests: a healthy two-ENI run, then one thing changed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::InvokeVia;
use crate::facts::*;

pub const ENI_A: &str = "10.0.1.25";
pub const ENI_B: &str = "10.0.2.25";

pub fn ok_conn() -> ConnFacts {
    ConnFacts {
        connect: ConnectOutcome::Ok,
        tls: Some(TlsFacts {
            outcome: TlsOutcome::Ok,
            server_name: "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
            version: Some("TLS 1.3".into()),
            peer_names: vec!["*.execute-api.us-east-1.amazonaws.com".into()],
            not_after: Some(2_000_000_000),
        }),
    }
}

pub fn backend(status: u16) -> HttpOutcome {
    HttpOutcome::Response(HttpResponse {
        status,
        error_type: None,
        message: None,
        source: ResponseSource::Backend,
        gateway_headers: true,
        server: None,
        body_snippet: "{}".into(),
        body_bytes: 2,
        body_truncated: false,
    })
}

pub fn gateway(status: u16, error_type: &str, message: &str) -> HttpOutcome {
    HttpOutcome::Response(HttpResponse {
        status,
        error_type: Some(error_type.into()),
        message: Some(message.into()),
        source: ResponseSource::Gateway,
        gateway_headers: true,
        server: None,
        body_snippet: String::new(),
        body_bytes: 0,
        body_truncated: false,
    })
}

pub fn path(addr: &str, p: &str, http: HttpOutcome) -> PathFacts {
    PathFacts {
        path: p.into(),
        request_path: format!("/test{p}"),
        addr: SocketAddr::new(addr.parse().unwrap(), 443),
        signed: false,
        identified_by: "host",
        conn: ok_conn(),
        http,
        timings: Timings::default(),
    }
}

/// A healthy run: DNS answers both ENIs (also for the endpoint name), both paths 200 on both.
pub fn healthy() -> Facts {
    let addrs: Vec<IpAddr> = vec![ENI_A.parse().unwrap(), ENI_B.parse().unwrap()];
    let dns = |name: &str| DnsFacts {
        name: name.into(),
        resolver: "10.0.0.2:53".into(),
        outcome: DnsOutcome::Answer,
        addrs: addrs.clone(),
        duration: Duration::from_millis(1),
    };
    Facts {
        target: TargetFacts {
            api_id: "3eqr0osoc3".into(),
            region: "us-east-1".into(),
            stage: "test".into(),
            api_host: "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
            connect_name: "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
            host_header: "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
            api_id_header: None,
            invoke_via: InvokeVia::PrivateDns,
            port: 443,
            method: "GET".into(),
            vpce_id: None,
            signed: false,
            vpce_dns: Some(
                "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com".into(),
            ),
        },
        dns: vec![dns("3eqr0osoc3.execute-api.us-east-1.amazonaws.com")],
        reference_dns: vec![dns(
            "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com",
        )],
        enis: [ENI_A, ENI_B]
            .iter()
            .map(|a| EniFacts {
                addr: SocketAddr::new(a.parse().unwrap(), 443),
                source: Some("10.0.3.7".parse().unwrap()),
                paths: vec![
                    path(a, "/", backend(200)),
                    path(a, "/pgw-probe", backend(200)),
                ],
            })
            .collect(),
        ..Default::default()
    }
}

/// Set the HTTP outcome of `p` on every ENI.
pub fn set_path(f: &mut Facts, p: &str, http: HttpOutcome) {
    for e in &mut f.enis {
        for x in &mut e.paths {
            if x.path == p {
                x.http = http.clone();
            }
        }
    }
}

/// Set every invoke's HTTP outcome.
pub fn set_all(f: &mut Facts, http: HttpOutcome) {
    for e in &mut f.enis {
        for x in &mut e.paths {
            x.http = http.clone();
        }
    }
}

/// Ids of the diagnosis, in rank order.
pub fn ids(f: &Facts) -> Vec<&'static str> {
    super::diagnose(f).iter().map(|x| x.id).collect()
}
