//! The [`Inventory`](super::Inventory) on the real AWS SDK: API Gateway, EC2 and ELBv2 clients from
//! the standard credential chain, an optional endpoint URL, and one assumed role per other account.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{AwsError, ErrorKind, Inventory};
use crate::facts::control::*;

/// At most this many items of a paginated listing are kept (a bound on a huge account).
const MAX_ITEMS: usize = 5_000;

/// Clients for one account.
#[derive(Debug, Clone)]
struct Clients {
    apigw: aws_sdk_apigateway::Client,
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    fn new(conf: &SdkConfig) -> Self {
        Clients {
            apigw: aws_sdk_apigateway::Client::new(conf),
            ec2: aws_sdk_ec2::Client::new(conf),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(conf),
        }
    }
}

/// SDK-backed inventory: the default account plus one client set per `--role` account.
#[derive(Debug, Clone)]
pub struct SdkInventory {
    main: Clients,
    others: BTreeMap<String, Clients>,
}

impl SdkInventory {
    /// Load the standard chain for `region`, optionally sending every call to `endpoint_url`.
    pub async fn new(
        region: &str,
        endpoint_url: Option<&str>,
        roles: &BTreeMap<String, String>,
    ) -> SdkInventory {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
        if let Some(u) = endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let base = loader.load().await;
        let mut others = BTreeMap::new();
        for (account, arn) in roles {
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
                .session_name("pgw-read")
                .configure(&base)
                .build()
                .await;
            let conf = base
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
            others.insert(account.clone(), Clients::new(&conf));
        }
        SdkInventory {
            main: Clients::new(&base),
            others,
        }
    }
}

/// `endpointConfiguration.types`, as strings.
fn endpoint_types(e: Option<&aws_sdk_apigateway::types::EndpointConfiguration>) -> Vec<String> {
    e.map(|e| e.types().iter().map(|t| t.as_str().to_string()).collect())
        .unwrap_or_default()
}

/// A policy document, `None` when absent or blank.
/// A [`RestApi`] from GetRestApi's output or one of GetRestApis' items: the SDK's two types have
/// the same accessors. `$id` stands in for an id the answer leaves out.
macro_rules! rest_api {
    ($o:expr, $id:expr) => {{
        let o = $o;
        RestApi {
            id: o.id().unwrap_or($id).to_string(),
            name: o.name().unwrap_or_default().to_string(),
            endpoint_types: endpoint_types(o.endpoint_configuration()),
            vpc_endpoint_ids: o
                .endpoint_configuration()
                .map(|e| e.vpc_endpoint_ids().to_vec())
                .unwrap_or_default(),
            policy: non_empty(o.policy()),
            security_policy: o.security_policy().map(|p| p.as_str().to_string()),
            disable_execute_api_endpoint: o.disable_execute_api_endpoint(),
            endpoint_access_mode: o.endpoint_access_mode().map(|m| m.as_str().to_string()),
        }
    }};
}

fn non_empty(p: Option<&str>) -> Option<String> {
    p.filter(|p| !p.trim().is_empty()).map(str::to_string)
}

/// A read of one thing that is not there: `None`, not an error.
fn none_if_not_found<T>(e: AwsError) -> Result<Option<T>, AwsError> {
    if e.is_not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Map an SDK error to our kinds by its error code (or the lack of a response), with the short
/// text of [`error_text`].
fn err<E, R>(e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let kind = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            if code.contains("NotFound") {
                ErrorKind::NotFound
            } else if code.contains("AccessDenied")
                || code.contains("UnauthorizedOperation")
                || code.contains("Unauthorized")
            {
                ErrorKind::AccessDenied
            } else if code.contains("Throttl")
                || code.contains("TooManyRequests")
                || code.contains("RequestLimitExceeded")
            {
                ErrorKind::Throttled
            } else if code.contains("InvalidClientTokenId")
                || code.contains("ExpiredToken")
                || code.contains("UnrecognizedClient")
            {
                ErrorKind::Credentials
            } else {
                ErrorKind::Other
            }
        }
        SdkError::DispatchFailure(d) if d.is_user() => ErrorKind::Credentials,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    };
    AwsError {
        kind,
        message: error_text(&e),
    }
}

