//! A hub that answers nonsense: something on the hub's address answers the
//! box's alarm with a 500, then a 200 whose body is not JSON, then a captive
//! portal's HTML 404. The box never takes any of these for "in hand", never
//! stops, keeps trying, sends the alarm through its modem because the hub
//! is out of reach, and delivers it once the real hub is back.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use vigie_agent::agent::{AgentEvent, Deps};
use vigie_agent::config::AgentConfig;
use vigie_agent::uplink::HubClient;
use vigie_core::Timestamp;
use vigie_core::press::Edge;
use vigie_hub::clock::{Clock, ManualClock};

/// 2026-11-26 14h32 in Paris.
const T0: Timestamp = Timestamp(1_795_699_920_000);
/// Generous for a loaded 2-core machine; reaching it is a failure.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
/// Alarm requests the impostor must see: one of each of its wrong answers.
const ANSWERS_SEEN_MIN: usize = 3;

/// Something on the hub's address that is not a hub: each alarm request
/// gets the next of its three wrong answers, in turn.
struct Impostor {
    alarm_requests: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

const CAPTIVE_PORTAL: &str = "<!DOCTYPE html><html><head><title>Wi-Fi gratuit</title></head>\
<body><h1>404 Not Found</h1><p>Connectez-vous au portail pour accéder à Internet.</p></body></html>";

fn wrong_answer(n: usize) -> Response {
    match n % 3 {
        0 => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        1 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            "OK, got it",
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            CAPTIVE_PORTAL,
        )
            .into_response(),
    }
}

impl Impostor {
    async fn start(listener: tokio::net::TcpListener) -> Self {
        let alarm_requests = Arc::new(AtomicUsize::new(0));
        let counter = alarm_requests.clone();
        let app = axum::Router::new().route(
            "/v1/alarms",
            axum::routing::post(move || {
                let counter = counter.clone();
                async move { wrong_answer(counter.fetch_add(1, Ordering::SeqCst)) }
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("impostor serves");
        });
        Self {
            alarm_requests,
            stop: Some(stop),
            task,
        }
    }

    fn alarm_requests(&self) -> usize {
        self.alarm_requests.load(Ordering::SeqCst)
    }

    /// Stop and wait until the port is free again.
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.expect("impostor stopped");
    }
}

/// The simulator's modem, held at the gate until the test opens it.
struct GatedModem {
    inner: vigie_agent::modem::at::AtModem,
    gate: watch::Receiver<bool>,
    /// SMS the agent asked for.
    sends: AtomicUsize,
}

#[async_trait::async_trait]
impl vigie_agent::modem::Modem for GatedModem {
    async fn send_sms(
        &self,
        to: &vigie_core::PhoneNumber,
        text: &str,
    ) -> Result<(), vigie_agent::modem::ModemError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        let _ = self.gate.clone().wait_for(|open| *open).await;
        self.inner.send_sms(to, text).await
    }

    async fn status(
        &self,
    ) -> Result<vigie_agent::modem::ModemStatus, vigie_agent::modem::ModemError> {
        self.inner.status().await
    }
}

async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_hub_answering_nonsense_is_unreachable_the_modem_sends_and_the_real_hub_gets_it_later() {
    let dir = crate::temp_dir("vigie-hostile");
    let clock = ManualClock::new(T0);

    // Enrol against the real hub, keep the contacts on the box, stop the hub.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hub = crate::hub_on(listener, &dir.join("hub.db"), clock.clone()).await;
    let code = crate::seed(&hub, &clock).await;
    let (client, enrolled) = HubClient::enroll(&hub.url(), &code, "test")
        .await
        .expect("enrol");
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

    // The impostor takes the hub's address.
    let impostor = Impostor::start(crate::rebind(addr).await).await;

    // The box, with a modem as slow as a real one (an SMS takes seconds on
    // air): held until the impostor has been asked several times. Its
    // direct-SMS timer is far away, so only the hub being found unreachable
    // can make it use the modem.
    let peer = crate::modem::ModemPeer::start(&[]);
    let (open_gate, gate) = watch::channel(false);
    let modem = Arc::new(GatedModem {
        inner: peer.modem(),
        gate,
        sends: AtomicUsize::new(0),
    });
    let config = AgentConfig::parse(&format!(
        "state_dir = \"{}\"\n[timing]\ndirect_sms_delay_ms = 600000\nheartbeat_interval_s = 3600\n",
        state.display()
    ))
    .expect("agent config");
    let (edges, edges_rx) = mpsc::channel::<(Edge, Timestamp)>(16);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let now = {
        let clock = clock.clone();
        Arc::new(move || clock.now())
    };
    let task = tokio::spawn(vigie_agent::agent::run(
        config,
        Deps {
            client: Some(Arc::new(client)),
            modem: Some(modem.clone()),
            now,
        },
        edges_rx,
        shutdown_rx,
        events_tx,
    ));
    for e in vigie_agent::button::edges_for("p", clock.now()) {
        edges.send(e).await.expect("agent running");
    }

    // The box keeps asking, over time, and gets each wrong answer.
    poll_until("the box to keep retrying the impostor", || {
        impostor.alarm_requests() >= ANSWERS_SEEN_MIN
    })
    .await;
    poll_until("the box to turn to its modem", || {
        modem.sends.load(Ordering::SeqCst) >= 1
    })
    .await;
    let _ = open_gate.send(true);
    let mut seen = Vec::new();
    poll_until("the box's SMS through the modem", || {
        while let Ok(e) = events.try_recv() {
            seen.push(e);
        }
        seen.iter()
            .any(|e| matches!(e, AgentEvent::DirectSent { .. }))
    })
    .await;
    let alarm_id = seen
        .iter()
        .find_map(|e| match e {
            AgentEvent::Durable { alarm_id, .. } => Some(*alarm_id),
            _ => None,
        })
        .expect("the press was recorded");
    let on_air = peer.sent();
    assert!(
        on_air
            .first()
            .and_then(|s| s["text"].as_str())
            .is_some_and(|t| t.starts_with("ALERTE Vigie 14h32: Tabac du Centre")),
        "{on_air:?}"
    );

    // Up to the moment the impostor goes, none of its answers counted.
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        !seen.iter().any(|e| matches!(e, AgentEvent::InHand { .. })),
        "an impostor's answer was taken for the hub's confirmation: {seen:?}"
    );
    assert!(!task.is_finished(), "the agent stopped: {task:?}");

    // The real hub is back: the alarm arrives, with the SMS the box sent.
    impostor.stop().await;
    let hub = crate::hub_on(
        crate::rebind(addr).await,
        &dir.join("hub.db"),
        clock.clone(),
    )
    .await;
    poll_until("the real hub's confirmation", || {
        while let Ok(e) = events.try_recv() {
            seen.push(e);
        }
        seen.contains(&AgentEvent::InHand { alarm_id })
    })
    .await;
    let detail = hub.store.alarm(alarm_id).await.expect("alarm at the hub");
    assert_eq!(
        detail.alarm.device_pressed_at, T0,
        "the original press time"
    );
    assert!(
        detail.events.iter().any(|e| e.kind() == "direct_sms"),
        "the hub knows what the box sent: {:?}",
        detail.events
    );
    assert_eq!(
        (modem.sends.load(Ordering::SeqCst), peer.sent().len()),
        (1, 1),
        "the box sent the alarm to its one contact once, however many times the impostor failed it: {:?}",
        peer.sent()
    );
    task.abort();
    let _ = task.await;
    drop((edges, shutdown));
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
