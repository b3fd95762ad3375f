//! Target names: case folding, Postgres's 63-byte limit, and the namespaces
//! in which two names must not meet.

use std::collections::HashMap;

use crate::error::TransformError;
use crate::options::IdentifierCase;

/// Postgres's `NAMEDATALEN - 1`: longer identifiers are cut by the server,
/// so ferry cuts them first and checks the result for collisions.
pub(crate) const MAX_IDENTIFIER_BYTES: usize = 63;

/// Folds a source name as configured.
pub(crate) fn fold(name: &str, case: IdentifierCase) -> String {
    match case {
        IdentifierCase::Lower => name.to_lowercase(),
        IdentifierCase::Preserve => name.to_owned(),
    }
}

/// The Postgres name a source table or column gets without its source at
/// hand: `rename` as given, else the name folded; cut to 63 bytes. The
/// planner gives the same name (and warns when it cuts).
pub fn target_name(source: &str, rename: Option<&str>, case: IdentifierCase) -> String {
    let name = rename.map_or_else(|| fold(source, case), str::to_owned);
    truncate(&name, MAX_IDENTIFIER_BYTES).to_owned()
}

/// Cuts a name to at most `max` bytes at a character boundary.
pub(crate) fn truncate(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut cut = max;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    &name[..cut]
}

/// Names already taken in one Postgres namespace, each with the source
/// object that took it, so a collision can name both sides.
pub(crate) struct Namespace {
    scope: String,
    taken: HashMap<String, String>,
}

impl Namespace {
    /// An empty namespace described as `scope` (`schema public`).
    pub(crate) fn new(scope: String) -> Self {
        Namespace {
            scope,
            taken: HashMap::new(),
        }
    }

    /// Takes `name` for `owner` (`table Emails`), or fails naming whoever
    /// has it.
    pub(crate) fn claim(&mut self, name: &str, owner: String) -> Result<(), TransformError> {
        if let Some(first) = self.taken.get(name) {
            return Err(TransformError::NameCollision {
                scope: self.scope.clone(),
                target: name.to_owned(),
                first: first.clone(),
                second: owner,
            });
        }
        self.taken.insert(name.to_owned(), owner);
        Ok(())
    }

    /// Takes a generated name (`orders_email_key`): `base`, or, as Postgres
    /// does for names it chooses, `base1`, `base2`… when taken.
    pub(crate) fn claim_generated(&mut self, base: &str, owner: String) -> String {
        let mut candidate = truncate(base, MAX_IDENTIFIER_BYTES).to_owned();
        let mut n = 0u32;
        while self.taken.contains_key(&candidate) {
            n += 1;
            let suffix = n.to_string();
            candidate = format!(
                "{}{suffix}",
                truncate(base, MAX_IDENTIFIER_BYTES - suffix.len())
            );
        }
        self.taken.insert(candidate.clone(), owner);
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_truncates_at_char_boundaries() {
        assert_eq!(fold("ÉCOLE", IdentifierCase::Lower), "école");
        assert_eq!(fold("ÉCOLE", IdentifierCase::Preserve), "ÉCOLE");
        let long = "é".repeat(40); // 80 bytes
        assert_eq!(truncate(&long, 63).len(), 62);
        assert_eq!(truncate("short", 63), "short");
    }

    #[test]
    fn collisions_name_both_sides() {
        let mut ns = Namespace::new("schema public".into());
        ns.claim("users", "table Users".into()).unwrap();
        let err = ns.claim("users", "table USERS".into()).unwrap_err();
        assert!(err.to_string().starts_with(
            "table Users and table USERS would both be named \"users\" in schema public"
        ));
        assert_eq!(ns.claim_generated("users", "x".into()), "users1");
        assert_eq!(ns.claim_generated("users", "y".into()), "users2");
        let base = "a".repeat(70);
        assert_eq!(ns.claim_generated(&base, "z".into()), "a".repeat(63));
        assert_eq!(
            ns.claim_generated(&base, "z".into()),
            format!("{}1", "a".repeat(62))
        );
    }
}
