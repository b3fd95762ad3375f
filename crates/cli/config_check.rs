//! `ferry config check`: the config file validated (and the SQLite file it
//! names planned, touching no database), then the settings a command
//! would use, flags, config, environment and defaults merged, printed as
//! TOML with where each came from. Passwords are hidden.

use anyhow::Result;
use clap::ValueEnum;
use ferry_engine::config::Config;
use ferry_engine::exit::UsageError;
use ferry_engine::options::{
    CompressionMode, GeometryAs, IdentifierMode, OnError, PlanOptions, TypesFrom,
};
use toml::Value;

use crate::args::{jobs, pick, target, ConfigCheckArgs, Origin};

/// Checks and renders; an invalid setting is a [`UsageError`] (exit 2).
pub fn check(args: &ConfigCheckArgs, config: &Config) -> Result<String> {
    let mut out = Lines::default();
    match &config.path {
        Some(path) => out.comment(&format!("{}: valid", path.display())),
        None => out.comment("no --config: flags, environment and defaults only"),
    }
    out.comment("the settings a command would use:");

    let flag_source = args.source.source.clone().map(Some);
    let (source, origin) = pick(flag_source, config.source.clone().map(Some), || None);
    match &source {
        Some(path) => out.setting("source", path.display().to_string().into(), origin),
        None => out.comment("source: none (copy, verify, sync and plan need --source)"),
    }

    let (text, origin) = target(&args.target, config);
    let resolved = ferry_writer::describe_target(&text)
        .map_err(|reason| UsageError::new(format!("target: {reason}")))?;
    if text.is_empty() {
        out.comment("target: none given; the PG* variables and libpq's defaults");
    } else {
        out.setting("target", ferry_writer::redact_url(&text).into(), origin);
    }
    out.comment(&format!("  connects to {resolved}"));

    let (schema, origin) = pick(args.source.schema.clone(), config.schema.clone(), || {
        "public".to_owned()
    });
    out.setting("schema", schema.into(), origin);
    let list = |flag: &[String], config: &[String]| {
        let flag = (!flag.is_empty()).then(|| flag.to_vec());
        let config = (!config.is_empty()).then(|| config.to_vec());
        let (names, origin) = pick(flag, config, Vec::new);
        let names = names.iter().map(|t| Value::from(t.trim())).collect();
        (Value::Array(names), origin)
    };
    let (include, origin) = list(&args.source.tables, &config.include);
    out.setting("include", include, origin);
    let (exclude, origin) = list(&args.source.exclude, &config.exclude);
    out.setting("exclude", exclude, origin);
    let (jobs, origin) = jobs(args.jobs, config);
    out.setting(
        "jobs",
        Value::Integer(jobs.try_into().unwrap_or(i64::MAX)),
        origin,
    );
    match pick(args.if_exists.map(Some), config.if_exists.map(Some), || {
        None
    }) {
        (Some(action), origin) => out.setting("if_exists", name(action).into(), origin),
        (None, _) => out.comment("if_exists: none (copy refuses non-empty target tables)"),
    }
    let (on_error, origin) = pick(args.on_error, config.on_error, || OnError::Abort);
    out.setting("on_error", name(on_error).into(), origin);
    let (identifiers, origin) = pick(args.source.identifiers, config.identifiers, || {
        IdentifierMode::Lower
    });
    out.setting("identifiers", name(identifiers).into(), origin);
    let (timezone, origin) = pick(None, config.naive_timezone.clone(), || "UTC".to_owned());
    out.setting("naive_timezone", timezone.into(), origin);
    let (types, origin) = pick(args.source.types, config.types, || TypesFrom::Stored);
    out.setting("types", name(types).into(), origin);
    let (geometry, origin) = pick(args.source.geometry, config.geometry, || GeometryAs::Bytea);
    out.setting("geometry", name(geometry).into(), origin);
    let (compression, origin) = pick(args.storage.compression, config.compression, || {
        CompressionMode::Lz4
    });
    out.setting("compression", name(compression).into(), origin);
    for flag in &args.source.partition {
        out.comment(&format!(
            "--partition {flag} replaces that table's partition below"
        ));
    }
    if !config.sections.is_empty() {
        let mut tables = toml::Table::new();
        tables.insert("tables".to_owned(), Value::Table(config.sections.clone()));
        out.text.push('\n');
        out.text.push_str(&toml::to_string(&tables)?);
        for (key, name) in config.named_types() {
            out.comment(&format!(
                "{key} type {name}: checked against the target, which says what it is, when \
                 a command connects, before any table is created"
            ));
        }
    }

    if let Some(source) = source {
        let mut options = args.source.options(config)?;
        options.source = source;
        let plan = ferry_engine::plan::plan(&PlanOptions {
            source: options,
            storage: args.storage.options(),
            profile: false,
            stored_types: false,
        })?;
        out.text.push('\n');
        out.comment(&format!(
            "planned from the source, touching no database: {}",
            plan.tables.join(", ")
        ));
    }
    Ok(out.text)
}

/// The value's name as its flag and the config spell it.
fn name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

#[derive(Default)]
struct Lines {
    text: String,
}

impl Lines {
    fn comment(&mut self, text: &str) {
        self.text.push_str(&format!("# {text}\n"));
    }

    fn setting(&mut self, key: &str, value: Value, origin: Origin) {
        let origin = match origin {
            Origin::Flag => "command line",
            Origin::Config => "config",
            Origin::Env => "environment",
            Origin::Default => "default",
        };
        let line = format!("{key} = {value}");
        self.text.push_str(&format!("{line:<40} # {origin}\n"));
    }
}
