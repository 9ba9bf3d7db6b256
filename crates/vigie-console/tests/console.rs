//! The console's security and behaviour through its router, on a real
//! SQLite store and a manual clock: every route × every role, CSRF,
//! session fixation, sign-in delays, second factor, a shopkeeper kept to
//! their shop, the live board over Server-Sent Events.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use futures::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tower::ServiceExt as _;
use uuid::Uuid;
use vigie_console::{Access, AccountRequest, Console, ConsoleConfig};
use vigie_core::{PhoneNumber, Timestamp};
use vigie_hub::clock::ManualClock;
use vigie_hub::store::{NewContact, Relation, Role, Rules, Store};

const PASSWORD: &str = "correct horse battery staple";
const T0: i64 = 1_800_000_000_000;

struct World {
    _dir: tempdir::Dir,
    store: Store,
    clock: Arc<ManualClock>,
    app: Router,
    shop_a: i64,
    shop_b: i64,
    alarm_a: Uuid,
    alarm_b: Uuid,
    contact_a: i64,
    totp: BTreeMap<&'static str, String>,
}

/// A temporary folder removed on drop (no extra dependency for it).
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("vigie-console-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn raise(store: &Store, shop: i64, now: Timestamp) -> Uuid {
    let code = store.new_enrolment_code(shop, now).await.expect("code");
    let key = vigie_proto::signature::DeviceKey::generate();
    let (device, _) = store
        .enroll(&code, &key.public_key_b64(), "test", now)
        .await
        .expect("enroll");
    let id = Uuid::now_v7();
    store
        .raise_alarm(
            &device.id,
            vigie_proto::RaiseAlarm {
                alarm_id: id,
                pressed_at_ms: now.as_ms(),
                sent_at_ms: now.as_ms(),
                recording: false,
                direct_sms: Vec::new(),
                test: false,
            },
            now,
        )
        .await
        .expect("raise");
    id
}

async fn world() -> World {
    world_in(tempdir::Dir::new()).await
}

/// The world with its database in `dir` (the folder's PostgreSQL database
/// when the tests run on PostgreSQL).
async fn world_in(dir: tempdir::Dir) -> World {
    let location = match vigie_testkit::store::postgres_url(&dir.0).expect("the test store") {
        Some(url) => vigie_hub::store::Location::Postgres(url),
        None => vigie_hub::store::Location::Sqlite(dir.0.join("vigie.db")),
    };
    world_at(dir, location).await
}

/// The world on the store at `location`, its other files in `dir`.
async fn world_at(dir: tempdir::Dir, location: vigie_hub::store::Location) -> World {
    let store = Store::open(&location, Rules::default()).expect("store");
    let clock = ManualClock::new(Timestamp(T0));
    let now = Timestamp(T0);
    store
        .import_shops(vigie_hub::region::synthetic_shops(2), now)
        .await
        .expect("shops");
    let shops = store.shops().await.expect("shops");
    let (shop_a, shop_b) = (shops[0].id, shops[1].id);
    let contact_a = store
        .add_contact(
            NewContact {
                shop_id: Some(shop_a),
                name: "Marie Dupont".into(),
                phone: PhoneNumber::parse("06 11 22 33 44").expect("phone"),
                relation: Relation::Friend,
                tier: 1,
            },
            now,
        )
        .await
        .expect("contact")
        .id;
    let alarm_a = raise(&store, shop_a, now).await;
    let alarm_b = raise(&store, shop_b, now).await;
    let mut totp = BTreeMap::new();
    for (username, role, shop, with_totp) in [
        ("admin", Role::Admin, None, true),
        ("operator", Role::Operator, None, false),
        ("shopkeeper", Role::Shopkeeper, Some(shop_a), false),
        ("investigator", Role::Investigator, None, true),
        ("newadmin", Role::Admin, None, false),
    ] {
        let (_, secret) = vigie_console::create_account(
            &store,
            AccountRequest {
                username,
                display_name: username,
                role,
                shop_id: shop,
                password: PASSWORD,
                with_totp,
            },
            now,
        )
        .await
        .expect("account");
        if let Some(s) = secret {
            totp.insert(username, s);
        }
    }
    let console = Console::new(store.clone(), clock.clone(), None, ConsoleConfig::default())
        .expect("console");
    let app = vigie_console::router(console);
    World {
        _dir: dir,
        store,
        clock,
        app,
        shop_a,
        shop_b,
        alarm_a,
        alarm_b,
        contact_a,
        totp,
    }
}

