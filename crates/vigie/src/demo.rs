//! `vigie demo`: a whole Region on one machine. A hub on embedded SQLite in
//! a temporary folder, shops in real communes (45% rural), contacts who
//! accept by SMS, a button that enrols and presses, and the story told step
//! by step: SMS shown (not sent), escalation after a minute without answer,
//! a contact who answers through the link, the alarm closed; then a false
//! alarm cancelled by a long press; then the standard alarm inputs: the
//! shop's alarm panel sends a panic frame over SIA DC-09 (built by the hub's
//! own codec, standing for the panel) and gets its ACK, the shopkeeper's GSM
//! SOS pendant texts the hub, and a spoofed « annuler » from its number
//! changes nothing; then the recording. Time runs on a manual clock so the
//! minute of escalation passes at once. `--scenario` checks every step and
//! exits non-zero if one did not happen.

use crate::device::Button;
use anyhow::{Context as _, bail};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use vigie_core::{Outcome, PhoneNumber, Timestamp};
use vigie_hub::app::RunningHub;
use vigie_hub::clock::ManualClock;
use vigie_hub::config::Config;
use vigie_hub::gateway::log::{LogGateway, LoggedSms};
use vigie_hub::store::{NewContact, Relation};

/// The demo's desk account (an operator: no second factor needed).
const DEMO_OPERATOR: &str = "operateur";
/// The demo's shopkeeper account (the first shop's holder).
const DEMO_SHOPKEEPER: &str = "commercante";

/// A fresh password for the demo's account, printed once.
fn demo_password() -> String {
    use rand::Rng as _;
    const WORDS: &[&str] = &[
        "tabac",
        "vigie",
        "alerte",
        "comptoir",
        "buraliste",
        "sentinelle",
        "lanterne",
        "bouton",
    ];
    let mut rng = rand::thread_rng();
    format!(
        "{}-{}-{:04}",
        WORDS[rng.gen_range(0..WORDS.len())],
        WORDS[rng.gen_range(0..WORDS.len())],
        rng.gen_range(0..10_000)
    )
}

/// How long the demo waits for an SMS to be sent before calling the step failed.
const STEP_DEADLINE_MS: u64 = 10_000;
/// The demo panel's DC-09 account and AES-128 key (as its menu shows it).
const PANEL_ACCOUNT: &str = "0A1B2C";
const PANEL_KEY_ASCII: &str = "D3M0-V1G13-AES16";
/// The panel's sequence number for its panic frame.
const PANEL_SEQ: u16 = 42;
/// A DC-09 reply longer than this is not one.
const DC09_REPLY_BYTES_MAX: u64 = 4_096;
/// The shopkeeper's GSM SOS pendant (its own SIM's number).
const PENDANT_PHONE: &str = "06 70 00 00 01";

struct Demo {
    /// Where the console is and how to sign in.
    console_line: String,
    /// The demo accounts' password (printed with `console_line`).
    password: String,
    hub: RunningHub,
    clock: Arc<ManualClock>,
    /// A local time-stamping authority (openssl) standing for a qualified one.
    tsa: Option<vigie_testkit::tsa::Tsa>,
    dir: std::path::PathBuf,
    /// Record from the default microphone rather than a generated signal.
    mic: bool,
    phones: PhonesSeen,
    failures: Vec<String>,
    names: Vec<(String, String)>,
}

/// The demo's view of the log gateway: what was printed so far.
struct PhonesSeen {
    gateway: Arc<LogGateway>,
    shown: usize,
}

impl Demo {
    fn say(&self, text: &str) {
        println!("\n▶ {text}");
    }

    fn who(&self, phone: &str) -> String {
        let name = self
            .names
            .iter()
            .find(|(p, _)| p == phone)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        let display = PhoneNumber::parse(phone)
            .map(|p| p.national_display())
            .unwrap_or_default();
        format!("{name} ({display})")
    }

    /// Print the SMS sent since last time.
    fn show_sms(&mut self) -> Vec<LoggedSms> {
        let sent = self.phones.gateway.sent();
        let new: Vec<LoggedSms> = sent[self.phones.shown.min(sent.len())..].to_vec();
        for s in &new {
            println!("   📱 → {:<34} « {} »", self.who(&s.to), s.text);
        }
        self.phones.shown = sent.len();
        new
    }

