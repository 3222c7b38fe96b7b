//! The AWS control plane (moto): what the doctor reads against the data plane, per fault, and denied operations with AWS's own error.

use super::*;

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
    let r = via_private_dns(&lab, "/test/orders").await;
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
    let r = via_private_dns(&lab, "/test/orders").await;
    assert_gateway_error(&r, 403, "ForbiddenException", r#"{"message":"Forbidden"}"#);
    // Back to a private API: the stage's old policy denies, and then the failed link answers.
    lab.set_faults(Faults {
        api_type: ApiType::Private,
        ..faults.clone()
    });
    let r = via_private_dns(&lab, "/test/orders").await;
    assert_eq!(r.error_type(), Some("AccessDeniedException"));
    assert!(r.body.ends_with("with an explicit deny\"}"), "{}", r.body);
    lab.set_faults(Faults {
        api_type: ApiType::Private,
        policy_not_redeployed: false,
        ..faults
    });
    let r = via_private_dns(&lab, "/test/orders").await;
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
    let tg = "TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A111122223333%3Atargetgroup%2Fx%2F0123456789abcdef";
    let target_health = format!("Action=DescribeTargetHealth&Version=2015-12-01&{tg}");
    // (service, method, path, form, what the 403 body holds): each service's own AccessDenied shape.
    let denied: [(&str, &str, &str, &str, Vec<String>); 3] = [
        (
            "elasticloadbalancing",
            "POST",
            "/",
            &target_health,
            vec![
                "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n".into(),
                format!("<Message>{principal}: elasticloadbalancing:DescribeTargetHealth because no identity-based policy allows the elasticloadbalancing:DescribeTargetHealth action</Message>"),
            ],
        ),
        (
            "ec2",
            "POST",
            "/",
            "Action=DescribeVpcEndpoints&Version=2016-11-15",
            vec![
                format!("<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. {principal}: ec2:DescribeVpcEndpoints because"),
                "</Message></Error></Errors><RequestID>".into(),
            ],
        ),
        (
            "apigateway",
            "GET",
            "/restapis/3eqr0osoc3/stages/test",
            "",
            vec![format!("{{\"Message\": \"{principal}: apigateway:GET on resource: arn:aws:apigateway:us-east-1::/restapis/3eqr0osoc3/stages/test because no identity-based policy allows the apigateway:GET action\"}}")],
        ),
    ];
    for (service, method, path, form, holds) in &denied {
        let r = aws_call(&lab, service, method, path, form).await;
        assert_eq!(r.status, 403, "{service} {form}: {}", r.body);
        for h in holds {
            assert!(
                r.body.contains(h.as_str()),
                "{service}: {h:?} not in {}",
                r.body
            );
        }
        match *service {
            "elasticloadbalancing" => {
                let id = r.headers["x-amzn-RequestId"].to_str().unwrap();
                assert!(
                    r.body.contains(&format!("<RequestId>{id}</RequestId>")),
                    "{}",
                    r.body
                );
            }
            "ec2" => assert!(r.body.ends_with("</RequestID></Response>"), "{}", r.body),
            _ => assert_eq!(r.error_type(), Some("AccessDeniedException")),
        }
    }
    // (service, method, path, form, what the 200 body holds): the operations not denied answer.
    let allowed = [
        (
            "elasticloadbalancing",
            "POST",
            "/",
            "Action=DescribeLoadBalancers&Version=2015-12-01",
            "nlb-a-internal",
        ),
        (
            "ec2",
            "POST",
            "/",
            "Action=DescribeVpcs&Version=2016-11-15",
            "<vpcSet>",
        ),
        (
            "apigateway",
            "GET",
            "/restapis/3eqr0osoc3",
            "",
            "3eqr0osoc3",
        ),
        (
            "apigateway",
            "GET",
            "/restapis/3eqr0osoc3/stages",
            "",
            "test",
        ),
    ];
    for (service, method, path, form, holds) in allowed {
        let r = aws_call(&lab, service, method, path, form).await;
        assert_eq!(r.status, 200, "{service} {path} {form}: {}", r.body);
        assert!(
            r.body.contains(holds),
            "{service}: {holds:?} not in {}",
            r.body
        );
    }

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
