//! The fleet: the Region's shops (with the CSV import, all or nothing),
//! one shop's page (contacts, boxes, readiness, enrolment codes), the
//! boxes' health with offline ones first, and the stock of boxes through
//! their life cycle (stock → assigned → enrolled → active → faulty /
//! returned).

use super::board::{outcome_label, state_label};
use super::{Language, not_found, phone_display, render, see_other, store_error, when};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_core::supervision::{Flag, Liveness};
use vigie_hub::region::SHOP_CSV_HEADER;
use vigie_hub::store::{DeviceHealth, HardwareState, Relation, Shop, StoreError};

/// The Region's shops: the deployment's target.
pub const REGION_SHOPS_TARGET: u32 = 2_671;
/// Shops listed at most on one page (search narrows it).
const SHOPS_LISTED_MAX: usize = 300;
/// Recent alarms shown on a shop's page.
const SHOP_ALARMS_SHOWN: usize = 20;

fn liveness_label(l: Liveness, lang: Lang) -> &'static str {
    match l {
        Liveness::Online => lang.pick("en ligne", "online"),
        Liveness::Offline => lang.pick("hors ligne", "offline"),
        Liveness::NeverSeen => lang.pick("jamais vu", "never seen"),
    }
}

fn flag_label(f: &Flag, lang: Lang) -> &'static str {
    match f {
        Flag::LowBattery => lang.pick("batterie faible", "low battery"),
        Flag::OnBattery => lang.pick("sur batterie", "on battery"),
        Flag::NoSim => lang.pick("pas de carte SIM", "no SIM"),
        Flag::NotRegistered => lang.pick("pas de réseau", "no network"),
        Flag::NotReady => lang.pick("essai en retard", "test overdue"),
        Flag::ClockOff => lang.pick("horloge décalée", "clock off"),
    }
}

/// What the desk reads of a box's clock when it is off: by how much, and
/// whether the box corrects its signatures with the hub's time.
fn clock_note(d: &DeviceHealth, lang: Lang) -> Option<String> {
    let ahead = d.box_clock_ahead_ms?;
    if !d.flags.contains(&Flag::ClockOff) {
        return None;
    }
    let by = super::duration(ahead.abs());
    let corrected = d
        .clock_offset_ms
        .is_some_and(|o| (o + ahead).abs() <= vigie_core::supervision::BOX_CLOCK_OFF_MS_MAX);
    let (fr, en) = match (ahead > 0, corrected) {
        (true, true) => (
            format!("horloge en avance de {by}, corrigée par le boîtier"),
            format!("clock {by} ahead, corrected by the box"),
        ),
        (false, true) => (
            format!("horloge en retard de {by}, corrigée par le boîtier"),
            format!("clock {by} behind, corrected by the box"),
        ),
        (true, false) => (
            format!("horloge en avance de {by}, non corrigée : vérifiez sa mise à l'heure"),
            format!("clock {by} ahead, not corrected: check its time setting"),
        ),
        (false, false) => (
            format!("horloge en retard de {by}, non corrigée : vérifiez sa mise à l'heure"),
            format!("clock {by} behind, not corrected: check its time setting"),
        ),
    };
    Some(lang.pick(&fr, &en).to_string())
}

/// What the modem said of the network in the box's last heartbeat, in
/// words; none before any heartbeat (unknown is not « pas de réseau »).
fn network_label(modem: Option<&str>, lang: Lang) -> Option<&'static str> {
    Some(match modem? {
        "registered" => lang.pick("réseau", "network"),
        "roaming" => lang.pick("réseau (itinérance)", "network (roaming)"),
        "searching" => lang.pick("pas de réseau (recherche)", "no network (searching)"),
        "denied" => lang.pick("pas de réseau (refusé)", "no network (denied)"),
        "no_sim" => lang.pick("pas de carte SIM", "no SIM"),
        "absent" => lang.pick("modem muet", "modem not answering"),
        _ => return None,
    })
}

/// The box's faults in words. « Pas de réseau » only when the modem said
/// so: a box whose modem is absent says that instead, and a state the hub
/// does not know is no fault.
fn fault_labels(d: &DeviceHealth, lang: Lang) -> Vec<&'static str> {
    d.flags
        .iter()
        .filter_map(|f| match f {
            Flag::NotRegistered => match d.modem.as_deref() {
                Some("searching" | "denied") => Some(lang.pick("pas de réseau", "no network")),
                Some("absent") => Some(lang.pick("modem muet", "modem not answering")),
                _ => None,
            },
            other => Some(flag_label(other, lang)),
        })
        .collect()
}

