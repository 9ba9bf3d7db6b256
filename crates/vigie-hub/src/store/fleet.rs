//! Shops, contacts, enrolment codes and devices.

use super::effects::hardware_enrolled;
use super::effects::set_consent;
use super::model::*;
use super::tables::contacts::load as load_contact;
use super::tables::enrolment_codes::insert as insert_enrolment_code;
use super::tables::notifications::NewSms;
use super::tables::notifications::PRIORITY_ADMIN;
use super::tables::notifications::queue as queue_sms;
use super::tables::shops::COLUMNS as SHOP_COLUMNS;
use super::tables::shops::from_row as shop_from_row;
use super::tables::shops::load as load_shop;
use super::tx::{OptionalExtension as _, Tx, args};
use super::{Rules, Store, StoreError, random_token};
use vigie_core::{Timestamp, sms};

/// Characters of a consent link's token (~71 bits).
const CONSENT_TOKEN_CHARS: usize = 12;

fn contact_by_consent_token(c: &dyn Tx, token: &str) -> Result<i64, StoreError> {
    c.query_row(
        "SELECT id FROM contacts WHERE consent_token = ?1 AND removed_at IS NULL",
        args![token],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::refused("unknown_link", "lien inconnu / unknown link"))
}

fn insert_shop(conn: &dyn Tx, s: &NewShop, now: Timestamp) -> Result<i64, StoreError> {
    // Supervision tells holders only while the shop is open: hours it
    // cannot read are refused here rather than guessed at later.
    vigie_core::supervision::OpeningHours::parse(&s.opening_hours).map_err(|e| {
        StoreError::refused(
            "bad_opening_hours",
            format!("horaires d'ouverture illisibles / unreadable opening hours: {e}"),
        )
    })?;
    let id = conn
        .query_row(
            "INSERT INTO shops (reference, name, address, insee, commune, postcode, departement, lat, lon, rural, holder_name, holder_phone, opening_hours, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT (reference) DO NOTHING RETURNING id",
            args![
                s.reference, s.name, s.address, s.insee, s.commune, s.postcode, s.departement, s.lat, s.lon, s.rural,
                s.holder_name, s.holder_phone.as_e164(), s.opening_hours, now.as_ms()
            ],
            |r| r.get(0),
        )
        .optional()?;
    id.ok_or_else(|| {
        StoreError::refused(
            "duplicate_shop",
            format!(
                "le commerce « {} » existe déjà / shop reference already exists",
                s.reference
            ),
        )
    })
}

impl Store {
    pub async fn add_shop(&self, shop: NewShop, now: Timestamp) -> Result<i64, StoreError> {
        self.db.write(move |c| insert_shop(c, &shop, now)).await
    }

    /// All or nothing: one bad shop and none is imported.
    pub async fn import_shops(
        &self,
        shops: Vec<NewShop>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.db
            .write(move |c| {
                for (i, s) in shops.iter().enumerate() {
                    insert_shop(c, s, now).map_err(|e| match e {
                        StoreError::Refused { code, message } => StoreError::Refused {
                            code,
                            message: format!("commerce {} ({}): {message}", i + 1, s.reference),
                        },
                        other => other,
                    })?;
                }
                Ok(shops.len())
            })
            .await
    }

