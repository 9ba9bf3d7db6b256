//! The HTTP gateway against a real Kannel (bearerbox + smsbox + fakesmsc):
//! URL encoding of French text, delivery reports on the dlr-url, replies on
//! smsbox's get-url, and the webhook secret. Every wait is a poll with a
//! deadline.
#![allow(clippy::unwrap_used)]

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use vigie_core::PhoneNumber;
use vigie_core::gsm::Encoding;
use vigie_hub::gateway::http::{
    CallbackError, HttpConfig, HttpGateway, HttpMethod, parse_receipt, parse_reply,
};
use vigie_hub::gateway::{Gateway, GatewayError, Inbound, OutgoingSms, ReceiptRef, Submitted};
use vigie_testkit::kannel::{FakeSms, Kannel, MO_RECEIVER};

const GATEWAY: &str = "kannel";
const SECRET: &str = "webhook-secret-0123456789";
/// Generous for a loaded 2-core machine; a working Kannel needs far less.
const DEADLINE: Duration = Duration::from_secs(15);
const POLL_INTERVAL_MS: u64 = 20;

/// What the hub's callback routes would have handed to the engine.
#[derive(Default)]
struct Heard {
    inbound: Vec<Inbound>,
    interim: Vec<u32>,
    refused: usize,
}

#[derive(Clone)]
struct Hub {
    gateway: Arc<OnceLock<Arc<HttpGateway>>>,
    heard: Arc<Mutex<Heard>>,
}

