//! Whether the target can hold PostGIS `geometry` columns.

use tokio_postgres::Client;

use crate::WriteError;

/// What the target database has of PostGIS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostgisStatus {
    /// The extension is installed and `geometry` resolves on the session's
    /// search path.
    Ready,
    /// The extension is not installed in this database.
    Missing {
        /// The server could install it (`pg_available_extensions`).
        available: bool,
        /// The server's major version, for the package name
        /// (`postgresql-15-postgis-3`).
        server_major: i32,
    },
    /// Installed in a schema the search path does not include, so an
    /// unqualified `geometry` does not resolve.
    OffSearchPath {
        /// The extension's schema.
        schema: String,
    },
}

/// Reads what the target database has of PostGIS. It never installs
/// anything: creating an extension is the database owner's decision.
///
/// # Errors
///
/// A [`WriteError`] if the catalogs cannot be read.
pub async fn postgis_status(client: &Client) -> Result<PostgisStatus, WriteError> {
    let row = client
        .query_one(
            "SELECT (SELECT n.nspname::text FROM pg_catalog.pg_extension e \
                     JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
                     WHERE e.extname = 'postgis'), \
                    to_regtype('geometry') IS NOT NULL, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions \
                            WHERE name = 'postgis'), \
                    current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg("the server", "look for the postgis extension", e))?;
    Ok(
        match (row.get::<_, Option<String>>(0), row.get::<_, bool>(1)) {
            (Some(_), true) => PostgisStatus::Ready,
            (Some(schema), false) => PostgisStatus::OffSearchPath { schema },
            (None, _) => PostgisStatus::Missing {
                available: row.get(2),
                server_major: row.get(3),
            },
        },
    )
}
