//! The SMPP gateway against the SMSC simulator (tests/peers/smsc): encoding,
//! receipts, replies, throttling, dropped links, bad credentials, rejected
//! numbers and broken frames. Every wait is a poll with a deadline.

use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use vigie_core::PhoneNumber;
use vigie_core::gsm::Encoding;
use vigie_hub::gateway::smpp::{SmppConfig, SmppGateway};
use vigie_hub::gateway::{
    Gateway, GatewayError, INBOUND_QUEUE_MAX, Inbound, OutgoingSms, ReceiptRef,
};
use vigie_testkit::smsc::{Smsc, SmscMessage};

const SYSTEM_ID: &str = "vigie";
const PASSWORD: &str = "s3cret";
/// Generous for a loaded 2-core machine; a working gateway needs far less.
const DEADLINE: Duration = Duration::from_secs(15);

struct Rig {
    smsc: Smsc,
    gateway: SmppGateway,
    inbound: mpsc::Receiver<Inbound>,
}

fn config(port: u16, password: &str) -> SmppConfig {
    serde_json::from_value(serde_json::json!({
        "name": "smsc-test",
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password": password,
        "source_addr": "VIGIE",
        "replies": false,
        "response_timeout_ms": 3000,
    }))
    .expect("valid SMPP config")
}

/// A simulator and a gateway bound to it.
async fn rig() -> Rig {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD)
        .await
        .expect("SMSC simulator starts");
    let (tx, inbound) = mpsc::channel(INBOUND_QUEUE_MAX);
    let gateway = SmppGateway::start(config(smsc.smpp_port(), PASSWORD), tx);
    wait_until("bound", || gateway.is_bound()).await;
    Rig {
        smsc,
        gateway,
        inbound,
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < until, "not {what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn sms(to: &str, text: &str) -> OutgoingSms {
    OutgoingSms {
        notification_id: 1,
        to: PhoneNumber::parse(to).expect("valid number"),
        text: text.to_string(),
        encoding: Encoding::of(text),
    }
}

/// Submit until the SMSC takes it (the link may still be coming back).
async fn submit_until_ok(gateway: &SmppGateway, sms: &OutgoingSms) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        match gateway.submit(sms).await {
            Ok(submitted) => return submitted.message_id.expect("SMPP gives a message id"),
            Err(GatewayError::Transient(_)) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("submit did not recover: {other:?}"),
        }
    }
}

async fn next_inbound(inbound: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("an inbound event within the deadline")
        .expect("inbound channel open")
}

/// The receipt for `message_id`, skipping receipts for other messages.
async fn receipt_for(inbound: &mut mpsc::Receiver<Inbound>, message_id: &str) -> (bool, String) {
    loop {
        if let Inbound::Receipt {
            gateway,
            reference: ReceiptRef::MessageId(id),
            delivered,
            detail,
        } = next_inbound(inbound).await
        {
            assert_eq!(gateway, "smsc-test");
            if id == message_id {
                return (delivered, detail);
            }
        }
    }
}

fn only(messages: &[SmscMessage], message_id: &str) -> SmscMessage {
    let found: Vec<_> = messages
        .iter()
        .filter(|m| m.message_id == message_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "message {message_id} recorded once: {messages:?}"
    );
    found[0].clone()
}

#[tokio::test]
async fn smpp_gsm_and_ucs2_texts_arrive_as_written() {
    let rig = rig().await;
    let gsm = "ALERTE Boulangerie Dupont : appel à l'aide, é à ù è {1} 5€ ~ [ok]";
    let ucs2 = "Alerte : Hôtel « La Forêt » 🚨";
    assert!(matches!(Encoding::of(gsm), Encoding::Gsm7 { .. }));
    assert!(matches!(Encoding::of(ucs2), Encoding::Ucs2 { .. }));

    let id_gsm = submit_until_ok(&rig.gateway, &sms("+33600000001", gsm)).await;
    let id_ucs2 = submit_until_ok(&rig.gateway, &sms("+33600000002", ucs2)).await;
    let messages = rig
        .smsc
        .wait_for_messages(2, DEADLINE)
        .await
        .expect("messages");

    let m = only(&messages, &id_gsm);
    assert_eq!(
        (m.text.as_str(), m.data_coding, m.to.as_str()),
        (gsm, 0, "33600000001")
    );
    assert_eq!((m.from.as_str(), m.registered_delivery), ("VIGIE", 1));
    let m = only(&messages, &id_ucs2);
    assert_eq!(
        (m.text.as_str(), m.data_coding, m.to.as_str()),
        (ucs2, 8, "33600000002")
    );
}

#[tokio::test]
async fn smpp_receipts_match_submitted_ids() {
    let mut rig = rig().await;
    rig.smsc
        .configure(serde_json::json!({ "undeliverable": ["+33600000003"] }))
        .await
        .expect("configure");

    let delivered_id = submit_until_ok(&rig.gateway, &sms("+33600000002", "Alerte 1")).await;
    assert_eq!(
        receipt_for(&mut rig.inbound, &delivered_id).await,
        (true, "DELIVRD".to_string())
    );

    let undelivered_id = submit_until_ok(&rig.gateway, &sms("+33600000003", "Alerte 2")).await;
    assert_ne!(delivered_id, undelivered_id);
    assert_eq!(
        receipt_for(&mut rig.inbound, &undelivered_id).await,
        (false, "UNDELIV".to_string())
    );
}

