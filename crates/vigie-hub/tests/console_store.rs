//! What the web console asks of the store, on a real hub with a fresh
//! SQLite file and a manual clock: boxes from the stock to a shop and out
//! of service, contacts edited, asked again and removed, and the facts the
//! funder's statistics are computed from.

#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

use helpers::*;
use uuid::Uuid;
use vigie_core::{Answer, Outcome, PhoneNumber, Timestamp};
use vigie_hub::store::{
    Consent, ContactEdit, HardwareState, NewContact, NewShop, Relation, StoreError,
};
use vigie_proto::signature::DeviceKey;
use vigie_proto::{Heartbeat, ModemState};

/// Marie's new number.
const MARIE_NEW: &str = "06 12 12 12 12";

fn refusal<T: std::fmt::Debug>(r: Result<T, StoreError>) -> (&'static str, String) {
    match r {
        Err(StoreError::Refused { code, message }) => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn heartbeat(h: &TestHub) -> Heartbeat {
    Heartbeat {
        sent_at_ms: h.now().as_ms(),
        battery_pct: Some(90),
        on_mains: true,
        signal_csq: Some(18),
        modem: ModemState::Registered,
        free_storage_mb: 900,
        version: "0.1.0".into(),
        outbox_depth: 0,
        uptime_s: 3_600,
        clock_offset_ms: 0,
    }
}

/// The box sends a heartbeat now (kept in memory until the next flush).
fn beat(h: &TestHub, dev: &Device) {
    h.hub
        .store
        .record_heartbeat(&dev.id, heartbeat(h), h.now().as_ms() / 1_000, h.now())
        .expect("heartbeat");
}

/// Move the clock by `secs` and run a supervision pass (flush included).
async fn supervise_after(h: &TestHub, secs: i64) {
    h.clock.advance_ms(secs * 1_000);
    h.hub.engine.supervise(h.now()).await.expect("supervise");
}

/// Enrol a box with `code` as the box itself would.
async fn enroll_with(h: &TestHub, code: &str) -> Device {
    let key = DeviceKey::generate();
    let (device, _) = h
        .hub
        .store
        .enroll(code, &key.public_key_b64(), "test", h.now())
        .await
        .expect("enrol");
    Device { id: device.id, key }
}

async fn state_of(h: &TestHub, serial: &str) -> HardwareState {
    h.hub
        .store
        .hardware()
        .await
        .expect("inventory")
        .into_iter()
        .find(|r| r.serial == serial)
        .map(|r| r.state)
        .expect("serial in the inventory")
}

async fn contact_id(h: &TestHub, shop: i64, name: &str) -> i64 {
    h.hub
        .store
        .contacts(Some(shop))
        .await
        .expect("contacts")
        .into_iter()
        .find(|k| k.name == name)
        .map(|k| k.id)
        .expect("contact")
}

/// Consent SMS queued for `phone`.
async fn opt_ins(h: &TestHub, phone: &str) -> Vec<vigie_hub::store::Notification> {
    let e164 = PhoneNumber::parse(phone)
        .expect("phone")
        .as_e164()
        .to_string();
    h.hub
        .store
        .notifications_for_phone(&e164)
        .await
        .expect("notifications")
        .into_iter()
        .filter(|n| n.purpose == "consent")
        .collect()
}

/// The text of the `n`th alert `phone` received (1 = the first), once it came.
async fn nth_alert(h: &TestHub, phone: &str, n: usize) -> String {
    let e164 = PhoneNumber::parse(phone)
        .expect("phone")
        .as_e164()
        .to_string();
    eventually(&format!("alert {n} to {phone}"), || {
        let alert = h
            .phones
            .sent()
            .into_iter()
            .filter(|s| s.to == e164 && s.text.contains("ALERTE"))
            .nth(n - 1)
            .map(|s| s.text);
        async move { alert }
    })
    .await
}

#[tokio::test]
async fn a_box_goes_from_stock_to_active_and_the_deployment_counts_it() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = shop_with_two_tiers(&h, "D1").await;
    h.seed_shop("D2", "06 99 88 77 00", &[]).await;

    let added = store
        .add_hardware(vec![" vg-0001 ".into(), "VG-0002".into()], h.now())
        .await
        .expect("add");
    assert_eq!(added, 2);
    let rows = store.hardware().await.expect("inventory");
    assert_eq!(
        rows.iter()
            .map(|r| (r.serial.as_str(), r.state))
            .collect::<Vec<_>>(),
        [
            ("VG-0001", HardwareState::Stock),
            ("VG-0002", HardwareState::Stock)
        ]
    );

    let code = store
        .assign_hardware("VG-0001", shop, h.now())
        .await
        .expect("assign");
    assert_eq!(
        (code.shop_id, code.serial.as_deref()),
        (shop, Some("VG-0001"))
    );
    assert_eq!(
        code.expires_at,
        h.now().plus_ms(store.rules().enrolment_code_ttl_ms)
    );
    let row = store
        .hardware()
        .await
        .expect("inventory")
        .into_iter()
        .find(|r| r.serial == "VG-0001")
        .expect("row");
    assert_eq!(row.state, HardwareState::Assigned);
    assert_eq!(row.shop_id, Some(shop));
    assert_eq!(row.shop_name.as_deref(), Some("Tabac du Centre"));

    let before = store.deployment(h.now()).await.expect("deployment");
    assert_eq!(
        (
            before.shops_total,
            before.shops_with_box,
            before.shops_active,
            before.shops_ready
        ),
        (2, 0, 0, 0)
    );

    let dev = enroll_with(&h, &code.code).await;
    let row = store
        .hardware()
        .await
        .expect("inventory")
        .into_iter()
        .find(|r| r.serial == "VG-0001")
        .expect("row");
    assert_eq!(row.state, HardwareState::Enrolled);
    assert_eq!(row.device_id.as_deref(), Some(dev.id.as_str()));
    let enrolled = store.deployment(h.now()).await.expect("deployment");
    assert_eq!((enrolled.shops_with_box, enrolled.shops_active), (1, 0));

    // The first heartbeat makes it active at once (from memory), and still
    // once written.
    beat(&h, &dev);
    assert_eq!(state_of(&h, "VG-0001").await, HardwareState::Active);
    h.hub.store.flush_health().await.expect("flush");
    assert_eq!(state_of(&h, "VG-0001").await, HardwareState::Active);
    assert_eq!(state_of(&h, "VG-0002").await, HardwareState::Stock);
    let active = store.deployment(h.now()).await.expect("deployment");
    assert_eq!(
        (
            active.shops_with_box,
            active.shops_active,
            active.shops_ready
        ),
        (1, 1, 0)
    );

    // A silent test that reaches a phone makes the shop ready.
    let (status, body) = h
        .signed(
            &dev,
            "POST",
            "/v1/alarms",
            serde_json::json!({ "alarm_id": Uuid::now_v7(), "pressed_at_ms": h.now().as_ms(), "sent_at_ms": h.now().as_ms(), "test": true })
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    eventually("the shop to be ready", || async {
        let d = store.deployment(h.now()).await.expect("deployment");
        (d.shops_ready == 1).then_some(())
    })
    .await;

    // Nine silent days later: neither online nor ready any more.
    let later = h.now().plus_ms(9 * 86_400_000);
    let stale = store.deployment(later).await.expect("deployment");
    assert_eq!(
        (
            stale.shops_total,
            stale.shops_with_box,
            stale.shops_active,
            stale.shops_ready
        ),
        (2, 1, 0, 0)
    );
}

#[tokio::test]
async fn illegal_box_transitions_are_refused_and_name_the_box() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = h.seed_shop("I1", HOLDER, &[]).await;
    store
        .add_hardware(vec!["A1".into(), "A2".into(), "A3".into()], h.now())
        .await
        .expect("add");

    // A delivery with a known serial, or one serial twice: nothing is added.
    let (code, message) = refusal(
        store
            .add_hardware(vec!["B1".into(), "a2".into()], h.now())
            .await,
    );
    assert_eq!(code, "duplicate_serial");
    assert!(message.contains("A2"), "{message}");
    let (code, message) = refusal(
        store
            .add_hardware(vec!["B2".into(), "B2".into()], h.now())
            .await,
    );
    assert_eq!(code, "duplicate_serial");
    assert!(message.contains("B2"), "{message}");
    assert_eq!(store.hardware().await.expect("inventory").len(), 3);
    assert_eq!(
        refusal(store.add_hardware(vec!["  ".into()], h.now()).await).0,
        "bad_serial"
    );

    assert_eq!(
        refusal(store.assign_hardware("ZZ9", shop, h.now()).await).0,
        "unknown_hardware"
    );
    assert_eq!(
        refusal(store.assign_hardware("A1", 9_999, h.now()).await).0,
        "unknown_shop"
    );
    assert_eq!(state_of(&h, "A1").await, HardwareState::Stock);

    // Assigned twice.
    let a1 = store
        .assign_hardware("A1", shop, h.now())
        .await
        .expect("assign");
    let (code, message) = refusal(store.assign_hardware("A1", shop, h.now()).await);
    assert_eq!(code, "already_assigned");
    assert!(message.contains("A1"), "{message}");

    // Assigned once enrolled.
    enroll_with(&h, &a1.code).await;
    assert_eq!(
        refusal(store.assign_hardware("A1", shop, h.now()).await).0,
        "already_enrolled"
    );

    // Only faulty and returned are declared.
    assert_eq!(
        refusal(
            store
                .set_hardware_state("A2", HardwareState::Assigned, "", h.now())
                .await
        )
        .0,
        "bad_hardware_state"
    );

    // A box assigned and then found faulty: its code no longer enrols.
    let a2 = store
        .assign_hardware("A2", shop, h.now())
        .await
        .expect("assign");
    let row = store
        .set_hardware_state("A2", HardwareState::Faulty, "  écran fissuré ", h.now())
        .await
        .expect("faulty");
    assert_eq!(
        (row.state, row.note.as_deref(), row.shop_id),
        (HardwareState::Faulty, Some("écran fissuré"), Some(shop))
    );
    let key = DeviceKey::generate();
    assert_eq!(
        refusal(
            store
                .enroll(&a2.code, &key.public_key_b64(), "test", h.now())
                .await
        )
        .0,
        "hardware_unavailable"
    );
    assert_eq!(
        refusal(
            store
                .set_hardware_state("A2", HardwareState::Faulty, "", h.now())
                .await
        )
        .0,
        "illegal_transition"
    );
    assert_eq!(
        refusal(store.assign_hardware("A2", shop, h.now()).await).0,
        "hardware_out_of_service"
    );

    // A faulty box may be returned; a returned box is out for good.
    store
        .set_hardware_state(
            "A2",
            HardwareState::Returned,
            "renvoyé au fabricant",
            h.now(),
        )
        .await
        .expect("returned");
    store
        .set_hardware_state("A3", HardwareState::Returned, "", h.now())
        .await
        .expect("returned from stock");
    for (serial, to) in [
        ("A2", HardwareState::Faulty),
        ("A3", HardwareState::Returned),
    ] {
        assert_eq!(
            refusal(store.set_hardware_state(serial, to, "", h.now()).await).0,
            "illegal_transition",
            "{serial}"
        );
    }
    assert_eq!(
        refusal(store.assign_hardware("A3", shop, h.now()).await).0,
        "hardware_out_of_service"
    );
    assert_eq!(state_of(&h, "A3").await, HardwareState::Returned);
}

#[tokio::test]
async fn a_returned_box_is_refused_by_the_device_api() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = shop_with_two_tiers(&h, "R1").await;
    store
        .add_hardware(vec!["R-1".into()], h.now())
        .await
        .expect("add");
    let code = store
        .assign_hardware("R-1", shop, h.now())
        .await
        .expect("assign");
    let dev = enroll_with(&h, &code.code).await;
    assert_eq!(
        store.device_key(&dev.id).await.expect("key").map(|k| k.2),
        Some("enrolled".to_string())
    );

    store
        .set_hardware_state("R-1", HardwareState::Returned, "commerce fermé", h.now())
        .await
        .expect("returned");
    assert_eq!(
        store.device_key(&dev.id).await.expect("key").map(|k| k.2),
        Some("returned".to_string())
    );
    let events = store.fleet_events(&dev.id).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["device_retired"]
    );
    assert_eq!(events[0].detail["serial"], "R-1");
    assert_eq!(events[0].detail["hardware"], "returned");

    // The box's requests and presses are refused; no contact is alerted.
    let (status, body) = h.press(&dev, Uuid::now_v7()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("device_retired")),
        "{body}"
    );
    let hb = serde_json::to_vec(&heartbeat(&h)).expect("heartbeat");
    let (status, body) = h.signed(&dev, "POST", "/v1/heartbeat", &hb).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("device_retired")),
        "{body}"
    );
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 0);
    // Nor is the shop counted as equipped.
    let d = store.deployment(h.now()).await.expect("deployment");
    assert_eq!((d.shops_with_box, d.shops_active), (0, 0));
}

