//! The lab's AWS control plane: the seed document that tells `moto/pgw_moto.py` what to build
//! (the lab's ids and addresses, with every fault already resolved into what AWS would answer),
//! and the moto server process itself.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    Authorization, ConnectionState, Faults, HybridFault, HybridRoute, IntegrationFault,
    IntegrationPath, LabError, LinkReference, PolicyFault, TargetsFault, Topology, VpcLinkStatus,
    PROVIDER_ACCOUNT,
};

/// How long moto may take to import, seed and listen.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// The endpoint id a wrong resource policy names (`resource_policy = "other_vpce"`).
pub(crate) const OTHER_VPCE: &str = "vpce-0f9e8d7c6b5a40002";
/// An endpoint of no account the lab knows (`resource_policy = "allow_vpce_and_foreign"`).
pub(crate) const FOREIGN_VPCE: &str = "vpce-0feedfacecafe0001";
/// Path A's PrivateLink consumer endpoint (to the provider's endpoint service).
pub(crate) const SERVICE_VPCE: &str = "vpce-0a1b2c3d4e5f60011";
/// The provider's endpoint service id.
pub(crate) const SERVICE_ID: &str = "vpce-svc-0a1b2c3d4e5f60021";
/// VPC link ids of path A and path B.
pub(crate) const VPC_LINK_A: &str = "a1b2c3";
pub(crate) const VPC_LINK_B: &str = "d4e5f6";
/// `moto/pgw_moto.py`: moto in server mode with pgw-lab's fidelity layer.
const PGW_MOTO: &str = include_str!("../moto/pgw_moto.py");

/// The consumer VPC's second CIDR: the subnet of the diagnosing host, which reaches the lab's
/// ENIs from `127.0.0.1` (absent under `faults.source_nat`).
pub(crate) const CLIENT_SUBNET: &str = "127.0.0.0/28";
/// `statusMessage` of a FAILED VPC link when the scenario gives none (a real AWS message).
const FAILED_MESSAGE: &str = "NLB is already associated with another VPC Endpoint Service";

/// The addresses of the hops, as bound by the lab.
pub(crate) struct Addrs {
    /// `127.A.B`: the lab block without its last octet.
    pub net: String,
    pub enis: Vec<(String, SocketAddr)>,
    pub privatelink: Vec<SocketAddr>,
    pub stale: Vec<SocketAddr>,
    pub nlb_a: SocketAddr,
    pub nlb_b: SocketAddr,
    /// A port of NLB A and of NLB B without a listener.
    pub unlistened: [SocketAddr; 2],
    pub provider_nlb: SocketAddr,
    pub backend_a: SocketAddr,
    pub backend_b: SocketAddr,
}

/// One NLB target as DescribeTargetHealth shows it.
fn target(addr: SocketAddr, az: &str, health: (&str, Option<(&str, &str)>)) -> Value {
    let (state, why) = health;
    json!({
        "ip": addr.ip().to_string(),
        "port": addr.port(),
        "az": az,
        "state": state,
        "reason": why.map(|w| w.0),
        "description": why.map(|w| w.1),
    })
}

const HEALTHY: (&str, Option<(&str, &str)>) = ("healthy", None);
const NOT_IN_USE: (&str, Option<(&str, &str)>) = (
    "unused",
    Some((
        "Target.NotInUse",
        "Target group is not configured to receive traffic from the load balancer",
    )),
);
const TIMEOUT: (&str, Option<(&str, &str)>) =
    ("unhealthy", Some(("Target.Timeout", "Request timed out")));
const FAILED: (&str, Option<(&str, &str)>) = (
    "unhealthy",
    Some(("Target.FailedHealthChecks", "Health checks failed")),
);

/// The resource policy document for `policy`, as API Gateway stores it (resource ARN expanded).
fn policy(topo: &Topology, policy: PolicyFault) -> Option<String> {
    let vpce = match policy {
        PolicyFault::Missing => return None,
        PolicyFault::AllowVpce => format!("\"{}\"", topo.vpce_id),
        PolicyFault::OtherVpce => format!("\"{OTHER_VPCE}\""),
        PolicyFault::AllowVpceAndForeign => format!("[\"{}\",\"{FOREIGN_VPCE}\"]", topo.vpce_id),
        PolicyFault::Open => String::new(),
    };
    let resource = format!(
        "arn:aws:execute-api:{}:{}:{}/*",
        topo.region, topo.account, topo.api_id
    );
    let only = (policy != PolicyFault::Open).then_some(vpce);
    Some(invoke_policy(&resource, only.as_deref()))
}

