//! Values on each side of the copy.

use std::borrow::Cow;
use std::fmt;

/// SQLite's five storage classes, what `typeof()` reports for a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageClass {
    /// SQL NULL.
    Null,
    /// A signed 64-bit integer.
    Integer,
    /// An IEEE 754 double.
    Real,
    /// Text as SQLite stores it: meant to be UTF-8, not guaranteed to be.
    Text,
    /// Raw bytes.
    Blob,
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageClass::Null => "null",
            StorageClass::Integer => "integer",
            StorageClass::Real => "real",
            StorageClass::Text => "text",
            StorageClass::Blob => "blob",
        })
    }
}

/// A value read from SQLite, borrowed from the statement's current row so
/// that reading allocates nothing per value.
///
/// Text is kept as bytes because SQLite does not enforce UTF-8.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SourceValueRef<'a> {
    /// SQL NULL.
    Null,
    /// An INTEGER storage-class value.
    Integer(i64),
    /// A REAL storage-class value.
    Real(f64),
    /// A TEXT storage-class value, as stored (possibly invalid UTF-8).
    Text(&'a [u8]),
    /// A BLOB storage-class value.
    Blob(&'a [u8]),
}

/// An owned [`SourceValueRef`], for rejects, samples and reports.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceValue {
    /// SQL NULL.
    Null,
    /// An INTEGER storage-class value.
    Integer(i64),
    /// A REAL storage-class value.
    Real(f64),
    /// A TEXT storage-class value, as stored (possibly invalid UTF-8).
    Text(Vec<u8>),
    /// A BLOB storage-class value.
    Blob(Vec<u8>),
}

impl SourceValueRef<'_> {
    /// The storage class SQLite's `typeof()` would report.
    pub fn storage_class(&self) -> StorageClass {
        match self {
            SourceValueRef::Null => StorageClass::Null,
            SourceValueRef::Integer(_) => StorageClass::Integer,
            SourceValueRef::Real(_) => StorageClass::Real,
            SourceValueRef::Text(_) => StorageClass::Text,
            SourceValueRef::Blob(_) => StorageClass::Blob,
        }
    }

    /// Copies the value out of the row it borrows from.
    pub fn to_owned_value(&self) -> SourceValue {
        match *self {
            SourceValueRef::Null => SourceValue::Null,
            SourceValueRef::Integer(i) => SourceValue::Integer(i),
            SourceValueRef::Real(r) => SourceValue::Real(r),
            SourceValueRef::Text(t) => SourceValue::Text(t.to_vec()),
            SourceValueRef::Blob(b) => SourceValue::Blob(b.to_vec()),
        }
    }

    /// A short, human-readable rendering for error messages: text is quoted
    /// and cut to `max_chars` characters (marked with `…`), invalid UTF-8
    /// and NUL are shown escaped, blobs as `x'…'` hex.
    pub fn preview(&self, max_chars: usize) -> String {
        match *self {
            SourceValueRef::Null => "NULL".to_owned(),
            SourceValueRef::Integer(i) => i.to_string(),
            SourceValueRef::Real(r) => format!("{r:?}"),
            SourceValueRef::Text(t) => {
                let escaped = t.escape_ascii_utf8();
                format!("'{}'", truncate_chars(&escaped, max_chars))
            }
            SourceValueRef::Blob(b) => {
                let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
                format!("x'{}'", truncate_chars(&hex, max_chars))
            }
        }
    }
}

impl SourceValue {
    /// Borrows the value as a [`SourceValueRef`].
    pub fn as_ref(&self) -> SourceValueRef<'_> {
        match self {
            SourceValue::Null => SourceValueRef::Null,
            SourceValue::Integer(i) => SourceValueRef::Integer(*i),
            SourceValue::Real(r) => SourceValueRef::Real(*r),
            SourceValue::Text(t) => SourceValueRef::Text(t),
            SourceValue::Blob(b) => SourceValueRef::Blob(b),
        }
    }
}

/// Renders bytes as UTF-8 where they are valid, escaping NUL, other control
/// characters and invalid bytes so an error message shows what is there.
trait EscapeUtf8 {
    fn escape_ascii_utf8(&self) -> String;
}

impl EscapeUtf8 for [u8] {
    fn escape_ascii_utf8(&self) -> String {
        let mut out = String::with_capacity(self.len());
        for chunk in self.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    out.extend(c.escape_default());
                } else {
                    out.push(c);
                }
            }
            for byte in chunk.invalid() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
        out
    }
}

fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A value ready for Postgres, already of its target column's type.
///
/// Dates and timestamps use Postgres's own binary representation (days or
/// microseconds since 2000-01-01), so encoding them is a copy, and text
/// borrows from the source row whenever no conversion was needed.
#[derive(Clone, Debug, PartialEq)]
pub enum PgValue<'a> {
    /// SQL NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    Int2(i16),
    /// `integer`.
    Int4(i32),
    /// `bigint`.
    Int8(i64),
    /// `real`.
    Float4(f32),
    /// `double precision`.
    Float8(f64),
    /// `numeric`, as a plain decimal string: optional `-`, digits, optional
    /// `.` and digits; no exponent, no `+`, no leading zeros beyond one
    /// (`0.5`, `-12.50`), or `NaN`, `Infinity`, `-Infinity`. For a
    /// `numeric(p,s)` column the digits are padded to scale `s`, as
    /// Postgres stores them.
    Numeric(Cow<'a, str>),
    /// `text`: valid UTF-8 without NUL bytes.
    Text(Cow<'a, str>),
    /// `bytea`.
    Bytea(Cow<'a, [u8]>),
    /// `date`: days since 2000-01-01.
    Date(i32),
    /// `timestamp` (without time zone): microseconds since 2000-01-01 00:00.
    Timestamp(i64),
    /// `timestamptz`: microseconds since 2000-01-01 00:00 UTC.
    Timestamptz(i64),
    /// `jsonb`: valid JSON text.
    Jsonb(Cow<'a, str>),
    /// `uuid`: its 16 bytes.
    Uuid([u8; 16]),
    /// PostGIS `geometry`, as the EWKB its binary send function writes:
    /// little-endian throughout, the SRID (flag `0x20000000`) on the
    /// outermost geometry only and only when not 0, Z and M as the flags
    /// `0x80000000` and `0x40000000` on every geometry, an empty point as
    /// NaN coordinates (`0x7FF8000000000000`).
    Geometry(Cow<'a, [u8]>),
}

impl PgValue<'_> {
    /// Detaches the value from the source row it may borrow from.
    pub fn into_owned(self) -> PgValue<'static> {
        match self {
            PgValue::Null => PgValue::Null,
            PgValue::Bool(b) => PgValue::Bool(b),
            PgValue::Int2(i) => PgValue::Int2(i),
            PgValue::Int4(i) => PgValue::Int4(i),
            PgValue::Int8(i) => PgValue::Int8(i),
            PgValue::Float4(f) => PgValue::Float4(f),
            PgValue::Float8(f) => PgValue::Float8(f),
            PgValue::Numeric(n) => PgValue::Numeric(Cow::Owned(n.into_owned())),
            PgValue::Text(t) => PgValue::Text(Cow::Owned(t.into_owned())),
            PgValue::Bytea(b) => PgValue::Bytea(Cow::Owned(b.into_owned())),
            PgValue::Date(d) => PgValue::Date(d),
            PgValue::Timestamp(t) => PgValue::Timestamp(t),
            PgValue::Timestamptz(t) => PgValue::Timestamptz(t),
            PgValue::Jsonb(j) => PgValue::Jsonb(Cow::Owned(j.into_owned())),
            PgValue::Uuid(u) => PgValue::Uuid(u),
            PgValue::Geometry(g) => PgValue::Geometry(Cow::Owned(g.into_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_escapes_and_truncates() {
        assert_eq!(SourceValueRef::Text(b"a\0b").preview(10), "'a\\u{0}b'");
        assert_eq!(SourceValueRef::Text(b"ab\xffc").preview(10), "'ab\\xffc'");
        assert_eq!(SourceValueRef::Text("héllo".as_bytes()).preview(2), "'hé…'");
        assert_eq!(SourceValueRef::Blob(&[0xde, 0xad]).preview(10), "x'dead'");
        assert_eq!(SourceValueRef::Real(0.1).preview(10), "0.1");
        assert_eq!(SourceValueRef::Null.preview(10), "NULL");
    }

    #[test]
    fn owned_round_trip() {
        let v = SourceValueRef::Text(b"x");
        assert_eq!(v.to_owned_value().as_ref(), v);
    }
}
