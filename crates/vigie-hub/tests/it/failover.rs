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
