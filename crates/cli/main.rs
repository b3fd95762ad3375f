//! `ferry`: move a SQLite database into PostgreSQL with real types, and
//! prove it arrived intact.
//!
//! This binary is thin: it turns the command line into the engine's
//! options, the engine's events into progress bars and lines, reports into
//! text, JSON, JUnit or Markdown, and errors into the documented exit
//! codes (see [`ferry_engine`] for the jobs themselves).

mod args;
mod config_check;
mod emit_config;
mod failure;
mod metrics;
mod progress;
mod scrub;
mod signals;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser};

use ferry_engine::events::{Observer, Observers};
use ferry_engine::exit;
use ferry_engine::options::Format;

use ferry_engine::config::Config;

use crate::args::{Cli, Command, ConfigCommand, LogFormat, MetricsArgs, ReportFormat};
use crate::metrics::MetricsOutput;
use crate::progress::Progress;

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
    init_logging(cli.verbose, cli.log_format);
    ferry_writer::set_lock_timeout(
        (cli.lock_timeout > 0).then(|| std::time::Duration::from_secs(cli.lock_timeout)),
    );
    ferry_writer::set_default_application_name(cli.command.application_name());
    match run(&cli) {
        Ok((output, code)) => {
            write_stdout(&output);
            ExitCode::from(code)
        }
        Err(err) => {
            scrub::say!("ferry: error: {}", failure::message(&err, &argv));
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

/// ferry's version and the commit it was built from (see build.rs), as
/// `--version` and every JSON report say it.
const VERSION: &str = env!("FERRY_VERSION");

/// Runs the command; returns what to print on stdout and the exit code.
fn run(cli: &Cli) -> anyhow::Result<(String, u8)> {
    let config = Config::load(cli.command.config_path())?;
    scrub::add(config.secrets());
    // Where lock waits are looked for: the schema the command works in.
    let schema = |flag: &Option<String>| flag.clone().or_else(|| config.schema.clone());
    match &cli.command {
        Command::Plan(args) => {
            let options = args.options(&config)?;
            let plan = ferry_engine::plan::plan(&options)?;
            if let Some(path) = &args.emit_config {
                let text = emit_config::render(&options.source.source, &plan.widenings);
                emit_config::write(path, &text)?;
                scrub::say!(
                    "ferry: wrote {} with the types of {}",
                    path.display(),
                    ferry_model::plural(plan.widenings.len(), "column", "columns")
                );
            }
            Ok((plan.text, exit::OK))
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ferry", &mut script);
            Ok((String::from_utf8_lossy(&script).into_owned(), exit::OK))
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .context("rendering the manual page")?;
            Ok((String::from_utf8_lossy(&page).into_owned(), exit::OK))
        }
        Command::Config(args) => match &args.command {
            ConfigCommand::Check(args) => Ok((config_check::check(args, &config)?, exit::OK)),
        },
        Command::Partitions(args) => Ok((
            runtime(1)?.block_on(ferry_engine::partitions::partitions(&args.options(&config)))?,
            exit::OK,
        )),
        Command::Copy(args) => {
            let options = args.options(&config)?;
            let runtime = runtime(options.jobs)?;
            let (observer, metrics) = observe(cli, &args.metrics, "copy", &runtime)?;
            let copied = runtime.block_on(async {
                let copied = ferry_engine::copy::copy(&options, observer).await;
                ferry_engine::locks::explain(
                    copied,
                    &options.target,
                    schema(&args.source.schema).as_deref(),
                )
                .await
            });
            let mut report = finish(metrics.as_ref(), copied, |_| true)?;
            report.ferry_version = VERSION.to_owned();
            let output = match args.format {
                Format::Text => report.to_text(),
                Format::Json => report.to_json() + "\n",
            };
            Ok((output, exit::OK))
        }
        Command::Sync(args) => {
            let options = args.options(&config)?;
            let runtime = runtime(options.jobs)?;
            let (observer, metrics) = observe(cli, &args.metrics, "sync", &runtime)?;
            let synced = runtime.block_on(async {
                let synced = ferry_engine::sync::run(&options, observer).await;
                ferry_engine::locks::explain(
                    synced,
                    &options.target,
                    schema(&args.source.schema).as_deref(),
                )
                .await
            });
            // An interrupted run leaves source passes reading on blocking
            // threads; the process is about to exit, so do not wait for them.
            runtime.shutdown_background();
            let mut synced = finish(metrics.as_ref(), synced, |s| s.code == exit::OK)?;
            synced.report.ferry_version = VERSION.to_owned();
            // Quiet for cron unless asked: text on a terminal only.
            let format = args
                .format
                .or_else(|| std::io::stdout().is_terminal().then_some(Format::Text));
            let text = match format {
                Some(Format::Text) => synced.report.to_text(),
                Some(Format::Json) => synced.report.to_json() + "\n",
                None => String::new(),
            };
            Ok((text, synced.code))
        }
        Command::Verify(args) => {
            let options = args.options(&config)?;
            let runtime = runtime(options.jobs)?;
            let (observer, metrics) = observe(cli, &args.metrics, "verify", &runtime)?;
            let verified = runtime.block_on(async {
                let verified = ferry_engine::verify::verify(&options, observer).await;
                ferry_engine::locks::explain(
                    verified,
                    &options.target,
                    schema(&args.source.schema).as_deref(),
                )
                .await
            });
            let mut report = finish(metrics.as_ref(), verified, |_| true)?;
            report.ferry_version = VERSION.to_owned();
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

/// Where a command's events go: progress on stderr and, when `args` ask,
/// metrics, served from now on `runtime` (the address said on stderr).
fn observe(
    cli: &Cli,
    args: &MetricsArgs,
    command: &'static str,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(Arc<dyn Observer>, Option<MetricsOutput>)> {
    let progress: Arc<dyn Observer> = Arc::new(Progress::new(cli.quiet));
    let Some(mut metrics) = MetricsOutput::new(args, command, VERSION)? else {
        return Ok((progress, None));
    };
    {
        let _entered = runtime.enter();
        metrics.serve()?;
    }
    if let (Some(addr), false) = (metrics.local_addr(), cli.quiet) {
        scrub::say!("ferry: metrics on http://{addr}/metrics, health on http://{addr}/health");
    }
    let both = Observers(vec![
        progress,
        Arc::clone(&metrics.metrics) as Arc<dyn Observer>,
    ]);
    Ok((Arc::new(both), Some(metrics)))
}

/// Ends the metrics of a command with its `result` (a success when
/// `success` says so) and writes their textfile; the command's own error
/// comes first.
fn finish<T>(
    metrics: Option<&MetricsOutput>,
    result: anyhow::Result<T>,
    success: impl Fn(&T) -> bool,
) -> anyhow::Result<T> {
    let Some(metrics) = metrics else {
        return result;
    };
    let written = metrics.finish(result.as_ref().is_ok_and(success));
    match (result, written) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(err)) => Err(err),
        (Err(err), Ok(())) => Err(err),
        (Err(err), Err(unwritten)) => {
            scrub::say!("ferry: error: {unwritten:#}");
            Err(err)
        }
    }
}

fn runtime(jobs: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 4))
        .enable_all()
        .build()?)
}

/// Log lines go to stderr, scrubbed of passwords: warnings by default,
/// more with -v; colour only on a terminal; JSON lines on request (then
/// progress and error lines too).
fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn".to_owned(),
        1 => ferry_crates_at("info"),
        2 => ferry_crates_at("debug"),
        _ => "debug".to_owned(),
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if format == LogFormat::Json {
        // Progress and error lines travel as log events too, so that every
        // line on stderr is JSON.
        scrub::say_as_log_events();
        filter = filter.add_directive("ferry::say=info".parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| scrub::Stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

/// A filter showing ferry's own crates at `level` and every other crate's
/// warnings only, so -v and -vv are not drowned in TLS and driver detail
/// (-vvv shows that too).
fn ferry_crates_at(level: &str) -> String {
    const CRATES: [&str; 8] = [
        "ferry",
        "ferry_engine",
        "ferry_reader",
        "ferry_writer",
        "ferry_transformer",
        "ferry_verifier",
        "ferry_model",
        "ferry_copy_codec",
    ];
    let mut filter = "warn".to_owned();
    for name in CRATES {
        filter.push_str(&format!(",{name}={level}"));
    }
    filter
}
