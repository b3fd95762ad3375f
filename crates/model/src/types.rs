//! Postgres column types ferry creates.

use std::fmt;
use std::str::FromStr;

/// A Postgres column type ferry knows how to create, fill and verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `boolean`
    Boolean,
    /// `smallint`
    SmallInt,
    /// `integer`
    Integer,
    /// `bigint`
    BigInt,
    /// `real` (float4)
    Real,
    /// `double precision` (float8)
    DoublePrecision,
    /// `numeric`, optionally `numeric(precision, scale)`.
    Numeric(Option<(u16, u16)>),
    /// `text`
    Text,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `timestamp` (without time zone)
    Timestamp,
    /// `timestamptz`
    Timestamptz,
    /// `jsonb`
    Jsonb,
    /// `uuid`
    Uuid,
    /// PostGIS's `geometry`, constrained by its typmod when that fixes
    /// anything (`geometry(PointZ,4326)`), plain `geometry` otherwise.
    Geometry(GeometryTypmod),
}

impl PgType {
    /// Every type ferry creates, in declaration order, for the tests and
    /// tools that must cover them all. `numeric` is listed plain and with a
    /// typmod (`numeric(30,6)`: values are checked and padded only then);
    /// `geometry` plain, as it holds any shape.
    pub const ALL: [PgType; 16] = [
        PgType::Boolean,
        PgType::SmallInt,
        PgType::Integer,
        PgType::BigInt,
        PgType::Real,
        PgType::DoublePrecision,
        PgType::Numeric(None),
        PgType::Numeric(Some((30, 6))),
        PgType::Text,
        PgType::Bytea,
        PgType::Date,
        PgType::Timestamp,
        PgType::Timestamptz,
        PgType::Jsonb,
        PgType::Uuid,
        PgType::Geometry(GeometryTypmod {
            shape: None,
            z: false,
            m: false,
            srid: 0,
        }),
    ];
}

/// The simple-features shapes a PostGIS `geometry` typmod can fix; their
/// numbers are the WKB type codes, their names what PostGIS prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeometryShape {
    /// `Point` (WKB 1).
    Point,
    /// `LineString` (WKB 2).
    LineString,
    /// `Polygon` (WKB 3).
    Polygon,
    /// `MultiPoint` (WKB 4).
    MultiPoint,
    /// `MultiLineString` (WKB 5).
    MultiLineString,
    /// `MultiPolygon` (WKB 6).
    MultiPolygon,
    /// `GeometryCollection` (WKB 7).
    GeometryCollection,
}

impl GeometryShape {
    /// Every shape, in WKB code order.
    pub const ALL: [GeometryShape; 7] = [
        GeometryShape::Point,
        GeometryShape::LineString,
        GeometryShape::Polygon,
        GeometryShape::MultiPoint,
        GeometryShape::MultiLineString,
        GeometryShape::MultiPolygon,
        GeometryShape::GeometryCollection,
    ];

    /// The WKB type code of the 2D shape (1 to 7).
    pub fn wkb_code(self) -> u32 {
        match self {
            GeometryShape::Point => 1,
            GeometryShape::LineString => 2,
            GeometryShape::Polygon => 3,
            GeometryShape::MultiPoint => 4,
            GeometryShape::MultiLineString => 5,
            GeometryShape::MultiPolygon => 6,
            GeometryShape::GeometryCollection => 7,
        }
    }

    /// The shape of a WKB type code 1 to 7.
    pub fn from_wkb_code(code: u32) -> Option<GeometryShape> {
        GeometryShape::ALL
            .into_iter()
            .find(|s| s.wkb_code() == code)
    }

    /// The name PostGIS prints (`MultiPolygon`).
    pub fn name(self) -> &'static str {
        match self {
            GeometryShape::Point => "Point",
            GeometryShape::LineString => "LineString",
            GeometryShape::Polygon => "Polygon",
            GeometryShape::MultiPoint => "MultiPoint",
            GeometryShape::MultiLineString => "MultiLineString",
            GeometryShape::MultiPolygon => "MultiPolygon",
            GeometryShape::GeometryCollection => "GeometryCollection",
        }
    }

    /// The shape named `name`, in any case (`POINT`, `MultiPolygon`).
    pub fn from_name(name: &str) -> Option<GeometryShape> {
        GeometryShape::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The shape of a collection's members: `Point` for `MultiPoint`…;
    /// `None` for a `GeometryCollection` (any member) and the
    /// non-collections.
    pub fn member(self) -> Option<GeometryShape> {
        match self {
            GeometryShape::MultiPoint => Some(GeometryShape::Point),
            GeometryShape::MultiLineString => Some(GeometryShape::LineString),
            GeometryShape::MultiPolygon => Some(GeometryShape::Polygon),
            _ => None,
        }
    }
}

