//! The OpenAPI document the hub serves is true to its router and to the
//! wire types: every route is documented, every documented operation is
//! routed, and every schema has the fields its Rust type serialises.

use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn doc() -> Value {
    serde_json::from_str(vigie_hub::api::OPENAPI_JSON).expect("the document is JSON")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let doc = doc();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    // The router's own table, read from its source.
    let src = include_str!("../../src/api/mod.rs");
    let routed: BTreeSet<String> = src
        .match_indices(".route(")
        .filter_map(|(i, m)| {
            let rest = src[i + m.len()..].trim_start().strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect();
    assert_eq!(routed, documented, "the router and the document differ");

    // Each documented operation reaches a handler, not the framework's 404 or 405.
    let h = spawn_hub("").await;
    let served: Value = h
        .http
        .get(format!("{}/v1/openapi.json", h.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(served, doc, "the hub serves the document");
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{id}", "0192f0c3-0000-7000-8000-000000000001")
            .replace("{name}", "phones")
            .replace("{token}", "AAAAAAAAAAAA");
        for method in ops.as_object().expect("operations").keys() {
            let resp = h
                .http
                .request(
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    format!("{}{concrete}", h.url()),
                )
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert!(
                status != 405 && !body.contains("\"code\":\"not_found\""),
                "{method} {path}: {status} {body}"
            );
        }
    }
}

/// The property names of a schema, and those it requires.
fn fields(doc: &Value, schema: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let s = &doc["components"]["schemas"][schema];
    let props = s["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {schema}"))
        .keys()
        .cloned()
        .collect();
    let required = s["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (props, required)
}

fn keys(v: &impl serde::Serialize) -> BTreeSet<String> {
    serde_json::to_value(v)
        .expect("serialise")
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_schema_has_the_fields_of_its_wire_type() {
    use vigie_proto::*;
    let doc = doc();
    let id = uuid::Uuid::now_v7();
    let shop = ShopSummary {
        name: "n".into(),
        address: "a".into(),
        commune: "c".into(),
    };
    let settings = DeviceSettings {
        heartbeat_interval_s: 60,
        double_press_window_ms: 700,
        long_press_ms: 3_000,
        cancel_window_ms: 60_000,
        direct_sms_delay_ms: 5_000,
    };
    let samples: Vec<(&str, BTreeSet<String>)> = vec![
        (
            "ErrorBody",
            keys(&ErrorBody {
                code: "x".into(),
                message: "m".into(),
            }),
        ),
        (
            "EnrollRequest",
            keys(&EnrollRequest {
                code: "c".into(),
                public_key: "k".into(),
                version: "v".into(),
            }),
        ),
        ("ShopSummary", keys(&shop)),
        ("DeviceSettings", keys(&settings)),
        (
            "EnrollResponse",
            keys(&EnrollResponse {
                device_id: "d".into(),
                shop: shop.clone(),
                settings: settings.clone(),
                direct_contacts: Vec::new(),
            }),
        ),
        (
            "DirectSms",
            keys(&DirectSms {
                phone: "+33611223344".into(),
                sent_at_ms: 1,
            }),
        ),
        (
            "RaiseAlarm",
            keys(&RaiseAlarm {
                alarm_id: id,
                pressed_at_ms: 1,
                sent_at_ms: 1,
                recording: false,
                direct_sms: Vec::new(),
                test: false,
            }),
        ),
        (
            "AlarmReceipt",
            keys(&AlarmReceipt {
                alarm_id: id,
                state: "open".into(),
                code: "K7P".into(),
                duplicate: false,
                late_by_ms: None,
                contacts_alerting: 1,
                durable: true,
            }),
        ),
        (
            "CancelAlarm",
            keys(&CancelAlarm {
                cancel_pressed_at_ms: 1,
                sent_at_ms: 1,
            }),
        ),
        (
            "RequestRecording",
            keys(&RequestRecording { requested_at_ms: 1 }),
        ),
        (
            "DirectReport",
            keys(&DirectReport {
                direct_sms: Vec::new(),
            }),
        ),
        (
            "Heartbeat",
            keys(&Heartbeat {
                sent_at_ms: 1,
                battery_pct: None,
                on_mains: true,
                signal_csq: None,
                modem: ModemState::Registered,
                free_storage_mb: 1,
                version: "v".into(),
                outbox_depth: 0,
                uptime_s: 1,
                clock_offset_ms: 0,
            }),
        ),
        (
            "HeartbeatAck",
            keys(&HeartbeatAck {
                config_version: "c".into(),
                server_time_ms: 1,
            }),
        ),
        (
            "DeviceConfig",
            keys(&DeviceConfig {
                config_version: "c".into(),
                shop,
                settings,
                direct_contacts: Vec::new(),
            }),
        ),
        (
            "UploadChunk",
            keys(&UploadChunk {
                record: "r".into(),
                audio: "a".into(),
            }),
        ),
        (
            "ChunkReceipt",
            keys(&ChunkReceipt {
                recording_id: id,
                seq: 0,
                log_index: 0,
                duplicate: false,
            }),
        ),
    ];
    let documented: BTreeSet<&str> = doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "DirectContact" | "Readiness"))
        .collect();
    let sampled: BTreeSet<&str> = samples.iter().map(|(n, _)| *n).collect();
    assert_eq!(documented, sampled, "every schema has a sample here");
    for (name, got) in samples {
        let (props, required) = fields(&doc, name);
        assert_eq!(
            got, props,
            "{name}: the document's properties are the type's fields"
        );
        assert!(required.is_subset(&got), "{name}: required {required:?}");
    }
}
