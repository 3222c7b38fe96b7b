//! Builders of [`Facts`] for rule tests: a healthy two-ENI run, then one thing changed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::facts::InvokeVia;
use crate::facts::*;
use crate::finding::FindingId;

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
        request_id: None,
        server: None,
        clock_skew_s: None,
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
        request_id: None,
        server: None,
        clock_skew_s: None,
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
            tls_versions: crate::facts::TlsVersion::ALL.to_vec(),
            domain_name: None,
            base_path: None,
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

/// End every connect to ENI `i` with `o` (no TLS, no request sent).
pub fn fail_eni(f: &mut Facts, i: usize, o: ConnectOutcome) {
    for p in &mut f.enis[i].paths {
        p.conn.connect = o.clone();
        p.conn.tls = None;
        p.http = HttpOutcome::NotSent;
    }
}

/// End every connect to every ENI with `o`.
pub fn fail_all_connects(f: &mut Facts, o: ConnectOutcome) {
    for i in 0..f.enis.len() {
        fail_eni(f, i, o.clone());
    }
}

/// Ids of the diagnosis, in rank order.
pub fn ids(f: &Facts) -> Vec<FindingId> {
    super::diagnose(f).iter().map(|x| x.id).collect()
}

/// A control plane that agrees with [`healthy`]: private API, seed policy, both methods deployed,
/// VPC link AVAILABLE, NLB targets = the PrivateLink endpoint's ENIs, all healthy.
pub fn healthy_control() -> crate::facts::control::ControlFacts {
    use crate::facts::control::*;
    let vpce = "vpce-0a1b2c3d4e5f60001";
    let integration = || Integration {
        kind: Some("HTTP_PROXY".into()),
        connection_type: Some("VPC_LINK".into()),
        connection_id: Some("vl1234".into()),
        uri: Some("http://nlb-a.internal/{proxy}".into()),
        timeout_ms: Some(29000),
        request_parameters: [(
            "integration.request.path.proxy".to_string(),
            "method.request.path.proxy".to_string(),
        )]
        .into_iter()
        .collect(),
    };
    let method = || Method {
        http_method: "ANY".into(),
        authorization_type: Some("NONE".into()),
        api_key_required: false,
        integration: Some(integration()),
    };
    let target = |ip: &str| Target {
        id: ip.into(),
        port: Some(443),
        az: Some("us-east-1a".into()),
        state: "healthy".into(),
        reason: None,
        description: None,
    };
    ControlFacts {
        api: Some(RestApi {
            id: "3eqr0osoc3".into(),
            name: "orders".into(),
            endpoint_types: vec!["PRIVATE".into()],
            vpc_endpoint_ids: vec![vpce.into()],
            policy: Some(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":["execute-api:/*"],"Condition":{{"StringNotEquals":{{"aws:SourceVpce":"{vpce}"}}}}}},{{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":["execute-api:/*"]}}]}}"#
            )),
            security_policy: None,
            disable_execute_api_endpoint: false,
            endpoint_access_mode: None,
        }),
        stage: Some(Stage {
            name: "test".into(),
            deployment_id: Some("dep1".into()),
            variables: Default::default(),
            web_acl_arn: None,
            logging_level: None,
        }),
        deployed: Some(
            [
                ("/".to_string(), vec!["ANY".to_string()]),
                ("/{proxy+}".to_string(), vec!["ANY".to_string()]),
            ]
            .into_iter()
            .collect(),
        ),
        resources: Some(vec![
            Resource {
                path: "/".into(),
                methods: vec![method()],
            },
            Resource {
                path: "/{proxy+}".into(),
                methods: vec![method()],
            },
        ]),
        vpc_links: vec![VpcLink {
            id: "vl1234".into(),
            status: "AVAILABLE".into(),
            status_message: None,
            target_arns: vec![
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/nlb-a/1"
                    .into(),
            ],
        }],
        execute_api_endpoints: vec![Endpoint {
            id: vpce.into(),
            state: "available".into(),
            vpc_id: Some("vpc-1".into()),
            service_name: Some("com.amazonaws.us-east-1.execute-api".into()),
            private_dns_enabled: true,
            dns_names: vec![
                "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com".into(),
                "vpce-0a1b2c3d4e5f60001-4kq2x7ab-us-east-1a.execute-api.us-east-1.vpce.amazonaws.com"
                    .into(),
                "*.execute-api.us-east-1.amazonaws.com".into(),
            ],
            security_groups: vec!["sg-1".into()],
            enis: vec![
                ("us-east-1a".into(), ENI_A.parse().unwrap()),
                ("us-east-1b".into(), ENI_B.parse().unwrap()),
            ],
            eni_subnets: [
                (ENI_A.parse().unwrap(), "subnet-a".to_string()),
                (ENI_B.parse().unwrap(), "subnet-b".to_string()),
            ]
            .into_iter()
            .collect(),
            policy: None,
        }],
        sg_rules: [(
            "sg-1".to_string(),
            vec![SgRule {
                egress: false,
                protocol: "tcp".into(),
                from_port: 443,
                to_port: 443,
                cidr: Some("10.0.0.0/16".into()),
                group_ref: None,
                prefix_list: None,
            }],
        )]
        .into_iter()
        .collect(),
        vpc_dns: [("vpc-1".to_string(), (true, true))].into_iter().collect(),
        vpc_cidrs: [("vpc-1".to_string(), vec!["10.0.0.0/16".to_string()])]
            .into_iter()
            .collect(),
        nlbs: vec![Nlb {
            arn: "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/nlb-a/1"
                .into(),
            name: "nlb-a".into(),
            vpc_id: Some("vpc-1".into()),
            azs: vec!["us-east-1a".into(), "us-east-1b".into()],
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec![],
            enforce_privatelink_sg: None,
            // The integrations' uri has no port: `http`, 80.
            listeners: Some(vec![Listener {
                port: 80,
                protocol: "TCP".into(),
                target_group_arns: vec!["tg".into()],
            }]),
            target_groups: vec![TargetGroup {
                arn: "tg".into(),
                name: "tg-a".into(),
                port: Some(443),
                target_type: Some("ip".into()),
                targets: vec![target("10.0.1.60"), target("10.0.2.60")],
            }],
        }],
        service_endpoints: vec![Endpoint {
            id: "vpce-0ffff0000aaaa1111".into(),
            state: "available".into(),
            vpc_id: Some("vpc-1".into()),
            service_name: Some("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into()),
            private_dns_enabled: false,
            dns_names: vec![],
            security_groups: vec![],
            enis: vec![
                ("us-east-1a".into(), "10.0.1.60".parse().unwrap()),
                ("us-east-1b".into(), "10.0.2.60".parse().unwrap()),
            ],
            eni_subnets: Default::default(),
            policy: None,
        }],
        ..Default::default()
    }
}

/// Path B: the NLB's one target group holds an IP in another network, unhealthy for `reason`.
pub fn hybrid_target(f: &mut Facts, reason: &str) {
    let cf = f.control.as_mut().expect("control facts");
    cf.service_endpoints.clear();
    for t in &mut cf.nlbs[0].target_groups[0].targets {
        t.id = "172.31.12.59".into();
        t.az = Some("all".into());
        t.state = "unhealthy".into();
        t.reason = Some(reason.into());
    }
}

/// [`healthy`] with a control plane.
pub fn healthy_cp() -> Facts {
    let mut f = healthy();
    f.control = Some(healthy_control());
    f
}
