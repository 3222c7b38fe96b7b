//! Discovery: the private APIs this VPC can reach, as probes, refreshed on an interval. Per region
//! (and per account with a role): this VPC's execute-api endpoints (`DescribeVpcEndpoints`), the
//! account's REST APIs (`GetRestApis`), the PRIVATE ones whose tags match and that this VPC can
//! reach — an endpoint of it among the API's `vpcEndpointIds`, or the resource policy allowing
//! one of its endpoints (or the VPC) — then each one's stages (`GetStages`): one probe per (API,
//! stage), named `<api_id>-<stage>` as a hand-written file without a name would be. A failed
//! refresh keeps the last good set.
//!
//! Configured by `--discovery FILE`:
//!
//! ```toml
//! [[discovery]]
//! regions = ["us-east-1"]
//! roles = { "444455556666" = "arn:aws:iam::444455556666:role/pgw-read" }   # optional
//! tags = { team = "orders" }          # optional: all must match
//! paths = ["/", "/pgw-probe"]         # default
//! interval = "10m"                    # default, jittered
//! max_probes = 100                    # default
//! probe_interval = "30s"              # the discovered probes' own interval (default 30s)
//! vpc_id = "vpc-0abc"                 # default: this instance's (IMDS); none: every endpoint
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::aws::sdk::SdkInventory;
use crate::aws::{AwsError, Inventory};
use crate::config::Config;
use crate::diagnose::policy::{self, Decision, Request};
use crate::facts::control::Operation;

/// One `[[discovery]]` block, validated.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub regions: Vec<String>,
    pub roles: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub paths: Vec<String>,
    pub interval: Duration,
    pub max_probes: usize,
    pub probe_interval: Duration,
    pub vpc_id: Option<String>,
    /// Send every AWS call here (tests, the lab).
    pub aws_endpoint_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    discovery: Vec<Spec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    regions: Vec<String>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    paths: Option<Vec<String>>,
    interval: Option<String>,
    max_probes: Option<usize>,
    probe_interval: Option<String>,
    vpc_id: Option<String>,
    aws_endpoint_url: Option<String>,
}

impl Discovery {
    /// Read and validate `path` (`path:line:column` when TOML says where).
    pub fn load(path: &Path) -> Result<Vec<Discovery>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec: FileSpec = toml::from_str(&text)
            .map_err(|e| crate::config::toml_error(path, &text, &e).to_string())?;
        let at = |m: String| format!("{}: {m}", path.display());
        spec.discovery
            .into_iter()
            .map(|s| {
                let dur = |v: &Option<String>, default: u64, what: &str| match v {
                    Some(t) => crate::config::parse_duration(t)
                        .map_err(|e| at(format!("{what}: {e}")))
                        .and_then(|d| {
                            (d >= Duration::from_secs(1))
                                .then_some(d)
                                .ok_or_else(|| at(format!("{what}: at least 1s")))
                        }),
                    None => Ok(Duration::from_secs(default)),
                };
                if s.regions.is_empty() {
                    return Err(at("regions: at least one".into()));
                }
                let paths = s
                    .paths
                    .unwrap_or_else(|| vec!["/".into(), "/pgw-probe".into()]);
                if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
                    return Err(at(format!("paths: {p:?} must start with /")));
                }
                Ok(Discovery {
                    regions: s.regions,
                    roles: s.roles,
                    tags: s.tags,
                    paths,
                    interval: dur(&s.interval, 600, "interval")?,
                    max_probes: s.max_probes.unwrap_or(100),
                    probe_interval: dur(&s.probe_interval, 30, "probe_interval")?,
                    vpc_id: s.vpc_id,
                    aws_endpoint_url: s.aws_endpoint_url,
                })
            })
            .collect()
    }
}

/// A failed call of a refresh.
#[derive(Debug)]
pub struct Failed {
    pub operation: Operation,
    pub error: AwsError,
}

