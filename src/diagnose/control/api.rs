//! API Gateway: the API, stage, resource policy, methods (authorization, API keys) and WAF.

use crate::facts::control::{ControlFacts, DomainName, Endpoint, Operation, Resource, RestApi};
use crate::facts::Facts;
use crate::facts::InvokeVia;
use crate::finding::{Confidence, Finding, FindingId};

use super::super::policy::{self, Decision};
use super::super::reconcile::Symptom;
use super::{confirmed, Confirmed, IN_FLIGHT, NOT_DEPLOYED};

/// The execute-api routes the API refuses: all of them with its default endpoint disabled
/// (`disableExecuteApiEndpoint`: custom domain names only), and `vpce-host` under
/// `endpointAccessMode=STRICT` (the SNI must match the Host: the endpoint's name with the API's
/// Host does not).
fn access_rules(f: &Facts, api: &RestApi, out: &mut Vec<Confirmed>) {
    let via = f.target.invoke_via;
    let forbidden: &[FindingId] = &[
        FindingId::StageNotFound,
        FindingId::MissingHostOrApigwApiIdHeader,
    ];
    if api.disable_execute_api_endpoint && via != InvokeVia::CustomDomain {
        out.push(
            confirmed(
                FindingId::DefaultExecuteApiEndpointDisabled,
                vec![
                    format!(
                        "apigateway:GetRestApi {}: disableExecuteApiEndpoint=true",
                        api.id
                    ),
                    format!(
                        "the call uses the default execute-api endpoint ({}, route {via}): only the API's custom domain names reach it",
                        f.target.connect_name
                    ),
                ],
                forbidden,
            )
            .predicts(Symptom::StoppedAtGateway(None), &[NOT_DEPLOYED, IN_FLIGHT]),
        );
        return;
    }
    let strict = api
        .endpoint_access_mode
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("STRICT"));
    if strict && via == InvokeVia::VpceHost {
        out.push(
            confirmed(
                FindingId::StrictAccessModeSniMismatch,
                vec![
                    format!("apigateway:GetRestApi {}: endpointAccessMode=STRICT", api.id),
                    format!(
                        "vpce-host sends SNI {} with Host {}: STRICT requires the SNI to match the Host",
                        f.target.connect_name, f.target.host_header
                    ),
                    "ways out: call the API's private DNS name or a private custom domain name (SNI = Host), or set endpointAccessMode=BASIC".into(),
                ],
                forbidden,
            )
            .predicts(Symptom::StoppedAtGateway(None), &[IN_FLIGHT]),
        );
    }
}

/// The API's TLS security policy accepts none of the versions offered (the client's, as
/// configured): every handshake must fail.
fn tls_policy_rule(f: &Facts, api: &RestApi, out: &mut Vec<Confirmed>) {
    let offered = &f.target.tls_versions;
    if offered.is_empty() || !offered.iter().all(|v| api.accepts_tls(*v) == Some(false)) {
        return;
    }
    let offered: Vec<&str> = offered.iter().map(|v| v.as_str()).collect();
    out.push(
        confirmed(
            FindingId::ClientTlsVersionRejected,
            vec![
                format!(
                    "apigateway:GetRestApi {}: securityPolicy={}",
                    api.id,
                    api.security_policy.as_deref().unwrap_or_default()
                ),
                format!(
                    "the client offers TLS {}, which that policy does not accept",
                    offered.join(" and ")
                ),
            ],
            &[
                FindingId::ClientTlsVersionRejected,
                FindingId::TlsHandshakeFailed,
            ],
        )
        .predicts(
            Symptom::HandshakesFail,
            &[
                "the endpoint pgw reached serves another API first (the TLS policy of the name dialled decides)",
                IN_FLIGHT,
            ],
        ),
    );
}

