//! `vigie agent`: the box's daemon, and its enrolment.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use vigie_agent::agent::{AgentEvent, Deps};
use vigie_agent::config::{AgentConfig, ButtonConfig};
use vigie_agent::identity::{self, Identity};
use vigie_agent::modem::Modem;
use vigie_agent::uplink::HubClient;
use vigie_core::Timestamp;

#[derive(Args)]
pub struct AgentArgs {
    /// The box's configuration (docs/ops/box.md).
    #[arg(long, global = true, default_value = "/etc/vigie/agent.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<AgentCommand>,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Create the device key (mode 0600) and register it with a one-time code.
    Enroll {
        #[arg(long)]
        hub: String,
        #[arg(long)]
        code: String,
    },
}

fn now() -> Timestamp {
    Timestamp(crate::device::now_ms())
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = AgentConfig::load(&args.config).map_err(anyhow::Error::msg)?;
    match args.command {
        Some(AgentCommand::Enroll { hub, code }) => {
            let (client, enrolled) = HubClient::enroll(&hub, &code, env!("CARGO_PKG_VERSION"))
                .await
                .context("enrolment failed")?;
            let key = vigie_proto::signature::DeviceKey::from_bytes(&client.key().to_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Identity {
                hub: client.hub().to_string(),
                device_id: client.device_id().to_string(),
                key,
            }
            .save(&config.state_dir)
            .with_context(|| {
                format!(
                    "cannot write the identity in {}",
                    config.state_dir.display()
                )
            })?;
            let device = vigie_proto::DeviceConfig {
                config_version: String::new(),
                shop: enrolled.shop.clone(),
                settings: enrolled.settings.clone(),
                direct_contacts: enrolled.direct_contacts.clone(),
            };
            identity::save_config(&config.state_dir, &device)?;
            println!(
                "Boîtier enrôlé / box enrolled: {} — {}, {} ({} contact(s) joignable(s) en direct)",
                enrolled.device_id,
                enrolled.shop.name,
                enrolled.shop.commune,
                enrolled.direct_contacts.len()
            );
            Ok(())
        }
        None => daemon(config).await,
    }
}

fn open_modem(config: &AgentConfig) -> anyhow::Result<Option<Arc<dyn Modem>>> {
    let Some(m) = &config.modem else {
        return Ok(None);
    };
    let modem = vigie_agent::modem::at::AtModem::open(&m.port.to_string_lossy(), m.baud)
        .with_context(|| format!("cannot open the modem on {}", m.port.display()))?;
    Ok(Some(Arc::new(modem)))
}

async fn daemon(config: AgentConfig) -> anyhow::Result<()> {
    let client = if config.direct_only.is_some() {
        None
    } else {
        let id = Identity::load(&config.state_dir).map_err(anyhow::Error::msg)?;
        Some(Arc::new(HubClient::new(&id.hub, &id.device_id, id.key)))
    };
    let modem = open_modem(&config)?;
    // The microphone is only described here; it is opened on the double press.
    match &config.recorder {
        Some(r) => tracing::info!(
            source = %r.source().describe(),
            max_duration_s = r.max_duration_s,
            "recording on a double press"
        ),
        None => tracing::info!("no [recorder]: this box cannot record"),
    }
    let (edges_tx, edges_rx) = tokio::sync::mpsc::channel(vigie_agent::button::EDGE_QUEUE_MAX);
    match &config.button {
        ButtonConfig::Stdin => {
            tokio::spawn(vigie_agent::button::run_lines(
                tokio::io::stdin(),
                edges_tx,
                now,
            ));
        }
        ButtonConfig::Gpio {
            chip,
            line,
            active_low,
        } => vigie_agent::button::gpio::spawn(chip.clone(), *line, *active_low, edges_tx)?,
        ButtonConfig::Evdev { device, key_code } => {
            vigie_agent::button::evdev::spawn(device.clone(), *key_code, edges_tx)?
        }
    }
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                AgentEvent::Durable {
                    alarm_id,
                    durable_us,
                } => println!("appui enregistré / press recorded: {alarm_id} ({durable_us} µs)"),
                AgentEvent::InHand { alarm_id } => {
                    println!("alarme prise en charge par le hub / alarm in hand: {alarm_id}")
                }
                AgentEvent::DirectSent { alarm_id, .. } => {
                    println!("SMS envoyé par le boîtier / SMS sent by the box: {alarm_id}")
                }
                AgentEvent::RecordingStarted { recording_id, .. } => {
                    println!("enregistrement démarré / recording started: {recording_id}")
                }
                AgentEvent::RecordingEnded {
                    recording_id,
                    chunks,
                } => println!(
                    "enregistrement terminé / recording ended: {recording_id} ({chunks} chunk(s))"
                ),
                AgentEvent::Heartbeat
                | AgentEvent::ChunkSealed { .. }
                | AgentEvent::ChunkUploaded { .. } => {}
            }
        }
    });
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = shutdown_tx.send(true);
    });
    let deps = Deps {
        client,
        modem,
        now: Arc::new(now),
    };
    vigie_agent::agent::run(config, deps, edges_rx, shutdown_rx, events_tx).await
}
