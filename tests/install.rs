//! What an installed ferry offers beyond its jobs (issue 17): a version
//! naming its commit, shell completions and a manual page, each printed
//! on stdout with exit code 0.

use crate::util::ferry;

#[test]
fn issue_17_version_names_the_commit_it_was_built_from() {
    let run = ferry(&["--version"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.trim();
    let version = line.strip_prefix("ferry ").expect(line);
    assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{line}");
    // Built from a git checkout here: `0.1.0 (0123456789ab)`.
    let commit = version
        .split_once(" (")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .expect(line);
    assert!(
        commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{line}"
    );
}

#[test]
fn issue_17_completions_cover_every_command_and_flag() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = ferry(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for word in ["copy", "verify", "sync", "plan", "partitions", "if-exists"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    assert!(ferry(&["completions", "bash"]).stdout.contains("_ferry()"));
    assert_eq!(ferry(&["completions", "tcsh"]).code, 2);
}

#[test]
fn issue_17_man_renders_a_roff_page() {
    let run = ferry(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH ferry 1"), "{}", run.stdout);
    assert!(run.stdout.contains("SUBCOMMANDS") || run.stdout.contains("copy"));
}
