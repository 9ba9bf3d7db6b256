//! GSM SOS pendants end to end. An SMS from a registered pendant's number,
//! as a mobile-originated `deliver_sm` from the SMSC simulator or on the
//! HTTP provider's reply webhook, raises an alarm with the shop's
//! escalation and the position it gives; a second SMS joins it; a spoofed
//! « annuler » or « 1 » does nothing but get recorded; a flood is flagged
//! while the first alarm goes out; an unknown number is still a stranger;
//! nothing is ever sent to the pendant. Every wait is a poll with a deadline.

use crate::helpers::*;
use uuid::Uuid;
use vigie_core::pendant::Position;
use vigie_core::{AlarmState, Outcome, PhoneNumber};
use vigie_hub::gateway::Kept;
use vigie_hub::store::{
    AlarmDetail, AlarmEvent, NewContact, NewPendant, PENDANT_FLOOD_SMS_MIN,
    PENDANT_REPEAT_WINDOW_MS, PendantMessage, Relation, StoreError,
};
use vigie_testkit::smsc::Smsc;

/// The pendant's own SIM.
const PENDANT: &str = "06 70 00 00 01";
/// Someone the hub does not know.
const STRANGER: &str = "06 70 00 00 99";
const SYSTEM_ID: &str = "vigie";
const PASSWORD: &str = "s3cret";
/// The hub's SMPP sender, a long number that takes replies.
const HUB_NUMBER: &str = "+33700000000";
const WEBHOOK_SECRET: &str = "pendant-webhook-secret-42";

fn e164(phone: &str) -> String {
    PhoneNumber::parse(phone)
        .expect("phone")
        .as_e164()
        .to_string()
}

/// Digits as the SMSC writes a destination (no `+`).
fn digits(phone: &str) -> String {
    e164(phone).trim_start_matches('+').to_string()
}

async fn register(h: &TestHub, shop_id: i64, patterns: &[&str]) {
    h.hub
        .store
        .add_pendant(
            NewPendant {
                shop_id,
                phone: PhoneNumber::parse(PENDANT).expect("phone"),
                patterns: patterns.iter().map(|p| p.to_string()).collect(),
            },
            h.now(),
        )
        .await
        .expect("the pendant is registered");
}

/// A hub whose first gateway is SMPP to the simulator (bound), the shop
/// of the scenarios with its pendant.
async fn smpp_rig() -> (TestHub, Smsc, i64) {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD)
        .await
        .expect("SMSC simulator starts");
    let smpp = format!(
        "[[gateways]]\nkind = \"smpp\"\nname = \"operator\"\nhost = \"127.0.0.1\"\nport = {}\nsystem_id = \"{SYSTEM_ID}\"\npassword = \"{PASSWORD}\"\nsource_addr = \"{HUB_NUMBER}\"\nreplies = true\n",
        smsc.smpp_port()
    );
    let h = spawn_hub_with("", &smpp).await;
    eventually("the hub bound to the SMSC", || async {
        let binds = smsc.binds().await.ok()?;
        (!binds.binds.is_empty()).then_some(())
    })
    .await;
    let shop = shop_with_two_tiers(&h, "PENDANT-1").await;
    register(&h, shop, &[]).await;
    (h, smsc, shop)
}

/// A hub with an HTTP provider (for its reply webhook; the log gateway
/// sends), the shop of the scenarios with its pendant.
async fn webhook_rig(patterns: &[&str]) -> (TestHub, i64) {
    let provider = format!(
        "[[gateways]]\nkind = \"http\"\nname = \"provider\"\nurl = \"http://127.0.0.1:9/send?to={{to}}&text={{text}}\"\nfrom = \"{HUB_NUMBER}\"\nreplies = true\ncallback_base_url = \"http://127.0.0.1:9\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"
    );
    let h = spawn_hub(&provider).await;
    let shop = shop_with_two_tiers(&h, "PENDANT-2").await;
    register(&h, shop, patterns).await;
    (h, shop)
}

