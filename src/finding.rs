//! Findings and the catalog of finding ids: each id's layer, severity, title and fix.
//!
//! Ids are a contract (docs/runbooks/README.md): never renamed once released; every id has a runbook at
//! `docs/runbooks/<id>.md`.

use serde::Serialize;

/// How bad a finding is. Ordering: `Critical` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The layer a finding or a check belongs to, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Dns,
    Tcp,
    Tls,
    Api,
    Integration,
    ControlPlane,
    /// Who else can reach the API: never a failure of the chain, except a public answer.
    Exposure,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Dns => "dns",
            Layer::Tcp => "tcp",
            Layer::Tls => "tls",
            Layer::Api => "api",
            Layer::Integration => "integration",
            Layer::ControlPlane => "control_plane",
            Layer::Exposure => "exposure",
        }
    }
}

/// Whether the control plane agrees (`confirmed`) or only the data plane saw it (`likely`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Confirmed,
    Likely,
}

impl Confidence {
    /// As JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Confirmed => "confirmed",
            Confidence::Likely => "likely",
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    pub id: FindingId,
    pub layer: Layer,
    pub severity: Severity,
    pub title: &'static str,
    pub fix: &'static str,
    /// True for ids only the control plane can establish.
    pub control_plane: bool,
    /// The runbook (`docs/runbooks/<id>.md`), compiled in: `pgw-doctor explain <id>`.
    pub runbook: &'static str,
}

macro_rules! catalog {
    ($( $var:ident = $id:literal, $layer:ident, $sev:ident, $cp:literal, $title:literal, $fix:literal; )*) => {
        /// A finding id: the catalog's ids as a type, so that a rule cannot name one that does not
        /// exist. `as_str()` is the id of reports, metrics and runbooks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FindingId {
            $( $var, )*
        }

        impl FindingId {
            /// The id as reports, metric labels and runbook names spell it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( FindingId::$var => $id, )*
                }
            }
        }

        /// Every finding id pgw can report, data plane first.
        pub const CATALOG: &[CatalogEntry] = &[
            $( CatalogEntry {
                id: FindingId::$var, layer: Layer::$layer, severity: Severity::$sev, title: $title,
                fix: $fix, control_plane: $cp,
                runbook: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbooks/", $id, ".md")),
            }, )*
        ];
    };
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

