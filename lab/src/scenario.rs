//! Scenario files: the topology, the injected faults, how pgw-doctor is to be
//! invoked and what it must conclude. One TOML file per scenario under `lab/scenarios/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use crate::LabError;

/// One lab scenario (`lab/scenarios/<name>.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short identifier; must equal the file stem when loaded from a file.
    pub name: String,
    /// One or two sentences: what breaks and how it looks from the consumer.
    pub description: String,
    /// The replicated topology (defaults = the seed topology).
    #[serde(default)]
    pub topology: Topology,
    /// Injected faults (defaults = healthy).
    #[serde(default)]
    pub faults: Faults,
    /// Whether the lab also runs the AWS control plane (moto) for the doctor to read.
    #[serde(default)]
    pub control_plane: ControlPlaneSpec,
    /// How the test runner invokes pgw-doctor against this scenario.
    #[serde(default)]
    pub doctor: DoctorSpec,
    /// What pgw-doctor must conclude.
    pub expect: Expect,
}

/// Which integration path the API's methods use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationPath {
    /// VPC link → NLB A → PrivateLink endpoint ENIs → provider NLB → EKS service.
    #[default]
    A,
    /// VPC link → NLB B → IP target in another network → nginx.
    B,
}

/// The replicated topology. Every field has the seed topology's value as default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// REST API id (10 lowercase alphanumerics).
    pub api_id: String,
    pub region: String,
    pub account: String,
    /// The stage the client calls.
    pub stage: String,
    /// Stages that exist (are deployed) on the API.
    pub deployed_stages: Vec<String>,
    /// The execute-api interface endpoint id.
    pub vpce_id: String,
    /// The random part of the endpoint's DNS names (`vpce-<id>-<suffix>.execute-api…`).
    pub vpce_dns_suffix: String,
    /// One endpoint ENI per AZ; empty = `<region>a`, `<region>b`.
    pub azs: Vec<String>,
    /// Integration path of both methods.
    pub path: IntegrationPath,
    /// Integration timeout of both methods (`timeoutInMillis`), lab default 2000.
    pub integration_timeout_ms: u64,
    /// The private custom domain name shared with the endpoint (its private hosted zone record
    /// points at the endpoint; the front door's certificate covers it).
    pub domain_name: String,
    /// The domain's base path mapped to `stage`.
    pub base_path: String,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            api_id: "3eqr0osoc3".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            stage: "test".into(),
            deployed_stages: vec!["test".into()],
            vpce_id: "vpce-0a1b2c3d4e5f60001".into(),
            vpce_dns_suffix: "4kq2x7ab".into(),
            azs: Vec::new(),
            path: IntegrationPath::A,
            integration_timeout_ms: 2000,
            domain_name: "orders.internal.example.com".into(),
            base_path: "v1".into(),
        }
    }
}

impl Topology {
    /// The AZs of the endpoint ENIs (explicit or `<region>a`, `<region>b`).
    pub fn azs(&self) -> Vec<String> {
        if self.azs.is_empty() {
            vec![format!("{}a", self.region), format!("{}b", self.region)]
        } else {
            self.azs.clone()
        }
    }
    /// `{api}.execute-api.{region}.amazonaws.com`, the private DNS name.
    pub fn api_host(&self) -> String {
        format!("{}.execute-api.{}.amazonaws.com", self.api_id, self.region)
    }
    /// `{api}-{vpce}.execute-api.{region}.amazonaws.com`, the Route 53 alias.
    pub fn alias_host(&self) -> String {
        format!(
            "{}-{}.execute-api.{}.amazonaws.com",
            self.api_id, self.vpce_id, self.region
        )
    }
    /// The endpoint's regional DNS name.
    pub fn vpce_regional_dns(&self) -> String {
        format!(
            "{}-{}.execute-api.{}.vpce.amazonaws.com",
            self.vpce_id, self.vpce_dns_suffix, self.region
        )
    }
    /// The endpoint's zonal DNS name in `az`.
    pub fn vpce_zonal_dns(&self, az: &str) -> String {
        format!(
            "{}-{}-{}.execute-api.{}.vpce.amazonaws.com",
            self.vpce_id, self.vpce_dns_suffix, az, self.region
        )
    }
    /// The DNS name of an NLB chained in front of the endpoint ENIs (TLS name mismatch demo).
    pub fn chain_nlb_dns(&self) -> String {
        format!(
            "pgw-chain-nlb-0123456789abcdef.elb.{}.amazonaws.com",
            self.region
        )
    }
    /// Integration URI host of a path's VPC-link NLB.
    pub fn integration_host(&self, path: IntegrationPath) -> String {
        let n = match path {
            IntegrationPath::A => "a",
            IntegrationPath::B => "b",
        };
        format!("nlb-{n}-internal.elb.{}.amazonaws.com", self.region)
    }

    fn validate(&self) -> Result<(), String> {
        let id_ok = self.api_id.len() == 10
            && self
                .api_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !id_ok {
            return Err(format!(
                "topology.api_id {:?} is not 10 lowercase alphanumerics",
                self.api_id
            ));
        }
        let vpce_ok = self
            .vpce_id
            .strip_prefix("vpce-")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !vpce_ok {
            return Err(format!(
                "topology.vpce_id {:?} is not vpce-<hex>",
                self.vpce_id
            ));
        }
        let azs = self.azs();
        if azs.len() > 8 {
            return Err("topology.azs: at most 8 AZs".into());
        }
        for label in [&self.region, &self.vpce_dns_suffix, &self.stage]
            .into_iter()
            .chain(&azs)
        {
            let ok = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(format!("invalid name {label:?} in [topology]"));
            }
        }
        if self.integration_timeout_ms == 0 {
            return Err("topology.integration_timeout_ms must be > 0".into());
        }
        Ok(())
    }
}

/// How the VPC resolver answers the API's private DNS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsFault {
    #[default]
    Ok,
    Nxdomain,
    Servfail,
    Refused,
    /// No answer at all (UDP and TCP).
    Timeout,
    /// Private DNS disabled: the name resolves to the public front end.
    Public,
}

/// What a client reaching API Gateway's public front end gets (with private DNS off, the API's
/// name resolves there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicEndpointFault {
    /// Reached through a NAT gateway: 403 `ForbiddenException` for a private API.
    #[default]
    Forbidden,
    /// A firewall on the way resets the connection (RST).
    Refused,
    /// The API answers publicly as it does through the endpoint (it was made REGIONAL, or a
    /// public custom domain maps it): the misconfiguration `--check-public` looks for.
    Open,
    /// No route out of the VPC (no NAT): SYNs go unanswered, the connect times out.
    Timeout,
}