/// An SMS on the provider's reply webhook, answered once committed.
async fn webhook(h: &TestHub, from: &str, text: &str) {
    let resp = h
        .http
        .get(format!("{}/v1/gateways/provider/reply", h.url()))
        .query(&[("secret", WEBHOOK_SECRET), ("from", from), ("text", text)])
        .send()
        .await
        .expect("webhook");
    assert_eq!(resp.status(), 204, "{from} {text:?}");
}

/// A mobile-originated SMS from `from` through the simulator.
async fn deliver_sm(smsc: &Smsc, from: &str, text: &str) {
    smsc.reply(&e164(from), HUB_NUMBER, text)
        .await
        .expect("the simulator sends the deliver_sm");
}

/// Every SMS pendants sent, once `n` are stored, newest first.
async fn stored(h: &TestHub, n: usize) -> Vec<PendantMessage> {
    eventually(&format!("{n} pendant SMS stored"), || async {
        let m = h
            .hub
            .store
            .pendant_messages(None, 1_000)
            .await
            .expect("messages");
        (m.len() >= n).then_some(m)
    })
    .await
}

/// The submits to `phone` the SMSC took whose text holds `needle`.
async fn at_smsc(smsc: &Smsc, phone: &str, needle: &str) -> usize {
    let to = digits(phone);
    smsc.messages()
        .await
        .expect("messages")
        .iter()
        .filter(|m| m.to == to && m.text.contains(needle))
        .count()
}

async fn wait_at_smsc(smsc: &Smsc, phone: &str, needle: &str) {
    eventually(
        &format!("an SMS to {phone} with {needle:?} at the SMSC"),
        || async { (at_smsc(smsc, phone, needle).await > 0).then_some(()) },
    )
    .await;
}

async fn detail(h: &TestHub, id: Uuid) -> AlarmDetail {
    h.hub.store.alarm(id).await.expect("the alarm")
}

fn pendant_sms(d: &AlarmDetail) -> Vec<(String, String, Option<Position>)> {
    d.events
        .iter()
        .filter_map(|e| match &e.event {
            AlarmEvent::PendantSms {
                text,
                meaning,
                position,
                ..
            } => Some((text.clone(), meaning.clone(), *position)),
            _ => None,
        })
        .collect()
}

/// Nothing of what a box's long press, a desk or a contact's answer does.
fn untouched(d: &AlarmDetail) {
    assert_eq!(d.alarm.state, AlarmState::Open, "{:?}", d.alarm);
    assert!(d.answers.is_empty(), "no answer recorded: {:?}", d.answers);
    for e in &d.events {
        assert!(
            !matches!(
                e.event,
                AlarmEvent::Cancelled { .. }
                    | AlarmEvent::Answered { .. }
                    | AlarmEvent::Acknowledged { .. }
                    | AlarmEvent::Resolved { .. }
            ),
            "{:?}",
            e.event
        );
    }
}

fn near(p: Option<Position>, lat: f64, lon: f64) -> bool {
    p.is_some_and(|p| (p.lat - lat).abs() < 1e-6 && (p.lon - lon).abs() < 1e-6)
}

