//! The command line as an operator and a tester use it: shop import (all
//! or nothing), contacts, enrolment codes, a command-line button, alarm
//! list and resolve, DC-09 transmitters, SOS pendants, and `serve`
//! refusing a bad configuration.

use crate::hub::*;

const HEADER: &str = "reference,name,address,insee,holder_name,holder_phone,opening_hours";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `vigie ARGS…`, expect success, and return stdout.
async fn ok(args: &[&str]) -> String {
    let out = vigie(args).await;
    assert!(
        out.status.success(),
        "vigie {args:?} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The arguments of `vigie admin --config CFG shop import FILE`.
fn shop_import<'a>(cfg: &'a str, file: &'a std::path::Path) -> [&'a str; 6] {
    let file = file.to_str().expect("utf-8 path");
    ["admin", "--config", cfg, "shop", "import", file]
}

/// The arguments of `vigie admin --config CFG --json GROUP ARGS…`.
fn admin_json<'a>(cfg: &'a str, group: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["admin", "--config", cfg, "--json", group];
    all.extend_from_slice(args);
    all
}

#[tokio::test]
async fn admin_import_device_press_and_resolve_through_the_cli() {
    let dir = TempDir::new("vigie-cli");
    let port = free_port();
    let config = write_config(
        &dir,
        port,
        "[[gateways]]\nkind = \"log\"\nname = \"phones\"\n",
    );
    let cfg = config.to_str().expect("utf-8 path");

    // One bad line (unknown INSEE code): nothing imported, the line named.
    let bad = dir.path("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{HEADER}\nA1,Tabac du Centre,\"3, place de la Mairie\",63430,Jeanne Martin,06 12 34 56 78,\n\
             A2,Le Balto,1 rue Neuve,99999,Jo Petit,06 12 34 56 79,\n\
             A3,Le Narval,2 cours Berriat,38185,Lea Roux,06 12 34 56 80,\n"
        ),
    )
    .expect("write csv");
    let out = vigie(&shop_import(cfg, &bad)).await;
    assert!(!out.status.success(), "a bad file is refused");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ligne 3") && stderr.contains("99999"),
        "the bad line is named: {stderr}"
    );
    assert!(
        !stderr.contains("ligne 2") && !stderr.contains("ligne 4"),
        "{stderr}"
    );
    let shops = json(&ok(&["admin", "--config", cfg, "--json", "shop", "list"]).await);
    assert_eq!(shops, serde_json::json!([]), "nothing imported");

    // The corrected file imports every shop.
    let good = dir.path("good.csv");
    std::fs::write(
        &good,
        std::fs::read_to_string(&bad)
            .expect("csv")
            .replace("99999", "63300"),
    )
    .expect("write csv");
    ok(&shop_import(cfg, &good)).await;
    let shops = json(&ok(&["admin", "--config", cfg, "--json", "shop", "list"]).await);
    let refs: Vec<&str> = shops
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["reference"].as_str())
        .collect();
    assert_eq!(refs, ["A1", "A2", "A3"]);
    assert_eq!(shops[0]["commune"], "Thiers");

    ok(&[
        "admin",
        "--config",
        cfg,
        "contact",
        "add",
        "--shop",
        "A1",
        "--relation",
        "police",
        "--tier",
        "1",
        "--name",
        "Marie Dupont",
        "--phone",
        "06 11 22 33 44",
    ])
    .await;
    let code = json(
        &ok(&[
            "admin", "--config", cfg, "code", "new", "--shop", "A1", "--json",
        ])
        .await,
    );
    let code = code
        .as_str()
        .expect("the code as a JSON string")
        .to_string();

    // A command-line button: enrol, press, get a durable receipt.
    let hub = HubProcess::start(&dir, &config, port).await;
    let state = dir.path("device.json");
    let state_arg = state.to_str().expect("path");
    let enrolled = ok(&[
        "device", "enroll", "--hub", &hub.url, "--code", &code, "--state", state_arg,
    ])
    .await;
    assert!(enrolled.contains("Tabac du Centre"), "{enrolled}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state)
            .expect("state file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the device key is private");
    }
    let receipt = json(&ok(&["device", "--state", state_arg, "press"]).await);
    assert_eq!(receipt["durable"], true, "{receipt}");
    assert_eq!(receipt["state"], "open", "{receipt}");
    assert_eq!(receipt["contacts_alerting"], 1, "{receipt}");
    let alarm_id = receipt["alarm_id"].as_str().expect("alarm id").to_string();

    let alarms = json(&ok(&["admin", "--config", cfg, "--json", "alarm", "list"]).await);
    let listed = alarms
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["id"] == alarm_id.as_str())
        .unwrap_or_else(|| panic!("alarm {alarm_id} listed: {alarms}"));
    assert_eq!(listed["code"], receipt["code"]);

    // Resolve once; a second time is refused with a clear message.
    let closed = ok(&[
        "admin",
        "--config",
        cfg,
        "alarm",
        "resolve",
        &alarm_id,
        "--outcome",
        "false_alarm",
    ])
    .await;
    assert!(
        closed.contains(&alarm_id) && closed.contains("false_alarm"),
        "{closed}"
    );
    let again = vigie(&[
        "admin",
        "--config",
        cfg,
        "alarm",
        "resolve",
        &alarm_id,
        "--outcome",
        "false_alarm",
    ])
    .await;
    assert!(
        !again.status.success(),
        "a closed alarm cannot be resolved again"
    );
    let stderr = text(&again.stderr);
    assert!(stderr.contains("already closed"), "{stderr}");
    let alarms = json(&ok(&["admin", "--config", cfg, "--json", "alarm", "list"]).await);
    assert_eq!(alarms[0]["state"], "resolved", "{alarms}");
    assert_eq!(alarms[0]["outcome"], "false_alarm", "{alarms}");
    // A list cut short says so, rather than stopping silently.
    let none = vigie(&["admin", "--config", cfg, "alarm", "list", "--limit", "0"]).await;
    assert!(none.status.success());
    let stderr = text(&none.stderr);
    assert!(
        stderr.contains("il y en a d'autres") && stderr.contains("--limit N"),
        "{stderr}"
    );
    let all = vigie(&["admin", "--config", cfg, "alarm", "list", "--limit", "1000"]).await;
    assert!(
        text(&all.stderr).is_empty(),
        "nothing cut: {}",
        text(&all.stderr)
    );
}