/// Signal as people read it: « 17/31 (bon, −79 dBm) »; none when the
/// modem did not measure it (`AT+CSQ` 99) or never said.
fn signal_words(csq: Option<u8>, lang: Lang) -> Option<String> {
    let csq = csq.filter(|&s| s <= 31)?;
    let quality = match csq {
        0..=9 => lang.pick("faible", "weak"),
        10..=14 => lang.pick("moyen", "fair"),
        15..=19 => lang.pick("bon", "good"),
        _ => lang.pick("excellent", "excellent"),
    };
    // 3GPP TS 27.007: 0 is −113 dBm or less, each step 2 dB.
    let dbm = -113 + 2 * i32::from(csq);
    Some(format!("{csq}/31 ({quality}, −{} dBm)", dbm.unsigned_abs()))
}

fn device_view(d: &DeviceHealth, lang: Lang) -> Value {
    json!({
        "device_id": d.device_id,
        "shop_id": d.shop_id,
        "shop_name": d.shop_name,
        "liveness": match d.liveness { Liveness::Online => "online", Liveness::Offline => "offline", Liveness::NeverSeen => "never" },
        "liveness_label": liveness_label(d.liveness, lang),
        "last_seen": d.last_seen_at.map(when),
        "battery": d.battery_pct.map(|b| format!("{b} %{}", if d.on_mains == Some(false) { lang.pick(" (sur batterie)", " (on battery)") } else { "" })),
        "battery_low": d.flags.contains(&Flag::LowBattery),
        "signal": signal_words(d.signal_csq, lang),
        "signal_weak": d.signal_csq.is_some_and(|s| s < 10),
        "network": network_label(d.modem.as_deref(), lang),
        "version": d.version,
        "outbox": d.outbox_depth,
        "last_test": d.last_test_ok_at.map(when),
        "flags": fault_labels(d, lang).join(", "),
        "clock": clock_note(d, lang),
    })
}

/// Boxes on one shop beyond which the desk should look (a shop has one
/// box, and a replacement may overlap it for a while).
const BOXES_PER_SHOP_EXPECTED_MAX: usize = 2;

/// Oddities of the fleet the desk should look at: too many boxes on one
/// shop, a box in service with no shop, one box under two serials.
fn oddities(
    health: &[DeviceHealth],
    hardware: &[vigie_hub::store::HardwareRow],
    lang: Lang,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut per_shop: std::collections::BTreeMap<i64, (&str, usize)> = Default::default();
    for d in health
        .iter()
        .filter(|d| !matches!(d.device_state.as_str(), "faulty" | "returned"))
    {
        per_shop.entry(d.shop_id).or_insert((&d.shop_name, 0)).1 += 1;
    }
    for (shop, (name, n)) in per_shop {
        if n > BOXES_PER_SHOP_EXPECTED_MAX {
            out.push(json!({
                "kind": "many_boxes",
                "text": lang.pick(&format!("{n} boîtiers en service sur la boutique {name}"), &format!("{n} boxes in service at {name}")),
                "href": format!("/console/shops/{shop}"),
            }));
        }
    }
    for h in hardware.iter().filter(|h| {
        matches!(
            h.state,
            HardwareState::Assigned | HardwareState::Enrolled | HardwareState::Active
        ) && h.shop_id.is_none()
    }) {
        out.push(json!({
            "kind": "no_shop",
            "text": lang.pick(&format!("le boîtier {} est {} sans boutique", h.serial, h.state.label_fr()), &format!("box {} is {} with no shop", h.serial, h.state.label_en())),
            "href": format!("#serial-{}", anchor(&h.serial)),
        }));
    }
    let mut serials_of: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for h in hardware {
        if let Some(d) = h.device_id.as_deref() {
            serials_of.entry(d).or_default().push(&h.serial);
        }
    }
    for (device, serials) in serials_of.into_iter().filter(|(_, s)| s.len() > 1) {
        out.push(json!({
            "kind": "enrolled_twice",
            "text": lang.pick(
                &format!("le boîtier {device} est enrôlé sous {} numéros de série : {}", serials.len(), serials.join(", ")),
                &format!("box {device} is enrolled under {} serials: {}", serials.len(), serials.join(", ")),
            ),
            "href": format!("#device-{}", anchor(device)),
        }));
    }
    out
}

/// An id usable in a fragment link (`#serial-…`): other characters replaced.
fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct ShopsQuery {
    q: Option<String>,
    imported: Option<usize>,
}

