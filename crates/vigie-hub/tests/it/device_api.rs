//! Hostile and broken input at the device API: each gets a specific error,
//! the hub keeps serving, and an accepted alarm is never lost.

use crate::helpers::*;
use uuid::Uuid;
use vigie_proto::signature::{DeviceKey, new_nonce};

async fn hub_with_device() -> (TestHub, Device) {
    let h = spawn_hub("").await;
    let shop = h
        .seed_shop(
            "D1",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;
    (h, dev)
}

fn raise_body(h: &TestHub, id: Uuid) -> Vec<u8> {
    let t = h.now().as_ms();
    serde_json::json!({ "alarm_id": id, "pressed_at_ms": t, "sent_at_ms": t })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn signatures_replays_and_stale_times_are_refused() {
    let (h, dev) = hub_with_device().await;
    let now_s = h.now().as_ms() / 1000;
    let accepted = Uuid::now_v7();
    let body = raise_body(&h, accepted);
    let nonce = new_nonce();
    let (s, _) = h
        .signed_post(&dev, "/v1/alarms", &body, now_s, &nonce)
        .await;
    assert_eq!(s, 201);

    // The same signed request again: a replay.
    let (s, r) = h
        .signed_post(&dev, "/v1/alarms", &body, now_s, &nonce)
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (401, Some("replayed_request")),
        "{r}"
    );

    // Signed 6 minutes ago, or 6 minutes ahead: stale.
    for skew in [-360, 360] {
        let (s, r) = h
            .signed_post(
                &dev,
                "/v1/alarms",
                &raise_body(&h, Uuid::now_v7()),
                now_s + skew,
                &new_nonce(),
            )
            .await;
        assert_eq!(
            (s, r["code"].as_str()),
            (401, Some("stale_signature")),
            "{r}"
        );
        assert!(r["message"].as_str().unwrap_or("").contains("clock"), "{r}");
    }

    // Signed by a key that is not the device's: forged.
    let forger = Device {
        id: dev.id.clone(),
        key: DeviceKey::generate(),
    };
    let (s, r) = h
        .signed_post(
            &forger,
            "/v1/alarms",
            &raise_body(&h, Uuid::now_v7()),
            now_s,
            &new_nonce(),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (401, Some("bad_signature")), "{r}");

    // An unknown device.
    let stranger = Device {
        id: "dev-unknown".into(),
        key: DeviceKey::generate(),
    };
    let (s, r) = h
        .signed_post(
            &stranger,
            "/v1/alarms",
            &raise_body(&h, Uuid::now_v7()),
            now_s,
            &new_nonce(),
        )
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (401, Some("unknown_device")),
        "{r}"
    );

    // A body changed after signing.
    let signed = dev.key.sign(
        &dev.id,
        "POST",
        "/v1/alarms",
        &raise_body(&h, Uuid::now_v7()),
        now_s,
        &new_nonce(),
    );
    let r = h
        .http
        .post(format!("{}/v1/alarms", h.url()))
        .header("content-digest", signed.content_digest)
        .header("signature-input", signed.signature_input)
        .header("signature", signed.signature)
        .body(raise_body(&h, Uuid::now_v7()))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let r: serde_json::Value = r.json().await.expect("json");
    assert_eq!(r["code"], "digest_mismatch");

    // Unsigned.
    let r = h
        .http
        .post(format!("{}/v1/alarms", h.url()))
        .body(raise_body(&h, Uuid::now_v7()))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let r: serde_json::Value = r.json().await.expect("json");
    assert_eq!(r["code"], "unsigned_request");

    // Garbage in the signature headers.
    let r = h
        .http
        .post(format!("{}/v1/alarms", h.url()))
        .header("content-digest", "sha-256=:AAAA:")
        .header("signature-input", "vigie=(\"@method\");created=oops")
        .header("signature", "vigie=:%%%:")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);

    // Through all of it, the accepted alarm stands and was sent.
    let detail = h
        .hub
        .store
        .alarm(accepted)
        .await
        .expect("the accepted alarm");
    assert_eq!(detail.alarm.id, accepted);
    h.sms_to("06 11 22 33 44", "ALERTE").await;
    assert_eq!(
        h.hub.store.alarms(10).await.expect("alarms").len(),
        1,
        "no refused request created an alarm"
    );
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_specific_errors() {
    let (h, dev) = hub_with_device().await;
    let now_s = h.now().as_ms() / 1000;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"not json".to_vec(), 400, "malformed_body"),
        (b"{\"alarm_id\": \"not-a-uuid\", \"pressed_at_ms\": 1, \"sent_at_ms\": 1}".to_vec(), 400, "malformed_body"),
        (b"{\"alarm_id\": \"0190f1a2-0000-7000-8000-000000000000\", \"pressed_at_ms\": 1}".to_vec(), 400, "malformed_body"),
        (b"{\"alarm_id\": \"0190f1a2-0000-7000-8000-000000000000\", \"pressed_at_ms\": 1, \"sent_at_ms\": 1, \"extra\": 1}".to_vec(), 400, "malformed_body"),
    ];
    for (body, status, code) in cases {
        let (s, r) = h
            .signed_post(&dev, "/v1/alarms", &body, now_s, &new_nonce())
            .await;
        assert_eq!(
            (s, r["code"].as_str()),
            (status, Some(code)),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // A press dated two days before it was sent cannot be helped by SMS any more.
    let t = h.now().as_ms();
    let body = serde_json::json!({ "alarm_id": Uuid::now_v7(), "pressed_at_ms": t - 48 * 3_600_000, "sent_at_ms": t }).to_string();
    let (s, r) = h
        .signed_post(&dev, "/v1/alarms", body.as_bytes(), now_s, &new_nonce())
        .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("press_too_old")), "{r}");

    // Oversized: refused before parsing, with 413.
    let big = vec![b'x'; vigie_proto::REQUEST_BODY_BYTES_MAX + 1];
    let (s, r) = h
        .signed_post(&dev, "/v1/alarms", &big, now_s, &new_nonce())
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (413, Some("body_too_large")),
        "{r}"
    );

    // Cancel: not a UUID, unknown alarm.
    let body = serde_json::json!({ "cancel_pressed_at_ms": t, "sent_at_ms": t }).to_string();
    let (s, r) = h
        .signed_post(
            &dev,
            "/v1/alarms/nope/cancel",
            body.as_bytes(),
            now_s,
            &new_nonce(),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_alarm_id")), "{r}");
    let (s, r) = h
        .signed_post(
            &dev,
            &format!("/v1/alarms/{}/cancel", Uuid::now_v7()),
            body.as_bytes(),
            now_s,
            &new_nonce(),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("unknown_alarm")), "{r}");

    // The hub still serves a good alarm after all that.
    let (s, _) = h.press(&dev, Uuid::now_v7()).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn enrolment_codes_are_single_use_and_checked() {
    let h = spawn_hub("").await;
    let shop = h.seed_shop("E1", "06 99 88 77 66", &[]).await;
    let code = h
        .hub
        .store
        .new_enrolment_code(shop, h.now())
        .await
        .expect("code");
    let key = DeviceKey::generate();
    let enroll = |code: String, pk: String| {
        let (http, url) = (h.http.clone(), h.url());
        async move {
            let r = http
                .post(format!("{url}/v1/enroll"))
                .json(&serde_json::json!({ "code": code, "public_key": pk, "version": "t" }))
                .send()
                .await
                .expect("post");
            let s = r.status().as_u16();
            (s, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let (s, r) = enroll(code.clone(), "bm90IGEga2V5".into()).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("bad_public_key")),
        "{r}"
    );
    let (s, r) = enroll("ZZZZ-ZZZZ".into(), key.public_key_b64()).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("unknown_code")), "{r}");
    let (s, _) = enroll(code.to_lowercase(), key.public_key_b64()).await;
    assert_eq!(s, 201, "codes are case-insensitive");
    let (s, r) = enroll(code.clone(), key.public_key_b64()).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("code_used")), "{r}");
    // Expired after its 30 days.
    let late = h
        .hub
        .store
        .new_enrolment_code(shop, h.now())
        .await
        .expect("code");
    h.clock.advance_ms(31 * 86_400_000);
    let (s, r) = enroll(late, key.public_key_b64()).await;
    assert_eq!((s, r["code"].as_str()), (401, Some("code_expired")), "{r}");
}

