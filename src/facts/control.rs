//! What the control plane says about the chain: plain data read from API Gateway, EC2 and ELBv2
//! (no SDK types), plus a record of every AWS call and how it ended.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

/// Every AWS operation pgw calls (the IAM policy in docs/iam-policy.json allows exactly their
/// [`iam_action`](Operation::iam_action)s; a test keeps them in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    GetRestApi,
    GetStages,
    GetStage,
    GetDeployment,
    GetResources,
    GetVpcLink,
    DescribeVpcEndpoints,
    DescribeNetworkInterfaces,
    DescribeSecurityGroupRules,
    DescribeVpcAttribute,
    DescribeVpcs,
    DescribeLoadBalancers,
    DescribeListeners,
    DescribeTargetGroups,
    DescribeTargetHealth,
    DescribeVpcEndpointConnections,
    DescribeRouteTables,
    DescribeVpcEndpointServiceConfigurations,
    DescribeSubnets,
    DescribeNetworkAcls,
    DescribeVpcEndpointServicePermissions,
    GetAccount,
    FilterLogEvents,
    GetDomainNameAccessAssociations,
    GetDomainName,
    GetBasePathMappings,
    GetRestApis,
    AssumeRole,
}

impl Operation {
    /// Every operation, in the order of a read.
    pub const ALL: &[Operation] = &[
        Operation::GetRestApi,
        Operation::GetStages,
        Operation::GetStage,
        Operation::GetDeployment,
        Operation::GetResources,
        Operation::GetVpcLink,
        Operation::DescribeVpcEndpoints,
        Operation::DescribeNetworkInterfaces,
        Operation::DescribeSecurityGroupRules,
        Operation::DescribeVpcAttribute,
        Operation::DescribeVpcs,
        Operation::DescribeLoadBalancers,
        Operation::DescribeListeners,
        Operation::DescribeTargetGroups,
        Operation::DescribeTargetHealth,
        Operation::DescribeVpcEndpointConnections,
        Operation::DescribeRouteTables,
        Operation::DescribeVpcEndpointServiceConfigurations,
        Operation::DescribeSubnets,
        Operation::DescribeNetworkAcls,
        Operation::DescribeVpcEndpointServicePermissions,
        Operation::GetAccount,
        Operation::FilterLogEvents,
        Operation::GetDomainNameAccessAssociations,
        Operation::GetDomainName,
        Operation::GetBasePathMappings,
        Operation::GetRestApis,
        Operation::AssumeRole,
    ];

