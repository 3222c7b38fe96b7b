//! pgw-agent's command line; every flag can also be set by a `PGW_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Run pgw-doctor's probes on a schedule and serve them as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "pgw-agent", version)]
pub struct AgentArgs {
    /// A probe file, or a directory whose *.toml files are all loaded (names must be unique).
    #[arg(
        long,
        env = "PGW_PROBES",
        value_name = "DIR_OR_FILE",
        required_unless_present_any = ["completions", "man"]
    )]
    pub probes: Option<PathBuf>,
    /// Address for /metrics, /probe?target=, /healthz, / and POST /-/reload.
    #[arg(
        long,
        env = "PGW_LISTEN",
        value_name = "ADDR",
        default_value = "0.0.0.0:9531"
    )]
    pub listen: SocketAddr,
    /// Validate the probe files and exit: 0 when valid, else 2 with one line naming file:line:column.
    #[arg(long, env = "PGW_CHECK_CONFIG")]
    pub check_config: bool,
    /// Log format (filter with PGW_LOG, e.g. PGW_LOG=debug).
    #[arg(
        long,
        env = "PGW_LOG_FORMAT",
        value_enum,
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// At most this many probe runs at once, across all probes.
    #[arg(
        long,
        env = "PGW_MAX_CONCURRENT",
        value_name = "N",
        default_value_t = 8
    )]
    pub max_concurrent: usize,
    /// On SIGTERM: stop accepting at once, let in-flight runs finish for at most this long, then
    /// cut them and exit 0 (keep it well under the unit's TimeoutStopSec=90).
    #[arg(
        long,
        env = "PGW_DRAIN_TIMEOUT",
        value_name = "DURATION",
        default_value = "20s",
        value_parser = crate::config::parse_duration
    )]
    pub drain_timeout: std::time::Duration,
    /// At most this many targets run on demand (/probe?target=) at once, apart from the scheduled
    /// runs; concurrent requests for one target share its run; past this, 503 with Retry-After.
    #[arg(long, env = "PGW_MAX_ON_DEMAND", value_name = "N", default_value_t = 4)]
    pub max_on_demand: usize,
    /// At most this many HTTP connections open at once; past it a new connection is closed at
    /// once (counted in pgw_http_connections_rejected_total), so clients never take the file
    /// descriptors the probes need.
    #[arg(
        long,
        env = "PGW_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 512
    )]
    pub max_connections: usize,
    /// Prometheus exporter-toolkit web configuration (YAML): tls_server_config (cert_file,
    /// key_file, client_auth_type, client_ca_file, min_version) and basic_auth_users (bcrypt);
    /// read again when it changes.
    #[arg(
        long = "web.config.file",
        env = "PGW_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config: Option<PathBuf>,
    /// Push the agent's series to a Prometheus remote-write receiver (AMP, Mimir, Thanos,
    /// Prometheus) as this TOML file's [remote_write] says: url, interval, max_queue_samples,
    /// sigv4 (region, role_arn), external_labels. Read at start.
    #[arg(long, env = "PGW_REMOTE_WRITE", value_name = "FILE")]
    pub remote_write: Option<PathBuf>,
    /// Discover the private APIs this VPC can reach, as this TOML file's [[discovery]] blocks
    /// say (regions, roles, tags, paths, interval, max_probes): one probe per API and stage,
    /// beside the probe files (which win over a discovered duplicate). Read at start.
    #[arg(long, env = "PGW_DISCOVERY", value_name = "FILE")]
    pub discovery: Option<PathBuf>,
    /// Print a shell completion script and exit.
    #[arg(long, value_enum, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,
    /// Print the manual page (roff) and exit.
    #[arg(long)]
    pub man: bool,
}

impl AgentArgs {
    /// What `--completions` or `--man` print instead of running.
    pub fn printout(&self) -> Option<String> {
        use clap::CommandFactory;
        match (self.completions, self.man) {
            (Some(shell), _) => Some(crate::cli::completions(AgentArgs::command(), shell)),
            (None, true) => Some(crate::cli::man_page(AgentArgs::command())),
            (None, false) => None,
        }
    }

    pub fn options(&self) -> super::Options {
        super::Options {
            probes: self.probes.clone().unwrap_or_default(),
            max_concurrent: self.max_concurrent,
            drain_timeout: self.drain_timeout,
            max_on_demand: self.max_on_demand,
            max_connections: self.max_connections,
            web_config: self.web_config.clone(),
            remote_write: self.remote_write.clone(),
            discovery: self.discovery.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        AgentArgs::command().debug_assert();
    }

    #[test]
    fn completions_and_man_need_no_probes() {
        let a = AgentArgs::try_parse_from(["pgw-agent", "--completions", "bash"]).unwrap();
        assert!(a.printout().unwrap().contains("_pgw__agent()"));
        let a = AgentArgs::try_parse_from(["pgw-agent", "--man"]).unwrap();
        assert!(a.printout().unwrap().contains("max\\-on\\-demand"));
        assert!(AgentArgs::try_parse_from(["pgw-agent"]).is_err());
    }

    #[test]
    fn listen_default() {
        let a = AgentArgs::try_parse_from(["pgw-agent", "--probes", "probes"]).unwrap();
        assert_eq!(a.listen.to_string(), "0.0.0.0:9531");
        assert_eq!(a.log_format, LogFormat::Text);
    }
}
