//! `pgw-doctor`: one-shot diagnosis of one private API chain. Exit 0 healthy, 1 findings, 2 could not run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pgw::cli::{one_line, DoctorArgs, Output};
use pgw::config;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pgw-doctor: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match DoctorArgs::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(one_line(&e)),
    };
    if let Some(cmd) = &args.command {
        return pgw::cli::run_command(cmd).map_or_else(fail, |t| {
            print!("{t}");
            ExitCode::SUCCESS
        });
    }
    let cfg = match config::load(args.config.as_deref(), &args.overrides) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let report = rt.block_on(pgw::doctor::run(cfg, tokio::time::Instant::now()));
    rt.shutdown_background();
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match args.output {
        Output::Json => println!("{}", pgw::report::json::render(&report)),
        Output::Markdown => print!("{}", pgw::report::markdown::render(&report)),
        Output::Text => print!(
            "{}",
            pgw::report::text::render(&report, std::io::stdout().is_terminal())
        ),
    }
    ExitCode::from(report.exit_code() as u8)
}