/// The scenario: a pendant SMS through the SMSC simulator raises an
/// alarm, a second SMS joins it, a spoofed « annuler » does nothing.
#[tokio::test]
async fn a_pendant_sms_through_the_smsc_raises_an_alarm_a_second_joins_it_and_a_spoofed_annuler_does_nothing()
 {
    let (h, smsc, shop) = smpp_rig().await;
    deliver_sm(
        &smsc,
        PENDANT,
        "help me! lat: 45.764043 long: 4.835659 speed:0.00 F:4.10V,1",
    )
    .await;
    let first = stored(&h, 1).await;
    assert!(first[0].raised && first[0].meaning == "alarm", "{first:?}");
    assert!(near(first[0].position, 45.764043, 4.835659), "{first:?}");
    let id = first[0].alarm_id.expect("the alarm it raised");

    // The shop's normal escalation: tier 1 alerted through the SMSC with the
    // shop's usual text, tier 2 not yet, the holder told.
    for phone in [MARIE, AHMED] {
        wait_at_smsc(&smsc, phone, "ALERTE").await;
        assert!(at_smsc(&smsc, phone, "Tabac du Centre").await > 0);
    }
    wait_at_smsc(&smsc, HOLDER, "transmise").await;
    assert_eq!(at_smsc(&smsc, POLICE, "ALERTE").await, 0);
    let d = detail(&h, id).await;
    assert_eq!(d.alarm.shop_id, shop);
    assert_eq!(
        d.alarm.device_id,
        format!("pendant:{}", first[0].pendant_id)
    );
    match &d.events[0].event {
        AlarmEvent::RaisedByPendant {
            gateway,
            text,
            position,
            ..
        } => {
            assert_eq!(gateway, "operator");
            assert!(text.starts_with("help me!"), "{text}");
            assert!(near(*position, 45.764043, 4.835659), "{position:?}");
        }
        other => panic!("the alarm's first event says it came from a pendant: {other:?}"),
    }

    // The pendant repeats, from a little further: the same alarm, the new
    // position on its timeline.
    deliver_sm(&smsc, PENDANT, "help me! lat: 45.765000 long: 4.836000").await;
    let second = stored(&h, 2).await;
    assert_eq!((second[0].alarm_id, second[0].raised), (Some(id), false));
    assert_eq!(h.hub.store.alarms(10).await.expect("alarms").len(), 1);
    let repeats = pendant_sms(&detail(&h, id).await);
    assert_eq!(repeats.len(), 1, "{repeats:?}");
    assert_eq!(repeats[0].1, "alarm");
    assert!(near(repeats[0].2, 45.765, 4.836), "{repeats:?}");

    // A spoofed « annuler », then « 1 »: recorded on the timeline, nothing else.
    deliver_sm(&smsc, PENDANT, "annuler").await;
    stored(&h, 3).await;
    deliver_sm(&smsc, PENDANT, "1").await;
    let all = stored(&h, 4).await;
    assert!(
        all[..2]
            .iter()
            .all(|m| m.meaning == "cancel_or_answer" && m.alarm_id == Some(id)),
        "{all:?}"
    );
    let d = detail(&h, id).await;
    untouched(&d);
    let texts: Vec<String> = pendant_sms(&d).into_iter().map(|(t, _, _)| t).collect();
    assert_eq!(
        texts,
        ["help me! lat: 45.765000 long: 4.836000", "annuler", "1"]
    );
    assert_eq!(
        at_smsc(&smsc, MARIE, "annulée").await,
        0,
        "no false-alarm notice"
    );

    // The escalation goes on: a minute later the gendarmerie is alerted.
    h.pass_secs(60).await;
    wait_at_smsc(&smsc, POLICE, "ALERTE").await;
    untouched(&detail(&h, id).await);

    // Nothing, ever, to the pendant (a pendant takes an SMS for a command).
    h.settled().await;
    assert!(
        h.hub
            .store
            .notifications_for_phone(&e164(PENDANT))
            .await
            .expect("notifications")
            .is_empty()
    );
    assert_eq!(at_smsc(&smsc, PENDANT, "").await, 0);
}

