//! Exposure: is the private API only as reachable as intended? The resource policy evaluated for
//! endpoints pgw does not know, against the API's associated endpoints, and the execute-api
//! endpoint's own policy. Warnings of layer `exposure`, never failures of the chain; and the one
//! failure an endpoint policy causes (`vpce_endpoint_policy_denies`).

use crate::facts::control::{ControlFacts, Endpoint, RestApi};
use crate::facts::{Facts, HttpOutcome};
use crate::finding::{FindingId, PathPolicy};

use super::super::policy::{self, Decision, Request};
use super::super::reconcile::Symptom;
use super::{confirmed, Confirmed, IN_FLIGHT};

/// An endpoint and a VPC no account has: the caller nobody meant.
const STRANGER_VPCE: &str = "vpce-00000000000000000";
const STRANGER_VPC: &str = "vpc-00000000000000000";

pub(super) fn exposure_rules(
    f: &Facts,
    cf: &ControlFacts,
    ep: Option<&Endpoint>,
    out: &mut Vec<Confirmed>,
) {
    let Some(api) = &cf.api else { return };
    if let Some(doc) = api.policy.as_deref().and_then(policy::parse) {
        if !open_rule(api, &doc, out) {
            unknown_rule(api, cf, &doc, out);
        }
        association_rule(api, cf, ep, &doc, out);
    }
    if let Some(e) = ep {
        endpoint_policy_rules(f, api, e, out);
    }
}

fn stranger() -> Request<'static> {
    Request {
        vpce: STRANGER_VPCE,
        vpc: Some(STRANGER_VPC),
        resource: None,
        signed: false,
    }
}

/// The policy allows a call from an endpoint and a VPC it names nowhere: any endpoint of any
/// account may invoke the API.
fn open_rule(api: &RestApi, doc: &serde_json::Value, out: &mut Vec<Confirmed>) -> bool {
    if policy::evaluate_request(doc, &stranger()) != Decision::Allow {
        return false;
    }
    out.push(confirmed(
        FindingId::PolicyOpenToAnyEndpoint,
        vec![
            format!(
                "apigateway:GetRestApi {}: the resource policy allows execute-api:Invoke through an endpoint and from a VPC it names nowhere ({STRANGER_VPCE}, {STRANGER_VPC})",
                api.id
            ),
            "no statement limits the caller by aws:SourceVpce, aws:SourceVpc or an account or organization condition: any execute-api endpoint of any AWS account can invoke it".into(),
        ],
        &[],
    ));
    true
}

/// The endpoints this account has and those associated with the API; their VPCs.
fn known(api: &RestApi, cf: &ControlFacts) -> (Vec<String>, Vec<String>) {
    let mut endpoints: Vec<String> = cf
        .execute_api_endpoints
        .iter()
        .map(|e| e.id.clone())
        .collect();
    endpoints.extend(api.vpc_endpoint_ids.iter().cloned());
    let vpcs = cf
        .execute_api_endpoints
        .iter()
        .filter_map(|e| e.vpc_id.clone())
        .collect();
    (endpoints, vpcs)
}

/// The policy allows endpoints or VPCs that are neither this account's nor associated with the
/// API.
fn unknown_rule(
    api: &RestApi,
    cf: &ControlFacts,
    doc: &serde_json::Value,
    out: &mut Vec<Confirmed>,
) {
    let (endpoints, vpcs) = known(api, cf);
    let (named_eps, named_vpcs) = policy::named(doc);
    let allowed = |r: Request| policy::evaluate_request(doc, &r) == Decision::Allow;
    let foreign_eps: Vec<String> = named_eps
        .into_iter()
        .filter(|v| !endpoints.contains(v))
        .filter(|v| {
            allowed(Request {
                vpce: v,
                ..Default::default()
            })
        })
        .collect();
    let foreign_vpcs: Vec<String> = named_vpcs
        .into_iter()
        .filter(|v| !vpcs.contains(v))
        .filter(|v| {
            allowed(Request {
                vpce: STRANGER_VPCE,
                vpc: Some(v),
                ..Default::default()
            })
        })
        .collect();
    if foreign_eps.is_empty() && foreign_vpcs.is_empty() {
        return;
    }
    let mut ev = Vec::new();
    if !foreign_eps.is_empty() {
        ev.push(format!(
            "the resource policy of {} allows endpoints pgw does not know: {}",
            api.id,
            foreign_eps.join(", ")
        ));
    }
    if !foreign_vpcs.is_empty() {
        ev.push(format!(
            "the resource policy of {} allows calls from VPCs pgw does not know: {}",
            api.id,
            foreign_vpcs.join(", ")
        ));
    }
    ev.push(format!(
        "known: this account's execute-api endpoints and those associated with the API ({}); their VPCs ({})",
        if endpoints.is_empty() { "none".into() } else { endpoints.join(", ") },
        if vpcs.is_empty() { "none".into() } else { vpcs.join(", ") }
    ));
    out.push(confirmed(FindingId::PolicyAllowsUnknownEndpoints, ev, &[]));
}

