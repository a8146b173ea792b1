//! XML text escaping, shared by every document skyport writes (VOTable, UWS, VOSI, HTML).

/// Escapes text for XML content and attribute values; characters XML 1.0 forbids become
/// U+FFFD rather than making the document unreadable.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_xml;

    #[test]
    fn markup_and_forbidden_characters_are_escaped() {
        assert_eq!(
            escape_xml("a<b & 'c' \"d\">\u{1}\t"),
            "a&lt;b &amp; &apos;c&apos; &quot;d&quot;&gt;\u{FFFD}\t"
        );
    }
}
