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

use crate::cluster::{ClusterPoint, Group, cluster};
use crate::xml::escape;

/// Width of the map's viewBox; the height follows the Region's shape.
pub const MAP_WIDTH: f64 = 1000.0;
/// Blank margin around the Region inside the viewBox, in viewBox units.
const MAP_PADDING: f64 = 10.0;
/// Outline points closer than this to the simplified line are dropped, in
/// viewBox units (about a screen pixel when the map is 1000 px wide).
const SIMPLIFY_TOLERANCE: f64 = 1.0;
/// Radius of a shop's dot at zoom 0 (a shop in alarm is a bigger triangle).
const SHOP_RADIUS: f64 = 5.0;
/// The map's accessible name.
pub const MAP_TITLE: &str = "Carte de la Région";
const MAP_TITLE_ID: &str = "region-map-title";

/// Zoom levels: 0 shows the whole Region, each level doubles the scale.
/// At 6 the view is 1/64 of the Region's width, about 7 km: a town.
pub const ZOOM_MAX: u8 = 6;
/// Radius within which shops cluster on the whole Region's map, in viewBox
/// units (about 25 km, some 40 pixels on a desk's screen, as web maps
/// cluster); halved at each zoom level, so a cluster on screen
/// keeps its size. At [`ZOOM_MAX`] nothing is clustered.
const CLUSTER_RADIUS_REGION_UNITS: f64 = 60.0;
/// Zoom levels gained by following a cluster's link.
const CLUSTER_ZOOM_STEP: u8 = 2;
/// A cluster's disc: radius for two shops, and what each tenfold adds, in
/// viewBox units at zoom 0.
const CLUSTER_RADIUS_MIN_UNITS: f64 = 22.0;
const CLUSTER_RADIUS_PER_DECADE_UNITS: f64 = 8.0;
const CLUSTER_STROKE_UNITS: f64 = 4.0;
const CLUSTER_COUNT_UNITS: f64 = 24.0;
/// Half the height of an alarm's triangle, and its white edge, in viewBox
/// units at zoom 0: several times a quiet dot.
const ALARM_MARKER_UNITS: f64 = 24.0;
const ALARM_MARKER_STROKE_UNITS: f64 = 3.0;
/// Text sizes at zoom 0, in viewBox units on a map [`MAP_PX_NOMINAL`]
/// pixels wide (so half as many pixels: 12 and 10 px); a view drawn for
/// another width ([`MapView::for_width_px`]) keeps the same pixel sizes.
const DEPT_LABEL_UNITS: f64 = 24.0;
const COMMUNE_LABEL_UNITS: f64 = 20.0;
const LABEL_HALO_UNITS: f64 = 5.0;
/// The width in CSS pixels the sizes above are meant for (the board's map
/// on a desk's screen); and the widths a view accepts (a phone's map, a
/// wall screen's).
pub const MAP_PX_NOMINAL: f64 = 500.0;
const MAP_PX_MIN: f64 = 200.0;
const MAP_PX_MAX: f64 = 4_000.0;
/// Communes named at most on one map (a view is about 40 characters of
/// labels across; more would be a wall of text and bytes).
pub const COMMUNE_LABELS_MAX: usize = 120;

/// The cluster radius at a zoom level, in viewBox units (0: no clusters).
pub fn cluster_radius(zoom: u8) -> f64 {
    if zoom >= ZOOM_MAX {
        0.0
    } else {
        CLUSTER_RADIUS_REGION_UNITS / f64::from(1u32 << zoom)
    }
}

/// The population from which a commune is named at a zoom level (None: no
/// commune names, only the départements'). Prefectures first, villages
/// once zoomed in on a canton.
fn commune_population_min(zoom: u8) -> Option<u32> {
    match zoom {
        0 => None,
        1 => Some(40_000),
        2 => Some(10_000),
        3 => Some(3_000),
        4 => Some(800),
        _ => Some(0),
    }
}

/// A box of the viewBox (min and max corners).
#[derive(Debug, Clone, Copy)]
struct Reach {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Reach {
    fn contains(&self, (x, y): Point) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// A commune the map may name (the Region's communes ship with the hub).
#[derive(Debug, Clone, PartialEq)]
pub struct MapPlace {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub population: u32,
}

/// What part of the Region the map shows: a zoom level and a centre, in
/// viewBox units. Every view has the Region's proportions and stays
/// inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapView {
    zoom: u8,
    center: Point,
    /// [`MAP_PX_NOMINAL`] over the map's width on screen: sizes (text,
    /// marks, the cluster radius) in viewBox units are multiplied by it.
    screen: f64,
}

impl MapView {
    /// The whole Region.
    pub fn whole(map: &RegionMap) -> MapView {
        MapView {
            zoom: 0,
            center: (MAP_WIDTH / 2.0, map.height / 2.0),
            screen: 1.0,
        }
    }

    /// `zoom` (clamped to [`ZOOM_MAX`]) around a latitude and longitude,
    /// moved as little as needed to stay inside the Region.
    pub fn at(map: &RegionMap, zoom: u8, lat: f64, lon: f64) -> MapView {
        let center = if lat.is_finite() && lon.is_finite() {
            map.project(lat, lon)
        } else {
            MapView::whole(map).center
        };
        MapView::around(map, zoom, center)
    }

    fn around(map: &RegionMap, zoom: u8, (x, y): Point) -> MapView {
        let zoom = zoom.min(ZOOM_MAX);
        let scale = f64::from(1u32 << zoom);
        let (half_w, half_h) = (MAP_WIDTH / scale / 2.0, map.height / scale / 2.0);
        let (x, y) = if x.is_finite() && y.is_finite() {
            (x, y)
        } else {
            MapView::whole(map).center
        };
        MapView {
            zoom,
            center: (
                x.clamp(half_w, MAP_WIDTH - half_w),
                y.clamp(half_h, map.height - half_h),
            ),
            screen: 1.0,
        }
    }