/// The short text of a failed call, for one report line: `Code: message` for an error the
/// service answered (`AccessDenied: User: … is not authorized …`), else the innermost cause
/// (`Connection refused (os error 111)`, `no credentials found in chain`), never the Debug
/// chain. Whitespace runs become one space.
fn error_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let text = match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            match se.err().message().map(str::trim) {
                Some(m) if !m.is_empty() => format!("{code}: {m}"),
                _ => code.to_string(),
            }
        }
        _ => {
            let mut inner: &(dyn std::error::Error + 'static) = e;
            while let Some(s) = inner.source() {
                inner = s;
            }
            let text = inner.to_string();
            // A first line that only introduces a list ("…. Attempted:") keeps its sentence.
            let first = text.lines().next().unwrap_or_default().trim();
            match first.strip_suffix(':') {
                Some(intro) => intro
                    .rsplit_once(". ")
                    .map_or(intro, |(sentence, _)| sentence)
                    .to_string(),
                None => first.to_string(),
            }
        }
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "failed without a reason".into()
    } else {
        text
    }
}

fn filter(name: &str, values: &[&str]) -> Filter {
    let mut b = Filter::builder().name(name);
    for v in values {
        b = b.values(*v);
    }
    b.build()
}

impl SdkInventory {
    /// GetRestApis, every page (bounded): the account's REST APIs in the region, each with its
    /// tags.
    pub async fn rest_apis(&self) -> Result<Vec<(RestApi, BTreeMap<String, String>)>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let o = self
                .main
                .apigw
                .get_rest_apis()
                .limit(500)
                .set_position(position.clone())
                .send()
                .await
                .map_err(err)?;
            for a in o.items() {
                let api = rest_api!(a, "");
                let tags = a
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                out.push((api, tags));
            }
            position = o.position().map(str::to_string);
            if position.is_none() || o.items().is_empty() || out.len() >= MAX_ITEMS {
                return Ok(out);
            }
        }
    }
}

impl Inventory for SdkInventory {
    async fn get_rest_api(&self, api_id: &str) -> Result<Option<RestApi>, AwsError> {
        match self
            .main
            .apigw
            .get_rest_api()
            .rest_api_id(api_id)
            .send()
            .await
        {
            Ok(o) => Ok(Some(rest_api!(&o, api_id))),
            Err(e) => none_if_not_found(err(e)),
        }
    }

