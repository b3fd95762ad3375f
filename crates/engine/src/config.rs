//! `ferry.toml`: one file of settings for every command, validated into
//! the options of each job. A command-line flag wins over the file; the
//! file wins over the environment (`DATABASE_URL`, `PG*`) and the
//! defaults. `${NAME}` in a string value is the environment variable
//! `NAME` (unset is an error; `$${` is a literal `${`).
//!
//! ```toml
//! source = "app.db"               # SQLite file, relative to this file (--source wins)
//! schema = "app"                  # target schema (--schema wins)
//! include = ["emails", "events"]  # only these tables (--tables wins)
//! exclude = ["sessions"]          # all but these (--exclude wins)
//! jobs = 4                        # parallel connections (--jobs wins)
//! if_exists = "truncate"          # copy: truncate | append | drop | resume (--if-exists wins)
//! identifiers = "lower"           # lower | preserve
//! naive_timezone = "UTC"          # zone of datetimes written without an offset: UTC, ±HH:MM or Europe/Berlin
//! on_error = "abort"              # abort | quarantine
//! compression = "lz4"             # lz4 | pglz | default (TOAST compression of created tables)
//! types = "stored"                # stored | declared
//! geometry = "bytea"              # bytea | postgis (what geometry columns become)
//!
//! [target]                        # --target wins; else DATABASE_URL, else PG* alone
//! host = "db.internal"            # or url = "postgres://app@db.internal/app"
//! user = "app"
//! dbname = "app"
//! password = "${PGPASSWORD_PROD}" # any libpq keyword: port, sslmode, service…
//!
//! [tables.emails]
//! rename = "mail"
//! partition = { by = "range", column = "received_at", interval = "month" }
//!
//! [tables.emails.sync]              # ferry sync: cursor | append | full
//! mode = "cursor"
//! cursor = "updated_at"
//!
//! [tables.emails.columns.received_at]
//! type = "timestamptz(0)"         # a type of the mapping table, varchar(n)…, or the target's (a domain, citext)
//! rename = "received"
//! naive_timezone = "America/New_York"
//!
//! [tables.emails.columns.body]
//! strip_nul = true                # lossy: remove NUL bytes
//! invalid_utf8 = "replace"        # lossy: replace invalid UTF-8 with U+FFFD
//! ```

mod interpolate;
mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ferry_model::{ColumnType, InvalidUtf8, NaiveZone, NamedType, Typmod};
use ferry_transformer::{ColumnOverride, TableOverride};
use serde::Deserialize;

