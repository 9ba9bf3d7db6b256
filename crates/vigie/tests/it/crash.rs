//! kill -9 of the hub in the middle of a storm of alarms, then a restart on
//! the same database: every alarm the hub acknowledged reaches all its
//! contacts, and nobody gets the same SMS more than twice.

use crate::hub::*;
use futures::StreamExt as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;
use vigie_testkit::smsc::Smsc;

const SHOPS: usize = 200;
/// The hub is killed once this many alarms were acknowledged with a 2xx.
const ACKED_BEFORE_KILL: usize = 150;
/// Alarms raised at once by the buttons.
const PRESSES_IN_FLIGHT: usize = 8;
/// Slow enough that the SMSC cannot hold every SMS when the hub dies.
const THROTTLE_PER_S: u32 = 20;
/// Per alarm: two police contacts and the holder's confirmation.
const SMS_PER_ALARM: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_storm_loses_no_accepted_alarm_and_duplicates_at_most_once() {
    let smsc = Smsc::start("vigie", "s3cret")
        .await
        .expect("SMSC simulator");
    let dir = TempDir::new("vigie-crash");
    let port = free_port();
    let config = write_config(&dir, port, &smpp_gateway(&smsc, "VIGIE", false));
    let store = open_store(&config);
    let shop_ids = storm_shops(&store, "C", SHOPS).await;

    let hub = HubProcess::start(&dir, &config, port).await;
    let buttons: Vec<Button> = futures::stream::iter(shop_ids.iter())
        .map(|&id| Button::enroll(&store, &hub.url, id))
        .buffered(PRESSES_IN_FLIGHT)
        .collect()
        .await;

    // The storm: every shop presses, through a slow SMSC.
    smsc.configure(serde_json::json!({ "throttle_per_s": THROTTLE_PER_S }))
        .await
        .expect("throttle");
    let acked: Arc<Mutex<Vec<(usize, Uuid)>>> = Arc::default();
    let storm = {
        let acked = acked.clone();
        tokio::spawn(async move {
            futures::stream::iter(buttons.into_iter().enumerate())
                .for_each_concurrent(PRESSES_IN_FLIGHT, |(i, button)| {
                    let acked = acked.clone();
                    async move {
                        let id = Uuid::now_v7();
                        if let Ok((status, _)) = button.press(id).await
                            && (200..300).contains(&status)
                        {
                            acked.lock().expect("lock").push((i, id));
                        }
                    }
                })
                .await;
        })
    };
    eventually("alarms acknowledged before the kill", || {
        let n = acked.lock().expect("lock").len();
        async move { (n >= ACKED_BEFORE_KILL).then_some(()) }
    })
    .await;
    hub.kill9().await;
    storm.abort();
    let _ = storm.await;
    let acked: Vec<(usize, Uuid)> = acked.lock().expect("lock").clone();
    let sent_before_restart = smsc.messages().await.expect("messages").len();
    assert!(
        sent_before_restart < acked.len() * SMS_PER_ALARM,
        "the kill landed mid-storm: {sent_before_restart} SMS out of {} were at the SMSC",
        acked.len() * SMS_PER_ALARM
    );

    // Restart on the same database, SMSC at full speed.
    smsc.configure(serde_json::json!({ "throttle_per_s": null }))
        .await
        .expect("unthrottle");
    let _hub = HubProcess::start(&dir, &config, port).await;
    for &(i, id) in &acked {
        let d = store
            .alarm(id)
            .await
            .expect("an acknowledged alarm survives");
        assert_eq!(d.alarm.shop_id, shop_ids[i]);
        assert!(
            d.events.iter().any(|e| e.kind() == "raised"),
            "alarm {id} has its events: {:?}",
            d.events
        );
        let mut alerted: Vec<String> = d
            .notifications
            .iter()
            .filter(|n| n.purpose == "alert")
            .map(|n| n.phone.clone())
            .collect();
        alerted.sort();
        assert_eq!(
            alerted,
            storm_contacts(i).to_vec(),
            "alarm {id} alerts both contacts"
        );
    }
    drained(&store).await;

    let messages = smsc.messages().await.expect("messages");
    let mut copies: HashMap<(String, String), usize> = HashMap::new();
    for m in &messages {
        *copies.entry((m.to.clone(), m.text.clone())).or_default() += 1;
    }
    eprintln!(
        "crash: {} alarms acknowledged before the kill, {sent_before_restart} SMS at the SMSC then, {} after the restart, {} sent twice",
        acked.len(),
        messages.len(),
        copies.values().filter(|n| **n == 2).count()
    );
    let over: Vec<_> = copies.iter().filter(|(_, n)| **n > 2).collect();
    assert!(
        over.is_empty(),
        "more than one duplicate per crash: {over:?}"
    );
    for &(_, id) in &acked {
        let d = store.alarm(id).await.expect("alarm");
        for n in &d.notifications {
            let key = (digits(&n.phone), n.text.clone());
            assert!(
                copies.get(&key).is_some_and(|c| *c >= 1),
                "alarm {id}: {} never got {:?} ({} SMS at the SMSC)",
                n.phone,
                n.text,
                messages.len()
            );
            assert!(
                n.state == "submitted" || n.state == "delivered",
                "alarm {id}: SMS to {} is {}",
                n.phone,
                n.state
            );
        }
    }
}
