//! The endpoint and the way to it: its state, DNS settings and resolver, security groups, and this
//! host's own security groups and network ACLs.

use std::net::IpAddr;

use crate::facts::control::{cidr_contains, ControlFacts, Endpoint, EndpointState};
use crate::facts::InvokeVia;
use crate::facts::{ConnectOutcome, DnsOutcome, Facts};
use crate::finding::FindingId;

use super::super::reconcile::Symptom;
use super::{confirmed, Confirmed, IN_FLIGHT};

pub(super) fn endpoint_rules(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
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
    endpoint_name_rule(f, e, out);
    sg_rule(f, cf, e, out);
    client_network_rule(f, cf, e, out);
    client_route_rule(f, cf, e, out);
}

/// The endpoint name pgw was given (`--vpce-dns`) has the shape of an execute-api endpoint's name
/// but is none of this endpoint's DNS names (a typo, another endpoint, a deleted one), and no
/// resolver knows it. Driven by the data plane: a name that resolves is for the probes to judge.
fn endpoint_name_rule(f: &Facts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let Some(name) = f.target.vpce_dns.as_deref() else {
        return;
    };
    let shaped = name.contains(".execute-api.") && name.contains(".vpce.amazonaws.com");
    let ours = |n: &String| n.trim_end_matches('.').eq_ignore_ascii_case(name);
    if !shaped || e.dns_names.is_empty() || e.dns_names.iter().any(ours) {
        return;
    }
    let lookups: Vec<_> = f
        .dns
        .iter()
        .chain(f.reference_dns.iter())
        .filter(|d| d.name.eq_ignore_ascii_case(name))
        .collect();
    let missing = |d: &&crate::facts::DnsFacts| {
        matches!(d.outcome, DnsOutcome::NxDomain | DnsOutcome::NoData)
    };
    if lookups.is_empty() || !lookups.iter().all(missing) {
        return;
    }
    let mut ev: Vec<String> = lookups
        .iter()
        .map(|d| format!("{} at {}: {:?}", d.name, d.resolver, d.outcome))
        .collect();
    ev.dedup();
    ev.push(format!(
        "ec2:DescribeVpcEndpoints {}: DnsEntries are {}; {name} is none of them",
        e.id,
        e.dns_names.join(", ")
    ));
    out.push(confirmed(
        FindingId::DnsWrongHostnameOrPartition,
        ev,
        &[FindingId::DnsNxdomain, FindingId::DnsPrivateDnsDisabled],
    ));
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
    let egress = cf.rules_of(&me.security_groups, true);
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

/// This host in another VPC than the endpoint: the route table of its subnet must lead to each
/// ENI, and the route table of each ENI's subnet back to this host (a missing or blackhole route
/// either way drops the connection). Known only when EC2 knows this host's interface and both
/// VPCs' route tables were read.
fn client_route_rule(f: &Facts, cf: &ControlFacts, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let (Some(vpc), Some(ip)) = (e.vpc_id.as_deref(), f.enis.iter().find_map(|x| x.source)) else {
        return;
    };
    let Some(me) = cf
        .client_enis
        .values()
        .find(|c| c.ip == ip && c.vpc_id != vpc)
    else {
        return;
    };
    let Some(mine) = me
        .subnet
        .as_deref()
        .and_then(|s| cf.route_table_of(&me.vpc_id, s))
    else {
        return;
    };
    if !cf.route_tables.contains_key(vpc) {
        return;
    }
    let gap = |t: &crate::facts::control::RouteTable, to: IpAddr| match t.route_to(to) {
        None => Some(format!("{} has no route to {to}", t.id)),
        Some(r) if r.state != "active" => Some(format!(
            "{}'s route {} to {to} via {} is {}",
            t.id, r.destination, r.target, r.state
        )),
        Some(_) => None,
    };
    let mut why = Vec::new();
    let mut blocked = Vec::new();
    for eni in e.ips() {
        // An ENI whose subnet is not known: the main route table stands for it.
        let subnet = e.eni_subnets.get(&eni).map_or("", String::as_str);
        let back = cf.route_table_of(vpc, subnet);
        let gaps: Vec<String> = [
            gap(mine, eni).map(|g| format!("this host's subnet's {g}")),
            back.and_then(|t| gap(t, ip))
                .map(|g| format!("{eni}'s subnet's {g} (the way back)")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !gaps.is_empty() {
            why.extend(gaps);
            blocked.push(eni);
        }
    }
    if blocked.is_empty() {
        return;
    }
    why.insert(
        0,
        format!(
            "this host ({}, {ip}) is in {}, the endpoint {} in {vpc}",
            me.id, me.vpc_id, e.id
        ),
    );
    out.push(
        confirmed(
            FindingId::ClientPathToVpceUnroutable,
            why,
            &[FindingId::VpceSgBlocks443, FindingId::VpceEniUnreachable],
        )
        .predicts(Symptom::ConnectsFail(blocked), &[IN_FLIGHT]),
    );
}

/// What the endpoint's security groups say about TCP 443 from this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::diagnose) enum SgVerdict {
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
pub(in crate::diagnose) fn sg_verdict(f: &Facts, cf: &ControlFacts, e: &Endpoint) -> SgVerdict {
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
