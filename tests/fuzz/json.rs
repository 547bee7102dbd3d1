//! JSON as the fuzzer writes it: keys may repeat, numbers are raw tokens
//! (`1e999`, forty digits), and strings may carry escapes no serializer
//! would write (a lone surrogate), so every shape a hostile client can
//! send is expressible.

/// A JSON document under construction.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    /// A raw number token, written as is.
    Num(String),
    /// A string, escaped by serde_json (a NUL becomes `\u0000`).
    Str(String),
    /// Raw text between quotes, written as is (`\ud800`, `\x`).
    Raw(String),
    Arr(Vec<J>),
    /// Members in order; a key may repeat (the last one counts).
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn s(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    pub fn n(n: impl ToString) -> J {
        J::Num(n.to_string())
    }

    pub fn obj(members: Vec<(&str, J)>) -> J {
        J::Obj(
            members
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Writes the document; `pretty` puts a space after `:` and `,` and a
    /// newline between members.
    pub fn write(&self, out: &mut Vec<u8>, pretty: bool) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Num(n) => out.extend_from_slice(n.as_bytes()),
            J::Str(s) => {
                // Serializing a string cannot fail.
                let quoted = serde_json::to_string(s).unwrap_or_default();
                out.extend_from_slice(quoted.as_bytes());
            }
            J::Raw(r) => {
                out.push(b'"');
                out.extend_from_slice(r.as_bytes());
                out.push(b'"');
            }
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(if pretty { b", " } else { b"," });
                    }
                    item.write(out, pretty);
                }
                out.push(b']');
            }
            J::Obj(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(if pretty { b",\n " } else { b"," });
                    }
                    J::Str(k.clone()).write(out, pretty);
                    out.extend_from_slice(if pretty { b": " } else { b":" });
                    v.write(out, pretty);
                }
                out.push(b'}');
            }
        }
    }

    pub fn bytes(&self, pretty: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out, pretty);
        out
    }

    /// Every node of the tree, depth first (for picking one to mutate).
    pub fn count(&self) -> usize {
        1 + match self {
            J::Arr(items) => items.iter().map(J::count).sum(),
            J::Obj(members) => members.iter().map(|(_, v)| v.count()).sum(),
            _ => 0,
        }
    }

    /// The `n`th node, depth first (`n < self.count()`).
    pub fn nth_mut(&mut self, n: usize) -> Option<&mut J> {
        if n == 0 {
            return Some(self);
        }
        let mut rest = n - 1;
        let children: Vec<&mut J> = match self {
            J::Arr(items) => items.iter_mut().collect(),
            J::Obj(members) => members.iter_mut().map(|(_, v)| v).collect(),
            _ => return None,
        };
        for child in children {
            let c = child.count();
            if rest < c {
                return child.nth_mut(rest);
            }
            rest -= c;
        }
        None
    }
}

/// `depth` arrays (or objects) around `inner`: past serde_json's limit of
/// 128 levels the document does not parse.
pub fn nested(depth: usize, inner: J, objects: bool) -> J {
    (0..depth).fold(inner, |acc, _| {
        if objects {
            J::Obj(vec![("n".into(), acc)])
        } else {
            J::Arr(vec![acc])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_serde_reads() {
        let doc = J::obj(vec![
            ("a", J::s("x\u{0}y")),
            ("a", J::n("1e2")),
            ("b", J::Arr(vec![J::Null, J::Bool(true)])),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&doc.bytes(true)).unwrap();
        assert_eq!(v["a"], 100.0);
        assert_eq!(doc.count(), 6);
    }
}
