//! `pgw-agent`: the doctor's probes on a schedule, served as Prometheus metrics on
//! `--listen` (default `0.0.0.0:9531`). Exit 0 after a SIGTERM drain, 2 on a bad configuration.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use pgw::agent::{self, AgentArgs};
use pgw::cli::one_line;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pgw-agent: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match AgentArgs::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(one_line(&e)),
    };
    if let Some(text) = args.printout() {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let probes = args.probes.clone().unwrap_or_default();
    if args.check_config {
        return match agent::load::load(&probes) {
            Ok(set) => {
                println!("{}: {} probes OK", probes.display(), set.len());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    agent::init_logging(args.log_format);
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<agent::AgentError>() {
            Some(ae) if ae.is_config() => fail(ae),
            _ => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: &AgentArgs) -> anyhow::Result<()> {
    let rt = agent::runtime().context("cannot start the runtime")?;
    rt.block_on(agent::run(args.options(), args.listen))?;
    Ok(())
}
