//! `vigie`: the one binary. A thin command line over the libraries:
//! `serve` (the hub), `demo` (a whole Region on one machine), `admin`
//! (shops, contacts, devices, alarms), `device` (a command-line button),
//! `simulate` (a fleet of virtual boxes) and `bench` (the quality bars' benchmarks).

mod admin;
mod agent;
mod bench;
mod bench_console;
mod bench_dc09;
mod demo;
mod device;
mod simulate;
mod verify;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "vigie",
    version,
    about = "Vigie — alerte discrète pour commerçants seuls / silent alarm for shopkeepers who work alone"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub.
    Serve {
        #[arg(long, default_value = "vigie.toml")]
        config: PathBuf,
    },
    /// A whole Region on this machine: hub on SQLite, shops, buttons, phones.
    Demo {
        /// Run the story without waiting for a person, and exit 0 only if every step happened.
        #[arg(long)]
        scenario: bool,
        /// Port for the demo hub (0 = any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Record from the default microphone (10 s after the double press)
        /// instead of a generated signal: speak, and hear it in the export.
        #[arg(long)]
        mic: bool,
        /// The demo hub's store instead of an SQLite file in a temporary
        /// folder: an empty PostgreSQL database, e.g. postgres://vigie@localhost/demo.
        #[arg(long)]
        store: Option<String>,
    },
    /// Manage shops, contacts, devices and alarms (works on the hub's database).
    Admin {
        #[arg(long, default_value = "vigie.toml")]
        config: PathBuf,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// The box's daemon (`vigie agent --config FILE`) and its enrolment.
    Agent(agent::AgentArgs),
    /// A button on the command line: enrol it, then press.
    Device {
        /// Where the device keeps its identity and key (before or after the subcommand).
        #[arg(long, default_value = "vigie-device.json", global = true)]
        state: PathBuf,
        #[command(subcommand)]
        command: device::DeviceCommand,
    },
    /// A fleet of virtual boxes against a running hub: enrolment, heartbeats, presses, network loss.
    Simulate(simulate::SimulateArgs),
    /// Check an evidence export offline against the Region's trust file.
    /// Exit status: 0 verified and anchored, 1 a check failed, 3 verified
    /// but not anchored (no trust file: compare the printed fingerprints).
    Verify {
        /// The export ZIP.
        export: PathBuf,
        /// The trust file the Region publishes (default: $VIGIE_TRUST, else
        /// /etc/vigie/trust.txt when it exists).
        #[arg(long)]
        trust: Option<PathBuf>,
    },
    /// Benchmarks of the quality bars; figures go to docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn init_logs() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            init_logs();
            let config = vigie_hub::config::Config::load(&config)?;
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| {
                    format!("cannot listen on {} (server.listen)", config.server.listen)
                })?;
            // Ctrl-C or SIGTERM (systemd, a container stop): stop reading,
            // finish and acknowledge what was read, then close. Listened to
            // before the hub starts, so a stop sent as soon as it answers is
            // not lost.
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut interrupt = signal(SignalKind::interrupt())?;
            let clock: vigie_hub::clock::SharedClock =
                std::sync::Arc::new(vigie_hub::clock::SystemClock::new());
            let console = vigie_console::mount(vigie_console::config_from(&config));
            let hub =
                vigie_hub::app::start_with_ui(&config, clock, listener, Some(console)).await?;
            println!("Vigie hub à l'écoute sur / listening on {}", hub.url());
            println!("Console : {}/console", hub.url());
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping: finishing what was read, then closing");
            hub.shutdown().await;
            Ok(())
        }
        Command::Demo {
            scenario,
            port,
            mic,
            store,
        } => {
            if std::env::var("VIGIE_LOG").is_ok() {
                init_logs();
            }
            demo::run(scenario, port, mic, store).await
        }
        Command::Admin {
            config,
            json,
            command,
        } => admin::run(&config, json, command).await,
        Command::Agent(args) => {
            init_logs();
            agent::run(args).await
        }
        Command::Device { state, command } => device::run(&state, command).await,
        Command::Simulate(args) => {
            if std::env::var("VIGIE_LOG").is_ok() {
                init_logs();
            }
            simulate::run(args).await
        }
        Command::Verify { export, trust } => {
            let code = verify::run(&export, trust.as_deref())?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Bench { command } => {
            if std::env::var("VIGIE_LOG").is_ok() {
                init_logs();
            }
            bench::run(command).await
        }
    }
}
