//! The box as it runs in a shop: `vigie agent` as a child process, its
//! button on standard input, against `vigie serve` as another.
//!
//! - kill -9 of the agent after the press is on disk and before the hub
//!   could have it: after a restart the alarm reaches the hub with the
//!   original press time, and the contact's SMS goes out;
//! - a journal full of garbage: the agent says so, starts, and still raises
//!   a new press;
//! - configurations it cannot run with: refused, with the key or the device
//!   named, and a non-zero exit.

use crate::hub::*;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use vigie_hub::store::Store;

const CONTACT: &str = "+33473000017";
/// Press recorded on disk (`vigie agent` standard output).
const DURABLE: &str = "appui enregistré";
/// The hub confirmed the alarm.
const IN_HAND: &str = "alarm in hand: ";
/// Presses older than this reach the hub flagged late (`vigie_core::alarm`).
const LATE_PRESS_MS_MIN: i64 = 30_000;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The box's configuration: button on standard input, and a direct-SMS
/// delay far away (there is no modem: only the hub alerts anyone).
fn agent_config(dir: &TempDir) -> PathBuf {
    let path = dir.path("agent.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = \"{}\"\n[button]\nkind = \"stdin\"\n[timing]\ndirect_sms_delay_ms = 600000\n",
            dir.path("box").display()
        ),
    )
    .expect("write the agent's config");
    path
}

/// A shop with one consented contact (police: approved at once), and the
/// box enrolled for it with `vigie agent enroll`.
async fn enrolled_box(store: &Store, hub: &HubProcess, agent_config: &Path) {
    let shop_id = store
        .add_shop(shop("BOX-P1", "Tabac du Centre", "06 99 88 77 66"), now())
        .await
        .expect("shop");
    police_contact(store, shop_id, "Gendarmerie", CONTACT).await;
    let code = store
        .new_enrolment_code(shop_id, now())
        .await
        .expect("enrolment code");
    let out = vigie(&[
        "agent",
        "--config",
        agent_config.to_str().expect("utf-8 path"),
        "enroll",
        "--hub",
        &hub.url,
        "--code",
        &code,
    ])
    .await;
    assert!(
        out.status.success(),
        "enrolment failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("1 contact(s)"),
        "{}",
        text(&out.stdout)
    );
}

/// The alarms the box's journal holds, as (alarm id, press time in ms).
fn journaled_alarms(state_dir: &Path) -> Vec<(Uuid, i64)> {
    let journal =
        std::fs::read_to_string(state_dir.join("outbox/journal")).expect("the outbox journal");
    journal
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(_, json)| serde_json::from_str::<serde_json::Value>(json).ok())
        .filter(|r| r["op"] == "put" && r["item"]["kind"] == "alarm")
        .map(|r| {
            let id = r["item"]["alarm_id"].as_str().expect("alarm id");
            (
                Uuid::parse_str(id).expect("uuid"),
                r["item"]["pressed_at_ms"].as_i64().expect("press time"),
            )
        })
        .collect()
}

