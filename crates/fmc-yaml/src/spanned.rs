//! YAML with source positions on every node, for loaders that must point errors at
//! the exact task or key (playbooks, roles).
//!
//! The same YAML 1.1 rules as [`crate::parse`] apply; [`Node::to_value`] gives the
//! value `parse` would have produced.

use std::fmt;
use std::path::Path;

use fmc_core::{Map, Span, Value};
use serde::de::{self, Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::YamlError;
use crate::scalars::Rewrite;

/// A YAML node with its 1-based position (`line == 0` when unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: u32,
    pub col: u32,
    pub kind: NodeKind,
}

/// The shape of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `null`, a boolean, a number or a string.
    Scalar(Value),
    Seq(Vec<Node>),
    /// Keys in document order, read as strings (`1:` is the key "1").
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub line: u32,
    pub col: u32,
}

impl Key {
    /// The key's position in `file`.
    pub fn span(&self, file: &str) -> Span {
        Span::new(file, self.line, self.col)
    }
}

impl Node {
    /// The node's position in `file`.
    pub fn span(&self, file: &str) -> Span {
        Span::new(file, self.line, self.col)
    }

    /// The plain value, without positions.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(v) => v.clone(),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_value()))
                    .collect::<Map>(),
            ),
        }
    }

    /// The value of `key` when this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Value::Null))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Kind>::deserialize(d)?;
        Ok(Node {
            line: position(s.referenced.line()),
            col: position(s.referenced.column()),
            kind: s.value.0,
        })
    }
}

fn position(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Kind(NodeKind);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor).map(Kind)
    }
}

struct KindVisitor;

fn scalar<E>(v: impl Into<Value>) -> Result<NodeKind, E> {
    Ok(NodeKind::Scalar(v.into()))
}

impl<'de> de::Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeKind, E> {
        // Beyond i64/u64: keep the digits, as serde_json's Value cannot hold them.
        scalar(v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeKind, E> {
        scalar(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        scalar(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        scalar(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        scalar(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(KindVisitor)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(NodeKind::Seq(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        // Keys are read as strings, as `parse` does: `y:` is the key "y", not `true`.
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            let v = map.next_value::<Node>()?;
            entries.push((
                Key {
                    name: k.value,
                    line: position(k.referenced.line()),
                    col: position(k.referenced.column()),
                },
                v,
            ));
        }
        Ok(NodeKind::Map(entries))
    }
}

/// Parses YAML text into a [`Node`] tree. `file` names the source in errors. An empty
/// document is a null scalar at line 0. Vault data is decrypted as [`crate::parse`] does.
pub fn parse_spanned(text: &str, file: &str) -> Result<Node, YamlError> {
    if crate::vault::is_vault(text) {
        let node = parse_spanned(&crate::vault::open_file(text, file)?, file)?;
        crate::vault::reveal_strings(&node.to_value());
        return Ok(node);
    }
    if is_blank(text) {
        return Ok(Node {
            line: 0,
            col: 0,
            kind: NodeKind::Scalar(Value::Null),
        });
    }
    // Each nesting level costs tens of KiB of stack in debug builds, so parse on a
    // thread with a stack big enough for the deepest document the depth budget
    // admits; a 2 MiB async worker thread would overflow otherwise.
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .stack_size(PARSE_STACK)
            .spawn_scoped(s, || parse_here(text, file))
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => parse_here(text, file),
        }
    })
}

/// Stack for [`parse_spanned`]'s parser thread (reserved, touched only as needed).
const PARSE_STACK: usize = 64 << 20;

fn parse_here(text: &str, file: &str) -> Result<Node, YamlError> {
    let mut node = parse_nodes(text, file)?;
    crate::vault::open_inline_node(&mut node, text, file)?;
    Ok(node)
}

fn parse_nodes(text: &str, file: &str) -> Result<Node, YamlError> {
    let (mut node, rewrite) = crate::deserialize::<Node>(text, file)?;
    if let Some(r) = rewrite {
        fix_columns(&mut node, &r);
    }
    Ok(node)
}

/// Maps the columns of `n` (parsed from `r`'s text) back to the source text.
fn fix_columns(n: &mut Node, r: &Rewrite) {
    n.col = position(r.original_col(n.line.into(), n.col.into()));
    match &mut n.kind {
        NodeKind::Scalar(_) => {}
        NodeKind::Seq(items) => items.iter_mut().for_each(|i| fix_columns(i, r)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                k.col = position(r.original_col(k.line.into(), k.col.into()));
                fix_columns(v, r);
            }
        }
    }
}

/// Same rule as [`crate::parse`]: only blank lines, comments and `---`.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// Reads and parses a YAML file into a [`Node`] tree.
pub fn load_spanned(path: &Path) -> Result<Node, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|e| YamlError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    parse_spanned(&text, &path.display().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = "\
- name: first
  shell: echo hi
  vars: {a: 0644, b: yes}
- base: &b {x: 1}
  m:
    <<: *b
    y: 2
  1: one
";

    #[test]
    fn same_value_as_parse() {
        let n = parse_spanned(TEXT, "t.yml").unwrap();
        assert_eq!(n.to_value(), crate::parse(TEXT, "t.yml").unwrap());
        assert_eq!(n.to_value()[1]["m"], json!({"x": 1, "y": 2}));
        assert_eq!(n.to_value()[0]["vars"], json!({"a": 420, "b": true}));
    }

    #[test]
    fn positions_of_items_and_keys() {
        let n = parse_spanned(TEXT, "t.yml").unwrap();
        let NodeKind::Seq(items) = &n.kind else {
            panic!("not a seq")
        };
        assert_eq!((items[0].line, items[0].col), (1, 3));
        assert_eq!((items[1].line, items[1].col), (4, 3));
        let NodeKind::Map(entries) = &items[0].kind else {
            panic!("not a map")
        };
        assert_eq!(entries[1].0.name, "shell");
        assert_eq!((entries[1].0.line, entries[1].0.col), (2, 3));
        assert_eq!((entries[1].1.line, entries[1].1.col), (2, 10));
        assert_eq!(items[1].get("1").map(Node::to_value), Some(json!("one")));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "- ".repeat(20_000) + "x";
        let run = move || parse_spanned(&text, "deep.yml").map(|_| ());
        // Like a tokio worker: a 2 MiB stack.
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
        assert!(r.unwrap_err().to_string().starts_with("deep.yml:1:"));
    }

    #[test]
    fn errors_name_file_line_col() {
        let e = parse_spanned("a: 1\na: 2\n", "dup.yml").unwrap_err();
        assert!(e.to_string().starts_with("dup.yml:2:"), "{e}");
        assert!(parse_spanned("# only\n", "x").unwrap().is_null());
    }
}