use crate::exit::UsageError;
use crate::options::{CompressionMode, GeometryAs, IdentifierMode, IfExists, OnError, TypesFrom};
use crate::partition_config::PartitionConfig;
use crate::sync::SyncConfig;
use target::TargetConfig;

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    source: Option<PathBuf>,
    target: Option<TargetConfig>,
    schema: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    jobs: Option<usize>,
    if_exists: Option<IfExists>,
    identifiers: Option<IdentifierMode>,
    naive_timezone: Option<String>,
    on_error: Option<OnError>,
    compression: Option<CompressionMode>,
    types: Option<TypesFrom>,
    geometry: Option<GeometryAs>,
    #[serde(default)]
    tables: BTreeMap<String, TableConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableConfig {
    rename: Option<String>,
    partition: Option<PartitionConfig>,
    sync: Option<SyncConfig>,
    #[serde(default)]
    columns: BTreeMap<String, ColumnConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnConfig {
    #[serde(rename = "type")]
    pg_type: Option<String>,
    rename: Option<String>,
    strip_nul: Option<bool>,
    invalid_utf8: Option<Utf8Mode>,
    naive_timezone: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Utf8Mode {
    Reject,
    Replace,
}

/// The validated config: every type name parsed, every offset understood,
/// every `${NAME}` replaced.
#[derive(Debug, Default)]
pub struct Config {
    /// The file read; `None` when no `--config` was given.
    pub path: Option<PathBuf>,
    /// `source`, relative to the file's directory.
    pub source: Option<PathBuf>,
    /// `[target]` as one connection string; it may hold a password, so
    /// show it only through `ferry_writer::redact_url`.
    pub target: Option<String>,
    pub schema: Option<String>,
    /// `include`: only these source tables (empty: every table).
    pub include: Vec<String>,
    /// `exclude`: every source table but these.
    pub exclude: Vec<String>,
    pub jobs: Option<usize>,
    pub if_exists: Option<IfExists>,
    pub identifiers: Option<IdentifierMode>,
    /// `naive_timezone` as written, for `ferry config check`.
    pub naive_timezone: Option<String>,
    pub naive_zone: NaiveZone,
    pub on_error: Option<OnError>,
    pub compression: Option<CompressionMode>,
    pub types: Option<TypesFrom>,
    pub geometry: Option<GeometryAs>,
    pub overrides: BTreeMap<String, TableOverride>,
    /// `[tables.NAME.sync]`, by source table name, checked by `ferry sync`.
    pub sync: BTreeMap<String, SyncConfig>,
    /// The `[tables.NAME]` sections as written (variables replaced), for
    /// `ferry config check` to show.
    pub sections: toml::Table,
    secrets: Vec<String>,
}

impl Config {
    /// Reads and validates a config file; no file means all defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(format!("cannot read config {}: {e}", path.display())))?;
        let mut config = Config::parse(&text, &interpolate::from_process)
            .with_context(|| format!("config {}", path.display()))?;
        if let Some(source) = &mut config.source {
            let dir = path.parent().unwrap_or(Path::new(""));
            *source = dir.join(&*source);
        }
        config.path = Some(path.to_owned());
        Ok(config)
    }

    /// Parses the text of a config file, reading `${NAME}` through
    /// `lookup`. Errors name the key (`tables.emails.partition.by: …`),
    /// or the line and column of a syntax error, without quoting the
    /// line, which may hold a password.
    fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        interpolate::interpolate(&mut table, lookup)?;
        let sections = match table.get("tables") {
            Some(toml::Value::Table(sections)) => sections.clone(),
            _ => toml::Table::new(),
        };
        let raw: ConfigFile =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().message().to_owned();
                UsageError::new(if path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                })
            })?;
        let mut config = Config::validate(raw)?;
        config.sections = sections;
        Ok(config)
    }

    /// Each override naming a type only the target knows (a domain,
    /// `citext`, an enum), as `(key, name)`: `tables.t.columns.c`,
    /// `app.email`.
    pub fn named_types(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (table, table_override) in &self.overrides {
            for (column, column_override) in &table_override.columns {
                if let Some(named) = &column_override.named_type {
                    out.push((
                        format!("tables.{table}.columns.{column}"),
                        named.name.clone(),
                    ));
                }
            }
        }
        out
    }

    fn validate(raw: ConfigFile) -> Result<Config> {
        let naive_zone = match &raw.naive_timezone {
            Some(tz) => parse_naive_timezone(tz, "naive_timezone")?,
            None => NaiveZone::default(),
        };
        let include = raw.include.unwrap_or_default();
        let exclude = raw.exclude.unwrap_or_default();
        check_selection(&include, &exclude, &raw.tables)?;
        if raw.jobs == Some(0) {
            return Err(UsageError::new("jobs: must be 1 or more").into());
        }
        let (target, secrets) = match raw.target.map(target::target_text).transpose()? {
            Some((text, secrets)) => (Some(text), secrets),
            None => (None, Vec::new()),
        };
        let mut overrides = BTreeMap::new();
        let mut sync = BTreeMap::new();
        for (table, table_config) in raw.tables {
            if let Some(config) = table_config.sync {
                sync.insert(table.clone(), config);
            }
            let mut columns = BTreeMap::new();
            for (column, c) in table_config.columns {
                let key = format!("tables.{table}.columns.{column}");
                // A name ferry does not read itself (a domain, `citext`,
                // `text[]`) is the target's to say: the engine looks it up
                // there before any DDL.
                let (column_type, named_type) = match c.pg_type.as_deref() {
                    None => (None, None),
                    Some(t) => match t.parse::<ColumnType>() {
                        Ok(column_type) => (Some(column_type), None),
                        Err(_) if NamedType::is_plausible(t) => (
                            None,
                            Some(NamedType {
                                name: t.trim().to_owned(),
                                shown: None,
                                compressible: false,
                            }),
                        ),
                        Err(e) => {
                            return Err(UsageError::new(format!(
                                "[{key}] type: {e}; or name a type the target has (a domain, \
                                 an extension's type such as citext, an enum), \
                                 without a typmod"
                            ))
                            .into())
                        }
                    },
                };
                let naive_timezone = c
                    .naive_timezone
                    .map(|tz| parse_naive_timezone(&tz, &format!("[{key}] naive_timezone")))
                    .transpose()?;
                let override_ = ColumnOverride {
                    pg_type: column_type.map(|t| t.pg_type),
                    typmod: column_type.map_or(Typmod::None, |t| t.typmod),
                    named_type,
                    rename: c.rename,
                    strip_nul: c.strip_nul,
                    invalid_utf8: c.invalid_utf8.map(|m| match m {
                        Utf8Mode::Reject => InvalidUtf8::Reject,
                        Utf8Mode::Replace => InvalidUtf8::Replace,
                    }),
                    naive_timezone,
                };
                columns.insert(column, override_);
            }
            let partition = table_config
                .partition
                .map(|p| p.validate(&table))
                .transpose()?;
            let table_override = TableOverride {
                rename: table_config.rename,
                columns,
                partition,
                key_with_nulls: None,
            };
            overrides.insert(table, table_override);
        }
        Ok(Config {
            path: None,
            source: raw.source,
            target,
            schema: raw.schema,
            include,
            exclude,
            jobs: raw.jobs,
            if_exists: raw.if_exists,
            identifiers: raw.identifiers,
            naive_timezone: raw.naive_timezone,
            naive_zone,
            on_error: raw.on_error,
            compression: raw.compression,
            types: raw.types,
            geometry: raw.geometry,
            overrides,
            sync,
            sections: toml::Table::new(),
            secrets,
        })
    }

    /// The passwords `[target]` holds, for a front end to scrub from text
    /// it does not control.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}

