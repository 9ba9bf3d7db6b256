//! The SMPP gateway against the SMSC simulator (tests/peers/smsc): encoding,
//! the submit_sm bytes on the wire, receipts, replies, acknowledgement only
//! once kept, a flood held to a bounded number in flight, bad PDUs answered
//! with an error on a link that stays up, throttling, dropped links, bad
//! credentials, rejected numbers and broken frames. Every wait is a poll
//! with a deadline.

use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use vigie_core::PhoneNumber;
use vigie_core::gsm::Encoding;
use vigie_hub::gateway::smpp::{INBOUND_IN_FLIGHT_MAX, SmppConfig, SmppGateway};
use vigie_hub::gateway::{
    Delivery, Gateway, GatewayError, INBOUND_QUEUE_MAX, Inbound, Kept, OutgoingSms, ReceiptRef,
};
use vigie_testkit::smsc::{Smsc, SmscMessage};

const SYSTEM_ID: &str = "vigie";
const PASSWORD: &str = "s3cret";
/// Generous for a loaded 2-core machine; a working gateway needs far less.
const DEADLINE: Duration = Duration::from_secs(15);

struct Rig {
    smsc: Smsc,
    gateway: SmppGateway,
    inbound: mpsc::Receiver<Delivery>,
}

fn config(port: u16, password: &str) -> SmppConfig {
    config_from(port, password, "VIGIE")
}

fn config_from(port: u16, password: &str, source: &str) -> SmppConfig {
    serde_json::from_value(serde_json::json!({
        "name": "smsc-test",
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password": password,
        "source_addr": source,
        "replies": false,
        "response_timeout_ms": 3000,
    }))
    .expect("valid SMPP config")
}

/// A simulator and a gateway bound to it.
async fn rig() -> Rig {
    rig_with(serde_json::json!({})).await
}

/// A simulator configured with `smsc_config` before the gateway binds.
async fn rig_with(smsc_config: serde_json::Value) -> Rig {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD)
        .await
        .expect("SMSC simulator starts");
    smsc.configure(smsc_config).await.expect("configure");
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

/// The next inbound message, answered as stored.
async fn next_inbound(inbound: &mut mpsc::Receiver<Delivery>) -> Inbound {
    let (event, kept) = next_delivery(inbound).await.into_parts();
    kept.send(Kept::Stored);
    event
}

async fn next_delivery(inbound: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("an inbound event within the deadline")
        .expect("inbound channel open")
}