/// What the execute-api endpoint's security group admits TCP 443 from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SgSource {
    /// Every CIDR of the VPC.
    #[default]
    VpcCidr,
    /// The diagnosing host's own security group (a rule referencing it).
    ClientGroup,
    /// Another security group, which the diagnosing host does not have: SYNs dropped on every ENI.
    OtherGroup,
}

/// Which certificate the execute-api front door presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsFault {
    #[default]
    Ok,
    /// A certificate from another CA (TLS inspection box).
    UntrustedCa,
    /// A lab-CA certificate whose validity ended in the past.
    Expired,
    /// The API's security policy is `SecurityPolicy_TLS13_1_3_2025_09`: the front door accepts
    /// TLS 1.3 only (alert `protocol_version` to a TLS 1.2 client), and GetRestApi says so.
    Tls13Only,
}

/// The API's resource policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyFault {
    /// Deny unless aws:SourceVpce == the lab endpoint, then Allow.
    #[default]
    AllowVpce,
    /// The Deny condition names another endpoint.
    OtherVpce,
    /// No resource policy at all.
    Missing,
    /// Allow with `Principal: *` and no condition: open to every endpoint of every account.
    Open,
    /// Deny unless aws:SourceVpce is the lab endpoint or an endpoint of no account the lab
    /// knows, then Allow.
    AllowVpceAndForeign,
}

/// The execute-api endpoint's own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpcePolicyFault {
    /// Allows execute-api:Invoke on the lab account's APIs only.
    #[default]
    Restricted,
    /// The default interface endpoint policy: every principal, every action, every resource.
    FullAccess,
    /// Allows execute-api:Invoke on another API only: API Gateway answers 403
    /// AccessDeniedException "… because no VPC endpoint policy allows the execute-api:Invoke
    /// action" (IAM's wording; API Gateway's exact body is not documented).
    OtherApi,
}

/// `authorizationType` of both methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Authorization {
    #[default]
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "AWS_IAM")]
    AwsIam,
}

/// Faults behind the API Gateway front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationFault {
    #[default]
    Ok,
    /// The backend answers later than the integration timeout.
    BackendSlow,
    /// The NLB targets refuse connections (NLB resets the client).
    TargetRefused,
    /// The NLB targets drop SYNs (connect hangs).
    TargetBlackhole,
    /// The VPC link is FAILED.
    VpcLinkFailed,
    /// The backend answers 502 with an nginx error page.
    #[serde(rename = "backend_5xx")]
    Backend5xx,
    /// The backend's certificate is self-signed (the integration uri is https://): API Gateway
    /// answers 500 and logs `PKIX path building failed`.
    BackendCertUntrusted,
    /// The backend's certificate expired: 500, logged `PKIX path validation failed … validity
    /// check failed`.
    BackendCertExpired,
    /// The backend's certificate names another host than the integration uri's: 500, logged
    /// `Host name '…' does not match the certificate subject provided by the peer (CN=…)`.
    BackendHostnameMismatch,
    /// The integration uri is not a usable address: 500, logged `Invalid endpoint address`.
    EndpointAddressInvalid,
}

impl IntegrationFault {
    /// The execution-log line of a configuration error API Gateway meets before reaching the
    /// backend (answering 500 Internal server error), for a uri host of `host`.
    pub(crate) fn config_error(self, host: &str) -> Option<String> {
        let why = match self {
            IntegrationFault::BackendCertUntrusted => "PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target".to_string(),
            IntegrationFault::BackendCertExpired => "PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed".to_string(),
            IntegrationFault::BackendHostnameMismatch => format!(
                "Host name '{host}' does not match the certificate subject provided by the peer (CN=orders.internal.example)"
            ),
            IntegrationFault::EndpointAddressInvalid => "Invalid endpoint address".to_string(),
            _ => return None,
        };
        Some(format!(
            "Execution failed due to configuration error: {why}"
        ))
    }
}

/// Whether API Gateway writes the stage's execution log (`methodSettings["*/*"].loggingLevel`
/// and the account's CloudWatch role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionLogs {
    /// No logging level set (AWS's default): nothing is written.
    #[default]
    Off,
    /// Level ERROR with the account's role: every request API Gateway fails is logged.
    Error,
    /// Level ERROR, but the account has no CloudWatch role: nothing is written.
    NoRole,
}

/// NLB target faults (both VPC-link NLBs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetsFault {
    #[default]
    Ok,
    /// Every NLB target refuses connections; DescribeTargetHealth: unhealthy /
    /// Target.FailedHealthChecks.
    Unhealthy,
    /// Path A: NLB A's IP targets are stale addresses (`.113`, `.114`, which drop SYNs) instead
    /// of the PrivateLink endpoint's ENIs; DescribeTargetHealth: unhealthy / Target.Timeout.
    IpDrift,
    /// Path A: NLB A's targets sit in Availability Zones the NLB is not enabled in;
    /// DescribeTargetHealth: unused / Target.NotInUse. The NLB sends them nothing: 504 "Endpoint
    /// request timed out".
    AzNotEnabled,
}

/// `State` of the execute-api interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VpceState {
    #[default]
    Available,
    /// Being created: its ENIs carry no traffic yet.
    Pending,
    /// Creation failed (e.g. no free address in a subnet): its ENIs carry no traffic.
    Failed,
}

impl VpceState {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            VpceState::Available => "available",
            VpceState::Pending => "pending",
            VpceState::Failed => "failed",
        }
    }
}

/// `status` of the VPC link the integrations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum VpcLinkStatus {
    #[default]
    #[serde(rename = "AVAILABLE")]
    Available,
    #[serde(rename = "PENDING")]
    Pending,
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "DELETING")]
    Deleting,
}

impl VpcLinkStatus {
    /// The wire value (`AVAILABLE`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VpcLinkStatus::Available => "AVAILABLE",
            VpcLinkStatus::Pending => "PENDING",
            VpcLinkStatus::Failed => "FAILED",
            VpcLinkStatus::Deleting => "DELETING",
        }
    }
}

