//! Supervision, told like the story on a manual clock: a box heartbeats,
//! goes silent, is declared offline after three intervals and its holder is
//! told once (during opening hours); it comes back and the holder is told
//! once more. Also the box's configuration, the SMS the box sent itself,
//! and the silent end-to-end test.

use crate::helpers::*;
use uuid::Uuid;
use vigie_core::supervision::{Flag, Liveness};
use vigie_core::{Outcome, PhoneNumber};
use vigie_hub::store::{DeviceHealth, NewContact, Relation};
use vigie_proto::{DeviceConfig, Heartbeat, HeartbeatAck, ModemState};

const OFFLINE: &str = "ne répond plus";
const BACK: &str = "de nouveau en ligne";

pub(crate) fn heartbeat(
    h: &TestHub,
    battery_pct: Option<u8>,
    on_mains: bool,
    modem: ModemState,
) -> Vec<u8> {
    serde_json::to_vec(&Heartbeat {
        sent_at_ms: h.now().as_ms(),
        battery_pct,
        on_mains,
        signal_csq: Some(18),
        modem,
        free_storage_mb: 900,
        version: "0.1.0".into(),
        outbox_depth: 0,
        uptime_s: 3_600,
        clock_offset_ms: 0,
    })
    .expect("heartbeat")
}

/// A healthy heartbeat, accepted.
pub(crate) async fn beat(h: &TestHub, dev: &Device) -> HeartbeatAck {
    let body = heartbeat(h, Some(90), true, ModemState::Registered);
    let (status, ack) = h.signed(dev, "POST", "/v1/heartbeat", &body).await;
    assert_eq!(status, 200, "{ack}");
    serde_json::from_value(ack).expect("ack")
}

/// Move the clock by `secs` and run a supervision pass.
async fn supervise_after(h: &TestHub, secs: i64) {
    h.clock.advance_ms(secs * 1_000);
    h.hub.engine.supervise(h.now()).await.expect("supervise");
}

pub(crate) async fn health_of(h: &TestHub, dev: &Device) -> DeviceHealth {
    h.hub
        .store
        .fleet_health(h.now())
        .await
        .expect("fleet health")
        .into_iter()
        .find(|d| d.device_id == dev.id)
        .expect("device in the fleet view")
}

async fn event_kinds(h: &TestHub, dev: &Device) -> Vec<String> {
    h.hub
        .store
        .fleet_events(&dev.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// SMS each contact has received so far (their consent exchange, at seeding).
async fn contacts_baseline(h: &TestHub) -> Vec<usize> {
    h.settled().await;
    [MARIE, AHMED, POLICE]
        .iter()
        .map(|p| h.sms_count(p, ""))
        .collect()
}

/// No contact received anything since `baseline`.
fn contacts_undisturbed(h: &TestHub, baseline: &[usize]) {
    for (phone, before) in [MARIE, AHMED, POLICE].iter().zip(baseline) {
        assert_eq!(h.sms_count(phone, ""), *before, "{phone} was disturbed");
    }
}

#[tokio::test]
async fn a_silent_box_is_declared_offline_after_three_intervals_and_the_holder_told_once() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "S1").await;
    let dev = h.enroll(shop).await;
    let baseline = contacts_baseline(&h).await;
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::NeverSeen);

    let ack = beat(&h, &dev).await;
    assert_eq!(ack.server_time_ms, h.now().as_ms());
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Online);

    // Two intervals of silence: still online, nothing said.
    supervise_after(&h, 120).await;
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Online);
    assert!(event_kinds(&h, &dev).await.is_empty());

    // Three: offline, and the holder is told (it is 14h35 on a Thursday: open).
    supervise_after(&h, 60).await;
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Offline);
    let sent = h.sms_to(HOLDER, OFFLINE).await;
    assert!(
        sent.iter()
            .any(|s| s.text.contains("depuis 14h32") && s.text.contains("Tabac du Centre")),
        "{sent:?}"
    );
    assert_eq!(
        event_kinds(&h, &dev).await,
        ["device_offline", "holder_told_offline"]
    );

    // Ten more minutes of silence: still told only once.
    for _ in 0..10 {
        supervise_after(&h, 60).await;
    }
    h.settled().await;
    assert_eq!(h.sms_count(HOLDER, OFFLINE), 1);

    // It heartbeats again: one "back online", once.
    beat(&h, &dev).await;
    supervise_after(&h, 1).await;
    h.sms_to(HOLDER, BACK).await;
    supervise_after(&h, 60).await;
    h.settled().await;
    assert_eq!(h.sms_count(HOLDER, BACK), 1);
    assert_eq!(h.sms_count(HOLDER, OFFLINE), 1);
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Online);
    assert_eq!(
        event_kinds(&h, &dev).await,
        [
            "device_offline",
            "holder_told_offline",
            "device_online",
            "holder_told_online"
        ]
    );
    // The contacts were never disturbed.
    contacts_undisturbed(&h, &baseline);
}

