//! The box's integration tests: one binary, one module per concern.

mod agent;
mod hostile_hub;
mod modem;
mod recorder;
mod recording;

/// Bind `addr` again after a server on it stopped. Another test may hold
/// the port for a moment (the OS hands out freed ports): retry with a deadline.
pub(crate) async fn rebind(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot bind {addr} again: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

// The hub the box tests run against, shared by their modules.
use std::sync::Arc;
use vigie_hub::app::RunningHub;
use vigie_hub::clock::{Clock as _, ManualClock};
use vigie_hub::config::Config;
use vigie_hub::store::{NewContact, NewShop, Relation};

/// A fresh folder under the system's temporary directory.
pub(crate) fn temp_dir(prefix: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A hub with a log gateway on `listener`, its database at `db` (the vault beside it).
pub(crate) async fn hub_on(
    listener: tokio::net::TcpListener,
    db: &std::path::Path,
    clock: Arc<ManualClock>,
) -> RunningHub {
    let addr = listener.local_addr().expect("addr");
    let toml = format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n[store]\nsqlite_path = \"{}\"\n[[gateways]]\nkind = \"log\"\nname = \"phones\"\n",
        db.display()
    );
    vigie_hub::app::start(&Config::parse(&toml, []).expect("config"), clock, listener)
        .await
        .expect("hub")
}

/// A shop with one police contact (no opt-in needed), and an enrolment code.
pub(crate) async fn seed(hub: &RunningHub, clock: &ManualClock) -> String {
    let store = &hub.store;
    let shop = NewShop {
        reference: "BOX-1".into(),
        name: "Tabac du Centre".into(),
        address: "12 rue de la République".into(),
        insee: "63300".into(),
        commune: "Riom".into(),
        postcode: "63200".into(),
        departement: "63".into(),
        lat: 45.89,
        lon: 3.11,
        rural: false,
        holder_name: "Jeanne Martin".into(),
        holder_phone: vigie_core::PhoneNumber::parse("06 99 88 77 66").expect("phone"),
        opening_hours: String::new(),
    };
    let id = store.add_shop(shop, clock.now()).await.expect("shop");
    let phone = vigie_core::PhoneNumber::parse("04 73 00 00 17").expect("phone");
    store
        .add_contact(
            NewContact {
                shop_id: Some(id),
                name: "Gendarmerie".into(),
                phone,
                relation: Relation::Police,
                tier: 1,
            },
            clock.now(),
        )
        .await
        .expect("contact");
    store
        .new_enrolment_code(id, clock.now())
        .await
        .expect("code")
}