    /// Wait until SMS matching `want` have been sent to each phone; print them.
    async fn expect_sms(&mut self, step: &str, phones: &[&str], contains: &str) -> Vec<LoggedSms> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(STEP_DEADLINE_MS);
        let start = self.phones.shown;
        loop {
            let sent = self.phones.gateway.sent();
            let since = &sent[start.min(sent.len())..];
            let all = phones.iter().all(|p| {
                since
                    .iter()
                    .any(|s| &s.to == p && s.text.contains(contains))
            });
            if all || tokio::time::Instant::now() > deadline {
                let new = self.show_sms();
                if !all {
                    self.fail(step);
                }
                return new;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn check(&mut self, ok: bool, step: &str) {
        if ok {
            println!("   ✔ {step}");
        } else {
            self.fail(step);
        }
    }

    fn fail(&mut self, step: &str) {
        println!("   ✘ ÉCHEC / FAILED: {step}");
        self.failures.push(step.to_string());
    }

    fn now(&self) -> Timestamp {
        use vigie_hub::clock::Clock as _;
        self.clock.now()
    }

    async fn pass_time(&mut self, seconds: i64) -> anyhow::Result<()> {
        self.clock.advance_ms(seconds * 1_000);
        self.hub.engine.tick(self.now()).await?;
        Ok(())
    }
}

fn link_token(text: &str) -> Option<String> {
    let i = text.find("/r/")?;
    Some(
        text[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect(),
    )
}

pub async fn run(
    scenario: bool,
    port: u16,
    mic: bool,
    store: Option<String>,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vigie-demo-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
    };
    let addr = listener.local_addr()?;
    // Exports need trusted time: a local openssl TSA stands for a qualified one.
    let tsa = match vigie_testkit::tsa::Tsa::start() {
        Ok(t) => Some(t),
        Err(e) => {
            println!(
                "(pas d'autorité d'horodatage locale / no local time-stamping authority: {e:#})"
            );
            None
        }
    };
    let vault = match &tsa {
        Some(t) => {
            let chain = dir.join("tsa-chain.pem");
            std::fs::write(&chain, t.chain_pem()?)?;
            format!(
                "[vault]\ntsa_urls = [\"{}\"]\ntsa_chain_pem = \"{}\"\n",
                t.url(),
                chain.display()
            )
        }
        None => String::new(),
    };
    let config = Config::parse(
        &format!(
            "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n[store]\nsqlite_path = \"{}\"\n{url}{vault}[dc09]\ntcp_listen = \"127.0.0.1:0\"\n[[gateways]]\nkind = \"log\"\nname = \"demo\"\n",
            dir.join("vigie.db").display(),
            url = store
                .as_ref()
                .map(|u| format!("url = \"{u}\"\n"))
                .unwrap_or_default(),
        ),
        [],
    )?;
    let clock = ManualClock::new(Timestamp(crate::device::now_ms()));
    let console = vigie_console::mount(vigie_console::config_from(&config));
    let hub =
        vigie_hub::app::start_with_ui(&config, clock.clone(), listener, Some(console)).await?;
    let gateway = hub
        .log_gateway("demo")
        .context("the demo gateway is missing")?;
    println!("Vigie — démonstration / demo");
    match &store {
        None => println!("Hub : {} (SQLite dans / in {})", hub.url(), dir.display()),
        Some(url) => println!(
            "Hub : {} (PostgreSQL : {})",
            hub.url(),
            vigie_hub::store::redact_url(url)
        ),
    }
    if let Some(tcp) = hub.dc09.as_ref().and_then(|d| d.tcp_addr) {
        println!("Récepteur SIA DC-09 / DC-09 receiver : {tcp} (TCP)");
    }
    let password = demo_password();
    let request = vigie_console::AccountRequest {
        username: DEMO_OPERATOR,
        display_name: "Poste de sécurité (démo)",
        role: vigie_hub::store::Role::Operator,
        shop_id: None,
        password: &password,
        with_totp: false,
    };
    vigie_console::create_account(&hub.store, request, {
        use vigie_hub::clock::Clock as _;
        clock.now()
    })
    .await?;
    let console_line = format!(
        "Console : {}/console — compte / account « {DEMO_OPERATOR} », mot de passe / password « {password} »",
        hub.url()
    );
    println!("{console_line}");
    let mut demo = Demo {
        console_line,
        password,
        hub,
        clock,
        phones: PhonesSeen { gateway, shown: 0 },
        failures: Vec::new(),
        names: Vec::new(),
        tsa,
        dir: dir.clone(),
        mic,
    };
    let result = story(&mut demo).await;
    if let Err(e) = &result {
        demo.fail(&format!("{e:#}"));
    }
    if scenario {
        demo.hub.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        if demo.failures.is_empty() {
            println!(
                "\nScénario réussi : toutes les étapes ont eu lieu. / Scenario passed: every step happened."
            );
            return Ok(());
        }
        bail!(
            "{} étape(s) en échec / step(s) failed: {}",
            demo.failures.len(),
            demo.failures.join("; ")
        );
    }
    interactive(demo).await
}

async fn story(d: &mut Demo) -> anyhow::Result<()> {
    let store = d.hub.store.clone();
    let now = d.now();

    d.say("La Région enregistre ses commerces (communes réelles, 45 % rurales) et ses contacts. / The Region registers its shops and contacts.");
    let shops = vigie_hub::region::synthetic_shops(12);
    let shop = shops[0].clone();
    let n = store.import_shops(shops, now).await?;
    let shop_row = store.shop_by_reference(&shop.reference).await?;
    println!(
        "   {n} commerces ; le nôtre : {} — {}, {} {} ({}), tenu par {}",
        shop.name,
        shop.address,
        shop.postcode,
        shop.commune,
        if shop.rural {
            "commune rurale"
        } else {
            "commune urbaine"
        },
        shop.holder_name
    );
    d.names.push((
        shop.holder_phone.as_e164().to_string(),
        format!("{} (commerçante)", shop.holder_name),
    ));
    // The holder's own console account: her shop, its alarms and contacts.
    let request = vigie_console::AccountRequest {
        username: DEMO_SHOPKEEPER,
        display_name: &shop.holder_name,
        role: vigie_hub::store::Role::Shopkeeper,
        shop_id: Some(shop_row.id),
        password: &d.password,
        with_totp: false,
    };
    vigie_console::create_account(&store, request, now).await?;
    d.console_line.push_str(&format!(
        "\n          commerçante / shopkeeper « {DEMO_SHOPKEEPER} » (même mot de passe / same password) : sa boutique, ses contacts"
    ));
    println!("{}", d.console_line);
    let people = [
        (
            "Marie Dupont",
            "06 11 22 33 44",
            Relation::Friend,
            1,
            Some(shop_row.id),
        ),
        (
            "Ahmed Benali",
            "06 55 66 77 88",
            Relation::Neighbour,
            1,
            Some(shop_row.id),
        ),
        (
            "Luc Fabre",
            "07 12 12 12 12",
            Relation::Friend,
            1,
            Some(shop_row.id),
        ),
        (
            "Gendarmerie de proximité",
            "04 73 00 00 17",
            Relation::Police,
            2,
            None,
        ),
        (
            "Région, poste de sécurité",
            "04 26 73 40 00",
            Relation::Desk,
            3,
            None,
        ),
    ];
    let mut phones = Vec::new();
    for (name, phone, relation, tier, shop_id) in people {
        let phone = PhoneNumber::parse(phone).map_err(|e| anyhow::anyhow!("{e}"))?;
        d.names
            .push((phone.as_e164().to_string(), name.to_string()));
        phones.push(phone.as_e164().to_string());
        store
            .add_contact(
                NewContact {
                    shop_id,
                    name: name.into(),
                    phone,
                    relation,
                    tier,
                },
                now,
            )
            .await?;
    }
    d.hub.engine.wake_dispatch();
    let (marie, ahmed, luc, police, desk) = (
        phones[0].clone(),
        phones[1].clone(),
        phones[2].clone(),
        phones[3].clone(),
        phones[4].clone(),
    );
    let holder = shop.holder_phone.as_e164().to_string();
    d.say("Chaque ami ou voisin reçoit une demande de consentement. / Friends and neighbours are asked for consent.");
    d.expect_sms(
        "demandes de consentement envoyées",
        &[&marie, &ahmed, &luc],
        "contact d'urgence",
    )
    .await;
    d.say("Marie et Ahmed répondent OUI ; Luc ne répond pas (il ne recevra pas d'alerte). / Marie and Ahmed reply YES; Luc does not.");
    store.handle_reply("demo", &marie, "oui", d.now()).await?;
    store.handle_reply("demo", &ahmed, "OUI", d.now()).await?;
    d.hub.engine.wake_dispatch();
    d.expect_sms("consentements confirmés", &[&marie, &ahmed], "merci")
        .await;

    d.say("Le bouton du commerce s'enrôle avec un code à usage unique. / The shop's button enrols with a one-time code.");
    let code = store.new_enrolment_code(shop_row.id, d.now()).await?;
    let (button, enrolled) = Button::enroll(reqwest::Client::new(), &d.hub.url(), &code).await?;
    println!(
        "   code {code} → boîtier {} ({} contacts joignables en direct)",
        enrolled.device_id,
        enrolled.direct_contacts.len()
    );

    d.say(&format!(
        "{} appuie sur le bouton. / The shopkeeper presses the button.",
        shop.holder_name
    ));
    let t = d.now().as_ms();
    let alarm_id = Uuid::now_v7();
    let receipt = button.raise(alarm_id, t, false, t).await?;
    println!(
        "   le hub répond / hub answers: alarme {} enregistrée (durable={}), code {}, {} contact(s) alerté(s)",
        receipt.state, receipt.durable, receipt.code, receipt.contacts_alerting
    );
    d.check(
        receipt.durable && receipt.contacts_alerting == 2,
        "alarme durable, 2 contacts de niveau 1 alertés",
    );
    let sent = d
        .expect_sms(
            "alerte aux contacts de niveau 1",
            &[&marie, &ahmed],
            "ALERTE",
        )
        .await;
    d.check(
        !sent
            .iter()
            .any(|s| s.to == luc && s.text.contains("ALERTE")),
        "Luc, sans consentement, n'est pas alerté",
    );
    let again = button.raise(alarm_id, t, false, t).await?;
    d.check(
        again.duplicate,
        "le même appui renvoyé (réseau instable) reste la même alarme",
    );

    d.say("Une minute passe sans réponse : l'alarme monte au niveau 2 (gendarmerie). / A minute without answer: escalation to tier 2.");
    d.pass_time(60).await?;
    d.expect_sms("escalade vers la gendarmerie", &[&police], "ALERTE")
        .await;

    d.say("Marie ouvre le lien de son SMS et appuie sur « J'arrive ». / Marie opens her link and answers \"I'm coming\".");
    let marie_sms = sent
        .iter()
        .find(|s| s.to == marie && s.text.contains("ALERTE"))
        .context("Marie got no alert")?;
    let token = link_token(&marie_sms.text).context("no link in Marie's SMS")?;
    let page = reqwest::get(format!("{}/r/{token}", d.hub.url()))
        .await?
        .text()
        .await?;
    d.check(
        page.contains(&shop.name) && page.contains("J'arrive"),
        "la page de réponse montre le commerce et les boutons",
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{}/r/{token}", d.hub.url()))
        .form(&[("answer", "coming")])
        .send()
        .await?;
    d.check(resp.status().is_redirection(), "réponse enregistrée");
    d.expect_sms(
        "les autres et la commerçante savent que Marie arrive",
        &[&ahmed, &police, &holder],
        "Marie D. arrive",
    )
    .await;

    d.say("Encore une minute : plus d'escalade, quelqu'un est en route. / Another minute: no more escalation.");
    let before = d.phones.gateway.sent().len();
    d.pass_time(60).await?;
    d.hub.engine.wake_dispatch();
    let detail = store.alarm(alarm_id).await?;
    d.check(
        detail.alarm.next_step_at.is_none()
            && !d.phones.gateway.sent()[before..]
                .iter()
                .any(|s| s.to == desk),
        "le poste régional n'est pas dérangé",
    );

    d.say("Le poste de sécurité clôt l'alarme : incident traité. / The desk closes the alarm.");
    store
        .resolve_alarm(alarm_id, Outcome::Incident, "operator", d.now())
        .await?;
    d.hub.engine.wake_dispatch();
    d.expect_sms(
        "clôture annoncée aux contacts alertés",
        &[&marie, &ahmed, &police],
        "close",
    )
    .await;

    d.say("Fausse alerte : un appui par erreur, puis un appui long dans la minute. / False alarm: a press, then a long press.");
    d.pass_time(600).await?;
    let t = d.now().as_ms();
    let second = Uuid::now_v7();
    button.raise(second, t, false, t).await?;
    d.expect_sms("deuxième alerte", &[&marie, &ahmed], "ALERTE")
        .await;
    d.clock.advance_ms(8_000);
    let t2 = d.now().as_ms();
    let cancelled = button.cancel(second, t2 - 3_000, t2).await?;
    d.check(cancelled.state == "cancelled", "alarme annulée");
    d.expect_sms(
        "contacts prévenus de la fausse alerte",
        &[&marie, &ahmed],
        "fausse alerte",
    )
    .await;

    standard_inputs_story(d, shop_row.id, &[&marie, &ahmed]).await?;

    recording_story(d, shop_row.id).await?;

    d.say("Chronologie de la première alarme / Timeline of the first alarm:");
    println!("{}", crate::admin::timeline(&store.alarm(alarm_id).await?));
    Ok(())
}

/// Read one DC-09 reply (LF…CR) within the step's deadline.
async fn dc09_reply(stream: &mut tokio::net::TcpStream) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
    let mut reply = Vec::new();
    let mut reader = tokio::io::BufReader::new(stream).take(DC09_REPLY_BYTES_MAX);
    tokio::time::timeout(
        Duration::from_millis(STEP_DEADLINE_MS),
        reader.read_until(b'\r', &mut reply),
    )
    .await
    .context("pas de réponse DC-09 / no DC-09 reply")??;
    Ok(reply)
}

/// Send `frame` on a new TCP connection to the hub's receiver; the reply.
async fn dc09_exchange(
    d: &Demo,
    frame: &[u8],
    key: &vigie_dc09::Key,
) -> anyhow::Result<vigie_dc09::Reply> {
    use tokio::io::AsyncWriteExt as _;
    let addr = d
        .hub
        .dc09
        .as_ref()
        .and_then(|l| l.tcp_addr)
        .context("the demo hub has no DC-09 receiver")?;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(frame).await?;
    let raw = dc09_reply(&mut stream).await?;
    vigie_dc09::Reply::parse(&raw, Some(key)).map_err(|e| {
        anyhow::anyhow!(
            "réponse illisible / unreadable reply ({e}): {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// The standard alarm inputs: the shop's alarm panel over SIA DC-09, and
/// the shopkeeper's GSM SOS pendant through the SMS gateway.
async fn standard_inputs_story(d: &mut Demo, shop_id: i64, tier1: &[&str]) -> anyhow::Result<()> {
    use vigie_dc09::{Account, Frame, Header, Key, Reply, Seq, Token};
    let store = d.hub.store.clone();

    d.say("Le commerce a aussi une centrale d'alarme avec un transmetteur SIA DC-09 : la Région l'enregistre (compte, clé AES-128). / The shop also has an alarm panel with a SIA DC-09 transmitter: the Region registers it (account, AES-128 key).");
    store
        .add_transmitter(
            vigie_hub::store::NewTransmitter {
                account: PANEL_ACCOUNT.into(),
                shop_id,
                key: Some(PANEL_KEY_ASCII.as_bytes().to_vec()),
                window_before_s: None,
                window_after_s: None,
                supervision_interval_s: None,
            },
            d.now(),
        )
        .await?;
    println!(
        "   vigie admin transmitter add --shop ARA-00001 --account {PANEL_ACCOUNT} --key-ascii …"
    );

    d.say("Un cambrioleur menace : la commerçante appuie sur le bouton panique de la centrale, qui envoie une alarme Contact ID 1 120 en TCP. Ici, le codec du hub (vigie-dc09) fabrique la trame à la place de la centrale. / A panic button on the panel: it sends Contact ID 1 120 over TCP. Here the hub's own codec builds the frame, standing for the panel.");
    let key = Key::from_ascii(PANEL_KEY_ASCII).map_err(|e| anyhow::anyhow!("{e}"))?;
    let header = Header::new(
        Seq::new(PANEL_SEQ).map_err(|e| anyhow::anyhow!("{e}"))?,
        Account::new(PANEL_ACCOUNT).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let mut frame = Frame::new(
        Token::AdmCid,
        header.clone(),
        format!("#{PANEL_ACCOUNT}|1120 01 001").into_bytes(),
    );
    frame.encrypted = true;
    // The panel's clock is set from the hub's (DC-09 accepts −40/+20 s).
    frame.timestamp = vigie_dc09::Timestamp::from_unix_s(d.now().as_ms().div_euclid(1_000));
    let bytes = frame
        .encode_encrypted(&key, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shown: String = String::from_utf8_lossy(&bytes)
        .trim()
        .chars()
        .take(60)
        .collect();
    println!("   → trame / frame: {shown}…");
    let reply = dc09_exchange(d, &bytes, &key).await?;
    let acked = matches!(&reply, Reply::Ack { encrypted: true, .. } if reply.answers(&header));
    match &reply {
        Reply::Ack { .. } => println!("   ← *ACK {PANEL_SEQ:04} (chiffré / encrypted)"),
        Reply::Nak { receiver_time } => println!(
            "   ← NAK : heure de la centrale refusée (hub : {} s Unix) / panel's time refused",
            receiver_time.unix_s()
        ),
        Reply::Duh { .. } => println!("   ← DUH : trame refusée / frame refused"),
    }
    d.check(
        acked,
        "ACK chiffré reçu : Vigie a écrit l'alarme avant de répondre / encrypted ACK received: the alarm was written before the answer",
    );
    let device = vigie_hub::store::transmitter_device_id(PANEL_ACCOUNT);
    let from_panel = |alarms: &[vigie_hub::store::Alarm]| {
        alarms
            .iter()
            .filter(|a| a.device_id == device)
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    let panel_alarms = from_panel(&store.alarms(100).await?);
    for id in &panel_alarms {
        let a = store.alarm(*id).await?.alarm;
        println!(
            "   alarme / alarm {} ({}), appareil / device {}",
            a.code,
            a.state.as_str(),
            a.device_id
        );
    }
    d.check(
        panel_alarms.len() == 1,
        "une alarme Vigie, venue de la centrale (dc09:0A1B2C) / one Vigie alarm, from the panel",
    );
    d.expect_sms(
        "alerte aux contacts pour l'alarme de la centrale / the panel's alarm alerts the contacts",
        tier1,
        "ALERTE",
    )
    .await;
    d.say("La centrale n'a pas vu l'ACK (réseau coupé) et renvoie la même trame. / The panel missed the ACK and sends the same frame again.");
    let again = dc09_exchange(d, &bytes, &key).await?;
    d.check(
        matches!(&again, Reply::Ack { .. } if again.answers(&header))
            && from_panel(&store.alarms(100).await?).len() == 1,
        "ACK de nouveau, pas de seconde alarme / ACKed again, no second alarm",
    );

    d.say("La commerçante porte aussi un pendentif SOS GSM : la Région enregistre son numéro pour le commerce. / The shopkeeper also wears a GSM SOS pendant: the Region registers its number for the shop.");
    let pendant = PhoneNumber::parse(PENDANT_PHONE).map_err(|e| anyhow::anyhow!("{e}"))?;
    d.names.push((
        pendant.as_e164().to_string(),
        "pendentif SOS / SOS pendant".into(),
    ));
    store
        .add_pendant(
            vigie_hub::store::NewPendant {
                shop_id,
                phone: pendant.clone(),
                patterns: Vec::new(),
            },
            d.now(),
        )
        .await?;
    println!("   vigie admin pendant add --shop ARA-00001 --phone \"{PENDANT_PHONE}\"");
    d.say("Elle serre le pendentif : il envoie un SMS au numéro du hub, qui arrive par la passerelle SMS comme tout SMS entrant. / She squeezes it: it texts the hub's number, which arrives through the SMS gateway like any incoming SMS.");
    let sos = "SOS! lat: 45.894 long: 3.113";
    println!("   📱 ← {} « {sos} »", d.who(pendant.as_e164()));
    let kept = d.phones.gateway.receive(pendant.as_e164(), sos).await;
    d.check(
        kept == vigie_hub::gateway::Kept::Stored,
        "SMS du pendentif enregistré avant d'être acquitté / the pendant's SMS stored before it is acknowledged",
    );
    let messages = store.pendant_messages(Some(shop_id), 10).await?;
    let raised = messages
        .first()
        .filter(|m| m.raised)
        .and_then(|m| m.alarm_id);
    d.check(
        raised.is_some(),
        "le SMS du pendentif devient une alarme Vigie / the pendant's SMS becomes a Vigie alarm",
    );
    if let Some(id) = raised {
        let a = store.alarm(id).await?.alarm;
        println!(
            "   alarme / alarm {} ({}), appareil / device {}",
            a.code,
            a.state.as_str(),
            a.device_id
        );
    }
    if let Some(p) = messages.first().and_then(|m| m.position) {
        println!(
            "   position lue / position read: {:.3}, {:.3}",
            p.lat, p.lon
        );
    }
    d.expect_sms(
        "alerte aux contacts pour l'alarme du pendentif / the pendant's alarm alerts the contacts",
        tier1,
        "ALERTE",
    )
    .await;

    let Some(pendant_alarm) = raised else {
        return Ok(());
    };
    d.say("Quelqu'un envoie « annuler » depuis le numéro du pendentif (un numéro d'expéditeur peut être usurpé). / Someone texts « annuler » from the pendant's number (sender numbers can be spoofed).");
    let before = store.alarm(pendant_alarm).await?;
    println!("   📱 ← {} « annuler »", d.who(pendant.as_e164()));
    let kept = d.phones.gateway.receive(pendant.as_e164(), "annuler").await;
    let after = store.alarm(pendant_alarm).await?;
    d.check(
        kept == vigie_hub::gateway::Kept::Stored
            && after.alarm.state == before.alarm.state
            && after.alarm.state.is_live()
            && after.notifications.len() == before.notifications.len()
            && after.answers.len() == before.answers.len(),
        "rien ne change : l'alarme reste ouverte, aucun SMS envoyé (un SMS n'annule jamais) / nothing changes: the alarm stays open, no SMS sent",
    );

    d.say("Le poste de sécurité clôt les deux alarmes. / The desk closes both alarms.");
    for id in panel_alarms.into_iter().chain([pendant_alarm]) {
        store
            .resolve_alarm(id, Outcome::Incident, "operator", d.now())
            .await?;
    }
    d.hub.engine.wake_dispatch();
    d.expect_sms(
        "clôture annoncée aux contacts / closing told to the contacts",
        tier1,
        "close",
    )
    .await;
    Ok(())
}

/// After the story: the hub keeps running; Enter presses the button again.
async fn interactive(mut demo: Demo) -> anyhow::Result<()> {
    println!(
        "\nLe hub continue de tourner sur {} — Entrée = appuyer sur le bouton, q puis Entrée = quitter.",
        demo.hub.url()
    );
    println!("The hub keeps running — Enter = press the button, q then Enter = quit.");
    println!("{}", demo.console_line);
    println!(
        "Ouvrez la console, appuyez sur Entrée ici : l'alarme arrive sur le tableau de bord ; ouvrez un lien /r/… d'un SMS pour répondre, puis clôturez l'alarme depuis la console."
    );
    println!(
        "Open the console, press Enter here: the alarm arrives on the board; open an /r/… link from an SMS to answer, then close the alarm from the console."
    );
    let clock = demo.clock.clone();
    let engine = demo.hub.engine.clone();
    tokio::spawn(async move {
        use vigie_hub::clock::Clock as _;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            clock.advance_ms(1_000);
            let _ = engine.tick(clock.now()).await;
        }
    });
    let store = demo.hub.store.clone();
    let shop = store.shop_by_reference("ARA-00001").await?;
    let code = store.new_enrolment_code(shop.id, demo.now()).await?;
    let (button, _) = Button::enroll(reqwest::Client::new(), &demo.hub.url(), &code).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(8);
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            if tx.blocking_send(line.trim().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut show = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            line = rx.recv() => match line.as_deref() {
                None | Some("q") => break,
                Some(_) => {
                    let t = demo.now().as_ms();
                    let r = button.raise(Uuid::now_v7(), t, false, t).await?;
                    println!("▶ Appui ! alarme {} ({}), {} contact(s) alerté(s)", r.alarm_id, r.code, r.contacts_alerting);
                }
            },
            _ = show.tick() => { demo.show_sms(); }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    demo.hub.shutdown().await;
    Ok(())
}

/// A speech-like test signal (16 kHz mono WAV): voiced syllables, a pause,
/// a louder passage, silence — so the demo needs no microphone.
fn demo_wav(path: &std::path::Path) -> std::io::Result<()> {
    const RATE: u32 = 16_000;
    let seconds = 9.0_f32;
    let n = (RATE as f32 * seconds) as usize;
    let mut pcm = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / RATE as f32;
        // Syllables at ~4 Hz on a 130 Hz voice with harmonics.
        let envelope = (std::f32::consts::PI * 4.0 * t).sin().abs();
        let level = match t {
            t if t < 3.0 => 0.15,
            t if t < 4.0 => 0.0,
            t if t < 6.5 => 0.6,
            _ => 0.0,
        };
        let voice: f32 = (1..8)
            .map(|h| (2.0 * std::f32::consts::PI * 130.0 * h as f32 * t).sin() / h as f32)
            .sum();
        let v = (level * envelope * voice * 0.5 * i16::MAX as f32)
            .clamp(i16::MIN as f32, i16::MAX as f32) as i16;
        pcm.extend_from_slice(&v.to_le_bytes());
    }
    let mut wav = Vec::with_capacity(44 + pcm.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    wav.extend_from_slice(&pcm);
    std::fs::write(path, wav)
}

/// The evidence chapter: a box double-presses, records, seals and uploads;
/// the desk exports with a reason; the export verifies offline and fails
/// after a one-byte edit.
async fn recording_story(d: &mut Demo, shop_id: i64) -> anyhow::Result<()> {
    use vigie_agent::agent::AgentEvent;
    d.say("Double appui : le boîtier enregistre, scelle chaque morceau et l'envoie au hub. / Double press: the box records, seals, uploads.");
    if d.tsa.is_none() {
        d.fail("enregistrement : une autorité d'horodatage est nécessaire (installez openssl et python3)");
        return Ok(());
    }
    // Trusted time is real time: bring the demo's clock back to it.
    d.clock.set(Timestamp(crate::device::now_ms()));
    let store = d.hub.store.clone();
    let code = store.new_enrolment_code(shop_id, d.now()).await?;
    let (client, enrolled) =
        vigie_agent::uplink::HubClient::enroll(&d.hub.url(), &code, env!("CARGO_PKG_VERSION"))
            .await?;
    let state = d.dir.join("box");
    let wav = d.dir.join("micro.wav");
    demo_wav(&wav)?;
    vigie_agent::identity::save_config(
        &state,
        &vigie_proto::DeviceConfig {
            config_version: String::new(),
            shop: enrolled.shop.clone(),
            settings: enrolled.settings.clone(),
            direct_contacts: enrolled.direct_contacts.clone(),
        },
    )?;
    let source = if d.mic {
        println!(
            "   🎙  Parlez : 10 secondes d'enregistrement depuis le micro par défaut. / Speak: 10 s from the default microphone."
        );
        "device = \"default\"\nmax_duration_s = 10".to_string()
    } else {
        format!("wav = \"{}\"", wav.display())
    };
    let config = vigie_agent::config::AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n[recorder]\n{source}\n[timing]\ndirect_sms_delay_ms = 600000\nheartbeat_interval_s = 3600\nself_test_interval_h = 0\n",
        state.display()
    ))
    .map_err(anyhow::Error::msg)?;
    let (edges, edges_rx) = tokio::sync::mpsc::channel(16);
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let clock = d.clock.clone();
    let deps = vigie_agent::agent::Deps {
        client: Some(Arc::new(client)),
        modem: None,
        now: Arc::new(move || {
            use vigie_hub::clock::Clock as _;
            clock.now()
        }),
    };
    let agent = tokio::spawn(vigie_agent::agent::run(
        config, deps, edges_rx, stop_rx, events_tx,
    ));
    for e in vigie_agent::button::edges_for("d", d.now()) {
        edges.send(e).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(if d.mic { 60 } else { 30 });
    let (mut recording, mut total, mut uploaded) = (None, None, 0u64);
    while total.is_none_or(|t| uploaded < t) {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .ok()
            .flatten();
        match e {
            Some(AgentEvent::RecordingStarted { recording_id, .. }) => {
                recording = Some(recording_id)
            }
            Some(AgentEvent::RecordingEnded { chunks, .. }) => total = Some(chunks),
            Some(AgentEvent::ChunkUploaded { .. }) => uploaded += 1,
            Some(_) => {}
            None => break,
        }
    }
    agent.abort();
    d.show_sms();
    let Some(recording) = recording else {
        d.fail("l'enregistrement n'a pas commencé");
        return Ok(());
    };
    let total = total.unwrap_or(0);
    if total == 0 {
        d.fail(if d.mic {
            "le micro par défaut n'a rien donné : branchez un micro, ou lancez la démo sans --mic / the default microphone gave nothing"
        } else {
            "aucun morceau enregistré / nothing was recorded"
        });
        return Ok(());
    }
    d.check(
        uploaded == total,
        &format!("{uploaded}/{total} morceaux de 2 s scellés par le boîtier et reçus par le hub"),
    );

    d.say("Un enquêteur exporte l'enregistrement, avec un motif (journalisé). / An investigator exports it, with a reason (logged).");
    let (rec, _) = store.recording(recording).await?;
    let alarm = store.alarm(rec.alarm_id).await?;
    let facts = vigie_hub::vault::export::ReportFacts {
        shop: alarm.shop.name.clone(),
        commune: alarm.shop.commune.clone(),
        alarm_pressed_at: alarm.alarm.pressed_at,
    };
    let zip = vigie_hub::vault::export::export(
        &d.hub.vault,
        &store,
        recording,
        "investigator:demo",
        "démonstration Vigie",
        &facts,
        d.now(),
    )
    .await?;
    let path = d.dir.join("export.zip");
    std::fs::write(&path, &zip)?;
    let report =
        vigie_evidence::verify::verify_export(&zip, &vigie_evidence::verify::rfc3161_check);
    for line in crate::verify::render(&report, &path.display().to_string())
        .lines()
        .take(12)
    {
        println!("   {line}");
    }
    d.check(report.ok(), "vigie verify accepte l'export (signatures, chaîne, preuves de Merkle, horodatage RFC 3161)");
    let mut files = vigie_evidence::export::unpack(&zip)?;
    if let Some(audio) = files.get_mut("audio/recording.ogg") {
        let middle = audio.len() / 2;
        audio[middle] ^= 1;
    }
    let tampered = vigie_evidence::export::pack(&files)?;
    let bad =
        vigie_evidence::verify::verify_export(&tampered, &vigie_evidence::verify::rfc3161_check);
    if let Some(f) = bad.failures().next() {
        println!("   ✘ {}", f.fr);
    }
    d.check(
        !bad.ok() && bad.fails_on("audio/recording.ogg"),
        "un octet changé dans l'audio : l'export est refusé, le fichier est nommé",
    );
    Ok(())
}
