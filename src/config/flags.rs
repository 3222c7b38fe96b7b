//! The chain's settings as flags (each also settable by environment where it says so): the
//! `Overrides` layer of a [`Config`](super::Config), flattened into the doctor's command line.

use std::path::PathBuf;

use super::InvokeVia;

/// Values given on the command line (or by environment); `None` / empty / false = not given.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// REST API id (10 lowercase alphanumerics).
    #[arg(long, env = "PGW_API_ID", value_name = "ID")]
    pub api_id: Option<String>,
    /// AWS region (default: AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Stage name.
    #[arg(long, env = "PGW_STAGE", value_name = "S")]
    pub stage: Option<String>,
    /// Stage-relative path to invoke (repeatable). Default: / and /pgw-probe.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<String>,
    /// HTTP method for the invoke.
    #[arg(long, value_name = "M")]
    pub method: Option<String>,
    /// Invoke route.
    #[arg(long, value_enum, value_name = "ROUTE")]
    pub invoke_via: Option<InvokeVia>,
    /// The execute-api interface endpoint id.
    #[arg(long, value_name = "ID")]
    pub vpce_id: Option<String>,
    /// The endpoint's regional DNS name (for vpce-host).
    #[arg(long, value_name = "NAME")]
    pub vpce_dns: Option<String>,
    /// The private custom domain name to call (for custom-domain).
    #[arg(long, value_name = "NAME")]
    pub domain_name: Option<String>,
    /// The domain's `domainNameId` (custom-domain; default: the one this endpoint's access
    /// association names).
    #[arg(long, value_name = "ID")]
    pub domain_name_id: Option<String>,
    /// The base path the domain maps to the API's stage (custom-domain; none: the root mapping).
    #[arg(long, value_name = "PATH")]
    pub base_path: Option<String>,
    /// DNS server to ask, IP[:PORT] (repeatable). Default: /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,
    /// TCP port of the execute-api endpoint.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Extra PEM trust roots (added to the system roots).
    #[arg(long, env = "PGW_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// A stage-relative path whose answer is larger than one packet (9 KB or more: a document,
    /// a list), invoked beside the others: small answers that pass while this one stalls are a
    /// path MTU black hole.
    #[arg(long, value_name = "PATH")]
    pub large_path: Option<String>,
    /// TLS version to offer, as the client pgw stands in for does (repeatable; default 1.2 and 1.3).
    #[arg(long = "tls-version", value_name = "1.2|1.3")]
    pub tls_versions: Vec<String>,
    /// Sign invokes with SigV4 (service execute-api).
    #[arg(long)]
    pub sigv4: bool,
    /// Also call the API's public execute-api name from outside the VPC (needs egress): a private
    /// API must answer 403 Forbidden there.
    #[arg(long)]
    pub check_public: bool,
    /// A public DNS server to resolve the API's public name with, IP[:PORT] (for --check-public).
    #[arg(long, value_name = "IP[:PORT]")]
    pub public_resolver: Option<String>,
    /// Send every AWS API call to this URL.
    #[arg(long, env = "PGW_AWS_ENDPOINT_URL", value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Role to assume for reads in another account, ACCOUNT=ROLE_ARN (repeatable).
    #[arg(long = "role", value_name = "ACCOUNT=ROLE_ARN")]
    pub roles: Vec<String>,
    /// Data plane only: no AWS API call at all.
    #[arg(long)]
    pub no_aws: bool,
    /// Wait up to this much longer than --timeout for the execution logs of failed requests
    /// (delivery takes seconds, sometimes minutes).
    #[arg(long, value_name = "DURATION")]
    pub logs_wait: Option<String>,
    /// Also summarise the failures the stage's execution log holds for this long back (1h,
    /// 30m; at most 24h), grouped by cause.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Overall deadline for the whole diagnosis (10s, 1500ms).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}