/// State of path A's PrivateLink consumer endpoint (= the provider's connection state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum ConnectionState {
    #[default]
    #[serde(rename = "available")]
    Available,
    /// Not yet accepted by the provider: the endpoint's ENIs drop traffic.
    #[serde(rename = "pendingAcceptance")]
    PendingAcceptance,
    /// Rejected by the provider: the endpoint's ENIs drop traffic.
    #[serde(rename = "rejected")]
    Rejected,
    #[serde(rename = "expired")]
    Expired,
}

impl ConnectionState {
    /// The wire value (`available`, `pendingAcceptance`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Available => "available",
            ConnectionState::PendingAcceptance => "pendingAcceptance",
            ConnectionState::Rejected => "rejected",
            ConnectionState::Expired => "expired",
        }
    }
}

/// `endpointConfiguration.types` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum ApiType {
    #[default]
    #[serde(rename = "PRIVATE")]
    Private,
    /// A public API: called through the execute-api endpoint it answers 403 Forbidden.
    #[serde(rename = "REGIONAL")]
    Regional,
    #[serde(rename = "EDGE")]
    Edge,
}

impl ApiType {
    /// The wire value (`PRIVATE`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Private => "PRIVATE",
            ApiType::Regional => "REGIONAL",
            ApiType::Edge => "EDGE",
        }
    }
}

/// Path B's IP target in another network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HybridFault {
    #[default]
    Ok,
    /// Drops SYNs (no route / firewall); DescribeTargetHealth: unhealthy / Target.Timeout.
    Timeout,
    /// Refuses connections; DescribeTargetHealth: unhealthy / Target.FailedHealthChecks.
    Refused,
    /// Registered at a publicly routable address (`203.0.113.41`, `AvailabilityZone=all`), which
    /// ELB does not accept for a target outside the VPC: nothing answers (unhealthy /
    /// Target.Timeout). The address is moto data only: the lab never dials it.
    PublicIp,
}

/// How the integrations name their VPC link (`connectionId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkReference {
    /// The VPC link's id.
    #[default]
    Id,
    /// `${stageVariables.vpcLinkId}`, and the stage defines `vpcLinkId`.
    StageVariable,
    /// `${stageVariables.vpcLinkId}`, and the stage does not define it: 500 Internal server error.
    StageVariableUndefined,
}

/// The endpoint service API Gateway made on the used VPC link's NLB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkService {
    #[default]
    Ok,
    /// Deleted: 500 Internal server error.
    Deleted,
    /// `ServiceState=Failed`: 500 Internal server error.
    Failed,
}

/// Which DNS server the doctor asks (fixed when the lab starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientResolver {
    /// The VPC resolver (`.2`).
    #[default]
    Vpc,
    /// A DNS server of the organisation's own (`.53`) that answers the API's name from public DNS
    /// (no forwarding of execute-api names to the VPC).
    Corporate,
}

/// The diagnosing host's own side of the way to the endpoint's ENIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientNetwork {
    /// Its security group allows everything out; its subnet has the VPC's default ACL.
    #[default]
    Ok,
    /// Its security group has no outbound rule.
    SgEgressBlocked,
    /// Its subnet's network ACL denies outbound TCP 443.
    NaclBlocks,
    /// It sits in another VPC (its own CIDR, `127.0.0.0/28`), with routes both ways through a
    /// transit gateway; the endpoint's security group admits that CIDR.
    OtherVpc,
    /// As `other_vpc`, but its VPC's route table has no route to the endpoint's VPC.
    OtherVpcUnrouted,
}

impl ClientNetwork {
    /// Whether the diagnosing host's SYNs to the endpoint's ENIs are dropped.
    pub fn drops(self) -> bool {
        !matches!(self, ClientNetwork::Ok | ClientNetwork::OtherVpc)
    }

    /// Whether the diagnosing host sits in a VPC of its own.
    pub fn elsewhere(self) -> bool {
        matches!(
            self,
            ClientNetwork::OtherVpc | ClientNetwork::OtherVpcUnrouted
        )
    }
}

/// What became of the access key the doctor signs with (`doctor.credentials`), as API Gateway
/// sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IamCredentials {
    /// The key and its secret are valid.
    #[default]
    Ok,
    /// The secret was rotated: the signature does not match (InvalidSignatureException).
    WrongSecret,
    /// The key was deleted: "The security token included in the request is invalid."
    UnknownKey,
}

/// An AWS WAF web ACL on the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WafFault {
    /// No web ACL (`webAclArn` absent).
    #[default]
    None,
    /// A web ACL that lets the calls through.
    Allow,
    /// A web ACL that blocks them: 403 Forbidden (WAF_FILTERED).
    Block,
}

/// The private custom domain name (`topology.domain_name`). AWS documents none of the data-plane
/// answers below; each variant says what the lab assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomDomainFault {
    /// AVAILABLE, associated with the execute-api endpoint, its policy allowing the endpoint,
    /// the base path mapped to the stage; its private hosted zone record points at the endpoint.
    #[default]
    Ok,
    /// No access association of the endpoint with the domain (never made, or rejected by the
    /// provider): the endpoint does not serve the domain and answers its SNI with the
    /// endpoint's own certificate.
    NotAssociated,
    /// The domain's status is `PENDING` (just created): not served yet, as `not_associated`.
    NotAvailable,
    /// The domain's certificate covers `*.example.com`, not the domain (one label short).
    CertWrongName,
    /// The domain's policy allows another endpoint only: 403 AccessDeniedException naming the
    /// domain's execute-api resource, with an explicit deny (as for an API's policy).
    PolicyDenies,
    /// The domain maps the stage at base path `v2` only: 403 ForbiddenException `Forbidden`
    /// for the base path called (as for a public custom domain without a matching mapping).
    Unmapped,
    /// No record for the domain in its private hosted zone: NXDOMAIN.
    DnsMissing,
    /// The domain's record points at the public execute-api front end instead of the endpoint.
    DnsElsewhere,
}

impl CustomDomainFault {
    /// The certificate the front door presents for the domain's SNI.
    pub fn certificate(self) -> DomainCertificate {
        match self {
            CustomDomainFault::NotAssociated | CustomDomainFault::NotAvailable => {
                DomainCertificate::NotServed
            }
            CustomDomainFault::CertWrongName => DomainCertificate::WrongName,
            _ => DomainCertificate::Served,
        }
    }
}

