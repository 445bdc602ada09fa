//! Geofences: circles by centre and radius, and polygons, on WGS 84 latitude/longitude.
//!
//! Coordinates are held as integers in units of 10⁻⁷ degree (about 1.1 cm at the equator), the
//! form the card receives them in, so that polygon tests are exact integer arithmetic: a point is
//! inside or outside a polygon the same way on every machine. Circle tests use the haversine
//! distance on a sphere of the mean Earth radius (IUGG: 6,371,008.8 m); the error against the WGS 84
//! ellipsoid is below 0.5 %, far below the accuracy of a terminal's position fix.
//!
//! Polygons are tested on the plane of (longitude, latitude): edges are straight lines on a plate
//! carrée map, not great circles. For fences of city scale the difference is centimetres; a polygon
//! may therefore not span 180° or more of longitude (it would be ambiguous across the antimeridian),
//! and validation rejects it. A point on a fence's boundary counts as inside.

use std::fmt;

/// Units per degree in [`Point`]'s fields.
pub const E7: f64 = 1e7;

/// Mean Earth radius in metres (IUGG R₁).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The largest circle radius accepted: half the Earth's circumference, which covers everything.
pub const MAX_RADIUS_M: u32 = 20_015_087;

/// A position: latitude and longitude in 10⁻⁷ degree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Point {
    /// Latitude, −90° to 90°, in 10⁻⁷ degree (north positive).
    pub lat_e7: i32,
    /// Longitude, −180° to 180°, in 10⁻⁷ degree (east positive).
    pub lon_e7: i32,
}

/// Why coordinates are not a position on Earth.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum CoordinateError {
    /// Latitude outside −90..=90 or not a number.
    #[error("latitude {0} is outside -90..=90 degrees")]
    Latitude(f64),
    /// Longitude outside −180..=180 or not a number.
    #[error("longitude {0} is outside -180..=180 degrees")]
    Longitude(f64),
}

impl Point {
    /// A point from decimal degrees, rounded to 10⁻⁷ degree.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<Point, CoordinateError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordinateError::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(CoordinateError::Longitude(lon));
        }
        // In range, so the products fit an i32 (1.8e9 < 2.147e9).
        Ok(Point { lat_e7: (lat * E7).round() as i32, lon_e7: (lon * E7).round() as i32 })
    }

    /// A point from 10⁻⁷ degree units, checking the ranges.
    pub fn from_e7(lat_e7: i32, lon_e7: i32) -> Result<Point, CoordinateError> {
        if !(-900_000_000..=900_000_000).contains(&lat_e7) {
            return Err(CoordinateError::Latitude(f64::from(lat_e7) / E7));
        }
        if !(-1_800_000_000..=1_800_000_000).contains(&lon_e7) {
            return Err(CoordinateError::Longitude(f64::from(lon_e7) / E7));
        }
        Ok(Point { lat_e7, lon_e7 })
    }

    /// Latitude in degrees.
    pub fn lat(self) -> f64 {
        f64::from(self.lat_e7) / E7
    }

    /// Longitude in degrees.
    pub fn lon(self) -> f64 {
        f64::from(self.lon_e7) / E7
    }

    /// Great-circle distance in metres (haversine formula).
    pub fn distance_m(self, other: Point) -> f64 {
        let (phi1, phi2) = (self.lat().to_radians(), other.lat().to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.lon() - self.lon()).to_radians();
        let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.7}, {:.7}", self.lat(), self.lon())
    }
}

/// A circle: every point within `radius_m` metres of `center`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Circle {
    /// The centre.
    pub center: Point,
    /// The radius in metres, 1 to [`MAX_RADIUS_M`].
    pub radius_m: u32,
}

impl Circle {
    /// Whether `p` lies in the circle (on the boundary counts).
    pub fn contains(&self, p: Point) -> bool {
        self.center.distance_m(p) <= f64::from(self.radius_m)
    }
}

/// A simple polygon (edges do not cross), closed implicitly from the last vertex to the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Polygon {
    vertices: Vec<Point>,
}

/// Why a list of vertices is not a usable polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolygonError {
    /// Fewer than three distinct vertices.
    #[error("a polygon needs at least 3 vertices, this one has {0}")]
    TooFewVertices(usize),
    /// The same vertex twice in a row.
    #[error("vertex {0} repeats the vertex before it")]
    RepeatedVertex(usize),
    /// All vertices on one line: the polygon encloses nothing.
    #[error("the vertices are all on one line, so the polygon encloses no area")]
    ZeroArea,
    /// The vertices span 180° of longitude or more.
    #[error("the polygon spans 180 degrees of longitude or more; split it at the antimeridian")]
    TooWide,
    /// Two edges cross or overlap: the polygon is not simple.
    #[error(
        "edges {0} and {1} cross (edge N runs from vertex N to the next); a polygon's edges must not cross"
    )]
    EdgesCross(usize, usize),
}