catalog! {
    DnsPrivateDnsDisabled = "dns_private_dns_disabled", Dns, Critical, false,
        "The API's private DNS name does not resolve to the execute-api endpoint",
        "Enable private DNS on the execute-api VPC endpoint (aws ec2 modify-vpc-endpoint --private-dns-enabled), make sure the client uses the VPC resolver, or invoke through the endpoint's own name (vpce-host) or the {api}-{vpce} alias.";
    DnsNxdomain = "dns_nxdomain", Dns, Critical, false,
        "The invoke name does not exist for this resolver",
        "Check the name (API id, region, partition) and the resolver: the execute-api private hosted zone only answers through the VPC resolver (VPC CIDR base +2) or a Route 53 Resolver inbound endpoint.";
    CustomDomainDnsNotEndpoint = "custom_domain_dns_not_endpoint", Dns, Critical, true,
        "The private custom domain name does not resolve to the execute-api endpoint (record missing or pointing elsewhere)",
        "In the private hosted zone for the domain (associated with the client's VPC), create or correct an alias A record for the domain pointing at the execute-api endpoint's regional DNS name (vpce-….execute-api.{region}.vpce.amazonaws.com), and make sure the client asks the VPC resolver.";
    DnsResolverFailure = "dns_resolver_failure", Dns, Critical, false,
        "The DNS resolver fails to answer",
        "Check the resolver is reachable (UDP and TCP 53) and healthy; on EC2 use the VPC resolver (169.254.169.253 or VPC CIDR base +2); check DHCP options and forwarding rules.";
    DnsVpceAliasNotAssociated = "dns_vpce_alias_not_associated", Dns, Critical, false,
        "The {api}-{vpce} alias name does not exist: the endpoint is not associated with the API",
        "Associate the endpoint with the API (aws apigateway update-rest-api --patch-operations op=add,path=/endpointConfiguration/vpcEndpointIds,value=<vpce-id>), wait for DNS propagation, and redeploy if it still does not resolve.";
    DnsUnexpectedAnswer = "dns_unexpected_answer", Dns, Warning, false,
        "The name resolves to more addresses than an interface endpoint has",
        "Check which resolver answers and what it answers: an execute-api endpoint has one ENI per AZ. A long answer comes from another record (a wildcard, a misconfigured private hosted zone) or a hostile resolver; pgw probed only the first addresses.";
    VpceSgBlocks443 = "vpce_sg_blocks_443", Tcp, Critical, false,
        "TCP 443 to every endpoint ENI times out (dropped, as a security group does)",
        "Allow inbound TCP 443 on the execute-api endpoint's security group from the client's CIDR or security group (and check the client's egress rules and NACLs).";
    VpceEniUnreachable = "vpce_eni_unreachable", Tcp, Warning, false,
        "Endpoint ENIs do not accept connections while the endpoint itself is up (some AZs, or all with the endpoint available)",
        "Check the failing ENI's subnet: NACLs, routes from the client subnet, and that the endpoint's subnet in that AZ is healthy; clients resolving to that ENI fail intermittently.";
    CustomDomainNotAvailable = "custom_domain_not_available", Tls, Critical, true,
        "The private custom domain name is not AVAILABLE (pending, updating or failed)",
        "Read the domain's status message (aws apigateway get-domain-name --domain-name <name> --domain-name-id <id>): PENDING and UPDATING end by themselves (about 15 minutes); PENDING_CERTIFICATE_REIMPORT needs the certificate reimported, PENDING_OWNERSHIP_VERIFICATION the ownership certificate; FAILED needs the domain recreated.";
    CustomDomainNotAssociated = "custom_domain_not_associated", Tls, Critical, true,
        "The endpoint has no access association with the private custom domain name: it does not serve the domain",
        "From the endpoint's account: aws apigateway create-domain-name-access-association --domain-name-arn <domain ARN> --access-association-source <vpce-id> --access-association-source-type VPCE (the provider's managementPolicy must allow your endpoint; a rejected association must be created again once allowed). A new association takes about 15 minutes.";
    CustomDomainCertificateMismatch = "custom_domain_certificate_mismatch", Tls, Critical, true,
        "The private custom domain's certificate does not cover the domain name",
        "Give the domain an ACM certificate whose names cover it (a wildcard covers one label: *.example.com does not cover orders.internal.example.com), then aws apigateway update-domain-name --domain-name <name> --domain-name-id <id> --patch-operations op=replace,path=/certificateArn,value=<certificate ARN>.";
    ClientTlsNameMismatch = "client_tls_name_mismatch", Tls, Critical, false,
        "The endpoint's certificate does not cover the name the client dials",
        "Dial a name the certificate covers: the API's private DNS name, the endpoint's vpce DNS name, or the {api}-{vpce} alias; do not put another DNS name (an NLB, a CNAME, an IP) in front of the endpoint without sending the right SNI.";
    TlsUntrustedCa = "tls_untrusted_ca", Tls, Critical, false,
        "The endpoint's certificate chain is not trusted",
        "Trust the issuing CA (Amazon's public roots, or --ca-file for a TLS-inspecting proxy's CA), or bypass the box that replaces the certificate.";
    TlsCertificateExpired = "tls_certificate_expired", Tls, Critical, false,
        "The certificate presented is expired or not yet valid",
        "Check the client clock (NTP) and whatever presents this certificate: API Gateway's own certificates are rotated by AWS, so an expired one usually means a proxy in between.";
    ClientTlsVersionRejected = "client_tls_version_rejected", Tls, Critical, false,
        "The endpoint and the client share no TLS version",
        "Let the client offer TLS 1.3 (an API on a SecurityPolicy_TLS13_1_3_* policy takes nothing older), or move the API to a policy that also accepts TLS 1.2 (SecurityPolicy_TLS13_1_2_*, TLS_1_2).";
    TlsHandshakeFailed = "tls_handshake_failed", Tls, Critical, false,
        "The TLS handshake fails or times out",
        "Check TLS versions (private APIs need TLS 1.2+, or 1.3 with a TLS 1.3 security policy), and any middlebox between the client and the endpoint.";
    MissingHostOrApigwApiIdHeader = "missing_host_or_apigw_api_id_header", Api, Critical, false,
        "The request reaches the endpoint without a usable Host or x-apigw-api-id header",
        "When calling the endpoint's vpce DNS name, send Host: {api-id}.execute-api.{region}.amazonaws.com or x-apigw-api-id: {api-id}, and make sure no proxy in between rewrites or strips it.";
    CustomDomainBasePathUnmapped = "custom_domain_base_path_unmapped", Api, Critical, true,
        "The private custom domain maps no API stage at the called base path",
        "Map the API's stage at that base path (aws apigateway create-base-path-mapping --domain-name <name> --domain-name-id <id> --base-path <path> --rest-api-id <api> --stage <stage>), or call the base path that is mapped.";
    StageNotFound = "stage_not_found", Api, Critical, false,
        "API Gateway answers Forbidden on every path: the stage (or the API) is not found",
        "Use a deployed stage name (aws apigateway get-stages --rest-api-id <id>), or deploy to it; check the API id and that the API is PRIVATE and reachable through this endpoint.";
    IamAuthRequired = "iam_auth_required", Api, Critical, false,
        "The methods use AWS_IAM authorization: unsigned calls are refused",
        "Sign calls with SigV4 for service execute-api (signing the Host actually sent), or change the method's authorization if IAM is not intended.";
    IamClockSkew = "iam_clock_skew", Api, Critical, false,
        "Signed calls are refused as expired: this host's clock is off by more than 5 minutes",
        "Synchronise the clock (chrony with the Amazon Time Sync Service, 169.254.169.123 or fd00:ec2::123 on EC2) on this host and on the callers; SigV4 signatures are valid for 5 minutes around AWS's time.";
    IamSignatureRejected = "iam_signature_rejected", Api, Critical, false,
        "Signed calls are refused for their signature or their key",
        "Sign with a current key pair (the secret that belongs to the access key, a fresh session token), for service execute-api in the API's region, and let nothing change the request after signing.";
    MissingRootAnyMethod = "missing_root_any_method", Api, Critical, false,
        "The stage root has no method (ANY /)",
        "Add an ANY method on / with the same VPC_LINK integration (uri without {proxy}) and deploy the stage.";
    MissingProxyMethod = "missing_proxy_method", Api, Critical, false,
        "Paths below the stage root have no method (ANY /{proxy+})",
        "Add a /{proxy+} resource with an ANY method and a VPC_LINK integration whose uri ends in /{proxy} (with the path parameter mapped), then deploy the stage.";
    CustomDomainPolicyDenies = "custom_domain_policy_denies", Api, Critical, true,
        "The private custom domain's policy does not allow this endpoint to invoke through it",
        "The domain's provider allows the endpoint in the domain's execute-api policy (aws apigateway update-domain-name --domain-name <name> --domain-name-id <id> --patch-operations op=replace,path=/policy,value=<policy JSON>); the API's own resource policy must allow it too.";
    ResourcePolicyDeniesVpce = "resource_policy_denies_vpce", Api, Critical, false,
        "The resource policy explicitly denies calls through this endpoint",
        "Put this execute-api endpoint's id in the policy's aws:SourceVpce condition (or remove the wrong one), then deploy the API again: policy changes apply only after a deployment.";
    ResourcePolicyMissing = "resource_policy_missing", Api, Critical, false,
        "No resource policy allows the call (implicit deny)",
        "Attach a resource policy that allows execute-api:Invoke from this endpoint (Deny unless aws:SourceVpce, then Allow) and deploy the API again.";
    Throttled = "throttled", Api, Warning, false,
        "API Gateway throttles the calls (429)",
        "Lower the call rate or raise the stage / usage-plan / account throttling limits.";
    InvokeConnectionError = "invoke_connection_error", Api, Critical, false,
        "The connection broke before a response arrived",
        "Look for a middlebox resetting connections between the client and the endpoint; retry and compare across ENIs.";
    UnexpectedGatewayResponse = "unexpected_gateway_response", Api, Warning, false,
        "API Gateway answered with an error pgw has no rule for",
        "Read the status, x-amzn-ErrorType and message in the evidence; check custom gateway responses (aws apigateway get-gateway-responses).";
    IntegrationTimeout = "integration_timeout", Integration, Critical, false,
        "The integration times out (504 Endpoint request timed out)",
        "Find where the request stalls behind the VPC link: NLB target health, security groups and routes to the targets, and backend latency against the integration timeout (29 s by default).";
    IntegrationNetworkError = "integration_network_error", Integration, Critical, false,
        "API Gateway cannot reach the integration (504 Network error communicating with endpoint)",
        "Check the VPC link's NLB: listeners on the integration port, target health, and that the targets accept connections on the target port.";
    IntegrationInternalError = "integration_internal_error", Integration, Critical, false,
        "The integration fails inside API Gateway (500 Internal server error)",
        "Check the VPC link status (must be AVAILABLE), the integration's connectionId / stage variables, and backend TLS (the uri host must match the backend certificate).";
    HybridMtuBlackhole = "hybrid_mtu_blackhole", Integration, Critical, false,
        "Small answers come back through the integration, a large one stalls: a path MTU black hole",
        "Clamp the TCP MSS on the VPN / Direct Connect / transit gateway path (1379 or less for AWS Site-to-Site VPN), allow ICMP fragmentation-needed back towards the NLB's subnets, and use one MTU end to end (transit gateway: 8500, VPN: 1500).";
    IntegrationPathOrHostMappingWrong = "integration_path_or_host_mapping_wrong", Integration, Critical, false,
        "The backend knows no such path or host: the integration does not pass the call's path or host on as meant",
        "On a {proxy+} resource the integration uri must end in {proxy} with requestParameters integration.request.path.proxy = method.request.path.proxy; API Gateway sends the uri's host as Host, so a vhost-routed backend (an ingress) must serve that name (or pass the original one in a header such as X-Forwarded-Host).";
    BackendHttpError = "backend_http_error", Integration, Critical, false,
        "The backend answers with a server error",
        "The chain up to the backend works; look at the backend (its logs, its own upstreams).";
    VpceNotAvailable = "vpce_not_available", ControlPlane, Critical, true,
        "The execute-api endpoint is not available",
        "Check the endpoint's state and last error (aws ec2 describe-vpc-endpoints); repair or recreate it.";
    DnsVpcDnsAttributesDisabled = "dns_vpc_dns_attributes_disabled", ControlPlane, Critical, true,
        "The VPC's DNS support or DNS hostnames attribute is off",
        "Set enableDnsSupport and enableDnsHostnames to true on the VPC (aws ec2 modify-vpc-attribute).";
    DnsClientNotUsingVpcResolver = "dns_client_not_using_vpc_resolver", ControlPlane, Critical, true,
        "The resolver asked is not the VPC's own: it does not answer from the endpoint's private DNS",
        "Use the VPC resolver (VPC CIDR base +2, or 169.254.169.253), or forward execute-api.<region>.amazonaws.com from your DNS to a Route 53 Resolver inbound endpoint in the endpoint's VPC; or invoke through the vpce name or the {api}-{vpce} alias, which resolve publicly.";
    DnsWrongHostnameOrPartition = "dns_wrong_hostname_or_partition", ControlPlane, Critical, true,
        "The endpoint name dialled is not one of the execute-api endpoint's DNS names",
        "Copy the endpoint's regional DNS name from its DnsEntries (aws ec2 describe-vpc-endpoints --vpc-endpoint-ids <vpce-id> --query 'VpcEndpoints[0].DnsEntries[0].DnsName'): vpce-<id>-<suffix>.execute-api.<region>.vpce.amazonaws.com, .com.cn in the China regions.";
    ClientSgOrNaclBlocksEgress = "client_sg_or_nacl_blocks_egress", ControlPlane, Critical, true,
        "This host's security groups or a network ACL drop the way to the endpoint's ENIs",
        "Allow outbound TCP 443 to the endpoint's ENIs (or its security group) on this host's security groups, and in the network ACLs of this host's subnet and the ENIs' subnets allow TCP 443 one way and the ephemeral ports (1024-65535) back.";
    ClientPathToVpceUnroutable = "client_path_to_vpce_unroutable", ControlPlane, Critical, true,
        "This host is in another VPC, and a route between it and the endpoint's ENIs is missing",
        "Add routes both ways: in this host's subnet's route table to the endpoint subnets' CIDRs, and in the endpoint subnets' route table back to this host's CIDR, through the peering connection or transit gateway (with its own route tables' associations and routes).";
    DefaultExecuteApiEndpointDisabled = "default_execute_api_endpoint_disabled", ControlPlane, Critical, true,
        "The API's default execute-api endpoint is disabled: only its custom domain names reach it",
        "Call the API through its private custom domain name, or turn the default endpoint back on (aws apigateway update-rest-api --patch-operations op=replace,path=/disableExecuteApiEndpoint,value=false) and deploy.";
    StrictAccessModeSniMismatch = "strict_access_mode_sni_mismatch", ControlPlane, Critical, true,
        "The API's endpoint access mode is STRICT and the call's SNI does not match its Host (vpce-host)",
        "Call the API's private DNS name or a private custom domain name (SNI = Host), or set the API's endpointAccessMode to BASIC (aws apigateway update-rest-api --patch-operations op=replace,path=/endpointAccessMode,value=BASIC).";
    PublicApiBlockedByPrivateDns = "public_api_blocked_by_private_dns", ControlPlane, Critical, true,
        "A public API is called from a VPC whose execute-api endpoint has private DNS on",
        "Call public APIs through a custom domain name, or turn private DNS off and invoke private APIs through the vpce name or the alias.";
    ApiNotPrivateOrWrongApi = "api_not_private_or_wrong_api", ControlPlane, Critical, true,
        "The API is not a PRIVATE API (or not the API meant)",
        "Check the API id, and convert the API to PRIVATE with this endpoint in its vpcEndpointIds if it must be private.";
    PolicyChangedNotRedeployed = "policy_changed_not_redeployed", ControlPlane, Critical, true,
        "The resource policy was changed but the stage was not deployed since",
        "Deploy the API (aws apigateway create-deployment --rest-api-id <id> --stage-name <stage>).";
    MethodNotDeployed = "method_not_deployed", ControlPlane, Critical, true,
        "A method exists in the API but not in the stage's deployment",
        "Deploy the API so the stage's snapshot includes the method.";
    VpcLinkFailed = "vpc_link_failed", ControlPlane, Critical, true,
        "The VPC link is FAILED",
        "Read the VPC link's statusMessage; recreate it against a dedicated NLB and update the integrations, then deploy.";
    VpcLinkPending = "vpc_link_pending", ControlPlane, Warning, true,
        "The VPC link is still PENDING",
        "Wait for the VPC link to become AVAILABLE (2-4 minutes), then deploy.";
    NlbNoHealthyTargets = "nlb_no_healthy_targets", ControlPlane, Critical, true,
        "The VPC link's NLB has no healthy target",
        "Fix target health by its reason code: target security groups, health-check port and path, and the targets themselves.";
    NlbTargetIpDrift = "nlb_target_ip_drift", ControlPlane, Critical, true,
        "The NLB's IP targets are not the current ENI IPs of the endpoint they should point at",
        "Register the endpoint's current ENI IPs in the target group and deregister the stale ones; automate it on endpoint changes.";
    NlbTargetAzNotEnabled = "nlb_target_az_not_enabled", ControlPlane, Critical, true,
        "Targets sit in an Availability Zone the NLB does not enable",
        "Enable that AZ on the NLB, enable cross-zone load balancing, or move the targets.";
    EndpointConnectionPendingAcceptance = "endpoint_connection_pending_acceptance", ControlPlane, Critical, true,
        "The cross-account endpoint connection awaits the provider's acceptance",
        "The provider accepts it: aws ec2 accept-vpc-endpoint-connections --service-id <vpce-svc> --vpc-endpoint-ids <vpce>.";
    EndpointConnectionRejectedOrExpired = "endpoint_connection_rejected_or_expired", ControlPlane, Critical, true,
        "The cross-account endpoint connection was rejected, expired or deleted",
        "The provider re-accepts, or the consumer recreates the endpoint (then re-register its ENI IPs as NLB targets).";
    TargetSgBlocksNlb = "target_sg_blocks_nlb", ControlPlane, Critical, true,
        "The NLB's targets (a PrivateLink endpoint's ENIs) do not admit the NLB",
        "Allow the target port (and the health-check port) on the endpoint's security group from the NLB's subnets' CIDRs or the NLB's security group: IP targets see the NLB's own addresses.";
    PrivatelinkAzMismatch = "privatelink_az_mismatch", ControlPlane, Warning, true,
        "The PrivateLink endpoint has ENIs in Availability Zones where the provider's NLB has no node",
        "Keep the consumer endpoint's subnets in AZs (by AZ id) the provider's NLB serves, or have the provider add those AZs to the NLB; calls through the ENIs in those AZs fail meanwhile.";
    EndpointServicePermissionMissing = "endpoint_service_permission_missing", ControlPlane, Critical, true,
        "The consumer's account is not among the endpoint service's allowed principals, and its connection is refused",
        "The provider adds the consumer's account (or role) to the service's allowed principals (aws ec2 modify-vpc-endpoint-service-permissions --service-id <vpce-svc> --add-allowed-principals arn:aws:iam::<account>:root), then accepts the connection or the consumer recreates the endpoint.";
    ProviderNlbUnhealthy = "provider_nlb_unhealthy", ControlPlane, Critical, true,
        "The provider's NLB behind the PrivateLink endpoint service has no healthy target",
        "In the provider account, fix the targets behind the endpoint service's NLB (the EKS service and its pods, their security groups, the health-check port and path); the consumer side is fine.";
    HybridTargetUnreachable = "hybrid_target_unreachable", ControlPlane, Critical, true,
        "The NLB's IP target in another network is unreachable",
        "Check routes (VPC, Transit Gateway, Direct Connect / VPN), NACLs and the remote firewall for the NLB subnets' CIDRs on the target and health-check ports.";
    ApiKeyRequired = "api_key_required", ControlPlane, Critical, true,
        "The methods require an API key the call does not carry (403 Forbidden)",
        "Send x-api-key with a key of a usage plan bound to this stage (aws apigateway get-usage-plans --key-id <key-id>), or set apiKeyRequired=false on the method if no key is intended, then deploy.";
    WafBlocked = "waf_blocked", ControlPlane, Critical, true,
        "The stage's AWS WAF web ACL blocks the calls (403 Forbidden)",
        "Find the rule that blocks in the web ACL's sampled requests or logs (aws wafv2 get-sampled-requests), and allow the callers or exempt the path.";
    VpcLinkEndpointServiceBroken = "vpc_link_endpoint_service_broken", ControlPlane, Critical, true,
        "The endpoint service API Gateway made on the VPC link's NLB is gone or not available",
        "Do not delete or modify the VPC-link-managed endpoint service; recreate the VPC link (it makes a new one), point the integrations at it and deploy.";
    VpcLinkStageVariableUnresolved = "vpc_link_stage_variable_unresolved", ControlPlane, Critical, true,
        "The integration takes its VPC link from a stage variable that names none",
        "Define the stage variable with the VPC link's id (aws apigateway update-stage --patch-operations op=replace,path=/variables/<name>,value=<vpc-link-id>), or point it at an existing VPC link, then deploy.";
    NlbSgBlocksVpclinkTraffic = "nlb_sg_blocks_vpclink_traffic", ControlPlane, Critical, true,
        "The NLB's security groups admit nothing on its listener ports, and PrivateLink traffic must pass them",
        "Allow the listener ports on the NLB's security groups (inbound), or turn off their evaluation for PrivateLink traffic (aws elbv2 set-security-groups --enforce-security-group-inbound-rules-on-private-link-traffic off).";
    NlbListenerPortMismatch = "nlb_listener_port_mismatch", ControlPlane, Critical, true,
        "The integration uri's port has no listener on the VPC link's NLB",
        "Make the integration uri's port one the NLB listens on (the uri port picks the listener; its host only sets Host and the TLS name), or add that listener, then deploy.";
    IntegrationSchemeMismatch = "integration_scheme_mismatch", ControlPlane, Critical, true,
        "The integration uri sends plain HTTP to an NLB listener that terminates TLS",
        "Make the integration uri https:// (its host then must match the listener's certificate), or give the NLB a TCP listener in front of a plain-HTTP target; then deploy.";
    HybridTargetRegistrationInvalid = "hybrid_target_registration_invalid", ControlPlane, Critical, true,
        "No target is healthy, and IP targets are registered the way ELB does not accept",
        "Register IP targets outside the VPC with AvailabilityZone=all and a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10) reachable through the VPC's routes; deregister the invalid ones.";
    HybridRouteMissing = "hybrid_route_missing", ControlPlane, Critical, true,
        "No active route leads from the NLB's subnets to its IP target in another network",
        "Add the route towards the target's network (transit gateway, VPN or Direct Connect gateway, peering) to the NLB subnets' route tables, replace a blackhole route, and make sure the far side routes back to the NLB subnets.";
    HybridFirewallBlocksHealthcheck = "hybrid_firewall_blocks_healthcheck", ControlPlane, Critical, true,
        "The route to the IP target in another network exists, but the target does not answer",
        "Allow the NLB subnets' CIDRs on the target and health-check ports in the far side's firewall (client IP preservation is off for IP targets: the target sees the NLB's addresses), and check its return route to those subnets.";
    IntegrationTlsHostnameMismatch = "integration_tls_hostname_mismatch", ControlPlane, Critical, true,
        "The integration uri host does not match the backend's certificate",
        "Set the integration uri host to a name in the backend certificate (the VPC link still routes to the NLB), or terminate TLS on the NLB with a matching certificate.";
    IntegrationBackendCertUntrusted = "integration_backend_cert_untrusted", ControlPlane, Critical, true,
        "API Gateway does not trust the backend's certificate (self-signed, a private CA, or an incomplete chain)",
        "Give the backend (or the NLB's TLS listener) a certificate from a publicly trusted CA with its full chain, or terminate TLS on the NLB with an ACM certificate; API Gateway trusts no private CA for HTTP integrations.";
    IntegrationBackendCertExpired = "integration_backend_cert_expired", ControlPlane, Critical, true,
        "The backend's certificate is expired",
        "Renew the backend's (or the NLB TLS listener's) certificate; API Gateway refuses an expired one on every call.";
    IntegrationEndpointAddressInvalid = "integration_endpoint_address_invalid", ControlPlane, Critical, true,
        "API Gateway cannot use the integration's endpoint address",
        "Fix the integration uri: a well-formed http(s)://host[:port]/path whose host resolves (the VPC link routes to the NLB whatever the host, but it must be a valid name), then deploy the stage.";
    VpceEndpointPolicyDenies = "vpce_endpoint_policy_denies", Api, Critical, true,
        "The execute-api endpoint's own policy does not allow this call",
        "Allow execute-api:Invoke on the API's ARN in the endpoint's policy (aws ec2 modify-vpc-endpoint --vpc-endpoint-id <vpce-id> --policy-document file://policy.json); the API's resource policy must allow the endpoint too.";
    ApiReachablePublicly = "api_reachable_publicly", Exposure, Critical, false,
        "The private API answers on its public execute-api name from outside the VPC",
        "Find what serves it publicly: the API's endpoint type (aws apigateway get-rest-api: it must be PRIVATE), a public custom domain mapping to it, or a proxy; make the API PRIVATE, remove the public mapping, and check the resource policy denies every caller outside your endpoints.";
    PolicyOpenToAnyEndpoint = "policy_open_to_any_endpoint", Exposure, Warning, true,
        "The resource policy lets any execute-api endpoint of any AWS account invoke the API",
        "Limit the Allow to your endpoints or VPCs: add a Deny with StringNotEquals aws:SourceVpce (or aws:SourceVpc) listing them, as the seed's policy does, then deploy the API.";
    PolicyAllowsUnknownEndpoints = "policy_allows_unknown_endpoints", Exposure, Warning, true,
        "The resource policy allows endpoints or VPCs that are neither this account's nor associated with the API",
        "Check each endpoint or VPC listed is meant to invoke the API (another account's consumer, an old endpoint); remove those that are not from the policy and deploy.";
    PolicyEndpointAssociationMismatch = "policy_endpoint_association_mismatch", Exposure, Warning, true,
        "The API's associated endpoints and the endpoints its resource policy allows disagree",
        "Make vpcEndpointIds and the policy name the same endpoints: allow an associated endpoint that must call the API (or dissociate it), associate an allowed endpoint whose clients use the {api}-{vpce} alias.";
    VpcePolicyAllowsAll = "vpce_policy_allows_all", Exposure, Warning, true,
        "The execute-api endpoint's policy allows everything, and the API relies on it to say who may call",
        "Give the endpoint a policy that allows execute-api:Invoke on your APIs only (and for your principals), so that workloads in the VPC cannot call other accounts' private APIs through it.";
    ExecutionLoggingDisabled = "execution_logging_disabled", ControlPlane, Info, true,
        "The stage writes no execution log: AWS's own account of the failures cannot be quoted",
        "Set the stage's logging level to ERROR (or INFO) and, once per region, the account's CloudWatch role for API Gateway; the evidence has the commands.";
    PlanesDisagree = "planes_disagree", ControlPlane, Info, true,
        "The control plane predicts a failure that the probes did not see",
        "Nothing failed on the data plane. Check the likely reasons in the evidence: the address the endpoint sees (source NAT, a proxy, a container network), a rule pgw cannot evaluate, a change not deployed yet, or a change in flight. Run again to see whether it persists.";
}