/// What the front door presents for the custom domain's SNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainCertificate {
    /// The domain's own certificate.
    Served,
    /// The endpoint's own `*.execute-api` certificate: the domain is not served here.
    NotServed,
    /// The domain's certificate, naming `*.example.com` only.
    WrongName,
}

/// Path B's route from the NLB's subnets towards the target's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HybridRoute {
    /// A route through the transit gateway, `active`.
    #[default]
    Ok,
    /// No route: the target's SYNs go nowhere (dropped); Target.Timeout.
    Missing,
    /// The route's transit gateway attachment is gone: route state `blackhole`, SYNs dropped.
    Blackhole,
}

/// The `[control_plane]` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlPlaneSpec {
    /// Run a moto server seeded with the lab's topology and faults (needs the venv made by
    /// `scripts/setup.sh`); the doctor then reads AWS instead of running with `--no-aws`.
    pub enabled: bool,
}

/// Injected faults; `Faults::default()` is the healthy lab.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    pub dns: DnsFault,
    /// What the public front end does with the client's connection.
    pub public_endpoint: PublicEndpointFault,
    /// pgw reaches the endpoint through source NAT (a container bridge, a proxy, a NAT
    /// appliance): its address 127.0.0.1 is in no CIDR of the VPC, and the endpoint's security
    /// group admits only the VPC. The data plane is unaffected (the NAT translates).
    pub source_nat: bool,
    /// What the endpoint's security group admits 443 from (control plane and data plane).
    pub sg_source: SgSource,
    /// Whether the endpoint is associated with the API (`{api}-{vpce}` alias resolves).
    pub alias_associated: bool,
    /// AZs whose endpoint ENI security group drops SYNs.
    pub sg_drop: Vec<String>,
    pub tls: TlsFault,
    /// ANY method on `/` exists in the deployed stage.
    pub root_method: bool,
    /// ANY method on `/{proxy+}` exists in the deployed stage.
    pub proxy_method: bool,
    pub resource_policy: PolicyFault,
    pub authorization: Authorization,
    /// Every request is throttled (429).
    pub throttle: bool,
    /// A middlebox rewrites Host to the endpoint's regional DNS name.
    pub host_rewrite: bool,
    pub integration: IntegrationFault,
    /// Overrides `topology.integration_timeout_ms` when set.
    pub integration_timeout_ms: Option<u64>,
    /// NLB targets unhealthy or drifted.
    pub targets: TargetsFault,
    /// Status of the integrations' VPC link (anything but AVAILABLE: 500 Internal server error).
    pub vpc_link: VpcLinkStatus,
    /// The VPC link's `statusMessage` (a default is used for FAILED).
    pub vpc_link_status_message: Option<String>,
    /// Path A's PrivateLink endpoint connection state.
    pub endpoint_connection: ConnectionState,
    /// The resource policy was fixed (allows the endpoint) but the stage still runs the old,
    /// denying one: the control plane shows `resource_policy`, the data plane denies.
    pub policy_not_redeployed: bool,
    /// ANY on `/` exists in the API but not in the stage's deployment.
    pub root_method_not_deployed: bool,
    /// The VPC's `enableDnsSupport` (false: private DNS names resolve publicly).
    pub vpc_dns_support: bool,
    /// The VPC's `enableDnsHostnames` (false: private DNS names resolve publicly).
    pub vpc_dns_hostnames: bool,
    /// `endpointConfiguration.types` (not PRIVATE: 403 Forbidden through the endpoint).
    pub api_type: ApiType,
    /// Path B's target in another network.
    pub hybrid_target: HybridFault,
    /// Which DNS server the doctor asks (read when the lab starts).
    pub client_resolver: ClientResolver,
    /// The diagnosing host's security group or subnet ACL: anything but `ok` drops its SYNs to every
    /// endpoint ENI (needs the host in the VPC: `source_nat = false`).
    pub client_network: ClientNetwork,
    /// Path A: the PrivateLink endpoint's security group (its ENIs are NLB A's targets) admits
    /// nothing: its ENIs drop SYNs, NLB A's targets are `Target.Timeout`.
    pub service_endpoint_sg_blocks: bool,
    /// Path A: AZs (the consumer's names) where the provider's NLB has no node any more; the
    /// PrivateLink endpoint's ENIs there carry no traffic (SYNs dropped, `Target.Timeout`).
    pub provider_missing_azs: Vec<String>,
    /// Path A: the provider removed the consumer's account from the endpoint service's allowed
    /// principals (`DescribeVpcEndpointServicePermissions` lists none).
    pub provider_permission_removed: bool,
    /// Path A's far end: the provider NLB's target (the EKS service) refuses connections and is
    /// unhealthy (`Target.FailedHealthChecks`); the consumer side stays healthy.
    pub provider_targets_unhealthy: bool,
    /// Path B's route towards the target's network (anything but `ok`: SYNs dropped).
    pub hybrid_route: HybridRoute,
    /// How the integrations name their VPC link.
    pub vpc_link_reference: LinkReference,
    /// The endpoint service under the used VPC link's NLB.
    pub vpc_link_service: LinkService,
    /// Both methods require an API key (`apiKeyRequired`): a call without a valid `x-api-key` gets
    /// 403 Forbidden.
    pub api_key_required: bool,
    /// A WAF web ACL on the stage.
    pub waf: WafFault,
    /// API Gateway's clock against the lab host's, in seconds (its `Date` header shows it, and
    /// SigV4 signatures more than 5 minutes off are refused). Positive: the lab host is behind.
    pub gateway_clock_skew_s: i64,
    /// The doctor's access key as API Gateway sees it (AWS_IAM methods).
    pub iam_credentials: IamCredentials,
    /// The integration uri names a port the VPC link's NLB has no listener on: the NLB drops the
    /// connection (504 Endpoint request timed out).
    pub listener_port_mismatch: bool,
    /// The VPC link NLBs' security groups (evaluated for PrivateLink traffic) admit nothing: the
    /// NLBs drop API Gateway's connections (504 Endpoint request timed out).
    pub link_nlb_sg_blocks: bool,
    /// The VPC link NLB's listener is TLS while the integration uri says `http://`: the NLB
    /// answers API Gateway's plain HTTP with a TLS alert and closes (504 Network error).
    pub integration_scheme_mismatch: bool,
    /// The `/{proxy+}` method's integration uri is `http://{host}/v1`: no `{proxy}`, so API
    /// Gateway sends every call there, and the backend knows no `/v1` (404, its own page).
    pub integration_uri_without_proxy: bool,
    /// Path B only: the way to the other network passes no packet over 1400 bytes and says
    /// nothing (no ICMP fragmentation-needed): the nginx backend's answers above that never
    /// arrive, and API Gateway times out (504) on them while small answers pass.
    pub hybrid_mtu_blackhole: bool,
    /// The execute-api endpoint's `State` (not `available`: its ENIs drop SYNs).
    pub execute_api_endpoint_state: VpceState,
    /// The API's default execute-api endpoint is disabled (`disableExecuteApiEndpoint`): calls
    /// through the execute-api names get 403 Forbidden; the custom domain still works.
    pub execute_api_endpoint_disabled: bool,
    /// The API's `endpointAccessMode` is `STRICT`: a request whose TLS SNI is not its Host
    /// (`vpce-host`) gets 403 Forbidden (AWS does not document the response; assumed as for other
    /// calls API Gateway cannot tie to the API).
    pub endpoint_access_mode_strict: bool,
    /// The private custom domain name.
    pub custom_domain: CustomDomainFault,
    /// The execute-api endpoint's own policy.
    pub vpce_policy: VpcePolicyFault,
    /// The API's `vpcEndpointIds` also lists an endpoint its resource policy denies.
    pub associate_other_vpce: bool,
    /// The stage's execution logging (needs `[control_plane] enabled = true` to be written).
    pub execution_logs: ExecutionLogs,
    /// How long after a request its execution-log lines are delivered.
    pub execution_log_delay_ms: u64,
    /// Failures already in the stage's execution log when the lab starts (`execution_logs =
    /// "error"`), by kind (see [`HISTORY_KINDS`]) and count, spread over the last 50 minutes.
    pub execution_log_history: std::collections::BTreeMap<String, u32>,
    /// AWS operations (`service:Action`, as in [`DENIABLE_OPERATIONS`]) the control plane answers
    /// with the service's own AccessDenied error (EC2: 403 `UnauthorizedOperation`; ELBv2 and
    /// STS: 403 `AccessDenied`; API Gateway: 403 `AccessDeniedException`). Needs
    /// `[control_plane] enabled = true`.
    pub aws_denied: Vec<String>,
}

