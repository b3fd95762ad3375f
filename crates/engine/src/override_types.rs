//! ferry.toml's `type` overrides, checked against the target before any
//! DDL, so that a copy, sync or verify fails at once, naming the config
//! key, instead of after some tables were created.
//!
//! A name ferry reads itself (`bigint`, `varchar(200)`) must also be a
//! type the server has (`to_regtype`). Any other name (a domain, an
//! extension's type such as `citext`, an enum) is the target's to say:
//! [`resolve`] follows it through `pg_type` to a type whose binary COPY
//! format ferry writes, and the column is created as the name is written
//! while its values travel in that format:
//!
//! - a domain (`typtype = 'd'`) is its base type, through domains over
//!   domains, with the typmod its declaration gives (a domain over
//!   `varchar(10)` is checked as `varchar(10)`); Postgres checks its
//!   `CHECK` and `NOT NULL` constraints as the rows arrive;
//! - an enum travels as text, its label;
//! - another base type is a ferry type when its receive and send
//!   functions are the same built-in functions as that type's
//!   (`pg_proc.prosrc` of language `internal`): `citext`'s `citextrecv` is
//!   `textrecv`, so `citext` is text on the wire.
//!
//! Anything else (`tsvector`, `hstore`, a composite, a range, an array)
//! is refused, saying what to map the column to instead.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use ferry_model::{ColumnType, PgType};

use crate::config::Config;
use crate::exit::UsageError;
use crate::options::SourceOptions;

/// The types ferry writes in binary COPY, as names `to_regtype` reads:
/// an extension's base type must share the receive and send functions of
/// one of these.
const FERRY_TYPES: &[&str] = &[
    "boolean",
    "smallint",
    "integer",
    "bigint",
    "real",
    "double precision",
    "numeric",
    "text",
    "bytea",
    "date",
    "timestamp",
    "timestamptz",
    "jsonb",
    "uuid",
];

/// What the target said the named override types are, by the name as
/// ferry.toml writes it; given to planning, which then types those
/// columns by it.
#[derive(Clone, Debug, Default)]
pub(crate) struct TargetTypes(BTreeMap<String, Resolved>);

/// One named type, as the target resolved it.
#[derive(Clone, Debug)]
struct Resolved {
    /// The ferry type (and typmod) its values travel as.
    column_type: ColumnType,
    /// `format_type` of the type, as the catalog shows its columns.
    shown: String,
    /// `typstorage` allows compression.
    compressible: bool,
}

impl TargetTypes {
    /// Fills in every named override `self` resolved: its values' type
    /// and the name the target shows. A name it does not hold (nothing
    /// was asked, as in `ferry plan`) is left as it is.
    pub(crate) fn apply(&self, config: &mut Config) {
        for table in config.overrides.values_mut() {
            for column in table.columns.values_mut() {
                let Some(named) = &mut column.named_type else {
                    continue;
                };
                if let Some(resolved) = self.0.get(&named.name) {
                    named.shown = Some(resolved.shown.clone());
                    named.compressible = resolved.compressible;
                    column.pg_type = Some(resolved.column_type.pg_type);
                    column.typmod = resolved.column_type.typmod;
                }
            }
        }
    }
}

/// Whether any override names a type only the target can resolve.
fn has_named(config: &Config) -> bool {
    config
        .overrides
        .values()
        .flat_map(|t| t.columns.values())
        .any(|c| c.named_type.is_some())
}

/// [`resolve`] for a command that plans before it connects: opens a
/// connection to `target` only when the config of `source` names a type
/// only the target knows.
pub(crate) async fn resolve_for(source: &SourceOptions, target: &str) -> Result<TargetTypes> {
    let config = Config::load(source.config.as_deref())?;
    if !has_named(&config) {
        return Ok(TargetTypes::default());
    }
    let client = ferry_writer::connect(target)
        .await
        .context("connecting to the target to look up ferry.toml's types")?;
    resolve(&client, &config).await
}

