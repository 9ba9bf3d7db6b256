//! `vigie admin`: shops, contacts, enrolment codes, devices and alarms,
//! working on the hub's database (the running hub picks changes up).

use anyhow::{Context as _, bail};
use clap::Subcommand;
use std::path::Path;
use vigie_core::{Outcome, PhoneNumber, Timestamp};
use vigie_hub::config::Config;
use vigie_hub::store::{NewContact, Relation, Store};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Shops.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// Contacts of a shop, or of the Region (police, desk).
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// One-time enrolment codes.
    Code {
        #[command(subcommand)]
        command: CodeCommand,
    },
    /// Enrolled devices.
    Devices,
    /// The fleet's health: offline boxes first, then those never seen, with flags.
    Fleet,
    /// Recordings: every access is logged with who and why.
    Recording {
        #[command(subcommand)]
        command: RecordingCommand,
    },
    /// Alarms.
    Alarm {
        #[command(subcommand)]
        command: AlarmCommand,
    },
    /// The Region's trust file, for `vigie verify --trust`.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Console accounts (the password is read from the first line of standard input).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// SIA DC-09 transmitters (alarm panels) registered per shop (docs/ops/dc09.md).
    Transmitter {
        #[command(subcommand)]
        command: TransmitterCommand,
    },
    /// GSM SOS pendants registered per shop by their SIM's number (docs/ops/pendants.md).
    Pendant {
        #[command(subcommand)]
        command: PendantCommand,
    },
    /// The hub's database as a whole.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