/// The kinds of past failures `faults.execution_log_history` can seed, and their lines.
pub const HISTORY_KINDS: &[(&str, &str)] = &[
    ("network_error", "Execution failed due to a network error communicating with endpoint"),
    ("timeout", "Execution failed due to a timeout error"),
    ("internal_error", "Execution failed due to configuration error: There was an internal error while executing your request"),
    ("hostname_mismatch", "Execution failed due to configuration error: Host name 'nlb-a-internal.elb.us-east-1.amazonaws.com' does not match the certificate subject provided by the peer (CN=orders.internal.example)"),
    ("cert_untrusted", "Execution failed due to configuration error: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target"),
    ("cert_expired", "Execution failed due to configuration error: PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed"),
    ("endpoint_invalid", "Execution failed due to configuration error: Invalid endpoint address"),
    ("deny", "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/ with an explicit deny"),
    ("throttle", "Key throttle limit exceeded for RestApi 3eqr0osoc3, Stage test, Resource /, HttpMethod GET. Limit: 1.00 Burst: 1"),
];

/// The AWS operations `faults.aws_denied` can deny: every read pgw-doctor makes.
pub const DENIABLE_OPERATIONS: &[&str] = &[
    "apigateway:GetRestApi",
    "apigateway:GetStages",
    "apigateway:GetStage",
    "apigateway:GetDeployment",
    "apigateway:GetResources",
    "apigateway:GetVpcLink",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcEndpointConnections",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcEndpointServiceConfigurations",
    "ec2:DescribeSubnets",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeVpcEndpointServicePermissions",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "apigateway:GetAccount",
    "apigateway:GetDomainNameAccessAssociations",
    "apigateway:GetDomainName",
    "apigateway:GetBasePathMappings",
    "apigateway:GetRestApis",
    "logs:FilterLogEvents",
    "sts:AssumeRole",
];

impl Default for Faults {
    fn default() -> Self {
        Faults {
            dns: DnsFault::Ok,
            public_endpoint: PublicEndpointFault::Forbidden,
            source_nat: false,
            sg_source: SgSource::VpcCidr,
            alias_associated: true,
            sg_drop: Vec::new(),
            tls: TlsFault::Ok,
            root_method: true,
            proxy_method: true,
            resource_policy: PolicyFault::AllowVpce,
            authorization: Authorization::None,
            throttle: false,
            host_rewrite: false,
            integration: IntegrationFault::Ok,
            integration_timeout_ms: None,
            targets: TargetsFault::Ok,
            vpc_link: VpcLinkStatus::Available,
            vpc_link_status_message: None,
            endpoint_connection: ConnectionState::Available,
            policy_not_redeployed: false,
            root_method_not_deployed: false,
            vpc_dns_support: true,
            vpc_dns_hostnames: true,
            api_type: ApiType::Private,
            hybrid_target: HybridFault::Ok,
            hybrid_route: HybridRoute::Ok,
            provider_targets_unhealthy: false,
            provider_missing_azs: Vec::new(),
            provider_permission_removed: false,
            service_endpoint_sg_blocks: false,
            client_network: ClientNetwork::Ok,
            client_resolver: ClientResolver::Vpc,
            vpc_link_reference: LinkReference::Id,
            vpc_link_service: LinkService::Ok,
            api_key_required: false,
            waf: WafFault::None,
            gateway_clock_skew_s: 0,
            iam_credentials: IamCredentials::Ok,
            listener_port_mismatch: false,
            integration_scheme_mismatch: false,
            integration_uri_without_proxy: false,
            hybrid_mtu_blackhole: false,
            execute_api_endpoint_state: VpceState::Available,
            execute_api_endpoint_disabled: false,
            endpoint_access_mode_strict: false,
            custom_domain: CustomDomainFault::Ok,
            vpce_policy: VpcePolicyFault::Restricted,
            associate_other_vpce: false,
            execution_logs: ExecutionLogs::Off,
            execution_log_delay_ms: 0,
            execution_log_history: Default::default(),
            link_nlb_sg_blocks: false,
            aws_denied: Vec::new(),
        }
    }
}

