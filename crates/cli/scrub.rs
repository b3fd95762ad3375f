//! Keeps passwords out of everything ferry prints.
//!
//! Every message that names the target shows it through
//! [`ferry_writer::redact_url`]; this is the second line of defence, for
//! text ferry does not control (a library's error, a log line, clap
//! quoting a misplaced argument): every string that may be a password in
//! a target given on the command line, in `DATABASE_URL` or in the
//! config's `[target]`, and `PGPASSWORD`, is replaced by `***` in stderr
//! output, at any verbosity, even when the target could not be parsed.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

/// Candidate passwords shorter than this are only hidden inside the
/// target itself (by `redact_url`): scrubbing every `pw` or `a` from all
/// output would garble messages without protecting anything real.
const MIN_SCRUBBED: usize = 3;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Collects the secrets of every target in `args` (`--target URL`,
/// `--target=URL`; with `all`, every argument, for errors about the
/// command line itself), of `DATABASE_URL`, and `PGPASSWORD`.
pub fn install(args: &[String], all: bool) {
    let mut texts: Vec<&str> = Vec::new();
    let mut next_is_target = false;
    for arg in args {
        if all || next_is_target {
            texts.push(arg);
        } else if let Some(value) = arg.strip_prefix("--target=") {
            texts.push(value);
        }
        next_is_target = arg == "--target";
    }
    let env = std::env::var("DATABASE_URL").ok();
    texts.extend(env.as_deref());
    let secrets: Vec<String> = texts
        .iter()
        .flat_map(|text| ferry_writer::secrets(text))
        // PGPASSWORD is a password whole, as libpq reads it.
        .chain(std::env::var("PGPASSWORD").ok())
        .collect();
    add(secrets);
}

/// Adds secrets found later (the config's `[target]` password).
pub fn add(found: impl IntoIterator<Item = String>) {
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    secrets.extend(
        found
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SCRUBBED),
    );
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
}

/// `text` with every installed secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_owned();
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Writes `text`, scrubbed, to stderr. A closed or broken stderr (ferry
/// piped into `head`) is ignored: losing a message must not stop a copy.
pub fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(scrub(text).as_bytes());
}

/// Whether [`say`] lines become log events (`--log-format json`), so
/// that a log collector reading stderr gets JSON on every line.
static SAY_AS_LOG_EVENTS: AtomicBool = AtomicBool::new(false);

/// From now on, [`say`] lines are log events with target `ferry::say`:
/// an error (`ferry: error: …`, with its next steps) as one ERROR event,
/// other lines one INFO event each.
pub fn say_as_log_events() {
    SAY_AS_LOG_EVENTS.store(true, Ordering::Relaxed);
}

/// Writes a message line: to stderr as it is, or as a log event.
pub fn say_line(text: &str) {
    if !SAY_AS_LOG_EVENTS.load(Ordering::Relaxed) {
        return to_stderr(text);
    }
    let text = text.trim_end_matches('\n');
    if let Some(message) = text.strip_prefix("ferry: error: ") {
        // An error with its next steps stays one event.
        return tracing::error!(target: "ferry::say", "{message}");
    }
    for line in text.lines() {
        let message = line.strip_prefix("ferry: ").unwrap_or(line);
        tracing::info!(target: "ferry::say", "{message}");
    }
}

/// `eprintln!` through [`say_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::scrub::say_line(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// The log writer: stderr through [`scrub`], ignoring write errors.
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        to_stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_targets_from_arguments() {
        let args: Vec<String> = [
            "copy",
            "--target",
            "postgress://u:hunter22@db/x",
            "--source",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        install(&args, false);
        assert_eq!(
            scrub("cannot parse postgress://u:hunter22@db/x: hunter22"),
            "cannot parse postgress://u:***@db/x: ***"
        );
    }
}
