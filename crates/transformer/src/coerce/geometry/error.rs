//! Why a blob is not a geometry PostGIS would accept as it is.

use ferry_model::GeometryShape;

use super::Dims;

/// A geometry blob that cannot become PostGIS EWKB. Each message starts
/// with a verb, as it follows the value in a
/// [`CoerceError`](crate::CoerceError).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryError {
    /// Neither a GeoPackage, a SpatiaLite nor a WKB blob.
    #[error("is not a GeoPackage, SpatiaLite or WKB geometry blob")]
    UnknownFormat,
    /// The blob ends in the middle of something.
    #[error("ends after {}, inside {inside} (the blob is truncated)", ferry_model::plural(*.len, "byte", "bytes"))]
    Truncated {
        /// The blob's length.
        len: usize,
        /// What was being read (`a point`).
        inside: &'static str,
    },
    /// Bytes follow the end of the geometry.
    #[error("has {} after the end of its geometry", ferry_model::plural(*.count, "byte", "bytes"))]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A header field holds something its format does not allow.
    #[error("has a malformed {format} header: {reason}")]
    Header {
        /// `GeoPackage`, `SpatiaLite` or `WKB`.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A type code no format defines.
    #[error("has {format} type code {code}, which no geometry type has")]
    UnknownType {
        /// `WKB` or `SpatiaLite`.
        format: &'static str,
        /// The code.
        code: u32,
    },
    /// A geometry type PostGIS has but ferry does not convert (curves,
    /// surfaces, GeoPackage's extended types).
    #[error(
        "is a {name}, which ferry does not convert to PostGIS (only points, line strings, \
         polygons, their multi forms and collections)"
    )]
    Unsupported {
        /// The type's name (`CircularString`).
        name: &'static str,
    },
    /// A count larger than the bytes left could hold.
    #[error("says it holds {count} {what}, more than its remaining {remaining} bytes can")]
    BadCount {
        /// The count as read.
        count: u32,
        /// `points`, `rings` or `geometries`.
        what: &'static str,
        /// Bytes left after the count.
        remaining: usize,
    },
    /// A line string of one point, a polygon ring of fewer than four:
    /// PostGIS refuses both.
    #[error("has a {what} of {count} point(s); PostGIS requires at least {min}")]
    TooFewPoints {
        /// `line string` or `polygon ring`.
        what: &'static str,
        /// Its points.
        count: u32,
        /// The fewest PostGIS accepts.
        min: u32,
    },
    /// A polygon ring whose last point is not its first.
    #[error("has a polygon ring that is not closed (its last point differs from its first)")]
    OpenRing,
    /// A member a collection cannot hold (a line string in a multipoint).
    #[error("has a {member} inside a {parent}, which holds only {allowed}s")]
    WrongMember {
        /// The collection.
        parent: GeometryShape,
        /// The member's shape.
        member: GeometryShape,
        /// The shape it may hold.
        allowed: GeometryShape,
    },
    /// A member whose Z or M differ from its collection's.
    #[error("has a {member}{member_dims} inside a {parent}{parent_dims}: dimensions must agree")]
    MixedDimensions {
        /// The collection.
        parent: GeometryShape,
        /// Its dimensions (` Z`, ` ZM`).
        parent_dims: Dims,
        /// The member's shape.
        member: GeometryShape,
        /// Its dimensions.
        member_dims: Dims,
    },
    /// Collections nested deeper than anyone writes them.
    #[error("nests collections more than {max} deep")]
    TooDeep {
        /// The deepest accepted.
        max: usize,
    },
    /// An SRID PostGIS would change (it clamps SRIDs above 999999).
    #[error("has SRID {srid}, above PostGIS's largest ({max})")]
    SridOutOfRange {
        /// The SRID.
        srid: i32,
        /// PostGIS's `SRID_MAXIMUM`.
        max: i32,
    },
}

impl GeometryError {
    /// A malformed header of `format` (`GeoPackage`, `SpatiaLite`, `WKB`).
    pub(crate) fn header(format: &'static str, reason: String) -> GeometryError {
        GeometryError::Header { format, reason }
    }
}