impl Faults {
    /// Checks the faults against a topology (AZ names exist, timeouts > 0).
    pub fn validate(&self, topology: &Topology) -> Result<(), String> {
        let azs = topology.azs();
        if let Some(az) = self.sg_drop.iter().find(|az| !azs.contains(az)) {
            return Err(format!(
                "faults.sg_drop: unknown AZ {az:?} (topology AZs: {})",
                azs.join(", ")
            ));
        }
        if let Some(az) = self
            .provider_missing_azs
            .iter()
            .find(|az| !azs.contains(az))
        {
            return Err(format!(
                "faults.provider_missing_azs: unknown AZ {az:?} (topology AZs: {})",
                azs.join(", ")
            ));
        }
        if let Some(k) = self
            .execution_log_history
            .keys()
            .find(|k| !HISTORY_KINDS.iter().any(|(h, _)| h == k))
        {
            let kinds: Vec<&str> = HISTORY_KINDS.iter().map(|(h, _)| *h).collect();
            return Err(format!(
                "faults.execution_log_history: unknown kind {k:?} (one of {})",
                kinds.join(", ")
            ));
        }
        if let Some(op) = self
            .aws_denied
            .iter()
            .find(|op| !DENIABLE_OPERATIONS.contains(&op.as_str()))
        {
            return Err(format!(
                "faults.aws_denied: unknown operation {op:?} (one of {})",
                DENIABLE_OPERATIONS.join(", ")
            ));
        }
        if (self.source_nat || self.client_network.elsewhere())
            && self.sg_source != SgSource::VpcCidr
        {
            return Err(
                "faults.sg_source: a security group reference needs the diagnosing host in the \
                 VPC (source_nat = false)"
                    .into(),
            );
        }
        if self.source_nat && self.client_network != ClientNetwork::Ok {
            return Err(
                "faults.client_network needs the diagnosing host in the VPC (source_nat = false)"
                    .into(),
            );
        }
        if self.hybrid_mtu_blackhole && topology.path != IntegrationPath::B {
            return Err("faults.hybrid_mtu_blackhole needs topology.path = \"b\"".into());
        }
        if self.integration_timeout_ms == Some(0) {
            return Err("faults.integration_timeout_ms must be > 0".into());
        }
        if self.policy_not_redeployed && self.resource_policy != PolicyFault::AllowVpce {
            return Err(
                "faults.policy_not_redeployed: the fixed (current) policy is allow_vpce; \
                 leave resource_policy at its default"
                    .into(),
            );
        }
        if self.root_method_not_deployed && !self.root_method {
            return Err(
                "faults.root_method_not_deployed needs root_method = true (the method exists, \
                 only the deployment lacks it)"
                    .into(),
            );
        }
        Ok(())
    }

    /// How the VPC resolver answers the private DNS name: the `dns` fault, or "public" when the
    /// VPC's DNS attributes are off.
    pub fn effective_dns(&self) -> DnsFault {
        if !self.vpc_dns_support || !self.vpc_dns_hostnames {
            DnsFault::Public
        } else {
            self.dns
        }
    }

    /// Whether the stage's deployment has ANY on `/` (what the data plane serves).
    pub fn root_method_deployed(&self) -> bool {
        self.root_method && !self.root_method_not_deployed
    }

    /// The resource policy the stage enforces (the deployed one).
    pub fn deployed_policy(&self) -> PolicyFault {
        if self.policy_not_redeployed {
            PolicyFault::OtherVpce
        } else {
            self.resource_policy
        }
    }

    /// Whether API Gateway cannot use the integrations' VPC link (500 Internal server error): not
    /// AVAILABLE, or named by a stage variable the stage does not define.
    pub fn vpc_link_broken(&self) -> bool {
        self.integration == IntegrationFault::VpcLinkFailed
            || self.vpc_link != VpcLinkStatus::Available
            || self.vpc_link_reference == LinkReference::StageVariableUndefined
            || self.vpc_link_service != LinkService::Ok
    }
}

/// The `[doctor]` section: how the test runner must invoke pgw-doctor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoctorSpec {
    /// "private-dns" | "vpce-host" | "alias".
    #[serde(deserialize_with = "invoke_via")]
    pub invoke_via: String,
    /// `--path` values; empty = the doctor's default paths.
    pub paths: Vec<String>,
    /// Pass `--ca-file <lab CA>`.
    pub trust_lab_ca: bool,
    /// The runner sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to the lab credentials.
    pub credentials: bool,
    /// Pass `--sigv4`.
    pub sigv4: bool,
    /// Passed as `--vpce-dns` instead of the endpoint's regional name.
    pub vpce_dns_override: Option<String>,
    /// Pass `--vpce-dns` (false: the doctor learns the endpoint's ENIs only from the control
    /// plane, or not at all; private-dns route only).
    pub vpce_dns: bool,
    /// `--timeout`.
    #[serde(deserialize_with = "duration_text")]
    pub timeout: String,
    /// Appended verbatim to the argv.
    pub extra_args: Vec<String>,
    /// Leave `--stage` out: the doctor discovers the stage (needs the control plane).
    pub discover_stage: bool,
    /// Pass `--check-public --public-resolver <the lab's public DNS>` (which answers the API's
    /// name with the public front end).
    pub check_public: bool,
}

impl Default for DoctorSpec {
    fn default() -> Self {
        DoctorSpec {
            invoke_via: "private-dns".into(),
            paths: Vec::new(),
            trust_lab_ca: true,
            credentials: false,
            sigv4: false,
            vpce_dns_override: None,
            vpce_dns: true,
            timeout: "5s".into(),
            extra_args: Vec::new(),
            discover_stage: false,
            check_public: false,
        }
    }
}

/// The `[expect]` section: pgw-doctor's expected conclusion.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "RawExpect")]
pub struct Expect {
    /// "healthy" | "unhealthy".
    pub verdict: String,
    /// Default: 0 when healthy, 1 when unhealthy.
    pub exit_code: i32,
    /// Catalog id of `findings[0]`.
    pub first_finding: Option<String>,
    /// "confirmed" | "likely" of `findings[0]`.
    pub confidence: Option<String>,
    /// Every finding id, in report order (unchecked when absent).
    pub findings: Option<Vec<String>>,
    /// With a control plane: exactly the AWS operations whose `control_plane` checks failed
    /// (`ok: false`, reason "not checked: …"); every other AWS call must succeed.
    pub not_checked: Vec<String>,
    /// Texts some evidence line of some finding must contain (e.g. a quoted log line).
    pub evidence: Vec<String>,
    /// `--since`: the report's `recent_failures`, in order, each `id=count` or `id>=count`.
    pub recent_failures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: String,
    exit_code: Option<i32>,
    first_finding: Option<String>,
    confidence: Option<String>,
    findings: Option<Vec<String>>,
    #[serde(default)]
    not_checked: Vec<String>,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    recent_failures: Vec<String>,
}

