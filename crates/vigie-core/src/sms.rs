//! Every SMS Vigie sends, rendered by pure functions that keep each text to
//! one segment: 160 GSM 7-bit septets after folding (ê → e, ç → c), or 70
//! UCS-2 units for a name that has no GSM spelling. What is essential comes
//! first and is never cut (alert, time, link); the address, then the names
//! (shop, holder, contact), are shortened and at last left out when the text
//! would not fit. A link is never cut: a cut link is a page that does not
//! exist, and a contact who can never answer or accept.

use crate::alarm::{Answer, Outcome};
use crate::gsm::{Encoding, SMS_SEGMENT_GSM_SEPTETS_MAX, SMS_SEGMENT_UCS2_UNITS_MAX, fold_to_gsm};
use crate::time::Timestamp;

/// The longest `server.public_url` the hub accepts, in GSM septets: with the
/// longest path below, every text that carries a link still fits one
/// segment once the names are left out (`hub` refuses a longer one at start).
pub const PUBLIC_URL_SEPTETS_MAX: usize = 64;
/// `/r/` or `/c/` and a token of 12 base-62 characters (the hub's links).
pub const LINK_PATH_CHARS_MAX: usize = 3 + 12;
/// The longest link an SMS carries.
pub const LINK_SEPTETS_MAX: usize = PUBLIC_URL_SEPTETS_MAX + LINK_PATH_CHARS_MAX;

/// Lengths names are cut to, longest first, before they are left out.
const NAME_CUTS_CHARS: [usize; 5] = [40, 30, 20, 12, 6];

/// A rendered SMS, known to fit one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsText {
    pub text: String,
    pub encoding: Encoding,
}

/// Who and where, as the contacts know the shop.
#[derive(Debug, Clone)]
pub struct ShopLine<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub commune: &'a str,
}

/// Everything the first alert needs.
#[derive(Debug, Clone)]
pub struct AlertText<'a> {
    pub shop: ShopLine<'a>,
    pub pressed_at: Timestamp,
    /// Set when the press reached the hub late (queued on the box).
    pub age_ms: Option<i64>,
    /// The contact's own answer page, e.g. `https://vigie.example/r/Ab3dE9xKq2`.
    pub link: &'a str,
    /// Short code naming this alarm in SMS replies.
    pub alarm_code: &'a str,
    /// Whether the sender number accepts replies (an alphanumeric sender does not).
    pub replies_accepted: bool,
    /// 0 for the first round; later rounds say nobody has answered yet.
    pub round: u32,
}

/// Fit `parts` into one segment: each candidate is tried in order and the
/// first that fits wins. The last candidate must always fit.
fn first_that_fits(candidates: impl IntoIterator<Item = String>) -> SmsText {
    let mut last = String::new();
    for candidate in candidates {
        let folded = fold_to_gsm(&candidate);
        let encoding = Encoding::of(&folded);
        let fits = match encoding {
            Encoding::Gsm7 { septets } => septets <= SMS_SEGMENT_GSM_SEPTETS_MAX,
            Encoding::Ucs2 { units } => units <= SMS_SEGMENT_UCS2_UNITS_MAX,
        };
        if fits {
            return SmsText {
                text: folded,
                encoding,
            };
        }
        last = folded;
    }
    // The caller's last candidate did not fit: cut it hard rather than send
    // a multi-part message that may arrive in pieces.
    truncate_to_segment(&last)
}

fn truncate_to_segment(text: &str) -> SmsText {
    let mut out = String::new();
    for c in text.chars() {
        let mut next = out.clone();
        next.push(c);
        if Encoding::of(&next).segments() > 1 {
            break;
        }
        out = next;
    }
    let encoding = Encoding::of(&out);
    SmsText {
        text: out,
        encoding,
    }
}

/// `render` with the names whole, then with each of them cut shorter and
/// shorter: the candidates a text with names tries before its fallbacks.
fn names_shortened<const N: usize>(
    names: [&str; N],
    render: impl Fn([&str; N]) -> String,
) -> Vec<String> {
    names_shortened_in(names, &[&render])
}

/// One wording of a text, given its names.
type Wording<'a, const N: usize> = dyn Fn([&str; N]) -> String + 'a;