    /// `service:Action`, e.g. `apigateway:GetRestApi`: the check name and the metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::GetRestApi => "apigateway:GetRestApi",
            Operation::GetStages => "apigateway:GetStages",
            Operation::GetStage => "apigateway:GetStage",
            Operation::GetDeployment => "apigateway:GetDeployment",
            Operation::GetResources => "apigateway:GetResources",
            Operation::GetVpcLink => "apigateway:GetVpcLink",
            Operation::DescribeVpcEndpoints => "ec2:DescribeVpcEndpoints",
            Operation::DescribeNetworkInterfaces => "ec2:DescribeNetworkInterfaces",
            Operation::DescribeSecurityGroupRules => "ec2:DescribeSecurityGroupRules",
            Operation::DescribeVpcAttribute => "ec2:DescribeVpcAttribute",
            Operation::DescribeVpcs => "ec2:DescribeVpcs",
            Operation::DescribeLoadBalancers => "elasticloadbalancing:DescribeLoadBalancers",
            Operation::DescribeListeners => "elasticloadbalancing:DescribeListeners",
            Operation::DescribeTargetGroups => "elasticloadbalancing:DescribeTargetGroups",
            Operation::DescribeTargetHealth => "elasticloadbalancing:DescribeTargetHealth",
            Operation::DescribeVpcEndpointConnections => "ec2:DescribeVpcEndpointConnections",
            Operation::DescribeRouteTables => "ec2:DescribeRouteTables",
            Operation::DescribeVpcEndpointServiceConfigurations => {
                "ec2:DescribeVpcEndpointServiceConfigurations"
            }
            Operation::DescribeSubnets => "ec2:DescribeSubnets",
            Operation::DescribeNetworkAcls => "ec2:DescribeNetworkAcls",
            Operation::DescribeVpcEndpointServicePermissions => {
                "ec2:DescribeVpcEndpointServicePermissions"
            }
            Operation::GetAccount => "apigateway:GetAccount",
            Operation::FilterLogEvents => "logs:FilterLogEvents",
            Operation::GetDomainNameAccessAssociations => {
                "apigateway:GetDomainNameAccessAssociations"
            }
            Operation::GetDomainName => "apigateway:GetDomainName",
            Operation::GetBasePathMappings => "apigateway:GetBasePathMappings",
            Operation::GetRestApis => "apigateway:GetRestApis",
            Operation::AssumeRole => "sts:AssumeRole",
        }
    }

    /// The IAM action the call needs.
    pub const fn iam_action(self) -> &'static str {
        match self {
            Operation::GetRestApi => "apigateway:GET",
            Operation::GetStages => "apigateway:GET",
            Operation::GetStage => "apigateway:GET",
            Operation::GetDeployment => "apigateway:GET",
            Operation::GetResources => "apigateway:GET",
            Operation::GetVpcLink => "apigateway:GET",
            Operation::DescribeVpcEndpoints => "ec2:DescribeVpcEndpoints",
            Operation::DescribeNetworkInterfaces => "ec2:DescribeNetworkInterfaces",
            Operation::DescribeSecurityGroupRules => "ec2:DescribeSecurityGroupRules",
            Operation::DescribeVpcAttribute => "ec2:DescribeVpcAttribute",
            Operation::DescribeVpcs => "ec2:DescribeVpcs",
            Operation::DescribeLoadBalancers => "elasticloadbalancing:DescribeLoadBalancers",
            Operation::DescribeListeners => "elasticloadbalancing:DescribeListeners",
            Operation::DescribeTargetGroups => "elasticloadbalancing:DescribeTargetGroups",
            Operation::DescribeTargetHealth => "elasticloadbalancing:DescribeTargetHealth",
            Operation::DescribeVpcEndpointConnections => "ec2:DescribeVpcEndpointConnections",
            Operation::DescribeRouteTables => "ec2:DescribeRouteTables",
            Operation::DescribeVpcEndpointServiceConfigurations => {
                "ec2:DescribeVpcEndpointServiceConfigurations"
            }
            Operation::DescribeSubnets => "ec2:DescribeSubnets",
            Operation::DescribeNetworkAcls => "ec2:DescribeNetworkAcls",
            Operation::DescribeVpcEndpointServicePermissions => {
                "ec2:DescribeVpcEndpointServicePermissions"
            }
            Operation::GetAccount => "apigateway:GET",
            Operation::FilterLogEvents => "logs:FilterLogEvents",
            Operation::GetDomainNameAccessAssociations => "apigateway:GET",
            Operation::GetDomainName => "apigateway:GET",
            Operation::GetBasePathMappings => "apigateway:GET",
            Operation::GetRestApis => "apigateway:GET",
            Operation::AssumeRole => "sts:AssumeRole",
        }
    }

    /// Whether a control-plane read records it as a call of its own (a check, and a count of
    /// `pgw_aws_api_errors_total{operation}` when it fails). `apigateway:GetStages` is the doctor's
    /// stage discovery; `sts:AssumeRole` happens in the credentials of the cross-account calls (a
    /// failure counts on the call that needed the role). `ec2:DescribeNetworkInterfaces` is
    /// recorded when it looks up this host's own interface; when it completes
    /// `ec2:DescribeVpcEndpoints` (the endpoints' ENIs) a failure counts there.
    pub const fn recorded(self) -> bool {
        !matches!(self, Operation::GetStages | Operation::AssumeRole)
    }

    /// The operation spelled `s` (`service:Action`).
    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One AWS API call: its operation and outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AwsCall {
    pub operation: Operation,
    pub ok: bool,
    /// Why it failed (AccessDenied, throttled, unreachable, …).
    pub error: Option<String>,
    #[serde(with = "super::secs")]
    pub duration: Duration,
}

/// Everything read from the control plane; `None` = not read (call failed or not applicable).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControlFacts {
    /// Where the calls went (`--aws-endpoint-url`); `None`: AWS's own endpoints.
    pub endpoint: Option<String>,
    pub calls: Vec<AwsCall>,
    pub api: Option<RestApi>,
    /// The API does not exist in this account/region (GetRestApi NotFound).
    pub api_not_found: bool,
    pub stage: Option<Stage>,
    /// Methods per resource path in the stage's deployed snapshot (`embed=apisummary`).
    pub deployed: Option<BTreeMap<String, Vec<String>>>,
    /// The current (undeployed or deployed) resource tree.
    pub resources: Option<Vec<Resource>>,
    pub vpc_links: Vec<VpcLink>,
    /// VPC link ids the integrations name that `apigateway:GetVpcLink` does not know (NotFound).
    pub missing_vpc_links: Vec<String>,
    /// Every execute-api interface endpoint visible (diagnosis picks the client's by its ENI IPs).
    pub execute_api_endpoints: Vec<Endpoint>,
    /// Rules of the endpoints' security groups and of this host's own, by group id (inbound and
    /// outbound: [`SgRule::egress`]).
    pub sg_rules: BTreeMap<String, Vec<SgRule>>,
    /// The network ACLs of the endpoints' VPCs, by VPC id (`ec2:DescribeNetworkAcls`).
    pub network_acls: BTreeMap<String, Vec<NetworkAcl>>,
    /// VPC `enableDnsSupport`, `enableDnsHostnames`, by VPC id.
    pub vpc_dns: BTreeMap<String, (bool, bool)>,
    /// The IPv4 and IPv6 CIDR blocks of the endpoints' and the NLBs' VPCs, by VPC id
    /// (`ec2:DescribeVpcs`): a local address inside them is the address the endpoint sees; an IP
    /// target outside them is in another network.
    pub vpc_cidrs: BTreeMap<String, Vec<String>>,
    /// This host's own network interface, by the id of the VPC it is in: found by the address this
    /// host reaches the endpoint's ENIs from (`ec2:DescribeNetworkInterfaces`), when pgw runs on
    /// EC2 in this account, in the endpoint's VPC or another one. Its security groups decide rules
    /// that reference a security group.
    pub client_enis: BTreeMap<String, ClientEni>,
    /// NLBs behind the VPC links.
    pub nlbs: Vec<Nlb>,
    /// Interface endpoints (to customer endpoint services) in the NLBs' VPCs: what IP targets of
    /// seed path A should point at.
    pub service_endpoints: Vec<Endpoint>,
    /// Provider-side connection states, by consumer endpoint id (needs a role in that account).
    pub provider_connections: BTreeMap<String, String>,
    /// The CIDR blocks of the NLBs' subnets, by subnet id (`ec2:DescribeSubnets`, seed path A): where
    /// their health checks and traffic come from.
    pub subnet_cidrs: BTreeMap<String, String>,
    /// The Availability Zone id of each subnet read (`use1-az4`; names differ between accounts,
    /// ids do not), by subnet id, in any account.
    pub subnet_azs: BTreeMap<String, String>,
    /// The endpoint services of this account (`ec2:DescribeVpcEndpointServiceConfigurations`):
    /// each REST VPC link has one on its NLB. `None`: not read.
    pub endpoint_services: Option<Vec<EndpointService>>,
    /// The NLBs behind the endpoint services the `service_endpoints` connect to, read in the
    /// provider's account with its role, by service id (`vpce-svc-…`).
    pub provider_nlbs: BTreeMap<String, Vec<Nlb>>,
    /// The principals allowed to connect to those endpoint services, read in the provider's account,
    /// by service id (`ec2:DescribeVpcEndpointServicePermissions`).
    pub service_principals: BTreeMap<String, Vec<String>>,
    /// Route tables by VPC id (`ec2:DescribeRouteTables`): of the NLBs' VPCs (the way from the
    /// NLB's subnets to IP targets in another network), and of this host's VPC and the endpoint's
    /// when they differ (the way between them, both directions).
    pub route_tables: BTreeMap<String, Vec<RouteTable>>,
    /// The stage's execution logs for the failed invokes, read after the probes (`None`: not
    /// looked at: nothing failed at API Gateway, or no AWS access).
    pub execution_logs: Option<ExecutionLogs>,
    /// `custom-domain`: what API Gateway says about the private custom domain name called.
    pub domain: Option<DomainFacts>,
}