pub(super) fn api_rules(
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
    tls_policy_rule(f, api, out);
    access_rules(f, api, out);
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
    let domain = cf.domain.as_ref().and_then(|d| d.domain.as_ref());
    policy_rules(f, api, ep, data, out);
    domain_allows_note(domain, ep, out);
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
        .filter(|p| {
            super::super::classify(p) == super::super::Class::Forbidden
                && !key_paths.contains(&p.path)
        })
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

/// Through a private custom domain whose own policy lets the endpoint through, a refusal by the
/// API's resource policy says so: the domain is not the one to fix.
fn domain_allows_note(domain: Option<&DomainName>, ep: Option<&Endpoint>, out: &mut [Confirmed]) {
    let (Some(doc), Some(e)) = (
        domain
            .and_then(|d| d.policy.as_deref())
            .and_then(policy::parse),
        ep,
    ) else {
        return;
    };
    if policy::evaluate(&doc, &e.id) != Decision::Allow {
        return;
    }
    for c in out.iter_mut().filter(|c| {
        matches!(
            c.finding.id,
            FindingId::ResourcePolicyDeniesVpce | FindingId::ResourcePolicyMissing
        )
    }) {
        c.finding.evidence.push(format!(
            "the domain's policy allows this endpoint ({}): the API's own resource policy refuses the call",
            e.id
        ));
    }
}

/// The resource policy, evaluated for the client's endpoint.
fn policy_rules(
    f: &Facts,
    api: &RestApi,
    ep: Option<&Endpoint>,
    data: &[Finding],
    out: &mut Vec<Confirmed>,
) {
    let denied_on_data_plane = data.iter().any(|d| {
        matches!(
            d.id,
            FindingId::ResourcePolicyDeniesVpce | FindingId::ResourcePolicyMissing
        )
    });
    let denies = |c: Confirmed, paths: Option<Vec<String>>| {
        c.predicts(Symptom::StoppedAtGateway(paths), &[NOT_DEPLOYED, IN_FLIGHT])
    };
    let Some(p) = &api.policy else {
        out.push(denies(
            confirmed(
                FindingId::ResourcePolicyMissing,
                vec![format!(
                    "apigateway:GetRestApi {}: no resource policy",
                    api.id
                )],
                &[
                    FindingId::ResourcePolicyMissing,
                    FindingId::ResourcePolicyDeniesVpce,
                ],
            ),
            None,
        ));
        return;
    };
    let (Some(doc), Some(e)) = (policy::parse(p), ep) else {
        return;
    };
    // Each probed path as the policy sees a call on it through this endpoint (any resource when
    // no call was made).
    let paths = super::probed_paths(f);
    let decide =
        |path: Option<&str>| policy::evaluate_request(&doc, &super::call_on(f, &api.id, e, path));
    let decisions: Vec<(String, Decision)> = if paths.is_empty() {
        vec![(String::new(), decide(None))]
    } else {
        paths.iter().map(|p| (p.clone(), decide(Some(p)))).collect()
    };
    let of = |want: Decision| -> Vec<String> {
        decisions
            .iter()
            .filter(|(_, d)| *d == want)
            .map(|(p, _)| p.clone())
            .collect()
    };
    let (explicit, implicit) = (of(Decision::ExplicitDeny), of(Decision::ImplicitDeny));
    // Some paths only: name them, and predict those.
    let scope = |hit: &[String]| -> (String, Option<Vec<String>>) {
        if hit.len() == decisions.len() {
            (String::new(), None)
        } else {
            let method = &f.target.method;
            let named: Vec<String> = hit.iter().map(|p| format!("{method} {p}")).collect();
            (format!(" on {}", named.join(", ")), Some(hit.to_vec()))
        }
    };
    if !explicit.is_empty() {
        let (on, paths) = scope(&explicit);
        out.push(denies(
            confirmed(
                FindingId::ResourcePolicyDeniesVpce,
                vec![format!(
                    "resource policy denies {}{on}: its aws:SourceVpce names {:?}",
                    e.id,
                    policy::named_endpoints(&doc)
                )],
                &[
                    FindingId::ResourcePolicyDeniesVpce,
                    FindingId::ResourcePolicyMissing,
                ],
            ),
            paths,
        ));
    } else if !implicit.is_empty() {
        let (on, paths) = scope(&implicit);
        out.push(denies(
            confirmed(
                FindingId::ResourcePolicyMissing,
                vec![format!(
                    "resource policy has no Allow that applies to {}{on}",
                    e.id
                )],
                &[
                    FindingId::ResourcePolicyMissing,
                    FindingId::ResourcePolicyDeniesVpce,
                ],
            ),
            paths,
        ));
    } else if denied_on_data_plane && decisions.iter().all(|(_, d)| *d == Decision::Allow) {
        out.push(confirmed(
            FindingId::PolicyChangedNotRedeployed,
            vec![format!(
                "the current resource policy allows {}, yet API Gateway denies: the stage runs an older policy",
                e.id
            )],
            &[FindingId::ResourcePolicyDeniesVpce, FindingId::ResourcePolicyMissing],
        ));
    }
}

/// The configured paths served by stage resource `resource` (`/` serves `/`, `/{proxy+}` every
/// other path).
pub(super) fn paths_of(f: &Facts, resource: &str) -> Vec<String> {
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
    const ROOT: &[FindingId] = &[FindingId::MissingRootAnyMethod];
    const PROXY: &[FindingId] = &[FindingId::MissingProxyMethod];
    for (path, id, explains) in [("/", ROOT[0], ROOT), ("/{proxy+}", PROXY[0], PROXY)] {
        let current = resources.iter().find(|r| r.path == path);
        let has_method = current.is_some_and(|r| !r.methods.is_empty());
        if !has_method {
            out.push(
                confirmed(
                    id,
                    vec![format!("apigateway:GetResources: {path} has no method")],
                    explains,
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
                    explains,
                )
                .predicts(Symptom::StoppedAtGateway(Some(paths_of(f, path))), &[IN_FLIGHT]));
            }
        }
    }
    api_key_rules(f, resources, out);
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

/// pgw sends no API key: a method of `/` or `/{proxy+}` that requires one refuses every call.
fn api_key_rules(f: &Facts, resources: &[Resource], out: &mut Vec<Confirmed>) {
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
}
