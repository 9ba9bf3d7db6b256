//! Accounts and the audit log (administrators only).

use super::{Language, render, role_label, see_other, when};
use crate::Console;
use crate::auth::Viewer;
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_hub::store::{AUDIT_LINES_MAX, AccountChange, NewAccount, Role};

async fn accounts_page(
    console: &Console,
    v: &Viewer,
    lang: crate::Lang,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let accounts = match console.store().accounts().await {
        Ok(a) => a,
        Err(e) => return super::store_error(e, lang),
    };
    let shops = console.store().shops().await.unwrap_or_default();
    let rows: Vec<Value> = accounts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "me": a.id == v.account.id,
                "disabled": a.disabled,
                "username": a.username,
                "display_name": a.display_name,
                "role_label": role_label(a.role, lang),
                "shop": a.shop_id.and_then(|id| shops.iter().find(|s| s.id == id)).map(|s| s.name.clone()),
                "totp": a.totp_secret.is_some(),
                "created_at": when(a.created_at),
            })
        })
        .collect();
    let roles: Vec<Value> = Role::ALL
        .iter()
        .map(|r| json!({ "value": r.as_str(), "label": role_label(*r, lang) }))
        .collect();
    let shop_options: Vec<Value> = shops
        .iter()
        .map(|s| json!({ "id": s.id, "label": format!("{} — {} ({})", s.reference, s.name, s.commune) }))
        .collect();
    let mut resp = render(
        console,
        Some(v),
        lang,
        "accounts.html",
        "/console/accounts",
        json!({ "accounts": rows, "roles": roles, "shops": shop_options, "error": error }),
    );
    *resp.status_mut() = status;
    resp
}

/// The accounts page again, with what was refused and why (422).
async fn refused(console: &Console, v: &Viewer, lang: crate::Lang, text: String) -> Response {
    accounts_page(
        console,
        v,
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(text),
    )
    .await
}

