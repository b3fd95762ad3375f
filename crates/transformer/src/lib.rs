//! ferry-transformer: decides what the Postgres side looks like, and turns
//! each SQLite value into a value of that shape, exactly or not at all.
//!
//! Pure: no I/O. Data flows through it in two steps:
//!
//! 1. [`plan_tables`] turns the reader's [`SourceSchema`](ferry_model::SourceSchema)
//!    and the caller's [`PlanOptions`] (ferry.toml, flags) into one
//!    [`TablePlan`](ferry_model::TablePlan) per table: target names, types
//!    from [`map_type`], defaults, keys, indexes and foreign keys, with a
//!    warning for everything not carried over faithfully. A table given a
//!    [`PartitionSpec`] gets a [`PartitionPlan`](ferry_model::PartitionPlan)
//!    and keys reshaped the way Postgres requires of partitioned tables.
//! 2. [`coerce`] turns each [`SourceValueRef`](ferry_model::SourceValueRef)
//!    into a [`PgValue`](ferry_model::PgValue) of its column's type, or a
//!    [`CoerceError`] that says why not and what to do. The same function
//!    drives [`TableProfiler`], so `ferry plan --profile` predicts exactly
//!    which values a copy would refuse.
//!
//! # Type mapping
//!
//! The first matching rule wins; names are compared case-insensitively.
//! Any column can be given another type in ferry.toml (`type = "text"`).
//! NULL is accepted by every type. "Exact" means the value reads back
//! unchanged; nothing is rounded, trimmed or guessed.
//!
//! | Declared SQLite type | Postgres type | Values accepted |
//! |---|---|---|
//! | contains `BOOL` | `boolean` | INTEGER 0/1; REAL 0.0/1.0; TEXT `t`/`f`, `true`/`false`, `y`/`n`, `yes`/`no`, `on`/`off`, `1`/`0` (any case, no spaces) |
//! | contains `DATETIME` or `TIMESTAMP` | `timestamptz` | TEXT `YYYY-MM-DD[( \|T)HH:MM[:SS[.f…]]][Z\|±HH:MM\|±HHMM\|±HH]`, years 0001-9999, strictly valid calendar and clock, at most microseconds (extra digits must be zeros); without an offset the column's `naive_timezone` (default UTC) applies. INTEGER: unix epoch seconds. REAL: julian day number, computed on the double's exact value and rounded once to the nearest microsecond, a tie (a julian day of `x + odd/16384`) to the later one. Within Postgres's range (4713 BC - 294276 AD) |
//! | the word `DATE` | `date` | TEXT `YYYY-MM-DD`, or a datetime text at exactly midnight without offset; INTEGER: unix epoch seconds that are a multiple of 86400; REAL: julian day ending in .5 (midnight) |
//! | contains `JSON` | `jsonb` | TEXT or BLOB holding valid UTF-8 JSON (`null` included) without `\u0000` or unpaired surrogate escapes; finite INTEGER/REAL as JSON numbers |
//! | contains `UUID` or `GUID` | `uuid` | TEXT as 32 hex digits, hyphenated 8-4-4-4-12, `{…}` or `urn:uuid:…`, any case; BLOB of exactly 16 bytes |
//! | contains `INT` (integer affinity) | `bigint` | INTEGER; REAL with an integral value in range (3.0); TEXT exactly `[+-]?[0-9]+` in range |
//! | contains `CHAR`, `CLOB` or `TEXT` | `text` | TEXT that is valid UTF-8 without NUL (else refused, unless `strip_nul = true` / `invalid_utf8 = "replace"`); INTEGER as decimal; REAL as shortest round-trip text (`3.0`, `1e300`); BLOB that is valid UTF-8 without NUL |
//! | contains `BLOB` | `bytea` | BLOB; TEXT as its bytes |
//! | contains `REAL`, `FLOA` or `DOUB` | `double precision` | REAL; INTEGER exactly representable (±2^53 and others that round-trip); TEXT decimal/exponent numbers to the nearest double, `NaN`, `Infinity`, `-Infinity` (overflow and underflow refused) |
//! | `NUMERIC`/`DECIMAL` | `numeric` | INTEGER; REAL as its shortest round-trip decimal (NaN, ±Infinity kept; -0.0 becomes 0); TEXT decimal numbers, exponent allowed, stored without exponent keeping the written scale |
//! | `NUMERIC(p,s)`/`DECIMAL(p,s)` | `numeric(p,s)` | as `numeric`, refused when more than `s` significant fraction digits (would round) or more than `p-s` integer digits; padded to scale `s`. Invalid `p,s` (p outside 1-1000, s > p) → plain `numeric` with a warning |
//! | a geometry type (`GEOMETRY`, `POINT`, `LINESTRING`, `POLYGON`, their `MULTI…` forms, `GEOMETRYCOLLECTION`, curves and surfaces, with `Z`/`M`/`ZM`), or a column in the file's geometry metadata | `bytea` (note) | the GeoPackage or SpatiaLite blob, byte for byte |
//! | the same under [`GeometryMode::Postgis`] (not curves or surfaces, which stay `bytea`) | `geometry(Type[Z][M],SRID)` when the metadata (`gpkg_geometry_columns`, SpatiaLite's `geometry_columns`) fixes shape, dimensions and SRID, else `geometry` (note) | BLOB in GeoPackage binary, SpatiaLite's format or WKB/EWKB, either byte order, converted to the EWKB PostGIS stores with its SRID (a GeoPackage `srs_id` of organization EPSG becomes its code; an unknown SRID the column's); refused: what PostGIS refuses (a one-point line, a short or open ring, a line in a multipoint, mixed dimensions), curves, extended GeoPackage types, values the typmod does not allow |
//! | no declared type | `text` (warning) | as `text`; override in ferry.toml if the column holds blobs |
//! | any other name (`YEAR`, `LONG`, `MONEY`, `STRING`…): NUMERIC affinity | `numeric` (warning) | as `numeric`; stored text widens the column to `text` (types from stored values) |
//!
//! Types only reachable through ferry.toml: `integer` and `smallint` (as
//! `bigint`, range-checked), `real` (as `double precision`, but a REAL or
//! INTEGER must be exactly representable as float4; TEXT goes to the
//! nearest float4), `timestamp` (as `timestamptz`, with offsets
//! converted to UTC and naive values kept as written), and `geometry`,
//! `geometry(Type[Z][M][,SRID])` (as under [`GeometryMode::Postgis`]).
//! Typmods ([`ferry_model::Typmod`]) narrow a type whose binary format
//! they leave alone; a value Postgres would change for them is refused:
//! `varchar(n)` more than n characters, `char(n)` more than n characters
//! or shorter and ending in a space (shorter values are padded, as
//! Postgres stores them), `timestamp(p)`/`timestamptz(p)` more than p
//! fractional digits. A type only the target knows (a domain, an enum,
//! `citext`: [`ferry_model::NamedType`]) is planned as the type its
//! values travel in, which the engine learns from the target; until then
//! as the column's mapped type, with a warning.
//!
//! A naive datetime's `naive_timezone` ([`ferry_model::NaiveZone`]) is a
//! fixed offset or an IANA zone: the offset in force at that local time,
//! the later instant of a local time that occurs twice (as Postgres's
//! `AT TIME ZONE`), refused in the hour clocks skip.
//!
//! # Example
//!
//! ```
//! use ferry_model::{SourceColumn, SourceSchema, SourceValueRef, PgValue, TableSchema};
//! use ferry_transformer::{coerce, plan_tables, PlanOptions};
//!
//! let mut at = SourceColumn::new("At", "DATETIME");
//! at.not_null = true;
//! at.default_sql = Some("CURRENT_TIMESTAMP".into());
//! let schema = SourceSchema {
//!     tables: vec![TableSchema::new("Events", vec![at])],
//!     skipped: vec![],
//!     spatial: Default::default(),
//! };
//! let options = PlanOptions {
//!     schema: "public".into(),
//!     tables: vec!["Events".into()],
//!     ..PlanOptions::default()
//! };
//! let plans = plan_tables(&schema, &options).unwrap();
//! let at = &plans[0].columns[0];
//! assert_eq!((plans[0].name.as_str(), at.name.as_str()), ("events", "at"));
//! assert_eq!(at.pg_type.to_string(), "timestamptz");
//! assert_eq!(at.default_sql.as_deref(), Some("CURRENT_TIMESTAMP"));
//!
//! // One microsecond after 2000-01-01 00:00 UTC, Postgres's epoch.
//! let value = coerce(at, SourceValueRef::Text(b"2000-01-01 02:00:00.000001+02:00"));
//! assert_eq!(value, Ok(PgValue::Timestamptz(1)));
//! let bad = coerce(at, SourceValueRef::Text(b"2023-02-30")).unwrap_err();
//! assert_eq!(
//!     bad.to_string(),
//!     "'2023-02-30' is not a valid date (February has 28 days in 2023); \
//!      fix the value or map the column to text in ferry.toml"
//! );
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod coerce;
mod constraints;
mod defaults;
mod error;
mod mapping;
mod names;
mod options;
mod partition;
mod plan;
mod predicate;
mod profile;
mod spatial;
mod stored;

pub use coerce::coerce;
pub use error::{CoerceError, TransformError};
pub use mapping::{map_type, Mapping};
pub use names::target_name;
pub use options::{ColumnOverride, IdentifierCase, PlanOptions, TableOverride};
pub use partition::{PartitionSpec, SpecOrigin, MAX_HASH_LEAVES};
pub use plan::plan_tables;
pub use profile::{BadExample, ColumnProfile, StorageCounts, TableProfile, TableProfiler};
pub use spatial::{postgis_owned_tables, GeometryMode};
pub use stored::{certainly_fits_sql, StoredValues};
