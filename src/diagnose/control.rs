//! Control-plane rules: what API Gateway, EC2 and ELBv2 say, turned into confirmed findings that
//! name which data-plane symptoms they explain (so correlation can put them first) and which
//! symptom they predict (so the probes can contradict them: [`super::reconcile`]).

use std::net::IpAddr;

use crate::facts::control::{
    cidr_contains, ControlFacts, Endpoint, EndpointState, Nlb, Operation, RestApi, Target,
    TargetHealth, VpcLinkStatus,
};
use crate::facts::InvokeVia;
use crate::facts::{ConnectOutcome, DnsOutcome, Facts};
use crate::finding::{Confidence, Finding, FindingId};
use std::collections::BTreeMap;

use super::policy::{self, Decision};
use super::reconcile::{Prediction, Symptom};

/// A confirmed finding, the data-plane ids it explains and the symptom it predicts.
#[derive(Debug, Clone)]
pub(super) struct Confirmed {
    pub finding: Finding,
    pub explains: &'static [FindingId],
    pub predicts: Option<Prediction>,
}

impl Confirmed {
    /// The data-plane symptom this finding predicts, and the likely reasons when the probes see
    /// the opposite.
    fn predicts(mut self, symptom: Symptom, reasons: &'static [&'static str]) -> Confirmed {
        self.predicts = Some(Prediction { symptom, reasons });
        self
    }
}

fn confirmed(id: FindingId, evidence: Vec<String>, explains: &'static [FindingId]) -> Confirmed {
    let mut finding = Finding::new(id, evidence);
    finding.confidence = Confidence::Confirmed;
    Confirmed {
        finding,
        explains,
        predicts: None,
    }
}

const IN_FLIGHT: &str = "a change in flight: the configuration changed while pgw read or probed it";
const NOT_DEPLOYED: &str =
    "the stage still runs an older deployment: API changes apply only after the next deployment, which will bring this failure";
const HEALTH_CHECK: &str =
    "health checks fail while traffic works: check the target group's health-check port, protocol and path";

const INTEGRATION_SYMPTOMS: &[FindingId] = &[
    FindingId::IntegrationTimeout,
    FindingId::IntegrationNetworkError,
    FindingId::IntegrationInternalError,
];

/// The client's execute-api endpoint: named in the config, else the one whose ENIs the data plane
/// resolved, else the one the API is associated with, else the only one.
pub(super) fn client_endpoint<'a>(f: &Facts, cf: &'a ControlFacts) -> Option<&'a Endpoint> {
    let eps = &cf.execute_api_endpoints;
    if let Some(id) = &f.target.vpce_id {
        return eps.iter().find(|e| &e.id == id);
    }
    let mut seen: Vec<IpAddr> = f.resolved();
    seen.extend(f.reference_addrs());
    if let Some(e) = eps
        .iter()
        .find(|e| e.ips().iter().any(|ip| seen.contains(ip)))
    {
        return Some(e);
    }
    if let Some(api) = &cf.api {
        if let Some(e) = eps.iter().find(|e| api.vpc_endpoint_ids.contains(&e.id)) {
            return Some(e);
        }
    }
    if eps.len() == 1 {
        return eps.first();
    }
    None
}

/// The control-plane findings for `f`, given the data plane's own findings `data`.
pub(super) fn rules(f: &Facts, cf: &ControlFacts, data: &[Finding]) -> Vec<Confirmed> {
    let mut out = Vec::new();
    let ep = client_endpoint(f, cf);
    if let Some(e) = ep {
        endpoint_rules(f, cf, e, &mut out);
    }
    api_rules(f, cf, ep, data, &mut out);
    integration_rules(f, cf, &mut out);
    out
}

fn endpoint_rules(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    if e.state() != EndpointState::Available {
        out.push(
            confirmed(
                FindingId::VpceNotAvailable,
                vec![format!(
                    "ec2:DescribeVpcEndpoints {}: State={}",
                    e.id, e.state
                )],
                &[
                    FindingId::VpceSgBlocks443,
                    FindingId::VpceEniUnreachable,
                    FindingId::VpceNotAvailable,
                    FindingId::DnsNxdomain,
                    FindingId::DnsPrivateDnsDisabled,
                ],
            )
            .predicts(Symptom::ConnectsFail(e.ips()), &[IN_FLIGHT]),
        );
    }
    let private_dns_route = f.target.invoke_via == InvokeVia::PrivateDns;
    if let Some(vpc) = &e.vpc_id {
        if let Some((support, hostnames)) = cf.vpc_dns.get(vpc) {
            if private_dns_route && !(*support && *hostnames) {
                out.push(confirmed(
                    FindingId::DnsVpcDnsAttributesDisabled,
                    vec![format!(
                        "ec2:DescribeVpcAttribute {vpc}: enableDnsSupport={support}, enableDnsHostnames={hostnames}"
                    )],
                    &[FindingId::DnsPrivateDnsDisabled, FindingId::DnsNxdomain, FindingId::DnsResolverFailure, FindingId::StageNotFound],
                )
                .predicts(
                    Symptom::NameNotOn(cf.execute_api_addrs().unwrap_or_default()),
                    &["the resolver pgw asked is not the VPC resolver, or forwards to one that answers for the endpoint", IN_FLIGHT],
                ));
                return;
            }
        }
    }
    if private_dns_route && !e.private_dns_enabled {
        out.push(
            confirmed(
                FindingId::DnsPrivateDnsDisabled,
                vec![format!(
                    "ec2:DescribeVpcEndpoints {}: PrivateDnsEnabled=false",
                    e.id
                )],
                &[
                    FindingId::DnsPrivateDnsDisabled,
                    FindingId::DnsNxdomain,
                    FindingId::StageNotFound,
                ],
            )
            .predicts(
                Symptom::NameNotOn(e.ips()),
                &[
                    "a private hosted zone for the API's name points at the endpoint's ENIs",
                    IN_FLIGHT,
                ],
            ),
        );
    }
    if private_dns_route && e.private_dns_enabled {
        resolver_rule(f, cf, e, out);
    }
    sg_rule(f, cf, e, out);
    client_network_rule(f, cf, e, out);
}

/// The VPC resolver's addresses for a VPC whose primary CIDR is `primary`: its base + 2, and the
/// link-local ones every VPC answers on.
fn vpc_resolvers(primary: &str) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = vec![
        IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 169, 253)),
        IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253)),
    ];
    if let Some((IpAddr::V4(base), _)) = crate::facts::control::cidr_bounds(primary) {
        v.push(IpAddr::V4((u32::from(base) + 2).into()));
    }
    v
}

/// The private DNS name answered wrong (not the endpoint's ENIs: public addresses, NXDOMAIN,
/// NODATA) by a resolver that is not the VPC's own, while the endpoint's private DNS and the
/// VPC's DNS attributes are on: only the VPC resolver answers from the endpoint's private hosted
/// zone. Driven by the data plane (a resolver that answered right refutes nothing here).
fn resolver_rule(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let Some(vpc) = e.vpc_id.as_deref() else {
        return;
    };
    if !cf.vpc_dns.get(vpc).is_some_and(|(s, h)| *s && *h) {
        return;
    }
    let Some(primary) = cf.vpc_cidrs.get(vpc).and_then(|c| c.first()) else {
        return;
    };
    let ours = vpc_resolvers(primary);
    let enis = e.ips();
    let mut ev: Vec<String> = f
        .dns
        .iter()
        .filter(|d| match d.outcome {
            DnsOutcome::Answer => !d.addrs.iter().all(|a| enis.contains(a)),
            DnsOutcome::NxDomain | DnsOutcome::NoData => true,
            _ => false,
        })
        .filter_map(|d| {
            let at: std::net::SocketAddr = d.resolver.parse().ok()?;
            (!ours.contains(&at.ip())).then(|| {
                format!(
                    "{} at {}: {:?} {:?}, not the endpoint's ENIs {enis:?}",
                    d.name, d.resolver, d.outcome, d.addrs
                )
            })
        })
        .collect();
    if ev.is_empty() {
        return;
    }
    ev.push(format!(
        "that resolver is not {vpc}'s own ({}): ec2:DescribeVpcEndpoints {}: PrivateDnsEnabled=true and the VPC's DNS attributes are on, so the VPC resolver would answer with the ENIs",
        ours.iter().rev().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
        e.id
    ));
    out.push(confirmed(
        FindingId::DnsClientNotUsingVpcResolver,
        ev,
        &[
            FindingId::DnsPrivateDnsDisabled,
            FindingId::DnsNxdomain,
            FindingId::StageNotFound,
        ],
    ));
}

