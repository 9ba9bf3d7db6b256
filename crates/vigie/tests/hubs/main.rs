//! Several `vigie serve` processes on one PostgreSQL database, against the
//! SMSC simulator: an alarm raised on one hub is sent once by the hub that
//! holds the dispatch lease; kill -9 of that hub in the middle of a storm
//! moves dispatch to another hub within the lease time, and every alarm
//! reaches its contacts at most twice; a cancel replayed to another hub is
//! refused; a commit on one hub wakes the others.
//!
//! PostgreSQL only (several processes cannot share an SQLite file as
//! hubs): `cargo test -p vigie --test hubs`, run by scripts/test.sh.

#[allow(dead_code)]
#[path = "../it/hub.rs"]
mod hub;

use futures::StreamExt as _;
use hub::*;
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;
use vigie_core::Timestamp;
use vigie_hub::store::{LeaseRow, Rules, Store};
use vigie_testkit::smsc::Smsc;

/// What a box does with several hubs.
impl Button {
    /// Send the next requests to the hub at `url` (several hubs, one database).
    pub fn via(&mut self, url: &str) {
        self.hub = url.to_string();
    }

    /// Cancel alarm `id` now, signed once and sent to each hub of `urls` in
    /// turn (a replay of the first): each hub's status and answer.
    pub async fn cancel_replayed_to(
        &self,
        id: uuid::Uuid,
        urls: &[&str],
    ) -> Vec<(u16, serde_json::Value)> {
        let t = now().as_ms();
        let body = serde_json::json!({ "cancel_pressed_at_ms": t, "sent_at_ms": t }).to_string();
        let path = format!("/v1/alarms/{id}/cancel");
        let h = self.key.sign(
            &self.id,
            "POST",
            &path,
            body.as_bytes(),
            t / 1_000,
            &vigie_proto::signature::new_nonce(),
        );
        let mut answers = Vec::new();
        for url in urls {
            let resp = self
                .http
                .post(format!("{url}{path}"))
                .header("content-type", "application/json")
                .header("content-digest", &h.content_digest)
                .header("signature-input", &h.signature_input)
                .header("signature", &h.signature)
                .body(body.clone())
                .send()
                .await
                .expect("the hub answers");
            let status = resp.status().as_u16();
            answers.push((status, resp.json().await.unwrap_or(serde_json::Value::Null)));
        }
        answers
    }
}

const HUBS: [&str; 3] = ["hub-a", "hub-b", "hub-c"];
const STORM_SHOPS: usize = 30;
/// Slow enough that the SMSC cannot hold every SMS when the hub dies.
const THROTTLE_PER_S: u32 = 20;
const PRESSES_IN_FLIGHT: usize = 6;

struct Cluster {
    dirs: Vec<TempDir>,
    configs: Vec<std::path::PathBuf>,
    ports: Vec<u16>,
    url: String,
}

impl Cluster {
    /// Three hubs' folders and configurations on one new database.
    fn new(smsc: &Smsc) -> Self {
        let url = vigie_testkit::postgres::fresh_database().expect("a PostgreSQL database");
        let mut c = Cluster {
            dirs: Vec::new(),
            configs: Vec::new(),
            ports: Vec::new(),
            url: url.clone(),
        };
        for name in HUBS {
            let dir = TempDir::new(&format!("vigie-{name}"));
            let port = free_port();
            let text = format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\nhub_id = \"{name}\"\n\
                 [store]\nsqlite_path = \"{}\"\nurl = \"{url}\"\n\
                 [escalation]\ntier_timeout_s = 3600\nrepeat = false\n{}",
                dir.path("hub.db").display(),
                smpp_gateway(smsc, "VIGIE", false)
            );
            let config = dir.path("vigie.toml");
            std::fs::write(&config, text).expect("config");
            c.configs.push(config);
            c.ports.push(port);
            c.dirs.push(dir);
        }
        c
    }

    async fn start(&self, i: usize) -> HubProcess {
        HubProcess::start(&self.dirs[i], &self.configs[i], self.ports[i]).await
    }

    fn store(&self) -> Store {
        Store::open(
            &vigie_hub::store::Location::Postgres(self.url.clone()),
            Rules::default(),
        )
        .expect("the cluster's database")
    }
}

/// `module`'s lease once a hub other than `not` holds it.
async fn lease_held(store: &Store, module: &str, not: Option<&str>) -> LeaseRow {
    eventually(&format!("a hub holding {module}"), || async {
        store.leases().await.expect("leases").into_iter().find(|l| {
            l.module == module
                && Some(l.holder.as_str()) != not
                && l.expires_at.as_ms() > now().as_ms()
        })
    })
    .await
}