/// Poll `what` until it returns `Some`, or fail at the deadline.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "not {what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The receipt for `message_id`, skipping receipts for other messages.
async fn receipt_for(inbound: &mut mpsc::Receiver<Delivery>, message_id: &str) -> (bool, String) {
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

/// A submit_sm read from its bytes per SMPP 3.4 §4.4.1, by hand: what the
/// SMSC sees, not what a library makes of it.
#[derive(Debug, PartialEq, Eq)]
struct WireSubmit {
    command_id: u32,
    command_status: u32,
    service_type: String,
    source: (u8, u8, String),
    destination: (u8, u8, String),
    esm_class: u8,
    protocol_id: u8,
    priority_flag: u8,
    schedule_delivery_time: String,
    validity_period: String,
    registered_delivery: u8,
    replace_if_present_flag: u8,
    data_coding: u8,
    sm_default_msg_id: u8,
    short_message: Vec<u8>,
    /// Octets after short_message (optional parameters).
    tlv_octets: usize,
}

fn wire_submit(hex: &str) -> WireSubmit {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let word = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 octets"));
    assert_eq!(
        word(0) as usize,
        bytes.len(),
        "command_length is the PDU's length"
    );
    let mut at = 16;
    // C-octet strings and octets, in the order of §4.4.1.
    let cstr = |at: &mut usize| {
        let end = bytes[*at..].iter().position(|&b| b == 0).expect("NUL") + *at;
        let s = String::from_utf8(bytes[*at..end].to_vec()).expect("ASCII");
        *at = end + 1;
        s
    };
    let service_type = cstr(&mut at);
    let (ston, snpi) = (bytes[at], bytes[at + 1]);
    at += 2;
    let source = cstr(&mut at);
    let (dton, dnpi) = (bytes[at], bytes[at + 1]);
    at += 2;
    let destination = cstr(&mut at);
    let (esm_class, protocol_id, priority_flag) = (bytes[at], bytes[at + 1], bytes[at + 2]);
    at += 3;
    let schedule_delivery_time = cstr(&mut at);
    let validity_period = cstr(&mut at);
    let head = &bytes[at..at + 5];
    at += 5;
    let sm_length = usize::from(head[4]);
    let short_message = bytes[at..at + sm_length].to_vec();
    at += sm_length;
    WireSubmit {
        command_id: word(4),
        command_status: word(8),
        service_type,
        source: (ston, snpi, source),
        destination: (dton, dnpi, destination),
        esm_class,
        protocol_id,
        priority_flag,
        schedule_delivery_time,
        validity_period,
        registered_delivery: head[0],
        replace_if_present_flag: head[1],
        data_coding: head[2],
        sm_default_msg_id: head[3],
        short_message,
        tlv_octets: bytes.len() - at,
    }
}

#[tokio::test]
async fn smpp_submit_sm_bytes_follow_smpp_3_4() {
    let rig = rig().await;
    let text = "ALERTE Tabac : appel à l'aide";
    let id = submit_until_ok(&rig.gateway, &sms("+33600000010", text)).await;
    let hex = rig
        .smsc
        .submit_pdu_hex(&id)
        .await
        .expect("the simulator kept the bytes");
    let wire = wire_submit(&hex);
    let septets = text.chars().count();
    assert_eq!(
        wire,
        WireSubmit {
            command_id: 0x0000_0004,
            command_status: 0,
            service_type: String::new(),
            source: (5, 0, "VIGIE".into()),
            destination: (1, 1, "33600000010".into()),
            // Default mode, normal message: not 0x08 (an ESME delivery
            // acknowledgement in SMPP 3.4).
            esm_class: 0x00,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: String::new(),
            validity_period: String::new(),
            registered_delivery: 0x01,
            replace_if_present_flag: 0,
            data_coding: 0x00,
            sm_default_msg_id: 0,
            short_message: wire.short_message.clone(),
            tlv_octets: 0,
        }
    );
    assert_eq!(
        wire.short_message.len(),
        septets,
        "unpacked GSM septets, one per character"
    );
    assert_eq!(&wire.short_message[..6], b"ALERTE");

    // A short code and an international number as sender: their TON/NPI.
    for (source, expected) in [
        ("36180", (3, 0, "36180")),
        ("+33700000001", (1, 1, "33700000001")),
    ] {
        let (tx, _inbound) = mpsc::channel(INBOUND_QUEUE_MAX);
        let gateway = SmppGateway::start(config_from(rig.smsc.smpp_port(), PASSWORD, source), tx);
        wait_until("bound", || gateway.is_bound()).await;
        let id = submit_until_ok(&gateway, &sms("+33600000011", "Alerte")).await;
        let wire = wire_submit(&rig.smsc.submit_pdu_hex(&id).await.expect("bytes"));
        assert_eq!(
            wire.source,
            (expected.0, expected.1, expected.2.to_string()),
            "{source}"
        );
        assert_eq!(wire.esm_class, 0x00);
    }
}

#[tokio::test]
async fn smpp_deliver_sm_is_acknowledged_only_once_kept() {
    let mut rig = rig().await;
    const N: usize = 40;
    rig.smsc
        .flood(N, "+33690000001", "réponse")
        .await
        .expect("flood");
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(next_delivery(&mut rig.inbound).await);
    }
    // Every one handed over, none kept yet: none acknowledged.
    let acked = rig.smsc.acked().await.expect("acked");
    assert!(
        acked.acked.is_empty(),
        "acknowledged before kept: {acked:?}"
    );
    // Stored or refused for good: ESME_ROK; not stored (or dropped by a
    // hub that stops): ESME_RX_T_APPN, delivered again later.
    let mut expected_ok = Vec::new();
    for (i, delivery) in held.into_iter().enumerate() {
        let (event, kept) = delivery.into_parts();
        let Inbound::Reply { text, from, .. } = event else {
            panic!("a reply")
        };
        assert_eq!(from, "+33690000001");
        match i % 4 {
            0 | 1 => {
                expected_ok.push(text);
                kept.send(if i % 4 == 0 {
                    Kept::Stored
                } else {
                    Kept::Refused
                });
            }
            2 => kept.send(Kept::Failed),
            _ => drop(kept),
        }
    }
    let acked = eventually("every one answered", || async {
        let a = rig.smsc.acked().await.expect("acked");
        (a.unanswered == 0).then_some(a)
    })
    .await;
    let mut got = acked.acked.clone();
    got.sort();
    expected_ok.sort();
    assert_eq!(got, expected_ok);
    assert_eq!(
        acked.refused.get("100").copied(),
        Some(N as u64 / 2),
        "ESME_RX_T_APPN (0x64) for those not kept: {acked:?}"
    );
}

