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

/// One of ferry's sessions waiting for a lock right now.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LockWait {
    /// The waiting session (one of ferry's).
    pub pid: i32,
    /// What it waits for: `schema.table`, or the lock type (`advisory`,
    /// `transactionid`…).
    pub object: String,
    /// The sessions it waits behind (`pg_blocking_pids`).
    pub blockers: Vec<BlockingSession>,
    /// How long its current statement has waited, in seconds.
    pub seconds: f64,
}

impl fmt::Display for LockWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waiting {:.0}s for a lock on {} behind ",
            self.seconds, self.object
        )?;
        if self.blockers.is_empty() {
            return f.write_str("a session that is letting go");
        }
        let who: Vec<String> = self
            .blockers
            .iter()
            .map(|b| {
                format!(
                    "pid {} (user {}, application '{}', {}, query '{}')",
                    b.pid, b.user, b.application, b.state, b.query
                )
            })
            .collect();
        f.write_str(&who.join(", "))
    }
}

/// The sessions among `pids` that wait for a lock, with what they wait
/// for and behind whom.
///
/// # Errors
///
/// A [`WriteError`] if the catalog query fails.
pub async fn lock_waits(client: &Client, pids: &[i32]) -> Result<Vec<LockWait>, WriteError> {
    let rows = client
        .query(
            "SELECT a.pid,
                    coalesce((SELECT coalesce(n.nspname || '.' || c.relname, l.locktype)
                                FROM pg_catalog.pg_locks l
                                LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation
                                LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                               WHERE l.pid = a.pid AND NOT l.granted
                               LIMIT 1), 'a lock'),
                    extract(epoch FROM now() - a.query_start)::float8,
                    b.pid, coalesce(b.usename::text, ''), coalesce(b.application_name, ''),
                    coalesce(b.state, ''),
                    left(regexp_replace(coalesce(b.query, ''), '\\s+', ' ', 'g'), 120)
               FROM pg_catalog.pg_stat_activity a
               LEFT JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(a.pid)) AS blocker(pid)
                      ON true
               LEFT JOIN pg_catalog.pg_stat_activity b ON b.pid = blocker.pid
              WHERE a.pid = ANY($1) AND a.wait_event_type = 'Lock'
              ORDER BY 1, 4",
            &[&pids],
        )
        .await
        .map_err(|e| WriteError::from_pg("pg_locks", "list the lock waits", e))?;
    let mut waits: Vec<LockWait> = Vec::new();
    for row in rows {
        let pid: i32 = row.get(0);
        if !matches!(waits.last(), Some(w) if w.pid == pid) {
            waits.push(LockWait {
                pid,
                object: row.get(1),
                blockers: Vec::new(),
                seconds: row.get::<_, Option<f64>>(2).unwrap_or(0.0),
            });
        }
        if let (Some(wait), Some(blocker)) = (waits.last_mut(), row.get::<_, Option<i32>>(3)) {
            wait.blockers.push(BlockingSession {
                pid: blocker,
                user: row.get(4),
                application: row.get(5),
                state: row.get(6),
                query: row.get(7),
                object: wait.object.clone(),
                mode: String::new(),
            });
        }
    }
    Ok(waits)
}
