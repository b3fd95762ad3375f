//! Writing PostGIS EWKB, and the structure every container shares: the
//! checks PostGIS makes when it receives a geometry are made here, once,
//! whatever the blob's format.

use ferry_model::GeometryShape;

use super::{Cursor, Dims, GeometryError, Kind, MAX_DEPTH};

/// EWKB type flags (PostGIS `liblwgeom/liblwgeom.h.in`).
const Z_FLAG: u32 = 0x8000_0000;
const M_FLAG: u32 = 0x4000_0000;
const SRID_FLAG: u32 = 0x2000_0000;
/// The NaN PostGIS writes for the coordinates of an empty point.
const EMPTY_COORDINATE: u64 = 0x7FF8_0000_0000_0000;

/// How one container lays out what follows a geometry's header.
pub(crate) trait Layout {
    /// The fewest bytes a collection member takes.
    const MEMBER_BYTES: usize;
    /// The fewest bytes one point of a line or ring of `kind` takes.
    fn point_bytes(kind: Kind) -> usize;
    /// Reads the header of a collection's next member.
    fn member(cursor: &mut Cursor<'_>) -> Result<Kind, GeometryError>;
    /// Reads the `count` points of a line or ring of `kind` into `out`.
    fn points(
        cursor: &mut Cursor<'_>,
        kind: Kind,
        count: u32,
        out: &mut Writer,
    ) -> Result<(), GeometryError>;
}

/// Reads the body of a geometry of `kind` (what follows its header) and
/// writes it to `out`, checking what PostGIS checks: a line string has 0
/// or at least 2 points, a polygon ring at least 4 and ends where it
/// starts (in x and y, bit for bit), a multi geometry holds only its
/// members' shape, and members have their collection's dimensions.
pub(crate) fn write_body<L: Layout>(
    cursor: &mut Cursor<'_>,
    kind: Kind,
    out: &mut Writer,
    depth: usize,
) -> Result<(), GeometryError> {
    let point_bytes = L::point_bytes(kind);
    match kind.shape {
        GeometryShape::Point => out.point(&cursor.point(kind.dims)?[..kind.dims.count()]),
        GeometryShape::LineString => {
            let count = cursor.count("points", point_bytes)?;
            if count == 1 {
                return Err(GeometryError::TooFewPoints {
                    what: "line string",
                    count,
                    min: 2,
                });
            }
            out.count(count);
            L::points(cursor, kind, count, out)?;
        }
        GeometryShape::Polygon => {
            let rings = cursor.count("rings", 4)?;
            out.count(rings);
            for _ in 0..rings {
                let count = cursor.count("points", point_bytes)?;
                if count < 4 {
                    return Err(GeometryError::TooFewPoints {
                        what: "polygon ring",
                        count,
                        min: 4,
                    });
                }
                out.count(count);
                let start = out.bytes.len();
                L::points(cursor, kind, count, out)?;
                out.check_closed(start, kind.dims)?;
            }
        }
        GeometryShape::MultiPoint
        | GeometryShape::MultiLineString
        | GeometryShape::MultiPolygon
        | GeometryShape::GeometryCollection => {
            if depth >= MAX_DEPTH {
                return Err(GeometryError::TooDeep { max: MAX_DEPTH });
            }
            let count = cursor.count("geometries", L::MEMBER_BYTES)?;
            out.count(count);
            for _ in 0..count {
                let member = L::member(cursor)?;
                check_member(kind, member)?;
                out.header(member, 0);
                write_body::<L>(cursor, member, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

fn check_member(parent: Kind, member: Kind) -> Result<(), GeometryError> {
    if let Some(allowed) = parent.shape.member() {
        if member.shape != allowed {
            return Err(GeometryError::WrongMember {
                parent: parent.shape,
                member: member.shape,
                allowed,
            });
        }
    }
    if member.dims != parent.dims {
        return Err(GeometryError::MixedDimensions {
            parent: parent.shape,
            parent_dims: parent.dims,
            member: member.shape,
            member_dims: member.dims,
        });
    }
    Ok(())
}

/// EWKB being written, little-endian.
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// A writer expecting about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Writer {
        Writer {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// A geometry header: byte order, type code with its Z, M and SRID
    /// flags, and the SRID when it is not 0.
    pub(crate) fn header(&mut self, kind: Kind, srid: i32) {
        let mut code = kind.shape.wkb_code();
        if kind.dims.z {
            code |= Z_FLAG;
        }
        if kind.dims.m {
            code |= M_FLAG;
        }
        if srid != 0 {
            code |= SRID_FLAG;
        }
        self.bytes.push(1);
        self.bytes.extend_from_slice(&code.to_le_bytes());
        if srid != 0 {
            self.bytes.extend_from_slice(&srid.to_le_bytes());
        }
    }

    pub(crate) fn count(&mut self, count: u32) {
        self.bytes.extend_from_slice(&count.to_le_bytes());
    }

    /// One point of a line or ring, its coordinates' bits kept.
    pub(crate) fn coordinates(&mut self, point: &[f64]) {
        for coordinate in point {
            self.bytes
                .extend_from_slice(&coordinate.to_bits().to_le_bytes());
        }
    }

    /// A point geometry's coordinates: PostGIS reads x and y both NaN as
    /// an empty point, and writes every coordinate of one as its NaN.
    fn point(&mut self, point: &[f64]) {
        if point[0].is_nan() && point[1].is_nan() {
            for _ in point {
                self.bytes
                    .extend_from_slice(&EMPTY_COORDINATE.to_le_bytes());
            }
        } else {
            self.coordinates(point);
        }
    }

    /// Whether the ring whose points start at `start` and end the
    /// buffer is closed in x and y, compared bit for bit as PostGIS does.
    fn check_closed(&self, start: usize, dims: Dims) -> Result<(), GeometryError> {
        let last = self.bytes.len() - dims.count() * 8;
        if self.bytes[start..start + 16] == self.bytes[last..last + 16] {
            Ok(())
        } else {
            Err(GeometryError::OpenRing)
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}