#[tokio::test]
async fn smpp_contact_reply_arrives_with_e164_sender() {
    let mut rig = rig().await;
    rig.smsc
        .reply("+33612345678", "VIGIE", "1 K7P")
        .await
        .expect("reply");
    let expected = Inbound::Reply {
        gateway: "smsc-test".into(),
        from: "+33612345678".into(),
        text: "1 K7P".into(),
    };
    assert_eq!(next_inbound(&mut rig.inbound).await, expected);

    rig.smsc
        .reply("+33612345678", "VIGIE", "2 Hôtel €")
        .await
        .expect("reply");
    let Inbound::Reply { text, .. } = next_inbound(&mut rig.inbound).await else {
        panic!("a reply")
    };
    assert_eq!(text, "2 Hôtel €");
}

#[tokio::test]
async fn smpp_throttled_submits_are_reported_and_never_recorded_twice() {
    let rig = rig().await;
    rig.smsc
        .configure(serde_json::json!({ "throttle_per_s": 5 }))
        .await
        .expect("configure");
    let outgoing: Vec<_> = (0..20)
        .map(|i| sms("+33600000004", &format!("Alerte {i}")))
        .collect();
    let results = futures::future::join_all(outgoing.iter().map(|s| rig.gateway.submit(s))).await;

    let mut accepted = HashSet::new();
    let mut throttled = 0;
    for (s, result) in outgoing.iter().zip(&results) {
        match result {
            Ok(submitted) => {
                accepted.insert((s.text.clone(), submitted.message_id.clone().expect("id")));
            }
            Err(GatewayError::Throttled) => throttled += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        throttled > 0,
        "the SMSC throttled some of 20 quick submits: {results:?}"
    );
    assert!(!accepted.is_empty(), "the SMSC accepted some: {results:?}");
    let messages = rig.smsc.messages().await.expect("messages");
    let recorded: Vec<_> = messages
        .iter()
        .map(|m| (m.text.clone(), m.message_id.clone()))
        .collect();
    let distinct: HashSet<_> = recorded.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        recorded.len(),
        "nothing recorded twice: {recorded:?}"
    );
    assert_eq!(
        distinct, accepted,
        "recorded = accepted, throttled ones are not"
    );
}

#[tokio::test]
async fn smpp_dropped_link_is_transient_then_recovers() {
    let rig = rig().await;
    submit_until_ok(&rig.gateway, &sms("+33600000005", "avant")).await;

    rig.smsc.drop_connections().await.expect("drop");
    wait_until("down", || !rig.gateway.is_bound()).await;
    match rig.gateway.submit(&sms("+33600000005", "pendant")).await {
        Err(GatewayError::Transient(why)) => assert!(why.contains("not bound"), "{why}"),
        other => panic!("expected Transient while down, got {other:?}"),
    }

    wait_until("bound again", || rig.gateway.is_bound()).await;
    let id = submit_until_ok(&rig.gateway, &sms("+33600000005", "après")).await;
    let messages = rig
        .smsc
        .wait_for_messages(2, DEADLINE)
        .await
        .expect("messages");
    assert_eq!(only(&messages, &id).text, "après");
    assert!(messages.iter().all(|m| m.text != "pendant"), "{messages:?}");
}

#[tokio::test]
async fn smpp_bad_password_is_transient_with_bind_failed() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD)
        .await
        .expect("SMSC simulator starts");
    let (tx, _inbound) = mpsc::channel(INBOUND_QUEUE_MAX);
    let gateway = SmppGateway::start(config(smsc.smpp_port(), "wrong"), tx);
    let until = Instant::now() + DEADLINE;
    loop {
        match gateway.submit(&sms("+33600000006", "Alerte")).await {
            Err(GatewayError::Transient(why)) if why.contains("bind failed") => {
                assert!(why.contains("ESME_RBINDFAIL"), "{why}");
                assert!(!why.contains("wrong"), "no password in errors: {why}");
                break;
            }
            Err(GatewayError::Transient(_)) => {}
            other => panic!("expected Transient, got {other:?}"),
        }
        assert!(
            Instant::now() < until,
            "no bind failure reported within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!gateway.is_bound());
    assert!(smsc.messages().await.expect("messages").is_empty());
}

#[tokio::test]
async fn smpp_rejected_number_is_rejected() {
    let rig = rig().await;
    rig.smsc
        .configure(serde_json::json!({ "reject": ["+33600000009"] }))
        .await
        .expect("configure");
    match rig.gateway.submit(&sms("+33600000009", "Alerte")).await {
        Err(GatewayError::Rejected(why)) => assert!(why.contains("ESME_RINVDSTADR"), "{why}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    // The link is fine: the next message goes through.
    rig.gateway
        .submit(&sms("+33600000008", "Alerte"))
        .await
        .expect("next submit accepted");
}

#[tokio::test]
async fn smpp_garbage_from_smsc_breaks_the_link_then_recovers() {
    let rig = rig().await;
    rig.smsc
        .configure(serde_json::json!({ "garbage_next": true }))
        .await
        .expect("configure");
    match rig.gateway.submit(&sms("+33600000007", "cassé")).await {
        Err(GatewayError::Transient(_)) => {}
        other => panic!("expected Transient after a broken frame, got {other:?}"),
    }
    let id = submit_until_ok(&rig.gateway, &sms("+33600000007", "réparé")).await;
    let messages = rig
        .smsc
        .wait_for_messages(1, DEADLINE)
        .await
        .expect("messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(only(&messages, &id).text, "réparé");
}
