//! Canonical text for `jsonb` values.
//!
//! jsonb forgets how its input was written: whitespace, key order and
//! duplicate keys are gone, numbers are numerics and strings are decoded.
//! The canonical form forgets the same things. The parser is written here
//! rather than taken from `serde_json::Value` because serde_json turns
//! numbers into `f64` (losing digits a numeric keeps) unless its
//! `arbitrary_precision` feature is on, and that feature would change
//! `serde_json` for every crate in the build. serde_json still decodes and
//! escapes strings.

use std::borrow::Cow;
use std::ops::Range;

use ferry_model::scan_decimal;

use crate::numeric::{write_decimal, INVALID_MARKER};

/// Nesting deeper than this is treated as unparseable, so a pathological
/// document cannot overflow the stack of the thread hashing it.
const MAX_DEPTH: usize = 1024;

/// Appends the canonical text of a jsonb value, or [`INVALID_MARKER`]
/// followed by the raw text when it is not valid JSON.
pub(crate) fn write_jsonb(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let parsed = parser.value(out, 0).is_some() && {
        parser.skip_whitespace();
        parser.pos == parser.bytes.len()
    };
    if !parsed {
        out.truncate(start);
        out.push(INVALID_MARKER);
        out.extend_from_slice(text.as_bytes());
    }
}

/// A recursive-descent JSON (RFC 8259) reader that writes canonical text as
/// it goes. Each method returns `None` on invalid input.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.skip_whitespace();
        match *self.bytes.get(self.pos)? {
            b'{' => self.object(out, depth + 1),
            b'[' => self.array(out, depth + 1),
            b'"' => {
                let string = self.string()?;
                write_string(&string, out);
                Some(())
            }
            b't' => self.literal("true", out),
            b'f' => self.literal("false", out),
            b'n' => self.literal("null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, out: &mut Vec<u8>) -> Option<()> {
        self.bytes[self.pos..]
            .starts_with(word.as_bytes())
            .then(|| {
                self.pos += word.len();
                out.extend_from_slice(word.as_bytes());
            })
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        // Member values are written one after another into one buffer
        // (one allocation per object, not per member) and sorted by range.
        let mut members: Vec<(Cow<'a, str>, Range<usize>)> = Vec::new();
        let mut values = Vec::new();
        self.skip_whitespace();
        if !self.eat(b'}') {
            loop {
                self.skip_whitespace();
                if self.bytes.get(self.pos) != Some(&b'"') {
                    return None;
                }
                let key = self.string()?;
                self.skip_whitespace();
                if !self.eat(b':') {
                    return None;
                }
                let at = values.len();
                self.value(&mut values, depth)?;
                members.push((key, at..values.len()));
                self.skip_whitespace();
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        // A stable sort keeps duplicates in input order, so the last of
        // each run is the one jsonb keeps.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        out.push(b'{');
        let mut first = true;
        for (i, (key, value)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_string(key, out);
            out.push(b':');
            out.extend_from_slice(&values[value.clone()]);
        }
        out.push(b'}');
        Some(())
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        out.push(b'[');
        self.skip_whitespace();
        if !self.eat(b']') {
            loop {
                self.value(out, depth)?;
                self.skip_whitespace();
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
                out.push(b',');
            }
        }
        out.push(b']');
        Some(())
    }

    /// Reads a string starting at its opening quote and returns its decoded
    /// contents.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let mut end = start + 1;
        let mut escaped = false;
        // Jumps from one quote or backslash to the next rather than
        // matching every byte.
        loop {
            let rest = self.bytes.get(end..)?;
            end += rest.iter().position(|&b| b == b'"' || b == b'\\')?;
            if self.bytes[end] == b'"' {
                break;
            }
            escaped = true;
            end += 2;
        }
        self.pos = end + 1;
        if escaped {
            // Both ends are ASCII quotes, so these are char boundaries.
            return serde_json::from_str::<String>(&self.text[start..=end])
                .ok()
                .map(Cow::Owned);
        }
        let inner = &self.text[start + 1..end];
        // RFC 8259 forbids raw control characters inside strings.
        (!inner.bytes().any(|b| b < 0x20)).then_some(Cow::Borrowed(inner))
    }

    /// Reads a number as RFC 8259 spells it (stricter than a decimal: no
    /// `+`, no leading zeros, digits on both sides of a point).
    fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.pos;
        self.eat(b'-');
        let int = self.digits();
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return None;
        }
        if self.eat(b'.') && self.digits().is_empty() {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'-') {
                self.eat(b'+');
            }
            if self.digits().is_empty() {
                return None;
            }
        }
        // Every JSON number is a decimal; the scan splits it into parts.
        write_decimal(&scan_decimal(&self.text[start..self.pos])?, out);
        Some(())
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }
}

