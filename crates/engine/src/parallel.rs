//! Reading one source table's chunks on rayon's threads, each thread with
//! its own SQLite connection (a connection cannot be shared between
//! threads), the results folded in chunk order.

use anyhow::Result;
use ferry_model::ChunkRange;
use ferry_reader::SourceDb;
use rayon::prelude::*;

use crate::connections::{Lease, SourceConnections};

/// Runs `work` on every chunk of the source `connections` lead to and
/// folds the results with `merge`, earlier chunks first; `empty` is the
/// result of no chunk. The first error stops the rest.
pub fn fold_chunks<T: Send>(
    connections: &SourceConnections,
    chunks: Vec<ChunkRange>,
    empty: impl Fn() -> T + Sync + Send,
    work: impl Fn(&SourceDb, ChunkRange) -> Result<T> + Sync + Send,
    merge: impl Fn(T, T) -> T + Sync + Send,
) -> Result<T> {
    chunks
        .into_par_iter()
        .map_init(
            || None,
            |db: &mut Option<Lease<'_>>, range| {
                let db = match db {
                    Some(db) => db,
                    None => db.insert(connections.lease()?),
                };
                work(db, range)
            },
        )
        .try_reduce(empty, |earlier, later| Ok(merge(earlier, later)))
}