impl TryFrom<RawExpect> for Expect {
    type Error = String;
    fn try_from(raw: RawExpect) -> Result<Self, String> {
        let default_code = match raw.verdict.as_str() {
            "healthy" => 0,
            "unhealthy" => 1,
            other => {
                return Err(format!(
                    "verdict {other:?} is not \"healthy\" or \"unhealthy\""
                ))
            }
        };
        if let Some(c) = raw.confidence.as_deref() {
            if c != "confirmed" && c != "likely" {
                return Err(format!(
                    "confidence {c:?} is not \"confirmed\" or \"likely\""
                ));
            }
        }
        if raw.verdict == "healthy" && raw.first_finding.is_some() {
            return Err("a healthy verdict has no first_finding".into());
        }
        // A healthy verdict may still list info notes (`planes_disagree`), with no first_finding.
        if let (Some(all), first, "unhealthy") =
            (&raw.findings, &raw.first_finding, raw.verdict.as_str())
        {
            if all.first() != first.as_ref() {
                return Err(format!(
                    "findings {all:?} does not start with first_finding {first:?}"
                ));
            }
        }
        Ok(Expect {
            verdict: raw.verdict,
            exit_code: raw.exit_code.unwrap_or(default_code),
            first_finding: raw.first_finding,
            confidence: raw.confidence,
            findings: raw.findings,
            not_checked: raw.not_checked,
            evidence: raw.evidence,
            recent_failures: raw.recent_failures,
        })
    }
}

fn invoke_via<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    match v.as_str() {
        "private-dns" | "vpce-host" | "alias" | "custom-domain" => Ok(v),
        _ => Err(serde::de::Error::custom(format!(
            "invoke_via {v:?} is not one of private-dns, vpce-host, alias, custom-domain"
        ))),
    }
}

fn duration_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    humantime::parse_duration(&v)
        .map_err(|e| serde::de::Error::custom(format!("timeout {v:?}: {e}")))?;
    Ok(v)
}