/// Writes a JSON string with serde_json's escaping.
fn write_string(text: &str, out: &mut Vec<u8>) {
    // serde_json escapes only quotes, backslashes and control characters;
    // most strings have none, and are copied as they are.
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    // Serialising a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        write_jsonb(text, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("null", "null"),
            (" true ", "true"),
            ("false", "false"),
            ("1", "1"),
            ("1.0", "1"),
            ("1.00", "1"),
            ("-0", "0"),
            ("1e2", "100"),
            ("1.5E-2", "0.015"),
            ("12345678901234567890.10", "12345678901234567890.1"),
            ("\"a\\u0041\\n\"", "\"aA\\n\""),
            ("\"é\"", "\"é\""),
            ("\"\\u00e9\"", "\"é\""),
            ("[ 1 , 2.50 , [] , {} ]", "[1,2.5,[],{}]"),
            (
                "{\"b\": 1, \"a\": [true, null]}",
                "{\"a\":[true,null],\"b\":1}",
            ),
            ("{\"a\": 1, \"a\": 2}", "{\"a\":2}"),
            (
                "{\"a\":{\"z\":1,\"y\":{\"x\":0.10}}}",
                "{\"a\":{\"y\":{\"x\":0.1},\"z\":1}}",
            ),
            ("\r\n\t{}", "{}"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        texts.extend(["", "plain", "é ✓ 𝄞", "\u{7f}\u{80}", "\"\\\n"].map(str::to_owned));
        for text in texts {
            let mut out = Vec::new();
            write_string(&text, &mut out);
            assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn equal_documents_written_differently() {
        let pairs = [
            ("{\"a\":1,\"b\":2}", "{ \"b\" : 2.0 ,\n \"a\" : 1 }"),
            ("[1, 10, 0.5]", "[1.000, 1e1, 5E-1]"),
            ("{\"k\":\"v\"}", "{\"k\":\"x\", \"k\":\"\\u0076\"}"),
        ];
        for (a, b) in pairs {
            assert_eq!(canonical(a), canonical(b), "{a} vs {b}");
        }
        assert_ne!(canonical("[1,2]"), canonical("[2,1]"));
        assert_ne!(canonical("\"1\""), canonical("1"));
    }

    #[test]
    fn invalid_text_is_marked_not_parsed() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let inputs = [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "1e",
            "+1",
            "tru",
            "truex",
            "'a'",
            "\"a",
            "\"\t\"",
            "\"\\x\"",
            "\"\\",
            "NaN",
            "[1] 2",
            "{1:2}",
            &deep,
        ];
        for input in inputs {
            let mut expected = vec![INVALID_MARKER];
            expected.extend_from_slice(input.as_bytes());
            let mut out = b"kept".to_vec();
            write_jsonb(input, &mut out);
            assert_eq!(out[..4], *b"kept");
            assert_eq!(out[4..], expected, "input {input:?}");
        }
        let nested = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(canonical(&nested), nested);
        let objects = "{\"a\":".repeat(MAX_DEPTH - 1) + "{}" + &"}".repeat(MAX_DEPTH - 1);
        assert_eq!(canonical(&objects), objects);
    }
}
