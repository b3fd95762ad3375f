//! ferry-engine: the jobs of `ferry` as library functions.
//!
//! - [`copy::copy`] loads a SQLite file into Postgres in parallel chunks,
//!   resumable, then builds keys, indexes and constraints.
//! - [`sync::run`] brings the target up to date with a source still being
//!   written, table by table, atomically.
//! - [`verify::verify`] proves the target holds what the source becomes,
//!   naming every row and column that differs.
//! - [`plan::plan`] says what a copy would create; [`partitions`]
//!   maintains range-partitioned targets.
//!
//! Each takes plain [`options`] and reports what happens through an
//! [`events::Observer`] ([`metrics::Metrics`] is one, keeping Prometheus
//! series of a run); errors carry the types [`exit::exit_code`] maps to
//! the documented exit codes. A signal handler hands signals to
//! [`interrupt::on_signal`]. This crate is where the reader, transformer,
//! writer and verifier meet; none of them knows the others.

// Two system calls std does not offer at our MSRV (flock, kill 0) are
// the only unsafe code, each allowed where it stands.
#![deny(unsafe_code)]

mod chunk_plan;
pub mod config;
mod connections;
pub mod copy;
pub mod events;
pub mod exit;
pub mod interrupt;
pub mod left_behind;
mod lock_watch;
pub mod locks;
pub mod metrics;
pub mod options;
mod override_types;
mod parallel;
mod partition_config;
mod partition_targets;
mod partitioning;
pub mod partitions;
mod partman;
mod pipeline;
pub mod plan;
mod post_load;
mod postgis;
mod prepare;
mod reading;
pub mod report;
pub mod retry;
mod row_key;
mod setup;
mod snapshot;
mod stop;
mod storage;
pub mod stored_types;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod verify;
