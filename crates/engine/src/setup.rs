//! Before any row moves: decide whether this run starts a copy, resumes
//! one, or joins one that other processes are running, and record the
//! plan of chunks in the target's ledger.
//!
//! The decision is taken under the copy's advisory lock, so processes
//! started together take turns: the first creates the tables and the
//! ledger, the others find the ledger and claim chunks from it.

use std::fmt;

use anyhow::{Context, Result};
use ferry_model::{quote_qualified, TablePlan};
use ferry_reader::SourceDb;
use ferry_writer::{LockHolder, NewCopy, PlannedChunk, Storage, TableState};

use crate::chunk_plan::{self, TableSize, CHUNK_BYTES};
use crate::exit::UsageError;
use crate::options::{CopyOptions, IfExists, OnError};
use crate::pipeline::TableLoad;

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
    /// What registering tables with pg_partman had to say.
    pub notes: Vec<String>,
}

/// Names a copy by its target: the schema and the set of tables. Two runs
/// copying the same tables into the same schema share a ledger entry.
pub fn copy_id(tables: &[TableLoad]) -> String {
    let mut names: Vec<&str> = tables.iter().map(|t| t.plan.name.as_str()).collect();
    names.sort_unstable();
    let hash = blake3::hash(names.join("\0").as_bytes());
    format!("{}/{}", target_schema(tables), &hash.to_hex()[..16])
}

/// The schema the copy's tables go to.
fn target_schema(tables: &[TableLoad]) -> &str {
    tables.first().map_or("public", |t| t.plan.schema.as_str())
}

/// What the target is planned to look like, as far as the rows already
/// loaded depend on it: each table's columns (types, typmods, nullability,
/// coercion options, so `type =` overrides and lossy repairs) and its
/// partitioning. A resumed copy refuses a plan whose fingerprint changed:
/// its committed chunks were encoded for the old one. The chunk size is
/// not part of it: a resume takes its chunks from the ledger, whatever
/// `--chunk-rows` says.
pub fn plan_fingerprint(tables: &[TableLoad]) -> String {
    let mut hasher = blake3::Hasher::new();
    for TableLoad { plan, .. } in tables {
        hasher.update(
            format!(
                "{:?}\0{:?}\0{:?}\0",
                plan.name, plan.columns, plan.partition
            )
            .as_bytes(),
        );
    }
    hasher.finalize().to_hex()[..32].to_owned()
}

/// Another run loads the same target tables: exit 4, like a sync's lock.
#[derive(Debug)]
pub struct LoaderBusy {
    /// The copy (`schema/hash` of its table set).
    pub copy_id: String,
    /// The session holding the lock, when it could be read.
    pub holder: Option<LockHolder>,
    /// The holders are `--if-exists resume` processes, not a plain copy.
    pub joiners: bool,
}

impl fmt::Display for LoaderBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.joiners {
            write!(
                f,
                "ferry copy --if-exists resume processes are loading these tables (copy {})",
                self.copy_id
            )?;
        } else {
            write!(
                f,
                "another ferry copy is loading these tables (copy {})",
                self.copy_id
            )?;
        }
        if let Some(holder) = &self.holder {
            write!(f, "; it holds the lock from {holder}")?;
        }
        f.write_str(
            "; this run changed nothing: wait for it to finish, or run with --if-exists resume \
             to join it",
        )
    }
}

impl std::error::Error for LoaderBusy {}

/// The run's own connection to the target, holding the copy's locks. It
/// stays idle, so the server drops it, and its locks, the moment the
/// process dies, while busy worker connections may outlive it.
///
/// A plain copy holds `ferry copy <id>` exclusively for its whole run, so a
/// second plain copy of the same tables is refused at once (two plain
/// copies used to load every row twice). `--if-exists resume` processes
/// hold `ferry copy joiners <id>` shared: they may join each other and a
/// running plain copy, and a plain copy refuses to start under them.
pub struct Session {
    client: tokio_postgres::Client,
    target: String,
    copy_id: String,
    resume: bool,
}

impl Session {
    pub async fn open(target: &str, copy_id: &str, resume: bool) -> Result<Session> {
        let client = ferry_writer::connect(target)
            .await
            .context("opening the copy's lock connection to the target")?;
        acquire(&client, copy_id, resume).await?;
        Ok(Session {
            client,
            target: target.to_owned(),
            copy_id: copy_id.to_owned(),
            resume,
        })
    }

    /// Makes this process the one that builds keys and indexes, waiting
    /// for a live process already doing so; returns the
    /// `application_name` its post-load sessions go by. Backends still
    /// under that name once the lock is held were left by a run that died
    /// mid-statement.
    pub async fn lead_post_load(&mut self) -> Result<String> {
        if self.client.is_closed() {
            // The server restarted or the session was terminated: its
            // locks went with it. Take them again, as at the start.
            self.client = ferry_writer::connect(&self.target)
                .await
                .context("reopening the copy's lock connection to the target")?;
            acquire(&self.client, &self.copy_id, self.resume).await?;
        }
        ferry_writer::advisory_lock(&self.client, &format!("ferry post-load {}", self.copy_id))
            .await
            .context("waiting for another process building this copy's keys and indexes")?;
        let hash = blake3::hash(self.copy_id.as_bytes());
        Ok(format!("ferry post-load {}", &hash.to_hex()[..16]))
    }
}