async fn body_text(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn csrf_in(html: &str) -> String {
    html.split(r#"name="_csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// A browser: a cookie jar, the last CSRF token seen, and where it is
/// (the TCP peer the hub sees; none: the hub sees no address).
#[derive(Clone, Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
    csrf: String,
    address: Option<std::net::SocketAddr>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, resp: &Response<Body>) {
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let Some((k, v)) = v
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .and_then(|kv| kv.split_once('='))
            else {
                continue;
            };
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    async fn get(&mut self, app: &Router, path: &str) -> (StatusCode, String) {
        let req = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .expect("request");
        self.send(app, req).await
    }

    async fn post(
        &mut self,
        app: &Router,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut fields: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://vigie.test")
            .header(header::HOST, "vigie.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request");
        self.send(app, req).await
    }

    /// Send, keep the cookies and the page's CSRF token; the body, or
    /// where a redirect leads.
    async fn send(&mut self, app: &Router, mut req: Request<Body>) -> (StatusCode, String) {
        if let Some(a) = self.address {
            req.extensions_mut().insert(axum::extract::ConnectInfo(a));
        }
        let resp = app.clone().oneshot(req).await.expect("response");
        self.keep_cookies(&resp);
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        // An event stream never ends: its status is the answer.
        if resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == "text/event-stream")
        {
            return (status, String::new());
        }
        let text = body_text(resp).await;
        let token = csrf_in(&text);
        if !token.is_empty() {
            self.csrf = token;
        }
        (
            status,
            if status.is_redirection() {
                location
            } else {
                text
            },
        )
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn totp_now(secret: &str, now: Timestamp) -> String {
    let raw = vigie_console::auth::totp::base32_decode(secret).expect("secret");
    format!(
        "{:06}",
        vigie_console::auth::totp::code_at_step(&raw, vigie_console::auth::totp::step_at(now))
    )
}

/// Sign in with the password (and the TOTP code when the account has one).
async fn signed_in(w: &World, username: &str) -> Browser {
    let mut b = Browser::default();
    b.get(&w.app, "/console/sign-in").await;
    let (status, to) = b
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", username), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{username}: {to}");
    if let Some(secret) = w.totp.get(username) {
        assert_eq!(to, "/console/sign-in/code");
        b.get(&w.app, "/console/sign-in/code").await;
        let code = totp_now(secret, Timestamp(T0).max(w_now(w)));
        let (status, to) = b
            .post(&w.app, "/console/sign-in/code", &[("code", &code)])
            .await;
        assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/console"));
    } else {
        assert_eq!(to, "/console");
    }
    // Pick up a CSRF token from a page with forms.
    b.get(&w.app, "/console/me").await;
    assert!(!b.csrf.is_empty());
    b
}

fn w_now(w: &World) -> Timestamp {
    use vigie_hub::clock::Clock as _;
    w.clock.now()
}

/// Who may use what: written here a second time, on purpose. A route added
/// to the console without a line here fails `every_route_answers_every_role_as_declared`;
/// a rule widened by mistake fails it too.
fn expected_rules() -> BTreeMap<(&'static str, &'static str), Option<&'static [&'static str]>> {
    const ALL: &[&str] = &["admin", "operator", "shopkeeper", "investigator"];
    const DESK: &[&str] = &["admin", "operator"];
    const DESK_SHOP: &[&str] = &["admin", "operator", "shopkeeper"];
    const EVIDENCE: &[&str] = &["admin", "investigator"];
    const ADMIN: &[&str] = &["admin"];
    let public = None;
    BTreeMap::from([
        (("GET", "/"), public),
        (("GET", "/console"), public),
        (("GET", "/console/assets/{name}"), public),
        (("GET", "/console/lang"), public),
        (("GET", "/console/sign-in"), public),
        (("POST", "/console/sign-in"), public),
        (("GET", "/console/sign-in/code"), Some(&[][..])),
        (("POST", "/console/sign-in/code"), Some(&[][..])),
        (("POST", "/console/sign-out"), Some(ALL)),
        (("POST", "/console/sign-out-everywhere"), Some(ALL)),
        (("GET", "/console/me"), Some(ALL)),
        (("POST", "/console/me/totp"), Some(ALL)),
        (("POST", "/console/me/password"), Some(ALL)),
        (("GET", "/console/board"), Some(DESK_SHOP)),
        (("GET", "/console/live"), Some(DESK_SHOP)),
        (("GET", "/console/map"), Some(DESK_SHOP)),
        (("GET", "/console/alarms"), Some(DESK_SHOP)),
        (("GET", "/console/alarms/{id}"), Some(DESK_SHOP)),
        (("POST", "/console/alarms/{id}/take"), Some(DESK)),
        (("POST", "/console/alarms/{id}/note"), Some(DESK)),
        (("POST", "/console/alarms/{id}/resolve"), Some(DESK_SHOP)),
        (("GET", "/console/shops"), Some(DESK)),
        (("POST", "/console/shops/import"), Some(DESK)),
        (("GET", "/console/shops/{id}"), Some(DESK_SHOP)),
        (("POST", "/console/shops/{id}"), Some(DESK_SHOP)),
        (("POST", "/console/shops/{id}/codes"), Some(DESK)),
        (("POST", "/console/shops/{id}/contacts"), Some(DESK_SHOP)),
        (("POST", "/console/contacts/{id}"), Some(DESK_SHOP)),
        (("POST", "/console/contacts/{id}/tier"), Some(DESK_SHOP)),
        (("POST", "/console/contacts/{id}/opt-in"), Some(DESK_SHOP)),
        (("POST", "/console/contacts/{id}/remove"), Some(DESK_SHOP)),
        (("GET", "/console/fleet"), Some(DESK)),
        (("POST", "/console/fleet/hardware"), Some(DESK)),
        (
            ("POST", "/console/fleet/hardware/{serial}/assign"),
            Some(DESK),
        ),
        (
            ("POST", "/console/fleet/hardware/{serial}/state"),
            Some(DESK),
        ),
        (("GET", "/console/stats"), Some(DESK)),
        (("GET", "/console/stats.csv"), Some(DESK)),
        (("GET", "/console/recordings"), Some(EVIDENCE)),
        (("GET", "/console/recordings/{id}"), Some(EVIDENCE)),
        (("POST", "/console/recordings/{id}/access"), Some(EVIDENCE)),
        (("GET", "/console/recordings/{id}/audio"), Some(EVIDENCE)),
        (("POST", "/console/recordings/{id}/export"), Some(EVIDENCE)),
        (("GET", "/console/accounts"), Some(ADMIN)),
        (("POST", "/console/accounts"), Some(ADMIN)),
        (("POST", "/console/accounts/{id}"), Some(ADMIN)),
        (("GET", "/console/audit"), Some(ADMIN)),
    ])
}

fn concrete(path: &str, w: &World) -> String {
    path.replace(
        "/console/alarms/{id}",
        &format!("/console/alarms/{}", w.alarm_a),
    )
    .replace(
        "/console/shops/{id}",
        &format!("/console/shops/{}", w.shop_a),
    )
    .replace(
        "/console/contacts/{id}",
        &format!("/console/contacts/{}", w.contact_a),
    )
    .replace(
        "/console/recordings/{id}",
        &format!("/console/recordings/{}", Uuid::now_v7()),
    )
    .replace("{serial}", "SN-0001")
    .replace("{name}", "console.css")
}

#[tokio::test]
async fn every_route_answers_every_role_as_declared() {
    let w = world().await;
    let declared: BTreeSet<(&str, &str)> = vigie_console::route_rules()
        .iter()
        .map(|r| (r.method, r.path))
        .collect();
    let expected = expected_rules();
    let listed: BTreeSet<(&str, &str)> = expected.keys().copied().collect();
    assert_eq!(
        declared, listed,
        "a console route was added or removed: declare who may use it in expected_rules()"
    );
    for rule in vigie_console::route_rules() {
        let roles = expected[&(rule.method, rule.path)];
        match (rule.access, roles) {
            (Access::Public, None) => {}
            (Access::SecondFactorPending, Some([])) => {}
            (Access::Roles(r), Some(names)) => {
                let got: BTreeSet<&str> = r.iter().map(|r| r.as_str()).collect();
                let want: BTreeSet<&str> = names.iter().copied().collect();
                assert_eq!(got, want, "{} {}", rule.method, rule.path);
            }
            other => panic!("{} {}: {other:?}", rule.method, rule.path),
        }
    }
    // And the router does what the table says, for each role and for nobody.
    let mut browsers: Vec<(&str, Browser)> = Vec::new();
    for name in ["admin", "operator", "shopkeeper", "investigator"] {
        browsers.push((name, signed_in(&w, name).await));
    }
    browsers.push(("anonymous", Browser::default()));
    for ((method, path), roles) in &expected {
        let Some(roles) = roles else { continue };
        if roles.is_empty() {
            continue; // the second-factor pages: see their own test
        }
        let url = concrete(path, &w);
        for (who, browser) in &browsers {
            // Side effects (sign-out, password) must not end these sessions.
            if path.contains("sign-out") || path.ends_with("/password") || path.ends_with("/remove")
            {
                continue;
            }
            let mut b = browser.clone();
            let (status, body) = if *method == "GET" {
                b.get(&w.app, &url).await
            } else {
                b.post(&w.app, &url, &[]).await
            };
            let allowed = roles.contains(who);
            if *who == "anonymous" {
                let want = if *method == "GET" {
                    StatusCode::SEE_OTHER
                } else {
                    StatusCode::UNAUTHORIZED
                };
                assert_eq!(status, want, "anonymous {method} {url}");
            } else if allowed {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                    "{who} {method} {url}: {status} {body}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{who} {method} {url}");
            }
        }
    }
}

