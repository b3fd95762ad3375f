//! Integration tests: the `ferry` binary against a real Postgres, checked
//! against an independent reading of the SQLite file.

mod cluster;
mod compare;
mod util;

mod chunks;
mod config_file;
mod corpus;
mod edge;
mod errors;
mod examples;
mod faults;
mod geometry;
mod hostile;
mod install;
mod julian;
mod libpq;
mod logging;
mod mail;
mod mapping;
mod metrics;
mod overrides;
mod partitions;
mod partman;
mod process_safety;
mod progress;
mod real_world;
mod reports;
mod safety;
mod snapshot;
mod sync;
mod sync_digests;
mod sync_unattended;
mod target_safety;
mod target_types;
mod tls;
mod verify;
mod verify_exact;