/// The API's associated endpoints (`vpcEndpointIds`) and the endpoints its policy allows
/// disagree: one associated but denied, or one of this account's named and allowed but not
/// associated. The client's own endpoint denied is a failure finding of its own.
fn association_rule(
    api: &RestApi,
    cf: &ControlFacts,
    ep: Option<&Endpoint>,
    doc: &serde_json::Value,
    out: &mut Vec<Confirmed>,
) {
    let decide = |vpce: &str| policy::evaluate(doc, vpce);
    let client = ep.map(|e| e.id.as_str());
    let denied: Vec<&String> = api
        .vpc_endpoint_ids
        .iter()
        .filter(|v| Some(v.as_str()) != client)
        .filter(|v| matches!(decide(v), Decision::ExplicitDeny | Decision::ImplicitDeny))
        .collect();
    let named = policy::named_endpoints(doc);
    let unassociated: Vec<&String> = cf
        .execute_api_endpoints
        .iter()
        .map(|e| &e.id)
        .filter(|v| named.contains(v) && !api.vpc_endpoint_ids.contains(v))
        .filter(|v| decide(v) == Decision::Allow)
        .collect();
    if denied.is_empty() && unassociated.is_empty() {
        return;
    }
    let mut ev = vec![format!(
        "apigateway:GetRestApi {}: vpcEndpointIds={:?}",
        api.id, api.vpc_endpoint_ids
    )];
    for v in denied {
        ev.push(format!(
            "{v} is associated with the API, but its resource policy denies it"
        ));
    }
    for v in unassociated {
        ev.push(format!(
            "{v} is allowed by name in the resource policy, but not associated with the API (no {}-{v} alias)",
            api.id
        ));
    }
    out.push(confirmed(
        FindingId::PolicyEndpointAssociationMismatch,
        ev,
        &[],
    ));
}

/// Whether an endpoint policy statement allows every principal every action on every resource,
/// without a condition (the default policy of an interface endpoint).
fn allows_everything(s: &serde_json::Value) -> bool {
    let all = |v: &serde_json::Value| match v {
        serde_json::Value::String(x) => x == "*",
        serde_json::Value::Array(a) => a.iter().any(|x| x == "*"),
        serde_json::Value::Object(o) => o.get("AWS").is_some_and(|a| a == "*"),
        _ => false,
    };
    s["Effect"] == "Allow"
        && s.get("Condition").is_none()
        && all(&s["Principal"])
        && (all(&s["Action"]) || s["Action"] == "execute-api:*")
        && all(&s["Resource"])
}

/// The execute-api endpoint's own policy: denying the call (a failure: the chain needs it), or
/// allowing everything while the API's resource policy lets this endpoint in for anyone (any
/// principal in the VPC can then invoke this API — and any other account's private API whose
/// policy admits the endpoint).
fn endpoint_policy_rules(f: &Facts, api: &RestApi, e: &Endpoint, out: &mut Vec<Confirmed>) {
    let Some(doc) = e.policy.as_deref().and_then(policy::parse) else {
        return;
    };
    let denied: Vec<String> = super::probed_paths(f)
        .into_iter()
        .filter_map(|path| {
            let req = super::call_on(f, &api.id, e, Some(&path));
            matches!(
                policy::evaluate_request(&doc, &req),
                Decision::ExplicitDeny | Decision::ImplicitDeny
            )
            .then(|| req.resource.unwrap_or_default())
        })
        .collect();
    if !denied.is_empty() {
        out.push(
            confirmed(
                FindingId::VpceEndpointPolicyDenies,
                vec![
                    format!(
                        "ec2:DescribeVpcEndpoints {}: the endpoint's policy does not allow execute-api:Invoke on {}",
                        e.id,
                        denied.join(", ")
                    ),
                ],
                &[
                    FindingId::ResourcePolicyDeniesVpce,
                    FindingId::ResourcePolicyMissing,
                ],
            )
            .predicts(
                Symptom::StoppedAtGateway(None),
                &[
                    "a principal the endpoint policy names signs the calls (pgw evaluates anonymous callers unless --sigv4)",
                    IN_FLIGHT,
                ],
            ),
        );
        return;
    }
    let open = policy::statements(&doc)
        .iter()
        .any(|s| allows_everything(s));
    let api_lets_anyone_in = api
        .policy
        .as_deref()
        .and_then(policy::parse)
        .is_some_and(|p| policy::evaluate(&p, &e.id) == Decision::Allow);
    if open && api_lets_anyone_in {
        out.push(confirmed(
            FindingId::VpcePolicyAllowsAll,
            vec![
                format!(
                    "ec2:DescribeVpcEndpoints {}: the endpoint's policy allows every principal every action on every resource (the default)",
                    e.id
                ),
                format!(
                    "the resource policy of {} lets this endpoint in for any principal: the endpoint's policy is the only control on who in the VPC calls it, and it lets any principal there call any private API that admits the endpoint, in any account",
                    api.id
                ),
            ],
            &[],
        ));
    }
}

