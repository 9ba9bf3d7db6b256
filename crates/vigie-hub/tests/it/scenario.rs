//! Scenarios told like the story, on a manual clock: press → phones get
//! SMS → a minute passes → the next tier → someone answers → everyone knows.

use crate::helpers::*;
use uuid::Uuid;
use vigie_core::{AlarmState, Outcome};

#[tokio::test]
async fn press_escalates_until_an_sms_reply_then_everyone_is_told() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "A1").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let (status, receipt) = h.press(&dev, id).await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["durable"], true);
    assert_eq!(receipt["contacts_alerting"], 2);
    let code = receipt["code"].as_str().expect("code").to_string();

    // Tier 1 at once, with the shop, the time and a link; the holder is told discreetly.
    let marie = h.sms_to(MARIE, "ALERTE").await;
    assert!(
        marie.iter().any(|s| s.text.contains("Tabac du Centre")
            && s.text.contains("14h32")
            && s.text.contains("/r/")),
        "{marie:?}"
    );
    h.sms_to(AHMED, "ALERTE").await;
    h.sms_to(HOLDER, "2 contacts prévenus").await;
    h.settled().await;
    assert_eq!(h.sms_count(POLICE, "ALERTE"), 0, "tier 2 waits a minute");

    // 59 s: nothing more. 60 s: tier 2.
    h.pass_secs(59).await;
    h.settled().await;
    assert_eq!(h.sms_count(POLICE, "ALERTE"), 0);
    h.pass_secs(1).await;
    h.sms_to(POLICE, "ALERTE").await;

    // Ahmed replies by SMS "1": acknowledged, everyone else and the holder told.
    h.hub
        .store
        .handle_reply("phones", "+33655667788", " 1 ", h.now())
        .await
        .expect("reply");
    h.hub.engine.wake();
    h.sms_to(MARIE, "Ahmed B. arrive").await;
    h.sms_to(POLICE, "Ahmed B. arrive").await;
    h.sms_to(HOLDER, "Ahmed B. arrive").await;
    h.settled().await;
    assert_eq!(
        h.sms_count(AHMED, "Ahmed B. arrive"),
        0,
        "the one who answered is not told his own answer"
    );
    let detail = h.hub.store.alarm(id).await.expect("alarm");
    assert_eq!(detail.alarm.state, AlarmState::Acknowledged);
    assert_eq!(detail.alarm.code, code);

    // Escalation has stopped: two more minutes bring no new alert to anyone.
    let before = h.phones.sent().len();
    h.pass_secs(120).await;
    h.settled().await;
    assert_eq!(
        h.phones.sent().len(),
        before,
        "no SMS after the alarm was taken in charge"
    );

    // The operator closes it; those alerted are told.
    h.hub
        .store
        .resolve_alarm(id, Outcome::Incident, "operator", h.now())
        .await
        .expect("resolve");
    h.hub.engine.wake();
    h.sms_to(MARIE, "est close").await;
    h.sms_to(POLICE, "est close").await;
    let kinds: Vec<String> = h
        .hub
        .store
        .alarm(id)
        .await
        .expect("alarm")
        .events
        .into_iter()
        .map(|e| e.kind())
        .collect();
    for k in [
        "raised",
        "escalated",
        "answered",
        "acknowledged",
        "resolved",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} missing from {kinds:?}");
    }
    // The link stops taking answers once the alarm is closed.
    let token = link_token(
        &marie
            .iter()
            .find(|s| s.text.contains("ALERTE"))
            .expect("alert")
            .text,
    );
    let resp = h
        .http
        .post(format!("{}/r/{token}", h.url()))
        .form(&[("answer", "coming")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 409);
}