    /// The closest zoom that shows the whole of a département (by its
    /// code, e.g. "63"), centred on it.
    pub fn departement(map: &RegionMap, code: &str) -> Option<MapView> {
        let d = map.departements.iter().find(|d| d.code == code)?;
        let (x0, y0, x1, y1) = d.bounds;
        let fit = (MAP_WIDTH / (x1 - x0).max(1.0)).min(map.height / (y1 - y0).max(1.0));
        let zoom = fit.log2().floor().clamp(0.0, f64::from(ZOOM_MAX)) as u8;
        Some(MapView::around(
            map,
            zoom,
            ((x0 + x1) / 2.0, (y0 + y1) / 2.0),
        ))
    }

    /// The view from a query's `zoom`, `center` (« 45.7772,3.0870 ») and
    /// `dept` (« 63 »), as links write them; anything missing or unreadable
    /// falls back to the whole Region (a link never fails to show a map).
    /// The screen's width is [`MapView::for_width_px`]'s.
    pub fn from_query(
        map: &RegionMap,
        zoom: Option<&str>,
        center: Option<&str>,
        dept: Option<&str>,
    ) -> MapView {
        if let Some(view) = dept.and_then(|code| MapView::departement(map, code.trim())) {
            return view;
        }
        let zoom: u8 = zoom.and_then(|z| z.trim().parse().ok()).unwrap_or(0);
        let center = center.and_then(|c| {
            let (lat, lon) = c.split_once(',')?;
            Some((
                lat.trim().parse::<f64>().ok()?,
                lon.trim().parse::<f64>().ok()?,
            ))
        });
        match center {
            Some((lat, lon)) => MapView::at(map, zoom, lat, lon),
            None => MapView::around(map, zoom, MapView::whole(map).center),
        }
    }

    pub fn zoom(&self) -> u8 {
        self.zoom
    }

    /// How many times the whole Region's scale (2 to the zoom).
    fn scale(&self) -> f64 {
        f64::from(1u32 << self.zoom)
    }

    /// (x, y, width, height) of the viewBox.
    pub fn view_box(&self, map: &RegionMap) -> (f64, f64, f64, f64) {
        let (w, h) = (MAP_WIDTH / self.scale(), map.height / self.scale());
        (self.center.0 - w / 2.0, self.center.1 - h / 2.0, w, h)
    }

    /// The view and a view's width and height all around it: what a pan
    /// reaches before the map is fetched again.
    fn reach(&self, map: &RegionMap) -> Reach {
        let (x, y, w, h) = self.view_box(map);
        Reach {
            x0: x - w,
            y0: y - h,
            x1: x + 2.0 * w,
            y1: y + 2.0 * h,
        }
    }

    /// The centre's latitude and longitude.
    pub fn center_lat_lon(&self, map: &RegionMap) -> (f64, f64) {
        map.projection.unproject(self.center)
    }

    /// The view `steps` levels closer (or farther, negative) around the same centre.
    pub fn zoomed(&self, map: &RegionMap, steps: i8) -> MapView {
        let zoom = (i16::from(self.zoom) + i16::from(steps)).clamp(0, i16::from(ZOOM_MAX)) as u8;
        MapView {
            screen: self.screen,
            ..MapView::around(map, zoom, self.center)
        }
    }

    fn zoomed_at(&self, map: &RegionMap, steps: u8, center: Point) -> MapView {
        MapView {
            screen: self.screen,
            ..MapView::around(map, self.zoom.saturating_add(steps), center)
        }
    }

    /// The same view drawn for a map `px` CSS pixels wide (clamped between
    /// 200 and 4,000), so that text and marks keep their pixel sizes and
    /// names are spaced for that screen.
    pub fn for_width_px(self, px: f64) -> MapView {
        let px = if px.is_finite() { px } else { MAP_PX_NOMINAL };
        MapView {
            screen: MAP_PX_NOMINAL / px.clamp(MAP_PX_MIN, MAP_PX_MAX),
            ..self
        }
    }

    /// What a size given at zoom 0 on the nominal screen is in this view's units.
    fn unit(&self) -> f64 {
        self.screen / self.scale()
    }

    /// The view moved by fractions of its width (east positive) and height
    /// (south positive).
    pub fn panned(&self, map: &RegionMap, east: f64, south: f64) -> MapView {
        let (_, _, w, h) = self.view_box(map);
        MapView {
            screen: self.screen,
            ..MapView::around(
                map,
                self.zoom,
                (self.center.0 + east * w, self.center.1 + south * h),
            )
        }
    }

    /// The query that shows this view: `zoom=3&center=45.7772,3.0870`.
    pub fn query(&self, map: &RegionMap) -> String {
        let (lat, lon) = self.center_lat_lon(map);
        format!("zoom={}&center={lat:.4},{lon:.4}", self.zoom)
    }
}

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
    /// Where its name is written: inside its largest ring.
    label_at: Point,
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

