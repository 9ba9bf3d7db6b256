//! The contacts' pages as a phone sees them: headers that keep the link a
//! secret, an answer confirmed unmistakably, a closed alarm that reveals
//! nothing, a link that dies some hours after the close, a consent page
//! that says who keeps the number and how to stop.

use crate::helpers::*;
use uuid::Uuid;
use vigie_core::Outcome;

fn assert_private(resp: &reqwest::Response) {
    let h = resp.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert_eq!(get("x-frame-options"), "DENY");
    assert_eq!(get("x-content-type-options"), "nosniff");
    assert_eq!(get("cache-control"), "no-store");
    assert_eq!(get("referrer-policy"), "no-referrer");
}

/// A contact's phone sends a form (`answer` or `consent`).
async fn post(h: &TestHub, url: &str, field: &str, value: &str) -> reqwest::Response {
    h.http
        .post(url)
        .form(&[(field, value)])
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn the_answer_page_confirms_the_answer_then_reveals_nothing_once_closed() {
    let h = spawn_hub("").await;
    let shop = shop_with_two_tiers(&h, "P1").await;
    let dev = h.enroll(shop).await;
    let id = Uuid::now_v7();
    h.press(&dev, id).await;
    let marie = h.sms_to(MARIE, "ALERTE").await;
    let token = link_token(
        &marie
            .iter()
            .find(|s| s.text.contains("ALERTE"))
            .expect("alert")
            .text,
    );
    let url = format!("{}/r/{token}", h.url());
    let resp = h.http.get(&url).send().await.expect("page");
    assert_private(&resp);
    let page = resp.text().await.expect("text");
    assert!(page.contains("12 rue de la République"), "{page}");
    assert!(!page.contains("Réponse enregistrée"));

    // « J'appelle le 17 »: the page says it was taken and offers the call.
    let resp = post(&h, &url, "answer", "calling_police").await;
    assert_private(&resp);
    let page = resp.text().await.expect("text");
    assert!(
        page.contains("✓ Réponse enregistrée&nbsp;: J'appelle le 17"),
        "{page}"
    );
    assert!(
        page.contains(r#"value="calling_police" aria-pressed="true""#),
        "the chosen button is marked: {page}"
    );
    assert!(
        page.contains(
            r#"class="other" name="answer" value="coming" aria-pressed="false">Changer&nbsp;:"#
        ),
        "the others are changed: {page}"
    );
    assert!(page.contains(r#"href="tel:17""#), "{page}");

    // Ahmed sees who answered by a short name, never the full one.
    let ahmed = h.sms_to(AHMED, "ALERTE").await;
    let ahmed_url = format!(
        "{}/r/{}",
        h.url(),
        link_token(
            &ahmed
                .iter()
                .find(|s| s.text.contains("ALERTE"))
                .expect("alert")
                .text
        )
    );
    let page = h
        .http
        .get(&ahmed_url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Marie D."), "{page}");
    assert!(
        !page.contains("Dupont"),
        "a full name on another contact's page: {page}"
    );

    // Closed: nothing about the shop or the people any more.
    h.hub
        .store
        .resolve_alarm(id, Outcome::Incident, "operator", h.now())
        .await
        .expect("resolve");
    let resp = h.http.get(&url).send().await.expect("page");
    assert_eq!(resp.status(), 200);
    assert_private(&resp);
    let page = resp.text().await.expect("text");
    assert!(page.contains("Cette alarme est close"), "{page}");
    for secret in [
        "Tabac du Centre",
        "République",
        "Riom",
        "geo:",
        "45.89",
        "Jeanne",
        "06 99 88 77 66",
        "+33699887766",
        "Marie",
        "Ahmed",
    ] {
        assert!(
            !page.contains(secret),
            "{secret} shown on a closed alarm: {page}"
        );
    }
    let resp = post(&h, &url, "answer", "coming").await;
    assert_eq!(resp.status(), 409);
    assert!(!resp.text().await.expect("text").contains("Tabac du Centre"));

    // Some hours after the close the link is dead, like one never made.
    h.clock
        .advance_ms(vigie_hub::api::ANSWER_LINK_AFTER_CLOSE_MS + 1_000);
    let resp = h.http.get(&url).send().await.expect("page");
    assert_eq!(resp.status(), 404);
    assert_private(&resp);
    let resp = post(&h, &url, "answer", "coming").await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn the_consent_page_is_private_clear_and_says_how_to_stop() {
    let h = spawn_hub("").await;
    shop_with_two_tiers(&h, "P2").await;
    let marie = h.sms_to(MARIE, "/c/").await;
    let text = &marie
        .iter()
        .find(|s| s.text.contains("/c/"))
        .expect("consent")
        .text;
    let i = text.find("/c/").expect("link");
    let token: String = text[i + 3..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert_eq!(token.len(), 12, "the link is whole in the SMS: {text}");
    let url = format!("{}/c/{token}", h.url());
    let resp = h.http.get(&url).send().await.expect("page");
    assert_private(&resp);
    let page = resp.text().await.expect("text");
    assert!(
        page.contains("✓ C&#39;est noté") || page.contains("✓ C'est noté"),
        "{page}"
    );
    assert!(page.contains("garde votre numéro tant que"), "{page}");
    assert!(
        page.contains(r#"value="no""#),
        "withdraw on the web: {page}"
    );
    let resp = post(&h, &url, "consent", "no").await;
    assert_private(&resp);
    let page = resp.text().await.expect("text");
    assert!(page.contains("Vous avez refusé"), "{page}");
    assert!(page.contains(r#"value="yes""#), "{page}");
}
