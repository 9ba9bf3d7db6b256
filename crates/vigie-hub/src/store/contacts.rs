//! Editing a shop's contacts from the console: their name, number,
//! relation and tier, asking again for their consent, and removing them.
//!
//! Consent belongs to a person at a number: a new number is a new person
//! as far as consent goes, so it is asked again (a fresh link, the old one
//! dies) unless the contact is the police or the desk, whom the Region
//! registers without opt-in. Whoever said no is never asked again from
//! here. A removed contact gets no more alarms but stays in the table, so
//! past alarms still name who answered them. Every change leaves an event
//! (`alarm_id` NULL) and makes the shop's boxes fetch their contacts again.

use super::model::*;
use super::tables::contacts::load as load_contact;
use super::tables::events::append as log_event;
use super::tables::notifications::NewSms;
use super::tables::notifications::PRIORITY_ADMIN;
use super::tables::notifications::queue as queue_sms;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Rules, Store, StoreError, random_token};
use vigie_core::{PhoneNumber, Timestamp, sms};

/// Tiers run 1 (alerted first) to this.
pub const CONTACT_TIER_MAX: u8 = 9;
/// Characters of a contact's name at most (it is shortened in SMS anyway).
pub const CONTACT_NAME_CHARS_MAX: usize = 80;
/// An opt-in SMS is resent to the same number at most this often: a
/// double click or an impatient desk must not pester the person.
pub const OPT_IN_RESEND_MS_MIN: i64 = 10 * 60_000;
/// Characters of a consent link's token (~71 bits), as at registration.
const CONSENT_TOKEN_CHARS: usize = 12;

/// A contact as edited in the console.
#[derive(Debug, Clone)]
pub struct ContactEdit {
    pub name: String,
    pub phone: PhoneNumber,
    pub relation: Relation,
    pub tier: u8,
}