#[tokio::test]
async fn every_form_needs_its_csrf_token_and_the_same_origin() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    let path = format!("/console/alarms/{}/note", w.alarm_a);
    let good = b.csrf.clone();
    // No token.
    b.csrf = String::new();
    let (status, _) = b.post(&w.app, &path, &[("text", "x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another session's token.
    let other = signed_in(&w, "admin").await;
    b.csrf = other.csrf.clone();
    let (status, _) = b.post(&w.app, &path, &[("text", "x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The right token from another site.
    let req = Request::post(&path)
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::HOST, "vigie.test")
        .body(Body::from(format!("_csrf={good}&text=x")))
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The right token, saying nothing of where it comes from: refused too.
    let req = Request::post(&path)
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "vigie.test")
        .body(Body::from(format!("_csrf={good}&text=x")))
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("response");
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "a post without Origin"
    );
    // The sign-in form too (login CSRF): a token without its cookie.
    let mut fresh = Browser::default();
    fresh.get(&w.app, "/console/sign-in").await;
    fresh.cookies.clear();
    let (status, _) = fresh
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "operator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // With everything right, the note is written.
    b.csrf = good;
    let (status, _) = b
        .post(&w.app, &path, &[("text", "appel au 17 passé")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let detail = w.store.alarm(w.alarm_a).await.expect("alarm");
    assert!(detail.events.iter().any(|e| e.kind == "note"));
}

#[tokio::test]
async fn a_cookie_planted_before_sign_in_is_never_promoted() {
    let w = world().await;
    let mut b = Browser::default();
    b.cookies
        .insert("vigie_session".into(), "planted-by-an-attacker".into());
    b.get(&w.app, "/console/sign-in").await;
    let (status, _) = b
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "operator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = b
        .cookies
        .get("vigie_session")
        .cloned()
        .expect("session cookie");
    assert_ne!(session, "planted-by-an-attacker");
    assert!(session.len() >= 43, "32 random bytes");
    // The planted value opens nothing.
    let mut attacker = Browser::default();
    attacker
        .cookies
        .insert("vigie_session".into(), "planted-by-an-attacker".into());
    let (status, to) = attacker.get(&w.app, "/console/board").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
    // The real one does.
    let (status, _) = b.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_second_factor_renews_the_session_and_admins_must_set_one_up() {
    let w = world().await;
    let mut b = Browser::default();
    b.get(&w.app, "/console/sign-in").await;
    let (_, to) = b
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "newadmin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(to, "/console/sign-in/code");
    let before = b.cookies["vigie_session"].clone();
    // Nothing else opens before the code.
    let (status, to) = b.clone().get(&w.app, "/console/board").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in/code")
    );
    let (status, page) = b.get(&w.app, "/console/sign-in/code").await;
    assert_eq!(status, StatusCode::OK);
    let secret = page
        .split(r#"data-testid="totp-secret">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the setup page shows the secret")
        .to_string();
    let (status, _) = b
        .post(
            &w.app,
            "/console/sign-in/code",
            &[("code", "000000"), ("secret", &secret)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The wrong code made the next attempt wait a little (second failure: none yet).
    let code = totp_now(&secret, w_now(&w));
    let (status, to) = b
        .post(
            &w.app,
            "/console/sign-in/code",
            &[("code", &code), ("secret", &secret)],
        )
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/console"));
    let after = b.cookies["vigie_session"].clone();
    assert_ne!(before, after, "a new session id after the second factor");
    let (status, _) = b.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    // The cookie seen before the code is worth nothing now.
    let mut old = Browser::default();
    old.cookies.insert("vigie_session".into(), before);
    let (status, _) = old.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A code is good once.
    let account = w
        .store
        .account_by_username("newadmin")
        .await
        .expect("read")
        .expect("account");
    assert!(account.totp_secret.is_some());
    let mut again = Browser::default();
    again.get(&w.app, "/console/sign-in").await;
    again
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "newadmin"), ("password", PASSWORD)],
        )
        .await;
    again.get(&w.app, "/console/sign-in/code").await;
    let (status, _) = again
        .post(&w.app, "/console/sign-in/code", &[("code", &code)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the same code twice");
}

#[tokio::test]
async fn guessing_passwords_costs_growing_delays_even_with_the_right_one() {
    let w = world().await;
    let mut b = Browser::default();
    b.get(&w.app, "/console/sign-in").await;
    let wrong = [("username", "operator"), ("password", "wrong password!")];
    let (status, _) = b.post(&w.app, "/console/sign-in", &wrong).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a first mistake costs nothing"
    );
    let (status, _) = b.post(&w.app, "/console/sign-in", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = b.post(&w.app, "/console/sign-in", &wrong).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the second one costs a second"
    );
    w.clock.advance_ms(1_000);
    let (status, _) = b.post(&w.app, "/console/sign-in", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Third failure: wait 2 s. The right password now is refused unchecked.
    let (status, page) = b
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "operator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("réessayez dans 2 s"), "{page}");
    w.clock.advance_ms(2_000);
    let (status, to) = b
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "operator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/console"));
    let audit = w.store.audit_log(100).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|l| l.action == "sign_in_failed")
            .count(),
        3
    );
    assert_eq!(
        audit
            .iter()
            .filter(|l| l.action == "sign_in_throttled")
            .count(),
        2
    );
    assert!(
        audit
            .iter()
            .all(|l| !l.detail.to_string().contains("wrong password")),
        "no password in the audit log"
    );
    // A password typed in the username box is not kept either (from
    // elsewhere: this address is still slowed down by the guesses above).
    let mut b = at_address(&w, "198.51.100.3").await;
    b.post(
        &w.app,
        "/console/sign-in",
        &[("username", "Tr0ub4dor&3"), ("password", "x")],
    )
    .await;
    let audit = w.store.audit_log(100).await.expect("audit");
    assert!(audit.iter().all(|l| !l.username.contains("tr0ub4dor")));
    assert!(
        audit
            .iter()
            .any(|l| l.action == "sign_in_failed" && l.username == "(compte inconnu)")
    );
}

#[tokio::test]
async fn a_shopkeeper_sees_only_their_own_shop_whatever_the_url() {
    let w = world().await;
    let mut b = signed_in(&w, "shopkeeper").await;
    let (status, board) = b.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    assert!(board.contains(&w.alarm_a.to_string()));
    assert!(
        !board.contains(&w.alarm_b.to_string()),
        "another shop's alarm on the board"
    );
    let (status, _) = b.get(&w.app, &format!("/console/shops/{}", w.shop_a)).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/console/shops/{}", w.shop_b),
        format!("/console/alarms/{}", w.alarm_b),
        format!("/console/live?alarm={}", w.alarm_b),
    ] {
        let (status, _) = b.get(&w.app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = b
        .post(
            &w.app,
            &format!("/console/shops/{}/contacts", w.shop_b),
            &[
                ("name", "Intrus"),
                ("phone", "0611223399"),
                ("relation", "friend"),
                ("tier", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = b
        .post(
            &w.app,
            &format!("/console/alarms/{}/resolve", w.alarm_b),
            &[("outcome", "false_alarm")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = b.get(&w.app, "/console/alarms").await;
    assert!(!list.contains(&w.alarm_b.to_string()));
    // Their own alarm they may close.
    let (status, _) = b
        .post(
            &w.app,
            &format!("/console/alarms/{}/resolve", w.alarm_a),
            &[("outcome", "false_alarm")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let shops_b = w.store.contacts(Some(w.shop_b)).await.expect("contacts");
    assert!(shops_b.is_empty());
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_account() {
    let w = world().await;
    let mut laptop = signed_in(&w, "operator").await;
    let mut phone = signed_in(&w, "operator").await;
    let (status, _) = phone.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = laptop
        .post(&w.app, "/console/sign-out-everywhere", &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, to) = phone.get(&w.app, "/console/board").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
}

#[tokio::test]
async fn sessions_end_after_a_working_day_without_use() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    w.clock
        .advance_ms(vigie_console::auth::SESSION_IDLE_MS_MAX + 1);
    let (status, to) = b.get(&w.app, "/console/board").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
}

#[tokio::test]
async fn an_alarm_raised_after_the_board_opened_arrives_over_server_sent_events() {
    let w = world().await;
    let b = signed_in(&w, "operator").await;
    let req = Request::get("/console/live")
        .header(header::COOKIE, b.cookie_header())
        .body(Body::empty())
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut stream = resp.into_body().into_data_stream();
    let mut received = String::new();
    // The first event: the board as it is.
    while !received.contains("\n\n") {
        let chunk = stream.next().await.expect("an event").expect("bytes");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.starts_with("event: board\n"), "{received}");
    assert!(received.contains(&w.alarm_a.to_string()));
    // A new shop in alarm: the next event has it.
    w.store
        .import_shops(
            vec![vigie_hub::store::NewShop {
                reference: "ARA-NEW".into(),
                name: "Tabac du Lac".into(),
                ..vigie_hub::region::synthetic_shops(1).remove(0)
            }],
            w_now(&w),
        )
        .await
        .expect("shop");
    let shop = w.store.shop_by_reference("ARA-NEW").await.expect("shop");
    let alarm = raise(&w.store, shop.id, w_now(&w)).await;
    let mut next = String::new();
    while !next.contains(&alarm.to_string()) {
        let chunk = stream.next().await.expect("another event").expect("bytes");
        next.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(next.contains("Tabac du Lac"));
    // Signed out everywhere (from another browser): the open stream ends too.
    let mut other = signed_in(&w, "operator").await;
    let (status, _) = other
        .post(&w.app, "/console/sign-out-everywhere", &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    loop {
        match stream.next().await {
            None => break,
            Some(Ok(_)) => continue, // an event rendered before the sign-out
            Some(Err(e)) => panic!("stream error: {e}"),
        }
    }
}

#[tokio::test]
async fn the_csv_import_reports_each_bad_line_and_imports_nothing() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    let before = w.store.shops().await.expect("shops").len();
    let csv = format!(
        "{}\nARA-9001,Tabac A,1 rue A,63430,Anne A,0611111111,mo-sa 07:00-19:00\nARA-9002,Tabac B,2 rue B,99999,Bob B,0622222222,mo-sa 07:00-19:00\n",
        vigie_hub::region::SHOP_CSV_HEADER
    );
    let (status, page) = b
        .post(&w.app, "/console/shops/import", &[("csv", &csv)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.matches("<li>").count()
            - page.matches("<li><a").count()
            - page.matches("<li><span").count(),
        1,
        "{page}"
    );
    assert!(page.contains("ligne 3"), "{page}");
    assert_eq!(w.store.shops().await.expect("shops").len(), before);
    let good = csv.replace("99999", "63113");
    let (status, to) = b
        .post(&w.app, "/console/shops/import", &[("csv", &good)])
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/shops?imported=2")
    );
    assert_eq!(w.store.shops().await.expect("shops").len(), before + 2);
}

#[tokio::test]
async fn pages_speak_french_first_and_english_on_request() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    let (_, fr) = b.get(&w.app, "/console/board").await;
    assert!(fr.contains(r#"<html lang="fr">"#) && fr.contains("Tableau de bord"));
    let (status, to) = b
        .get(&w.app, "/console/lang?to=en&back=/console/board")
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/board")
    );
    let (_, en) = b.get(&w.app, "/console/board").await;
    assert!(en.contains(r#"<html lang="en">"#) && en.contains("Board"));
    // The way back is only ever a console page.
    let (_, to) = b
        .get(&w.app, "/console/lang?to=fr&back=//evil.example/")
        .await;
    assert_eq!(to, "/console");
}

/// A pendant's alarm says on its timeline where it came from, that SMS is
/// an unauthenticated channel, the position the SMS gave, and that a
/// spoofed « annuler » did nothing: in French, then in English.
#[tokio::test]
async fn a_pendant_alarm_says_where_it_came_from_and_that_an_sms_never_cancels() {
    let w = world().await;
    let now = w_now(&w);
    let pendant = "+33670000001";
    w.store
        .add_pendant(
            vigie_hub::store::NewPendant {
                shop_id: w.shop_a,
                phone: PhoneNumber::parse(pendant).expect("phone"),
                patterns: Vec::new(),
            },
            now,
        )
        .await
        .expect("pendant");
    let received = w
        .store
        .receive_sms(
            "operator",
            pendant,
            "help me! lat: 45.764043 long: 4.835659",
            now,
        )
        .await
        .expect("stored");
    let vigie_hub::store::SmsReceived::Pendant(p) = received else {
        panic!("a pendant's SMS: {received:?}")
    };
    let id = p.alarm.expect("raised");
    w.store
        .receive_sms("operator", pendant, "annuler", now)
        .await
        .expect("stored");
    let mut b = signed_in(&w, "operator").await;
    let page = format!("/console/alarms/{id}");
    let (status, fr) = b.get(&w.app, &page).await;
    assert_eq!(status, StatusCode::OK);
    for says in [
        "pendentif SOS par SMS",
        "position 45.76404, 4.83566",
        "canal non authentifié",
        "« annuler »",
        "sans effet : un SMS ne peut ni annuler, ni répondre, ni clore une alarme",
    ] {
        assert!(fr.contains(says), "{says}: {fr}");
    }
    b.get(&w.app, "/console/lang?to=en&back=/console/board")
        .await;
    let (_, en) = b.get(&w.app, &page).await;
    for says in [
        "Alarm from an SOS pendant by SMS",
        "unauthenticated channel",
        "no effect: an SMS can neither cancel, answer nor close an alarm",
    ] {
        assert!(en.contains(says), "{says}: {en}");
    }
}

#[tokio::test]
async fn every_form_route_refuses_a_post_without_its_token() {
    let w = world().await;
    let admin = signed_in(&w, "admin").await;
    let investigator = signed_in(&w, "investigator").await;
    // A session still owing its second factor, for the code page.
    let mut pending = Browser::default();
    pending.get(&w.app, "/console/sign-in").await;
    pending
        .post(
            &w.app,
            "/console/sign-in",
            &[("username", "newadmin"), ("password", PASSWORD)],
        )
        .await;
    let mut checked = 0;
    for rule in vigie_console::route_rules()
        .into_iter()
        .filter(|r| r.method == "POST")
    {
        let mut b = match rule.access {
            Access::Public => Browser::default(),
            Access::SecondFactorPending => pending.clone(),
            Access::Roles(roles) if roles.contains(&Role::Admin) => admin.clone(),
            Access::Roles(_) => investigator.clone(),
        };
        b.csrf = String::new();
        let (status, body) = b.post(&w.app, &concrete(rule.path, &w), &[]).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "POST {} without a token: {body}",
            rule.path
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} form routes");
    // Nothing was changed by those refused posts.
    let detail = w.store.alarm(w.alarm_a).await.expect("alarm");
    assert!(
        detail
            .events
            .iter()
            .all(|e| e.kind != "note" && e.kind != "resolved")
    );
}

#[tokio::test]
async fn in_a_storm_the_board_shows_the_newest_hundred_and_counts_them_all() {
    let w = world().await;
    let now = w_now(&w);
    let code = w
        .store
        .new_enrolment_code(w.shop_b, now)
        .await
        .expect("code");
    let key = vigie_proto::signature::DeviceKey::generate();
    let (device, _) = w
        .store
        .enroll(&code, &key.public_key_b64(), "test", now)
        .await
        .expect("enroll");
    let storm = vigie_hub::store::BOARD_LIVE_MAX + 5;
    for i in 0..storm {
        let t = now.plus_ms(i as i64);
        w.store
            .raise_alarm(
                &device.id,
                vigie_proto::RaiseAlarm {
                    alarm_id: Uuid::now_v7(),
                    pressed_at_ms: t.as_ms(),
                    sent_at_ms: t.as_ms(),
                    recording: false,
                    direct_sms: Vec::new(),
                    test: false,
                },
                t,
            )
            .await
            .expect("raise");
    }
    let mut b = signed_in(&w, "operator").await;
    let (status, board) = b.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    // The two alarms of the world plus the storm.
    let live = storm + 2;
    assert_eq!(
        board.matches(r#"data-live="1""#).count(),
        vigie_hub::store::BOARD_LIVE_MAX
    );
    assert!(
        board.contains(&format!("{live} alarmes en cours")),
        "the count covers them all"
    );
    assert!(board.contains(r#"<a href="/console/alarms">toutes les alarmes</a>"#));
    // The oldest (the world's first) is beyond the hundred, on the alarms list.
    assert!(!board.contains(&w.alarm_a.to_string()));
    let (_, list) = b.get(&w.app, "/console/alarms").await;
    assert!(list.contains(&w.alarm_a.to_string()));
}

#[tokio::test]
async fn map_tiles_are_drawn_and_allowed_only_when_configured() {
    let w = world().await;
    let b = signed_in(&w, "operator").await;
    let csp_of = |resp: &Response<Body>| {
        resp.headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let get = |app: Router, cookie: String| async move {
        let req = Request::get("/console/board")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request");
        app.oneshot(req).await.expect("response")
    };
    // Not configured: outlines only, nothing from another site.
    let resp = get(w.app.clone(), b.cookie_header()).await;
    let csp = csp_of(&resp);
    assert!(csp.contains("img-src 'self' data:;"), "{csp}");
    assert!(!body_text(resp).await.contains("<image "));
    // Configured: tiles under the outlines, their origin allowed, the attribution shown.
    let tiled = Console::new(
        w.store.clone(),
        w.clock.clone(),
        None,
        ConsoleConfig {
            tiles: Some(vigie_console::TileServer {
                url_template: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
                attribution: "© les contributeurs d'OpenStreetMap".into(),
            }),
            ..ConsoleConfig::default()
        },
    )
    .expect("console");
    let resp = get(vigie_console::router(tiled), b.cookie_header()).await;
    let csp = csp_of(&resp);
    assert!(
        csp.contains("img-src 'self' data: https://tile.openstreetmap.org;"),
        "{csp}"
    );
    let html = body_text(resp).await;
    assert!(html.contains(r#"<image href="https://tile.openstreetmap.org/9/"#));
    assert!(
        html.contains("© les contributeurs d&#x27;OpenStreetMap</text>")
            || html.contains("© les contributeurs d&#39;OpenStreetMap</text>"),
        "attribution"
    );
}

#[tokio::test]
async fn the_board_tells_the_desk_when_the_servers_clock_jumped() {
    let w = world().await;
    let now = w_now(&w);
    let step = vigie_hub::clock::ClockStep {
        delta_ms: 3_600_000,
        seen_at: now.plus_ms(-3_600_000),
    };
    w.store
        .clock_stepped(step, vigie_hub::store::StepSeen::Running, || {})
        .await
        .expect("step recorded");
    let mut desk = signed_in(&w, "operator").await;
    let (status, page) = desk.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("L&#x27;horloge du serveur a sauté de +1 h 00 min")
            || page.contains("L'horloge du serveur a sauté de +1 h 00 min"),
        "{page}"
    );
    assert!(page.contains("aucun palier d"), "{page}");
    let mut shopkeeper = signed_in(&w, "shopkeeper").await;
    let (_, page) = shopkeeper.get(&w.app, "/console/board").await;
    assert!(!page.contains("horloge du serveur"), "the desk's business");
}

/// A browser at this address, with the sign-in form loaded.
async fn at_address(w: &World, address: &str) -> Browser {
    let mut b = Browser {
        address: Some(format!("{address}:40000").parse().expect("address")),
        ..Browser::default()
    };
    b.get(&w.app, "/console/sign-in").await;
    b
}

#[tokio::test]
async fn a_stranger_who_knows_the_username_cannot_keep_the_desk_out() {
    let w = world().await;
    let right = [("username", "operator"), ("password", PASSWORD)];
    let wrong = [("username", "operator"), ("password", "not the password")];
    // The operator signs in from her desk once (it knows this address now).
    let mut desk = at_address(&w, "10.0.0.7").await;
    let (status, _) = desk.post(&w.app, "/console/sign-in", &right).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Someone elsewhere guesses her password until told to wait long.
    let mut stranger = at_address(&w, "203.0.113.9").await;
    let mut refused = 0;
    for _ in 0..12 {
        let (status, _) = stranger.post(&w.app, "/console/sign-in", &wrong).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
            w.clock.advance_ms(1_000);
        }
    }
    assert!(refused > 0, "the guesser is slowed down");
    // The 429 says when to come back.
    let mut req_b = stranger.clone();
    let req = Request::post("/console/sign-in")
        .header(header::COOKIE, req_b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "http://vigie.test")
        .header(header::HOST, "vigie.test")
        .extension(axum::extract::ConnectInfo(
            "203.0.113.9:40000"
                .parse::<std::net::SocketAddr>()
                .expect("address"),
        ))
        .body(Body::from(format!(
            "_csrf={}&username=operator&password=x",
            req_b.csrf
        )))
        .expect("request");
    req_b.csrf.clear();
    let resp = w.app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(retry >= 1, "{retry}");
    // During the incident, from her desk, the right password goes straight in.
    let mut desk = at_address(&w, "10.0.0.7").await;
    let (status, to) = desk.post(&w.app, "/console/sign-in", &right).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/console"));
    // From a new address she waits a minute at most, then she is in.
    let mut laptop = at_address(&w, "192.0.2.44").await;
    let (status, page) = laptop.post(&w.app, "/console/sign-in", &right).await;
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(page.contains("réessayez dans"), "{page}");
        w.clock
            .advance_ms(vigie_console::auth::throttle::ACCOUNT_DELAY_MS_MAX);
        let (status, _) = laptop.post(&w.app, "/console/sign-in", &right).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    } else {
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn no_console_page_shows_an_answer_link() {
    let w = world().await;
    let now = w_now(&w);
    // A gendarmerie contact needs no opt-in: the alert goes to it with its link.
    w.store
        .add_contact(
            NewContact {
                shop_id: Some(w.shop_a),
                name: "Gendarmerie de Riom".into(),
                phone: PhoneNumber::parse("04 73 00 00 17").expect("phone"),
                relation: Relation::Police,
                tier: 1,
            },
            now,
        )
        .await
        .expect("contact");
    let id = raise(&w.store, w.shop_a, now).await;
    let detail = w.store.alarm(id).await.expect("alarm");
    let link_sms = detail
        .notifications
        .iter()
        .find(|n| n.text.contains("/r/"))
        .expect("an alert carrying its link");
    let token = link_sms
        .text
        .rsplit("/r/")
        .next()
        .expect("token")
        .to_string();
    for who in ["admin", "operator", "shopkeeper"] {
        let mut b = signed_in(&w, who).await;
        let (status, page) = b.get(&w.app, &format!("/console/alarms/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert!(
            page.contains("lien personnel masqué"),
            "{who}: the SMS is quoted"
        );
        assert!(
            !page.contains(&token) && !page.contains("/r/"),
            "{who} sees an answer link"
        );
    }
    // Investigators do not see alarms at all (recordings only).
    let mut b = signed_in(&w, "investigator").await;
    let (status, _) = b.get(&w.app, &format!("/console/alarms/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = b.get(&w.app, "/console/alarms").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A password sign-in from a new browser: its status and where it leads.
async fn fresh_sign_in(w: &World, username: &str, password: &str) -> (StatusCode, String) {
    let mut b = Browser::default();
    b.get(&w.app, "/console/sign-in").await;
    b.post(
        &w.app,
        "/console/sign-in",
        &[("username", username), ("password", password)],
    )
    .await
}

/// An administrator acts on another account from the accounts page.
async fn change(
    w: &World,
    admin: &mut Browser,
    username: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let id = w
        .store
        .account_by_username(username)
        .await
        .expect("read")
        .expect("account")
        .id;
    admin.get(&w.app, "/console/accounts").await;
    admin
        .post(&w.app, &format!("/console/accounts/{id}"), form)
        .await
}

#[tokio::test]
async fn an_administrator_disables_deletes_and_resets_accounts() {
    let w = world().await;
    let mut admin = signed_in(&w, "admin").await;
    let (_, page) = admin.get(&w.app, "/console/accounts").await;
    assert!(
        page.contains(r#"<option value="" selected disabled>"#),
        "the new-account form has no default role"
    );
    let (status, page) = admin
        .post(
            &w.app,
            "/console/accounts",
            &[
                ("username", "nobody"),
                ("display_name", "Nobody"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Choisissez le rôle"), "{page}");

    // Disabled: her open session ends and she cannot sign in.
    let mut operator = signed_in(&w, "operator").await;
    let (status, _) = change(&w, &mut admin, "operator", &[("action", "disable")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, to) = operator.get(&w.app, "/console/board").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
    let (status, _) = fresh_sign_in(&w, "operator", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = change(&w, &mut admin, "operator", &[("action", "enable")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    signed_in(&w, "operator").await;

    // A forgotten password: a new one, and the old one no longer works.
    let new_password = "a brand new pass phrase";
    let (status, _) = change(
        &w,
        &mut admin,
        "operator",
        &[("action", "password"), ("password", new_password)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = fresh_sign_in(&w, "operator", new_password).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // A lost phone: the investigator sets up a second factor again.
    let (status, _) = change(
        &w,
        &mut admin,
        "investigator",
        &[("action", "second_factor")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let account = w
        .store
        .account_by_username("investigator")
        .await
        .expect("read")
        .expect("account");
    assert!(account.totp_secret.is_none());

    // Deleting needs the box ticked; the admin's own account is not managed here.
    let (status, _) = change(&w, &mut admin, "shopkeeper", &[("action", "delete")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = change(
        &w,
        &mut admin,
        "shopkeeper",
        &[("action", "delete"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        w.store
            .account_by_username("shopkeeper")
            .await
            .expect("read")
            .is_none()
    );
    let (status, page) = change(&w, &mut admin, "admin", &[("action", "disable")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");

    // The last enabled administrator stays.
    let (status, _) = change(&w, &mut admin, "newadmin", &[("action", "disable")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let actions: Vec<String> = w
        .store
        .audit_log(200)
        .await
        .expect("audit")
        .into_iter()
        .map(|l| l.action)
        .collect();
    for a in [
        "account_disabled",
        "account_enabled",
        "account_password_reset",
        "account_second_factor_reset",
        "account_deleted",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from the audit log"
        );
    }
}

#[tokio::test]
async fn the_last_administrator_cannot_be_disabled() {
    let w = world().await;
    let admin = w
        .store
        .account_by_username("admin")
        .await
        .expect("read")
        .expect("account");
    let other = w
        .store
        .account_by_username("newadmin")
        .await
        .expect("read")
        .expect("account");
    let audit = || vigie_hub::store::Audit {
        account_id: None,
        username: "test".into(),
        action: "x",
        target: String::new(),
        reason: None,
        detail: serde_json::json!({}),
    };
    let now = w_now(&w);
    w.store
        .change_account(
            other.id,
            vigie_hub::store::AccountChange::Disable,
            audit(),
            now,
        )
        .await
        .expect("one of two");
    let e = w
        .store
        .change_account(
            admin.id,
            vigie_hub::store::AccountChange::Delete,
            audit(),
            now,
        )
        .await
        .expect_err("the last one");
    assert!(e.to_string().contains("dernier administrateur"), "{e}");
}

#[tokio::test]
async fn a_second_operator_must_take_an_alarm_over_explicitly() {
    let w = world().await;
    let mut odile = signed_in(&w, "operator").await;
    let take = format!("/console/alarms/{}/take", w.alarm_a);
    let (status, _) = odile.post(&w.app, &take, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = odile
        .get(&w.app, &format!("/console/alarms/{}", w.alarm_a))
        .await;
    assert!(page.contains("Vous suivez cette alarme"), "{page}");
    // The admin (another person of the desk) sees who has it…
    let mut admin = signed_in(&w, "admin").await;
    let (_, page) = admin
        .get(&w.app, &format!("/console/alarms/{}", w.alarm_a))
        .await;
    assert!(
        page.contains("Suivie au poste par <strong>operator</strong>"),
        "{page}"
    );
    assert!(page.contains(r#"name="takeover" value="yes""#), "{page}");
    // …cannot take it by accident…
    let (status, page) = admin.post(&w.app, &take, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("déjà pris cette alarme en main"), "{page}");
    // …and takes it over on purpose, which the audit log and the timeline keep.
    let (status, _) = admin.post(&w.app, &take, &[("takeover", "yes")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = admin
        .get(&w.app, &format!("/console/alarms/{}", w.alarm_a))
        .await;
    assert!(page.contains("à la place de operator"), "{page}");
    let audit = w.store.audit_log(100).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|l| l.action == "alarm_taken_over" && l.username == "admin")
    );
    // The alarm page's title is the shop and its code, not a UUID.
    let detail = w.store.alarm(w.alarm_a).await.expect("alarm");
    assert!(
        page.contains(&format!(
            "<title>{} — {} — Vigie</title>",
            detail.shop.name, detail.alarm.code
        )),
        "{page}"
    );
}

#[tokio::test]
async fn the_board_puts_the_alarm_waiting_longest_for_an_answer_first() {
    let w = world().await;
    // alarm_a and alarm_b were raised at T0; a newer one a minute later.
    w.clock.advance_ms(60_000);
    let newer = raise(&w.store, w.shop_b, w_now(&w)).await;
    let mut b = signed_in(&w, "operator").await;
    let (_, page) = b.get(&w.app, "/console/board").await;
    let pos = |id: Uuid| {
        page.find(&format!(r#"data-alarm-id="{id}""#))
            .expect("on the board")
    };
    assert!(
        pos(w.alarm_a).min(pos(w.alarm_b)) < pos(newer),
        "oldest unanswered first"
    );
    assert!(page.contains("sans réponse"), "{page}");
}

#[tokio::test]
async fn the_alarm_list_filters_by_state_shop_and_day_and_the_audit_log_speaks_words() {
    let w = world().await;
    let mut b = signed_in(&w, "admin").await;
    let shops = w.store.shops().await.expect("shops");
    let name_b = &shops
        .iter()
        .find(|s| s.id == w.shop_b)
        .expect("shop b")
        .name;
    let (status, page) = b
        .get(
            &w.app,
            &format!("/console/alarms?state=open&shop={}", urlencode(name_b)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&w.alarm_b.to_string()), "{page}");
    assert!(
        !page.contains(&w.alarm_a.to_string()),
        "another shop filtered out"
    );
    let (_, page) = b.get(&w.app, "/console/alarms?state=resolved").await;
    assert!(!page.contains(&w.alarm_a.to_string()) && !page.contains(&w.alarm_b.to_string()));
    // T0 is 2027-01-15 in Paris: the day before shows nothing, the day itself both.
    let (_, page) = b.get(&w.app, "/console/alarms?to=2027-01-14").await;
    assert!(!page.contains(&w.alarm_a.to_string()), "{page}");
    let (_, page) = b
        .get(&w.app, "/console/alarms?from=2027-01-15&to=2027-01-15")
        .await;
    assert!(
        page.contains(&w.alarm_a.to_string()) && page.contains(&w.alarm_b.to_string()),
        "{page}"
    );
    // The audit log: words, and the alarm a line is about is a link.
    let (_, _) = b
        .post(&w.app, &format!("/console/alarms/{}/take", w.alarm_a), &[])
        .await;
    let (_, page) = b.get(&w.app, "/console/audit").await;
    assert!(page.contains("Alarme prise en main au poste"), "{page}");
    assert!(
        page.contains(&format!(
            r#"<a href="&#x2f;console&#x2f;alarms&#x2f;{0}">alarm:{0}</a>"#,
            w.alarm_a
        )),
        "{page}"
    );
}

/// A small tmpfs (the disk that fills up), unmounted on drop. Needs root,
/// as CI and the test script have.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let at = std::env::temp_dir().join(format!("vigie-console-disk-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&at).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (the disk-full test needs root)",
            at.display()
        );
        Self(at)
    }

    /// Write zeros until the disk is full; the file that fills it.
    fn fill(&self) -> std::path::PathBuf {
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
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The next Server-Sent Event of a stream, whole.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
) -> String {
    let mut received = String::new();
    while !received.contains("\n\n") {
        let chunk = stream.next().await.expect("an event").expect("bytes");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    received
}

const CANNOT_WRITE_FR: &str = "Le hub ne peut plus enregistrer : disque plein ou en erreur.";

#[tokio::test]
async fn a_hub_that_cannot_write_says_so_on_every_page_and_on_the_live_board() {
    let disk = SmallDisk::mount("4m");
    let dir = disk.0.join("hub");
    std::fs::create_dir_all(&dir).expect("hub folder");
    // An SQLite file on the small disk, whichever backend the other tests
    // run on: this is the disk that fills up.
    let location = vigie_hub::store::Location::Sqlite(dir.join("vigie.db"));
    let w = world_at(tempdir::Dir(dir), location).await;
    let mut desk = signed_in(&w, "operator").await;
    let mut shopkeeper = signed_in(&w, "shopkeeper").await;
    let (_, board) = desk.get(&w.app, "/console/board").await;
    assert!(!board.contains(CANNOT_WRITE_FR), "{board}");
    assert!(w.store.can_write());
    let req = Request::get("/console/live")
        .header(header::COOKIE, desk.cookie_header())
        .body(Body::empty())
        .expect("request");
    let resp = w.app.clone().oneshot(req).await.expect("response");
    let mut stream = resp.into_body().into_data_stream();
    let first = next_event(&mut stream).await;
    assert!(!first.contains(CANNOT_WRITE_FR), "{first}");

    // The disk fills up: writes fail until one is refused for it.
    let filler = disk.fill();
    const WRITES_TRIED_MAX: usize = 10_000;
    let mut refused = None;
    for i in 0..WRITES_TRIED_MAX {
        let r = w
            .store
            .add_contact(
                NewContact {
                    shop_id: Some(w.shop_b),
                    name: format!("Voisin {i} {}", "x".repeat(60)),
                    phone: PhoneNumber::parse(&format!(
                        "06 {:02} {:02} 00 00",
                        i / 100 % 100,
                        i % 100
                    ))
                    .expect("phone"),
                    relation: Relation::Friend,
                    tier: 2,
                },
                w_now(&w),
            )
            .await;
        if let Err(e) = r {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the full disk refuses a write");
    assert!(refused.cannot_write(), "{refused}");
    assert!(!w.store.can_write());

    // Every page says it, for every role that has pages, in both languages.
    for path in [
        "/console/board",
        "/console/alarms",
        "/console/shops",
        "/console/fleet",
        "/console/me",
    ] {
        let (status, html) = desk.get(&w.app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(html.matches(CANNOT_WRITE_FR).count(), 1, "{path}: {html}");
        assert!(html.contains("SMS direct des boîtiers"), "{path}");
        assert!(
            html.contains(r#"id="store-cannot-write" class="banner-down" role="alert""#),
            "{path}"
        );
    }
    let (_, own) = shopkeeper
        .get(&w.app, &format!("/console/shops/{}", w.shop_a))
        .await;
    assert!(own.contains(CANNOT_WRITE_FR), "{own}");
    let req = Request::get("/console/board")
        .header(
            header::COOKIE,
            format!("{}; vigie_lang=en", desk.cookie_header()),
        )
        .body(Body::empty())
        .expect("request");
    let english = body_text(w.app.clone().oneshot(req).await.expect("response")).await;
    assert!(
        english.contains("The hub can no longer record anything"),
        "{english}"
    );
    // The board open before the disk filled up says it without a reload.
    let mut event = next_event(&mut stream).await;
    while !event.contains(CANNOT_WRITE_FR) {
        event = next_event(&mut stream).await;
    }
    assert!(event.starts_with("event: board\n"), "{event}");

    // Room again: the next write commits, and the banner goes.
    std::fs::remove_file(filler).expect("free the disk");
    w.store
        .audit(
            vigie_hub::store::Audit {
                account_id: None,
                username: "operator".into(),
                action: "test_room_again",
                target: String::new(),
                reason: None,
                detail: serde_json::Value::Null,
            },
            w_now(&w),
        )
        .await
        .expect("a write once there is room");
    assert!(w.store.can_write());
    let (_, board) = desk.get(&w.app, "/console/board").await;
    assert!(!board.contains(CANNOT_WRITE_FR), "{board}");
    let mut event = next_event(&mut stream).await;
    while event.contains(CANNOT_WRITE_FR) {
        event = next_event(&mut stream).await;
    }
}

#[tokio::test]
async fn the_desk_and_the_shopkeeper_edit_a_shops_record_with_every_problem_in_words() {
    let w = world().await;
    let mut shopkeeper = signed_in(&w, "shopkeeper").await;
    let own = format!("/console/shops/{}", w.shop_a);
    let good = [
        ("name", "Tabac du Port"),
        ("address", "3 quai Gailleton"),
        ("holder_name", "Marie Dupont"),
        ("holder_phone", "06 12 34 56 78"),
        ("opening_hours", "lu-sa 07:00-19:30; di 08:00-12:00"),
    ];
    let (_, page) = shopkeeper.get(&w.app, &own).await;
    assert!(page.contains(r#"<form id="edit-shop""#), "{page}");
    let (status, to) = shopkeeper.post(&w.app, &own, &good).await;
    assert_eq!(
        (status, to.as_str()),
        (
            StatusCode::SEE_OTHER,
            format!("{own}?done=shop_updated").as_str()
        )
    );
    let shop = w.store.shop(w.shop_a).await.expect("shop");
    assert_eq!(
        (
            shop.name.as_str(),
            shop.address.as_str(),
            shop.holder_name.as_str(),
            shop.holder_phone.as_e164(),
            shop.opening_hours.as_str()
        ),
        (
            "Tabac du Port",
            "3 quai Gailleton",
            "Marie Dupont",
            "+33612345678",
            "lu-sa 07:00-19:30; di 08:00-12:00"
        )
    );
    let (_, page) = shopkeeper.get(&w.app, &to).await;
    assert!(page.contains("Fiche de la boutique enregistrée."), "{page}");
    let audit = w.store.audit_log(10).await.expect("audit");
    let line = audit
        .iter()
        .find(|l| l.action == "shop_edited")
        .expect("audited");
    assert_eq!(
        (line.username.as_str(), line.target.as_str()),
        ("shopkeeper", format!("shop:{}", w.shop_a).as_str())
    );
    assert_eq!(
        line.detail["name"]["to"], "Tabac du Port",
        "{}",
        line.detail
    );
    assert!(line.detail.get("reference").is_none());

    // Another shop: not found, and nothing changed.
    let before = w.store.shop(w.shop_b).await.expect("shop").name;
    let (status, _) = shopkeeper
        .post(&w.app, &format!("/console/shops/{}", w.shop_b), &good)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(w.store.shop(w.shop_b).await.expect("shop").name, before);

    // Bad values: every problem said on the form, next to its field, what was typed kept.
    let (status, page) = shopkeeper
        .post(
            &w.app,
            &own,
            &[
                ("name", " "),
                ("address", "3 quai Gailleton"),
                ("holder_name", "Marie Dupont"),
                ("holder_phone", "06 12 ab"),
                ("opening_hours", "lundi 7h"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Rien n&#x27;a été enregistré") || page.contains("Rien n'a été enregistré"),
        "{page}"
    );
    assert!(page.contains("Nom : à remplir"), "{page}");
    assert!(
        page.contains("Téléphone du titulaire : caractère « a »"),
        "{page}"
    );
    assert!(page.contains("Horaires : "), "{page}");
    assert!(
        page.contains(r#"id="shop-holder_phone" name="holder_phone" value="06 12 ab""#),
        "{page}"
    );
    assert!(
        page.contains(r#"aria-describedby="shop-name-problem""#),
        "{page}"
    );
    assert!(
        !page.contains(r#"aria-describedby="shop-address-problem""#),
        "{page}"
    );
    assert_eq!(
        w.store.shop(w.shop_a).await.expect("shop").name,
        "Tabac du Port"
    );

    // The desk edits any shop.
    let mut desk = signed_in(&w, "operator").await;
    let (status, _) = desk
        .post(&w.app, &format!("/console/shops/{}", w.shop_b), &good)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        w.store.shop(w.shop_b).await.expect("shop").holder_name,
        "Marie Dupont"
    );
}

impl Browser {
    /// A `multipart/form-data` post, as a browser sends a form with a file.
    async fn post_multipart(
        &mut self,
        app: &Router,
        path: &str,
        fields: &[(&str, Option<&str>, &str)],
    ) -> (StatusCode, String) {
        const BOUNDARY: &str = "----vigieTestBoundary7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (name, filename, value) in fields {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
            ));
            if let Some(f) = filename {
                body.push_str(&format!("; filename=\"{f}\"\r\nContent-Type: text/csv"));
            }
            body.push_str(&format!("\r\n\r\n{value}\r\n"));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        let req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::ORIGIN, "http://vigie.test")
            .header(header::HOST, "vigie.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request");
        self.send(app, req).await
    }
}

#[tokio::test]
async fn a_shop_list_uploaded_as_a_file_reports_every_problem_at_once_in_the_pages_language() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    let before = w.store.shops().await.expect("shops").len();
    let existing = w.store.shop(w.shop_a).await.expect("shop").reference;
    let header = vigie_hub::region::SHOP_CSV_HEADER;
    let bad = format!(
        "{header}\r\nARA-9001,Tabac A,1 rue A,63430,Anne A,0611111111,mo-sa 07:00-19:00\r\n\
         ARA-9002,,2 rue B,99999,Bob B,06 zz,lundi\r\n\
         ARA-9001,Tabac C,3 rue C,63113,Cy C,0633333333,\r\n\
         {existing},Tabac D,4 rue D,63113,Di D,0644444444,\r\n"
    );
    // Without its token, an upload is refused like any form.
    let token = b.csrf.clone();
    let (status, _) = b
        .post_multipart(
            &w.app,
            "/console/shops/import",
            &[("file", Some("shops.csv"), &bad)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = b
        .post_multipart(
            &w.app,
            "/console/shops/import",
            &[
                ("_csrf", None, &token),
                ("file", Some("shops.csv"), &bad),
                ("csv", None, ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let problems: Vec<&str> = page
        .split(r#"<ul class="import-errors">"#)
        .nth(1)
        .and_then(|p| p.split("</ul>").next())
        .expect("the list of problems")
        .split("<li>")
        .skip(1)
        .collect();
    assert_eq!(
        problems.len(),
        6,
        "every problem of every line: {problems:?}"
    );
    for expected in [
        "ligne 3 : name (nom) : à remplir",
        "ligne 3 : code INSEE 99999",
        "ligne 3 : holder_phone",
        "ligne 3 : opening_hours",
        "ligne 4 : référence « ARA-9001 » déjà à la ligne 2",
        "ligne 5 : la boutique",
    ] {
        assert!(
            page.contains(&expected.replace('\'', "&#x27;")) || page.contains(expected),
            "{expected}: {page}"
        );
    }
    assert_eq!(w.store.shops().await.expect("shops").len(), before);

    // The same file, the page in English: the problems in English.
    b.cookies.insert("vigie_lang".into(), "en".into());
    let (_, page) = b
        .post_multipart(
            &w.app,
            "/console/shops/import",
            &[("_csrf", None, &token), ("file", Some("shops.csv"), &bad)],
        )
        .await;
    assert!(page.contains("line 3: INSEE code 99999 unknown"), "{page}");
    assert!(page.contains("line 4: reference"), "{page}");
    assert!(!page.contains("ligne 3"), "{page}");
    b.cookies.remove("vigie_lang");

    // A good file is imported.
    let good = format!(
        "{header}\r\nARA-9001,Tabac A,1 rue A,63430,Anne A,0611111111,mo-sa 07:00-19:00\r\nARA-9002,Tabac B,2 rue B,69385,Bob B,0622222222,\r\n"
    );
    let (status, to) = b
        .post_multipart(
            &w.app,
            "/console/shops/import",
            &[
                ("_csrf", None, &token),
                ("file", Some("shops.csv"), &good),
                ("csv", None, ""),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/shops?imported=2")
    );
    assert_eq!(w.store.shops().await.expect("shops").len(), before + 2);
    let lyon = w.store.shop_by_reference("ARA-9002").await.expect("shop");
    assert_eq!(
        (lyon.commune.as_str(), lyon.postcode.as_str()),
        ("Lyon", "69005")
    );
}

async fn enrolled(store: &Store, code: &str, now: Timestamp) -> String {
    let key = vigie_proto::signature::DeviceKey::generate();
    store
        .enroll(code, &key.public_key_b64(), "test", now)
        .await
        .expect("enroll")
        .0
        .id
}

fn heartbeat(
    now: Timestamp,
    modem: vigie_proto::ModemState,
    signal_csq: Option<u8>,
) -> vigie_proto::Heartbeat {
    vigie_proto::Heartbeat {
        sent_at_ms: now.as_ms(),
        battery_pct: Some(85),
        on_mains: true,
        signal_csq,
        modem,
        free_storage_mb: 500,
        version: "1.0.0".into(),
        outbox_depth: 0,
        uptime_s: 60,
        clock_offset_ms: 0,
    }
}

/// The row of the health table for `device`, slashes unescaped.
fn health_row(page: &str, device: &str) -> String {
    let start = page
        .find(&format!(r#"data-device-id="{device}""#))
        .unwrap_or_else(|| panic!("no row for {device}: {page}"));
    let rest = &page[start..];
    rest[..rest.find("</tr>").expect("row end")].replace("&#x2f;", "/")
}

#[tokio::test]
async fn the_fleet_links_serials_and_boxes_says_no_network_only_when_reported_and_flags_oddities() {
    let w = world().await;
    let now = w_now(&w);
    // A box from stock, assigned to shop A and enrolled with its code.
    w.store
        .add_hardware(vec!["SN-A1".into(), "SN-A2".into()], now)
        .await
        .expect("stock");
    let code = w
        .store
        .assign_hardware("SN-A1", w.shop_a, now)
        .await
        .expect("assign");
    let from_stock = enrolled(&w.store, &code.code, now).await;
    // Two more on shop A: three boxes in service on one shop.
    let code = w
        .store
        .new_enrolment_code(w.shop_a, now)
        .await
        .expect("code");
    let searching = enrolled(&w.store, &code, now).await;
    let silent = w
        .store
        .alarm(w.alarm_a)
        .await
        .expect("alarm")
        .alarm
        .device_id;
    let hb = |modem, csq| heartbeat(now, modem, csq);
    w.store
        .record_heartbeat(
            &from_stock,
            hb(vigie_proto::ModemState::Registered, Some(17)),
            now.as_ms() / 1_000,
            now,
        )
        .expect("heartbeat");
    w.store
        .record_heartbeat(
            &searching,
            hb(vigie_proto::ModemState::Searching, Some(99)),
            now.as_ms() / 1_000,
            now,
        )
        .expect("heartbeat");

    let mut desk = signed_in(&w, "operator").await;
    let (status, page) = desk.get(&w.app, "/console/fleet").await;
    assert_eq!(status, StatusCode::OK);
    let page = page.replace("&#x2f;", "/");
    // The serial links to its box, and the box to its serial.
    let stock_row = page
        .split(r#"<tr id="serial-SN-A1""#)
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("the serial's row");
    assert!(
        stock_row.contains(&format!(r##"href="#device-{from_stock}""##)),
        "{stock_row}"
    );
    let row = health_row(&page, &from_stock);
    assert!(
        page.contains(&format!(r#"id="device-{from_stock}" data-device-id"#)),
        "{row}"
    );
    assert!(
        row.contains(r##"<a href="#serial-SN-A1">SN-A1</a>"##),
        "{row}"
    );
    // Battery and signal shown; the network as the modem said it.
    assert!(row.contains("85 %"), "{row}");
    assert!(row.contains("17/31 (bon, −79 dBm)"), "{row}");
    assert!(row.contains(">réseau<"), "{row}");
    assert!(!row.contains("pas de réseau"), "{row}");
    // « Pas de réseau » when the modem said it was searching…
    let row = health_row(&page, &searching);
    assert!(row.contains("pas de réseau"), "{row}");
    assert!(
        !row.contains("/31"),
        "an unmeasured signal (99) is not shown: {row}"
    );
    // …and not for a box that never said anything.
    let row = health_row(&page, &silent);
    assert!(!row.contains("pas de réseau"), "{row}");
    // Three boxes on one shop are flagged, linked to the shop.
    let shop_name = w.store.shop(w.shop_a).await.expect("shop").name;
    assert!(
        page.contains(&format!(
            "3 boîtiers en service sur la boutique {shop_name}"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            r#"<li data-kind="many_boxes"><a href="/console/shops/{}">"#,
            w.shop_a
        )),
        "{page}"
    );
    assert!(!page.contains(r#"data-kind="no_shop""#));
}

#[tokio::test]
async fn the_map_answers_the_view_asked_and_links_each_alarm_to_its_page() {
    let w = world().await;
    let mut b = signed_in(&w, "operator").await;
    let zoom_of = |html: &str| -> Option<u8> {
        let at = html.find("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"region-map")?;
        html[at..]
            .split("data-zoom=\"")
            .nth(1)?
            .split('"')
            .next()?
            .parse()
            .ok()
    };
    // The board: the whole Region, its zoom link, every département's view.
    let (status, board) = b.get(&w.app, "/console/board").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(zoom_of(&board), Some(0));
    assert!(
        board.contains(
            r#"<a class="map-zoom-in" href="&#x2f;console&#x2f;board?zoom=1&amp;center="#
        )
    );
    assert!(board.contains(r#"<a href="&#x2f;console&#x2f;board?dept=63">Puy-de-Dôme (63)</a>"#));
    assert!(
        board.contains(">Puy-de-Dôme</text>"),
        "the départements are named"
    );
    // Each live alarm is a marker linked to its page and named with its code.
    for (alarm, shop) in [(w.alarm_a, w.shop_a), (w.alarm_b, w.shop_b)] {
        let code = w.store.alarm(alarm).await.expect("alarm").alarm.code;
        let s = w.store.shop(shop).await.expect("shop");
        let marker = format!(
            r#"<a class="alarm-marker" href="/console/alarms/{alarm}" aria-label="Alarme : {}, {} — code {code}">"#,
            s.name, s.commune
        );
        assert!(
            board.contains(&marker.replace('\'', "&#39;")) || board.contains(&marker),
            "{marker}"
        );
    }
    // The map alone, for a view: zoomed, a département, nonsense.
    let (status, zoomed) = b
        .get(&w.app, "/console/map?zoom=3&center=45.7870,3.1127&px=390")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(zoom_of(&zoomed), Some(3));
    assert!(
        zoomed.trim_start().starts_with(r#"<div id="map-view""#) && !zoomed.contains("<html"),
        "a fragment, not a page"
    );
    assert!(
        zoomed.contains(r#"aria-label="Vers le nord""#),
        "pan links once zoomed"
    );
    assert!(
        zoomed.contains(">Clermont-Ferrand</text>"),
        "communes named when zoomed in"
    );
    let (_, dept) = b.get(&w.app, "/console/map?dept=69").await;
    assert!(
        zoom_of(&dept).is_some_and(|z| z >= 1),
        "a département is closer than the Region"
    );
    for nonsense in [
        "zoom=abc",
        "zoom=-4&center=1,2,3",
        "dept=%3Cscript%3E",
        "px=NaN",
    ] {
        let (status, html) = b.get(&w.app, &format!("/console/map?{nonsense}")).await;
        assert_eq!(status, StatusCode::OK, "{nonsense}");
        assert_eq!(zoom_of(&html), Some(0), "{nonsense}: the whole Region");
        assert!(!html.contains("<script>"));
    }
    // A shopkeeper's board shows her shop, not the Region's map.
    let mut shopkeeper = signed_in(&w, "shopkeeper").await;
    let (_, own) = shopkeeper.get(&w.app, "/console/board").await;
    assert!(!own.contains("region-map"));
}
