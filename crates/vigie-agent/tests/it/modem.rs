//! The box's AT modem client against the project's GSM modem simulator
//! (`tests/peers/modem/modem_sim.py`, 3GPP TS 27.005) on a socat pty pair,
//! and the simulator itself against the independent python-gsmmodem-new.
//!
//! Each test starts its own socat and simulator in a fresh directory and
//! kills them on drop. The simulator writes every SMS it is given, decoded
//! by its own PDU decoder, to a JSON-lines file the test reads back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie_agent::modem::at::AtModem;
use vigie_agent::modem::{Modem, ModemError, ModemStatus};
use vigie_core::PhoneNumber;
use vigie_core::Timestamp;
use vigie_core::gsm::Encoding;
use vigie_core::pdu::{Alphabet, decode_submit};
use vigie_core::sms::{AlertText, ShopLine, alert};
use vigie_proto::ModemState;

/// Upper bound for anything a test waits for (peers starting, an SMS
/// arriving, a dead modem being declared unresponsive): generous, since a
/// shared 2-core machine may be slow; reaching it is a failure.
const DEADLINE: Duration = Duration::from_secs(30);
/// Between two looks at a file or a link while polling.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const BAUD: u32 = 115_200;
const TO: &str = "+33612345678";

/// socat + the simulator in a temp directory; both killed on drop.
pub(crate) struct ModemPeer {
    dir: PathBuf,
    socat: Child,
    sim: Child,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require(program: &str, probe: &[&str], hint: &str) {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{program} is missing or broken: {hint}");
}

fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

impl ModemPeer {
    pub(crate) fn start(flags: &[&str]) -> Self {
        require("socat", &["-V"], "apt-get install socat");
        require("python3", &["--version"], "apt-get install python3");
        let dir =
            std::env::temp_dir().join(format!("vigie-modem-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("inbox")).expect("temp dir");
        let socat = Command::new("socat")
            .arg("-d")
            .arg("-d")
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("modem").display()
            ))
            .arg(format!(
                "pty,raw,echo=0,link={}",
                dir.join("host").display()
            ))
            .stderr(std::fs::File::create(dir.join("socat.log")).expect("log"))
            .spawn()
            .expect("start socat");
        poll("socat's pty links", || {
            (dir.join("modem").exists() && dir.join("host").exists()).then_some(())
        });
        let sim = Command::new("python3")
            .arg(repo_root().join("tests/peers/modem/modem_sim.py"))
            .arg(dir.join("modem"))
            .arg("--sent")
            .arg(dir.join("sent.jsonl"))
            .arg("--inbox")
            .arg(dir.join("inbox"))
            .arg("--ready")
            .arg(dir.join("ready"))
            .args(flags)
            .stderr(std::fs::File::create(dir.join("sim.log")).expect("log"))
            .spawn()
            .expect("start the modem simulator");
        let mut peer = Self { dir, socat, sim };
        poll("the modem simulator to open its port", || {
            if let Ok(Some(status)) = peer.sim.try_wait() {
                panic!("modem simulator exited ({status}): {}", peer.log());
            }
            peer.dir.join("ready").exists().then_some(())
        });
        peer
    }

    fn host(&self) -> String {
        self.dir.join("host").display().to_string()
    }

    pub(crate) fn modem(&self) -> AtModem {
        AtModem::open(&self.host(), BAUD).expect("open the pty")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
    }

