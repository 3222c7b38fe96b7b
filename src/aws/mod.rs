//! AWS control plane: read the chain (API Gateway, EC2, ELBv2, cross-account connections) into
//! [`model::ControlFacts`], in the order of root-causes.md §5, every call bounded by the deadline.
//! Reads go through the [`Inventory`] trait; [`sdk`] implements it with the AWS SDK. A failed call
//! is recorded, never fatal: the rest of the diagnosis still comes out.

pub mod model;
pub mod sdk;

use std::collections::BTreeMap;
use std::future::Future;

use tokio::time::Instant;

use model::*;

/// Every AWS operation pgw calls, with the IAM action it needs (`docs/iam-policy.json` lists
/// exactly these actions; a test keeps them in step).
pub const OPERATIONS: &[(&str, &str)] = &[
    ("apigateway:GetRestApi", "apigateway:GET"),
    ("apigateway:GetStages", "apigateway:GET"),
    ("apigateway:GetStage", "apigateway:GET"),
    ("apigateway:GetDeployment", "apigateway:GET"),
    ("apigateway:GetResources", "apigateway:GET"),
    ("apigateway:GetVpcLink", "apigateway:GET"),
    ("ec2:DescribeVpcEndpoints", "ec2:DescribeVpcEndpoints"),
    (
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeNetworkInterfaces",
    ),
    (
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeSecurityGroupRules",
    ),
    ("ec2:DescribeVpcAttribute", "ec2:DescribeVpcAttribute"),
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancers",
    ),
    (
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeListeners",
    ),
    (
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups",
    ),
    (
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    (
        "ec2:DescribeVpcEndpointConnections",
        "ec2:DescribeVpcEndpointConnections",
    ),
    ("sts:AssumeRole", "sts:AssumeRole"),
];

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
    /// Load balancer, listeners, target groups and target health.
    fn describe_nlb(&self, arn: &str) -> impl Future<Output = Result<Nlb, AwsError>>;
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
        op: &'static str,
        f: impl Future<Output = Result<T, AwsError>>,
    ) -> Option<T> {
        debug_assert!(
            OPERATIONS.iter().any(|(o, _)| *o == op),
            "{op} not in OPERATIONS"
        );
        let start = Instant::now();
        let r = match tokio::time::timeout_at(self.deadline, f).await {
            Ok(r) => r,
            Err(_) => Err(AwsError {
                kind: ErrorKind::Unreachable,
                message: "deadline passed before an answer".into(),
            }),
        };
        let (ok, error, value) = match r {
            Ok(v) => (true, None, Some(v)),
            Err(e) => (false, Some(e.message), None),
        };
        self.calls.lock().expect("poisoned").push(AwsCall {
            operation: op.to_string(),
            ok,
            error,
            duration: start.elapsed(),
        });
        value
    }
}

/// Read the whole chain of `api_id` / `stage` in `region`, finishing by `deadline`.
pub async fn gather<I: Inventory>(
    inv: &I,
    api_id: &str,
    stage: &str,
    region: &str,
    deadline: Instant,
) -> ControlFacts {
    let rec = Recorder {
        calls: std::sync::Mutex::new(Vec::new()),
        deadline,
    };
    let mut cf = ControlFacts::default();
    let service = format!("com.amazonaws.{region}.execute-api");
    let by_service = [("service-name", service.as_str())];
    let (api, stage_r, resources, endpoints) = tokio::join!(
        rec.call("apigateway:GetRestApi", inv.get_rest_api(api_id)),
        rec.call("apigateway:GetStage", inv.get_stage(api_id, stage)),
        rec.call("apigateway:GetResources", inv.get_resources(api_id)),
        rec.call(
            "ec2:DescribeVpcEndpoints",
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
            .for_each(|c| {
                if c.operation == "apigateway:GetStage" {
                    c.error = Some("NotFoundException: stage not found".into());
                }
            });
    }

    if let Some(dep) = cf.stage.as_ref().and_then(|s| s.deployment_id.clone()) {
        cf.deployed = rec
            .call(
                "apigateway:GetDeployment",
                inv.get_deployment_summary(api_id, &dep),
            )
            .await;
    }
    let groups: Vec<String> = {
        let mut g: Vec<String> = cf
            .execute_api_endpoints
            .iter()
            .flat_map(|e| e.security_groups.clone())
            .collect();
        g.sort();
        g.dedup();
        g
    };
    if !groups.is_empty() {
        if let Some(r) = rec
            .call(
                "ec2:DescribeSecurityGroupRules",
                inv.describe_sg_rules(&groups),
            )
            .await
        {
            cf.sg_rules = r;
        }
    }
    let vpcs: Vec<String> = {
        let mut v: Vec<String> = cf
            .execute_api_endpoints
            .iter()
            .filter_map(|e| e.vpc_id.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for vpc in vpcs {
        if let Some(d) = rec
            .call("ec2:DescribeVpcAttribute", inv.describe_vpc_dns(&vpc))
            .await
        {
            cf.vpc_dns.insert(vpc, d);
        }
    }

    for id in cf.integration_links() {
        if let Some(l) = rec
            .call("apigateway:GetVpcLink", inv.get_vpc_link(&id))
            .await
        {
            cf.vpc_links.push(l);
        }
    }
    let nlb_arns: Vec<String> = cf
        .vpc_links
        .iter()
        .flat_map(|l| l.target_arns.clone())
        .filter(|a| a.contains(":loadbalancer/"))
        .collect();
    for arn in nlb_arns {
        if let Some(n) = rec
            .call(
                "elasticloadbalancing:DescribeTargetHealth",
                inv.describe_nlb(&arn),
            )
            .await
        {
            cf.nlbs.push(n);
        }
    }
    let nlb_vpcs: Vec<String> = {
        let mut v: Vec<String> = cf.nlbs.iter().filter_map(|n| n.vpc_id.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    for vpc in nlb_vpcs {
        let in_vpc = [("vpc-id", vpc.as_str()), ("vpc-endpoint-type", "Interface")];
        let found = rec
            .call("ec2:DescribeVpcEndpoints", inv.describe_endpoints(&in_vpc))
            .await
            .unwrap_or_default();
        cf.service_endpoints.extend(found.into_iter().filter(|e| {
            e.service_name
                .as_deref()
                .is_some_and(|s| s.starts_with("com.amazonaws.vpce."))
        }));
    }
    let ids: Vec<String> = cf.service_endpoints.iter().map(|e| e.id.clone()).collect();
    if !ids.is_empty() {
        for account in inv.role_accounts() {
            if let Some(m) = rec
                .call(
                    "ec2:DescribeVpcEndpointConnections",
                    inv.describe_connections(&account, &ids),
                )
                .await
            {
                cf.provider_connections.extend(m);
            }
        }
    }
    cf.calls = rec.calls.into_inner().expect("poisoned");
    cf
}
