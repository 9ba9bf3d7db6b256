//! Test kit for the hub: a real hub on port 0 with a fresh store (an SQLite
//! file, or a PostgreSQL database with `VIGIE_TEST_BACKEND=postgres`), a
//! manual clock, and the log gateway standing for every phone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use vigie_core::{PhoneNumber, Timestamp};
use vigie_hub::app::RunningHub;
use vigie_hub::clock::{Clock, ManualClock};
use vigie_hub::config::Config;
use vigie_hub::gateway::log::{LogGateway, LoggedSms};
use vigie_hub::store::{NewContact, NewShop, Relation};
use vigie_proto::signature::{DeviceKey, new_nonce};
use vigie_proto::{EnrollRequest, EnrollResponse};

/// 2026-11-26 14h32 in Paris.
pub const T0: Timestamp = Timestamp(1_795_699_920_000);
/// The cast of the scenarios: two friends, the gendarmerie, the shopkeeper.
pub const MARIE: &str = "06 11 22 33 44";
pub const AHMED: &str = "06 55 66 77 88";
pub const POLICE: &str = "04 73 00 00 17";
pub const HOLDER: &str = "06 99 88 77 66";
/// How long a test waits for something that should happen at once.
const EVENTUALLY_MS_MAX: u64 = 10_000;

pub struct TestHub {
    pub hub: RunningHub,
    pub clock: Arc<ManualClock>,
    pub phones: Arc<LogGateway>,
    pub http: reqwest::Client,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn spawn_hub(extra_toml: &str) -> TestHub {
    spawn_hub_with(extra_toml, "").await
}

/// A hub whose gateways are `gateways_before` (TOML), then the log gateway "phones".
pub async fn spawn_hub_with(extra_toml: &str, gateways_before: &str) -> TestHub {
    spawn_hub_configured(extra_toml, gateways_before, &[]).await
}

/// [`spawn_hub_with`], with `VIGIE__SECTION__KEY` overrides.
pub async fn spawn_hub_configured(
    extra_toml: &str,
    gateways_before: &str,
    env: &[(&str, &str)],
) -> TestHub {
    if std::env::var_os("VIGIE_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("VIGIE_TEST_LOG"))
            .with_test_writer()
            .try_init();
    }
    let dir = TempDir::new("vigie-test");
    start_in(dir, extra_toml, gateways_before, env, ManualClock::new(T0)).await
}

/// A hub on the database in `dir` (a new one, or the one a stopped hub left).
async fn start_in(
    dir: TempDir,
    extra_toml: &str,
    gateways_before: &str,
    env: &[(&str, &str)],
    clock: Arc<ManualClock>,
) -> TestHub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let store = vigie_testkit::store::toml(&dir.0, "hub.db").expect("the test store");
    let toml = format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n{store}{gateways_before}\n[[gateways]]\nkind = \"log\"\nname = \"phones\"\n{extra_toml}"
    );
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::parse(&toml, env).expect("test config");
    let hub = vigie_hub::app::start(&config, clock.clone(), listener)
        .await
        .expect("hub starts");
    let phones = hub.log_gateway("phones").expect("log gateway");
    TestHub {
        hub,
        clock,
        phones,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestHub {
    /// A second hub's store on this hub's database: two writers at once.
    pub fn second_store(&self) -> vigie_hub::store::Store {
        vigie_hub::store::Store::open(
            &store_location(&self._dir.0, "hub.db"),
            vigie_hub::store::Rules::default(),
        )
        .expect("a second store on the same database")
    }

    /// Where this hub's store is (a test may open it beside the hub).
    pub fn location(&self) -> vigie_hub::store::Location {
        store_location(&self._dir.0, "hub.db")
    }

    /// Stop this hub and start a new one on the same database and clock
    /// (on another port), as a restart would.
    pub async fn restart(self) -> TestHub {
        let TestHub {
            hub, clock, _dir, ..
        } = self;
        hub.shutdown().await;
        start_in(_dir, "", "", &[], clock).await
    }
}

/// Where a test that opens a store itself keeps it: `file` in `dir` on
/// SQLite, the folder's own database on PostgreSQL.
pub fn store_location(dir: &std::path::Path, file: &str) -> vigie_hub::store::Location {
    match vigie_testkit::store::postgres_url(dir).expect("the test store") {
        Some(url) => vigie_hub::store::Location::Postgres(url),
        None => vigie_hub::store::Location::Sqlite(dir.join(file)),
    }
}

/// Poll `f` until it gives a value, or fail the test after a deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_millis(EVENTUALLY_MS_MAX);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn shop(reference: &str, holder_phone: &str) -> NewShop {
    NewShop {
        reference: reference.into(),
        name: "Tabac du Centre".into(),
        address: "12 rue de la République".into(),
        insee: "63300".into(),
        commune: "Riom".into(),
        postcode: "63200".into(),
        departement: "63".into(),
        lat: 45.894,
        lon: 3.113,
        rural: false,
        holder_name: "Jeanne Martin".into(),
        holder_phone: PhoneNumber::parse(holder_phone).expect("phone"),
        opening_hours: "mo-sa 07:00-19:30".into(),
    }
}

