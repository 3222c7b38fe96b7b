//! Private custom domain names: the domain's status, this endpoint's access association, the
//! domain's policy, its base path mappings, and the domain's DNS record against the endpoint.

use crate::facts::control::{DomainFacts, DomainName, Endpoint};
use crate::facts::{Facts, InvokeVia};
use crate::finding::{Finding, FindingId};

use super::super::policy::{self, Decision};
use super::super::reconcile::Symptom;
use super::{confirmed, Confirmed, IN_FLIGHT};

/// The TLS-layer symptoms of a domain the endpoint does not serve.
const NOT_SERVED: &[FindingId] = &[
    FindingId::CustomDomainNotAssociated,
    FindingId::CustomDomainCertificateMismatch,
    FindingId::ClientTlsNameMismatch,
    FindingId::TlsHandshakeFailed,
];

pub(super) fn domain_rules(
    f: &Facts,
    d: &DomainFacts,
    ep: Option<&Endpoint>,
    data: &[Finding],
    out: &mut Vec<Confirmed>,
) {
    if f.target.invoke_via != InvokeVia::CustomDomain {
        return;
    }
    let name = f.target.domain_name.as_deref().unwrap_or_default();
    if let Some(e) = ep {
        dns_rule(e, data, out);
        association_rule(name, d, e, data, out);
    }
    if let Some(dom) = &d.domain {
        status_rule(dom, out);
        if let Some(e) = ep {
            policy_rule(dom, e, out);
        }
    }
    mapping_rule(f, name, d, out);
}

/// The probes found the domain resolving nowhere, or to none of the endpoint's ENIs (its record is
/// missing or points elsewhere); EC2 says which ENIs the endpoint has.
fn dns_rule(e: &Endpoint, data: &[Finding], out: &mut Vec<Confirmed>) {
    let ips = e.ips();
    let Some(seen) = data
        .iter()
        .find(|x| x.id == FindingId::CustomDomainDnsNotEndpoint)
    else {
        return;
    };
    if ips.is_empty() {
        return;
    }
    let mut ev = seen.evidence.clone();
    ev.push(format!(
        "ec2:DescribeVpcEndpoints {}: its ENIs are {:?}; its DNS names: {}",
        e.id,
        ips,
        e.dns_names.first().map(String::as_str).unwrap_or("-")
    ));
    out.push(
        confirmed(
            FindingId::CustomDomainDnsNotEndpoint,
            ev,
            &[
                FindingId::CustomDomainDnsNotEndpoint,
                FindingId::DnsNxdomain,
            ],
        )
        .predicts(Symptom::NameNotOn(ips), &[IN_FLIGHT]),
    );
}

/// This account lists no access association of the endpoint with the domain (never made,
/// deleted, or rejected by the domain's owner: a rejected association is gone).
fn association_rule(
    name: &str,
    d: &DomainFacts,
    e: &Endpoint,
    data: &[Finding],
    out: &mut Vec<Confirmed>,
) {
    let Some(all) = &d.associations else { return };
    let to_domain = |a: &&crate::facts::control::AccessAssociation| {
        a.domain()
            .is_some_and(|(n, _, _)| n.eq_ignore_ascii_case(name))
    };
    if all.iter().filter(to_domain).any(|a| a.source == e.id) {
        cert_rule(name, d, e, data, out);
        return;
    }
    let mut ev = vec![format!(
        "apigateway:GetDomainNameAccessAssociations (resourceOwner=SELF): no association of {} with {name}",
        e.id
    )];
    let others: Vec<String> = all
        .iter()
        .filter(to_domain)
        .map(|a| a.source.clone())
        .collect();
    if !others.is_empty() {
        ev.push(format!("{name} is associated with {}", others.join(", ")));
    }
    out.push(
        confirmed(FindingId::CustomDomainNotAssociated, ev, NOT_SERVED).predicts(
            Symptom::HandshakesFail,
            &[
                "the association was made from another account than the one pgw read (the endpoint's owner lists it)",
                IN_FLIGHT,
            ],
        ),
    );
}

