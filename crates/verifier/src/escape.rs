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

/// Writes text as XML element content inside a CDATA section, dropping the
/// characters XML 1.0 forbids and splitting any `]]>` across two sections.
///
/// A CDATA section rather than entities, because some JUnit consumers drop
/// entity references in element text (junit-parser 1.7 loses `&lt;` and
/// `&amp;` there), while every parser reads CDATA verbatim. A carriage
/// return reads back as a line feed, by XML's line-end normalisation.
/// Empty text gives an empty string.
pub(crate) fn xml_cdata(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(text.len() + 12);
    out.push_str("<![CDATA[");
    for c in text.chars().filter(|&c| !xml_forbidden(c)) {
        out.push(c);
        if out.ends_with("]]>") {
            // End the section after `]]` and start another holding `>`.
            out.pop();
            out.push_str("]]><![CDATA[>");
        }
    }
    out.push_str("]]>");
    out
}

/// Whether XML 1.0 forbids a character
/// (<https://www.w3.org/TR/xml/#charsets>): control characters other than
/// tab, LF and CR, and U+FFFE, U+FFFF; Rust strings hold no surrogates.
fn xml_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}') && !matches!(c, '\t' | '\n' | '\r')
}

/// Escapes text for an XML attribute value: the five predefined entities
/// are escaped and the characters XML 1.0 [forbids](xml_forbidden) dropped.
/// Tab, line feed and carriage return become character references, because
/// parsers normalise them away in an attribute when written literally.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if xml_forbidden(c) => {}
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
        assert_eq!(xml_escape("é😀\u{7F}"), "é😀\u{7F}");
        // Line breaks in an attribute survive a round trip through a parser.
        let xml = format!("<a b=\"{}\"/>", xml_escape("x\r\n\ty"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("b"), Some("x\r\n\ty"));
    }

    #[test]
    fn cdata() {
        assert_eq!(xml_cdata(""), "");
        assert_eq!(xml_cdata("a<b&'c'\n"), "<![CDATA[a<b&'c'\n]]>");
        assert_eq!(xml_cdata("a\u{0}\u{8}\u{FFFF}b\t"), "<![CDATA[ab\t]]>");
        assert_eq!(xml_cdata("x]]>y"), "<![CDATA[x]]]]><![CDATA[>y]]>");
        // Whatever the text, a parser reads it back (CR as LF, by design).
        for text in [
            "a<b&\"c\"",
            "]]>",
            "]]]]>>",
            "]]><![CDATA[",
            "x]]",
            "]",
            "<&>\t\n",
            "a\r\nb\rc",
        ] {
            let xml = format!("<a>{}</a>", xml_cdata(text));
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let read: String = doc
                .root_element()
                .children()
                .filter_map(|n| n.text())
                .collect();
            assert_eq!(
                read,
                text.replace("\r\n", "\n").replace('\r', "\n"),
                "{xml}"
            );
        }
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
