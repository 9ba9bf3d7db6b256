//! The hub's clock steps under a running engine (NTP at boot, a VM
//! resumed, a wrong manual set): escalation keeps its rhythm, supervision
//! does not declare every box offline, and the step is recorded for the
//! desk. The manual clock moves its wall clock alone, as the system's does.

use crate::helpers::*;
use crate::supervision::{beat, health_of};
use uuid::Uuid;
use vigie_core::supervision::Liveness;
use vigie_hub::store::StepSeen;

const HOUR_MS: i64 = 3_600_000;

/// Step the wall clock by `delta_ms` and wait until the engine adopted it
/// (the running loop or this call, whichever comes first).
async fn step_and_adopt(h: &TestHub, delta_ms: i64) {
    let since = h.now().plus_ms(-10 * HOUR_MS);
    let before = h.hub.store.clock_steps(since).await.expect("steps").len();
    h.clock.step_wall_ms(delta_ms);
    eventually("the engine to adopt the clock's step", || async {
        h.hub.engine.adopt_clock_step().await.expect("adopt");
        let steps = h.hub.store.clock_steps(since).await.expect("steps");
        (steps.len() > before).then_some(())
    })
    .await;
    let steps = h.hub.store.clock_steps(since).await.expect("steps");
    assert_eq!(steps[0].delta_ms, delta_ms);
    assert_eq!(steps[0].seen, StepSeen::Running);
}

async fn tier_two_comes_on_time_after(delta_ms: i64) {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "K1").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    assert_eq!(h.press(&dev, id).await.0, 201);
    h.sms_to(MARIE, "ALERTE").await;

    // 5 s after the press the wall clock steps.
    h.pass_secs(5).await;
    step_and_adopt(&h, delta_ms).await;
    h.hub.engine.tick(h.now()).await.expect("tick");
    h.settled().await;
    assert_eq!(h.sms_count(POLICE, "ALERTE"), 0, "no step skipped ahead");
    let alarm = h.hub.store.alarm(id).await.expect("alarm").alarm;
    assert!(!alarm.exhausted, "the step does not exhaust the alarm");

    // Tier 2 exactly 60 s after the press, on the time that really passed.
    h.pass_secs(54).await;
    h.settled().await;
    assert_eq!(h.sms_count(POLICE, "ALERTE"), 0, "not before its time");
    h.pass_secs(1).await;
    h.sms_to(POLICE, "ALERTE").await;
    let alarm = h.hub.store.alarm(id).await.expect("alarm").alarm;
    assert!(!alarm.exhausted);
}

#[tokio::test]
async fn a_step_forward_neither_skips_tier_two_nor_exhausts_the_alarm() {
    tier_two_comes_on_time_after(HOUR_MS).await;
}

#[tokio::test]
async fn a_step_back_does_not_hold_tier_two_back() {
    tier_two_comes_on_time_after(-HOUR_MS).await;
}

#[tokio::test]
async fn a_step_forward_does_not_declare_every_box_offline() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "K2").await;
    let dev = h.enroll(shop).await;
    beat(&h, &dev).await;
    h.hub.engine.supervise(h.now()).await.expect("supervise");
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Online);
    // One heartbeat still in memory when the step comes, one written.
    h.clock.advance_ms(30_000);
    beat(&h, &dev).await;
    step_and_adopt(&h, 3 * HOUR_MS).await;
    h.hub.engine.supervise(h.now()).await.expect("supervise");
    assert_eq!(
        health_of(&h, &dev).await.liveness,
        Liveness::Online,
        "30 s of silence, not three hours"
    );
    // Silent for real: offline after three intervals, as without a step.
    h.clock.advance_ms(185_000);
    h.hub.engine.supervise(h.now()).await.expect("supervise");
    assert_eq!(health_of(&h, &dev).await.liveness, Liveness::Offline);
}

#[tokio::test]
async fn a_box_whose_clock_is_days_off_is_flagged_with_the_correction_it_applies() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "K4").await;
    let dev = h.enroll(shop).await;
    let three_days_ms = 3 * 24 * HOUR_MS;
    let body = serde_json::to_vec(&vigie_proto::Heartbeat {
        sent_at_ms: h.now().as_ms() - three_days_ms,
        battery_pct: None,
        on_mains: true,
        signal_csq: Some(20),
        modem: vigie_proto::ModemState::Registered,
        free_storage_mb: 500,
        version: "0.1.0".into(),
        outbox_depth: 0,
        uptime_s: 60,
        clock_offset_ms: three_days_ms,
    })
    .expect("heartbeat");
    let (status, ack) = h.signed(&dev, "POST", "/v1/heartbeat", &body).await;
    assert_eq!(status, 200, "{ack}");
    for written in [false, true] {
        if written {
            h.hub.engine.supervise(h.now()).await.expect("supervise");
        }
        let d = health_of(&h, &dev).await;
        assert!(
            d.flags.contains(&vigie_core::supervision::Flag::ClockOff),
            "{d:?}"
        );
        assert_eq!(d.box_clock_ahead_ms, Some(-three_days_ms));
        assert_eq!(d.clock_offset_ms, Some(three_days_ms));
    }
}

#[tokio::test]
async fn a_stale_signature_says_which_way_the_box_is_off_and_gives_the_hubs_time() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "K5").await;
    let dev = h.enroll(shop).await;
    let body = br#"{"alarm_id":"0192f0c3-0000-7000-8000-000000000001","pressed_at_ms":1,"sent_at_ms":1,"recording":false}"#;
    let behind_s = h.now().as_ms() / 1000 - 3 * 24 * 3_600;
    let refused = capture(
        &dev,
        "POST",
        "/v1/alarms",
        body,
        behind_s,
        &vigie_proto::signature::new_nonce(),
    );
    let resp = h.send_raw(&refused, "").await;
    assert_eq!(resp.status(), 401);
    let hub_time: i64 = resp
        .headers()
        .get(vigie_proto::refusal::HUB_TIME_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("the hub's time in the answer");
    assert_eq!(hub_time, h.now().as_ms());
    let e: vigie_proto::ErrorBody = resp.json().await.expect("error body");
    assert_eq!(e.code, vigie_proto::refusal::code::STALE_SIGNATURE);
    assert!(e.message.contains("en retard de 259200 s"), "{}", e.message);
    assert!(e.message.contains("259200 s behind"), "{}", e.message);
}