#[tokio::test]
async fn a_late_press_is_flagged_with_its_age() {
    let (h, dev) = hub_with_device().await;
    let t = h.now().as_ms();
    let id = Uuid::now_v7();
    let body = serde_json::json!({ "alarm_id": id, "pressed_at_ms": t - 185_000, "sent_at_ms": t })
        .to_string();
    let (s, r) = h
        .signed_post(&dev, "/v1/alarms", body.as_bytes(), t / 1000, &new_nonce())
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["late_by_ms"], 185_000);
    h.sms_to("06 11 22 33 44", "déclenchée il y a 3 min").await;
}

#[tokio::test]
async fn gateway_callbacks_need_the_secret() {
    let h = spawn_hub("").await;
    // The log gateway is not an HTTP gateway: its callbacks do not exist.
    let r = h
        .http
        .get(format!(
            "{}/v1/gateways/phones/receipt?secret=x&ref=1&status=1",
            h.url()
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
}

/// Codes the hub returns that no box sees (the console, the admin CLI, the
/// contacts' pages, the SMS gateways' callbacks), each with where.
const NOT_FOR_BOXES: &[&str] = &[
    "unknown_link",            // a contact's answer or consent page
    "bad_consent",             // a contact's consent page
    "bad_callback",            // an HTTP gateway's callback
    "unknown_gateway",         // an HTTP gateway's callback
    "unknown_notification",    // a receipt for no SMS
    "unknown_code",            // enrolment (no signature yet: the box retries enrolment itself)
    "code_used",               // enrolment
    "code_expired",            // enrolment
    "bad_public_key",          // enrolment
    "bad_version",             // enrolment
    "unknown_shop",            // admin and console
    "bad_shop_field",          // the console's shop form
    "target_not_empty",        // vigie admin store copy
    "account_taken",           // vigie admin transmitter add (DC-09)
    "bad_account",             // vigie admin transmitter add
    "bad_interval",            // vigie admin transmitter add
    "bad_key",                 // vigie admin transmitter add
    "too_many_events",         // a DC-09 frame (answered DUH, never to a box)
    "pendant_taken",           // vigie admin pendant add
    "number_is_contact",       // vigie admin pendant add
    "number_is_holder",        // vigie admin pendant add
    "bad_pattern",             // vigie admin pendant add
    "unknown_pendant",         // vigie admin pendant remove
    "number_is_pendant",       // admin and console: contacts
    "unknown_contact",         // admin and console
    "unknown_recording",       // console and export
    "duplicate_shop",          // admin and console
    "duplicate_contact",       // admin and console
    "bad_policy",              // admin
    "bad_opening_hours",       // admin and console
    "bad_tier",                // admin and console
    "bad_custody",             // console (evidence)
    "reason_required",         // console (evidence)
    "bad_reason",              // console (evidence)
    "no_session",              // console
    "already_sent",            // console (opt-in again)
    "consent_no",              // console (opt-in again)
    "bad_answer",              // a contact's answer page
    "bad_secret",              // an HTTP gateway's callback
    "bad_name",                // console and admin: contacts
    "bad_note",                // console: the desk's notes
    "note_too_long",           // console: the desk's notes
    "bad_period",              // console: statistics
    "bad_username",            // console and admin: accounts
    "username_taken",          // console and admin: accounts
    "shop_required",           // console and admin: accounts
    "contact_removed",         // console: contacts
    "consent_refused",         // console: contacts
    "already_consented",       // console: contacts
    "pre_approved",            // console: contacts
    "no_opt_in",               // console: contacts
    "opt_in_too_soon",         // console: contacts
    "already_assigned",        // console and admin: inventory
    "already_enrolled",        // console and admin: inventory
    "bad_hardware_state",      // console and admin: inventory
    "bad_serial",              // console and admin: inventory
    "duplicate_serial",        // console and admin: inventory
    "hardware_out_of_service", // console and admin: inventory
    "hardware_unavailable",    // console and admin: inventory
    "illegal_transition",      // console and admin: inventory
    "too_many_serials",        // console and admin: inventory
    "unknown_hardware",        // console and admin: inventory
    "last_admin",              // console and admin: accounts
    "unknown_account",         // console and admin: accounts
    "taken_by_other",          // console: the desk's handling of an alarm
];

/// Every refusal code written in the hub's source is either in the shared
/// table the box reads (`vigie_proto::refusal`) or named above as one no box
/// sees: a new code cannot reach boxes without saying what they do with it.
#[test]
fn every_refusal_a_box_can_get_is_in_the_shared_table() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut codes = std::collections::BTreeSet::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir") {
                files.push(e.expect("entry").path());
            }
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("source");
        for call in ["refused(", "bad(", "unauthorized(", "code: ", "=> (\""] {
            for (i, _) in text.match_indices(call) {
                let rest = text[i + call.len()..].trim_start();
                if let Some(rest) = rest.strip_prefix('"') {
                    let code: String = rest.chars().take_while(|c| *c != '"').collect();
                    if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    {
                        codes.insert(code);
                    }
                }
            }
        }
    }
    assert!(codes.len() > 20, "the scan finds the codes: {codes:?}");
    let unknown: Vec<&String> = codes
        .iter()
        .filter(|c| {
            vigie_proto::refusal::refusal(c).is_none() && !NOT_FOR_BOXES.contains(&c.as_str())
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "codes a box may get but the shared table lacks: {unknown:?}"
    );
}

