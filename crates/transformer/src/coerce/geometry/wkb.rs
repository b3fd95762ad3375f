//! OGC WKB (ISO type codes: 1001 for a point Z) and PostGIS EWKB (flags:
//! `0x80000000` Z, `0x40000000` M, `0x20000000` SRID), in either byte
//! order; every geometry, member or not, starts with its own byte order.

use super::ewkb::{Layout, Writer};
use super::{shape_of_code, Cursor, Dims, GeometryError, Kind};

/// EWKB's flags, and the bounding-box flag PostGIS never writes in WKB.
const Z_FLAG: u32 = 0x8000_0000;
const M_FLAG: u32 = 0x4000_0000;
const SRID_FLAG: u32 = 0x2000_0000;
const BBOX_FLAG: u32 = 0x1000_0000;

/// A WKB geometry's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Shape and dimensions.
    pub kind: Kind,
    /// The SRID an EWKB header carries.
    pub srid: Option<i32>,
}

/// Reads a byte order, a type code and, in EWKB with the flag, an SRID;
/// later numbers are read in that byte order.
pub(crate) fn read_header(cursor: &mut Cursor<'_>) -> Result<Header, GeometryError> {
    const INSIDE: &str = "a WKB header";
    cursor.little = match cursor.u8(INSIDE)? {
        0 => false,
        1 => true,
        other => {
            let reason = format!("byte order {other} is neither 0 nor 1");
            return Err(GeometryError::header("WKB", reason));
        }
    };
    let code = cursor.u32(INSIDE)?;
    let unknown = GeometryError::UnknownType {
        format: "WKB",
        code,
    };
    if code & BBOX_FLAG != 0 {
        return Err(unknown);
    }
    let iso = code & !(Z_FLAG | M_FLAG | SRID_FLAG);
    let (iso_z, iso_m) = match iso / 1000 {
        0 => (false, false),
        1 => (true, false),
        2 => (false, true),
        3 => (true, true),
        _ => return Err(unknown),
    };
    let dims = Dims {
        z: iso_z || code & Z_FLAG != 0,
        m: iso_m || code & M_FLAG != 0,
    };
    let shape = shape_of_code(iso % 1000, "WKB", code)?;
    let srid = match code & SRID_FLAG {
        0 => None,
        _ => Some(cursor.i32(INSIDE)?),
    };
    Ok(Header {
        kind: Kind {
            shape,
            dims,
            compressed: false,
        },
        srid,
    })
}

/// WKB's layout: members are whole WKB geometries (an SRID on one is
/// dropped, as PostGIS does), points plain doubles.
pub(crate) struct Wkb;

impl Layout for Wkb {
    /// A byte order and a type code.
    const MEMBER_BYTES: usize = 5;

    fn point_bytes(kind: Kind) -> usize {
        kind.dims.count() * 8
    }

    fn member(cursor: &mut Cursor<'_>) -> Result<Kind, GeometryError> {
        read_header(cursor).map(|header| header.kind)
    }

    fn points(
        cursor: &mut Cursor<'_>,
        kind: Kind,
        count: u32,
        out: &mut Writer,
    ) -> Result<(), GeometryError> {
        let dims = kind.dims.count();
        for _ in 0..count {
            out.coordinates(&cursor.point(kind.dims)?[..dims]);
        }
        Ok(())
    }
}