pub enum TransmitterCommand {
    /// Register a transmitter: `--shop TABAC-63-001 --account 0123AB --key-ascii 0123456789ABCDEF --supervision-interval-s 600`.
    Add {
        /// The shop's reference.
        #[arg(long)]
        shop: String,
        /// The DC-09 account, 3 to 16 hex digits, as the panel sends it (leading zeros kept).
        #[arg(long)]
        account: String,
        /// The AES key as the panel's menu shows it in ASCII (16, 24 or 32 characters).
        #[arg(long, conflicts_with = "key_hex")]
        key_ascii: Option<String>,
        /// The AES key in hex (32, 48 or 64 digits).
        #[arg(long)]
        key_hex: Option<String>,
        /// The panel's expected time between two messages (poll or test); unset: not supervised.
        #[arg(long)]
        supervision_interval_s: Option<u32>,
        /// This panel's window, if not the hub's `[dc09]` one.
        #[arg(long)]
        window_before_s: Option<u32>,
        #[arg(long)]
        window_after_s: Option<u32>,
    },
    /// The transmitters in service.
    List,
    /// Take a transmitter out of service: its frames get DUH.
    Remove {
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
pub enum PendantCommand {
    /// Register a pendant: `--shop TABAC-63-001 --phone "06 12 34 56 78" --pattern "Balise active"`.
    /// Any SMS from that number then raises an alarm for the shop (never cancels one).
    Add {
        /// The shop's reference.
        #[arg(long)]
        shop: String,
        /// The number of the pendant's own SIM (06…, +33…, or international).
        #[arg(long)]
        phone: String,
        /// A message this pendant sends that is not an alarm (its text, or a
        /// part of it); repeat for several. Battery, power and heartbeat
        /// messages are known already.
        #[arg(long = "pattern")]
        patterns: Vec<String>,
    },
    /// The pendants in service, with their last SMS.
    List,
    /// Take a pendant out of service: its SMS are a stranger's from then on.
    Remove {
        #[arg(long)]
        phone: String,
    },
}

/// An AES key from `--key-ascii` or `--key-hex`.
fn transmitter_key(ascii: Option<String>, hex: Option<String>) -> anyhow::Result<Option<Vec<u8>>> {
    match (ascii, hex) {
        (Some(a), None) => {
            if ![16, 24, 32].contains(&a.len()) || !a.is_ascii() {
                bail!("--key-ascii is 16, 24 or 32 ASCII characters");
            }
            Ok(Some(a.into_bytes()))
        }
        (None, Some(h)) => {
            let ok = [32, 48, 64].contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                bail!("--key-hex is 32, 48 or 64 hex digits");
            }
            let bytes = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .context("--key-hex")?;
            Ok(Some(bytes))
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => bail!("give --key-ascii or --key-hex, not both"),
    }
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy a whole hub into an empty store and verify the copy (row counts
    /// and a digest per table): `--from sqlite:/var/lib/vigie/vigie.db --to
    /// postgres://vigie@db1,db2/vigie?target_session_attrs=read-write`.
    /// Stop the hubs first: writes made during the copy are not carried.
    Copy {
        /// The store to copy: sqlite:PATH or postgres://…
        #[arg(long)]
        from: vigie_hub::store::Location,
        /// The empty store to fill (migrated first): sqlite:PATH or postgres://…
        #[arg(long)]
        to: vigie_hub::store::Location,
    },
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account: `echo 'long password' | vigie admin account add --username … --role operator`.
    Add {
        #[arg(long)]
        username: String,
        /// Name shown in the console and the audit log.
        #[arg(long)]
        name: String,
        /// admin, operator, shopkeeper or investigator.
        #[arg(long)]
        role: String,
        /// A shopkeeper's shop (its reference).
        #[arg(long)]
        shop: Option<String>,
        /// Set up the second factor now and print its secret (base32) for an authenticator app.
        #[arg(long)]
        with_totp: bool,
    },
    /// List the accounts.
    List,
    /// No sign-in until enabled again; its sessions end now.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Allow sign-in again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Delete the account for good (the audit log keeps its name).
    Delete {
        #[arg(long)]
        username: String,
    },
    /// A new password, read from standard input: `echo '…' | vigie admin account password --username …`.
    Password {
        #[arg(long)]
        username: String,
    },
    /// Forget the second factor (a lost phone): set up again at the next sign-in.
    ResetSecondFactor {
        #[arg(long)]
        username: String,
    },
}

/// The first line of standard input, without its line end.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}

/// Disable, enable, delete an account, set its password or forget its
/// second factor; written to the audit log as done from the command line.
async fn account_change(
    store: &vigie_hub::store::Store,
    json: bool,
    command: AccountCommand,
) -> anyhow::Result<()> {
    use vigie_hub::store::AccountChange;
    let (username, change) = match command {
        AccountCommand::Disable { username } => (username, AccountChange::Disable),
        AccountCommand::Enable { username } => (username, AccountChange::Enable),
        AccountCommand::Delete { username } => (username, AccountChange::Delete),
        AccountCommand::ResetSecondFactor { username } => {
            (username, AccountChange::ResetSecondFactor)
        }
        AccountCommand::Password { username } => {
            let password = password_from_stdin()?;
            let hash =
                tokio::task::spawn_blocking(move || vigie_console::auth::password::hash(&password))
                    .await??;
            (username, AccountChange::SetPassword(hash))
        }
        AccountCommand::Add { .. } | AccountCommand::List => return Ok(()),
    };
    let Some(account) = store.account_by_username(&username).await? else {
        bail!("aucun compte « {username} » / no such account (vigie admin account list)");
    };
    let action = change.action();
    let audit = vigie_hub::store::Audit {
        account_id: None,
        username: "(ligne de commande)".into(),
        action,
        target: format!("account:{}", account.id),
        reason: None,
        detail: serde_json::json!({}),
    };
    store
        .change_account(account.id, change, audit, now())
        .await?;
    let out = serde_json::json!({ "username": account.username, "done": action });
    print(json, &out, || {
        format!("compte « {} » : {action} / done", account.username)
    })
}

#[derive(Subcommand)]
pub enum ShopCommand {
    Add {
        #[arg(long)]
        reference: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        address: String,
        /// The commune's INSEE code (e.g. 63430 for Thiers).
        #[arg(long)]
        insee: String,
        #[arg(long)]
        holder_name: String,
        #[arg(long)]
        holder_phone: String,
        #[arg(long, default_value = "")]
        opening_hours: String,
    },
    /// Import the Region's list (CSV); every bad line is reported and nothing is imported unless all are good.
    Import {
        file: std::path::PathBuf,
    },
    /// This shop's own escalation policy (omit a value to use the Region's).
    Policy {
        #[arg(long)]
        shop: String,
        /// Seconds a tier has before the next is alerted.
        #[arg(long)]
        tier_timeout_s: Option<u32>,
        /// Start over from the first tier after the last.
        #[arg(long)]
        repeat: Option<bool>,
    },
    List,
}

#[derive(Subcommand)]
pub enum ContactCommand {
    Add {
        /// The shop's reference; omit with --region for a Region-wide contact.
        #[arg(long)]
        shop: Option<String>,
        #[arg(long)]
        region: bool,
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: String,
        /// friend, neighbour, police or desk.
        #[arg(long, default_value = "friend")]
        relation: String,
        #[arg(long, default_value_t = 1)]
        tier: u8,
    },
    List {
        #[arg(long)]
        shop: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum CodeCommand {
    New {
        #[arg(long)]
        shop: String,
    },
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Write the trust file the Region publishes: this hub's key
    /// fingerprint with its validity period, and the TSA root
    /// (docs/protocol/evidence.md §6). To rotate, give the file published
    /// before with `--previous`: its keys are kept, closed where this one begins.
    Export {
        /// The Region's name, as verifiers will read it.
        #[arg(long)]
        region: String,
        /// Where to write it (standard output if absent).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The trust file published before (rotation).
        #[arg(long)]
        previous: Option<std::path::PathBuf>,
        /// Start of this key's period, ms since the Unix epoch (default: the
        /// log's first checkpoint, or now if there is none).
        #[arg(long)]
        valid_from_ms: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum RecordingCommand {
    List,
    /// Write the decrypted audio to a file (logged as a listen).
    Listen {
        id: uuid::Uuid,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Keep it past its retention (a complaint was filed).
    Hold {
        id: uuid::Uuid,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
    },
    Release {
        id: uuid::Uuid,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
    },
    /// The evidence export (ZIP) that `vigie verify` checks offline.
    Export {
        id: uuid::Uuid,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AlarmCommand {
    /// The newest alarms; says so when there are more than `--limit`.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The full timeline of one alarm.
    Show { id: uuid::Uuid },
    /// Close an alarm: incident, false_alarm or test.
    Resolve {
        id: uuid::Uuid,
        #[arg(long)]
        outcome: String,
    },
}

fn now() -> Timestamp {
    Timestamp(crate::device::now_ms())
}

fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

pub async fn run(config_path: &Path, json: bool, command: AdminCommand) -> anyhow::Result<()> {
    let config = if config_path.exists() {
        Config::load(config_path)?
    } else {
        Config::parse("", std::env::vars())?
    };
    let rules = vigie_hub::app::rules_from(&config, true);
    if let AdminCommand::Store { command } = command {
        return store_command(json, command, rules).await;
    }
    let location = config.store.location();
    let store = Store::open(&location, rules).with_context(|| format!("opening {location:?}"))?;
    match command {
        AdminCommand::Shop { command } => match command {
            ShopCommand::Add {
                reference,
                name,
                address,
                insee,
                holder_name,
                holder_phone,
                opening_hours,
            } => {
                let text = format!(
                    "{}\n{},{},{},{},{},{},{}\n",
                    vigie_hub::region::SHOP_CSV_HEADER,
                    csv(&reference),
                    csv(&name),
                    csv(&address),
                    csv(&insee),
                    csv(&holder_name),
                    csv(&holder_phone),
                    csv(&opening_hours)
                );
                let shops = vigie_hub::region::parse_shop_csv(&text)
                    .map_err(|e| anyhow::anyhow!(e.join("\n")))?;
                let n = store.import_shops(shops, now()).await?;
                print(json, &n, || {
                    format!("commerce ajouté / shop added: {reference}")
                })?;
            }
            ShopCommand::Import { file } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let shops = match vigie_hub::region::parse_shop_csv(&text) {
                    Ok(s) => s,
                    Err(errors) => {
                        for e in &errors {
                            eprintln!("{e}");
                        }
                        bail!(
                            "{} ligne(s) en erreur, rien n'a été importé / {} bad line(s), nothing imported",
                            errors.len(),
                            errors.len()
                        );
                    }
                };
                let n = store.import_shops(shops, now()).await?;
                print(json, &n, || {
                    format!("{n} commerces importés / shops imported")
                })?;
            }
            ShopCommand::Policy {
                shop,
                tier_timeout_s,
                repeat,
            } => {
                let shop = store.shop_by_reference(&shop).await?;
                store
                    .set_shop_policy(shop.id, tier_timeout_s, repeat)
                    .await?;
                print(json, &(tier_timeout_s, repeat), || {
                    format!(
                        "politique d'escalade de {} : {tier_timeout_s:?} s, répétition {repeat:?} (None = celle de la Région)",
                        shop.name
                    )
                })?;
            }
            ShopCommand::List => {
                let shops = store.shops().await?;
                print(json, &shops, || {
                    shops
                        .iter()
                        .map(|s| {
                            format!(
                                "{}\t{}\t{} {}\t{}",
                                s.reference,
                                s.name,
                                s.postcode,
                                s.commune,
                                if s.rural { "rural" } else { "urbain" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
        },
        AdminCommand::Contact { command } => match command {
            ContactCommand::Add {
                shop,
                region,
                name,
                phone,
                relation,
                tier,
            } => {
                let shop_id = match (shop, region) {
                    (Some(r), false) => Some(store.shop_by_reference(&r).await?.id),
                    (None, true) => None,
                    _ => bail!("give either --shop REFERENCE or --region"),
                };
                let phone =
                    PhoneNumber::parse(&phone).map_err(|e| anyhow::anyhow!("--phone: {e}"))?;
                let relation = Relation::parse(&relation)
                    .context("--relation must be friend, neighbour, police or desk")?;
                let contact = store
                    .add_contact(
                        NewContact {
                            shop_id,
                            name,
                            phone,
                            relation,
                            tier,
                        },
                        now(),
                    )
                    .await?;
                print(json, &contact, || {
                    format!(
                        "contact ajouté / contact added: {} ({}), consentement / consent: {}",
                        contact.name,
                        contact.phone.national_display(),
                        contact.consent.as_str()
                    )
                })?;
            }
            ContactCommand::List { shop } => {
                let shop_id = match shop {
                    Some(r) => Some(store.shop_by_reference(&r).await?.id),
                    None => None,
                };
                let contacts = store.contacts(shop_id).await?;
                print(json, &contacts, || {
                    contacts
                        .iter()
                        .map(|c| {
                            format!(
                                "{}\tniveau {}\t{}\t{}\t{}{}",
                                c.id,
                                c.tier,
                                c.name,
                                c.phone.national_display(),
                                c.consent.as_str(),
                                if c.bounced {
                                    "\tnuméro en échec / bouncing"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
        },
        AdminCommand::Code {
            command: CodeCommand::New { shop },
        } => {
            let shop = store.shop_by_reference(&shop).await?;
            let code = store.new_enrolment_code(shop.id, now()).await?;
            print(json, &code, || {
                format!(
                    "code d'enrôlement / enrolment code for {}: {code}",
                    shop.name
                )
            })?;
        }
        AdminCommand::Transmitter { command } => match command {
            TransmitterCommand::Add {
                shop,
                account,
                key_ascii,
                key_hex,
                supervision_interval_s,
                window_before_s,
                window_after_s,
            } => {
                let shop_id = store.shop_by_reference(&shop).await?.id;
                let key = transmitter_key(key_ascii, key_hex)?;
                let encrypted = key.is_some();
                store
                    .add_transmitter(
                        vigie_hub::store::NewTransmitter {
                            account: account.clone(),
                            shop_id,
                            key,
                            window_before_s,
                            window_after_s,
                            supervision_interval_s,
                        },
                        now(),
                    )
                    .await?;
                let added = serde_json::json!({ "account": account.to_ascii_uppercase(), "shop": shop, "encrypted": encrypted });
                print(json, &added, || {
                    format!(
                        "transmetteur enregistré / transmitter registered: {} ({shop}, {})",
                        account.to_ascii_uppercase(),
                        if encrypted { "AES" } else { "en clair / clear" }
                    )
                })?;
            }
            TransmitterCommand::List => {
                let list = store.transmitters(None).await?;
                // Each panel's shop named by the reference `add` took.
                let references: std::collections::HashMap<i64, String> = store
                    .shops()
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s.reference))
                    .collect();
                let reference = |id: i64| references.get(&id).cloned().unwrap_or_default();
                let listed = list
                    .iter()
                    .map(|t| {
                        let mut v = serde_json::to_value(t)?;
                        v["shop"] = serde_json::Value::String(reference(t.shop_id));
                        Ok(v)
                    })
                    .collect::<Result<Vec<_>, serde_json::Error>>()?;
                print(json, &listed, || {
                    list.iter()
                        .map(|t| {
                            format!(
                                "{}\t{}\t{}\tsupervision {}\t{}",
                                t.account,
                                reference(t.shop_id),
                                if t.encrypted { "AES" } else { "clear" },
                                t.supervision_interval_s
                                    .map_or("-".to_string(), |s| format!("{s} s")),
                                if t.silent_since.is_some() {
                                    "SILENCIEUX / SILENT"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
            TransmitterCommand::Remove { account } => {
                store.remove_transmitter(&account, now()).await?;
                print(json, &serde_json::json!({ "removed": account }), || {
                    format!("transmetteur retiré / transmitter removed: {account}")
                })?;
            }
        },
        AdminCommand::Pendant { command } => match command {
            PendantCommand::Add {
                shop,
                phone,
                patterns,
            } => {
                let shop_id = store.shop_by_reference(&shop).await?.id;
                let phone =
                    PhoneNumber::parse(&phone).map_err(|e| anyhow::anyhow!("--phone: {e}"))?;
                let added = store
                    .add_pendant(
                        vigie_hub::store::NewPendant {
                            shop_id,
                            phone,
                            patterns,
                        },
                        now(),
                    )
                    .await?;
                let shown = serde_json::json!({ "phone": added.phone.as_e164(), "shop": shop, "patterns": added.patterns });
                print(json, &shown, || {
                    format!(
                        "pendentif enregistré / pendant registered: {} ({shop}), {} motif(s) / pattern(s)",
                        added.phone.national_display(),
                        added.patterns.len()
                    )
                })?;
            }
            PendantCommand::List => {
                let list = store.pendants(None).await?;
                let references: std::collections::HashMap<i64, String> = store
                    .shops()
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s.reference))
                    .collect();
                let reference = |id: i64| references.get(&id).cloned().unwrap_or_default();
                let listed = list
                    .iter()
                    .map(|p| {
                        let mut v = serde_json::to_value(p)?;
                        v["shop"] = serde_json::Value::String(reference(p.shop_id));
                        Ok(v)
                    })
                    .collect::<Result<Vec<_>, serde_json::Error>>()?;
                print(json, &listed, || {
                    list.iter()
                        .map(|p| {
                            format!(
                                "{}\t{}\t{} motif(s) / pattern(s)\tdernier SMS / last SMS {}{}",
                                p.phone.national_display(),
                                reference(p.shop_id),
                                p.patterns.len(),
                                p.last_message_at.map_or("-".to_string(), |t| {
                                    let c = t.paris();
                                    format!(
                                        "{:02}/{:02}/{} {}",
                                        c.day,
                                        c.month,
                                        c.year,
                                        c.hour_minute_fr()
                                    )
                                }),
                                if p.last_flood_at.is_some() {
                                    "\tRAFALE SIGNALÉE / FLOOD FLAGGED"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
            PendantCommand::Remove { phone } => {
                let phone =
                    PhoneNumber::parse(&phone).map_err(|e| anyhow::anyhow!("--phone: {e}"))?;
                store.remove_pendant(&phone, now()).await?;
                print(
                    json,
                    &serde_json::json!({ "removed": phone.as_e164() }),
                    || {
                        format!(
                            "pendentif retiré / pendant removed: {}",
                            phone.national_display()
                        )
                    },
                )?;
            }
        },
        AdminCommand::Devices => {
            let devices = store.devices().await?;
            print(json, &devices, || {
                devices
                    .iter()
                    .map(|d| format!("{}\tshop {}\t{}\t{}", d.id, d.shop_id, d.state, d.version))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        AdminCommand::Fleet => {
            let mut fleet = store.fleet_health(now()).await?;
            let rank = |d: &vigie_hub::store::DeviceHealth| match d.liveness {
                vigie_core::supervision::Liveness::Offline => 0,
                vigie_core::supervision::Liveness::NeverSeen => 1,
                vigie_core::supervision::Liveness::Online => 2,
            };
            fleet.sort_by_key(|d| (rank(d), d.shop_reference.clone()));
            let shops = store.shops().await?.len();
            print(json, &fleet, || {
                let online = fleet.iter().filter(|d| rank(d) == 2).count();
                let offline = fleet.iter().filter(|d| rank(d) == 0).count();
                let ready = fleet
                    .iter()
                    .filter(|d| !d.flags.contains(&vigie_core::supervision::Flag::NotReady))
                    .count();
                let mut out = format!(
                    "{} boîtiers pour {shops} commerces — {online} en ligne, {offline} hors ligne, {ready} prêts (test de bout en bout récent)\n",
                    fleet.len()
                );
                for d in &fleet {
                    out.push_str(&format!(
                        "{:<10} {:<28} {:<10} vu {:<25} batterie {:<5} signal {:<3} modem {:<14} file {:<3} {}\n",
                        d.shop_reference,
                        d.shop_name.chars().take(28).collect::<String>(),
                        format!("{:?}", d.liveness).to_lowercase(),
                        d.last_seen_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "jamais".into()),
                        d.battery_pct.map(|b| format!("{b}%")).unwrap_or_else(|| "-".into()),
                        d.signal_csq.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                        d.modem.clone().unwrap_or_else(|| "-".into()),
                        d.outbox_depth.map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
                        d.flags.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(" "),
                    ));
                }
                out
            })?;
        }
        AdminCommand::Recording { command } => recording(&config, &store, json, command).await?,
        AdminCommand::Trust { command } => trust(&config, &store, command).await?,
        // Handled before any store is opened.
        AdminCommand::Store { .. } => bail!("vigie admin store: handled above"),
        AdminCommand::Account { command } => match command {
            AccountCommand::Add {
                username,
                name,
                role,
                shop,
                with_totp,
            } => {
                let Some(role) = vigie_hub::store::Role::parse(&role) else {
                    bail!(
                        "rôle inconnu « {role} » : admin, operator, shopkeeper ou investigator / unknown role"
                    );
                };
                let shop_id = match shop {
                    Some(reference) => Some(store.shop_by_reference(&reference).await?.id),
                    None => None,
                };
                let password = password_from_stdin()?;
                let request = vigie_console::AccountRequest {
                    username: &username,
                    display_name: &name,
                    role,
                    shop_id,
                    password: &password,
                    with_totp,
                };
                let (account, secret) =
                    vigie_console::create_account(&store, request, now()).await?;
                let out = serde_json::json!({ "username": account.username, "role": role.as_str(), "totp_secret": secret });
                print(json, &out, || match &secret {
                    Some(s) => format!(
                        "compte « {} » créé ; clé du second facteur / second-factor key: {s}",
                        account.username
                    ),
                    None => format!("compte « {} » créé / account created", account.username),
                })?;
            }
            AccountCommand::List => {
                let accounts = store.accounts().await?;
                print(json, &accounts, || {
                    accounts
                        .iter()
                        .map(|a| {
                            format!(
                                "{}\t{}\t{}{}",
                                a.username,
                                a.role.as_str(),
                                a.display_name,
                                if a.disabled {
                                    "\t(désactivé / disabled)"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
            change => account_change(&store, json, change).await?,
        },
        AdminCommand::Alarm { command } => match command {
            AlarmCommand::List { limit } => {
                let mut alarms = store.alarms(limit.saturating_add(1)).await?;
                let more = alarms.len() > limit;
                alarms.truncate(limit);
                if more {
                    eprintln!(
                        "les {limit} alarmes les plus récentes ; il y en a d'autres : --limit N pour en voir plus / \
                         the newest {limit} alarms; there are more: --limit N to see them"
                    );
                }
                print(json, &alarms, || {
                    alarms
                        .iter()
                        .map(|a| {
                            format!(
                                "{}\t{}\t{}\tshop {}\t{}",
                                a.id,
                                a.code,
                                a.state.as_str(),
                                a.shop_id,
                                a.received_at.to_rfc3339()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })?;
            }
            AlarmCommand::Show { id } => {
                let d = store.alarm(id).await?;
                print(json, &d, || timeline(&d))?;
            }
            AlarmCommand::Resolve { id, outcome } => {
                let outcome = Outcome::parse(&outcome)
                    .context("--outcome must be incident, false_alarm or test")?;
                let a = store.resolve_alarm(id, outcome, "admin", now()).await?;
                print(json, &a, || {
                    format!(
                        "alarme close / alarm closed: {} ({})",
                        a.id,
                        outcome.as_str()
                    )
                })?;
            }
        },
    }
    Ok(())
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A readable timeline: events, then each SMS with its fate.
pub fn timeline(d: &vigie_hub::store::AlarmDetail) -> String {
    let mut out = format!(
        "Alarme {} ({}) — {} — {}, {}\nÉtat / state: {}{}\n",
        d.alarm.id,
        d.alarm.code,
        d.shop.name,
        d.shop.address,
        d.shop.commune,
        d.alarm.state.as_str(),
        d.alarm
            .outcome
            .map(|o| format!(" ({})", o.as_str()))
            .unwrap_or_default()
    );
    for e in &d.events {
        out.push_str(&format!(
            "  {}  {:<20} {}\n",
            e.at.paris().hour_minute_fr(),
            e.kind,
            e.detail
        ));
    }
    out.push_str("SMS:\n");
    for n in &d.notifications {
        let phone = PhoneNumber::parse(&n.phone)
            .map(|p| p.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "  #{:<5} {:<8} {:<10} {:<10} {}\n",
            n.id,
            n.purpose,
            n.state,
            phone,
            n.error.clone().unwrap_or_default()
        ));
    }
    out
}

async fn trust(config: &Config, store: &Store, command: TrustCommand) -> anyhow::Result<()> {
    let TrustCommand::Export {
        region,
        out,
        previous,
        valid_from_ms,
    } = command;
    let vault = vigie_hub::app::open_vault(config)?;
    let previous = match &previous {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("impossible de lire / cannot read {}", path.display()))?;
            Some(
                vigie_evidence::trust::Trust::parse(&bytes).with_context(|| {
                    format!("{} : fichier de confiance / trust file", path.display())
                })?,
            )
        }
        None => None,
    };
    let from = match valid_from_ms {
        Some(ms) => ms,
        None => store
            .checkpoints()
            .await?
            .first()
            .map_or(now().as_ms(), |c| c.at.as_ms())
            .max(0) as u64,
    };
    let file = vigie_hub::vault::trust::trust_file(&vault, &region, from, previous.as_ref())?;
    let bytes = file.encode();
    match out {
        Some(path) => {
            std::fs::write(&path, &bytes).with_context(|| {
                format!("impossible d'écrire / cannot write {}", path.display())
            })?;
            println!(
                "fichier de confiance écrit dans {p} : à publier par la Région ; trust file written to {p}: for the Region to publish",
                p = path.display()
            );
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

async fn recording(
    config: &Config,
    store: &Store,
    json: bool,
    command: RecordingCommand,
) -> anyhow::Result<()> {
    use vigie_evidence::custody::Action;
    let vault = vigie_hub::app::open_vault(config)?;
    match command {
        RecordingCommand::List => {
            let list = store.recordings().await?;
            print(json, &list, || {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\talarme {}\t{} morceaux\t{}\tconservé jusqu'au {}{}",
                            r.id,
                            r.alarm_id,
                            r.chunks,
                            if r.deleted_at.is_some() {
                                "détruit"
                            } else if r.is_final {
                                "complet"
                            } else {
                                "tronqué ou en cours"
                            },
                            r.retention_until.to_rfc3339(),
                            if r.legal_hold {
                                "\tconservation judiciaire"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        RecordingCommand::Listen {
            id,
            actor,
            reason,
            out,
        } => {
            store
                .custody(id, &actor, Action::Listen, &reason, now())
                .await?;
            let audio = vault.audio(store, id).await?.concat();
            std::fs::write(&out, &audio)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "écoute enregistrée au journal ; audio écrit dans {} / listen logged; audio written",
                out.display()
            );
        }
        RecordingCommand::Hold { id, actor, reason } => {
            store
                .custody(id, &actor, Action::Hold, &reason, now())
                .await?;
            println!("conservation judiciaire posée / legal hold set");
        }
        RecordingCommand::Release { id, actor, reason } => {
            store
                .custody(id, &actor, Action::Release, &reason, now())
                .await?;
            println!("conservation judiciaire levée / legal hold released");
        }
        RecordingCommand::Export {
            id,
            actor,
            reason,
            out,
        } => {
            let (rec, _) = store.recording(id).await?;
            let alarm = store.alarm(rec.alarm_id).await?;
            let facts = vigie_hub::vault::export::ReportFacts {
                shop: alarm.shop.name.clone(),
                commune: alarm.shop.commune.clone(),
                alarm_pressed_at: alarm.alarm.pressed_at,
            };
            let zip =
                vigie_hub::vault::export::export(&vault, store, id, &actor, &reason, &facts, now())
                    .await?;
            std::fs::write(&out, &zip)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "export écrit dans {} ({} octets) ; vérifiez-le avec « vigie verify --trust FICHIER {} »",
                out.display(),
                zip.len(),
                out.display()
            );
        }
    }
    Ok(())
}

async fn store_command(
    json: bool,
    command: StoreCommand,
    rules: vigie_hub::store::Rules,
) -> anyhow::Result<()> {
    match command {
        StoreCommand::Copy { from, to } => {
            if from == to {
                bail!("--from and --to are the same store");
            }
            let (opening_from, opening_to, r) = (from.clone(), to.clone(), rules.clone());
            let (source, target) = tokio::task::spawn_blocking(move || {
                let source = Store::open(&opening_from, r.clone())
                    .with_context(|| format!("opening {opening_from:?}"))?;
                let target = Store::open(&opening_to, r)
                    .with_context(|| format!("opening {opening_to:?}"))?;
                anyhow::Ok((source, target))
            })
            .await??;
            if !json {
                println!("copie / copy: {from:?} → {to:?}");
            }
            let report = vigie_hub::store::copy::copy_store(&source, &target, |t| {
                if !json {
                    println!(
                        "  {:<16} {:>9} lignes / rows  {}  {}",
                        t.table,
                        t.rows,
                        &t.digest[..16],
                        if t.verified {
                            "vérifiée / verified"
                        } else {
                            "DIFFÉRENTE / DIFFERS"
                        }
                    );
                }
            })
            .await?;
            let bad: Vec<&str> = report
                .iter()
                .filter(|t| !t.verified)
                .map(|t| t.table.as_str())
                .collect();
            print(json, &report, || {
                let rows: u64 = report.iter().map(|t| t.rows).sum();
                format!(
                    "{} tables, {rows} lignes copiées / rows copied",
                    report.len()
                )
            })?;
            if !bad.is_empty() {
                bail!(
                    "la copie diffère de la source / the copy differs from the source: {}",
                    bad.join(", ")
                );
            }
        }
    }
    Ok(())
}