#[tokio::test]
async fn offline_at_night_is_told_at_opening_once() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "S2").await;
    let dev = h.enroll(shop).await;
    // Thursday 20h00, after closing (mo-sa 07:00-19:30): a last heartbeat.
    h.clock.set(T0.plus_secs(19_680));
    beat(&h, &dev).await;
    supervise_after(&h, 180).await;
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Offline);
    assert_eq!(event_kinds(&h, &dev).await, ["device_offline"]);
    // All night long: nobody is woken up.
    h.clock.set(T0.plus_secs(59_220)); // Friday 06h59
    h.hub.engine.supervise(h.now()).await.expect("supervise");
    h.settled().await;
    assert_eq!(h.sms_count(HOLDER, OFFLINE), 0);
    // 07h00: the shop opens, the holder is told, with the day.
    supervise_after(&h, 60).await;
    let sent = h.sms_to(HOLDER, OFFLINE).await;
    assert!(
        sent.iter()
            .any(|s| s.text.contains("depuis le 26/11 à 20h00")),
        "{sent:?}"
    );
    supervise_after(&h, 600).await;
    h.settled().await;
    assert_eq!(h.sms_count(HOLDER, OFFLINE), 1);
}

#[tokio::test]
async fn fleet_health_flags_battery_power_sim_and_readiness() {
    let h = spawn_hub("").await;
    let a = h.enroll(shop_with_two_tiers(&h, "F1").await).await;
    let b = h
        .enroll(h.seed_shop("F2", "06 99 88 77 00", &[]).await)
        .await;
    let never = h
        .enroll(h.seed_shop("F3", "06 99 88 77 01", &[]).await)
        .await;

    let body = heartbeat(&h, Some(15), false, ModemState::NoSim);
    assert_eq!(h.signed(&a, "POST", "/v1/heartbeat", &body).await.0, 200);
    let body = heartbeat(&h, Some(80), true, ModemState::Searching);
    assert_eq!(h.signed(&b, "POST", "/v1/heartbeat", &body).await.0, 200);

    // Seen from memory before the heartbeats are written, then from the table.
    for pass in ["in memory", "written"] {
        let a_row = health_of(&h, &a).await;
        assert_eq!(
            a_row.flags,
            [
                Flag::LowBattery,
                Flag::OnBattery,
                Flag::NoSim,
                Flag::NotReady
            ],
            "{pass}"
        );
        assert_eq!(
            (a_row.battery_pct, a_row.on_mains, a_row.modem.as_deref()),
            (Some(15), Some(false), Some("no_sim")),
            "{pass}"
        );
        assert_eq!(a_row.last_seen_at, Some(T0), "{pass}");
        let b_row = health_of(&h, &b).await;
        assert_eq!(b_row.flags, [Flag::NotRegistered, Flag::NotReady], "{pass}");
        assert_eq!(b_row.signal_csq, Some(18), "{pass}");
        let n_row = health_of(&h, &never).await;
        assert_eq!(
            (n_row.liveness, n_row.flags.as_slice()),
            (Liveness::NeverSeen, &[Flag::NotReady][..]),
            "{pass}"
        );
        h.hub.engine.supervise(h.now()).await.expect("supervise");
    }
    let devices = h.hub.store.devices().await.expect("devices");
    let a_dev = devices.iter().find(|d| d.id == a.id).expect("a");
    assert_eq!(
        (a_dev.state.as_str(), a_dev.version.as_str()),
        ("active", "0.1.0")
    );
}