#[tokio::test]
async fn a_new_number_must_consent_again_with_one_opt_in_sms() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = shop_with_two_tiers(&h, "C1").await;
    let marie = contact_id(&h, shop, "Marie Dupont").await;
    let old_link = opt_ins(&h, MARIE).await[0].text.clone();
    let old_token: String = old_link
        .split("/c/")
        .nth(1)
        .expect("consent link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();

    let edit = |name: &str, phone: &str, relation, tier| ContactEdit {
        name: name.into(),
        phone: PhoneNumber::parse(phone).expect("phone"),
        relation,
        tier,
    };
    let updated = store
        .update_contact(
            marie,
            edit("Marie Dupont", MARIE_NEW, Relation::Friend, 1),
            h.now(),
        )
        .await
        .expect("update");
    assert_eq!(updated.consent, Consent::Pending);
    assert_eq!(updated.phone, PhoneNumber::parse(MARIE_NEW).expect("phone"));
    let asked = opt_ins(&h, MARIE_NEW).await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].contact_id, Some(marie));
    assert!(
        asked[0].text.contains("/c/") && !asked[0].text.contains(&old_token),
        "{}",
        asked[0].text
    );
    // The link sent to the old number no longer answers for the new one.
    assert_eq!(
        refusal(store.consent_page(&old_token).await).0,
        "unknown_link"
    );

    // A new name alone asks nothing more.
    let renamed = store
        .update_contact(
            marie,
            edit("Marie Durand", MARIE_NEW, Relation::Friend, 2),
            h.now(),
        )
        .await
        .expect("rename");
    assert_eq!(
        (renamed.name.as_str(), renamed.tier, renamed.consent),
        ("Marie Durand", 2, Consent::Pending)
    );
    assert_eq!(opt_ins(&h, MARIE_NEW).await.len(), 1);

    // The gendarmerie changes number: still approved, no opt-in.
    let police = contact_id(&h, shop, "Gendarmerie").await;
    let moved = store
        .update_contact(
            police,
            edit("Gendarmerie", "04 73 00 00 18", Relation::Police, 2),
            h.now(),
        )
        .await
        .expect("police");
    assert_eq!(moved.consent, Consent::Yes);
    assert!(opt_ins(&h, "04 73 00 00 18").await.is_empty());

    // Ahmed cannot take a number the shop already has.
    let ahmed = contact_id(&h, shop, "Ahmed Benali").await;
    assert_eq!(
        refusal(
            store
                .update_contact(
                    ahmed,
                    edit("Ahmed Benali", MARIE_NEW, Relation::Friend, 1),
                    h.now()
                )
                .await
        )
        .0,
        "duplicate_contact"
    );
    assert_eq!(
        refusal(
            store
                .update_contact(
                    ahmed,
                    edit("Ahmed Benali", AHMED, Relation::Friend, 10),
                    h.now()
                )
                .await
        )
        .0,
        "bad_tier"
    );
    let ahmed_now = store.contact(ahmed).await.expect("ahmed");
    assert_eq!((ahmed_now.consent, ahmed_now.tier), (Consent::Yes, 1));

    // Reordering, and every change is in the event log.
    let moved = store
        .set_contact_tier(ahmed, 3, h.now())
        .await
        .expect("tier");
    assert_eq!(moved.tier, 3);
    assert_eq!(
        refusal(store.set_contact_tier(ahmed, 0, h.now()).await).0,
        "bad_tier"
    );
}