pub(crate) async fn shops_page(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    q: ShopsQuery,
    errors: Vec<String>,
    csv: Option<String>,
) -> Response {
    let now = console.now();
    let (shops, deployment) =
        match tokio::try_join!(console.store().shops(), console.store().deployment(now)) {
            Ok(x) => x,
            Err(e) => return store_error(e, lang),
        };
    let needle =
        q.q.as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
    let shown: Vec<&Shop> = shops
        .iter()
        .filter(|s| {
            needle.as_ref().is_none_or(|n| {
                s.name.to_lowercase().contains(n)
                    || s.commune.to_lowercase().contains(n)
                    || s.reference.to_lowercase().contains(n)
            })
        })
        .take(SHOPS_LISTED_MAX)
        .collect();
    let notice = q.imported.map(|n| {
        lang.pick(
            &format!("{n} boutique(s) importée(s)."),
            &format!("{n} shop(s) imported."),
        )
        .to_string()
    });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut resp = render(
        console,
        Some(v),
        lang,
        "shops.html",
        "/console/shops",
        json!({
            "shops": shown,
            "shown": shown.len(),
            "deployment": deployment,
            "target": REGION_SHOPS_TARGET.max(deployment.shops_total),
            "header": SHOP_CSV_HEADER,
            "errors": errors,
            "csv": csv,
            "notice": notice,
            "q": q.q,
        }),
    );
    *resp.status_mut() = status;
    resp
}

pub async fn shops(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(q): Query<ShopsQuery>,
) -> Response {
    shops_page(&console, &v, lang, q, Vec::new(), None).await
}

fn relation_label(r: Relation, lang: Lang) -> &'static str {
    match r {
        Relation::Friend => lang.pick("proche", "friend"),
        Relation::Neighbour => lang.pick("voisin", "neighbour"),
        Relation::Police => lang.pick("police / gendarmerie", "police"),
        Relation::Desk => lang.pick("poste de la Région", "Region desk"),
    }
}

fn consent_label(c: vigie_hub::store::Consent, lang: Lang) -> &'static str {
    use vigie_hub::store::Consent;
    match c {
        Consent::Pending => lang.pick("en attente", "pending"),
        Consent::Yes => lang.pick("oui", "yes"),
        Consent::No => lang.pick("non", "no"),
        Consent::Lapsed => lang.pick("expiré", "lapsed"),
    }
}

#[derive(Deserialize, Default)]
pub struct ShopQuery {
    done: Option<String>,
}

/// What a finished action says on the shop's page.
fn done_notice(done: &str, lang: Lang) -> Option<&'static str> {
    Some(match done {
        "contact_added" => lang.pick(
            "Contact ajouté : un SMS lui demande son accord.",
            "Contact added: an SMS asks for their consent.",
        ),
        "contact_updated" => lang.pick("Contact modifié.", "Contact updated."),
        "shop_updated" => lang.pick("Fiche de la boutique enregistrée.", "Shop record saved."),
        "tier" => lang.pick("Palier changé.", "Tier changed."),
        "opt_in" => lang.pick("Demande d'accord renvoyée.", "Consent request sent again."),
        "removed" => lang.pick(
            "Contact retiré : il ne sera plus alerté.",
            "Contact removed: they will no longer be alerted.",
        ),
        _ => return None,
    })
}

/// What a shop's page says besides the shop itself.
pub struct Said<'a> {
    pub status: StatusCode,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// A new enrolment code to show (text and QR code).
    pub code: Option<String>,
    /// The shop's form shown again, with what was typed and its problems.
    pub form: Option<Value>,
}

impl Default for Said<'_> {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            notice: None,
            error: None,
            code: None,
            form: None,
        }
    }
}