#[tokio::test]
async fn a_flood_from_the_pendant_is_flagged_and_the_first_alarm_went_out() {
    let (h, smsc, _) = smpp_rig().await;
    let n = PENDANT_FLOOD_SMS_MIN as usize + 2;
    smsc.flood(n, &e164(PENDANT), "help me")
        .await
        .expect("flood");
    let all = stored(&h, n).await;
    eventually("the flood acknowledged", || async {
        let acked = smsc.acked().await.ok()?;
        (acked.acked.len() >= n).then_some(())
    })
    .await;
    let raised: Vec<_> = all.iter().filter(|m| m.raised).collect();
    assert_eq!(raised.len(), 1, "one alarm for the whole flood: {all:?}");
    let id = raised[0].alarm_id.expect("alarm");
    assert!(all.iter().all(|m| m.alarm_id == Some(id)), "{all:?}");
    assert_eq!(
        all.iter().filter(|m| m.flood).count(),
        n + 1 - PENDANT_FLOOD_SMS_MIN as usize,
        "from the {PENDANT_FLOOD_SMS_MIN}th SMS in a minute on: {all:?}"
    );
    for phone in [MARIE, AHMED] {
        wait_at_smsc(&smsc, phone, "ALERTE").await;
    }
    let d = detail(&h, id).await;
    let floods: Vec<_> = d
        .events
        .iter()
        .filter_map(|e| match &e.event {
            AlarmEvent::PendantFlood {
                messages, window_s, ..
            } => Some((*messages, *window_s)),
            _ => None,
        })
        .collect();
    assert_eq!(floods, [(PENDANT_FLOOD_SMS_MIN, 60)], "flagged once");
    // The timeline lists the SMS before the flood, then only counts.
    assert_eq!(
        pendant_sms(&d).len(),
        PENDANT_FLOOD_SMS_MIN as usize - 2,
        "{:?}",
        d.events
    );
    untouched(&d);
    let listed = h.hub.store.pendants(None).await.expect("pendants");
    assert!(listed[0].last_flood_at.is_some(), "{listed:?}");
}

#[tokio::test]
async fn a_pendant_sms_on_the_reply_webhook_raises_an_alarm_with_its_position_and_never_closes_it()
{
    let (h, _) = webhook_rig(&[]).await;
    // Kannel gives the sender as digits without '+'.
    webhook(
        &h,
        &digits(PENDANT),
        "SOS https://maps.google.com/?q=45.7640,4.8357",
    )
    .await;
    // The webhook answers once committed: the alarm is there.
    let first = stored(&h, 1).await;
    let id = first[0].alarm_id.expect("alarm");
    assert!(first[0].raised);
    h.sms_to(MARIE, "ALERTE").await;
    h.sms_to(AHMED, "ALERTE").await;
    match &detail(&h, id).await.events[0].event {
        AlarmEvent::RaisedByPendant {
            gateway, position, ..
        } => {
            assert_eq!(gateway, "provider");
            assert!(near(*position, 45.764, 4.8357), "{position:?}");
        }
        other => panic!("{other:?}"),
    }

    webhook(&h, &e164(PENDANT), "SOS").await;
    for spoofed in ["annuler", "Fausse alerte", "2 K7P", "STOP", "OUI"] {
        webhook(&h, &e164(PENDANT), spoofed).await;
    }
    let d = detail(&h, id).await;
    untouched(&d);
    let meanings: Vec<String> = pendant_sms(&d).into_iter().map(|(_, m, _)| m).collect();
    assert_eq!(
        meanings,
        ["alarm"]
            .into_iter()
            .chain(["cancel_or_answer"; 5])
            .collect::<Vec<_>>()
    );
    assert_eq!(h.hub.store.alarms(10).await.expect("alarms").len(), 1);

    // A contact's own reply still works on a pendant's alarm.
    webhook(&h, &e164(MARIE), "1").await;
    let d = detail(&h, id).await;
    assert_eq!(d.alarm.state, AlarmState::Acknowledged);
    assert_eq!(d.answers.len(), 1);
    assert!(
        h.hub
            .store
            .notifications_for_phone(&e164(PENDANT))
            .await
            .expect("notifications")
            .is_empty(),
        "nothing to the pendant, not even the help text"
    );
}