#[tokio::test]
async fn answering_through_the_link_acknowledges_and_repeats_are_ignored() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "A2").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    h.press(&dev, id).await;
    let marie = h.sms_to(MARIE, "ALERTE").await;
    let token = link_token(
        &marie
            .iter()
            .find(|s| s.text.contains("ALERTE"))
            .expect("alert")
            .text,
    );
    let page = h
        .http
        .get(format!("{}/r/{token}", h.url()))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("Tabac du Centre")
            && page.contains("J'arrive")
            && page.contains("geo:45.894"),
        "{page}"
    );
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for _ in 0..2 {
        let r = no_redirect
            .post(format!("{}/r/{token}", h.url()))
            .form(&[("answer", "calling_police")])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 303);
    }
    h.sms_to(AHMED, "Marie D. appelle le 17").await;
    h.settled().await;
    assert_eq!(
        h.sms_count(AHMED, "Marie D. appelle le 17"),
        1,
        "the same answer twice is broadcast once"
    );
    let page = h
        .http
        .get(format!("{}/r/{token}", h.url()))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("Marie Dupont (vous)&nbsp;: J&#39;appelle le 17"),
        "{page}"
    );
    assert_eq!(
        h.hub.store.alarm(id).await.expect("alarm").alarm.state,
        AlarmState::Acknowledged
    );
    // An unknown or malformed token is a plain 404, never a server error.
    for bad in ["AAAAAAAAAAAA", "<script>", "x".repeat(500).as_str()] {
        let r = h
            .http
            .get(format!("{}/r/{bad}", h.url()))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{bad}");
    }
    let r = h
        .http
        .post(format!("{}/r/{token}", h.url()))
        .form(&[("answer", "maybe")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn unavailable_does_not_stop_escalation() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "A3").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    h.press(&dev, id).await;
    h.sms_to(MARIE, "ALERTE").await;
    h.hub
        .store
        .handle_reply("phones", "+33611223344", "3", h.now())
        .await
        .expect("reply");
    h.pass_secs(60).await;
    h.sms_to(POLICE, "ALERTE").await;
    h.sms_to(AHMED, "Marie D. n'est pas disponible").await;
    assert_eq!(
        h.hub.store.alarm(id).await.expect("alarm").alarm.state,
        AlarmState::Open
    );
}

#[tokio::test]
async fn cancel_within_the_window_tells_those_alerted_and_withdraws_the_rest() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "A4").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let pressed = h.now().as_ms();
    h.press(&dev, id).await;
    h.sms_to(MARIE, "ALERTE").await;
    h.settled().await;
    h.clock.advance_ms(10_000);
    let t = h.now().as_ms();
    let body =
        serde_json::json!({ "cancel_pressed_at_ms": pressed + 7_000, "sent_at_ms": t }).to_string();
    let (status, r) = h
        .signed_post(
            &dev,
            &format!("/v1/alarms/{id}/cancel"),
            body.as_bytes(),
            t / 1000,
            &vigie_proto::signature::new_nonce(),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["state"], "cancelled");
    h.sms_to(MARIE, "fausse alerte").await;
    h.sms_to(AHMED, "fausse alerte").await;
    h.pass_secs(120).await;
    h.settled().await;
    assert_eq!(
        h.sms_count(POLICE, "ALERTE"),
        0,
        "a cancelled alarm does not escalate"
    );
    assert_eq!(
        h.sms_count(POLICE, "fausse alerte"),
        0,
        "nobody who was not alerted is bothered"
    );

    // A second alarm, cancelled too late (61 s after the press), is refused and keeps going.
    let id2 = Uuid::now_v7();
    let pressed = h.now().as_ms();
    h.press(&dev, id2).await;
    h.clock.advance_ms(61_000);
    let t = h.now().as_ms();
    let body = serde_json::json!({ "cancel_pressed_at_ms": pressed + 61_000, "sent_at_ms": t })
        .to_string();
    let (status, r) = h
        .signed_post(
            &dev,
            &format!("/v1/alarms/{id2}/cancel"),
            body.as_bytes(),
            t / 1000,
            &vigie_proto::signature::new_nonce(),
        )
        .await;
    assert_eq!(status, 409, "{r}");
    assert_eq!(r["code"], "cancel_window_passed");
    assert_eq!(
        h.hub.store.alarm(id2).await.expect("alarm").alarm.state,
        AlarmState::Open
    );
}

#[tokio::test]
async fn a_replayed_alarm_id_is_the_same_alarm() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "A5").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let (s1, r1) = h.press(&dev, id).await;
    let (s2, r2) = h.press(&dev, id).await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(r2["duplicate"], true);
    assert_eq!(r1["code"], r2["code"]);
    h.sms_to(MARIE, "ALERTE").await;
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 1, "one alert, not two");
    assert_eq!(h.hub.store.alarms(10).await.expect("alarms").len(), 1);
    // Another device may not claim that id.
    let other = h.enroll(shop).await;
    let (s3, r3) = h.press(&other, id).await;
    assert_eq!(s3, 409, "{r3}");
    assert_eq!(r3["code"], "alarm_id_taken");
}

