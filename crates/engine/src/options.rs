//! What each job is asked to do: plain structs, filled by a command line,
//! a config file or a program embedding ferry. Every field a user can set
//! is here; defaults that need thought live with the caller that offers
//! them (the `ferry` binary documents its own).

use std::path::PathBuf;

/// Where the rows come from and how the target is shaped; shared by every
/// job.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// SQLite database file to read (opened read-only; never modified).
    /// `partitions ensure` and `prune` take an empty path to plan from the
    /// config and the target alone.
    pub source: PathBuf,
    /// ferry.toml, whose settings apply where a field here is unset.
    pub config: Option<PathBuf>,
    /// Postgres schema [default: public, or `schema` in the config].
    pub schema: Option<String>,
    /// Only these tables (SQLite names); empty means the config's
    /// `include`, else every table.
    pub tables: Vec<String>,
    /// Every table except these (SQLite names); empty means the config's
    /// `exclude`.
    pub exclude: Vec<String>,
    /// How to name tables and columns in Postgres.
    pub identifiers: Option<IdentifierMode>,
    /// `TABLE:COLUMN:SCHEME` partitioning, overriding the config's.
    pub partition: Vec<String>,
    /// Column types from stored values or declared types.
    pub types: Option<TypesFrom>,
    /// What geometry columns become.
    pub geometry: Option<GeometryAs>,
}

/// How the tables ferry creates are stored.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// TOAST compression of the text, bytea and jsonb columns.
    pub compression: Option<CompressionMode>,
    /// Create the tables UNLOGGED and set them LOGGED after the load.
    pub unlogged: bool,
}

/// `copy`: one bulk load.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub source: SourceOptions,
    pub storage: StorageOptions,
    /// Target database, as a libpq URL or key=value string; the empty
    /// string means libpq's PG* variables, service file and defaults alone
    /// (see `ferry_writer::connect`).
    pub target: String,
    /// Parallel chunk copies (reader threads and Postgres connections).
    pub jobs: usize,
    /// What to do when a target table already holds rows.
    pub if_exists: Option<IfExists>,
    /// What to do with a value that cannot become its column's type.
    pub on_error: Option<OnError>,
    /// Resume even though the source changed since the copy started.
    pub allow_changed_source: bool,
    /// How to read one point-in-time state of the source.
    pub snapshot: SnapshotMode,
    /// Consecutive reconnection attempts before the copy stops.
    pub retries: u32,
    /// The most rows a chunk holds. Chunks (the unit of parallelism and
    /// of one COPY transaction) are cut to about 32 MiB of data each
    /// (`chunk_plan::CHUNK_BYTES`), and never more rows than this.
    pub chunk_rows: u64,
}

/// `sync`: bring the target up to date with a source still being written.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub source: SourceOptions,
    pub storage: StorageOptions,
    /// Target database, as a libpq URL or key=value string; the empty
    /// string means libpq's PG* variables, service file and defaults alone
    /// (see `ferry_writer::connect`).
    pub target: String,
    /// Follow columns added in the source.
    pub allow_schema_changes: bool,
    /// What to do with a value that cannot become its column's type.
    pub on_error: Option<OnError>,
    /// Change nothing: compare every table in full and report.
    pub check: bool,
    /// Forget the sync state of these tables and reconcile them.
    pub reset: Vec<String>,
    /// Wait up to this many seconds for another sync's lock.
    pub wait: Option<u64>,
    /// Summary format; `None`: text on a terminal, nothing otherwise.
    pub format: Option<Format>,
    /// How to read one state of the source.
    pub snapshot: SnapshotMode,
    /// Parallel connections and source reader threads.
    pub jobs: usize,
}

