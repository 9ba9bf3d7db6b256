//! A shop's record: edited by the desk, or by its shopkeeper for her own
//! shop, each field checked and every problem said in words on the form;
//! and the Region's CSV list, checked whole (every problem of every line,
//! in the page's language) before anything is imported, from a file
//! upload that needs no JavaScript or from pasted text.

use super::fleet::{Said, ShopsQuery, shop_page, shops_page};
use super::{Language, not_found, see_other, store_error};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use axum::Extension;
use axum::extract::{Form, FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use vigie_core::PhoneNumber;
use vigie_core::supervision::{OpeningHours, OpeningHoursError};
use vigie_hub::region::{SHOP_CSV_HEADER, parse_shop_csv, split_csv_line};
use vigie_hub::store::{SHOP_TEXT_CHARS_MAX, ShopEdit, StoreError};

/// Problems listed at most after an import (the rest counted): enough to
/// fix a file in one go, short enough to read.
pub const IMPORT_PROBLEMS_SHOWN_MAX: usize = 500;
/// Lines of a shop list at most (the Region has 2,671 shops).
const IMPORT_LINES_MAX: usize = 50_000;

/// A problem with one field, said in the viewer's language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// The shop form as posted.
#[derive(Debug, Deserialize, Default, Clone, serde::Serialize)]
pub struct ShopForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub holder_name: String,
    #[serde(default)]
    pub holder_phone: String,
    #[serde(default)]
    pub opening_hours: String,
}

/// Why opening hours do not read, in words.
pub fn opening_hours_problem(e: &OpeningHoursError, lang: Lang) -> String {
    let (fr, en) = match e {
        OpeningHoursError::TooLong => (
            "horaires trop longs (200 caractères au plus)".to_string(),
            "opening hours too long (200 characters at most)".to_string(),
        ),
        OpeningHoursError::Day(d) => (
            format!(
                "jour « {d} » inconnu : écrivez lu ma me je ve sa di (ou mo tu we th fr sa su)"
            ),
            format!("unknown day \"{d}\": write mo tu we th fr sa su (or lu ma me je ve sa di)"),
        ),
        OpeningHoursError::Range(r) => (
            format!("plage horaire « {r} » illisible : écrivez-la comme 07:00-19:30"),
            format!("time range \"{r}\" unreadable: write it like 07:00-19:30"),
        ),
        OpeningHoursError::Rule(r) => (
            format!(
                "« {r} » : une règle donne les jours puis les heures, comme « lu-sa 07:00-19:30 »"
            ),
            format!("\"{r}\": a rule gives the days then the hours, like \"mo-sa 07:00-19:30\""),
        ),
        OpeningHoursError::TooManyRanges => (
            "trop de plages horaires dans une même journée".to_string(),
            "too many time ranges on one day".to_string(),
        ),
    };
    lang.pick(&fr, &en).to_string()
}

/// A required text field: 1 to `SHOP_TEXT_CHARS_MAX` characters once trimmed.
fn text_problem(
    value: &str,
    field: &'static str,
    (fr, en): (&str, &str),
    lang: Lang,
) -> Option<Problem> {
    let n = value.trim().chars().count();
    let message = if n == 0 {
        lang.pick(&format!("{fr} : à remplir"), &format!("{en}: required"))
            .to_string()
    } else if n > SHOP_TEXT_CHARS_MAX {
        lang.pick(
            &format!("{fr} : {n} caractères, {SHOP_TEXT_CHARS_MAX} au plus"),
            &format!("{en}: {n} characters, {SHOP_TEXT_CHARS_MAX} at most"),
        )
        .to_string()
    } else {
        return None;
    };
    Some(Problem { field, message })
}

fn phone_problem(value: &str, lang: Lang) -> Result<PhoneNumber, Problem> {
    PhoneNumber::parse(value).map_err(|e| Problem {
        field: "holder_phone",
        message: format!(
            "{}{}",
            lang.pick("Téléphone du titulaire : ", "Holder's phone: "),
            lang.part(&e.to_string())
        ),
    })
}