    pub async fn shops(&self) -> Result<Vec<Shop>, StoreError> {
        self.db
            .read(|c| {
                let mut st = c.prepare(&format!("SELECT {SHOP_COLUMNS} FROM shops ORDER BY id"))?;
                let rows = st
                    .query_map(args![], shop_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    pub async fn shop(&self, id: i64) -> Result<Shop, StoreError> {
        self.db.read(move |c| load_shop(c, id)).await
    }

    pub async fn shop_by_reference(&self, reference: &str) -> Result<Shop, StoreError> {
        let reference = reference.to_string();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {SHOP_COLUMNS} FROM shops WHERE reference = ?1"),
                    args![reference],
                    shop_from_row,
                )
                .optional()?
                .ok_or_else(|| {
                    StoreError::refused(
                        "unknown_shop",
                        format!("aucun commerce « {reference} » / no such shop"),
                    )
                })
            })
            .await
    }

    /// Register a contact. Friends and neighbours get an opt-in SMS and
    /// receive alarms only after saying yes; police and desk contacts,
    /// registered by the Region, are approved at once.
    pub async fn add_contact(
        &self,
        contact: NewContact,
        now: Timestamp,
    ) -> Result<Contact, StoreError> {
        let rules = self.rules.clone();
        let added = self
            .db
            .write(move |c| add_contact_tx(c, &rules, &contact, now))
            .await?;
        self.config_changed(added.shop_id);
        Ok(added)
    }

    pub async fn contacts(&self, shop_id: Option<i64>) -> Result<Vec<Contact>, StoreError> {
        self.db
            .read(move |c| super::tables::contacts::current(c, shop_id))
            .await
    }

    /// The consent page's data: which contact and which shop.
    pub async fn consent_page(&self, token: &str) -> Result<(Contact, Option<Shop>), StoreError> {
        let token = token.to_string();
        self.db
            .read(move |c| {
                let id = contact_by_consent_token(c, &token)?;
                let contact = load_contact(c, id)?;
                let shop = contact.shop_id.map(|s| load_shop(c, s)).transpose()?;
                Ok((contact, shop))
            })
            .await
    }

    /// A contact answers the opt-in through their link.
    pub async fn set_consent_by_token(
        &self,
        token: &str,
        yes: bool,
        now: Timestamp,
    ) -> Result<Contact, StoreError> {
        let token = token.to_string();
        let contact = self
            .db
            .write(move |c| {
                let id = contact_by_consent_token(c, &token)?;
                set_consent(
                    c,
                    id,
                    if yes { Consent::Yes } else { Consent::No },
                    "web",
                    now,
                )?;
                load_contact(c, id)
            })
            .await?;
        self.config_changed(contact.shop_id);
        Ok(contact)
    }

    /// This shop's own escalation policy (`None`: the Region's).
    pub async fn set_shop_policy(
        &self,
        shop_id: i64,
        tier_timeout_s: Option<u32>,
        repeat: Option<bool>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                if tier_timeout_s == Some(0) {
                    return Err(StoreError::refused("bad_policy", "le délai d'escalade est d'au moins 1 s / tier timeout must be at least 1 s"));
                }
                load_shop(c, shop_id)?;
                c.execute(
                    "UPDATE shops SET tier_timeout_s = ?1, escalation_repeat = ?2 WHERE id = ?3",
                    args![tier_timeout_s, repeat, shop_id],
                )?;
                Ok(())
            })
            .await
    }

    /// A one-time code to enrol a box for `shop_id`.
    pub async fn new_enrolment_code(
        &self,
        shop_id: i64,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let ttl = self.rules.enrolment_code_ttl_ms;
        self.db
            .write(move |c| {
                load_shop(c, shop_id)?;
                insert_enrolment_code(c, shop_id, None, ttl, now)
            })
            .await
    }

    /// Enrol a box: the code is used once; the device's key is registered.
    pub async fn enroll(
        &self,
        code: &str,
        public_key: &str,
        version: &str,
        now: Timestamp,
    ) -> Result<(Device, Shop), StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let (public_key, version) = (public_key.to_string(), version.to_string());
        self.db
            .write(move |c| {
                let row: Option<(i64, i64, Option<i64>, Option<String>)> = c
                    .query_row("SELECT shop_id, expires_at, used_at, serial FROM enrolment_codes WHERE code = ?1", args![code], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                let (shop_id, expires_at, used_at, serial) =
                    row.ok_or_else(|| StoreError::refused("unknown_code", "code d'enrôlement inconnu / unknown enrolment code"))?;
                if used_at.is_some() {
                    return Err(StoreError::refused("code_used", "ce code a déjà servi / this enrolment code was already used"));
                }
                if now.as_ms() > expires_at {
                    return Err(StoreError::refused("code_expired", "ce code a expiré, demandez-en un nouveau / this code has expired"));
                }
                let device_id = format!("dev-{}", uuid::Uuid::now_v7().simple());
                c.execute(
                    "INSERT INTO devices (id, shop_id, public_key, state, version, enrolled_at) VALUES (?1, ?2, ?3, 'enrolled', ?4, ?5)",
                    args![device_id, shop_id, public_key, version, now.as_ms()],
                )?;
                c.execute("UPDATE enrolment_codes SET used_at = ?1, device_id = ?2 WHERE code = ?3", args![now.as_ms(), device_id, code])?;
                if let Some(serial) = &serial {
                    hardware_enrolled(c, serial, shop_id, &device_id, now)?;
                }
                let device = Device { id: device_id, shop_id, state: "enrolled".into(), version: version.clone(), enrolled_at: now, last_seen_at: None };
                Ok((device, load_shop(c, shop_id)?))
            })
            .await
    }

    /// The public key and shop of a device, to check its signatures.
    pub async fn device_key(
        &self,
        device_id: &str,
    ) -> Result<Option<(String, i64, String)>, StoreError> {
        let device_id = device_id.to_string();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT public_key, shop_id, state FROM devices WHERE id = ?1",
                    args![device_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })
            .await
    }

    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        self.db
            .read(|c| {
                let mut st = c.prepare("SELECT id, shop_id, state, version, enrolled_at, last_seen_at FROM devices ORDER BY enrolled_at")?;
                let rows = st
                    .query_map(args![], |r| {
                        Ok(Device {
                            id: r.get(0)?,
                            shop_id: r.get(1)?,
                            state: r.get(2)?,
                            version: r.get(3)?,
                            enrolled_at: Timestamp(r.get(4)?),
                            last_seen_at: r.get::<Option<i64>>(5)?.map(Timestamp),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}

fn add_contact_tx(
    c: &dyn Tx,
    rules: &Rules,
    n: &NewContact,
    now: Timestamp,
) -> Result<Contact, StoreError> {
    let shop = n.shop_id.map(|id| load_shop(c, id)).transpose()?;
    if n.tier == 0 {
        return Err(StoreError::refused(
            "bad_tier",
            "le niveau d'escalade commence à 1 / tiers start at 1",
        ));
    }
    super::tables::pendants::refuse_as_contact(c, &n.phone)?;
    let consent = if n.relation.pre_approved() {
        Consent::Yes
    } else {
        Consent::Pending
    };
    let token = random_token(CONSENT_TOKEN_CHARS);
    let id: Option<i64> = c
        .query_row(
            "INSERT INTO contacts (shop_id, name, phone, relation, tier, consent, consent_at, consent_token, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING RETURNING id",
            args![
                n.shop_id,
                n.name,
                n.phone.as_e164(),
                n.relation.as_str(),
                n.tier,
                consent.as_str(),
                (consent == Consent::Yes).then_some(now.as_ms()),
                token,
                now.as_ms()
            ],
            |r| r.get(0),
        )
        .optional()?;
    let id = id.ok_or_else(|| {
        StoreError::refused(
            "duplicate_contact",
            "ce numéro est déjà un contact de ce commerce / this number is already a contact",
        )
    })?;
    if let (Consent::Pending, Some(shop)) = (consent, &shop) {
        let link = format!("{}/c/{token}", rules.public_url);
        let text = sms::consent_request(&shop.holder_name, &shop.name, &shop.commune, &link);
        queue_sms(
            c,
            &NewSms {
                dedup_key: format!("consent:{id}:{}", now.as_ms()),
                alarm_id: None,
                contact_id: Some(id),
                phone: n.phone.as_e164(),
                purpose: "consent",
                step: 0,
                attempt: 0,
                priority: PRIORITY_ADMIN,
                text: &text.text,
            },
            now,
        )?;
    }
    load_contact(c, id)
}