pub struct Device {
    pub id: String,
    pub key: DeviceKey,
}

impl TestHub {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn url(&self) -> String {
        self.hub.url()
    }

    /// Add a shop and contacts who have all said yes (tier, name, phone).
    pub async fn seed_shop(
        &self,
        reference: &str,
        holder: &str,
        contacts: &[(u8, &str, &str)],
    ) -> i64 {
        let store = &self.hub.store;
        let shop_id = store
            .add_shop(shop(reference, holder), self.now())
            .await
            .expect("shop");
        for (tier, name, phone) in contacts {
            let relation = if *tier == 1 {
                Relation::Friend
            } else {
                Relation::Police
            };
            let phone = PhoneNumber::parse(phone).expect("phone");
            let c = store
                .add_contact(
                    NewContact {
                        shop_id: Some(shop_id),
                        name: (*name).into(),
                        phone: phone.clone(),
                        relation,
                        tier: *tier,
                    },
                    self.now(),
                )
                .await
                .expect("contact");
            if relation == Relation::Friend {
                store
                    .handle_reply("phones", phone.as_e164(), "OUI", self.now())
                    .await
                    .expect("consent");
                assert_eq!(
                    store
                        .contacts(Some(shop_id))
                        .await
                        .expect("contacts")
                        .iter()
                        .find(|k| k.id == c.id)
                        .map(|k| k.consent),
                    Some(vigie_hub::store::Consent::Yes)
                );
            }
        }
        shop_id
    }

    pub async fn enroll(&self, shop_id: i64) -> Device {
        let code = self
            .hub
            .store
            .new_enrolment_code(shop_id, self.now())
            .await
            .expect("code");
        let key = DeviceKey::generate();
        let resp = self
            .http
            .post(format!("{}/v1/enroll", self.url()))
            .json(&EnrollRequest {
                code,
                public_key: key.public_key_b64(),
                version: "test".into(),
            })
            .send()
            .await
            .expect("enroll");
        assert_eq!(resp.status(), 201);
        let e: EnrollResponse = resp.json().await.expect("enroll body");
        Device {
            id: e.device_id,
            key,
        }
    }

    /// A signed request from `device`, now, answered.
    pub async fn signed(
        &self,
        device: &Device,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let now_s = self.now().as_ms() / 1000;
        self.send(
            &capture(device, method, path, body, now_s, &new_nonce()),
            "",
        )
        .await
    }

    /// A signed POST from `device`, with its clock at `now_s`.
    pub async fn signed_post(
        &self,
        device: &Device,
        path: &str,
        body: &[u8],
        now_s: i64,
        nonce: &str,
    ) -> (u16, serde_json::Value) {
        self.send(&capture(device, "POST", path, body, now_s, nonce), "")
            .await
    }

    /// Send a captured request (again), with `suffix` after its path.
    pub async fn send_raw(&self, c: &Captured, suffix: &str) -> reqwest::Response {
        self.http
            .request(
                c.method.clone(),
                format!("{}{}{suffix}", self.url(), c.path),
            )
            .header("content-type", "application/json")
            .header("content-digest", &c.headers.content_digest)
            .header("signature-input", &c.headers.signature_input)
            .header("signature", &c.headers.signature)
            .body(c.body.clone())
            .send()
            .await
            .expect("request")
    }

