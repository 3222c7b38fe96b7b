//! Behind the integrations: their settings, VPC links and NLBs, seed path A (PrivateLink, the
//! provider side) and path B (routes to another network).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::facts::control::{
    ControlFacts, Endpoint, EndpointState, Integration, Nlb, Target, TargetHealth, VpcLinkStatus,
};
use crate::facts::Facts;
use crate::finding::FindingId;

use super::super::reconcile::Symptom;
use super::api::paths_of;
use super::{confirmed, Confirmed, HEALTH_CHECK, INTEGRATION_SYMPTOMS, IN_FLIGHT, NOT_DEPLOYED};

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

/// One cause found in an integration's settings: its id, what makes it one cause (a variable, an
/// NLB and port), and its evidence.
type Cause = (FindingId, String, Vec<String>);

/// The integrations' own settings against what they name: a VPC link taken from a stage variable
/// the stage does not define (or naming a link that does not exist), and a uri port on which the
/// link's NLB has no listener, or a TLS one for plain HTTP. Integration changes, like method
/// changes, apply only once deployed.
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
            let conn = i.connection_id.as_deref().unwrap_or_default();
            let causes = link_variable_cause(cf, i)
                .into_iter()
                .chain(listener_causes(cf, i));
            for (id, key, cause) in causes {
                let e = found.entry((id, key)).or_default();
                if e.0.is_empty() {
                    e.0 = cause;
                }
                e.0.push(format!("{} {}: connectionId {conn}", m.http_method, r.path));
                e.1.extend(paths_of(f, &r.path));
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

/// `${stageVariables.NAME}` as the connection id, with the stage defining no NAME, or naming a
/// VPC link that does not exist.
fn link_variable_cause(cf: &ControlFacts, i: &Integration) -> Option<Cause> {
    let (var, stage) = (i.link_variable()?, cf.stage.as_ref()?);
    let why = match stage.variables.get(var) {
        None => format!(
            "apigateway:GetStage {}: no stage variable {var} (variables: {:?})",
            stage.name,
            stage.variables.keys().collect::<Vec<_>>()
        ),
        Some(id) if cf.missing_vpc_links.contains(id) => {
            format!("stage variable {var}={id}: apigateway:GetVpcLink: no such VPC link")
        }
        Some(_) => return None,
    };
    Some((
        FindingId::VpcLinkStageVariableUnresolved,
        var.to_string(),
        vec![why],
    ))
}

/// The uri's port against the listeners of the link's NLBs: none there, or a TLS one for plain
/// HTTP. (`https://` to a TCP listener may be TLS passed through to the targets: no claim.)
fn listener_causes(cf: &ControlFacts, i: &Integration) -> Vec<Cause> {
    let Some(port) = i.uri_port() else {
        return Vec::new();
    };
    let uri = i.uri.as_deref().unwrap_or_default();
    let plain = uri
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    let link = cf.link_of(i);
    let nlbs = cf
        .vpc_links
        .iter()
        .filter(|l| Some(&l.id) == link.as_ref())
        .flat_map(|l| l.target_arns.iter())
        .filter_map(|arn| cf.nlbs.iter().find(|n| &n.arn == arn));
    let mut out = Vec::new();
    for nlb in nlbs {
        let Some(listeners) = &nlb.listeners else {
            continue;
        };
        let key = format!("{} {port}", nlb.arn);
        match listeners.iter().find(|l| l.port == i32::from(port)) {
            Some(l) if plain && l.protocol.eq_ignore_ascii_case("TLS") => out.push((
                FindingId::IntegrationSchemeMismatch,
                key,
                vec![
                    format!("integration uri {uri} sends plain HTTP to port {port}"),
                    format!(
                        "elasticloadbalancing:DescribeListeners {}: TLS {port} expects a TLS handshake",
                        nlb.name
                    ),
                ],
            )),
            Some(_) => {}
            None => {
                let served: Vec<String> = listeners
                    .iter()
                    .map(|l| format!("{} {}", l.protocol, l.port))
                    .collect();
                let served = if served.is_empty() {
                    "no listener".to_string()
                } else {
                    served.join(", ")
                };
                out.push((
                    FindingId::NlbListenerPortMismatch,
                    key,
                    vec![
                        format!("integration uri {uri} goes to port {port}"),
                        format!(
                            "elasticloadbalancing:DescribeListeners {}: {served}",
                            nlb.name
                        ),
                    ],
                ));
            }
        }
    }
    out
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

/// A greedy resource's HTTP integration that does not pass the matched path on (see
/// [`Integration::greedy_mapping_gap`]), named when the backend answered 404 or 421 (no
/// `x-amzn-ErrorType`) on every call of those paths that got an answer: the backend was reached
/// and knows no such path or host. A success on those paths means the mapping leads somewhere
/// that works: no finding.
fn mapping_rule(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    let Some(resources) = &cf.resources else {
        return;
    };
    for r in resources {
        for m in &r.methods {
            let Some(i) = &m.integration else { continue };
            if !matches!(i.kind.as_deref(), Some("HTTP" | "HTTP_PROXY")) {
                continue;
            }
            let Some(gap) = i.greedy_mapping_gap(&r.path) else {
                continue;
            };
            let paths = paths_of(f, &r.path);
            let answers: Vec<_> = f
                .invokes()
                .filter(|p| paths.contains(&p.path))
                .filter_map(|p| p.response().map(|resp| (p, resp)))
                .collect();
            let misses = |r: &crate::facts::HttpResponse| {
                r.source == crate::facts::ResponseSource::Backend && matches!(r.status, 404 | 421)
            };
            if answers.is_empty() || !answers.iter().all(|(_, r)| misses(r)) {
                continue;
            }
            let mut ev = vec![format!(
                "apigateway:GetResources {} {}: {gap}",
                m.http_method, r.path
            )];
            ev.extend(
                answers
                    .iter()
                    .take(2)
                    .map(|(p, _)| super::super::invoke_line(&f.target.method, p)),
            );
            out.push(confirmed(
                FindingId::IntegrationPathOrHostMappingWrong,
                ev,
                &[FindingId::IntegrationPathOrHostMappingWrong],
            ));
        }
    }
}

pub(super) fn integration_rules(f: &Facts, cf: &ControlFacts, out: &mut Vec<Confirmed>) {
    integration_config_rules(f, cf, out);
    mapping_rule(f, cf, out);
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
                | FindingId::HybridTargetRegistrationInvalid
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
    let rules = cf.rules_of(&nlb.security_groups, false)?;
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
    if let Some(c) = registration_rule(cf, nlb, &targets, &ev) {
        out.push(c);
        return;
    }
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
    // The consumer's account: the VPC link's NLB lives there.
    let account = nlb.arn.split(':').nth(4).unwrap_or_default();
    if let Some(c) = matched.and_then(|e| privatelink_rule(cf, e, account, &target_ips, &ev)) {
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

/// No target is healthy, and IP targets are registered the way ELB refuses: outside the VPC with
/// an Availability Zone (it must be `all` there), or with `AvailabilityZone=all` at a publicly
/// routable address (outside the VPC only 10/8, 172.16/12, 192.168/16 and 100.64/10 are accepted).
fn registration_rule(
    cf: &ControlFacts,
    nlb: &Nlb,
    targets: &[&Target],
    ev: &[String],
) -> Option<Confirmed> {
    if targets.iter().any(|t| t.healthy()) {
        return None;
    }
    let vpc = nlb.vpc_id.as_deref();
    let cidrs = vpc.and_then(|v| cf.vpc_cidrs.get(v));
    let mut why = Vec::new();
    for t in targets {
        let Some(ip) = t.ip() else { continue };
        let inside = cidrs.map(|c| {
            c.iter()
                .any(|c| crate::facts::control::cidr_contains(c, ip))
        });
        match t.az.as_deref() {
            Some("all") if inside != Some(true) && crate::facts::control::publicly_routable(ip) => {
                why.push(format!(
                    "{ip} (AvailabilityZone=all) is a publicly routable address: an IP target outside the VPC must be in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
                ))
            }
            Some(az) if az != "all" && inside == Some(false) => why.push(format!(
                "{ip} (AvailabilityZone={az}) is outside {}'s CIDRs {}: an IP target outside the VPC must be registered with AvailabilityZone=all",
                vpc.unwrap_or_default(),
                cidrs.map(|c| c.join(", ")).unwrap_or_default()
            )),
            _ => {}
        }
    }
    if why.is_empty() {
        return None;
    }
    let mut all = ev.to_vec();
    all.extend(why);
    Some(confirmed(
        FindingId::HybridTargetRegistrationInvalid,
        all,
        INTEGRATION_SYMPTOMS,
    ))
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
    let rules = cf.rules_of(&e.security_groups, false)?;
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
    account: &str,
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
        // Read in the provider's account: is the consumer's account still allowed at all?
        let allowed = e
            .service_id()
            .and_then(|s| cf.service_principals.get(s).map(|p| (s, p)));
        if let Some((service, principals)) = allowed {
            let mine =
                |p: &String| p == "*" || p == account || p.split(':').nth(4) == Some(account);
            if !account.is_empty() && !principals.iter().any(mine) {
                ev2.insert(0, format!(
                    "provider ec2:DescribeVpcEndpointServicePermissions {service}: allowed principals {principals:?} do not include account {account}"
                ));
                ev2.extend(ev.iter().cloned());
                return Some(confirmed(
                    FindingId::EndpointServicePermissionMissing,
                    ev2,
                    INTEGRATION_SYMPTOMS,
                ));
            }
        }
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