#[tokio::test]
async fn smpp_flood_is_taken_in_bounded_numbers_and_all_acknowledged() {
    let mut rig = rig().await;
    const N: usize = 10_000;
    rig.smsc
        .flood(N, "+33690000002", "flot")
        .await
        .expect("flood");
    let mut held = Vec::new();
    while held.len() < INBOUND_IN_FLIGHT_MAX {
        held.push(next_delivery(&mut rig.inbound).await);
    }
    // None committed: the link takes no more than its bound.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rig.inbound.recv())
            .await
            .is_err(),
        "more than {INBOUND_IN_FLIGHT_MAX} handed over before any commit"
    );
    for d in held {
        d.into_parts().1.send(Kept::Stored);
    }
    // The rest flows as commits come back.
    let mut seen = INBOUND_IN_FLIGHT_MAX;
    while seen < N {
        next_inbound(&mut rig.inbound).await;
        seen += 1;
    }
    let acked = eventually("the whole flood acknowledged", || async {
        let a = rig.smsc.acked().await.expect("acked");
        (a.acked.len() == N).then_some(a)
    })
    .await;
    assert_eq!(acked.unanswered, 0);
    assert!(acked.refused.is_empty(), "{:?}", acked.refused);
}

/// The SMSC sends `kind` after every bind: the hub answers it and keeps the link.
async fn bad_pdu_is_answered_and_the_link_stays(kind: &str, status: u32) -> Rig {
    let mut rig = rig_with(serde_json::json!({ "bad_after_bind": kind })).await;
    eventually("the bad deliver_sm answered", || async {
        let answers = rig.smsc.answers().await.expect("answers");
        (!answers.is_empty()).then_some(())
    })
    .await;
    // Redelivered after the next bind: answered again, one bind each.
    rig.smsc.drop_connections().await.expect("drop");
    let answers = eventually("answered after the second bind", || async {
        let answers = rig.smsc.answers().await.expect("answers");
        (answers.len() >= 2).then_some(answers)
    })
    .await;
    let expected = vig_answer(kind, status);
    assert_eq!(answers, vec![expected.clone(), expected]);
    assert_eq!(
        rig.smsc.binds().await.expect("binds").binds.len(),
        2,
        "one bind per drop, no reconnect loop"
    );
    // The link works: a submit and a reply go through.
    submit_until_ok(&rig.gateway, &sms("+33600000012", "après")).await;
    rig.smsc
        .reply("+33612345678", "VIGIE", "1")
        .await
        .expect("reply");
    loop {
        if let Inbound::Reply { text, .. } = next_inbound(&mut rig.inbound).await
            && text == "1"
        {
            break;
        }
    }
    assert_eq!(rig.smsc.binds().await.expect("binds").binds.len(), 2);
    rig
}

fn vig_answer(kind: &str, status: u32) -> vigie_testkit::smsc::Answer {
    vigie_testkit::smsc::Answer {
        kind: kind.into(),
        status,
    }
}

#[tokio::test]
async fn smpp_malformed_deliver_sm_is_refused_on_a_link_that_stays() {
    // ESME_RX_P_APPN: do not send it again.
    bad_pdu_is_answered_and_the_link_stays("malformed", 0x65).await;
}

#[tokio::test]
async fn smpp_deliver_sm_above_the_limit_is_refused_on_a_link_that_stays() {
    bad_pdu_is_answered_and_the_link_stays("oversize", 0x65).await;
}

#[tokio::test]
async fn smpp_largest_legal_message_payload_is_taken() {
    let smsc_config = serde_json::json!({ "bad_after_bind": "payload64k" });
    let mut rig = rig_with(smsc_config).await;
    let Inbound::Reply { text, from, .. } = next_inbound(&mut rig.inbound).await else {
        panic!("the 64 KiB reply")
    };
    assert_eq!(from, "+33699999999");
    assert_eq!(text.len(), 65_535);
    assert!(text.chars().all(|c| c == 'a'));
    eventually("acknowledged", || async {
        let answers = rig.smsc.answers().await.expect("answers");
        (answers == vec![vig_answer("payload64k", 0)]).then_some(())
    })
    .await;
    assert_eq!(rig.smsc.binds().await.expect("binds").binds.len(), 1);
}

#[tokio::test]
async fn smpp_close_answers_what_was_handed_over_then_unbinds() {
    let mut rig = rig().await;
    rig.smsc
        .flood(5, "+33690000003", "fin")
        .await
        .expect("flood");
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(next_delivery(&mut rig.inbound).await);
    }
    let gateway = std::sync::Arc::new(rig.gateway);
    let closing = {
        let gateway = gateway.clone();
        tokio::spawn(async move { gateway.close().await })
    };
    // Kept while the gateway closes: still acknowledged before it unbinds.
    for d in held {
        d.into_parts().1.send(Kept::Stored);
    }
    tokio::time::timeout(DEADLINE, closing)
        .await
        .expect("closed within the deadline")
        .expect("close task");
    assert!(!gateway.is_bound());
    let acked = rig.smsc.acked().await.expect("acked");
    assert_eq!(acked.acked.len(), 5, "{acked:?}");
    assert!(matches!(
        gateway.submit(&sms("+33600000013", "trop tard")).await,
        Err(GatewayError::Transient(_))
    ));
}