/// Positions of the keys that checks after parsing point at (unknown keys ignored here: the
/// parse proper rejects them).
#[derive(Debug, Default, Deserialize)]
struct Spans {
    name: Option<Spanned<toml::Value>>,
    topology: Option<Spanned<toml::Value>>,
    faults: Option<Spanned<FaultSpans>>,
    doctor: Option<DoctorSpans>,
    expect: Option<ExpectSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct FaultSpans {
    #[serde(default)]
    sg_drop: Vec<Spanned<String>>,
    #[serde(default)]
    aws_denied: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct DoctorSpans {
    vpce_dns: Option<Spanned<toml::Value>>,
    discover_stage: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct ExpectSpans {
    not_checked: Option<Spanned<toml::Value>>,
}

mod shipped {
    include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));
}

/// The scenarios shipped with the crate (`lab/scenarios`), as source files: the directory of the
/// checkout this was built from (tests use it; an installed `pgw-lab` uses [`Scenario::shipped`]).
pub fn default_scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

impl Scenario {
    /// Parses a scenario from TOML text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, LabError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            LabError::Scenario {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            at(offset, e.message().trim().to_string())
        })?;
        // Where each key's value is, for errors found after parsing (the same spans toml gives).
        let spans: Spans = toml::from_str(text).unwrap_or_default();
        let start = |s: &Option<Spanned<toml::Value>>| s.as_ref().map_or(0, |s| s.span().start);
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            if path.extension().is_some_and(|e| e == "toml") && stem != scenario.name {
                return Err(at(
                    start(&spans.name),
                    format!(
                        "name {:?} differs from the file name {stem:?}",
                        scenario.name
                    ),
                ));
            }
        }
        if let Err(m) = scenario.topology.validate() {
            return Err(at(start(&spans.topology), m));
        }
        let faults_at = spans.faults.as_ref().map_or(0, |f| f.span().start);
        let faults = spans.faults.map(|f| f.into_inner()).unwrap_or_default();
        if let Err(m) = scenario.faults.validate(&scenario.topology) {
            let f = &faults;
            let offset = f
                .sg_drop
                .iter()
                .chain(&f.aws_denied)
                .find(|v| {
                    !scenario.topology.azs().contains(v.get_ref())
                        && !DENIABLE_OPERATIONS.contains(&v.get_ref().as_str())
                })
                .map(|v| v.span().start)
                .unwrap_or(faults_at);
            return Err(at(offset, m));
        }
        if let Err(m) = scenario.check_control_plane() {
            let d = spans.doctor.unwrap_or_default();
            let offset = if m.starts_with("faults") {
                faults
                    .aws_denied
                    .first()
                    .map_or(faults_at, |v| v.span().start)
            } else if m.starts_with("doctor.vpce_dns") {
                start(&d.vpce_dns)
            } else if m.starts_with("doctor") {
                start(&d.discover_stage)
            } else {
                start(&spans.expect.unwrap_or_default().not_checked)
            };
            return Err(at(offset, m));
        }
        Ok(scenario)
    }

    /// Loads one scenario file. Unknown keys and bad values are errors naming `file:line:column`.
    pub fn load(path: &Path) -> Result<Scenario, LabError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// The shipped scenarios, compiled in, sorted by name.
    pub fn shipped() -> Result<Vec<Scenario>, LabError> {
        shipped::SHIPPED
            .iter()
            .map(|(name, text)| Scenario::parse(text, Path::new(&format!("{name}.toml"))))
            .collect()
    }

    /// A shipped scenario by name, or a scenario file (an existing path, or anything ending in
    /// `.toml`); with `dir`, names are looked up there instead.
    pub fn named(name_or_path: &str, dir: Option<&Path>) -> Result<Scenario, LabError> {
        if let Some(d) = dir {
            return Scenario::find(name_or_path, d).map(|(_, s)| s);
        }
        if Path::new(name_or_path).is_file() || name_or_path.ends_with(".toml") {
            return Scenario::load(Path::new(name_or_path));
        }
        match shipped::SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, text)) => Scenario::parse(text, Path::new(&format!("{n}.toml"))),
            None => Err(LabError::UnknownScenario {
                name: name_or_path.into(),
                dir: PathBuf::from("(shipped scenarios: pgw-lab list)"),
            }),
        }
    }

    /// Loads every `*.toml` in `dir`, sorted by file name.
    pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, LabError> {
        let io = |source| LabError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files
            .into_iter()
            .map(|p| Scenario::load(&p).map(|s| (p, s)))
            .collect()
    }

    /// Resolves `NAME_OR_PATH`: an existing file (or anything ending in `.toml`) is loaded
    /// as a path, anything else as `<dir>/<name>.toml`.
    pub fn find(name_or_path: &str, dir: &Path) -> Result<(PathBuf, Scenario), LabError> {
        let as_path = PathBuf::from(name_or_path);
        let path = if as_path.is_file() || name_or_path.ends_with(".toml") {
            as_path
        } else {
            let p = dir.join(format!("{name_or_path}.toml"));
            if !p.is_file() {
                return Err(LabError::UnknownScenario {
                    name: name_or_path.into(),
                    dir: dir.to_path_buf(),
                });
            }
            p
        };
        Scenario::load(&path).map(|s| (path, s))
    }

    /// Runs the checks `load` runs, for scenarios built in code.
    pub fn validate(&self) -> Result<(), LabError> {
        self.topology
            .validate()
            .and_then(|()| self.faults.validate(&self.topology))
            .and_then(|()| self.check_control_plane())
            .map_err(LabError::Invalid)
    }

    /// Control-plane faults and expectations need the control plane.
    fn check_control_plane(&self) -> Result<(), String> {
        if !self.control_plane.enabled && !self.faults.aws_denied.is_empty() {
            return Err(
                "faults.aws_denied needs the control plane ([control_plane] enabled = true)".into(),
            );
        }
        if !self.control_plane.enabled && self.doctor.discover_stage {
            return Err(
                "doctor.discover_stage needs the control plane ([control_plane] enabled = true)"
                    .into(),
            );
        }
        if !self.doctor.vpce_dns && self.doctor.invoke_via != "private-dns" {
            return Err(
                "doctor.vpce_dns = false needs doctor.invoke_via = \"private-dns\" (the other \
                 routes dial the endpoint's name)"
                    .into(),
            );
        }
        if !self.control_plane.enabled && !self.expect.not_checked.is_empty() {
            return Err(
                "expect.not_checked needs the control plane ([control_plane] enabled = true)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"x\"\ndescription = \"d\"\n[expect]\nverdict = \"healthy\"\n";

    #[test]
    fn minimal_scenario_gets_seed_defaults() {
        let s = Scenario::parse(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(s.topology, Topology::default());
        assert_eq!(s.faults, Faults::default());
        assert_eq!(s.doctor, DoctorSpec::default());
        assert_eq!(s.expect.exit_code, 0);
        assert_eq!(s.topology.azs(), ["us-east-1a", "us-east-1b"]);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = format!("{MINIMAL}[faults]\nbogus = 1\n");
        let err = Scenario::parse(&text, Path::new("x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("x.toml:6:1: "), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn bad_values_are_located() {
        let text = format!("{MINIMAL}[doctor]\ninvoke_via = \"carrier-pigeon\"\n");
        let msg = Scenario::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("x.toml:6:14: "), "{msg}");
        let text = format!("{MINIMAL}[faults]\nsg_drop = [\"us-east-1c\"]\n");
        let msg = Scenario::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("x.toml:6:12: "), "{msg}");
        let msg = Scenario::parse(MINIMAL, Path::new("y.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("differs from the file name"), "{msg}");
    }

    #[test]
    fn denied_operations_are_known_and_need_the_control_plane() {
        let cp = "[control_plane]\nenabled = true\n";
        let ok = format!(
            "{MINIMAL}{cp}[faults]\naws_denied = [\"elasticloadbalancing:DescribeTargetHealth\"]\n"
        );
        let s = Scenario::parse(&ok, Path::new("x.toml")).unwrap();
        assert_eq!(
            s.faults.aws_denied,
            ["elasticloadbalancing:DescribeTargetHealth"]
        );
        let typo = format!("{MINIMAL}{cp}[faults]\naws_denied = [\"ec2:DescribeVpcEndpoint\"]\n");
        let msg = Scenario::parse(&typo, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("x.toml:8:15: "), "{msg}");
        assert!(msg.contains("unknown operation"), "{msg}");
        let no_cp = format!("{MINIMAL}[faults]\naws_denied = [\"ec2:DescribeVpcEndpoints\"]\n");
        let msg = Scenario::parse(&no_cp, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        // At the denied operation.
        assert!(msg.starts_with("x.toml:6:15: "), "{msg}");
        assert!(msg.contains("needs the control plane"), "{msg}");
    }

    #[test]
    fn expected_findings_and_not_checked_operations() {
        let text = "name = \"x\"\ndescription = \"d\"\n[control_plane]\nenabled = true\n\
                    [expect]\nverdict = \"unhealthy\"\nfirst_finding = \"a\"\n\
                    findings = [\"a\", \"b\"]\nnot_checked = [\"ec2:DescribeVpcEndpoints\"]\n";
        let s = Scenario::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(s.expect.findings, Some(vec!["a".into(), "b".into()]));
        assert_eq!(s.expect.not_checked, ["ec2:DescribeVpcEndpoints"]);
        let wrong_first = text.replace("[\"a\", \"b\"]", "[\"b\", \"a\"]");
        let msg = Scenario::parse(&wrong_first, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("does not start with first_finding"), "{msg}");
        let no_cp = text.replace("enabled = true", "enabled = false");
        let msg = Scenario::parse(&no_cp, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("expect.not_checked needs the control plane"),
            "{msg}"
        );
    }

    #[test]
    fn the_shipped_scenarios_are_the_files() {
        let shipped: Vec<String> = Scenario::shipped()
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        let files: Vec<String> = Scenario::load_dir(&default_scenarios_dir())
            .unwrap()
            .into_iter()
            .map(|(_, s)| s.name)
            .collect();
        assert_eq!(shipped, files);
        assert_eq!(
            Scenario::named("healthy_path_a", None).unwrap().name,
            "healthy_path_a"
        );
        assert!(Scenario::named("no_such_scenario", None).is_err());
    }
}
