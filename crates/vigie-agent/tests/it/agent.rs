//! The box against a real hub: a press reaches the contacts, the outbox
//! survives a crash with the hub down, and the press arrives flagged late.

use crate::{hub_on, seed, temp_dir};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use vigie_agent::agent::{AgentEvent, Deps};
use vigie_agent::config::AgentConfig;
use vigie_agent::uplink::HubClient;
use vigie_core::Timestamp;
use vigie_core::press::Edge;
use vigie_hub::app::RunningHub;
use vigie_hub::clock::{Clock, ManualClock};
use vigie_hub::store::{NewContact, Relation};

/// 2026-11-26 14h32 in Paris.
const T0: Timestamp = Timestamp(1_795_699_920_000);
const DEADLINE: Duration = Duration::from_secs(10);

struct Box {
    edges: mpsc::Sender<(Edge, Timestamp)>,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_box(
    state_dir: &std::path::Path,
    client: Option<Arc<HubClient>>,
    clock: Arc<ManualClock>,
) -> Box {
    start_box_with(state_dir, client, None, clock)
}

fn start_box_with(
    state_dir: &std::path::Path,
    client: Option<Arc<HubClient>>,
    modem: Option<Arc<dyn vigie_agent::modem::Modem>>,
    clock: Arc<ManualClock>,
) -> Box {
    start_box_timed(state_dir, client, modem, clock, "")
}

fn start_box_timed(
    state_dir: &std::path::Path,
    client: Option<Arc<HubClient>>,
    modem: Option<Arc<dyn vigie_agent::modem::Modem>>,
    clock: Arc<ManualClock>,
    timing: &str,
) -> Box {
    let config = AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n[timing]\ndirect_sms_delay_ms = 600000\nheartbeat_interval_s = 3600\n{timing}",
        state_dir.display()
    ))
    .expect("agent config");
    let (edges, rx) = mpsc::channel(16);
    let (events_tx, events) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let now = Arc::new(move || clock.now());
    let deps = Deps { client, modem, now };
    let task = tokio::spawn(vigie_agent::agent::run(
        config,
        deps,
        rx,
        shutdown_rx,
        events_tx,
    ));
    Box {
        edges,
        events,
        shutdown,
        task,
    }
}

impl Box {
    async fn press(&self, at: Timestamp) {
        for e in vigie_agent::button::edges_for("p", at) {
            self.edges.send(e).await.expect("agent running");
        }
    }
    async fn next(&mut self, what: &str, want: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
        loop {
            let e = tokio::time::timeout(DEADLINE, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            let e = e.expect("agent still running");
            if want(&e) {
                return e;
            }
        }
    }
    /// Stop it as a crash would: nothing flushed beyond what is already on disk.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        drop(self.shutdown);
    }
}