/// The endpoint is associated and the domain available, and the endpoint presents a certificate
/// of its own for the domain that does not cover it: the domain's certificate is wrong.
fn cert_rule(
    name: &str,
    d: &DomainFacts,
    e: &Endpoint,
    data: &[Finding],
    out: &mut Vec<Confirmed>,
) {
    let Some(seen) = data
        .iter()
        .find(|x| x.id == FindingId::CustomDomainCertificateMismatch)
    else {
        return;
    };
    if d.domain
        .as_ref()
        .is_none_or(|dom| dom.status.as_deref() != Some("AVAILABLE"))
    {
        return;
    }
    let mut ev = seen.evidence.clone();
    ev.push(format!(
        "apigateway:GetDomainNameAccessAssociations: {} is associated with {name}, and the domain is AVAILABLE: the certificate presented is the domain's",
        e.id
    ));
    if let Some(arn) = d.domain.as_ref().and_then(|x| x.certificate_arn.as_deref()) {
        ev.push(format!("the domain's certificateArn: {arn}"));
    }
    out.push(
        confirmed(
            FindingId::CustomDomainCertificateMismatch,
            ev,
            &[
                FindingId::CustomDomainCertificateMismatch,
                FindingId::ClientTlsNameMismatch,
            ],
        )
        .predicts(Symptom::HandshakesFail, &[IN_FLIGHT]),
    );
}

fn status_rule(dom: &DomainName, out: &mut Vec<Confirmed>) {
    let Some(status) = dom.status.as_deref().filter(|s| *s != "AVAILABLE") else {
        return;
    };
    let mut ev = vec![format!(
        "apigateway:GetDomainName {}: domainNameStatus={status}",
        dom.name
    )];
    if let Some(m) = &dom.status_message {
        ev.push(format!("domainNameStatusMessage: {m}"));
    }
    out.push(
        confirmed(FindingId::CustomDomainNotAvailable, ev, NOT_SERVED).predicts(
            Symptom::HandshakesFail,
            &[
                "a domain UPDATING keeps serving its previous configuration until the update ends",
                IN_FLIGHT,
            ],
        ),
    );
}

/// The domain's `policy` does not allow `execute-api:Invoke` through this endpoint.
fn policy_rule(dom: &DomainName, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let Some(doc) = dom.policy.as_deref().and_then(policy::parse) else {
        return;
    };
    let decision = policy::evaluate(&doc, &e.id);
    if !matches!(decision, Decision::ExplicitDeny | Decision::ImplicitDeny) {
        return;
    }
    let how = match decision {
        Decision::ExplicitDeny => "denies it explicitly",
        _ => "allows it nowhere (implicit deny)",
    };
    let named = policy::named_endpoints(&doc);
    let mut ev = vec![format!(
        "apigateway:GetDomainName {}: the domain's policy {how} for aws:SourceVpce={}",
        dom.name, e.id
    )];
    if !named.is_empty() {
        ev.push(format!("endpoints the policy names: {}", named.join(", ")));
    }
    out.push(
        confirmed(
            FindingId::CustomDomainPolicyDenies,
            ev,
            &[
                FindingId::CustomDomainPolicyDenies,
                FindingId::ResourcePolicyDeniesVpce,
                FindingId::ResourcePolicyMissing,
            ],
        )
        .predicts(
            Symptom::StoppedAtGateway(None),
            &[
                "a policy condition pgw does not evaluate (aws:SourceVpc, aws:PrincipalOrgID, …) allows the call",
                IN_FLIGHT,
            ],
        ),
    );
}

/// No base path mapping for the base path called (unless routing rules route the domain).
fn mapping_rule(f: &Facts, name: &str, d: &DomainFacts, out: &mut Vec<Confirmed>) {
    let Some(mappings) = &d.mappings else { return };
    let mode = d.domain.as_ref().and_then(|x| x.routing_mode.as_deref());
    if mode == Some("ROUTING_RULE_ONLY") {
        return;
    }
    let wanted = f.target.base_path.as_deref().unwrap_or("(none)");
    if mappings.iter().any(|m| m.base_path == wanted) {
        return;
    }
    let have: Vec<String> = mappings
        .iter()
        .map(|m| {
            format!(
                "{:?} -> {}/{}",
                m.base_path,
                m.rest_api_id,
                m.stage.as_deref().unwrap_or("*")
            )
        })
        .collect();
    let mut ev = vec![format!(
        "apigateway:GetBasePathMappings {name}: no mapping for base path {wanted:?}"
    )];
    ev.push(match have.is_empty() {
        true => "the domain has no base path mapping".into(),
        false => format!("mappings: {}", have.join(", ")),
    });
    let reasons: &'static [&'static str] = match mode {
        Some("ROUTING_RULE_THEN_BASE_PATH_MAPPING") => &[
            "the domain's routing rules (routingMode ROUTING_RULE_THEN_BASE_PATH_MAPPING) route the call before any mapping",
            IN_FLIGHT,
        ],
        _ => &[IN_FLIGHT],
    };
    out.push(
        confirmed(
            FindingId::CustomDomainBasePathUnmapped,
            ev,
            &[
                FindingId::CustomDomainBasePathUnmapped,
                FindingId::StageNotFound,
            ],
        )
        .predicts(Symptom::StoppedAtGateway(None), reasons),
    );
}