/// Takes the locks of [`Session`] on `client`.
async fn acquire(client: &tokio_postgres::Client, copy_id: &str, resume: bool) -> Result<()> {
    let loader = format!("ferry copy {copy_id}");
    let joiners = format!("ferry copy joiners {copy_id}");
    let busy = |holder, joiners| LoaderBusy {
        copy_id: copy_id.to_owned(),
        holder,
        joiners,
    };
    if resume {
        // Fails only while a plain copy checks for joiners, a moment.
        while !ferry_writer::try_advisory_lock(client, &joiners, true).await? {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        return Ok(());
    }
    if !ferry_writer::try_advisory_lock(client, &loader, false).await? {
        let holder = ferry_writer::advisory_lock_holder(client, &loader).await?;
        return Err(busy(holder, false).into());
    }
    if !ferry_writer::try_advisory_lock(client, &joiners, false).await? {
        let holder = ferry_writer::advisory_lock_holder(client, &joiners).await?;
        return Err(busy(holder, true).into());
    }
    ferry_writer::advisory_unlock(client, &joiners, false).await?;
    Ok(())
}

/// What the source looked like: each table's definition, row count and
/// rowid span, and a digest of its bytes (so an in-place update that
/// keeps counts and rowids is seen too, issue 14). A resumed copy refuses
/// a source whose fingerprint changed.
pub fn fingerprint(source: &SourceDb, tables: &[TableLoad]) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(
        source
            .content_digest()
            .context("reading the source to fingerprint it")?
            .as_bytes(),
    );
    for table in tables {
        hasher.update(table.source.sql.as_bytes());
        hasher.update(&table.expected_rows.to_le_bytes());
        for range in source.chunk_ranges(&table.source, u64::MAX)? {
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
    args: &CopyOptions,
    tables: &[TableLoad],
    source: &SourceDb,
    choices: &Choices,
) -> Result<Setup> {
    let copy_id = copy_id(tables);
    ferry_writer::ensure_ledger(client)
        .await
        .context("creating the ledger in schema ferry")?;
    ferry_writer::lock_copy(client, &copy_id).await?;
    let setup = decide(client, args, tables, source, choices, &copy_id).await;
    ferry_writer::unlock_copy(client, &copy_id).await?;
    setup
}

async fn decide(
    client: &mut tokio_postgres::Client,
    args: &CopyOptions,
    tables: &[TableLoad],
    source: &SourceDb,
    choices: &Choices,
    copy_id: &str,
) -> Result<Setup> {
    let fingerprint = fingerprint(source, tables)?;
    let resume = args.if_exists == Some(IfExists::Resume);
    if resume {
        requeue_lost_unlogged(client, copy_id, tables).await?;
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
            if record
                .plan_fingerprint
                .as_ref()
                .is_some_and(|recorded| *recorded != plan_fingerprint(tables))
            {
                return Err(UsageError::new(
                    "the plan changed since this copy started (a column type, a type override or \
                     lossy repair in ferry.toml, or the partitioning differ), so \
                     resuming would load one table under two plans; rerun with the settings the \
                     copy started with, or with --if-exists truncate to start over",
                )
                .into());
            }
            for table in tables {
                ferry_writer::check_columns_match(client, &table.plan).await?;
            }
            if choices.on_error == OnError::Quarantine {
                ferry_writer::ensure_rejects_table(client).await?;
            }
            return Ok(Setup {
                created: tables
                    .iter()
                    .map(|t| record.created_tables.contains(&t.plan.name))
                    .collect(),
                resumed: true,
                finished: record.status == "done",
                was_indexing: record.status == "indexing",
                notes: Vec::new(),
            });
        }
    }
    // A fresh copy. With --if-exists resume and nothing recorded, it
    // refuses non-empty tables like a plain copy does.
    let if_exists = args.if_exists.filter(|mode| *mode != IfExists::Resume);
    let (created, notes) = prepare_target(client, tables, if_exists, &choices.storage).await?;
    if choices.on_error == OnError::Quarantine {
        ferry_writer::ensure_rejects_table(client)
            .await
            .context("creating ferry.rejects")?;
    }
    let (chunks, build_order) = plan_chunks(source, tables, args.chunk_rows)?;
    let created_tables: Vec<String> = tables
        .iter()
        .zip(&created)
        .filter(|(_, c)| **c)
        .map(|(t, _)| t.plan.name.clone())
        .collect();
    ferry_writer::register_copy(
        client,
        &NewCopy {
            copy_id,
            target_schema: target_schema(tables),
            source_fingerprint: &fingerprint,
            plan_fingerprint: &plan_fingerprint(tables),
            chunk_rows: args.chunk_rows,
            created_tables: &created_tables,
            tables: &build_order,
        },
        &chunks,
    )
    .await
    .context("recording the copy's chunks in ferry.chunks")?;
    Ok(Setup {
        created,
        resumed: false,
        finished: false,
        was_indexing: false,
        notes,
    })
}

/// Cuts every table into chunks of about [`CHUNK_BYTES`] (at most
/// `max_rows` rows each), from each table's bytes per row as sampled in the
/// source, and lists them in the order they are to be claimed: largest
/// first (see [`crate::chunk_plan`]). Also returns the tables, largest
/// first: the order their keys and indexes are built in when several
/// tables are ready at once.
fn plan_chunks(
    source: &SourceDb,
    tables: &[TableLoad],
    max_rows: u64,
) -> Result<(Vec<PlannedChunk>, Vec<String>)> {
    let mut sized = Vec::new();
    for table in tables {
        let per_row = source
            .sample_row_bytes(&table.source)
            .with_context(|| format!("sampling the rows of {}", table.source.name))?
            .unwrap_or(0.0);
        sized.push((table, TableSize::new(table.expected_rows, per_row)));
    }
    // Largest tables first, so that chunks of equal size go table by table.
    sized.sort_by_key(|(table, size)| std::cmp::Reverse((size.bytes, table.expected_rows)));
    let mut chunks = Vec::new();
    let mut sizes = Vec::new();
    for &(table, size) in &sized {
        let rows = chunk_plan::rows_per_chunk(size, CHUNK_BYTES, max_rows);
        let ranges = source.chunk_ranges(&table.source, rows)?;
        let each = size.bytes / (ranges.len().max(1) as u64);
        for (index, range) in ranges.into_iter().enumerate() {
            chunks.push(PlannedChunk {
                table: table.plan.name.clone(),
                index: i32::try_from(index)
                    .context("a table has more than 2^31 chunks; raise --chunk-rows")?,
                rowids: match range {
                    ferry_model::ChunkRange::Rowid { start, end } => Some((start, end)),
                    ferry_model::ChunkRange::Whole => None,
                },
            });
            sizes.push(each);
        }
    }
    let chunks = chunk_plan::claim_order(&sizes)
        .into_iter()
        .map(|i| chunks[i].clone())
        .collect();
    let order = sized.iter().map(|(t, _)| t.plan.name.clone()).collect();
    Ok((chunks, order))
}

/// Applies `--if-exists` and creates what is missing, registering tables
/// pg_partman manages with it. Returns, per table, whether ferry created
/// it (and so owns its keys and indexes), and pg_partman's notes.
async fn prepare_target(
    client: &tokio_postgres::Client,
    tables: &[TableLoad],
    if_exists: Option<IfExists>,
    storage: &Storage,
) -> Result<(Vec<bool>, Vec<String>)> {
    let plans: Vec<&TablePlan> = tables.iter().map(|t| &t.plan).collect();
    let managed: Vec<&TablePlan> = plans
        .iter()
        .copied()
        .filter(|p| crate::partman::settings(p).is_some())
        .collect();
    // Before anything is emptied or created.
    let partman = match managed.is_empty() {
        true => None,
        false => Some(crate::partman::require(client, &managed).await?),
    };
    let mut states = Vec::new();
    for plan in &plans {
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
    // Binary COPY sends each value in the planned type's format and the
    // server reads it without checking: into a column of another type it
    // lands as garbage (a REAL 1.5 as the bigint 4609434218613702656).
    // Compare before anything is emptied or written.
    if if_exists != Some(IfExists::Drop) {
        for (plan, state) in plans.iter().zip(&states) {
            if *state != TableState::Missing {
                ferry_writer::check_columns_match(client, plan).await?;
            }
        }
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
    let mut notes = Vec::new();
    for (plan, create) in plans.iter().zip(&created) {
        let sql = ferry_writer::create_table_sql(plan, storage);
        if let (Some(partman), Some(_)) = (&partman, crate::partman::settings(plan)) {
            let sql = create.then_some(sql.as_str());
            notes.extend(crate::partman::create_and_register(client, partman, plan, sql).await?);
        } else if *create {
            run_sql(
                client,
                &sql,
                &format!("creating {}.{}", plan.schema, plan.name),
            )
            .await?;
        }
    }
    Ok((created, notes))
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
    tables: &[TableLoad],
) -> Result<()> {
    let Some(schema) = tables.first().map(|t| t.plan.schema.as_str()) else {
        return Ok(());
    };
    let names: Vec<String> = tables.iter().map(|t| t.plan.name.clone()).collect();
    let requeued = ferry_writer::requeue_lost_unlogged(client, copy_id, schema, &names)
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