async fn sms_to(hub: &RunningHub, phone: &str, needle: &str) {
    let gw = hub.log_gateway("phones").expect("log gateway");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !gw
        .sent()
        .iter()
        .any(|s| s.to == phone && s.text.contains(needle))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no SMS to {phone} containing {needle:?}: {:?}",
            gw.sent()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_press_on_the_box_reaches_the_contacts() {
    let dir = temp_dir("vigie-box");
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let code = seed(&hub, &clock).await;
    let (client, enrolled) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    assert_eq!(enrolled.direct_contacts.len(), 1);
    let mut b = start_box(&dir.join("box"), Some(Arc::new(client)), clock.clone());
    b.press(clock.now()).await;
    let durable = b
        .next("the press on disk", |e| {
            matches!(e, AgentEvent::Durable { .. })
        })
        .await;
    let AgentEvent::Durable { alarm_id, .. } = durable else {
        unreachable!()
    };
    b.next("the hub's confirmation", |e| {
        *e == AgentEvent::InHand { alarm_id }
    })
    .await;
    sms_to(&hub, "+33473000017", "ALERTE").await;
    let detail = hub.store.alarm(alarm_id).await.expect("alarm at the hub");
    assert_eq!(detail.alarm.age_ms, None, "a fresh press is not late");
    b.kill().await;
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_press_made_while_the_hub_is_down_survives_a_crash_and_arrives_late() {
    let dir = temp_dir("vigie-box");
    let clock = ManualClock::new(T0);
    // Enrol against a hub, then stop it, keeping its port and database.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let code = seed(&hub, &clock).await;
    let (client, _) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    let identity = vigie_agent::identity::Identity {
        hub: client.hub().to_string(),
        device_id: client.device_id().to_string(),
        key: vigie_proto::signature::DeviceKey::from_bytes(&client.key().to_bytes()).expect("key"),
    };
    hub.shutdown().await;

    let state = dir.join("box");
    let mut b = start_box(&state, Some(Arc::new(client)), clock.clone());
    let pressed_at = clock.now();
    b.press(pressed_at).await;
    b.next("the press on disk", |e| {
        matches!(e, AgentEvent::Durable { .. })
    })
    .await;
    b.kill().await;

    // Three minutes later the hub is back and the box restarts.
    clock.advance_ms(185_000);
    let listener = crate::rebind(addr).await;
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let client = HubClient::new(&identity.hub, &identity.device_id, identity.key);
    let mut b = start_box(&state, Some(Arc::new(client)), clock.clone());
    let AgentEvent::InHand { alarm_id } = b
        .next("the hub's confirmation after restart", |e| {
            matches!(e, AgentEvent::InHand { .. })
        })
        .await
    else {
        unreachable!()
    };
    let detail = hub.store.alarm(alarm_id).await.expect("alarm at the hub");
    assert_eq!(detail.alarm.age_ms, Some(185_000), "flagged with its age");
    sms_to(&hub, "+33473000017", "déclenchée il y a 3 min").await;
    b.kill().await;
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn hub_down_the_box_sends_the_sms_itself_then_the_hub_sends_nothing_twice() {
    let dir = temp_dir("vigie-box");
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let code = seed(&hub, &clock).await;
    let shop = hub.store.shop_by_reference("BOX-1").await.expect("shop");
    let phone = vigie_core::PhoneNumber::parse("06 55 66 77 88").expect("phone");
    hub.store
        .add_contact(
            NewContact {
                shop_id: Some(shop.id),
                name: "Commissariat".into(),
                phone,
                relation: Relation::Police,
                tier: 1,
            },
            clock.now(),
        )
        .await
        .expect("contact");
    let (client, enrolled) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    assert_eq!(enrolled.direct_contacts.len(), 2);
    let state = dir.join("box");
    vigie_agent::identity::save_config(
        &state,
        &vigie_proto::DeviceConfig {
            config_version: String::new(),
            shop: enrolled.shop.clone(),
            settings: enrolled.settings.clone(),
            direct_contacts: enrolled.direct_contacts.clone(),
        },
    )
    .expect("cache settings");
    hub.shutdown().await;

    // The hub is down: the box sends the alarm through its own modem.
    let peer = crate::modem::ModemPeer::start(&[]);
    let modem: Arc<dyn vigie_agent::modem::Modem> = Arc::new(peer.modem());
    let mut b = start_box_with(&state, Some(Arc::new(client)), Some(modem), clock.clone());
    b.press(clock.now()).await;
    let mut sent = Vec::new();
    while sent.len() < 2 {
        if let AgentEvent::DirectSent { phone, .. } = b
            .next("an SMS through the modem", |e| {
                matches!(e, AgentEvent::DirectSent { .. })
            })
            .await
        {
            sent.push(phone);
        }
    }
    sent.sort();
    assert_eq!(
        sent,
        vec!["+33473000017".to_string(), "+33655667788".to_string()]
    );
    let on_air = peer.sent();
    assert_eq!(on_air.len(), 2, "{on_air:?}");
    for sms in &on_air {
        let text = sms["text"].as_str().expect("text");
        assert!(
            text.starts_with("ALERTE Vigie 14h32: Tabac du Centre") && text.contains("17"),
            "{text}"
        );
    }

    // The hub is back: the box delivers the alarm with what it sent, and the
    // hub sends neither contact the alert again.
    let listener = crate::rebind(addr).await;
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let AgentEvent::InHand { alarm_id } = b
        .next("the hub's confirmation", |e| {
            matches!(e, AgentEvent::InHand { .. })
        })
        .await
    else {
        unreachable!()
    };
    let detail = hub.store.alarm(alarm_id).await.expect("alarm");
    assert!(
        detail.events.iter().any(|e| e.kind() == "direct_sms"),
        "{:?}",
        detail.events
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !hub
        .store
        .pending_notifications(Timestamp(i64::MAX), 1)
        .await
        .expect("pending")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox never drained"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gw = hub.log_gateway("phones").expect("gateway");
    let resent: Vec<_> = gw
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("ALERTE"))
        .collect();
    assert!(
        resent.is_empty(),
        "the hub sent again what the box had sent: {resent:?}"
    );
    assert_eq!(peer.sent().len(), 2, "the box did not send twice either");
    b.kill().await;
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_weekly_silent_test_reaches_the_hub_and_alerts_nobody() {
    let dir = temp_dir("vigie-box");
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hub = hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let code = seed(&hub, &clock).await;
    let shop = hub.store.shop_by_reference("BOX-1").await.expect("shop");
    assert!(
        !hub.store
            .readiness(shop.id, clock.now())
            .await
            .expect("readiness")
            .ready
    );
    let (client, _) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
    let state = dir.join("box");
    std::fs::create_dir_all(&state).expect("state");
    // The last test was eight days ago: one is due now.
    std::fs::write(
        state.join("last_self_test"),
        clock.now().plus_ms(-8 * 86_400_000).as_ms().to_string(),
    )
    .expect("write");
    let mut b = start_box_timed(
        &state,
        Some(Arc::new(client)),
        None,
        clock.clone(),
        "self_test_interval_h = 168\n",
    );
    let AgentEvent::InHand { alarm_id } = b
        .next("the test alarm at the hub", |e| {
            matches!(e, AgentEvent::InHand { .. })
        })
        .await
    else {
        unreachable!()
    };
    let detail = hub.store.alarm(alarm_id).await.expect("alarm");
    assert_eq!(detail.alarm.outcome, Some(vigie_core::Outcome::Test));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !hub
        .store
        .readiness(shop.id, clock.now())
        .await
        .expect("readiness")
        .ready
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shop never became ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gw = hub.log_gateway("phones").expect("gateway");
    assert!(
        gw.sent().iter().all(|s| s.to != "+33473000017"),
        "no contact is disturbed: {:?}",
        gw.sent()
    );
    let stamp: i64 = std::fs::read_to_string(state.join("last_self_test"))
        .expect("stamp")
        .trim()
        .parse()
        .expect("ms");
    assert_eq!(
        stamp,
        clock.now().as_ms(),
        "the test time is kept for the next restart"
    );
    b.kill().await;
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn direct_only_sends_every_alarm_through_the_modem_at_once() {
    let dir = temp_dir("vigie-box");
    let clock = ManualClock::new(T0);
    let config = AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n[direct_only]\nshop_name = \"Tabac de la Gare\"\naddress = \"2 place de la Gare\"\ncommune = \"Thiers\"\ncontacts = [\"06 11 22 33 44\", \"+33655667788\"]\n",
        dir.join("box").display()
    ))
    .expect("direct-only config");
    let peer = crate::modem::ModemPeer::start(&[]);
    let modem: Arc<dyn vigie_agent::modem::Modem> = Arc::new(peer.modem());
    let (edges, rx) = mpsc::channel(16);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let now_clock = clock.clone();
    let deps = Deps {
        client: None,
        modem: Some(modem),
        now: Arc::new(move || now_clock.now()),
    };
    let task = tokio::spawn(vigie_agent::agent::run(
        config,
        deps,
        rx,
        shutdown_rx,
        events_tx,
    ));
    for e in vigie_agent::button::edges_for("p", clock.now()) {
        edges.send(e).await.expect("agent running");
    }
    let mut sent = Vec::new();
    while sent.len() < 2 {
        let e = tokio::time::timeout(DEADLINE, events.recv())
            .await
            .expect("an SMS in time")
            .expect("agent running");
        if let AgentEvent::DirectSent { phone, .. } = e {
            sent.push(phone);
        }
    }
    sent.sort();
    assert_eq!(
        sent,
        vec!["+33611223344".to_string(), "+33655667788".to_string()]
    );
    let on_air = peer.sent();
    assert_eq!(on_air.len(), 2);
    assert!(
        on_air.iter().all(|s| s["text"]
            .as_str()
            .is_some_and(|t| t.contains("Tabac de la Gare") && t.contains("17"))),
        "{on_air:?}"
    );
    let _ = shutdown.send(true);
    let _ = task.await;
    let _ = std::fs::remove_dir_all(&dir);
}