/// Linux's default ephemeral port range, both ends: the ports answers come back to.
const EPHEMERAL: [i32; 2] = [32768, 60999];

/// This host's own side of the way to the endpoint's ENIs: the outbound rules of its security
/// groups (stateful: one way), and the network ACLs of its subnet and of each ENI's subnet
/// (stateless: 443 one way, the ephemeral ports back). Known only when pgw runs on EC2 in the
/// endpoint's VPC; a rule pgw cannot judge (a prefix list) is no claim, and a return path is
/// blocked only when both ends of the ephemeral range are.
fn client_network_rule(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let (Some(vpc), Some(ip)) = (e.vpc_id.as_deref(), f.enis.iter().find_map(|x| x.source)) else {
        return;
    };
    let Some(me) = cf.client_enis.get(vpc).filter(|c| c.ip == ip) else {
        return;
    };
    let mut blocked: Vec<IpAddr> = Vec::new();
    let mut why: Vec<String> = Vec::new();
    let egress: Option<Vec<&crate::facts::control::SgRule>> = me
        .security_groups
        .iter()
        .map(|g| cf.sg_rules.get(g))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.into_iter().flatten().filter(|r| r.egress).collect());
    for eni in e.ips() {
        if let Some(rules) = &egress {
            let v: Vec<Option<bool>> = rules
                .iter()
                .map(|r| r.admits(eni, Some(&e.security_groups), 443))
                .collect();
            if !v.contains(&Some(true)) && !v.contains(&None) {
                why.push(format!(
                    "no outbound rule of this host's {} admits TCP 443 to {eni}",
                    me.security_groups.join(", ")
                ));
                blocked.push(eni);
                continue;
            }
        }
        let theirs = e.eni_subnets.get(&eni);
        if me.subnet.is_none() || me.subnet.as_ref() == theirs {
            continue; // network ACLs apply between subnets only
        }
        let mine = me.subnet.as_deref().and_then(|s| cf.acl_of(vpc, s));
        let theirs = theirs.and_then(|s| cf.acl_of(vpc, s));
        let mut denied = Vec::new();
        // (the ACL, whose subnet it guards, the peer, whether 443 leaves through it): 443 one way,
        // the ephemeral ports the other.
        let sides = [
            (mine, "this host's subnet".to_string(), eni, true),
            (theirs, format!("{eni}'s subnet"), ip, false),
        ];
        for (acl, whose, peer, out) in sides {
            let Some(a) = acl else { continue };
            let dir = |egress: bool| if egress { "outbound" } else { "inbound" };
            let rel = |egress: bool| if egress { "to" } else { "from" };
            if !a.passes(out, peer, 443) {
                denied.push(format!(
                    "{} ({whose}) denies {} TCP 443 {} {peer}",
                    a.id,
                    dir(out),
                    rel(out)
                ));
            }
            if EPHEMERAL.iter().all(|p| !a.passes(!out, peer, *p)) {
                denied.push(format!(
                    "{} ({whose}) denies {} TCP {}-{} {} {peer}",
                    a.id,
                    dir(!out),
                    EPHEMERAL[0],
                    EPHEMERAL[1],
                    rel(!out)
                ));
            }
        }
        if !denied.is_empty() {
            why.extend(denied);
            blocked.push(eni);
        }
    }
    if blocked.is_empty() {
        return;
    }
    out.push(
        confirmed(
            FindingId::ClientSgOrNaclBlocksEgress,
            why,
            &[FindingId::VpceSgBlocks443, FindingId::VpceEniUnreachable],
        )
        .predicts(Symptom::ConnectsFail(blocked), &[IN_FLIGHT]),
    );
}

/// What the endpoint's security groups say about TCP 443 from this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SgVerdict {
    /// A rule admits the address the endpoint sees.
    Admits(IpAddr),
    /// No rule admits it, and the endpoint sees this host's own address (inside the VPC).
    Blocks(IpAddr),
    /// No rule admits this host's local address, but the endpoint may see another one (the local
    /// address lies in none of the VPC's CIDRs: source NAT, a proxy, a container network).
    BlocksLocalAddress(IpAddr),
    /// The rules, the source or the VPC's CIDRs are not all known, or a rule references a prefix
    /// list, or a security group while this host's own groups are unknown: cannot be decided.
    Unknown,
}

/// Judge the endpoint's security groups against the address this host reaches the ENIs from.
pub(super) fn sg_verdict(f: &Facts, cf: &ControlFacts, e: &Endpoint) -> SgVerdict {
    let Some(ip) = f.enis.iter().find_map(|x| x.source) else {
        return SgVerdict::Unknown;
    };
    if e.security_groups.is_empty()
        || !e
            .security_groups
            .iter()
            .all(|g| cf.sg_rules.contains_key(g))
    {
        return SgVerdict::Unknown;
    }
    // This host's own security groups, when EC2 knows its interface at that address.
    let groups = e
        .vpc_id
        .as_ref()
        .and_then(|v| cf.client_enis.get(v))
        .filter(|c| c.ip == ip)
        .map(|c| c.security_groups.as_slice());
    let verdicts: Vec<Option<bool>> = e
        .security_groups
        .iter()
        .filter_map(|g| cf.sg_rules.get(g))
        .flatten()
        .filter(|r| !r.egress)
        .map(|r| r.admits(ip, groups, 443))
        .collect();
    if verdicts.contains(&Some(true)) {
        return SgVerdict::Admits(ip);
    }
    if verdicts.contains(&None) {
        return SgVerdict::Unknown;
    }
    let in_vpc = e
        .vpc_id
        .as_ref()
        .and_then(|v| cf.vpc_cidrs.get(v))
        .map(|cidrs| cidrs.iter().any(|c| cidr_contains(c, ip)));
    match in_vpc {
        Some(true) => SgVerdict::Blocks(ip),
        Some(false) => SgVerdict::BlocksLocalAddress(ip),
        None => SgVerdict::Unknown,
    }
}

/// `vpce_sg_blocks_443`, from the rules: when no rule admits the address the endpoint sees. A
/// connection to one of its ENIs that worked contradicts it (an info note, by reconciliation);
/// when the endpoint may see another address and nothing worked, it is no finding at all.
fn sg_rule(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let groups = e.security_groups.join(", ");
    let (ip, why) = match sg_verdict(f, cf, e) {
        SgVerdict::Blocks(ip) => (ip, format!("{ip} is inside the VPC: the endpoint sees it")),
        SgVerdict::BlocksLocalAddress(ip) => {
            let connected = f
                .invokes()
                .any(|p| e.ips().contains(&p.addr.ip()) && p.conn.connect == ConnectOutcome::Ok);
            if !connected {
                return;
            }
            (ip, format!("{ip} is in no CIDR of the endpoint's VPC"))
        }
        _ => return,
    };
    out.push(
        confirmed(
            FindingId::VpceSgBlocks443,
            vec![
                format!("no inbound rule of {groups} admits TCP 443 from {ip}"),
                format!("this host's address {why}"),
            ],
            &[FindingId::VpceSgBlocks443, FindingId::VpceEniUnreachable],
        )
        .predicts(
            Symptom::ConnectsFail(e.ips()),
            &[
                "source NAT, a proxy or a container network between pgw and the endpoint: the endpoint sees another address than this host's",
                IN_FLIGHT,
            ],
        ),
    );
}