impl fmt::Display for GeometryShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a PostGIS `geometry` column's typmod fixes. All unset (the
/// default) is plain `geometry`, which holds any shape, dimensions and
/// SRID.
///
/// PostGIS checks a typmod's dimensions whenever it has one: a
/// `geometry(Geometry,4326)` column refuses a `POINT Z`. So `z` and `m`
/// are only meaningful with a shape or an SRID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct GeometryTypmod {
    /// The one shape allowed; `None` for any (`Geometry`).
    pub shape: Option<GeometryShape>,
    /// Values have a Z coordinate (and must).
    pub z: bool,
    /// Values have an M coordinate (and must).
    pub m: bool,
    /// The one SRID allowed; 0 for any.
    pub srid: i32,
}

impl GeometryTypmod {
    /// Whether the typmod fixes nothing: plain `geometry`.
    pub fn is_unconstrained(&self) -> bool {
        *self == GeometryTypmod::default()
    }

    /// `(PointZ,4326)`, `(Geometry,3857)`, `(LineString)`; empty when
    /// unconstrained. PostGIS's `postgis_typmod_out` prints the same.
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unconstrained() {
            return Ok(());
        }
        let name = self.shape.map_or("Geometry", GeometryShape::name);
        let z = if self.z { "Z" } else { "" };
        let m = if self.m { "M" } else { "" };
        write!(f, "({name}{z}{m}")?;
        if self.srid != 0 {
            write!(f, ",{}", self.srid)?;
        }
        f.write_str(")")
    }

    /// Parses what [`GeometryTypmod::write`] prints, lower-cased, without
    /// the parentheses: `pointz,4326`.
    fn parse(inner: &str) -> Option<GeometryTypmod> {
        let (name, srid) = match inner.split_once(',') {
            Some((name, srid)) => (name.trim(), srid.trim().parse::<i32>().ok()?),
            None => (inner.trim(), 0),
        };
        let (name, z, m) = if let Some(name) = name.strip_suffix("zm") {
            (name, true, true)
        } else if let Some(name) = name.strip_suffix('z') {
            (name, true, false)
        } else if let Some(name) = name.strip_suffix('m') {
            (name, false, true)
        } else {
            (name, false, false)
        };
        let shape = match name {
            "geometry" => None,
            _ => Some(GeometryShape::from_name(name)?),
        };
        Some(GeometryTypmod { shape, z, m, srid })
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgType::Boolean => f.write_str("boolean"),
            PgType::SmallInt => f.write_str("smallint"),
            PgType::Integer => f.write_str("integer"),
            PgType::BigInt => f.write_str("bigint"),
            PgType::Real => f.write_str("real"),
            PgType::DoublePrecision => f.write_str("double precision"),
            PgType::Numeric(None) => f.write_str("numeric"),
            PgType::Numeric(Some((p, s))) => write!(f, "numeric({p},{s})"),
            PgType::Text => f.write_str("text"),
            PgType::Bytea => f.write_str("bytea"),
            PgType::Date => f.write_str("date"),
            PgType::Timestamp => f.write_str("timestamp"),
            PgType::Timestamptz => f.write_str("timestamptz"),
            PgType::Jsonb => f.write_str("jsonb"),
            PgType::Uuid => f.write_str("uuid"),
            PgType::Geometry(typmod) => {
                f.write_str("geometry")?;
                typmod.write(f)
            }
        }
    }
}

/// A type name in a config file that ferry cannot create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePgTypeError(pub String);

impl fmt::Display for ParsePgTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown Postgres type '{}'; use one of boolean, smallint, integer, bigint, real, \
             double precision, numeric, numeric(p,s), text, varchar, varchar(n), char(n), bytea, \
             date, timestamp, timestamp(p), timestamptz, timestamptz(p), jsonb, uuid, geometry, \
             geometry(Type[Z][M][,SRID]) (PostGIS): ferry sends these in their binary COPY \
             format exactly",
            self.0
        )
    }
}

impl std::error::Error for ParsePgTypeError {}

impl FromStr for PgType {
    type Err = ParsePgTypeError;