#[tokio::test]
async fn bad_heartbeats_get_specific_errors() {
    let h = spawn_hub("").await;
    let dev = h.enroll(shop_with_two_tiers(&h, "E1").await).await;
    let good = heartbeat(&h, Some(90), true, ModemState::Registered);

    // Signed by another key: forged.
    let forger = Device {
        id: dev.id.clone(),
        key: vigie_proto::signature::DeviceKey::generate(),
    };
    let (s, r) = h.signed(&forger, "POST", "/v1/heartbeat", &good).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("bad_signature")), "{r}");

    // Not signed at all.
    let resp = h
        .http
        .post(format!("{}/v1/heartbeat", h.url()))
        .body(good.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    let r: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(r["code"], "unsigned_request");

    // Oversized, malformed, unknown field, impossible values.
    let big = vec![b' '; vigie_proto::REQUEST_BODY_BYTES_MAX + 1];
    let (s, r) = h.signed(&dev, "POST", "/v1/heartbeat", &big).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (413, Some("body_too_large")),
        "{r}"
    );
    let (s, r) = h
        .signed(&dev, "POST", "/v1/heartbeat", b"{\"sent_at_ms\":")
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformed_body")),
        "{r}"
    );
    let mut extra: serde_json::Value = serde_json::from_slice(&good).expect("json");
    extra["temperature_c"] = 40.into();
    let (s, r) = h
        .signed(&dev, "POST", "/v1/heartbeat", extra.to_string().as_bytes())
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformed_body")),
        "{r}"
    );
    let bad_battery = heartbeat(&h, Some(150), true, ModemState::Registered);
    let (s, r) = h.signed(&dev, "POST", "/v1/heartbeat", &bad_battery).await;
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_heartbeat")), "{r}");

    // A GET signed as a POST does not verify: the method is covered.
    let hdr = dev.key.sign(
        &dev.id,
        "POST",
        "/v1/device/config",
        b"",
        h.now().as_ms() / 1000,
        &vigie_proto::signature::new_nonce(),
    );
    let resp = h
        .http
        .get(format!("{}/v1/device/config", h.url()))
        .header("content-digest", hdr.content_digest)
        .header("signature-input", hdr.signature_input)
        .header("signature", hdr.signature)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 401);

    // None of it counted as a sign of life.
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::NeverSeen);
    // The hub still serves.
    beat(&h, &dev).await;
}

#[tokio::test]
async fn config_version_follows_consent_and_config_lists_consented_contacts() {
    let h = spawn_hub("").await;
    let shop = h
        .seed_shop("C1", HOLDER, &[(1, "Marie Dupont", MARIE)])
        .await;
    let dev = h.enroll(shop).await;
    let v1 = beat(&h, &dev).await.config_version;
    let (s, cfg) = h.signed(&dev, "GET", "/v1/device/config", b"").await;
    assert_eq!(s, 200, "{cfg}");
    let cfg: DeviceConfig = serde_json::from_value(cfg).expect("config");
    assert_eq!(cfg.config_version, v1);
    assert_eq!(cfg.shop.name, "Tabac du Centre");
    assert_eq!(cfg.settings.heartbeat_interval_s, 60);
    let phones: Vec<&str> = cfg
        .direct_contacts
        .iter()
        .map(|c| c.phone.as_str())
        .collect();
    assert_eq!(phones, ["+33611223344"]);

    // A new contact who has not said yes yet changes nothing the box may use.
    let paul = PhoneNumber::parse("06 12 12 12 12").expect("phone");
    h.hub
        .store
        .add_contact(
            NewContact {
                shop_id: Some(shop),
                name: "Paul Girard".into(),
                phone: paul.clone(),
                relation: Relation::Neighbour,
                tier: 1,
            },
            h.now(),
        )
        .await
        .expect("contact");
    assert_eq!(beat(&h, &dev).await.config_version, v1);

    // Paul says OUI: the version changes, and the config lists him.
    h.hub
        .store
        .handle_reply("phones", paul.as_e164(), "OUI", h.now())
        .await
        .expect("reply");
    let v2 = beat(&h, &dev).await.config_version;
    assert_ne!(v2, v1);
    let (_, cfg) = h.signed(&dev, "GET", "/v1/device/config", b"").await;
    let cfg: DeviceConfig = serde_json::from_value(cfg).expect("config");
    assert_eq!(cfg.config_version, v2);
    let phones: Vec<&str> = cfg
        .direct_contacts
        .iter()
        .map(|c| c.phone.as_str())
        .collect();
    assert_eq!(phones, ["+33611223344", "+33612121212"]);

    // Marie says STOP: changed again, and she is gone from the list.
    h.hub
        .store
        .handle_reply("phones", "+33611223344", "STOP", h.now())
        .await
        .expect("reply");
    let v3 = beat(&h, &dev).await.config_version;
    assert!(v3 != v2 && v3 != v1);
    let (_, cfg) = h.signed(&dev, "GET", "/v1/device/config", b"").await;
    let cfg: DeviceConfig = serde_json::from_value(cfg).expect("config");
    let phones: Vec<&str> = cfg
        .direct_contacts
        .iter()
        .map(|c| c.phone.as_str())
        .collect();
    assert_eq!(phones, ["+33612121212"]);
}

