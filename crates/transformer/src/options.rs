//! What the caller decides about the plan: target schema, identifier case,
//! which tables, and the per-table settings of ferry.toml.

use std::collections::BTreeMap;

use ferry_model::{InvalidUtf8, NaiveZone, NamedType, PgType, Typmod};

use crate::partition::PartitionSpec;
use crate::spatial::GeometryMode;

/// How source names become Postgres names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdentifierCase {
    /// Unicode-lowercase every name (the default), so the target can be
    /// queried without quoting.
    #[default]
    Lower,
    /// Keep names exactly as declared; they must then be quoted in queries.
    Preserve,
}

/// Everything [`plan_tables`](crate::plan_tables) needs besides the schema.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Target Postgres schema.
    pub schema: String,
    /// How names are folded.
    pub identifiers: IdentifierCase,
    /// Source table names to plan, in order (filters already applied).
    pub tables: Vec<String>,
    /// Where datetimes written without an offset are local time.
    pub naive_timezone: NaiveZone,
    /// ferry.toml's `[tables.NAME]` sections, keyed by source table name.
    pub overrides: BTreeMap<String, TableOverride>,
    /// What geometry columns become.
    pub geometry: GeometryMode,
}

/// ferry.toml's `[tables.NAME]`.
#[derive(Clone, Debug, Default)]
pub struct TableOverride {
    /// Target table name, taken as given (no case folding).
    pub rename: Option<String>,
    /// `[tables.NAME.columns.COLUMN]`, keyed by source column name.
    pub columns: BTreeMap<String, ColumnOverride>,
    /// `partition = { … }`: create the table partitioned.
    pub partition: Option<PartitionSpec>,
    /// The source's primary key holds NULLs in these rows (said for the
    /// warning, e.g. `2 rows, first at a=NULL, b=1`), which no Postgres
    /// key can: it becomes a UNIQUE constraint over nullable columns,
    /// which treats NULLs as distinct, as SQLite's key does.
    pub key_with_nulls: Option<String>,
}

/// ferry.toml's `[tables.NAME.columns.COLUMN]`.
#[derive(Clone, Debug, Default)]
pub struct ColumnOverride {
    /// Postgres type instead of the mapped one.
    pub pg_type: Option<PgType>,
    /// The typmod `pg_type` is declared with (`varchar(5)`: text, at most
    /// 5 characters); ignored without `pg_type`.
    pub typmod: Typmod,
    /// A type only the target knows (a domain, `citext`, an enum), which
    /// the column is created as. Its values travel as `pg_type` and
    /// `typmod`, which the engine sets once the target said what it is;
    /// until then (`ferry plan`, offline) they are planned as the
    /// column's mapped type, with a warning.
    pub named_type: Option<NamedType>,
    /// Target column name, taken as given (no case folding).
    pub rename: Option<String>,
    /// Remove NUL bytes from text (lossy).
    pub strip_nul: Option<bool>,
    /// What to do with invalid UTF-8 in text.
    pub invalid_utf8: Option<InvalidUtf8>,
    /// Zone of naive datetimes in this column, overriding the default.
    pub naive_timezone: Option<NaiveZone>,
}