/// The file must not contradict itself: a table both in `include` and in
/// `exclude`, or partitioned in its `[tables.NAME]` section but left out
/// of the copy, is a mistake, whatever the source holds.
fn check_selection(
    include: &[String],
    exclude: &[String],
    tables: &BTreeMap<String, TableConfig>,
) -> Result<(), UsageError> {
    let has = |list: &[String], name: &str| list.iter().any(|t| t.eq_ignore_ascii_case(name));
    if let Some(both) = include.iter().find(|t| has(exclude, t)) {
        return Err(UsageError::new(format!(
            "exclude: {both} is also in include; keep it in one of them"
        )));
    }
    let partitioned = tables.iter().filter(|(_, s)| s.partition.is_some());
    for table in partitioned.map(|(table, _)| table) {
        if has(exclude, table) || (!include.is_empty() && !has(include, table)) {
            let list = if has(exclude, table) {
                "is in exclude"
            } else {
                "is not in include"
            };
            return Err(UsageError::new(format!(
                "[tables.{table}] partition: {table} {list}, so nothing would be partitioned; \
                 select the table or remove its partition"
            )));
        }
    }
    Ok(())
}

/// A TOML syntax error as `line L, column C: message`, without the
/// excerpt of the file toml would show: the line may hold a password.
fn syntax_error(text: &str, error: &toml::de::Error) -> UsageError {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            UsageError::new(format!("line {line}, column {column}: {message}"))
        }
        None => UsageError::new(message.to_owned()),
    }
}

