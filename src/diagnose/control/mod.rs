//! Control-plane rules: what API Gateway, EC2 and ELBv2 say, turned into confirmed findings that
//! name which data-plane symptoms they explain (so correlation can put them first) and which
//! symptom they predict (so the probes can contradict them: [`super::reconcile`]). By layer: the
//! endpoint and the way to it ([`network`]), the private custom domain ([`domain`]), API Gateway
//! ([`api`]), the integration behind it ([`integration`]).

mod api;
mod domain;
mod exposure;

pub(crate) use exposure::policy_by_path;
mod integration;
mod network;

pub(super) use network::{sg_verdict, SgVerdict};

use std::net::IpAddr;

use crate::facts::control::{ControlFacts, Endpoint};
use crate::facts::Facts;
use crate::finding::{Confidence, Finding, FindingId};

use super::reconcile::{Prediction, Symptom};
use api::api_rules;
use integration::integration_rules;
use network::endpoint_rules;

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

/// A finding the stage's execution log confirms (its line quoted in `evidence`).
pub(super) fn confirmed_by_log(
    id: FindingId,
    evidence: Vec<String>,
    explains: &'static [FindingId],
) -> Confirmed {
    confirmed(id, evidence, explains)
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

/// The configured paths the probes called, sorted, each once.
pub(super) fn probed_paths(f: &Facts) -> Vec<String> {
    let mut paths: Vec<String> = f.invokes().map(|x| x.path.clone()).collect();
    paths.sort();
    paths.dedup();
    paths
}

/// A call on `path` of `api`'s stage (any resource when `None`) through endpoint `e`, as the
/// resource and endpoint policies see it.
pub(super) fn call_on<'a>(
    f: &Facts,
    api: &str,
    e: &'a Endpoint,
    path: Option<&str>,
) -> super::policy::Request<'a> {
    super::policy::Request {
        vpce: &e.id,
        vpc: e.vpc_id.as_deref(),
        resource: path
            .map(|p| super::policy::Request::resource(api, &f.target.stage, &f.target.method, p)),
        signed: f.target.signed,
    }
}

