//! What every test against a real Postgres needs: a fresh, uniquely named
//! database per test (from `DATABASE_URL`, or the local server), dropped
//! afterwards so tests run in parallel, and small plan builders.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use ferry_model::{ColumnPlan, PgType, TablePlan};
use ferry_writer::connect;
use tokio_postgres::Client;

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "ferry_writer_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = connect(&admin_url())
            .await
            .expect("connect to DATABASE_URL");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let url = with_dbname(&admin_url(), &name);
        TestDb { name, url }
    }

    pub async fn client(&self) -> Client {
        let client = connect(&self.url).await.unwrap();
        client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on
        // itself: use a short-lived runtime on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(admin) = connect(&admin_url()).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The admin URL pointed at another database.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (head, query) = match url.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (url, None),
        };
        let scheme_end = head.find("://").unwrap() + 3;
        let base = match head[scheme_end..].find('/') {
            Some(slash) => &head[..scheme_end + slash],
            None => head,
        };
        match query {
            Some(query) => format!("{base}/{dbname}?{query}"),
            None => format!("{base}/{dbname}"),
        }
    } else {
        format!("{url} dbname={dbname}")
    }
}

pub fn column(name: &str, pg_type: PgType) -> ColumnPlan {
    ColumnPlan::new(name, "", pg_type)
}

/// A plain table in "Target Schema", copied from `src_<name>`.
pub fn plan(name: &str, columns: Vec<ColumnPlan>) -> TablePlan {
    TablePlan {
        source_name: format!("src_{name}"),
        ..TablePlan::new("Target Schema", name, columns)
    }
}