#[tokio::test]
async fn a_contact_of_two_shops_with_two_open_alarms_is_asked_which() {
    let h = spawn_hub("").await;
    let a = h
        .seed_shop("B1", HOLDER, &[(1, "Marie Dupont", MARIE)])
        .await;
    let b = h
        .seed_shop("B2", "06 44 44 44 44", &[(1, "Marie Dupont", MARIE)])
        .await;
    let (da, db) = (h.enroll(a).await, h.enroll(b).await);
    let (ia, ib) = (Uuid::now_v7(), Uuid::now_v7());
    let (_, ra) = h.press(&da, ia).await;
    h.press(&db, ib).await;
    eventually("two alerts to Marie", || async {
        (h.sms_count(MARIE, "ALERTE") == 2).then_some(())
    })
    .await;
    h.hub
        .store
        .handle_reply("phones", "+33611223344", "1", h.now())
        .await
        .expect("reply");
    h.hub.engine.wake();
    h.sms_to(MARIE, "2 alertes en cours").await;
    assert_eq!(
        h.hub.store.alarm(ia).await.expect("a").alarm.state,
        AlarmState::Open
    );
    let code = ra["code"].as_str().expect("code").to_lowercase();
    h.hub
        .store
        .handle_reply("phones", "+33611223344", &format!("1 {code}"), h.now())
        .await
        .expect("reply");
    assert_eq!(
        h.hub.store.alarm(ia).await.expect("a").alarm.state,
        AlarmState::Acknowledged
    );
    assert_eq!(
        h.hub.store.alarm(ib).await.expect("b").alarm.state,
        AlarmState::Open
    );
    // Gibberish gets the help text; a stranger's SMS gets nothing.
    h.hub
        .store
        .handle_reply("phones", "+33611223344", "j'arrive !!", h.now())
        .await
        .expect("reply");
    h.hub
        .store
        .handle_reply("phones", "+33600000001", "1", h.now())
        .await
        .expect("reply");
    h.hub.engine.wake();
    h.sms_to(MARIE, "réponse non comprise").await;
    h.settled().await;
    assert!(h.phones.sent().iter().all(|s| s.to != "+33600000001"));
}

#[tokio::test]
async fn consent_gates_alarms_and_stop_withdraws() {
    let h = spawn_hub("").await;
    let shop = h
        .hub
        .store
        .add_shop(shop("C1", HOLDER), h.now())
        .await
        .expect("shop");
    let phone = vigie_core::PhoneNumber::parse(MARIE).expect("phone");
    let contact = vigie_hub::store::NewContact {
        shop_id: Some(shop),
        name: "Marie Dupont".into(),
        phone,
        relation: vigie_hub::store::Relation::Friend,
        tier: 1,
    };
    h.hub
        .store
        .add_contact(contact, h.now())
        .await
        .expect("contact");
    h.hub.engine.wake();
    let optin = h.sms_to(MARIE, "OUI pour accepter").await;
    assert!(
        optin[0].text.contains("Jeanne Martin") && optin[0].text.contains("/c/"),
        "{optin:?}"
    );
    // Without consent, an alarm reaches nobody, and says so.
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let (_, r) = h.press(&dev, id).await;
    assert_eq!(r["contacts_alerting"], 0);
    let events: Vec<String> = h
        .hub
        .store
        .alarm(id)
        .await
        .expect("alarm")
        .events
        .into_iter()
        .map(|e| e.kind())
        .collect();
    assert!(events.contains(&"no_contact".to_string()), "{events:?}");
    h.hub
        .store
        .resolve_alarm(id, vigie_core::Outcome::Test, "operator", h.now())
        .await
        .expect("resolve");
    // Yes through the link page, then STOP by SMS.
    let token = optin[0]
        .text
        .split("/c/")
        .nth(1)
        .expect("link")
        .trim()
        .to_string();
    let r = h
        .http
        .post(format!("{}/c/{token}", h.url()))
        .form(&[("consent", "yes")])
        .send()
        .await
        .expect("consent");
    assert!(r.status().is_success());
    let (_, r) = h.press(&dev, Uuid::now_v7()).await;
    assert_eq!(r["contacts_alerting"], 1);
    h.hub
        .store
        .handle_reply("phones", "+33611223344", "STOP", h.now())
        .await
        .expect("stop");
    let (_, r) = h.press(&dev, Uuid::now_v7()).await;
    assert_eq!(r["contacts_alerting"], 0, "STOP is honoured at once");
}

#[tokio::test]
async fn invalid_phone_numbers_are_refused_with_a_clear_message() {
    for bad in ["06 12 34", "06 12 34 56 7a", "+1 23", ""] {
        let e = vigie_core::PhoneNumber::parse(bad).expect_err(bad);
        assert!(!e.to_string().is_empty());
    }
}