/// Like [`names_shortened`] with several wordings, longest first, tried
/// at each length of the names before the names are cut shorter: a
/// terser sentence is better than a name cut to nothing.
fn names_shortened_in<const N: usize>(
    names: [&str; N],
    renders: &[&Wording<'_, N>],
) -> Vec<String> {
    let mut out: Vec<String> = renders.iter().map(|r| r(names)).collect();
    for cut in NAME_CUTS_CHARS {
        let cut: [String; N] = names.map(|n| shorten(n, cut));
        out.extend(
            renders
                .iter()
                .map(|r| r(cut.each_ref().map(String::as_str))),
        );
    }
    out
}

/// Cut `s` to at most `chars` characters, marking the cut with a dot.
fn shorten(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(chars.saturating_sub(1)).collect();
    out = out.trim_end().to_string();
    out.push('.');
    out
}

/// What a link in an SMS becomes wherever the text is shown or kept
/// outside the contact's phone.
pub const HIDDEN_LINK: &str = "[lien personnel masqué]";

/// `text` with every link replaced by [`HIDDEN_LINK`]: a link answers (or
/// consents) as its contact, so whoever reads the text elsewhere (the
/// console's timeline, a log) must not be able to follow it.
pub fn hide_links(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") {
                HIDDEN_LINK
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "il y a 3 min" / "il y a 2 h 05".
fn age_fr(age_ms: i64) -> String {
    let minutes = (age_ms / 60_000).max(1);
    if minutes < 60 {
        format!("il y a {minutes} min")
    } else {
        format!("il y a {} h {:02}", minutes / 60, minutes % 60)
    }
}

/// The alert every contact of a tier receives.
pub fn alert(a: &AlertText<'_>) -> SmsText {
    let at = a.pressed_at.paris().hour_minute_fr();
    let head = match (a.round, a.age_ms) {
        (0, None) => format!("ALERTE Vigie {at}"),
        (0, Some(age)) => format!("ALERTE Vigie déclenchée {} ({at})", age_fr(age)),
        (_, _) => format!("ALERTE Vigie {at}, sans réponse"),
    };
    let how = if a.replies_accepted {
        format!(
            "Répondez 1 j'arrive, 2 j'appelle le 17, 3 indispo ({}) ",
            a.alarm_code
        )
    } else {
        String::new()
    };
    let shop = &a.shop;
    let link = a.link;
    let mut candidates = vec![format!(
        "{head}: {}, {}, {}. {how}{link}",
        shop.name, shop.address, shop.commune
    )];
    candidates.extend(names_shortened([shop.name, shop.commune], |[n, c]| {
        format!("{head}: {n}, {c}. {how}{link}")
    }));
    // Without room for the reply instructions, the link still answers.
    candidates.extend(names_shortened([shop.name, shop.commune], |[n, c]| {
        format!("{head}: {n}, {c}. {link}")
    }));
    // Without a GSM spelling (UCS-2, 70 units) only the essentials fit.
    candidates.extend(names_shortened([shop.name], |[n]| {
        format!("ALERTE {at} {n} {link}")
    }));
    candidates.push(format!("ALERTE Vigie {at}: {how}{link}"));
    candidates.push(format!("ALERTE Vigie {at}: {link}"));
    first_that_fits(candidates)
}

/// The alert the box sends itself, through its own SIM, when the hub does
/// not answer: no link (only the hub makes them), so it says what to do —
/// and never asks anyone to call the shop, where an aggressor may be.
pub fn direct_alert(shop: &ShopLine<'_>, pressed_at: Timestamp) -> SmsText {
    let at = pressed_at.paris().hour_minute_fr();
    first_that_fits([
        format!(
            "ALERTE Vigie {at}: {}, {}, {}. Venez si vous pouvez, ou appelez le 17.",
            shop.name, shop.address, shop.commune
        ),
        format!(
            "ALERTE Vigie {at}: {}, {}. Venez si vous pouvez, ou appelez le 17.",
            shop.name, shop.commune
        ),
        format!(
            "ALERTE Vigie {at}: {}, {}. Appelez le 17.",
            shorten(shop.name, 30),
            shorten(shop.commune, 30)
        ),
        format!("ALERTE {at} {}. Appelez le 17.", shorten(shop.name, 20)),
    ])
}

/// Reminder to the holder before a recording is destroyed at the end of
/// its retention: how to keep it, and the short limit for public insults.
pub fn recording_reminder(
    shop_name: &str,
    recorded_at: Timestamp,
    deleted_on: Timestamp,
) -> SmsText {
    let r = recorded_at.paris();
    let d = deleted_on.paris();
    let (r, d) = (
        format!("{:02}/{:02}", r.day, r.month),
        format!("{:02}/{:02}", d.day, d.month),
    );
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!(
            "Vigie {shop}: l'enregistrement du {r} sera effacé le {d}. Plainte? Demandez sa conservation. Insultes publiques: 3 mois pour porter plainte."
        )
    });
    candidates.push(format!(
        "Vigie: l'enregistrement du {r} sera effacé le {d}. Plainte? Demandez sa conservation. Insultes publiques: 3 mois."
    ));
    first_that_fits(candidates)
}

