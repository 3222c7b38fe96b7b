//! End-to-end tests of a running lab over real loopback sockets: DNS over UDP and TCP,
//! TLS + HTTP/1.1 through the front door to both backends, every API Gateway error
//! shape, and SYN drops that time out instead of being refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use pgw_lab::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

fn scenario() -> Scenario {
    Scenario {
        name: "test".into(),
        description: "test".into(),
        topology: Topology::default(),
        faults: Faults::default(),
        doctor: DoctorSpec::default(),
        expect: Expect {
            verdict: "healthy".into(),
            exit_code: 0,
            first_finding: None,
            confidence: None,
        },
    }
}

const API_HOST: &str = "3eqr0osoc3.execute-api.us-east-1.amazonaws.com";
const VPCE_HOST: &str = "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com";

// ---------- DNS ----------

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

async fn ask_udp(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&query(name, rtype), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(Duration::from_millis(500), sock.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

async fn ask_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let mut s = TcpStream::connect(server).await.unwrap();
    let q = query(name, rtype);
    s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(&q).await.unwrap();
    let len = timeout(Duration::from_millis(500), s.read_u16())
        .await
        .ok()?
        .unwrap();
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf).await.unwrap();
    Some(Message::from_vec(&buf).unwrap())
}

fn a_records(m: &Message) -> Vec<IpAddr> {
    m.answers.iter().filter_map(|r| r.data.ip_addr()).collect()
}

