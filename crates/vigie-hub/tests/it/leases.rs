//! Module leases and the TOTP step: what several hubs on one database
//! share. Two stores on one database stand for two hubs.

use crate::helpers::*;
use vigie_core::Timestamp;
use vigie_hub::store::{Module, NewAccount, Role, Rules, Store};
use vigie_testkit::postgres::Backend;

/// Two stores on one new database, no hub running: two hubs' views.
fn two_stores() -> (TempDir, Store, Store) {
    let dir = TempDir::new("vigie-leases");
    let open = || Store::open(&store_location(&dir.0, "hub.db"), Rules::default()).expect("store");
    let (a, b) = (open(), open());
    (dir, a, b)
}

/// One module's lease taken or renewed by `hub` at `now` until `until`.
async fn hold(
    store: &Store,
    m: Module,
    hub: &str,
    now: Timestamp,
    until: Timestamp,
) -> Option<i64> {
    let tokens = store
        .hold_leases(&[m], hub, now, until)
        .await
        .expect("hold");
    assert_eq!(tokens.len(), 1);
    tokens[0]
}

fn ms(t: i64) -> Timestamp {
    Timestamp(T0.as_ms() + t)
}

#[tokio::test]
async fn a_running_hub_holds_every_module() {
    let h = spawn_hub("").await;
    let leases = h.hub.store.leases().await.expect("leases");
    let modules: Vec<&str> = leases.iter().map(|l| l.module.as_str()).collect();
    assert_eq!(modules, ["dispatch", "escalation", "supervision", "vault"]);
    let holder = h.hub.engine.leases().hub().to_string();
    assert!(leases.iter().all(|l| l.holder == holder), "{leases:?}");
    for m in Module::ALL {
        assert!(h.hub.engine.leases().holds(m), "{m:?}");
    }
}

#[tokio::test]
async fn a_lease_moves_only_once_it_expired_or_was_given_up() {
    let (_dir, a, b) = two_stores();
    let m = Module::Escalation;
    let first = hold(&a, m, "hub-a", ms(0), ms(5_000)).await;
    match Backend::from_env().expect("backend") {
        // The one SQLite hub takes a lease whatever its expiry: a hub
        // restarted after a crash does not wait for its own old lease.
        Backend::Sqlite => {
            let taken = hold(&b, m, "hub-b", ms(1), ms(5_001)).await;
            assert!(taken.is_some() && taken > first, "{first:?} {taken:?}");
        }
        Backend::Postgres => {
            let t1 = first.expect("an expired lease is taken");
            // One write for several modules: each answered on its own.
            let both = b
                .hold_leases(&[m, Module::Dispatch], "hub-b", ms(1_000), ms(6_000))
                .await
                .expect("b");
            assert!(
                both[0].is_none() && both[1].is_some(),
                "escalation held by hub-a until it expires, dispatch free: {both:?}"
            );
            assert_eq!(
                hold(&a, m, "hub-a", ms(1_000), ms(6_000)).await,
                Some(t1),
                "a renewal keeps the token"
            );
            assert_eq!(
                hold(&b, m, "hub-b", ms(5_999), ms(10_999)).await,
                None,
                "renewed: still hub-a's"
            );
            let t2 = hold(&b, m, "hub-b", ms(6_001), ms(11_001))
                .await
                .expect("expired: hub-b takes it");
            assert_eq!(t2, t1 + 1, "a new holder, a new token");
            assert_eq!(
                hold(&a, m, "hub-a", ms(6_002), ms(11_002)).await,
                None,
                "hub-a, back late, may not renew what it lost"
            );
            // hub-b stops and gives its leases up: hub-a takes them at once.
            assert_eq!(b.release_leases("hub-b").await.expect("release"), 2);
            let t3 = hold(&a, m, "hub-a", ms(6_003), ms(11_003))
                .await
                .expect("given up: taken at once");
            assert_eq!(t3, t2 + 1);
            let rows = b.leases().await.expect("rows");
            let row = rows.iter().find(|l| l.module == "escalation").expect("row");
            assert_eq!((row.holder.as_str(), row.token), ("hub-a", t3));
        }
    }
}

#[tokio::test]
async fn a_totp_step_is_good_once_whichever_hub_sees_it() {
    let (_dir, a, b) = two_stores();
    let account = a
        .create_account(
            NewAccount {
                username: "odile".into(),
                display_name: "Odile".into(),
                role: Role::Operator,
                shop_id: None,
                password_hash: "x".into(),
                totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
            },
            T0,
        )
        .await
        .expect("account");
    assert!(a.use_totp_step(account.id, 100).await.expect("a"));
    assert!(
        !b.use_totp_step(account.id, 100).await.expect("b"),
        "the same code on another hub"
    );
    assert!(
        !b.use_totp_step(account.id, 99).await.expect("b"),
        "an older code"
    );
    assert!(
        b.use_totp_step(account.id, 101).await.expect("b"),
        "the next code"
    );
    // Both hubs given the same new code at once: one says yes.
    let (x, y) = tokio::join!(
        a.use_totp_step(account.id, 102),
        b.use_totp_step(account.id, 102)
    );
    assert_eq!(
        [x.expect("a"), y.expect("b")]
            .iter()
            .filter(|&&ok| ok)
            .count(),
        1
    );
}