/// An `execute-api:Invoke` policy on `resource`: Deny unless `aws:SourceVpce` is `only` (a JSON
/// string or list), then Allow; without `only`, the Allow alone. Written out by hand: API
/// Gateway keeps the document's key order (serde_json would sort).
fn invoke_policy(resource: &str, only: Option<&str>) -> String {
    let statement = |effect: &str, condition: &str| {
        format!(
            r#"{{"Effect":"{effect}","Principal":"*","Action":"execute-api:Invoke","Resource":"{resource}"{condition}}}"#
        )
    };
    let allow = statement("Allow", "");
    let Some(vpce) = only else {
        return format!(r#"{{"Version":"2012-10-17","Statement":[{allow}]}}"#);
    };
    let deny = statement(
        "Deny",
        &format!(r#","Condition":{{"StringNotEquals":{{"aws:SourceVpce":{vpce}}}}}"#),
    );
    format!(r#"{{"Version":"2012-10-17","Statement":[{deny},{allow}]}}"#)
}

/// The private custom domain's `domainNameId` (the lab's domain lives in the API's account).
pub(crate) const DOMAIN_NAME_ID: &str = "a1b2c3d4e5";
/// The only base path the domain maps under `custom_domain = "unmapped"`.
pub(crate) const UNMAPPED_BASE_PATH: &str = "v2";

/// The private custom domain as API Gateway holds it: status, certificate, policy, base path
/// mappings, and the consumer's access associations.
fn domain(topo: &Topology, faults: &Faults) -> Value {
    use crate::CustomDomainFault as F;
    let fault = faults.custom_domain;
    let vpce = if fault == F::PolicyDenies {
        OTHER_VPCE
    } else {
        topo.vpce_id.as_str()
    };
    let policy = invoke_policy("execute-api:/*", Some(&format!("\"{vpce}\"")));
    let base_path = if fault == F::Unmapped {
        UNMAPPED_BASE_PATH
    } else {
        topo.base_path.as_str()
    };
    json!({
        "name": topo.domain_name,
        "id": DOMAIN_NAME_ID,
        "status": if fault == F::NotAvailable { "PENDING" } else { "AVAILABLE" },
        "status_message": (fault == F::NotAvailable).then_some("Creating the private custom domain name"),
        "certificate_arn": format!(
            "arn:aws:acm:{}:{}:certificate/5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
            topo.region, topo.account
        ),
        "policy": policy,
        "mappings": [{"base_path": base_path, "rest_api_id": topo.api_id, "stage": topo.stage}],
        "associations": if fault == F::NotAssociated { vec![] } else { vec![topo.vpce_id.clone()] },
    })
}

/// The execute-api endpoint's own policy document.
fn endpoint_policy(topo: &Topology, fault: crate::VpcePolicyFault) -> String {
    let api = match fault {
        crate::VpcePolicyFault::FullAccess => {
            return r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#.into()
        }
        crate::VpcePolicyFault::Restricted => "*",
        crate::VpcePolicyFault::OtherApi => "otherapi01",
    };
    format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:{}:{}:{api}/*"}}]}}"#,
        topo.region, topo.account
    )
}

/// The stage variable naming the VPC link under `vpc_link_reference = "stage_variable…"`.
const LINK_VARIABLE: &str = "vpcLinkId";

fn methods(topo: &Topology, faults: &Faults, a: &Addrs, root: bool, proxy: bool) -> Vec<Value> {
    let (link, host, listener, unlistened) = match topo.path {
        IntegrationPath::A => (
            VPC_LINK_A,
            topo.integration_host(IntegrationPath::A),
            a.nlb_a,
            a.unlistened[0],
        ),
        IntegrationPath::B => (
            VPC_LINK_B,
            topo.integration_host(IntegrationPath::B),
            a.nlb_b,
            a.unlistened[1],
        ),
    };
    // The uri's port picks the NLB's listener.
    let port = if faults.listener_port_mismatch {
        unlistened.port()
    } else {
        listener.port()
    };
    let host = format!("{host}:{port}");
    let link = match faults.vpc_link_reference {
        LinkReference::Id => link.to_string(),
        _ => format!("${{stageVariables.{LINK_VARIABLE}}}"),
    };
    let auth = match faults.authorization {
        Authorization::None => "NONE",
        Authorization::AwsIam => "AWS_IAM",
    };
    let timeout = faults
        .integration_timeout_ms
        .unwrap_or(topo.integration_timeout_ms);
    let method = |path: &str, uri: String, proxied: bool| {
        json!({
            "path": path,
            "http_method": "ANY",
            "authorization": auth,
            "api_key_required": faults.api_key_required,
            "request_parameters": if proxied { json!({"method.request.path.proxy": true}) } else { Value::Null },
            "integration": {
                "type": "HTTP_PROXY",
                "http_method": "ANY",
                "uri": uri,
                "connection_type": "VPC_LINK",
                "connection_id": &link,
                "timeout_ms": timeout,
                "request_parameters": if proxied {
                    json!({"integration.request.path.proxy": "method.request.path.proxy"})
                } else { Value::Null },
            },
        })
    };
    let mut out = Vec::new();
    if root {
        out.push(method("/", format!("http://{host}/"), false));
    }
    if proxy {
        let uri = if faults.integration_uri_without_proxy {
            format!("http://{host}/v1")
        } else {
            format!("http://{host}/{{proxy}}")
        };
        out.push(method("/{proxy+}", uri, true));
    }
    out
}

/// The seed document: what moto must answer for this topology and these faults.
pub(crate) fn seed(topo: &Topology, faults: &Faults, a: &Addrs) -> Value {
    let region = &topo.region;
    // The consumer VPC is the lower half of the block (ENIs, resolver, NLBs, PrivateLink ENIs);
    // .141 (other network) and .200 (public front end) lie outside it. One /28 per AZ.
    let block_cidr = format!("{}.0/24", a.net);
    let vpc_cidr = format!("{}.0/25", a.net);
    let subnet_cidr = |i: usize| format!("{}.{}/28", a.net, 16 * i);
    let azs = topo.azs();
    let subnets: Vec<Value> = azs
        .iter()
        .enumerate()
        .map(|(i, az)| json!({"az": az, "cidr": subnet_cidr(i)}))
        .collect();
    let az = |i: usize| azs[i % azs.len()].clone();

    // The diagnosing host (pgw reaches the ENIs from 127.0.0.1) sits in a second CIDR of the VPC,
    // `127.0.0.0/28`, unless `source_nat`: then it is outside the VPC and the endpoint sees a
    // translated address. The endpoint's security group admits 443 from every VPC CIDR (none
    // when every AZ drops).
    // In another VPC (`client_network = other_vpc…`) it is its own VPC's CIDR, which the
    // endpoint's security group admits too.
    let elsewhere = faults.client_network.elsewhere();
    let mut vpc_cidrs = vec![vpc_cidr.clone()];
    if !faults.source_nat && !elsewhere {
        vpc_cidrs.push(CLIENT_SUBNET.to_string());
    }
    let mut admitted = vpc_cidrs.clone();
    if elsewhere {
        admitted.push(CLIENT_SUBNET.to_string());
    }
    let all_dropped = azs.iter().all(|z| faults.sg_drop.contains(z));
    let rule = |source: Value| {
        let mut r = json!({"protocol": "tcp", "from_port": 443, "to_port": 443,
                           "description": "HTTPS from the VPC"});
        r.as_object_mut()
            .expect("object")
            .extend(source.as_object().cloned().unwrap_or_default());
        r
    };
    let ingress: Vec<Value> = match faults.sg_source {
        _ if all_dropped => Vec::new(),
        crate::SgSource::VpcCidr => admitted.iter().map(|c| rule(json!({"cidr": c}))).collect(),
        crate::SgSource::ClientGroup => vec![rule(json!({"source_group": "client"}))],
        crate::SgSource::OtherGroup => vec![rule(json!({"source_group": "other"}))],
    };
    // The diagnosing host's own interface in its subnet, with its security group.
    let client = (!faults.source_nat).then(|| {
        // Its own VPC, routed to the endpoint's through a transit gateway (or not).
        let routed = faults.client_network == crate::ClientNetwork::OtherVpc;
        let own_vpc = elsewhere.then(|| json!({
            "routes": if routed {
                json!([{"cidr": &vpc_cidr, "via": "transit_gateway", "state": "active"}])
            } else { json!([]) }}));
        json!({"az": azs[0], "cidr": CLIENT_SUBNET, "ip": "127.0.0.1", "vpc": own_vpc,
               "security_group": {"name": "pgw-lab-diagnosing-host",
                                  "description": "the host pgw runs on", "ingress": []},
               // Its security group's outbound rules: moto's default (everything), or none.
               "egress": if faults.client_network == crate::ClientNetwork::SgEgressBlocked { "none" } else { "all" },
               // An ACL of its own subnet, instead of the VPC's default (which allows everything).
               "acl": if faults.client_network == crate::ClientNetwork::NaclBlocks {
                   json!([
                       {"rule": 100, "egress": true, "protocol": "6", "action": "deny", "cidr": "0.0.0.0/0", "from": 443, "to": 443},
                       {"rule": 200, "egress": true, "protocol": "-1", "action": "allow", "cidr": "0.0.0.0/0"},
                       {"rule": 100, "egress": false, "protocol": "-1", "action": "allow", "cidr": "0.0.0.0/0"},
                   ])
               } else { Value::Null }})
    });

    // The consumer VPC's routes: towards path B's other network (.128/25, where .141 lives), and
    // back to the diagnosing host's VPC: transit gateways.
    let mut routes = match faults.hybrid_route {
        HybridRoute::Missing => vec![],
        r => vec![
            json!({"cidr": format!("{}.128/25", a.net), "via": "transit_gateway",
                         "state": if r == HybridRoute::Blackhole { "blackhole" } else { "active" }}),
        ],
    };
    if elsewhere {
        routes.push(json!({"cidr": CLIENT_SUBNET, "via": "transit_gateway", "state": "active"}));
    }

    // Path A targets.
    let connection = faults.endpoint_connection;
    let refused = faults.targets == TargetsFault::Unhealthy
        || faults.integration == IntegrationFault::TargetRefused;
    let blackholed = faults.integration == IntegrationFault::TargetBlackhole;
    let targets_a: Vec<Value> = if faults.targets == TargetsFault::IpDrift {
        a.stale
            .iter()
            .enumerate()
            .map(|(i, s)| target(*s, &az(i), TIMEOUT))
            .collect()
    } else {
        let health = if faults.targets == TargetsFault::AzNotEnabled {
            NOT_IN_USE
        } else if connection != ConnectionState::Available
            || blackholed
            || faults.service_endpoint_sg_blocks
        {
            TIMEOUT
        } else if refused {
            FAILED
        } else {
            HEALTHY
        };
        a.privatelink
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let gone = faults.provider_missing_azs.contains(&az(i));
                target(*s, &az(i), if gone { TIMEOUT } else { health })
            })
            .collect()
    };
    let health_b = if blackholed
        || matches!(
            faults.hybrid_target,
            HybridFault::Timeout | HybridFault::PublicIp
        )
        || faults.hybrid_route != HybridRoute::Ok
    {
        TIMEOUT
    } else if refused || faults.hybrid_target == HybridFault::Refused {
        FAILED
    } else {
        HEALTHY
    };
    let nlb = |key: &str,
               name: &str,
               lb_id: &str,
               dns: String,
               listener: SocketAddr,
               targets: Vec<Value>| {
        let tg_port = targets
            .first()
            .and_then(|t| t["port"].as_u64())
            .unwrap_or(80);
        // The VPC links' NLBs terminate TLS under `integration_scheme_mismatch`.
        let tls = faults.integration_scheme_mismatch && key != "p";
        // Their security group (evaluated for PrivateLink traffic) admits the listener from the VPC,
        // or nothing under `link_nlb_sg_blocks`.
        let group = (key != "p").then(|| {
            let ingress = if faults.link_nlb_sg_blocks {
                json!([])
            } else {
                json!([{"protocol": "tcp", "from_port": listener.port(), "to_port": listener.port(),
                        "cidr": vpc_cidr, "description": "the VPC link's traffic"}])
            };
            json!({"name": format!("{name}-sg"), "description": "VPC link NLB", "ingress": ingress})
        });
        json!({
            "key": key, "name": name, "lb_id": lb_id, "dns_name": dns, "scheme": "internal",
            "listener_port": listener.port(), "listener_protocol": if tls { "TLS" } else { "TCP" },
            "tg_name": format!("{name}-tg"), "tg_port": tg_port, "security_group": group,
            "targets": targets,
        })
    };
    let nlbs = vec![
        nlb(
            "a",
            "nlb-a-internal",
            "0a1b2c3d4e5fa001",
            topo.integration_host(IntegrationPath::A),
            a.nlb_a,
            targets_a,
        ),
        nlb(
            "b",
            "nlb-b-internal",
            "0a1b2c3d4e5fb002",
            topo.integration_host(IntegrationPath::B),
            a.nlb_b,
            vec![target(
                if faults.hybrid_target == HybridFault::PublicIp {
                    // Moto data only: never dialled.
                    SocketAddr::new([203, 0, 113, 41].into(), a.backend_b.port())
                } else {
                    a.backend_b
                },
                "all",
                health_b,
            )],
        ),
    ];

    // VPC links: the one the integrations use carries the VPC link faults.
    let link_status = if faults.integration == IntegrationFault::VpcLinkFailed
        && faults.vpc_link == VpcLinkStatus::Available
    {
        VpcLinkStatus::Failed
    } else {
        faults.vpc_link
    };
    let link_message = faults
        .vpc_link_status_message
        .clone()
        .or_else(|| (link_status == VpcLinkStatus::Failed).then(|| FAILED_MESSAGE.to_string()));
    let link = |id: &str, key: &str, path: IntegrationPath| {
        let used = topo.path == path;
        // The endpoint service API Gateway made on the link's NLB (`None`: deleted).
        let service = match faults.vpc_link_service {
            crate::LinkService::Deleted if used => None,
            crate::LinkService::Failed if used => Some("Failed"),
            _ => Some("Available"),
        };
        json!({
            "id": id, "name": format!("pgw-lab-vpc-link-{key}"), "nlb": key,
            "status": if used { link_status.as_str() } else { "AVAILABLE" },
            "status_message": if used { link_message.clone() } else { None },
            "service_state": service,
        })
    };

    let private = faults.api_type == crate::ApiType::Private;
    let service_name = format!("com.amazonaws.vpce.{region}.{SERVICE_ID}");
    let mut vpc_endpoint_ids = Vec::new();
    if private && faults.alias_associated {
        vpc_endpoint_ids.push(topo.vpce_id.clone());
    }
    if faults.associate_other_vpce {
        vpc_endpoint_ids.push(OTHER_VPCE.to_string());
    }
    json!({
        "region": region,
        "denied": faults.aws_denied,
        "consumer": {
            "account": topo.account,
            "network": {
                "vpc": {"cidr": vpc_cidr, "secondary_cidrs": &vpc_cidrs[1..],
                        "enable_dns_support": faults.vpc_dns_support,
                        "enable_dns_hostnames": faults.vpc_dns_hostnames},
                "subnets": subnets,
                "routes": routes,
            },
            "client": client,
            "other_security_group": {"name": "pgw-lab-other-clients",
                                     "description": "clients pgw is not", "ingress": []},
            "security_group": {"name": "pgw-lab-execute-api-endpoint",
                               "description": "execute-api interface endpoint", "ingress": ingress},
            "execute_api_endpoint": {
                "id": topo.vpce_id,
                "service_name": format!("com.amazonaws.{region}.execute-api"),
                "state": faults.execute_api_endpoint_state.as_str(),
                "private_dns_enabled": faults.dns != crate::DnsFault::Public,
                "private_dns_name": format!("*.execute-api.{region}.amazonaws.com"),
                "dns_suffix": topo.vpce_dns_suffix,
                "dns_base": format!("execute-api.{region}.vpce.amazonaws.com"),
                "enis": a.enis.iter().map(|(az, s)| json!({"az": az, "ip": s.ip().to_string()})).collect::<Vec<_>>(),
                "policy": endpoint_policy(topo, faults.vpce_policy),
            },
            "service_endpoint_security_group": {
                "name": "pgw-lab-orders-endpoint", "description": "orders PrivateLink endpoint",
                "ingress": if faults.service_endpoint_sg_blocks { json!([]) } else {
                    json!([{"protocol": "tcp", "from_port": 0, "to_port": 65535, "cidr": vpc_cidr,
                            "description": "NLB A health checks and traffic"}])
                },
            },
            "service_endpoint": {
                "id": SERVICE_VPCE,
                "service_name": service_name,
                "state": connection.as_str(),
                "private_dns_enabled": false,
                "dns_suffix": "7hq3mz5c",
                "dns_base": format!("{SERVICE_ID}.{region}.vpce.amazonaws.com"),
                "enis": a.privatelink.iter().enumerate()
                    .map(|(i, s)| json!({"az": az(i), "ip": s.ip().to_string()})).collect::<Vec<_>>(),
            },
            "nlbs": nlbs,
            "vpc_links": [
                link(VPC_LINK_A, "a", IntegrationPath::A),
                link(VPC_LINK_B, "b", IntegrationPath::B),
            ],
            "domain": domain(topo, faults),
            "api": {
                "id": topo.api_id,
                "name": "pgw-lab-orders",
                "description": "pgw-lab private REST API",
                "types": [faults.api_type.as_str()],
                "vpc_endpoint_ids": vpc_endpoint_ids,
                "policy": policy(topo, faults.resource_policy),
                "logging": match faults.execution_logs {
                    crate::ExecutionLogs::Off => json!({}),
                    crate::ExecutionLogs::Error => json!({"level": "ERROR", "role": true}),
                    crate::ExecutionLogs::NoRole => json!({"level": "ERROR", "role": false}),
                },
                "disable_execute_api_endpoint": faults.execute_api_endpoint_disabled,
                "endpoint_access_mode": if faults.endpoint_access_mode_strict { "STRICT" } else { "BASIC" },
                "security_policy": (faults.tls == crate::TlsFault::Tls13Only)
                    .then_some("SecurityPolicy_TLS13_1_3_2025_09"),
                "stages": topo.deployed_stages,
                "deployed": methods(topo, faults, a, faults.root_method_deployed(), faults.proxy_method),
                "current": methods(topo, faults, a, faults.root_method, faults.proxy_method),
                "web_acl_arn": (faults.waf != crate::WafFault::None).then(|| format!(
                    "arn:aws:wafv2:{region}:{}:regional/webacl/pgw-lab-orders/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
                    topo.account
                )),
                "stage_variables": if faults.vpc_link_reference == LinkReference::StageVariable {
                    json!({LINK_VARIABLE: match topo.path { IntegrationPath::A => VPC_LINK_A, IntegrationPath::B => VPC_LINK_B }})
                } else { json!({}) },
            },
        },
        "provider": {
            "account": PROVIDER_ACCOUNT,
            "network": {
                "vpc": {"cidr": block_cidr, "enable_dns_support": true, "enable_dns_hostnames": true},
                "subnets": azs.iter().enumerate()
                    .map(|(i, az)| json!({"az": az, "cidr": subnet_cidr(8 + i)})).collect::<Vec<_>>(),
            },
            // The provider's NLB: in every AZ but `provider_missing_azs`.
            "nlb_azs": azs.iter().filter(|z| !faults.provider_missing_azs.contains(z)).collect::<Vec<_>>(),
            "nlb": nlb("p", "eks-orders-nlb", "0a1b2c3d4e5fc003",
                       format!("eks-orders-nlb-0a1b2c3d4e.elb.{region}.amazonaws.com"),
                       a.provider_nlb, vec![target(a.backend_a, &az(0),
                           if faults.provider_targets_unhealthy { FAILED } else { HEALTHY })]),
            "service": {
                "id": SERVICE_ID,
                "name": format!("com.amazonaws.vpce.{region}.{SERVICE_ID}"),
                "acceptance_required": true,
                "allowed_principals": if faults.provider_permission_removed { vec![] }
                    else { vec![format!("arn:aws:iam::{}:root", topo.account)] },
            },
        },
    })
}

/// `POST path` with `body` as JSON to the lab's moto server at `addr` (blocking): `Ok` on 200,
/// else the reply's start.
pub(crate) fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Result<(), String> {
    use std::io::{Read, Write};
    let body = serde_json::to_vec(body).expect("JSON serializes");
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(&body))
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .map_err(|e| format!("read: {e}"))?;
    if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(reply.chars().take(2000).collect())
    }
}

/// The venv holding the pinned moto server: `$PGW_VENV`, else `~/.cache/pgw/venv`
/// (`scripts/setup.sh` creates it).
pub fn moto_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("PGW_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/pgw/venv")
}

/// The moto server of one lab; killed on drop.
pub(crate) struct ControlPlane {
    /// The hops' addresses, to build seeds for new faults.
    pub(crate) addrs: Addrs,
    child: Child,
    /// Closing it (on drop) also ends the server: it exits when its stdin closes.
    _stdin: Option<ChildStdin>,
    url: String,
}

impl ControlPlane {
    /// Starts `pgw_moto.py` with `seed` (written into `dir`) and waits until it is ready.
    pub(crate) async fn start(
        addrs: Addrs,
        seed: &Value,
        dir: &Path,
    ) -> Result<ControlPlane, LabError> {
        Self::start_in(&moto_venv(), addrs, seed, dir).await
    }

    async fn start_in(
        venv: &Path,
        addrs: Addrs,
        seed: &Value,
        dir: &Path,
    ) -> Result<ControlPlane, LabError> {
        let python = venv.join("bin/python");
        if !python.is_file() {
            return Err(LabError::ControlPlane(format!(
                "no Python venv at {} (set PGW_VENV to use another): run scripts/setup.sh, which \
                 installs the pinned moto server there",
                venv.display()
            )));
        }
        let seed_file = dir.join("aws-seed.json");
        let log_file = dir.join("moto.log");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LabError::Io { path, source }
        };
        // The fidelity layer is compiled in: pgw-lab runs wherever it is installed.
        let script = dir.join("pgw_moto.py");
        std::fs::write(&script, PGW_MOTO).map_err(io(&script))?;
        let text = serde_json::to_vec_pretty(seed).expect("seed serializes");
        std::fs::write(&seed_file, text).map_err(io(&seed_file))?;
        let log = std::fs::File::create(&log_file).map_err(io(&log_file))?;
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0", "--seed"])
            .arg(&seed_file)
            // MOTO_ACCOUNT_ID would pin every request (assumed roles too) to one account.
            .env_remove("MOTO_ACCOUNT_ID")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| LabError::ControlPlane(format!("cannot run {}: {e}", python.display())))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Reads the ready line, then keeps draining stdout until the server exits.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines {}
        });
        let mut cp = ControlPlane {
            addrs,
            child,
            _stdin: stdin,
            url: String::new(),
        };
        let line = tokio::time::timeout(READY_LIMIT, rx).await;
        match line {
            Ok(Ok(Some(l))) if l.starts_with("PGW_MOTO_READY ") => {
                cp.url = l["PGW_MOTO_READY ".len()..].trim().to_string();
                Ok(cp)
            }
            other => {
                let why = match other {
                    Err(_) => format!("not ready within {READY_LIMIT:?}"),
                    _ => "exited before it was ready".to_string(),
                };
                cp.stop();
                let log = std::fs::read_to_string(&log_file).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(LabError::ControlPlane(format!(
                    "moto server ({} {}) {why}:\n{}",
                    python.display(),
                    script.display(),
                    tail.join("\n")
                )))
            }
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Rebuilds moto's state from `seed` (blocking; a loopback round trip of a few hundred ms).
    pub(crate) fn reseed(&self, seed: &Value) -> Result<(), String> {
        post_json(self.addr(), "/_pgw/seed", seed)
    }

    /// Answer `operations` with AccessDenied from now on, nothing else changed.
    pub(crate) fn deny(&self, operations: &[String]) -> Result<(), String> {
        post_json(
            self.addr(),
            "/_pgw/deny",
            &serde_json::json!({ "denied": operations }),
        )
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Addrs {
        let at = |h: u8, p: u16| SocketAddr::from(([127, 99, 7, h], p));
        Addrs {
            net: "127.99.7".into(),
            enis: vec![
                ("us-east-1a".into(), at(11, 4000)),
                ("us-east-1b".into(), at(12, 4000)),
            ],
            privatelink: vec![at(111, 4001), at(112, 4002)],
            stale: vec![at(113, 4003), at(114, 4004)],
            nlb_a: at(101, 4005),
            nlb_b: at(102, 4006),
            unlistened: [at(101, 4010), at(102, 4011)],
            provider_nlb: at(121, 4007),
            backend_a: at(131, 4008),
            backend_b: at(141, 4009),
        }
    }

    fn targets(seed: &Value, key: &str) -> Vec<(String, String, Option<String>)> {
        let nlb = seed["consumer"]["nlbs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["key"] == key)
            .unwrap();
        nlb["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["ip"].as_str().unwrap().to_string(),
                    t["state"].as_str().unwrap().to_string(),
                    t["reason"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    #[test]
    fn healthy_seed() {
        let topo = Topology::default();
        let s = seed(&topo, &Faults::default(), &addrs());
        let api = &s["consumer"]["api"];
        assert_eq!(api["id"], "3eqr0osoc3");
        assert_eq!(api["types"], json!(["PRIVATE"]));
        assert_eq!(api["vpc_endpoint_ids"], json!(["vpce-0a1b2c3d4e5f60001"]));
        assert_eq!(api["deployed"], api["current"]);
        let policy: Value = serde_json::from_str(api["policy"].as_str().unwrap()).unwrap();
        assert_eq!(
            policy["Statement"][0]["Condition"]["StringNotEquals"]["aws:SourceVpce"],
            "vpce-0a1b2c3d4e5f60001"
        );
        assert!(api["policy"].as_str().unwrap().starts_with(r#"{"Version""#));
        let a = targets(&s, "a");
        assert_eq!(a[0], ("127.99.7.111".into(), "healthy".into(), None));
        assert_eq!(targets(&s, "b")[0].0, "127.99.7.141");
        let ep = &s["consumer"]["execute_api_endpoint"];
        assert_eq!(ep["enis"][1]["ip"], "127.99.7.12");
        assert_eq!(ep["private_dns_enabled"], true);
        assert_eq!(s["consumer"]["network"]["vpc"]["cidr"], "127.99.7.0/25");
        assert_eq!(s["consumer"]["vpc_links"][0]["status"], "AVAILABLE");
        assert_eq!(s["denied"], json!([]));
    }

    #[test]
    fn source_nat_takes_the_diagnosing_host_out_of_the_vpc() {
        let topo = Topology::default();
        let cidrs = |f: &Faults| {
            let s = seed(&topo, f, &addrs());
            let vpc = s["consumer"]["network"]["vpc"].clone();
            let rules: Vec<Value> = s["consumer"]["security_group"]["ingress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["cidr"].clone())
                .collect();
            (vpc["secondary_cidrs"].clone(), rules)
        };
        let (secondary, rules) = cidrs(&Faults::default());
        assert_eq!(secondary, json!([CLIENT_SUBNET]));
        assert_eq!(rules, [json!("127.99.7.0/25"), json!(CLIENT_SUBNET)]);
        let nat = Faults {
            source_nat: true,
            ..Faults::default()
        };
        let (secondary, rules) = cidrs(&nat);
        assert_eq!(secondary, json!([]));
        assert_eq!(rules, [json!("127.99.7.0/25")]);
    }

    #[test]
    fn faults_change_the_seed() {
        let topo = Topology::default();
        let f = Faults {
            targets: TargetsFault::IpDrift,
            root_method_not_deployed: true,
            aws_denied: vec!["ec2:DescribeVpcEndpoints".into()],
            vpc_link: VpcLinkStatus::Pending,
            endpoint_connection: ConnectionState::Rejected,
            resource_policy: PolicyFault::OtherVpce,
            dns: crate::DnsFault::Public,
            api_type: crate::ApiType::Regional,
            ..Faults::default()
        };
        let s = seed(&topo, &f, &addrs());
        assert_eq!(s["denied"], json!(["ec2:DescribeVpcEndpoints"]));
        let a = targets(&s, "a");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, "127.99.7.113");
        assert_eq!(a[1].2.as_deref(), Some("Target.Timeout"));
        let api = &s["consumer"]["api"];
        assert_eq!(api["deployed"].as_array().unwrap().len(), 1);
        assert_eq!(api["current"].as_array().unwrap().len(), 2);
        assert_eq!(api["types"], json!(["REGIONAL"]));
        assert_eq!(api["vpc_endpoint_ids"], json!([]));
        assert!(api["policy"].as_str().unwrap().contains(OTHER_VPCE));
        assert_eq!(s["consumer"]["vpc_links"][0]["status"], "PENDING");
        assert_eq!(s["consumer"]["vpc_links"][1]["status"], "AVAILABLE");
        assert_eq!(s["consumer"]["service_endpoint"]["state"], "rejected");
        assert_eq!(
            s["consumer"]["execute_api_endpoint"]["private_dns_enabled"],
            false
        );
        // The old integration fault shows on the control plane too.
        let f = Faults {
            integration: IntegrationFault::VpcLinkFailed,
            hybrid_target: HybridFault::Timeout,
            ..Faults::default()
        };
        let s = seed(&topo, &f, &addrs());
        assert_eq!(s["consumer"]["vpc_links"][0]["status"], "FAILED");
        assert_eq!(
            s["consumer"]["vpc_links"][0]["status_message"],
            FAILED_MESSAGE
        );
        let b = targets(&s, "b");
        assert_eq!(b[0].1, "unhealthy");
        assert_eq!(b[0].2.as_deref(), Some("Target.Timeout"));
    }

    #[test]
    fn integration_routes_and_stage_faults_in_the_seed() {
        let topo = Topology::default();
        let s = seed(&topo, &Faults::default(), &addrs());
        let method = &s["consumer"]["api"]["current"][0];
        // The uri carries the listener's own port; the link is named by its id.
        assert_eq!(
            method["integration"]["uri"],
            format!("http://{}:4005/", topo.integration_host(IntegrationPath::A))
        );
        assert_eq!(method["integration"]["connection_id"], VPC_LINK_A);
        assert_eq!(method["api_key_required"], false);
        let routes = &s["consumer"]["network"]["routes"];
        assert_eq!(
            routes,
            &json!([{"cidr": "127.99.7.128/25", "via": "transit_gateway", "state": "active"}])
        );
        assert_eq!(s["consumer"]["api"]["web_acl_arn"], Value::Null);
        assert_eq!(s["consumer"]["api"]["stage_variables"], json!({}));

        let f = Faults {
            listener_port_mismatch: true,
            vpc_link_reference: LinkReference::StageVariableUndefined,
            hybrid_route: HybridRoute::Blackhole,
            api_key_required: true,
            waf: crate::WafFault::Block,
            ..Faults::default()
        };
        let s = seed(&topo, &f, &addrs());
        let method = &s["consumer"]["api"]["current"][0];
        assert!(method["integration"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(":4010/"));
        assert_eq!(
            method["integration"]["connection_id"],
            "${stageVariables.vpcLinkId}"
        );
        assert_eq!(method["api_key_required"], true);
        assert_eq!(s["consumer"]["api"]["stage_variables"], json!({}));
        assert_eq!(s["consumer"]["network"]["routes"][0]["state"], "blackhole");
        assert!(s["consumer"]["api"]["web_acl_arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:wafv2:"));
        assert_eq!(targets(&s, "b")[0].2.as_deref(), Some("Target.Timeout"));

        let f = Faults {
            vpc_link_reference: LinkReference::StageVariable,
            hybrid_route: HybridRoute::Missing,
            ..Faults::default()
        };
        let s = seed(&topo, &f, &addrs());
        assert_eq!(
            s["consumer"]["api"]["stage_variables"],
            json!({"vpcLinkId": VPC_LINK_A})
        );
        assert_eq!(s["consumer"]["network"]["routes"], json!([]));
    }

    #[tokio::test]
    async fn missing_venv_is_a_clear_error() {
        let dir = std::env::temp_dir();
        let missing = Path::new("/nonexistent/pgw-venv");
        let Err(e) = ControlPlane::start_in(missing, addrs(), &json!({}), &dir).await else {
            panic!("started without a venv");
        };
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/pgw-venv"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }
}
