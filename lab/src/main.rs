//! `pgw-lab`: run a lab scenario in the foreground, or list the scenarios.
use clap::{Parser, Subcommand};
use pgw_lab::{default_scenarios_dir, Lab, Scenario};
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
    /// Directory of scenario files.
    #[arg(long, global = true, default_value_os_t = default_scenarios_dir())]
    scenarios_dir: std::path::PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Start a scenario and keep it running until Ctrl-C / SIGTERM.
    Up {
        /// Scenario name (file stem in the scenarios directory) or path to a .toml file.
        #[arg(long)]
        scenario: String,
    },
    /// List the scenarios with their descriptions.
    List,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    if let Command::Up { scenario } = cli.command {
        let (_, s) = Scenario::find(&scenario, &cli.scenarios_dir)?;
        let lab = Lab::start(&s).await?;
        writeln!(out, "{}\nCtrl-C to stop.", lab.describe())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! { r = tokio::signal::ctrl_c() => r?, _ = term.recv() => {} }
        lab.shutdown().await;
    } else {
        for (_, s) in Scenario::load_dir(&cli.scenarios_dir)? {
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