fn hours_problem(value: &str, lang: Lang) -> Option<Problem> {
    OpeningHours::parse(value).err().map(|e| Problem {
        field: "opening_hours",
        message: format!(
            "{}{}",
            lang.pick("Horaires : ", "Opening hours: "),
            opening_hours_problem(&e, lang)
        ),
    })
}

/// The form checked: the edit to store, or every problem with it.
pub fn check_form(f: &ShopForm, lang: Lang) -> Result<ShopEdit, Vec<Problem>> {
    let mut problems: Vec<Problem> = [
        text_problem(&f.name, "name", ("Nom", "Name"), lang),
        text_problem(&f.address, "address", ("Adresse", "Address"), lang),
        text_problem(&f.holder_name, "holder_name", ("Titulaire", "Holder"), lang),
    ]
    .into_iter()
    .flatten()
    .collect();
    let phone = match phone_problem(&f.holder_phone, lang) {
        Ok(p) => Some(p),
        Err(p) => {
            problems.push(p);
            None
        }
    };
    problems.extend(hours_problem(&f.opening_hours, lang));
    match phone {
        Some(holder_phone) if problems.is_empty() => Ok(ShopEdit {
            name: f.name.trim().to_string(),
            address: f.address.trim().to_string(),
            holder_name: f.holder_name.trim().to_string(),
            holder_phone,
            opening_hours: f.opening_hours.trim().to_string(),
        }),
        _ => Err(problems),
    }
}

/// The form shown again with what was typed and what is wrong with it.
fn form_again(f: &ShopForm, problems: &[Problem]) -> Value {
    json!({
        "values": f,
        "problems": problems,
        "by_field": problems
            .iter()
            .filter(|p| !p.field.is_empty())
            .map(|p| (p.field, p.message.clone()))
            .collect::<HashMap<_, _>>(),
    })
}

/// `POST /console/shops/{id}`: the desk, or the shop's own shopkeeper.
pub async fn edit(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<ShopForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(lang);
    };
    if !v.can_see_shop(id) {
        return not_found(lang);
    }
    let problems = match check_form(&f, lang) {
        Ok(edit) => {
            let audit = v.audit("shop_edited", format!("shop:{id}"));
            match console
                .store()
                .edit_shop(id, edit, audit, console.now())
                .await
            {
                Ok(_) => return see_other(&format!("/console/shops/{id}?done=shop_updated")),
                Err(StoreError::Refused {
                    code: "unknown_shop",
                    ..
                }) => {
                    return not_found(lang);
                }
                Err(StoreError::Refused { message, .. }) => vec![Problem {
                    field: "",
                    message: lang.part(&message),
                }],
                Err(e) => return store_error(e, lang),
            }
        }
        Err(problems) => problems,
    };
    shop_page(
        &console,
        &v,
        lang,
        id,
        Said {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            form: Some(form_again(&f, &problems)),
            ..Said::default()
        },
    )
    .await
}

/// Lyon's arrondissements (INSEE 69381 to 69389) are Lyon (69123).
fn commune_code(insee: &str) -> &str {
    let arrondissement = insee
        .strip_prefix("6938")
        .and_then(|d| d.parse::<u8>().ok())
        .is_some_and(|d| (1..=9).contains(&d));
    if insee.len() == 5 && arrondissement {
        "69123"
    } else {
        insee
    }
}