#[tokio::test]
async fn serve_refuses_an_unknown_configuration_key_and_names_it() {
    let dir = TempDir::new("vigie-cli-config");
    let port = free_port();
    let config = dir.path("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nsqlite_path = \"{}\"\n\
             [escalation]\ntier_timeout_s = 60\nrepeat_forever = true\n",
            dir.path("hub.db").display()
        ),
    )
    .expect("write config");
    let out = tokio::time::timeout(
        DEADLINE,
        vigie(&["serve", "--config", config.to_str().expect("path")]),
    )
    .await
    .expect("vigie serve stops at once on a bad configuration");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("repeat_forever"),
        "the key is named: {stderr}"
    );
}

/// `vigie ARGS…` with `input` on standard input (a password), expecting success.
async fn ok_with_input(args: &[&str], input: &str) -> String {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(VIGIE)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run vigie");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().await.expect("vigie ends");
    assert!(
        out.status.success(),
        "vigie {args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
async fn accounts_are_disabled_reset_and_deleted_from_the_cli() {
    let dir = TempDir::new("vigie-cli-accounts");
    let config = write_config(&dir, free_port(), "");
    let cfg = config.to_str().expect("utf-8 path");
    let account = |args: &[&'static str]| admin_json(cfg, "account", args);
    for (user, role) in [("adele", "admin"), ("odile", "operator")] {
        let args = admin_json(
            cfg,
            "account",
            &["add", "--username", user, "--name", user, "--role", role],
        );
        ok_with_input(&args, "a long pass phrase\n").await;
    }
    ok(&account(&["disable", "--username", "odile"])).await;
    let list = json(&ok(&account(&["list"])).await);
    let odile = list
        .as_array()
        .and_then(|a| a.iter().find(|x| x["username"] == "odile"))
        .cloned()
        .expect("odile listed");
    assert_eq!(odile["disabled"], true, "{list}");
    ok(&account(&["enable", "--username", "odile"])).await;
    ok_with_input(
        &account(&["password", "--username", "odile"]),
        "another long pass phrase\n",
    )
    .await;
    ok(&account(&["reset-second-factor", "--username", "odile"])).await;
    ok(&account(&["delete", "--username", "odile"])).await;
    let list = json(&ok(&account(&["list"])).await);
    assert!(
        list.as_array()
            .is_some_and(|a| a.iter().all(|x| x["username"] != "odile")),
        "{list}"
    );
    // The last administrator stays, and the error says what to do.
    let out = vigie(&[
        "admin",
        "--config",
        cfg,
        "account",
        "disable",
        "--username",
        "adele",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("dernier administrateur"),
        "{}",
        text(&out.stderr)
    );
    let store = open_store(&config);
    let actions: Vec<String> = store
        .audit_log(100)
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
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
}

/// The demo story end to end on a PostgreSQL store (`vigie demo --scenario
/// --store postgres://…`), whichever backend the other tests run on.
#[tokio::test]
async fn the_demo_story_runs_on_postgresql() {
    let url = vigie_testkit::postgres::fresh_database().expect("a PostgreSQL database");
    let out = ok(&["demo", "--scenario", "--port", "0", "--store", &url]).await;
    assert!(out.contains("Scénario réussi"), "{out}");
    assert!(out.contains("(PostgreSQL : postgres://"), "{out}");
    let states = vigie_testkit::postgres::psql(
        &url,
        &["SELECT state || ':' || COUNT(*) FROM alarms GROUP BY state ORDER BY state"],
    )
    .expect("psql");
    assert_eq!(
        states.trim(),
        "cancelled:1\nopen:1\nresolved:3",
        "the story's alarms are in PostgreSQL (the button's, the panel's and the pendant's resolved)"
    );
}

/// `vigie admin transmitter`: an operator registers a panel for a shop,
/// sees it listed, is told plainly what is wrong with a bad key, account or
/// a second registration, takes it out of service, and can register it again.
#[tokio::test]
async fn transmitters_are_added_listed_refused_and_removed_from_the_cli() {
    let dir = TempDir::new("vigie-cli-transmitters");
    let config = write_config(&dir, free_port(), "");
    let cfg = config.to_str().expect("utf-8 path");
    let shops = dir.path("shops.csv");
    std::fs::write(
        &shops,
        format!("{HEADER}\nTABAC-63-001,Tabac du Centre,\"3, place de la Mairie\",63430,Jeanne Martin,06 12 34 56 78,\n"),
    )
    .expect("write csv");
    ok(&shop_import(cfg, &shops)).await;
    let transmitter = |args: &[&'static str]| admin_json(cfg, "transmitter", args);
    let add = [
        "add",
        "--shop",
        "TABAC-63-001",
        "--account",
        "0123ab",
        "--key-ascii",
        "0123456789ABCDEF",
        "--supervision-interval-s",
        "600",
    ];
    let out = vigie(&transmitter(&add)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let added = json(&text(&out.stdout));
    assert_eq!(
        added,
        serde_json::json!({ "account": "0123AB", "shop": "TABAC-63-001", "encrypted": true })
    );
    let list = json(&text(&vigie(&transmitter(&["list"])).await.stdout));
    let listed = list.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["account"], "0123AB", "leading zero kept: {list}");
    assert_eq!(
        listed[0]["shop"], "TABAC-63-001",
        "the shop by its reference: {list}"
    );
    assert_eq!(listed[0]["encrypted"], true, "{list}");
    assert_eq!(listed[0]["supervision_interval_s"], 600, "{list}");
    assert!(
        listed[0].get("key").is_none(),
        "the key is never printed: {list}"
    );
    let plain = text(
        &vigie(&["admin", "--config", cfg, "transmitter", "list"])
            .await
            .stdout,
    );
    assert!(
        plain.starts_with("0123AB\tTABAC-63-001\tAES\tsupervision 600 s"),
        "{plain}"
    );
    assert!(
        !plain.contains("0123456789ABCDEF"),
        "the key is never printed"
    );

    // Each mistake is refused with what to do, and changes nothing.
    for (args, says) in [
        (
            vec![
                "add",
                "--shop",
                "TABAC-63-001",
                "--account",
                "0456",
                "--key-ascii",
                "short",
            ],
            "16, 24 or 32",
        ),
        (
            vec![
                "add",
                "--shop",
                "TABAC-63-001",
                "--account",
                "0456",
                "--key-hex",
                "zz",
            ],
            "32, 48 or 64 hex digits",
        ),
        (
            vec!["add", "--shop", "TABAC-63-001", "--account", "12G4"],
            "3 to 16 hex digits",
        ),
        (
            vec!["add", "--shop", "TABAC-63-001", "--account", "0123AB"],
            "already registered",
        ),
        (
            vec!["add", "--shop", "TABAC-99-999", "--account", "0789"],
            "TABAC-99-999",
        ),
        (vec!["remove", "--account", "0999"], "unknown DC-09 account"),
    ] {
        let out = vigie(&transmitter(&args)).await;
        assert!(!out.status.success(), "{args:?} is refused");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let list = json(&text(&vigie(&transmitter(&["list"])).await.stdout));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Out of service, then back with a new key in hex.
    let out = vigie(&transmitter(&["remove", "--account", "0123AB"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = json(&text(&vigie(&transmitter(&["list"])).await.stdout));
    assert_eq!(list, serde_json::json!([]), "removed: {list}");
    let out = vigie(&transmitter(&[
        "add",
        "--shop",
        "TABAC-63-001",
        "--account",
        "0123AB",
        "--key-hex",
        "000102030405060708090a0b0c0d0e0f",
    ]))
    .await;
    assert!(
        out.status.success(),
        "registered again: {}",
        text(&out.stderr)
    );
    let list = json(&text(&vigie(&transmitter(&["list"])).await.stdout));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

/// `vigie admin pendant`: an operator registers a shop's SOS pendant by its
/// SIM's number (normalised to E.164) with a non-alarm pattern, sees it
/// listed, is told plainly why a contact's, a holder's or another
/// pendant's number cannot be one, takes it out of service, and can
/// register it again.
#[tokio::test]
async fn pendants_are_added_listed_refused_and_removed_from_the_cli() {
    let dir = TempDir::new("vigie-cli-pendants");
    let config = write_config(&dir, free_port(), "");
    let cfg = config.to_str().expect("utf-8 path");
    let shops = dir.path("shops.csv");
    std::fs::write(
        &shops,
        format!("{HEADER}\nTABAC-63-001,Tabac du Centre,\"3, place de la Mairie\",63430,Jeanne Martin,06 12 34 56 78,\n"),
    )
    .expect("write csv");
    ok(&shop_import(cfg, &shops)).await;
    ok(&admin_json(
        cfg,
        "contact",
        &[
            "add",
            "--shop",
            "TABAC-63-001",
            "--name",
            "Marie Dupont",
            "--phone",
            "06 11 22 33 44",
        ],
    ))
    .await;
    let pendant = |args: &[&'static str]| admin_json(cfg, "pendant", args);
    let added = json(
        &ok(&pendant(&[
            "add",
            "--shop",
            "TABAC-63-001",
            "--phone",
            "06.70.00.00.01",
            "--pattern",
            "Balise active",
        ]))
        .await,
    );
    assert_eq!(
        added,
        serde_json::json!({ "phone": "+33670000001", "shop": "TABAC-63-001", "patterns": ["Balise active"] })
    );
    let list = json(&ok(&pendant(&["list"])).await);
    let listed = list.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["phone"], "+33670000001", "{list}");
    assert_eq!(listed[0]["shop"], "TABAC-63-001", "{list}");
    assert_eq!(listed[0]["patterns"], serde_json::json!(["Balise active"]));
    assert_eq!(listed[0]["last_message_at"], serde_json::Value::Null);
    let plain = ok(&["admin", "--config", cfg, "pendant", "list"]).await;
    assert!(
        plain.starts_with(
            "06 70 00 00 01\tTABAC-63-001\t1 motif(s) / pattern(s)\tdernier SMS / last SMS -"
        ),
        "{plain}"
    );

    // Each mistake is refused with what to do, and changes nothing.
    for (args, says) in [
        (
            vec!["add", "--shop", "TABAC-63-001", "--phone", "06 11 22 33 44"],
            "contact (Marie Dupont, du commerce TABAC-63-001)",
        ),
        (
            vec!["add", "--shop", "TABAC-63-001", "--phone", "06 12 34 56 78"],
            "titulaire du commerce TABAC-63-001",
        ),
        (
            vec!["add", "--shop", "TABAC-63-001", "--phone", "+33670000001"],
            "retirez-le d'abord",
        ),
        (
            vec![
                "add",
                "--shop",
                "TABAC-63-001",
                "--phone",
                "06 70 00 00 02",
                "--pattern",
                "SOS envoyé",
            ],
            "toujours une alarme",
        ),
        (
            vec!["add", "--shop", "TABAC-63-001", "--phone", "12"],
            "--phone",
        ),
        (
            vec!["add", "--shop", "TABAC-99-999", "--phone", "06 70 00 00 03"],
            "TABAC-99-999",
        ),
        (
            vec!["remove", "--phone", "06 70 00 00 09"],
            "aucun pendentif",
        ),
    ] {
        let out = vigie(&pendant(&args)).await;
        assert!(!out.status.success(), "{args:?} is refused");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Nor can a contact take the pendant's number.
    let out = vigie(&admin_json(
        cfg,
        "contact",
        &[
            "add",
            "--shop",
            "TABAC-63-001",
            "--name",
            "Jo Petit",
            "--phone",
            "06 70 00 00 01",
        ],
    ))
    .await;
    assert!(!out.status.success(), "a pendant's number is no contact's");
    assert!(
        text(&out.stderr).contains("pendentif SOS"),
        "{}",
        text(&out.stderr)
    );
    let list = json(&ok(&pendant(&["list"])).await);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Out of service, then registered again.
    ok(&pendant(&["remove", "--phone", "06 70 00 00 01"])).await;
    assert_eq!(json(&ok(&pendant(&["list"])).await), serde_json::json!([]));
    ok(&pendant(&[
        "add",
        "--shop",
        "TABAC-63-001",
        "--phone",
        "+33 6 70 00 00 01",
    ]))
    .await;
    let list = json(&ok(&pendant(&["list"])).await);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["patterns"], serde_json::json!([]), "{list}");
}
