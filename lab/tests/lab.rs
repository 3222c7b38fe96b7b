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
        control_plane: ControlPlaneSpec::default(),
        doctor: DoctorSpec::default(),
        expect: Expect {
            verdict: "healthy".into(),
            exit_code: 0,
            first_finding: None,
            confidence: None,
            findings: None,
            not_checked: Vec::new(),
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
        "healthy_cp_path_a",
        "healthy_cp_path_b",
        "cp_targets_unhealthy",
        "cp_ip_drift",
        "cp_vpc_link_failed",
        "cp_vpc_link_pending",
        "cp_connection_pending",
        "cp_connection_rejected",
        "cp_policy_other_vpce",
        "cp_policy_not_redeployed",
        "cp_root_not_deployed",
        "cp_private_dns_off",
        "cp_vpc_dns_off",
        "cp_public_api",
        "cp_hybrid_timeout",
        "cp_one_call_denied",
        "cp_ec2_call_denied",
        "cp_stage_discovered",
        "cp_listeners_denied",
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

/// Every scenario starts, and its doctor argv points at the lab (and at its control plane).
#[tokio::test]
async fn every_scenario_starts() {
    let mut moto = Vec::new();
    for (_, s) in Scenario::load_dir(&default_scenarios_dir()).unwrap() {
        if s.control_plane.enabled {
            moto.push(s);
        } else {
            check_start(&s).await;
        }
    }
    // Each of these starts a moto server: three side by side, not to starve the other tests.
    for chunk in moto.chunks(3) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|s| tokio::spawn(async move { check_start(&s).await }))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
}

async fn check_start(s: &Scenario) {
    let lab = Lab::start(s)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    let args = lab.doctor_args();
    let at = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert_eq!(at("--resolver"), Some(lab.resolver().to_string()));
    let stage = (!s.doctor.discover_stage).then(|| s.topology.stage.clone());
    assert_eq!(at("--stage"), stage, "{}", s.name);
    assert_eq!(
        at("--invoke-via").as_deref(),
        Some(s.doctor.invoke_via.as_str())
    );
    assert!(lab.describe().contains("pgw-doctor --api-id 3eqr0osoc3"));
    if s.control_plane.enabled {
        assert!(!args.contains(&"--no-aws".to_string()), "{}", s.name);
        assert_eq!(at("--aws-endpoint-url"), lab.aws_endpoint_url());
        assert_eq!(
            at("--role").as_deref(),
            Some("014770000000=arn:aws:iam::014770000000:role/pgw-read")
        );
        let env = lab.aws_env();
        assert!(env.contains(&("AWS_REGION".into(), "us-east-1".into())));
        assert!(env.iter().any(|(k, _)| k == "AWS_ACCESS_KEY_ID"));
    } else {
        assert!(args.contains(&"--no-aws".to_string()), "{}", s.name);
        assert_eq!(lab.aws_endpoint_url(), None);
    }
    lab.shutdown().await;
}

// ---------- AWS control plane ----------

