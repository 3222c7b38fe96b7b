//! AWS control plane: read the chain (API Gateway, EC2, ELBv2, cross-account connections) into
//! [`ControlFacts`](crate::facts::control::ControlFacts), in the order of docs/architecture.md, every call bounded by the deadline.
//! Reads go through the [`Inventory`] trait; [`sdk`] implements it with the AWS SDK. A failed call
//! is recorded, never fatal: the rest of the diagnosis still comes out.

pub mod imds;
pub mod logs;
pub mod sdk;

use std::collections::BTreeMap;
use std::future::Future;

use tokio::time::Instant;

use crate::facts::control::*;

/// Why an AWS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AccessDenied,
    Throttled,
    /// No or invalid credentials.
    Credentials,
    /// No answer: network, endpoint URL, or the deadline.
    Unreachable,
    Other,
}

/// A failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

/// The reads pgw makes. Implemented by [`sdk::SdkInventory`]; tests use fakes.
pub trait Inventory {
    fn get_rest_api(&self, api_id: &str)
        -> impl Future<Output = Result<Option<RestApi>, AwsError>>;
    /// The names of the API's stages (the doctor's stage discovery).
    fn get_stages(&self, api_id: &str) -> impl Future<Output = Result<Vec<String>, AwsError>>;
    fn get_stage(
        &self,
        api_id: &str,
        stage: &str,
    ) -> impl Future<Output = Result<Option<Stage>, AwsError>>;
    /// Methods per path of a deployment's `apiSummary`.
    fn get_deployment_summary(
        &self,
        api_id: &str,
        deployment_id: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<String>>, AwsError>>;
    fn get_resources(&self, api_id: &str) -> impl Future<Output = Result<Vec<Resource>, AwsError>>;
    fn get_vpc_link(&self, id: &str) -> impl Future<Output = Result<VpcLink, AwsError>>;
    /// DescribeVpcEndpoints with filters (+ DescribeNetworkInterfaces for their ENIs).
    fn describe_endpoints(
        &self,
        filters: &[(&str, &str)],
    ) -> impl Future<Output = Result<Vec<Endpoint>, AwsError>>;
    fn describe_sg_rules(
        &self,
        group_ids: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<SgRule>>, AwsError>>;
    fn describe_vpc_dns(
        &self,
        vpc_id: &str,
    ) -> impl Future<Output = Result<(bool, bool), AwsError>>;
    /// DescribeNetworkInterfaces at private address `ip`, in any VPC: this host's own interface
    /// (none when pgw does not run on EC2 in this account; several when VPCs overlap).
    fn describe_client_enis(
        &self,
        ip: std::net::IpAddr,
    ) -> impl Future<Output = Result<Vec<ClientEni>, AwsError>>;
    /// DescribeNetworkAcls of a VPC.
    fn describe_network_acls(
        &self,
        vpc_id: &str,
    ) -> impl Future<Output = Result<Vec<NetworkAcl>, AwsError>>;
    /// DescribeVpcs: the VPC's associated IPv4 and IPv6 CIDR blocks.
    fn describe_vpc_cidrs(
        &self,
        vpc_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>>;
    /// DescribeLoadBalancers: the load balancer alone (no listeners, no target groups).
    fn describe_load_balancer(&self, arn: &str) -> impl Future<Output = Result<Nlb, AwsError>>;
    /// DescribeListeners of a load balancer.
    fn describe_listeners(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<Listener>, AwsError>>;
    /// DescribeTargetGroups of a load balancer (targets empty).
    fn describe_target_groups(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<TargetGroup>, AwsError>>;
    /// DescribeTargetHealth of one target group.
    fn describe_target_health(
        &self,
        tg_arn: &str,
    ) -> impl Future<Output = Result<Vec<Target>, AwsError>>;
    /// DescribeRouteTables of a VPC.
    fn describe_route_tables(
        &self,
        vpc_id: &str,
    ) -> impl Future<Output = Result<Vec<RouteTable>, AwsError>>;
    /// DescribeSubnets: each subnet's CIDR block and AZ id, by id.
    fn describe_subnets(
        &self,
        subnet_ids: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Subnet>, AwsError>>;
    /// DescribeVpcEndpointServicePermissions: the principals allowed to connect to a service.
    fn describe_service_permissions(
        &self,
        service_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>>;
    /// GetAccount: the account's CloudWatch Logs role for API Gateway (`cloudwatchRoleArn`),
    /// `None` when unset.
    fn get_account_role(&self) -> impl Future<Output = Result<Option<String>, AwsError>>;
    /// FilterLogEvents in `group` matching `pattern` between `start_ms` and `end_ms` (Unix ms):
    /// the events in time order, at most `max`. A group that does not exist has no events.
    fn filter_log_events(
        &self,
        group: &str,
        pattern: &str,
        start_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<LogEvent>, AwsError>>;
    /// GetDomainNameAccessAssociations (resourceOwner=SELF): this account's domain name access
    /// associations.
    fn get_domain_access_associations(
        &self,
    ) -> impl Future<Output = Result<Vec<AccessAssociation>, AwsError>>;
    /// GetDomainName of `name` (with its `domainNameId`: a private domain needs it); `None` when
    /// not found.
    fn get_domain_name(
        &self,
        name: &str,
        id: Option<&str>,
    ) -> impl Future<Output = Result<Option<DomainName>, AwsError>>;
    /// GetBasePathMappings of the domain `name` (and `domainNameId`).
    fn get_base_path_mappings(
        &self,
        name: &str,
        id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<BasePathMapping>, AwsError>>;
    /// The same reads in `account`, through its role (`None` without one).
    fn in_account(&self, account: &str) -> Option<Self>
    where
        Self: Sized;
    /// DescribeVpcEndpointServiceConfigurations: the account's endpoint services, with their
    /// state and the NLBs behind each.
    fn describe_endpoint_services(
        &self,
    ) -> impl Future<Output = Result<Vec<EndpointService>, AwsError>>;
    /// Accounts with an assumable role.
    fn role_accounts(&self) -> Vec<String>;
    /// Provider-side endpoint connection states in `account`, by consumer endpoint id.
    fn describe_connections(
        &self,
        account: &str,
        endpoint_ids: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>>;
}

/// Records calls and bounds each by the deadline.
struct Recorder {
    calls: std::sync::Mutex<Vec<AwsCall>>,
    deadline: Instant,
}

impl Recorder {
    async fn call<T>(
        &self,
        op: Operation,
        f: impl Future<Output = Result<T, AwsError>>,
    ) -> Option<T> {
        self.try_call(op, f).await.ok()
    }

    /// [`Recorder::call`], keeping the error.
    async fn try_call<T>(
        &self,
        op: Operation,
        f: impl Future<Output = Result<T, AwsError>>,
    ) -> Result<T, AwsError> {
        debug_assert!(op.recorded(), "{op} is not recorded");
        let start = Instant::now();
        let r = match tokio::time::timeout_at(self.deadline, f).await {
            Ok(r) => r,
            Err(_) => Err(AwsError {
                kind: ErrorKind::Unreachable,
                message: "deadline passed before an answer".into(),
            }),
        };
        self.calls.lock().expect("poisoned").push(AwsCall {
            operation: op,
            ok: r.is_ok(),
            error: r.as_ref().err().map(|e| e.message.clone()),
            duration: start.elapsed(),
        });
        r
    }
}

/// An NLB with its listeners, target groups and their targets' health: four ELBv2 operations,
/// each recorded under its own name. `None` unless the load balancer, its target groups and the
/// health of every target group were read: targets of unknown health must not count as none or
/// as unhealthy. Without its listeners (`None`) the NLB still counts.
async fn read_nlb<I: Inventory>(rec: &Recorder, inv: &I, arn: &str) -> Option<Nlb> {
    let mut nlb = rec
        .call(
            Operation::DescribeLoadBalancers,
            inv.describe_load_balancer(arn),
        )
        .await?;
    let (listeners, groups) = tokio::join!(
        rec.call(Operation::DescribeListeners, inv.describe_listeners(arn)),
        rec.call(
            Operation::DescribeTargetGroups,
            inv.describe_target_groups(arn)
        ),
    );
    nlb.listeners = listeners;
    let mut complete = true;
    for mut tg in groups? {
        match rec
            .call(
                Operation::DescribeTargetHealth,
                inv.describe_target_health(&tg.arn),
            )
            .await
        {
            Some(targets) => tg.targets = targets,
            None => complete = false,
        }
        nlb.target_groups.push(tg);
    }
    complete.then_some(nlb)
}

/// The private custom domain name called: its name and, when configured, its `domainNameId`.
#[derive(Debug, Clone, Copy)]
pub struct DomainQuery<'a> {
    pub name: &'a str,
    pub id: Option<&'a str>,
}

/// Read the whole chain of `api_id` / `stage` in `region` (and the custom `domain` called
/// through), finishing by `deadline`.
pub async fn gather<I: Inventory>(
    inv: &I,
    api_id: &str,
    stage: &str,
    region: &str,
    domain: Option<DomainQuery<'_>>,
    deadline: Instant,
) -> ControlFacts {
    let rec = Recorder {
        calls: std::sync::Mutex::new(Vec::new()),
        deadline,
    };
    let mut cf = ControlFacts::default();
    read_api_and_endpoints(&rec, inv, api_id, stage, region, &mut cf).await;
    let domain_read = async {
        match domain {
            Some(q) => Some(read_domain(&rec, inv, q).await),
            None => None,
        }
    };
    let (_, domain) = tokio::join!(read_endpoint_network(&rec, inv, &mut cf), domain_read);
    cf.domain = domain;
    read_integration(&rec, inv, &mut cf).await;
    cf.calls = rec.calls.into_inner().expect("poisoned");
    cf
}

/// The API, its stage and deployed snapshot, its resources, and the execute-api endpoints.
async fn read_api_and_endpoints<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    api_id: &str,
    stage: &str,
    region: &str,
    cf: &mut ControlFacts,
) {
    let service = format!("com.amazonaws.{region}.execute-api");
    let by_service = [("service-name", service.as_str())];
    let (api, stage_r, resources, endpoints) = tokio::join!(
        rec.call(Operation::GetRestApi, inv.get_rest_api(api_id)),
        rec.call(Operation::GetStage, inv.get_stage(api_id, stage)),
        rec.call(Operation::GetResources, inv.get_resources(api_id)),
        rec.call(
            Operation::DescribeVpcEndpoints,
            inv.describe_endpoints(&by_service)
        ),
    );
    match api {
        Some(Some(a)) => cf.api = Some(a),
        Some(None) => cf.api_not_found = true,
        None => {}
    }
    let stage_missing = matches!(stage_r, Some(None));
    cf.stage = stage_r.flatten();
    cf.resources = resources;
    cf.execute_api_endpoints = endpoints.unwrap_or_default();
    if stage_missing {
        rec.calls
            .lock()
            .expect("poisoned")
            .iter_mut()
            .filter(|c| c.operation == Operation::GetStage)
            .for_each(|c| c.error = Some("NotFoundException: stage not found".into()));
    }
    if let Some(dep) = cf.stage.as_ref().and_then(|s| s.deployment_id.clone()) {
        cf.deployed = rec
            .call(
                Operation::GetDeployment,
                inv.get_deployment_summary(api_id, &dep),
            )
            .await;
    }
}

/// The private custom domain: this account's access associations, then the domain and its base
/// path mappings, in the provider's account when the association names another one with a role.
/// The domain's id comes from the configuration, else from an association to a domain of that
/// name; without one the domain is not read (API Gateway finds a private domain by name and id
/// only).
async fn read_domain<I: Inventory>(rec: &Recorder, inv: &I, q: DomainQuery<'_>) -> DomainFacts {
    let op = Operation::GetDomainNameAccessAssociations;
    let associations = rec.call(op, inv.get_domain_access_associations()).await;
    let named = associations.iter().flatten().find_map(|a| {
        a.domain()
            .filter(|(name, id, _)| {
                name.eq_ignore_ascii_case(q.name) && q.id.is_none_or(|want| want == *id)
            })
            .map(|(_, id, account)| (id.to_string(), account.to_string()))
    });
    let id =
        q.id.map(str::to_string)
            .or(named.as_ref().map(|n| n.0.clone()));
    let provider = named.and_then(|(_, account)| inv.in_account(&account));
    let (domain, mappings) = match (&provider, id.as_deref()) {
        (_, None) => (None, None),
        (Some(p), Some(id)) => read_domain_name(rec, p, q.name, id).await,
        (None, Some(id)) => read_domain_name(rec, inv, q.name, id).await,
    };
    DomainFacts {
        associations,
        not_found: matches!(domain, Some(None)),
        domain: domain.flatten(),
        mappings,
    }
}

async fn read_domain_name<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    name: &str,
    id: &str,
) -> (Option<Option<DomainName>>, Option<Vec<BasePathMapping>>) {
    tokio::join!(
        rec.call(
            Operation::GetDomainName,
            inv.get_domain_name(name, Some(id))
        ),
        rec.call(
            Operation::GetBasePathMappings,
            inv.get_base_path_mappings(name, Some(id))
        ),
    )
}

/// Sorted, deduplicated.
fn unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Those of security groups `groups` whose rules are not read yet, sorted and deduplicated.
fn unread_groups(cf: &ControlFacts, groups: impl IntoIterator<Item = String>) -> Vec<String> {
    unique(
        groups
            .into_iter()
            .filter(|g| !cf.sg_rules.contains_key(g))
            .collect(),
    )
}

/// The rules of `groups`, in one call (no call when there is none).
async fn sg_rules_of<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    groups: &[String],
) -> Option<BTreeMap<String, Vec<SgRule>>> {
    if groups.is_empty() {
        return None;
    }
    let op = Operation::DescribeSecurityGroupRules;
    rec.call(op, inv.describe_sg_rules(groups)).await
}

/// The rules of those of `groups` not read yet.
async fn read_sg_rules<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    cf: &mut ControlFacts,
    groups: impl IntoIterator<Item = String>,
) {
    let groups = unread_groups(cf, groups);
    cf.sg_rules
        .extend(sg_rules_of(rec, inv, &groups).await.unwrap_or_default());
}

/// Around the execute-api endpoints: their security group rules, and per VPC its DNS attributes,
/// its CIDR blocks and this host's own interface (in that VPC or another one; when another, the
/// route tables of both).
async fn read_endpoint_network<I: Inventory>(rec: &Recorder, inv: &I, cf: &mut ControlFacts) {
    let groups: Vec<String> = cf
        .execute_api_endpoints
        .iter()
        .flat_map(|e| e.security_groups.clone())
        .collect();
    read_sg_rules(rec, inv, cf, groups).await;
    let eps = &cf.execute_api_endpoints;
    let vpcs = unique(eps.iter().filter_map(|e| e.vpc_id.clone()).collect());
    for vpc in vpcs {
        // The address this host reaches the VPC's endpoint ENIs from: its interface, if any.
        let source = cf
            .execute_api_endpoints
            .iter()
            .filter(|e| e.vpc_id.as_deref() == Some(vpc.as_str()))
            .flat_map(|e| e.ips())
            .find_map(|ip| crate::probe::source_ip(std::net::SocketAddr::new(ip, 443)));
        let client = async {
            let ip = source?;
            let op = Operation::DescribeNetworkInterfaces;
            rec.call(op, inv.describe_client_enis(ip)).await
        };
        let (dns, cidrs, acls, client) = tokio::join!(
            rec.call(Operation::DescribeVpcAttribute, inv.describe_vpc_dns(&vpc)),
            rec.call(Operation::DescribeVpcs, inv.describe_vpc_cidrs(&vpc)),
            rec.call(
                Operation::DescribeNetworkAcls,
                inv.describe_network_acls(&vpc)
            ),
            client,
        );
        if let Some(d) = dns {
            cf.vpc_dns.insert(vpc.clone(), d);
        }
        if let Some(c) = cidrs {
            cf.vpc_cidrs.insert(vpc.clone(), c);
        }
        if let Some(a) = acls {
            cf.network_acls.insert(vpc.clone(), a);
        }
        let mut found = client.unwrap_or_default();
        // Here, or (one interface at that address) in another VPC: then the way between the two.
        let c = match found.iter().position(|c| c.vpc_id == vpc) {
            Some(i) => found.swap_remove(i),
            None if found.len() == 1 => {
                let c = found.remove(0);
                for v in [&c.vpc_id, &vpc] {
                    read_route_tables(rec, inv, cf, v).await;
                }
                c
            }
            None => continue,
        };
        // This host's own security groups: their outbound rules.
        read_sg_rules(rec, inv, cf, c.security_groups.clone()).await;
        cf.client_enis.insert(c.vpc_id.clone(), c);
    }
}

/// The route tables of `vpc`, unless read already.
async fn read_route_tables<I: Inventory>(
    rec: &Recorder,
    inv: &I,
    cf: &mut ControlFacts,
    vpc: &str,
) {
    if cf.route_tables.contains_key(vpc) {
        return;
    }
    let op = Operation::DescribeRouteTables;
    if let Some(t) = rec.call(op, inv.describe_route_tables(vpc)).await {
        cf.route_tables.insert(vpc.to_string(), t);
    }
}

/// Behind the integrations: VPC links, their NLBs, what lies around the NLBs, and with a role in
/// the provider account the provider side of seed path A.
async fn read_integration<I: Inventory>(rec: &Recorder, inv: &I, cf: &mut ControlFacts) {
    read_links_and_nlbs(rec, inv, cf).await;
    if cf.nlbs.is_empty() {
        return;
    }
    read_around_nlbs(rec, inv, cf).await;
    let ids: Vec<String> = cf.service_endpoints.iter().map(|e| e.id.clone()).collect();
    if ids.is_empty() {
        return;
    }
    for account in inv.role_accounts() {
        let op = Operation::DescribeVpcEndpointConnections;
        if let Some(m) = rec.call(op, inv.describe_connections(&account, &ids)).await {
            cf.provider_connections.extend(m);
        }
    }
    read_provider_nlbs(rec, inv, cf).await;
}

/// The VPC links the integrations use (a link that does not exist is kept as such) and their NLBs.
async fn read_links_and_nlbs<I: Inventory>(rec: &Recorder, inv: &I, cf: &mut ControlFacts) {
    for id in cf.integration_links() {
        match rec
            .try_call(Operation::GetVpcLink, inv.get_vpc_link(&id))
            .await
        {
            Ok(l) => cf.vpc_links.push(l),
            Err(e) if e.is_not_found() => cf.missing_vpc_links.push(id),
            Err(_) => {}
        }
    }
    let nlb_arns: Vec<String> = cf
        .vpc_links
        .iter()
        .flat_map(|l| l.target_arns.clone())
        .filter(|a| a.contains(":loadbalancer/"))
        .collect();
    for arn in nlb_arns {
        if let Some(n) = read_nlb(rec, inv, &arn).await {
            cf.nlbs.push(n);
        }
    }
}

/// Around the VPC links' NLBs: the routes to IP targets in another network (path B), the account's
/// endpoint services (each VPC link has one on its NLB), the interface endpoints in the NLBs' VPCs
/// (path A), and the security group rules and subnets that bear on both.
async fn read_around_nlbs<I: Inventory>(rec: &Recorder, inv: &I, cf: &mut ControlFacts) {
    // The way to IP targets in another network (`AvailabilityZone=all`) starts in these routes.
    let hybrid_vpcs = unique(
        cf.nlbs
            .iter()
            .filter(|n| {
                let mut targets = n.target_groups.iter().flat_map(|t| t.targets.iter());
                targets.any(|t| t.az.as_deref() == Some("all"))
            })
            .filter_map(|n| n.vpc_id.clone())
            .collect(),
    );
    for vpc in hybrid_vpcs {
        read_route_tables(rec, inv, cf, &vpc).await;
    }
    let op = Operation::DescribeVpcEndpointServiceConfigurations;
    cf.endpoint_services = rec.call(op, inv.describe_endpoint_services()).await;
    let nlb_vpcs = unique(cf.nlbs.iter().filter_map(|n| n.vpc_id.clone()).collect());
    for vpc in nlb_vpcs {
        // Its CIDRs (whether an IP target lies outside them), unless read with the endpoints.
        if !cf.vpc_cidrs.contains_key(&vpc) {
            let op = Operation::DescribeVpcs;
            if let Some(c) = rec.call(op, inv.describe_vpc_cidrs(&vpc)).await {
                cf.vpc_cidrs.insert(vpc.clone(), c);
            }
        }
        let in_vpc = [("vpc-id", vpc.as_str()), ("vpc-endpoint-type", "Interface")];
        let found = rec
            .call(
                Operation::DescribeVpcEndpoints,
                inv.describe_endpoints(&in_vpc),
            )
            .await
            .unwrap_or_default();
        cf.service_endpoints.extend(found.into_iter().filter(|e| {
            e.service_name
                .as_deref()
                .is_some_and(|s| s.starts_with("com.amazonaws.vpce."))
        }));
    }
    // The NLBs' own security groups filter the VPC link's traffic; the PrivateLink endpoints'
    // (their ENIs are the NLBs' targets) filter the NLBs'. One read for both.
    let groups = unread_groups(
        cf,
        cf.nlbs
            .iter()
            .flat_map(|n| n.security_groups.clone())
            .chain(
                cf.service_endpoints
                    .iter()
                    .flat_map(|e| e.security_groups.clone()),
            ),
    );
    // On path A, beside it: the NLBs' subnets and those of the PrivateLink endpoints' ENIs (their
    // CIDRs and AZs).
    let subnets: Vec<String> = if cf.service_endpoints.is_empty() {
        Vec::new()
    } else {
        unique(
            cf.nlbs
                .iter()
                .flat_map(|n| n.subnets.clone())
                .chain(
                    cf.service_endpoints
                        .iter()
                        .flat_map(|e| e.eni_subnets.values().cloned()),
                )
                .collect(),
        )
    };
    let (rules, found) = tokio::join!(sg_rules_of(rec, inv, &groups), async {
        if subnets.is_empty() {
            return None;
        }
        let op = Operation::DescribeSubnets;
        rec.call(op, inv.describe_subnets(&subnets)).await
    });
    cf.sg_rules.extend(rules.unwrap_or_default());
    keep_subnets(cf, found.unwrap_or_default());
}

fn keep_subnets(cf: &mut ControlFacts, found: BTreeMap<String, Subnet>) {
    for (id, s) in found {
        if let Some(az) = s.az_id {
            cf.subnet_azs.insert(id.clone(), az);
        }
        cf.subnet_cidrs.insert(id, s.cidr);
    }
}

/// Seed path A's far end: in each account with a role, its endpoint services that the
/// PrivateLink endpoints connect to, and the NLBs behind them with their targets' health.
async fn read_provider_nlbs<I: Inventory>(rec: &Recorder, inv: &I, cf: &mut ControlFacts) {
    let wanted: Vec<String> = unique(
        cf.service_endpoints
            .iter()
            .filter_map(|e| e.service_id().map(str::to_string))
            .collect(),
    );
    if wanted.is_empty() {
        return;
    }
    for account in inv.role_accounts() {
        let Some(provider) = inv.in_account(&account) else {
            continue;
        };
        let op = Operation::DescribeVpcEndpointServiceConfigurations;
        let Some(services) = rec.call(op, provider.describe_endpoint_services()).await else {
            continue;
        };
        for service in services.into_iter().filter(|s| wanted.contains(&s.id)) {
            let mut nlbs = Vec::new();
            for arn in &service.nlb_arns {
                if let Some(n) = Box::pin(read_nlb(rec, &provider, arn)).await {
                    nlbs.push(n);
                }
            }
            // Their subnets' AZ ids, in the provider's account.
            let subnets: Vec<String> = nlbs.iter().flat_map(|n| n.subnets.clone()).collect();
            if !subnets.is_empty() {
                let op = Operation::DescribeSubnets;
                if let Some(found) = rec.call(op, provider.describe_subnets(&subnets)).await {
                    keep_subnets(cf, found);
                }
            }
            let op = Operation::DescribeVpcEndpointServicePermissions;
            let read = provider.describe_service_permissions(&service.id);
            if let Some(p) = rec.call(op, read).await {
                cf.service_principals.insert(service.id.clone(), p);
            }
            cf.provider_nlbs.insert(service.id, nlbs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NLB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/nlb-a/0a1b";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/orders/0c1d";

    /// One REST API whose method goes through VPC link `a1b2c3` to one NLB with one target
    /// group; the `denied` operations fail with AccessDenied.
    struct Fake {
        denied: Vec<Operation>,
        /// Operations answered NotFound.
        missing: Vec<Operation>,
    }

    impl Fake {
        fn allow(&self, op: Operation) -> Result<(), AwsError> {
            if self.missing.contains(&op) {
                return Err(AwsError {
                    kind: ErrorKind::NotFound,
                    message: format!("NotFoundException: {op}"),
                });
            }
            if self.denied.contains(&op) {
                Err(AwsError {
                    kind: ErrorKind::AccessDenied,
                    message: format!("AccessDenied: not authorized to perform: {op}"),
                })
            } else {
                Ok(())
            }
        }
    }

    impl Inventory for Fake {
        async fn get_rest_api(&self, api_id: &str) -> Result<Option<RestApi>, AwsError> {
            self.allow(Operation::GetRestApi)?;
            Ok(Some(RestApi {
                id: api_id.into(),
                name: "orders".into(),
                endpoint_types: vec!["PRIVATE".into()],
                vpc_endpoint_ids: vec![],
                policy: None,
                security_policy: None,
                disable_execute_api_endpoint: false,
                endpoint_access_mode: None,
            }))
        }
        async fn get_stages(&self, _: &str) -> Result<Vec<String>, AwsError> {
            self.allow(Operation::GetStages)?;
            Ok(vec!["test".into()])
        }
        async fn get_stage(&self, _: &str, stage: &str) -> Result<Option<Stage>, AwsError> {
            self.allow(Operation::GetStage)?;
            Ok(Some(Stage {
                name: stage.into(),
                deployment_id: Some("d1".into()),
                variables: BTreeMap::new(),
                web_acl_arn: None,
                logging_level: None,
            }))
        }
        async fn get_deployment_summary(
            &self,
            _: &str,
            _: &str,
        ) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
            self.allow(Operation::GetDeployment)?;
            Ok(BTreeMap::from([("/".to_string(), vec!["ANY".to_string()])]))
        }
        async fn get_resources(&self, _: &str) -> Result<Vec<Resource>, AwsError> {
            self.allow(Operation::GetResources)?;
            Ok(vec![Resource {
                path: "/".into(),
                methods: vec![Method {
                    http_method: "ANY".into(),
                    authorization_type: Some("NONE".into()),
                    api_key_required: false,
                    integration: Some(Integration {
                        kind: Some("HTTP_PROXY".into()),
                        connection_type: Some("VPC_LINK".into()),
                        connection_id: Some("a1b2c3".into()),
                        uri: None,
                        timeout_ms: Some(29000),
                        request_parameters: BTreeMap::new(),
                    }),
                }],
            }])
        }
        async fn get_vpc_link(&self, id: &str) -> Result<VpcLink, AwsError> {
            self.allow(Operation::GetVpcLink)?;
            Ok(VpcLink {
                id: id.into(),
                status: "AVAILABLE".into(),
                status_message: None,
                target_arns: vec![NLB.into()],
            })
        }
        async fn describe_endpoints(&self, _: &[(&str, &str)]) -> Result<Vec<Endpoint>, AwsError> {
            self.allow(Operation::DescribeVpcEndpoints)?;
            Ok(vec![])
        }
        async fn describe_sg_rules(
            &self,
            _: &[String],
        ) -> Result<BTreeMap<String, Vec<SgRule>>, AwsError> {
            self.allow(Operation::DescribeSecurityGroupRules)?;
            Ok(BTreeMap::new())
        }
        async fn describe_vpc_dns(&self, _: &str) -> Result<(bool, bool), AwsError> {
            self.allow(Operation::DescribeVpcAttribute)?;
            Ok((true, true))
        }
        async fn describe_client_enis(
            &self,
            _: std::net::IpAddr,
        ) -> Result<Vec<ClientEni>, AwsError> {
            self.allow(Operation::DescribeNetworkInterfaces)?;
            Ok(vec![])
        }
        async fn describe_network_acls(&self, _: &str) -> Result<Vec<NetworkAcl>, AwsError> {
            self.allow(Operation::DescribeNetworkAcls)?;
            Ok(vec![])
        }
        async fn describe_vpc_cidrs(&self, _: &str) -> Result<Vec<String>, AwsError> {
            self.allow(Operation::DescribeVpcs)?;
            Ok(vec!["10.0.0.0/16".into()])
        }
        async fn describe_load_balancer(&self, arn: &str) -> Result<Nlb, AwsError> {
            self.allow(Operation::DescribeLoadBalancers)?;
            Ok(Nlb {
                arn: arn.into(),
                name: "nlb-a".into(),
                vpc_id: Some("vpc-1".into()),
                azs: vec!["us-east-1a".into()],
                subnets: vec!["subnet-a".into()],
                security_groups: vec![],
                enforce_privatelink_sg: None,
                listeners: None,
                target_groups: vec![],
            })
        }
        async fn describe_listeners(&self, _: &str) -> Result<Vec<Listener>, AwsError> {
            self.allow(Operation::DescribeListeners)?;
            Ok(vec![Listener {
                port: 443,
                protocol: "TCP".into(),
                target_group_arns: vec![TG.into()],
            }])
        }
        async fn describe_target_groups(&self, _: &str) -> Result<Vec<TargetGroup>, AwsError> {
            self.allow(Operation::DescribeTargetGroups)?;
            Ok(vec![TargetGroup {
                arn: TG.into(),
                name: "orders".into(),
                port: Some(443),
                target_type: Some("ip".into()),
                targets: vec![],
            }])
        }
        async fn describe_target_health(&self, tg: &str) -> Result<Vec<Target>, AwsError> {
            self.allow(Operation::DescribeTargetHealth)?;
            assert_eq!(tg, TG);
            // An IP target in another network (path B).
            Ok(vec![Target {
                id: "10.0.1.5".into(),
                port: Some(443),
                az: Some("all".into()),
                state: "healthy".into(),
                reason: None,
                description: None,
            }])
        }
        async fn describe_route_tables(&self, _: &str) -> Result<Vec<RouteTable>, AwsError> {
            self.allow(Operation::DescribeRouteTables)?;
            Ok(vec![RouteTable {
                id: "rtb-1".into(),
                main: true,
                subnets: vec![],
                routes: vec![Route {
                    destination: "10.0.0.0/8".into(),
                    target: "tgw-1".into(),
                    state: "active".into(),
                }],
            }])
        }
        async fn describe_subnets(
            &self,
            ids: &[String],
        ) -> Result<BTreeMap<String, Subnet>, AwsError> {
            self.allow(Operation::DescribeSubnets)?;
            let subnet = || Subnet {
                cidr: "10.0.1.0/28".into(),
                az_id: Some("use1-az1".into()),
            };
            Ok(ids.iter().map(|i| (i.clone(), subnet())).collect())
        }
        async fn get_account_role(&self) -> Result<Option<String>, AwsError> {
            self.allow(Operation::GetAccount)?;
            Ok(None)
        }
        async fn filter_log_events(
            &self,
            _: &str,
            _: &str,
            _: i64,
            _: i64,
            _: usize,
        ) -> Result<Vec<LogEvent>, AwsError> {
            self.allow(Operation::FilterLogEvents)?;
            Ok(vec![])
        }
        async fn get_domain_access_associations(&self) -> Result<Vec<AccessAssociation>, AwsError> {
            self.allow(Operation::GetDomainNameAccessAssociations)?;
            Ok(vec![AccessAssociation {
                arn: "arn:aws:apigateway:us-east-1:111122223333:/domainnameaccessassociations/domainname/orders.internal.example.com+abc123/vpcesource/vpce-1".into(),
                domain_name_arn: "arn:aws:apigateway:us-east-1:111122223333:/domainnames/orders.internal.example.com+abc123".into(),
                source_type: "VPCE".into(),
                source: "vpce-1".into(),
            }])
        }
        async fn get_domain_name(
            &self,
            name: &str,
            id: Option<&str>,
        ) -> Result<Option<DomainName>, AwsError> {
            self.allow(Operation::GetDomainName)?;
            // A private domain is found by name and id only.
            Ok((id == Some("abc123")).then(|| DomainName {
                name: name.into(),
                id: id.map(str::to_string),
                status: Some("AVAILABLE".into()),
                ..Default::default()
            }))
        }
        async fn get_base_path_mappings(
            &self,
            _: &str,
            id: Option<&str>,
        ) -> Result<Vec<BasePathMapping>, AwsError> {
            self.allow(Operation::GetBasePathMappings)?;
            assert_eq!(id, Some("abc123"));
            Ok(vec![BasePathMapping {
                base_path: "v1".into(),
                rest_api_id: "3eqr0osoc3".into(),
                stage: Some("test".into()),
            }])
        }
        async fn describe_service_permissions(&self, _: &str) -> Result<Vec<String>, AwsError> {
            self.allow(Operation::DescribeVpcEndpointServicePermissions)?;
            Ok(vec![])
        }
        fn in_account(&self, _: &str) -> Option<Fake> {
            None
        }
        async fn describe_endpoint_services(&self) -> Result<Vec<EndpointService>, AwsError> {
            self.allow(Operation::DescribeVpcEndpointServiceConfigurations)?;
            Ok(vec![EndpointService {
                id: "vpce-svc-0a1b".into(),
                state: "Available".into(),
                nlb_arns: vec![NLB.into()],
            }])
        }
        fn role_accounts(&self) -> Vec<String> {
            vec![]
        }
        async fn describe_connections(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<BTreeMap<String, String>, AwsError> {
            self.allow(Operation::DescribeVpcEndpointConnections)?;
            Ok(BTreeMap::new())
        }
    }

    async fn read(denied: &[Operation]) -> ControlFacts {
        read_from(Fake {
            denied: denied.to_vec(),
            missing: vec![],
        })
        .await
    }

    async fn read_from(fake: Fake) -> ControlFacts {
        let deadline = Instant::now() + Duration::from_secs(5);
        gather(&fake, "3eqr0osoc3", "test", "us-east-1", None, deadline).await
    }

    /// The ELBv2 calls made, in order, with whether each succeeded.
    fn elb_calls(cf: &ControlFacts) -> Vec<(&str, bool)> {
        cf.calls
            .iter()
            .filter_map(|c| {
                let op = c.operation.as_str().strip_prefix("elasticloadbalancing:")?;
                Some((op, c.ok))
            })
            .collect()
    }

    #[test]
    fn operations_parse_back_and_name_their_service() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(*op));
            let service = op.as_str().split(':').next().unwrap();
            assert!(op.iam_action().starts_with(service), "{op}");
        }
        assert_eq!(Operation::parse("ec2:RunInstances"), None);
    }

    async fn read_domain_of(fake: Fake, id: Option<&str>) -> DomainFacts {
        let deadline = Instant::now() + Duration::from_secs(5);
        let q = DomainQuery {
            name: "orders.internal.example.com",
            id,
        };
        let cf = gather(&fake, "3eqr0osoc3", "test", "us-east-1", Some(q), deadline).await;
        cf.domain.expect("a domain read")
    }

    /// The domain's id comes from this endpoint's association when not configured; the domain and
    /// its mappings are read with it.
    #[tokio::test]
    async fn a_private_domain_is_read_with_the_id_its_association_names() {
        let d = read_domain_of(
            Fake {
                denied: vec![],
                missing: vec![],
            },
            None,
        )
        .await;
        assert_eq!(d.associations.as_ref().map(Vec::len), Some(1));
        assert_eq!(d.domain.unwrap().id.as_deref(), Some("abc123"));
        assert!(!d.not_found);
        assert_eq!(d.mappings.unwrap()[0].base_path, "v1");
    }

    /// Associations denied: with the id configured, the domain is read; without, it is not (a
    /// private domain is found by name and id only), and nothing claims it missing.
    #[tokio::test]
    async fn denied_associations_leave_the_configured_id() {
        let denied = || Fake {
            denied: vec![Operation::GetDomainNameAccessAssociations],
            missing: vec![],
        };
        let d = read_domain_of(denied(), Some("abc123")).await;
        assert!(d.associations.is_none());
        assert_eq!(d.domain.unwrap().status.as_deref(), Some("AVAILABLE"));
        let d = read_domain_of(denied(), None).await;
        assert!(d.domain.is_none() && d.mappings.is_none() && !d.not_found);
        let a = AccessAssociation {
            arn: String::new(),
            domain_name_arn:
                "arn:aws:apigateway:us-east-1:444455556666:/domainnames/a.example.com+x1".into(),
            source_type: "VPCE".into(),
            source: "vpce-1".into(),
        };
        assert_eq!(a.domain(), Some(("a.example.com", "x1", "444455556666")));
    }

    #[tokio::test]
    async fn a_full_read_records_every_recorded_operation() {
        let cf = read(&[]).await;
        let mut seen: Vec<Operation> = cf.calls.iter().map(|c| c.operation).collect();
        seen.sort();
        seen.dedup();
        // The fake has no endpoint, so no security group, VPC attribute or connection read (the
        // NLB's VPC's CIDRs are read).
        let mut want: Vec<Operation> = Operation::ALL
            .iter()
            .copied()
            .filter(|o| o.recorded())
            .filter(|o| {
                ![
                    Operation::DescribeSecurityGroupRules,
                    Operation::DescribeVpcAttribute,
                    Operation::DescribeNetworkInterfaces,
                    Operation::DescribeVpcEndpointConnections,
                    // Read after the probes, for what failed: `logs::read_execution_logs`.
                    Operation::GetAccount,
                    Operation::FilterLogEvents,
                    Operation::DescribeSubnets,
                    Operation::DescribeNetworkAcls,
                    Operation::DescribeVpcEndpointServicePermissions,
                    // Discovery only (pgw-agent --discovery).
                    Operation::GetRestApis,
                    // The custom-domain route only (its own tests above).
                    Operation::GetDomainNameAccessAssociations,
                    Operation::GetDomainName,
                    Operation::GetBasePathMappings,
                ]
                .contains(o)
            })
            .collect();
        want.sort();
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn each_elbv2_call_is_recorded_under_its_own_operation() {
        let cf = read(&[]).await;
        assert_eq!(
            elb_calls(&cf),
            [
                ("DescribeLoadBalancers", true),
                ("DescribeListeners", true),
                ("DescribeTargetGroups", true),
                ("DescribeTargetHealth", true),
            ]
        );
        assert_eq!(cf.nlbs.len(), 1);
        assert_eq!(cf.nlbs[0].listeners.as_ref().map(Vec::len), Some(1));
        assert_eq!(cf.nlbs[0].target_groups[0].targets[0].id, "10.0.1.5");
        // A target in another network: the NLB VPC's routes are read.
        assert_eq!(cf.route_tables["vpc-1"][0].routes[0].target, "tgw-1");
    }

    #[tokio::test]
    async fn a_vpc_link_that_does_not_exist_is_named() {
        let cf = read_from(Fake {
            denied: vec![],
            missing: vec![Operation::GetVpcLink],
        })
        .await;
        assert_eq!(cf.missing_vpc_links, ["a1b2c3"]);
        assert!(cf.vpc_links.is_empty() && cf.nlbs.is_empty());
        // Denied is not missing.
        let cf = read(&[Operation::GetVpcLink]).await;
        assert!(cf.missing_vpc_links.is_empty());
    }

    #[tokio::test]
    async fn denied_target_health_is_named_and_leaves_no_nlb() {
        let cf = read(&[Operation::DescribeTargetHealth]).await;
        assert_eq!(
            elb_calls(&cf),
            [
                ("DescribeLoadBalancers", true),
                ("DescribeListeners", true),
                ("DescribeTargetGroups", true),
                ("DescribeTargetHealth", false),
            ]
        );
        assert_eq!(
            cf.failures(),
            ["elasticloadbalancing:DescribeTargetHealth: AccessDenied: not authorized to perform: elasticloadbalancing:DescribeTargetHealth"]
        );
        // Targets of unknown health are not "no target".
        assert!(cf.nlbs.is_empty());
    }

    #[tokio::test]
    async fn denied_listeners_keep_the_nlb_and_its_targets() {
        let cf = read(&[Operation::DescribeListeners]).await;
        assert_eq!(
            elb_calls(&cf),
            [
                ("DescribeLoadBalancers", true),
                ("DescribeListeners", false),
                ("DescribeTargetGroups", true),
                ("DescribeTargetHealth", true),
            ]
        );
        assert!(cf.nlbs[0].listeners.is_none(), "not read is not none");
        assert_eq!(cf.nlbs[0].target_groups[0].targets.len(), 1);
    }

    #[tokio::test]
    async fn denied_load_balancer_stops_the_nlb_reads() {
        let cf = read(&[Operation::DescribeLoadBalancers]).await;
        assert_eq!(elb_calls(&cf), [("DescribeLoadBalancers", false)]);
        assert!(cf.nlbs.is_empty());
    }
}