/// Looks up every named override type in the target and decides which
/// ferry type its values travel as; fails on the first the target does
/// not have or ferry cannot send, naming the config key.
pub(crate) async fn resolve(
    client: &tokio_postgres::Client,
    config: &Config,
) -> Result<TargetTypes> {
    let mut out = BTreeMap::new();
    for (table, table_override) in &config.overrides {
        for (column, column_override) in &table_override.columns {
            let Some(named) = &column_override.named_type else {
                continue;
            };
            if out.contains_key(&named.name) {
                continue;
            }
            let key = format!("[tables.{table}.columns.{column}] type");
            let resolved = resolve_one(client, &named.name, &key).await?;
            out.insert(named.name.clone(), resolved);
        }
    }
    Ok(TargetTypes(out))
}

/// One row of `pg_type`, as far as resolution needs it.
struct TypeRow {
    /// `typtype`: `b` base, `d` domain, `e` enum, `c` composite…
    kind: String,
    base: u32,
    typmod: i32,
    /// An array's element type (`typelem` of a varlena type); 0 if none.
    element: u32,
    /// `format_type(oid, typmod)`, `typmod` from the domain above, if any.
    shown_with_typmod: String,
}

async fn type_row(client: &tokio_postgres::Client, oid: u32, typmod: i32) -> Result<TypeRow> {
    let row = client
        .query_one(
            "SELECT typtype::text, typbasetype, typtypmod, \
             CASE WHEN typlen = -1 THEN typelem ELSE 0 END, format_type(oid, $2) \
             FROM pg_catalog.pg_type WHERE oid = $1",
            &[&oid, &typmod],
        )
        .await
        .context("reading the target's pg_type")?;
    Ok(TypeRow {
        kind: row.get(0),
        base: row.get(1),
        typmod: row.get(2),
        element: row.get(3),
        shown_with_typmod: row.get(4),
    })
}

