//! What a signal may stop, and what it must clean up: the process-wide
//! registry a command line's signal handler consults.
//!
//! While a load runs, a signal stops it gracefully (the run's stop it
//! registered is interrupted, waking its idle readers at once: chunks in
//! flight roll back, the job returns [`Interrupted`], removing its snapshot
//! on the way out). Before that, or in jobs without a graceful stop, the snapshot
//! directories still registered are removed and the process should exit at
//! once: a run killed while it is taking its snapshot must not leave a copy
//! of the source behind. A second signal always means "at once".

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::exit::Interrupted;
use crate::stop::Stop;

static STOP: Mutex<Option<Weak<Stop>>> = Mutex::new(None);
static STOPPING: AtomicBool = AtomicBool::new(false);
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// What to say when a signal ends the process at once, if not a copy's
/// message.
static MESSAGE: Mutex<Option<&'static str>> = Mutex::new(None);

/// What a signal does.
#[derive(Debug, PartialEq, Eq)]
pub enum OnSignal {
    /// The running job was asked to stop; it returns on its own.
    Stopping,
    /// Nothing can stop gracefully: the registered directories are
    /// removed; print this and exit with code 130.
    ExitNow(String),
}

/// Handles one SIGINT, SIGTERM or SIGHUP.
pub fn on_signal() -> OnSignal {
    let stop = STOP
        .lock()
        .ok()
        .and_then(|stop| stop.as_ref().and_then(Weak::upgrade));
    match stop {
        Some(stop) if !STOPPING.swap(true, Ordering::SeqCst) => {
            stop.interrupt();
            OnSignal::Stopping
        }
        _ => {
            remove_registered();
            let message = MESSAGE.lock().ok().and_then(|m| *m);
            OnSignal::ExitNow(message.map_or_else(|| Interrupted.to_string(), str::to_owned))
        }
    }
}

/// Lets a signal interrupt `stop` instead of ending the process, for as
/// long as `stop` lives.
pub(crate) fn set_stop(stop: &Arc<Stop>) {
    if let Ok(mut slot) = STOP.lock() {
        *slot = Some(Arc::downgrade(stop));
    }
}

/// Says `message` instead of a copy's advice when a signal ends the
/// process at once.
pub(crate) fn set_message(message: &'static str) {
    if let Ok(mut slot) = MESSAGE.lock() {
        *slot = Some(message);
    }
}

/// Removes `dir` (recursively) if the process is ended by a signal before
/// [`unregister_cleanup`].
pub(crate) fn register_cleanup(dir: &Path) {
    if let Ok(mut dirs) = CLEANUP.lock() {
        dirs.push(dir.to_owned());
    }
}

/// Forgets a directory registered with [`register_cleanup`].
pub(crate) fn unregister_cleanup(dir: &Path) {
    if let Ok(mut dirs) = CLEANUP.lock() {
        dirs.retain(|d| d != dir);
    }
}

fn remove_registered() {
    let dirs = CLEANUP.lock().map(|d| d.clone()).unwrap_or_default();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
