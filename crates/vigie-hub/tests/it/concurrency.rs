//! Two hubs writing the same alarm at once: answers through links and by
//! SMS, cancels, and custody events on its recording, half through each
//! hub's store. On PostgreSQL the writes run at SERIALIZABLE and run again
//! after a conflict; on SQLite the two writers take turns on the file. The
//! invariants hold either way.

use crate::helpers::*;
use uuid::Uuid;
use vigie_core::{Answer, PhoneNumber};
use vigie_evidence::custody::Action;
use vigie_hub::store::{Store, StoreError};
use vigie_proto::CancelAlarm;

/// Writes of each kind sent at once, split over the two stores.
const WRITES_PER_KIND: usize = 24;

const CHLOE: &str = "06 22 33 44 55";
const LUC: &str = "06 33 44 55 66";

fn refused_or_ok<T>(r: Result<T, StoreError>) -> Result<(), String> {
    match r {
        Ok(_) | Err(StoreError::Refused { .. }) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn two_hubs_writing_one_alarm_at_once_keep_every_invariant() {
    let h = spawn_hub("").await;
    let phones = [MARIE, AHMED, CHLOE, LUC];
    let shop = h
        .seed_shop(
            "C1",
            HOLDER,
            &[
                (1, "Marie Dupont", MARIE),
                (1, "Ahmed Benali", AHMED),
                (1, "Chloé Martin", CHLOE),
                (1, "Luc Bernard", LUC),
            ],
        )
        .await;
    let dev = h.enroll(shop).await;
    let recording = crate::vault::record_one(&h, &dev, 2).await;
    let alarm = Uuid::now_v7();
    assert_eq!(h.press(&dev, alarm).await.0, 201);
    let detail = h.hub.store.alarm(alarm).await.expect("alarm");
    let tokens: Vec<String> = detail
        .notifications
        .iter()
        .filter(|n| n.purpose == "alert")
        .map(|n| link_token(&n.text))
        .collect();
    assert_eq!(tokens.len(), 4, "one alert per contact");

    let stores = [h.hub.store.clone(), h.second_store()];
    let now = h.now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..WRITES_PER_KIND {
        let store: Store = stores[i % 2].clone();
        let token = tokens[i % tokens.len()].clone();
        let answer = if i % 3 == 0 {
            Answer::Unavailable
        } else {
            Answer::Coming
        };
        tasks.spawn(async move { refused_or_ok(store.answer_by_token(&token, answer, now).await) });
        let store: Store = stores[(i + 1) % 2].clone();
        let phone = PhoneNumber::parse(phones[i % phones.len()]).expect("phone");
        tasks.spawn(async move {
            refused_or_ok(
                store
                    .handle_reply("phones", phone.as_e164(), "1", now)
                    .await,
            )
        });
        let store: Store = stores[i % 2].clone();
        let device = dev.id.clone();
        let cancel = CancelAlarm {
            cancel_pressed_at_ms: now.as_ms(),
            sent_at_ms: now.as_ms(),
        };
        tasks.spawn(
            async move { refused_or_ok(store.cancel_alarm(&device, alarm, cancel, now).await) },
        );
        let store: Store = stores[(i + 1) % 2].clone();
        tasks.spawn(async move {
            refused_or_ok(
                store
                    .custody(recording, "enqueteur", Action::Listen, "enquête", now)
                    .await,
            )
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task")
            .expect("no write fails other than by a refusal");
    }

    let conflicts = stores[0].write_conflicts() + stores[1].write_conflicts();
    eprintln!("writes run again after a conflict: {conflicts}");
    let detail = h.hub.store.alarm(alarm).await.expect("alarm");
    // One acknowledgement and one cancel at most, whoever got there first
    // (the holder may still cancel an acknowledged alarm in the window).
    let count = |kind: &str| detail.events.iter().filter(|e| e.kind() == kind).count();
    assert!(count("acknowledged") <= 1, "{:?}", detail.events);
    assert_eq!(count("cancelled"), 1, "{:?}", detail.events);
    assert!(count("answered") >= 1, "{:?}", detail.events);
    // At most one cancel notice per contact, and no answer recorded twice in a row.
    for phone in phones {
        let e164 = PhoneNumber::parse(phone)
            .expect("phone")
            .as_e164()
            .to_string();
        let notices = detail
            .notifications
            .iter()
            .filter(|n| n.purpose == "cancel" && n.phone == e164)
            .count();
        assert!(notices <= 1, "{phone}: {notices} cancel notices");
    }
    let mut last_answer: std::collections::HashMap<i64, String> = Default::default();
    for a in &detail.answers {
        let previous = last_answer.insert(a.contact_id, a.answer.as_str().to_string());
        assert_ne!(
            previous.as_deref(),
            Some(a.answer.as_str()),
            "{:?}",
            detail.answers
        );
    }
    // The evidence log: every index once, none missing.
    let entries = h.hub.store.recording_entries(recording).await.expect("log");
    let listens = entries.iter().filter(|e| e.kind == "custody").count();
    assert_eq!(listens, WRITES_PER_KIND, "every custody event logged once");
    let last = entries.iter().map(|e| e.idx).max().expect("entries");
    let leaves = h.hub.store.log_leaves(last + 1).await.expect("leaves");
    assert_eq!(
        leaves.len() as u64,
        last + 1,
        "indices 0..{last} without gaps"
    );
    let mut idx: Vec<u64> = entries.iter().map(|e| e.idx).collect();
    idx.dedup();
    assert_eq!(idx.len(), entries.len(), "no index twice");
}

/// Writes committed together keep each other's outcome apart: a write
/// whose statement failed and which went on as if nothing happened is
/// reported failed (PostgreSQL ignores everything after an error in a
/// transaction and answers COMMIT with a silent rollback), and the writes
/// of its batch before and after it are kept. The writer is held by a
/// first write until the three are queued, so they share one batch.
#[tokio::test]
async fn a_write_that_hides_a_failed_statement_fails_alone_and_its_batch_is_kept() {
    use std::sync::{Arc, Condvar, Mutex};
    use vigie_hub::store::db::Db;
    use vigie_hub::store::tx::{Tx, Value};
    let dir = TempDir::new("vigie-batch");
    let db = Arc::new(
        match store_location(&dir.0, "hub.db") {
            vigie_hub::store::Location::Sqlite(path) => Db::open_sqlite(&path),
            vigie_hub::store::Location::Postgres(url) => Db::open_postgres(&url),
        }
        .expect("store"),
    );
    let event = |kind: &'static str| {
        move |c: &dyn Tx| {
            c.execute_later(
                "INSERT INTO events (alarm_id, at, kind, detail) VALUES (NULL, 1, ?1, '{}')",
                &[Value::Text(kind.into())],
            )?;
            Ok(())
        }
    };
    // Held until the test has queued the three writes.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let held = {
        let db = db.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            db.write(move |_c: &dyn Tx| {
                let (open, turned) = &*gate;
                let mut open = open.lock().expect("gate");
                while !*open {
                    open = turned.wait(open).expect("gate");
                }
                Ok(())
            })
            .await
        })
    };
    let (queued_tx, mut queued_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    type Write = Box<dyn Fn(&dyn Tx) -> Result<(), vigie_hub::store::StoreError> + Send>;
    let queue = |f: Write| {
        let db = db.clone();
        let queued = queued_tx.clone();
        tokio::spawn(async move {
            db.write_then(f, move || {
                let _ = queued.send(());
            })
            .await
        })
    };
    // Queued while the writer is held (inside the first write, or about
    // to take it with them): the three run in one batch either way.
    let before = queue(Box::new(event("batch_before")));
    let hiding = queue(Box::new(|c: &dyn Tx| {
        // A statement the database refuses, its error thrown away.
        let _ = c.execute("INSERT INTO no_such_table (x) VALUES (1)", &[]);
        c.execute_later(
            "INSERT INTO events (alarm_id, at, kind, detail) VALUES (NULL, 1, 'batch_hiding', '{}')",
            &[],
        )
        .or(Ok(()))
    }));
    let after = queue(Box::new(event("batch_after")));
    for _ in 0..3 {
        queued_rx.recv().await.expect("queued");
    }
    {
        let (open, turned) = &*gate;
        *open.lock().expect("gate") = true;
        turned.notify_all();
    }
    held.await.expect("task").expect("the holding write");
    before
        .await
        .expect("task")
        .expect("the write before is kept");
    after.await.expect("task").expect("the write after is kept");
    let hidden = hiding.await.expect("task");
    let kinds: Vec<String> = db
        .read(|c| {
            c.query(
                "SELECT kind FROM events WHERE kind LIKE 'batch_%' ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| r.get::<String>(0))
            .collect()
        })
        .await
        .expect("read");
    match db.dialect() {
        // PostgreSQL: the transaction was aborted by the refused statement;
        // the write cannot have kept anything, and says so.
        vigie_hub::store::tx::Dialect::Postgres => {
            assert!(hidden.is_err(), "{hidden:?}");
            assert_eq!(kinds, ["batch_before", "batch_after"]);
        }
        // SQLite: a refused statement leaves the transaction usable, so
        // the write goes on and is kept.
        vigie_hub::store::tx::Dialect::Sqlite => {
            assert!(hidden.is_ok(), "{hidden:?}");
            assert_eq!(kinds, ["batch_before", "batch_hiding", "batch_after"]);
        }
    }
}