/// Every problem of a shop list, line by line and field by field, in the
/// viewer's language; empty: the list can be imported.
pub fn check_csv(text: &str, known_references: &HashSet<String>, lang: Lang) -> Vec<String> {
    let communes: HashSet<String> = vigie_hub::region::communes()
        .into_iter()
        .map(|c| c.insee)
        .collect();
    let mut problems = Vec::new();
    let mut lines = text.lines();
    let header = lines
        .next()
        .map(|h| h.trim_start_matches('\u{feff}').trim())
        .unwrap_or("");
    if header != SHOP_CSV_HEADER {
        problems.push(
            lang.pick(
                &format!(
                    "ligne 1 : l'en-tête doit être « {SHOP_CSV_HEADER} » (trouvé « {header} »)"
                ),
                &format!("line 1: the header must be \"{SHOP_CSV_HEADER}\" (found \"{header}\")"),
            )
            .to_string(),
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut shops = 0usize;
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        if n > IMPORT_LINES_MAX {
            problems.push(
                lang.pick(
                    &format!(
                        "plus de {IMPORT_LINES_MAX} lignes : coupez la liste en plusieurs fichiers"
                    ),
                    &format!(
                        "more than {IMPORT_LINES_MAX} lines: split the list into several files"
                    ),
                )
                .to_string(),
            );
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        shops += 1;
        let mut at = |fr: &str, en: &str| {
            problems.push(
                lang.pick(&format!("ligne {n} : {fr}"), &format!("line {n}: {en}"))
                    .to_string(),
            )
        };
        let Ok(f) = split_csv_line(line) else {
            at("guillemet non fermé", "unclosed quote");
            continue;
        };
        if f.len() != 7 {
            at(
                &format!("7 champs attendus, {} trouvés", f.len()),
                &format!("7 fields expected, {} found", f.len()),
            );
            continue;
        }
        for (i, names) in [
            (0, ("reference", "reference")),
            (1, ("name (nom)", "name")),
            (2, ("address (adresse)", "address")),
            (4, ("holder_name (titulaire)", "holder_name")),
        ] {
            if let Some(p) = text_problem(&f[i], "", names, lang) {
                at(&p.message, &p.message);
            }
        }
        let reference = f[0].trim();
        if !reference.is_empty() {
            if let Some(first) = seen.get(reference) {
                at(
                    &format!("référence « {reference} » déjà à la ligne {first}"),
                    &format!("reference \"{reference}\" already on line {first}"),
                );
            } else {
                seen.insert(reference.to_string(), n);
                if known_references.contains(reference) {
                    at(
                        &format!(
                            "la boutique « {reference} » existe déjà (modifiez-la depuis sa page)"
                        ),
                        &format!("shop \"{reference}\" already exists (edit it from its page)"),
                    );
                }
            }
        }
        let insee = f[3].trim();
        if insee.is_empty() {
            at("insee : à remplir", "insee: required");
        } else if !communes.contains(commune_code(insee)) {
            at(
                &format!("code INSEE {insee} inconnu en Auvergne-Rhône-Alpes"),
                &format!("INSEE code {insee} unknown in Auvergne-Rhône-Alpes"),
            );
        }
        if let Err(p) = phone_problem(&f[5], lang) {
            let m = format!("holder_phone — {}", p.message);
            at(&m, &m);
        }
        if let Some(p) = hours_problem(&f[6], lang) {
            let m = format!("opening_hours — {}", p.message);
            at(&m, &m);
        }
    }
    if problems.is_empty() && shops == 0 {
        problems.push(
            lang.pick("aucune boutique dans le fichier", "no shop in the file")
                .to_string(),
        );
    }
    problems
}

#[derive(Deserialize)]
struct Pasted {
    #[serde(default)]
    csv: String,
}

fn nothing_sent(lang: Lang) -> Vec<String> {
    vec![
        lang.pick(
            "choisissez un fichier CSV ou collez la liste",
            "choose a CSV file or paste the list",
        )
        .to_string(),
    ]
}

/// The list as sent: an uploaded file (`multipart/form-data`, field
/// `file`), else the pasted text (`csv`).
async fn list_text(req: Request, lang: Lang) -> Result<String, Vec<String>> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let unreadable = || {
        vec![
            lang.pick(
                "formulaire illisible : rechargez la page et recommencez",
                "unreadable form: reload the page and try again",
            )
            .to_string(),
        ]
    };
    if let Some(boundary) = crate::multipart::boundary(&content_type) {
        let boundary = boundary.to_string();
        let body = axum::body::to_bytes(req.into_body(), crate::auth::FORM_BYTES_MAX)
            .await
            .map_err(|_| unreadable())?;
        let parts = crate::multipart::parts(&body, &boundary).ok_or_else(unreadable)?;
        let pick = |name: &str| {
            parts
                .iter()
                .find(|p| p.name == name && !p.data.iter().all(u8::is_ascii_whitespace))
        };
        let Some(part) = pick("file").or_else(|| pick("csv")) else {
            return Err(nothing_sent(lang));
        };
        return String::from_utf8(part.data.to_vec()).map_err(|_| {
            vec![
                lang.pick(
                    "le fichier n'est pas en UTF-8 : enregistrez-le en « CSV UTF-8 »",
                    "the file is not UTF-8: save it as \"CSV UTF-8\"",
                )
                .to_string(),
            ]
        });
    }
    let Form(p) = Form::<Pasted>::from_request(req, &())
        .await
        .map_err(|_| unreadable())?;
    if p.csv.trim().is_empty() {
        return Err(nothing_sent(lang));
    }
    Ok(p.csv)
}

/// Import the Region's list: every problem reported at once, nothing
/// imported unless there is none.
pub async fn import(
    State(console): State<Console>,
    Language(lang): Language,
    Extension(v): Extension<Viewer>,
    req: Request,
) -> Response {
    let refused = |problems: Vec<String>, text: Option<String>| {
        let console = console.clone();
        let v = v.clone();
        async move { shops_page(&console, &v, lang, ShopsQuery::default(), problems, text).await }
    };
    let text = match list_text(req, lang).await {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(problems) => return refused(problems, None).await,
    };
    let known: HashSet<String> = match console.store().shops().await {
        Ok(s) => s.into_iter().map(|s| s.reference).collect(),
        Err(e) => return store_error(e, lang),
    };
    let checked = {
        let text = text.clone();
        tokio::task::spawn_blocking(move || {
            let problems = check_csv(&text, &known, lang);
            if problems.is_empty() {
                // The hub's own parser has the last word.
                parse_shop_csv(&text).map_err(|e| e.iter().map(|m| lang.part(m)).collect())
            } else {
                Err(problems)
            }
        })
        .await
    };
    let shops = match checked {
        Ok(Ok(shops)) => shops,
        Ok(Err(mut problems)) => {
            let more = problems.len().saturating_sub(IMPORT_PROBLEMS_SHOWN_MAX);
            problems.truncate(IMPORT_PROBLEMS_SHOWN_MAX);
            if more > 0 {
                problems.push(
                    lang.pick(
                        &format!("… et {more} autres problèmes"),
                        &format!("… and {more} more problems"),
                    )
                    .to_string(),
                );
            }
            return refused(problems, Some(text)).await;
        }
        Err(_) => {
            return super::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                "Erreur interne.",
                "Internal error.",
            );
        }
    };
    let now = console.now();
    match console.store().import_shops(shops, now).await {
        Ok(n) => {
            let mut audit = v.audit("shops_imported", "shops");
            audit.detail = json!({ "count": n });
            let _ = console.store().audit(audit, now).await;
            see_other(&format!("/console/shops?imported={n}"))
        }
        Err(StoreError::Refused { message, .. }) => {
            refused(vec![lang.part(&message)], Some(text)).await
        }
        Err(e) => store_error(e, lang),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ShopForm {
        ShopForm {
            name: "Tabac du Port".into(),
            address: "3 quai Gailleton".into(),
            holder_name: "Marie Dupont".into(),
            holder_phone: "06 12 34 56 78".into(),
            opening_hours: "lu-sa 07:00-19:30".into(),
        }
    }

    #[test]
    fn a_good_form_is_an_edit_and_a_bad_one_says_every_problem() {
        let e = check_form(&form(), Lang::Fr).expect("good");
        assert_eq!(e.holder_phone.as_e164(), "+33612345678");
        let bad = ShopForm {
            name: " ".into(),
            address: "x".repeat(201),
            holder_phone: "06 12 ab".into(),
            opening_hours: "lundi 7h".into(),
            ..form()
        };
        let problems = check_form(&bad, Lang::Fr).expect_err("bad");
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["name", "address", "holder_phone", "opening_hours"]);
        assert_eq!(problems[0].message, "Nom : à remplir");
        assert_eq!(problems[1].message, "Adresse : 201 caractères, 200 au plus");
        assert!(
            problems[2]
                .message
                .starts_with("Téléphone du titulaire : caractère « a »"),
            "{}",
            problems[2].message
        );
        assert!(
            problems[3]
                .message
                .starts_with("Horaires : jour « lundi » inconnu"),
            "{}",
            problems[3].message
        );
        let english = check_form(&bad, Lang::En).expect_err("bad");
        assert_eq!(english[0].message, "Name: required");
        assert!(
            english[2].message.contains("not allowed"),
            "{}",
            english[2].message
        );
    }

    #[test]
    fn a_shop_list_reports_every_problem_of_every_line_in_one_pass() {
        let known = HashSet::from(["ARA-OLD".to_string()]);
        let csv = format!(
            "{SHOP_CSV_HEADER}\n\
             ARA-1,Tabac A,1 rue A,63113,Ann Holder,06 11 11 11 11,lu-sa 07:00-19:00\n\
             ARA-2,,2 rue B,99999,Bob,06 zz,lundi\n\
             ARA-1,Tabac C,3 rue C,69381,Cy,06 33 33 33 33,\n\
             ARA-OLD,Tabac D,4 rue D,63113,Di,06 44 44 44 44,\n\
             \"broken,x\n\
             short,line\n"
        );
        let fr = check_csv(&csv, &known, Lang::Fr);
        assert_eq!(
            fr,
            [
                "ligne 3 : name (nom) : à remplir",
                "ligne 3 : code INSEE 99999 inconnu en Auvergne-Rhône-Alpes",
                "ligne 3 : holder_phone — Téléphone du titulaire : caractère « z » interdit dans un numéro",
                "ligne 3 : opening_hours — Horaires : « lundi » : une règle donne les jours puis les heures, comme « lu-sa 07:00-19:30 »",
                "ligne 4 : référence « ARA-1 » déjà à la ligne 2",
                "ligne 5 : la boutique « ARA-OLD » existe déjà (modifiez-la depuis sa page)",
                "ligne 6 : guillemet non fermé",
                "ligne 7 : 7 champs attendus, 2 trouvés",
            ]
        );
        let en = check_csv(&csv, &known, Lang::En);
        assert_eq!(en.len(), fr.len());
        assert_eq!(
            en[1],
            "line 3: INSEE code 99999 unknown in Auvergne-Rhône-Alpes"
        );
        assert!(en.iter().all(|p| p.starts_with("line ")), "{en:?}");
        // A wrong header is reported, and the lines are still checked.
        let headless = "reference;name\nARA-9,Tabac,1 rue,99999,H,06 11 11 11 11,\n";
        let p = check_csv(headless, &HashSet::new(), Lang::Fr);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("ligne 1 : l'en-tête doit être"));
        // A good list has no problem, and the hub's own parser agrees.
        let good = format!(
            "{SHOP_CSV_HEADER}\nARA-1,Tabac A,1 rue A,69385,Ann,06 11 11 11 11,lu-sa 07:00-19:00\n"
        );
        assert_eq!(
            check_csv(&good, &HashSet::new(), Lang::Fr),
            Vec::<String>::new()
        );
        assert!(parse_shop_csv(&good).is_ok());
        assert_eq!(
            check_csv(SHOP_CSV_HEADER, &HashSet::new(), Lang::Fr),
            ["aucune boutique dans le fichier"]
        );
    }
}
