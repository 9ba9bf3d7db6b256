//! When the preferred gateway is down, alerts go out through the next one
//! at once, and the failed attempt stays visible.

use crate::helpers::*;
use uuid::Uuid;

#[tokio::test]
async fn alerts_fail_over_to_the_next_gateway_at_once() {
    // An SMSC that is not there: the SMPP gateway answers "try again" at once.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let smpp = format!(
        "[[gateways]]\nkind = \"smpp\"\nname = \"operator\"\nhost = \"127.0.0.1\"\nport = {port}\nsystem_id = \"vigie\"\npassword = \"pw\"\nsource_addr = \"VIGIE\"\nreplies = false\n"
    );
    let h = spawn_hub_with("", &smpp).await;
    let shop = h
        .seed_shop(
            "F1",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    let (status, _) = h.press(&dev, id).await;
    assert_eq!(status, 201);
    // The manual clock does not move: the alert must not wait for a back-off.
    h.sms_to("06 11 22 33 44", "ALERTE").await;
    let detail = h.hub.store.alarm(id).await.expect("alarm");
    let alert = detail
        .notifications
        .iter()
        .find(|n| n.purpose == "alert")
        .expect("alert row");
    assert_eq!(alert.gateway.as_deref(), Some("phones"), "{alert:?}");
    // The first SMS to leave (Marie's consent request, or the alert) tried
    // the dead gateway first; the others may skip it while it is paused.
    let marie = h
        .hub
        .store
        .notifications_for_phone("+33611223344")
        .await
        .expect("Marie's SMS");
    assert!(
        marie
            .iter()
            .any(|n| n.tries >= 2 && n.gateway.as_deref() == Some("phones")),
        "the failed try on the first gateway is counted: {marie:?}"
    );
    // The first gateway accepts no replies, so the text does not ask for one.
    let sent = h.sms_to("06 11 22 33 44", "ALERTE").await;
    assert!(
        sent.iter()
            .any(|s| s.text.contains("ALERTE") && !s.text.contains("Répondez")),
        "{sent:?}"
    );
}

/// The first alert to Marie (through the gateway that gives no receipts)
/// is reported undelivered by the network; what became of her number.
async fn marie_after_an_undelivered_alert(attempts_max: u32) -> (TestHub, i64) {
    let quiet = "[[gateways]]\nkind = \"log\"\nname = \"quiet\"\nreceipts = false\n";
    let h = spawn_hub_with(
        &format!("[escalation]\nattempts_max = {attempts_max}\n"),
        quiet,
    )
    .await;
    let shop = h
        .seed_shop("B1", HOLDER, &[(1, "Marie Dupont", MARIE)])
        .await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    assert_eq!(h.press(&dev, id).await.0, 201);
    let first = eventually("the first alert submitted", || async {
        h.hub
            .store
            .alarm(id)
            .await
            .ok()?
            .notifications
            .into_iter()
            .find(|n| n.purpose == "alert" && n.attempt == 0 && n.state == "submitted")
    })
    .await;
    assert_eq!(first.gateway.as_deref(), Some("quiet"), "{first:?}");
    h.hub
        .store
        .record_receipt(
            "quiet".into(),
            vigie_hub::gateway::ReceiptRef::MessageId(
                first.message_id.clone().expect("message id"),
            ),
            false,
            "expired".into(),
            h.now(),
        )
        .await
        .expect("receipt");
    (h, shop)
}

async fn marie_bounced(h: &TestHub, shop: i64) -> bool {
    h.hub
        .store
        .contacts(Some(shop))
        .await
        .expect("contacts")
        .iter()
        .find(|c| c.name == "Marie Dupont")
        .expect("Marie")
        .bounced
}

#[tokio::test]
async fn a_contact_bounces_only_when_the_last_attempt_fails() {
    // A retry follows and is delivered (on the next gateway): not bouncing.
    let (h, shop) = marie_after_an_undelivered_alert(2).await;
    eventually("the retry delivered", || async {
        h.hub
            .store
            .notifications_for_phone("+33611223344")
            .await
            .ok()?
            .into_iter()
            .find(|n| n.purpose == "alert" && n.attempt == 1 && n.state == "delivered")
    })
    .await;
    h.settled().await;
    assert!(
        !marie_bounced(&h, shop).await,
        "flagged although the retry was delivered"
    );

    // No retry left: the number bounces.
    let (h, shop) = marie_after_an_undelivered_alert(1).await;
    h.settled().await;
    assert!(marie_bounced(&h, shop).await, "the last attempt failed");
}
