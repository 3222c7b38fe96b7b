//! `pgw-lab`: run a lab scenario in the foreground, or list the scenarios.

use anyhow::Context;
use clap::{Parser, Subcommand};
use pgw_lab::{default_scenarios_dir, Lab, Scenario};

#[derive(Parser)]
#[command(
    version,
    about = "Loopback replica of an API Gateway private REST API with injectable faults"
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for (_, s) in Scenario::load_dir(&cli.scenarios_dir)? {
                println!("{:<28} {}", s.name, s.description);
            }
        }
        Command::Up { scenario } => {
            let (_, s) = Scenario::find(&scenario, &cli.scenarios_dir)?;
            let lab = Lab::start(&s).await.context("starting the lab")?;
            println!("{}\nCtrl-C to stop.", lab.describe());
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
            lab.shutdown().await;
        }
    }
    Ok(())
}
