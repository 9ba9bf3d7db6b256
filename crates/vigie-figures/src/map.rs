//! The Region's map: the 12 départements of Auvergne-Rhône-Alpes as SVG
//! outlines, with every shop as a dot coloured by its state.
//!
//! The outlines come from IGN's Admin Express (`data/ara-departements.geojson`,
//! 400 KB). [`RegionMap::from_geojson`] projects them once and simplifies them
//! to about a pixel, so the whole map weighs tens of kilobytes and the console
//! can send it with every page.
//!
//! Projection: Web Mercator (EPSG:3857), the projection of web map tiles,
//! fitted into a viewBox [`MAP_WIDTH`] wide; north is up. Shapes look as on
//! a road map, and OpenStreetMap tiles ([`RegionMap::tiles`]) fall exactly
//! under the outlines when a Region configures a tile server.
//!
//! Colours come from CSS classes (`dept`, `shop`, `s-alarm`, `s-offline`,
//! `s-not-ready`, `s-ready`, `s-no-box`). The SVG carries defaults in a
//! `<style>` whose selectors are wrapped in `:where()`, so they weigh nothing
//! and any rule of the page's stylesheet wins.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;

use crate::xml::escape;

/// Width of the map's viewBox; the height follows the Region's shape.
pub const MAP_WIDTH: f64 = 1000.0;
/// Blank margin around the Region inside the viewBox, in viewBox units.
const MAP_PADDING: f64 = 10.0;
/// Outline points closer than this to the simplified line are dropped, in
/// viewBox units (about a screen pixel when the map is 1000 px wide).
const SIMPLIFY_TOLERANCE: f64 = 1.0;
/// Radius of a shop's dot, and of a shop in alarm (drawn bigger, on top).
const SHOP_RADIUS: f64 = 3.0;
const SHOP_RADIUS_ALARM: f64 = 7.0;
/// The map's accessible name.
pub const MAP_TITLE: &str = "Carte de la Région";
const MAP_TITLE_ID: &str = "region-map-title";

/// What the map shows of a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopState {
    /// An alarm is running.
    Alarm,
    /// The box stopped reporting.
    Offline,
    /// The box reports but the shop cannot raise an alarm yet (e.g. no
    /// contact has consented).
    NotReady,
    /// Ready: an alarm would reach someone.
    Ready,
    /// No box installed yet.
    NoBox,
}

impl ShopState {
    /// The default colour of the shop's dot (the page's stylesheet may
    /// override it through the class). The states differ in lightness as
    /// well as hue, and alarms are also bigger.
    pub fn colour(self) -> &'static str {
        match self {
            ShopState::Alarm => "#c8102e",
            ShopState::Offline => "#4d4d4d",
            ShopState::NotReady => "#d97a00",
            ShopState::Ready => "#1b7a3a",
            ShopState::NoBox => "#9aa6b2",
        }
    }

    /// The CSS class of the shop's dot.
    pub fn class(self) -> &'static str {
        match self {
            ShopState::Alarm => "s-alarm",
            ShopState::Offline => "s-offline",
            ShopState::NotReady => "s-not-ready",
            ShopState::Ready => "s-ready",
            ShopState::NoBox => "s-no-box",
        }
    }

    /// The state in French, for legends and labels.
    pub fn label_fr(self) -> &'static str {
        match self {
            ShopState::Alarm => "Alarme en cours",
            ShopState::Offline => "Hors ligne",
            ShopState::NotReady => "Pas prêt",
            ShopState::Ready => "Prêt",
            ShopState::NoBox => "Sans boîtier",
        }
    }

    /// The state in English.
    pub fn label_en(self) -> &'static str {
        match self {
            ShopState::Alarm => "Alarm in progress",
            ShopState::Offline => "Offline",
            ShopState::NotReady => "Not ready",
            ShopState::Ready => "Ready",
            ShopState::NoBox => "No box",
        }
    }
}

/// A shop to put on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapShop {
    pub id: i64,
    pub lat: f64,
    pub lon: f64,
    pub state: ShopState,
    /// Shown on hover and read by screen readers, e.g. "Boulangerie Martin, Riom".
    pub label: String,
    /// Where a click on the dot leads, e.g. the shop's page in the console.
    pub href: Option<String>,
}