/// Twice the signed area of triangle (a, b, c) in e7 units²: > 0 when counter-clockwise.
fn orient(a: Point, b: Point, c: Point) -> i128 {
    let (ax, ay) = (i128::from(a.lon_e7), i128::from(a.lat_e7));
    let (bx, by) = (i128::from(b.lon_e7), i128::from(b.lat_e7));
    let (cx, cy) = (i128::from(c.lon_e7), i128::from(c.lat_e7));
    (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
}

/// Whether `p`, known to be collinear with segment (a, b), lies within its bounding box.
fn within_box(a: Point, b: Point, p: Point) -> bool {
    p.lon_e7 >= a.lon_e7.min(b.lon_e7)
        && p.lon_e7 <= a.lon_e7.max(b.lon_e7)
        && p.lat_e7 >= a.lat_e7.min(b.lat_e7)
        && p.lat_e7 <= a.lat_e7.max(b.lat_e7)
}

/// Whether `p` lies on segment (a, b).
fn on_segment(a: Point, b: Point, p: Point) -> bool {
    orient(a, b, p) == 0 && within_box(a, b, p)
}

/// Whether closed segments (a, b) and (c, d) share at least one point.
fn segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2) = (orient(a, b, c).signum(), orient(a, b, d).signum());
    let (o3, o4) = (orient(c, d, a).signum(), orient(c, d, b).signum());
    if o1 * o2 < 0 && o3 * o4 < 0 {
        return true;
    }
    on_segment(a, b, c) || on_segment(a, b, d) || on_segment(c, d, a) || on_segment(c, d, b)
}