/// What `tests/cp_read.py` (boto3, the doctor's calls) reads from the lab's moto server.
async fn read_control_plane(lab: &Lab) -> serde_json::Value {
    let python = moto_venv().join("bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cp_read.py");
    let t = lab.topology();
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .arg(lab.aws_endpoint_url().expect("control plane"))
        .args([&t.api_id, &t.stage, &t.region]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cp_scenario(faults: Faults, path: IntegrationPath) -> Scenario {
    let mut s = scenario();
    s.control_plane.enabled = true;
    s.topology.path = path;
    // The default integration timeout (2 s): the tests run beside a dozen moto servers starting.
    s.faults = faults;
    s
}

fn ip(lab: &Lab, host: u8) -> String {
    let IpAddr::V4(v4) = lab.resolver().ip() else {
        unreachable!()
    };
    let o = v4.octets();
    format!("{}.{}.{}.{host}", o[0], o[1], o[2])
}

fn the_nlb(cp: &serde_json::Value) -> &serde_json::Value {
    let nlbs = cp["nlbs"].as_object().unwrap();
    assert_eq!(nlbs.len(), 1, "{nlbs:?}");
    nlbs.values().next().unwrap()
}

fn target_summary(nlb: &serde_json::Value) -> Vec<(String, String, String, String)> {
    nlb["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
            (s("id"), s("az"), s("state"), s("reason"))
        })
        .collect()
}

async fn healthy_control_plane() {
    let lab = Lab::start(&cp_scenario(Faults::default(), IntegrationPath::A))
        .await
        .unwrap();
    let cp = read_control_plane(&lab).await;
    assert_eq!(cp["api"]["id"], "3eqr0osoc3");
    assert_eq!(
        cp["api"]["endpointConfiguration"]["types"],
        serde_json::json!(["PRIVATE"])
    );
    assert!(cp["api"]["policy"]
        .as_str()
        .unwrap()
        .contains(r#"\"aws:SourceVpce\":\"vpce-0a1b2c3d4e5f60001\""#));
    for path in ["/", "/{proxy+}"] {
        let m = &cp["resources"][path]["ANY"];
        assert_eq!(m["connectionType"], "VPC_LINK");
        assert_eq!(m["connectionId"], "a1b2c3");
        assert_eq!(m["timeoutInMillis"], 2000);
        assert_eq!(cp["api_summary"][path]["ANY"]["authorizationType"], "NONE");
    }
    let link = &cp["vpc_links"]["a1b2c3"];
    assert_eq!(link["status"], "AVAILABLE");
    let arn = link["targetArns"][0].as_str().unwrap();
    assert!(arn.contains(":loadbalancer/net/nlb-a-internal/"), "{arn}");
    let nlb = &cp["nlbs"][arn];
    assert_eq!(nlb["type"], "network");
    assert_eq!(nlb["scheme"], "internal");
    let pl: Vec<_> = target_summary(nlb);
    assert_eq!(
        pl,
        [
            (
                ip(&lab, 111),
                "us-east-1a".into(),
                "healthy".into(),
                "-".into()
            ),
            (
                ip(&lab, 112),
                "us-east-1b".into(),
                "healthy".into(),
                "-".into()
            ),
        ]
    );
    let ep = &cp["execute_api_endpoints"][0];
    assert_eq!(ep["id"], "vpce-0a1b2c3d4e5f60001");
    assert_eq!(ep["private_dns"], true);
    assert_eq!(ep["state"], "available");
    let enis: Vec<(String, String)> = ep["enis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    let lab_enis: Vec<(String, String)> = lab
        .eni_addrs()
        .into_iter()
        .map(|(az, a)| (az, a.to_string()))
        .collect();
    assert_eq!(enis, lab_enis);
    assert_eq!(ep["enis"][0][2], "vpc_endpoint");
    // The diagnosing host's subnet is a CIDR of the VPC, and the security group admits it.
    assert!(cp["sg_ingress"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(["tcp", 443, 443, "127.0.0.0/28"])));
    assert!(cp["vpc_cidrs"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("127.0.0.0/28")));
    assert_eq!(cp["vpc_dns"], serde_json::json!([true, true]));
    let svc = &cp["service_endpoints"][0];
    assert_eq!(svc["vpc"], ep["vpc"]);
    assert_eq!(svc["state"], "available");
    assert_eq!(
        cp["provider_connections"][svc["id"].as_str().unwrap()],
        "available"
    );
    assert_eq!(via_private_dns(&lab, "/test/").await.status, 200);
    // set_faults re-seeds moto: both planes switch together.
    lab.set_faults(Faults {
        vpc_link: VpcLinkStatus::Pending,
        ..Faults::default()
    });
    let cp = read_control_plane(&lab).await;
    assert_eq!(cp["vpc_links"]["a1b2c3"]["status"], "PENDING");
    assert_eq!(
        cp["execute_api_endpoints"][0]["id"],
        "vpce-0a1b2c3d4e5f60001"
    );
    assert_eq!(via_private_dns(&lab, "/test/").await.status, 500);
    lab.shutdown().await;
}

async fn drifted_and_undeployed() {
    let faults = Faults {
        targets: TargetsFault::IpDrift,
        root_method_not_deployed: true,
        dns: DnsFault::Public,
        ..Faults::default()
    };
    let lab = Lab::start(&cp_scenario(faults, IntegrationPath::A))
        .await
        .unwrap();
    let cp = read_control_plane(&lab).await;
    assert!(cp["resources"]["/"]["ANY"].is_object());
    assert!(cp["api_summary"]["/"].is_null(), "{}", cp["api_summary"]);
    assert!(cp["api_summary"]["/{proxy+}"]["ANY"].is_object());
    let targets = target_summary(the_nlb(&cp));
    let timeout = ("unhealthy".to_string(), "Target.Timeout".to_string());
    assert_eq!(targets[0].0, ip(&lab, 113));
    assert_eq!(targets[1].0, ip(&lab, 114));
    assert!(targets
        .iter()
        .all(|t| (t.2.clone(), t.3.clone()) == timeout));
    let svc_enis = &cp["service_endpoints"][0]["enis"];
    assert_eq!(svc_enis[0][1].as_str().unwrap(), ip(&lab, 111));
    assert_eq!(cp["execute_api_endpoints"][0]["private_dns"], false);
    // The data plane agrees: / is not deployed, the stale targets drop SYNs.
    let r = via_private_dns(&lab, "/test/").await;
    assert_eq!(r.error_type(), Some("MissingAuthenticationTokenException"));
    let r = via_private_dns(&lab, "/test/orders").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (504, r#"{"message": "Endpoint request timed out"}"#)
    );
    let m = ask_udp(lab.resolver(), API_HOST, RecordType::A)
        .await
        .unwrap();
    assert_eq!(a_records(&m), [ip(&lab, 200).parse::<IpAddr>().unwrap()]);
    lab.shutdown().await;
}

async fn hybrid_timeout_and_provider_side() {
    let faults = Faults {
        hybrid_target: HybridFault::Timeout,
        endpoint_connection: ConnectionState::Rejected,
        vpc_dns_support: false,
        ..Faults::default()
    };
    let lab = Lab::start(&cp_scenario(faults, IntegrationPath::B))
        .await
        .unwrap();
    let cp = read_control_plane(&lab).await;
    assert!(cp["vpc_links"]["d4e5f6"]["targetArns"][0]
        .as_str()
        .unwrap()
        .contains("/net/nlb-b-internal/"));
    assert_eq!(
        target_summary(the_nlb(&cp)),
        [(
            ip(&lab, 141),
            "all".into(),
            "unhealthy".into(),
            "Target.Timeout".into()
        )]
    );
    assert_eq!(cp["vpc_dns"], serde_json::json!([false, true]));
    assert_eq!(
        cp["provider_connections"]["vpce-0a1b2c3d4e5f60011"],
        "rejected"
    );
    assert_eq!(cp["service_endpoints"][0]["state"], "rejected");
    let r = via_private_dns(&lab, "/test/x").await;
    assert_eq!(r.status, 504);
    let m = ask_udp(lab.resolver(), API_HOST, RecordType::A)
        .await
        .unwrap();
    assert_eq!(a_records(&m), [ip(&lab, 200).parse::<IpAddr>().unwrap()]);
    lab.shutdown().await;
}

async fn public_api_with_failed_link() {
    let faults = Faults {
        vpc_link: VpcLinkStatus::Failed,
        vpc_link_status_message: Some("NLB ARN is malformed".into()),
        api_type: ApiType::Regional,
        policy_not_redeployed: true,
        ..Faults::default()
    };
    let lab = Lab::start(&cp_scenario(faults.clone(), IntegrationPath::A))
        .await
        .unwrap();
    let cp = read_control_plane(&lab).await;
    assert_eq!(
        cp["api"]["endpointConfiguration"],
        serde_json::json!({"types": ["REGIONAL"]})
    );
    let link = &cp["vpc_links"]["a1b2c3"];
    assert_eq!(
        (link["status"].as_str(), link["statusMessage"].as_str()),
        (Some("FAILED"), Some("NLB ARN is malformed"))
    );
    // The current policy allows the endpoint (it was fixed, not redeployed).
    assert!(cp["api"]["policy"]
        .as_str()
        .unwrap()
        .contains("vpce-0a1b2c3d4e5f60001"));
    let r = via_private_dns(&lab, "/test/x").await;
    assert_gateway_error(&r, 403, "ForbiddenException", r#"{"message":"Forbidden"}"#);
    // Back to a private API: the stage's old policy denies, and then the failed link answers.
    lab.set_faults(Faults {
        api_type: ApiType::Private,
        ..faults.clone()
    });
    let r = via_private_dns(&lab, "/test/x").await;
    assert_eq!(r.error_type(), Some("AccessDeniedException"));
    assert!(r.body.ends_with("with an explicit deny\"}"), "{}", r.body);
    lab.set_faults(Faults {
        api_type: ApiType::Private,
        policy_not_redeployed: false,
        ..faults
    });
    let r = via_private_dns(&lab, "/test/x").await;
    assert_gateway_error(
        &r,
        500,
        "InternalServerErrorException",
        r#"{"message": "Internal server error"}"#,
    );
    lab.shutdown().await;
}

/// moto seeded with the lab's ids and addresses, faults shown consistently on both planes.
#[tokio::test]
async fn control_plane_matches_the_data_plane() {
    tokio::join!(
        healthy_control_plane(),
        drifted_and_undeployed(),
        hybrid_timeout_and_provider_side(),
        public_api_with_failed_link(),
    );
}

/// A plain-HTTP AWS API call to the lab's moto server, `service` named by the credential scope
/// as the SDKs sign it (moto does not check signatures).
async fn aws_call(lab: &Lab, service: &str, method: &str, path: &str, form: &str) -> Reply {
    let addr: SocketAddr = lab
        .aws_endpoint_url()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("x-amz-date", "20250101T000000Z")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00"
            ),
        );
    if !form.is_empty() {
        req = req.header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(form.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `faults.aws_denied`: exactly the named operations answer the service's own AccessDenied
/// error, the rest of the same service answers, and set_faults lifts the denial.
#[tokio::test]
async fn denied_operations_answer_access_denied() {
    let faults = Faults {
        aws_denied: vec![
            "elasticloadbalancing:DescribeTargetHealth".into(),
            "ec2:DescribeVpcEndpoints".into(),
            "apigateway:GetStage".into(),
        ],
        ..Faults::default()
    };
    let lab = Lab::start(&cp_scenario(faults, IntegrationPath::A))
        .await
        .unwrap();
    let principal = "User: arn:aws:iam::111122223333:user/pgw-lab is not authorized to perform";

    // ELBv2 (query protocol): 403 <ErrorResponse> AccessDenied.
    let r = aws_call(
        &lab,
        "elasticloadbalancing",
        "POST",
        "/",
        "Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A111122223333%3Atargetgroup%2Fx%2F0123456789abcdef",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.starts_with(
        "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n"
    ), "{}", r.body);
    assert!(r.body.contains(&format!(
        "<Message>{principal}: elasticloadbalancing:DescribeTargetHealth because no identity-based policy allows the elasticloadbalancing:DescribeTargetHealth action</Message>"
    )), "{}", r.body);
    let request_id = r.headers["x-amzn-RequestId"].to_str().unwrap();
    assert!(
        r.body
            .contains(&format!("<RequestId>{request_id}</RequestId>")),
        "{}",
        r.body
    );
    let r = aws_call(
        &lab,
        "elasticloadbalancing",
        "POST",
        "/",
        "Action=DescribeLoadBalancers&Version=2015-12-01",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("nlb-a-internal"), "{}", r.body);

    // EC2: 403 <Response><Errors> UnauthorizedOperation, RequestID in the body.
    let r = aws_call(
        &lab,
        "ec2",
        "POST",
        "/",
        "Action=DescribeVpcEndpoints&Version=2016-11-15",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains(&format!(
        "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. {principal}: ec2:DescribeVpcEndpoints because"
    )), "{}", r.body);
    assert!(
        r.body.contains("</Message></Error></Errors><RequestID>"),
        "{}",
        r.body
    );
    assert!(r.body.ends_with("</RequestID></Response>"), "{}", r.body);
    let r = aws_call(
        &lab,
        "ec2",
        "POST",
        "/",
        "Action=DescribeVpcs&Version=2016-11-15",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // API Gateway (REST JSON): 403 AccessDeniedException for GetStage only.
    let r = aws_call(
        &lab,
        "apigateway",
        "GET",
        "/restapis/3eqr0osoc3/stages/test",
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error_type(), Some("AccessDeniedException"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["Message"],
        format!("{principal}: apigateway:GET on resource: arn:aws:apigateway:us-east-1::/restapis/3eqr0osoc3/stages/test because no identity-based policy allows the apigateway:GET action")
    );
    let r = aws_call(&lab, "apigateway", "GET", "/restapis/3eqr0osoc3", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = aws_call(&lab, "apigateway", "GET", "/restapis/3eqr0osoc3/stages", "").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Lifted at runtime.
    lab.set_faults(Faults::default());
    let r = aws_call(
        &lab,
        "ec2",
        "POST",
        "/",
        "Action=DescribeVpcEndpoints&Version=2016-11-15",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("vpce-0a1b2c3d4e5f60001"), "{}", r.body);
    lab.shutdown().await;
}

/// The moto server ends with the lab.
#[tokio::test]
async fn control_plane_stops_with_the_lab() {
    let lab = Lab::start(&cp_scenario(Faults::default(), IntegrationPath::A))
        .await
        .unwrap();
    let url = lab.aws_endpoint_url().unwrap();
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    assert!(TcpStream::connect(addr).await.is_ok());
    drop(lab);
    let mut gone = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "moto still answers on {url}");
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