#[tokio::test]
async fn an_opt_in_is_resent_but_never_after_a_no() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = shop_with_two_tiers(&h, "O1").await;
    let lea = store
        .add_contact(
            NewContact {
                shop_id: Some(shop),
                name: "Léa Roux".into(),
                phone: PhoneNumber::parse("06 44 44 44 44").expect("phone"),
                relation: Relation::Neighbour,
                tier: 1,
            },
            h.now(),
        )
        .await
        .expect("contact");
    assert_eq!(opt_ins(&h, "06 44 44 44 44").await.len(), 1);

    // Just asked: not again within ten minutes.
    assert_eq!(
        refusal(store.resend_opt_in(lea.id, h.now()).await).0,
        "opt_in_too_soon"
    );
    h.clock.advance_ms(11 * 60_000);
    let again = store.resend_opt_in(lea.id, h.now()).await.expect("resend");
    assert_eq!(again.consent, Consent::Pending);
    assert_eq!(opt_ins(&h, "06 44 44 44 44").await.len(), 2);

    // She says no: never asked again from the console.
    store
        .handle_reply("phones", "+33644444444", "STOP", h.now())
        .await
        .expect("stop");
    h.clock.advance_ms(3_600_000);
    let (code, message) = refusal(store.resend_opt_in(lea.id, h.now()).await);
    assert_eq!(code, "consent_refused");
    assert!(message.contains("refusé"), "{message}");
    assert_eq!(opt_ins(&h, "06 44 44 44 44").await.len(), 2);

    // Police need no consent; Marie already said yes.
    let police = contact_id(&h, shop, "Gendarmerie").await;
    assert_eq!(
        refusal(store.resend_opt_in(police, h.now()).await).0,
        "pre_approved"
    );
    let marie = contact_id(&h, shop, "Marie Dupont").await;
    assert_eq!(
        refusal(store.resend_opt_in(marie, h.now()).await).0,
        "already_consented"
    );
}