async fn resolve_one(client: &tokio_postgres::Client, name: &str, key: &str) -> Result<Resolved> {
    let found = client
        .query_one(
            "SELECT t::oid, format_type(t, -1), \
             (SELECT typstorage IN ('x', 'm') FROM pg_catalog.pg_type WHERE oid = t) \
             FROM to_regtype($1) AS t",
            &[&name],
        )
        .await;
    let row = match found {
        Ok(row) => row,
        // to_regtype returns NULL for a name it does not find, but fails
        // on one it cannot parse.
        Err(e) if e.as_db_error().is_some() => {
            return Err(UsageError::new(format!(
                "ferry.toml: {key}: '{name}' is not a type name the target reads ({}); write \
                 it as CREATE TABLE would",
                e.as_db_error().map_or("", |d| d.message())
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("looking up type {name} in the target")),
    };
    let (Some(oid), Some(shown)) = (
        row.get::<_, Option<u32>>(0),
        row.get::<_, Option<String>>(1),
    ) else {
        return Err(UsageError::new(format!(
            "ferry.toml: {key}: the target has no type {name}; create it first (CREATE DOMAIN, \
             CREATE EXTENSION…) or choose a type it has"
        ))
        .into());
    };
    let column_type = base_column_type(client, oid, name, key).await?;
    Ok(Resolved {
        column_type,
        shown,
        compressible: row.get::<_, Option<bool>>(2).unwrap_or(false),
    })
}

/// The ferry type the values of the type `oid` travel as, following
/// domains to their base.
async fn base_column_type(
    client: &tokio_postgres::Client,
    mut oid: u32,
    name: &str,
    key: &str,
) -> Result<ColumnType> {
    let mut typmod = -1;
    // Domains nest only as deep as someone declared them; the bound guards
    // against a catalog that loops.
    for _ in 0..64 {
        let row = type_row(client, oid, typmod).await?;
        match row.kind.as_str() {
            "d" => {
                // Only a domain over a ferry type can carry its typmod (a
                // domain over a domain takes none of its own).
                if typmod < 0 {
                    typmod = row.typmod;
                }
                oid = row.base;
            }
            "e" => return Ok(text_type()),
            "b" if row.element != 0 => {
                return Err(UsageError::new(format!(
                    "ferry.toml: {key}: {name} is an array, which ferry does not send yet; map \
                     the column to text (the stored text as it is) or jsonb (a JSON array)"
                ))
                .into())
            }
            "b" => {
                if let Ok(column_type) = row.shown_with_typmod.parse::<ColumnType>() {
                    return Ok(column_type);
                }
                if let Some(column_type) = same_wire_format(client, oid).await? {
                    return Ok(column_type);
                }
                return Err(refused(
                    name,
                    key,
                    &row.shown_with_typmod,
                    "its binary format",
                ));
            }
            kind => {
                let what = match kind {
                    "c" => "a composite type",
                    "r" => "a range type",
                    "m" => "a multirange type",
                    "p" => "a pseudo-type",
                    _ => "a type of unknown kind",
                };
                return Err(refused(name, key, &row.shown_with_typmod, what));
            }
        }
    }
    Err(UsageError::new(format!(
        "ferry.toml: {key}: {name} is a domain nested more than 64 deep; map the column to its \
         base type"
    ))
    .into())
}

fn text_type() -> ColumnType {
    ColumnType {
        pg_type: PgType::Text,
        typmod: ferry_model::Typmod::None,
    }
}

/// The ferry type whose receive and send functions the base type `oid`
/// shares (the same built-in C functions), if any.
async fn same_wire_format(client: &tokio_postgres::Client, oid: u32) -> Result<Option<ColumnType>> {
    let names: Vec<String> = FERRY_TYPES.iter().map(|n| (*n).to_owned()).collect();
    let row = client
        .query_opt(
            "SELECT format_type(b.oid, -1) \
             FROM pg_catalog.pg_type t, pg_catalog.pg_type b, \
                  pg_catalog.pg_proc tr, pg_catalog.pg_proc ts, \
                  pg_catalog.pg_proc br, pg_catalog.pg_proc bs, pg_catalog.pg_language l \
             WHERE t.oid = $1 AND b.oid = ANY (SELECT to_regtype(n) FROM unnest($2::text[]) n) \
               AND tr.oid = t.typreceive AND ts.oid = t.typsend \
               AND br.oid = b.typreceive AND bs.oid = b.typsend \
               AND l.lanname = 'internal' \
               AND tr.prolang = l.oid AND ts.prolang = l.oid \
               AND br.prolang = l.oid AND bs.prolang = l.oid \
               AND tr.prosrc = br.prosrc AND ts.prosrc = bs.prosrc \
             LIMIT 1",
            &[&oid, &names],
        )
        .await
        .context("comparing a type's binary format with ferry's types in the target")?;
    Ok(row.and_then(|r| r.get::<_, String>(0).parse::<ColumnType>().ok()))
}

fn refused(name: &str, key: &str, base: &str, what: &str) -> anyhow::Error {
    let base = if base == name {
        String::new()
    } else {
        format!(" (over {base})")
    };
    UsageError::new(format!(
        "ferry.toml: {key}: {name}{base}: ferry cannot send {what} in binary COPY; it sends \
         domains and extension types over {}, and enums. Map the column to text, or to a \
         type with the same values that ferry sends",
        FERRY_TYPES.join(", ")
    ))
    .into()
}

/// Fails on the first override of ferry's own types whose type
/// `to_regtype` does not find. PostGIS `geometry` is left to
/// [`crate::postgis::require_postgis`], which says how to install it;
/// named types to [`resolve`].
pub(crate) async fn check(client: &tokio_postgres::Client, config: &Config) -> Result<()> {
    for (table, table_override) in &config.overrides {
        for (column, column_override) in &table_override.columns {
            if column_override.named_type.is_some() {
                continue;
            }
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
