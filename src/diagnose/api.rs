//! API Gateway and integration rules: read the responses of every invoke (per path, across
//! ENIs) and name what API Gateway or the integration behind it refused.

use crate::facts::InvokeVia;
use crate::facts::{Facts, PathFacts};
use crate::finding::{Finding, FindingId, Severity};

use super::{classify, invoke_line, Class};

pub(super) fn rules(f: &Facts) -> Vec<Finding> {
    [
        host_header_missing(f),
        stage_not_found(f),
        iam_auth_required(f),
        clock_skew(f),
        signature_rejected(f),
        missing_root_any_method(f),
        missing_proxy_method(f),
        by_filter(f, FindingId::CustomDomainPolicyDenies, |p| {
            matches!(classify(p), Class::DeniedExplicit | Class::DeniedImplicit) && domain_denied(p)
        }),
        by_filter(
            f,
            FindingId::VpceEndpointPolicyDenies,
            endpoint_policy_denied,
        ),
        by_filter(f, FindingId::ResourcePolicyDeniesVpce, |p| {
            classify(p) == Class::DeniedExplicit && !domain_denied(p) && !endpoint_policy_denied(p)
        }),
        by_filter(f, FindingId::ResourcePolicyMissing, |p| {
            classify(p) == Class::DeniedImplicit && !domain_denied(p) && !endpoint_policy_denied(p)
        }),
        by_class(f, FindingId::Throttled, Class::Throttled),
        mtu_blackhole(f),
        integration_timeout(f),
        by_class(
            f,
            FindingId::IntegrationNetworkError,
            Class::IntegrationNetwork,
        ),
        by_class(
            f,
            FindingId::IntegrationInternalError,
            Class::IntegrationInternal,
        ),
        by_class(f, FindingId::BackendHttpError, Class::Backend5xx),
        misdirected(f),
        by_class(f, FindingId::InvokeConnectionError, Class::ConnError),
        by_class(f, FindingId::UnexpectedGatewayResponse, Class::GatewayOther),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Invokes that were sent (TCP and TLS worked).
fn sent(f: &Facts) -> Vec<&PathFacts> {
    f.invokes()
        .filter(|p| classify(p) != Class::NotSent)
        .collect()
}

fn all_are(ps: &[&PathFacts], c: Class) -> bool {
    !ps.is_empty() && ps.iter().all(|p| classify(p) == c)
}

/// One evidence line per distinct (path, class), noting how many ENIs saw it.
fn evidence(method: &str, ps: &[&PathFacts]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<(String, Class)> = Vec::new();
    for p in ps {
        let key = (p.request_path.clone(), classify(p));
        if seen.contains(&key) {
            continue;
        }
        let n = ps
            .iter()
            .filter(|q| q.request_path == p.request_path && classify(q) == key.1)
            .count();
        seen.push(key);
        let mut l = invoke_line(method, p);
        if n > 1 {
            l.push_str(&format!(" (and {} more ENIs)", n - 1));
        }
        out.push(l);
    }
    out
}

/// The large answer's path (`--large-path`) stalls — 504 "Endpoint request timed out" or "Network
/// error", no answer before the phase cap, or the connection broken — on ENIs where the other
/// paths were answered by the backend, and nowhere does it come back: a path MTU black hole
/// between the NLB and the target passes small packets and drops full-size ones (no
/// fragmentation-needed ICMP comes back, so TCP never lowers its segment size).
fn mtu_blackhole(f: &Facts) -> Option<Finding> {
    use crate::facts::ResponseSource;
    let backend = |p: &&PathFacts| {
        p.response()
            .is_some_and(|r| r.source == ResponseSource::Backend)
    };
    let answered: Vec<&PathFacts> = f.invokes().filter(backend).collect();
    if f.large.is_empty() || answered.is_empty() || f.large.iter().any(|p| backend(&p)) {
        return None;
    }
    let stalled: Vec<&PathFacts> = f
        .large
        .iter()
        .filter(|p| answered.iter().any(|a| a.addr == p.addr))
        .filter(|p| {
            matches!(
                classify(p),
                Class::IntegrationTimeout
                    | Class::IntegrationNetwork
                    | Class::NoResponse
                    | Class::ConnError
            )
        })
        .collect();
    if stalled.is_empty() {
        return None;
    }
    let mut ev = evidence(&f.target.method, &stalled);
    if let Some((p, r)) = answered
        .iter()
        .filter_map(|p| p.response().map(|r| (p, r)))
        .max_by_key(|(_, r)| r.body_bytes)
    {
        let more = if r.body_truncated { "more than " } else { "" };
        ev.push(format!(
            "the backend's answers of up to {more}{} bytes came back (largest: {} {}); the large answer did not",
            r.body_bytes, f.target.method, p.request_path
        ));
    }
    Some(
        Finding::new(FindingId::HybridMtuBlackhole, ev)
            .alternatives(&[FindingId::IntegrationTimeout]),
    )
}

/// The backend answered 421 Misdirected Request (no `x-amzn-ErrorType`): it serves no such host.
/// API Gateway sends the integration uri's host as Host, so the uri names a host the backend does
/// not serve. (A backend 404 alone says nothing: the path may simply not exist there; with the
/// control plane a greedy resource's mapping can explain it.)
fn misdirected(f: &Facts) -> Option<Finding> {
    let hit: Vec<&PathFacts> = sent(f)
        .into_iter()
        .filter(|p| {
            p.response().is_some_and(|r| {
                r.status == 421 && r.source == crate::facts::ResponseSource::Backend
            })
        })
        .collect();
    if hit.is_empty() {
        return None;
    }
    let mut ev = evidence(&f.target.method, &hit);
    ev.push(
        "421 Misdirected Request from the backend: it serves no such host; API Gateway sent the integration uri's host as Host".into(),
    );
    Some(Finding::new(
        FindingId::IntegrationPathOrHostMappingWrong,
        ev,
    ))
}

fn is_root(p: &PathFacts) -> bool {
    p.path == "/"
}

/// `vpce-host`: every call named by Host is Forbidden, the same call named by `x-apigw-api-id`
/// gets through: the Host header does not reach API Gateway.
fn host_header_missing(f: &Facts) -> Option<Finding> {
    if f.target.invoke_via != InvokeVia::VpceHost {
        return None;
    }
    let main = sent(f);
    let control: Vec<&PathFacts> = f.header_control.iter().collect();
    if !all_are(&main, Class::Forbidden)
        || control.is_empty()
        || control
            .iter()
            .all(|p| matches!(classify(p), Class::Forbidden | Class::NotSent))
    {
        return None;
    }
    let mut ev = evidence(&f.target.method, &main);
    ev.push(format!("sent Host: {}", f.target.host_header));
    ev.extend(
        evidence(&f.target.method, &control)
            .into_iter()
            .map(|l| format!("with x-apigw-api-id: {l}")),
    );
    Some(Finding::new(FindingId::MissingHostOrApigwApiIdHeader, ev))
}

/// Every call Forbidden (and not explained by the Host header): the stage or API is not found;
/// through a private custom domain, no API stage is mapped at the base path called.
fn stage_not_found(f: &Facts) -> Option<Finding> {
    let main = sent(f);
    if !all_are(&main, Class::Forbidden) || host_header_missing(f).is_some() {
        return None;
    }
    let mut ev = evidence(&f.target.method, &main);
    if f.target.invoke_via == InvokeVia::CustomDomain {
        let domain = f.target.domain_name.as_deref().unwrap_or_default();
        ev.push(match &f.target.base_path {
            Some(b) => format!("base path {b:?} of {domain}"),
            None => format!("the root mapping of {domain} (no base path)"),
        });
        return Some(
            Finding::new(FindingId::CustomDomainBasePathUnmapped, ev).alternatives(&[
                FindingId::ApiNotPrivateOrWrongApi,
                FindingId::ApiKeyRequired,
                FindingId::WafBlocked,
            ]),
        );
    }
    ev.push(format!(
        "stage {:?} of API {} via {}",
        f.target.stage, f.target.api_id, f.target.invoke_via
    ));
    Some(Finding::new(FindingId::StageNotFound, ev).alternatives(&[
        FindingId::ApiNotPrivateOrWrongApi,
        FindingId::PublicApiBlockedByPrivateDns,
        FindingId::MissingHostOrApigwApiIdHeader,
        FindingId::ApiKeyRequired,
        FindingId::WafBlocked,
    ]))
}

/// Every signed call: the main ones under `--sigv4`, and the retry after unsigned ones lacked a token.
fn signed(f: &Facts) -> Vec<&PathFacts> {
    f.invokes()
        .filter(|p| p.signed)
        .chain(f.signed_retry.iter())
        .collect()
}

/// Signed calls refused as expired or not yet current: this host's clock and API Gateway's differ
/// by more than SigV4's 5 minutes. The skew is measured from API Gateway's `Date` header.
fn clock_skew(f: &Facts) -> Option<Finding> {
    let expired: Vec<&PathFacts> = signed(f)
        .into_iter()
        .filter(|p| classify(p) == Class::SignatureExpired)
        .collect();
    if expired.is_empty() {
        return None;
    }
    let mut ev = evidence(&f.target.method, &expired);
    let skew = expired.iter().find_map(|p| match &p.http {
        crate::facts::HttpOutcome::Response(r) => r.clock_skew_s,
        _ => None,
    });
    ev.push(match skew {
        Some(s) => format!(
            "API Gateway's clock (its Date header) is {} s {} this host's; SigV4 allows 5 minutes",
            s.unsigned_abs(),
            if s >= 0 { "ahead of" } else { "behind" }
        ),
        None => "API Gateway's answer had no Date header: the skew could not be measured".into(),
    });
    Some(Finding::new(FindingId::IamClockSkew, ev))
}

/// Signed calls refused for their signature or their key, with what AWS's answer says is wrong.
fn signature_rejected(f: &Facts) -> Option<Finding> {
    let refused: Vec<&PathFacts> = signed(f)
        .into_iter()
        .filter(|p| classify(p) == Class::SignatureRejected)
        .collect();
    let first = refused.first()?;
    let mut ev = evidence(&f.target.method, &refused);
    let (kind, msg) = match &first.http {
        crate::facts::HttpOutcome::Response(r) => (
            r.error_type.clone().unwrap_or_default(),
            r.message.clone().unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    ev.push(
        if msg.contains("does not match") {
            "the signature does not match: the secret key is not this access key's (rotated?), or the request changed after signing (Host, path encoding, body)"
        } else if msg.contains("scoped to correct service") {
            "the credential is scoped to another service: sign for execute-api"
        } else if msg.contains("scoped to a valid region") {
            "the credential is scoped to another region: sign for the API's region"
        } else if kind == "ExpiredTokenException" || msg.contains("is expired") {
            "the session token expired: refresh the credentials (the role session, the instance profile)"
        } else if kind == "IncompleteSignatureException" {
            "the Authorization header is incomplete: something between the signer and API Gateway changed it"
        } else {
            "AWS does not know the access key or its session token: deleted, inactive, or from another account's partition"
        }
        .to_string(),
    );
    Some(Finding::new(FindingId::IamSignatureRejected, ev))
}

/// Every unsigned call lacks a token and a signed retry gets further: IAM authorization.
fn iam_auth_required(f: &Facts) -> Option<Finding> {
    let main = sent(f);
    if main.iter().any(|p| p.signed) || !all_are(&main, Class::MissingToken) {
        return None;
    }
    let retry: Vec<&PathFacts> = f.signed_retry.iter().collect();
    let signed_passes = retry
        .iter()
        .any(|p| !matches!(classify(p), Class::MissingToken | Class::NotSent));
    let mut ev = evidence(&f.target.method, &main);
    if signed_passes {
        ev.extend(evidence(&f.target.method, &retry));
        return Some(Finding::new(FindingId::IamAuthRequired, ev));
    }
    if let Some(why) = &f.signed_retry_unavailable {
        // Cannot tell IAM from "no method anywhere" without signing.
        ev.push(format!("signed retry not possible: {why}"));
        return Some(Finding::new(FindingId::IamAuthRequired, ev).alternatives(&[
            FindingId::MissingRootAnyMethod,
            FindingId::MissingProxyMethod,
            FindingId::MethodNotDeployed,
        ]));
    }
    None
}

/// Paths judged for method rules: the signed retry's when unsigned calls all lacked a token.
fn method_view(f: &Facts) -> Vec<&PathFacts> {
    let main = sent(f);
    if all_are(&main, Class::MissingToken) && !f.signed_retry.is_empty() {
        let retry: Vec<&PathFacts> = f.signed_retry.iter().collect();
        // The signed retry gets further: IAM explains the tokens, judge the retry instead.
        if retry.iter().any(|p| classify(p) != Class::MissingToken) {
            return retry;
        }
    }
    main
}

/// The stage root lacks a method while a deeper path gets further (or every path lacks one even
/// when signed).
fn missing_root_any_method(f: &Facts) -> Option<Finding> {
    let v = method_view(f);
    let root: Vec<&PathFacts> = v.iter().copied().filter(|p| is_root(p)).collect();
    let rest: Vec<&PathFacts> = v.iter().copied().filter(|p| !is_root(p)).collect();
    if !all_are(&root, Class::MissingToken) {
        return None;
    }
    let rest_passes = rest.iter().any(|p| classify(p) != Class::MissingToken);
    let all_signed_fail = all_are(&v, Class::MissingToken) && v.iter().all(|p| p.signed);
    if !(rest_passes || all_signed_fail) {
        return None;
    }
    let mut ev = evidence(&f.target.method, &root);
    ev.extend(evidence(&f.target.method, &rest));
    Some(
        Finding::new(FindingId::MissingRootAnyMethod, ev)
            .alternatives(&[FindingId::MethodNotDeployed]),
    )
}

/// A path below the root lacks a method while the root gets further.
fn missing_proxy_method(f: &Facts) -> Option<Finding> {
    let v = method_view(f);
    let root: Vec<&PathFacts> = v.iter().copied().filter(|p| is_root(p)).collect();
    let rest: Vec<&PathFacts> = v.iter().copied().filter(|p| !is_root(p)).collect();
    let rest_missing: Vec<&PathFacts> = rest
        .iter()
        .copied()
        .filter(|p| classify(p) == Class::MissingToken)
        .collect();
    if rest_missing.is_empty() {
        return None;
    }
    let root_passes = root.iter().any(|p| classify(p) != Class::MissingToken);
    let all_signed_fail = all_are(&v, Class::MissingToken) && v.iter().all(|p| p.signed);
    if !(root_passes || all_signed_fail) {
        return None;
    }
    let mut ev = evidence(&f.target.method, &rest_missing);
    ev.extend(evidence(&f.target.method, &root));
    Some(
        Finding::new(FindingId::MissingProxyMethod, ev)
            .alternatives(&[FindingId::MethodNotDeployed]),
    )
}

/// 504 "Endpoint request timed out", or no response at all before the deadline.
fn integration_timeout(f: &Facts) -> Option<Finding> {
    let v: Vec<&PathFacts> = all_invokes(f)
        .into_iter()
        .filter(|p| matches!(classify(p), Class::IntegrationTimeout | Class::NoResponse))
        .collect();
    if v.is_empty() {
        return None;
    }
    let only_silence = v.iter().all(|p| classify(p) == Class::NoResponse);
    let mut ev = evidence(&f.target.method, &v);
    if only_silence {
        ev.push(
            "API Gateway had not answered when the doctor's deadline passed; its own 504 comes after \
             the integration timeout (29 s by default): rerun with --timeout 35s to see it"
                .to_string(),
        );
    }
    let finding = Finding::new(FindingId::IntegrationTimeout, ev);
    Some(if only_silence {
        finding.alternatives(&[
            FindingId::HybridTargetUnreachable,
            FindingId::NlbNoHealthyTargets,
        ])
    } else {
        finding.alternatives(&[
            FindingId::NlbNoHealthyTargets,
            FindingId::NlbTargetIpDrift,
            FindingId::HybridTargetUnreachable,
        ])
    })
}

/// Every invoke, including the signed retry when it replaced unsigned calls.
fn all_invokes(f: &Facts) -> Vec<&PathFacts> {
    let mut v = method_view(f);
    if !v.iter().any(|p| p.signed) {
        return v;
    }
    v.retain(|p| p.signed);
    v
}

/// Any invoke of class `c` raises `id`; a warning when other invokes of the same kind work.
/// A 403 AccessDeniedException names the resource refused: a private custom domain's
/// (`arn:aws:execute-api:{region}:{account}:/domainnames/{name}+{id}`) is the domain's policy,
/// any other the API's resource policy.
fn domain_denied(p: &PathFacts) -> bool {
    p.response()
        .and_then(|r| r.message.as_deref())
        .is_some_and(|m| m.contains(":/domainnames/"))
}

/// A 403 AccessDeniedException IAM explains "because no VPC endpoint policy allows the
/// execute-api:Invoke action": the endpoint's own policy, not the API's.
fn endpoint_policy_denied(p: &PathFacts) -> bool {
    matches!(classify(p), Class::DeniedImplicit | Class::DeniedExplicit)
        && p.response()
            .and_then(|r| r.message.as_deref())
            .is_some_and(|m| m.contains("VPC endpoint policy"))
}

fn by_class(f: &Facts, id: FindingId, c: Class) -> Option<Finding> {
    by_filter(f, id, |p| classify(p) == c)
}

fn by_filter(f: &Facts, id: FindingId, keep: impl Fn(&PathFacts) -> bool) -> Option<Finding> {
    let v = all_invokes(f);
    let hit: Vec<&PathFacts> = v.iter().copied().filter(|p| keep(p)).collect();
    if hit.is_empty() {
        return None;
    }
    let finding = Finding::new(id, evidence(&f.target.method, &hit));
    let finding = match id {
        FindingId::ResourcePolicyDeniesVpce => {
            finding.alternatives(&[FindingId::PolicyChangedNotRedeployed])
        }
        FindingId::ResourcePolicyMissing => {
            finding.alternatives(&[FindingId::PolicyChangedNotRedeployed])
        }
        FindingId::IntegrationNetworkError => finding.alternatives(&[
            FindingId::NlbNoHealthyTargets,
            FindingId::NlbTargetIpDrift,
            FindingId::EndpointConnectionPendingAcceptance,
        ]),
        FindingId::IntegrationInternalError => finding.alternatives(&[
            FindingId::VpcLinkFailed,
            FindingId::VpcLinkPending,
            FindingId::IntegrationTlsHostnameMismatch,
        ]),
        _ => finding,
    };
    Some(if id == FindingId::Throttled && hit.len() < v.len() {
        finding.severity(Severity::Warning)
    } else {
        finding
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::facts::InvokeVia;
    use crate::facts::{Facts, HttpOutcome};
    use crate::finding::FindingId;

    const MAT: (u16, &str, &str) = (
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );

    fn mat() -> crate::facts::HttpOutcome {
        gateway(MAT.0, MAT.1, MAT.2)
    }

    #[test]
    fn root_missing_while_proxy_works() {
        let mut f = healthy();
        set_path(&mut f, "/", mat());
        let d = super::super::diagnose(&f);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].id, FindingId::MissingRootAnyMethod);
        assert!(d[0].evidence[0].contains("GET /test/ -> 403 MissingAuthenticationTokenException"));
    }

    #[test]
    fn proxy_missing_while_root_works() {
        let mut f = healthy();
        set_path(&mut f, "/pgw-probe", mat());
        assert_eq!(ids(&f), vec![FindingId::MissingProxyMethod]);
    }

    /// The same answer on every path and ENI → the finding it stands for.
    #[test]
    fn every_answer_everywhere_maps_to_its_id() {
        use crate::facts::HttpOutcome;
        let deny = "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/";
        let explicit = format!("{deny} with an explicit deny");
        let ise = "InternalServerErrorException";
        let table: Vec<(HttpOutcome, FindingId)> = vec![
            (
                gateway(403, "ForbiddenException", "Forbidden"),
                FindingId::StageNotFound,
            ),
            (
                gateway(403, "AccessDeniedException", &explicit),
                FindingId::ResourcePolicyDeniesVpce,
            ),
            (
                gateway(403, "AccessDeniedException", deny),
                FindingId::ResourcePolicyMissing,
            ),
            (
                gateway(429, "TooManyRequestsException", "Too Many Requests"),
                FindingId::Throttled,
            ),
            (
                gateway(504, ise, "Endpoint request timed out"),
                FindingId::IntegrationTimeout,
            ),
            (HttpOutcome::Timeout, FindingId::IntegrationTimeout),
            (
                gateway(504, ise, "Network error communicating with endpoint"),
                FindingId::IntegrationNetworkError,
            ),
            (
                gateway(500, ise, "Internal server error"),
                FindingId::IntegrationInternalError,
            ),
            (backend(502), FindingId::BackendHttpError),
            (backend(421), FindingId::IntegrationPathOrHostMappingWrong),
            (
                HttpOutcome::Error("reset".into()),
                FindingId::InvokeConnectionError,
            ),
            (
                gateway(413, "RequestTooLargeException", "Request Too Long"),
                FindingId::UnexpectedGatewayResponse,
            ),
        ];
        for (answer, want) in table {
            let mut f = healthy();
            set_all(&mut f, answer.clone());
            assert_eq!(ids(&f), vec![want], "{answer:?}");
        }
    }

    /// `--large-path` stalls where the small answers came back: an MTU black hole, with the size
    /// that passed. Answered there, or nothing answered at all, it is not.
    #[test]
    fn a_large_answer_that_stalls_beside_small_ones_is_an_mtu_black_hole() {
        let mut f = healthy();
        let timed_out = gateway(
            504,
            "InternalServerErrorException",
            "Endpoint request timed out",
        );
        f.large = f
            .enis
            .iter()
            .map(|e| path(&e.addr.ip().to_string(), "/big", timed_out.clone()))
            .collect();
        let d = super::super::diagnose(&f);
        assert_eq!(ids(&f), vec![FindingId::HybridMtuBlackhole], "{d:#?}");
        assert!(
            d[0].evidence
                .iter()
                .any(|e| e.contains("up to 2 bytes came back")),
            "{d:#?}"
        );
        f.large[0].http = backend(200);
        assert!(ids(&f).is_empty());
        f.large[0].http = HttpOutcome::Timeout;
        set_all(&mut f, timed_out);
        assert!(!ids(&f).contains(&FindingId::HybridMtuBlackhole));
    }

    /// A backend 404 is no finding of the data plane alone: the path may not exist there.
    #[test]
    fn a_backend_404_alone_is_healthy() {
        let mut f = healthy();
        set_all(&mut f, backend(404));
        assert!(ids(&f).is_empty(), "{:?}", ids(&f));
    }

    #[test]
    fn vpce_host_forbidden_but_api_id_header_works() {
        let mut f = healthy();
        f.target.invoke_via = InvokeVia::VpceHost;
        set_all(&mut f, gateway(403, "ForbiddenException", "Forbidden"));
        let mut c = path(ENI_A, "/", backend(200));
        c.identified_by = "x-apigw-api-id";
        f.header_control = vec![c];
        assert_eq!(ids(&f), vec![FindingId::MissingHostOrApigwApiIdHeader]);
    }

    #[test]
    fn unsigned_token_missing_signed_works_is_iam() {
        let mut f = healthy();
        set_all(&mut f, mat());
        let mut r = path(ENI_A, "/", backend(200));
        r.signed = true;
        let mut r2 = path(ENI_A, "/pgw-probe", backend(200));
        r2.signed = true;
        f.signed_retry = vec![r, r2];
        assert_eq!(ids(&f), vec![FindingId::IamAuthRequired]);
    }

    #[test]
    fn iam_then_signed_root_missing() {
        let mut f = healthy();
        set_all(&mut f, mat());
        let mut r = path(ENI_A, "/", mat());
        r.signed = true;
        let mut r2 = path(ENI_A, "/pgw-probe", backend(200));
        r2.signed = true;
        f.signed_retry = vec![r, r2];
        assert_eq!(
            ids(&f),
            vec![FindingId::IamAuthRequired, FindingId::MissingRootAnyMethod]
        );
    }

    /// Every main call signed (`--sigv4`) and answered `answer`.
    fn signed_all(f: &mut Facts, answer: HttpOutcome) {
        set_all(f, answer);
        for e in &mut f.enis {
            for p in &mut e.paths {
                p.signed = true;
            }
        }
    }

    #[test]
    fn an_expired_signature_is_the_clock_with_the_skew_from_date() {
        let mut f = healthy();
        let mut expired = gateway(
            403,
            "InvalidSignatureException",
            "Signature expired: 20261127T120000Z is now earlier than 20261127T121000Z (20261127T121500Z - 5 min.)",
        );
        if let HttpOutcome::Response(r) = &mut expired {
            r.clock_skew_s = Some(903);
        }
        signed_all(&mut f, expired);
        assert_eq!(ids(&f), vec![FindingId::IamClockSkew]);
        let d = super::super::diagnose(&f);
        assert!(
            d[0].evidence
                .iter()
                .any(|e| e.contains("903 s ahead of this host's")),
            "{:?}",
            d[0].evidence
        );
        // Unsigned calls can not have an expired signature: nothing is claimed about the clock.
        let mut f = healthy();
        set_all(
            &mut f,
            gateway(403, "InvalidSignatureException", "Signature expired: …"),
        );
        assert!(!ids(&f).contains(&FindingId::IamClockSkew));
    }

    #[test]
    fn a_refused_signature_says_what_aws_found_wrong() {
        for (kind, msg, says) in [
            ("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.", "does not match"),
            ("InvalidSignatureException", "Credential should be scoped to correct service: 'execute-api'. ", "another service"),
            ("UnrecognizedClientException", "The security token included in the request is invalid.", "does not know the access key"),
            ("AccessDeniedException", "The security token included in the request is invalid.", "does not know the access key"),
            ("ExpiredTokenException", "The security token included in the request is expired", "session token expired"),
        ] {
            let mut f = healthy();
            signed_all(&mut f, gateway(403, kind, msg));
            let d = super::super::diagnose(&f);
            assert_eq!(d.len(), 1, "{kind}: {d:#?}");
            assert_eq!(d[0].id, FindingId::IamSignatureRejected, "{kind}");
            assert!(d[0].evidence.iter().any(|e| e.contains(says)), "{kind}: {:?}", d[0].evidence);
        }
    }

    #[test]
    fn all_token_missing_without_credentials_is_likely_iam() {
        let mut f = healthy();
        set_all(&mut f, mat());
        f.signed_retry_unavailable = Some("no credentials".into());
        let d = super::super::diagnose(&f);
        assert_eq!(d[0].id, FindingId::IamAuthRequired);
        assert!(d[0].alternatives.contains(&FindingId::MissingRootAnyMethod));
    }

    #[test]
    fn backend_404_is_healthy_chain() {
        let mut f = healthy();
        set_path(&mut f, "/pgw-probe", backend(404));
        assert!(ids(&f).is_empty());
    }
}
