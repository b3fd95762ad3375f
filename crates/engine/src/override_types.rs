//! ferry.toml's `type` overrides, checked against the target before any
//! DDL: a name ferry reads offline must also be a type the server has, so
//! that a copy fails at once, naming the config key, instead of after
//! some tables were created.

use anyhow::{Context, Result};
use ferry_model::{ColumnType, PgType};

use crate::config::Config;
use crate::exit::UsageError;

/// Fails on the first override whose type `to_regtype` does not find.
/// PostGIS `geometry` is left to [`crate::postgis::require_postgis`],
/// which says how to install it.
pub async fn check(client: &tokio_postgres::Client, config: &Config) -> Result<()> {
    for (table, table_override) in &config.overrides {
        for (column, column_override) in &table_override.columns {
            let Some(pg_type) = column_override.pg_type else {
                continue;
            };
            if matches!(pg_type, PgType::Geometry(_)) {
                continue;
            }
            let name = ColumnType {
                pg_type,
                typmod: column_override.typmod,
            }
            .to_string();
            let found: Option<String> = client
                .query_one("SELECT to_regtype($1)::text", &[&name])
                .await
                .with_context(|| format!("looking up type {name} in the target"))?
                .get(0);
            if found.is_none() {
                return Err(UsageError::new(format!(
                    "ferry.toml: [tables.{table}.columns.{column}] type: the target has no \
                     type {name}; choose a type it has"
                ))
                .into());
            }
        }
    }
    Ok(())
}
