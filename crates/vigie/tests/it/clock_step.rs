//! `vigie serve` with its wall clock stepped by libfaketime (Debian
//! `faketime`) while it runs and while it is stopped: escalation keeps its
//! rhythm on the time that really passes. The monotonic clock is left
//! alone (`FAKETIME_DONT_FAKE_MONOTONIC`), as NTP leaves it.

use crate::hub::*;
use std::path::PathBuf;
use uuid::Uuid;
use vigie_core::PhoneNumber;
use vigie_hub::store::{NewContact, Relation, StepSeen, Store};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// Tier 2 comes this long after tier 1; long enough that "not yet" can
/// be checked right after a step on a loaded machine.
const TIER_TIMEOUT_S: i64 = 8;
/// How far the step the hub records may be from the one the test made. The
/// hub measures it as the wall clock's lead over its monotonic clock, so it
/// also holds what the machine's own clock did meanwhile and any pause
/// between reading the two clocks on a loaded machine (2.5 s seen once in
/// CI); a hub that missed the step records none, and a step of an hour
/// stays told apart from one of its direction reversed.
const STEP_SEEN_TOLERANCE_MS: i64 = 10_000;

/// The file libfaketime reads at every clock read: the wall clock's offset.
struct FakeClock(PathBuf);

impl FakeClock {
    fn new(dir: &TempDir) -> Self {
        assert!(
            std::path::Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} missing: apt-get install faketime"
        );
        let f = Self(dir.path("faketime"));
        f.set("+0");
        f
    }
    fn set(&self, offset: &str) {
        std::fs::write(&self.0, format!("{offset}\n")).expect("faketime file");
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", LIBFAKETIME.to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.0.display().to_string()),
            ("FAKETIME_NO_CACHE", "1".to_string()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }
}

async fn two_tier_shop(store: &Store, reference: &str) -> i64 {
    let shop_id = store
        .add_shop(shop(reference, "Tabac de la Gare", "06 99 88 77 66"), now())
        .await
        .expect("shop");
    for (tier, name, phone) in [
        (1, "Brigade de Riom", "04 73 00 00 17"),
        (2, "Desk Région", "04 72 00 00 18"),
    ] {
        store
            .add_contact(
                NewContact {
                    shop_id: Some(shop_id),
                    name: name.into(),
                    phone: PhoneNumber::parse(phone).expect("phone"),
                    relation: Relation::Police,
                    tier,
                },
                now(),
            )
            .await
            .expect("contact");
    }
    shop_id
}

fn config(dir: &TempDir, port: u16) -> PathBuf {
    let store = vigie_testkit::store::toml(&dir.0, "hub.db").expect("the test store");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         {store}\
         [escalation]\ntier_timeout_s = {TIER_TIMEOUT_S}\nrepeat = false\n{LOG_GATEWAY}"
    );
    let path = dir.path("vigie.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// The escalation steps logged for `alarm`, and whether it is exhausted.
async fn steps(store: &Store, alarm: Uuid) -> (Vec<u64>, bool) {
    let d = store.alarm(alarm).await.expect("alarm");
    let steps = d
        .events
        .iter()
        .filter(|e| e.kind() == "escalated")
        .filter_map(|e| e.detail()["step"].as_u64())
        .collect();
    (steps, d.alarm.exhausted)
}

async fn wait_steps(store: &Store, alarm: Uuid, n: usize) {
    eventually(&format!("{n} escalation steps of {alarm}"), || async {
        let (s, exhausted) = steps(store, alarm).await;
        assert!(!exhausted || s.len() >= 2, "exhausted before tier 2: {s:?}");
        (s.len() >= n).then_some(())
    })
    .await;
}

async fn wait_clock_step(store: &Store, seen: StepSeen, delta_ms: i64, count: usize) {
    eventually(
        &format!("{count} clock steps, the last {delta_ms} ms"),
        || async {
            let all = store
                .clock_steps(vigie_core::Timestamp(0))
                .await
                .expect("clock steps");
            let ok = all.len() >= count
                && all[0].seen == seen
                && (all[0].delta_ms - delta_ms).abs() < STEP_SEEN_TOLERANCE_MS;
            ok.then_some(())
        },
    )
    .await;
}

/// Press, step the clock by `offset` (libfaketime syntax) just after tier 1,
/// and check tier 2 neither comes at once nor waits for the step.
async fn step_after_tier_one(
    hub: &HubProcess,
    store: &Store,
    button: &Button,
    fake: &FakeClock,
    offset: &str,
    delta_ms: i64,
    steps_before: usize,
) {
    let alarm = Uuid::now_v7();
    let (status, body) = button.press(alarm).await.expect("hub reachable");
    assert_eq!(status, 201, "{body}\n{}", hub.log());
    wait_steps(store, alarm, 1).await;
    fake.set(offset);
    wait_clock_step(store, StepSeen::Running, delta_ms, steps_before + 1).await;
    let (s, exhausted) = steps(store, alarm).await;
    assert_eq!(
        (s, exhausted),
        (vec![0], false),
        "right after the step: tier 1 only\n{}",
        hub.log()
    );
    // Tier 2 after the tier timeout of real time (an hour's stall would
    // miss the deadline of `eventually`).
    wait_steps(store, alarm, 2).await;
    assert!(
        !steps(store, alarm).await.1,
        "tier 2 reached, not exhausted"
    );
}

#[tokio::test]
async fn a_running_hub_keeps_the_escalation_rhythm_when_its_clock_steps_either_way() {
    let dir = TempDir::new("vigie-clock");
    let port = free_port();
    let config = config(&dir, port);
    let store = open_store(&config);
    let shop = two_tier_shop(&store, "CLK-1").await;
    let fake = FakeClock::new(&dir);
    let hub = HubProcess::start_with_env(&dir, &config, port, &fake.env()).await;
    let button = Button::enroll(&store, &hub.url, shop).await;

    step_after_tier_one(&hub, &store, &button, &fake, "+1h", 3_600_000, 0).await;
    // Back to the boxes' time (a step back, adopted), then a step back.
    fake.set("+0");
    wait_clock_step(&store, StepSeen::Running, -3_600_000, 2).await;
    step_after_tier_one(&hub, &store, &button, &fake, "-1h", -3_600_000, 2).await;
    let log = hub.log();
    assert!(log.contains("the system clock stepped"), "{log}");
}

#[tokio::test]
async fn a_step_while_the_hub_was_stopped_is_caught_at_start() {
    let dir = TempDir::new("vigie-clock");
    let port = free_port();
    let config = config(&dir, port);
    let store = open_store(&config);
    let shop = two_tier_shop(&store, "CLK-2").await;
    let fake = FakeClock::new(&dir);
    let hub = HubProcess::start_with_env(&dir, &config, port, &fake.env()).await;
    let button = Button::enroll(&store, &hub.url, shop).await;
    let alarm = Uuid::now_v7();
    assert_eq!(button.press(alarm).await.expect("press").0, 201);
    wait_steps(&store, alarm, 1).await;
    hub.kill9().await;

    // The machine's clock jumps a day ahead while the hub is down.
    fake.set("+1d");
    let hub = HubProcess::start_with_env(&dir, &config, port, &fake.env()).await;
    wait_clock_step(&store, StepSeen::AtStart, 86_400_000, 1).await;
    let (s, exhausted) = steps(&store, alarm).await;
    assert_eq!((s, exhausted), (vec![0], false), "{}", hub.log());
    wait_steps(&store, alarm, 2).await;
    let log = hub.log();
    assert!(log.contains("while the hub was stopped"), "{log}");
}
