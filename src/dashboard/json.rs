//! A JSON writer for the dashboard's one document (`/metrics.json`): objects, arrays, strings,
//! integers and `null`, nothing else. No serde: the thread pool's default build has none, and
//! the document is small and fixed. A leaf.

use std::fmt::Write as _;

/// Appends `s` as a JSON string literal (quotes included): `"` and `\` escaped, control
/// characters as `\uXXXX` (or their short forms), everything else as is (the output is UTF-8).
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` too: the document can never close a `<script>` it were pasted into.
            c if (c as u32) < 0x20 || c == '<' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object being written: `{` on creation, `}` on [`end`](Self::end).
pub(crate) struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    pub(crate) fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    /// Writes `"key":` (after a comma if needed) and hands back the buffer for the value.
    pub(crate) fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(self.out, key);
        self.out.push(':');
        self.out
    }

    pub(crate) fn num(&mut self, key: &str, value: u64) -> &mut Self {
        let _ = write!(self.key(key), "{value}");
        self
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        string(self.key(key), value);
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key).push_str(if value { "true" } else { "false" });
        self
    }

    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).push_str("null");
        self
    }

    /// `"key":[v, v, ...]` from an iterator of optional integers (`None` is `null`).
    pub(crate) fn nums(&mut self, key: &str, values: impl Iterator<Item = Option<u64>>) {
        let out = self.key(key);
        out.push('[');
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            match v {
                Some(v) => {
                    let _ = write!(out, "{v}");
                }
                None => out.push_str("null"),
            }
        }
        out.push(']');
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}</script>é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001\u003c/script>é""#);
    }

    #[test]
    fn objects_and_arrays() {
        let mut out = String::new();
        let mut o = Object::new(&mut out);
        o.num("a", 1).str("b", "x").null("c").bool("d", true);
        o.nums("f", [Some(1), None, Some(3)].into_iter());
        o.end();
        assert_eq!(out, r#"{"a":1,"b":"x","c":null,"d":true,"f":[1,null,3]}"#);
    }
}
