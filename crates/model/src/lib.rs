//! ferry-model: the vocabulary every ferry crate speaks, and nothing else.
//!
//! Data flows through these types in one direction:
//!
//! 1. the reader discovers a [`SourceSchema`] (one [`TableSchema`] per user
//!    table) and streams rows as borrowed [`SourceValueRef`]s, chunk by
//!    [`ChunkRange`];
//! 2. the transformer turns each [`TableSchema`] into a [`TablePlan`] (target
//!    names, [`PgType`]s, keys, indexes) and each source value into a
//!    [`PgValue`];
//! 3. the copy codec (ferry-copy-codec) encodes the values in Postgres's
//!    binary COPY format, and the writer creates what the plan describes
//!    and sends them;
//! 4. the verifier reduces values from both sides to one canonical encoding.
//!
//! No I/O happens here.
//!
//! ```
//! use ferry_model::{quote_ident, PgType};
//! assert_eq!(quote_ident("Order Details"), "\"Order Details\"");
//! assert_eq!("numeric(10,2)".parse::<PgType>().unwrap().to_string(), "numeric(10,2)");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod calendar;
mod column_type;
mod decimal;
mod ident;
mod key;
mod plan;
mod schema;
mod types;
mod uuid;
mod value;
mod words;
mod zone;

pub use calendar::{
    civil_from_days, days_from_civil, format_date, format_timestamp, CivilDateTime, END_DATE,
    END_TIMESTAMP, MICROS_PER_DAY, MICROS_PER_SECOND, MIN_DATE, MIN_TIMESTAMP, PG_EPOCH_JULIAN_DAY,
    PG_EPOCH_UNIX_DAYS, PG_EPOCH_UNIX_SECONDS, SECONDS_PER_DAY,
};
pub use column_type::{ColumnType, NamedType, Typmod};
pub use decimal::{scan_decimal, Decimal};
pub use ident::{quote_ident, quote_literal, quote_qualified};
pub use key::RowKey;
pub use plan::{
    CheckPlan, Coercion, ColumnPlan, ForeignKeyPlan, IndexPlan, InvalidUtf8, Leaf, LeafBound,
    PartitionManager, PartitionPlan, PartitionScheme, PartmanSettings, Reject, SridMap, TablePlan,
    TimeInterval, UniquePlan, UniquePolicy,
};
pub use schema::{
    Affinity, CheckSchema, ChunkRange, ForeignKeySchema, GeometryColumnSchema, IndexOrigin,
    IndexSchema, IndexedColumn, SkippedObject, SourceColumn, SourceSchema, SpatialFormat,
    SpatialMetadata, SpatialRefSys, TableSchema,
};
pub use types::{GeometryShape, GeometryTypmod, ParsePgTypeError, PgType};
pub use uuid::format_uuid;
pub use value::{PgValue, SourceValue, SourceValueRef, StorageClass};
pub use words::{noun, plural};
pub use zone::{NaiveZone, ParseNaiveZoneError, SkippedTime};