fn raise_body(h: &TestHub, id: Uuid, extra: serde_json::Value) -> Vec<u8> {
    let t = h.now().as_ms();
    let mut body = serde_json::json!({ "alarm_id": id, "pressed_at_ms": t, "sent_at_ms": t });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body.to_string().into_bytes()
}

async fn direct_event(h: &TestHub, id: Uuid) -> serde_json::Value {
    h.hub
        .store
        .alarm(id)
        .await
        .expect("alarm")
        .events
        .into_iter()
        .rev()
        .find(|e| e.kind() == "direct_sms")
        .expect("a direct_sms event")
        .detail()
}

async fn contact_id(h: &TestHub, shop: i64, phone: &str) -> i64 {
    let e164 = PhoneNumber::parse(phone).expect("phone");
    h.hub
        .store
        .contacts(Some(shop))
        .await
        .expect("contacts")
        .into_iter()
        .find(|c| c.phone == e164)
        .expect("contact")
        .id
}

#[tokio::test]
async fn an_alert_the_box_sent_itself_is_not_sent_again_and_escalation_goes_on() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "D1").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let direct = serde_json::json!({ "direct_sms": [{ "phone": "+33611223344", "sent_at_ms": h.now().as_ms() }] });
    let (s, r) = h
        .signed(&dev, "POST", "/v1/alarms", &raise_body(&h, id, direct))
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["contacts_alerting"], 2);

    // Ahmed, same tier, not reported: the hub alerts him. Marie: not again.
    h.sms_to(AHMED, "ALERTE").await;
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 0);
    let marie = contact_id(&h, shop, MARIE).await;
    let detail = h.hub.store.alarm(id).await.expect("alarm");
    let row = detail
        .notifications
        .iter()
        .find(|n| n.contact_id == Some(marie) && n.purpose == "alert")
        .expect("Marie's alert");
    assert_eq!(
        (row.state.as_str(), row.gateway.as_deref()),
        ("submitted", Some("box-modem"))
    );
    assert_eq!(
        direct_event(&h, id).await["by_box"],
        serde_json::json!([marie])
    );

    // Nobody answers: a minute later the next tier is alerted, as usual.
    h.pass_secs(60).await;
    h.sms_to(POLICE, "ALERTE").await;
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 0);
}