/// For each probed path, what the API's resource policy and the endpoint's own policy decide for
/// a call through the client's endpoint, beside what the call got. `None` without the policy.
pub(crate) fn policy_by_path(f: &Facts) -> Option<Vec<PathPolicy>> {
    let cf = f.control.as_ref()?;
    let api = cf.api.as_ref()?;
    let doc = api.policy.as_deref().and_then(policy::parse)?;
    let e = super::client_endpoint(f, cf)?;
    let ep_doc = e.policy.as_deref().and_then(policy::parse);
    let method = f.target.method.to_ascii_uppercase();
    let mut out: Vec<PathPolicy> = Vec::new();
    for p in f.invokes() {
        if out.iter().any(|x| x.path == p.path) {
            continue;
        }
        let req = super::call_on(f, &api.id, e, Some(&p.path));
        let answer = f
            .invokes()
            .filter(|q| q.path == p.path)
            .find_map(|q| match &q.http {
                HttpOutcome::Response(r) => Some(match &r.error_type {
                    Some(t) => format!("{} {t}", r.status),
                    None => r.status.to_string(),
                }),
                _ => None,
            });
        out.push(PathPolicy {
            method: method.clone(),
            path: p.path.clone(),
            endpoint: e.id.clone(),
            resource_policy: policy::evaluate_request(&doc, &req).as_str(),
            endpoint_policy: ep_doc
                .as_ref()
                .map(|d| policy::evaluate_request(d, &req).as_str()),
            answer,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::super::testutil::*;
    use crate::facts::Facts;
    use crate::finding::{FindingId, Layer};

    const VPCE: &str = "vpce-0a1b2c3d4e5f60001";

    fn api_policy(f: &mut Facts, p: &str) {
        f.control.as_mut().unwrap().api.as_mut().unwrap().policy = Some(p.into());
    }

    fn exposure(f: &Facts) -> Vec<FindingId> {
        super::super::super::diagnose(f)
            .iter()
            .filter(|x| x.layer == Layer::Exposure)
            .map(|x| x.id)
            .collect()
    }

    #[test]
    fn the_seed_chain_has_no_exposure_finding() {
        assert!(exposure(&healthy_cp()).is_empty());
    }

    #[test]
    fn an_allow_without_a_source_condition_is_open_and_the_chain_stays_healthy() {
        let mut f = healthy_cp();
        api_policy(
            &mut f,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}"#,
        );
        let d = super::super::super::diagnose(&f);
        assert_eq!(exposure(&f), vec![FindingId::PolicyOpenToAnyEndpoint]);
        assert!(d.iter().all(|x| !x.is_problem()), "{d:#?}");
    }

    #[test]
    fn an_endpoint_of_no_known_account_is_listed() {
        let mut f = healthy_cp();
        api_policy(
            &mut f,
            &format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{{"StringEquals":{{"aws:SourceVpce":["{VPCE}","vpce-0feedfacecafe0001"]}}}}}}]}}"#
            ),
        );
        let d = super::super::super::diagnose(&f);
        let x = d
            .iter()
            .find(|x| x.id == FindingId::PolicyAllowsUnknownEndpoints)
            .expect("finding");
        assert!(x.evidence[0].contains("vpce-0feedfacecafe0001"), "{x:?}");
        assert!(!x.evidence[0].contains(VPCE), "{x:?}");
    }

    #[test]
    fn an_associated_endpoint_the_policy_denies_is_a_mismatch() {
        let mut f = healthy_cp();
        let api = f.control.as_mut().unwrap().api.as_mut().unwrap();
        api.vpc_endpoint_ids.push("vpce-0b0b0b0b0b0b0b0b0".into());
        let d = super::super::super::diagnose(&f);
        let x = d
            .iter()
            .find(|x| x.id == FindingId::PolicyEndpointAssociationMismatch)
            .expect("finding");
        assert!(x
            .evidence
            .iter()
            .any(|e| e.contains("vpce-0b0b0b0b0b0b0b0b0 is associated")));
    }

    #[test]
    fn the_default_endpoint_policy_is_flagged_a_restrictive_one_is_not() {
        let mut f = healthy_cp();
        let ep = &mut f.control.as_mut().unwrap().execute_api_endpoints[0];
        ep.policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#
                .into(),
        );
        assert_eq!(exposure(&f), vec![FindingId::VpcePolicyAllowsAll]);
        let ep = &mut f.control.as_mut().unwrap().execute_api_endpoints[0];
        ep.policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/*"}]}"#
                .into(),
        );
        assert!(exposure(&f).is_empty());
        assert!(super::super::super::diagnose(&f).is_empty());
    }

    #[test]
    fn policy_by_path_shows_each_probed_path_beside_its_answer() {
        let mut f = healthy_cp();
        api_policy(
            &mut f,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/"}]}"#,
        );
        let v = super::policy_by_path(&f).expect("a policy");
        let root = v.iter().find(|p| p.path == "/").unwrap();
        let deeper = v.iter().find(|p| p.path != "/").unwrap();
        assert_eq!(root.resource_policy, "allow");
        assert_eq!(deeper.resource_policy, "implicit_deny");
        assert_eq!(deeper.endpoint, VPCE);
        assert!(deeper.answer.is_some());
    }
}
