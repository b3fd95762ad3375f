//! SIGINT, SIGTERM and SIGHUP, handled from the first instant of the
//! process: each is handed to [`ferry_engine::interrupt::on_signal`],
//! which stops the running job gracefully or, when nothing can stop that
//! way (or on a second signal), cleans up so the process exits 130 at once.
//!
//! The signal handler itself only writes a byte to a pipe (all a handler
//! may safely do); a thread reads the pipe and does the work.

use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;

use ferry_engine::exit::INTERRUPTED;
use ferry_engine::interrupt::{on_signal, OnSignal};

use crate::scrub::say;

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
            while reader.read_exact(&mut byte).is_ok() {
                if let OnSignal::ExitNow(message) = on_signal() {
                    say!("ferry: error: {message}");
                    std::process::exit(i32::from(INTERRUPTED));
                }
            }
        });
    drop(spawned);
}
