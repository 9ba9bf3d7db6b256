//! `vigie serve` stopping by SIGTERM, and on a disk that fills up (a small tmpfs): intake answers a
//! specific, documented refusal (503 store_cannot_write, so the box sends
//! its direct SMS at once), readiness says the hub cannot write, and both
//! recover once there is room again. Needs root (to mount the tmpfs), as CI
//! and the test script have.

use crate::hub::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use uuid::Uuid;

/// A small tmpfs, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (the disk-full test needs root)",
            at.display()
        );
        Self(at.to_path_buf())
    }

    /// Write zeros until the disk is full; the file that fills it.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn readiness(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{url}/readyz")).await.expect("readyz");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

#[tokio::test]
async fn a_full_disk_is_refused_specifically_and_intake_comes_back_with_room() {
    let dir = TempDir::new("vigie-diskfull");
    let disk = SmallDisk::mount(&dir.path("disk"), "6m");
    let port = free_port();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         [store]\nsqlite_path = \"{}\"\n{LOG_GATEWAY}",
        disk.0.join("hub.db").display()
    );
    let config = dir.path("vigie.toml");
    std::fs::write(&config, text).expect("config");
    let store = open_store(&config);
    let shop = store
        .add_shop(shop("DF-1", "Tabac du Port", "06 99 88 77 66"), now())
        .await
        .expect("shop");
    police_contact(&store, shop, "Brigade", "04 73 00 00 17").await;
    let hub = HubProcess::start(&dir, &config, port).await;
    let button = Button::enroll(&store, &hub.url, shop).await;
    assert_eq!(button.press(Uuid::now_v7()).await.expect("press").0, 201);
    assert_eq!(readiness(&hub.url).await.0, 200);

    let filler = disk.fill();
    // Presses until the disk refuses one (the first may still fit in the
    // space the database had already taken).
    let refused = eventually("a press refused for the full disk", || async {
        let alarm = Uuid::now_v7();
        let (status, body) = button.press(alarm).await.expect("the hub answers");
        assert!(
            status == 201 || status == 503,
            "{status} {body}\n{}",
            hub.log()
        );
        (status == 503).then_some((alarm, body))
    })
    .await;
    assert_eq!(refused.1["code"], "store_cannot_write", "{}", refused.1);
    let (status, ready) = readiness(&hub.url).await;
    assert_eq!(
        (status, ready["store"].as_str()),
        (503, Some("cannot_write")),
        "{ready}"
    );
    let health = reqwest::get(format!("{}/healthz", hub.url))
        .await
        .expect("healthz");
    assert!(health.status().is_success(), "the process is alive");

    // Room again: the same alarm, sent again by the box, is taken.
    std::fs::remove_file(filler).expect("free the disk");
    let (alarm, _) = refused;
    eventually("the refused alarm taken once there is room", || async {
        let (status, _) = button.press(alarm).await.expect("press");
        (status == 201).then_some(())
    })
    .await;
    eventually("readiness back", || async {
        (readiness(&hub.url).await.0 == 200).then_some(())
    })
    .await;
    assert!(!hub.log().contains("panicked"), "{}", hub.log());
}

/// SIGTERM stops `vigie serve` cleanly (exit 0, what was read finished).
#[tokio::test]
async fn sigterm_stops_the_hub_cleanly() {
    let dir = TempDir::new("vigie-term");
    let port = free_port();
    let config = write_config(&dir, port, LOG_GATEWAY);
    let hub = HubProcess::start(&dir, &config, port).await;
    let log_path = hub.log();
    let status = hub.terminate().await;
    assert!(status.success(), "{status}\n{log_path}");
}
