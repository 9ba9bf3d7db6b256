//! kill -9 of `vigie serve` right after its DC-09 receiver ACKed a panic
//! frame, then a restart on the same store: the alarm is there, its alerts
//! and the holder's confirmation go out, and the same frame sent again by
//! the panel (which may not have seen the ACK) is ACKed and makes no
//! second alarm.
//!
//! The SMSC simulator is down while the frame is received, so nothing can
//! leave before the kill: every SMS the alarm owes must come from what the
//! store kept when it ACKed.

use crate::hub::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vigie_dc09::{Account, Frame, Header, Reply, Seq, Token};
use vigie_testkit::smsc::Smsc;

/// The panel's DC-09 account (a leading zero, as panels are set up).
const ACCOUNT: &str = "0C1A9";
const SHOP: &str = "DC09-KILL";
const HOLDER: &str = "+33612000001";
const CONTACTS: [(&str, &str); 2] = [
    ("Agent Alpha", "+33622000001"),
    ("Agent Bravo", "+33622000002"),
];
/// The panel's sequence number for its panic frame.
const SEQ: u16 = 17;
/// A reply longer than this is no DC-09 reply: the test stops reading.
const REPLY_BYTES_MAX: usize = 4_096;

/// Read one reply frame (LF…CR), within the test's deadline.
async fn reply(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while out.last() != Some(&b'\r') {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut b))
            .await
            .expect("a reply within the deadline")
            .expect("read the reply");
        assert!(n > 0, "connection closed before a reply: {out:?}");
        out.push(b[0]);
        assert!(out.len() <= REPLY_BYTES_MAX, "no reply ends: {out:?}");
    }
    out
}

/// Send `frame` on a new connection to the receiver; the reply read back.
async fn send(port: u16, frame: &[u8]) -> (Reply, tokio::net::TcpStream) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the DC-09 receiver");
    s.write_all(frame).await.expect("write the frame");
    let r = reply(&mut s).await;
    let parsed = Reply::parse(&r, None)
        .unwrap_or_else(|e| panic!("not a reply: {e}: {:?}", String::from_utf8_lossy(&r)));
    (parsed, s)
}

fn is_ack(r: &Reply) -> bool {
    matches!(r, Reply::Ack { header, .. }
        if header.seq.get() == SEQ && header.account.as_ref().map(|a| a.as_str()) == Some(ACCOUNT))
}

/// SMS at the SMSC to `phone` whose text contains `needle`.
async fn at_smsc(smsc: &Smsc, phone: &str, needle: &str) -> usize {
    smsc.messages()
        .await
        .expect("messages")
        .iter()
        .filter(|m| m.to == digits(phone) && m.text.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_a_dc09_ack_keeps_the_alarm_and_the_resent_frame_makes_no_second() {
    let smsc = Smsc::start("vigie", "s3cret")
        .await
        .expect("SMSC simulator");
    let dir = TempDir::new("vigie-dc09-kill");
    let port = free_port();
    let dc09_port = free_port();
    let config = write_config(
        &dir,
        port,
        &format!(
            "[dc09]\ntcp_listen = \"127.0.0.1:{dc09_port}\"\n{}",
            smpp_gateway(&smsc, "VIGIE", false)
        ),
    );
    let store = open_store(&config);
    let shop_id = store
        .add_shop(shop(SHOP, "Tabac de la Halle", HOLDER), now())
        .await
        .expect("shop");
    for (name, phone) in CONTACTS {
        police_contact(&store, shop_id, name, phone).await;
    }
    // The operator registers the panel as docs/ops/dc09.md says.
    let cfg = config.to_str().expect("utf-8 path");
    let out = vigie(&[
        "admin",
        "--config",
        cfg,
        "transmitter",
        "add",
        "--shop",
        SHOP,
        "--account",
        ACCOUNT,
    ])
    .await;
    assert!(
        out.status.success(),
        "transmitter registered: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let hub = HubProcess::start(&dir, &config, port).await;
    smsc.set_down(true).await.expect("SMSC down");
    let panic_frame = Frame::new(
        Token::AdmCid,
        Header::new(
            Seq::new(SEQ).expect("seq"),
            Account::new(ACCOUNT).expect("account"),
        ),
        format!("#{ACCOUNT}|1120 01 001").into_bytes(),
    )
    .encode_plain()
    .expect("the panic frame encodes");
    let (first, _connection) = send(dc09_port, &panic_frame).await;
    // At once: nothing else is awaited between the ACK and the kill.
    hub.kill9().await;
    assert!(is_ack(&first), "the panic frame is ACKed: {first:?}");
    assert!(
        smsc.messages().await.expect("messages").is_empty(),
        "nothing left the hub before the kill (the SMSC was down)"
    );

    // The ACK meant the alarm was on disk.
    let alarms = store.alarms(10).await.expect("alarms");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let alarm = &alarms[0];
    assert_eq!(alarm.shop_id, shop_id);
    assert_eq!(alarm.device_id, format!("dc09:{ACCOUNT}"));
    assert!(alarm.state.is_live(), "{alarm:?}");

    // Restarted, with the SMSC back: the alerts and the holder's confirmation go out.
    smsc.set_down(false).await.expect("SMSC up");
    let hub = HubProcess::start(&dir, &config, port).await;
    for (_, phone) in CONTACTS {
        eventually("the alert to each contact after the restart", || async {
            (at_smsc(&smsc, phone, "ALERTE").await > 0).then_some(())
        })
        .await;
    }
    eventually("the holder's confirmation after the restart", || async {
        (at_smsc(&smsc, HOLDER, "transmise").await > 0).then_some(())
    })
    .await;

    // The panel did not trust the ACK (a lost segment): the same frame again.
    let (again, _connection) = send(dc09_port, &panic_frame).await;
    assert!(is_ack(&again), "the resent frame is ACKed: {again:?}");
    let alarms = store.alarms(10).await.expect("alarms");
    assert_eq!(alarms.len(), 1, "no second alarm: {alarms:?}");
    let raised = store
        .panel_events(Some(shop_id), 10)
        .await
        .expect("panel events")
        .into_iter()
        .filter(|e| e.kind == "alarm")
        .count();
    assert_eq!(raised, 1, "one alarm event on the board");
    drained(&store).await;
    // Nothing was sent before the kill, so nothing is sent twice.
    for (_, phone) in CONTACTS {
        assert_eq!(at_smsc(&smsc, phone, "ALERTE").await, 1, "{phone}");
    }
    assert_eq!(at_smsc(&smsc, HOLDER, "transmise").await, 1);
    let d = store.alarm(alarm.id).await.expect("the alarm");
    assert!(
        d.notifications
            .iter()
            .all(|n| n.state == "submitted" || n.state == "delivered"),
        "{:?}",
        d.notifications
    );
    assert!(hub.log().contains("dc09: ACK"), "{}", hub.log());
}
