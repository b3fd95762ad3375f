//! ferry-writer: everything ferry does to the PostgreSQL target.
//!
//! - [`connect`] opens a connection from a libpq URL or key=value string
//!   resolved exactly as libpq resolves it (a service file, the `PG*`
//!   environment variables, `~/.pgpass`, the Unix socket by default; the
//!   empty string takes everything from there), with TLS chosen by
//!   `sslmode` (`allow` included) and client certificates;
//!   [`redact_url`] hides its password in every message, and no password
//!   from the environment or a file is ever shown.
//!   [`set_default_application_name`] names the sessions.
//! - [`create_table_sql`], [`post_load_steps`], [`constraint_steps`] and
//!   [`plan_script`] turn a [`TablePlan`](ferry_model::TablePlan) into SQL,
//!   with the [`Storage`] (TOAST compression) chosen for the run.
//!   Tables are created bare; keys and indexes are built once the rows are
//!   in, and CHECK constraints and foreign keys are added `NOT VALID`, then
//!   validated. A plan with a [`PartitionPlan`](ferry_model::PartitionPlan)
//!   creates a partitioned parent and its leaves, each commented as ferry's;
//!   [`list_leaves`] and the statements of `partition_ddl` maintain them.
//! - [`CopyEncoder`] (from ferry-copy-codec, re-exported) writes
//!   [`PgValue`](ferry_model::PgValue)s in the binary COPY format into a
//!   reusable buffer.
//! - [`ChunkCopy`] sends one chunk's encoded rows in one transaction with its
//!   rejects, and commits only if the server wrote every row sent.
//! - [`table_state`] and [`ensure_rejects_table`] inspect and prepare the
//!   target; [`check_columns_match`] refuses an existing table whose
//!   columns are not the plan's before a row is sent to it.
//! - ferry trusts only what it owns in schema `ferry`: [`ensure_ledger`],
//!   [`ensure_rejects_table`] and [`ensure_sync_state`] check owner,
//!   triggers, rules, policies and definition before touching them
//!   ([`WriteError::Untrusted`] otherwise). [`try_advisory_lock`] and
//!   [`advisory_lock_holder`] keep runs apart, and [`end_orphans`] ends
//!   the backends a killed run left busy.
//!
//! For `ferry verify`, everything that reads the target back:
//!
//! - [`decode_value`] (from ferry-copy-codec, re-exported) is the mirror of
//!   the field encoding: Postgres's binary form of each type back into a
//!   [`PgValue`](ferry_model::PgValue).
//! - [`stream_rows`] streams a table's rows (all, an integer key range, or
//!   a list of keys, see [`RowFilter`]) decoded by the column types the
//!   server reports, handing each to a callback whose own error stops the
//!   stream ([`WriteOrRow`]); [`count_rows`] and [`fetch_rejects`] read
//!   counts and recorded rejects. Key values travel as binary [`PgParam`]s.
//! - [`stream_located_rows`] streams every row with its [`TargetLocator`]
//!   (table oid and tuple id), and [`fetch_located`] reads the few rows a
//!   full comparison lists back by it.
//! - [`inspect_table`] reads a table's columns, keys, indexes and foreign
//!   keys from the catalogs, and [`schema_differences`] lists how they
//!   differ from the plan.
//!
//! For `ferry sync`: [`apply_changes`] merges a [`ChangeSet`] (rows to
//! write, keys to delete) into a table in one transaction together with
//! its row of `ferry.sync_state` ([`read_sync_state`]) and, for a table
//! synced by digests, the source digests it now matches
//! ([`read_sync_digests`]); [`try_lock_sync`] keeps two syncs of one source apart.
//!
//! A load runs: `connect` → `create_table` → per chunk `ChunkCopy::begin`,
//! `send`…, `commit` → `run_step` for each post-load step → CHECKs and
//! foreign keys.
//! Every failure is a [`WriteError`] that keeps the server's SQLSTATE,
//! table, column and constraint.
//!
//! The encoding itself is ferry-copy-codec's (its docs show a round trip);
//! this crate sends it.
//!
//! ```
//! let sql = ferry_writer::create_schema_sql("Sales");
//! assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS \"Sales\""));
//! assert_eq!(
//!     ferry_writer::redact_url("postgres://app:s3cret@db/prod"),
//!     "postgres://app:***@db/prod"
//! );
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod connect;
mod conninfo;
mod ddl;
mod error;
mod inspect;
mod ledger;
mod libpq;
mod load;
mod locate;
mod locks;
mod partition_catalog;
mod partition_ddl;
mod pgpass;
mod postgis;
mod read_back;
mod redact;
mod resolved;
mod service_file;
mod session;
mod storage;
mod sync_apply;
mod sync_state;
mod tls;
mod trust;

pub use ferry_copy_codec::{decode_value, CodecError, CopyEncoder};

pub use connect::{
    connect, set_default_application_name, set_lock_timeout, DEFAULT_CONNECT_TIMEOUT,
};
pub use conninfo::target_with;
pub use ddl::{
    constraint_steps, create_schema_sql, create_table_sql, drop_table_sql, plan_script,
    post_load_steps, rejects_table_sql, set_logged_step, truncate_table_sql, Leaves, Step,
    StepKind,
};
pub use error::{ServerError, WriteError};
pub use inspect::{
    check_columns_match, column_differences, inspect_table, schema_differences, TargetColumn,
    TargetTable,
};
pub use ledger::{
    advance_copy, claim_build, committed_rows, copy_record, ensure_ledger, finish_build,
    ledger_sql, lock_copy, pending_builds, pending_chunks, register_copy, release_build,
    requeue_lost_unlogged, unlock_copy, unlogged_tables, CopyRecord, NewCopy, PlannedChunk,
};
pub use libpq::describe_target;
pub use load::{
    create_table, ensure_rejects_table, record_sync_rejects, reject_json, run_step, step_done,
    table_state, trusted_rejects_table, ChunkCopy, ClaimedChunk, TableState,
};
pub use locate::{fetch_located, stream_located_rows, OnLocatedRow, TargetLocator};
pub use locks::{blocking_sessions, lock_waits, BlockingSession, LockWait};
pub use partition_catalog::{list_leaves, partition_key, PartitionKey, TargetLeaf};
pub use partition_ddl::{
    attach_leaf_sql, bound_sql, comment_leaf_sql, create_detached_leaf_sql, create_leaf_sql,
    detach_leaf_sql, leaf_comment, move_rows_sql, partitioned_suffix, partitions_lock_key,
    LEAF_COMMENT_PREFIX, PARTITIONS_LOCK_SQL,
};
pub use postgis::{postgis_status, PostgisStatus};
pub use read_back::{
    count_rows, fetch_rejects, param_type, stream_rows, OnTargetRow, PgParam, RawField, RowFilter,
    TargetRows, WriteOrRow,
};
pub use redact::{redact_url, secrets};
pub use session::{
    advisory_lock, advisory_lock_holder, advisory_unlock, backend_pid, end_orphans, end_session,
    set_application_name, try_advisory_lock, LockHolder,
};
pub use storage::{server_has_lz4, Compression, Storage};
pub use sync_apply::{
    add_column_sql, apply_all, apply_changes, constraint_is_deferrable, dependency_order,
    set_not_null_sql, Applied, ApplyFailure, ChangeSet, DigestsUpdate, SyncRecord, TableChanges,
};
pub use sync_state::{
    ensure_sync_state, forget_sync_state, max_key, read_sync_digests, read_sync_state,
    sync_lock_holder, sync_state_sql, try_lock_sync, StoredDigests, SyncState,
};