    /// The latitude and longitude of a point of the viewBox.
    fn unproject(&self, (x, y): Point) -> (f64, f64) {
        let lon = ((x - MAP_PADDING) / self.scale + self.x_min).to_degrees();
        let merc = self.y_max - (y - MAP_PADDING) / self.scale;
        (merc.sinh().atan().to_degrees(), lon)
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
                let label_at = label_point(&rings);
                MapDepartement {
                    code,
                    name,
                    rings,
                    bounds,
                    path,
                    label_at,
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
        self.svg_view_with_tiles(shops, &[], &MapView::whole(self), tiles, attribution)
    }

    /// [`RegionMap::svg_view`] with a tile background under the outlines
    /// (the tiles cover the whole Region; a zoomed view enlarges them) and
    /// the provider's attribution in the view's corner.
    pub fn svg_view_with_tiles(
        &self,
        shops: &[MapShop],
        places: &[MapPlace],
        view: &MapView,
        tiles: &[Tile],
        attribution: &str,
    ) -> String {
        let plain = self.svg_view(shops, places, view);
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
        let k = view.unit();
        let (vx, vy, vw, vh) = view.view_box(self);
        let attribution = format!(
            r#"<text class="attribution" x="{}" y="{}" text-anchor="end" font-size="{}">{}</text>"#,
            num2(vx + vw - 4.0 * k),
            num2(vy + vh - 4.0 * k),
            num2(11.0 * k),
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

    /// The whole Region, as [`RegionMap::svg_view`] draws it at zoom 0.
    pub fn svg(&self, shops: &[MapShop]) -> String {
        self.svg_view(shops, &[], &MapView::whole(self))
    }

    /// The map as a standalone `<svg>` element seen through `view`: the
    /// départements and their names, the names of the `places` (communes)
    /// that are big enough for the zoom and do not overlap, then the shops.
    ///
    /// Shops that are not in alarm are clustered at the view's zoom
    /// ([`cluster_radius`]): a cluster is a disc with its count, linked to
    /// the view zoomed in on it (`?zoom=…&center=…`, relative, so it works
    /// on whichever page shows the map). A lone quiet shop is a dot (one
    /// path per state, about ten bytes a shop); a lone offline box is a
    /// named dot linked to its shop. A shop in alarm is never clustered: it
    /// is a red warning triangle with « ! », on top, linked (`href`) and
    /// named (`label`) for keyboards and screen readers.
    ///
    /// The viewBox is the view's, but everything in the Region is drawn so
    /// that a script can pan and zoom (`viewBox`) without waiting for the
    /// server. Sizes (dots, text) are divided by the zoom's scale, so they
    /// look the same at every zoom. Positions are rounded to a tenth of a
    /// viewBox unit; shops with non-finite coordinates are left out.
    pub fn svg_view(&self, shops: &[MapShop], places: &[MapPlace], view: &MapView) -> String {
        let k = view.unit();
        let (vx, vy, vw, vh) = view.view_box(self);
        let mut svg = String::with_capacity(64 * 1024 + shops.len() * 16);
        let (lat, lon) = view.center_lat_lon(self);
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="region-map z{zoom}" viewBox="{vx} {vy} {vw} {vh}" data-zoom="{zoom}" data-zoom-max="{ZOOM_MAX}" data-center="{lat:.4},{lon:.4}" data-full="0 0 {w} {h}" data-projection="{x_min:.6} {y_max:.6} {scale:.3} {MAP_PADDING}" role="group" aria-labelledby="{MAP_TITLE_ID}"><title id="{MAP_TITLE_ID}">{MAP_TITLE}</title><g class="depts" fill="#eef1f4" stroke="#6b7785" stroke-width="1">"##,
            zoom = view.zoom,
            vx = num(vx),
            vy = num(vy),
            vw = num(vw),
            vh = num(vh),
            w = num(MAP_WIDTH),
            h = num(self.height),
            x_min = self.projection.x_min,
            y_max = self.projection.y_max,
            scale = self.projection.scale,
        );
        for d in &self.departements {
            let _ = write!(
                svg,
                r#"<path class="dept" data-code="{code}" fill-rule="evenodd" vector-effect="non-scaling-stroke" d="{path}"><title>{name} ({code})</title></path>"#,
                code = escape(&d.code),
                name = escape(&d.name),
                path = d.path,
            );
        }
        svg.push_str("</g>");

        // Names: the départements always, the communes from a zoom on. The
        // text is not read out (each outline and mark has its own name).
        let _ = write!(
            svg,
            r##"<g class="labels dept-labels" aria-hidden="true" font-size="{}" font-weight="600" text-anchor="middle" fill="#1f2933" stroke="#fff" stroke-width="{}" stroke-linejoin="round" paint-order="stroke">"##,
            num2(DEPT_LABEL_UNITS * k),
            num2(LABEL_HALO_UNITS * k),
        );
        for d in &self.departements {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" dy=".35em">{}</text>"#,
                num(d.label_at.0),
                num(d.label_at.1),
                escape(&d.name)
            );
        }
        svg.push_str("</g>");
        let communes = self.commune_labels(places, view);
        if !communes.is_empty() {
            let _ = write!(
                svg,
                r##"<g class="labels commune-labels" aria-hidden="true" font-size="{}" text-anchor="middle" fill="#3e4c59" stroke="#fff" stroke-width="{}" stroke-linejoin="round" paint-order="stroke">"##,
                num2(COMMUNE_LABEL_UNITS * k),
                num2(LABEL_HALO_UNITS * k),
            );
            for (place, (x, y)) in communes {
                let _ = write!(
                    svg,
                    r#"<text x="{}" y="{}">{}</text>"#,
                    num2(x),
                    num2(y),
                    escape(&place.name)
                );
            }
            svg.push_str("</g>");
        }
        svg.push_str(r#"<g class="shops">"#);

        let placed: Vec<(&MapShop, (f64, f64))> = shops
            .iter()
            .filter(|s| s.lat.is_finite() && s.lon.is_finite())
            .map(|s| (s, self.project(s.lat, s.lon)))
            .collect();
        let points: Vec<ClusterPoint> = placed
            .iter()
            .map(|(s, (x, y))| ClusterPoint {
                x: *x,
                y: *y,
                apart: s.state == ShopState::Alarm,
            })
            .collect();
        let groups = cluster(&points, cluster_radius(view.zoom) * view.screen);
        // Quiet marks beyond a pan's reach are left out (the map is fetched
        // again after a pan); alarms never are.
        let reach = view.reach(self);
        let (lone, clusters): (Vec<&Group>, Vec<&Group>) = groups
            .iter()
            .filter(|g| {
                reach.contains((g.x, g.y))
                    || g.members
                        .iter()
                        .any(|&i| placed[i].0.state == ShopState::Alarm)
            })
            .partition(|g| !g.is_cluster());
        let lone_in = |state: ShopState| {
            lone.iter()
                .map(|g| placed[g.members[0]])
                .filter(move |(s, _)| s.state == state)
        };

        // Lone quiet shops: one path per state, a dot per shop (« M512 401h0 »
        // drawn with a round cap).
        for state in [ShopState::NoBox, ShopState::Ready, ShopState::NotReady] {
            let mut seen = std::collections::HashSet::new();
            let mut d = String::new();
            let mut count = 0usize;
            for (_, (x, y)) in lone_in(state) {
                count += 1;
                let key = (round_tenth(x), round_tenth(y));
                if seen.insert((key.0.to_bits(), key.1.to_bits())) {
                    let _ = write!(d, "M{} {}h0", num(key.0), num(key.1));
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
                w = num2(SHOP_RADIUS * 2.0 * k),
                label = state.label_fr(),
            );
        }

        // Clusters: a disc with the count, linked to the view zoomed in on it.
        // Out of the tab order (there may be a hundred): the zoom buttons and
        // the départements' links do the same for a keyboard.
        if !clusters.is_empty() {
            let _ = write!(
                svg,
                r##"<g class="clusters" fill="#1f2933" stroke-width="{}" font-size="{}" font-weight="700" text-anchor="middle" dominant-baseline="central">"##,
                num2(CLUSTER_STROKE_UNITS * k),
                num2(CLUSTER_COUNT_UNITS * k),
            );
        }
        for g in &clusters {
            let members: Vec<&MapShop> = g.members.iter().map(|&i| placed[i].0).collect();
            let n = members.len();
            let worst = [ShopState::Offline, ShopState::NotReady, ShopState::Ready]
                .into_iter()
                .find(|s| members.iter().any(|m| m.state == *s))
                .unwrap_or(ShopState::NoBox);
            let mut detail = Vec::new();
            for state in [
                ShopState::Offline,
                ShopState::NotReady,
                ShopState::Ready,
                ShopState::NoBox,
            ] {
                let c = members.iter().filter(|m| m.state == state).count();
                if c > 0 {
                    detail.push(format!("{} : {c}", state.label_fr()));
                }
            }
            let target = view.zoomed_at(self, CLUSTER_ZOOM_STEP, (g.x, g.y));
            let r = (CLUSTER_RADIUS_MIN_UNITS
                + (n as f64).log10() * CLUSTER_RADIUS_PER_DECADE_UNITS)
                * k;
            let _ = write!(
                svg,
                r##"<a href="?{query}" tabindex="-1" data-count="{n}"><circle class="{worst}" cx="{x}" cy="{y}" r="{r}" fill="#fff" stroke="{colour}"/><text x="{x}" y="{y}">{n}</text><title>{n} commerces — {detail}</title></a>"##,
                query = escape(&target.query(self)),
                worst = worst.class(),
                colour = worst.colour(),
                x = num2(g.x),
                y = num2(g.y),
                r = num2(r),
                detail = detail.join(", "),
            );
        }
        if !clusters.is_empty() {
            svg.push_str("</g>");
        }

        // Lone offline boxes: someone must act, so each is named and linked.
        for (shop, (x, y)) in lone_in(ShopState::Offline) {
            if let Some(href) = &shop.href {
                let _ = write!(svg, r#"<a href="{}">"#, escape(href));
            }
            let _ = write!(
                svg,
                r##"<circle class="shop s-offline" data-shop-id="{id}" cx="{x}" cy="{y}" r="{r}" fill="{colour}" stroke="#fff" stroke-width="{sw}"><title>{label}</title></circle>"##,
                colour = ShopState::Offline.colour(),
                id = shop.id,
                x = num(x),
                y = num(y),
                r = num2(SHOP_RADIUS * k),
                sw = num2(k),
                label = escape(&shop.label),
            );
            if shop.href.is_some() {
                svg.push_str("</a>");
            }
        }

        // Alarms last, on top: a warning triangle, another shape and colour
        // than any quiet shop, with « ! » in it.
        for (shop, (x, y)) in lone_in(ShopState::Alarm) {
            let s = ALARM_MARKER_UNITS * k;
            if let Some(href) = &shop.href {
                let _ = write!(
                    svg,
                    r#"<a class="alarm-marker" href="{}" aria-label="{}">"#,
                    escape(href),
                    escape(&shop.label)
                );
            }
            let _ = write!(
                svg,
                r##"<path class="shop s-alarm marker" data-shop-id="{id}" d="M{x} {top}L{right} {base}L{left} {base}Z" fill="{colour}" stroke="#fff" stroke-width="{sw}" stroke-linejoin="round"><title>{label}</title></path><text class="marker-mark" x="{x}" y="{mark}" text-anchor="middle" font-size="{fs}" font-weight="700" fill="#fff" aria-hidden="true">!</text>"##,
                id = shop.id,
                x = num2(x),
                top = num2(y - s),
                base = num2(y + s * 0.6),
                left = num2(x - s * 0.95),
                right = num2(x + s * 0.95),
                mark = num2(y + s * 0.45),
                fs = num2(s * 1.1),
                sw = num2(ALARM_MARKER_STROKE_UNITS * k),
                colour = ShopState::Alarm.colour(),
                label = escape(&shop.label),
            );
            if shop.href.is_some() {
                svg.push_str("</a>");
            }
        }
        svg.push_str("</g></svg>");
        svg
    }

    /// The communes to name in `view`: in or near the view, populous enough
    /// for its zoom, the most populous first, none overlapping another
    /// label (at the label sizes the map is drawn with), at most
    /// [`COMMUNE_LABELS_MAX`]. Each with where its text goes.
    fn commune_labels<'p>(
        &self,
        places: &'p [MapPlace],
        view: &MapView,
    ) -> Vec<(&'p MapPlace, Point)> {
        let Some(population_min) = commune_population_min(view.zoom) else {
            return Vec::new();
        };
        let k = view.unit();
        let reach = view.reach(self);
        let mut candidates: Vec<(&MapPlace, Point)> = places
            .iter()
            .filter(|p| p.population >= population_min && p.lat.is_finite() && p.lon.is_finite())
            .map(|p| (p, self.project(p.lat, p.lon)))
            .filter(|(_, point)| reach.contains(*point))
            .collect();
        candidates.sort_by(|a, b| {
            b.0.population
                .cmp(&a.0.population)
                .then_with(|| a.0.name.cmp(&b.0.name))
        });
        let font = COMMUNE_LABEL_UNITS * k;
        // The départements' names are already there.
        let mut taken: Vec<(f64, f64, f64, f64)> = self
            .departements
            .iter()
            .map(|d| text_box(&d.name, d.label_at, DEPT_LABEL_UNITS * k))
            .collect();
        let mut out = Vec::new();
        for (place, (x, y)) in candidates {
            if out.len() >= COMMUNE_LABELS_MAX {
                break;
            }
            // The name sits just above the commune's centre, where its shops are.
            let at = (x, y - font * 0.5);
            let b = text_box(&place.name, (at.0, at.1 - font * 0.35), font);
            let overlaps = taken
                .iter()
                .any(|t| b.0 < t.2 && t.0 < b.2 && b.1 < t.3 && t.1 < b.3);
            if !overlaps {
                taken.push(b);
                out.push((place, at));
            }
        }
        out
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

/// Where a département's name goes: on the horizontal line through the
/// centroid of its largest ring, in the middle of the stretch of that line
/// inside the ring that holds the centroid (or the widest one), so the
/// name is inside even for a crescent.
fn label_point(rings: &[Vec<Point>]) -> Point {
    let area = |ring: &[Point]| {
        ring.iter()
            .zip(ring.iter().cycle().skip(1))
            .map(|(a, b)| a.0 * b.1 - b.0 * a.1)
            .sum::<f64>()
            / 2.0
    };
    let Some(ring) = rings
        .iter()
        .max_by(|a, b| area(a).abs().total_cmp(&area(b).abs()))
    else {
        return (0.0, 0.0);
    };
    let a = area(ring);
    if a == 0.0 {
        return ring.first().copied().unwrap_or((0.0, 0.0));
    }
    let (mut cx, mut cy) = (0.0, 0.0);
    for (p, q) in ring.iter().zip(ring.iter().cycle().skip(1)) {
        let cross = p.0 * q.1 - q.0 * p.1;
        cx += (p.0 + q.0) * cross;
        cy += (p.1 + q.1) * cross;
    }
    let (cx, cy) = (cx / (6.0 * a), cy / (6.0 * a));
    let mut crossings: Vec<f64> = ring
        .iter()
        .zip(ring.iter().cycle().skip(1))
        .filter(|(p, q)| (p.1 > cy) != (q.1 > cy))
        .map(|(p, q)| p.0 + (cy - p.1) * (q.0 - p.0) / (q.1 - p.1))
        .collect();
    crossings.sort_by(f64::total_cmp);
    let spans: Vec<(f64, f64)> = crossings.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    if spans.iter().any(|&(a, b)| a <= cx && cx <= b) {
        return (cx, cy);
    }
    spans
        .iter()
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .map_or((cx, cy), |&(a, b)| ((a + b) / 2.0, cy))
}

/// The box a centred line of text takes: (min x, min y, max x, max y),
/// by an average glyph width of 0.6 em.
fn text_box(text: &str, (x, y): Point, font: f64) -> (f64, f64, f64, f64) {
    let half = text.chars().count() as f64 * font * 0.3;
    (x - half, y - font * 0.5, x + half, y + font * 0.5)
}

/// A coordinate with at most two decimals (sizes shrink with the zoom).
fn num2(v: f64) -> String {
    let rounded = (v * 100.0).round() / 100.0;
    let s = format!("{rounded:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
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
        assert!(svg.contains(r#"<path class="dept" data-code="63" fill-rule="evenodd" vector-effect="non-scaling-stroke" d="M"#));
        assert!(svg.contains("<title>Puy-de-Dôme (63)</title></path>"));
        // A group, not an image: it holds links to the shops to act on.
        assert!(svg.contains(r#"role="group""#));
        assert!(svg.contains(r#"<title id="region-map-title">Carte de la Région</title>"#));
        // At most one decimal in every coordinate of the outlines.
        let outlines: String = svg
            .split(r#" d=""#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(
            !outlines
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .any(|n| {
                    n.split_once('.')
                        .is_some_and(|(_, decimals)| decimals.len() > 1)
                })
        );
    }

    /// The numbers of shops a map stands for: in clusters, lone dots
    /// (counted in their paths' titles), offline circles, alarm markers.
    fn shops_drawn(svg: &str) -> usize {
        let attr = |name: &str| -> Vec<usize> {
            svg.match_indices(name)
                .filter_map(|(i, m)| svg[i + m.len()..].split('"').next()?.parse().ok())
                .collect()
        };
        let clustered: usize = attr("data-count=\"").iter().sum();
        let dots: usize = svg
            .match_indices("<path class=\"dots ")
            .filter_map(|(i, _)| {
                let title = &svg[i..];
                let t = &title[title.find("<title>")? + 7..title.find("</title>")?];
                t.rsplit(" : ").next()?.parse::<usize>().ok()
            })
            .sum();
        clustered
            + dots
            + svg.matches(r#"<circle class="shop s-offline""#).count()
            + svg.matches(r#"class="shop s-alarm marker""#).count()
    }

    #[test]
    fn at_low_zoom_nearby_shops_are_a_cluster_with_their_count() {
        let map = region_map();
        let mut alarm = shop(1, CLERMONT, ShopState::Alarm);
        alarm.href = Some("/console/alarms/0190?x=1&y=2".into());
        alarm.label = "Alarme : Tabac du Centre, Clermont-Ferrand — code 4821".into();
        let mut offline = shop(2, LYON, ShopState::Offline);
        offline.href = Some("/console/shops/2".into());
        let shops = [
            alarm,
            offline,
            shop(3, ANNECY, ShopState::Ready),
            shop(4, AURILLAC, ShopState::NotReady),
            // About 600 m from Lyon's centre.
            shop(5, (LYON.0 + 0.005, LYON.1 + 0.004), ShopState::NoBox),
            shop(6, (f64::NAN, 3.0), ShopState::Ready),
        ];
        let svg = map.svg(&shops);
        // Lyon's two shops are one cluster saying 2, linked two levels in.
        assert_eq!(svg.matches("data-count=").count(), 1);
        assert!(svg.contains(r#"tabindex="-1" data-count="2">"#));
        assert!(svg.contains(
            ">2</text><title>2 commerces — Hors ligne : 1, Sans boîtier : 1</title></a>"
        ));
        assert!(
            svg.contains(r#"<a href="?zoom=2&amp;center=45.7"#),
            "zooms in on it"
        );
        assert!(
            svg.contains(r##"<circle class="s-offline" cx="##),
            "its worst state shows"
        );
        assert!(svg.contains(r##"fill="#fff" stroke="#4d4d4d"/>"##));
        // Lone shops stay dots, counted per state; NaN is left out.
        assert!(svg.contains("<title>Prêt : 1</title>"));
        assert!(svg.contains("<title>Pas prêt : 1</title>"));
        assert!(
            !svg.contains("Sans boîtier : 1</title></path>"),
            "the one with no box is in the cluster"
        );
        assert!(
            !svg.contains(r#"<circle class="shop s-offline""#),
            "the offline box too"
        );
        // The alarm: a linked, named triangle, drawn last.
        assert!(svg.contains(
            r#"<a class="alarm-marker" href="/console/alarms/0190?x=1&amp;y=2" aria-label="Alarme : Tabac du Centre, Clermont-Ferrand — code 4821"><path class="shop s-alarm marker" data-shop-id="1" d="M"#
        ));
        assert!(svg.contains(r##"fill="#c8102e""##));
        assert!(svg.find("alarm-marker") > svg.find("data-count="), "on top");
        assert_eq!(shops_drawn(&svg), 5, "every placed shop once");
        assert!(svg.ends_with("</g></svg>"));

        // Zoomed in on Lyon, the two shops are apart: the offline box is a
        // named dot linked to its shop.
        let lyon = MapView::at(map, ZOOM_MAX, LYON.0, LYON.1);
        let svg = map.svg_view(&shops, &[], &lyon);
        assert!(
            !svg.contains("data-count="),
            "no cluster at the closest zoom"
        );
        assert!(svg.contains(
            r#"<a href="/console/shops/2"><circle class="shop s-offline" data-shop-id="2" "#
        ));
        assert!(svg.contains("<title>Sans boîtier : 1</title>"));
        assert_eq!(
            shops_drawn(&svg),
            3,
            "Annecy and Aurillac are beyond a pan's reach"
        );
    }

    #[test]
    fn an_open_alarm_is_never_hidden_in_a_cluster() {
        let map = region_map();
        // Ten quiet shops and one alarm at the same place, at every zoom.
        let mut shops: Vec<MapShop> = (0..10)
            .map(|i| shop(i, CLERMONT, ShopState::Ready))
            .collect();
        let mut alarm = shop(99, CLERMONT, ShopState::Alarm);
        alarm.href = Some("/console/alarms/a".into());
        shops.insert(3, alarm);
        for zoom in 0..=ZOOM_MAX {
            let view = MapView::at(map, zoom, CLERMONT.0, CLERMONT.1);
            let svg = map.svg_view(&shops, &[], &view);
            assert_eq!(
                svg.matches(r#"class="shop s-alarm marker" data-shop-id="99""#)
                    .count(),
                1,
                "zoom {zoom}"
            );
            if zoom < ZOOM_MAX {
                assert!(
                    svg.contains(r#"data-count="10""#),
                    "zoom {zoom}: the quiet ten"
                );
            }
            assert_eq!(shops_drawn(&svg), 11, "zoom {zoom}");
        }
    }

    #[test]
    fn the_cluster_radius_halves_with_each_zoom_and_ends() {
        assert_eq!(cluster_radius(0), CLUSTER_RADIUS_REGION_UNITS);
        for z in 1..ZOOM_MAX {
            assert_eq!(cluster_radius(z) * 2.0, cluster_radius(z - 1));
        }
        assert_eq!(cluster_radius(ZOOM_MAX), 0.0);
        assert_eq!(cluster_radius(u8::MAX), 0.0);
        // Clermont and Riom (15 km): one cluster for the Region, apart at zoom 2.
        let map = region_map();
        let shops = [
            shop(1, CLERMONT, ShopState::Ready),
            shop(2, (45.8936, 3.1126), ShopState::Ready),
        ];
        let at = |zoom| map.svg_view(&shops, &[], &MapView::at(map, zoom, CLERMONT.0, CLERMONT.1));
        assert!(at(0).contains(r#"data-count="2""#));
        assert!(!at(2).contains("data-count="));
        assert!(at(2).contains("<title>Prêt : 2</title>"));
    }

    #[test]
    fn a_view_for_a_narrow_screen_keeps_pixel_sizes_and_clusters_wider() {
        let map = region_map();
        let desk = MapView::whole(map);
        let phone = desk.for_width_px(MAP_PX_NOMINAL / 2.0);
        let size = |svg: &str| -> f64 {
            let at = svg
                .find(r#"<g class="labels dept-labels" aria-hidden="true" font-size=""#)
                .expect("names");
            svg[at..]
                .split("font-size=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .expect("a size")
        };
        assert_eq!(size(&map.svg_view(&[], &[], &desk)), DEPT_LABEL_UNITS);
        assert_eq!(
            size(&map.svg_view(&[], &[], &phone)),
            DEPT_LABEL_UNITS * 2.0,
            "twice the units on a map half as wide"
        );
        // Clermont and Cournon (9 km): apart at zoom 2 on a desk, one cluster on a narrow phone.
        let shops = [
            shop(1, CLERMONT, ShopState::Ready),
            shop(2, (45.7420, 3.1885), ShopState::Ready),
        ];
        let at = MapView::at(map, 2, CLERMONT.0, CLERMONT.1);
        assert!(!map.svg_view(&shops, &[], &at).contains("data-count="));
        assert!(
            map.svg_view(&shops, &[], &at.for_width_px(200.0))
                .contains(r#"data-count="2""#)
        );
        // Zooming and panning keep the screen; absurd widths are clamped.
        assert_eq!(phone.zoomed(map, 1).zoomed(map, -1), phone);
        assert_eq!(desk.for_width_px(f64::NAN), desk);
        assert_eq!(desk.for_width_px(1.0), desk.for_width_px(MAP_PX_MIN));
        assert_eq!(desk.for_width_px(1e9), desk.for_width_px(MAP_PX_MAX));
    }

    #[test]
    fn every_departement_is_named_inside_its_outline() {
        let map = region_map();
        let svg = map.svg(&[]);
        let labels = &svg[svg.find(r#"<g class="labels dept-labels""#).expect("names")..];
        let labels = &labels[..labels.find("</g>").expect("group ends")];
        for d in map.departements() {
            assert!(
                labels.contains(&format!(">{}</text>", escape(d.name()))),
                "{}",
                d.name()
            );
            assert!(d.contains(d.label_at), "{}'s name is inside it", d.name());
        }
        assert_eq!(labels.matches("<text ").count(), 12);
        assert!(
            labels.contains(r#"aria-hidden="true""#),
            "read from the outlines' titles instead"
        );
    }

    #[test]
    fn communes_are_named_once_zoomed_in_biggest_first_without_overlap() {
        let map = region_map();
        let place = |name: &str, (lat, lon): (f64, f64), population| MapPlace {
            name: name.into(),
            lat,
            lon,
            population,
        };
        let places = [
            place("Clermont-Ferrand", CLERMONT, 147_000),
            place("Riom", (45.8936, 3.1126), 19_000),
            place("Aubière", (45.7508, 3.1111), 10_000),
            // 300 m from Aubière: the smaller name gives way.
            place("Romagnat-le-Haut", (45.7508, 3.1140), 8_000),
            place("Saint-Genès-Champanelle", (45.7214, 3.0189), 3_500),
            place("Lyon", LYON, 522_000),
            place("Chanat-la-Mouteyre", (45.8263, 3.0306), 1_000),
        ];
        let named = |zoom| -> Vec<String> {
            let view = MapView::at(map, zoom, CLERMONT.0, CLERMONT.1);
            map.commune_labels(&places, &view)
                .iter()
                .map(|(p, _)| p.name.clone())
                .collect()
        };
        assert!(named(0).is_empty(), "the Region: départements only");
        assert!(!map.svg(&[]).contains("commune-labels"));
        assert_eq!(named(1), ["Lyon", "Clermont-Ferrand"]);
        // Names are sent for what a pan of one view's width reaches: Lyon
        // (300 units east) at zoom 2, not at zoom 3.
        assert_eq!(named(2), ["Lyon", "Clermont-Ferrand", "Riom", "Aubière"]);
        assert!(!named(3).contains(&"Lyon".to_owned()));
        let close = named(ZOOM_MAX);
        assert!(
            close.contains(&"Chanat-la-Mouteyre".to_owned()),
            "{close:?}"
        );
        assert!(close.contains(&"Aubière".to_owned()));
        assert!(
            !close.contains(&"Romagnat-le-Haut".to_owned()),
            "overlaps Aubière: {close:?}"
        );
        let svg = map.svg_view(&[], &places, &MapView::at(map, 3, CLERMONT.0, CLERMONT.1));
        assert!(svg.contains(r#"<g class="labels commune-labels""#));
        assert!(svg.contains(">Riom</text>"));
        // However many communes, a map names at most COMMUNE_LABELS_MAX.
        let many: Vec<MapPlace> = (0..5_000)
            .map(|i| {
                place(
                    &format!("C{i}"),
                    (
                        44.0 + f64::from(i % 70) * 0.05,
                        2.2 + f64::from(i / 70) * 0.07,
                    ),
                    5_000,
                )
            })
            .collect();
        let view = MapView::at(map, ZOOM_MAX, 45.5, 4.0);
        assert!(map.commune_labels(&many, &view).len() <= COMMUNE_LABELS_MAX);
        let view = MapView::at(map, 4, 45.5, 4.0);
        assert!(map.commune_labels(&many, &view).len() <= COMMUNE_LABELS_MAX);
    }

    #[test]
    fn views_zoom_pan_stay_inside_the_region_and_read_back_from_their_query() {
        let map = region_map();
        let whole = MapView::whole(map);
        assert_eq!(whole.view_box(map), (0.0, 0.0, MAP_WIDTH, map.height()));
        assert!(
            map.svg(&[])
                .contains(&format!(r#"viewBox="0 0 1000 {}""#, num(map.height())))
        );
        // Zoom 2 on Clermont: a quarter of the width, Clermont in the middle.
        let view = MapView::at(map, 2, CLERMONT.0, CLERMONT.1);
        let (x, y, w, h) = view.view_box(map);
        assert_eq!(w, MAP_WIDTH / 4.0);
        assert!((h - map.height() / 4.0).abs() < 1e-9);
        let (cx, cy) = map.project(CLERMONT.0, CLERMONT.1);
        assert!((x + w / 2.0 - cx).abs() < 1e-6 && (y + h / 2.0 - cy).abs() < 1e-6);
        // Its query reads back to the same view.
        let query = view.query(map);
        assert!(query.starts_with("zoom=2&center=45.77"), "{query}");
        let (zoom, center) = query.split_once('&').expect("two parts");
        let back = MapView::from_query(
            map,
            zoom.strip_prefix("zoom="),
            center.strip_prefix("center="),
            None,
        );
        assert_eq!(back.zoom(), 2);
        let (bx, by, _, _) = back.view_box(map);
        assert!((bx - x).abs() < 0.1 && (by - y).abs() < 0.1);
        // Paris at zoom 3: the view is pushed back inside the Region.
        let (x, y, w, h) = MapView::at(map, 3, 48.8566, 2.3522).view_box(map);
        assert!(x >= 0.0 && y >= 0.0 && x + w <= MAP_WIDTH + 1e-9 && y + h <= map.height() + 1e-9);
        // Zooming out of the whole Region and past the closest zoom stops.
        assert_eq!(whole.zoomed(map, -1), whole);
        assert_eq!(view.zoomed(map, 100).zoom(), ZOOM_MAX);
        assert_eq!(
            MapView::at(map, 200, CLERMONT.0, CLERMONT.1).zoom(),
            ZOOM_MAX
        );
        // A pan east by half a view moves the centre by half a width.
        let east = view.panned(map, 0.5, 0.0);
        assert!((east.view_box(map).0 - view.view_box(map).0 - w * 2.0 / 2.0).abs() < 1e-6);
        // Unreadable queries show the whole Region; a département fits.
        for (z, c, d) in [
            (Some("x"), Some("1,2,3"), None),
            (None, Some("nan,nan"), None),
            (None, None, Some("99")),
        ] {
            let v = MapView::from_query(map, z, c, d);
            assert_eq!(
                (v.zoom(), v.view_box(map)),
                (0, whole.view_box(map)),
                "{z:?} {c:?} {d:?}"
            );
        }
        let puy = MapView::from_query(map, Some("5"), None, Some("63"));
        assert!(puy.zoom() >= 1, "a département is closer than the Region");
        let (x, y, w, h) = puy.view_box(map);
        assert!(
            x <= cx && cx <= x + w && y <= cy && cy <= y + h,
            "Clermont in the Puy-de-Dôme's view"
        );
        let svg = map.svg_view(&[], &[], &puy);
        assert!(svg.contains(&format!(r#"class="region-map z{}""#, puy.zoom())));
        assert!(svg.contains(&format!(r#"data-zoom="{}" data-zoom-max="6""#, puy.zoom())));
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
        assert!(svg.contains(
            r#"<a class="alarm-marker" href="&quot;&gt;&lt;script&gt;" aria-label="&lt;script&gt;"#
        ));
    }

    /// The whole fleet of the Region (2,671 shops, spread evenly: more
    /// clusters than real shops, which gather in towns, make) with 50 alarms
    /// and 100 boxes offline, labelled and linked as the console does, with
    /// 4,027 communes to name, at every zoom. The map goes with the board
    /// page and again only when the shops in alarm change (or the desk
    /// zooms), not with every live update; the worst zoom (1, some 360
    /// clusters of a few shops each) weighs about 170 KB.
    const FLEET_MAP_BYTES_MAX: usize = 200 * 1024;

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
        let places: Vec<MapPlace> = (0..4_027)
            .map(|i| MapPlace {
                name: format!("Saint-Commune-{i}"),
                lat: 44.2 + f64::from(i % 61) * 0.03,
                lon: 2.3 + f64::from(i / 61) * 0.08,
                population: 100 + i * 37,
            })
            .collect();
        let map = region_map();
        for zoom in 0..=ZOOM_MAX {
            let view = MapView::at(map, zoom, 45.2, 4.0);
            let svg = map.svg_view(&shops, &places, &view);
            assert_eq!(
                svg.matches(r#"class="shop s-alarm marker""#).count(),
                50,
                "zoom {zoom}: every alarm"
            );
            if zoom <= 1 {
                assert_eq!(
                    shops_drawn(&svg),
                    2_671,
                    "zoom {zoom}: a pan reaches the whole Region"
                );
            }
            assert!(
                svg.len() < FLEET_MAP_BYTES_MAX,
                "zoom {zoom}: {} bytes",
                svg.len()
            );
            assert!(
                !svg.contains("<style"),
                "the console's CSP forbids inline styles"
            );
            if zoom == 0 {
                assert!(
                    svg.matches("data-count=").count() < 100,
                    "the Region is clusters"
                );
            }
        }
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
