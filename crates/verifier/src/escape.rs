//! Escaping for the report formats: one line of terminal text, XML, and
//! Markdown with the HTML it may contain. Table names, keys and values come
//! from the data, so every one of them passes through here.

/// Replaces line breaks and other control characters with spaces, so one
/// value cannot split a line of the text report.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Escapes text for an XML attribute value: see [`xml_escape_with`].
pub(crate) fn xml_escape(text: &str) -> String {
    xml_escape_with(text, true)
}

/// Escapes text for XML element content: see [`xml_escape_with`].
pub(crate) fn xml_text(text: &str) -> String {
    xml_escape_with(text, false)
}

/// Escapes the five predefined entities and drops the characters XML 1.0
/// forbids (<https://www.w3.org/TR/xml/#charsets>: control characters other
/// than tab, LF and CR, and U+FFFE, U+FFFF; Rust strings hold no
/// surrogates). A carriage return, and in an attribute also tab and line
/// feed, become character references, because parsers normalise them away
/// when written literally.
fn xml_escape_with(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text inside an HTML block of Markdown, on one line.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell or list item, on one line:
/// Markdown punctuation that could end a cell (`|`), open a code span
/// (`` ` ``), emphasis, a link or an HTML tag is backslash-escaped, and `&`
/// is written as an entity so text like `&lt;` shows as written.
pub(crate) fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_escape("a<b&\"c\"'d'>"),
            "a&lt;b&amp;&quot;c&quot;&apos;d&apos;&gt;"
        );
        assert_eq!(xml_escape("a\u{0}\u{8}\u{1F}\u{FFFE}\u{FFFF}b"), "ab");
        assert_eq!(xml_escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(xml_text("a\tb\nc\rd<"), "a\tb\nc&#13;d&lt;");
        assert_eq!(xml_escape("é😀\u{7F}"), "é😀\u{7F}");
        // Line breaks survive a round trip through a parser.
        let xml = format!(
            "<a b=\"{}\">{}</a>",
            xml_escape("x\r\n\ty"),
            xml_text("x\r\n\ty")
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("b"), Some("x\r\n\ty"));
        assert_eq!(doc.root_element().text(), Some("x\r\n\ty"));
    }

    #[test]
    fn markdown_and_html_escaping() {
        assert_eq!(md_escape("a|b`c"), "a\\|b\\`c");
        assert_eq!(
            md_escape("*x* _y_ [z](u) <b> ~s~ #h !i \\"),
            "\\*x\\* \\_y\\_ \\[z\\](u) \\<b\\> \\~s\\~ \\#h \\!i \\\\"
        );
        assert_eq!(md_escape("a&lt;b\nc"), "a&amp;lt;b c");
        assert_eq!(html_escape("<b>&x\n"), "&lt;b&gt;&amp;x ");
        assert_eq!(one_line("a\nb\tc\u{0}"), "a b c ");
    }
}