/// Broadcast of a contact's answer to the other contacts and the holder.
pub fn answer_broadcast(shop_name: &str, who: &str, answer: Answer, at: Timestamp) -> SmsText {
    let at = at.paris().hour_minute_fr();
    let what = match answer {
        Answer::Coming => "arrive",
        Answer::CallingPolice => "appelle le 17",
        Answer::Unavailable => "n'est pas disponible",
    };
    let mut candidates = names_shortened([shop_name, who], |[shop, who]| {
        format!("Vigie {shop}: {who} {what} ({at}).")
    });
    candidates.extend(names_shortened([who], |[who]| {
        format!("Vigie: {who} {what} ({at}).")
    }));
    candidates.push(format!("Vigie: un contact {what} ({at})."));
    first_that_fits(candidates)
}

/// Sent to every contact already alerted when the holder cancels.
pub fn cancelled(shop_name: &str, pressed_at: Timestamp) -> SmsText {
    let at = pressed_at.paris().hour_minute_fr();
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!(
            "Vigie {shop}: fausse alerte, l'alarme de {at} est annulée. Inutile de vous déplacer. Merci."
        )
    });
    candidates.push(format!(
        "Vigie: fausse alerte, l'alarme de {at} est annulée. Inutile de vous déplacer. Merci."
    ));
    first_that_fits(candidates)
}

/// Sent to every contact alerted when the alarm is closed.
pub fn resolved(shop_name: &str, pressed_at: Timestamp, outcome: Outcome) -> SmsText {
    let at = pressed_at.paris().hour_minute_fr();
    let outcome = outcome.label_fr();
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!("Vigie {shop}: l'alarme de {at} est close ({outcome}). Merci.")
    });
    candidates.push(format!(
        "Vigie: l'alarme de {at} est close ({outcome}). Merci."
    ));
    first_that_fits(candidates)
}

/// The discreet confirmation to the holder's own phone.
pub fn holder_confirmation(pressed_at: Timestamp, contacts_alerted: usize) -> SmsText {
    let at = pressed_at.paris().hour_minute_fr();
    let who = match contacts_alerted {
        0 => "aucun contact joignable, le centre régional est prévenu".to_string(),
        1 => "1 contact prévenu".to_string(),
        n => format!("{n} contacts prévenus"),
    };
    first_that_fits([format!("Vigie: alerte de {at} transmise, {who}.")])
}

/// The opt-in request a new contact receives.
pub fn consent_request(holder_name: &str, shop_name: &str, commune: &str, link: &str) -> SmsText {
    let mut candidates = vec![format!(
        "Vigie: {holder_name} ({shop_name}, {commune}) vous désigne comme contact d'urgence. Répondez OUI pour accepter, STOP pour refuser. {link}"
    )];
    candidates.extend(names_shortened_in(
        [holder_name, shop_name],
        &[
            &|[h, s]: [&str; 2]| {
                format!(
                    "Vigie: {h} ({s}) vous désigne comme contact d'urgence. OUI pour accepter, STOP pour refuser. {link}"
                )
            },
            &|[h, s]: [&str; 2]| {
                format!("Vigie: {h} ({s}) vous désigne contact d'urgence. OUI ou STOP. {link}")
            },
        ],
    ));
    candidates.extend(names_shortened([shop_name], |[s]| {
        format!("Vigie: {s} vous désigne contact d'urgence. OUI ou STOP. {link}")
    }));
    candidates.push(format!(
        "Vigie: un commerce vous désigne comme contact d'urgence. OUI ou STOP. {link}"
    ));
    first_that_fits(candidates)
}