    /// What the simulator was given to send, decoded by the simulator.
    pub(crate) fn sent(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("sent.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    /// An SMS arriving at the modem (written aside, then renamed in, so the
    /// simulator never reads half a file).
    fn deliver(&self, name: &str, from: &str, text: &str) {
        let body = serde_json::json!({ "from": from, "text": text }).to_string();
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body).expect("write");
        std::fs::rename(&tmp, self.dir.join("inbox").join(format!("{name}.json"))).expect("rename");
    }
}

impl Drop for ModemPeer {
    fn drop(&mut self) {
        let _ = self.sim.kill();
        let _ = self.sim.wait();
        let _ = self.socat.kill();
        let _ = self.socat.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn to() -> PhoneNumber {
    PhoneNumber::parse(TO).expect("number")
}

/// Send `text`, then check the simulator decoded exactly `text` for `TO`.
async fn send_and_check(peer: &ModemPeer, text: &str) -> serde_json::Value {
    let modem = peer.modem();
    modem
        .send_sms(&to(), text)
        .await
        .unwrap_or_else(|e| panic!("send failed: {e}; simulator log: {}", peer.log()));
    let sent = peer.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], TO);
    assert_eq!(sent[0]["text"], text);
    sent[0].clone()
}

#[tokio::test]
async fn a_french_alert_arrives_with_its_accents() {
    let peer = ModemPeer::start(&[]);
    let sms = alert(&AlertText {
        shop: ShopLine {
            name: "Presse à Où-Près",
            address: "2 rue de l'Église",
            commune: "Sèvres",
        },
        // 2026-11-26 14h32 in Paris.
        pressed_at: Timestamp(1_795_699_920_000),
        age_ms: None,
        link: "https://vigie.example/r/Ab3dE9xKq2",
        alarm_code: "K7P",
        replies_accepted: true,
        round: 0,
    });
    for c in ['é', 'à', 'è', 'ù'] {
        assert!(sms.text.contains(c), "{c} missing from {:?}", sms.text);
    }
    assert!(matches!(sms.encoding, Encoding::Gsm7 { .. }));
    let sent = send_and_check(&peer, &sms.text).await;
    let pdu = decode_submit(sent["pdu"].as_str().expect("PDU mode")).expect("PDU");
    assert_eq!(pdu.alphabet, Alphabet::Gsm7);
}

/// In text mode an SMS whose body is `OK` is easily taken for the final
/// result code; in PDU mode it is just two septets.
#[tokio::test]
async fn a_body_that_is_exactly_ok_is_sent() {
    let peer = ModemPeer::start(&[]);
    let sent = send_and_check(&peer, "OK").await;
    assert!(sent["pdu"].is_string(), "sent in PDU mode");
}

#[tokio::test]
async fn a_text_outside_gsm_goes_as_ucs2() {
    let peer = ModemPeer::start(&[]);
    let text = "Forêt, reçu ça : j'arrive";
    let sent = send_and_check(&peer, text).await;
    let pdu = decode_submit(sent["pdu"].as_str().expect("PDU mode")).expect("PDU");
    assert_eq!(pdu.alphabet, Alphabet::Ucs2);
}

#[tokio::test]
async fn a_refused_send_says_why() {
    let peer = ModemPeer::start(&["--fail-send"]);
    let err = peer
        .modem()
        .send_sms(&to(), "ALERTE")
        .await
        .expect_err("the modem refuses");
    let ModemError::Refused(why) = err else {
        panic!("expected Refused, got {err:?}");
    };
    assert!(
        why.contains("+CMS ERROR: 500") && why.contains("unknown error"),
        "{why}"
    );
    assert!(peer.sent().is_empty());
}

#[tokio::test]
async fn status_of_a_healthy_modem() {
    let peer = ModemPeer::start(&[]);
    let status = peer.modem().status().await.expect("status");
    assert_eq!(
        status,
        ModemStatus {
            state: ModemState::Registered,
            signal_csq: Some(20)
        }
    );
}

#[tokio::test]
async fn no_sim_is_reported_and_sending_is_refused() {
    let peer = ModemPeer::start(&["--no-sim"]);
    let modem = peer.modem();
    let status = modem.status().await.expect("status");
    assert_eq!(status.state, ModemState::NoSim);
    let err = modem.send_sms(&to(), "ALERTE").await.expect_err("no SIM");
    assert!(
        matches!(&err, ModemError::Refused(why) if why.contains("310") && why.contains("SIM not inserted")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unregistered_modem_is_searching() {
    let peer = ModemPeer::start(&["--unregistered"]);
    let status = peer.modem().status().await.expect("status");
    assert_eq!(status.state, ModemState::Searching);
}

/// A dead modem must yield `Unresponsive` on its own deadline; the outer
/// `DEADLINE` only keeps a broken client from hanging the test run.
async fn assert_unresponsive(peer: &ModemPeer) {
    let modem = peer.modem();
    let send = tokio::time::timeout(DEADLINE, modem.send_sms(&to(), "ALERTE"))
        .await
        .expect("send_sms hung");
    assert!(matches!(send, Err(ModemError::Unresponsive(_))), "{send:?}");
    let status = tokio::time::timeout(DEADLINE, modem.status())
        .await
        .expect("status hung");
    assert!(
        matches!(status, Err(ModemError::Unresponsive(_))),
        "{status:?}"
    );
    assert!(peer.sent().is_empty());
}

#[tokio::test]
async fn a_modem_answering_garbage_is_unresponsive() {
    let peer = ModemPeer::start(&["--garbage"]);
    assert_unresponsive(&peer).await;
}

#[tokio::test]
async fn a_silent_modem_is_unresponsive() {
    let peer = ModemPeer::start(&["--silent"]);
    assert_unresponsive(&peer).await;
}

/// Garbage before the init and in the middle of a session, each time
/// followed by a sane modem again: the client resynchronises by itself.
#[tokio::test]
async fn the_client_resynchronises_after_garbage() {
    let flag =
        std::env::temp_dir().join(format!("vigie-garbage-{}", uuid::Uuid::now_v7().simple()));
    std::fs::write(&flag, "").expect("flag");
    let peer = ModemPeer::start(&["--garbage-while", flag.to_str().expect("utf-8 path")]);
    let modem = peer.modem();
    for round in ["at init", "mid-session"] {
        let status = tokio::time::timeout(DEADLINE, modem.status())
            .await
            .expect("status hung");
        assert!(
            matches!(status, Err(ModemError::Unresponsive(_))),
            "{round}: {status:?}"
        );
        std::fs::remove_file(&flag).expect("remove flag");
        let status = modem.status().await.expect("answers again");
        assert_eq!(status.state, ModemState::Registered, "{round}");
        std::fs::write(&flag, "").expect("flag");
    }
    std::fs::remove_file(&flag).expect("remove flag");
    modem.send_sms(&to(), "OK").await.expect("sends again");
    assert_eq!(peer.sent().len(), 1);
}

#[tokio::test]
async fn incoming_sms_are_read_and_decoded() {
    let peer = ModemPeer::start(&[]);
    let modem = peer.modem();
    modem.init().await.expect("init");
    let expected = vec![
        (
            "+33699887766".to_string(),
            "1 j'arrive, à tout de suite".to_string(),
        ),
        ("+33699887766".to_string(), "OK".to_string()),
        ("Vigie".to_string(), "Reçu, ça marche".to_string()),
    ];
    for (i, (from, text)) in expected.iter().enumerate() {
        peer.deliver(&format!("sms{i}"), from, text);
    }
    let mut got = Vec::new();
    let end = Instant::now() + DEADLINE;
    while got.len() < expected.len() {
        assert!(
            Instant::now() < end,
            "only {got:?} arrived; log: {}",
            peer.log()
        );
        got.extend(modem.read_incoming().await);
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    got.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        modem.read_incoming().await.is_empty(),
        "each SMS is read once"
    );
}

/// The simulator against an independent client: python-gsmmodem-new sends
/// in PDU and text mode and reads an SMS whose body is `OK` in PDU mode.
#[tokio::test]
async fn the_simulator_agrees_with_python_gsmmodem() {
    require(
        "python3",
        &["-c", "import gsmmodem, serial"],
        "pip install python-gsmmodem-new pyserial",
    );
    let peer = ModemPeer::start(&[]);
    let out = tokio::time::timeout(
        DEADLINE * 2,
        tokio::process::Command::new("python3")
            .arg(repo_root().join("tests/peers/modem/crosscheck.py"))
            .arg(peer.host())
            .arg(peer.dir.join("inbox"))
            .output(),
    )
    .await
    .expect("crosscheck hung")
    .expect("run crosscheck.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "crosscheck failed: {stderr}\nsimulator: {}",
        peer.log()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        report["received"],
        serde_json::json!([["+33699887766", "OK"]]),
        "{stderr}"
    );
    let sent: Vec<(String, String)> = peer
        .sent()
        .iter()
        .map(|s| (s["to"].to_string(), s["text"].to_string()))
        .collect();
    let expected = [
        "Bonjour en mode texte",
        "Alerte à l'épicerie, j'arrive",
        "Forêt, reçu ça",
    ]
    .map(|text| (format!("\"{TO}\""), format!("\"{text}\"")));
    assert_eq!(sent, expected);
}