impl Polygon {
    /// Checks and builds a polygon. A last vertex equal to the first (a closed ring, as GeoJSON
    /// writes it) is dropped.
    pub fn new(mut vertices: Vec<Point>) -> Result<Polygon, PolygonError> {
        if vertices.len() > 1 && vertices.first() == vertices.last() {
            vertices.pop();
        }
        let n = vertices.len();
        if n < 3 {
            return Err(PolygonError::TooFewVertices(n));
        }
        for i in 0..n {
            if vertices[i] == vertices[(i + 1) % n] {
                return Err(PolygonError::RepeatedVertex((i + 1) % n + 1));
            }
        }
        let (min_lon, max_lon) = vertices
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), p| (lo.min(p.lon_e7.into()), hi.max(p.lon_e7.into())));
        if max_lon - min_lon >= 1_800_000_000 {
            return Err(PolygonError::TooWide);
        }
        if (2..n).all(|i| orient(vertices[0], vertices[1], vertices[i]) == 0) {
            return Err(PolygonError::ZeroArea);
        }
        let edge = |i: usize| (vertices[i], vertices[(i + 1) % n]);
        for i in 0..n {
            for j in i + 1..n {
                let ((a, b), (c, d)) = (edge(i), edge(j));
                let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                let bad = if adjacent {
                    // Adjacent edges share one vertex; they are bad only if they fold back onto
                    // each other (collinear, and the far end of one lies on the other).
                    let (shared, p, q) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                    orient(p, shared, q) == 0 && (on_segment(shared, p, q) || on_segment(shared, q, p))
                } else {
                    segments_meet(a, b, c, d)
                };
                if bad {
                    return Err(PolygonError::EdgesCross(i + 1, j + 1));
                }
            }
        }
        Ok(Polygon { vertices })
    }

    /// The vertices, in order, without the closing repeat.
    pub fn vertices(&self) -> &[Point] {
        &self.vertices
    }

    /// Whether `p` lies in the polygon or on its boundary (exact; even–odd ray casting).
    pub fn contains(&self, p: Point) -> bool {
        let n = self.vertices.len();
        let mut inside = false;
        for i in 0..n {
            let (a, b) = (self.vertices[i], self.vertices[(i + 1) % n]);
            if on_segment(a, b, p) {
                return true;
            }
            // Does a ray from p towards +longitude cross edge (a, b)? Half-open in latitude so a
            // vertex on the ray is counted once.
            if (a.lat_e7 > p.lat_e7) != (b.lat_e7 > p.lat_e7) {
                // The crossing is east of p iff orient(a, b, p) has the sign of (b.lat − a.lat).
                let o = orient(a, b, p);
                if (o > 0) == (b.lat_e7 > a.lat_e7) {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// The area a geofence covers.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A circle.
    Circle(Circle),
    /// A polygon.
    Polygon(Polygon),
}

impl Shape {
    /// Whether `p` lies in the shape (on the boundary counts).
    pub fn contains(&self, p: Point) -> bool {
        match self {
            Shape::Circle(c) => c.contains(p),
            Shape::Polygon(poly) => poly.contains(p),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Circle(c) => write!(f, "within {} m of {}", c.radius_m, c.center),
            Shape::Polygon(p) => write!(f, "inside a polygon of {} vertices", p.vertices.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(lat: f64, lon: f64) -> Point {
        Point::from_degrees(lat, lon).unwrap()
    }

    /// The point `distance` metres from `from` on initial bearing `bearing_deg` (spherical).
    fn destination(from: Point, bearing_deg: f64, distance: f64) -> Point {
        let (phi1, lambda1) = (from.lat().to_radians(), from.lon().to_radians());
        let delta = distance / EARTH_RADIUS_M;
        let theta = bearing_deg.to_radians();
        let phi2 = (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * theta.cos()).asin();
        let lambda2 =
            lambda1 + (theta.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * phi2.sin());
        let lon = (lambda2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
        p(phi2.to_degrees(), lon)
    }

    #[test]
    fn known_distances() {
        // Shanghai People's Square to the Bund (about 1.5 km), and one degree of latitude.
        let square = p(31.2304, 121.4737);
        let bund = p(31.2400, 121.4900);
        let d = square.distance_m(bund);
        assert!((1_850.0..1_950.0).contains(&d), "{d}");
        let deg = p(0.0, 0.0).distance_m(p(1.0, 0.0));
        assert!((deg - 111_195.0).abs() < 1.0, "{deg}");
    }

    #[test]
    fn coordinates_out_of_range_are_rejected() {
        assert_eq!(Point::from_degrees(91.0, 0.0), Err(CoordinateError::Latitude(91.0)));
        assert_eq!(Point::from_degrees(0.0, -180.5), Err(CoordinateError::Longitude(-180.5)));
        assert!(Point::from_degrees(f64::NAN, 0.0).is_err());
        assert!(Point::from_e7(900_000_001, 0).is_err());
        assert!(Point::from_e7(0, 1_800_000_000).is_ok());
    }

    #[test]
    fn bad_polygons_are_named() {
        let tri = [p(0.0, 0.0), p(0.0, 1.0), p(1.0, 0.0)];
        assert_eq!(Polygon::new(tri[..2].to_vec()), Err(PolygonError::TooFewVertices(2)));
        assert_eq!(Polygon::new(vec![tri[0], tri[1], tri[0]]), Err(PolygonError::TooFewVertices(2)));
        assert_eq!(Polygon::new(vec![tri[0], tri[1], tri[1], tri[2]]), Err(PolygonError::RepeatedVertex(3)));
        assert_eq!(Polygon::new(vec![p(0.0, 0.0), p(0.0, 1.0), p(0.0, 2.0)]), Err(PolygonError::ZeroArea));
        assert_eq!(
            Polygon::new(vec![p(0.0, -100.0), p(0.0, 100.0), p(1.0, 0.0)]),
            Err(PolygonError::TooWide)
        );
        // A bow tie: edges 1 and 3 cross.
        let bow = vec![p(0.0, 0.0), p(1.0, 1.0), p(1.0, 0.0), p(0.0, 1.0)];
        assert_eq!(Polygon::new(bow), Err(PolygonError::EdgesCross(1, 3)));
        // A spike that folds back on itself.
        let spike = vec![p(0.0, 0.0), p(0.0, 2.0), p(0.0, 1.0), p(1.0, 1.0)];
        assert!(matches!(Polygon::new(spike), Err(PolygonError::EdgesCross(..))));
        // A closed ring is fine.
        let ring = vec![tri[0], tri[1], tri[2], tri[0]];
        assert_eq!(Polygon::new(ring).unwrap().vertices().len(), 3);
    }

    #[test]
    fn concave_polygon_contains_its_notch_correctly() {
        // A "C" shape: the notch (0.5, 1.5) is outside, the spine inside.
        let c = Polygon::new(vec![
            p(0.0, 0.0),
            p(0.0, 2.0),
            p(1.0, 2.0),
            p(1.0, 1.0),
            p(2.0, 1.0),
            p(2.0, 2.0),
            p(3.0, 2.0),
            p(3.0, 0.0),
        ])
        .unwrap();
        assert!(c.contains(p(1.5, 0.5)));
        assert!(!c.contains(p(1.5, 1.5)));
        assert!(c.contains(p(0.0, 1.0)), "boundary counts as inside");
        assert!(c.contains(p(3.0, 0.0)), "vertex counts as inside");
        assert!(!c.contains(p(3.5, 0.5)));
        // A ray through the vertex (1.0, 1.0) going east must not double count.
        assert!(!c.contains(p(1.0, 2.5)));
        assert!(c.contains(p(1.0, 0.5)));
    }

    fn rect_strategy() -> impl Strategy<Value = (i32, i32, i32, i32)> {
        (-800_000_000i32..800_000_000, -1_700_000_000i32..1_700_000_000, 1i32..50_000_000, 1i32..50_000_000)
    }

    proptest! {
        #[test]
        fn distance_is_a_symmetric_metric(a in (-89.9f64..89.9, -179.9f64..179.9),
                                         b in (-89.9f64..89.9, -179.9f64..179.9)) {
            let (pa, pb) = (p(a.0, a.1), p(b.0, b.1));
            prop_assert_eq!(pa.distance_m(pa), 0.0);
            prop_assert!((pa.distance_m(pb) - pb.distance_m(pa)).abs() < 1e-6);
            prop_assert!(pa.distance_m(pb) <= std::f64::consts::PI * EARTH_RADIUS_M + 1.0);
        }

        #[test]
        fn circle_contains_points_inside_its_radius_and_not_outside(
            lat in -80.0f64..80.0, lon in -170.0f64..170.0, radius in 50u32..200_000, bearing in 0.0f64..360.0) {
            let circle = Circle { center: p(lat, lon), radius_m: radius };
            let r = f64::from(radius);
            prop_assert!(circle.contains(circle.center));
            // 10⁻⁷ degree rounding moves a point by at most ~1.6 cm; keep 1 m of margin.
            prop_assert!(circle.contains(destination(circle.center, bearing, r * 0.99 - 1.0)));
            prop_assert!(!circle.contains(destination(circle.center, bearing, r * 1.01 + 1.0)));
        }

        #[test]
        fn rectangle_agrees_with_its_bounds((lat, lon, h, w) in rect_strategy(),
                                            (dy, dx) in (-60_000_000i32..60_000_000, -60_000_000i32..60_000_000)) {
            let (lat2, lon2) = (lat + h, lon + w);
            let corners = vec![
                Point { lat_e7: lat, lon_e7: lon }, Point { lat_e7: lat, lon_e7: lon2 },
                Point { lat_e7: lat2, lon_e7: lon2 }, Point { lat_e7: lat2, lon_e7: lon },
            ];
            let rect = Polygon::new(corners.clone()).unwrap();
            let q = Point { lat_e7: lat.saturating_add(dy), lon_e7: lon.saturating_add(dx) };
            let expected = (lat..=lat2).contains(&q.lat_e7) && (lon..=lon2).contains(&q.lon_e7);
            prop_assert_eq!(rect.contains(q), expected);
            // Same answer clockwise and from another starting vertex.
            let mut reversed = corners.clone();
            reversed.reverse();
            prop_assert_eq!(Polygon::new(reversed).unwrap().contains(q), expected);
            let mut rotated = corners;
            rotated.rotate_left(1);
            prop_assert_eq!(Polygon::new(rotated).unwrap().contains(q), expected);
        }

        #[test]
        fn star_polygons_are_simple_and_contain_their_centre(
            radii in proptest::collection::vec(1_000_000i32..10_000_000, 3..24),
            q in (-12_000_000i32..12_000_000, -12_000_000i32..12_000_000)) {
            // Vertices at increasing angles around the origin: simple by construction.
            let n = radii.len();
            let vertices: Vec<Point> = radii.iter().enumerate().map(|(i, &r)| {
                let a = std::f64::consts::TAU * i as f64 / n as f64;
                Point { lat_e7: (f64::from(r) * a.sin()) as i32, lon_e7: (f64::from(r) * a.cos()) as i32 }
            }).collect();
            let poly = Polygon::new(vertices.clone()).unwrap();
            let origin = Point { lat_e7: 0, lon_e7: 0 };
            prop_assert!(poly.contains(origin));
            let q = Point { lat_e7: q.0, lon_e7: q.1 };
            let mut reversed = vertices.clone();
            reversed.reverse();
            prop_assert_eq!(Polygon::new(reversed).unwrap().contains(q), poly.contains(q));
            let mut rotated = vertices;
            rotated.rotate_left(n / 2);
            prop_assert_eq!(Polygon::new(rotated).unwrap().contains(q), poly.contains(q));
            // Farther than the largest radius is outside.
            let far = Point { lat_e7: 0, lon_e7: 10_000_001 };
            prop_assert!(!poly.contains(far));
        }
    }
}
