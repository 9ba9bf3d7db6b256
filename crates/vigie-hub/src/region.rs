//! The Region's reference data (communes of Auvergne-Rhône-Alpes, shipped
//! in `data/`) and the shop list import.

use crate::store::NewShop;
use std::collections::HashMap;
use vigie_core::PhoneNumber;

const COMMUNES_CSV: &str = include_str!("../data/ara-communes.csv");
/// INSEE's historic threshold: a commune under this population is rural.
pub const RURAL_POPULATION_MAX: u32 = 2_000;
/// Lines of a shop list file at most (the Region has 2,671 shops).
const SHOP_LINES_MAX: usize = 50_000;

#[derive(Debug, Clone)]
pub struct Commune {
    pub insee: String,
    pub departement: String,
    pub name: String,
    pub postcode: String,
    pub lat: f64,
    pub lon: f64,
    pub population: u32,
}

impl Commune {
    pub fn rural(&self) -> bool {
        self.population < RURAL_POPULATION_MAX
    }
}

pub fn communes() -> Vec<Commune> {
    COMMUNES_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f = split_csv_line(line).ok()?;
            Some(Commune {
                insee: f.first()?.clone(),
                departement: f.get(1)?.clone(),
                name: f.get(2)?.clone(),
                postcode: f.get(3)?.clone(),
                lat: f.get(4)?.parse().ok()?,
                lon: f.get(5)?.parse().ok()?,
                population: f.get(7)?.parse().ok()?,
            })
        })
        .collect()
}

/// One line of RFC 4180 CSV: commas, quoted fields, doubled quotes.
pub fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("guillemet non fermé / unclosed quote".into());
    }
    fields.push(field);
    Ok(fields)
}

/// The communes by INSEE code, read once from the shipped table (reading
/// it took most of the time of a small import).
fn communes_by_insee() -> &'static HashMap<String, Commune> {
    static BY_INSEE: std::sync::LazyLock<HashMap<String, Commune>> =
        std::sync::LazyLock::new(|| {
            communes()
                .into_iter()
                .map(|c| (c.insee.clone(), c))
                .collect()
        });
    &BY_INSEE
}

/// The header a shop list must have.
pub const SHOP_CSV_HEADER: &str =
    "reference,name,address,insee,holder_name,holder_phone,opening_hours";

/// Parse the Region's shop list. Every bad line is reported with its
/// number and reason; the caller imports nothing unless there are none.
pub fn parse_shop_csv(text: &str) -> Result<Vec<NewShop>, Vec<String>> {
    let by_insee = communes_by_insee();
    let mut lines = text.lines();
    let mut errors = Vec::new();
    match lines
        .next()
        .map(|h| h.trim_start_matches('\u{feff}').trim())
    {
        Some(h) if h == SHOP_CSV_HEADER => {}
        other => {
            return Err(vec![format!(
                "ligne 1 : l'en-tête doit être « {SHOP_CSV_HEADER} » (trouvé « {} »)",
                other.unwrap_or("")
            )]);
        }
    }
    let mut shops = Vec::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        if n > SHOP_LINES_MAX {
            errors.push(format!("plus de {SHOP_LINES_MAX} lignes / too many lines"));
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_shop_line(line, by_insee) {
            Ok(s) => shops.push(s),
            Err(e) => errors.push(format!("ligne {n} : {e}")),
        }
    }
    if errors.is_empty() {
        Ok(shops)
    } else {
        Err(errors)
    }
}

/// Lyon, the commune (INSEE 69123).
const LYON_INSEE: &str = "69123";

/// Lyon's nine arrondissements have INSEE codes of their own (69381 to
/// 69389), which the Region's lists often use: they are Lyon, with the
/// arrondissement's postcode (69381 → 69001 … 69389 → 69009).
fn lyon_arrondissement(insee: &str) -> Option<String> {
    let n: u32 = insee.strip_prefix("6938")?.parse().ok()?;
    (insee.len() == 5 && (1..=9).contains(&n)).then(|| format!("6900{n}"))
}

fn parse_shop_line(line: &str, by_insee: &HashMap<String, Commune>) -> Result<NewShop, String> {
    let f = split_csv_line(line)?;
    if f.len() != 7 {
        return Err(format!(
            "7 champs attendus, {} trouvés / expected 7 fields",
            f.len()
        ));
    }
    let field = |i: usize, name: &str| -> Result<String, String> {
        let v = f[i].trim().to_string();
        if v.is_empty() {
            return Err(format!("{name} vide / empty {name}"));
        }
        if v.chars().count() > 200 {
            return Err(format!("{name} trop long / {name} too long"));
        }
        Ok(v)
    };
    let given = field(3, "insee")?;
    let (insee, postcode) = match lyon_arrondissement(&given) {
        Some(postcode) => (LYON_INSEE.to_string(), Some(postcode)),
        None => (given.clone(), None),
    };
    let commune = by_insee.get(&insee).ok_or_else(|| {
        format!("code INSEE {given} inconnu en Auvergne-Rhône-Alpes / unknown INSEE code")
    })?;
    let phone = PhoneNumber::parse(&f[5]).map_err(|e| format!("holder_phone : {e}"))?;
    Ok(NewShop {
        reference: field(0, "reference")?,
        name: field(1, "name")?,
        address: field(2, "address")?,
        insee,
        commune: commune.name.clone(),
        postcode: postcode.unwrap_or_else(|| commune.postcode.clone()),
        departement: commune.departement.clone(),
        lat: commune.lat,
        lon: commune.lon,
        rural: commune.rural(),
        holder_name: field(4, "holder_name")?,
        holder_phone: phone,
        opening_hours: f[6].trim().to_string(),
    })
}

