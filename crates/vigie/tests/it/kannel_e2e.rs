//! `vigie serve` with an HTTP gateway to a real Kannel: the alert reaches
//! fakesmsc's phones, Kannel's delivery report reaches the hub's receipt
//! route, a reply "1" through Kannel acknowledges the alarm, and a callback
//! with the wrong secret is refused.

use crate::hub::*;
use uuid::Uuid;
use vigie_core::AlarmState;
use vigie_testkit::kannel::{FakeSms, Kannel, MO_RECEIVER};

const GATEWAY: &str = "kannel";
const SECRET: &str = "kannel-webhook-secret-42";
const NADIA: &str = "+33612345678";
const KARIM: &str = "+33687654321";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_press_delivery_report_reply_and_wrong_secret() {
    let dir = TempDir::new("vigie-kannel");
    let port = free_port();
    let kannel = Kannel::start(&format!(
        "http://127.0.0.1:{port}/v1/gateways/{GATEWAY}/reply?secret={SECRET}"
    ))
    .await
    .expect("Kannel starts");
    let config = write_config(
        &dir,
        port,
        &format!(
            "[[gateways]]\nkind = \"http\"\nname = \"{GATEWAY}\"\nurl = '{}'\nfrom = \"{MO_RECEIVER}\"\n\
             replies = true\ncallback_base_url = \"http://127.0.0.1:{port}\"\n\
             webhook_secret = \"{SECRET}\"\naccepted_body_contains = \"Accepted for delivery\"\n",
            kannel.sendsms_url_template()
        ),
    );
    let store = open_store(&config);
    let hub = HubProcess::start(&dir, &config, port).await;
    let shop_id = store
        .add_shop(shop("K1", "Tabac de la Gare", "+33699000001"), now())
        .await
        .expect("shop");
    police_contact(&store, shop_id, "Nadia Benali", NADIA).await;
    police_contact(&store, shop_id, "Karim Haddad", KARIM).await;
    let button = Button::enroll(&store, &hub.url, shop_id).await;

    // Press → Kannel's phones print the alert.
    let id = Uuid::now_v7();
    let (status, body) = button.press(id).await.expect("press");
    assert_eq!(status, 201, "{body}");
    let alert_to = |phone: &str| {
        let to = digits(phone);
        move |s: &FakeSms| s.to == to && s.text.contains("ALERTE")
    };
    let received = eventually("both alerts at Kannel's phones", || async {
        let r = kannel.received().await;
        (r.iter().any(alert_to(NADIA)) && r.iter().any(alert_to(KARIM))).then_some(r)
    })
    .await;
    let alert = received.iter().find(|s| alert_to(NADIA)(s)).expect("alert");
    assert!(
        alert.text.contains("Tabac de la Gare") && alert.text.contains(&format!("{}/r/", hub.url)),
        "{alert:?}"
    );
    assert_eq!(alert.from, MO_RECEIVER);

    // Kannel's delivery report reaches the hub's receipt route.
    let delivered = eventually("the alerts marked delivered by Kannel's DLR", || async {
        let d = store.alarm(id).await.expect("alarm");
        let alerts: Vec<_> = d
            .notifications
            .into_iter()
            .filter(|n| n.purpose == "alert")
            .collect();
        (alerts.len() == 2 && alerts.iter().all(|n| n.state == "delivered")).then_some(alerts)
    })
    .await;

    // A forged "failed" report with the wrong secret: 401, nothing changes.
    let forged = reqwest::get(format!(
        "{}/v1/gateways/{GATEWAY}/receipt?secret=not-the-secret-at-all&ref={}&status=2",
        hub.url, delivered[0].id
    ))
    .await
    .expect("forged callback");
    assert_eq!(forged.status(), 401);
    let n = store
        .alarm(id)
        .await
        .expect("alarm")
        .notifications
        .into_iter()
        .find(|n| n.id == delivered[0].id)
        .expect("notification");
    assert_eq!(n.state, "delivered", "a forged receipt changes nothing");
    let forged_reply = reqwest::get(format!(
        "{}/v1/gateways/{GATEWAY}/reply?secret=wrong-secret-0123456789&from=%2B33612345678&text=1",
        hub.url
    ))
    .await
    .expect("forged reply");
    assert_eq!(forged_reply.status(), 401);
    assert_eq!(
        store.alarm(id).await.expect("alarm").alarm.state,
        AlarmState::Open,
        "a forged reply acknowledges nothing"
    );

    // Nadia replies "1" through Kannel: acknowledged, Karim is told.
    kannel
        .inject_reply(&digits(NADIA), "1")
        .await
        .expect("inject reply");
    eventually("the alarm acknowledged by the SMS reply", || async {
        (store.alarm(id).await.expect("alarm").alarm.state == AlarmState::Acknowledged)
            .then_some(())
    })
    .await;
    let karim = digits(KARIM);
    eventually("Karim told that Nadia is coming", || async {
        kannel
            .received()
            .await
            .iter()
            .any(|s| s.to == karim && s.text.contains("Nadia B. arrive"))
            .then_some(())
    })
    .await;
    let d = store.alarm(id).await.expect("alarm");
    assert!(
        d.answers
            .iter()
            .any(|a| a.contact_name == "Nadia Benali" && a.via == "sms"),
        "{:?}",
        d.answers
    );
}