pub fn consent_confirmed(shop_name: &str) -> SmsText {
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!("Vigie: merci, vous recevrez les alertes de {shop}. Envoyez STOP pour arrêter.")
    });
    candidates.push("Vigie: merci, vous recevrez les alertes. Envoyez STOP pour arrêter.".into());
    first_that_fits(candidates)
}

pub fn consent_withdrawn() -> SmsText {
    first_that_fits([
        "Vigie: vous ne recevrez plus d'alertes. Répondez OUI pour accepter à nouveau.".to_string(),
    ])
}

/// Answer to a reply that was not understood.
pub fn reply_help() -> SmsText {
    first_that_fits(["Vigie: réponse non comprise. Envoyez 1 (j'arrive), 2 (j'appelle le 17) ou 3 (indisponible), suivi du code de l'alerte si vous en avez plusieurs.".to_string()])
}

/// Answer to `1` when the contact has several alarms open.
pub fn reply_which_alarm(codes: &[String]) -> SmsText {
    let list = codes.join(", ");
    let example = codes.first().map(String::as_str).unwrap_or("ABC");
    first_that_fits([
        format!(
            "Vigie: vous avez {} alertes en cours ({list}). Répondez avec le code, par exemple: 1 {example}",
            codes.len()
        ),
        format!(
            "Vigie: plusieurs alertes en cours. Répondez avec le code, par exemple: 1 {example}"
        ),
    ])
}

/// Answer to a reply about an alarm that is already closed or unknown.
pub fn reply_no_open_alarm() -> SmsText {
    first_that_fits(["Vigie: aucune alerte en cours pour vous. Merci.".to_string()])
}

/// "14h32" today, "le 25/11 à 21h10" another day (Paris time).
fn when_fr(t: Timestamp, now: Timestamp) -> String {
    let (c, today) = (t.paris(), now.paris());
    if (c.year, c.month, c.day) == (today.year, today.month, today.day) {
        c.hour_minute_fr()
    } else {
        format!("le {:02}/{:02} à {}", c.day, c.month, c.hour_minute_fr())
    }
}

/// To the holder, during opening hours: their box has gone silent.
pub fn device_offline(shop_name: &str, last_seen: Timestamp, now: Timestamp) -> SmsText {
    let since = when_fr(last_seen, now);
    let mut candidates = vec![format!(
        "Vigie: votre bouton d'alerte ({shop_name}) ne répond plus depuis {since}. Vérifiez qu'il est branché et allumé. La Région est informée."
    )];
    candidates.extend(names_shortened([shop_name], |[shop]| {
        format!(
            "Vigie: votre bouton d'alerte ({shop}) ne répond plus depuis {since}. Vérifiez qu'il est branché."
        )
    }));
    candidates.push(format!(
        "Vigie: votre bouton d'alerte ne répond plus depuis {since}. Vérifiez qu'il est branché et allumé."
    ));
    first_that_fits(candidates)
}

/// To the holder who was told their box was silent: it is back.
pub fn device_back(shop_name: &str, at: Timestamp) -> SmsText {
    let at = at.paris().hour_minute_fr();
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!("Vigie: votre bouton d'alerte ({shop}) est de nouveau en ligne ({at}). Merci.")
    });
    candidates.push(format!(
        "Vigie: votre bouton d'alerte est de nouveau en ligne ({at}). Merci."
    ));
    first_that_fits(candidates)
}