#[tokio::test]
async fn an_unknown_number_is_still_a_stranger_and_a_removed_pendant_becomes_one() {
    let (h, _) = webhook_rig(&[]).await;
    webhook(&h, &e164(STRANGER), "SOS help me").await;
    webhook(&h, &e164(STRANGER), "annuler").await;
    assert!(h.hub.store.alarms(10).await.expect("alarms").is_empty());
    assert!(
        h.hub
            .store
            .pendant_messages(None, 10)
            .await
            .expect("messages")
            .is_empty()
    );
    assert_eq!(
        h.hub
            .store
            .inbound_texts(&e164(STRANGER))
            .await
            .expect("kept"),
        ["SOS help me", "annuler"],
        "kept, as any SMS"
    );
    h.settled().await;
    assert!(
        h.hub
            .store
            .notifications_for_phone(&e164(STRANGER))
            .await
            .expect("notifications")
            .is_empty(),
        "no SMS loop with a stranger"
    );

    let pendant = PhoneNumber::parse(PENDANT).expect("phone");
    h.hub
        .store
        .remove_pendant(&pendant, h.now())
        .await
        .expect("removed");
    webhook(&h, &e164(PENDANT), "SOS").await;
    assert!(h.hub.store.alarms(10).await.expect("alarms").is_empty());
    let e = h
        .hub
        .store
        .remove_pendant(&pendant, h.now())
        .await
        .expect_err("already removed");
    assert!(
        matches!(
            &e,
            StoreError::Refused {
                code: "unknown_pendant",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn repeats_join_for_thirty_minutes_and_a_closed_alarm_is_never_reopened() {
    let (h, _) = webhook_rig(&[]).await;
    webhook(&h, &e164(PENDANT), "help me!").await;
    let first = stored(&h, 1).await[0].alarm_id.expect("alarm");
    // TK-203 repeats every 3 minutes: each joins, and keeps the window open.
    for _ in 0..3 {
        h.clock.advance_ms(3 * 60_000);
        webhook(&h, &e164(PENDANT), "help me!").await;
    }
    let all = stored(&h, 4).await;
    assert!(all.iter().all(|m| m.alarm_id == Some(first)), "{all:?}");

    // Past the window since the last alarm SMS: a new press, a new alarm.
    h.clock.advance_ms(PENDANT_REPEAT_WINDOW_MS + 1);
    webhook(&h, &e164(PENDANT), "help me!").await;
    let later = stored(&h, 5).await;
    let second = later[0].alarm_id.expect("alarm");
    assert!(later[0].raised && second != first, "{later:?}");

    // A person closes it; the pendant's next SMS is a new alarm, never the
    // closed one reopened, and « annuler » raises nothing.
    h.hub
        .store
        .resolve_alarm(second, Outcome::FalseAlarm, "operateur", h.now())
        .await
        .expect("resolved");
    webhook(&h, &e164(PENDANT), "annuler").await;
    let m = stored(&h, 6).await;
    assert_eq!((m[0].alarm_id, m[0].raised), (None, false), "{m:?}");
    webhook(&h, &e164(PENDANT), "SOS").await;
    let m = stored(&h, 7).await;
    assert!(m[0].raised && m[0].alarm_id != Some(second), "{m:?}");
    assert_eq!(
        detail(&h, second).await.alarm.state,
        AlarmState::Resolved,
        "closed stays closed"
    );
    assert_eq!(h.hub.store.alarms(10).await.expect("alarms").len(), 3);
}

#[tokio::test]
async fn known_non_alarm_messages_and_registered_patterns_raise_nothing_but_are_kept() {
    let (h, _) = webhook_rig(&["Balise active"]).await;
    for text in [
        "Warning! Battery is low, please charge!",
        "Power on",
        "BALISE ACTIVE",
        "SOS number set OK",
    ] {
        webhook(&h, &e164(PENDANT), text).await;
    }
    let kept = stored(&h, 4).await;
    let meanings: Vec<&str> = kept.iter().rev().map(|m| m.meaning.as_str()).collect();
    assert_eq!(
        meanings,
        ["low_battery", "power_on", "pattern", "setting_confirmed"]
    );
    assert!(h.hub.store.alarms(10).await.expect("alarms").is_empty());
    // A pattern never silences a call for help.
    webhook(&h, &e164(PENDANT), "Balise active SOS").await;
    assert!(stored(&h, 5).await[0].raised);
}

/// A refusal with this code, whose sentence says this.
fn refused<T: std::fmt::Debug>(r: Result<T, StoreError>, code: &str, says: &str) {
    match r {
        Err(StoreError::Refused { code: c, message }) => {
            assert_eq!(c, code, "{message}");
            assert!(message.contains(says), "{message}");
        }
        other => panic!("refused {code}: {other:?}"),
    }
}

#[tokio::test]
async fn a_number_is_a_pendant_a_contact_or_a_holder_never_two() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "PENDANT-3").await;
    let store = &h.hub.store;
    let add = |phone: &str, patterns: Vec<String>| NewPendant {
        shop_id: shop,
        phone: PhoneNumber::parse(phone).expect("phone"),
        patterns,
    };
    refused(
        store.add_pendant(add(MARIE, vec![]), h.now()).await,
        "number_is_contact",
        "Marie Dupont",
    );
    refused(
        store.add_pendant(add(HOLDER, vec![]), h.now()).await,
        "number_is_holder",
        "PENDANT-3",
    );
    refused(
        store
            .add_pendant(add(PENDANT, vec!["SOS envoyé".into()]), h.now())
            .await,
        "bad_pattern",
        "toujours une alarme",
    );
    let p = store
        .add_pendant(
            add("+33 6 70 00 00 01", vec!["Balise active".into()]),
            h.now(),
        )
        .await
        .expect("registered");
    assert_eq!(p.phone.as_e164(), "+33670000001", "normalised to E.164");
    refused(
        store.add_pendant(add(PENDANT, vec![]), h.now()).await,
        "pendant_taken",
        "retirez-le d'abord",
    );
    refused(
        store
            .add_contact(
                NewContact {
                    shop_id: Some(shop),
                    name: "Jo Petit".into(),
                    phone: PhoneNumber::parse(PENDANT).expect("phone"),
                    relation: Relation::Friend,
                    tier: 1,
                },
                h.now(),
            )
            .await,
        "number_is_pendant",
        "pendentif",
    );
    assert_eq!(store.pendants(Some(shop)).await.expect("list").len(), 1);
}

/// The log gateway (the demo's SMS path) hands the hub a pendant's SMS as
/// an SMSC's `deliver_sm` does: answered `Stored` once committed, the alarm
/// raised with the shop's escalation; a spoofed « annuler » is stored and
/// changes nothing.
#[tokio::test]
async fn a_pendant_sms_handed_in_by_the_log_gateway_raises_an_alarm() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "PENDANT-LOG").await;
    register(&h, shop, &[]).await;
    let phones = h.hub.log_gateway("phones").expect("the log gateway");
    assert_eq!(phones.receive(&e164(PENDANT), "SOS").await, Kept::Stored);
    // Answered after the commit: the row is there already.
    let m = h
        .hub
        .store
        .pendant_messages(None, 10)
        .await
        .expect("messages");
    assert!(m.len() == 1 && m[0].raised, "{m:?}");
    let id = m[0].alarm_id.expect("the alarm it raised");
    assert_eq!(detail(&h, id).await.alarm.shop_id, shop);
    h.sms_to(MARIE, "ALERTE").await;
    assert_eq!(
        phones.receive(&e164(PENDANT), "annuler").await,
        Kept::Stored
    );
    let m = stored(&h, 2).await;
    assert_eq!(m[0].meaning, "cancel_or_answer", "{m:?}");
    untouched(&detail(&h, id).await);
}
