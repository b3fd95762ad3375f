//! Command-line interface: what a user can type.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferry_engine::config::Config;
use ferry_engine::exit::UsageError;
use ferry_engine::options::{
    CompressionMode, CopyOptions, EnsureOptions, Format, GeometryAs, IdentifierMode, IfExists,
    OnError, PartitionsOptions, PlanOptions, PruneOptions, SnapshotMode, SourceOptions,
    StorageOptions, SyncOptions, TypesFrom, VerifyOptions,
};

/// Move a SQLite database into PostgreSQL with real types, keys and
/// indexes, and prove it arrived intact.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = crate::VERSION, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 differences found (verify), 2 usage, config or \
input error, 3 source or target failure, 4 another run holds the lock, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output (-v info, -vv debug, -vvv also the drivers' debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Errors only on stderr: no progress, phases or warnings (the
    /// summary on stdout and the exit code still tell the outcome).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log lines on stderr as text, or as one JSON object per line for a
    /// log collector (with each command's and table's fields).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Give up waiting for a lock in the target (a table another session
    /// holds, TRUNCATE or DDL behind a long query, another ferry process)
    /// after this many seconds, naming the sessions that hold it (exit 3);
    /// 0 waits forever.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

/// `--schema` of the commands that create the schema; the others only
/// read it.
const CREATED_SCHEMA_HELP: &str =
    "Postgres schema to create the tables in (created if missing) [default: public, or \
     `schema` in the config]";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy every table (or those chosen) from a SQLite file into Postgres.
    #[command(after_help = "Examples:
  ferry copy --source app.db --target postgres://app@db.internal/app
  DATABASE_URL=postgres://localhost/app ferry copy --source app.db --jobs 4
  PGHOST=db.internal PGUSER=app PGDATABASE=app ferry copy --source app.db  # password from ~/.pgpass
  ferry copy --source app.db --schema legacy --tables users,orders --if-exists truncate
  ferry copy --source app.db --config ferry.toml --on-error quarantine --format json
  ferry copy --source app.db --metrics-addr 0.0.0.0:9187 --stall-after 15m  # /metrics, /health")]
    #[command(mut_arg("schema", |a| a.help(CREATED_SCHEMA_HELP)))]
    Copy(CopyArgs),

    /// Prove the target holds exactly what the source becomes through
    /// ferry's coercion; name every row and column that differs.
    #[command(after_help = "Examples:
  ferry verify --source app.db --target postgres://app@db/app            # 1000 sampled rows per table
  ferry verify --source app.db --full --format junit --output verify.xml # every row, for CI
  ferry verify --source app.db --schema-only                             # readiness check, no rows read
  ferry verify --source app.db --sample 10000 --seed 7 --format markdown

Exits 0 when everything matches, 1 when any difference is found, 2 on a usage or input
error, 3 when the source or target fails.")]
    Verify(VerifyArgs),

    /// Bring Postgres up to date with a SQLite file that is still being
    /// written: move only what changed since the last run, atomically per
    /// table. Made for cron.
    #[command(after_help = "Examples:
  ferry sync --source app.db --target postgres://app@db/app --config ferry.toml
  ferry sync --source app.db --metrics-textfile /var/lib/node_exporter/ferry.prom
  ferry sync --source app.db --format json --wait 60 --allow-schema-changes

Quiet when stdout is not a terminal, unless --format is given. Exits 0 when every table
synced, 2 on a usage error or a schema change it may not follow, 3 when a table failed,
4 when another sync of the same source into the same schema is running.")]
    #[command(mut_arg("schema", |a| a.help(CREATED_SCHEMA_HELP)))]
    Sync(SyncArgs),

    /// Print the DDL a copy would run, without touching any database.
    #[command(after_help = "Examples:
  ferry plan --source app.db
  ferry plan --source app.db --config ferry.toml --schema legacy
  ferry plan --source app.db --profile          # also scan what each column really holds")]
    Plan(PlanArgs),

    /// Maintain range-partitioned targets from cron: create upcoming
    /// leaves, move rows out of DEFAULT, drop expired leaves.
    #[command(after_help = "Examples:
  ferry partitions ensure --config ferry.toml --ahead 3
  ferry partitions prune --config ferry.toml --older-than 90d --dry-run
  ferry partitions ensure --partition emails:received_at:month --now 2024-10-05

No SQLite file needed: without --source the config (or --partition) names the tables
and the target's catalog gives their key columns.")]
    Partitions(PartitionsArgs),

    /// Check a ferry.toml and print the settings a command would use.
    #[command(after_help = "Examples:
  ferry config check --config ferry.toml
  ferry config check --config /etc/ferry.toml --source /data/app.db --jobs 8

Exits 0 when the file is valid, 2 when it is not (naming the key).")]
    Config(ConfigArgs),

    /// Print a shell completion script for bash, zsh, fish, elvish or
    /// PowerShell.
    #[command(after_help = "Examples:
  ferry completions bash > /etc/bash_completion.d/ferry
  ferry completions zsh > \"${fpath[1]}/_ferry\"
  ferry completions fish > ~/.config/fish/completions/ferry.fish")]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },

    /// Print ferry's manual page (roff), for `man -l -` or a man directory.
    #[command(after_help = "Examples:
  ferry man | man -l -
  ferry man > /usr/local/share/man/man1/ferry.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the --config file (and plan the SQLite file it or --source
    /// names, without touching any database), then print the settings
    /// every command would use, flags and environment applied, with
    /// passwords hidden. Exit 2 when anything is invalid.
    Check(ConfigCheckArgs),
}

/// The settings a command takes, to show what they come to.
#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Target database [default: `[target]` in the config, else
    /// DATABASE_URL, else the PG* variables].
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Parallel connections [default: the number of cores, at least 2, or
    /// `jobs` in the config].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// What a copy does with non-empty target tables [default: refuse, or
    /// `if_exists` in the config].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub if_exists: Option<IfExists>,

    /// What to do with a value that cannot become its column's type
    /// [default: abort, or `on_error` in the config].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_error: Option<OnError>,
}

#[derive(Debug, Args)]
pub struct PartitionsArgs {
    #[command(subcommand)]
    pub command: PartitionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PartitionsCommand {
    /// Create the range leaves of the interval holding --now and the
    /// --ahead intervals after it, and the leaf of every key sitting in
    /// DEFAULT, moving those rows into it. Idempotent.
    #[command(after_help = "Examples:
  ferry partitions ensure --source app.db --config ferry.toml --ahead 3
  ferry partitions ensure --source app.db --partition emails:received_at:month --now 2024-10-05")]
    Ensure(EnsureArgs),
    /// Detach and drop ferry's time-range leaves whose upper bound is at or
    /// before --now minus --older-than. Never DEFAULT, never a partition
    /// without ferry's comment. Idempotent.
    #[command(after_help = "Examples:
  ferry partitions prune --source app.db --config ferry.toml --older-than 90d --dry-run
  ferry partitions prune --source app.db --config ferry.toml --older-than 12m")]
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct EnsureArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Target database (libpq URL or key=value string) [default:
    /// `[target]` in the config, else DATABASE_URL, else the PG*
    /// variables, as psql; see the README's "Connecting"].
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Intervals to create past the one holding --now.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub ahead: u32,

    /// The date to act as of, YYYY-MM-DD [default: today, UTC].
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Target database (libpq URL or key=value string) [default:
    /// `[target]` in the config, else DATABASE_URL, else the PG*
    /// variables, as psql; see the README's "Connecting"].
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Retention: drop leaves whose rows are all older than this; 90d,
    /// 12w, 6m (calendar months) or 1y.
    #[arg(long, value_name = "DURATION")]
    pub older_than: String,

    /// The date to act as of, YYYY-MM-DD [default: today, UTC].
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,

    /// Print what would be dropped; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Where the rows come from and how the target is shaped; shared by `copy`
/// and `plan`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// SQLite database file to read (opened read-only; never modified)
    /// [default: `source` in the config; `ferry partitions` reads it only
    /// when given here, and plans from the config and the target without].
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,

    /// ferry.toml: target, tables, jobs, partitioning, types, renames,
    /// sync strategies and more, for every command; a flag wins over it.
    /// Only read when given. See the README's "Configuration" section.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Postgres schema of the tables [default: public, or `schema` in the
    /// config].
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,

    /// Only these tables (comma-separated SQLite names) [default:
    /// `include` in the config, else every table].
    #[arg(long, value_delimiter = ',', value_name = "TABLES")]
    pub tables: Vec<String>,

    /// Every table except these (comma-separated SQLite names) [default:
    /// `exclude` in the config].
    #[arg(long, value_delimiter = ',', value_name = "TABLES")]
    pub exclude: Vec<String>,

    /// How to name tables and columns in Postgres
    /// [default: lower, or `identifiers` in the config].
    #[arg(long, value_enum)]
    pub identifiers: Option<IdentifierMode>,

    /// Create TABLE partitioned by COLUMN (repeatable); SCHEME is day, week,
    /// month or year (date/timestamp columns), width=N (integers), hash=N
    /// or list. Same as `partition = { … }` in the config, which it overrides.
    #[arg(long, value_name = "TABLE:COLUMN:SCHEME")]
    pub partition: Vec<String>,

    /// Column types: `stored` widens a column whose stored values do not
    /// all become its declared type's mapping to the narrowest type that
    /// holds them exactly (text in an INTEGER column: text), with a
    /// warning; `declared` keeps the mapping and refuses such values
    /// [default: stored, or `types` in the config].
    #[arg(long, value_enum, value_name = "FROM")]
    pub types: Option<TypesFrom>,

    /// What GeoPackage and SpatiaLite geometry columns become: `bytea`
    /// keeps each blob byte for byte; `postgis` creates PostGIS `geometry`
    /// columns (`geometry(Point,4326)` when the file's metadata fixes the
    /// type, dimensions and SRID) and converts each blob to EWKB with its
    /// SRID; the target database must have the postgis extension
    /// [default: bytea, or `geometry` in the config].
    #[arg(long, value_enum, value_name = "AS")]
    pub geometry: Option<GeometryAs>,
}

/// How the tables ferry creates are stored; shared by `copy`, `sync` and
/// `plan`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// TOAST compression of the text, bytea and jsonb columns ferry
    /// creates: lz4 costs the server far less CPU while loading than pglz,
    /// and copy falls back to the server's default when the server has no
    /// lz4 [default: lz4, or `compression` in the config].
    #[arg(long, value_enum, value_name = "METHOD")]
    pub compression: Option<CompressionMode>,

    /// Create the tables UNLOGGED and set them LOGGED after the load: no
    /// WAL while rows load, the whole table written to the WAL at the end.
    /// A server crash meanwhile empties them and their chunks are loaded
    /// again. Not for partitioned tables.
    #[arg(long)]
    pub unlogged: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Target database as a libpq URL or key=value string [default:
    /// `[target]` in the config, else DATABASE_URL, else libpq's PG*
    /// variables, service file, ~/.pgpass and defaults, as psql]; TLS
    /// follows `sslmode` (disable, allow, prefer, require, verify-ca,
    /// verify-full).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Parallel chunk copies (reader threads and Postgres connections)
    /// [default: the number of cores, at least 2, or `jobs` in the config].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// What to do when a target table already holds rows. Without it (or
    /// `if_exists` in the config), ferry refuses to touch non-empty
    /// tables. `resume` continues a stopped copy.
    #[arg(long, value_enum, value_name = "ACTION")]
    pub if_exists: Option<IfExists>,

    /// What to do with a value that cannot become its column's type exactly
    /// [default: abort, or `on_error` in the config].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_error: Option<OnError>,

    /// Resume even though the source changed since the copy started (rows
    /// changed meanwhile may be missing or stale; verify afterwards).
    /// Needs --if-exists (or `if_exists` in the config).
    #[arg(long)]
    pub allow_changed_source: bool,

    /// How to read one point-in-time state of a source that may be written
    /// during the copy: `auto` reads the file in place (a WAL file through
    /// read transactions begun on one state; any other checked after every
    /// chunk and, should a writer commit, loaded again from a backup),
    /// `backup` copies it first with SQLite's online backup API (into
    /// TMPDIR; removed afterwards), `none` reads it as it is (for a file
    /// nothing writes meanwhile).
    #[arg(long, value_enum, default_value_t = SnapshotMode::Auto, value_name = "HOW")]
    pub snapshot: SnapshotMode,

    /// Consecutive reconnection attempts after a lost connection or a
    /// server restart, waiting 1 s, 2 s, 4 s… (at most 30 s) in between,
    /// before the copy stops with exit code 3 and can be resumed.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,

    /// The most rows a chunk holds. Chunks, the unit of parallelism and of
    /// one COPY transaction, are cut to about 32 MiB of data each (sampled
    /// from the source), and never more rows than this.
    #[arg(long, default_value_t = 100_000, value_name = "ROWS")]
    pub chunk_rows: u64,

    /// Summary format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Metrics while a command runs and when it ends; shared by `copy`,
/// `sync` and `verify`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on http://HOST:PORT/metrics and a health
    /// check on /health while the command runs (port 0: any free port,
    /// said on stderr unless --quiet).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// /health answers 503 once the run made no progress (no chunk,
    /// phase or table done) for this long: 90s, 5m, 1h [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub stall_after: std::time::Duration,

    /// Write the run's Prometheus metrics to this file when it ends
    /// (atomically: PATH.tmp, then rename), for node_exporter's textfile
    /// collector. A run that ends before reaching any table leaves the
    /// file as it was.
    #[arg(long, value_name = "PATH")]
    pub metrics_textfile: Option<PathBuf>,
}

/// `90s`, `5m`, `1h` or plain seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write 90s, 5m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("'{text}': the unit must be s, m or h")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Target database (libpq URL or key=value string) [default:
    /// `[target]` in the config, else DATABASE_URL, else the PG*
    /// variables, as psql; see the README's "Connecting"].
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Follow columns added in the source: add them in Postgres (with
    /// their default and NOT NULL) and reconcile the table once so
    /// existing rows get their values.
    /// Without it such a change stops the run (exit code 2).
    #[arg(long)]
    pub allow_schema_changes: bool,

    /// What to do with a value that cannot become its column's type
    /// exactly: `abort` the table, or `quarantine` its row (left out,
    /// listed in ferry.rejects) [default: abort, or `on_error` in the
    /// config].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_error: Option<OnError>,

    /// Change nothing: compare every table in full (digests per key
    /// range, as `ferry verify --full`) and report the rows the target
    /// lacks, holds changed or holds extra; exit 1 when any differ. Finds
    /// what a cursor or append strategy missed.
    #[arg(long, conflicts_with = "reset")]
    pub check: bool,

    /// Forget the sync state of these tables (source names, repeatable or
    /// comma-separated) and reconcile them from scratch in this run.
    #[arg(long, value_delimiter = ',', value_name = "TABLE")]
    pub reset: Vec<String>,

    /// When another sync of the same source into the same schema is
    /// running, wait up to this long for it instead of exiting 4 at once.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,

    /// Summary format on stdout [default: text on a terminal, nothing
    /// otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// How to read one state of the source: `auto` reads the file in
    /// place and, should a writer commit meanwhile, reads it again from a
    /// backup (in TMPDIR, removed afterwards); `backup` always takes one;
    /// `none` reads the file as it is (nothing may write it meanwhile).
    #[arg(long, value_enum, default_value_t = SnapshotMode::Auto, value_name = "HOW")]
    pub snapshot: SnapshotMode,

    /// Parallel connections for the first copy of a table, and threads
    /// reading the source to compare it [default: the number of cores, at
    /// least 2, or `jobs` in the config].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Target database (libpq URL or key=value string) [default:
    /// `[target]` in the config, else DATABASE_URL, else the PG*
    /// variables, as psql; see the README's "Connecting"].
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Check the target's tables, columns, types, keys and indexes against
    /// the plan; read no rows.
    #[arg(long, conflicts_with_all = ["full", "sample"])]
    pub schema_only: bool,

    /// Compare every row exactly: both sides reduced to per-row digests,
    /// partitioned by key and merged; counts are exact at any number of
    /// differences, in bounded memory.
    #[arg(long, conflicts_with = "sample")]
    pub full: bool,

    /// Rows listed per table in the report (the counts are always
    /// complete; the report says how many were left out).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_listed: usize,

    /// Rows per table to compare in sampled mode (the default mode).
    #[arg(long, default_value_t = 1000, value_name = "ROWS")]
    pub sample: u64,

    /// Seed of the sample: the same seed checks the same rows.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Reader threads for the source side of a full check [default: the
    /// number of cores, at least 2, or `jobs` in the config].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines, coloured on a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table for people.
    Text,
    /// One JSON document (schema in the README).
    Json,
    /// JUnit XML: one test case per table.
    Junit,
    /// Markdown, for a pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Also scan every row: storage classes per column, date formats seen,
    /// and values that will not fit the mapped type, with example row keys.
    #[arg(long)]
    pub profile: bool,

    /// Write the column types the stored values call for (the columns
    /// `--types stored` widens) to FILE as a ferry.toml to edit and pass
    /// with --config. FILE must not exist.
    #[arg(long, value_name = "FILE")]
    pub emit_config: Option<PathBuf>,
}

/// Where a setting came from, for `ferry config check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Config,
    Env,
    Default,
}

/// The flag, else the config, else the default: the one precedence of
/// every setting.
pub fn pick<T>(flag: Option<T>, config: Option<T>, default: impl FnOnce() -> T) -> (T, Origin) {
    match (flag, config) {
        (Some(value), _) => (value, Origin::Flag),
        (None, Some(value)) => (value, Origin::Config),
        (None, None) => (default(), Origin::Default),
    }
}

/// The engine's target: `--target`, else `[target]` in the config, else
/// `DATABASE_URL`, else the empty string, which ferry-writer resolves from
/// libpq's environment variables and defaults alone. Whatever the chosen
/// one leaves unset, libpq's service file, `PG*` variables and
/// `~/.pgpass` fill in.
pub fn target(flag: &Option<String>, config: &Config) -> (String, Origin) {
    let (chosen, origin) = pick(flag.clone(), config.target.clone(), || {
        std::env::var("DATABASE_URL").unwrap_or_default()
    });
    match origin {
        Origin::Default if !chosen.is_empty() => (chosen, Origin::Env),
        _ => (chosen, origin),
    }
}

/// `--jobs`, else `jobs` in the config, else the number of cores (at
/// least 2).
pub fn jobs(flag: Option<usize>, config: &Config) -> (usize, Origin) {
    pick(flag, config.jobs, || {
        std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
    })
}

// What the command line asked for, over the config, as the engine's
// options.

impl SourceArgs {
    /// The options, the SQLite file from `--source` or the config.
    pub fn options(&self, config: &Config) -> Result<SourceOptions, UsageError> {
        let source = self.source.clone().or_else(|| config.source.clone());
        let Some(source) = source else {
            return Err(UsageError::new(
                "no source: give --source FILE, or source = \"FILE\" in the --config file",
            ));
        };
        Ok(SourceOptions {
            source,
            ..self.without_source()
        })
    }

    /// The options with the SQLite file only when `--source` names one:
    /// `ferry partitions` plans from the config and the target otherwise.
    pub fn without_source(&self) -> SourceOptions {
        SourceOptions {
            source: self.source.clone().unwrap_or_default(),
            config: self.config.clone(),
            schema: self.schema.clone(),
            tables: self.tables.iter().map(|t| t.trim().to_owned()).collect(),
            exclude: self.exclude.iter().map(|t| t.trim().to_owned()).collect(),
            identifiers: self.identifiers,
            partition: self.partition.clone(),
            types: self.types,
            geometry: self.geometry,
        }
    }
}

impl StorageArgs {
    pub fn options(&self) -> StorageOptions {
        StorageOptions {
            compression: self.compression,
            unlogged: self.unlogged,
        }
    }
}

impl CopyArgs {
    pub fn options(&self, config: &Config) -> Result<CopyOptions, UsageError> {
        let if_exists = self.if_exists.or(config.if_exists);
        if self.allow_changed_source && if_exists.is_none() {
            return Err(UsageError::new(
                "--allow-changed-source needs --if-exists resume (or if_exists in the config)",
            ));
        }
        Ok(CopyOptions {
            source: self.source.options(config)?,
            storage: self.storage.options(),
            target: target(&self.target, config).0,
            jobs: jobs(self.jobs, config).0,
            if_exists,
            on_error: self.on_error,
            allow_changed_source: self.allow_changed_source,
            snapshot: self.snapshot,
            retries: self.retries,
            chunk_rows: self.chunk_rows,
        })
    }
}

impl SyncArgs {
    pub fn options(&self, config: &Config) -> Result<SyncOptions, UsageError> {
        Ok(SyncOptions {
            source: self.source.options(config)?,
            storage: self.storage.options(),
            target: target(&self.target, config).0,
            allow_schema_changes: self.allow_schema_changes,
            on_error: self.on_error,
            check: self.check,
            reset: self.reset.clone(),
            wait: self.wait,
            format: self.format,
            snapshot: self.snapshot,
            jobs: jobs(self.jobs, config).0,
        })
    }
}

impl VerifyArgs {
    pub fn options(&self, config: &Config) -> Result<VerifyOptions, UsageError> {
        Ok(VerifyOptions {
            source: self.source.options(config)?,
            target: target(&self.target, config).0,
            schema_only: self.schema_only,
            full: self.full,
            max_listed: self.max_listed,
            sample: self.sample,
            seed: self.seed,
            jobs: jobs(self.jobs, config).0,
        })
    }
}

impl PlanArgs {
    pub fn options(&self, config: &Config) -> Result<PlanOptions, UsageError> {
        Ok(PlanOptions {
            source: self.source.options(config)?,
            storage: self.storage.options(),
            profile: self.profile,
            stored_types: self.emit_config.is_some(),
        })
    }
}

impl Command {
    /// What the sessions of this command are named in
    /// `pg_stat_activity` unless the target names them.
    pub fn application_name(&self) -> &'static str {
        match self {
            Command::Copy(_) => "ferry copy",
            Command::Verify(_) => "ferry verify",
            Command::Sync(_) => "ferry sync",
            Command::Partitions(args) => match args.command {
                PartitionsCommand::Ensure(_) => "ferry partitions ensure",
                PartitionsCommand::Prune(_) => "ferry partitions prune",
            },
            Command::Plan(_) | Command::Config(_) | Command::Completions { .. } | Command::Man => {
                "ferry"
            }
        }
    }

    /// The `--config` file given, if any.
    pub fn config_path(&self) -> Option<&std::path::Path> {
        let source = match self {
            Command::Copy(args) => &args.source,
            Command::Verify(args) => &args.source,
            Command::Sync(args) => &args.source,
            Command::Plan(args) => &args.source,
            Command::Partitions(args) => match &args.command {
                PartitionsCommand::Ensure(args) => &args.source,
                PartitionsCommand::Prune(args) => &args.source,
            },
            Command::Config(args) => match &args.command {
                ConfigCommand::Check(args) => &args.source,
            },
            Command::Completions { .. } | Command::Man => return None,
        };
        source.config.as_deref()
    }
}

impl PartitionsArgs {
    pub fn options(&self, config: &Config) -> PartitionsOptions {
        match &self.command {
            PartitionsCommand::Ensure(args) => PartitionsOptions::Ensure(EnsureOptions {
                source: args.source.without_source(),
                target: target(&args.target, config).0,
                ahead: args.ahead,
                now: args.now.clone(),
            }),
            PartitionsCommand::Prune(args) => PartitionsOptions::Prune(PruneOptions {
                source: args.source.without_source(),
                target: target(&args.target, config).0,
                older_than: args.older_than.clone(),
                now: args.now.clone(),
                dry_run: args.dry_run,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_minutes_or_hours() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(parse_duration("90"), Ok(secs(90)));
        assert_eq!(parse_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h"), Ok(secs(3600)));
        for bad in ["", "m", "5d", "-1s", "1.5m", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
