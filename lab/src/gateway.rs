//! API Gateway's request pipeline for the private REST API, in AWS's order: identify the
//! API (Host / x-apigw-api-id), stage, method lookup in the deployed resource tree,
//! AWS_IAM authorization, resource policy on aws:SourceVpce, throttling, and finally the
//! VPC-link integration whose response (or failure) is relayed.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::integration::{self, Failure};
use crate::responses::{stamp, Body, GatewayError, LogLine};
use crate::runtime::FaultCell;
use crate::{
    ApiType, Authorization, Faults, IamCredentials, IntegrationPath, PolicyFault, Topology,
};

/// Largest request body accepted (API Gateway's 10 MiB payload limit).
const REQUEST_LIMIT: usize = 10 * 1024 * 1024;

/// Which front end a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// An ENI of the lab's execute-api interface endpoint (aws:SourceVpce = its id).
    Endpoint,
    /// API Gateway's public front end: a private API is never served there.
    Public,
}

/// The API Gateway control state of the lab's private API plus its integrations.
pub(crate) struct Gateway {
    pub(crate) topo: Topology,
    pub(crate) faults: FaultCell,
    pub(crate) nlb_a: SocketAddr,
    pub(crate) nlb_b: SocketAddr,
    /// A port of NLB A and of NLB B that no listener serves (SYNs dropped).
    pub(crate) unlistened: [SocketAddr; 2],
    /// The moto server the execution logs go to, once it runs.
    pub(crate) logs: std::sync::OnceLock<SocketAddr>,
}

/// The secret of the lab's access key after `iam_credentials = "wrong_secret"` rotated it.
const ROTATED_SECRET: &str = "pgwLabRotatedSecret000000000000000000000";
/// The only access key the gateway knows under `iam_credentials = "unknown_key"`.
const DELETED_KEY: &str = "AKIAPGWLABREPLACED01";

/// API Gateway's clock: the lab host's, off by `gateway_clock_skew_s`.
fn clock(faults: &Faults) -> SystemTime {
    let skew = Duration::from_secs(faults.gateway_clock_skew_s.unsigned_abs());
    if faults.gateway_clock_skew_s >= 0 {
        SystemTime::now() + skew
    } else {
        SystemTime::now() - skew
    }
}

/// Hop-by-hop headers never forwarded in either direction.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "host"
    )
}

impl Gateway {
    /// Answers one request that arrived on `door` from `peer`.
    pub(crate) async fn handle(
        &self,
        door: Door,
        peer: SocketAddr,
        sni: Option<&str>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let faults = self.faults.get();
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let (Ok(mut resp) | Err(mut resp)) = self.pipeline(door, peer, sni, &faults, req).await;
        if let (Some(moto), Some(LogLine(line))) =
            (self.logs.get(), resp.extensions().get::<LogLine>())
        {
            if door == Door::Endpoint && faults.execution_logs == crate::ExecutionLogs::Error {
                let lines =
                    crate::exec_log::lines(resp.headers(), &method, &path, line, resp.status());
                crate::exec_log::deliver(
                    *moto,
                    &self.topo,
                    lines,
                    Duration::from_millis(faults.execution_log_delay_ms),
                );
            }
        }
        // API Gateway's own clock, as every response's Date shows it.
        let date = httpdate::fmt_http_date(clock(&faults));
        if let Ok(v) = HeaderValue::from_str(&date) {
            resp.headers_mut().insert(http::header::DATE, v);
        }
        resp
    }

