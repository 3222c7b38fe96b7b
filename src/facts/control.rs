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
    /// Every execute-api interface endpoint visible (diagnosis picks the client's by its ENI IPs).
    pub execute_api_endpoints: Vec<Endpoint>,
    /// Ingress rules of the endpoints' security groups, by group id.
    pub sg_rules: BTreeMap<String, Vec<SgRule>>,
    /// VPC `enableDnsSupport`, `enableDnsHostnames`, by VPC id.
    pub vpc_dns: BTreeMap<String, (bool, bool)>,
    /// The IPv4 and IPv6 CIDR blocks of the endpoints' VPCs, by VPC id (`ec2:DescribeVpcs`): a
    /// local address inside them is the address the endpoint sees.
    pub vpc_cidrs: BTreeMap<String, Vec<String>>,
    /// This host's own network interface in each endpoint VPC, by VPC id: found by the address
    /// this host reaches the endpoint's ENIs from (`ec2:DescribeNetworkInterfaces`), when pgw runs
    /// on EC2 in that VPC. Its security groups decide rules that reference a security group.
    pub client_enis: BTreeMap<String, ClientEni>,
    /// NLBs behind the VPC links.
    pub nlbs: Vec<Nlb>,
    /// Interface endpoints (to customer endpoint services) in the NLBs' VPCs: what IP targets of
    /// seed path A should point at.
    pub service_endpoints: Vec<Endpoint>,
    /// Provider-side connection states, by consumer endpoint id (needs a role in that account).
    pub provider_connections: BTreeMap<String, String>,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub deployment_id: Option<String>,
    pub variables: BTreeMap<String, String>,
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
    pub fn ips(&self) -> Vec<IpAddr> {
        self.enis.iter().map(|(_, ip)| *ip).collect()
    }
}

/// This host's network interface, as EC2 knows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientEni {
    pub id: String,
    pub ip: IpAddr,
    pub security_groups: Vec<String>,
}

/// One ingress rule of a security group.
#[derive(Debug, Clone, Serialize)]
pub struct SgRule {
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
    pub listeners: Vec<Listener>,
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
            .filter_map(|m| m.integration.as_ref()?.connection_id.as_ref())
            .filter_map(|c| {
                match c
                    .strip_prefix("${stageVariables.")
                    .and_then(|s| s.strip_suffix('}'))
                {
                    Some(var) => self.stage.as_ref()?.variables.get(var).cloned(),
                    None => Some(c.clone()),
                }
            })
            .collect()
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
}