/// The data-plane ids of the first release's interface contract (each needs a lab scenario).
pub const INTERFACE_DATA_PLANE_IDS: &[FindingId] = &[
    FindingId::DnsPrivateDnsDisabled,
    FindingId::DnsNxdomain,
    FindingId::DnsResolverFailure,
    FindingId::DnsVpceAliasNotAssociated,
    FindingId::VpceSgBlocks443,
    FindingId::VpceEniUnreachable,
    FindingId::ClientTlsNameMismatch,
    FindingId::TlsUntrustedCa,
    FindingId::MissingHostOrApigwApiIdHeader,
    FindingId::StageNotFound,
    FindingId::MissingRootAnyMethod,
    FindingId::MissingProxyMethod,
    FindingId::ResourcePolicyDeniesVpce,
    FindingId::ResourcePolicyMissing,
    FindingId::IamAuthRequired,
    FindingId::IntegrationTimeout,
    FindingId::IntegrationNetworkError,
    FindingId::IntegrationInternalError,
    FindingId::BackendHttpError,
    FindingId::Throttled,
];

/// The control-plane ids of the first release's interface contract.
pub const INTERFACE_CONTROL_PLANE_IDS: &[FindingId] = &[
    FindingId::VpceNotAvailable,
    FindingId::DnsVpcDnsAttributesDisabled,
    FindingId::PublicApiBlockedByPrivateDns,
    FindingId::ApiNotPrivateOrWrongApi,
    FindingId::PolicyChangedNotRedeployed,
    FindingId::MethodNotDeployed,
    FindingId::VpcLinkFailed,
    FindingId::VpcLinkPending,
    FindingId::NlbNoHealthyTargets,
    FindingId::NlbTargetIpDrift,
    FindingId::NlbTargetAzNotEnabled,
    FindingId::EndpointConnectionPendingAcceptance,
    FindingId::EndpointConnectionRejectedOrExpired,
    FindingId::HybridTargetUnreachable,
    FindingId::IntegrationTlsHostnameMismatch,
];

