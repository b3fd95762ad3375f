//! `ferry`: move a SQLite database into PostgreSQL with real types, and
//! prove it arrived intact.
//!
//! This binary is thin: it parses the command line and the config file,
//! wires the reader, transformer and writer crates together, prints
//! reports and maps errors to the documented exit codes.

mod args;
mod config;
mod copy;
mod exit;
mod pipeline;
mod plan;
mod prepare;
mod progress;
mod report;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, Format};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(output) => {
            print!("{output}");
            ExitCode::from(exit::OK)
        }
        Err(err) => {
            eprintln!("ferry: error: {err:#}");
            ExitCode::from(exit::exit_code(&err))
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<String> {
    match &cli.command {
        Command::Plan(args) => plan::plan(args),
        Command::Copy(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.jobs.clamp(1, 4))
                .enable_all()
                .build()?;
            let report = runtime.block_on(copy::copy(args))?;
            Ok(match args.format {
                Format::Text => report.to_text(),
                Format::Json => report.to_json() + "\n",
            })
        }
    }
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
        .with_writer(std::io::stderr)
        .init();
}