    async fn pipeline(
        &self,
        door: Door,
        peer: SocketAddr,
        sni: Option<&str>,
        faults: &Faults,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Response<Body>> {
        let fail = |e: GatewayError| e.response();
        // The public front end refuses a private API, unless the API answers publicly too.
        if door == Door::Public && faults.public_endpoint != crate::PublicEndpointFault::Open {
            return Err(fail(GatewayError::Forbidden));
        }
        let (mut parts, body) = req.into_parts();
        if faults.host_rewrite {
            let name = self.topo.vpce_regional_dns();
            if let Ok(v) = HeaderValue::from_str(&name) {
                parts.headers.insert(HOST, v);
            }
        }
        let body = match Limited::new(body, REQUEST_LIMIT).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Err(fail(GatewayError::RequestTooLarge)),
        };

        // 1. Which API? A public (REGIONAL/EDGE) API is not served through the endpoint.
        let host = self.host_of(&parts);
        if self.identify(&parts, &host, faults).as_deref() != Some(self.topo.api_id.as_str())
            || faults.api_type != ApiType::Private
        {
            return Err(fail(GatewayError::Forbidden));
        }
        // Its default endpoint off: only the custom domain reaches it. STRICT: the SNI must be
        // the Host.
        let by_domain = host == self.topo.domain_name;
        // STRICT also refuses the endpoint's own name with `x-apigw-api-id`: the API must be
        // named by the host the handshake named.
        let named_by_host =
            by_domain || host == self.topo.api_host() || host == self.topo.alias_host();
        let sni_is_host = sni.is_some_and(|s| s.eq_ignore_ascii_case(&host));
        if (faults.execute_api_endpoint_disabled && !by_domain)
            || (faults.endpoint_access_mode_strict && !(sni_is_host && named_by_host))
        {
            return Err(fail(GatewayError::Forbidden));
        }
        // 2. Stage: named by the path, or through the custom domain's base path mapping.
        let path = parts.uri.path().to_string();
        let trimmed = path.strip_prefix('/').unwrap_or(&path);
        let (stage, rest) = if by_domain {
            // `unmapped`: the domain maps the stage at `v2` only.
            let base = match faults.custom_domain {
                crate::CustomDomainFault::Unmapped => crate::control::UNMAPPED_BASE_PATH,
                _ => self.topo.base_path.as_str(),
            };
            match trimmed.strip_prefix(base) {
                Some(r) if r.is_empty() || r.starts_with('/') => {
                    (self.topo.stage.as_str(), r.trim_start_matches('/'))
                }
                // No mapping for that path.
                _ => return Err(fail(GatewayError::Forbidden)),
            }
        } else {
            trimmed.split_once('/').unwrap_or((trimmed, ""))
        };
        if !self.topo.deployed_stages.iter().any(|s| s == stage) {
            return Err(fail(GatewayError::Forbidden));
        }
        // WAF: the stage's web ACL sees the request before API Gateway does.
        if faults.waf == crate::WafFault::Block {
            return Err(fail(GatewayError::Forbidden));
        }
        // 3. Method lookup: `/` needs ANY on the root, anything deeper ANY on `/{proxy+}`.
        let root = rest.is_empty();
        if (root && !faults.root_method_deployed()) || (!root && !faults.proxy_method) {
            return Err(fail(GatewayError::MissingAuthenticationToken));
        }
        // 4. Authorization.
        let mut user = "anonymous".to_string();
        if faults.authorization == Authorization::AwsIam {
            let known = match faults.iam_credentials {
                IamCredentials::Ok => crate::sigv4::LAB_KEY,
                IamCredentials::WrongSecret => (crate::LAB_ACCESS_KEY_ID, ROTATED_SECRET),
                IamCredentials::UnknownKey => (DELETED_KEY, ROTATED_SECRET),
            };
            user = crate::sigv4::verify(
                &parts,
                &body,
                &self.topo.region,
                &self.topo.account,
                known,
                clock(faults),
            )
            .map_err(fail)?;
        }
        // 5. Resource policies (aws:SourceVpce = the endpoint the connection came through): the
        // custom domain's, then the API's.
        if by_domain && faults.custom_domain == crate::CustomDomainFault::PolicyDenies {
            return Err(fail(GatewayError::AccessDenied {
                user,
                arn: format!(
                    "arn:aws:execute-api:{}:{}:/domainnames/{}+{}",
                    self.topo.region,
                    self.topo.account,
                    self.topo.domain_name,
                    crate::control::DOMAIN_NAME_ID
                ),
                explicit: true,
            }));
        }
        let arn = format!(
            "arn:aws:execute-api:{}:{}:{}/{stage}/{}/{rest}",
            self.topo.region, self.topo.account, self.topo.api_id, parts.method
        );
        // The deployed policy counts, not the current one (policy_not_redeployed).
        let policy = faults.deployed_policy();
        match policy {
            PolicyFault::AllowVpce | PolicyFault::Open | PolicyFault::AllowVpceAndForeign => {}
            PolicyFault::Missing | PolicyFault::OtherVpce => {
                return Err(fail(GatewayError::AccessDenied {
                    user,
                    arn,
                    explicit: policy == PolicyFault::OtherVpce,
                }));
            }
        }
        // The endpoint's own policy (the call came through it).
        if door == Door::Endpoint && faults.vpce_policy == crate::VpcePolicyFault::OtherApi {
            return Err(fail(GatewayError::AccessDeniedByEndpointPolicy {
                user,
                arn,
            }));
        }
        // API keys (INVALID_API_KEY: 403 Forbidden).
        if faults.api_key_required
            && parts.headers.get("x-api-key").and_then(|v| v.to_str().ok())
                != Some(crate::LAB_API_KEY)
        {
            return Err(fail(GatewayError::Forbidden));
        }
        // 6. Throttling.
        if faults.throttle {
            return Err(fail(GatewayError::TooManyRequests));
        }
        // 7. Integration.
        if faults.vpc_link_broken() {
            return Err(fail(GatewayError::InternalServerError));
        }
        let host = self.topo.integration_host(self.topo.path);
        if let Some(line) = faults.integration.config_error(&host) {
            let mut r = fail(GatewayError::InternalServerError);
            r.extensions_mut().insert(LogLine(line));
            return Err(r);
        }
        self.integrate(&parts, body, rest, peer, faults).await
    }

