//! Figures for the funder and the pictures that show them.
//!
//! - [`stats`]: alarms, false alarms, time to first answer and offline hours,
//!   per month and per area (the Region, each département, rural, urban), and
//!   their CSV export.
//! - [`chart`]: a server-side SVG bar chart for the web console.
//! - [`map`]: the Region's départements as SVG outlines with their names,
//!   communes named as the view zooms in, shops on top, clustered by
//!   [`cluster`] (shops in alarm never are).
//!
//! Everything here is a function of its arguments: no I/O, no clock reads.
//! The map's outlines are embedded in the crate (`data/`) and parsed once.

pub mod chart;
pub mod cluster;
pub mod map;
pub mod stats;
mod xml;
