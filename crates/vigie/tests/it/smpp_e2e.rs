//! `vigie serve` with its SMPP gateway against the SMSC simulator, end to
//! end: press → alert at the SMSC → delivery receipt → SMS reply "1" →
//! the others are told; a dropped SMPP link in a burst loses nothing; an
//! undeliverable number is failed visibly and retried.

use crate::hub::*;
use futures::StreamExt as _;
use std::collections::HashMap;
use uuid::Uuid;
use vigie_core::AlarmState;
use vigie_testkit::smsc::{Smsc, SmscMessage};

/// The hub's sender: a number, so contacts can reply.
const SENDER: &str = "33700000001";
const MARIE: &str = "+33611223344";
const AHMED: &str = "+33655667788";
const LUC: &str = "+33644556677";
const BURST_ALARMS: usize = 50;

async fn messages_to(smsc: &Smsc, phone: &str) -> Vec<SmscMessage> {
    let to = digits(phone);
    smsc.messages()
        .await
        .expect("messages")
        .into_iter()
        .filter(|m| m.to == to)
        .collect()
}

/// Wait until `phone` got an SMS containing `needle`; return it.
async fn sms_to(smsc: &Smsc, phone: &str, needle: &str) -> SmscMessage {
    eventually(
        &format!("an SMS to {phone} containing {needle:?}"),
        || async {
            messages_to(smsc, phone)
                .await
                .into_iter()
                .find(|m| m.text.contains(needle))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_press_receipt_reply_dropped_link_and_undeliverable() {
    let smsc = Smsc::start("vigie", "s3cret")
        .await
        .expect("SMSC simulator");
    let dir = TempDir::new("vigie-smpp");
    let port = free_port();
    let config = write_config(&dir, port, &smpp_gateway(&smsc, SENDER, true));
    let store = open_store(&config);
    let hub = HubProcess::start(&dir, &config, port).await;

    // Press → every contact gets the alert with the shop and a link.
    let centre = store
        .add_shop(shop("S1", "Tabac du Centre", "+33699887766"), now())
        .await
        .expect("shop");
    for (name, phone) in [
        ("Marie Dupont", MARIE),
        ("Ahmed Benali", AHMED),
        ("Luc Girard", LUC),
    ] {
        police_contact(&store, centre, name, phone).await;
    }
    let button = Button::enroll(&store, &hub.url, centre).await;
    let id = Uuid::now_v7();
    let (status, receipt) = button.press(id).await.expect("press");
    assert_eq!(status, 201, "{receipt}");
    for phone in [MARIE, AHMED, LUC] {
        let alert = sms_to(&smsc, phone, "ALERTE").await;
        assert!(
            alert.text.contains("Tabac du Centre")
                && alert.text.contains(&format!("{}/r/", hub.url))
                && alert.text.contains("Répondez 1"),
            "{alert:?}"
        );
        assert_eq!(alert.from, SENDER);
    }

    // The simulator's delivery receipts mark each alert delivered.
    eventually("the alerts marked delivered", || async {
        let d = store.alarm(id).await.expect("alarm");
        let alerts: Vec<_> = d
            .notifications
            .iter()
            .filter(|n| n.purpose == "alert")
            .collect();
        (alerts.len() == 3 && alerts.iter().all(|n| n.state == "delivered")).then_some(())
    })
    .await;
    let d = store.alarm(id).await.expect("alarm");
    assert!(
        d.events.iter().any(|e| e.kind() == "delivered"),
        "{:?}",
        d.events
    );

    // Ahmed replies "1" by SMS: acknowledged, the others are told.
    smsc.reply(AHMED, SENDER, "1").await.expect("reply");
    eventually("the alarm acknowledged", || async {
        (store.alarm(id).await.expect("alarm").alarm.state == AlarmState::Acknowledged)
            .then_some(())
    })
    .await;
    sms_to(&smsc, MARIE, "Ahmed B. arrive").await;
    sms_to(&smsc, LUC, "Ahmed B. arrive").await;
    sms_to(&smsc, "+33699887766", "Ahmed B. arrive").await;
    drained(&store).await;
    assert!(
        messages_to(&smsc, AHMED)
            .await
            .iter()
            .all(|m| !m.text.contains("Ahmed B. arrive")),
        "the one who answered is not told his own answer"
    );

    // A burst of 50 alarms, and the SMPP link cut in the middle.
    let balto = store
        .add_shop(shop("S2", "Le Balto", "+33698000002"), now())
        .await
        .expect("shop");
    let burst_phones = ["+33620000001", "+33620000002"];
    for (name, phone) in ["Agent Alpha", "Agent Bravo"].into_iter().zip(burst_phones) {
        police_contact(&store, balto, name, phone).await;
    }
    let button = Button::enroll(&store, &hub.url, balto).await;
    smsc.configure(serde_json::json!({ "throttle_per_s": 50 }))
        .await
        .expect("throttle");
    let burst = tokio::spawn(async move {
        futures::stream::iter(0..BURST_ALARMS)
            .map(|_| {
                let button = &button;
                async move {
                    let id = Uuid::now_v7();
                    let (status, body) = button.press(id).await.expect("press");
                    assert_eq!(status, 201, "{body}");
                    id
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<Uuid>>()
            .await
    });
    let burst_to: Vec<String> = burst_phones.iter().map(|p| digits(p)).collect();
    let before_drop = eventually("part of the burst at the SMSC", || async {
        let n = smsc
            .messages()
            .await
            .expect("messages")
            .iter()
            .filter(|m| burst_to.contains(&m.to))
            .count();
        (n >= 10).then_some(n)
    })
    .await;
    smsc.drop_connections().await.expect("drop");
    assert!(
        before_drop < BURST_ALARMS * burst_phones.len(),
        "the link was cut mid-burst ({before_drop} alerts were through)"
    );
    let ids = burst.await.expect("burst task");
    smsc.configure(serde_json::json!({ "throttle_per_s": null }))
        .await
        .expect("unthrottle");
    drained(&store).await;
    let messages = smsc.messages().await.expect("messages");
    let mut copies: HashMap<(String, String), usize> = HashMap::new();
    for m in &messages {
        *copies.entry((m.to.clone(), m.text.clone())).or_default() += 1;
    }
    let mut retried = 0;
    for &id in &ids {
        let d = store.alarm(id).await.expect("alarm");
        retried += d.notifications.iter().filter(|n| n.tries > 1).count();
        let alerts: Vec<_> = d
            .notifications
            .iter()
            .filter(|n| n.purpose == "alert")
            .collect();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        for n in alerts {
            let c = copies
                .get(&(digits(&n.phone), n.text.clone()))
                .copied()
                .unwrap_or(0);
            assert!(
                (1..=2).contains(&c),
                "alarm {id}: {} got its alert {c} times",
                n.phone
            );
            assert!(
                n.state == "submitted" || n.state == "delivered",
                "alarm {id}: alert to {} is {}",
                n.phone,
                n.state
            );
        }
    }

    eprintln!(
        "smpp: link cut after {before_drop} burst alerts; {retried} SMS needed another try; {} sent twice",
        copies.values().filter(|n| **n == 2).count()
    );

    // An undeliverable number: the attempt fails visibly and is retried.
    let narval = store
        .add_shop(shop("S3", "Le Narval", "+33698000003"), now())
        .await
        .expect("shop");
    let dead = "+33630000001";
    police_contact(&store, narval, "Agent Charlie", dead).await;
    police_contact(&store, narval, "Agent Delta", "+33630000002").await;
    smsc.configure(serde_json::json!({ "undeliverable": [dead] }))
        .await
        .expect("undeliverable");
    let button = Button::enroll(&store, &hub.url, narval).await;
    let id = Uuid::now_v7();
    let (status, body) = button.press(id).await.expect("press");
    assert_eq!(status, 201, "{body}");
    let d = eventually("the failed attempt and its retry", || async {
        let d = store.alarm(id).await.expect("alarm");
        let to_dead = |attempt: u32| {
            d.notifications
                .iter()
                .find(|n| n.purpose == "alert" && n.phone == dead && n.attempt == attempt)
                .cloned()
        };
        let ok = to_dead(0).is_some_and(|n| n.state == "failed") && to_dead(1).is_some();
        ok.then_some(d)
    })
    .await;
    let first = d
        .notifications
        .iter()
        .find(|n| n.phone == dead && n.attempt == 0)
        .expect("first attempt");
    assert!(
        first
            .error
            .as_deref()
            .is_some_and(|e| e.contains("UNDELIV")),
        "{first:?}"
    );
    let failed = d
        .events
        .iter()
        .find(|e| e.kind() == "delivery_failed")
        .expect("a delivery_failed event");
    assert_eq!(failed.detail()["notification"], first.id, "{failed:?}");
    assert_eq!(failed.detail()["retry"], true, "{failed:?}");
    eventually("the other contact delivered", || async {
        store
            .alarm(id)
            .await
            .expect("alarm")
            .notifications
            .iter()
            .any(|n| n.phone == "+33630000002" && n.state == "delivered")
            .then_some(())
    })
    .await;
}