/// A private custom domain name, its base path mappings and this account's access associations.
/// `None` fields were not read (denied, throttled, another account's domain without a role).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DomainFacts {
    /// `apigateway:GetDomainNameAccessAssociations` (resourceOwner=SELF): this account's
    /// associations, to any domain.
    pub associations: Option<Vec<AccessAssociation>>,
    /// `apigateway:GetDomainName` of the domain (its id from the configuration or from this
    /// endpoint's association).
    pub domain: Option<DomainName>,
    /// `GetDomainName` answered NotFoundException.
    pub not_found: bool,
    /// `apigateway:GetBasePathMappings` of the domain.
    pub mappings: Option<Vec<BasePathMapping>>,
}

/// One domain name access association.
#[derive(Debug, Clone, Serialize)]
pub struct AccessAssociation {
    pub arn: String,
    /// `arn:aws:apigateway:{region}:{account}:/domainnames/{name}+{domainNameId}`.
    pub domain_name_arn: String,
    /// `VPCE`.
    pub source_type: String,
    /// The endpoint id.
    pub source: String,
}

impl AccessAssociation {
    /// The domain name, its id and the provider's account, from [`domain_name_arn`](Self::domain_name_arn).
    pub fn domain(&self) -> Option<(&str, &str, &str)> {
        let (head, tail) = self.domain_name_arn.split_once(":/domainnames/")?;
        let account = head.rsplit(':').next()?;
        let (name, id) = tail.rsplit_once('+')?;
        Some((name, id, account))
    }
}

/// A custom domain name as `GetDomainName` returns it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DomainName {
    pub name: String,
    pub id: Option<String>,
    pub arn: Option<String>,
    pub endpoint_types: Vec<String>,
    /// `AVAILABLE`, `UPDATING`, `PENDING`, `PENDING_CERTIFICATE_REIMPORT`,
    /// `PENDING_OWNERSHIP_VERIFICATION`, `FAILED`.
    pub status: Option<String>,
    pub status_message: Option<String>,
    pub certificate_arn: Option<String>,
    /// The `execute-api:Invoke` policy: which endpoints may invoke through the domain.
    pub policy: Option<String>,
    pub endpoint_access_mode: Option<String>,
    /// `BASE_PATH_MAPPING_ONLY`, `ROUTING_RULE_ONLY`, `ROUTING_RULE_THEN_BASE_PATH_MAPPING`.
    pub routing_mode: Option<String>,
}

/// One base path mapping: `base_path` (`(none)` for the root) to an API's stage.
#[derive(Debug, Clone, Serialize)]
pub struct BasePathMapping {
    pub base_path: String,
    pub rest_api_id: String,
    pub stage: Option<String>,
}

/// One CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub message: String,
}

/// The failures the stage logged in a recent window (`--since`).
#[derive(Debug, Clone, Serialize)]
pub struct RecentLogs {
    pub since: Duration,
    /// The failure lines read, in time order.
    pub events: Vec<LogEvent>,
    /// More matched than were read (the bound on events per search).
    pub truncated: bool,
    /// Why not all could be read.
    pub error: Option<String>,
}

