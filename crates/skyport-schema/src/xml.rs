//! XML text escaping, shared by every document skyport writes (VOTable, UWS, VOSI, HTML).

/// Escapes text for XML content and attribute values; characters XML 1.0 forbids become
/// U+FFFD rather than making the document unreadable.
pub fn escape_xml(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    push_escaped_xml(&mut out, s);
    // Only whole characters are copied or replaced, so the bytes stay UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// [`escape_xml`] appending to `out`: the runs between characters that need escaping are
/// copied whole, so plain text costs one copy and no allocation.
pub fn push_escaped_xml(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Bytes of multi-byte UTF-8 characters are all ≥ 0x80, so none is mistaken for these.
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            b'\t' | b'\n' | b'\r' => continue,
            b if b < 0x20 => "\u{FFFD}".as_bytes(),
            _ => continue,
        };
        out.extend_from_slice(&bytes[copied..i]);
        out.extend_from_slice(replacement);
        copied = i + 1;
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::{escape_xml, push_escaped_xml};

    #[test]
    fn markup_and_forbidden_characters_are_escaped() {
        assert_eq!(
            escape_xml("a<b & 'c' \"d\">\u{1}\t"),
            "a&lt;b &amp; &apos;c&apos; &quot;d&quot;&gt;\u{FFFD}\t"
        );
        assert_eq!(escape_xml("plain"), "plain");
        assert_eq!(escape_xml("Ångström<α>"), "Ångström&lt;α&gt;");
    }

    #[test]
    fn appending_keeps_what_was_there() {
        let mut out = b"<TD>".to_vec();
        push_escaped_xml(&mut out, "x & y\u{0}");
        assert_eq!(out, "<TD>x &amp; y\u{FFFD}".as_bytes());
    }
}
