//! `--geometry postgis` needs the postgis extension in the target: checked
//! before any DDL, and never installed behind the user's back.

use anyhow::{Context, Result};
use ferry_model::{PgType, TablePlan};
use ferry_writer::PostgisStatus;

use crate::exit::UsageError;

/// Fails, naming the geometry columns and what to run, when the plan has
/// a PostGIS `geometry` column and the target cannot create one.
pub async fn require_postgis<'a>(
    client: &tokio_postgres::Client,
    plans: impl IntoIterator<Item = &'a TablePlan>,
) -> Result<()> {
    let columns: Vec<String> = plans
        .into_iter()
        .flat_map(|p| {
            p.columns
                .iter()
                .filter(|c| matches!(c.pg_type, PgType::Geometry(_)))
                .map(move |c| format!("{}.{}", p.name, c.name))
        })
        .collect();
    let Some(first) = columns.first() else {
        return Ok(());
    };
    let status = ferry_writer::postgis_status(client)
        .await
        .context("checking the target for PostGIS")?;
    let more = match columns.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    let problem = match status {
        PostgisStatus::Ready => return Ok(()),
        PostgisStatus::Missing {
            available: true, ..
        } => "the target database has no postgis extension; run CREATE EXTENSION postgis; in \
              it (as its owner or a superuser)"
            .to_owned(),
        PostgisStatus::Missing {
            available: false,
            server_major,
        } => format!(
            "the target server has no PostGIS to install; install it on the server (Debian and \
             Ubuntu: apt-get install postgresql-{server_major}-postgis-3), then run CREATE \
             EXTENSION postgis; in the target database"
        ),
        PostgisStatus::OffSearchPath { schema } => format!(
            "the postgis extension is in schema {schema}, which is not on this role's \
             search_path; add it (ALTER ROLE … SET search_path = …, {schema})"
        ),
    };
    Err(UsageError::new(format!(
        "the plan has PostGIS geometry columns ({first}{more}; --geometry postgis), but \
         {problem}. ferry does not create extensions itself. Or copy without --geometry postgis \
         to keep the geometry blobs as bytea"
    ))
    .into())
}