/// What the stage's execution logs say about the invokes API Gateway failed.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionLogs {
    /// `API-Gateway-Execution-Logs_{api}/{stage}`.
    pub group: String,
    /// Why API Gateway writes no execution log for the stage (logging level off, no account
    /// CloudWatch role), when the settings say so; `None`: logging is on, or its settings could
    /// not be read.
    pub disabled: Option<String>,
    /// One lookup per failed request looked up.
    pub lookups: Vec<LogLookup>,
    /// With `--since`: the failures logged in that window.
    pub recent: Option<RecentLogs>,
}

/// How a look at the execution logs ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogsOutcome {
    /// Some request's lines were read.
    Found,
    /// Not delivered yet when the time ran out.
    NotDelivered,
    /// The stage writes none.
    Disabled,
    /// A call failed (denied, throttled, unreachable).
    Error,
}

impl LogsOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LogsOutcome::Found => "found",
            LogsOutcome::NotDelivered => "not_delivered",
            LogsOutcome::Disabled => "disabled",
            LogsOutcome::Error => "error",
        }
    }
}

impl ExecutionLogs {
    /// How the lookups of failed requests ended, all told.
    pub fn outcome(&self) -> LogsOutcome {
        if self.disabled.is_some() {
            LogsOutcome::Disabled
        } else if self.lookups.iter().any(|l| !l.lines.is_empty()) {
            LogsOutcome::Found
        } else if self.lookups.iter().any(|l| l.error.is_some()) {
            LogsOutcome::Error
        } else {
            LogsOutcome::NotDelivered
        }
    }
}

/// The execution-log lines of one request.
#[derive(Debug, Clone, Serialize)]
pub struct LogLookup {
    /// `x-amzn-RequestId` of the response.
    pub request_id: String,
    /// The stage-relative path of the invoke.
    pub path: String,
    /// Its lines, in order, without the `(<request id>) ` prefix; empty: not (yet) delivered,
    /// or not read.
    pub lines: Vec<String>,
    /// Why they could not be read (`logs:FilterLogEvents` denied, unreachable).
    pub error: Option<String>,
    /// The command that finds them later (`aws logs filter-log-events …`).
    pub command: String,
}

/// A VPC endpoint service of an account.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointService {
    pub id: String,
    /// `ServiceState`: `Pending`, `Available`, `Deleting`, `Deleted`, `Failed`.
    pub state: String,
    pub nlb_arns: Vec<String>,
}

/// A subnet: its CIDR block and Availability Zone id.
#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub cidr: String,
    pub az_id: Option<String>,
}

/// One route table of a VPC.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main route table: used by every subnet without an association of its own.
    pub main: bool,
    /// Subnets explicitly associated with it.
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

/// One route: a destination CIDR, where it leads and its state.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub destination: String,
    /// `local`, or the gateway, transit gateway, peering connection, interface… id.
    pub target: String,
    /// `active` or `blackhole` (its target is gone).
    pub state: String,
}

