//! The doctor's command line: its own flags (`--config`, `--output`) around the chain's settings,
//! [`Overrides`], which the config module defines once.

use std::path::PathBuf;

use clap::Parser;

use crate::config::Overrides;

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
    #[command(flatten)]
    pub overrides: Overrides,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
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