/// `verify`: prove the target holds what the source becomes.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub source: SourceOptions,
    /// Target database, as a libpq URL or key=value string; the empty
    /// string means libpq's PG* variables, service file and defaults alone
    /// (see `ferry_writer::connect`).
    pub target: String,
    /// Check the catalog only; read no rows.
    pub schema_only: bool,
    /// Compare every row exactly.
    pub full: bool,
    /// Rows listed per table in the report.
    pub max_listed: usize,
    /// Rows per table compared in sampled mode.
    pub sample: u64,
    /// Seed of the sample.
    pub seed: u64,
    /// Reader threads for the source side of a full check.
    pub jobs: usize,
}

/// `plan`: the DDL a copy would run.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub source: SourceOptions,
    pub storage: StorageOptions,
    /// Also scan every row and profile each column.
    pub profile: bool,
    /// Also find the columns whose stored values call for another type,
    /// even under declared types.
    pub stored_types: bool,
}

/// `partitions ensure`: create upcoming range leaves, empty DEFAULT.
#[derive(Debug, Clone)]
pub struct EnsureOptions {
    pub source: SourceOptions,
    /// Target database, as a libpq URL or key=value string; the empty
    /// string means libpq's PG* variables, service file and defaults alone
    /// (see `ferry_writer::connect`).
    pub target: String,
    /// Intervals to create past the one holding `now`.
    pub ahead: u32,
    /// The date to act as of, YYYY-MM-DD [default: today, UTC].
    pub now: Option<String>,
}

/// `partitions prune`: drop expired range leaves.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub source: SourceOptions,
    /// Target database, as a libpq URL or key=value string; the empty
    /// string means libpq's PG* variables, service file and defaults alone
    /// (see `ferry_writer::connect`).
    pub target: String,
    /// Retention: 90d, 12w, 6m or 1y.
    pub older_than: String,
    /// The date to act as of, YYYY-MM-DD [default: today, UTC].
    pub now: Option<String>,
    /// Report what would be dropped; change nothing.
    pub dry_run: bool,
}

/// `partitions`: one of its two jobs.
#[derive(Debug, Clone)]
pub enum PartitionsOptions {
    Ensure(EnsureOptions),
    Prune(PruneOptions),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TypesFrom {
    /// What the columns hold: a column is widened when its stored values
    /// need it.
    Stored,
    /// What the columns declare: values that do not fit are bad values.
    Declared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum GeometryAs {
    /// The blobs as they are, in bytea columns.
    Bytea,
    /// PostGIS geometry (needs `CREATE EXTENSION postgis` in the target).
    Postgis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum IdentifierMode {
    /// Fold names to lower case (`OrderItems` becomes `orderitems`).
    Lower,
    /// Keep names exactly as in SQLite (quoted in SQL).
    Preserve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum CompressionMode {
    /// LZ4 (Postgres 14+ built with it, as Debian's and the official images are).
    Lz4,
    /// pglz, Postgres's historical method.
    Pglz,
    /// Whatever the server's `default_toast_compression` says.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum IfExists {
    /// Empty the existing tables, then load.
    Truncate,
    /// Add the rows to what the tables already hold.
    Append,
    /// Drop the named tables and create them anew.
    Drop,
    /// Continue an interrupted copy of the same tables (or join one that
    /// other processes are running), skipping the chunks already committed.
    Resume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SnapshotMode {
    /// Read the file in place, without copying it, and prove that every
    /// read saw one state (see `crate::snapshot`): a WAL file through read
    /// transactions begun on one state, any other by SQLite's data version
    /// not moving (checked after every chunk of a copy, at the end of a
    /// sync); when a writer committed, read it again from a backup. The
    /// default of copy and sync.
    Auto,
    /// Copy the file first with SQLite's online backup API.
    Backup,
    /// Read the file as it is (nothing may write it meanwhile).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop at the first bad value, naming table, row, column and value.
    Abort,
    /// Load the good rows; write bad ones to ferry.rejects and count them.
    Quarantine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// A table for people.
    Text,
    /// One JSON document for scripts.
    Json,
}
