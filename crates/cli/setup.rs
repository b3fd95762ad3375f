//! Before any row moves: decide whether this run starts a copy, resumes
//! one, or joins one that other processes are running, and record the
//! plan of chunks in the target's ledger.
//!
//! The decision is taken under the copy's advisory lock, so processes
//! started together take turns: the first creates the tables and the
//! ledger, the others find the ledger and claim chunks from it.

use anyhow::{Context, Result};
use ferry_model::{quote_qualified, TablePlan, TableSchema};
use ferry_reader::SourceDb;
use ferry_writer::{PlannedChunk, Storage, TableState};

use crate::args::{CopyArgs, IfExists, OnError};
use crate::exit::UsageError;

/// What the run found and decided.
pub struct Setup {
    /// Per plan: whether the copy created the table (and so builds its keys
    /// and indexes).
    pub created: Vec<bool>,
    /// This run continues a copy recorded in the ledger.
    pub resumed: bool,
    /// The recorded copy had already finished: nothing to do.
    pub finished: bool,
    /// The recorded copy had loaded every chunk and was building indexes
    /// when it stopped.
    pub was_indexing: bool,
}

/// Names a copy by its target: the schema and the set of tables. Two runs
/// copying the same tables into the same schema share a ledger entry.
pub fn copy_id(plans: &[TablePlan]) -> String {
    let mut names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    let hash = blake3::hash(names.join("\0").as_bytes());
    let schema = plans.first().map_or("public", |p| p.schema.as_str());
    format!("{schema}/{}", &hash.to_hex()[..16])
}

/// What the source looked like: each table's definition, row count and
/// rowid span, and a digest of its bytes (so an in-place update that
/// keeps counts and rowids is seen too, issue 14). A resumed copy refuses
/// a source whose fingerprint changed.
pub fn fingerprint(source: &SourceDb, tables: &[TableSchema], rows: &[u64]) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(
        source
            .content_digest()
            .context("reading the source to fingerprint it")?
            .as_bytes(),
    );
    for (table, rows) in tables.iter().zip(rows) {
        hasher.update(table.sql.as_bytes());
        hasher.update(&rows.to_le_bytes());
        for range in source.chunk_ranges(table, u64::MAX)? {
            hasher.update(format!("{range:?}").as_bytes());
        }
    }
    Ok(hasher.finalize().to_hex()[..32].to_owned())
}

/// What the user chose that shapes the target before any row moves.
pub struct Choices {
    pub on_error: OnError,
    pub storage: Storage,
}

/// Takes the copy's lock, decides, records, and releases the lock.
pub async fn start(
    client: &mut tokio_postgres::Client,
    args: &CopyArgs,
    plans: &[TablePlan],
    sources: &[(&TableSchema, u64)],
    source: &SourceDb,
    choices: &Choices,
) -> Result<Setup> {
    let copy_id = copy_id(plans);
    ferry_writer::ensure_ledger(client)
        .await
        .context("creating the ledger in schema ferry")?;
    ferry_writer::lock_copy(client, &copy_id).await?;
    let setup = decide(client, args, plans, sources, source, choices, &copy_id).await;
    ferry_writer::unlock_copy(client, &copy_id).await?;
    setup
}

async fn decide(
    client: &mut tokio_postgres::Client,
    args: &CopyArgs,
    plans: &[TablePlan],
    sources: &[(&TableSchema, u64)],
    source: &SourceDb,
    choices: &Choices,
    copy_id: &str,
) -> Result<Setup> {
    let tables: Vec<TableSchema> = sources.iter().map(|(t, _)| (*t).clone()).collect();
    let rows: Vec<u64> = sources.iter().map(|(_, r)| *r).collect();
    let fingerprint = fingerprint(source, &tables, &rows)?;
    let resume = args.if_exists == Some(IfExists::Resume);
    if resume {
        requeue_lost_unlogged(client, copy_id, plans).await?;
        if let Some(record) = ferry_writer::copy_record(client, copy_id).await? {
            if record.source_fingerprint != fingerprint && !args.allow_changed_source {
                return Err(UsageError::new(
                    "the source changed since this copy started (its tables, rows or bytes differ), \
                     so resuming could mix two states of it; rerun with \
                     --if-exists truncate to start over, or add --allow-changed-source to resume \
                     anyway",
                )
                .into());
            }
            if choices.on_error == OnError::Quarantine {
                ferry_writer::ensure_rejects_table(client).await?;
            }
            return Ok(Setup {
                created: plans
                    .iter()
                    .map(|p| record.created_tables.contains(&p.name))
                    .collect(),
                resumed: true,
                finished: record.status == "done",
                was_indexing: record.status == "indexing",
            });
        }
    }
    // A fresh copy. With --if-exists resume and nothing recorded, it
    // refuses non-empty tables like a plain copy does.
    let if_exists = args.if_exists.filter(|mode| *mode != IfExists::Resume);
    let created = prepare_target(client, plans, if_exists, &choices.storage).await?;
    if choices.on_error == OnError::Quarantine {
        ferry_writer::ensure_rejects_table(client)
            .await
            .context("creating ferry.rejects")?;
    }
    // Biggest tables first, so the small ones fill the gaps at the end.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rows[i]));
    let mut chunks = Vec::new();
    for i in order {
        for (index, range) in source
            .chunk_ranges(&tables[i], args.chunk_rows)?
            .into_iter()
            .enumerate()
        {
            chunks.push(PlannedChunk {
                table: plans[i].name.clone(),
                index: i32::try_from(index)
                    .context("a table has more than 2^31 chunks; raise --chunk-rows")?,
                rowids: match range {
                    ferry_model::ChunkRange::Rowid { start, end } => Some((start, end)),
                    ferry_model::ChunkRange::Whole => None,
                },
            });
        }
    }
    let created_tables: Vec<String> = plans
        .iter()
        .zip(&created)
        .filter(|(_, c)| **c)
        .map(|(p, _)| p.name.clone())
        .collect();
    let schema = plans.first().map_or("public", |p| p.schema.as_str());
    ferry_writer::register_copy(
        client,
        copy_id,
        schema,
        &fingerprint,
        args.chunk_rows,
        &created_tables,
        &chunks,
    )
    .await
    .context("recording the copy's chunks in ferry.chunks")?;
    Ok(Setup {
        created,
        resumed: false,
        finished: false,
        was_indexing: false,
    })
}