/// The control-plane findings for `f`, given the data plane's own findings `data`.
pub(super) fn rules(f: &Facts, cf: &ControlFacts, data: &[Finding]) -> Vec<Confirmed> {
    let mut out = Vec::new();
    let ep = client_endpoint(f, cf);
    if let Some(e) = ep {
        endpoint_rules(f, cf, e, &mut out);
    }
    if let Some(d) = &cf.domain {
        domain::domain_rules(f, d, ep, data, &mut out);
    }
    api_rules(f, cf, ep, data, &mut out);
    integration_rules(f, cf, &mut out);
    exposure::exposure_rules(f, cf, ep, &mut out);
    super::logs::rules(cf, &mut out);
    out
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

    /// `vpce-host` through a mistyped endpoint name: NXDOMAIN everywhere, and the endpoint's
    /// DnsEntries show the right one. The same name resolving is no finding of this rule.
    #[test]
    fn a_mistyped_endpoint_name_is_named_against_the_endpoints_dns_entries() {
        let wrong = "vpce-0a1b2c3d4e5f60001-4kq2x7zz.execute-api.us-east-1.vpce.amazonaws.com";
        let mut f = healthy_cp();
        f.target.invoke_via = crate::facts::InvokeVia::VpceHost;
        f.target.vpce_dns = Some(wrong.into());
        f.target.connect_name = wrong.into();
        // Every lookup, of the invoke name and of the endpoint's, is of `name`.
        let name_all = |f: &mut crate::facts::Facts, name: &str| {
            for d in f.dns.iter_mut().chain(f.reference_dns.iter_mut()) {
                d.name = name.into();
            }
        };
        name_all(&mut f, wrong);
        assert!(ids(&f).is_empty(), "{:?}", ids(&f));
        for d in f.dns.iter_mut().chain(f.reference_dns.iter_mut()) {
            d.outcome = crate::facts::DnsOutcome::NxDomain;
            d.addrs.clear();
        }
        f.enis.clear();
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (
                FindingId::DnsWrongHostnameOrPartition,
                Confidence::Confirmed
            )
        );
        assert!(
            ev.iter()
                .any(|e| e.contains("DnsEntries are vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api")),
            "{ev:?}"
        );
        // The endpoint's own name not resolving is another matter (the endpoint, DNS).
        let right = "vpce-0a1b2c3d4e5f60001-4kq2x7ab.execute-api.us-east-1.vpce.amazonaws.com";
        f.target.vpce_dns = Some(right.into());
        name_all(&mut f, right);
        assert!(!ids(&f).contains(&FindingId::DnsWrongHostnameOrPartition));
    }

    /// `/{proxy+}` integrated with a uri that has no `{proxy}`: every call there reaches the
    /// same backend path, which the backend does not know (404). A success there, or a whole
    /// mapping, is no finding.
    #[test]
    fn a_greedy_resource_without_its_path_mapping_explains_the_backend_404() {
        let mut f = healthy_cp();
        set_path(&mut f, "/pgw-probe", backend(404));
        assert!(ids(&f).is_empty(), "{:?}", ids(&f));
        /// The integration of `ANY /{proxy+}`.
        fn proxy(f: &mut crate::facts::Facts) -> &mut crate::facts::control::Integration {
            let r = f.control.as_mut().unwrap().resources.as_mut().unwrap();
            let r = r.iter_mut().find(|r| r.path == "/{proxy+}").unwrap();
            r.methods[0].integration.as_mut().unwrap()
        }
        proxy(&mut f).uri = Some("http://nlb-a.internal/v1".into());
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (
                FindingId::IntegrationPathOrHostMappingWrong,
                Confidence::Confirmed
            )
        );
        assert!(
            ev[0].contains("ANY /{proxy+}: uri http://nlb-a.internal/v1 has no {proxy}"),
            "{ev:?}"
        );
        assert!(ev[1].contains("404"), "{ev:?}");
        set_path(&mut f, "/pgw-probe", backend(200));
        assert!(ids(&f).is_empty(), "{:?}", ids(&f));
        // The uri is right but the path parameter is not mapped.
        set_path(&mut f, "/pgw-probe", backend(404));
        let i = proxy(&mut f);
        i.uri = Some("http://nlb-a.internal/{proxy}".into());
        i.request_parameters.clear();
        let (id, _, ev) = first(&f);
        assert_eq!(id, FindingId::IntegrationPathOrHostMappingWrong);
        assert!(
            ev[0].contains("requestParameters has no integration.request.path.proxy"),
            "{ev:?}"
        );
    }

    #[test]
    fn client_in_another_vpc_with_routes_both_ways_adds_nothing() {
        let mut f = healthy_cp();
        super::super::matrix::client_elsewhere(&mut f, Some("active"), Some("active"));
        assert!(ids(&f).is_empty(), "{:?}", ids(&f));
    }

    #[test]
    fn unroutable_client_names_the_missing_route_and_explains_the_timeouts() {
        let mut f = healthy_cp();
        super::super::matrix::client_elsewhere(&mut f, None, Some("active"));
        fail_all_connects(&mut f, crate::facts::ConnectOutcome::Timeout);
        let (id, conf, ev) = first(&f);
        assert_eq!(
            (id, conf),
            (FindingId::ClientPathToVpceUnroutable, Confidence::Confirmed)
        );
        assert!(ev[0].contains("is in vpc-2, the endpoint"), "{ev:?}");
        assert!(
            ev[1].contains("rtb-client has no route to 10.0.1.25"),
            "{ev:?}"
        );
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
    fn hybrid_target_without_routes_read_stays_unreachable() {
        let mut f = healthy_cp();
        set_all(
            &mut f,
            gateway(
                504,
                "InternalServerErrorException",
                "Endpoint request timed out",
            ),
        );
        hybrid_target(&mut f, "Target.Timeout");
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

    /// A policy that allows `GET /` only: the deeper path's 403 is the policy, confirmed on that
    /// path — not a policy "changed but not redeployed" (the policy does not allow it now either).
    #[test]
    fn a_policy_for_some_paths_only_is_judged_per_path() {
        let mut f = healthy_cp();
        cp(&mut f).api.as_mut().unwrap().policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/"}]}"#.into(),
        );
        set_path(
            &mut f,
            "/pgw-probe",
            gateway(
                403,
                "AccessDeniedException",
                "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/pgw-probe",
            ),
        );
        let d = super::super::diagnose(&f);
        assert_eq!(d[0].id, FindingId::ResourcePolicyMissing, "{d:#?}");
        assert_eq!(d[0].confidence, Confidence::Confirmed);
        assert!(
            d[0].evidence[0].ends_with("on GET /pgw-probe"),
            "{:?}",
            d[0].evidence
        );
        assert!(!d
            .iter()
            .any(|x| x.id == FindingId::PolicyChangedNotRedeployed));
    }
}