#[tokio::test]
async fn a_shop_can_have_its_own_escalation_policy() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "P1").await;
    h.hub
        .store
        .set_shop_policy(shop, Some(20), Some(false))
        .await
        .expect("policy");
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    h.press(&dev, id).await;
    h.sms_to(MARIE, "ALERTE").await;
    h.pass_secs(20).await;
    h.sms_to(POLICE, "ALERTE").await;
    // No repeat for this shop: after the last tier, the alarm is flagged, not re-sent.
    h.pass_secs(20).await;
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 1);
    let detail = h.hub.store.alarm(id).await.expect("alarm");
    assert!(detail.alarm.exhausted, "{:?}", detail.alarm);
    assert!(detail.events.iter().any(|e| e.kind() == "exhausted"));
    assert!(
        h.hub
            .store
            .set_shop_policy(shop, Some(0), None)
            .await
            .is_err(),
        "a zero timeout is refused"
    );
}

/// The cancel lands while the gateway is taking the alert: the alert was
/// withdrawn in the store but went out. The contact must still be told it
/// was a false alarm. Driven on the store alone, so the timing is exact.
#[tokio::test]
async fn an_alert_that_went_out_while_being_withdrawn_still_gets_the_cancel() {
    use vigie_hub::store::SubmitOutcome;
    let dir = TempDir::new("vigie-race");
    let (store, device, id) = store_with_one_alarm(&dir, &[POLICE]).await;
    let t = T0.as_ms();
    let alert = store
        .pending_notifications(T0, 10)
        .await
        .expect("pending")
        .into_iter()
        .find(|n| n.purpose == "alert")
        .expect("the alert is queued");
    // The dispatcher has handed it to the gateway; the holder cancels now.
    store
        .cancel_alarm(
            &device.id,
            id,
            vigie_proto::CancelAlarm {
                cancel_pressed_at_ms: t + 5_000,
                sent_at_ms: t + 5_000,
            },
            T0.plus_secs(5),
        )
        .await
        .expect("cancel");
    let withdrawn = store
        .alarm(id)
        .await
        .expect("alarm")
        .notifications
        .into_iter()
        .find(|n| n.id == alert.id)
        .expect("row");
    assert_eq!(withdrawn.state, "withdrawn");
    // Then the gateway's answer arrives: the SMS did go out.
    store
        .record_submits(
            vec![(
                alert.id,
                SubmitOutcome::Submitted {
                    gateway: "phones".into(),
                    message_id: Some("m1".into()),
                },
            )],
            T0.plus_secs(6),
        )
        .await
        .expect("record");
    let detail = store.alarm(id).await.expect("alarm");
    let row = detail
        .notifications
        .iter()
        .find(|n| n.id == alert.id)
        .expect("row");
    assert_eq!(row.state, "submitted", "what went out is recorded as sent");
    let cancels: Vec<_> = detail
        .notifications
        .iter()
        .filter(|n| n.purpose == "cancel")
        .collect();
    assert_eq!(cancels.len(), 1, "{:?}", detail.notifications);
    assert!(cancels[0].text.contains("fausse alerte") && cancels[0].phone == "+33473000017");
    // A second answer for the same SMS (a retry) changes nothing more.
    store
        .record_submits(
            vec![(
                alert.id,
                SubmitOutcome::Submitted {
                    gateway: "phones".into(),
                    message_id: Some("m1".into()),
                },
            )],
            T0.plus_secs(7),
        )
        .await
        .expect("record");
    assert_eq!(
        store
            .alarm(id)
            .await
            .expect("alarm")
            .notifications
            .iter()
            .filter(|n| n.purpose == "cancel")
            .count(),
        1
    );
}

