//! Records the git commit ferry is built from, for `ferry --version`:
//! `FERRY_GIT_COMMIT` from the environment (a container or package build
//! without `.git`), else `git rev-parse`, else nothing.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FERRY_GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("FERRY_GIT_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let version = match commit.filter(|c| !c.is_empty()) {
        Some(commit) => format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_owned(),
    };
    println!("cargo:rustc-env=FERRY_VERSION={version}");
}
