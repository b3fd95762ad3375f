//! Geometry blobs of SQLite files → PostGIS EWKB: a pure codec.
//!
//! Three containers carry geometries in SQLite: GeoPackage's (a `GP`
//! header with the `srs_id` and an optional envelope, then ISO WKB),
//! SpatiaLite's own (a `0x00` start, byte order, SRID, MBR, `0x7C`, a
//! class type, the geometry, `0xFE`; with compressed lines and polygons,
//! and the short TinyPoint form) and plain OGC WKB or EWKB. [`to_ewkb`]
//! reads any of them, in either byte order, and writes the EWKB that
//! PostGIS's binary send function produces for the same geometry (see
//! [`PgValue::Geometry`](ferry_model::PgValue::Geometry)), so that the
//! value COPY sends is byte for byte the value `verify` reads back.
//!
//! It refuses, with a [`GeometryError`] and never a panic, what PostGIS
//! would refuse (a line string of one point, an open polygon ring, a line
//! in a multipoint, mixed dimensions) and what it does not convert
//! (curves, GeoPackage's extended types). Counts are checked against the
//! bytes left before anything is read, and output grows only with input
//! read, so a hostile count cannot make it allocate.
//!
//! Formats: <https://www.geopackage.org/spec/#gpb_format>,
//! <https://www.gaia-gis.it/gaia-sins/BLOB-Geometry.html>,
//! <https://postgis.net/docs/using_postgis_dbmanagement.html#EWKB_EWKT>.

mod error;
mod ewkb;
mod gpkg;
mod spatialite;
mod wkb;

use std::fmt;

use ferry_model::GeometryShape;

pub use error::GeometryError;

/// Collections nested deeper than this are refused: no real file nests
/// them at all, and the reader recurses.
const MAX_DEPTH: usize = 32;

/// The container of a geometry blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// A GeoPackage binary header, then WKB.
    GeoPackage,
    /// SpatiaLite's internal format (TinyPoint included).
    SpatiaLite,
    /// OGC WKB, or PostGIS EWKB, alone.
    Wkb,
}

/// The spatial reference a blob names, for the caller to turn into a
/// PostGIS SRID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceSrid {
    /// A GeoPackage `srs_id` or SpatiaLite `srid`: an id of the file's
    /// own reference systems.
    File(i32),
    /// An EWKB SRID, already PostGIS's.
    Ewkb(i32),
    /// Plain WKB names none.
    None,
}

/// Whether a geometry has Z and M coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dims {
    /// Has Z.
    pub z: bool,
    /// Has M.
    pub m: bool,
}

impl Dims {
    /// Coordinates per point: 2 to 4.
    fn count(self) -> usize {
        2 + usize::from(self.z) + usize::from(self.m)
    }
}

impl fmt::Display for Dims {
    /// ``, ` Z`, ` M` or ` ZM`, as after a WKT type name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.z, self.m) {
            (false, false) => "",
            (true, false) => " Z",
            (false, true) => " M",
            (true, true) => " ZM",
        })
    }
}

/// What a geometry's header says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    /// Its shape.
    pub shape: GeometryShape,
    /// Its dimensions.
    pub dims: Dims,
    /// SpatiaLite only: its points after the first are float deltas.
    pub compressed: bool,
}

/// A geometry as PostGIS EWKB, and what its outer header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ewkb {
    /// The EWKB bytes.
    pub bytes: Vec<u8>,
    /// The outer geometry's shape and dimensions.
    pub kind: Kind,
    /// Its SRID (0: none).
    pub srid: i32,
}

/// The container of `blob`, from its first bytes and the markers its
/// format puts at fixed places; `None` when it is none of them.
pub(crate) fn detect_format(blob: &[u8]) -> Option<Format> {
    if blob.starts_with(b"GP") {
        return Some(Format::GeoPackage);
    }
    if spatialite::is_spatialite(blob) {
        return Some(Format::SpatiaLite);
    }
    match blob.first() {
        Some(0 | 1) if blob.len() >= 5 => Some(Format::Wkb),
        _ => None,
    }
}