pub async fn shop_page(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    shop_id: i64,
    said: Said<'_>,
) -> Response {
    let Said {
        status,
        notice,
        error,
        code,
        form,
    } = said;
    if !v.can_see_shop(shop_id) {
        return not_found(lang);
    }
    let now = console.now();
    let store = console.store();
    let shop = match store.shop(shop_id).await {
        Ok(s) => s,
        Err(StoreError::Refused { .. }) => return not_found(lang),
        Err(e) => return store_error(e, lang),
    };
    let (own, region, readiness, health, alarms) = match tokio::try_join!(
        store.contacts(Some(shop_id)),
        store.contacts(None),
        store.readiness(shop_id, now),
        store.shop_health(shop_id, now),
        store.alarms_of(Some(shop_id), false, SHOP_ALARMS_SHOWN),
    ) {
        Ok(x) => x,
        Err(e) => return store_error(e, lang),
    };
    let contacts: Vec<Value> = own
        .iter()
        .map(|c| (c, true))
        .chain(region.iter().map(|c| (c, false)))
        .map(|(c, editable)| {
            json!({
                "id": c.id,
                "name": c.name,
                "phone": phone_display(c.phone.as_e164()),
                "tel": c.phone.as_e164(),
                "relation": c.relation.as_str(),
                "relation_label": relation_label(c.relation, lang),
                "tier": c.tier,
                "consent": c.consent.as_str(),
                "consent_label": consent_label(c.consent, lang),
                "bounced": c.bounced,
                "editable": editable,
            })
        })
        .collect();
    let relations: Vec<Value> = [Relation::Friend, Relation::Neighbour, Relation::Police, Relation::Desk]
        .iter()
        .map(|r| json!({ "value": r.as_str(), "label": relation_label(*r, lang), "own": !r.pre_approved() || crate::DESK.contains(&v.role()) }))
        .collect();
    let devices: Vec<Value> = health.iter().map(|d| device_view(d, lang)).collect();
    let alarms: Vec<Value> = alarms
        .iter()
        .map(|a| json!({ "id": a.id.to_string(), "pressed_at": when(a.pressed_at), "state_label": state_label(a.state, lang), "outcome_label": a.outcome.map(|o| outcome_label(o, lang)) }))
        .collect();
    let code_qr = code.as_deref().map(super::me::qr_svg);
    let mut resp = render(
        console,
        Some(v),
        lang,
        "shop.html",
        &format!("/console/shops/{shop_id}"),
        json!({
            "shop": {
                "id": shop.id, "reference": shop.reference, "name": shop.name, "address": shop.address,
                "postcode": shop.postcode, "commune": shop.commune, "departement": shop.departement,
                "holder_name": shop.holder_name, "holder_phone": shop.holder_phone.national_display(),
                "holder_tel": shop.holder_phone.as_e164(), "opening_hours": shop.opening_hours,
                "opening_hours_words": opening_hours_words(&shop.opening_hours, lang),
            },
            "readiness": { "ready": readiness.ready, "last_ok": readiness.last_test_ok_at.map(when) },
            "contacts": contacts,
            "relations": relations,
            "tiers": (1..=vigie_hub::store::CONTACT_TIER_MAX).collect::<Vec<u8>>(),
            "devices": devices,
            "alarms": alarms,
            "desk": crate::DESK.contains(&v.role()),
            "notice": notice,
            "error": error,
            "code": code,
            "code_qr": code_qr,
            "form": form,
        }),
    );
    *resp.status_mut() = status;
    resp
}

pub async fn shop(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<ShopQuery>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(lang);
    };
    let notice = q.done.as_deref().and_then(|d| done_notice(d, lang));
    shop_page(
        &console,
        &v,
        lang,
        id,
        Said {
            notice,
            ..Said::default()
        },
    )
    .await
}

pub async fn new_code(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(lang);
    };
    let now = console.now();
    match console.store().new_enrolment_code(id, now).await {
        Ok(code) => {
            let _ = console
                .store()
                .audit(v.audit("enrolment_code_created", format!("shop:{id}")), now)
                .await;
            shop_page(
                &console,
                &v,
                lang,
                id,
                Said {
                    code: Some(code),
                    ..Said::default()
                },
            )
            .await
        }
        Err(e) => store_error(e, lang),
    }
}

#[derive(Deserialize, Default)]
pub struct FleetQuery {
    done: Option<String>,
}

