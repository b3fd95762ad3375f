//! The GeoPackage binary header: `GP`, a version, flags, the `srs_id`
//! and an optional envelope, then standard WKB
//! (<https://www.geopackage.org/spec/#gpb_format>).

use super::{Cursor, GeometryError};

/// Flag bits: header byte order, envelope contents, empty geometry,
/// extended type, and two reserved bits.
const LITTLE_ENDIAN: u8 = 0b0000_0001;
const ENVELOPE: u8 = 0b0000_1110;
const EXTENDED: u8 = 0b0010_0000;
const RESERVED: u8 = 0b1100_0000;

fn malformed(reason: String) -> GeometryError {
    GeometryError::header("GeoPackage", reason)
}

/// Reads the header up to the WKB and returns its `srs_id`. The empty
/// flag is not needed: the WKB that follows says the same (an empty
/// point as NaN coordinates).
pub(crate) fn read_header(cursor: &mut Cursor<'_>) -> Result<i32, GeometryError> {
    const INSIDE: &str = "a GeoPackage header";
    cursor.take(2, INSIDE)?;
    let version = cursor.u8(INSIDE)?;
    if version != 0 {
        return Err(malformed(format!(
            "version byte {version} (GeoPackage 1 writes 0)"
        )));
    }
    let flags = cursor.u8(INSIDE)?;
    if flags & RESERVED != 0 {
        return Err(malformed(format!("reserved flag bits set ({flags:#04x})")));
    }
    if flags & EXTENDED != 0 {
        return Err(GeometryError::Unsupported {
            name: "GeoPackage extended geometry type",
        });
    }
    cursor.little = flags & LITTLE_ENDIAN != 0;
    let envelope_doubles = match (flags & ENVELOPE) >> 1 {
        0 => 0,
        1 => 4,
        2 | 3 => 6,
        4 => 8,
        other => return Err(malformed(format!("envelope code {other} (0 to 4 exist)"))),
    };
    let srs_id = cursor.i32(INSIDE)?;
    cursor.take(envelope_doubles * 8, "a GeoPackage envelope")?;
    Ok(srs_id)
}
