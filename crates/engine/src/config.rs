//! `ferry.toml`: settings that flags cannot express, validated into the
//! transformer's plan options.
//!
//! ```toml
//! schema = "app"                  # target schema (flag --schema wins)
//! identifiers = "lower"           # lower | preserve
//! naive_timezone = "UTC"          # offset of datetimes written without one: UTC or ±HH:MM
//! on_error = "abort"              # abort | quarantine
//! compression = "lz4"             # lz4 | pglz | default (TOAST compression of created tables)
//! geometry = "bytea"              # bytea | postgis (what geometry columns become)
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
//! type = "timestamptz"            # any type of the mapping table
//! rename = "received"
//! naive_timezone = "+02:00"
//!
//! [tables.emails.columns.body]
//! strip_nul = true                # lossy: remove NUL bytes
//! invalid_utf8 = "replace"        # lossy: replace invalid UTF-8 with U+FFFD
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use ferry_model::{InvalidUtf8, PgType};
use ferry_transformer::{ColumnOverride, TableOverride};
use serde::Deserialize;

use crate::exit::UsageError;
use crate::options::{CompressionMode, GeometryAs, IdentifierMode, OnError, TypesFrom};
use crate::partition_config::PartitionConfig;
use crate::sync::SyncConfig;

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    schema: Option<String>,
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

/// The validated config: every type name parsed, every offset understood.
#[derive(Debug, Default)]
pub struct Config {
    pub schema: Option<String>,
    pub identifiers: Option<IdentifierMode>,
    pub naive_utc_offset_seconds: i32,
    pub on_error: Option<OnError>,
    pub compression: Option<CompressionMode>,
    pub types: Option<TypesFrom>,
    pub geometry: Option<GeometryAs>,
    pub overrides: BTreeMap<String, TableOverride>,
    /// `[tables.NAME.sync]`, by source table name, checked by `ferry sync`.
    pub sync: BTreeMap<String, SyncConfig>,
}

impl Config {
    /// Reads and validates a config file; no file means all defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(format!("cannot read config {}: {e}", path.display())))?;
        let raw: ConfigFile = toml::from_str(&text)
            .map_err(|e| UsageError::new(format!("config {}: {e}", path.display())))?;
        Config::validate(raw).with_context(|| format!("config {}", path.display()))
    }

    fn validate(raw: ConfigFile) -> Result<Config> {
        let naive_utc_offset_seconds = match &raw.naive_timezone {
            Some(tz) => parse_utc_offset(tz, "naive_timezone")?,
            None => 0,
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
                let pg_type = c
                    .pg_type
                    .map(|t| t.parse::<PgType>())
                    .transpose()
                    .map_err(|e| UsageError::new(format!("[{key}] type: {e}")))?;
                let naive_utc_offset_seconds = c
                    .naive_timezone
                    .map(|tz| parse_utc_offset(&tz, &format!("[{key}] naive_timezone")))
                    .transpose()?;
                let override_ = ColumnOverride {
                    pg_type,
                    rename: c.rename,
                    strip_nul: c.strip_nul,
                    invalid_utf8: c.invalid_utf8.map(|m| match m {
                        Utf8Mode::Reject => InvalidUtf8::Reject,
                        Utf8Mode::Replace => InvalidUtf8::Replace,
                    }),
                    naive_utc_offset_seconds,
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
            schema: raw.schema,
            identifiers: raw.identifiers,
            naive_utc_offset_seconds,
            on_error: raw.on_error,
            compression: raw.compression,
            types: raw.types,
            geometry: raw.geometry,
            overrides,
            sync,
        })
    }
}

/// `UTC`, `Z` or `±HH:MM` to seconds east of UTC.
fn parse_utc_offset(text: &str, key: &str) -> Result<i32> {
    let bad = || {
        UsageError::new(format!(
            "{key}: '{text}' is not a UTC offset; write UTC or ±HH:MM (e.g. +02:00)"
        ))
    };
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad().into()),
    };
    let (hours, minutes) = rest.split_once(':').ok_or_else(bad)?;
    let hours: i32 = hours.parse().map_err(|_| bad())?;
    let minutes: i32 = minutes.parse().map_err(|_| bad())?;
    if !(0..=15).contains(&hours) || !(0..60).contains(&minutes) {
        return Err(bad().into());
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets() {
        assert_eq!(parse_utc_offset("UTC", "k").unwrap(), 0);
        assert_eq!(parse_utc_offset("+02:00", "k").unwrap(), 7200);
        assert_eq!(parse_utc_offset("-05:30", "k").unwrap(), -19800);
        let err = parse_utc_offset("Europe/Paris", "naive_timezone").unwrap_err();
        assert!(err.to_string().contains("not a UTC offset"), "{err}");
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
        assert_eq!(config.naive_utc_offset_seconds, 3600);
        let body = &config.overrides["emails"].columns["body"];
        assert_eq!(body.pg_type, Some(PgType::Text));
        assert_eq!(body.invalid_utf8, Some(InvalidUtf8::Replace));
    }

    #[test]
    fn rejects_unknown_keys_and_types() {
        assert!(toml::from_str::<ConfigFile>("shema = 'x'").is_err());
        let raw: ConfigFile = toml::from_str("[tables.t.columns.c]\ntype = 'varchar(3)'").unwrap();
        let err = Config::validate(raw).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown Postgres type"),
            "{err:#}"
        );
    }
}