    /// Accepts the names Postgres prints and their common aliases
    /// (`int8`, `float8`, `bool`, `timestamp with time zone`, `decimal`…).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_ascii_lowercase();
        let normalized = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
        let err = || ParsePgTypeError(s.to_owned());
        if let Some(args) = normalized
            .strip_prefix("numeric")
            .or_else(|| normalized.strip_prefix("decimal"))
        {
            let args = args.trim();
            if args.is_empty() {
                return Ok(PgType::Numeric(None));
            }
            let inner = args
                .strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'))
                .ok_or_else(err)?;
            let mut parts = inner.split(',').map(|p| p.trim().parse::<u16>());
            let precision = parts.next().ok_or_else(err)?.map_err(|_| err())?;
            let scale = match parts.next() {
                Some(scale) => scale.map_err(|_| err())?,
                None => 0,
            };
            if parts.next().is_some() || precision == 0 || precision > 1000 || scale > precision {
                return Err(err());
            }
            return Ok(PgType::Numeric(Some((precision, scale))));
        }
        if let Some(args) = normalized.strip_prefix("geometry") {
            let args = args.trim();
            if args.is_empty() {
                return Ok(PgType::Geometry(GeometryTypmod::default()));
            }
            return args
                .strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'))
                .and_then(GeometryTypmod::parse)
                .map(PgType::Geometry)
                .ok_or_else(err);
        }
        Ok(match normalized.as_str() {
            "boolean" | "bool" => PgType::Boolean,
            "smallint" | "int2" => PgType::SmallInt,
            "integer" | "int" | "int4" => PgType::Integer,
            "bigint" | "int8" => PgType::BigInt,
            "real" | "float4" => PgType::Real,
            "double precision" | "float8" | "double" => PgType::DoublePrecision,
            "text" => PgType::Text,
            "bytea" => PgType::Bytea,
            "date" => PgType::Date,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "jsonb" => PgType::Jsonb,
            "uuid" => PgType::Uuid,
            _ => return Err(err()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let typmods = [
            PgType::Geometry(GeometryTypmod {
                shape: Some(GeometryShape::MultiPolygon),
                z: true,
                m: true,
                srid: 4326,
            }),
            PgType::Geometry(GeometryTypmod {
                shape: None,
                z: false,
                m: true,
                srid: 0,
            }),
        ];
        for t in PgType::ALL.into_iter().chain(typmods) {
            assert_eq!(t.to_string().parse::<PgType>(), Ok(t));
        }
    }

    /// Listed once each in [`PgType::ALL`], and named in the message that
    /// lists what a config may ask for.
    #[test]
    fn all_lists_every_variant() {
        // A new variant fails to compile here until it gets a place.
        let place = |t: PgType| match t {
            PgType::Boolean => 0,
            PgType::SmallInt => 1,
            PgType::Integer => 2,
            PgType::BigInt => 3,
            PgType::Real => 4,
            PgType::DoublePrecision => 5,
            PgType::Numeric(None) => 6,
            PgType::Numeric(Some(_)) => 7,
            PgType::Text => 8,
            PgType::Bytea => 9,
            PgType::Date => 10,
            PgType::Timestamp => 11,
            PgType::Timestamptz => 12,
            PgType::Jsonb => 13,
            PgType::Uuid => 14,
            PgType::Geometry(_) => 15,
        };
        let places: Vec<usize> = PgType::ALL.into_iter().map(place).collect();
        assert_eq!(places, (0..PgType::ALL.len()).collect::<Vec<_>>());
        let message = ParsePgTypeError("x".into()).to_string();
        for t in PgType::ALL {
            let name = t.to_string();
            let name = name.split('(').next().unwrap();
            assert!(message.contains(&format!(" {name},")), "{name}");
        }
    }

    #[test]
    fn parses_aliases_and_rejects_nonsense() {
        assert_eq!("DECIMAL(10, 2)".parse(), Ok(PgType::Numeric(Some((10, 2)))));
        assert_eq!("Timestamp With  Time Zone".parse(), Ok(PgType::Timestamptz));
        assert!("varchar(3)".parse::<PgType>().is_err());
        assert!("numeric(2,3)".parse::<PgType>().is_err());
    }

    #[test]
    fn geometry_typmods_read_as_postgis_prints_them() {
        let parsed = |s: &str| s.parse::<PgType>().map(|t| t.to_string());
        assert_eq!(
            parsed("geometry(Point,4326)"),
            Ok("geometry(Point,4326)".into())
        );
        assert_eq!(parsed("GEOMETRY(pointzm)"), Ok("geometry(PointZM)".into()));
        assert_eq!(
            parsed("geometry(Geometry,3857)"),
            Ok("geometry(Geometry,3857)".into())
        );
        assert_eq!(
            parsed("geometry(MultiLineStringM, 2154)"),
            Ok("geometry(MultiLineStringM,2154)".into())
        );
        assert_eq!(parsed("geometry"), Ok("geometry".into()));
        assert!("geometry(Curve)".parse::<PgType>().is_err());
        assert!("geometry(Point,x)".parse::<PgType>().is_err());
        assert!("geometry(Point".parse::<PgType>().is_err());
        for shape in GeometryShape::ALL {
            assert_eq!(GeometryShape::from_wkb_code(shape.wkb_code()), Some(shape));
            assert_eq!(
                GeometryShape::from_name(&shape.name().to_uppercase()),
                Some(shape)
            );
        }
    }
}
