//! SIGINT, SIGTERM and SIGHUP, handled from the first instant of the
//! process.
//!
//! While a load runs, a signal stops it gracefully (the [`Stop`] it
//! registered is interrupted: chunks in flight roll back, the command
//! returns and exits 130, removing its snapshot on the way out). Before
//! that, or in commands without a graceful stop, the handler removes the
//! snapshot directories still registered and exits 130 at once: a run
//! killed while it is taking its snapshot must not leave a copy of the
//! source behind. A second signal always exits at once.
//!
//! The signal handler itself only writes a byte to a pipe (all a handler
//! may safely do); a thread reads the pipe and does the work.

use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::exit::{Interrupted, INTERRUPTED};
use crate::pipeline::Stop;
use crate::scrub::say;

static STOP: Mutex<Option<Weak<Stop>>> = Mutex::new(None);
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// What to say when a signal ends the process at once, if not a copy's
/// message.
static MESSAGE: Mutex<Option<&'static str>> = Mutex::new(None);

/// Installs the handlers; call first thing in `main`.
pub fn install() {
    let Ok((mut reader, writer)) = UnixStream::pair() else {
        return;
    };
    let fd = writer.as_raw_fd();
    // The write end lives as long as the process.
    std::mem::forget(writer);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the action only calls write(2), which is
        // async-signal-safe, on a descriptor that is never closed.
        let registered = unsafe {
            signal_hook_registry::register(signal, move || {
                let byte = 1u8;
                libc::write(fd, std::ptr::addr_of!(byte).cast(), 1);
            })
        };
        if registered.is_err() {
            return;
        }
    }
    let spawned = std::thread::Builder::new()
        .name("ferry-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            let mut graceful = false;
            while reader.read_exact(&mut byte).is_ok() {
                let stop = STOP
                    .lock()
                    .ok()
                    .and_then(|stop| stop.as_ref().and_then(Weak::upgrade));
                match stop {
                    Some(stop) if !graceful => {
                        graceful = true;
                        stop.interrupt();
                    }
                    _ => exit_now(),
                }
            }
        });
    drop(spawned);
}

/// Removes what is registered for cleanup and exits 130.
fn exit_now() -> ! {
    remove_registered();
    match MESSAGE.lock().ok().and_then(|m| *m) {
        Some(message) => say!("ferry: error: {message}"),
        None => say!("ferry: error: {}", Interrupted),
    }
    std::process::exit(i32::from(INTERRUPTED));
}

/// Lets a signal interrupt `stop` instead of ending the process, for as
/// long as `stop` lives.
pub fn set_stop(stop: &Arc<Stop>) {
    if let Ok(mut slot) = STOP.lock() {
        *slot = Some(Arc::downgrade(stop));
    }
}

/// Says `message` instead of a copy's advice when a signal ends the
/// process at once.
pub fn set_message(message: &'static str) {
    if let Ok(mut slot) = MESSAGE.lock() {
        *slot = Some(message);
    }
}

/// Removes `dir` (recursively) if the process is ended by a signal before
/// [`unregister_cleanup`].
pub fn register_cleanup(dir: &Path) {
    if let Ok(mut dirs) = CLEANUP.lock() {
        dirs.push(dir.to_owned());
    }
}

/// Forgets a directory registered with [`register_cleanup`].
pub fn unregister_cleanup(dir: &Path) {
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