/// Why a GeoJSON text could not become a map.
#[derive(Debug, Clone, PartialEq)]
pub enum MapError {
    /// Not JSON at all.
    Json(String),
    /// JSON, but not a GeoJSON FeatureCollection.
    NotFeatureCollection,
    /// A feature lacks the string property `code` or `nom`.
    MissingProperty {
        feature: usize,
        property: &'static str,
    },
    /// A feature's geometry is neither a Polygon nor a MultiPolygon.
    UnsupportedGeometry { feature: usize, kind: String },
    /// A feature's coordinates are not rings of [longitude, latitude] pairs
    /// of finite numbers.
    BadCoordinates { feature: usize },
    /// The collection holds no feature with an outline.
    Empty,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Json(e) => write!(f, "not JSON: {e}"),
            MapError::NotFeatureCollection => write!(f, "not a GeoJSON FeatureCollection"),
            MapError::MissingProperty { feature, property } => {
                write!(f, "feature {feature} has no string property {property:?}")
            }
            MapError::UnsupportedGeometry { feature, kind } => write!(
                f,
                "feature {feature} is a {kind}, not a Polygon or MultiPolygon"
            ),
            MapError::BadCoordinates { feature } => {
                write!(f, "feature {feature} has malformed coordinates")
            }
            MapError::Empty => write!(f, "no outline in the collection"),
        }
    }
}

impl std::error::Error for MapError {}

/// A point in viewBox units: x to the right, y down.
type Point = (f64, f64);

/// One département's outline, projected and simplified.
#[derive(Debug, Clone)]
pub struct MapDepartement {
    code: String,
    name: String,
    /// Outer rings and holes alike; inside means inside an odd number of them.
    rings: Vec<Vec<Point>>,
    /// (min x, min y, max x, max y) of the rings.
    bounds: (f64, f64, f64, f64),
    /// The SVG path data of the rings.
    path: String,
}

impl MapDepartement {
    /// "63".
    pub fn code(&self) -> &str {
        &self.code
    }
    /// "Puy-de-Dôme", as in the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn contains(&self, (x, y): Point) -> bool {
        let (x0, y0, x1, y1) = self.bounds;
        if x < x0 || x > x1 || y < y0 || y > y1 {
            return false;
        }
        self.rings
            .iter()
            .filter(|ring| ring_contains(ring, (x, y)))
            .count()
            % 2
            == 1
    }
}

/// Web Mercator ordinate of a latitude (radians of the Mercator plane).
fn mercator_y(lat: f64) -> f64 {
    let phi = lat.clamp(-85.0511, 85.0511).to_radians();
    (std::f64::consts::FRAC_PI_4 + phi / 2.0).tan().ln()
}

/// Longitude/latitude to viewBox units, through Web Mercator.
#[derive(Debug, Clone, Copy)]
struct Projection {
    /// West edge, in radians of longitude.
    x_min: f64,
    /// North edge, as a Mercator ordinate.
    y_max: f64,
    /// viewBox units per radian of the Mercator plane.
    scale: f64,
}

impl Projection {
    fn project(&self, lat: f64, lon: f64) -> Point {
        (
            MAP_PADDING + (lon.to_radians() - self.x_min) * self.scale,
            MAP_PADDING + (self.y_max - mercator_y(lat)) * self.scale,
        )
    }
}

/// One web map tile placed in the map's viewBox.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The tile server's URL for it (`{z}`, `{x}`, `{y}` filled in).
    pub url: String,
    pub x: f64,
    pub y: f64,
    /// Width and height in viewBox units (tiles are square).
    pub size: f64,
}

/// The tile zoom at which the Region spans at least this many pixels.
const TILES_REGION_PX_MIN: f64 = 1_000.0;
/// Tile edge in pixels (the web map standard).
const TILE_PX: f64 = 256.0;
/// Tiles drawn at most (a tile server's fair-use policies frown on more).
const TILES_MAX: usize = 64;

/// The Region's départements, ready to draw.
#[derive(Debug, Clone)]
pub struct RegionMap {
    departements: Vec<MapDepartement>,
    projection: Projection,
    height: f64,
}

/// Rings of [longitude, latitude] positions, as GeoJSON writes a Polygon.
type GeoPolygon = Vec<Vec<Vec<f64>>>;

impl RegionMap {
    /// Reads a GeoJSON FeatureCollection whose features are Polygons or
    /// MultiPolygons with string properties `code` ("63") and `nom`
    /// ("Puy-de-Dôme"), as in `data/ara-departements.geojson`.
    pub fn from_geojson(text: &str) -> Result<RegionMap, MapError> {
        let root: Value = serde_json::from_str(text).map_err(|e| MapError::Json(e.to_string()))?;
        if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(MapError::NotFeatureCollection);
        }
        let features = root
            .get("features")
            .and_then(Value::as_array)
            .ok_or(MapError::NotFeatureCollection)?;

