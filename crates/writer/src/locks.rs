//! Who holds the locks a statement waited for, to name them when
//! `lock_timeout` ends the wait (SQLSTATE 55P03).
//!
//! Once the timeout has fired the statement no longer waits, so
//! `pg_blocking_pids` has nothing to say; instead this lists the sessions
//! that still hold locks on the tables of the schemas ferry works in, and
//! advisory locks (other ferry processes).

use std::fmt;

use tokio_postgres::Client;

use crate::WriteError;

/// A session holding a lock that may be the one ferry waited for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockingSession {
    /// The server process id (for `pg_terminate_backend`).
    pub pid: i32,
    /// Its role.
    pub user: String,
    /// Its `application_name`.
    pub application: String,
    /// `active`, `idle in transaction`…
    pub state: String,
    /// The start of its current or last statement.
    pub query: String,
    /// `schema.table`, or the lock type (`advisory`).
    pub object: String,
    /// `AccessExclusiveLock`…
    pub mode: String,
}

impl fmt::Display for BlockingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} (user {}, application '{}', {}, query '{}') holds {} on {}",
            self.pid, self.user, self.application, self.state, self.query, self.mode, self.object
        )
    }
}

/// Sessions other than this one holding granted locks on relations of
/// `schemas`, or advisory locks, in the current database; at most ten.
///
/// # Errors
///
/// A [`WriteError`] if the catalog query fails.
pub async fn blocking_sessions(
    client: &Client,
    schemas: &[&str],
) -> Result<Vec<BlockingSession>, WriteError> {
    let schemas: Vec<String> = schemas.iter().map(|s| (*s).to_owned()).collect();
    let rows = client
        .query(
            "SELECT DISTINCT a.pid, coalesce(a.usename::text, ''),
                    coalesce(a.application_name, ''), coalesce(a.state, ''),
                    left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120),
                    coalesce(n.nspname || '.' || c.relname, l.locktype), l.mode
               FROM pg_catalog.pg_locks l
               JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
               LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation
               LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE l.granted
                AND l.pid <> pg_backend_pid()
                AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                   WHERE datname = current_database())
                AND (n.nspname = ANY($1) OR l.locktype = 'advisory')
              ORDER BY 1, 6, 7
              LIMIT 10",
            &[&schemas],
        )
        .await
        .map_err(|e| WriteError::from_pg("pg_locks", "list the sessions holding locks", e))?;
    Ok(rows
        .iter()
        .map(|row| BlockingSession {
            pid: row.get(0),
            user: row.get(1),
            application: row.get(2),
            state: row.get(3),
            query: row.get(4),
            object: row.get(5),
            mode: row.get(6),
        })
        .collect())
}