    /// [`TestHub::send_raw`], answered as status and JSON.
    pub async fn send(&self, c: &Captured, suffix: &str) -> (u16, serde_json::Value) {
        let resp = self.send_raw(c, suffix).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Press: raise alarm `id` now.
    pub async fn press(&self, device: &Device, id: uuid::Uuid) -> (u16, serde_json::Value) {
        let t = self.now().as_ms();
        let body = serde_json::json!({ "alarm_id": id, "pressed_at_ms": t, "sent_at_ms": t, "recording": false }).to_string();
        self.signed_post(
            device,
            "/v1/alarms",
            body.as_bytes(),
            t / 1000,
            &new_nonce(),
        )
        .await
    }

    /// A vault pass (checkpoint, time-stamp), then an investigator's export
    /// of `recording` with its reason, and the offline verifier's report on it.
    pub async fn export_and_verify(
        &self,
        recording: uuid::Uuid,
    ) -> (Vec<u8>, vigie_evidence::report::Report) {
        let store = &self.hub.store;
        self.hub
            .vault
            .tick(store, self.now())
            .await
            .expect("vault pass");
        let facts = vigie_hub::vault::export::ReportFacts {
            shop: "Tabac du Centre".into(),
            commune: "Riom".into(),
            alarm_pressed_at: self.now(),
        };
        let zip = vigie_hub::vault::export::export(
            &self.hub.vault,
            store,
            recording,
            "investigator:marie.durand",
            "plainte pour menaces",
            &facts,
            self.now(),
        )
        .await
        .expect("export");
        let report =
            vigie_evidence::verify::verify_export(&zip, &vigie_evidence::verify::rfc3161_check);
        (zip, report)
    }

    /// Move the clock and run the escalation that is due.
    pub async fn pass_secs(&self, secs: i64) {
        self.clock.advance_ms(secs * 1_000);
        self.hub.engine.tick(self.now()).await.expect("tick");
    }

    /// Wait until `phone` has received an SMS containing `needle`; return every SMS it got.
    pub async fn sms_to(&self, phone: &str, needle: &str) -> Vec<LoggedSms> {
        let e164 = PhoneNumber::parse(phone)
            .expect("phone")
            .as_e164()
            .to_string();
        eventually(&format!("an SMS to {phone} containing {needle:?}"), || {
            let sent: Vec<LoggedSms> = self
                .phones
                .sent()
                .into_iter()
                .filter(|s| s.to == e164)
                .collect();
            let ok = sent.iter().any(|s| s.text.contains(needle));
            async move { ok.then_some(sent) }
        })
        .await
    }

    pub fn sms_count(&self, phone: &str, needle: &str) -> usize {
        let e164 = PhoneNumber::parse(phone)
            .expect("phone")
            .as_e164()
            .to_string();
        self.phones
            .sent()
            .iter()
            .filter(|s| s.to == e164 && s.text.contains(needle))
            .count()
    }

    /// Wait until no SMS is pending or in flight (a submitted SMS stays
    /// pending until its outcome is recorded).
    pub async fn settled(&self) {
        eventually("the outbox to drain", || async {
            let pending = self
                .hub
                .store
                .pending_notifications(Timestamp(i64::MAX), 1)
                .await
                .expect("pending");
            pending.is_empty().then_some(())
        })
        .await;
    }
}

pub fn link_token(text: &str) -> String {
    let i = text.find("/r/").expect("a link in the SMS");
    text[i + 3..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// A shop with Marie and Ahmed (consented) at tier 1, the gendarmerie at tier 2.
pub async fn shop_with_two_tiers(h: &TestHub, reference: &str) -> i64 {
    h.seed_shop(
        reference,
        HOLDER,
        &[
            (1, "Marie Dupont", MARIE),
            (1, "Ahmed Benali", AHMED),
            (2, "Gendarmerie", POLICE),
        ],
    )
    .await
}

/// A signed request as a box sends it, kept to be sent (again).
pub struct Captured {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Vec<u8>,
    pub headers: vigie_proto::SignedHeaders,
}

pub fn capture(
    dev: &Device,
    method: &str,
    path: &str,
    body: &[u8],
    created_s: i64,
    nonce: &str,
) -> Captured {
    Captured {
        method: reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
        path: path.to_string(),
        body: body.to_vec(),
        headers: dev.key.sign(&dev.id, method, path, body, created_s, nonce),
    }
}