fn api_rules(
    f: &Facts,
    cf: &ControlFacts,
    ep: Option<&Endpoint>,
    data: &[Finding],
    out: &mut Vec<Confirmed>,
) {
    if cf.api_not_found {
        out.push(confirmed(
            FindingId::ApiNotPrivateOrWrongApi,
            vec![format!(
                "apigateway:GetRestApi {}: NotFoundException",
                f.target.api_id
            )],
            &[FindingId::StageNotFound, FindingId::MissingHostOrApigwApiIdHeader],
        )
        .predicts(
            Symptom::StoppedAtGateway(None),
            &["pgw read another account or region than the one serving the API (credentials, --region)", IN_FLIGHT],
        ));
        return;
    }
    let Some(api) = &cf.api else { return };
    if !api.endpoint_types.iter().any(|t| t == "PRIVATE") {
        let ev = vec![format!(
            "apigateway:GetRestApi {}: endpointConfiguration.types={:?}",
            api.id, api.endpoint_types
        )];
        let id = if ep.is_some_and(|e| e.private_dns_enabled) {
            FindingId::PublicApiBlockedByPrivateDns
        } else {
            FindingId::ApiNotPrivateOrWrongApi
        };
        out.push(
            confirmed(
                id,
                ev,
                &[FindingId::StageNotFound, FindingId::DnsPrivateDnsDisabled],
            )
            .predicts(Symptom::StoppedAtGateway(None), &[IN_FLIGHT]),
        );
        return;
    }
    alias_rule(f, api, ep, out);
    if cf.stage.is_none()
        && cf.calls.iter().any(|c| {
            c.operation == Operation::GetStage
                && c.error.as_deref().is_some_and(|e| e.contains("NotFound"))
        })
    {
        out.push(
            confirmed(
                FindingId::StageNotFound,
                vec![format!(
                    "apigateway:GetStage {}: NotFoundException",
                    f.target.stage
                )],
                &[FindingId::StageNotFound],
            )
            .predicts(Symptom::StoppedAtGateway(None), &[IN_FLIGHT]),
        );
    }
    policy_rules(api, ep, data, out);
    method_rules(f, cf, out);
    waf_rule(f, cf, out);
}

/// 403 Forbidden on calls that, by the control plane, have nothing else to be refused for (the API
/// is PRIVATE and found, the stage found, no API key required there) while the stage has a WAF web
/// ACL: the web ACL, likely (pgw reads no WAF rule or log).
fn waf_rule(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    let Some(acl) = cf.stage.as_ref().and_then(|s| s.web_acl_arn.as_deref()) else {
        return;
    };
    // Without the methods an API key cannot be ruled out.
    let Some(resources) = &cf.resources else {
        return;
    };
    let key_paths: Vec<String> = resources
        .iter()
        .filter(|r| r.methods.iter().any(|m| m.api_key_required))
        .flat_map(|r| paths_of(f, &r.path))
        .collect();
    let forbidden: Vec<String> = f
        .invokes()
        .filter(|p| super::classify(p) == super::Class::Forbidden && !key_paths.contains(&p.path))
        .map(|p| {
            format!(
                "{} {} via {}: 403 ForbiddenException",
                f.target.method, p.path, p.addr
            )
        })
        .collect();
    if forbidden.is_empty() {
        return;
    }
    let mut ev = vec![format!(
        "apigateway:GetStage {}: webAclArn={acl}",
        f.target.stage
    )];
    ev.push("the API is PRIVATE, its stage exists, and these paths need no API key: nothing else in API Gateway refuses them with Forbidden".into());
    ev.extend(forbidden.into_iter().take(4));
    let mut c = confirmed(
        FindingId::WafBlocked,
        ev,
        &[
            FindingId::StageNotFound,
            FindingId::UnexpectedGatewayResponse,
        ],
    );
    // The web ACL's rules and logs are not read: what blocks is inferred.
    c.finding.confidence = Confidence::Likely;
    out.push(c);
}

/// The `{api}-{vpce}` alias route, with the client's endpoint not associated with the API.
fn alias_rule(f: &Facts, api: &RestApi, ep: Option<&Endpoint>, out: &mut Vec<Confirmed>) {
    let Some(e) = ep else { return };
    if f.target.invoke_via == InvokeVia::Alias && !api.vpc_endpoint_ids.contains(&e.id) {
        out.push(
            confirmed(
                FindingId::DnsVpceAliasNotAssociated,
                vec![format!(
                    "apigateway:GetRestApi {}: vpcEndpointIds={:?} lacks {}",
                    api.id, api.vpc_endpoint_ids, e.id
                )],
                &[FindingId::DnsVpceAliasNotAssociated, FindingId::DnsNxdomain],
            )
            .predicts(
                Symptom::NameMissing,
                &[
                    "the association changed minutes ago: DNS follows it with a delay",
                    IN_FLIGHT,
                ],
            ),
        );
    }
}

/// The resource policy, evaluated for the client's endpoint.
fn policy_rules(api: &RestApi, ep: Option<&Endpoint>, data: &[Finding], out: &mut Vec<Confirmed>) {
    let denied_on_data_plane: Vec<FindingId> = data
        .iter()
        .filter(|d| {
            matches!(
                d.id,
                FindingId::ResourcePolicyDeniesVpce | FindingId::ResourcePolicyMissing
            )
        })
        .map(|d| d.id)
        .collect();
    let denies =
        |c: Confirmed| c.predicts(Symptom::StoppedAtGateway(None), &[NOT_DEPLOYED, IN_FLIGHT]);
    match (&api.policy, ep) {
        (None, _) => out.push(denies(confirmed(
            FindingId::ResourcePolicyMissing,
            vec![format!("apigateway:GetRestApi {}: no resource policy", api.id)],
            &[FindingId::ResourcePolicyMissing, FindingId::ResourcePolicyDeniesVpce],
        ))),
        (Some(p), Some(e)) => match policy::parse(p).map(|v| (policy::evaluate(&v, &e.id), v)) {
            Some((Decision::ExplicitDeny, v)) => out.push(denies(confirmed(
                FindingId::ResourcePolicyDeniesVpce,
                vec![format!(
                    "resource policy denies {}: its aws:SourceVpce names {:?}",
                    e.id,
                    policy::named_endpoints(&v)
                )],
                &[FindingId::ResourcePolicyDeniesVpce, FindingId::ResourcePolicyMissing],
            ))),
            Some((Decision::ImplicitDeny, _)) => out.push(denies(confirmed(
                FindingId::ResourcePolicyMissing,
                vec![format!("resource policy has no Allow that applies to {}", e.id)],
                &[FindingId::ResourcePolicyMissing, FindingId::ResourcePolicyDeniesVpce],
            ))),
            Some((Decision::Allow, _)) if !denied_on_data_plane.is_empty() => out.push(confirmed(
                FindingId::PolicyChangedNotRedeployed,
                vec![format!(
                    "the current resource policy allows {}, yet API Gateway denies: the stage runs an older policy",
                    e.id
                )],
                &[FindingId::ResourcePolicyDeniesVpce, FindingId::ResourcePolicyMissing],
            )),
            _ => {}
        },
        _ => {}
    }
}

