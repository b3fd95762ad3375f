//! Exact row and column differences inside buckets whose digests disagree.
//!
//! Bucket digests say which buckets differ; this module takes the rows of
//! those buckets from both sides, pairs them by key and names what is
//! missing, what is extra and which columns of which rows changed.

use std::collections::BTreeMap;

use ferry_model::PgValue;
use serde::Serialize;

use crate::buckets::key_bytes;
use crate::digest::{row_digest, RowDigest};
use crate::encode::encode_value;
use crate::render::render_value;
use crate::report::{Difference, DifferenceKind};

/// How many characters of a value a diff shows: enough to spot the
/// difference, short enough that one huge document does not swamp a report.
pub const MAX_RENDERED_CHARS: usize = 120;

/// How many characters of each key value a row's key text shows.
const MAX_KEY_CHARS: usize = 40;

/// One row of one side, as the diff needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RowEntry {
    /// The canonical key bytes ([`key_bytes`]): rows pair up by these.
    pub key: Vec<u8>,
    /// The key as people read it, e.g. `id=5`.
    pub key_text: String,
    /// The digest of the whole row ([`row_digest`] of `values`).
    pub digest: RowDigest,
    /// The row's values, in the plan's column order.
    pub values: Vec<PgValue<'static>>,
}

impl RowEntry {
    /// The entry for a row keyed by the columns at `key_columns` (positions
    /// in `values`), or by the whole row when `key_columns` is empty, as for
    /// a table without a primary key. The key text names each key column
    /// (`account=7, folder='inbox'`); a position past the row is skipped.
    pub fn new(columns: &[String], key_columns: &[usize], values: Vec<PgValue<'static>>) -> Self {
        let positions: Vec<usize> = if key_columns.is_empty() {
            (0..values.len()).collect()
        } else {
            key_columns
                .iter()
                .copied()
                .filter(|&at| at < values.len())
                .collect()
        };
        let key_values: Vec<PgValue<'_>> = positions.iter().map(|&at| values[at].clone()).collect();
        let key_text = positions
            .iter()
            .map(|&at| {
                format!(
                    "{}={}",
                    column_name(columns, at),
                    render_value(&values[at], MAX_KEY_CHARS)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        RowEntry {
            key: key_bytes(&key_values),
            key_text,
            digest: row_digest(&values),
            values,
        }
    }
}

/// The differences between the two sides of a table, or of some of its
/// buckets. Each list is ordered by key bytes, so the same data gives the
/// same diff however the rows were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableDiff {
    /// Rows in the source, not in the target.
    pub missing: Vec<RowDiff>,
    /// Rows in the target, not in the source.
    pub extra: Vec<RowDiff>,
    /// Rows whose key is on both sides but whose values differ.
    pub changed: Vec<RowDiff>,
}

impl TableDiff {
    /// Whether the two sides were equal.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }

    /// The differences as a report lists them, at most `limit` of them:
    /// missing rows first, then extra, then changed.
    pub fn into_differences(self, limit: usize) -> Vec<Difference> {
        let kinds = [
            (DifferenceKind::Missing, self.missing),
            (DifferenceKind::Extra, self.extra),
            (DifferenceKind::Changed, self.changed),
        ];
        kinds
            .into_iter()
            .flat_map(|(kind, rows)| {
                rows.into_iter().map(move |row| Difference {
                    kind,
                    key: row.key,
                    columns: row.columns,
                })
            })
            .take(limit)
            .collect()
    }
}

/// One row that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowDiff {
    /// The row's key text, e.g. `id=5`.
    pub key: String,
    /// For a changed row, the columns that differ; empty for a missing or
    /// extra row.
    pub columns: Vec<ColumnDiff>,
}

/// One column of a changed row, rendered with [`render_value`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnDiff {
    /// The column's name.
    pub column: String,
    /// The value the source becomes after coercion; `None` for SQL NULL.
    pub source: Option<String>,
    /// The value in Postgres; `None` for SQL NULL.
    pub target: Option<String>,
}

/// Matches source and target rows by key and returns what differs.
///
/// Keys are a multiset: several rows may share one (always in a table keyed
/// by its whole row, where duplicates are legal). Within a key, rows with
/// equal digests pair up first and are equal; the rest pair up in order as
/// changed rows, and what remains on one side is missing or extra. So a
/// keyless table with a row three times in the source and twice in the
/// target has exactly one missing row.
///
/// For a changed row, the columns whose canonical encodings differ are
/// listed with both values rendered; `columns` names the row's positions.
pub fn diff_rows(columns: &[String], source: Vec<RowEntry>, target: Vec<RowEntry>) -> TableDiff {
    let mut by_key: BTreeMap<Vec<u8>, (Vec<RowEntry>, Vec<RowEntry>)> = BTreeMap::new();
    for row in source {
        by_key.entry(row.key.clone()).or_default().0.push(row);
    }
    for row in target {
        by_key.entry(row.key.clone()).or_default().1.push(row);
    }

    let mut diff = TableDiff::default();
    for (_, (source, target)) in by_key {
        let (source, target) = drop_equal_pairs(source, target);
        let paired = source.len().min(target.len());
        let mut source = source.into_iter();
        let mut target = target.into_iter();
        for (from, to) in source.by_ref().zip(target.by_ref()).take(paired) {
            diff.changed.push(RowDiff {
                key: from.key_text,
                columns: changed_columns(columns, &from.values, &to.values),
            });
        }
        diff.missing.extend(source.map(bare));
        diff.extra.extend(target.map(bare));
    }
    diff
}