pub async fn accounts(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    accounts_page(&console, &v, lang, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct NewAccountForm {
    username: String,
    display_name: String,
    /// No default: an empty choice is refused.
    role: Option<String>,
    shop_id: Option<String>,
    password: String,
}

pub async fn create_account(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Form(f): Form<NewAccountForm>,
) -> Response {
    let Some(role) = f.role.as_deref().and_then(Role::parse) else {
        let text = lang.pick(
            "Choisissez le rôle du compte : il n'y en a pas par défaut.",
            "Choose the account's role: there is no default.",
        );
        return refused(&console, &v, lang, text.to_string()).await;
    };
    let shop_id = f.shop_id.as_deref().and_then(|s| s.parse::<i64>().ok());
    let hash = match console.hash_password(f.password).await {
        Ok(h) => h,
        Err(e) => {
            return refused(&console, &v, lang, lang.part(&e.to_string())).await;
        }
    };
    let now = console.now();
    let created = console
        .store()
        .create_account(
            NewAccount {
                username: f.username,
                display_name: f.display_name.trim().chars().take(100).collect(),
                role,
                shop_id: if role == Role::Shopkeeper {
                    shop_id
                } else {
                    None
                },
                password_hash: hash,
                totp_secret: None,
            },
            now,
        )
        .await;
    match created {
        Ok(a) => {
            let mut audit = v.audit("account_created_by_admin", format!("account:{}", a.id));
            audit.detail = json!({ "username": a.username, "role": role.as_str() });
            let _ = console.store().audit(audit, now).await;
            see_other("/console/accounts")
        }
        Err(vigie_hub::store::StoreError::Refused { message, .. }) => {
            let text = lang.part(&message);
            refused(&console, &v, lang, text).await
        }
        Err(e) => super::store_error(e, lang),
    }
}

#[derive(Deserialize)]
pub struct AccountChangeForm {
    action: String,
    password: Option<String>,
    confirm: Option<String>,
}

/// An administrator disables, enables, deletes an account, gives it a new
/// password or forgets its second factor. Not their own account (Mon
/// compte is for that, and an administrator cannot lock themselves out).
pub async fn change_account(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<AccountChangeForm>,
) -> Response {
    let refuse = |fr: &'static str, en: &'static str| {
        refused(&console, &v, lang, lang.pick(fr, en).to_string())
    };
    let Ok(id) = id.parse::<i64>() else {
        return super::not_found(lang);
    };
    if id == v.account.id {
        return refuse(
            "Votre propre compte se gère dans « Mon compte » ; un autre administrateur peut le désactiver.",
            "Manage your own account in « My account »; another administrator can disable it.",
        )
        .await;
    }
    let change = match f.action.as_str() {
        "disable" => AccountChange::Disable,
        "enable" => AccountChange::Enable,
        "second_factor" => AccountChange::ResetSecondFactor,
        "delete" if f.confirm.as_deref() == Some("yes") => AccountChange::Delete,
        "delete" => {
            return refuse(
                "Cochez la case de confirmation pour supprimer le compte.",
                "Tick the confirmation box to delete the account.",
            )
            .await;
        }
        "password" => match console.hash_password(f.password.unwrap_or_default()).await {
            Ok(hash) => AccountChange::SetPassword(hash),
            Err(e) => {
                let text = lang.part(&e.to_string());
                return refused(&console, &v, lang, text).await;
            }
        },
        _ => {
            return refuse("Action inconnue.", "Unknown action.").await;
        }
    };
    let audit = v.audit("account_changed", format!("account:{id}"));
    match console
        .store()
        .change_account(id, change, audit, console.now())
        .await
    {
        Ok(()) => see_other("/console/accounts"),
        Err(vigie_hub::store::StoreError::Refused { code, message })
            if code != "unknown_account" =>
        {
            let text = lang.part(&message);
            refused(&console, &v, lang, text).await
        }
        Err(e) => super::store_error(e, lang),
    }
}

/// An audit action in words, for the people who read the log.
fn action_label(action: &str, lang: crate::Lang) -> &'static str {
    let (fr, en) = match action {
        "sign_in" => ("Connexion", "Signed in"),
        "sign_in_password" => (
            "Mot de passe accepté, code attendu",
            "Password accepted, code awaited",
        ),
        "sign_in_failed" => ("Connexion refusée", "Sign-in refused"),
        "sign_in_throttled" => ("Connexions ralenties", "Sign-ins slowed down"),
        "sign_out" => ("Déconnexion", "Signed out"),
        "sign_out_everywhere" => ("Déconnexion partout", "Signed out everywhere"),
        "session_replaced" => ("Session remplacée", "Session replaced"),
        "second_factor_set_up" => ("Second facteur configuré", "Second factor set up"),
        "second_factor_failed" => (
            "Code du second facteur refusé",
            "Second-factor code refused",
        ),
        "account_created" | "account_created_by_admin" => ("Compte créé", "Account created"),
        "account_disabled" => ("Compte désactivé", "Account disabled"),
        "account_enabled" => ("Compte réactivé", "Account enabled"),
        "account_deleted" => ("Compte supprimé", "Account deleted"),
        "account_password_reset" => ("Mot de passe remplacé", "Password replaced"),
        "account_second_factor_reset" => ("Second facteur réinitialisé", "Second factor reset"),
        "alarm_taken" => ("Alarme prise en main au poste", "Alarm taken at the desk"),
        "alarm_taken_over" => (
            "Alarme reprise en main au poste",
            "Alarm taken over at the desk",
        ),
        "alarm_note" => ("Note sur une alarme", "Note on an alarm"),
        "alarm_resolved" => ("Alarme close", "Alarm closed"),
        "shops_imported" => ("Boutiques importées", "Shops imported"),
        "shop_edited" => ("Fiche d'une boutique modifiée", "Shop record changed"),
        "contact_added" => ("Contact ajouté", "Contact added"),
        "contact_updated" => ("Contact modifié", "Contact changed"),
        "contact_tier" => ("Palier d'un contact changé", "Contact's tier changed"),
        "contact_removed" => ("Contact retiré", "Contact removed"),
        "opt_in_resent" => ("Demande d'accord renvoyée", "Opt-in request sent again"),
        "password_changed" => ("Mot de passe changé", "Password changed"),
        "enrolment_code_created" => ("Code d'installation créé", "Enrolment code made"),
        "stats_exported" => ("Statistiques exportées", "Statistics exported"),
        "evidence_listen" => ("Écoute d'un enregistrement", "Recording listened to"),
        "evidence_export" => ("Export d'un enregistrement", "Recording exported"),
        a if a.starts_with("hardware") => ("Boîtier : cycle de vie", "Box: life cycle"),
        _ => ("", ""),
    };
    lang.pick(fr, en)
}

/// Where an audit line's target is shown, if it has a page.
fn target_link(target: &str) -> Option<String> {
    let (kind, id) = target.split_once(':')?;
    let safe = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !safe {
        return None;
    }
    Some(match kind {
        "alarm" => format!("/console/alarms/{id}"),
        "recording" => format!("/console/recordings/{id}"),
        "shop" => format!("/console/shops/{id}"),
        "account" => format!("/console/accounts#account-{id}"),
        _ => return None,
    })
}

pub async fn audit(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
) -> Response {
    let lines = match console.store().audit_log(AUDIT_LINES_MAX).await {
        Ok(l) => l,
        Err(e) => return super::store_error(e, lang),
    };
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "at": when(l.at),
                "username": l.username,
                "action": l.action,
                "action_label": action_label(&l.action, lang),
                "target": l.target,
                "target_href": target_link(&l.target),
                "reason": l.reason,
                "detail": if l.detail.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { l.detail.to_string() },
            })
        })
        .collect();
    render(
        &console,
        Some(&v),
        lang,
        "audit.html",
        "/console/audit",
        json!({ "lines": rows }),
    )
}
