//! How the tables a copy creates are stored: `--unlogged`, and the
//! `--compression` flag or the config's `compression`, checked against
//! what the server can do.

use anyhow::{Context, Result};
use ferry_writer::{Compression, Storage};

use crate::config::Config;
use crate::exit::UsageError;
use crate::options::{CompressionMode, StorageOptions};

/// What the flag, else the config, asks for; lz4 when neither says.
fn requested(args: &StorageOptions, config: &Config) -> (CompressionMode, bool) {
    match args.compression.or(config.compression) {
        Some(mode) => (mode, true),
        None => (CompressionMode::Lz4, false),
    }
}

fn storage(args: &StorageOptions, mode: CompressionMode) -> Storage {
    Storage {
        unlogged: args.unlogged,
        compression: match mode {
            CompressionMode::Lz4 => Some(Compression::Lz4),
            CompressionMode::Pglz => Some(Compression::Pglz),
            CompressionMode::Default => None,
        },
    }
}

/// The storage `ferry plan` shows: what was asked for, without a server
/// to check it against.
pub fn planned(args: &StorageOptions, config: &Config) -> Storage {
    storage(args, requested(args, config).0)
}

/// The storage a copy uses on this server, and a warning when the default
/// lz4 fell back to the server's own default because the server has no
/// lz4. Asking for lz4 explicitly on such a server is an error.
pub async fn for_target(
    client: &tokio_postgres::Client,
    args: &StorageOptions,
    config: &Config,
) -> Result<(Storage, Option<String>)> {
    let (mode, explicit) = requested(args, config);
    if mode != CompressionMode::Lz4
        || ferry_writer::server_has_lz4(client)
            .await
            .context("checking the server's TOAST compression methods")?
    {
        return Ok((storage(args, mode), None));
    }
    if explicit {
        return Err(UsageError::new(
            "the server cannot compress with lz4 (it needs Postgres 14 or later built with lz4); \
             rerun with --compression pglz or --compression default",
        )
        .into());
    }
    Ok((
        storage(args, CompressionMode::Default),
        Some(
            "the server has no lz4, so text, bytea and jsonb columns use its \
             default_toast_compression"
                .to_owned(),
        ),
    ))
}
