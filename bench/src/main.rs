//! `pgw-bench`: the pieces bench/run.sh puts together — targets to probe, a load driver that
//! measures the prober's process, a delay line between two network namespaces, and labs whose
//! faults flap for the soak.

mod flap;
mod load;
mod procstat;
mod relay;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "pgw benchmark harness (loopback and own network namespaces only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTPS and DNS targets.
    Serve(serve::ServeArgs),
    /// Run probes at a concurrency and measure the prober's CPU and memory.
    Load(load::LoadArgs),
    /// Labs whose faults flap (the soak's targets), switches printed as JSON lines.
    Flap(flap::FlapArgs),
    /// Delay line between two network namespaces.
    Relay(relay::RelayArgs),
    /// CPU seconds, RSS and peak RSS of a process.
    Stat { pid: u32 },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Relay(a) => relay::run(a),
        Command::Stat { pid } => procstat::print(pid),
        Command::Serve(a) => runtime()?.block_on(serve::run(a)),
        Command::Load(a) => runtime()?.block_on(load::run(a)),
        Command::Flap(a) => runtime()?.block_on(flap::run(a)),
    }
}

/// The same multi-threaded runtime pgw-agent uses.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    pgw::agent::runtime()
}