/// `UTC`, `±HH:MM` or an IANA zone name, as [`NaiveZone`] reads them.
fn parse_naive_timezone(text: &str, key: &str) -> Result<NaiveZone> {
    text.parse()
        .map_err(|e| UsageError::new(format!("{key}: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_zone_names() {
        let zone = |text| parse_naive_timezone(text, "k").map(|z| z.to_string());
        assert_eq!(zone("UTC").unwrap(), "UTC");
        assert_eq!(zone("+02:00").unwrap(), "+02:00");
        assert_eq!(zone("-05:30").unwrap(), "-05:30");
        assert_eq!(zone("Europe/Paris").unwrap(), "Europe/Paris");
        let err = parse_naive_timezone("Europe/Pariss", "naive_timezone").unwrap_err();
        assert_eq!(
            err.to_string(),
            "naive_timezone: 'Europe/Pariss' is neither a UTC offset nor a time zone name; \
             write UTC, ±HH:MM (e.g. +02:00) or an IANA name (e.g. Europe/Berlin)"
        );
        assert!(err.downcast_ref::<UsageError>().is_some());
    }

    #[test]
    fn validates_a_full_config() {
        let raw: ConfigFile = toml::from_str(
            r#"
            schema = "app"
            naive_timezone = "+01:00"
            [tables.emails]
            rename = "mail"
            [tables.emails.columns.body]
            type = "text"
            strip_nul = true
            invalid_utf8 = "replace"
            "#,
        )
        .unwrap();
        let config = Config::validate(raw).unwrap();
        assert_eq!(config.schema.as_deref(), Some("app"));
        assert_eq!(config.naive_zone, NaiveZone::Offset(3600));
        let body = &config.overrides["emails"].columns["body"];
        assert_eq!(body.pg_type, Some(ferry_model::PgType::Text));
        assert_eq!(body.invalid_utf8, Some(InvalidUtf8::Replace));
    }

    fn parse(text: &str) -> Result<Config, String> {
        let env = |name: &str| (name == "PW").then(|| "hunter2'\\x".to_owned());
        Config::parse(text, &env).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn reads_every_command_setting() {
        let config = parse(
            r#"
            source = "app.db"
            include = ["emails", "events"]
            exclude = ["sessions"]
            jobs = 3
            if_exists = "resume"
            on_error = "quarantine"
            identifiers = "preserve"
            [target]
            host = "db"
            port = 6432
            password = "${PW}"
            [tables.emails]
            partition = { by = "range", column = "at", interval = "month" }
            [tables.emails.sync]
            mode = "full"
            "#,
        )
        .unwrap();
        assert_eq!(config.source, Some(PathBuf::from("app.db")));
        assert_eq!(config.include, ["emails", "events"]);
        assert_eq!(config.exclude, ["sessions"]);
        assert_eq!(config.jobs, Some(3));
        assert_eq!(config.if_exists, Some(IfExists::Resume));
        assert_eq!(config.on_error, Some(OnError::Quarantine));
        assert_eq!(config.identifiers, Some(IdentifierMode::Preserve));
        let target = config.target.as_deref().unwrap();
        assert!(
            target.contains("host='db'") && target.contains("port='6432'"),
            "{target}"
        );
        assert_eq!(config.secrets(), ["hunter2'\\x"]);
        assert!(config.overrides["emails"].partition.is_some());
        assert!(config.sync.contains_key("emails"));
        assert!(config.sections["emails"]["sync"]["mode"].as_str() == Some("full"));
    }

    #[test]
    fn refuses_a_file_that_contradicts_itself() {
        let err = parse("include = ['a']\nexclude = ['A']").unwrap_err();
        assert_eq!(err, "exclude: a is also in include; keep it in one of them");
        let partitioned = "[tables.e]\npartition = { by = 'list', column = 'c' }";
        let err = parse(&format!("exclude = ['e']\n{partitioned}")).unwrap_err();
        assert!(
            err.starts_with("[tables.e] partition: e is in exclude"),
            "{err}"
        );
        let err = parse(&format!("include = ['f']\n{partitioned}")).unwrap_err();
        assert!(
            err.starts_with("[tables.e] partition: e is not in include"),
            "{err}"
        );
        assert!(parse(&format!("include = ['E']\n{partitioned}")).is_ok());
        assert_eq!(parse("jobs = 0").unwrap_err(), "jobs: must be 1 or more");
        assert!(parse("jobs = -2")
            .unwrap_err()
            .starts_with("jobs: invalid value"));
        assert!(parse("if_exists = 'replace'")
            .unwrap_err()
            .starts_with("if_exists: unknown variant"));
    }

    #[test]
    fn errors_name_the_key_and_never_quote_the_line() {
        let err = parse("[target]\npassword = \"hunter2\nhost = 'x'").unwrap_err();
        assert!(err.starts_with("line 2, column "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("[target]\nhots = 'db'\npassword = 'hunter2'").unwrap_err();
        assert!(
            err.contains("\"hots\" is not a libpq connection option"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("[tables.t.sync]\nmode = 'sometimes'").unwrap_err();
        assert!(
            err.starts_with("tables.t.sync.mode: unknown variant"),
            "{err}"
        );
        let err = parse("schema = '${NOPE}'").unwrap_err();
        assert!(err.starts_with("schema: ${NOPE} is not set"), "{err}");
        assert_eq!(
            parse("schema = '$${NOPE}'").unwrap().schema.as_deref(),
            Some("${NOPE}")
        );
    }

    #[test]
    fn a_relative_source_is_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "source = 'data/app.db'").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.source, Some(dir.path().join("data/app.db")));
        assert_eq!(config.path.as_deref(), Some(path.as_path()));
        std::fs::write(&path, "source = '/abs/app.db'").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.source, Some(PathBuf::from("/abs/app.db")));
    }

    #[test]
    fn reads_typmods() {
        let raw: ConfigFile = toml::from_str(
            "[tables.t.columns.code]\ntype = 'varchar(5)'\n\
             [tables.t.columns.at]\ntype = 'timestamp(0) with time zone'\n\
             [tables.t.columns.price]\ntype = 'numeric(6,2)'\n",
        )
        .unwrap();
        let config = Config::validate(raw).unwrap();
        let columns = &config.overrides["t"].columns;
        let typed = |c: &str| ColumnType {
            pg_type: columns[c].pg_type.unwrap(),
            typmod: columns[c].typmod,
        };
        assert_eq!(typed("code").to_string(), "character varying(5)");
        assert_eq!(typed("at").to_string(), "timestamp(0) with time zone");
        assert_eq!(typed("price").to_string(), "numeric(6,2)");
    }

    #[test]
    fn rejects_unknown_keys_and_types() {
        assert!(toml::from_str::<ConfigFile>("shema = 'x'").is_err());
        let raw: ConfigFile = toml::from_str("[tables.t.columns.c]\ntype = 'email(5)'").unwrap();
        let err = Config::validate(raw).unwrap_err();
        for part in [
            "[tables.t.columns.c] type",
            "unknown Postgres type",
            "a domain",
        ] {
            assert!(format!("{err:#}").contains(part), "{err:#}");
        }
    }

    #[test]
    fn names_only_the_target_knows_are_left_to_it() {
        let raw: ConfigFile = toml::from_str(
            "[tables.t.columns.a]\ntype = 'citext'\n\
             [tables.t.columns.b]\ntype = ' app.email '\n\
             [tables.t.columns.c]\ntype = 'double precision[]'\n",
        )
        .unwrap();
        let config = Config::validate(raw).unwrap();
        let columns = &config.overrides["t"].columns;
        for (column, name) in [
            ("a", "citext"),
            ("b", "app.email"),
            ("c", "double precision[]"),
        ] {
            assert_eq!(columns[column].pg_type, None, "{column}");
            assert_eq!(
                columns[column].named_type,
                Some(NamedType {
                    name: name.to_owned(),
                    shown: None,
                    compressible: false,
                }),
                "{column}"
            );
        }
    }
}