/// Wait until the hub has handed the alarm's SMS to the contact's gateway.
async fn alert_sent(store: &Store, alarm_id: Uuid) {
    eventually("the contact's alarm SMS handed to the gateway", || async {
        let d = store.alarm(alarm_id).await.ok()?;
        d.notifications
            .iter()
            .any(|n| {
                n.purpose == "alert"
                    && n.phone == CONTACT
                    && (n.state == "submitted" || n.state == "delivered")
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn kill_9_of_the_agent_after_the_press_the_alarm_arrives_after_restart() {
    let dir = TempDir::new("vigie-box-kill");
    let port = free_port();
    let config = write_config(&dir, port, LOG_GATEWAY);
    let store = open_store(&config);
    let hub = HubProcess::start(&dir, &config, port).await;
    let agent_config = agent_config(&dir);
    enrolled_box(&store, &hub, &agent_config).await;

    // The hub goes away (database and port kept); the holder presses.
    hub.kill9().await;
    let mut agent = AgentProcess::start(&dir, &agent_config);
    let before = now().as_ms();
    agent.button("p").await;
    agent.line(DURABLE, DEADLINE).await;
    let after = now().as_ms();
    // Killed before any upload could succeed: there is no hub to take it.
    agent.kill9().await;
    let journaled = journaled_alarms(&dir.path("box"));
    let [(alarm_id, pressed_at_ms)] = journaled[..] else {
        panic!("one alarm in the journal: {journaled:?}");
    };
    assert!(
        (before..=after).contains(&pressed_at_ms),
        "the press is stamped when it was made: {pressed_at_ms} not in {before}..={after}"
    );
    assert!(
        store.alarm(alarm_id).await.is_err(),
        "the hub cannot have it yet"
    );

    // The hub is back, then the box.
    let _hub = HubProcess::start(&dir, &config, port).await;
    let mut agent = AgentProcess::start(&dir, &agent_config);
    assert_eq!(in_hand(&mut agent).await, alarm_id, "the journaled alarm");
    let received_by = now().as_ms();
    let d = store.alarm(alarm_id).await.expect("the alarm at the hub");
    assert_eq!(
        d.alarm.device_pressed_at.as_ms(),
        pressed_at_ms,
        "delivered with its original press time"
    );
    // The age is the box's send time minus its press time: flagged late
    // only past the threshold, and never more than what really passed.
    let passed = received_by - pressed_at_ms;
    if passed < LATE_PRESS_MS_MIN {
        assert_eq!(d.alarm.age_ms, None, "{passed} ms passed: not late");
    }
    if let Some(age) = d.alarm.age_ms {
        assert!(
            (LATE_PRESS_MS_MIN..=passed).contains(&age),
            "flagged late by {age} ms after {passed} ms"
        );
    }
    alert_sent(&store, alarm_id).await;
    agent.kill9().await;
}

#[tokio::test]
async fn a_garbage_outbox_is_reported_and_a_new_press_still_reaches_the_hub() {
    let dir = TempDir::new("vigie-box-garbage");
    let port = free_port();
    let config = write_config(&dir, port, LOG_GATEWAY);
    let store = open_store(&config);
    let hub = HubProcess::start(&dir, &config, port).await;
    let agent_config = agent_config(&dir);
    enrolled_box(&store, &hub, &agent_config).await;

    // A bad sector, a torn write, a line that is not ours.
    let outbox = dir.path("box").join("outbox");
    std::fs::create_dir_all(&outbox).expect("outbox dir");
    let mut garbage = vec![0xff, 0xfe, 0x00, b'\n'];
    garbage
        .extend_from_slice(b"0badc0de {\"op\":\"put\",\"seq\":1,\"item\":{\"kind\":\"alarm\"}}\n");
    garbage.extend_from_slice(&[0x13; 300]);
    garbage.extend_from_slice(b"\n{\"op\":\"put\",\"seq\":");
    std::fs::write(outbox.join("journal"), &garbage).expect("write garbage");

    let mut agent = AgentProcess::start(&dir, &agent_config);
    eventually("the agent to report the damaged journal", || {
        let log = agent.log();
        async move {
            (log.contains("damaged journal lines") && log.contains("corrupt_lines=4")).then_some(())
        }
    })
    .await;
    agent.button("p").await;
    agent.line(DURABLE, DEADLINE).await;
    let alarm_id = in_hand(&mut agent).await;
    let d = store.alarm(alarm_id).await.expect("the alarm at the hub");
    assert_eq!(d.alarm.age_ms, None, "a fresh press");
    alert_sent(&store, alarm_id).await;
    agent.kill9().await;
    let journal = std::fs::read(outbox.join("journal")).expect("journal");
    let journal =
        String::from_utf8(journal).expect("the journal was rewritten without the garbage");
    assert!(
        journal.lines().all(|l| l
            .split_once(' ')
            .is_some_and(|(_, json)| serde_json::from_str::<serde_json::Value>(json).is_ok())),
        "the journal was rewritten without the garbage:\n{journal}"
    );
    assert_eq!(
        journaled_alarms(&dir.path("box")),
        vec![(alarm_id, d.alarm.device_pressed_at.as_ms())]
    );
    drop(hub);
}

/// `vigie agent --config FILE` with `text` as the configuration.
async fn agent_with(dir: &TempDir, name: &str, text: &str) -> std::process::Output {
    let path = dir.path(name);
    std::fs::write(&path, text).expect("write config");
    vigie(&["agent", "--config", path.to_str().expect("utf-8 path")]).await
}

#[tokio::test]
async fn the_agent_refuses_what_it_cannot_run_with_and_names_it() {
    let dir = TempDir::new("vigie-box-config");
    let state = dir.path("box");
    let direct_only = "[direct_only]\nshop_name = \"Tabac du Centre\"\naddress = \"12 rue de la République\"\ncommune = \"Riom\"\ncontacts = [\"04 73 00 00 17\"]\n";
    let cases = [
        (
            "unknown key at the top",
            format!(
                "state_dir = \"{}\"\nhub_url = \"http://x\"\n",
                state.display()
            ),
            vec!["hub_url"],
        ),
        (
            "a misspelt timing",
            format!(
                "state_dir = \"{}\"\n[timing]\ndirect_sms_delay = 5000\n",
                state.display()
            ),
            vec!["direct_sms_delay"],
        ),
        (
            "a GPIO chip that is not there",
            format!(
                "state_dir = \"{}\"\n[button]\nkind = \"gpio\"\nchip = \"/dev/gpiochip-vigie-absent\"\nline = 17\n{direct_only}",
                state.display()
            ),
            vec!["cannot request line 17", "/dev/gpiochip-vigie-absent"],
        ),
        (
            "an input device that is not there",
            format!(
                "state_dir = \"{}\"\n[button]\nkind = \"evdev\"\ndevice = \"/dev/input/event-vigie-absent\"\nkey_code = 183\n{direct_only}",
                state.display()
            ),
            vec![
                "cannot open the input device",
                "/dev/input/event-vigie-absent",
            ],
        ),
    ];
    for (i, (what, config, named)) in cases.into_iter().enumerate() {
        let out = agent_with(&dir, &format!("agent-{i}.toml"), &config).await;
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted\n{stderr}");
        for n in named {
            assert!(stderr.contains(n), "{what}: {n:?} not named in:\n{stderr}");
        }
    }
}

/// The alarm the hub confirmed, as `vigie agent` prints it.
async fn in_hand(agent: &mut AgentProcess) -> Uuid {
    let line = agent.line(IN_HAND, DEADLINE).await;
    let id = line.rsplit(IN_HAND).next().expect("id").trim();
    Uuid::parse_str(id).unwrap_or_else(|e| panic!("{e}: {line}"))
}
