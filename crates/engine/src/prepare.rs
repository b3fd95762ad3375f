//! The steps `plan` and `copy` share: open the source, choose the tables,
//! plan the target.

use anyhow::{anyhow, Context, Result};
use ferry_model::{SkippedObject, SourceSchema, TablePlan, TableSchema};
use ferry_reader::SourceDb;
use ferry_transformer::{GeometryMode, IdentifierCase, PlanOptions};

use crate::config::Config;
use crate::connections::SourceConnections;
use crate::exit::UsageError;
use crate::options::{GeometryAs, IdentifierMode, SourceOptions, TypesFrom};
use crate::override_types::TargetTypes;
use crate::stored_types::Widening;

/// The schema ferry keeps its ledger, rejects and sync state in; never a
/// target schema.
const RESERVED_SCHEMA: &str = "ferry";

/// A source opened and planned, ready to print or to copy.
pub struct Prepared {
    pub source: SourceDb,
    /// The chosen tables, each with its plan, in the order planned.
    pub tables: Vec<PlannedTable>,
    /// What the source holds that is not copied.
    pub skipped: Vec<SkippedObject>,
    pub config: Config,
    /// The columns stored values widened; `None` under `--types declared`,
    /// which does not look.
    pub widened: Option<Vec<Widening>>,
}

/// A source table and the plan made from it, paired once here so that no
/// step has to find one by the other's name.
#[derive(Clone)]
pub struct PlannedTable {
    pub source: TableSchema,
    pub plan: TablePlan,
}

impl PlannedTable {
    /// Pairs each plan with the table it was made from.
    fn pair(schema: &SourceSchema, plans: Vec<TablePlan>) -> Result<Vec<PlannedTable>> {
        plans
            .into_iter()
            .map(|plan| {
                let source = schema.table(&plan.source_name).cloned().ok_or_else(|| {
                    anyhow!(
                        "the plan of {} names no source table; this is a bug",
                        plan.source_name
                    )
                })?;
                Ok(PlannedTable { source, plan })
            })
            .collect()
    }
}

pub fn prepare(args: &SourceOptions) -> Result<Prepared> {
    prepare_with(
        args,
        &SourceConnections::open_each(&args.source, &args.source),
    )
}

/// [`prepare`], reading through `connections` (to a snapshot of
/// `args.source`) instead: the planning connection and those of the
/// stored-type scans see the state the copy's readers will.
pub fn prepare_with(args: &SourceOptions, connections: &SourceConnections) -> Result<Prepared> {
    prepare_typed(args, connections, &TargetTypes::default())
}

/// [`prepare_with`], the config's named override types (domains,
/// `citext`…) typed as the target resolved them in `target_types`.
pub(crate) fn prepare_typed(
    args: &SourceOptions,
    connections: &SourceConnections,
    target_types: &TargetTypes,
) -> Result<Prepared> {
    let mut config = Config::load(args.config.as_deref())?;
    target_types.apply(&mut config);
    let source = connections.open()?;
    let mut schema = source.schema().context("reading the source schema")?;
    let geometry = match args.geometry.or(config.geometry) {
        Some(GeometryAs::Postgis) => GeometryMode::Postgis,
        Some(GeometryAs::Bytea) | None => GeometryMode::Bytea,
    };
    if geometry == GeometryMode::Postgis {
        let owned = ferry_transformer::postgis_owned_tables(&schema);
        schema
            .tables
            .retain(|t| !owned.iter().any(|o| o.name == t.name));
        schema.skipped.extend(owned);
    }
    // A list on the command line replaces the config's, not adds to it.
    let only = if args.tables.is_empty() {
        &config.include
    } else {
        &args.tables
    };
    let exclude = if args.exclude.is_empty() {
        &config.exclude
    } else {
        &args.exclude
    };
    let tables = select_tables(&schema, only, exclude)?;
    let mut overrides = config.overrides.clone();
    crate::partition_config::apply_partition_flags(&schema, &args.partition, &mut overrides)?;
    let identifiers = args
        .identifiers
        .or(config.identifiers)
        .unwrap_or(IdentifierMode::Lower);
    let schema_name = args
        .schema
        .clone()
        .or_else(|| config.schema.clone())
        .unwrap_or_else(|| "public".to_owned());
    if schema_name == RESERVED_SCHEMA {
        return Err(UsageError::new(
            "schema ferry is reserved for ferry's ledger and rejects (a table named copies, \
             chunks or rejects there would be ferry's own, and --if-exists drop would drop \
             them for every copy); choose another --schema",
        )
        .into());
    }
    let mut options = PlanOptions {
        schema: schema_name,
        identifiers: match identifiers {
            IdentifierMode::Lower => IdentifierCase::Lower,
            IdentifierMode::Preserve => IdentifierCase::Preserve,
        },
        tables,
        naive_timezone: config.naive_zone.clone(),
        overrides,
        geometry,
    };
    let plan = |options: &PlanOptions| {
        let plans =
            ferry_transformer::plan_tables(&schema, options).context("planning the target")?;
        PlannedTable::pair(&schema, plans)
    };
    let mut tables = plan(&options)?;
    let mut widened = None;
    if args.types.or(config.types).unwrap_or(TypesFrom::Stored) == TypesFrom::Stored {
        let found =
            crate::stored_types::findings(&source, connections, &tables, &options.overrides)?;
        let widenings = found.widenings;
        for (table, rows) in found.null_keys {
            options.overrides.entry(table).or_default().key_with_nulls = Some(rows);
        }
        if !widenings.is_empty()
            || options
                .overrides
                .values()
                .any(|o| o.key_with_nulls.is_some())
        {
            // Planned again as if ferry.toml set the types, so that every
            // column's DDL, coercion and checks follow its new type.
            for w in &widenings {
                let column = options
                    .overrides
                    .entry(w.table.clone())
                    .or_default()
                    .columns
                    .entry(w.column.clone())
                    .or_default();
                column.pg_type = Some(w.pg_type);
            }
            tables = plan(&options)?;
            for w in &widenings {
                if let Some(table) = tables.iter_mut().find(|t| t.plan.source_name == w.table) {
                    table.plan.warnings.push(w.warning.clone());
                }
            }
        }
        widened = Some(widenings);
    }
    Ok(Prepared {
        source,
        tables,
        skipped: schema.skipped,
        config,
        widened,
    })
}

/// Applies `--tables` and `--exclude`, keeping the source's order; naming a
/// table that does not exist is an error, not an empty copy.
fn select_tables(
    schema: &SourceSchema,
    only: &[String],
    exclude: &[String],
) -> Result<Vec<String>> {
    let known = || {
        schema
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in only.iter().chain(exclude) {
        if schema.table(name).is_none() {
            return Err(UsageError::new(format!(
                "no table '{name}' in the source; its tables are: {}",
                known()
            ))
            .into());
        }
    }
    let chosen = |name: &str| {
        (only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(name)))
            && !exclude.iter().any(|e| e.eq_ignore_ascii_case(name))
    };
    let tables: Vec<String> = schema
        .tables
        .iter()
        .filter(|t| chosen(&t.name))
        .map(|t| t.name.clone())
        .collect();
    if tables.is_empty() {
        return Err(UsageError::new(
            "no table to copy: check --tables and --exclude (or include and exclude in the config)",
        )
        .into());
    }
    Ok(tables)
}
