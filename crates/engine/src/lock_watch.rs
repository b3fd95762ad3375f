//! Waiting is visible: while a job runs, a watcher looks every few seconds
//! whether one of its sessions waits for a lock (a table another session
//! holds, a TRUNCATE behind a long query) and says on which relation and
//! behind which sessions, until the wait ends or `--lock-timeout` ends it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::Progress;

/// How often the watcher looks.
const EVERY: Duration = Duration::from_secs(5);

/// The sessions a job watches; the watcher stops when this is dropped.
pub(crate) struct LockWatch {
    pids: Arc<Mutex<Vec<i32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LockWatch {
    /// Starts watching, on a connection of its own to `target` (a watcher
    /// that cannot connect stays silent: it only ever adds information).
    pub(crate) fn start(target: &str, progress: Progress) -> LockWatch {
        let pids = Arc::new(Mutex::new(Vec::new()));
        let watched = Arc::clone(&pids);
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            let Ok(client) = ferry_writer::connect(&target).await else {
                return;
            };
            loop {
                tokio::time::sleep(EVERY).await;
                let pids = watched.lock().map(|p| p.clone()).unwrap_or_default();
                if pids.is_empty() {
                    continue;
                }
                match ferry_writer::lock_waits(&client, &pids).await {
                    Ok(waits) => {
                        for wait in waits {
                            tracing::info!(pid = wait.pid, object = %wait.object, "lock wait");
                            progress.step(&wait.to_string());
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        LockWatch { pids, task }
    }

    /// Watches the session of `client` too.
    pub(crate) async fn add(&self, client: &tokio_postgres::Client) {
        if let Ok(pid) = ferry_writer::backend_pid(client).await {
            if let Ok(mut pids) = self.pids.lock() {
                pids.push(pid);
            }
        }
    }
}

impl Drop for LockWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