async fn fleet_page(
    console: &Console,
    v: &Viewer,
    lang: Lang,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    code: Option<Value>,
) -> Response {
    let now = console.now();
    let store = console.store();
    let (mut health, hardware, deployment) = match tokio::try_join!(
        store.fleet_health(now),
        store.hardware(),
        store.deployment(now)
    ) {
        Ok(x) => x,
        Err(e) => return store_error(e, lang),
    };
    let rank = |l: Liveness| match l {
        Liveness::Offline => 0,
        Liveness::NeverSeen => 1,
        Liveness::Online => 2,
    };
    health.sort_by_key(|d| (rank(d.liveness), d.flags.is_empty(), d.shop_name.clone()));
    let offline = health
        .iter()
        .filter(|d| d.liveness == Liveness::Offline)
        .count();
    let oddities = oddities(&health, &hardware, lang);
    let serial_of: std::collections::HashMap<&str, &str> = hardware
        .iter()
        .filter_map(|h| Some((h.device_id.as_deref()?, h.serial.as_str())))
        .collect();
    let devices: Vec<Value> = health
        .iter()
        .map(|d| {
            let mut view = device_view(d, lang);
            view["anchor"] = json!(anchor(&d.device_id));
            if let Some(serial) = serial_of.get(d.device_id.as_str()) {
                view["serial"] = json!(serial);
                view["serial_anchor"] = json!(anchor(serial));
            }
            view
        })
        .collect();
    let listed: std::collections::HashSet<&str> =
        health.iter().map(|d| d.device_id.as_str()).collect();
    let hardware: Vec<Value> = hardware
        .iter()
        .map(|h| {
            json!({
                "serial": h.serial, "anchor": anchor(&h.serial), "state": h.state.as_str(),
                "state_label": if lang == Lang::En { h.state.label_en() } else { h.state.label_fr() },
                "shop_id": h.shop_id, "shop_name": h.shop_name, "updated_at": when(h.updated_at), "note": h.note,
                "device_id": h.device_id,
                "device_anchor": h.device_id.as_deref().filter(|d| listed.contains(d)).map(anchor),
            })
        })
        .collect();
    let mut resp = render(
        console,
        Some(v),
        lang,
        "fleet.html",
        "/console/fleet",
        json!({ "devices": devices, "offline": offline, "hardware": hardware, "oddities": oddities, "deployment": deployment, "notice": notice, "error": error, "code": code }),
    );
    *resp.status_mut() = status;
    resp
}

pub async fn fleet(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Query(q): Query<FleetQuery>,
) -> Response {
    let notice = q.done.as_deref().map(|d| {
        match d {
            "stock" => lang.pick("Boîtiers mis en stock.", "Boxes added to stock."),
            _ => lang.pick("État du boîtier mis à jour.", "Box state updated."),
        }
        .to_string()
    });
    fleet_page(&console, &v, lang, StatusCode::OK, notice, None, None).await
}

/// A refusal shown on the fleet page (422), or a failure.
async fn refused_on_fleet(console: &Console, v: &Viewer, lang: Lang, e: StoreError) -> Response {
    match e {
        StoreError::Refused { message, .. } => {
            let text = lang.part(&message);
            fleet_page(
                console,
                v,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(text),
                None,
            )
            .await
        }
        other => store_error(other, lang),
    }
}

#[derive(Deserialize)]
pub struct Serials {
    serials: String,
}

pub async fn add_hardware(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Form(f): Form<Serials>,
) -> Response {
    let serials: Vec<String> = f
        .serials
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let now = console.now();
    match console.store().add_hardware(serials, now).await {
        Ok(n) => {
            let mut audit = v.audit("hardware_added", "fleet");
            audit.detail = json!({ "count": n });
            let _ = console.store().audit(audit, now).await;
            see_other("/console/fleet?done=stock")
        }
        Err(e) => refused_on_fleet(&console, &v, lang, e).await,
    }
}

#[derive(Deserialize)]
pub struct Assign {
    shop: String,
}

pub async fn assign(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(serial): Path<String>,
    Form(f): Form<Assign>,
) -> Response {
    let now = console.now();
    let shop = match console.store().shop_by_reference(f.shop.trim()).await {
        Ok(s) => s,
        Err(e) => return refused_on_fleet(&console, &v, lang, e).await,
    };
    match console.store().assign_hardware(&serial, shop.id, now).await {
        Ok(code) => {
            let _ = console
                .store()
                .audit(
                    v.audit("hardware_assigned", format!("hardware:{serial}")),
                    now,
                )
                .await;
            let view = json!({ "serial": code.serial, "code": code.code, "expires": when(code.expires_at), "qr": super::me::qr_svg(&code.code) });
            fleet_page(&console, &v, lang, StatusCode::OK, None, None, Some(view)).await
        }
        Err(e) => refused_on_fleet(&console, &v, lang, e).await,
    }
}

#[derive(Deserialize)]
pub struct SetState {
    state: String,
    #[serde(default)]
    note: String,
}