    /// The API id named by the request: Host `{api}.execute-api…` or the associated alias
    /// `{api}-{vpce}.execute-api…`; any other Host (endpoint names, NLB names, IPs) needs
    /// `x-apigw-api-id`. `host`: [`Gateway::host_of`] the request.
    fn identify(&self, parts: &Parts, host: &str, faults: &Faults) -> Option<String> {
        // The private custom domain: its base path mapping names the API.
        if host == self.topo.domain_name {
            return Some(self.topo.api_id.clone());
        }
        let suffix = format!(".execute-api.{}.amazonaws.com", self.topo.region);
        if let Some(label) = host.strip_suffix(&suffix).filter(|l| !l.contains('.')) {
            return match label.split_once('-') {
                Some((api, vpce)) => {
                    (vpce == self.topo.vpce_id && faults.alias_associated).then(|| api.to_string())
                }
                None => Some(label.to_string()),
            };
        }
        parts
            .headers
            .get("x-apigw-api-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    }

    /// The request's host name: `Host` (else the URI's), without port or trailing dot, lower case.
    fn host_of(&self, parts: &Parts) -> String {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.host())
            .unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        host.trim_end_matches('.').to_ascii_lowercase()
    }

    async fn integrate(
        &self,
        parts: &Parts,
        body: Bytes,
        rest: &str,
        peer: SocketAddr,
        faults: &Faults,
    ) -> Result<Response<Body>, Response<Body>> {
        let (mut nlb, host) = match self.topo.path {
            IntegrationPath::A => (self.nlb_a, self.topo.integration_host(IntegrationPath::A)),
            IntegrationPath::B => (self.nlb_b, self.topo.integration_host(IntegrationPath::B)),
        };
        // The uri's port picks the NLB listener.
        if faults.listener_port_mismatch {
            nlb = self.unlistened[(self.topo.path == IntegrationPath::B) as usize];
        }
        // The uri's path: `/{proxy}` filled with the matched path, or `/v1` for every call.
        let mut target = if faults.integration_uri_without_proxy && !rest.is_empty() {
            "/v1".to_string()
        } else {
            format!("/{rest}")
        };
        if let Some(q) = parts.uri.query() {
            target = format!("{target}?{q}");
        }
        let trace = crate::ids::trace_id();
        let mut builder = Request::builder().method(parts.method.clone()).uri(target);
        let headers = builder.headers_mut().expect("fresh builder");
        copy_end_to_end(&parts.headers, headers);
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        put("host", &host);
        put("x-amzn-trace-id", &trace);
        put("x-forwarded-for", &peer.ip().to_string());
        put("x-amzn-apigateway-api-id", &self.topo.api_id);
        let req = builder
            .body(Full::new(body))
            .map_err(|_| GatewayError::InternalServerError.response())?;
        let limit = Duration::from_millis(
            faults
                .integration_timeout_ms
                .unwrap_or(self.topo.integration_timeout_ms),
        );
        match integration::forward(nlb, req, limit).await {
            Ok(resp) => {
                let (parts, bytes) = resp.into_parts();
                let mut out = Response::new(Full::new(bytes));
                *out.status_mut() = parts.status;
                copy_end_to_end(&parts.headers, out.headers_mut());
                stamp(out.headers_mut());
                if let Ok(v) = HeaderValue::from_str(&trace) {
                    out.headers_mut().insert("x-amzn-trace-id", v);
                }
                Ok(out)
            }
            Err(Failure::Network) => Err(GatewayError::NetworkError.response()),
            Err(Failure::Timeout) => Err(GatewayError::EndpointTimeout.response()),
        }
    }
}

fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}
