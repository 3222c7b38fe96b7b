//! Through the front door: both backends, every API Gateway error shape, AWS_IAM, TLS faults, SYN drops, labs side by side.

use super::*;

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
                req: get(API_HOST, "/test/orders"),
            },
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let mut req = get(VPCE_HOST, "/test/orders");
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
                req: get(VPCE_HOST, "/test/orders"),
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
    assert_eq!(via_private_dns(&lab, "/test/orders").await.status, 200);
    set(Faults {
        proxy_method: false,
        ..ok()
    });
    let r = via_private_dns(&lab, "/test/orders").await;
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
    let r = send(get(API_HOST, "/test/orders")).await.unwrap();
    assert_gateway_error(
        &r,
        403,
        "MissingAuthenticationTokenException",
        MISSING_TOKEN,
    );
    let r = send(signed(
        "/test/orders",
        LAB_ACCESS_KEY_ID,
        LAB_SECRET_ACCESS_KEY,
    ))
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(signed("/test/orders", LAB_ACCESS_KEY_ID, "wrong"))
        .await
        .unwrap();
    let mismatch = r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#;
    assert_gateway_error(&r, 403, "InvalidSignatureException", mismatch);
    let r = send(signed("/test/orders", "AKIAUNKNOWNKEY000000", "x"))
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
