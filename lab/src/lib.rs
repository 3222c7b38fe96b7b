//! pgw-lab: a loopback replica of the topology behind an API Gateway private REST API
//! (resolver, execute-api interface endpoint, API Gateway, VPC links, NLBs, PrivateLink,
//! backends) with injectable faults. Everything is real network traffic on 127.0.0.0/8:
//! DNS over UDP and TCP, TLS, HTTP/1.1 and TCP proxies. With `[control_plane] enabled = true`
//! a scenario also gets the AWS control plane: a moto server seeded with the lab's ids, addresses
//! and faults ([`Lab::aws_endpoint_url`], [`Lab::aws_env`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), pgw_lab::LabError> {
//! let (_, scenario) = pgw_lab::Scenario::find("healthy_path_a", &pgw_lab::default_scenarios_dir())?;
//! let lab = pgw_lab::Lab::start(&scenario).await?;
//! println!("pgw-doctor {}", lab.doctor_args().join(" "));
//! lab.shutdown().await;
//! # Ok(()) }
//! ```

mod addr;
mod backend;
mod control;
mod dns;
mod error;
mod exec_log;
mod frontdoor;
mod gateway;
mod httpd;
mod ids;
pub mod imds;
mod integration;
mod lab;
mod pki;
mod proxy;
mod responses;
mod runtime;
mod scenario;
pub mod sigv4;
mod slot;

pub use control::moto_venv;
pub use error::LabError;
pub use lab::Lab;
pub use pki::Pki;
pub use scenario::{
    default_scenarios_dir, ApiType, Authorization, ClientNetwork, ClientResolver, ConnectionState,
    ControlPlaneSpec, CustomDomainFault, DnsFault, DoctorSpec, DomainCertificate, ExecutionLogs,
    Expect, Faults, HybridFault, HybridRoute, IamCredentials, IntegrationFault, IntegrationPath,
    LinkReference, LinkService, PolicyFault, PublicEndpointFault, Scenario, SgSource, TargetsFault,
    TlsFault, Topology, VpcLinkStatus, VpcePolicyFault, VpceState, WafFault, DENIABLE_OPERATIONS,
    HISTORY_KINDS,
};

/// Access key id the lab's API Gateway accepts for AWS_IAM methods.
pub const LAB_ACCESS_KEY_ID: &str = "AKIAPGWLAB0000000001";
/// Secret access key matching [`LAB_ACCESS_KEY_ID`].
pub const LAB_SECRET_ACCESS_KEY: &str = "pgwLabSecretKey0000000000000000000000000";
/// The only API key the lab's API Gateway accepts in `x-api-key` (`faults.api_key_required`).
pub const LAB_API_KEY: &str = "pgwLabApiKey00000000000000000000000000000";
/// The PrivateLink provider's account (path A's endpoint service), read through `--role`.
pub const PROVIDER_ACCOUNT: &str = "014770000000";
/// The role the doctor assumes in [`PROVIDER_ACCOUNT`].
pub const PROVIDER_ROLE_ARN: &str = "arn:aws:iam::014770000000:role/pgw-read";
