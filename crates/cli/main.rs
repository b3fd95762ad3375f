//! `ferry`: move a SQLite database into PostgreSQL with real types, and
//! prove it arrived intact.
//!
//! This binary is thin: it parses the command line and the config file,
//! wires the reader, transformer and writer crates together, prints
//! reports and maps errors to the documented exit codes.

mod args;
mod config;
mod copy;
mod emit_config;
mod exit;
mod left_behind;
mod locks;
mod parallel;
mod partition_config;
mod partitioning;
mod partitions;
mod pipeline;
mod plan;
mod post_load;
mod postgis;
mod prepare;
mod progress;
mod report;
mod row_key;
mod scrub;
mod setup;
mod signals;
mod snapshot;
mod storage;
mod stored_types;
mod sync;
mod verify;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::args::{Cli, Command, Format, ReportFormat};

fn main() -> ExitCode {
    signals::install();
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(err) => {
            // clap may quote any argument, a misplaced target included.
            scrub::install(&argv, true);
            let text = scrub::scrub(&err.render().to_string());
            if err.use_stderr() {
                scrub::to_stderr(&text);
            } else {
                write_stdout(&text);
            }
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(exit::USAGE));
        }
    };
    scrub::install(&argv, false);
    init_logging(cli.verbose);
    ferry_writer::set_lock_timeout(
        (cli.lock_timeout > 0).then(|| std::time::Duration::from_secs(cli.lock_timeout)),
    );
    match run(&cli) {
        Ok((output, code)) => {
            write_stdout(&output);
            ExitCode::from(code)
        }
        Err(err) => {
            scrub::say!("ferry: error: {}", exit::message(&err));
            ExitCode::from(exit::exit_code(&err))
        }
    }
}

/// Prints the command's output. A closed stdout (ferry piped into `head`)
/// is not an error: the work is done and the exit code stays the
/// command's own; only the output is lost.
fn write_stdout(output: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Runs the command; returns what to print on stdout and the exit code.
fn run(cli: &Cli) -> anyhow::Result<(String, u8)> {
    match &cli.command {
        Command::Plan(args) => Ok((plan::plan(args)?, exit::OK)),
        Command::Partitions(args) => Ok((
            runtime(1)?.block_on(partitions::partitions(args))?,
            exit::OK,
        )),
        Command::Copy(args) => {
            let report = runtime(args.jobs)?.block_on(async {
                let copied = copy::copy(args).await;
                locks::explain(copied, &args.target, args.source.schema.as_deref()).await
            })?;
            let output = match args.format {
                Format::Text => report.to_text(),
                Format::Json => report.to_json() + "\n",
            };
            Ok((output, exit::OK))
        }
        Command::Sync(args) => {
            let runtime = runtime(args.jobs)?;
            let synced = runtime.block_on(async {
                let synced = sync::run(args).await;
                locks::explain(synced, &args.target, args.source.schema.as_deref()).await
            });
            // An interrupted run leaves source passes reading on blocking
            // threads; the process is about to exit, so do not wait for them.
            runtime.shutdown_background();
            let output = synced?;
            Ok((output.text, output.code))
        }
        Command::Verify(args) => {
            let report = runtime(args.jobs)?.block_on(async {
                let verified = verify::verify(args).await;
                locks::explain(verified, &args.target, args.source.schema.as_deref()).await
            })?;
            let output = match args.format {
                ReportFormat::Text => report.to_text(),
                ReportFormat::Json => report.to_json() + "\n",
                ReportFormat::Junit => report.to_junit(),
                ReportFormat::Markdown => report.to_markdown(),
            };
            let code = if report.passed() {
                exit::OK
            } else {
                exit::DIFFERENCES
            };
            match &args.output {
                Some(path) => {
                    std::fs::write(path, output)
                        .with_context(|| format!("writing the report to {}", path.display()))?;
                    let summary = report.to_text();
                    let last = summary.lines().last().unwrap_or_default();
                    Ok((format!("{last}\n"), code))
                }
                None => Ok((output, code)),
            }
        }
    }
}

fn runtime(jobs: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 4))
        .enable_all()
        .build()?)
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| scrub::Stderr)
        .init();
}