/// The configured paths served by stage resource `resource` (`/` serves `/`, `/{proxy+}` every
/// other path).
fn paths_of(f: &Facts, resource: &str) -> Vec<String> {
    let mut v: Vec<String> = f
        .invokes()
        .map(|p| p.path.clone())
        .filter(|p| (p == "/") == (resource == "/"))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn method_rules(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    let Some(resources) = &cf.resources else {
        return;
    };
    for (path, id) in [
        ("/", FindingId::MissingRootAnyMethod),
        ("/{proxy+}", FindingId::MissingProxyMethod),
    ] {
        let current = resources.iter().find(|r| r.path == path);
        let has_method = current.is_some_and(|r| !r.methods.is_empty());
        if !has_method {
            out.push(
                confirmed(
                    id,
                    vec![format!("apigateway:GetResources: {path} has no method")],
                    if id == FindingId::MissingRootAnyMethod {
                        &[FindingId::MissingRootAnyMethod]
                    } else {
                        &[FindingId::MissingProxyMethod]
                    },
                )
                .predicts(
                    Symptom::StoppedAtGateway(Some(paths_of(f, path))),
                    &[NOT_DEPLOYED, IN_FLIGHT],
                ),
            );
            continue;
        }
        if let Some(deployed) = &cf.deployed {
            let in_snapshot = deployed.get(path).is_some_and(|m| !m.is_empty());
            if !in_snapshot {
                out.push(confirmed(
                    FindingId::MethodNotDeployed,
                    vec![format!(
                        "{path} has a method in the API but not in the stage's deployment (apigateway:GetDeployment embed=apisummary)"
                    )],
                    if id == FindingId::MissingRootAnyMethod { &[FindingId::MissingRootAnyMethod] } else { &[FindingId::MissingProxyMethod] },
                )
                .predicts(Symptom::StoppedAtGateway(Some(paths_of(f, path))), &[IN_FLIGHT]));
            }
        }
    }
    // pgw sends no API key: a method that requires one refuses every call.
    for r in resources
        .iter()
        .filter(|r| r.path == "/" || r.path == "/{proxy+}")
    {
        let keyed: Vec<String> = r
            .methods
            .iter()
            .filter(|m| m.api_key_required)
            .map(|m| {
                format!(
                    "apigateway:GetResources: {} {}: apiKeyRequired=true",
                    m.http_method, r.path
                )
            })
            .collect();
        if keyed.is_empty() {
            continue;
        }
        let mut ev = keyed;
        ev.push("pgw's calls carry no x-api-key".into());
        out.push(
            confirmed(
                FindingId::ApiKeyRequired,
                ev,
                &[
                    FindingId::StageNotFound,
                    FindingId::UnexpectedGatewayResponse,
                ],
            )
            .predicts(
                Symptom::StoppedAtGateway(Some(paths_of(f, &r.path))),
                &[NOT_DEPLOYED, IN_FLIGHT],
            ),
        );
    }
    let iam: Vec<String> = resources
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r, m)))
        .filter(|(_, m)| m.authorization_type.as_deref() == Some("AWS_IAM"))
        .map(|(r, m)| format!("{} {}: authorizationType=AWS_IAM", m.http_method, r.path))
        .collect();
    // Signed calls are what AWS_IAM wants: only unsigned ones can fail for it.
    if !iam.is_empty() && !f.target.signed {
        out.push(
            confirmed(
                FindingId::IamAuthRequired,
                iam,
                &[FindingId::IamAuthRequired],
            )
            .predicts(Symptom::UnsignedRefused, &[NOT_DEPLOYED, IN_FLIGHT]),
        );
    }
}