/// Converts a geometry blob to the EWKB PostGIS stores and sends.
/// `srid_for` turns the reference the blob names into the PostGIS SRID
/// to write (and may refuse it).
pub(crate) fn to_ewkb(
    blob: &[u8],
    srid_for: impl FnOnce(SourceSrid) -> Result<i32, GeometryError>,
) -> Result<Ewkb, GeometryError> {
    let format = detect_format(blob).ok_or(GeometryError::UnknownFormat)?;
    let mut cursor = Cursor::new(blob);
    let (kind, named) = match format {
        Format::GeoPackage => {
            let srs_id = gpkg::read_header(&mut cursor)?;
            (
                wkb::read_header(&mut cursor)?.kind,
                SourceSrid::File(srs_id),
            )
        }
        Format::SpatiaLite => {
            let (kind, srid) = spatialite::read_header(&mut cursor)?;
            (kind, SourceSrid::File(srid))
        }
        Format::Wkb => {
            let header = wkb::read_header(&mut cursor)?;
            let named = header.srid.map_or(SourceSrid::None, SourceSrid::Ewkb);
            (header.kind, named)
        }
    };
    let srid = srid_for(named)?;
    let mut out = ewkb::Writer::with_capacity(blob.len() + 8);
    out.header(kind, srid);
    if format == Format::SpatiaLite {
        ewkb::write_body::<spatialite::SpatiaLite>(&mut cursor, kind, &mut out, 0)?;
        spatialite::read_end(&mut cursor)?;
    } else {
        ewkb::write_body::<wkb::Wkb>(&mut cursor, kind, &mut out, 0)?;
    }
    cursor.finish()?;
    Ok(Ewkb {
        bytes: out.into_bytes(),
        kind,
        srid,
    })
}

/// The shape of a 2D type code shared by WKB and SpatiaLite (1 to 7);
/// the OGC codes of curves and surfaces are refused by name.
fn shape_of_code(
    base: u32,
    format: &'static str,
    code: u32,
) -> Result<GeometryShape, GeometryError> {
    if let Some(shape) = GeometryShape::from_wkb_code(base) {
        return Ok(shape);
    }
    let name = match base {
        8 => "CircularString",
        9 => "CompoundCurve",
        10 => "CurvePolygon",
        11 => "MultiCurve",
        12 => "MultiSurface",
        13 => "Curve",
        14 => "Surface",
        15 => "PolyhedralSurface",
        16 => "TIN",
        17 => "Triangle",
        _ => return Err(GeometryError::UnknownType { format, code }),
    };
    Err(GeometryError::Unsupported { name })
}

/// Reads a blob front to back in the byte order its header chose.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Numbers are little-endian (else big-endian).
    pub little: bool,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor {
            bytes,
            pos: 0,
            little: true,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes; `inside` names what they belong to.
    fn take(&mut self, n: usize, inside: &'static str) -> Result<&'a [u8], GeometryError> {
        if n > self.remaining() {
            return Err(GeometryError::Truncated {
                len: self.bytes.len(),
                inside,
            });
        }
        let taken = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, inside: &'static str) -> Result<[u8; N], GeometryError> {
        let bytes = self.take(N, inside)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        if !self.little {
            array.reverse();
        }
        Ok(array)
    }

    fn u8(&mut self, inside: &'static str) -> Result<u8, GeometryError> {
        Ok(self.take(1, inside)?[0])
    }

    fn u32(&mut self, inside: &'static str) -> Result<u32, GeometryError> {
        self.array(inside).map(u32::from_le_bytes)
    }

    fn i32(&mut self, inside: &'static str) -> Result<i32, GeometryError> {
        self.array(inside).map(i32::from_le_bytes)
    }

    fn f32(&mut self, inside: &'static str) -> Result<f32, GeometryError> {
        self.array(inside).map(f32::from_le_bytes)
    }

    fn f64(&mut self, inside: &'static str) -> Result<f64, GeometryError> {
        self.array(inside).map(f64::from_le_bytes)
    }

    /// A point's coordinates; those past `dims.count()` are 0.
    fn point(&mut self, dims: Dims) -> Result<[f64; 4], GeometryError> {
        let mut point = [0.0; 4];
        for coordinate in &mut point[..dims.count()] {
            *coordinate = self.f64("a point")?;
        }
        Ok(point)
    }

    /// A count of `what`, each at least `min_bytes` long: refused when
    /// the rest of the blob could not hold them.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<u32, GeometryError> {
        let count = self.u32("a count")?;
        let remaining = self.remaining();
        if (count as usize).saturating_mul(min_bytes) > remaining {
            return Err(GeometryError::BadCount {
                count,
                what,
                remaining,
            });
        }
        Ok(count)
    }

    /// Succeeds when every byte was read.
    fn finish(&self) -> Result<(), GeometryError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(GeometryError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