impl RouteTable {
    /// The most specific route towards `ip` (longest prefix), if any.
    pub fn route_to(&self, ip: IpAddr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| cidr_contains(&r.destination, ip))
            .max_by_key(|r| {
                r.destination
                    .split_once('/')
                    .and_then(|(_, l)| l.parse::<u8>().ok())
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    /// `PRIVATE`, `REGIONAL`, `EDGE`.
    pub endpoint_types: Vec<String>,
    pub vpc_endpoint_ids: Vec<String>,
    /// The resource policy as a JSON string (unescaped), if any.
    pub policy: Option<String>,
    /// The TLS security policy (`TLS_1_2`, `SecurityPolicy_TLS13_1_3_2025_09`, …), if set.
    pub security_policy: Option<String>,
    /// `disableExecuteApiEndpoint`: only custom domain names reach the API.
    pub disable_execute_api_endpoint: bool,
    /// `endpointAccessMode` (`BASIC`, `STRICT`), if set.
    pub endpoint_access_mode: Option<String>,
}

impl RestApi {
    /// Whether the API's security policy accepts TLS version `v`: known only for the policies
    /// whose name says it (`SecurityPolicy_TLS13_1_3_*`: 1.3 only; `SecurityPolicy_TLS13_1_2_*`:
    /// 1.2 and 1.3; `TLS_1_0`, `TLS_1_2`: 1.2).
    pub fn accepts_tls(&self, v: crate::facts::TlsVersion) -> Option<bool> {
        use crate::facts::TlsVersion::Tls12;
        let p = self.security_policy.as_deref()?;
        match (p, v) {
            (p, Tls12) if p.starts_with("SecurityPolicy_TLS13_1_3_") => Some(false),
            (p, _) if p.starts_with("SecurityPolicy_TLS13_") => Some(true),
            ("TLS_1_0" | "TLS_1_2", Tls12) => Some(true),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub deployment_id: Option<String>,
    pub variables: BTreeMap<String, String>,
    /// The AWS WAF web ACL associated with the stage (`webAclArn`).
    pub web_acl_arn: Option<String>,
    /// The execution-log level of every method (`methodSettings["*/*"].loggingLevel`: `OFF`,
    /// `ERROR`, `INFO`); `None`: not set (off).
    pub logging_level: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub path: String,
    pub methods: Vec<Method>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub http_method: String,
    pub authorization_type: Option<String>,
    /// `apiKeyRequired`: calls without a valid `x-api-key` are refused (403 Forbidden).
    pub api_key_required: bool,
    pub integration: Option<Integration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Integration {
    pub kind: Option<String>,
    pub connection_type: Option<String>,
    /// A VPC link id or `${stageVariables.x}`.
    pub connection_id: Option<String>,
    pub uri: Option<String>,
    pub timeout_ms: Option<i32>,
    /// `requestParameters`: `integration.request.path.proxy` → `method.request.path.proxy`, …
    pub request_parameters: BTreeMap<String, String>,
}

/// A VPC link's `status`, typed (the wire value stays in [`VpcLink::status`] for evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcLinkStatus {
    Available,
    Pending,
    Deleting,
    Failed,
    /// A value this version of pgw does not know.
    Unknown,
}

impl VpcLinkStatus {
    /// From API Gateway's `status` (`AVAILABLE`, `PENDING`, `DELETING`, `FAILED`).
    pub fn from_wire(s: &str) -> VpcLinkStatus {
        match s.to_ascii_uppercase().as_str() {
            "AVAILABLE" => VpcLinkStatus::Available,
            "PENDING" => VpcLinkStatus::Pending,
            "DELETING" => VpcLinkStatus::Deleting,
            "FAILED" => VpcLinkStatus::Failed,
            _ => VpcLinkStatus::Unknown,
        }
    }
}

/// An interface endpoint's (or its provider-side connection's) `State`, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    Available,
    PendingAcceptance,
    Pending,
    Rejected,
    Expired,
    Deleting,
    Deleted,
    Failed,
    Unknown,
}

impl EndpointState {
    /// From EC2's `State` (lower camel case on the wire; compared case-insensitively).
    pub fn from_wire(s: &str) -> EndpointState {
        match s.to_ascii_lowercase().as_str() {
            "available" => EndpointState::Available,
            "pendingacceptance" => EndpointState::PendingAcceptance,
            "pending" => EndpointState::Pending,
            "rejected" => EndpointState::Rejected,
            "expired" => EndpointState::Expired,
            "deleting" => EndpointState::Deleting,
            "deleted" => EndpointState::Deleted,
            "failed" => EndpointState::Failed,
            _ => EndpointState::Unknown,
        }
    }

    /// The connection waits for the provider.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            EndpointState::PendingAcceptance | EndpointState::Pending
        )
    }

    /// The connection is gone for good (rejected, expired, deleted or failed).
    pub fn is_refused(self) -> bool {
        matches!(
            self,
            EndpointState::Rejected
                | EndpointState::Expired
                | EndpointState::Deleted
                | EndpointState::Failed
        )
    }
}

/// A target's health state, typed (ELBv2 `TargetHealth.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    Healthy,
    Unhealthy,
    Initial,
    Unused,
    Draining,
    Unavailable,
    Unknown,
}

impl TargetHealth {
    pub fn from_wire(s: &str) -> TargetHealth {
        match s.to_ascii_lowercase().as_str() {
            "healthy" => TargetHealth::Healthy,
            "unhealthy" => TargetHealth::Unhealthy,
            "initial" => TargetHealth::Initial,
            "unused" => TargetHealth::Unused,
            "draining" => TargetHealth::Draining,
            "unavailable" => TargetHealth::Unavailable,
            _ => TargetHealth::Unknown,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcLink {
    pub id: String,
    /// `AVAILABLE`, `PENDING`, `DELETING`, `FAILED`.
    pub status: String,
    pub status_message: Option<String>,
    pub target_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    /// Lower camel case on the wire (`available`, `pendingAcceptance`); compare case-insensitively.
    pub state: String,
    pub vpc_id: Option<String>,
    pub service_name: Option<String>,
    pub private_dns_enabled: bool,
    pub dns_names: Vec<String>,
    pub security_groups: Vec<String>,
    /// (AZ, private IP) of each ENI.
    pub enis: Vec<(String, IpAddr)>,
    /// The subnet of each ENI, by its private IP.
    pub eni_subnets: BTreeMap<IpAddr, String>,
    /// The endpoint's own policy (`PolicyDocument`), when it has one.
    pub policy: Option<String>,
}

impl Integration {
    /// The TCP port of the uri: explicit, else the scheme's (`http` 80, `https` 443). It picks
    /// the listener of the VPC link's NLB.
    pub fn uri_port(&self) -> Option<u16> {
        let uri = self.uri.as_deref()?;
        let (scheme, rest) = uri.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        // `[v6]:port` or `host:port`.
        let port = match authority.strip_prefix('[') {
            Some(v6) => v6.split_once(']').and_then(|(_, p)| p.strip_prefix(':')),
            None => authority.rsplit_once(':').map(|(_, p)| p),
        };
        match port {
            Some(p) => p.parse().ok(),
            None => match scheme.to_ascii_lowercase().as_str() {
                "http" => Some(80),
                "https" => Some(443),
                _ => None,
            },
        }
    }

    /// On a greedy resource (`/{proxy+}`, `/items/{rest+}`): what keeps it from passing the
    /// matched path on: a uri without `{VAR}`, or no `integration.request.path.VAR` mapping from
    /// `method.request.path.VAR`. `None`: the mapping is whole, or the resource is not greedy.
    pub fn greedy_mapping_gap(&self, resource: &str) -> Option<String> {
        let var = resource
            .rsplit('/')
            .next()?
            .strip_prefix('{')?
            .strip_suffix("+}")?;
        let uri = self.uri.as_deref()?;
        if !uri.contains(&format!("{{{var}}}")) {
            return Some(format!("uri {uri} has no {{{var}}}"));
        }
        let key = format!("integration.request.path.{var}");
        let want = format!("method.request.path.{var}");
        match self.request_parameters.get(&key) {
            Some(v) if *v == want => None,
            Some(v) => Some(format!("requestParameters maps {key} from {v}, not {want}")),
            None => Some(format!("requestParameters has no {key} = {want}")),
        }
    }

    /// `${stageVariables.NAME}` as the connection id: NAME.
    pub fn link_variable(&self) -> Option<&str> {
        self.connection_id
            .as_deref()?
            .strip_prefix("${stageVariables.")?
            .strip_suffix('}')
    }
}

impl VpcLink {
    pub fn status(&self) -> VpcLinkStatus {
        VpcLinkStatus::from_wire(&self.status)
    }
}

impl Endpoint {
    pub fn state(&self) -> EndpointState {
        EndpointState::from_wire(&self.state)
    }
    /// The endpoint service's id (`vpce-svc-…`) of a PrivateLink endpoint, from its service name
    /// `com.amazonaws.vpce.<region>.vpce-svc-…`.
    pub fn service_id(&self) -> Option<&str> {
        self.service_name
            .as_deref()?
            .rsplit('.')
            .next()
            .filter(|s| s.starts_with("vpce-svc-"))
    }
    pub fn ips(&self) -> Vec<IpAddr> {
        self.enis.iter().map(|(_, ip)| *ip).collect()
    }
}

/// This host's network interface, as EC2 knows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientEni {
    pub id: String,
    pub ip: IpAddr,
    pub vpc_id: String,
    pub security_groups: Vec<String>,
    pub subnet: Option<String>,
}

/// A network ACL: numbered entries, the lowest matching one decides; none matching denies.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkAcl {
    pub id: String,
    /// The VPC's default ACL: subnets without an association of their own use it.
    pub default: bool,
    pub subnets: Vec<String>,
    pub entries: Vec<AclEntry>,
}

/// One entry of a network ACL.
#[derive(Debug, Clone, Serialize)]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// `-1` (all), `6` (TCP), …
    pub protocol: String,
    /// TCP/UDP port range; `None`: every port.
    pub ports: Option<(i32, i32)>,
    pub cidr: Option<String>,
    pub allow: bool,
}