/// Delivery receipts stored by the batch, as a storm's inbound pass gives
/// them: one that beat its submit's record is kept and applied when the
/// submit is recorded, one sent twice counts once, one for an SMS the
/// store does not know waits without harm, and each delivered SMS gets
/// one « delivered » event on its alarm's timeline.
#[tokio::test]
async fn delivery_receipts_in_one_batch_are_each_applied_once_even_before_their_submit() {
    use vigie_hub::store::{DeliveredReceipt, SubmitOutcome};
    let dir = TempDir::new("vigie-receipts");
    let phones = ["+33473000010", "+33473000011", "+33473000012"];
    let (store, _device, id) = store_with_one_alarm(&dir, &phones).await;
    let alerts: Vec<_> = store
        .pending_notifications(T0, 10)
        .await
        .expect("pending")
        .into_iter()
        .filter(|n| n.purpose == "alert")
        .collect();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    let receipt = |mid: &str| DeliveredReceipt {
        gateway: "phones".into(),
        message_id: mid.into(),
        detail: "stat:DELIVRD".into(),
    };
    // The first alert's submit is recorded; the second's is not yet.
    store
        .record_submits(
            vec![(
                alerts[0].id,
                SubmitOutcome::Submitted {
                    gateway: "phones".into(),
                    message_id: Some("m0".into()),
                },
            )],
            T0.plus_secs(1),
        )
        .await
        .expect("submit m0");
    // One pass: m0 twice, m1 before its submit, and a message id nobody sent.
    store
        .record_deliveries(
            vec![
                receipt("m0"),
                receipt("m1"),
                receipt("m0"),
                receipt("stranger"),
            ],
            T0.plus_secs(2),
        )
        .await
        .expect("receipts");
    let state = |detail: &vigie_hub::store::AlarmDetail, nid: i64| {
        detail
            .notifications
            .iter()
            .find(|n| n.id == nid)
            .expect("row")
            .state
            .clone()
    };
    let detail = store.alarm(id).await.expect("alarm");
    assert_eq!(state(&detail, alerts[0].id), "delivered");
    assert_eq!(
        state(&detail, alerts[1].id),
        "pending",
        "its submit is not recorded yet"
    );
    // The second alert's submit and the third's, recorded together: m1's
    // early receipt is applied; the third has had no receipt.
    store
        .record_submits(
            vec![
                (
                    alerts[1].id,
                    SubmitOutcome::Submitted {
                        gateway: "phones".into(),
                        message_id: Some("m1".into()),
                    },
                ),
                (
                    alerts[2].id,
                    SubmitOutcome::Submitted {
                        gateway: "phones".into(),
                        message_id: Some("m2".into()),
                    },
                ),
            ],
            T0.plus_secs(3),
        )
        .await
        .expect("submit m1 m2");
    let detail = store.alarm(id).await.expect("alarm");
    assert_eq!(
        state(&detail, alerts[1].id),
        "delivered",
        "the early receipt is applied"
    );
    assert_eq!(state(&detail, alerts[2].id), "submitted");
    // m0 again, later: already delivered, nothing more.
    store
        .record_deliveries(vec![receipt("m0"), receipt("m2")], T0.plus_secs(4))
        .await
        .expect("receipts again");
    let detail = store.alarm(id).await.expect("alarm");
    assert_eq!(state(&detail, alerts[2].id), "delivered");
    let delivered_events: Vec<i64> = detail
        .events
        .iter()
        .filter_map(|e| match &e.event {
            vigie_hub::store::AlarmEvent::Delivered { notification, .. } => Some(*notification),
            _ => None,
        })
        .collect();
    let mut sorted = delivered_events.clone();
    sorted.sort_unstable();
    let mut expected = vec![alerts[0].id, alerts[1].id, alerts[2].id];
    expected.sort_unstable();
    assert_eq!(
        sorted, expected,
        "one « delivered » event per SMS: {delivered_events:?}"
    );
}

/// A store on the test backend with one shop, a tier-1 police contact per
/// phone, an enrolled box, and one alarm raised from it at `T0`: the store,
/// the box and the alarm's id.
async fn store_with_one_alarm(
    dir: &TempDir,
    phones: &[&str],
) -> (vigie_hub::store::Store, vigie_hub::store::Device, Uuid) {
    use vigie_hub::store::{Rules, Store};
    let store = Store::open(&store_location(&dir.0, "hub.db"), Rules::default()).expect("store");
    let shop_id = store.add_shop(shop("R1", HOLDER), T0).await.expect("shop");
    for (i, phone) in phones.iter().enumerate() {
        store
            .add_contact(
                vigie_hub::store::NewContact {
                    shop_id: Some(shop_id),
                    name: format!("Gendarmerie {}", i + 1),
                    phone: vigie_core::PhoneNumber::parse(phone).expect("phone"),
                    relation: vigie_hub::store::Relation::Police,
                    tier: 1,
                },
                T0,
            )
            .await
            .expect("contact");
    }
    let code = store.new_enrolment_code(shop_id, T0).await.expect("code");
    let key = vigie_proto::signature::DeviceKey::generate();
    let (device, _) = store
        .enroll(&code, &key.public_key_b64(), "t", T0)
        .await
        .expect("enrol");
    let id = Uuid::now_v7();
    let t = T0.as_ms();
    let raise = vigie_proto::RaiseAlarm {
        alarm_id: id,
        pressed_at_ms: t,
        sent_at_ms: t,
        recording: false,
        direct_sms: vec![],
        test: false,
    };
    store
        .raise_alarm(&device.id, raise, T0)
        .await
        .expect("raise");
    (store, device, id)
}
