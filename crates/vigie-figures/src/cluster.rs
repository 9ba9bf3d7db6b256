//! Nearby points grouped into clusters, so that a map of the whole Region
//! shows « 12 » where twelve shops overlap instead of a blot.
//!
//! Greedy and deterministic, as web map clusterers do it (supercluster,
//! Leaflet.markercluster): points are taken in the caller's order; the first
//! one not yet grouped gathers every ungrouped point within the radius of
//! it, and the group sits at their mean. A point marked `apart` (a shop in
//! alarm) is never put in a group: it is always drawn on its own, so an
//! alarm can never hide inside a count. A grid of cells as wide as the
//! radius finds the neighbours, so the Region's 2,671 shops cluster in
//! about a millisecond.

use std::collections::HashMap;

/// A point to cluster, in the map's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterPoint {
    pub x: f64,
    pub y: f64,
    /// Never grouped with others (a shop in alarm).
    pub apart: bool,
}

/// One mark to draw: a lone point (one member) or a cluster (several).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Indices into the points given, in their order.
    pub members: Vec<usize>,
    /// Where to draw it: the lone point, or the members' mean.
    pub x: f64,
    pub y: f64,
}

impl Group {
    /// Whether this mark stands for several points.
    pub fn is_cluster(&self) -> bool {
        self.members.len() > 1
    }
}

/// Groups `points` whose distance to a group's first point is at most
/// `radius`. A radius that is not positive (or not finite) groups nothing.
/// Every point is in exactly one group; groups come in the order of their
/// first member. Points with non-finite coordinates stay alone.
pub fn cluster(points: &[ClusterPoint], radius: f64) -> Vec<Group> {
    let alone = |i: usize, p: &ClusterPoint| Group {
        members: vec![i],
        x: p.x,
        y: p.y,
    };
    if !(radius.is_finite() && radius > 0.0) {
        return points
            .iter()
            .enumerate()
            .map(|(i, p)| alone(i, p))
            .collect();
    }
    let cell = |v: f64| (v / radius).floor() as i64;
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        if !p.apart && p.x.is_finite() && p.y.is_finite() {
            grid.entry((cell(p.x), cell(p.y))).or_default().push(i);
        }
    }
    let mut grouped = vec![false; points.len()];
    let mut groups = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if grouped[i] {
            continue;
        }
        grouped[i] = true;
        if p.apart || !p.x.is_finite() || !p.y.is_finite() {
            groups.push(alone(i, p));
            continue;
        }
        let (cx, cy) = (cell(p.x), cell(p.y));
        let mut members = vec![i];
        for gx in cx - 1..=cx + 1 {
            for gy in cy - 1..=cy + 1 {
                for &j in grid.get(&(gx, gy)).map(Vec::as_slice).unwrap_or_default() {
                    let q = &points[j];
                    if !grouped[j] && (q.x - p.x).hypot(q.y - p.y) <= radius {
                        grouped[j] = true;
                        members.push(j);
                    }
                }
            }
        }
        members.sort_unstable();
        let n = members.len() as f64;
        let x = members.iter().map(|&j| points[j].x).sum::<f64>() / n;
        let y = members.iter().map(|&j| points[j].y).sum::<f64>() / n;
        groups.push(Group { members, x, y });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64) -> ClusterPoint {
        ClusterPoint { x, y, apart: false }
    }

    #[test]
    fn nearby_points_make_one_cluster_at_their_mean() {
        let points = [at(100.0, 100.0), at(104.0, 100.0), at(100.0, 106.0)];
        let groups = cluster(&points, 10.0);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, [0, 1, 2]);
        assert!(groups[0].is_cluster());
        assert!((groups[0].x - 304.0 / 3.0).abs() < 1e-9);
        assert!((groups[0].y - 102.0).abs() < 1e-9);
    }

    #[test]
    fn a_lone_point_is_not_clustered() {
        let points = [at(100.0, 100.0), at(105.0, 100.0), at(300.0, 300.0)];
        let groups = cluster(&points, 10.0);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].members, [0, 1]);
        assert_eq!(groups[1].members, [2]);
        assert!(!groups[1].is_cluster());
        assert_eq!(
            (groups[1].x, groups[1].y),
            (300.0, 300.0),
            "drawn where it is"
        );
    }

    #[test]
    fn a_point_kept_apart_is_never_inside_a_cluster() {
        let alarm = ClusterPoint {
            x: 101.0,
            y: 100.0,
            apart: true,
        };
        // The alarm comes first, amid quiet points: they cluster without it.
        let points = [alarm, at(100.0, 100.0), at(102.0, 100.0), alarm];
        let groups = cluster(&points, 10.0);
        let clusters: Vec<&Group> = groups.iter().filter(|g| g.is_cluster()).collect();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].members, [1, 2]);
        for i in [0, 3] {
            assert!(
                groups.iter().any(|g| g.members == [i]),
                "alarm {i} on its own"
            );
        }
    }

    #[test]
    fn the_radius_decides_and_every_point_is_counted_once() {
        // A row of points 3 apart: a large radius makes few groups, a small
        // one many, none at all below their spacing.
        let points: Vec<ClusterPoint> = (0..100).map(|i| at(f64::from(i) * 3.0, 50.0)).collect();
        let mut counts = Vec::new();
        for radius in [100.0, 30.0, 6.0, 2.0, 0.0, -1.0, f64::NAN] {
            let groups = cluster(&points, radius);
            let mut seen: Vec<usize> = groups.iter().flat_map(|g| g.members.clone()).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..100).collect::<Vec<_>>(), "radius {radius}");
            counts.push(groups.len());
        }
        assert_eq!(counts, [3, 10, 34, 100, 100, 100, 100]);
    }

    #[test]
    fn points_across_a_cell_border_still_cluster() {
        // 9.9 and 10.1 fall in different cells of a 10-wide grid.
        let groups = cluster(&[at(9.9, 0.0), at(10.1, 0.0)], 10.0);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members.len(), 2);
    }

    #[test]
    fn non_finite_points_stay_alone() {
        let groups = cluster(&[at(f64::NAN, 0.0), at(0.0, 0.0), at(1.0, 0.0)], 10.0);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].members, [0]);
        assert_eq!(groups[1].members, [1, 2]);
    }
}