#[tokio::test]
async fn dns_over_udp_and_tcp() {
    let lab = Lab::start(&scenario()).await.unwrap();
    let r = lab.resolver();
    let enis: Vec<IpAddr> = lab.eni_addrs().into_iter().map(|(_, ip)| ip).collect();
    assert_eq!(enis.len(), 2);
    for m in [
        ask_udp(r, API_HOST, RecordType::A).await.unwrap(),
        ask_tcp(r, API_HOST, RecordType::A).await.unwrap(),
        ask_udp(r, VPCE_HOST, RecordType::A).await.unwrap(),
        ask_tcp(
            r,
            "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com",
            RecordType::A,
        )
        .await
        .unwrap(),
        ask_udp(
            r,
            "pgw-chain-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com",
            RecordType::A,
        )
        .await
        .unwrap(),
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&m), enis);
        assert!(m.answers.iter().all(|a| a.ttl == 60));
    }
    let zonal =
        "vpce-0a1b2c3d4e5f60001-4kq2x7ab-us-east-1b.execute-api.us-east-1.vpce.amazonaws.com";
    assert_eq!(
        a_records(&ask_tcp(r, zonal, RecordType::A).await.unwrap()),
        [enis[1]]
    );
    let nodata = ask_udp(r, API_HOST, RecordType::AAAA).await.unwrap();
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    let nx = ask_udp(
        r,
        "vpce-nope.execute-api.us-east-1.vpce.amazonaws.com",
        RecordType::A,
    )
    .await
    .unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    let refused = ask_tcp(r, "example.com", RecordType::A).await.unwrap();
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);

    // Faults apply to the next query, on both transports.
    lab.set_faults(Faults {
        dns: DnsFault::Servfail,
        ..Faults::default()
    });
    let m = ask_tcp(r, API_HOST, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    lab.set_faults(Faults {
        dns: DnsFault::Nxdomain,
        ..Faults::default()
    });
    let m = ask_udp(r, API_HOST, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // The endpoint-specific names are public DNS and keep working.
    assert_eq!(
        a_records(&ask_udp(r, VPCE_HOST, RecordType::A).await.unwrap()),
        enis
    );
    lab.set_faults(Faults {
        dns: DnsFault::Timeout,
        ..Faults::default()
    });
    assert!(ask_udp(r, API_HOST, RecordType::A).await.is_none());
    assert!(ask_tcp(r, API_HOST, RecordType::A).await.is_none());
    lab.set_faults(Faults {
        dns: DnsFault::Public,
        ..Faults::default()
    });
    let public = a_records(&ask_udp(r, API_HOST, RecordType::A).await.unwrap());
    assert_eq!(public.len(), 1);
    assert!(!enis.contains(&public[0]));
    lab.set_faults(Faults {
        alias_associated: false,
        ..Faults::default()
    });
    let alias = "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com";
    let m = ask_udp(r, alias, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    lab.shutdown().await;
}

// ---------- HTTPS client ----------

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn error_type(&self) -> Option<&str> {
        self.headers
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
    }
}

fn tls_config(lab: &Lab) -> Arc<rustls::ClientConfig> {
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
struct Call<'a> {
    addr: SocketAddr,
    sni: &'a str,
    req: http::Request<Vec<u8>>,
}

async fn call(lab: &Lab, c: Call<'_>) -> Result<Reply, String> {
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

fn get(host: &str, path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .header("host", host)
        .body(Vec::new())
        .unwrap()
}

fn eni(lab: &Lab, i: usize) -> SocketAddr {
    SocketAddr::new(lab.eni_addrs()[i].1, lab.port())
}

async fn via_private_dns(lab: &Lab, path: &str) -> Reply {
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

fn assert_gateway_error(r: &Reply, status: u16, error_type: &str, body: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.error_type(), Some(error_type));
    assert_eq!(r.body, body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.contains_key("x-amzn-RequestId"));
    assert!(r.headers["x-amz-apigw-id"].to_str().unwrap().ends_with('='));
}

#[tokio::test]
async fn requests_reach_the_backend_on_both_paths() {
    let mut s = scenario();
    let lab_a = Lab::start(&s).await.unwrap();
    s.topology.path = IntegrationPath::B;
    let lab_b = Lab::start(&s).await.unwrap();
    for (lab, service) in [(&lab_a, "orders"), (&lab_b, "nginx")] {
        for (i, path, backend_path) in [(0, "/test/orders/1?x=1", "/orders/1"), (1, "/test/", "/")]
        {
            let r = call(
                lab,
                Call {
                    addr: eni(lab, i),
                    sni: API_HOST,
                    req: get(API_HOST, path),
                },
            )
            .await
            .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(
                r.body,
                format!("{{\"service\":\"{service}\",\"path\":\"{backend_path}\"}}")
            );
            assert!(r.headers.contains_key("x-amzn-RequestId"));
            assert!(r.headers.contains_key("x-amz-apigw-id"));
            assert!(r.headers["x-amzn-trace-id"]
                .to_str()
                .unwrap()
                .starts_with("Root=1-"));
            assert!(r.error_type().is_none());
            assert_eq!(r.headers.get("server").is_some(), service == "nginx");
        }
        // Invoke route 2/3: the endpoint's own name, API named by Host or x-apigw-api-id.
        let r = call(
            lab,
            Call {
                addr: eni(lab, 0),
                sni: VPCE_HOST,
                req: get(API_HOST, "/test/x"),
            },
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let mut req = get(VPCE_HOST, "/test/x");
        req.headers_mut()
            .insert("x-apigw-api-id", "3eqr0osoc3".parse().unwrap());
        let r = call(
            lab,
            Call {
                addr: eni(lab, 1),
                sni: VPCE_HOST,
                req,
            },
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let r = call(
            lab,
            Call {
                addr: eni(lab, 1),
                sni: VPCE_HOST,
                req: get(VPCE_HOST, "/test/x"),
            },
        )
        .await
        .unwrap();
        assert_gateway_error(&r, 403, "ForbiddenException", r#"{"message":"Forbidden"}"#);
    }
    lab_a.shutdown().await;
    lab_b.shutdown().await;
}

const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
const MISSING_TOKEN: &str = r#"{"message":"Missing Authentication Token"}"#;

#[tokio::test]
async fn gateway_error_shapes() {
    let lab = Lab::start(&scenario()).await.unwrap();
    let set = |f: Faults| lab.set_faults(f);
    let ok = Faults::default;

    let r = via_private_dns(&lab, "/prod/x").await;
    assert_gateway_error(&r, 403, "ForbiddenException", FORBIDDEN);

    set(Faults {
        root_method: false,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test").await;
    assert_gateway_error(
        &r,
        403,
        "MissingAuthenticationTokenException",
        MISSING_TOKEN,
    );
    assert_eq!(via_private_dns(&lab, "/test/x").await.status, 200);
    set(Faults {
        proxy_method: false,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/x").await;
    assert_gateway_error(
        &r,
        403,
        "MissingAuthenticationTokenException",
        MISSING_TOKEN,
    );
    assert_eq!(via_private_dns(&lab, "/test/").await.status, 200);

    set(Faults {
        resource_policy: PolicyFault::Missing,
        ..ok()
    });
    let arn = "arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/orders/1";
    let r = via_private_dns(&lab, "/test/orders/1").await;
    let implicit = format!(
        r#"{{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn}"}}"#
    );
    assert_gateway_error(&r, 403, "AccessDeniedException", &implicit);
    set(Faults {
        resource_policy: PolicyFault::OtherVpce,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/orders/1").await;
    let explicit = format!(
        r#"{{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn} with an explicit deny"}}"#
    );
    assert_gateway_error(&r, 403, "AccessDeniedException", &explicit);

    set(Faults {
        throttle: true,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/").await;
    assert_gateway_error(
        &r,
        429,
        "TooManyRequestsException",
        r#"{"message":"Too Many Requests"}"#,
    );

    set(Faults {
        integration: IntegrationFault::VpcLinkFailed,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/").await;
    let internal = r#"{"message": "Internal server error"}"#;
    assert_gateway_error(&r, 500, "InternalServerErrorException", internal);

    set(Faults {
        integration: IntegrationFault::TargetRefused,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/").await;
    let network = r#"{"message": "Network error communicating with endpoint"}"#;
    assert_gateway_error(&r, 504, "InternalServerErrorException", network);

    let timed_out = r#"{"message": "Endpoint request timed out"}"#;
    for integration in [
        IntegrationFault::BackendSlow,
        IntegrationFault::TargetBlackhole,
    ] {
        set(Faults {
            integration,
            integration_timeout_ms: Some(300),
            ..ok()
        });
        let r = via_private_dns(&lab, "/test/").await;
        assert_gateway_error(&r, 504, "InternalServerErrorException", timed_out);
    }

    set(Faults {
        integration: IntegrationFault::Backend5xx,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.headers["server"], "nginx");
    assert!(r.body.contains("<center>nginx</center>"));
    assert!(r.error_type().is_none());
    assert!(r.headers.contains_key("x-amzn-RequestId"));

    // A middlebox rewriting Host: only x-apigw-api-id still names the API.
    set(Faults {
        host_rewrite: true,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/").await;
    assert_gateway_error(&r, 403, "ForbiddenException", FORBIDDEN);
    let mut req = get(API_HOST, "/test/");
    req.headers_mut()
        .insert("x-apigw-api-id", "3eqr0osoc3".parse().unwrap());
    let r = call(
        &lab,
        Call {
            addr: eni(&lab, 0),
            sni: API_HOST,
            req,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);

    // The alias names the API only while the endpoint is associated.
    let alias = "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com";
    set(ok());
    let r = call(
        &lab,
        Call {
            addr: eni(&lab, 0),
            sni: alias,
            req: get(alias, "/test/"),
        },
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);

    // Back to healthy; the public front end still refuses a private API.
    assert_eq!(via_private_dns(&lab, "/test/").await.status, 200);
    let public = {
        let mut p = eni(&lab, 0);
        let IpAddr::V4(ip) = p.ip() else {
            unreachable!()
        };
        let o = ip.octets();
        p.set_ip(IpAddr::from([o[0], o[1], o[2], 200]));
        p
    };
    let r = call(
        &lab,
        Call {
            addr: public,
            sni: API_HOST,
            req: get(API_HOST, "/test/"),
        },
    )
    .await
    .unwrap();
    assert_gateway_error(&r, 403, "ForbiddenException", FORBIDDEN);
    lab.shutdown().await;
}

fn signed(path: &str, key: &str, secret: &str) -> http::Request<Vec<u8>> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let mut req = get(API_HOST, path);
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("https://{API_HOST}{path}");
    let signable =
        SignableRequest::new("GET", uri, std::iter::empty(), SignableBody::Bytes(&[])).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req
}

#[tokio::test]
async fn aws_iam_authorization() {
    let lab = Lab::start(&scenario()).await.unwrap();
    lab.set_faults(Faults {
        authorization: Authorization::AwsIam,
        ..Faults::default()
    });
    let send = |req| {
        call(
            &lab,
            Call {
                addr: eni(&lab, 0),
                sni: API_HOST,
                req,
            },
        )
    };
    let r = send(get(API_HOST, "/test/x")).await.unwrap();
    assert_gateway_error(
        &r,
        403,
        "MissingAuthenticationTokenException",
        MISSING_TOKEN,
    );
    let r = send(signed("/test/x", LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(signed("/test/x", LAB_ACCESS_KEY_ID, "wrong"))
        .await
        .unwrap();
    let mismatch = r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#;
    assert_gateway_error(&r, 403, "InvalidSignatureException", mismatch);
    let r = send(signed("/test/x", "AKIAUNKNOWNKEY000000", "x"))
        .await
        .unwrap();
    let invalid = r#"{"message":"The security token included in the request is invalid."}"#;
    assert_gateway_error(&r, 403, "UnrecognizedClientException", invalid);
    lab.shutdown().await;
}

#[tokio::test]
async fn tls_faults() {
    let lab = Lab::start(&scenario()).await.unwrap();
    let attempt = || {
        call(
            &lab,
            Call {
                addr: eni(&lab, 0),
                sni: API_HOST,
                req: get(API_HOST, "/test/"),
            },
        )
    };
    assert_eq!(attempt().await.unwrap().status, 200);
    lab.set_faults(Faults {
        tls: TlsFault::UntrustedCa,
        ..Faults::default()
    });
    let e = attempt().await.err().unwrap();
    assert!(
        e.to_lowercase().replace(' ', "").contains("unknownissuer"),
        "{e}"
    );
    lab.set_faults(Faults {
        tls: TlsFault::Expired,
        ..Faults::default()
    });
    let e = attempt().await.err().unwrap();
    assert!(e.to_lowercase().contains("expired"), "{e}");
    // The chained NLB name is not covered by the certificate.
    lab.set_faults(Faults::default());
    let chain = "pgw-chain-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com";
    let e = call(
        &lab,
        Call {
            addr: eni(&lab, 0),
            sni: chain,
            req: get(chain, "/test/"),
        },
    )
    .await
    .err()
    .unwrap();
    let e = e.to_lowercase().replace(' ', "");
    assert!(e.contains("notvalidforname"), "{e}");
    lab.shutdown().await;
}

/// What a client sees when it connects with a short timeout.
async fn connect_outcome(addr: SocketAddr) -> &'static str {
    match timeout(Duration::from_millis(400), TcpStream::connect(addr)).await {
        Err(_) => "timeout",
        Ok(Ok(_)) => "connected",
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
        Ok(Err(_)) => "error",
    }
}

#[tokio::test]
async fn security_group_drops_syns_per_az() {
    let mut s = scenario();
    s.faults.sg_drop = vec!["us-east-1b".into()];
    let lab = Lab::start(&s).await.unwrap();
    assert_eq!(connect_outcome(eni(&lab, 0)).await, "connected");
    assert_eq!(connect_outcome(eni(&lab, 1)).await, "timeout");
    assert_eq!(connect_outcome(eni(&lab, 1)).await, "timeout");
    lab.set_faults(Faults {
        sg_drop: vec!["us-east-1a".into()],
        ..Faults::default()
    });
    assert_eq!(connect_outcome(eni(&lab, 0)).await, "timeout");
    assert_eq!(via_private_dns_on(&lab, 1).await, 200);
    lab.set_faults(Faults::default());
    assert_eq!(via_private_dns_on(&lab, 0).await, 200);
    lab.shutdown().await;
}

async fn via_private_dns_on(lab: &Lab, i: usize) -> u16 {
    call(
        lab,
        Call {
            addr: eni(lab, i),
            sni: API_HOST,
            req: get(API_HOST, "/test/"),
        },
    )
    .await
    .unwrap()
    .status
}

#[tokio::test]
async fn labs_run_side_by_side_and_release_their_addresses() {
    let (a, b) = (
        Lab::start(&scenario()).await.unwrap(),
        Lab::start(&scenario()).await.unwrap(),
    );
    assert_ne!(a.resolver().ip(), b.resolver().ip());
    let ca = a.ca_file().to_path_buf();
    assert!(ca.is_file());
    let addr = eni(&a, 0);
    let args = a.doctor_args();
    assert_eq!(&args[..2], ["--api-id", "3eqr0osoc3"]);
    assert!(args.contains(&"--no-aws".to_string()));
    assert!(args
        .windows(2)
        .any(|w| w[0] == "--ca-file" && w[1] == ca.display().to_string()));
    a.shutdown().await;
    assert!(!ca.exists());
    assert_eq!(connect_outcome(addr).await, "refused");
    drop(b);
}

#[test]
fn every_scenario_file_loads() {
    let list = Scenario::load_dir(&default_scenarios_dir()).unwrap();
    let names: Vec<&str> = list.iter().map(|(_, s)| s.name.as_str()).collect();
    for want in [
        "healthy_path_a",
        "healthy_path_b",
        "healthy_vpce_host",
        "healthy_alias",
        "dns_nxdomain",
        "dns_servfail",
        "dns_timeout",
        "dns_private_dns_disabled",
        "alias_not_associated",
        "sg_drop_all",
        "sg_drop_one_az",
        "tls_name_mismatch",
        "tls_untrusted_ca",
        "tls_ca_not_given",
        "host_header_stripped",
        "stage_not_found",
        "missing_root_method",
        "missing_proxy_method",
        "policy_other_vpce",
        "policy_missing",
        "iam_auth",
        "integration_timeout",
        "integration_network_error",
        "integration_blackhole_path_b",
        "vpc_link_failed",
        "backend_5xx",
        "throttled",
    ] {
        assert!(names.contains(&want), "missing scenario {want}");
    }
    for (path, s) in &list {
        assert_eq!(path.file_stem().unwrap().to_str(), Some(s.name.as_str()));
        assert!(!s.description.is_empty());
        assert_eq!(
            s.expect.exit_code,
            if s.expect.verdict == "healthy" { 0 } else { 1 }
        );
    }
    let (_, s) = Scenario::find("iam_auth", &default_scenarios_dir()).unwrap();
    assert_eq!(s.faults.authorization, Authorization::AwsIam);
    assert!(s.doctor.credentials);
}

/// Every scenario starts, and its doctor argv points at the lab.
#[tokio::test]
async fn every_scenario_starts() {
    for (_, s) in Scenario::load_dir(&default_scenarios_dir()).unwrap() {
        let lab = Lab::start(&s).await.unwrap();
        let args = lab.doctor_args();
        let at = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].clone())
        };
        assert_eq!(at("--resolver"), Some(lab.resolver().to_string()));
        assert_eq!(
            at("--invoke-via").as_deref(),
            Some(s.doctor.invoke_via.as_str())
        );
        assert!(lab.describe().contains("pgw-doctor --api-id 3eqr0osoc3"));
        lab.shutdown().await;
    }
}

/// The scenario runner starts labs inside spawned tasks of a multi-thread runtime.
#[test]
fn lab_and_its_futures_are_send() {
    fn check<T: Send + Sync>(_: &T) {}
    fn check_future<F: std::future::Future + Send>(_: &F) {}
    let s = scenario();
    check_future(&Lab::start(&s));
    check(&s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(&s)).unwrap();
    check(&lab);
    check_future(&lab.shutdown());
}
