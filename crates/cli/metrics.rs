//! `--metrics-addr` and `--metrics-textfile`: the engine's
//! [`Metrics`] served over HTTP while the command runs, and written to a
//! file for node_exporter's textfile collector when it ends.
//!
//! The HTTP side is a deliberately tiny HTTP/1.1 responder rather than a
//! server crate: two read-only paths, GET only, one response per
//! connection, then close. That is all a Prometheus scrape or a
//! Kubernetes probe needs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_engine::exit::UsageError;
use ferry_engine::metrics::{write_textfile, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::args::MetricsArgs;

/// The longest request head read; anything longer is refused.
const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The metrics of one command, and where they go.
pub struct MetricsOutput {
    pub metrics: Arc<Metrics>,
    listener: Option<std::net::TcpListener>,
    /// The address bound, port 0 resolved.
    addr: Option<SocketAddr>,
    textfile: Option<PathBuf>,
    stall_after: Duration,
}

impl MetricsOutput {
    /// Metrics for `command` when `args` ask for them; binds
    /// `--metrics-addr` now, so a taken port is a usage error before any
    /// work starts.
    pub fn new(
        args: &MetricsArgs,
        command: &'static str,
        version: &str,
    ) -> anyhow::Result<Option<MetricsOutput>> {
        if args.metrics_addr.is_none() && args.metrics_textfile.is_none() {
            return Ok(None);
        }
        if let Some(path) = &args.metrics_textfile {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                return Err(UsageError::new(format!(
                    "--metrics-textfile {}: {} is not a directory; create it or write the \
                     file elsewhere",
                    path.display(),
                    dir.display()
                ))
                .into());
            }
        }
        let listener = match &args.metrics_addr {
            Some(addr) => Some(bind(addr)?),
            None => None,
        };
        let addr = match &listener {
            Some(listener) => Some(listener.local_addr().context("serving metrics")?),
            None => None,
        };
        Ok(Some(MetricsOutput {
            metrics: Arc::new(Metrics::new(command, version)),
            listener,
            addr,
            textfile: args.metrics_textfile.clone(),
            stall_after: args.stall_after,
        }))
    }

    /// The address served (port 0 picks a free one).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Serves `/metrics` and `/health` on the runtime this is called in,
    /// until the process exits.
    pub fn serve(&mut self) -> anyhow::Result<()> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let listener = TcpListener::from_std(listener).context("serving metrics")?;
        let metrics = Arc::clone(&self.metrics);
        let stall_after = self.stall_after;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors, say: let some close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let metrics = Arc::clone(&metrics);
                tokio::spawn(async move {
                    let _ = respond(stream, &metrics, stall_after).await;
                });
            }
        });
        Ok(())
    }

    /// Records how the command ended and writes the textfile, unless the
    /// run ended before it reached any table (a refused connection,
    /// another sync holding the lock): a file of an earlier run then
    /// stays as it was.
    pub fn finish(&self, success: bool) -> anyhow::Result<()> {
        self.metrics.finish(success);
        match &self.textfile {
            Some(path) if self.metrics.reached_tables() => {
                write_textfile(path, &self.metrics.render())
            }
            _ => Ok(()),
        }
    }
}

/// Binds `addr` (`HOST:PORT`), or says why not as a usage error.
fn bind(addr: &str) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|err| {
        UsageError::new(format!(
            "--metrics-addr {addr}: cannot listen there ({err}); give a free HOST:PORT such as \
             127.0.0.1:9187 or 0.0.0.0:9187"
        ))
    })?;
    listener
        .set_nonblocking(true)
        .context("configuring the metrics listener")?;
    Ok(listener)
}

/// Answers one request and closes the connection.
async fn respond(
    mut stream: TcpStream,
    metrics: &Metrics,
    stall_after: Duration,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return send(&mut stream, "400 Bad Request", "bad request\n").await;
        }
        Ok(Err(err)) => return Err(err),
        Err(_) => return send(&mut stream, "408 Request Timeout", "timeout\n").await,
    };
    let (status, body) = answer(&head, metrics, stall_after);
    send(&mut stream, status, &body).await
}

/// The status and body for the request whose head is `head`.
fn answer(head: &str, metrics: &Metrics, stall_after: Duration) -> (&'static str, String) {
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (words.next().unwrap_or_default(), words.next());
    let Some(target) = target.filter(|_| words.next().is_some_and(|v| v.starts_with("HTTP/1.")))
    else {
        return ("400 Bad Request", "bad request\n".to_owned());
    };
    if method != "GET" {
        return ("405 Method Not Allowed", "only GET\n".to_owned());
    }
    match target.split('?').next().unwrap_or_default() {
        "/metrics" => ("200 OK", metrics.render()),
        "/health" => match metrics.health(stall_after) {
            Ok(()) => ("200 OK", "ok\n".to_owned()),
            Err(reason) => ("503 Service Unavailable", format!("stalled: {reason}\n")),
        },
        _ => (
            "404 Not Found",
            "not found: try /metrics or /health\n".to_owned(),
        ),
    }
}

/// Reads up to the blank line ending the request head; `None` when the
/// client closed first or sent more than [`MAX_REQUEST`] bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

async fn send(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_of_two_paths_is_answered() {
        let metrics = Metrics::new("copy", "0.1.0");
        let minute = Duration::from_secs(60);
        let get = |path: &str| answer(&format!("GET {path} HTTP/1.1\r\n\r\n"), &metrics, minute);
        let (status, body) = get("/metrics");
        assert_eq!(status, "200 OK");
        assert!(body.contains("ferry_info{command=\"copy\""), "{body}");
        assert_eq!(get("/health?probe=1"), ("200 OK", "ok\n".to_owned()));
        assert_eq!(get("/").0, "404 Not Found");
        assert_eq!(get("/metrics/../etc").0, "404 Not Found");
        let post = answer("POST /metrics HTTP/1.1\r\n\r\n", &metrics, minute);
        assert_eq!(post.0, "405 Method Not Allowed");
        assert_eq!(
            answer("GET /metrics\r\n\r\n", &metrics, minute).0,
            "400 Bad Request"
        );
        assert_eq!(answer("\r\n\r\n", &metrics, minute).0, "400 Bad Request");
        std::thread::sleep(Duration::from_millis(2));
        let stalled = answer("GET /health HTTP/1.0\r\n\r\n", &metrics, Duration::ZERO);
        assert_eq!(stalled.0, "503 Service Unavailable");
        assert!(
            stalled.1.starts_with("stalled: no progress for "),
            "{}",
            stalled.1
        );
    }

    #[test]
    fn a_taken_port_is_a_usage_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = bind(&addr).unwrap_err();
        assert!(err.is::<UsageError>(), "{err:#}");
        assert!(err
            .to_string()
            .contains(&format!("--metrics-addr {addr}: cannot listen")));
        assert!(bind("not an address").unwrap_err().is::<UsageError>());
    }
}