#[tokio::test]
async fn a_removed_contact_gets_no_alarm_but_keeps_their_name_on_past_ones() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    let shop = shop_with_two_tiers(&h, "X1").await;
    let dev = h.enroll(shop).await;
    let marie = contact_id(&h, shop, "Marie Dupont").await;

    // Marie answers a first alarm.
    let first = Uuid::now_v7();
    assert_eq!(h.press(&dev, first).await.0, 201);
    let token = link_token(&nth_alert(&h, MARIE, 1).await);
    store
        .answer_by_token(&token, Answer::Coming, h.now())
        .await
        .expect("answer");
    store
        .resolve_alarm(first, Outcome::Incident, "operator", h.now())
        .await
        .expect("resolve");

    store.remove_contact(marie, h.now()).await.expect("remove");
    let names: Vec<String> = store
        .contacts(Some(shop))
        .await
        .expect("contacts")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["Ahmed Benali", "Gendarmerie"]);
    assert_eq!(refusal(store.contact(marie).await).0, "contact_removed");
    assert_eq!(
        refusal(store.remove_contact(marie, h.now()).await).0,
        "contact_removed"
    );
    let (_, direct) = store.direct_contacts(shop).await.expect("direct");
    assert!(
        direct.iter().all(|d| d.name != "Marie Dupont"),
        "{direct:?}"
    );

    // The first alarm still names her.
    let detail = store.alarm(first).await.expect("alarm");
    assert_eq!(
        detail
            .answers
            .iter()
            .map(|a| (a.contact_id, a.contact_name.as_str()))
            .collect::<Vec<_>>(),
        [(marie, "Marie Dupont")]
    );

    // A new alarm alerts Ahmed, not Marie.
    h.clock.advance_ms(60_000);
    let second = Uuid::now_v7();
    let (status, receipt) = h.press(&dev, second).await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["contacts_alerting"], 1);
    h.sms_to(AHMED, "ALERTE").await;
    h.settled().await;
    let alerted: Vec<Option<i64>> = store
        .alarm(second)
        .await
        .expect("alarm")
        .notifications
        .iter()
        .filter(|n| n.purpose == "alert")
        .map(|n| n.contact_id)
        .collect();
    assert!(!alerted.contains(&Some(marie)), "{alerted:?}");
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 1, "only the first alarm");

    // Her number may be registered again, as a new contact to ask.
    let back = store
        .add_contact(
            NewContact {
                shop_id: Some(shop),
                name: "Marie Dupont".into(),
                phone: PhoneNumber::parse(MARIE).expect("phone"),
                relation: Relation::Friend,
                tier: 1,
            },
            h.now(),
        )
        .await
        .expect("added again");
    assert_ne!(back.id, marie);
    assert_eq!(back.consent, Consent::Pending);
}