/// Copies of each (destination, text) at the SMSC.
async fn copies(smsc: &Smsc) -> HashMap<(String, String), usize> {
    let mut copies = HashMap::new();
    for m in smsc.messages().await.expect("messages") {
        *copies.entry((m.to, m.text)).or_default() += 1;
    }
    copies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hubs_send_once_and_survive_the_dispatcher_s_kill_9() {
    let smsc = Smsc::start("vigie", "s3cret")
        .await
        .expect("SMSC simulator");
    let cluster = Cluster::new(&smsc);
    let store = cluster.store();
    let shop_ids = storm_shops(&store, "H", STORM_SHOPS).await;
    let mut hubs = Vec::new();
    for i in 0..HUBS.len() {
        hubs.push(Some(cluster.start(i).await));
    }
    let urls: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();

    // One alarm raised on a hub that does not dispatch: sent once, by the one that does.
    let dispatching = lease_held(&store, "dispatch", None).await;
    let dispatcher = dispatching.holder.clone();
    let d = HUBS
        .iter()
        .position(|h| *h == dispatcher)
        .expect("a known hub");
    let other = (d + 1) % HUBS.len();
    let mut first = Button::enroll(&store, &urls[other], shop_ids[0]).await;
    first.via(&urls[other]);
    let id = Uuid::now_v7();
    let (status, body) = first.press(id).await.expect("press");
    assert_eq!(status, 201, "{body}");
    drained(&store).await;
    let sent = copies(&smsc).await;
    for phone in storm_contacts(0) {
        let alerts: usize = sent
            .iter()
            .filter(|((to, text), _)| *to == digits(&phone) && text.contains("ALERTE"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(alerts, 1, "one alert to {phone} from three hubs: {sent:?}");
    }

    // A cancel signed once and replayed to another hub is refused there.
    let answers = first
        .cancel_replayed_to(id, &[&urls[other], &urls[d]])
        .await;
    assert_eq!(answers[0].0, 200, "{:?}", answers[0]);
    assert_eq!(answers[1].0, 401, "{:?}", answers[1]);
    assert_eq!(answers[1].1["code"], "replayed_request", "{:?}", answers[1]);

    // A storm through the two hubs that do not dispatch, and the
    // dispatcher killed once part of it is at the SMSC.
    smsc.configure(serde_json::json!({ "throttle_per_s": THROTTLE_PER_S }))
        .await
        .expect("throttle");
    let survivors: Vec<String> = (0..HUBS.len())
        .filter(|&i| i != d)
        .map(|i| urls[i].clone())
        .collect();
    let mut buttons = Vec::new();
    for (i, &shop) in shop_ids.iter().enumerate().skip(1) {
        let mut b = Button::enroll(&store, &survivors[i % 2], shop).await;
        b.via(&survivors[i % 2]);
        buttons.push((i, b));
    }
    let before = smsc.messages().await.expect("messages").len();
    let storm = tokio::spawn(async move {
        futures::stream::iter(buttons)
            .map(|(i, b)| async move {
                let id = Uuid::now_v7();
                let (status, body) = b.press(id).await.expect("press");
                assert_eq!(status, 201, "{body}");
                (i, id)
            })
            .buffer_unordered(PRESSES_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
    });
    eventually("part of the storm at the SMSC", || async {
        (smsc.messages().await.expect("messages").len() >= before + 10).then_some(())
    })
    .await;
    let killed_at = Instant::now();
    hubs[d].take().expect("the dispatcher").kill9().await;
    let next = lease_held(&store, "dispatch", Some(&dispatcher)).await;
    // The figure, not a bound: a lease lasts 5 s, renewed every second.
    eprintln!(
        "dispatch moved from {dispatcher} to {} {:?} after its kill -9",
        next.holder,
        killed_at.elapsed()
    );
    assert_eq!(
        next.token,
        dispatching.token + 1,
        "dispatch changed holder once, from the dead hub to one survivor"
    );
    let raised = storm.await.expect("storm");
    smsc.configure(serde_json::json!({ "throttle_per_s": null }))
        .await
        .expect("unthrottle");
    drained(&store).await;
    let sent = copies(&smsc).await;
    for (i, id) in raised {
        let detail = store.alarm(id).await.expect("alarm");
        for phone in storm_contacts(i) {
            let n = detail
                .notifications
                .iter()
                .find(|n| n.purpose == "alert" && n.phone == phone)
                .unwrap_or_else(|| panic!("an alert to {phone}: {:?}", detail.notifications));
            assert!(
                matches!(n.state.as_str(), "submitted" | "delivered"),
                "{n:?}"
            );
            let c = sent
                .get(&(digits(&phone), n.text.clone()))
                .copied()
                .unwrap_or(0);
            assert!((1..=2).contains(&c), "{phone}: {c} copies of {:?}", n.text);
        }
    }
}

#[tokio::test]
async fn a_commit_on_one_hub_wakes_the_others() {
    let url = vigie_testkit::postgres::fresh_database().expect("a PostgreSQL database");
    let open = || {
        Store::open(
            &vigie_hub::store::Location::Postgres(url.clone()),
            Rules::default(),
        )
        .expect("store")
    };
    let (a, b) = (open(), open());
    b.listen_for_other_hubs().expect("b listens");
    let mut woken = b.foreign_commits();
    // Once b listens (its first wake-up, a full re-read), a's commit is
    // the only thing that can wake it.
    tokio::time::timeout(DEADLINE, woken.wait_for(|&n| n >= 1))
        .await
        .expect("hub b listening")
        .expect("b's store open");
    woken.borrow_and_update();
    a.hold_leases(
        &[vigie_hub::store::Module::Vault],
        "hub-a",
        now(),
        Timestamp(now().as_ms() + 5_000),
    )
    .await
    .expect("a write on hub a");
    tokio::time::timeout(DEADLINE, woken.changed())
        .await
        .expect("hub b told of hub a's commit")
        .expect("b's store open");
}