/// One refresh of `d`, from the VPC `vpc` (`None`: every execute-api endpoint of the account).
pub async fn refresh(d: &Discovery, vpc: Option<&str>) -> Result<Vec<Config>, Failed> {
    let mut all: Vec<Config> = Vec::new();
    for region in &d.regions {
        let inv =
            super::load::shared_inventory(region, d.aws_endpoint_url.as_deref(), &d.roles).await;
        let inv: &SdkInventory = &inv;
        // This VPC's execute-api endpoints (in this account).
        let service = format!("com.amazonaws.{region}.execute-api");
        let mut filters = vec![("service-name", service.as_str())];
        if let Some(v) = vpc {
            filters.push(("vpc-id", v));
        }
        let mine = inv
            .describe_endpoints(&filters)
            .await
            .map_err(|error| Failed {
                operation: Operation::DescribeVpcEndpoints,
                error,
            })?;
        let mine: Vec<(String, Option<String>)> = mine
            .into_iter()
            .filter(|e| e.state() == crate::facts::control::EndpointState::Available)
            .map(|e| (e.id, e.vpc_id))
            .collect();
        // This account, then each account with a role.
        let others: Vec<SdkInventory> = d.roles.keys().filter_map(|a| inv.in_account(a)).collect();
        for reader in std::iter::once(inv).chain(others.iter()) {
            let apis = reader.rest_apis().await.map_err(|error| Failed {
                operation: Operation::GetRestApis,
                error,
            })?;
            for (api, tags) in apis {
                let private = api.endpoint_types.iter().any(|t| t == "PRIVATE");
                let tagged = d.tags.iter().all(|(k, v)| tags.get(k) == Some(v));
                if !private || !tagged || !reachable(&api, &mine) {
                    continue;
                }
                let stages = reader.get_stages(&api.id).await.map_err(|error| Failed {
                    operation: Operation::GetStages,
                    error,
                })?;
                for stage in stages {
                    if let Some(cfg) = probe(d, region, &api.id, &stage) {
                        all.push(cfg);
                    }
                }
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup_by(|a, b| a.name == b.name);
    Ok(all)
}

/// Whether one of `mine` (endpoint id, its VPC) may call `api`: associated with it, or allowed
/// by its resource policy.
fn reachable(api: &crate::facts::control::RestApi, mine: &[(String, Option<String>)]) -> bool {
    if mine.iter().any(|(id, _)| api.vpc_endpoint_ids.contains(id)) {
        return true;
    }
    let Some(doc) = api.policy.as_deref().and_then(policy::parse) else {
        return false;
    };
    mine.iter().any(|(id, vpc)| {
        policy::evaluate_request(
            &doc,
            &Request {
                vpce: id,
                vpc: vpc.as_deref(),
                resource: None,
                signed: false,
            },
        ) == Decision::Allow
    })
}

/// The probe of `api`'s `stage`, through the same validation as a probe file.
fn probe(d: &Discovery, region: &str, api: &str, stage: &str) -> Option<Config> {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text = format!(
        "api_id = {}\nregion = {}\nstage = {}\ninterval = \"{}s\"\npaths = [{}]\n",
        q(api),
        q(region),
        q(stage),
        d.probe_interval.as_secs(),
        d.paths.iter().map(|p| q(p)).collect::<Vec<_>>().join(", ")
    );
    if let Some(u) = &d.aws_endpoint_url {
        text += &format!("aws_endpoint_url = {}\n", q(u));
    }
    if !d.roles.is_empty() {
        text += "[roles]\n";
        for (a, r) in &d.roles {
            text += &format!("{} = {}\n", q(a), q(r));
        }
    }
    let origin = Path::new("discovery");
    match crate::config::probe_from_text(origin, &text) {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            tracing::warn!(api, stage, "discovered probe not valid: {e}");
            None
        }
    }
}

/// The discovered probes a hand-written one of the same API and stage (or name) does not shadow,
/// the first `max` of them by name; and how many were left out past `max`.
pub fn unshadowed(found: &[Config], files: &[&Config], max: usize) -> (Vec<Config>, usize) {
    let mut kept: Vec<Config> = found
        .iter()
        .filter(|c| {
            !files.iter().any(|f| {
                f.name == c.name || (f.api_id == c.api_id && f.stage_name() == c.stage_name())
            })
        })
        .cloned()
        .collect();
    let capped = kept.len().saturating_sub(max);
    kept.truncate(max);
    (kept, capped)
}
