//! SpatiaLite's internal BLOB-Geometry format
//! (<https://www.gaia-gis.it/gaia-sins/BLOB-Geometry.html>): `0x00`, a
//! byte order (`0x01` little, `0x00` big), the SRID, the MBR (four
//! doubles), `0x7C`, a class type, the geometry, `0xFE`. Collection
//! members start with `0x69` and their class type. Compressed lines and
//! polygons keep their first and last points whole and store the others
//! as float deltas from the previous point (M, when there is one, whole).
//! A TinyPoint (SpatiaLite 4.3+) is `0x00`, `0x81` or `0x80`, the SRID, a
//! dimension byte, the coordinates, `0xFE`.

use ferry_model::GeometryShape;

use super::ewkb::{Layout, Writer};
use super::{Cursor, Dims, GeometryError, Kind};

const START: u8 = 0x00;
const BIG_ENDIAN: u8 = 0x00;
const LITTLE_ENDIAN: u8 = 0x01;
const TINY_BIG_ENDIAN: u8 = 0x80;
const TINY_LITTLE_ENDIAN: u8 = 0x81;
const MBR_END: u8 = 0x7C;
const ENTITY: u8 = 0x69;
const END: u8 = 0xFE;
/// Where the MBR ends in a full header.
const MBR_END_AT: usize = 38;
/// The class code of compressed lines and polygons adds this.
const COMPRESSED: u32 = 1_000_000;

fn malformed(reason: String) -> GeometryError {
    GeometryError::header("SpatiaLite", reason)
}

/// Whether `blob` has SpatiaLite's markers where they belong: a start and
/// a byte order SpatiaLite writes, `0xFE` last, and `0x7C` after the MBR
/// (or a TinyPoint's length).
pub(crate) fn is_spatialite(blob: &[u8]) -> bool {
    let (Some(&START), Some(&order), Some(&END)) = (blob.first(), blob.get(1), blob.last()) else {
        return false;
    };
    match order {
        BIG_ENDIAN | LITTLE_ENDIAN => blob.len() > MBR_END_AT + 5 && blob[MBR_END_AT] == MBR_END,
        TINY_BIG_ENDIAN | TINY_LITTLE_ENDIAN => matches!(blob.len(), 24 | 32 | 40),
        _ => false,
    }
}

/// Reads a full or TinyPoint header: the geometry's kind and SRID.
pub(crate) fn read_header(cursor: &mut Cursor<'_>) -> Result<(Kind, i32), GeometryError> {
    const INSIDE: &str = "a SpatiaLite header";
    cursor.u8(INSIDE)?;
    let order = cursor.u8(INSIDE)?;
    cursor.little = matches!(order, LITTLE_ENDIAN | TINY_LITTLE_ENDIAN);
    let srid = cursor.i32(INSIDE)?;
    if matches!(order, TINY_BIG_ENDIAN | TINY_LITTLE_ENDIAN) {
        let dims = match cursor.u8(INSIDE)? {
            1 => Dims::default(),
            2 => Dims { z: true, m: false },
            3 => Dims { z: false, m: true },
            4 => Dims { z: true, m: true },
            other => return Err(malformed(format!("TinyPoint dimension byte {other}"))),
        };
        let kind = Kind {
            shape: GeometryShape::Point,
            dims,
            compressed: false,
        };
        return Ok((kind, srid));
    }
    cursor.take(4 * 8, INSIDE)?;
    cursor.u8(INSIDE)?;
    Ok((class(cursor.u32(INSIDE)?)?, srid))
}

/// A class type: the WKB code of the 2D shape, plus 1000 for Z, 2000 for
/// M, 3000 for ZM, plus 1000000 for a compressed line or polygon.
fn class(code: u32) -> Result<Kind, GeometryError> {
    let unknown = GeometryError::UnknownType {
        format: "SpatiaLite",
        code,
    };
    let compressed = match code / COMPRESSED {
        0 => false,
        1 => true,
        _ => return Err(unknown),
    };
    let rest = code % COMPRESSED;
    let dims = match rest / 1000 {
        0 => Dims::default(),
        1 => Dims { z: true, m: false },
        2 => Dims { z: false, m: true },
        3 => Dims { z: true, m: true },
        _ => return Err(unknown),
    };
    let shape = GeometryShape::from_wkb_code(rest % 1000).ok_or(unknown.clone())?;
    if compressed && !matches!(shape, GeometryShape::LineString | GeometryShape::Polygon) {
        return Err(unknown);
    }
    Ok(Kind {
        shape,
        dims,
        compressed,
    })
}

/// Reads the end marker that follows the geometry.
pub(crate) fn read_end(cursor: &mut Cursor<'_>) -> Result<(), GeometryError> {
    match cursor.u8("a SpatiaLite end marker")? {
        END => Ok(()),
        other => Err(malformed(format!(
            "{other:#04x} where the end marker 0xfe belongs"
        ))),
    }
}

/// SpatiaLite's layout.
pub(crate) struct SpatiaLite;

impl Layout for SpatiaLite {
    /// The entity marker and a class type.
    const MEMBER_BYTES: usize = 5;

    fn point_bytes(kind: Kind) -> usize {
        match kind.compressed {
            true => 4 * (2 + usize::from(kind.dims.z)) + 8 * usize::from(kind.dims.m),
            false => 8 * kind.dims.count(),
        }
    }

    fn member(cursor: &mut Cursor<'_>) -> Result<Kind, GeometryError> {
        match cursor.u8("a collection member")? {
            ENTITY => class(cursor.u32("a collection member")?),
            other => Err(malformed(format!(
                "{other:#04x} where a member's marker 0x69 belongs"
            ))),
        }
    }

    fn points(
        cursor: &mut Cursor<'_>,
        kind: Kind,
        count: u32,
        out: &mut Writer,
    ) -> Result<(), GeometryError> {
        let dims = kind.dims.count();
        let mut previous = [0.0; 4];
        for i in 0..count {
            let point = if !kind.compressed || i == 0 || i == count - 1 {
                cursor.point(kind.dims)?
            } else {
                // SpatiaLite adds each float delta to the previous point
                // as decoded, in double precision: so do we.
                let mut point = previous;
                let deltas = 2 + usize::from(kind.dims.z);
                for (coordinate, last) in point[..deltas].iter_mut().zip(previous) {
                    *coordinate = last + f64::from(cursor.f32("a compressed point")?);
                }
                if kind.dims.m {
                    point[deltas] = cursor.f64("a compressed point")?;
                }
                point
            };
            out.coordinates(&point[..dims]);
            previous = point;
        }
        Ok(())
    }
}