/// The framework's own refusals on `/v1` come back as the API's JSON, with
/// the hub's time, like every other refusal.
#[tokio::test]
async fn unknown_paths_wrong_methods_and_bad_parameters_are_refused_in_json() {
    let h = spawn_hub("").await;
    let cases = [
        ("GET", "/v1/nowhere", 404, "not_found"),
        ("GET", "/v1/alarms", 405, "method_not_allowed"),
        ("DELETE", "/v1/heartbeat", 405, "method_not_allowed"),
        ("POST", "/v1/enroll", 400, "malformed_body"),
    ];
    for (method, path, status, code) in cases {
        let resp = h
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", h.url()),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert!(
            resp.headers()
                .contains_key(vigie_proto::refusal::HUB_TIME_HEADER),
            "{method} {path}"
        );
        if status == 405 {
            assert!(resp.headers().contains_key("allow"), "{method} {path}");
        }
        let body: vigie_proto::ErrorBody = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        assert_eq!(body.code, code, "{method} {path}: {}", body.message);
        assert!(!body.message.is_empty());
    }
}

#[tokio::test]
async fn replays_are_refused_after_a_restart_and_a_query_cannot_be_added() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "RP1").await;
    let dev = h.enroll(shop).await;
    let now_s = h.now().as_ms() / 1_000;
    let hb = crate::supervision::heartbeat(&h, Some(90), true, vigie_proto::ModemState::Registered);
    let beat = capture_now(&dev, "POST", "/v1/heartbeat", &hb, now_s);
    // A query added to a signed request: refused, whatever it says.
    let (s, r) = h.send(&beat, "?dry_run=1").await;
    assert_eq!(
        (s, r["code"].as_str()),
        (401, Some("unsigned_query")),
        "{r}"
    );
    assert_eq!(h.send(&beat, "").await.0, 200);
    // The box's next heartbeat, a minute later.
    h.clock.advance_ms(60_000);
    assert_eq!(h.signed(&dev, "POST", "/v1/heartbeat", &hb).await.0, 200);
    let alarm = uuid::Uuid::now_v7();
    assert_eq!(h.press(&dev, alarm).await.0, 201);
    let cancel_body = serde_json::to_vec(&vigie_proto::CancelAlarm {
        cancel_pressed_at_ms: h.now().as_ms(),
        sent_at_ms: h.now().as_ms(),
    })
    .expect("cancel");
    let cancel = capture_now(
        &dev,
        "POST",
        &format!("/v1/alarms/{alarm}/cancel"),
        &cancel_body,
        now_s,
    );
    assert_eq!(h.send(&cancel, "").await.0, 200);
    h.hub
        .engine
        .supervise(h.now())
        .await
        .expect("heartbeats written");

    // After a restart the hub's memory is gone, not its word.
    let h = h.restart().await;
    for captured in [&beat, &cancel] {
        let (s, r) = h.send(captured, "").await;
        assert_eq!(
            (s, r["code"].as_str()),
            (401, Some("replayed_request")),
            "{} {r}",
            captured.path
        );
    }
    // A fresh heartbeat, signed later, is heard.
    h.clock.advance_ms(60_000);
    let (s, r) = h.signed(&dev, "POST", "/v1/heartbeat", &hb).await;
    assert_eq!(s, 200, "{r}");
}

fn capture_now(dev: &Device, method: &str, path: &str, body: &[u8], created_s: i64) -> Captured {
    capture(dev, method, path, body, created_s, &new_nonce())
}
