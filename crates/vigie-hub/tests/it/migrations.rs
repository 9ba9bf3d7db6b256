//! The store's schema on both backends, a database written before
//! migrations were numbered, and a Region moved from SQLite to PostgreSQL
//! and back. These tests use both backends whichever one the pass runs on.

use crate::helpers::TempDir;
use vigie_hub::store::copy::copy_store;
use vigie_hub::store::{Location, Rules, Store, StoreError};

/// A hub's database written by the version before numbered migrations
/// (commit 2d66e10, the demo scenario): 12 shops, 5 contacts, 2 boxes,
/// 3 alarms (open, cancelled, resolved), one recording with its log.
const FIXTURE: &[u8] = include_bytes!("../fixtures/store-2d66e10.db");

fn postgres_store() -> Store {
    postgres_store_at().0
}

/// A store on a fresh PostgreSQL database, and the database's URL.
fn postgres_store_at() -> (Store, String) {
    let url = vigie_testkit::postgres::fresh_database().expect("a PostgreSQL database");
    let store =
        Store::open(&Location::Postgres(url.clone()), Rules::default()).expect("PostgreSQL store");
    (store, url)
}

fn fixture_store(dir: &TempDir) -> Store {
    let path = dir.0.join("old.db");
    std::fs::write(&path, FIXTURE).expect("copy the fixture");
    Store::open_sqlite(&path, Rules::default()).expect("the old database opens")
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let dir = TempDir::new("vigie-schema");
    let sqlite = Store::open_sqlite(&dir.0.join("new.db"), Rules::default()).expect("SQLite store");
    let postgres = postgres_store();
    let a = sqlite.schema().await.expect("SQLite schema");
    let b = postgres.schema().await.expect("PostgreSQL schema");
    assert!(a.len() > 150, "every column of every table: {}", a.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "table {}, column {}", x.0, x.1);
    }
    assert_eq!(a.len(), b.len());
}

#[tokio::test]
async fn a_database_from_before_numbered_migrations_opens_with_everything_kept() {
    let dir = TempDir::new("vigie-old-db");
    let store = fixture_store(&dir);
    assert_eq!(store.shops().await.expect("shops").len(), 12);
    assert_eq!(store.contacts(None).await.expect("contacts").len(), 2);
    let devices = store.devices().await.expect("devices");
    assert_eq!(devices.len(), 2);
    for d in &devices {
        let (key, shop, _) = store
            .device_key(&d.id)
            .await
            .expect("read")
            .expect("the box's key is kept");
        assert!(key.len() > 40 && shop == d.shop_id, "{key}");
    }
    let alarms = store.alarms(50).await.expect("alarms");
    let mut states: Vec<&str> = alarms.iter().map(|a| a.state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(states, ["cancelled", "open", "resolved"]);
    let detail = store.alarm(alarms[0].id).await.expect("alarm detail");
    assert!(!detail.events.is_empty(), "events kept");
    let recordings = store.recordings().await.expect("recordings");
    assert_eq!(recordings.len(), 1);
    assert!(
        !store
            .recording_entries(recordings[0].id)
            .await
            .expect("log")
            .is_empty(),
        "the recording's evidence log is kept"
    );
    assert_eq!(store.checkpoints().await.expect("checkpoints").len(), 1);
    // Opened again: already numbered, nothing to adopt.
    drop(store);
    let again = Store::open_sqlite(&dir.0.join("old.db"), Rules::default()).expect("reopens");
    assert_eq!(again.shops().await.expect("shops").len(), 12);
}

#[tokio::test]
async fn a_region_moves_to_postgres_and_back_and_every_table_verifies() {
    let dir = TempDir::new("vigie-move");
    let old = fixture_store(&dir);
    let pg = postgres_store();
    let mut told = Vec::new();
    let report = copy_store(&old, &pg, |t| told.push(t.table.clone()))
        .await
        .expect("copy to PostgreSQL");
    assert_eq!(told.len(), report.len(), "progress for every table");
    assert!(report.iter().all(|t| t.verified), "{report:#?}");
    let rows = |name: &str| report.iter().find(|t| t.table == name).expect(name).rows;
    assert_eq!(rows("shops"), 12);
    assert_eq!(rows("alarms"), 3);
    assert_eq!(rows("log_entries"), 7);
    // What the hub reads is the same on the copy.
    assert_eq!(
        format!("{:?}", pg.shops().await.expect("shops")),
        format!("{:?}", old.shops().await.expect("shops"))
    );
    assert_eq!(
        pg.recordings().await.expect("recordings").len(),
        old.recordings().await.expect("recordings").len()
    );

    // And back to a new SQLite file: every table as it was at the start.
    let back = Store::open_sqlite(&dir.0.join("back.db"), Rules::default()).expect("SQLite");
    let returned = copy_store(&pg, &back, |_| {}).await.expect("copy back");
    assert_eq!(returned.len(), report.len());
    for (there, home) in report.iter().zip(&returned) {
        assert!(home.verified, "{home:?}");
        assert_eq!(
            there.digest, home.digest,
            "table {} came back unchanged",
            there.table
        );
    }

    // New rows get new ids after the copied ones.
    let before = pg.shops().await.expect("shops").iter().map(|s| s.id).max();
    let added = pg
        .add_shop(
            crate::helpers::shop("MOVED-1", crate::helpers::HOLDER),
            vigie_core::Timestamp(1_795_699_920_000),
        )
        .await
        .expect("a new shop on the copy");
    assert!(Some(added) > before, "{added} after {before:?}");

    // A second copy into a store that holds data is refused, naming it.
    let e = copy_store(&old, &pg, |_| {}).await.expect_err("not empty");
    assert!(
        matches!(&e, StoreError::Refused { code: "target_not_empty", message } if message.contains("shops")),
        "{e}"
    );
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_an_error_naming_its_table_and_column() {
    let dir = TempDir::new("vigie-corrupt");
    let source = fixture_store(&dir);
    let (pg, url) = postgres_store_at();
    copy_store(&source, &pg, |_| {}).await.expect("copy");
    drop(source);
    let damage = "UPDATE alarms SET state = 'burning' WHERE state = 'open'";
    {
        let c = rusqlite::Connection::open(dir.0.join("old.db")).expect("open the file");
        c.execute(damage, []).expect("damage the SQLite file");
    }
    vigie_testkit::postgres::psql(&url, &[damage]).expect("damage the PostgreSQL copy");
    let sqlite = Store::open_sqlite(&dir.0.join("old.db"), Rules::default()).expect("opens");
    for (backend, store) in [("SQLite", &sqlite), ("PostgreSQL", &pg)] {
        let e = store
            .alarms(50)
            .await
            .expect_err("a state this version never writes");
        assert!(
            matches!(&e, StoreError::Corrupt { table, column, .. } if table == "alarms" && column == "state"),
            "{backend}: {e}"
        );
        assert!(e.to_string().contains("burning"), "{backend}: {e}");
    }
}
