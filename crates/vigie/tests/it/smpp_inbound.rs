//! `vigie serve` and its SMPP link under what an SMSC really does: a kill -9
//! in the middle of a 10,000-message inbound flood loses nothing the hub
//! acknowledged; a bad deliver_sm redelivered after every bind neither
//! drops the link nor holds alarms back; after an SMSC outage under a
//! storm, every alarm's first SMS goes out before any second SMS and before
//! the less urgent ones queued meanwhile.

use crate::hub::*;
use futures::StreamExt as _;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use vigie_core::Timestamp;
use vigie_testkit::smsc::Smsc;

/// The hub's sender: a number, so contacts can reply.
const SENDER: &str = "33700000001";
/// A stranger who floods the hub (no contact has this number).
const FLOODER: &str = "+33690000009";
const FLOOD: usize = 10_000;
/// The hub is killed once this many were acknowledged.
const ACKED_BEFORE_KILL: usize = 1_500;

/// A simulator configured with `smsc_config`, and a hub's files using it.
struct Rig {
    smsc: Smsc,
    dir: TempDir,
    port: u16,
    config: std::path::PathBuf,
    store: vigie_hub::store::Store,
}

async fn rig(prefix: &str, smsc_config: serde_json::Value, sender: &str, replies: bool) -> Rig {
    let smsc = Smsc::start("vigie", "s3cret")
        .await
        .expect("SMSC simulator");
    smsc.configure(smsc_config).await.expect("configure");
    let dir = TempDir::new(prefix);
    let port = free_port();
    let config = write_config(&dir, port, &smpp_gateway(&smsc, sender, replies));
    let store = open_store(&config);
    Rig {
        smsc,
        dir,
        port,
        config,
        store,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_inbound_flood_loses_no_acknowledged_message() {
    // What the hub did not acknowledge, the SMSC delivers again after a bind.
    let redeliver = serde_json::json!({ "redeliver": true });
    let Rig {
        smsc,
        dir,
        port,
        config,
        store,
    } = rig("vigie-flood", redeliver, SENDER, true).await;
    let hub = HubProcess::start(&dir, &config, port).await;
    eventually("the hub bound", || async {
        (!smsc.binds().await.expect("binds").binds.is_empty()).then_some(())
    })
    .await;

    smsc.flood(FLOOD, FLOODER, "flot").await.expect("flood");
    eventually("part of the flood acknowledged", || async {
        let a = smsc.acked().await.expect("acked");
        (a.acked.len() >= ACKED_BEFORE_KILL).then_some(())
    })
    .await;
    hub.kill9().await;
    let before = smsc.acked().await.expect("acked");
    assert!(
        before.acked.len() < FLOOD,
        "the kill landed mid-flood ({} acknowledged)",
        before.acked.len()
    );
    let stored: HashSet<String> = store
        .inbound_texts(FLOODER)
        .await
        .expect("inbound")
        .into_iter()
        .collect();
    let lost: Vec<&String> = before
        .acked
        .iter()
        .filter(|t| !stored.contains(*t))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages are not in the database, e.g. {:?}",
        lost.len(),
        before.acked.len(),
        &lost[..lost.len().min(5)]
    );

    // Restarted, the hub takes what the SMSC delivers again: the whole flood.
    let _hub = HubProcess::start(&dir, &config, port).await;
    let after = eventually("the whole flood acknowledged", || async {
        let a = smsc.acked().await.expect("acked");
        (a.acked.len() == FLOOD).then_some(a)
    })
    .await;
    assert!(after.refused.is_empty(), "{:?}", after.refused);
    let stored: HashSet<String> = store
        .inbound_texts(FLOODER)
        .await
        .expect("inbound")
        .into_iter()
        .collect();
    let missing = (0..FLOOD)
        .filter(|i| !stored.contains(&format!("flot-{i}")))
        .count();
    assert_eq!(missing, 0, "every flood message stored after the restart");
    eprintln!(
        "flood: {} of {FLOOD} acknowledged before the kill, all stored; {} stored rows after the restart",
        before.acked.len(),
        store.inbound_texts(FLOODER).await.expect("inbound").len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deliver_sm_redelivered_after_every_bind_does_not_hold_alarms() {
    let bad = serde_json::json!({ "bad_after_bind": "malformed" });
    let Rig {
        smsc,
        dir,
        port,
        config,
        store,
    } = rig("vigie-badpdu", bad, SENDER, true).await;
    let hub = HubProcess::start(&dir, &config, port).await;
    let centre = store
        .add_shop(shop("B1", "Tabac du Port", "+33699880001"), now())
        .await
        .expect("shop");
    police_contact(&store, centre, "Marie Dupont", "+33611220001").await;
    let button = Button::enroll(&store, &hub.url, centre).await;
    let (status, body) = button.press(Uuid::now_v7()).await.expect("press");
    assert_eq!(status, 201, "{body}");
    eventually("the alert at the SMSC", || async {
        smsc.messages()
            .await
            .expect("messages")
            .iter()
            .any(|m| m.to == digits("+33611220001") && m.text.contains("ALERTE"))
            .then_some(())
    })
    .await;
    let answers = eventually("the bad deliver_sm answered", || async {
        let a = smsc.answers().await.expect("answers");
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(answers[0].status, 0x65, "ESME_RX_P_APPN: {answers:?}");
    // A reply after it still gets through the same link.
    smsc.reply("+33611220001", SENDER, "1")
        .await
        .expect("reply");
    eventually("the reply stored", || async {
        (!store
            .inbound_texts("+33611220001")
            .await
            .expect("inbound")
            .is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(
        smsc.binds().await.expect("binds").binds.len(),
        1,
        "one bind: the bad PDU did not drop the link\n{}",
        hub.log()
    );
}

const STORM_SHOPS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_smsc_outage_every_first_sms_goes_before_any_second() {
    // No max_per_s: as fast as the SMSC takes them once it is back.
    let Rig {
        smsc,
        dir,
        port,
        config,
        store,
    } = rig("vigie-outage", serde_json::json!({}), "VIGIE", false).await;
    let shop_ids = storm_shops(&store, "O", STORM_SHOPS).await;
    let hub = HubProcess::start(&dir, &config, port).await;
    let buttons: Vec<Button> = futures::stream::iter(shop_ids.iter())
        .map(|&id| Button::enroll(&store, &hub.url, id))
        .buffered(8)
        .collect()
        .await;

    // The SMSC goes down, then every shop presses.
    smsc.set_down(true).await.expect("down");
    let ids: Vec<Uuid> = futures::stream::iter(buttons.iter())
        .map(|button| async move {
            let id = Uuid::now_v7();
            let (status, body) = button.press(id).await.expect("press");
            assert_eq!(status, 201, "{body}");
            id
        })
        .buffered(8)
        .collect()
        .await;
    // The outage lasts until the hub has tried the head of its queue again
    // and again (the state in which retries used to fall out of order).
    eventually("the hub retrying through the outage", || async {
        let pending = store
            .pending_notifications(Timestamp(i64::MAX), 1_000)
            .await
            .expect("pending");
        pending.iter().any(|n| n.tries >= 5).then_some(())
    })
    .await;
    assert!(smsc.messages().await.expect("messages").is_empty());
    smsc.set_down(false).await.expect("up");

    let expected = STORM_SHOPS * 3;
    let messages = eventually("every SMS of the storm at the SMSC", || async {
        let m = smsc.messages().await.expect("messages");
        (m.len() >= expected).then_some(m)
    })
    .await;
    // Each SMS's priority, from the store.
    let mut priority: HashMap<(String, String), u8> = HashMap::new();
    for &id in &ids {
        for n in store.alarm(id).await.expect("alarm").notifications {
            priority.insert((digits(&n.phone), n.text.clone()), n.priority);
        }
    }
    let order: Vec<u8> = messages
        .iter()
        .map(|m| {
            *priority
                .get(&(m.to.clone(), m.text.clone()))
                .unwrap_or_else(|| panic!("an SMS of the storm: {m:?}"))
        })
        .collect();
    let firsts = order.iter().filter(|p| **p == 0).count();
    assert_eq!(firsts, STORM_SHOPS, "one first SMS per alarm: {order:?}");
    let last_first = order.iter().rposition(|p| *p == 0).expect("a first SMS");
    let first_other = order.iter().position(|p| *p != 0).expect("other SMS");
    assert!(
        last_first < first_other,
        "every alarm's first SMS before any other after the outage (priorities in arrival order: {order:?})"
    );
    let binds = smsc.binds().await.expect("binds");
    let up = binds.up_at_ms.expect("the outage ended");
    let bound = binds.binds.last().expect("bound again").at_ms;
    eprintln!(
        "outage: bound again {:.0} ms after the SMSC came back; first SMS {:.0} ms after, last first SMS {:.0} ms after, all {expected} SMS {:.0} ms after",
        bound - up,
        messages[0].at_ms - up,
        messages[last_first].at_ms - up,
        messages[expected - 1].at_ms - up
    );
}