/// Applies `--if-exists` and creates what is missing. Returns, per plan,
/// whether ferry created the table (and so owns its keys and indexes).
async fn prepare_target(
    client: &tokio_postgres::Client,
    plans: &[TablePlan],
    if_exists: Option<IfExists>,
    storage: &Storage,
) -> Result<Vec<bool>> {
    let mut states = Vec::new();
    for plan in plans {
        let state = ferry_writer::table_state(client, &plan.schema, &plan.name)
            .await
            .with_context(|| format!("inspecting {}.{}", plan.schema, plan.name))?;
        states.push(state);
    }
    let names = |wanted: &dyn Fn(&TableState) -> bool| -> Vec<String> {
        plans
            .iter()
            .zip(&states)
            .filter(|(_, s)| wanted(s))
            .map(|(p, _)| quote_qualified(&p.schema, &p.name))
            .collect()
    };
    let not_empty = names(&|s| *s == TableState::NotEmpty);
    if if_exists.is_none() && !not_empty.is_empty() {
        return Err(UsageError::new(format!(
            "target tables already hold rows: {}; rerun with --if-exists truncate (empty them), \
             append (add to them) or drop (recreate them)",
            not_empty.join(", ")
        ))
        .into());
    }
    let existing = names(&|s| *s != TableState::Missing);
    let mut created: Vec<bool> = states.iter().map(|s| *s == TableState::Missing).collect();
    if !existing.is_empty() {
        match if_exists {
            Some(IfExists::Drop) => {
                run_sql(
                    client,
                    &format!("DROP TABLE {}", existing.join(", ")),
                    "dropping tables",
                )
                .await?;
                created = vec![true; plans.len()];
            }
            Some(IfExists::Truncate) => {
                run_sql(
                    client,
                    &format!("TRUNCATE {}", existing.join(", ")),
                    "truncating tables",
                )
                .await?;
            }
            Some(IfExists::Append | IfExists::Resume) | None => {}
        }
    }
    let mut schemas: Vec<&str> = plans.iter().map(|p| p.schema.as_str()).collect();
    schemas.dedup();
    for schema in schemas {
        run_sql(
            client,
            &ferry_writer::create_schema_sql(schema),
            "creating the schema",
        )
        .await?;
    }
    for (plan, create) in plans.iter().zip(&created) {
        if *create {
            run_sql(
                client,
                &ferry_writer::create_table_sql(plan, storage),
                &format!("creating {}.{}", plan.schema, plan.name),
            )
            .await?;
        }
    }
    Ok(created)
}

async fn run_sql(client: &tokio_postgres::Client, sql: &str, what: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .with_context(|| format!("{what}: {sql}"))
}

/// Sends the chunks of `UNLOGGED` tables a server crash emptied back to
/// pending (see [`ferry_writer::requeue_lost_unlogged`]), saying so on
/// stderr. Runs before a copy resumes and whenever a writer reconnects.
pub async fn requeue_lost_unlogged(
    client: &tokio_postgres::Client,
    copy_id: &str,
    plans: &[TablePlan],
) -> Result<()> {
    let Some(schema) = plans.first().map(|p| p.schema.as_str()) else {
        return Ok(());
    };
    let tables: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let requeued = ferry_writer::requeue_lost_unlogged(client, copy_id, schema, &tables)
        .await
        .context("checking unlogged tables after a lost connection")?;
    if !requeued.is_empty() {
        eprintln!(
            "ferry: the server emptied unlogged tables {} (it crashed or restarted without a \
             clean shutdown); their chunks are loaded again",
            requeued.join(", ")
        );
    }
    Ok(())
}