/// Removes rows with equal digests from both sides, pairing each source row
/// with one target row, and keeps the rest in digest order (ties in the
/// order they came).
fn drop_equal_pairs(
    mut source: Vec<RowEntry>,
    mut target: Vec<RowEntry>,
) -> (Vec<RowEntry>, Vec<RowEntry>) {
    // The common case: one row per key on each side.
    if source.len() == 1 && target.len() == 1 && source[0].digest == target[0].digest {
        return (Vec::new(), Vec::new());
    }
    source.sort_by_key(|row| row.digest);
    target.sort_by_key(|row| row.digest);
    let mut kept_source = Vec::new();
    let mut kept_target = Vec::new();
    let mut target = target.into_iter().peekable();
    for row in source {
        while target.peek().is_some_and(|other| other.digest < row.digest) {
            kept_target.extend(target.next());
        }
        match target.peek() {
            Some(other) if other.digest == row.digest => {
                target.next();
            }
            _ => kept_source.push(row),
        }
    }
    kept_target.extend(target);
    (kept_source, kept_target)
}

fn bare(row: RowEntry) -> RowDiff {
    RowDiff {
        key: row.key_text,
        columns: Vec::new(),
    }
}

/// The columns whose canonical encodings differ. A column only one side has
/// (the row lengths disagree) is shown as `(absent)` on the other.
fn changed_columns(
    columns: &[String],
    source: &[PgValue<'_>],
    target: &[PgValue<'_>],
) -> Vec<ColumnDiff> {
    let mut left = Vec::new();
    let mut right = Vec::new();
    (0..source.len().max(target.len()))
        .filter_map(|at| {
            let (from, to) = (source.get(at), target.get(at));
            left.clear();
            right.clear();
            from.inspect(|value| encode_value(value, &mut left));
            to.inspect(|value| encode_value(value, &mut right));
            (from.is_none() || to.is_none() || left != right).then(|| ColumnDiff {
                column: column_name(columns, at),
                source: rendered(from),
                target: rendered(to),
            })
        })
        .collect()
}

fn rendered(value: Option<&PgValue<'_>>) -> Option<String> {
    match value {
        Some(PgValue::Null) => None,
        Some(value) => Some(render_value(value, MAX_RENDERED_CHARS)),
        None => Some("(absent)".to_owned()),
    }
}

/// The name of the column at `at`, or `#<position>` when the caller named
/// fewer columns than the row has.
fn column_name(columns: &[String], at: usize) -> String {
    columns
        .get(at)
        .cloned()
        .unwrap_or_else(|| format!("#{}", at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["id", "name", "price"].map(String::from).to_vec()
    }

    fn keyed(id: i64, name: &str, price: &str) -> RowEntry {
        RowEntry::new(
            &names(),
            &[0],
            vec![
                PgValue::Int8(id),
                PgValue::Text(name.to_owned().into()),
                PgValue::Numeric(price.to_owned().into()),
            ],
        )
    }

    fn keyless(id: i64, name: &str) -> RowEntry {
        RowEntry::new(
            &names(),
            &[],
            vec![PgValue::Int8(id), PgValue::Text(name.to_owned().into())],
        )
    }

    fn keys(rows: &[RowDiff]) -> Vec<&str> {
        rows.iter().map(|row| row.key.as_str()).collect()
    }

    #[test]
    fn entries_name_their_keys() {
        let row = keyed(5, "a", "1.5");
        assert_eq!(row.key_text, "id=5");
        assert_eq!(row.key, key_bytes(&[PgValue::Int8(5)]));
        assert_eq!(row.digest, row_digest(&row.values));

        let row = keyless(5, "it's");
        assert_eq!(row.key_text, "id=5, name='it''s'");
        assert_eq!(row.key, key_bytes(&row.values));

        let composite = RowEntry::new(&names(), &[1, 0, 9], keyed(5, "a", "1").values);
        assert_eq!(composite.key_text, "name='a', id=5");
    }

    #[test]
    fn equal_sides_have_no_differences() {
        let source = vec![keyed(1, "a", "1.50"), keyed(2, "b", "2")];
        // Same values in another order, with another spelling of the numeric.
        let target = vec![keyed(2, "b", "2.0"), keyed(1, "a", "1.5")];
        let diff = diff_rows(&names(), source, target);
        assert!(diff.is_empty(), "{diff:?}");
    }

    #[test]
    fn missing_extra_and_changed() {
        let source = vec![
            keyed(1, "a", "1"),
            keyed(2, "b", "2"),
            keyed(3, "c", "3"),
            keyed(4, "d", "4"),
        ];
        let target = vec![
            keyed(4, "d", "4"),
            keyed(1, "a", "1"),
            keyed(3, "C", "3.5"),
            keyed(5, "e", "5"),
        ];
        let diff = diff_rows(&names(), source, target);
        assert_eq!(keys(&diff.missing), ["id=2"]);
        assert_eq!(keys(&diff.extra), ["id=5"]);
        assert_eq!(keys(&diff.changed), ["id=3"]);
        assert!(diff.missing[0].columns.is_empty());
        assert!(diff.extra[0].columns.is_empty());
        assert_eq!(
            diff.changed[0].columns,
            [
                ColumnDiff {
                    column: "name".into(),
                    source: Some("'c'".into()),
                    target: Some("'C'".into()),
                },
                ColumnDiff {
                    column: "price".into(),
                    source: Some("3".into()),
                    target: Some("3.5".into()),
                },
            ]
        );
    }

    #[test]
    fn nulls_and_types_at_column_level() {
        let row = |name: PgValue<'static>, price: PgValue<'static>| {
            RowEntry::new(&names(), &[0], vec![PgValue::Int4(1), name, price])
        };
        let source = vec![row(PgValue::Null, PgValue::Int8(3))];
        let target = vec![row(PgValue::Text("x".into()), PgValue::Int2(3))];
        let diff = diff_rows(&names(), source, target);
        assert_eq!(
            diff.changed[0].columns,
            [ColumnDiff {
                column: "name".into(),
                source: None,
                target: Some("'x'".into()),
            }]
        );

        // Text and bytea with the same bytes differ; so do rows of
        // different lengths.
        let source = vec![row(PgValue::Text("ab".into()), PgValue::Null)];
        let mut target = row(PgValue::Bytea((&b"ab"[..]).into()), PgValue::Null);
        target.values.push(PgValue::Bool(true));
        target.digest = row_digest(&target.values);
        let diff = diff_rows(&names(), source, vec![target]);
        let columns = &diff.changed[0].columns;
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].column, "name");
        assert_eq!(columns[0].target.as_deref(), Some("\\x6162"));
        assert_eq!(columns[1].column, "#4");
        assert_eq!(columns[1].source.as_deref(), Some("(absent)"));
        assert_eq!(columns[1].target.as_deref(), Some("true"));
    }

    #[test]
    fn keyless_duplicates_are_counted() {
        let source = vec![
            keyless(1, "a"),
            keyless(1, "a"),
            keyless(1, "a"),
            keyless(2, "b"),
        ];
        let target = vec![
            keyless(2, "b"),
            keyless(1, "a"),
            keyless(2, "b"),
            keyless(1, "a"),
        ];
        let diff = diff_rows(&names(), source, target);
        assert_eq!(keys(&diff.missing), ["id=1, name='a'"]);
        assert_eq!(keys(&diff.extra), ["id=2, name='b'"]);
        assert!(diff.changed.is_empty());
    }

    #[test]
    fn shared_keys_pair_equal_rows_first() {
        // Two rows share a key (a non-unique key); one is unchanged and one
        // changed, whatever order each side lists them in.
        let source = vec![keyed(1, "old", "1"), keyed(1, "same", "1")];
        let target = vec![
            keyed(1, "same", "1"),
            keyed(1, "new", "1"),
            keyed(1, "x", "9"),
        ];
        let diff = diff_rows(&names(), source, target);
        assert!(diff.missing.is_empty());
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.extra.len(), 1);
        assert_eq!(diff.changed[0].columns[0].column, "name");
        assert_eq!(diff.changed[0].columns[0].source.as_deref(), Some("'old'"));
    }

    #[test]
    fn order_of_input_does_not_change_the_diff() {
        let source: Vec<RowEntry> = (0..50).map(|i| keyed(i, "a", "1")).collect();
        let target: Vec<RowEntry> = (10..60)
            .map(|i| keyed(i, if i % 7 == 0 { "b" } else { "a" }, "1"))
            .collect();
        let forward = diff_rows(&names(), source.clone(), target.clone());
        let backward = diff_rows(
            &names(),
            source.into_iter().rev().collect(),
            target.into_iter().rev().collect(),
        );
        assert_eq!(forward, backward);
        assert_eq!(forward.missing.len(), 10);
        assert_eq!(forward.extra.len(), 10);
        assert_eq!(forward.changed.len(), 6); // 14, 21, 28, 35, 42, 49
    }

    #[test]
    fn differences_are_capped_in_kind_order() {
        let source = vec![keyed(1, "a", "1"), keyed(2, "b", "2")];
        let target = vec![keyed(2, "c", "2"), keyed(3, "d", "3")];
        let diff = diff_rows(&names(), source, target);
        let all = diff.clone().into_differences(usize::MAX);
        let kinds: Vec<DifferenceKind> = all.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                DifferenceKind::Missing,
                DifferenceKind::Extra,
                DifferenceKind::Changed
            ]
        );
        assert_eq!(all[2].columns.len(), 1);
        assert_eq!(diff.into_differences(2).len(), 2);
    }
}
