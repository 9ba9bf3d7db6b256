//! Escaping text for SVG (XML) content and attribute values.

/// `text` with `& < > " '` replaced by entities, safe both between tags and
/// inside a double- or single-quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        let cases = [
            ("Boulangerie", "Boulangerie"),
            ("A & B", "A &amp; B"),
            ("<script>", "&lt;script&gt;"),
            (
                "l'épicerie \"Chez Jo\"",
                "l&#39;épicerie &quot;Chez Jo&quot;",
            ),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), want);
        }
    }
}
