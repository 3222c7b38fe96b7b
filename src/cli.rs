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
    /// A Markdown section to paste into a ticket or an AWS Support case.
    Markdown,
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
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// What the doctor can do besides a diagnosis.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the runbook of a finding id (compiled in: no checkout needed), or list the ids.
    Explain {
        /// A finding id, e.g. missing_root_any_method.
        #[arg(required_unless_present = "list")]
        id: Option<String>,
        /// List every finding id with its one-line title.
        #[arg(long, conflicts_with = "id")]
        list: bool,
    },
    /// Print a shell completion script (e.g. `pgw-doctor completions bash > /etc/bash_completion.d/pgw-doctor`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff: `pgw-doctor man > /usr/local/share/man/man1/pgw-doctor.1`).
    Man,
}

/// A completion script for `cmd` in `shell`.
pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell) -> String {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The manual page of `cmd` (roff).
pub fn man_page(cmd: clap::Command) -> String {
    let mut out = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The output of `command`, or why there is none (exit code 2).
pub fn run_command(command: &Command) -> Result<String, String> {
    use clap::CommandFactory;
    match command {
        Command::Explain { id, list } => explain(id.as_deref(), *list),
        Command::Completions { shell } => Ok(completions(DoctorArgs::command(), *shell)),
        Command::Man => Ok(man_page(DoctorArgs::command())),
    }
}

fn explain(id: Option<&str>, list: bool) -> Result<String, String> {
    use crate::finding::{entry, parse_id, CATALOG};
    if list {
        let width = CATALOG
            .iter()
            .map(|e| e.id.as_str().len())
            .max()
            .unwrap_or(0);
        return Ok(CATALOG
            .iter()
            .map(|e| {
                format!(
                    "{:width$}  {:8}  {}\n",
                    e.id.as_str(),
                    e.severity.as_str(),
                    e.title
                )
            })
            .collect());
    }
    let id = id.unwrap_or_default();
    match parse_id(id) {
        Some(f) => Ok(entry(f).runbook.to_string()),
        None => Err(format!(
            "explain: unknown finding id {id:?} (pgw-doctor explain --list shows them)"
        )),
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
    fn completions_and_the_manual_page() {
        let a = DoctorArgs::try_parse_from(["pgw-doctor", "completions", "bash"]).unwrap();
        let bash = run_command(a.command.as_ref().unwrap()).unwrap();
        assert!(bash.contains("_pgw__doctor()"), "{bash}");
        assert!(bash.contains("--invoke-via"), "{bash}");
        let a = DoctorArgs::try_parse_from(["pgw-doctor", "man"]).unwrap();
        let man = run_command(a.command.as_ref().unwrap()).unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH pgw-doctor"),
            "{man}"
        );
        assert!(man.contains("invoke\\-via"), "{man}");
    }

    #[test]
    fn explain_prints_the_compiled_in_runbook_and_lists_the_ids() {
        let a = DoctorArgs::try_parse_from(["pgw-doctor", "explain", "missing_root_any_method"])
            .unwrap();
        let text = run_command(a.command.as_ref().unwrap()).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/runbooks/missing_root_any_method.md"
            ))
            .unwrap()
        );
        let a = DoctorArgs::try_parse_from(["pgw-doctor", "explain", "--list"]).unwrap();
        let list = run_command(a.command.as_ref().unwrap()).unwrap();
        assert_eq!(list.lines().count(), crate::finding::CATALOG.len());
        assert!(list.contains("planes_disagree"), "{list}");
        let a = DoctorArgs::try_parse_from(["pgw-doctor", "explain", "nope"]).unwrap();
        let e = run_command(a.command.as_ref().unwrap()).unwrap_err();
        assert!(e.contains("unknown finding id \"nope\""), "{e}");
        assert!(DoctorArgs::try_parse_from(["pgw-doctor", "explain"]).is_err());
    }

    #[test]
    fn unknown_flag_is_one_line() {
        let e = DoctorArgs::try_parse_from(["pgw-doctor", "--bogus"]).unwrap_err();
        let l = one_line(&e);
        assert!(l.contains("--bogus") && !l.contains('\n'), "{l}");
    }
}