/// A realistic Region for the demo and the benchmarks: `n` shops in real
/// communes, 45% of them rural, spread over the 12 départements.
pub fn synthetic_shops(n: usize) -> Vec<NewShop> {
    let communes = communes();
    let (rural, urban): (Vec<&Commune>, Vec<&Commune>) = communes.iter().partition(|c| c.rural());
    let rural_n = n * 45 / 100;
    const NAMES: [&str; 6] = [
        "Tabac de la Mairie",
        "Le Balto",
        "Tabac Presse du Centre",
        "Le Narval",
        "Tabac de la Gare",
        "Le Celtic",
    ];
    const HOLDERS: [&str; 6] = [
        "Nadia Benali",
        "Jean Dupuis",
        "Sophie Martin",
        "Karim Haddad",
        "Élodie Roux",
        "Pierre Garnier",
    ];
    const STREETS: [&str; 5] = [
        "place de l'Église",
        "rue de la République",
        "avenue Jean Jaurès",
        "Grande Rue",
        "place du Marché",
    ];
    (0..n)
        .map(|i| {
            // Spread over the list with a stride so every département appears.
            let c = if i < rural_n {
                rural[(i * 7919) % rural.len()]
            } else {
                urban[(i * 104_729) % urban.len()]
            };
            NewShop {
                reference: format!("ARA-{:05}", i + 1),
                name: NAMES[i % NAMES.len()].to_string(),
                address: format!("{} {}", 1 + i % 40, STREETS[i % STREETS.len()]),
                insee: c.insee.clone(),
                commune: c.name.clone(),
                postcode: c.postcode.clone(),
                departement: c.departement.clone(),
                lat: c.lat,
                lon: c.lon,
                rural: c.rural(),
                holder_name: HOLDERS[i % HOLDERS.len()].to_string(),
                holder_phone: PhoneNumber::parse(&format!(
                    "+336{:08}",
                    10_000_000 + i % 80_000_000
                ))
                .expect("a +336 number with 8 digits is valid"),
                opening_hours: "mo-sa 07:00-19:30".into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communes_load_and_synthetic_region_is_45_percent_rural() {
        let c = communes();
        assert_eq!(c.len(), 4_027);
        let lyon = c.iter().find(|c| c.insee == "69123").expect("Lyon");
        assert_eq!((lyon.name.as_str(), lyon.rural()), ("Lyon", false));
        assert_eq!(c.iter().filter(|c| c.rural()).count(), 3_271);
        let shops = synthetic_shops(2_671);
        let rural = shops.iter().filter(|s| s.rural).count();
        assert_eq!(rural, 2_671 * 45 / 100);
        let deps: std::collections::HashSet<_> =
            shops.iter().map(|s| s.departement.clone()).collect();
        assert_eq!(deps.len(), 12);
    }

    #[test]
    fn lyon_and_its_arrondissements_import_as_lyon() {
        let text = format!(
            "{SHOP_CSV_HEADER}\nL1,Tabac des Terreaux,1 place des Terreaux,69123,Jo,0612345678,\n\
             L2,Tabac de la Croix-Rousse,4 boulevard de la Croix-Rousse,69384,Jo,0612345678,\n\
             L9,Tabac de Vaise,2 place de Paris,69389,Jo,0612345678,\n"
        );
        let shops = parse_shop_csv(&text).expect("Lyon is in the Region");
        let got: Vec<(&str, &str, &str)> = shops
            .iter()
            .map(|s| (s.insee.as_str(), s.commune.as_str(), s.postcode.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("69123", "Lyon", "69001"),
                ("69123", "Lyon", "69004"),
                ("69123", "Lyon", "69009")
            ]
        );
        assert!(shops.iter().all(|s| !s.rural && s.departement == "69"));
        for bad in ["69380", "69390", "693810", "6938a"] {
            let e = parse_shop_csv(&format!(
                "{SHOP_CSV_HEADER}\nX,Tabac,1 rue,{bad},Jo,0612345678,\n"
            ))
            .expect_err(bad);
            assert!(e[0].contains(bad), "{e:?}");
        }
    }

    #[test]
    fn shop_csv_reports_every_bad_line() {
        let text = format!(
            "{SHOP_CSV_HEADER}\nA1,Tabac du Centre,\"3, place de la Mairie\",63430,Jeanne Martin,06 12 34 56 78,mo-sa 07:00-19:00\nA2,X,1 rue,99999,Jo,0612345678,\nA3,Y,1 rue,63430,Jo,12,\n"
        );
        let errors = parse_shop_csv(&text).expect_err("two bad lines");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("ligne 3") && errors[0].contains("99999"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("ligne 4") && errors[1].contains("holder_phone"),
            "{errors:?}"
        );
        let ok = parse_shop_csv(&format!(
            "{SHOP_CSV_HEADER}\nA1,Tabac,\"3, place\",63430,Jeanne,0612345678,\n"
        ))
        .expect("valid");
        assert_eq!(ok[0].address, "3, place");
        assert_eq!(ok[0].commune, "Thiers");
    }
}