/// The catalog entry of `id`.
pub fn entry(id: FindingId) -> &'static CatalogEntry {
    &CATALOG[id as usize]
}

/// The id spelled `s`, if the catalog has it.
pub fn parse_id(s: &str) -> Option<FindingId> {
    CATALOG.iter().map(|e| e.id).find(|id| id.as_str() == s)
}

/// A diagnosed problem: a catalog id with the evidence that led to it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    pub layer: Layer,
    pub title: String,
    pub evidence: Vec<String>,
    pub fix: String,
    pub runbook: String,
    pub confidence: Confidence,
    pub alternatives: Vec<FindingId>,
}

impl Finding {
    /// A finding of catalog id `id` with the catalog's defaults.
    pub fn new(id: FindingId, evidence: Vec<String>) -> Finding {
        let e = entry(id);
        Finding {
            id: e.id,
            severity: e.severity,
            layer: e.layer,
            title: e.title.to_string(),
            evidence,
            fix: e.fix.to_string(),
            runbook: format!("docs/runbooks/{}.md", e.id),
            confidence: Confidence::Likely,
            alternatives: Vec::new(),
        }
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    pub fn alternatives(mut self, ids: &[FindingId]) -> Self {
        self.alternatives = ids.to_vec();
        self
    }

    /// Whether this finding makes the verdict unhealthy.
    /// Whether it makes the chain unhealthy: critical, or a warning about the chain (an exposure
    /// warning says who else can reach the API, not that the call fails).
    pub fn is_problem(&self) -> bool {
        match self.severity {
            Severity::Critical => true,
            Severity::Warning => self.layer != Layer::Exposure,
            Severity::Info => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for e in CATALOG {
            assert!(seen.insert(e.id.as_str()), "duplicate id {}", e.id);
            assert!(
                e.id.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                e.id
            );
            assert!(!e.fix.is_empty() && !e.title.is_empty());
        }
    }

    #[test]
    fn every_id_finds_its_own_entry_and_parses_back() {
        for e in CATALOG {
            assert_eq!(entry(e.id).id, e.id);
            assert_eq!(parse_id(e.id.as_str()), Some(e.id));
        }
        assert_eq!(parse_id("no_such_id"), None);
    }
}

/// What the policies say of one probed method and path through the client's endpoint, beside
/// what the call got: a policy that allows more (or less) than meant shows here.
#[derive(Debug, Clone, Serialize)]
pub struct PathPolicy {
    pub method: String,
    pub path: String,
    /// The endpoint the calls came through (`aws:SourceVpce`).
    pub endpoint: String,
    /// The API's resource policy: `allow`, `explicit_deny`, `implicit_deny`, `unknown`.
    pub resource_policy: &'static str,
    /// The endpoint's own policy, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_policy: Option<&'static str>,
    /// What the first call on the path got (`200`, `403 AccessDeniedException`), if it got an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// One cause of the failures a stage's execution log holds for a recent window (`--since`).
#[derive(Debug, Clone, Serialize)]
pub struct RecentFailure {
    /// The finding id the line names; `None` for a line pgw has no id for.
    pub id: Option<FindingId>,
    /// One such line, as logged (after the request id).
    pub line: String,
    pub count: u64,
    /// When the first and the last were logged (RFC 3339, UTC).
    pub first_seen: String,
    pub last_seen: String,
    /// One request that failed so (`x-amzn-RequestId`).
    pub example_request_id: String,
    /// Whether the live diagnosis names the same cause (then it is ranked first).
    pub in_diagnosis: bool,
    /// The search hit its bound: there may be more than `count`.
    pub at_least: bool,
}
