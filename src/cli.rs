//! Command lines: the doctor's flags (README, pgw-doctor), each also settable by environment, turned
//! into config [`Overrides`].

use std::path::PathBuf;

use clap::Parser;

use crate::config::{InvokeVia, Overrides};

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Tell why a call to an API Gateway private REST API fails, layer by layer.
#[derive(Debug, Parser)]
#[command(name = "pgw-doctor", version, about, long_about = None)]
pub struct DoctorArgs {
    /// A probe file (TOML) instead of the flags below; flags given too win.
    #[arg(long, env = "PGW_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// DNS server to ask, IP[:PORT] (repeatable). Default: /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,
    /// TCP port of the execute-api endpoint.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Extra PEM trust roots (added to the system roots).
    #[arg(long, env = "PGW_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Sign invokes with SigV4 (service execute-api).
    #[arg(long)]
    pub sigv4: bool,
    /// Send every AWS API call to this URL.
    #[arg(long, env = "PGW_AWS_ENDPOINT_URL", value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Role to assume for reads in another account, ACCOUNT=ROLE_ARN (repeatable).
    #[arg(long = "role", value_name = "ACCOUNT=ROLE_ARN")]
    pub roles: Vec<String>,
    /// Data plane only: no AWS API call at all.
    #[arg(long)]
    pub no_aws: bool,
    /// Overall deadline for the whole diagnosis (10s, 1500ms).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

impl DoctorArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            api_id: self.api_id.clone(),
            region: self.region.clone(),
            stage: self.stage.clone(),
            paths: self.paths.clone(),
            method: self.method.clone(),
            invoke_via: self.invoke_via,
            vpce_id: self.vpce_id.clone(),
            vpce_dns: self.vpce_dns.clone(),
            resolvers: self.resolvers.clone(),
            port: self.port,
            ca_file: self.ca_file.clone(),
            sigv4: self.sigv4,
            aws_endpoint_url: self.aws_endpoint_url.clone(),
            roles: self.roles.clone(),
            no_aws: self.no_aws,
            timeout: self.timeout.clone(),
        }
    }
}

/// The first line of a clap error, without its `error: ` prefix.
pub fn one_line(e: &clap::Error) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("invalid arguments");
    first.trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        DoctorArgs::command().debug_assert();
    }

    #[test]
    fn unknown_flag_is_one_line() {
        let e = DoctorArgs::try_parse_from(["pgw-doctor", "--bogus"]).unwrap_err();
        let l = one_line(&e);
        assert!(l.contains("--bogus") && !l.contains('\n'), "{l}");
    }
}
