//! `pgw-lab`: run a lab scenario in the foreground, or list the scenarios.
use clap::{Parser, Subcommand};
use pgw_lab::{Lab, Scenario};
use std::io::Write;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    version,
    about = "Loopback replica of an API Gateway private REST API with faults"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Directory of scenario files (default: the scenarios compiled into pgw-lab).
    #[arg(long, global = true)]
    scenarios_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a scenario and keep it running until Ctrl-C / SIGTERM.
    Up {
        /// Scenario name (a shipped one, or a file stem in --scenarios-dir) or path to a .toml file.
        #[arg(long)]
        scenario: String,
    },
    /// List the scenarios with their descriptions.
    List,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    if let Command::Up { scenario } = cli.command {
        let s = Scenario::named(&scenario, cli.scenarios_dir.as_deref())?;
        let lab = Lab::start(&s).await?;
        writeln!(out, "{}\nCtrl-C to stop.", lab.describe())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! { r = tokio::signal::ctrl_c() => r?, _ = term.recv() => {} }
        lab.shutdown().await;
    } else {
        let all = match &cli.scenarios_dir {
            Some(d) => Scenario::load_dir(d)?.into_iter().map(|(_, s)| s).collect(),
            None => Scenario::shipped()?,
        };
        for s in all {
            let _ = writeln!(out, "{:<28} {}", s.name, s.description); // e.g. piped into `head`
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("pgw-lab: {e:#}");
        std::process::exit(2);
    }
}
