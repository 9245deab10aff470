//! JSON text written by hand where a derive would cost more than it saves: the log and audit
//! lines, and `/echo`.

/// A JSON string literal in printable ASCII: `"` and `\` escaped, every control character
/// and every non-ASCII character (bidi controls included) as `\uXXXX` (UTF-16, surrogate
/// pairs above U+FFFF), so that no log reader is fooled by what a client sent.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Writes JSON compact or indented by two spaces, as serde_json's compact and pretty
/// formatters do: the `/echo` document is the only user.
pub(crate) struct JsonWriter {
    out: String,
    pretty: bool,
    depth: usize,
}

impl JsonWriter {
    pub(crate) fn new(pretty: bool) -> JsonWriter {
        JsonWriter {
            out: String::with_capacity(1024),
            pretty,
            depth: 0,
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    /// Opens `{` or `[`; `close` writes the matching end on its own line when indented.
    pub(crate) fn open(&mut self, bracket: char) {
        self.out.push(bracket);
        self.depth += 1;
    }

    /// Closes what `open` opened; `empty` when nothing was written inside (`{}`, `[]`).
    pub(crate) fn close(&mut self, bracket: char, empty: bool) {
        self.depth -= 1;
        if !empty {
            self.newline();
        }
        self.out.push(bracket);
    }

    /// Starts the `index`th member of an object: `"key": `.
    pub(crate) fn key(&mut self, index: usize, key: &str) {
        self.item(index);
        self.out.push_str(&json_str(key));
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }

    /// Starts the `index`th element of an array.
    pub(crate) fn item(&mut self, index: usize) {
        if index > 0 {
            self.out.push(',');
        }
        self.newline();
    }

    pub(crate) fn string(&mut self, value: &str) {
        self.out.push_str(&json_str(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_printable_ascii() {
        assert_eq!(json_str("/token"), "\"/token\"");
        assert_eq!(json_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            json_str("/\u{202e}gpj.exe\r\n\u{1b}[31m\u{7f}é😀"),
            "\"/\\u202egpj.exe\\u000d\\u000a\\u001b[31m\\u007f\\u00e9\\ud83d\\ude00\""
        );
        for s in ["/\u{202e}x", "a\u{0}b", "😀\"\\", "\u{2028}"] {
            let back: String = serde_json::from_str(&json_str(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn writer_matches_serde_json_compact_and_pretty() {
        let value = serde_json::json!({"a": {"k": ["x", "y"], "e": []}, "b": {}, "c": "z"});
        for pretty in [false, true] {
            let mut w = JsonWriter::new(pretty);
            w.open('{');
            w.key(0, "a");
            w.open('{');
            w.key(0, "e");
            w.open('[');
            w.close(']', true);
            w.key(1, "k");
            w.open('[');
            for (i, item) in ["x", "y"].iter().enumerate() {
                w.item(i);
                w.string(item);
            }
            w.close(']', false);
            w.close('}', false);
            w.key(1, "b");
            w.open('{');
            w.close('}', true);
            w.key(2, "c");
            w.string("z");
            w.close('}', false);
            let want = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            assert_eq!(w.finish(), want, "pretty {pretty}");
        }
    }
}