fn check_tier(tier: u8) -> Result<(), StoreError> {
    if !(1..=CONTACT_TIER_MAX).contains(&tier) {
        return Err(StoreError::refused(
            "bad_tier",
            format!(
                "le niveau d'escalade va de 1 à {CONTACT_TIER_MAX} / tiers run from 1 to {CONTACT_TIER_MAX}"
            ),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > CONTACT_NAME_CHARS_MAX {
        return Err(StoreError::refused(
            "bad_name",
            format!(
                "le nom est vide ou dépasse {CONTACT_NAME_CHARS_MAX} caractères / the name is empty or longer than {CONTACT_NAME_CHARS_MAX} characters"
            ),
        ));
    }
    Ok(name.to_string())
}

/// A contact that has not been removed.
fn load_current(c: &dyn Tx, id: i64) -> Result<Contact, StoreError> {
    let removed: Option<Option<i64>> = c
        .query_row(
            "SELECT removed_at FROM contacts WHERE id = ?1",
            args![id],
            |r| r.get(0),
        )
        .optional()?;
    match removed {
        Some(Some(_)) => Err(StoreError::refused(
            "contact_removed",
            format!("le contact n°{id} a été retiré / contact {id} was removed"),
        )),
        _ => load_contact(c, id),
    }
}

/// Withdraw consent requests not sent yet (to the old number, or to a
/// removed contact).
fn withdraw_opt_ins(
    c: &dyn Tx,
    contact: i64,
    keep_phone: Option<&str>,
    now: Timestamp,
) -> Result<usize, StoreError> {
    c.execute(
        "UPDATE notifications SET state = 'withdrawn', done_at = ?1
         WHERE contact_id = ?2 AND purpose = 'consent' AND state = 'pending' AND (CAST(?3 AS TEXT) IS NULL OR phone <> ?3)",
        args![now.as_ms(), contact, keep_phone],
    )
}

/// Queue the opt-in SMS with the contact's current consent link. Region
/// contacts (no shop) get none, as at registration: there is no shop to
/// name in it.
fn queue_opt_in(
    c: &dyn Tx,
    rules: &Rules,
    contact: &Contact,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(shop_id) = contact.shop_id else {
        return Ok(false);
    };
    let shop = load_shop(c, shop_id)?;
    let token: String = c.query_row(
        "SELECT consent_token FROM contacts WHERE id = ?1",
        args![contact.id],
        |r| r.get(0),
    )?;
    let link = format!("{}/c/{token}", rules.public_url);
    let text = sms::consent_request(&shop.holder_name, &shop.name, &shop.commune, &link);
    queue_sms(
        c,
        &NewSms {
            // Not the key of the request made at registration (`consent:{id}:{ms}`),
            // which may carry the same time.
            dedup_key: format!(
                "consent:{}:{}:{}",
                contact.id,
                contact.phone.as_e164(),
                now.as_ms()
            ),
            alarm_id: None,
            contact_id: Some(contact.id),
            phone: contact.phone.as_e164(),
            purpose: "consent",
            step: 0,
            attempt: 0,
            priority: PRIORITY_ADMIN,
            text: &text.text,
        },
        now,
    )
}

fn update_contact_tx(
    c: &dyn Tx,
    rules: &Rules,
    id: i64,
    edit: &ContactEdit,
    now: Timestamp,
) -> Result<Contact, StoreError> {
    check_tier(edit.tier)?;
    let name = check_name(&edit.name)?;
    let old = load_current(c, id)?;
    if old.phone != edit.phone {
        super::tables::pendants::refuse_as_contact(c, &edit.phone)?;
    }
    let taken: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE shop_id IS NOT DISTINCT FROM ?1 AND phone = ?2 AND id <> ?3 AND removed_at IS NULL)",
        args![old.shop_id, edit.phone.as_e164(), id],
        |r| r.get(0),
    )?;
    if taken {
        return Err(StoreError::refused(
            "duplicate_contact",
            "ce numéro est déjà un contact de ce commerce / this number is already a contact",
        ));
    }
    let phone_changed = old.phone != edit.phone;
    // Police and desk need no opt-in; anyone else at a new number, or who
    // was registered as police or desk until now, is asked.
    let consent = if edit.relation.pre_approved() {
        Consent::Yes
    } else if phone_changed || old.relation.pre_approved() {
        Consent::Pending
    } else {
        old.consent
    };
    let consent_at = match consent {
        Consent::Pending => None,
        _ if consent == old.consent && !phone_changed => c.query_row(
            "SELECT consent_at FROM contacts WHERE id = ?1",
            args![id],
            |r| r.get::<Option<i64>>(0),
        )?,
        _ => Some(now.as_ms()),
    };
    let token = phone_changed.then(|| random_token(CONSENT_TOKEN_CHARS));
    c.execute(
        "UPDATE contacts SET name = ?1, phone = ?2, relation = ?3, tier = ?4, consent = ?5, consent_at = ?6,
           consent_token = COALESCE(?7, consent_token), bounced = CASE WHEN ?8 THEN 0 ELSE bounced END
         WHERE id = ?9",
        args![
            name,
            edit.phone.as_e164(),
            edit.relation.as_str(),
            edit.tier,
            consent.as_str(),
            consent_at,
            token,
            phone_changed,
            id
        ],
    )?;
    let withdrawn = if phone_changed {
        withdraw_opt_ins(c, id, Some(edit.phone.as_e164()), now)?
    } else {
        0
    };
    let updated = load_contact(c, id)?;
    let asked = consent == Consent::Pending
        && (phone_changed || old.consent != Consent::Pending)
        && queue_opt_in(c, rules, &updated, now)?;
    log_event(
        c,
        None,
        now,
        "contact_updated",
        &serde_json::json!({
            "contact": id,
            "shop": updated.shop_id,
            "phone_changed": phone_changed,
            "relation": updated.relation.as_str(),
            "tier": updated.tier,
            "consent": updated.consent.as_str(),
            "opt_in_queued": asked,
            "opt_ins_withdrawn": withdrawn,
        }),
    )?;
    Ok(updated)
}

fn resend_opt_in_tx(
    c: &dyn Tx,
    rules: &Rules,
    id: i64,
    now: Timestamp,
) -> Result<Contact, StoreError> {
    let contact = load_current(c, id)?;
    if contact.relation.pre_approved() {
        return Err(StoreError::refused(
            "pre_approved",
            "la police et le poste régional n'ont pas à accepter / police and desk contacts need no consent",
        ));
    }
    match contact.consent {
        Consent::No => {
            return Err(StoreError::refused(
                "consent_refused",
                "cette personne a refusé : on ne la sollicite plus ; elle peut répondre OUI à l'ancien SMS si elle change d'avis / this person said no and is not asked again; they may reply OUI to the earlier SMS if they change their mind",
            ));
        }
        Consent::Yes => {
            return Err(StoreError::refused(
                "already_consented",
                "cette personne a déjà accepté / this person has already said yes",
            ));
        }
        Consent::Pending | Consent::Lapsed => {}
    }
    if contact.shop_id.is_none() {
        return Err(StoreError::refused(
            "no_opt_in",
            "un contact régional ne reçoit pas de demande d'accord / a Region contact gets no consent request",
        ));
    }
    let last: Option<i64> = c.query_row(
        "SELECT MAX(created_at) FROM notifications WHERE contact_id = ?1 AND purpose = 'consent' AND phone = ?2",
        args![id, contact.phone.as_e164()],
        |r| r.get(0),
    )?;
    if let Some(last) = last
        && now.as_ms() - last < OPT_IN_RESEND_MS_MIN
    {
        return Err(StoreError::refused(
            "opt_in_too_soon",
            format!(
                "une demande est partie il y a moins de {} min : attendez sa réponse / a request went less than {} min ago: wait for the answer",
                OPT_IN_RESEND_MS_MIN / 60_000,
                OPT_IN_RESEND_MS_MIN / 60_000
            ),
        ));
    }
    if contact.consent == Consent::Lapsed {
        c.execute(
            "UPDATE contacts SET consent = 'pending', consent_at = NULL WHERE id = ?1",
            args![id],
        )?;
    }
    let queued = queue_opt_in(c, rules, &contact, now)?;
    log_event(
        c,
        None,
        now,
        "opt_in_resent",
        &serde_json::json!({ "contact": id, "shop": contact.shop_id, "queued": queued }),
    )?;
    load_contact(c, id)
}

impl Store {
    /// A contact that has not been removed.
    pub async fn contact(&self, id: i64) -> Result<Contact, StoreError> {
        self.db.read(move |c| load_current(c, id)).await
    }

    /// Change a contact's name, number, relation and tier. A new number
    /// (or a contact no longer police or desk) must consent again: consent
    /// goes back to pending, the old consent link dies and one opt-in SMS
    /// is queued. Police and desk stay approved. A number already among the
    /// shop's contacts is refused.
    pub async fn update_contact(
        &self,
        id: i64,
        edit: ContactEdit,
        now: Timestamp,
    ) -> Result<Contact, StoreError> {
        let rules = self.rules.clone();
        let updated = self
            .db
            .write(move |c| update_contact_tx(c, &rules, id, &edit, now))
            .await?;
        self.config_changed(updated.shop_id);
        Ok(updated)
    }

    /// Move a contact to another tier (1 to [`CONTACT_TIER_MAX`]), to reorder
    /// who is alerted first.
    pub async fn set_contact_tier(
        &self,
        id: i64,
        tier: u8,
        now: Timestamp,
    ) -> Result<Contact, StoreError> {
        let updated = self
            .db
            .write(move |c| {
                check_tier(tier)?;
                let old = load_current(c, id)?;
                c.execute(
                    "UPDATE contacts SET tier = ?1 WHERE id = ?2",
                    args![tier, id],
                )?;
                log_event(
                    c,
                    None,
                    now,
                    "contact_tier",
                    &serde_json::json!({ "contact": id, "shop": old.shop_id, "from": old.tier, "to": tier }),
                )?;
                load_contact(c, id)
            })
            .await?;
        self.config_changed(updated.shop_id);
        Ok(updated)
    }

    /// Ask a contact for their consent again (pending, or lapsed). Refused
    /// for whoever said no (`consent_refused`: they are not pestered), for
    /// police and desk (`pre_approved`), for who already said yes, and
    /// within [`OPT_IN_RESEND_MS_MIN`] of the last request.
    pub async fn resend_opt_in(&self, id: i64, now: Timestamp) -> Result<Contact, StoreError> {
        let rules = self.rules.clone();
        self.db
            .write(move |c| resend_opt_in_tx(c, &rules, id, now))
            .await
    }

    /// Remove a contact: no more alarms nor consent requests, gone from
    /// [`Store::contacts`]; past alarms still show their name. Their number
    /// may be added again later as a new contact.
    pub async fn remove_contact(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        let shop_id = self
            .db
            .write(move |c| {
                let old = load_current(c, id)?;
                c.execute(
                    "UPDATE contacts SET removed_at = ?1 WHERE id = ?2",
                    args![now.as_ms(), id],
                )?;
                let withdrawn = withdraw_opt_ins(c, id, None, now)?;
                log_event(
                    c,
                    None,
                    now,
                    "contact_removed",
                    &serde_json::json!({ "contact": id, "shop": old.shop_id, "opt_ins_withdrawn": withdrawn }),
                )?;
                Ok(old.shop_id)
            })
            .await?;
        self.config_changed(shop_id);
        Ok(())
    }
}