        // First pass: read every feature in longitude/latitude.
        let mut read: Vec<(String, String, Vec<GeoPolygon>)> = Vec::new();
        for (index, feature) in features.iter().enumerate() {
            let property = |property: &'static str| {
                feature
                    .get("properties")
                    .and_then(|p| p.get(property))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or(MapError::MissingProperty {
                        feature: index,
                        property,
                    })
            };
            let code = property("code")?;
            let name = property("nom")?;
            let geometry = feature.get("geometry").unwrap_or(&Value::Null);
            let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
            let coordinates = geometry.get("coordinates").cloned().unwrap_or(Value::Null);
            let bad = |_| MapError::BadCoordinates { feature: index };
            let polygons: Vec<GeoPolygon> = match kind {
                "Polygon" => vec![serde_json::from_value(coordinates).map_err(bad)?],
                "MultiPolygon" => serde_json::from_value(coordinates).map_err(bad)?,
                other => {
                    return Err(MapError::UnsupportedGeometry {
                        feature: index,
                        kind: other.to_owned(),
                    });
                }
            };
            let well_formed = polygons.iter().flatten().flatten().all(|position| {
                position.len() >= 2 && position.iter().take(2).all(|c| c.is_finite())
            });
            if !well_formed {
                return Err(MapError::BadCoordinates { feature: index });
            }
            read.push((code, name, polygons));
        }

        // The Region's extent fixes the projection.
        let positions = || {
            read.iter()
                .flat_map(|(_, _, polygons)| polygons.iter().flatten().flatten())
                .filter_map(|p| Some((*p.first()?, *p.get(1)?)))
        };
        let mut extent: Option<(f64, f64, f64, f64)> = None;
        for (lon, lat) in positions() {
            let (a, b, c, d) = extent.unwrap_or((lon, lat, lon, lat));
            extent = Some((a.min(lon), b.min(lat), c.max(lon), d.max(lat)));
        }
        let (lon_min, lat_min, lon_max, lat_max) = extent.ok_or(MapError::Empty)?;
        let span_x = (lon_max - lon_min).to_radians().max(f64::EPSILON);
        let scale = (MAP_WIDTH - 2.0 * MAP_PADDING) / span_x;
        let projection = Projection {
            x_min: lon_min.to_radians(),
            y_max: mercator_y(lat_max),
            scale,
        };
        let height =
            ((mercator_y(lat_max) - mercator_y(lat_min)) * scale + 2.0 * MAP_PADDING).ceil();

        let departements = read
            .into_iter()
            .map(|(code, name, polygons)| {
                let rings: Vec<Vec<Point>> = polygons
                    .iter()
                    .flatten()
                    .map(|ring| {
                        let projected: Vec<Point> = ring
                            .iter()
                            .filter_map(|p| Some(projection.project(*p.get(1)?, *p.first()?)))
                            .collect();
                        tidy_ring(&simplify(&projected, SIMPLIFY_TOLERANCE))
                    })
                    .filter(|ring| ring.len() >= 3)
                    .collect();
                let bounds = bounds(&rings);
                let path = path_data(&rings);
                MapDepartement {
                    code,
                    name,
                    rings,
                    bounds,
                    path,
                }
            })
            .collect();
        Ok(RegionMap {
            departements,
            projection,
            height,
        })
    }

    /// A map with no département, standing in if the embedded file were
    /// unreadable (a test makes sure it is not).
    fn empty() -> RegionMap {
        RegionMap {
            departements: Vec::new(),
            projection: Projection {
                x_min: 0.0,
                y_max: 0.0,
                scale: 1.0,
            },
            height: MAP_WIDTH,
        }
    }

    /// The départements, in the file's order.
    pub fn departements(&self) -> &[MapDepartement] {
        &self.departements
    }

    /// Width of the viewBox ([`MAP_WIDTH`]).
    pub fn width(&self) -> f64 {
        MAP_WIDTH
    }

    /// Height of the viewBox, following the Region's shape.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// Where a latitude/longitude falls in the viewBox: (x, y), y down.
    pub fn project(&self, lat: f64, lon: f64) -> (f64, f64) {
        self.projection.project(lat, lon)
    }

    /// The web map tiles that cover the viewBox, at the zoom where the
    /// Region spans at least 1,000 pixels, placed in viewBox units;
    /// `url_template` has `{z}`, `{x}` and `{y}` (OpenStreetMap's form).
    pub fn tiles(&self, url_template: &str) -> Vec<Tile> {
        use std::f64::consts::PI;
        let p = &self.projection;
        if p.scale <= 0.0 || self.departements.is_empty() {
            return Vec::new();
        }
        // The viewBox's corners on the Mercator plane (radians).
        let west = p.x_min - MAP_PADDING / p.scale;
        let east = p.x_min + (MAP_WIDTH - MAP_PADDING) / p.scale;
        let north = p.y_max + MAP_PADDING / p.scale;
        let south = p.y_max - (self.height - MAP_PADDING) / p.scale;
        let width_fraction = (east - west) / (2.0 * PI);
        let zoom = (TILES_REGION_PX_MIN / (TILE_PX * width_fraction))
            .log2()
            .ceil()
            .clamp(0.0, 19.0) as i32;
        let n = f64::from(1u32 << zoom);
        // Tile indices: x from the antimeridian eastwards, y from the north.
        let tx = |x: f64| ((x + PI) / (2.0 * PI) * n).floor();
        let ty = |y: f64| ((PI - y) / (2.0 * PI) * n).floor();
        let tile_rad = 2.0 * PI / n;
        let mut out = Vec::new();
        let (x0, x1, y0, y1) = (tx(west), tx(east), ty(north), ty(south));
        let mut ty_i = y0;
        while ty_i <= y1 {
            let mut tx_i = x0;
            while tx_i <= x1 {
                if out.len() >= TILES_MAX {
                    return out;
                }
                let tile_west = tx_i * tile_rad - PI;
                let tile_north = PI - ty_i * tile_rad;
                out.push(Tile {
                    url: url_template
                        .replace("{z}", &zoom.to_string())
                        .replace("{x}", &(tx_i as i64).to_string())
                        .replace("{y}", &(ty_i as i64).to_string()),
                    x: MAP_PADDING + (tile_west - p.x_min) * p.scale,
                    y: MAP_PADDING + (p.y_max - tile_north) * p.scale,
                    size: tile_rad * p.scale,
                });
                tx_i += 1.0;
            }
            ty_i += 1.0;
        }
        out
    }

    /// The map with a tile background under the outlines (and the tile
    /// provider's attribution); without tiles, [`RegionMap::svg`].
    pub fn svg_with_tiles(&self, shops: &[MapShop], tiles: &[Tile], attribution: &str) -> String {
        let plain = self.svg(shops);
        if tiles.is_empty() {
            return plain;
        }
        let mut background = String::from(r#"<g class="tiles">"#);
        for t in tiles {
            let _ = write!(
                background,
                r#"<image href="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" preserveAspectRatio="none"/>"#,
                escape(&t.url),
                t.x,
                t.y,
                t.size + 0.5,
                t.size + 0.5
            );
        }
        background.push_str("</g>");
        let attribution = format!(
            r#"<text class="attribution" x="{:.0}" y="{:.0}" text-anchor="end" font-size="11">{}</text>"#,
            MAP_WIDTH - 4.0,
            self.height - 4.0,
            escape(attribution)
        );
        // Tiles first (under everything), outlines see-through over them.
        plain
            .replacen(
                r##"<g class="depts" fill="#eef1f4""##,
                &format!(r##"{background}<g class="depts" fill="#eef1f4" fill-opacity="0.25""##),
                1,
            )
            .replacen("</g></svg>", &format!("</g>{attribution}</svg>"), 1)
    }

    /// The code of the département a point falls in, by the simplified
    /// outlines (so within a pixel of a border the answer may differ from
    /// the land registry's).
    pub fn departement_at(&self, lat: f64, lon: f64) -> Option<&str> {
        let point = self.project(lat, lon);
        self.departements
            .iter()
            .find(|d| d.contains(point))
            .map(|d| d.code.as_str())
    }

    /// The map as a standalone `<svg>` element: the départements, then the
    /// shops (shops with no box first, shops in alarm last, on top and
    /// bigger). A shop's position is rounded to a whole viewBox unit (about
    /// 400 m), which keeps the markup short; shops with non-finite
    /// coordinates are left out.
    pub fn svg(&self, shops: &[MapShop]) -> String {
        let mut svg = String::with_capacity(48 * 1024 + shops.len() * 16);
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="region-map" viewBox="0 0 {w} {h}" role="group" aria-labelledby="{MAP_TITLE_ID}"><title id="{MAP_TITLE_ID}">{MAP_TITLE}</title><g class="depts" fill="#eef1f4" stroke="#6b7785" stroke-width="1">"##,
            w = num(MAP_WIDTH),
            h = num(self.height),
        );
        for d in &self.departements {
            let _ = write!(
                svg,
                r#"<path class="dept" data-code="{code}" fill-rule="evenodd" d="{path}"><title>{name} ({code})</title></path>"#,
                code = escape(&d.code),
                name = escape(&d.name),
                path = d.path,
            );
        }
        svg.push_str(r#"</g><g class="shops">"#);

        let placed: Vec<(&MapShop, (f64, f64))> = shops
            .iter()
            .filter(|s| s.lat.is_finite() && s.lon.is_finite())
            .map(|s| (s, self.project(s.lat, s.lon)))
            .collect();
        // Quiet states: one path per state, a dot per shop (« M512 401h0 »
        // drawn with a round cap), about ten bytes a shop.
        for state in [ShopState::NoBox, ShopState::Ready, ShopState::NotReady] {
            let mut seen = std::collections::HashSet::new();
            let mut d = String::new();
            let mut count = 0usize;
            for (_, (x, y)) in placed.iter().filter(|(s, _)| s.state == state) {
                count += 1;
                let key = (x.round() as i64, y.round() as i64);
                if seen.insert(key) {
                    let _ = write!(d, "M{} {}h0", key.0, key.1);
                }
            }
            if count == 0 {
                continue;
            }
            let _ = write!(
                svg,
                r#"<path class="dots {class}" fill="none" stroke="{colour}" stroke-width="{w}" stroke-linecap="round" d="{d}"><title>{label} : {count}</title></path>"#,
                class = state.class(),
                colour = state.colour(),
                w = num(SHOP_RADIUS * 2.0),
                label = state.label_fr(),
            );
        }
        // States someone must act on: one dot each, named and linked.
        for state in [ShopState::Offline, ShopState::Alarm] {
            for (shop, (x, y)) in placed.iter().filter(|(s, _)| s.state == state) {
                let r = if state == ShopState::Alarm {
                    SHOP_RADIUS_ALARM
                } else {
                    SHOP_RADIUS
                };
                if let Some(href) = &shop.href {
                    let _ = write!(svg, r#"<a href="{}">"#, escape(href));
                }
                let _ = write!(
                    svg,
                    r##"<circle class="shop {class}" data-shop-id="{id}" cx="{x}" cy="{y}" r="{r}" fill="{colour}" stroke="#fff"><title>{label}</title></circle>"##,
                    class = state.class(),
                    colour = state.colour(),
                    id = shop.id,
                    x = x.round(),
                    y = y.round(),
                    r = num(r),
                    label = escape(&shop.label),
                );
                if shop.href.is_some() {
                    svg.push_str("</a>");
                }
            }
        }
        svg.push_str("</g></svg>");
        svg
    }
}

/// The Region's map from the embedded outlines, parsed on first use.
pub fn region_map() -> &'static RegionMap {
    static MAP: OnceLock<RegionMap> = OnceLock::new();
    MAP.get_or_init(|| {
        RegionMap::from_geojson(include_str!("../data/ara-departements.geojson"))
            .unwrap_or_else(|_| RegionMap::empty())
    })
}

/// Douglas–Peucker: the fewest points of `line` that stay within `tolerance`
/// of it. A closed ring (first point = last) stays closed.
fn simplify(line: &[Point], tolerance: f64) -> Vec<Point> {
    let n = line.len();
    if n < 3 {
        return line.to_vec();
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut stack = vec![(0, n - 1)];
    while let Some((first, last)) = stack.pop() {
        let (a, b) = (line[first], line[last]);
        let farthest = (first + 1..last)
            .map(|i| (i, distance_to_segment(line[i], a, b)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        if let Some((i, distance)) = farthest
            && distance > tolerance
        {
            keep[i] = true;
            stack.push((first, i));
            stack.push((i, last));
        }
    }
    line.iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length_squared).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// A ring rounded to tenths (as printed), without repeated points nor the
/// closing point; fewer than 3 points means it vanished at this scale.
fn tidy_ring(ring: &[Point]) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::with_capacity(ring.len());
    for &(x, y) in ring {
        let p = (round_tenth(x), round_tenth(y));
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

fn round_tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn bounds(rings: &[Vec<Point>]) -> (f64, f64, f64, f64) {
    rings.iter().flatten().fold(
        (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.min(y), c.max(x), d.max(y)),
    )
}

/// Even–odd ray casting: whether `p` is inside the closed ring.
fn ring_contains(ring: &[Point], (x, y): Point) -> bool {
    let mut inside = false;
    let mut j = ring.len().wrapping_sub(1);
    for (i, &(xi, yi)) in ring.iter().enumerate() {
        let Some(&(xj, yj)) = ring.get(j) else {
            break;
        };
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// SVG path data: each ring as "M x,y x,y … Z" (implicit line-tos).
fn path_data(rings: &[Vec<Point>]) -> String {
    let mut d = String::new();
    for ring in rings {
        for (i, &(x, y)) in ring.iter().enumerate() {
            let command = if i == 0 { "M" } else { " " };
            let _ = write!(d, "{command}{},{}", num(x), num(y));
        }
        d.push('Z');
    }
    d
}

/// A coordinate with at most one decimal, without a trailing ".0".
fn num(v: f64) -> String {
    let rounded = round_tenth(v);
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLERMONT: (f64, f64) = (45.7772, 3.0870);
    const LYON: (f64, f64) = (45.7640, 4.8357);
    const ANNECY: (f64, f64) = (45.8992, 6.1294);
    const AURILLAC: (f64, f64) = (44.9264, 2.4396);

    fn shop(id: i64, (lat, lon): (f64, f64), state: ShopState) -> MapShop {
        MapShop {
            id,
            lat,
            lon,
            state,
            label: format!("Commerce {id}"),
            href: None,
        }
    }

    #[test]
    fn the_embedded_file_has_the_12_departements() {
        let map = region_map();
        let codes: Vec<&str> = map.departements().iter().map(|d| d.code()).collect();
        assert_eq!(
            codes,
            [
                "01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"
            ]
        );
        for d in map.departements() {
            assert_eq!(
                crate::stats::departement_name(d.code()),
                Some(d.name()),
                "the file and the stats agree on names"
            );
        }
    }

    #[test]
    fn cities_fall_in_their_departement() {
        let map = region_map();
        let cases = [
            ("Clermont-Ferrand", CLERMONT, Some("63")),
            ("Lyon", LYON, Some("69")),
            ("Annecy", ANNECY, Some("74")),
            ("Aurillac", AURILLAC, Some("15")),
            ("Grenoble", (45.1885, 5.7245), Some("38")),
            ("Valence", (44.9334, 4.8924), Some("26")),
            // Valréas, in the Enclave des papes: Vaucluse, a hole in the Drôme.
            ("Valréas", (44.3843, 4.9910), None),
            ("Paris", (48.8566, 2.3522), None),
            ("Marseille", (43.2965, 5.3698), None),
        ];
        for (city, (lat, lon), want) in cases {
            assert_eq!(map.departement_at(lat, lon), want, "{city}");
        }
    }

    #[test]
    fn projected_points_fall_inside_the_view_box() {
        let map = region_map();
        assert_eq!(map.width(), 1000.0);
        assert!(
            map.height() > 500.0 && map.height() < 1500.0,
            "{}",
            map.height()
        );
        for (lat, lon) in [CLERMONT, LYON, ANNECY, AURILLAC] {
            let (x, y) = map.project(lat, lon);
            assert!((0.0..=map.width()).contains(&x), "x {x}");
            assert!((0.0..=map.height()).contains(&y), "y {y}");
        }
        // East is right, north is up.
        assert!(map.project(LYON.0, LYON.1).0 > map.project(CLERMONT.0, CLERMONT.1).0);
        assert!(map.project(AURILLAC.0, AURILLAC.1).1 > map.project(CLERMONT.0, CLERMONT.1).1);
        // Every outline point is inside the viewBox, padding included.
        for d in map.departements() {
            let (x0, y0, x1, y1) = d.bounds;
            assert!(x0 >= MAP_PADDING - 0.1 && x1 <= MAP_WIDTH - MAP_PADDING + 0.1);
            assert!(y0 >= MAP_PADDING - 0.1 && y1 <= map.height() - MAP_PADDING + 0.1);
        }
    }

    #[test]
    fn the_outlines_are_small() {
        let svg = region_map().svg(&[]);
        assert!(svg.len() < 60 * 1024, "{} bytes", svg.len());
        assert!(svg.len() > 10 * 1024, "outlines still have detail");
        assert_eq!(svg.matches(r#"<path class="dept""#).count(), 12);
        assert!(svg.contains(r#"<path class="dept" data-code="63" fill-rule="evenodd" d="M"#));
        assert!(svg.contains("<title>Puy-de-Dôme (63)</title></path>"));
        // A group, not an image: it holds links to the shops to act on.
        assert!(svg.contains(r#"role="group""#));
        assert!(svg.contains(r#"<title id="region-map-title">Carte de la Région</title>"#));
        // At most one decimal in every coordinate.
        assert!(
            !svg.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .any(|n| {
                    n.split_once('.')
                        .is_some_and(|(_, decimals)| decimals.len() > 1)
                })
        );
    }

    #[test]
    fn shops_to_act_on_are_named_dots_and_the_others_are_counted() {
        let map = region_map();
        let mut linked = shop(1, CLERMONT, ShopState::Alarm);
        linked.href = Some("/shops/1?tab=a&b".into());
        let shops = [
            linked,
            shop(2, LYON, ShopState::Offline),
            shop(3, ANNECY, ShopState::Ready),
            shop(4, AURILLAC, ShopState::NotReady),
            shop(5, LYON, ShopState::NoBox),
            shop(6, (f64::NAN, 3.0), ShopState::Ready),
        ];
        let svg = map.svg(&shops);
        let ids: Vec<&str> = svg
            .match_indices("data-shop-id=\"")
            .filter_map(|(i, m)| svg[i + m.len()..].split('"').next())
            .collect();
        assert_eq!(ids, ["2", "1"], "offline then alarms, on top");
        assert!(svg.contains(
            r#"<a href="/shops/1?tab=a&amp;b"><circle class="shop s-alarm" data-shop-id="1" "#
        ));
        assert!(svg.contains(r#"<circle class="shop s-offline" data-shop-id="2" "#));
        assert!(svg.contains("<title>Commerce 1</title></circle></a>"));
        assert!(
            svg.contains(r##" r="7" fill="#c8102e""##),
            "alarms are bigger"
        );
        let (x, y) = map.project(ANNECY.0, ANNECY.1);
        assert!(svg.contains(&format!(
            r##"<path class="dots s-ready" fill="none" stroke="#1b7a3a" stroke-width="6" stroke-linecap="round" d="M{} {}h0"><title>Prêt : 1</title>"##,
            x.round(),
            y.round()
        )), "NaN left out of the count");
        assert!(svg.contains("<title>Pas prêt : 1</title>"));
        assert!(svg.contains("<title>Sans boîtier : 1</title>"));
        assert!(svg.ends_with("</g></svg>"));
    }

    #[test]
    fn shop_labels_and_links_are_escaped() {
        let mut s = shop(1, LYON, ShopState::Alarm);
        s.label = "<script>alert('x')</script> & \"Fils\"".into();
        s.href = Some("\"><script>".into());
        let svg = region_map().svg(&[s]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains(
            "<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Fils&quot;</title>"
        ));
        assert!(svg.contains(r#"<a href="&quot;&gt;&lt;script&gt;">"#));
    }

    /// The whole fleet of the Region (2,671 shops) with 50 alarms and 100
    /// boxes offline, labelled and linked as the console does.
    const FLEET_MAP_BYTES_MAX: usize = 100 * 1024;

    #[test]
    fn the_whole_fleet_stays_light() {
        let quiet = [ShopState::Ready, ShopState::NotReady, ShopState::NoBox];
        let shops: Vec<MapShop> = (0..2_671)
            .map(|i| MapShop {
                id: 1_000 + i,
                lat: 44.2 + (i % 97) as f64 * 0.02,
                lon: 2.3 + (i % 89) as f64 * 0.05,
                state: match i {
                    0..50 => ShopState::Alarm,
                    50..150 => ShopState::Offline,
                    _ => quiet[i as usize % quiet.len()],
                },
                label: format!("Tabac de la Place {i}, Clermont-Ferrand"),
                href: Some(format!("/console/shops/{}", 1_000 + i)),
            })
            .collect();
        let svg = region_map().svg(&shops);
        // Shops to act on are named one by one; the others are counted per state.
        assert_eq!(svg.matches("<circle ").count(), 150);
        assert_eq!(svg.matches(r#"class="dots "#).count(), 3);
        assert!(svg.contains("<title>Prêt : 841</title>"), "ready count");
        assert!(svg.len() < FLEET_MAP_BYTES_MAX, "{} bytes", svg.len());
        assert!(
            !svg.contains("<style"),
            "the console's CSP forbids inline styles"
        );
    }

    #[test]
    fn geojson_errors_are_reported() {
        let feature = |geometry: &str, properties: &str| {
            format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{properties},"geometry":{geometry}}}]}}"#
            )
        };
        let square = r#"{"type":"Polygon","coordinates":[[[3,45],[4,45],[4,46],[3,46],[3,45]]]}"#;
        let named = r#"{"code":"63","nom":"Puy-de-Dôme"}"#;
        let cases: Vec<(String, MapError)> = vec![
            ("nope".into(), MapError::Json(String::new())),
            (
                r#"{"type":"Feature"}"#.into(),
                MapError::NotFeatureCollection,
            ),
            (
                feature(square, r#"{"nom":"X"}"#),
                MapError::MissingProperty {
                    feature: 0,
                    property: "code",
                },
            ),
            (
                feature(square, r#"{"code":"63"}"#),
                MapError::MissingProperty {
                    feature: 0,
                    property: "nom",
                },
            ),
            (
                feature(r#"{"type":"Point","coordinates":[3,45]}"#, named),
                MapError::UnsupportedGeometry {
                    feature: 0,
                    kind: "Point".into(),
                },
            ),
            (
                feature(r#"{"type":"Polygon","coordinates":[[3,45]]}"#, named),
                MapError::BadCoordinates { feature: 0 },
            ),
            (
                feature(r#"{"type":"Polygon","coordinates":[[[3]]]}"#, named),
                MapError::BadCoordinates { feature: 0 },
            ),
            (
                r#"{"type":"FeatureCollection","features":[]}"#.into(),
                MapError::Empty,
            ),
        ];
        for (text, want) in cases {
            let got = RegionMap::from_geojson(&text).expect_err(&text);
            match (&got, &want) {
                (MapError::Json(_), MapError::Json(_)) => {}
                _ => assert_eq!(got, want, "{text}"),
            }
            assert!(!got.to_string().is_empty());
        }
    }

    #[test]
    fn multipolygons_and_small_collections_work() {
        // Two unit squares a degree apart, as one MultiPolygon.
        let text = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
            "properties":{"code":"99","nom":"Îles <test>"},
            "geometry":{"type":"MultiPolygon","coordinates":[
                [[[0,0],[1,0],[1,1],[0,1],[0,0]]],
                [[[2,0],[3,0],[3,1],[2,1],[2,0]]]]}}]}"#;
        let map = RegionMap::from_geojson(text).expect("parses");
        assert_eq!(map.departement_at(0.5, 0.5), Some("99"));
        assert_eq!(map.departement_at(0.5, 2.5), Some("99"));
        assert_eq!(map.departement_at(0.5, 1.5), None, "between the islands");
        // Near the equator a degree is as wide as tall: 3° wide, 1° tall.
        let expected_height = ((MAP_WIDTH - 2.0 * MAP_PADDING) / 3.0 + 2.0 * MAP_PADDING).ceil();
        assert!(
            (map.height() - expected_height).abs() < 1.0,
            "{}",
            map.height()
        );
        assert_eq!(map.project(1.0, 0.0), (MAP_PADDING, MAP_PADDING));
        let svg = map.svg(&[]);
        assert_eq!(svg.matches('M').count(), 2, "two rings in one path");
        assert!(svg.contains("<title>Îles &lt;test&gt; (99)</title>"));
    }

    #[test]
    fn douglas_peucker_drops_points_within_tolerance() {
        let line = [
            (0.0, 0.0),
            (5.0, 0.4),
            (10.0, 0.0),
            (10.0, 10.0),
            (10.3, 15.0),
            (10.0, 20.0),
        ];
        assert_eq!(
            simplify(&line, 1.0),
            [(0.0, 0.0), (10.0, 0.0), (10.0, 20.0)]
        );
        assert_eq!(simplify(&line, 0.1).len(), line.len());
        // A closed ring stays closed and keeps its corners.
        let square = [
            (0.0, 0.0),
            (5.0, 0.1),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
        ];
        assert_eq!(
            simplify(&square, 1.0),
            [
                (0.0, 0.0),
                (10.0, 0.0),
                (10.0, 10.0),
                (0.0, 10.0),
                (0.0, 0.0)
            ]
        );
    }

    #[test]
    fn tiny_rings_vanish() {
        assert_eq!(tidy_ring(&[(1.0, 1.0), (1.01, 1.02), (1.0, 1.0)]).len(), 1);
        assert_eq!(
            tidy_ring(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]),
            [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn state_classes_and_labels() {
        let cases = [
            (ShopState::Alarm, "s-alarm", "Alarme en cours"),
            (ShopState::Offline, "s-offline", "Hors ligne"),
            (ShopState::NotReady, "s-not-ready", "Pas prêt"),
            (ShopState::Ready, "s-ready", "Prêt"),
            (ShopState::NoBox, "s-no-box", "Sans boîtier"),
        ];
        for (state, class, fr) in cases {
            assert_eq!(state.class(), class);
            assert_eq!(state.label_fr(), fr);
            assert!(!state.label_en().is_empty());
        }
    }

    #[test]
    fn tiles_cover_the_map_at_a_readable_zoom_and_sit_under_the_outlines() {
        let map = region_map();
        let tiles = map.tiles("https://tile.example.org/{z}/{x}/{y}.png");
        assert!(
            !tiles.is_empty() && tiles.len() <= TILES_MAX,
            "{}",
            tiles.len()
        );
        // Zoom 9: the Region (about 6.5° with the margins) spans ≥ 1,000 px.
        assert!(
            tiles
                .iter()
                .all(|t| t.url.starts_with("https://tile.example.org/9/")),
            "{:?}",
            tiles[0]
        );
        // Lyon (4.8357 E, 45.7640 N) is in tile 9/262/182 (the slippy-map formula).
        let lyon = tiles
            .iter()
            .find(|t| t.url.ends_with("/9/262/182.png"))
            .expect("Lyon's tile");
        let (x, y) = map.project(45.7640, 4.8357);
        assert!(x >= lyon.x && x <= lyon.x + lyon.size && y >= lyon.y && y <= lyon.y + lyon.size);
        // The tiles cover the whole viewBox.
        let covered = |px: f64, py: f64| {
            tiles
                .iter()
                .any(|t| px >= t.x && px <= t.x + t.size && py >= t.y && py <= t.y + t.size)
        };
        for (px, py) in [
            (0.0, 0.0),
            (MAP_WIDTH, 0.0),
            (0.0, map.height()),
            (MAP_WIDTH, map.height()),
        ] {
            assert!(covered(px, py), "corner {px},{py}");
        }
        let svg = map.svg_with_tiles(&[], &tiles, "© OpenStreetMap <contributors>");
        let image = svg.find("<image ").expect("tiles drawn");
        assert!(
            image < svg.find(r#"class="dept""#).expect("outlines"),
            "tiles under the outlines"
        );
        assert!(svg.contains("© OpenStreetMap &lt;contributors&gt;</text>"));
        assert_eq!(
            map.svg_with_tiles(&[], &[], "x"),
            map.svg(&[]),
            "no tiles: the plain map"
        );
    }
}