    async fn get_domain_access_associations(&self) -> Result<Vec<AccessAssociation>, AwsError> {
        use aws_sdk_apigateway::types::ResourceOwner;
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let o = self
                .main
                .apigw
                .get_domain_name_access_associations()
                .resource_owner(ResourceOwner::SelfValue)
                .limit(500)
                .set_position(position.clone())
                .send()
                .await
                .map_err(err)?;
            out.extend(o.items().iter().map(|a| {
                AccessAssociation {
                    arn: a
                        .domain_name_access_association_arn()
                        .unwrap_or_default()
                        .to_string(),
                    domain_name_arn: a.domain_name_arn().unwrap_or_default().to_string(),
                    source_type: a
                        .access_association_source_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    source: a
                        .access_association_source()
                        .unwrap_or_default()
                        .to_string(),
                }
            }));
            position = o.position().map(str::to_string);
            if position.is_none() || o.items().is_empty() || out.len() >= MAX_ITEMS {
                return Ok(out);
            }
        }
    }

    async fn get_domain_name(
        &self,
        name: &str,
        id: Option<&str>,
    ) -> Result<Option<DomainName>, AwsError> {
        let read = self
            .main
            .apigw
            .get_domain_name()
            .domain_name(name)
            .set_domain_name_id(id.map(str::to_string))
            .send()
            .await;
        match read {
            Ok(o) => Ok(Some(DomainName {
                name: o.domain_name().unwrap_or(name).to_string(),
                id: o.domain_name_id().map(str::to_string),
                arn: o.domain_name_arn().map(str::to_string),
                endpoint_types: endpoint_types(o.endpoint_configuration()),
                status: o.domain_name_status().map(|s| s.as_str().to_string()),
                status_message: o.domain_name_status_message().map(str::to_string),
                certificate_arn: o.certificate_arn().map(str::to_string),
                policy: non_empty(o.policy()),
                endpoint_access_mode: o.endpoint_access_mode().map(|m| m.as_str().to_string()),
                routing_mode: o.routing_mode().map(|m| m.as_str().to_string()),
            })),
            Err(e) => none_if_not_found(err(e)),
        }
    }

    async fn get_base_path_mappings(
        &self,
        name: &str,
        id: Option<&str>,
    ) -> Result<Vec<BasePathMapping>, AwsError> {
        let o = self
            .main
            .apigw
            .get_base_path_mappings()
            .domain_name(name)
            .set_domain_name_id(id.map(str::to_string))
            .limit(500)
            .send()
            .await
            .map_err(err)?;
        Ok(o.items()
            .iter()
            .map(|m| BasePathMapping {
                base_path: m.base_path().unwrap_or("(none)").to_string(),
                rest_api_id: m.rest_api_id().unwrap_or_default().to_string(),
                stage: m.stage().map(str::to_string),
            })
            .collect())
    }

    async fn get_account_role(&self) -> Result<Option<String>, AwsError> {
        let o = self.main.apigw.get_account().send().await.map_err(err)?;
        Ok(o.cloudwatch_role_arn()
            .filter(|r| !r.is_empty())
            .map(str::to_string))
    }

    async fn filter_log_events(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Result<Vec<LogEvent>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // Pages until `max` events, the last page, or ten pages (each may come back empty while
        // the search goes on).
        for _ in 0..10 {
            let r = self
                .main
                .logs
                .filter_log_events()
                .log_group_name(group)
                .filter_pattern(pattern)
                .start_time(start_ms)
                .end_time(end_ms)
                .limit(max.clamp(1, 10_000) as i32)
                .set_next_token(token.clone())
                .send()
                .await;
            let o = match r {
                Ok(o) => o,
                Err(e) => {
                    let e = err(e);
                    // No such group: API Gateway has logged nothing for the stage yet.
                    return if e.kind == ErrorKind::NotFound {
                        Ok(out)
                    } else {
                        Err(e)
                    };
                }
            };
            out.extend(o.events().iter().filter_map(|e| {
                Some(LogEvent {
                    timestamp_ms: e.timestamp()?,
                    message: e.message()?.to_string(),
                })
            }));
            token = o.next_token().map(str::to_string);
            if token.is_none() || out.len() >= max {
                break;
            }
        }
        out.truncate(max);
        Ok(out)
    }

    async fn get_stages(&self, api_id: &str) -> Result<Vec<String>, AwsError> {
        let o = self
            .main
            .apigw
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(err)?;
        let mut names: Vec<String> = o
            .item()
            .iter()
            .filter_map(|s| s.stage_name().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn get_stage(&self, api_id: &str, stage: &str) -> Result<Option<Stage>, AwsError> {
        match self
            .main
            .apigw
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send()
            .await
        {
            Ok(o) => Ok(Some(Stage {
                name: o.stage_name().unwrap_or(stage).to_string(),
                deployment_id: o.deployment_id().map(str::to_string),
                variables: o
                    .variables()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                web_acl_arn: o.web_acl_arn().map(str::to_string),
                logging_level: o
                    .method_settings()
                    .and_then(|m| m.get("*/*"))
                    .and_then(|m| m.logging_level())
                    .map(str::to_string),
            })),
            Err(e) => none_if_not_found(err(e)),
        }
    }

    async fn get_deployment_summary(
        &self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
        let o = self
            .main
            .apigw
            .get_deployment()
            .rest_api_id(api_id)
            .deployment_id(deployment_id)
            .embed("apisummary")
            .send()
            .await
            .map_err(err)?;
        Ok(o.api_summary()
            .map(|m| {
                m.iter()
                    .map(|(path, methods)| (path.clone(), methods.keys().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn get_resources(&self, api_id: &str) -> Result<Vec<Resource>, AwsError> {
        let mut out = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let o = self
                .main
                .apigw
                .get_resources()
                .rest_api_id(api_id)
                .embed("methods")
                .limit(500)
                .set_position(position.clone())
                .send()
                .await
                .map_err(err)?;
            for r in o.items() {
                let mut methods: Vec<Method> = r
                    .resource_methods()
                    .map(|m| {
                        m.iter()
                            .map(|(verb, m)| Method {
                                http_method: verb.clone(),
                                authorization_type: m.authorization_type().map(str::to_string),
                                api_key_required: m.api_key_required().unwrap_or(false),
                                integration: m.method_integration().map(|i| Integration {
                                    kind: i.r#type().map(|t| t.as_str().to_string()),
                                    connection_type: i
                                        .connection_type()
                                        .map(|t| t.as_str().to_string()),
                                    connection_id: i.connection_id().map(str::to_string),
                                    uri: i.uri().map(str::to_string),
                                    timeout_ms: Some(i.timeout_in_millis()),
                                    request_parameters: i
                                        .request_parameters()
                                        .map(|m| {
                                            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                                        })
                                        .unwrap_or_default(),
                                }),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                methods.sort_by(|a, b| a.http_method.cmp(&b.http_method));
                out.push(Resource {
                    path: r.path().unwrap_or_default().to_string(),
                    methods,
                });
            }
            position = o.position().map(str::to_string);
            if position.is_none() || o.items().is_empty() {
                break;
            }
        }
        Ok(out)
    }

    async fn get_vpc_link(&self, id: &str) -> Result<VpcLink, AwsError> {
        let o = self
            .main
            .apigw
            .get_vpc_link()
            .vpc_link_id(id)
            .send()
            .await
            .map_err(err)?;
        Ok(VpcLink {
            id: o.id().unwrap_or(id).to_string(),
            status: o
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_message: o.status_message().map(str::to_string),
            target_arns: o.target_arns().to_vec(),
        })
    }

    async fn describe_endpoints(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Endpoint>, AwsError> {
        let mut req = self.main.ec2.describe_vpc_endpoints();
        for (k, v) in filters {
            req = req.filters(filter(k, &[v]));
        }
        let o = req.send().await.map_err(err)?;
        let mut out = Vec::new();
        let mut eni_ids = Vec::new();
        for e in o.vpc_endpoints() {
            eni_ids.extend(e.network_interface_ids().iter().cloned());
        }
        let mut enis: BTreeMap<String, (String, std::net::IpAddr)> = BTreeMap::new();
        let mut subnets: BTreeMap<std::net::IpAddr, String> = BTreeMap::new();
        if !eni_ids.is_empty() {
            let n = self
                .main
                .ec2
                .describe_network_interfaces()
                .set_network_interface_ids(Some(eni_ids))
                .send()
                .await
                .map_err(err)?;
            for i in n.network_interfaces() {
                if let (Some(id), Some(ip)) = (
                    i.network_interface_id(),
                    i.private_ip_address().and_then(|s| s.parse().ok()),
                ) {
                    enis.insert(
                        id.to_string(),
                        (i.availability_zone().unwrap_or_default().to_string(), ip),
                    );
                    if let Some(s) = i.subnet_id() {
                        subnets.insert(ip, s.to_string());
                    }
                }
            }
        }
        for e in o.vpc_endpoints() {
            out.push(Endpoint {
                id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
                state: e
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                vpc_id: e.vpc_id().map(str::to_string),
                service_name: e.service_name().map(str::to_string),
                private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
                dns_names: e
                    .dns_entries()
                    .iter()
                    .filter_map(|d| d.dns_name().map(str::to_string))
                    .collect(),
                security_groups: e
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                enis: e
                    .network_interface_ids()
                    .iter()
                    .filter_map(|id| enis.get(id).cloned())
                    .collect(),
                eni_subnets: e
                    .network_interface_ids()
                    .iter()
                    .filter_map(|id| enis.get(id))
                    .filter_map(|(_, ip)| Some((*ip, subnets.get(ip)?.clone())))
                    .collect(),
                policy: e
                    .policy_document()
                    .filter(|p| !p.trim().is_empty())
                    .map(str::to_string),
            });
        }
        Ok(out)
    }

    async fn describe_sg_rules(
        &self,
        group_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<SgRule>>, AwsError> {
        let ids: Vec<&str> = group_ids.iter().map(String::as_str).collect();
        let o = self
            .main
            .ec2
            .describe_security_group_rules()
            .filters(filter("group-id", &ids))
            .send()
            .await
            .map_err(err)?;
        let mut out: BTreeMap<String, Vec<SgRule>> =
            group_ids.iter().map(|g| (g.clone(), Vec::new())).collect();
        for r in o.security_group_rules() {
            let Some(g) = r.group_id() else { continue };
            out.entry(g.to_string()).or_default().push(SgRule {
                egress: r.is_egress().unwrap_or(false),
                protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                from_port: r.from_port().unwrap_or(-1),
                to_port: r.to_port().unwrap_or(-1),
                cidr: r.cidr_ipv4().or(r.cidr_ipv6()).map(str::to_string),
                group_ref: r
                    .referenced_group_info()
                    .and_then(|x| x.group_id())
                    .map(str::to_string),
                prefix_list: r.prefix_list_id().map(str::to_string),
            });
        }
        Ok(out)
    }

    async fn describe_client_enis(&self, ip: std::net::IpAddr) -> Result<Vec<ClientEni>, AwsError> {
        let ip_text = ip.to_string();
        let o = self
            .main
            .ec2
            .describe_network_interfaces()
            .filters(filter("addresses.private-ip-address", &[ip_text.as_str()]))
            .send()
            .await
            .map_err(err)?;
        Ok(o.network_interfaces()
            .iter()
            .map(|n| ClientEni {
                id: n.network_interface_id().unwrap_or_default().to_string(),
                ip,
                vpc_id: n.vpc_id().unwrap_or_default().to_string(),
                security_groups: n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id())
                    .map(str::to_string)
                    .collect(),
                subnet: n.subnet_id().map(str::to_string),
            })
            .collect())
    }

    async fn describe_network_acls(&self, vpc_id: &str) -> Result<Vec<NetworkAcl>, AwsError> {
        let o = self
            .main
            .ec2
            .describe_network_acls()
            .filters(filter("vpc-id", &[vpc_id]))
            .send()
            .await
            .map_err(err)?;
        Ok(o.network_acls()
            .iter()
            .map(|a| NetworkAcl {
                id: a.network_acl_id().unwrap_or_default().to_string(),
                default: a.is_default().unwrap_or(false),
                subnets: a
                    .associations()
                    .iter()
                    .filter_map(|x| x.subnet_id().map(str::to_string))
                    .collect(),
                entries: a
                    .entries()
                    .iter()
                    .map(|e| AclEntry {
                        rule_number: e.rule_number().unwrap_or(32767),
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_string(),
                        ports: e.port_range().and_then(|p| Some((p.from()?, p.to()?))),
                        cidr: e.cidr_block().or(e.ipv6_cidr_block()).map(str::to_string),
                        allow: e.rule_action().map(|r| r.as_str()) == Some("allow"),
                    })
                    .collect(),
            })
            .collect())
    }

    async fn describe_vpc_cidrs(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        let o = self
            .main
            .ec2
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .map_err(err)?;
        let mut out = Vec::new();
        for v in o.vpcs() {
            out.extend(v.cidr_block().map(str::to_string));
            for a in v.cidr_block_association_set() {
                let live = a.cidr_block_state().and_then(|s| s.state())
                    == Some(&aws_sdk_ec2::types::VpcCidrBlockStateCode::Associated);
                if let (Some(c), true) = (a.cidr_block(), live) {
                    out.push(c.to_string());
                }
            }
            for a in v.ipv6_cidr_block_association_set() {
                out.extend(a.ipv6_cidr_block().map(str::to_string));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn describe_vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        let support = self
            .main
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsSupport)
            .send()
            .await
            .map_err(err)?;
        let hostnames = self
            .main
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .map_err(err)?;
        Ok((
            support
                .enable_dns_support()
                .and_then(|v| v.value())
                .unwrap_or(false),
            hostnames
                .enable_dns_hostnames()
                .and_then(|v| v.value())
                .unwrap_or(false),
        ))
    }

    async fn describe_load_balancer(&self, arn: &str) -> Result<Nlb, AwsError> {
        let lbs = self
            .main
            .elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(err)?;
        let lb = lbs.load_balancers().first().ok_or_else(|| AwsError {
            kind: ErrorKind::NotFound,
            message: format!("load balancer {arn} not found"),
        })?;
        Ok(Nlb {
            arn: arn.to_string(),
            name: lb.load_balancer_name().unwrap_or_default().to_string(),
            vpc_id: lb.vpc_id().map(str::to_string),
            azs: lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.zone_name().map(str::to_string))
                .collect(),
            subnets: lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id().map(str::to_string))
                .collect(),
            security_groups: lb.security_groups().to_vec(),
            enforce_privatelink_sg: lb
                .enforce_security_group_inbound_rules_on_private_link_traffic()
                .map(|v| v.eq_ignore_ascii_case("on")),
            listeners: None,
            target_groups: Vec::new(),
        })
    }

    async fn describe_listeners(&self, arn: &str) -> Result<Vec<Listener>, AwsError> {
        let o = self
            .main
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(err)?;
        Ok(o.listeners()
            .iter()
            .map(|l| Listener {
                port: l.port().unwrap_or_default(),
                protocol: l
                    .protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                target_group_arns: l
                    .default_actions()
                    .iter()
                    .filter_map(|a| a.target_group_arn().map(str::to_string))
                    .collect(),
            })
            .collect())
    }

    async fn describe_target_groups(&self, arn: &str) -> Result<Vec<TargetGroup>, AwsError> {
        let o = self
            .main
            .elb
            .describe_target_groups()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(err)?;
        Ok(o.target_groups()
            .iter()
            .map(|tg| TargetGroup {
                arn: tg.target_group_arn().unwrap_or_default().to_string(),
                name: tg.target_group_name().unwrap_or_default().to_string(),
                port: tg.port(),
                target_type: tg.target_type().map(|t| t.as_str().to_string()),
                targets: Vec::new(),
            })
            .collect())
    }

    async fn describe_target_health(&self, tg_arn: &str) -> Result<Vec<Target>, AwsError> {
        let th = self
            .main
            .elb
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .map_err(err)?;
        Ok(th
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let t = d.target();
                let h = d.target_health();
                Target {
                    id: t.and_then(|t| t.id()).unwrap_or_default().to_string(),
                    port: t.and_then(|t| t.port()),
                    az: t.and_then(|t| t.availability_zone()).map(str::to_string),
                    state: h
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: h.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                    description: h.and_then(|h| h.description()).map(str::to_string),
                }
            })
            .collect())
    }

    async fn describe_route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError> {
        let o = self
            .main
            .ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &[vpc_id]))
            .send()
            .await
            .map_err(err)?;
        Ok(o.route_tables()
            .iter()
            .map(|t| {
                let assoc = t.associations();
                RouteTable {
                    id: t.route_table_id().unwrap_or_default().to_string(),
                    main: assoc.iter().any(|a| a.main() == Some(true)),
                    subnets: assoc
                        .iter()
                        .filter_map(|a| a.subnet_id().map(str::to_string))
                        .collect(),
                    routes: t
                        .routes()
                        .iter()
                        .filter_map(|r| {
                            let destination = r
                                .destination_cidr_block()
                                .or(r.destination_ipv6_cidr_block())?;
                            let target = [
                                r.gateway_id(),
                                r.transit_gateway_id(),
                                r.nat_gateway_id(),
                                r.vpc_peering_connection_id(),
                                r.network_interface_id(),
                                r.instance_id(),
                                r.local_gateway_id(),
                                r.carrier_gateway_id(),
                                r.core_network_arn(),
                                r.egress_only_internet_gateway_id(),
                            ]
                            .into_iter()
                            .flatten()
                            .next()
                            .unwrap_or("?");
                            Some(Route {
                                destination: destination.to_string(),
                                target: target.to_string(),
                                state: r
                                    .state()
                                    .map(|s| s.as_str().to_string())
                                    .unwrap_or_else(|| "active".into()),
                            })
                        })
                        .collect(),
                }
            })
            .collect())
    }

    async fn describe_subnets(
        &self,
        subnet_ids: &[String],
    ) -> Result<BTreeMap<String, Subnet>, AwsError> {
        let o = self
            .main
            .ec2
            .describe_subnets()
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
            .await
            .map_err(err)?;
        Ok(o.subnets()
            .iter()
            .filter_map(|s| {
                let subnet = Subnet {
                    cidr: s.cidr_block()?.to_string(),
                    az_id: s.availability_zone_id().map(str::to_string),
                };
                Some((s.subnet_id()?.to_string(), subnet))
            })
            .collect())
    }

    async fn describe_service_permissions(
        &self,
        service_id: &str,
    ) -> Result<Vec<String>, AwsError> {
        let o = self
            .main
            .ec2
            .describe_vpc_endpoint_service_permissions()
            .service_id(service_id)
            .send()
            .await
            .map_err(err)?;
        Ok(o.allowed_principals()
            .iter()
            .filter_map(|p| p.principal().map(str::to_string))
            .collect())
    }

    fn in_account(&self, account: &str) -> Option<SdkInventory> {
        Some(SdkInventory {
            main: self.others.get(account)?.clone(),
            others: BTreeMap::new(),
        })
    }

    async fn describe_endpoint_services(&self) -> Result<Vec<EndpointService>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let o = self
                .main
                .ec2
                .describe_vpc_endpoint_service_configurations()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(err)?;
            for s in o.service_configurations() {
                out.push(EndpointService {
                    id: s.service_id().unwrap_or_default().to_string(),
                    state: s
                        .service_state()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_default(),
                    nlb_arns: s.network_load_balancer_arns().to_vec(),
                });
            }
            token = o.next_token().map(str::to_string);
            if token.is_none() || o.service_configurations().is_empty() {
                break;
            }
        }
        Ok(out)
    }

    fn role_accounts(&self) -> Vec<String> {
        self.others.keys().cloned().collect()
    }

    async fn describe_connections(
        &self,
        account: &str,
        endpoint_ids: &[String],
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let c = self.others.get(account).ok_or_else(|| AwsError {
            kind: ErrorKind::Other,
            message: format!("no role for account {account}"),
        })?;
        let ids: Vec<&str> = endpoint_ids.iter().map(String::as_str).collect();
        let o = c
            .ec2
            .describe_vpc_endpoint_connections()
            .filters(filter("vpc-endpoint-id", &ids))
            .send()
            .await
            .map_err(err)?;
        Ok(o.vpc_endpoint_connections()
            .iter()
            .filter_map(|c| {
                Some((
                    c.vpc_endpoint_id()?.to_string(),
                    c.vpc_endpoint_state()?.as_str().to_string(),
                ))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigateway::operation::get_stages::GetStagesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::error::metadata::ErrorMetadata;

    type E = SdkError<GetStagesError, ()>;

    /// An error with a cause, as hyper's connect errors are.
    #[derive(Debug)]
    struct Wrapped(&'static str, std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    fn service(code: &str, message: Option<&str>) -> E {
        let mut m = ErrorMetadata::builder().code(code);
        if let Some(message) = message {
            m = m.message(message);
        }
        SdkError::service_error(GetStagesError::generic(m.build()), ())
    }

    #[test]
    fn service_errors_are_code_and_message() {
        let e = service(
            "AccessDeniedException",
            Some("User: arn:aws:iam::111122223333:user/x is not authorized\n to perform: apigateway:GET"),
        );
        assert_eq!(
            error_text(&e),
            "AccessDeniedException: User: arn:aws:iam::111122223333:user/x is not authorized to perform: apigateway:GET"
        );
        let e = err(e);
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        assert_eq!(error_text(&service("Throttling", None)), "Throttling");
        assert_eq!(
            err(service("NotFoundException", Some("x"))).kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn dispatch_and_timeout_errors_are_their_innermost_cause() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e: E = SdkError::dispatch_failure(ConnectorError::io(Box::new(Wrapped(
            "tcp connect error",
            refused,
        ))));
        let text = error_text(&e);
        assert_eq!(text, "Connection refused (os error 111)");
        assert_eq!(err(e).kind, ErrorKind::Unreachable);

        let e: E = SdkError::timeout_error(Box::new(Wrapped(
            "operation timeout",
            std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out after 3s"),
        )));
        assert_eq!(error_text(&e), "timed out after 3s");
    }

    #[test]
    fn a_list_introduced_by_its_first_line_is_left_out() {
        let chain = std::io::Error::other(
            "no credentials found in chain. Attempted:\n  Environment: not set\n  Profile: not set",
        );
        let e: E = SdkError::dispatch_failure(ConnectorError::other(Box::new(chain), None));
        assert_eq!(error_text(&e), "no credentials found in chain");
    }
}