/// The configured paths whose stage resource integrates through one of `links` (`None` when the
/// resources do not say: then every path).
fn paths_through(f: &Facts, cf: &ControlFacts, links: &[String]) -> Option<Vec<String>> {
    let v: Vec<String> = cf
        .resources
        .as_ref()?
        .iter()
        .filter(|r| cf.links_of(r).iter().any(|l| links.contains(l)))
        .flat_map(|r| paths_of(f, &r.path))
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The integrations' own settings against what they name: a VPC link taken from a stage variable
/// the stage does not define (or naming a link that does not exist), and a uri port on which the
/// link's NLB has no listener. Integration changes, like method changes, apply only once deployed.
fn integration_config_rules(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    let Some(resources) = &cf.resources else {
        return;
    };
    // One finding per cause, with every method and path it concerns.
    let mut found: BTreeMap<(FindingId, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for r in resources {
        for m in &r.methods {
            let Some(i) = &m.integration else { continue };
            if i.connection_type.as_deref() != Some("VPC_LINK") {
                continue;
            }
            let method = format!("{} {}", m.http_method, r.path);
            let conn = i.connection_id.as_deref().unwrap_or_default();
            let mut add = |id: FindingId, key: String, cause: Vec<String>| {
                let e = found.entry((id, key)).or_default();
                if e.0.is_empty() {
                    e.0 = cause;
                }
                e.0.push(format!("{method}: connectionId {conn}"));
                e.1.extend(paths_of(f, &r.path));
            };
            if let (Some(var), Some(stage)) = (i.link_variable(), &cf.stage) {
                match stage.variables.get(var) {
                    None => add(
                        FindingId::VpcLinkStageVariableUnresolved,
                        var.to_string(),
                        vec![format!(
                            "apigateway:GetStage {}: no stage variable {var} (variables: {:?})",
                            stage.name,
                            stage.variables.keys().collect::<Vec<_>>()
                        )],
                    ),
                    Some(id) if cf.missing_vpc_links.contains(id) => add(
                        FindingId::VpcLinkStageVariableUnresolved,
                        var.to_string(),
                        vec![format!(
                            "stage variable {var}={id}: apigateway:GetVpcLink: no such VPC link"
                        )],
                    ),
                    Some(_) => {}
                }
            }
            let Some(port) = i.uri_port() else { continue };
            let link = cf.link_of(i);
            let nlbs = cf
                .vpc_links
                .iter()
                .filter(|l| Some(&l.id) == link.as_ref())
                .flat_map(|l| l.target_arns.iter())
                .filter_map(|arn| cf.nlbs.iter().find(|n| &n.arn == arn));
            for nlb in nlbs {
                let Some(listeners) = &nlb.listeners else {
                    continue;
                };
                if let Some(l) = listeners.iter().find(|l| l.port == i32::from(port)) {
                    // Plain HTTP to a listener that terminates TLS. (`https://` to a TCP listener
                    // may be TLS passed through to the targets: no claim.)
                    let plain = i.uri.as_deref().is_some_and(|u| {
                        u.get(..7)
                            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
                    });
                    if plain && l.protocol.eq_ignore_ascii_case("TLS") {
                        add(
                            FindingId::IntegrationSchemeMismatch,
                            format!("{} {port}", nlb.arn),
                            vec![
                                format!(
                                    "integration uri {} sends plain HTTP to port {port}",
                                    i.uri.as_deref().unwrap_or_default()
                                ),
                                format!(
                                    "elasticloadbalancing:DescribeListeners {}: TLS {port} expects a TLS handshake",
                                    nlb.name
                                ),
                            ],
                        );
                    }
                    continue;
                }
                let served: Vec<String> = listeners
                    .iter()
                    .map(|l| format!("{} {}", l.protocol, l.port))
                    .collect();
                add(
                    FindingId::NlbListenerPortMismatch,
                    format!("{} {port}", nlb.arn),
                    vec![
                        format!(
                            "integration uri {} goes to port {port}",
                            i.uri.as_deref().unwrap_or_default()
                        ),
                        format!(
                            "elasticloadbalancing:DescribeListeners {}: {}",
                            nlb.name,
                            if served.is_empty() {
                                "no listener".to_string()
                            } else {
                                served.join(", ")
                            }
                        ),
                    ],
                );
            }
        }
    }
    for ((id, _), (evidence, mut paths)) in found {
        paths.sort();
        paths.dedup();
        let paths = (!paths.is_empty()).then_some(paths);
        out.push(
            confirmed(id, evidence, INTEGRATION_SYMPTOMS)
                .predicts(Symptom::IntegrationFails(paths), &[NOT_DEPLOYED, IN_FLIGHT]),
        );
    }
}

/// Seed path A: the PrivateLink endpoint has ENIs in Availability Zones (compared by id: names
/// differ between accounts) where the provider's NLB has no node. Connections through those ENIs
/// go nowhere, so only some calls fail: no prediction, since a call that works refutes nothing here.
/// Only ENIs the VPC link's NLB sees unhealthy as targets are named (a healthy one carries traffic).
fn privatelink_az_rules(cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    for e in &cf.service_endpoints {
        let Some(nlbs) = e
            .service_id()
            .and_then(|s| cf.provider_nlbs.get(s))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let provider: Option<Vec<&String>> = nlbs
            .iter()
            .flat_map(|n| n.subnets.iter())
            .map(|s| cf.subnet_azs.get(s))
            .collect();
        let Some(provider) = provider.filter(|p| !p.is_empty()) else {
            continue;
        };
        let ours: Option<Vec<(IpAddr, &String)>> = e
            .eni_subnets
            .iter()
            .map(|(ip, s)| Some((*ip, cf.subnet_azs.get(s)?)))
            .collect();
        let Some(ours) = ours else { continue };
        let names: Vec<&str> = nlbs.iter().map(|n| n.name.as_str()).collect();
        let mut azs: Vec<&str> = provider.iter().map(|a| a.as_str()).collect();
        azs.sort();
        azs.dedup();
        let unhealthy = |ip: &IpAddr| {
            let mut t = cf
                .nlbs
                .iter()
                .flat_map(|n| n.target_groups.iter().flat_map(|g| g.targets.iter()))
                .filter(|t| t.ip() == Some(*ip));
            t.next().is_some_and(|t| !t.healthy())
        };
        let ev: Vec<String> = ours
            .iter()
            .filter(|(ip, az)| !provider.contains(az) && unhealthy(ip))
            .map(|(ip, az)| {
                format!(
                    "{}'s ENI {ip} is in {az}; the provider's {} has nodes in {} only",
                    e.id,
                    names.join(", "),
                    azs.join(", ")
                )
            })
            .collect();
        if !ev.is_empty() {
            out.push(confirmed(
                FindingId::PrivatelinkAzMismatch,
                ev,
                INTEGRATION_SYMPTOMS,
            ));
        }
    }
}

fn integration_rules(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    integration_config_rules(f, cf, out);
    privatelink_az_rules(cf, out);
    let links = cf.integration_links();
    for id in &links {
        let Some(l) = cf.vpc_links.iter().find(|l| &l.id == id) else {
            continue;
        };
        let ev = vec![format!(
            "apigateway:GetVpcLink {}: status={}{}",
            l.id,
            l.status,
            l.status_message
                .as_deref()
                .map(|m| format!(", statusMessage={m:?}"))
                .unwrap_or_default()
        )];
        let paths = paths_through(f, cf, std::slice::from_ref(&l.id));
        let id = match l.status() {
            VpcLinkStatus::Failed | VpcLinkStatus::Deleting => FindingId::VpcLinkFailed,
            VpcLinkStatus::Pending => FindingId::VpcLinkPending,
            VpcLinkStatus::Available => {
                if let Some(c) = link_service_rule(cf, l) {
                    out.push(c.predicts(Symptom::IntegrationFails(paths), &[IN_FLIGHT]));
                }
                continue;
            }
            _ => continue,
        };
        out.push(
            confirmed(id, ev, INTEGRATION_SYMPTOMS)
                .predicts(Symptom::IntegrationFails(paths), &[IN_FLIGHT]),
        );
    }
    for nlb in &cf.nlbs {
        let mut found = Vec::new();
        if let Some(c) = nlb_sg_rule(cf, nlb) {
            found.push(c);
        }
        nlb_rules(cf, nlb, &mut found);
        let through: Vec<String> = cf
            .vpc_links
            .iter()
            .filter(|l| l.target_arns.contains(&nlb.arn))
            .map(|l| l.id.clone())
            .collect();
        let paths = paths_through(f, cf, &through);
        for c in found {
            let reasons: &'static [&'static str] = match c.finding.id {
                FindingId::NlbNoHealthyTargets
                | FindingId::HybridTargetUnreachable
                | FindingId::HybridRouteMissing
                | FindingId::HybridFirewallBlocksHealthcheck
                | FindingId::ProviderNlbUnhealthy
                | FindingId::TargetSgBlocksNlb
                | FindingId::NlbTargetIpDrift => &[HEALTH_CHECK, IN_FLIGHT],
                _ => &[IN_FLIGHT],
            };
            out.push(c.predicts(Symptom::IntegrationFails(paths.clone()), reasons));
        }
    }
}

/// A VPC link's NLB with security groups that PrivateLink traffic must pass
/// (`EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=on`), and no inbound rule of them that
/// admits a listener's port from anywhere: the VPC link's connections are dropped. A rule for the
/// port from some source is no claim (which source VPC-link traffic has is not documented).
fn nlb_sg_rule(cf: &ControlFacts, nlb: &Nlb) -> Option<Confirmed> {
    if nlb.security_groups.is_empty() || nlb.enforce_privatelink_sg != Some(true) {
        return None;
    }
    let listeners = nlb.listeners.as_ref()?;
    let rules: Vec<&crate::facts::control::SgRule> = nlb
        .security_groups
        .iter()
        .map(|g| cf.sg_rules.get(g))
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flatten()
        .filter(|r| !r.egress)
        .collect();
    let closed: Vec<String> = listeners
        .iter()
        .filter(|l| {
            !rules.iter().any(|r| {
                let tcp = r.protocol == "-1"
                    || r.protocol == "6"
                    || r.protocol.eq_ignore_ascii_case("tcp");
                tcp && (r.protocol == "-1" || (r.from_port <= l.port && l.port <= r.to_port))
            })
        })
        .map(|l| format!("{} {}", l.protocol, l.port))
        .collect();
    if closed.is_empty() {
        return None;
    }
    Some(confirmed(
        FindingId::NlbSgBlocksVpclinkTraffic,
        vec![
            format!(
                "elasticloadbalancing:DescribeLoadBalancers {}: security groups {}, EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=on",
                nlb.name,
                nlb.security_groups.join(", ")
            ),
            format!("no inbound rule of them admits its listeners {} from anywhere", closed.join(", ")),
        ],
        INTEGRATION_SYMPTOMS,
    ))
}

/// An AVAILABLE VPC link whose NLB has no endpoint service any more, or one that is not
/// `Available`: API Gateway reaches the NLB through that service (it made it with the link).
fn link_service_rule(cf: &ControlFacts, l: &crate::facts::control::VpcLink) -> Option<Confirmed> {
    let services = cf.endpoint_services.as_ref()?;
    let mut ev = Vec::new();
    for arn in &l.target_arns {
        // Only NLBs pgw read in this account: another account's NLB has its service there.
        if !cf.nlbs.iter().any(|n| &n.arn == arn) {
            continue;
        }
        match services.iter().find(|s| s.nlb_arns.contains(arn)) {
            None => ev.push(format!(
                "ec2:DescribeVpcEndpointServiceConfigurations: no endpoint service serves {arn}, the NLB of VPC link {} (the one API Gateway made with the link was deleted)",
                l.id
            )),
            Some(s) if !s.state.eq_ignore_ascii_case("available") => ev.push(format!(
                "endpoint service {} of VPC link {}'s NLB: ServiceState={}",
                s.id, l.id, s.state
            )),
            Some(_) => {}
        }
    }
    if ev.is_empty() {
        return None;
    }
    ev.push(format!(
        "apigateway:GetVpcLink {}: status={}",
        l.id, l.status
    ));
    Some(confirmed(
        FindingId::VpcLinkEndpointServiceBroken,
        ev,
        INTEGRATION_SYMPTOMS,
    ))
}

fn nlb_rules(cf: &ControlFacts, nlb: &Nlb, out: &mut Vec<Confirmed>) {
    let targets: Vec<&Target> = nlb
        .target_groups
        .iter()
        .flat_map(|t| t.targets.iter())
        .collect();
    if targets.is_empty() {
        out.push(confirmed(
            FindingId::NlbNoHealthyTargets,
            vec![format!(
                "elasticloadbalancing:DescribeTargetHealth: {} has no registered target",
                nlb.name
            )],
            INTEGRATION_SYMPTOMS,
        ));
        return;
    }
    let ev: Vec<String> = targets.iter().map(|t| target_line(t)).collect();
    // Seed path A: IP targets should be the ENI IPs of an interface endpoint in the NLB's VPC.
    let candidates: Vec<&Endpoint> = cf
        .service_endpoints
        .iter()
        .filter(|e| nlb.vpc_id.is_none() || e.vpc_id == nlb.vpc_id)
        .collect();
    let target_ips: Vec<IpAddr> = targets.iter().filter_map(|t| t.ip()).collect();
    let matched = candidates
        .iter()
        .find(|e| e.ips().iter().any(|ip| target_ips.contains(ip)))
        .copied()
        .or(
            if candidates.len() == 1 && !targets.iter().all(|t| t.az.as_deref() == Some("all")) {
                Some(candidates[0])
            } else {
                None
            },
        );
    if let Some(c) = matched.and_then(|e| privatelink_rule(cf, e, &target_ips, &ev)) {
        out.push(c);
        return;
    }
    if let Some(c) = matched.and_then(|e| provider_rule(cf, e)) {
        out.push(c);
        return;
    }
    if let Some(c) = matched.and_then(|e| target_sg_rule(cf, nlb, e, &targets, &ev)) {
        out.push(c);
        return;
    }
    if targets.iter().any(|t| {
        t.health() == TargetHealth::Unused && t.reason.as_deref() == Some("Target.NotInUse")
    }) {
        out.push(confirmed(
            FindingId::NlbTargetAzNotEnabled,
            ev,
            INTEGRATION_SYMPTOMS,
        ));
        return;
    }
    if targets.iter().all(|t| !t.healthy()) {
        let outside = matched.is_none()
            && targets.iter().all(|t| {
                t.az.as_deref() == Some("all")
                    || candidates
                        .iter()
                        .all(|e| t.ip().is_some_and(|ip| !e.ips().contains(&ip)))
            });
        if outside
            && targets.iter().any(|t| {
                t.reason.as_deref() == Some("Target.Timeout")
                    || t.reason.as_deref() == Some("Target.FailedHealthChecks")
            })
        {
            out.push(hybrid_rule(cf, nlb, &targets, ev));
        } else {
            out.push(confirmed(
                FindingId::NlbNoHealthyTargets,
                ev,
                INTEGRATION_SYMPTOMS,
            ));
        }
    }
}

/// Path B: IP targets in another network that do not answer. A target that times out is judged
/// by the routes of the NLB's subnets towards it: none (or a `blackhole` one) is
/// `hybrid_route_missing`; an active one leaves the far side, which drops (a firewall, or no
/// return route to the NLB's subnets). Without the routes it stays `hybrid_target_unreachable`,
/// naming both as alternatives; a target that refuses is reached, so it is that one too.
fn hybrid_rule(
    cf: &ControlFacts,
    nlb: &Nlb,
    targets: &[&Target],
    mut ev: Vec<String>,
) -> Confirmed {
    let timed_out: Vec<&Target> = targets
        .iter()
        .copied()
        .filter(|t| t.reason.as_deref() == Some("Target.Timeout"))
        .collect();
    let alternatives = [
        FindingId::HybridRouteMissing,
        FindingId::HybridFirewallBlocksHealthcheck,
    ];
    let unknown = |mut ev: Vec<String>, why: String| {
        ev.push(why);
        let mut c = confirmed(FindingId::HybridTargetUnreachable, ev, INTEGRATION_SYMPTOMS);
        c.finding = c.finding.alternatives(&alternatives);
        c
    };
    if timed_out.is_empty() {
        return confirmed(FindingId::HybridTargetUnreachable, ev, INTEGRATION_SYMPTOMS);
    }
    let Some(vpc) = nlb
        .vpc_id
        .as_deref()
        .filter(|v| cf.route_tables.contains_key(*v))
    else {
        return unknown(ev, "routes of the NLB's subnets not read (ec2:DescribeRouteTables): the route and the far side remain possible".into());
    };
    // The main route table stands for subnets pgw does not know.
    let subnets: Vec<&str> = if nlb.subnets.is_empty() {
        vec![""]
    } else {
        nlb.subnets.iter().map(String::as_str).collect()
    };
    let mut missing = Vec::new();
    let mut active = Vec::new();
    for t in &timed_out {
        let Some(ip) = t.ip() else { continue };
        for subnet in &subnets {
            let Some(table) = cf.route_table_of(vpc, subnet) else {
                return unknown(
                    ev,
                    format!("no route table known for subnet {subnet} of {vpc}"),
                );
            };
            let from = if subnet.is_empty() {
                table.id.clone()
            } else {
                format!("{} ({subnet})", table.id)
            };
            match table.route_to(ip) {
                None => missing.push(format!("route table {from} has no route to {ip}")),
                Some(r) if r.state.eq_ignore_ascii_case("blackhole") => missing.push(format!(
                    "route table {from}: {} -> {} is blackhole (its target is gone)",
                    r.destination, r.target
                )),
                Some(r) => active.push(format!(
                    "route table {from}: {} -> {} {} towards {ip}",
                    r.destination, r.target, r.state
                )),
            }
        }
    }
    if !missing.is_empty() {
        missing.append(&mut ev);
        return confirmed(FindingId::HybridRouteMissing, missing, INTEGRATION_SYMPTOMS);
    }
    if active.is_empty() {
        return unknown(ev, "the targets' addresses are not IP addresses".into());
    }
    active.push("the way out of the VPC exists, yet the target does not answer: the far side drops (a firewall, or no return route to the NLB's subnets)".into());
    active.append(&mut ev);
    let mut c = confirmed(
        FindingId::HybridFirewallBlocksHealthcheck,
        active,
        INTEGRATION_SYMPTOMS,
    );
    c.finding = c.finding.alternatives(&[FindingId::HybridRouteMissing]);
    c
}

/// Seed path A: the NLB's targets are endpoint `e`'s ENIs, time out, and `e`'s security groups
/// admit the target port from none of the NLB's subnets (IP targets see the NLB's own addresses:
/// client IP preservation is off for them). A rule that references a security group or a prefix
/// list cannot be judged: then nothing is claimed.
fn target_sg_rule(
    cf: &ControlFacts,
    nlb: &Nlb,
    e: &Endpoint,
    targets: &[&Target],
    ev: &[String],
) -> Option<Confirmed> {
    if !targets
        .iter()
        .any(|t| t.reason.as_deref() == Some("Target.Timeout"))
        || e.security_groups.is_empty()
        || nlb.subnets.is_empty()
    {
        return None;
    }
    let port = targets.iter().find_map(|t| t.port)?;
    let rules: Vec<&crate::facts::control::SgRule> = e
        .security_groups
        .iter()
        .map(|g| cf.sg_rules.get(g))
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flatten()
        .filter(|r| !r.egress)
        .collect();
    let cidrs: Vec<&String> = nlb
        .subnets
        .iter()
        .map(|s| cf.subnet_cidrs.get(s))
        .collect::<Option<_>>()?;
    let mut blocked = Vec::new();
    for c in &cidrs {
        let (first, last) = crate::facts::control::cidr_bounds(c)?;
        // A rule admits the subnet when it admits its first and its last address.
        let admitted: Vec<Option<bool>> = rules
            .iter()
            .map(
                |r| match (r.admits(first, None, port), r.admits(last, None, port)) {
                    (Some(a), Some(b)) => Some(a && b),
                    _ => None,
                },
            )
            .collect();
        if admitted.contains(&Some(true)) {
            continue;
        }
        if admitted.contains(&None) {
            return None;
        }
        blocked.push(c.as_str());
    }
    if blocked.is_empty() {
        return None;
    }
    let mut ev2 = vec![
        format!(
            "{}'s targets are the ENIs of {}: no inbound rule of {} admits TCP {port} from its subnets {}",
            nlb.name,
            e.id,
            e.security_groups.join(", "),
            blocked.join(", ")
        ),
        "IP targets see the NLB's own addresses (client IP preservation is off for them), for health checks and traffic".into(),
    ];
    ev2.extend(ev.iter().cloned());
    Some(confirmed(
        FindingId::TargetSgBlocksNlb,
        ev2,
        INTEGRATION_SYMPTOMS,
    ))
}

/// Seed path A's far end: the NLB behind endpoint `e`'s service, read in the provider's account
/// with its role, has no healthy target (the EKS service behind it). PrivateLink still accepts the
/// connections, so the consumer side looks healthy.
fn provider_rule(cf: &ControlFacts, e: &Endpoint) -> Option<Confirmed> {
    let service = e.service_id()?;
    let nlbs = cf.provider_nlbs.get(service).filter(|n| !n.is_empty())?;
    let targets: Vec<&Target> = nlbs
        .iter()
        .flat_map(|n| n.target_groups.iter().flat_map(|t| t.targets.iter()))
        .collect();
    if targets.iter().any(|t| t.healthy()) {
        return None;
    }
    let names: Vec<&str> = nlbs.iter().map(|n| n.name.as_str()).collect();
    let mut ev = vec![format!(
        "provider account: endpoint service {service} (behind {}) is served by {}",
        e.id,
        names.join(", ")
    )];
    if targets.is_empty() {
        ev.push("elasticloadbalancing:DescribeTargetHealth: no registered target".into());
    }
    ev.extend(targets.iter().map(|t| target_line(t)));
    Some(confirmed(
        FindingId::ProviderNlbUnhealthy,
        ev,
        INTEGRATION_SYMPTOMS,
    ))
}

/// `target 10.0.1.5:443 (us-east-1a) unhealthy / Target.Timeout`.
fn target_line(t: &Target) -> String {
    format!(
        "target {}:{} ({}) {}{}",
        t.id,
        t.port.unwrap_or_default(),
        t.az.as_deref().unwrap_or("?"),
        t.state,
        t.reason
            .as_deref()
            .map(|r| format!(" / {r}"))
            .unwrap_or_default()
    )
}

/// Seed path A: the NLB's IP targets are the ENIs of interface endpoint `e` to a PrivateLink
/// service: its connection pending or refused, or targets that are no longer its ENIs.
fn privatelink_rule(
    cf: &ControlFacts,
    e: &Endpoint,
    target_ips: &[IpAddr],
    ev: &[String],
) -> Option<Confirmed> {
    let conn = cf.provider_connections.get(&e.id).cloned();
    // The provider side, when read, says more than the consumer side.
    let state = conn.as_deref().map_or(e.state(), EndpointState::from_wire);
    let mut ev2 = vec![format!(
        "consumer endpoint {} (service {}): State={}",
        e.id,
        e.service_name.as_deref().unwrap_or("?"),
        e.state
    )];
    if let Some(c) = conn {
        ev2.push(format!(
            "provider ec2:DescribeVpcEndpointConnections {}: {c}",
            e.id
        ));
    }
    if state.is_pending() {
        ev2.extend(ev.iter().cloned());
        return Some(confirmed(
            FindingId::EndpointConnectionPendingAcceptance,
            ev2,
            INTEGRATION_SYMPTOMS,
        ));
    }
    if state.is_refused() {
        ev2.extend(ev.iter().cloned());
        return Some(confirmed(
            FindingId::EndpointConnectionRejectedOrExpired,
            ev2,
            INTEGRATION_SYMPTOMS,
        ));
    }
    let expected = e.ips();
    let stale: Vec<&IpAddr> = target_ips
        .iter()
        .filter(|ip| !expected.contains(ip))
        .collect();
    if !stale.is_empty() {
        let mut ev3 = vec![format!(
            "target IPs {:?} vs the ENI IPs of {}: {:?}",
            target_ips, e.id, expected
        )];
        ev3.extend(ev.iter().cloned());
        return Some(confirmed(
            FindingId::NlbTargetIpDrift,
            ev3,
            INTEGRATION_SYMPTOMS,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    //! Cases with evidence or ranking of their own; every control-plane id against its symptom
    //! and against a contradicting data plane is the matrix (`super::super::matrix`).
    use super::super::testutil::*;
    use crate::facts::HttpOutcome;
    use crate::finding::{Confidence, FindingId};

    fn cp(f: &mut crate::facts::Facts) -> &mut crate::facts::control::ControlFacts {
        f.control.as_mut().unwrap()
    }

    fn first(f: &crate::facts::Facts) -> (FindingId, Confidence, Vec<String>) {
        let d = super::super::diagnose(f);
        assert!(!d.is_empty(), "no finding");
        (d[0].id, d[0].confidence, d[0].evidence.clone())
    }

    fn set_targets(f: &mut crate::facts::Facts, state: &str, reason: Option<&str>) {
        for t in &mut cp(f).nlbs[0].target_groups[0].targets {
            t.state = state.into();
            t.reason = reason.map(str::to_string);
        }
    }

    fn network_504() -> HttpOutcome {
        gateway(
            504,
            "InternalServerErrorException",
            "Network error communicating with endpoint",
        )
    }

    #[test]
    fn healthy_control_plane_adds_nothing() {
        assert!(ids(&healthy_cp()).is_empty());
    }

    #[test]
    fn ip_drift_replaces_the_504_as_root_cause() {
        let mut f = healthy_cp();
        set_all(&mut f, network_504());
        set_targets(&mut f, "unhealthy", Some("Target.Timeout"));
        cp(&mut f).service_endpoints[0].enis[0].1 = "10.0.1.61".parse().unwrap();
        cp(&mut f).service_endpoints[0].enis[1].1 = "10.0.2.61".parse().unwrap();
        let (id, conf, ev) = first(&f);
        assert_eq!(id, FindingId::NlbTargetIpDrift);
        assert_eq!(conf, Confidence::Confirmed);
        assert!(
            ev.iter().any(|e| e.contains("504")),
            "data-plane symptom kept as evidence: {ev:?}"
        );
        assert_eq!(ids(&f), vec![FindingId::NlbTargetIpDrift]);
    }

    #[test]
    fn hybrid_target() {
        let mut f = healthy_cp();
        set_all(
            &mut f,
            gateway(
                504,
                "InternalServerErrorException",
                "Endpoint request timed out",
            ),
        );
        cp(&mut f).service_endpoints.clear();
        for t in &mut cp(&mut f).nlbs[0].target_groups[0].targets {
            t.id = "172.31.12.59".into();
            t.az = Some("all".into());
            t.state = "unhealthy".into();
            t.reason = Some("Target.Timeout".into());
        }
        assert_eq!(first(&f).0, FindingId::HybridTargetUnreachable);
    }

    #[test]
    fn vpc_link_failed_and_pending() {
        let mut f = healthy_cp();
        set_all(
            &mut f,
            gateway(500, "InternalServerErrorException", "Internal server error"),
        );
        cp(&mut f).vpc_links[0].status = "FAILED".into();
        cp(&mut f).vpc_links[0].status_message = Some("NLB ARN is malformed".into());
        let (id, _, ev) = first(&f);
        assert_eq!(id, FindingId::VpcLinkFailed);
        assert!(ev[0].contains("NLB ARN is malformed"));
        cp(&mut f).vpc_links[0].status = "PENDING".into();
        assert_eq!(first(&f).0, FindingId::VpcLinkPending);
    }

    #[test]
    fn an_endpoint_eni_in_an_az_the_provider_lacks_is_named_when_its_target_is_unhealthy() {
        let mut f = healthy_cp();
        let c = cp(&mut f);
        let service = "vpce-svc-0123456789abcdef0";
        c.service_endpoints[0].service_name =
            Some(format!("com.amazonaws.vpce.us-east-1.{service}"));
        c.service_endpoints[0].eni_subnets = [
            ("10.0.1.60".parse().unwrap(), "subnet-a".to_string()),
            ("10.0.2.60".parse().unwrap(), "subnet-b".to_string()),
        ]
        .into_iter()
        .collect();
        let mut provider = c.nlbs[0].clone();
        provider.name = "eks-orders-nlb".into();
        provider.subnets = vec!["subnet-p1".into()];
        c.provider_nlbs.insert(service.into(), vec![provider]);
        for (s, az) in [
            ("subnet-a", "use1-az1"),
            ("subnet-b", "use1-az2"),
            ("subnet-p1", "use1-az1"),
        ] {
            c.subnet_azs.insert(s.into(), az.into());
        }
        // The ENI in use1-az2 is still a healthy target: it carries traffic, nothing is claimed.
        assert!(!ids(&f).contains(&FindingId::PrivatelinkAzMismatch));
        let t = &mut cp(&mut f).nlbs[0].target_groups[0].targets[1];
        t.state = "unhealthy".into();
        t.reason = Some("Target.Timeout".into());
        set_path(
            &mut f,
            "/",
            gateway(
                504,
                "InternalServerErrorException",
                "Endpoint request timed out",
            ),
        );
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (FindingId::PrivatelinkAzMismatch, Confidence::Confirmed)
        );
        assert!(
            ev[0].contains("10.0.2.60 is in use1-az2") && ev[0].contains("use1-az1 only"),
            "{ev:?}"
        );
    }

    #[test]
    fn a_wrong_answer_from_a_resolver_outside_the_vpc_names_the_resolver() {
        let wrong = |resolver: &str| {
            let mut f = healthy_cp();
            f.dns[0].resolver = resolver.into();
            f.dns[0].addrs = vec!["54.239.1.1".parse().unwrap()];
            set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
            f
        };
        let f = wrong("10.9.9.9:53");
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (
                FindingId::DnsClientNotUsingVpcResolver,
                Confidence::Confirmed
            )
        );
        assert!(ev.iter().any(|e| e.contains("10.0.0.2")), "{ev:?}");
        // The VPC resolver itself answered wrong: something else (a private hosted zone).
        for ours in ["10.0.0.2:53", "169.254.169.253:53"] {
            assert!(
                !ids(&wrong(ours)).contains(&FindingId::DnsClientNotUsingVpcResolver),
                "{ours}"
            );
        }
        // A right answer from another resolver is no claim.
        let mut f = healthy_cp();
        f.dns[0].resolver = "10.9.9.9:53".into();
        assert!(ids(&f).is_empty());
    }

    #[test]
    fn forbidden_with_a_web_acl_and_nothing_else_is_likely_the_waf() {
        let mut f = healthy_cp();
        set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
        assert!(!ids(&f).contains(&FindingId::WafBlocked), "no web ACL");
        cp(&mut f).stage.as_mut().unwrap().web_acl_arn =
            Some("arn:aws:wafv2:us-east-1:111122223333:regional/webacl/orders/1".into());
        let (id, conf, ev) = first(&f);
        assert_eq!((id, conf), (FindingId::WafBlocked, Confidence::Likely));
        assert!(ev[0].contains("webAclArn=arn:aws:wafv2"), "{ev:?}");
        // An API key explains the same 403s, and is read, not inferred.
        for r in cp(&mut f).resources.as_mut().unwrap() {
            r.methods[0].api_key_required = true;
        }
        assert_eq!(first(&f).0, FindingId::ApiKeyRequired);
        assert!(!ids(&f).contains(&FindingId::WafBlocked));
        // Without the methods an API key cannot be ruled out: no claim about the WAF.
        cp(&mut f).resources = None;
        assert!(!ids(&f).contains(&FindingId::WafBlocked));
    }

    #[test]
    fn a_uri_port_without_listener_is_one_finding_naming_both_sides() {
        let mut f = healthy_cp();
        set_all(
            &mut f,
            gateway(
                504,
                "InternalServerErrorException",
                "Endpoint request timed out",
            ),
        );
        for r in cp(&mut f).resources.as_mut().unwrap() {
            r.methods[0].integration.as_mut().unwrap().uri =
                Some("http://nlb-a.internal:8080/{proxy}".into());
        }
        let (id, _, ev) = first(&f);
        assert_eq!(id, FindingId::NlbListenerPortMismatch);
        assert!(ev.iter().any(|e| e.contains("port 8080")), "{ev:?}");
        assert!(ev.iter().any(|e| e.ends_with("nlb-a: TCP 80")), "{ev:?}");
        let n = ids(&f)
            .iter()
            .filter(|i| **i == FindingId::NlbListenerPortMismatch)
            .count();
        assert_eq!(n, 1, "one finding for both methods");
        // Listeners not read: no claim.
        cp(&mut f).nlbs[0].listeners = None;
        assert!(!ids(&f).contains(&FindingId::NlbListenerPortMismatch));
    }

    #[test]
    fn policy_allows_but_gateway_denies_is_not_redeployed() {
        let mut f = healthy_cp();
        set_all(
            &mut f,
            gateway(
                403,
                "AccessDeniedException",
                "User: anonymous is not authorized ... with an explicit deny",
            ),
        );
        assert_eq!(first(&f).0, FindingId::PolicyChangedNotRedeployed);
    }

    #[test]
    fn root_method_in_api_but_not_in_deployment() {
        let mut f = healthy_cp();
        set_path(
            &mut f,
            "/",
            gateway(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
        );
        cp(&mut f).deployed.as_mut().unwrap().remove("/");
        assert_eq!(first(&f).0, FindingId::MethodNotDeployed);
    }

    #[test]
    fn private_dns_off_and_vpc_dns_off() {
        let mut f = healthy_cp();
        f.dns[0].addrs = vec!["54.239.1.1".parse().unwrap()];
        set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
        cp(&mut f).execute_api_endpoints[0].private_dns_enabled = false;
        assert_eq!(first(&f).0, FindingId::DnsPrivateDnsDisabled);
        assert_eq!(first(&f).1, Confidence::Confirmed);
        cp(&mut f).vpc_dns.insert("vpc-1".into(), (false, true));
        assert_eq!(first(&f).0, FindingId::DnsVpcDnsAttributesDisabled);
    }

    #[test]
    fn security_group_without_443_from_client() {
        let mut f = healthy_cp();
        for e in &mut f.enis {
            for p in &mut e.paths {
                p.conn.connect = crate::facts::ConnectOutcome::Timeout;
                p.conn.tls = None;
                p.http = HttpOutcome::NotSent;
            }
        }
        cp(&mut f).sg_rules.get_mut("sg-1").unwrap()[0].cidr = Some("192.168.0.0/16".into());
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (FindingId::VpceSgBlocks443, Confidence::Confirmed)
        );
        assert!(ev.iter().any(|e| e.contains("10.0.3.7")), "{ev:?}");
    }

    #[test]
    fn endpoint_not_available() {
        let mut f = healthy_cp();
        for e in &mut f.enis {
            for p in &mut e.paths {
                p.conn.connect = crate::facts::ConnectOutcome::Refused;
                p.conn.tls = None;
                p.http = HttpOutcome::NotSent;
            }
        }
        cp(&mut f).execute_api_endpoints[0].state = "failed".into();
        assert_eq!(
            first(&f).0,
            FindingId::VpceNotAvailable,
            "{:?}",
            super::super::diagnose(&f)
        );
        assert_eq!(first(&f).1, Confidence::Confirmed);
    }
}
