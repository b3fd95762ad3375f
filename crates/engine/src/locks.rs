//! Naming who holds the lock a statement gave up waiting for.
//!
//! Every session ferry opens carries `lock_timeout` (`--lock-timeout`), so
//! a table locked by someone else ends the run with SQLSTATE 55P03 instead
//! of a silent wait; this adds which sessions hold locks in the schemas
//! ferry works in, and what to do about them.

use anyhow::Result;
use ferry_writer::WriteError;

/// SQLSTATE lock_not_available.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Passes `result` through; a lock timeout gets the lock holders of the
/// target schema (`public` unless given) and of schema `ferry` as context.
pub async fn explain<T>(result: Result<T>, target: &str, schema: Option<&str>) -> Result<T> {
    let err = match result {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let timed_out = err.chain().any(|cause| {
        let writer = cause
            .downcast_ref::<WriteError>()
            .and_then(WriteError::sqlstate);
        let client = cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::code)
            .map(tokio_postgres::error::SqlState::code);
        writer.or(client) == Some(LOCK_NOT_AVAILABLE)
    });
    if !timed_out {
        return Err(err);
    }
    let schema = schema.unwrap_or("public");
    let holders = match ferry_writer::connect(target).await {
        Ok(client) => ferry_writer::blocking_sessions(&client, &[schema, "ferry"])
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let who = if holders.is_empty() {
        "the session that held it has let go since; run ferry again".to_owned()
    } else {
        let list: Vec<String> = holders.iter().map(ToString::to_string).collect();
        format!(
            "held by: {}; end that transaction (or SELECT pg_terminate_backend(pid)), or rerun \
             with a longer --lock-timeout",
            list.join("; ")
        )
    };
    Err(err.context(format!("gave up waiting for a lock in the target: {who}")))
}