fn shop_in(reference: &str, departement: &str, rural: bool) -> NewShop {
    NewShop {
        departement: departement.into(),
        rural,
        ..shop(reference, HOLDER)
    }
}

#[tokio::test]
async fn stats_facts_cover_alarms_of_two_departements_and_open_offline_spans() {
    let h = spawn_hub("").await;
    let store = &h.hub.store;
    // Riom (63, town) with Marie, Ahmed and the gendarmerie; a village of
    // the Allier (03) with its gendarmerie only.
    let riom = shop_with_two_tiers(&h, "S63").await;
    let village = store
        .add_shop(shop_in("S03", "03", true), h.now())
        .await
        .expect("shop");
    store
        .add_contact(
            NewContact {
                shop_id: Some(village),
                name: "Gendarmerie de Gannat".into(),
                phone: PhoneNumber::parse("04 70 00 00 17").expect("phone"),
                relation: Relation::Police,
                tier: 1,
            },
            h.now(),
        )
        .await
        .expect("police");
    let dev63 = h.enroll(riom).await;
    let dev03 = h.enroll(village).await;

    // Before the period: an alarm, and an offline span that closed.
    let early = Uuid::now_v7();
    assert_eq!(h.press(&dev63, early).await.0, 201);
    // Its alert goes out before the close (which withdraws what is still
    // pending): the alarm of the period is then Marie's second.
    nth_alert(&h, MARIE, 1).await;
    store
        .resolve_alarm(early, Outcome::FalseAlarm, "operator", h.now())
        .await
        .expect("resolve");
    beat(&h, &dev63);
    supervise_after(&h, 180).await;
    h.clock.advance_ms(1_000);
    beat(&h, &dev63);
    supervise_after(&h, 0).await;
    let kinds: Vec<String> = store
        .fleet_events(&dev63.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"device_online".to_string()), "{kinds:?}");

    // The period opens a second later (no box has been silent long enough
    // for a supervision pass of the running engine to change anything).
    h.clock.advance_ms(1_000);
    let from = h.now();
    beat(&h, &dev63);
    beat(&h, &dev03);

    // Riom: pressed at the opening, Marie answers after 30 s, Ahmed after 45 s.
    let answered = Uuid::now_v7();
    assert_eq!(h.press(&dev63, answered).await.0, 201);
    let token = link_token(&nth_alert(&h, MARIE, 2).await);
    h.clock.advance_ms(30_000);
    store
        .answer_by_token(&token, Answer::Coming, h.now())
        .await
        .expect("marie");
    h.clock.advance_ms(15_000);
    store
        .handle_reply("phones", "+33655667788", "1", h.now())
        .await
        .expect("ahmed");
    store
        .resolve_alarm(answered, Outcome::Incident, "operator", h.now())
        .await
        .expect("resolve");

    // The village: pressed, cancelled by the holder 5 s later; then a silent test.
    let cancelled = Uuid::now_v7();
    let pressed03 = h.now();
    assert_eq!(h.press(&dev03, cancelled).await.0, 201);
    let t = pressed03.as_ms() + 5_000;
    store
        .cancel_alarm(
            &dev03.id,
            cancelled,
            vigie_proto::CancelAlarm {
                cancel_pressed_at_ms: t,
                sent_at_ms: t,
            },
            Timestamp(t),
        )
        .await
        .expect("cancel");
    let (status, body) = h
        .signed(
            &dev03,
            "POST",
            "/v1/alarms",
            serde_json::json!({ "alarm_id": Uuid::now_v7(), "pressed_at_ms": h.now().as_ms(), "sent_at_ms": h.now().as_ms(), "test": true })
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Both boxes fall silent; Riom's comes back, the village's does not.
    supervise_after(&h, 180).await;
    let offline_at = h.now();
    h.clock.advance_ms(1_000);
    beat(&h, &dev63);
    supervise_after(&h, 0).await;
    let online_at = h.now();
    let to = h.now().plus_ms(3_600_000);

    let (alarms, spans) = store.stats_facts(from, to).await.expect("facts");
    let alarms: Vec<_> = alarms
        .iter()
        .map(|a| {
            (
                a.departement.as_str(),
                a.rural,
                a.pressed_at,
                a.first_answer_at,
                a.cancelled,
                a.outcome,
            )
        })
        .collect();
    assert_eq!(
        alarms,
        [
            (
                "63",
                false,
                from,
                Some(from.plus_secs(30)),
                false,
                Some(Outcome::Incident)
            ),
            ("03", true, pressed03, None, true, Some(Outcome::FalseAlarm)),
        ]
    );
    let mut spans: Vec<_> = spans
        .iter()
        .map(|s| (s.departement.as_str(), s.rural, s.from, s.to))
        .collect();
    spans.sort();
    assert_eq!(
        spans,
        [
            ("03", true, offline_at, None),
            ("63", false, offline_at, Some(online_at)),
        ]
    );

    // A later period: no alarm, and the village's box is still offline.
    let (alarms, spans) = store
        .stats_facts(to, to.plus_ms(86_400_000))
        .await
        .expect("facts");
    assert!(alarms.is_empty(), "{alarms:?}");
    assert_eq!(
        spans
            .iter()
            .map(|s| (s.departement.as_str(), s.to))
            .collect::<Vec<_>>(),
        [("03", None)]
    );
    assert_eq!(refusal(store.stats_facts(to, from).await).0, "bad_period");
}