/// The silent end-to-end test: sent to the Region's test number, or to the
/// holder; never to the contacts.
pub fn test_press(shop_name: &str, pressed_at: Timestamp) -> SmsText {
    let at = pressed_at.paris().hour_minute_fr();
    let mut candidates = names_shortened([shop_name], |[shop]| {
        format!("Vigie: test du bouton OK ({at}), {shop}. Aucun contact n'a été prévenu.")
    });
    candidates.push(format!(
        "Vigie: test du bouton OK ({at}). Aucun contact n'a été prévenu."
    ));
    first_that_fits(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsm::gsm_septets;
    use expect_test::expect;
    use proptest::prelude::*;

    /// 2026-11-26 14h32 in Paris.
    const T: Timestamp = Timestamp(1_795_699_920_000);
    const LINK: &str = "https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm";

    fn alert_for(
        name: &str,
        address: &str,
        commune: &str,
        age_ms: Option<i64>,
        round: u32,
        replies: bool,
    ) -> SmsText {
        alert(&AlertText {
            shop: ShopLine {
                name,
                address,
                commune,
            },
            pressed_at: T,
            age_ms,
            link: LINK,
            alarm_code: "K7P",
            replies_accepted: replies,
            round,
        })
    }

    #[test]
    fn alert_texts() {
        let s = alert_for(
            "Tabac du Centre",
            "12 rue de la République",
            "Riom",
            None,
            0,
            false,
        );
        expect![[r#"ALERTE Vigie 14h32: Tabac du Centre, 12 rue de la République, Riom. https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"#]]
            .assert_eq(&s.text);
        let s = alert_for(
            "Tabac du Centre",
            "12 rue de la République",
            "Riom",
            None,
            0,
            true,
        );
        expect![[r#"ALERTE Vigie 14h32: Tabac du Centre, Riom. Répondez 1 j'arrive, 2 j'appelle le 17, 3 indispo (K7P) https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"#]]
            .assert_eq(&s.text);
        let s = alert_for(
            "Le Relais de l'Hôtel de Ville",
            "3 place Notre-Dame",
            "Saint-Genès-Champanelle",
            Some(185_000),
            0,
            false,
        );
        expect!["ALERTE Vigie déclenchée il y a 3 min (14h32): Le Relais de l'Hotel de Ville, Saint-Genès-Champanelle. https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"]
            .assert_eq(&s.text);
        let s = alert_for(
            "Tabac du Centre",
            "12 rue de la République",
            "Riom",
            None,
            1,
            false,
        );
        expect![[r#"ALERTE Vigie 14h32, sans réponse: Tabac du Centre, 12 rue de la République, Riom. https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"#]]
            .assert_eq(&s.text);
        // A name with no GSM spelling goes out in UCS-2, essentials only.
        let s = alert_for("Табак Центр", "1 rue", "Lyon", None, 0, true);
        assert!(matches!(s.encoding, Encoding::Ucs2 { .. }), "{s:?}");
        expect!["ALERTE 14h32 Табак. https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"]
            .assert_eq(&s.text);
    }

    #[test]
    fn direct_alert_from_the_box() {
        let shop = ShopLine {
            name: "Tabac du Centre",
            address: "12 rue de la République",
            commune: "Riom",
        };
        let s = direct_alert(&shop, T);
        expect![[r#"ALERTE Vigie 14h32: Tabac du Centre, 12 rue de la République, Riom. Venez si vous pouvez, ou appelez le 17."#]]
            .assert_eq(&s.text);
        let long = ShopLine {
            name: &"Le Relais de la Forêt ".repeat(6),
            address: &"3 chemin ".repeat(10),
            commune: "Saint-Genès",
        };
        assert_eq!(direct_alert(&long, T).encoding.segments(), 1);
    }

    #[test]
    fn recording_reminder_fits_and_says_what_to_do() {
        let s = recording_reminder("Tabac du Centre", T, T.plus_ms(30 * 86_400_000));
        expect!["Vigie Tabac du Centre: l'enregistrement du 26/11 sera effacé le 26/12. Plainte? Demandez sa conservation. Insultes publiques: 3 mois pour porter plainte."]
            .assert_eq(&s.text);
        assert_eq!(s.encoding.segments(), 1);
        let long = recording_reminder(&"Le Relais de la Forêt ".repeat(5), T, T);
        assert_eq!(long.encoding.segments(), 1);
        assert!(long.text.contains("3 mois"));
    }

    #[test]
    fn other_texts() {
        expect![[r#"Vigie Tabac du Centre: Marie D. arrive (14h32)."#]]
            .assert_eq(&answer_broadcast("Tabac du Centre", "Marie D.", Answer::Coming, T).text);
        expect![[r#"Vigie Tabac du Centre: fausse alerte, l'alarme de 14h32 est annulée. Inutile de vous déplacer. Merci."#]]
            .assert_eq(&cancelled("Tabac du Centre", T).text);
        expect![[
            r#"Vigie Tabac du Centre: l'alarme de 14h32 est close (incident traité). Merci."#
        ]]
        .assert_eq(&resolved("Tabac du Centre", T, Outcome::Incident).text);
        expect![[r#"Vigie: alerte de 14h32 transmise, 3 contacts prévenus."#]]
            .assert_eq(&holder_confirmation(T, 3).text);
        expect!["Vigie: Jeanne Martin (Tabac de la Gare) vous désigne contact d'urgence. OUI ou STOP. https://vigie.auvergnerhonealpes.fr/r/Ab3dE9xKq2Lm"]
            .assert_eq(&consent_request("Jeanne Martin", "Tabac de la Gare", "Ambérieu-en-Bugey", LINK).text);
        expect![[r#"Vigie: vous avez 2 alertes en cours (K7P, M3Q). Répondez avec le code, par exemple: 1 K7P"#]]
            .assert_eq(&reply_which_alarm(&["K7P".into(), "M3Q".into()]).text);
        for s in [
            reply_help(),
            reply_no_open_alarm(),
            consent_withdrawn(),
            consent_confirmed("Tabac du Centre"),
        ] {
            assert_eq!(s.encoding.segments(), 1, "{}", s.text);
        }
    }

    #[test]
    fn supervision_texts() {
        expect!["Vigie: votre bouton d'alerte (Tabac du Centre) ne répond plus depuis 14h32. Vérifiez qu'il est branché et allumé. La Région est informée."]
            .assert_eq(&device_offline("Tabac du Centre", T, T.plus_ms(3 * 60_000)).text);
        // Told at the next opening: the day is said.
        expect!["Vigie: votre bouton d'alerte (Tabac du Centre) ne répond plus depuis le 26/11 à 14h32. Vérifiez qu'il est branché et allumé. La Région est informée."]
            .assert_eq(&device_offline("Tabac du Centre", T, T.plus_ms(18 * 3_600_000)).text);
        expect![
            "Vigie: votre bouton d'alerte (Tabac du Centre) est de nouveau en ligne (14h32). Merci."
        ]
        .assert_eq(&device_back("Tabac du Centre", T).text);
        expect![
            "Vigie: test du bouton OK (14h32), Tabac du Centre. Aucun contact n'a été prévenu."
        ]
        .assert_eq(&test_press("Tabac du Centre", T).text);
        let long = "Le Grand Relais de l'Hôtel de Ville et de la Gare Saint-Jean";
        for s in [
            device_offline(long, T, T.plus_ms(86_400_000)),
            device_back(long, T),
            test_press(long, T),
        ] {
            assert_eq!(s.encoding.segments(), 1, "{}", s.text);
        }
    }

    /// The longest link the hub can put in an SMS (`server.public_url` at
    /// its limit).
    fn longest_link(path: &str) -> String {
        let host = "a".repeat(PUBLIC_URL_SEPTETS_MAX - "https://".len());
        let link = format!("https://{host}{path}Ab3dE9xKq2Lm");
        assert_eq!(link.len(), LINK_SEPTETS_MAX);
        link
    }

    #[test]
    fn links_are_hidden_outside_the_phone() {
        let s = alert_for("Tabac du Centre", "1 rue", "Riom", None, 0, true);
        let shown = hide_links(&s.text);
        assert!(
            !shown.contains("/r/") && !shown.contains("Ab3dE9"),
            "{shown}"
        );
        assert!(
            shown.ends_with(HIDDEN_LINK) && shown.contains("Tabac du Centre"),
            "{shown}"
        );
        assert_eq!(hide_links("Vigie: merci."), "Vigie: merci.");
    }

    #[test]
    fn consent_keeps_its_link_with_long_names() {
        let link = longest_link("/c/");
        for (holder, shop) in [
            (
                "Marie-Françoise de La Rochefoucauld",
                "Tabac Presse Loto PMU Le Grand Café du Centre",
            ),
            ("Jean-Marc {Le Bihan} | €", "Bar [Le Central] ~ 100 € ^^"),
            ("Мария Иванова", "Табак Центр"),
        ] {
            let s = consent_request(holder, shop, "Saint-Genès-Champanelle", &link);
            assert_eq!(s.encoding.segments(), 1, "{}", s.text);
            assert!(s.text.ends_with(&link), "{}", s.text);
        }
    }

    /// Names as people write them: accents, GSM extension characters
    /// (two septets each), and scripts with no GSM spelling (UCS-2).
    fn a_name(chars_max: usize) -> impl Strategy<Value = String> {
        let re = |p: String| proptest::string::string_regex(&p).expect("a valid pattern");
        prop_oneof![
            re(format!("[a-zA-Z0-9éèêëçàâôûîïü' -]{{0,{chars_max}}}")),
            re(format!("[a-z €\\[\\]{{}}|~^\\\\]{{0,{chars_max}}}")),
            re(format!("\\PC{{0,{chars_max}}}")),
        ]
    }

    /// Shop, holder, address and commune: at most 200 characters each in the
    /// Region's import (`vigie-hub` `region.rs`); a contact's name at most 80
    /// (`CONTACT_NAME_CHARS_MAX`).
    const SHOP_FIELD_CHARS_MAX: usize = 200;
    const CONTACT_NAME_CHARS_MAX: usize = 80;

    proptest! {
        /// Every SMS the hub sends is one segment whatever the names, and
        /// the two that carry a link end with it whole.
        #[test]
        fn every_sms_is_one_segment_and_keeps_its_link(
            shop in a_name(SHOP_FIELD_CHARS_MAX), holder in a_name(SHOP_FIELD_CHARS_MAX),
            address in a_name(SHOP_FIELD_CHARS_MAX), commune in a_name(SHOP_FIELD_CHARS_MAX),
            contact in a_name(CONTACT_NAME_CHARS_MAX),
            age in proptest::option::of(0i64..100_000_000), round in 0u32..5, replies: bool,
            codes in proptest::collection::vec("[A-Z0-9]{3}", 0..40),
        ) {
            let answer_link = longest_link("/r/");
            let a = alert(&AlertText {
                shop: ShopLine { name: &shop, address: &address, commune: &commune },
                pressed_at: T, age_ms: age, link: &answer_link, alarm_code: "K7P",
                replies_accepted: replies, round,
            });
            prop_assert!(a.text.ends_with(&answer_link), "{}", a.text);
            let consent_link = longest_link("/c/");
            let c = consent_request(&holder, &shop, &commune, &consent_link);
            prop_assert!(c.text.ends_with(&consent_link), "{}", c.text);
            let line = ShopLine { name: &shop, address: &address, commune: &commune };
            let all = [
                a, c,
                direct_alert(&line, T),
                recording_reminder(&shop, T, T.plus_ms(86_400_000)),
                answer_broadcast(&shop, &contact, Answer::Unavailable, T),
                cancelled(&shop, T),
                resolved(&shop, T, Outcome::FalseAlarm),
                holder_confirmation(T, 12),
                consent_confirmed(&shop),
                consent_withdrawn(),
                reply_help(),
                reply_which_alarm(&codes),
                reply_no_open_alarm(),
                device_offline(&shop, T, T.plus_ms(86_400_000)),
                device_back(&shop, T),
                test_press(&shop, T),
            ];
            for s in all {
                prop_assert_eq!(s.encoding.segments(), 1, "{}", s.text);
            }
        }
    }

    proptest! {
        /// Whatever the shop is called and wherever it is, the alert is one
        /// segment and keeps the link whole.
        #[test]
        fn alert_is_always_one_segment_with_the_link(
            name in "\\PC{0,80}", address in "\\PC{0,80}", commune in "\\PC{0,50}",
            age in proptest::option::of(0i64..100_000_000), round in 0u32..5, replies: bool,
        ) {
            let s = alert_for(&name, &address, &commune, age, round, replies);
            prop_assert_eq!(s.encoding.segments(), 1, "{}", s.text);
            prop_assert!(s.text.ends_with(LINK), "{}", s.text);
            if let Some(n) = gsm_septets(&s.text) {
                prop_assert!(n <= SMS_SEGMENT_GSM_SEPTETS_MAX);
            }
        }
    }
}