pub async fn set_state(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(serial): Path<String>,
    Form(f): Form<SetState>,
) -> Response {
    let Some(state) = HardwareState::parse(&f.state)
        .filter(|s| matches!(s, HardwareState::Faulty | HardwareState::Returned))
    else {
        return fleet_page(
            &console,
            &v,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(lang.pick("État inconnu.", "Unknown state.").into()),
            None,
        )
        .await;
    };
    let now = console.now();
    match console
        .store()
        .set_hardware_state(&serial, state, &f.note, now)
        .await
    {
        Ok(_) => {
            let _ = console
                .store()
                .audit(v.audit("hardware_state", format!("hardware:{serial}")), now)
                .await;
            see_other("/console/fleet?done=state")
        }
        Err(e) => refused_on_fleet(&console, &v, lang, e).await,
    }
}

/// A shop's opening hours as a sentence (the stored form if it does not parse).
pub fn opening_hours_words(text: &str, lang: crate::Lang) -> String {
    vigie_core::supervision::OpeningHours::parse(text)
        .map(|h| h.in_words(lang == crate::Lang::Fr))
        .unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_core::Timestamp;
    use vigie_hub::store::HardwareRow;

    fn device(id: &str, shop: i64, state: &str) -> DeviceHealth {
        DeviceHealth {
            device_id: id.into(),
            shop_id: shop,
            shop_reference: format!("ARA-{shop}"),
            shop_name: format!("Tabac {shop}"),
            device_state: state.into(),
            liveness: Liveness::NeverSeen,
            last_seen_at: None,
            battery_pct: None,
            on_mains: None,
            signal_csq: None,
            modem: None,
            free_storage_mb: None,
            version: None,
            outbox_depth: None,
            uptime_s: None,
            last_test_ok_at: None,
            box_clock_ahead_ms: None,
            clock_offset_ms: None,
            flags: vec![Flag::NotRegistered],
        }
    }

    fn serial(
        serial: &str,
        state: HardwareState,
        shop: Option<i64>,
        device: Option<&str>,
    ) -> HardwareRow {
        HardwareRow {
            serial: serial.into(),
            state,
            shop_id: shop,
            shop_name: shop.map(|s| format!("Tabac {s}")),
            device_id: device.map(str::to_string),
            updated_at: Timestamp(0),
            note: None,
        }
    }

    #[test]
    fn oddities_are_too_many_boxes_a_box_without_a_shop_and_a_box_under_two_serials() {
        let health = [
            device("d1", 1, "active"),
            device("d2", 1, "active"),
            device("d3", 1, "enrolled"),
            device("d4", 1, "faulty"),
            device("d5", 2, "active"),
            device("d6", 2, "active"),
        ];
        let hardware = [
            serial("SN-1", HardwareState::Active, Some(1), Some("d1")),
            serial("SN-2", HardwareState::Assigned, None, None),
            serial("SN-3", HardwareState::Stock, None, None),
            serial("SN-4", HardwareState::Active, Some(2), Some("d5")),
            serial("SN-5", HardwareState::Enrolled, Some(2), Some("d5")),
        ];
        let found = oddities(&health, &hardware, Lang::Fr);
        let texts: Vec<&str> = found.iter().filter_map(|o| o["text"].as_str()).collect();
        assert_eq!(
            texts,
            [
                "3 boîtiers en service sur la boutique Tabac 1",
                "le boîtier SN-2 est attribué sans boutique",
                "le boîtier d5 est enrôlé sous 2 numéros de série : SN-4, SN-5",
            ]
        );
        assert_eq!(found[1]["href"], "#serial-SN-2");
        assert_eq!(found[2]["href"], "#device-d5");
        assert!(oddities(&health[4..], &hardware[2..4], Lang::Fr).is_empty());
    }

    #[test]
    fn no_network_is_said_only_when_the_modem_said_it() {
        let mut d = device("d1", 1, "active");
        assert!(
            fault_labels(&d, Lang::Fr).is_empty(),
            "never reported: no fault"
        );
        assert_eq!(network_label(None, Lang::Fr), None);
        for (modem, fault) in [
            ("searching", Some("pas de réseau")),
            ("denied", Some("pas de réseau")),
            ("absent", Some("modem muet")),
            ("something-new", None),
        ] {
            d.modem = Some(modem.into());
            assert_eq!(
                fault_labels(&d, Lang::Fr).first().copied(),
                fault,
                "{modem}"
            );
        }
        assert_eq!(network_label(Some("registered"), Lang::Fr), Some("réseau"));
        assert_eq!(signal_words(Some(99), Lang::Fr), None);
        assert_eq!(
            signal_words(Some(0), Lang::Fr).as_deref(),
            Some("0/31 (faible, −113 dBm)")
        );
        assert_eq!(
            signal_words(Some(31), Lang::En).as_deref(),
            Some("31/31 (excellent, −51 dBm)")
        );
    }
}