/// The hub's side of the callbacks, as its routes will do it.
async fn callback(
    State(hub): State<Hub>,
    Path((name, kind)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    let Some(gateway) = hub.gateway.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    if name != gateway.name()
        || !gateway.check_secret(query.get("secret").map(String::as_str).unwrap_or(""))
    {
        hub.heard.lock().unwrap().refused += 1;
        return StatusCode::FORBIDDEN;
    }
    let parsed = match kind.as_str() {
        "receipt" => parse_receipt(&name, &query),
        "reply" => parse_reply(&name, &query),
        _ => return StatusCode::NOT_FOUND,
    };
    let mut heard = hub.heard.lock().unwrap();
    match parsed {
        Ok(inbound) => heard.inbound.push(inbound),
        Err(CallbackError::Interim(status)) => heard.interim.push(status),
        Err(_) => return StatusCode::BAD_REQUEST,
    }
    StatusCode::OK
}

struct Rig {
    kannel: Kannel,
    gateway: Arc<HttpGateway>,
    hub: Hub,
    base_url: String,
}

fn config(kannel: &Kannel, base_url: &str) -> HttpConfig {
    HttpConfig {
        name: GATEWAY.into(),
        url: kannel.sendsms_url_template(),
        method: HttpMethod::Get,
        body: None,
        content_type: "application/x-www-form-urlencoded".into(),
        from: MO_RECEIVER.into(),
        replies: true,
        window: 16,
        max_per_s: None,
        timeout_ms: 5_000,
        callback_base_url: base_url.into(),
        webhook_secret: SecretString::from(SECRET),
        accepted_body_contains: Some("Accepted for delivery".into()),
        message_id_json_pointer: None,
    }
}

async fn rig() -> Rig {
    let hub = Hub {
        gateway: Arc::new(OnceLock::new()),
        heard: Arc::new(Mutex::new(Heard::default())),
    };
    let app = axum::Router::new()
        .route("/v1/gateways/{name}/{kind}", get(callback))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let kannel = Kannel::start(&format!(
        "{base_url}/v1/gateways/{GATEWAY}/reply?secret={SECRET}"
    ))
    .await
    .unwrap();
    let gateway = Arc::new(HttpGateway::new(config(&kannel, &base_url)).unwrap());
    assert!(hub.gateway.set(gateway.clone()).is_ok());
    Rig {
        kannel,
        gateway,
        hub,
        base_url,
    }
}

fn sms(id: i64, to: &str, text: &str) -> OutgoingSms {
    OutgoingSms {
        notification_id: id,
        to: PhoneNumber::parse(to).unwrap(),
        text: text.into(),
        encoding: Encoding::of(text),
    }
}

/// Waits until the hub heard an inbound event matching `wanted`.
async fn heard(rig: &Rig, wanted: impl Fn(&Inbound) -> bool) -> Inbound {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = rig
            .hub
            .heard
            .lock()
            .unwrap()
            .inbound
            .iter()
            .find(|i| wanted(i))
        {
            return found.clone();
        }
        if Instant::now() > deadline {
            let heard = rig.hub.heard.lock().unwrap();
            panic!(
                "not heard within {DEADLINE:?}; heard {:?}\n{}",
                heard.inbound,
                rig.kannel.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
}

#[tokio::test]
async fn kannel_delivers_french_text_and_reports_delivery() {
    let rig = rig().await;
    // GSM 03.38 text: é à è ù are in the alphabet; & and + prove the encoding.
    let text = "Alarme Tabac de l'Église : venez vite, à 2 pas ! è ù & +33 appelez";
    let submitted = rig.gateway.submit(&sms(4_242, "+33612345678", text)).await;
    assert_eq!(submitted, Ok(Submitted { message_id: None }));

    let received = rig.kannel.wait_for_received(1, DEADLINE).await.unwrap();
    assert_eq!(
        received,
        vec![FakeSms {
            from: MO_RECEIVER.into(),
            to: "33612345678".into(),
            text: text.into()
        }]
    );

    let receipt = heard(&rig, |i| matches!(i, Inbound::Receipt { .. })).await;
    match receipt {
        Inbound::Receipt {
            gateway,
            reference,
            delivered,
            ..
        } => {
            assert_eq!(gateway, GATEWAY);
            assert_eq!(reference, ReceiptRef::Notification(4_242));
            assert!(delivered);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rig.hub.heard.lock().unwrap().refused,
        0,
        "Kannel's callbacks carry the secret"
    );

    // Outside GSM 03.38 (ê ç €): sent as UCS-2, every character kept.
    let text = "Fête ça € — l'alarme";
    assert_eq!(
        rig.gateway
            .submit(&sms(4_243, "06 98 76 54 32", text))
            .await,
        Ok(Submitted { message_id: None })
    );
    let received = rig.kannel.wait_for_received(2, DEADLINE).await.unwrap();
    assert_eq!(
        received[1],
        FakeSms {
            from: MO_RECEIVER.into(),
            to: "33698765432".into(),
            text: text.into()
        }
    );
    heard(&rig, |i| {
        matches!(
            i,
            Inbound::Receipt {
                reference: ReceiptRef::Notification(4_243),
                delivered: true,
                ..
            }
        )
    })
    .await;
}

#[tokio::test]
async fn kannel_forwards_a_contact_reply() {
    let rig = rig().await;
    rig.kannel
        .inject_reply("33612345678", "1 K7P")
        .await
        .unwrap();
    let reply = heard(&rig, |i| matches!(i, Inbound::Reply { .. })).await;
    assert_eq!(
        reply,
        Inbound::Reply {
            gateway: GATEWAY.into(),
            from: "+33612345678".into(),
            text: "1 K7P".into()
        }
    );
}

#[tokio::test]
async fn wrong_secret_and_wrong_credentials_are_refused() {
    let rig = rig().await;
    assert!(rig.gateway.check_secret(SECRET));
    assert!(!rig.gateway.check_secret("webhook-secret-0123456780"));
    assert!(!rig.gateway.check_secret(""));

    // A forged receipt with the wrong secret never reaches the engine.
    let forged = format!(
        "{}/v1/gateways/{GATEWAY}/receipt?secret=guess&ref=1&status=1",
        rig.base_url
    );
    let status = reqwest::get(&forged).await.unwrap().status();
    assert_eq!(status.as_u16(), 403);
    {
        let heard = rig.hub.heard.lock().unwrap();
        assert_eq!((heard.refused, heard.inbound.len()), (1, 0));
    }

    // Kannel refuses a wrong sendsms password: a rejection, not a retry.
    let mut config = config(&rig.kannel, &rig.base_url);
    config.url = config.url.replace("password=", "password=wrong");
    let gateway = HttpGateway::new(config).unwrap();
    match gateway.submit(&sms(1, "+33612345678", "x")).await {
        Err(GatewayError::Rejected(m)) => assert!(
            m.contains("403") && m.contains("Authorization failed"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}