impl NetworkAcl {
    /// Whether TCP to (`egress`) or from `ip` on `port` passes: the lowest-numbered matching entry
    /// decides, and traffic no entry matches is denied.
    pub fn passes(&self, egress: bool, ip: IpAddr, port: i32) -> bool {
        let mut entries: Vec<&AclEntry> =
            self.entries.iter().filter(|e| e.egress == egress).collect();
        entries.sort_by_key(|e| e.rule_number);
        entries
            .into_iter()
            .find(|e| {
                (e.protocol == "-1" || e.protocol == "6" || e.protocol.eq_ignore_ascii_case("tcp"))
                    && e.ports.is_none_or(|(a, b)| a <= port && port <= b)
                    && e.cidr.as_deref().is_some_and(|c| cidr_contains(c, ip))
            })
            .is_some_and(|e| e.allow)
    }
}

/// One ingress rule of a security group.
#[derive(Debug, Clone, Serialize)]
pub struct SgRule {
    /// An outbound rule (its CIDR or group is the destination).
    pub egress: bool,
    /// `tcp`, `udp`, `-1` (all).
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: Option<String>,
    /// A referenced security group (cannot be judged from an address).
    pub group_ref: Option<String>,
    /// A referenced managed prefix list (its entries are not read: cannot be judged).
    pub prefix_list: Option<String>,
}

impl SgRule {
    /// Whether this rule admits TCP `port` from `ip`, a host whose network interface has the
    /// security groups `groups` (`None`: not known). `None` = cannot be decided: a referenced
    /// security group without the host's groups, or a prefix list (its entries are not read).
    pub fn admits(&self, ip: IpAddr, groups: Option<&[String]>, port: i32) -> Option<bool> {
        let proto = self.protocol == "-1"
            || self.protocol.eq_ignore_ascii_case("tcp")
            || self.protocol == "6";
        let ports = self.protocol == "-1" || (self.from_port <= port && port <= self.to_port);
        if !(proto && ports) {
            return Some(false);
        }
        if self.prefix_list.is_some() {
            return None;
        }
        if let Some(g) = &self.group_ref {
            return groups.map(|mine| mine.contains(g));
        }
        Some(self.cidr.as_deref().is_some_and(|c| cidr_contains(c, ip)))
    }
}

/// The first and the last address of IPv4/IPv6 CIDR `c`.
pub fn cidr_bounds(c: &str) -> Option<(IpAddr, IpAddr)> {
    let (net, len) = c.split_once('/')?;
    let (net, len) = (net.parse::<IpAddr>().ok()?, len.parse::<u32>().ok()?);
    match net {
        IpAddr::V4(n) if len <= 32 => {
            let host = u32::MAX.checked_shr(len).unwrap_or(0);
            let first = u32::from(n) & !host;
            Some((IpAddr::V4(first.into()), IpAddr::V4((first | host).into())))
        }
        IpAddr::V6(n) if len <= 128 => {
            let host = u128::MAX.checked_shr(len).unwrap_or(0);
            let first = u128::from(n) & !host;
            Some((IpAddr::V6(first.into()), IpAddr::V6((first | host).into())))
        }
        _ => None,
    }
}

