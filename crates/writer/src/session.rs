//! Sessions ferry holds in the target to keep its runs apart: advisory
//! locks, who holds them, and the backends a killed run left behind.
//!
//! An advisory key is the 64-bit hash of a text (`hashtextextended(text,
//! 0)`), so every lock is named by what it guards (`ferry copy
//! public/1a2b…`). Session locks go away with the session; a process that
//! dies takes its idle connections with it at once, while a backend busy
//! with a statement (an index build) outlives its client until the
//! statement ends. Those orphans are found by their `application_name`.

use std::fmt;
use std::time::Duration;

use tokio_postgres::Client;

use crate::WriteError;

/// The session holding an advisory lock, as `pg_stat_activity` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockHolder {
    /// Server process id.
    pub pid: i32,
    /// The holder's role.
    pub user: Option<String>,
    /// Its `application_name`.
    pub application: Option<String>,
    /// Its client address, when it connected over TCP.
    pub client_addr: Option<String>,
    /// When its session started.
    pub since: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server pid {}", self.pid)?;
        if let Some(user) = &self.user {
            write!(f, ", role {user}")?;
        }
        if let Some(application) = self.application.as_deref().filter(|a| !a.is_empty()) {
            write!(f, ", application {application}")?;
        }
        if let Some(addr) = &self.client_addr {
            write!(f, ", from {addr}")?;
        }
        if let Some(since) = &self.since {
            write!(f, ", connected since {since}")?;
        }
        Ok(())
    }
}

/// Tries to take the session advisory lock named `key` without waiting,
/// shared or exclusive. `true` when this session now holds it.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn try_advisory_lock(
    client: &Client,
    key: &str,
    shared: bool,
) -> Result<bool, WriteError> {
    let function = if shared {
        "pg_try_advisory_lock_shared"
    } else {
        "pg_try_advisory_lock"
    };
    let row = client
        .query_one(
            &format!("SELECT {function}(hashtextextended($1, 0))"),
            &[&key],
        )
        .await
        .map_err(|e| WriteError::from_pg(key, "take an advisory lock", e))?;
    Ok(row.get(0))
}

/// Takes the session advisory lock named `key`, waiting for its holder.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn advisory_lock(client: &Client, key: &str) -> Result<(), WriteError> {
    client
        .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
        .await
        .map_err(|e| WriteError::from_pg(key, "take an advisory lock", e))?;
    Ok(())
}

/// Releases one hold of the session advisory lock named `key`.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn advisory_unlock(client: &Client, key: &str, shared: bool) -> Result<(), WriteError> {
    let function = if shared {
        "pg_advisory_unlock_shared"
    } else {
        "pg_advisory_unlock"
    };
    client
        .execute(
            &format!("SELECT {function}(hashtextextended($1, 0))"),
            &[&key],
        )
        .await
        .map_err(|e| WriteError::from_pg(key, "release an advisory lock", e))?;
    Ok(())
}

/// A session (other than this one) holding the advisory lock named `key`,
/// if any. A 64-bit advisory key shows in `pg_locks` split in two: its
/// high half as `classid`, its low half as `objid`, with `objsubid` 1.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn advisory_lock_holder(
    client: &Client,
    key: &str,
) -> Result<Option<LockHolder>, WriteError> {
    let row = client
        .query_opt(
            "SELECT l.pid, a.usename::text, a.application_name, host(a.client_addr),
                    to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')
               FROM pg_catalog.pg_locks l
               LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.pid <> pg_backend_pid()
                AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                   WHERE datname = current_database())
                AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended($1, 0)
              ORDER BY l.pid LIMIT 1",
            &[&key],
        )
        .await
        .map_err(|e| WriteError::from_pg(key, "look up an advisory lock's holder", e))?;
    Ok(row.map(|r| LockHolder {
        pid: r.get(0),
        user: r.get(1),
        application: r.get(2),
        client_addr: r.get(3),
        since: r.get(4),
    }))
}

/// Names this session for [`end_orphans`] (and for `pg_stat_activity`).
/// Postgres keeps the first 63 bytes of an `application_name`.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn set_application_name(client: &Client, name: &str) -> Result<(), WriteError> {
    client
        .execute(
            "SELECT pg_catalog.set_config('application_name', $1, false)",
            &[&name],
        )
        .await
        .map_err(|e| WriteError::from_pg(name, "set application_name", e))?;
    Ok(())
}

/// Ends the backends of this database named `application_name`, other
/// than `own` (the pids of the caller's sessions), and waits until they are
/// gone. Call it only while holding the lock that makes the caller the one
/// live owner of that name: any other backend under it is then left over
/// from a run that died mid-statement, and would otherwise keep building
/// an index, or hold a lock, under the caller's retry. Returns how many
/// backends it waited for.
///
/// A backend the role may not signal (another role's) is waited for.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn end_orphans(
    client: &Client,
    application_name: &str,
    own: &[i32],
) -> Result<usize, WriteError> {
    let fail = |e| WriteError::from_pg(application_name, "end orphaned sessions", e);
    let orphans: Vec<i32> = client
        .query(
            "SELECT pid, pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
              WHERE datname = current_database() AND application_name = $1
                AND pid <> ALL($2)",
            &[&application_name, &own],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    wait_until_gone(client, &orphans, None)
        .await
        .map_err(fail)?;
    Ok(orphans.len())
}

/// Ends the session with server process id `pid` and waits until it is
/// gone, so that its open transaction is rolled back and its locks are
/// released before the caller returns. A statement blocked on a lock, or
/// still running, does not notice that its client went away: a process
/// stopped by a signal ends its own session this way, over `client` (a
/// second connection). Gives up waiting after `wait`.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn end_session(client: &Client, pid: i32, wait: Duration) -> Result<(), WriteError> {
    let fail = |e| WriteError::from_pg("the target", "end the interrupted session", e);
    client
        .execute("SELECT pg_catalog.pg_terminate_backend($1)", &[&pid])
        .await
        .map_err(fail)?;
    wait_until_gone(client, &[pid], Some(wait))
        .await
        .map_err(fail)
}

/// Waits until none of the backends `pids` is left, or `limit` has
/// passed.
async fn wait_until_gone(
    client: &Client,
    pids: &[i32],
    limit: Option<Duration>,
) -> Result<(), tokio_postgres::Error> {
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    while !pids.is_empty() && deadline.is_none_or(|d| tokio::time::Instant::now() < d) {
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await?
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The server process id of this session.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn backend_pid(client: &Client) -> Result<i32, WriteError> {
    Ok(client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| WriteError::from_pg("the target", "read the backend pid", e))?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_named_by_what_is_known() {
        let holder = LockHolder {
            pid: 42,
            user: Some("loader".into()),
            application: Some(String::new()),
            client_addr: None,
            since: Some("2024-01-01 10:00:00 UTC".into()),
        };
        assert_eq!(
            holder.to_string(),
            "server pid 42, role loader, connected since 2024-01-01 10:00:00 UTC"
        );
    }
}
