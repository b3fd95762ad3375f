//! One retry policy for every job: which failures are worth another try
//! (a lost connection, a server shutting down or restarting, too many
//! connections), and how long to wait before it: exponential backoff with
//! jitter, so that workers that lost the server together do not all come
//! back in the same instant.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use ferry_writer::WriteError;
use tokio_postgres::Client;

use crate::events::Progress;

/// Retries of a job's first connection while the server is starting up
/// or full, for the jobs without a `--retries` of their own (sync, verify).
pub const CONNECT_RETRIES: u32 = 5;

/// How many times to try again and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Consecutive attempts after the first failure.
    pub attempts: u32,
    /// The wait before the first retry; it doubles with each one.
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl RetryPolicy {
    /// `attempts` retries waiting about 1 s, 2 s, 4 s… up to 30 s.
    pub fn new(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }

    /// The wait before retry number `attempt` (1-based): the doubled base,
    /// capped, of which a random part between half and all is taken
    /// ("equal jitter": never shorter than half, so a server gets time to
    /// come back, never in step with the other workers).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let ceiling = doubled.min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(random_fraction())
    }

    /// Connects to `target`, trying again as the policy allows while the
    /// server says it is starting up or out of connection slots, saying so
    /// through `progress`. A refused or unanswered connection fails at
    /// once: at the start of a run it is more often a wrong address than a
    /// restart, and the user should hear of it now.
    pub(crate) async fn connect(
        &self,
        target: &str,
        progress: &Progress,
    ) -> Result<Client, WriteError> {
        let mut attempt = 0;
        loop {
            match ferry_writer::connect(target).await {
                Ok(client) => return Ok(client),
                Err(err) if is_busy(&err) && attempt < self.attempts => {
                    attempt += 1;
                    let delay = self.delay(attempt);
                    progress.retry(&format!(
                        "the target cannot take a connection now ({err}); retrying in {:.1}s \
                         (attempt {attempt} of {})",
                        delay.as_secs_f64(),
                        self.attempts
                    ));
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// The server answered that it is starting up, shutting down or out of
/// connection slots: it is there, and will take the connection later.
fn is_busy(err: &WriteError) -> bool {
    let code = match err {
        WriteError::Connect { source, .. } => source.code().map(|c| c.code()),
        WriteError::Server(server) => Some(server.code.as_str()),
        _ => None,
    };
    matches!(code, Some("57P01" | "57P02" | "57P03" | "53300"))
}

/// Whether a failure is worth another try: the connection was lost or
/// refused, or the server is shutting down, restarting or out of
/// connections. Anything about the data or the schema is not.
pub fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<WriteError>()
            .is_some_and(WriteError::is_worth_retrying)
            || cause
                .downcast_ref::<tokio_postgres::Error>()
                .is_some_and(tokio_postgres::Error::is_closed)
    })
}

/// A fraction in [0, 1) from the standard library's per-instance random
/// hasher keys: enough to spread retries, no generator to carry.
fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_half_and_all_of_the_capped_step() {
        let policy = RetryPolicy::new(8);
        for (attempt, ceiling) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (7, 30)] {
            for _ in 0..50 {
                let delay = policy.delay(attempt);
                let ceiling = Duration::from_secs(ceiling);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{attempt}: {delay:?}"
                );
            }
        }
        assert!(policy.delay(u32::MAX) <= policy.max);
    }

    #[test]
    fn waits_are_spread() {
        let policy = RetryPolicy::new(3);
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| policy.delay(3)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn only_connection_failures_are_transient() {
        let data = anyhow::anyhow!("duplicate key value violates unique constraint");
        assert!(!is_transient(&data));
        let silent = WriteError::ConnectTimeout {
            target: "db".to_owned(),
            seconds: 30.0,
        };
        assert!(is_transient(&anyhow::Error::new(silent).context("copying")));
        let tls = WriteError::Tls {
            target: "db".to_owned(),
            reason: "certificate expired".to_owned(),
        };
        assert!(!is_transient(&anyhow::Error::new(tls)));
    }
}
