//! A shop's contacts: add, edit, change tier, resend the consent request,
//! remove. The desk does it for any shop, a shopkeeper for their own; a
//! Region-wide contact (police, desk) is managed by the Region only.

use super::fleet::{Said, shop_page};
use super::{Language, not_found, see_other, store_error};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use vigie_core::PhoneNumber;
use vigie_hub::store::{Contact, ContactEdit, NewContact, Relation, StoreError};

/// A store refusal shown on the shop's page, or a failure.
async fn refused_on_shop(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    shop: i64,
    e: StoreError,
) -> Response {
    match e {
        StoreError::Refused { message, .. } => {
            let text = lang.part(&message);
            shop_page(
                console,
                v,
                lang,
                shop,
                Said {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    error: Some(text.as_str()),
                    ..Said::default()
                },
            )
            .await
        }
        other => store_error(other, lang),
    }
}

/// After a change to a contact: write the audit line and go back to the
/// shop's page saying so, or show the refusal there. `what` is the audit
/// action and the page's notice.
async fn finish(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    (shop, contact): (i64, i64),
    result: Result<(), StoreError>,
    (action, done): (&'static str, &str),
) -> Response {
    match result {
        Ok(()) => {
            let _ = console
                .store()
                .audit(v.audit(action, format!("contact:{contact}")), console.now())
                .await;
            see_other(&format!("/console/shops/{shop}?done={done}"))
        }
        Err(e) => refused_on_shop(console, v, lang, shop, e).await,
    }
}

/// The contact, if this person may change it (their shop's, not the Region's).
async fn editable(
    console: &Console,
    v: &Viewer,
    id: &str,
    lang: Lang,
) -> Result<(Contact, i64), Response> {
    let id: i64 = id.parse().map_err(|_| not_found(lang))?;
    let c = console.store().contact(id).await.map_err(|e| match e {
        StoreError::Refused { .. } => not_found(lang),
        other => store_error(other, lang),
    })?;
    match c.shop_id {
        Some(shop) if v.can_see_shop(shop) => Ok((c, shop)),
        _ => Err(not_found(lang)),
    }
}

/// Police and desk contacts need no consent: only the Region adds them.
fn relation_allowed(v: &Viewer, r: Relation) -> bool {
    !r.pre_approved() || crate::DESK.contains(&v.role())
}

#[derive(Deserialize)]
pub struct ContactForm {
    name: String,
    phone: String,
    relation: String,
    tier: u8,
}

impl ContactForm {
    /// The number and relation; `current` is the relation the contact has
    /// now (keeping it is always allowed).
    fn parse(
        &self,
        v: &Viewer,
        lang: Lang,
        current: Option<Relation>,
    ) -> Result<(PhoneNumber, Relation), String> {
        let phone = PhoneNumber::parse(&self.phone).map_err(|e| lang.part(&e.to_string()))?;
        let relation = Relation::parse(&self.relation)
            .filter(|r| relation_allowed(v, *r) || Some(*r) == current)
            .ok_or_else(|| {
                lang.pick(
                    "Seule la Région peut ajouter la police ou son poste de sécurité.",
                    "Only the Region can add the police or its security desk.",
                )
                .to_string()
            })?;
        Ok((phone, relation))
    }
}

pub async fn add(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(shop): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let Ok(shop) = shop.parse::<i64>() else {
        return not_found(lang);
    };
    if !v.can_see_shop(shop) {
        return not_found(lang);
    }
    let (phone, relation) = match f.parse(&v, lang, None) {
        Ok(x) => x,
        Err(msg) => {
            return shop_page(
                &console,
                &v,
                lang,
                shop,
                Said {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    error: Some(&msg),
                    ..Said::default()
                },
            )
            .await;
        }
    };
    let now = console.now();
    let new = NewContact {
        shop_id: Some(shop),
        name: f.name.trim().to_string(),
        phone,
        relation,
        tier: f.tier,
    };
    match console.store().add_contact(new, now).await {
        Ok(c) => {
            let _ = console
                .store()
                .audit(v.audit("contact_added", format!("contact:{}", c.id)), now)
                .await;
            see_other(&format!("/console/shops/{shop}?done=contact_added"))
        }
        Err(e) => refused_on_shop(&console, &v, lang, shop, e).await,
    }
}

pub async fn edit(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let (c, shop) = match editable(&console, &v, &id, lang).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (phone, relation) = match f.parse(&v, lang, Some(c.relation)) {
        Ok(x) => x,
        Err(msg) => {
            return shop_page(
                &console,
                &v,
                lang,
                shop,
                Said {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    error: Some(&msg),
                    ..Said::default()
                },
            )
            .await;
        }
    };
    let now = console.now();
    let edit = ContactEdit {
        name: f.name.trim().to_string(),
        phone,
        relation,
        tier: f.tier,
    };
    let result = console
        .store()
        .update_contact(c.id, edit, now)
        .await
        .map(|_| ());
    finish(
        &console,
        &v,
        lang,
        (shop, c.id),
        result,
        ("contact_updated", "contact_updated"),
    )
    .await
}

#[derive(Deserialize)]
pub struct Tier {
    tier: u8,
}

/// A change to a contact that needs nothing but the contact.
enum Change {
    Tier(u8),
    OptIn,
    Remove,
}

impl Change {
    /// The audit action and the shop page's notice.
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            Change::Tier(_) => ("contact_tier", "tier"),
            Change::OptIn => ("opt_in_resent", "opt_in"),
            Change::Remove => ("contact_removed", "removed"),
        }
    }
}

async fn change(console: &Console, v: &Viewer, lang: Lang, id: &str, what: Change) -> Response {
    let (c, shop) = match editable(console, v, id, lang).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (store, now) = (console.store(), console.now());
    let result = match what {
        Change::Tier(tier) => store.set_contact_tier(c.id, tier, now).await.map(|_| ()),
        Change::OptIn => store.resend_opt_in(c.id, now).await.map(|_| ()),
        Change::Remove => store.remove_contact(c.id, now).await,
    };
    finish(console, v, lang, (shop, c.id), result, what.names()).await
}

pub async fn tier(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<Tier>,
) -> Response {
    change(&console, &v, lang, &id, Change::Tier(f.tier)).await
}

pub async fn opt_in(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    change(&console, &v, lang, &id, Change::OptIn).await
}

pub async fn remove(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    change(&console, &v, lang, &id, Change::Remove).await
}
