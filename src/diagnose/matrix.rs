//! The consistency matrix: every control-plane cause next to a data plane that contradicts it, and
//! every data-plane guess next to a control plane that refutes it. Facts only, no network.

use std::net::SocketAddr;

use super::testutil::*;
use crate::facts::control::ControlFacts;
use crate::facts::InvokeVia;
use crate::facts::{ConnectOutcome, Facts, HttpOutcome};
use crate::finding::{Confidence, Finding, FindingId, CATALOG};

fn cp(f: &mut Facts) -> &mut ControlFacts {
    f.control.as_mut().expect("control facts")
}

fn api(f: &mut Facts) -> &mut crate::facts::control::RestApi {
    cp(f).api.as_mut().expect("api")
}

fn targets(f: &mut Facts, state: &str, reason: &str) {
    for t in &mut cp(f).nlbs[0].target_groups[0].targets {
        t.state = state.into();
        t.reason = Some(reason.into());
    }
}

/// (control-plane id, what makes the control plane say it) — over a data plane where every DNS
/// answer, connect, handshake and invoke worked.
type Case = (FindingId, fn(&mut Facts));

const CONTROL_CASES: &[Case] = &[
    (FindingId::VpceNotAvailable, |f| {
        cp(f).execute_api_endpoints[0].state = "failed".into()
    }),
    (FindingId::DnsVpcDnsAttributesDisabled, |f| {
        cp(f).vpc_dns.insert("vpc-1".into(), (false, true));
    }),
    (FindingId::DnsPrivateDnsDisabled, |f| {
        cp(f).execute_api_endpoints[0].private_dns_enabled = false
    }),
    (FindingId::VpceSgBlocks443, |f| {
        cp(f).sg_rules.get_mut("sg-1").unwrap()[0].cidr = Some("10.0.9.0/24".into())
    }),
    (FindingId::VpceSgBlocks443, |f| {
        // pgw in a container: its local address is in no CIDR of the VPC.
        for e in &mut f.enis {
            e.source = Some("172.17.0.2".parse().unwrap());
        }
    }),
    (FindingId::ApiNotPrivateOrWrongApi, |f| {
        cp(f).api = None;
        cp(f).api_not_found = true;
    }),
    (FindingId::ApiNotPrivateOrWrongApi, |f| {
        api(f).endpoint_types = vec!["REGIONAL".into()];
        f.target.invoke_via = InvokeVia::VpceHost;
        cp(f).execute_api_endpoints[0].private_dns_enabled = false;
    }),
    (FindingId::PublicApiBlockedByPrivateDns, |f| {
        api(f).endpoint_types = vec!["REGIONAL".into()]
    }),
    (FindingId::DnsVpceAliasNotAssociated, |f| {
        f.target.invoke_via = InvokeVia::Alias;
        api(f).vpc_endpoint_ids.clear();
    }),
    (FindingId::StageNotFound, |f| {
        cp(f).stage = None;
        cp(f).calls.push(crate::facts::control::AwsCall {
            operation: crate::facts::control::Operation::GetStage,
            ok: false,
            error: Some("NotFoundException: stage not found".into()),
            duration: Default::default(),
        });
    }),
    (FindingId::ResourcePolicyDeniesVpce, |f| {
        let p = api(f).policy.clone().unwrap();
        api(f).policy = Some(p.replace("vpce-0a1b2c3d4e5f60001", "vpce-0999999999999999f"));
    }),
    (FindingId::ResourcePolicyMissing, |f| api(f).policy = None),
    (FindingId::MissingRootAnyMethod, |f| {
        cp(f).resources.as_mut().unwrap()[0].methods.clear()
    }),
    (FindingId::MissingProxyMethod, |f| {
        cp(f).resources.as_mut().unwrap()[1].methods.clear()
    }),
    (FindingId::MethodNotDeployed, |f| {
        cp(f).deployed.as_mut().unwrap().remove("/{proxy+}");
    }),
    (FindingId::IamAuthRequired, |f| {
        for r in cp(f).resources.as_mut().unwrap() {
            r.methods[0].authorization_type = Some("AWS_IAM".into());
        }
    }),
    (FindingId::VpcLinkFailed, |f| {
        cp(f).vpc_links[0].status = "FAILED".into()
    }),
    (FindingId::VpcLinkPending, |f| {
        cp(f).vpc_links[0].status = "PENDING".into()
    }),
    (FindingId::NlbNoHealthyTargets, |f| {
        targets(f, "unhealthy", "Target.FailedHealthChecks")
    }),
    (FindingId::NlbTargetIpDrift, |f| {
        targets(f, "unhealthy", "Target.Timeout");
        cp(f).service_endpoints[0].enis[0].1 = "10.0.1.61".parse().unwrap();
    }),
    (FindingId::NlbTargetAzNotEnabled, |f| {
        targets(f, "unused", "Target.NotInUse")
    }),
    (FindingId::EndpointConnectionPendingAcceptance, |f| {
        cp(f).service_endpoints[0].state = "pendingAcceptance".into()
    }),
    (FindingId::EndpointServicePermissionMissing, |f| {
        let svc = "vpce-svc-0123456789abcdef0";
        cp(f).service_endpoints[0].state = "rejected".into();
        cp(f).service_endpoints[0].service_name =
            Some(format!("com.amazonaws.vpce.us-east-1.{svc}"));
        cp(f)
            .service_principals
            .insert(svc.into(), vec!["arn:aws:iam::444455556666:root".into()]);
    }),
    (FindingId::EndpointConnectionRejectedOrExpired, |f| {
        cp(f)
            .provider_connections
            .insert("vpce-0ffff0000aaaa1111".into(), "rejected".into());
    }),
    (FindingId::HybridTargetUnreachable, |f| {
        // The routes were not read: which of route and far side is unknown.
        hybrid_target(f, "Target.Timeout");
    }),
    (FindingId::HybridTargetUnreachable, |f| {
        // Refused: the target was reached.
        hybrid_target(f, "Target.FailedHealthChecks");
        routes(f, Some("active"));
    }),
    (FindingId::HybridRouteMissing, |f| {
        hybrid_target(f, "Target.Timeout");
        routes(f, None);
    }),
    (FindingId::HybridTargetRegistrationInvalid, |f| {
        // A public address registered as a target in another network.
        hybrid_target(f, "Target.Timeout");
        cp(f).nlbs[0].target_groups[0].targets[0].id = "203.0.113.41".into();
        routes(f, Some("active"));
    }),
    (FindingId::HybridTargetRegistrationInvalid, |f| {
        // An address outside the VPC registered with an Availability Zone instead of `all`.
        hybrid_target(f, "Target.Timeout");
        for t in &mut cp(f).nlbs[0].target_groups[0].targets {
            t.az = Some("us-east-1a".into());
        }
    }),
    (FindingId::HybridRouteMissing, |f| {
        hybrid_target(f, "Target.Timeout");
        routes(f, Some("blackhole"));
    }),
    (FindingId::HybridFirewallBlocksHealthcheck, |f| {
        hybrid_target(f, "Target.Timeout");
        routes(f, Some("active"));
    }),
    (FindingId::DefaultExecuteApiEndpointDisabled, |f| {
        api(f).disable_execute_api_endpoint = true;
    }),
    (FindingId::StrictAccessModeSniMismatch, |f| {
        api(f).endpoint_access_mode = Some("STRICT".into());
        f.target.invoke_via = InvokeVia::VpceHost;
    }),
    (FindingId::VpceEndpointPolicyDenies, |f| {
        // The endpoint's policy allows another API only.
        cp(f).execute_api_endpoints[0].policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:111122223333:otherapi01/*"}]}"#.into(),
        );
    }),
    (FindingId::CustomDomainNotAssociated, |f| {
        custom_domain(f).associations = Some(vec![]);
    }),
    (FindingId::CustomDomainNotAvailable, |f| {
        custom_domain(f).domain.as_mut().unwrap().status = Some("PENDING".into());
    }),
    (FindingId::CustomDomainPolicyDenies, |f| {
        custom_domain(f).domain.as_mut().unwrap().policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-0other"}}}]}"#.into(),
        );
    }),
    (FindingId::CustomDomainBasePathUnmapped, |f| {
        custom_domain(f).mappings.as_mut().unwrap()[0].base_path = "v2".into();
    }),
    (FindingId::ClientTlsVersionRejected, |f| {
        // A TLS 1.3-only policy, a client that offers TLS 1.2 only.
        api(f).security_policy = Some("SecurityPolicy_TLS13_1_3_2025_09".into());
        f.target.tls_versions = vec![crate::facts::TlsVersion::Tls12];
    }),
    (FindingId::ClientPathToVpceUnroutable, |f| {
        // This host's subnet has no route to the endpoint's VPC.
        client_elsewhere(f, None, Some("active"));
    }),
    (FindingId::ClientPathToVpceUnroutable, |f| {
        // The way back from the ENIs' subnets leads to a transit gateway attachment that is gone.
        client_elsewhere(f, Some("active"), Some("blackhole"));
    }),
    (FindingId::ClientSgOrNaclBlocksEgress, |f| {
        // This host's group has no outbound rule at all.
        client(f, vec![]);
    }),
    (FindingId::ClientSgOrNaclBlocksEgress, |f| {
        // Its group allows everything out; its subnet's ACL denies 443 out.
        client(f, vec![egress_all()]);
        let deny_443 = AclEntry {
            rule_number: 100,
            egress: true,
            protocol: "6".into(),
            ports: Some((443, 443)),
            cidr: Some("0.0.0.0/0".into()),
            allow: false,
        };
        let acl = |id: &str, default: bool, subnets: Vec<String>, mut entries: Vec<AclEntry>| {
            entries.push(allow_all(200, true));
            entries.push(allow_all(200, false));
            NetworkAcl {
                id: id.into(),
                default,
                subnets,
                entries,
            }
        };
        cp(f).network_acls.insert(
            "vpc-1".into(),
            vec![
                acl("acl-default", true, vec![], vec![]),
                acl("acl-client", false, vec!["subnet-c".into()], vec![deny_443]),
            ],
        );
    }),
    (FindingId::TargetSgBlocksNlb, |f| {
        targets(f, "unhealthy", "Target.Timeout");
        cp(f).service_endpoints[0].security_groups = vec!["sg-svc".into()];
        cp(f).sg_rules.insert(
            "sg-svc".into(),
            vec![crate::facts::control::SgRule {
                egress: false,
                protocol: "tcp".into(),
                from_port: 443,
                to_port: 443,
                cidr: Some("192.168.0.0/16".into()),
                group_ref: None,
                prefix_list: None,
            }],
        );
        cp(f)
            .subnet_cidrs
            .insert("subnet-a".into(), "10.0.1.0/28".into());
        cp(f)
            .subnet_cidrs
            .insert("subnet-b".into(), "10.0.2.0/28".into());
    }),
    (FindingId::ProviderNlbUnhealthy, |f| {
        let mut nlb = cp(f).nlbs[0].clone();
        nlb.name = "eks-orders-nlb".into();
        for t in &mut nlb.target_groups[0].targets {
            t.state = "unhealthy".into();
            t.reason = Some("Target.FailedHealthChecks".into());
        }
        cp(f).service_endpoints[0].service_name =
            Some("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into());
        cp(f)
            .provider_nlbs
            .insert("vpce-svc-0123456789abcdef0".into(), vec![nlb]);
    }),
    (FindingId::VpcLinkEndpointServiceBroken, |f| {
        // Endpoint services read, none on the link's NLB.
        cp(f).endpoint_services = Some(vec![]);
    }),
    (FindingId::VpcLinkEndpointServiceBroken, |f| {
        let nlb = cp(f).nlbs[0].arn.clone();
        cp(f).endpoint_services = Some(vec![crate::facts::control::EndpointService {
            id: "vpce-svc-0link".into(),
            state: "Failed".into(),
            nlb_arns: vec![nlb],
        }]);
    }),
    (FindingId::ApiKeyRequired, |f| {
        for r in cp(f).resources.as_mut().unwrap() {
            r.methods[0].api_key_required = true;
        }
    }),
    (FindingId::VpcLinkStageVariableUnresolved, |f| {
        link_variable(f);
    }),
    (FindingId::VpcLinkStageVariableUnresolved, |f| {
        link_variable(f);
        let stage = cp(f).stage.as_mut().unwrap();
        stage.variables.insert("vpcLinkId".into(), "gone99".into());
        cp(f).missing_vpc_links.push("gone99".into());
    }),
    (FindingId::NlbSgBlocksVpclinkTraffic, |f| {
        cp(f).nlbs[0].security_groups = vec!["sg-nlb".into()];
        cp(f).nlbs[0].enforce_privatelink_sg = Some(true);
        // A rule for another port only.
        cp(f).sg_rules.insert(
            "sg-nlb".into(),
            vec![crate::facts::control::SgRule {
                egress: false,
                protocol: "tcp".into(),
                from_port: 8443,
                to_port: 8443,
                cidr: Some("10.0.0.0/16".into()),
                group_ref: None,
                prefix_list: None,
            }],
        );
    }),
    (FindingId::IntegrationSchemeMismatch, |f| {
        cp(f).nlbs[0].listeners.as_mut().unwrap()[0].protocol = "TLS".into();
    }),
    (FindingId::NlbListenerPortMismatch, |f| {
        for r in cp(f).resources.as_mut().unwrap() {
            for m in &mut r.methods {
                m.integration.as_mut().unwrap().uri =
                    Some("http://nlb-a.internal:8080/{proxy}".into());
            }
        }
    }),
];

use crate::facts::control::{AclEntry, NetworkAcl, SgRule};

/// This host's own interface in subnet `subnet-c` of the endpoint's VPC, its group `sg-me` with
/// `rules`.
fn client(f: &mut Facts, rules: Vec<SgRule>) {
    let ip = f.enis[0].source.expect("a source address");
    cp(f).client_enis.insert(
        "vpc-1".into(),
        crate::facts::control::ClientEni {
            id: "eni-0me".into(),
            ip,
            vpc_id: "vpc-1".into(),
            security_groups: vec!["sg-me".into()],
            subnet: Some("subnet-c".into()),
        },
    );
    cp(f).sg_rules.insert("sg-me".into(), rules);
}

fn egress_all() -> SgRule {
    SgRule {
        egress: true,
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        cidr: Some("0.0.0.0/0".into()),
        group_ref: None,
        prefix_list: None,
    }
}

fn allow_all(rule_number: i32, egress: bool) -> AclEntry {
    AclEntry {
        rule_number,
        egress,
        protocol: "-1".into(),
        ports: None,
        cidr: Some("0.0.0.0/0".into()),
        allow: true,
    }
}

/// The NLB VPC's main route table: the local route, and one towards 172.16.0.0/12 in `state`.
fn routes(f: &mut Facts, state: Option<&str>) {
    use crate::facts::control::{Route, RouteTable};
    let route = |d: &str, t: &str, s: &str| Route {
        destination: d.into(),
        target: t.into(),
        state: s.into(),
    };
    let mut table = RouteTable {
        id: "rtb-main".into(),
        main: true,
        subnets: vec![],
        routes: vec![route("10.0.0.0/16", "local", "active")],
    };
    if let Some(s) = state {
        table.routes.push(route("172.16.0.0/12", "tgw-0abc", s));
    }
    cp(f).route_tables.insert("vpc-1".into(), vec![table]);
}

/// This host at 10.1.0.7 in `vpc-2` (10.1.0.0/16), which the endpoint's security group admits:
/// `vpc-2`'s main route table leads to `vpc-1` in state `to` (none: no route), `vpc-1`'s main one
/// back in state `back`.
pub(super) fn client_elsewhere(f: &mut Facts, to: Option<&str>, back: Option<&str>) {
    use crate::facts::control::{Route, RouteTable};
    let me: std::net::IpAddr = "10.1.0.7".parse().unwrap();
    for e in &mut f.enis {
        e.source = Some(me);
    }
    let table = |id: &str, local: &str, other: &str, state: Option<&str>| {
        let route = |d: &str, t: &str, s: &str| Route {
            destination: d.into(),
            target: t.into(),
            state: s.into(),
        };
        let mut routes = vec![route(local, "local", "active")];
        routes.extend(state.map(|s| route(other, "tgw-0abc", s)));
        vec![RouteTable {
            id: id.into(),
            main: true,
            subnets: vec![],
            routes,
        }]
    };
    let cf = cp(f);
    cf.client_enis.insert(
        "vpc-2".into(),
        crate::facts::control::ClientEni {
            id: "eni-0me".into(),
            ip: me,
            vpc_id: "vpc-2".into(),
            security_groups: vec![],
            subnet: Some("subnet-x".into()),
        },
    );
    cf.route_tables.insert(
        "vpc-2".into(),
        table("rtb-client", "10.1.0.0/16", "10.0.0.0/16", to),
    );
    cf.route_tables.insert(
        "vpc-1".into(),
        table("rtb-endpoint", "10.0.0.0/16", "10.1.0.0/16", back),
    );
    cf.sg_rules.get_mut("sg-1").unwrap()[0].cidr = Some("10.0.0.0/15".into());
}

/// The call goes through the private custom domain `orders.internal.example.com` (base path
/// `v1`), healthy: this endpoint associated, the domain AVAILABLE, its policy allowing the
/// endpoint, `v1` mapped to the stage. SNI and Host are the domain.
fn custom_domain(f: &mut Facts) -> &mut crate::facts::control::DomainFacts {
    use crate::facts::control::{AccessAssociation, BasePathMapping, DomainFacts, DomainName};
    let name = "orders.internal.example.com";
    f.target.invoke_via = InvokeVia::CustomDomain;
    f.target.domain_name = Some(name.into());
    f.target.base_path = Some("v1".into());
    f.target.connect_name = name.into();
    f.target.host_header = name.into();
    for p in f.enis.iter_mut().flat_map(|e| e.paths.iter_mut()) {
        if let Some(t) = p.conn.tls.as_mut() {
            t.server_name = name.into();
            t.peer_names = vec![name.into()];
        }
    }
    let vpce = cp(f).execute_api_endpoints[0].id.clone();
    let arn = format!("arn:aws:apigateway:us-east-1:111122223333:/domainnames/{name}+abc123");
    cp(f).domain = Some(DomainFacts {
        associations: Some(vec![AccessAssociation {
            arn: format!("{arn}/association"),
            domain_name_arn: arn.clone(),
            source_type: "VPCE".into(),
            source: vpce.clone(),
        }]),
        domain: Some(DomainName {
            name: name.into(),
            id: Some("abc123".into()),
            arn: Some(arn),
            endpoint_types: vec!["PRIVATE".into()],
            status: Some("AVAILABLE".into()),
            policy: Some(format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{{"StringEquals":{{"aws:SourceVpce":"{vpce}"}}}}}}]}}"#
            )),
            ..Default::default()
        }),
        not_found: false,
        mappings: Some(vec![BasePathMapping {
            base_path: "v1".into(),
            rest_api_id: "3eqr0osoc3".into(),
            stage: Some("test".into()),
        }]),
    });
    cp(f).domain.as_mut().unwrap()
}

/// Every handshake presents the endpoint's own certificate, which does not cover the dialled name.
fn endpoint_certificate_only(f: &mut Facts) {
    for p in f.enis.iter_mut().flat_map(|e| e.paths.iter_mut()) {
        let t = p.conn.tls.as_mut().expect("tls facts");
        t.outcome = crate::facts::TlsOutcome::NameMismatch;
        t.peer_names = vec![
            "*.execute-api.us-east-1.amazonaws.com".into(),
            "*.execute-api.us-east-1.vpce.amazonaws.com".into(),
        ];
        t.version = None;
        p.http = HttpOutcome::NotSent;
    }
}

/// Every integration takes its VPC link from `${stageVariables.vpcLinkId}`, which the stage lacks.
fn link_variable(f: &mut Facts) {
    for r in cp(f).resources.as_mut().unwrap() {
        for m in &mut r.methods {
            m.integration.as_mut().unwrap().connection_id =
                Some("${stageVariables.vpcLinkId}".into());
        }
    }
}

/// Ids no control-plane state can raise over a healthy data plane — or, for the exposure warnings
/// (`policy_open_to_any_endpoint`, `policy_allows_unknown_endpoints`,
/// `policy_endpoint_association_mismatch`, `vpce_policy_allows_all`), that predict no symptom of
/// this chain at all: `dns_client_not_using_vpc_resolver`
/// needs a wrong answer, `custom_domain_dns_not_endpoint` a domain that resolves elsewhere or
/// nowhere, `custom_domain_certificate_mismatch` a certificate that does not cover the domain, `dns_wrong_hostname_or_partition` a name that does not resolve, `privatelink_az_mismatch` fails some calls only (nothing refutes it), `policy_changed_not_redeployed`
/// and `waf_blocked` need the data plane to refuse, the backend's TLS and address ids and
/// `execution_logging_disabled` come from the execution logs of a failed request (`super::logs`),
/// `planes_disagree` is the note itself.
const NOT_IN_MATRIX: &[FindingId] = &[
    FindingId::DnsClientNotUsingVpcResolver,
    FindingId::DnsWrongHostnameOrPartition,
    FindingId::CustomDomainDnsNotEndpoint,
    FindingId::CustomDomainCertificateMismatch,
    FindingId::PolicyOpenToAnyEndpoint,
    FindingId::PolicyAllowsUnknownEndpoints,
    FindingId::PolicyEndpointAssociationMismatch,
    FindingId::VpcePolicyAllowsAll,
    FindingId::PrivatelinkAzMismatch,
    FindingId::PolicyChangedNotRedeployed,
    FindingId::WafBlocked,
    FindingId::IntegrationTlsHostnameMismatch,
    FindingId::IntegrationBackendCertUntrusted,
    FindingId::IntegrationBackendCertExpired,
    FindingId::IntegrationEndpointAddressInvalid,
    FindingId::ExecutionLoggingDisabled,
    FindingId::PlanesDisagree,
];

fn problems(d: &[Finding]) -> Vec<FindingId> {
    d.iter().filter(|x| x.is_problem()).map(|x| x.id).collect()
}

/// The same control-plane facts over a data plane that shows the failure: the id is reported.
fn with_symptom(id: FindingId, f: &mut Facts) {
    let gw = |s, t, m| gateway(s, t, m);
    match id {
        FindingId::VpceNotAvailable
        | FindingId::VpceSgBlocks443
        | FindingId::ClientSgOrNaclBlocksEgress
        | FindingId::ClientPathToVpceUnroutable => {
            fail_all_connects(f, ConnectOutcome::Timeout);
        }
        FindingId::DnsVpcDnsAttributesDisabled | FindingId::DnsPrivateDnsDisabled => {
            f.dns[0].addrs = vec!["54.239.1.1".parse().unwrap()];
            set_all(f, gw(403, "ForbiddenException", "Forbidden"));
        }
        FindingId::DnsVpceAliasNotAssociated => {
            for d in &mut f.dns {
                d.outcome = crate::facts::DnsOutcome::NxDomain;
                d.addrs.clear();
            }
            f.enis.clear();
        }
        FindingId::ApiNotPrivateOrWrongApi
        | FindingId::DefaultExecuteApiEndpointDisabled
        | FindingId::StrictAccessModeSniMismatch
        | FindingId::PublicApiBlockedByPrivateDns
        | FindingId::ApiKeyRequired
        | FindingId::StageNotFound => set_all(f, gw(403, "ForbiddenException", "Forbidden")),
        FindingId::ResourcePolicyDeniesVpce | FindingId::ResourcePolicyMissing => set_all(
            f,
            gw(
                403,
                "AccessDeniedException",
                "User: anonymous is not authorized ... with an explicit deny",
            ),
        ),
        FindingId::MissingRootAnyMethod => set_path(
            f,
            "/",
            gw(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
        ),
        FindingId::MissingProxyMethod | FindingId::MethodNotDeployed => set_path(
            f,
            "/pgw-probe",
            gw(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
        ),
        FindingId::CustomDomainNotAssociated | FindingId::CustomDomainNotAvailable => {
            endpoint_certificate_only(f)
        }
        FindingId::CustomDomainBasePathUnmapped => {
            set_all(f, gw(403, "ForbiddenException", "Forbidden"))
        }
        FindingId::VpceEndpointPolicyDenies => set_all(
            f,
            gw(
                403,
                "AccessDeniedException",
                "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/ because no VPC endpoint policy allows the execute-api:Invoke action",
            ),
        ),
        FindingId::CustomDomainPolicyDenies => set_all(
            f,
            gw(
                403,
                "AccessDeniedException",
                "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:/domainnames/orders.internal.example.com+abc123 with an explicit deny",
            ),
        ),
        FindingId::ClientTlsVersionRejected => {
            for p in f.enis.iter_mut().flat_map(|e| e.paths.iter_mut()) {
                let t = p.conn.tls.as_mut().expect("tls facts");
                t.outcome = crate::facts::TlsOutcome::VersionRejected(
                    "received fatal alert: ProtocolVersion".into(),
                );
                t.version = None;
                p.http = HttpOutcome::NotSent;
            }
        }
        FindingId::IamAuthRequired => {
            set_all(
                f,
                gw(
                    403,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ),
            );
            f.signed_retry_unavailable = Some("no credentials".into());
        }
        _ => set_all(
            f,
            gw(
                504,
                "InternalServerErrorException",
                "Network error communicating with endpoint",
            ),
        ),
    }
}

#[test]
fn a_control_plane_cause_the_healthy_data_plane_contradicts_is_only_a_note() {
    for (id, make) in CONTROL_CASES {
        let mut f = healthy_cp();
        make(&mut f);
        let d = super::diagnose(&f);
        assert!(problems(&d).is_empty(), "{id}: failure findings {d:#?}");
        let note = d
            .iter()
            .find(|x| x.id == FindingId::PlanesDisagree && x.alternatives.contains(id))
            .unwrap_or_else(|| panic!("{id}: no planes_disagree note naming it: {d:#?}"));
        assert!(
            note.evidence.iter().any(|e| e.starts_with("data plane: ")),
            "{id}: {note:?}"
        );
        assert!(
            note.evidence.iter().any(|e| e.starts_with("likely: ")),
            "{id}: {note:?}"
        );
    }
}

#[test]
fn the_same_control_plane_cause_with_its_symptom_is_reported() {
    for (id, make) in CONTROL_CASES {
        // The container case is the one where the endpoint may see another address: no
        // confirmed finding then, only the data plane's own.
        let mut f = healthy_cp();
        make(&mut f);
        if f.enis[0].source == Some("172.17.0.2".parse().unwrap()) {
            continue;
        }
        with_symptom(*id, &mut f);
        let d = super::diagnose(&f);
        let found = d.iter().find(|x| x.id == *id);
        assert!(
            found.is_some_and(|x| x.is_problem() && x.confidence == Confidence::Confirmed),
            "{id}: {:?}",
            d.iter().map(|x| x.id).collect::<Vec<_>>()
        );
        assert!(
            !d.iter().any(|x| x.id == FindingId::PlanesDisagree),
            "{id}: {d:#?}"
        );
    }
}

#[test]
fn the_matrix_covers_every_control_plane_id() {
    for e in CATALOG.iter().filter(|e| e.control_plane) {
        if NOT_IN_MATRIX.contains(&e.id) {
            continue;
        }
        assert!(
            CONTROL_CASES.iter().any(|(id, _)| *id == e.id),
            "{} has no matrix case",
            e.id
        );
    }
    // And the data-plane ids the control rules can also raise.
    for id in [
        FindingId::DnsPrivateDnsDisabled,
        FindingId::DnsVpceAliasNotAssociated,
        FindingId::VpceSgBlocks443,
        FindingId::ClientTlsVersionRejected,
        FindingId::StageNotFound,
        FindingId::ResourcePolicyDeniesVpce,
        FindingId::ResourcePolicyMissing,
        FindingId::MissingRootAnyMethod,
        FindingId::MissingProxyMethod,
        FindingId::IamAuthRequired,
    ] {
        assert!(CONTROL_CASES.iter().any(|(c, _)| *c == id), "{id}");
    }
}

/// Where the API's name resolves with private DNS off, and what happens there.
#[derive(Clone, Copy, Debug)]
enum Public {
    /// Through a NAT gateway to API Gateway's public front end: 403 Forbidden.
    Forbidden,
    /// A firewall resets.
    Refused,
    /// No way out: SYNs dropped.
    Timeout,
}

/// Private DNS off: the name resolves to `addr`, which is not an ENI.
fn private_dns_off(shape: Public, addr: &str, vpce_dns: bool, control: bool) -> Facts {
    let mut f = if control { healthy_cp() } else { healthy() };
    if control {
        cp(&mut f).execute_api_endpoints[0].private_dns_enabled = false;
    }
    if !vpce_dns {
        f.reference_dns.clear();
        f.target.vpce_dns = None;
    }
    f.dns[0].addrs = vec![addr.parse().unwrap()];
    let eni = f.enis[0].clone();
    let mut e = eni;
    e.addr = SocketAddr::new(addr.parse().unwrap(), 443);
    for p in &mut e.paths {
        p.addr = e.addr;
        match shape {
            Public::Forbidden => p.http = gateway(403, "ForbiddenException", "Forbidden"),
            Public::Refused | Public::Timeout => {
                p.conn.connect = if matches!(shape, Public::Refused) {
                    ConnectOutcome::Refused
                } else {
                    ConnectOutcome::Timeout
                };
                p.conn.tls = None;
                p.http = HttpOutcome::NotSent;
            }
        }
    }
    // Local address as seen in a container: the security group cannot be judged from it.
    e.source = Some("127.0.0.1".parse().unwrap());
    f.enis = vec![e];
    f
}

#[test]
fn private_dns_off_is_the_first_cause_in_every_shape() {
    for shape in [Public::Forbidden, Public::Refused, Public::Timeout] {
        for addr in ["54.239.1.1", "10.99.0.200"] {
            // The control plane alone (no --vpce-dns): confirmed, nothing else.
            let f = private_dns_off(shape, addr, false, true);
            let d = super::diagnose(&f);
            let ids: Vec<_> = d.iter().map(|x| x.id).collect();
            assert_eq!(
                ids,
                [FindingId::DnsPrivateDnsDisabled],
                "{shape:?} {addr}: {d:#?}"
            );
            assert_eq!(d[0].confidence, Confidence::Confirmed);
            // --vpce-dns alone: likely.
            let f = private_dns_off(shape, addr, true, false);
            let d = super::diagnose(&f);
            assert_eq!(
                d[0].id,
                FindingId::DnsPrivateDnsDisabled,
                "{shape:?} {addr}: {d:#?}"
            );
            assert_eq!(d[0].confidence, Confidence::Likely);
            assert_eq!(
                problems(&d),
                [FindingId::DnsPrivateDnsDisabled],
                "{shape:?}"
            );
        }
    }
}

#[test]
fn refused_connects_to_an_available_endpoint_are_not_vpce_not_available() {
    let mut f = healthy_cp();
    fail_all_connects(&mut f, ConnectOutcome::Refused);
    // The data plane alone guesses the endpoint is down.
    assert_eq!(ids(&healthy_data(&f)), [FindingId::VpceNotAvailable]);
    let d = super::diagnose(&f);
    assert_eq!(problems(&d), [FindingId::VpceEniUnreachable], "{d:#?}");
    assert_eq!(d[0].severity, crate::finding::Severity::Critical);
    assert!(d[0].evidence.iter().any(|e| e.contains("State=available")));
    assert!(d[0]
        .evidence
        .iter()
        .any(|e| e.contains("connection refused")));
}

fn healthy_data(f: &Facts) -> Facts {
    let mut g = f.clone();
    g.control = None;
    g
}

#[test]
fn timeouts_with_a_security_group_that_admits_are_dropped_elsewhere() {
    let mut f = healthy_cp();
    fail_all_connects(&mut f, ConnectOutcome::Timeout);
    assert_eq!(ids(&healthy_data(&f)), [FindingId::VpceSgBlocks443]);
    let d = super::diagnose(&f);
    assert_eq!(problems(&d), [FindingId::VpceEniUnreachable], "{d:#?}");
    assert!(d[0]
        .evidence
        .iter()
        .any(|e| e.contains("admits TCP 443 from 10.0.3.7")));
}

#[test]
fn timeouts_from_a_translated_address_stay_a_data_plane_guess() {
    let mut f = healthy_cp();
    fail_all_connects(&mut f, ConnectOutcome::Timeout);
    for e in &mut f.enis {
        e.source = Some("172.17.0.2".parse().unwrap());
    }
    let d = super::diagnose(&f);
    assert_eq!(problems(&d), [FindingId::VpceSgBlocks443], "{d:#?}");
    assert_eq!(d[0].confidence, Confidence::Likely);
}

#[test]
fn unevaluable_rules_are_unknown_not_blocks() {
    for (group, prefix) in [(Some("sg-0client"), None), (None, Some("pl-0123"))] {
        let mut f = healthy_cp();
        fail_all_connects(&mut f, ConnectOutcome::Timeout);
        let rule = &mut cp(&mut f).sg_rules.get_mut("sg-1").unwrap()[0];
        rule.cidr = None;
        rule.group_ref = group.map(str::to_string);
        rule.prefix_list = prefix.map(str::to_string);
        let d = super::diagnose(&f);
        assert_eq!(problems(&d), [FindingId::VpceSgBlocks443], "{d:#?}");
        assert_eq!(d[0].confidence, Confidence::Likely, "{group:?} {prefix:?}");
    }
    // An IPv6 rule does not admit an IPv4 source: evaluable, and it blocks.
    let mut f = healthy_cp();
    fail_all_connects(&mut f, ConnectOutcome::Timeout);
    cp(&mut f).sg_rules.get_mut("sg-1").unwrap()[0].cidr = Some("2600:1f18::/56".into());
    let d = super::diagnose(&f);
    assert_eq!(d[0].id, FindingId::VpceSgBlocks443);
    assert_eq!(d[0].confidence, Confidence::Confirmed);
}

#[test]
fn name_elsewhere_with_private_dns_on_names_the_other_reasons() {
    let mut f = healthy_cp();
    f.dns[0].addrs = vec!["10.99.0.200".parse().unwrap()];
    f.reference_dns.clear();
    set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
    let d = super::diagnose(&f);
    assert_eq!(problems(&d), [FindingId::DnsPrivateDnsDisabled], "{d:#?}");
    assert_eq!(d[0].confidence, Confidence::Likely);
    assert!(d[0]
        .evidence
        .iter()
        .any(|e| e.contains("PrivateDnsEnabled=true") && e.contains("private hosted zone")));
}

#[test]
fn a_healthy_chain_seen_from_a_container_is_healthy() {
    // The issue's first report: every probe worked, the local address is not what the endpoint
    // sees, and the security group admits only the VPC.
    let mut f = healthy_cp();
    for e in &mut f.enis {
        e.source = Some("127.0.0.1".parse().unwrap());
    }
    let d = super::diagnose(&f);
    assert!(problems(&d).is_empty(), "{d:#?}");
    assert_eq!(
        d.iter().map(|x| x.id).collect::<Vec<_>>(),
        [FindingId::PlanesDisagree]
    );
    assert_eq!(d[0].severity, crate::finding::Severity::Info);
    assert!(d[0].evidence.iter().any(|e| e.contains("source NAT")));
}

#[test]
fn a_rule_that_references_a_group_is_judged_by_this_hosts_own_groups() {
    let with = |mine: &str| {
        let mut f = healthy_cp();
        fail_all_connects(&mut f, ConnectOutcome::Timeout);
        let rule = &mut cp(&mut f).sg_rules.get_mut("sg-1").unwrap()[0];
        rule.cidr = None;
        rule.group_ref = Some("sg-0client".into());
        cp(&mut f).client_enis.insert(
            "vpc-1".into(),
            crate::facts::control::ClientEni {
                id: "eni-0pgw".into(),
                ip: "10.0.3.7".parse().unwrap(),
                vpc_id: "vpc-1".into(),
                security_groups: vec![mine.into()],
                subnet: None,
            },
        );
        super::diagnose(&f)
    };
    // This host has the referenced group: the rule admits it, the drop is elsewhere.
    let d = with("sg-0client");
    assert_eq!(problems(&d), [FindingId::VpceEniUnreachable], "{d:#?}");
    // It has another group: the rule does not admit it.
    let d = with("sg-0other");
    assert_eq!(problems(&d), [FindingId::VpceSgBlocks443], "{d:#?}");
    assert_eq!(d[0].confidence, Confidence::Confirmed);
}