/// What applies to `subnet` among a VPC's `items` (network ACLs, route tables): the one associated
/// with it, else the VPC's default one. `assoc` gives an item's subnets and whether it is the default.
fn own_or_default<'a, T>(
    items: &'a [T],
    subnet: &str,
    assoc: impl Fn(&T) -> (&Vec<String>, bool),
) -> Option<&'a T> {
    items
        .iter()
        .find(|x| assoc(x).0.iter().any(|s| s == subnet))
        .or_else(|| items.iter().find(|x| assoc(x).1))
}

/// Whether `ip` is a publicly routable address: none of the private (RFC 1918), shared (RFC 6598),
/// loopback, link-local, unspecified, multicast or reserved IPv4 ranges, nor IPv6 loopback,
/// unique-local, link-local or multicast. The documentation ranges count as public: they stand
/// for public addresses.
pub fn publicly_routable(ip: IpAddr) -> bool {
    const NOT_PUBLIC: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/127",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ];
    !NOT_PUBLIC.iter().any(|c| cidr_contains(c, ip))
}

/// Whether IPv4/IPv6 CIDR `c` contains `ip`.
pub fn cidr_contains(c: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = c.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (u32::from(n) & mask) == (u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            (u128::from(n) & mask) == (u128::from(i) & mask)
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Nlb {
    pub arn: String,
    pub name: String,
    pub vpc_id: Option<String>,
    pub azs: Vec<String>,
    /// The subnets it has a node in (`AvailabilityZones[].SubnetId`).
    pub subnets: Vec<String>,
    /// Its security groups (none: every client reaches its listeners).
    pub security_groups: Vec<String>,
    /// `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic`: whether PrivateLink traffic (a VPC
    /// link's) must pass those groups' inbound rules. `None`: not said.
    pub enforce_privatelink_sg: Option<bool>,
    /// `None`: `DescribeListeners` failed (not the same as no listener).
    pub listeners: Option<Vec<Listener>>,
    pub target_groups: Vec<TargetGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub port: i32,
    pub protocol: String,
    pub target_group_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub port: Option<i32>,
    pub target_type: Option<String>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub id: String,
    pub port: Option<i32>,
    pub az: Option<String>,
    /// `healthy`, `unhealthy`, `initial`, `unused`, `draining`, `unavailable`.
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

impl Target {
    pub fn health(&self) -> TargetHealth {
        TargetHealth::from_wire(&self.state)
    }
    pub fn healthy(&self) -> bool {
        self.health() == TargetHealth::Healthy
    }
    pub fn ip(&self) -> Option<IpAddr> {
        self.id.parse().ok()
    }
}

impl ControlFacts {
    /// Every ENI address of every execute-api endpoint read (`None` when no ENI is known).
    pub fn execute_api_addrs(&self) -> Option<Vec<IpAddr>> {
        let v: Vec<IpAddr> = self
            .execute_api_endpoints
            .iter()
            .flat_map(|e| e.ips())
            .collect();
        (!v.is_empty()).then_some(v)
    }

    /// The VPC link ids the deployed integrations use (stage variables resolved).
    pub fn integration_links(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.resources.iter().flatten() {
            for id in self.links_of(r) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    /// The VPC link ids the methods of resource `r` integrate through (stage variables resolved;
    /// an undefined one is left out).
    pub fn links_of(&self, r: &Resource) -> Vec<String> {
        r.methods
            .iter()
            .filter_map(|m| self.link_of(m.integration.as_ref()?))
            .collect()
    }

    /// The VPC link id integration `i` goes through: its connection id, or the value of the stage
    /// variable it names (`None` when the stage does not define it, or was not read).
    pub fn link_of(&self, i: &Integration) -> Option<String> {
        match i.link_variable() {
            Some(var) => self.stage.as_ref()?.variables.get(var).cloned(),
            None => i.connection_id.clone(),
        }
    }

    /// The inbound (or, with `egress`, outbound) rules of every security group in `groups`;
    /// `None` when the rules of one of them were not read.
    pub fn rules_of(&self, groups: &[String], egress: bool) -> Option<Vec<&SgRule>> {
        let read: Vec<&Vec<SgRule>> = groups
            .iter()
            .map(|g| self.sg_rules.get(g))
            .collect::<Option<_>>()?;
        Some(
            read.into_iter()
                .flatten()
                .filter(|r| r.egress == egress)
                .collect(),
        )
    }

    /// The network ACL of subnet `subnet` in VPC `vpc`: its own association, else the default one.
    pub fn acl_of(&self, vpc: &str, subnet: &str) -> Option<&NetworkAcl> {
        own_or_default(self.network_acls.get(vpc)?, subnet, |a| {
            (&a.subnets, a.default)
        })
    }

    /// The route table subnet `subnet` of VPC `vpc` uses: its own association, else the main one.
    pub fn route_table_of(&self, vpc: &str, subnet: &str) -> Option<&RouteTable> {
        own_or_default(self.route_tables.get(vpc)?, subnet, |t| {
            (&t.subnets, t.main)
        })
    }

    /// Failed calls, as `operation: error`.
    pub fn failures(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| !c.ok)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.operation,
                    c.error.as_deref().unwrap_or("failed")
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_from_the_wire() {
        assert_eq!(VpcLinkStatus::from_wire("FAILED"), VpcLinkStatus::Failed);
        assert_eq!(
            VpcLinkStatus::from_wire("SOMETHING_NEW"),
            VpcLinkStatus::Unknown
        );
        assert!(EndpointState::from_wire("pendingAcceptance").is_pending());
        assert!(EndpointState::from_wire("Rejected").is_refused());
        assert!(!EndpointState::from_wire("available").is_refused());
        assert_eq!(TargetHealth::from_wire("unused"), TargetHealth::Unused);
        assert_eq!(TargetHealth::from_wire("weird"), TargetHealth::Unknown);
    }

    fn integration(uri: &str) -> Integration {
        Integration {
            kind: None,
            connection_type: Some("VPC_LINK".into()),
            connection_id: Some("${stageVariables.vpcLinkId}".into()),
            uri: Some(uri.into()),
            timeout_ms: None,
            request_parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn network_acl_entries_decide_in_rule_number_order_and_deny_by_default() {
        let entry = |n: i32, ports: Option<(i32, i32)>, cidr: &str, allow: bool| AclEntry {
            rule_number: n,
            egress: false,
            protocol: "6".into(),
            ports,
            cidr: Some(cidr.into()),
            allow,
        };
        let acl = NetworkAcl {
            id: "acl-1".into(),
            default: false,
            subnets: vec![],
            // Listed out of order on purpose: 90 comes before 100.
            entries: vec![
                entry(100, None, "10.0.0.0/16", true),
                entry(90, Some((443, 443)), "10.0.3.0/24", false),
            ],
        };
        let ip = |s: &str| s.parse().unwrap();
        assert!(
            !acl.passes(false, ip("10.0.3.7"), 443),
            "the lower number denies"
        );
        assert!(acl.passes(false, ip("10.0.3.7"), 80));
        assert!(acl.passes(false, ip("10.0.4.7"), 443));
        assert!(
            !acl.passes(false, ip("192.168.0.1"), 443),
            "no entry: denied"
        );
        assert!(
            !acl.passes(true, ip("10.0.4.7"), 443),
            "no outbound entry: denied"
        );
    }

    #[test]
    fn cidr_bounds_are_the_first_and_last_address() {
        let b = |c: &str| cidr_bounds(c).map(|(a, z)| (a.to_string(), z.to_string()));
        assert_eq!(
            b("10.0.1.16/28"),
            Some(("10.0.1.16".into(), "10.0.1.31".into()))
        );
        assert_eq!(
            b("10.0.1.17/28"),
            Some(("10.0.1.16".into(), "10.0.1.31".into()))
        );
        assert_eq!(
            b("0.0.0.0/0"),
            Some(("0.0.0.0".into(), "255.255.255.255".into()))
        );
        assert_eq!(
            b("10.0.0.1/32"),
            Some(("10.0.0.1".into(), "10.0.0.1".into()))
        );
        assert_eq!(b("fd00::/120"), Some(("fd00::".into(), "fd00::ff".into())));
        assert_eq!(b("10.0.0.0/33"), None);
        assert_eq!(b("nonsense"), None);
    }

    #[test]
    fn integration_uri_ports_and_link_variable() {
        for (uri, port) in [
            ("http://nlb-a.elb.us-east-1.amazonaws.com/", Some(80)),
            ("https://orders.example.com/{proxy}", Some(443)),
            ("http://nlb:8080/{proxy}", Some(8080)),
            ("HTTPS://[fd00::1]:8443/x", Some(8443)),
            ("https://[fd00::1]/x", Some(443)),
            ("http://user@nlb:81", Some(81)),
            ("ftp://nlb/", None),
            ("not a uri", None),
        ] {
            assert_eq!(integration(uri).uri_port(), port, "{uri}");
        }
        assert_eq!(integration("http://x/").link_variable(), Some("vpcLinkId"));
    }

    #[test]
    fn the_most_specific_route_wins_and_subnets_fall_back_to_the_main_table() {
        let route = |d: &str, t: &str| Route {
            destination: d.into(),
            target: t.into(),
            state: "active".into(),
        };
        let main = RouteTable {
            id: "rtb-main".into(),
            main: true,
            subnets: vec![],
            routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "nat-1")],
        };
        let own = RouteTable {
            id: "rtb-own".into(),
            main: false,
            subnets: vec!["subnet-b".into()],
            routes: vec![
                route("10.0.0.0/16", "local"),
                route("172.16.0.0/12", "tgw-1"),
            ],
        };
        let cf = ControlFacts {
            route_tables: BTreeMap::from([("vpc-1".into(), vec![main, own])]),
            ..Default::default()
        };
        let ip = "172.31.12.59".parse().unwrap();
        assert_eq!(
            cf.route_table_of("vpc-1", "subnet-a").unwrap().id,
            "rtb-main"
        );
        let own = cf.route_table_of("vpc-1", "subnet-b").unwrap();
        assert_eq!(own.route_to(ip).unwrap().target, "tgw-1");
        let main = cf.route_table_of("vpc-1", "subnet-a").unwrap();
        assert_eq!(main.route_to(ip).unwrap().target, "nat-1");
        assert!(cf.route_table_of("vpc-2", "subnet-a").is_none());
    }
}