#[tokio::test]
async fn a_report_after_the_fact_sends_nothing_twice() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "D2").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    assert_eq!(h.press(&dev, id).await.0, 201);
    h.sms_to(MARIE, "ALERTE").await;
    h.sms_to(AHMED, "ALERTE").await;
    h.settled().await;

    // The box, which did not hear back in time, texted Marie, the police
    // and a number that is no contact of the shop.
    let t = h.now().as_ms();
    let report = serde_json::json!({ "direct_sms": [
        { "phone": "+33611223344", "sent_at_ms": t },
        { "phone": "+33473000017", "sent_at_ms": t },
        { "phone": "+33600000001", "sent_at_ms": t },
    ] })
    .to_string();
    let path = format!("/v1/alarms/{id}/direct");
    let (s, r) = h.signed(&dev, "POST", &path, report.as_bytes()).await;
    assert_eq!(s, 204, "{r}");
    h.settled().await;
    assert_eq!(h.sms_count(MARIE, "ALERTE"), 1, "no duplicate for Marie");
    let (marie, police) = (
        contact_id(&h, shop, MARIE).await,
        contact_id(&h, shop, POLICE).await,
    );
    let event = direct_event(&h, id).await;
    assert_eq!(event["already_sent"], serde_json::json!([marie]), "{event}");
    assert_eq!(event["by_box"], serde_json::json!([police]), "{event}");
    assert_eq!(
        event["unmatched"],
        serde_json::json!(["+33600000001"]),
        "{event}"
    );

    // The police's step comes: escalation goes on, but the box already told them.
    h.pass_secs(60).await;
    h.settled().await;
    assert_eq!(h.sms_count(POLICE, "ALERTE"), 0);
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
    assert_eq!(
        kinds.iter().filter(|k| *k == "escalated").count(),
        2,
        "{kinds:?}"
    );

    // Someone else's alarm, or too long a report: refused.
    let (s, r) = h
        .signed(
            &dev,
            "POST",
            &format!("/v1/alarms/{}/direct", Uuid::now_v7()),
            report.as_bytes(),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknown_alarm")), "{r}");
    let many: Vec<_> = (0..65)
        .map(|i| serde_json::json!({ "phone": format!("+336000000{i:02}"), "sent_at_ms": t }))
        .collect();
    let too_many = serde_json::json!({ "direct_sms": many }).to_string();
    let (s, r) = h.signed(&dev, "POST", &path, too_many.as_bytes()).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("too_many_direct_sms")),
        "{r}"
    );
}

#[tokio::test]
async fn a_test_press_alerts_no_contact_and_makes_the_shop_ready() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "T1").await;
    let dev = h.enroll(shop).await;
    let baseline = contacts_baseline(&h).await;
    assert!(!h.hub.store.readiness(shop, h.now()).await.expect("r").ready);

    let id = Uuid::now_v7();
    let (s, r) = h
        .signed(
            &dev,
            "POST",
            "/v1/alarms",
            &raise_body(&h, id, serde_json::json!({ "test": true })),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        (r["state"].as_str(), r["contacts_alerting"].as_u64()),
        (Some("resolved"), Some(0))
    );

    // No sink configured: the holder gets the proof, nobody else anything.
    h.sms_to(HOLDER, "test du bouton OK (14h32)").await;
    let ready = eventually("the shop to be ready", || async {
        let r = h
            .hub
            .store
            .readiness(shop, h.now())
            .await
            .expect("readiness");
        (r.ready && r.last_test_delivered_at.is_some()).then_some(r)
    })
    .await;
    assert_eq!(ready.last_test_at, Some(T0));
    h.settled().await;
    contacts_undisturbed(&h, &baseline);
    let detail = h.hub.store.alarm(id).await.expect("alarm");
    assert_eq!(detail.alarm.outcome, Some(Outcome::Test));
    let kinds: Vec<String> = detail.events.iter().map(|e| e.kind()).collect();
    assert!(
        kinds.iter().any(|k| k == "test_press") && kinds.iter().any(|k| k == "test_ok"),
        "{kinds:?}"
    );
    // Escalation never touches it.
    h.pass_secs(120).await;
    h.settled().await;
    contacts_undisturbed(&h, &baseline);
    assert!(!health_of(&h, &dev).await.flags.contains(&Flag::NotReady));

    // A week and a day later without another test: not ready any more.
    let later = h.now().plus_ms(8 * 86_400_000 + 1);
    assert!(!h.hub.store.readiness(shop, later).await.expect("r").ready);
}

#[tokio::test]
async fn a_test_press_goes_to_the_test_sink_when_one_is_configured() {
    let h = spawn_hub("[supervision]\ntest_sink_phone = \"+33700000099\"\n").await;
    let shop = shop_with_two_tiers(&h, "T2").await;
    let dev = h.enroll(shop).await;
    let baseline = contacts_baseline(&h).await;
    let id = Uuid::now_v7();
    let (s, r) = h
        .signed(
            &dev,
            "POST",
            "/v1/alarms",
            &raise_body(&h, id, serde_json::json!({ "test": true })),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    h.sms_to("07 00 00 00 99", "test du bouton OK").await;
    eventually("the shop to be ready", || async {
        let r = h
            .hub
            .store
            .readiness(shop, h.now())
            .await
            .expect("readiness");
        r.ready.then_some(())
    })
    .await;
    h.settled().await;
    contacts_undisturbed(&h, &baseline);
    assert_eq!(h.sms_count(HOLDER, ""), 0);
}
