//! Ansible-compatible YAML loading.
//!
//! Architecture invariant: every YAML file fmc reads (playbooks, roles, inventories,
//! vars files) goes through this crate, so the same YAML 1.1 rules apply everywhere:
//! `yes`/`on` are booleans (exactly PyYAML's spellings: `y`, `n` and `yEs` are strings,
//! as are `1e3` and `0o17`),
//! `<<` merge keys work, `0644` is the octal number 420, and
//! duplicate keys are errors that name `file:line:col`. ansible-vault data (whole files
//! and inline `!vault` values) is decrypted on the way in; see [`vault`].

use std::path::Path;

use fmc_core::{Span, Value};

mod scalars;
mod spanned;
pub mod vault;
pub use scalars::plain_is_string;
pub use spanned::{Key, Node, NodeKind, load_spanned, parse_spanned};
pub use vault::{VaultSecret, decrypt, encrypt, is_vault, revealed_secrets, set_vault_secrets};

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{span}: {msg}")]
    Syntax { span: Span, msg: String },
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
    /// Vault data that could not be decrypted; `path` is the file, or `file:line:col`
    /// of an inline value when known.
    #[error("{path}: {source}")]
    Vault {
        path: String,
        source: vault::VaultError,
    },
}

impl YamlError {
    pub fn span(&self) -> Option<&Span> {
        match self {
            YamlError::Syntax { span, .. } => Some(span),
            YamlError::Io { .. } | YamlError::Vault { .. } => None,
        }
    }
}

#[allow(clippy::field_reassign_with_default)] // Options is non-exhaustive
fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.legacy_octal_numbers = true;
    o
}

/// Parses YAML text into a JSON value. `file` names the source in errors.
/// An empty document is `null`. Vault-encrypted text, and vault-encrypted string values,
/// are decrypted with the keyring set by [`set_vault_secrets`].
pub fn parse(text: &str, file: &str) -> Result<Value, YamlError> {
    if vault::is_vault(text) {
        let value = parse(&vault::open_file(text, file)?, file)?;
        vault::reveal_strings(&value);
        return Ok(value);
    }
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Ok(Value::Null);
    }
    let (mut value, _) = deserialize::<Value>(text, file)?;
    vault::open_inline(&mut value, text, file)?;
    Ok(value)
}

/// Parses a YAML stream of any number of documents (`---` separated) into one value per
/// document, with the rules of [`parse`]. A vault-encrypted stream is decrypted first.
pub fn parse_all(text: &str, file: &str) -> Result<Vec<Value>, YamlError> {
    if vault::is_vault(text) {
        let values = parse_all(&vault::open_file(text, file)?, file)?;
        values.iter().for_each(vault::reveal_strings);
        return Ok(values);
    }
    let (mut values, _) = deserialize_with(text, file, |source| {
        serde_saphyr::from_multiple_with_options::<Value>(source, options())
    })?;
    for value in &mut values {
        vault::open_inline(value, text, file)?;
    }
    Ok(values)
}

/// Deserializes `text` with Ansible's YAML rules: serde-saphyr with legacy octal, on the
/// text with [`scalars::rewrite`] applied. Returns the rewrite, if any, so that callers can
/// map positions back to the source; error positions are mapped already.
fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<(T, Option<scalars::Rewrite>), YamlError> {
    deserialize_with(text, file, |source| {
        serde_saphyr::from_str_with_options::<T>(source, options())
    })
}

fn deserialize_with<T>(
    text: &str,
    file: &str,
    de: impl FnOnce(&str) -> Result<T, serde_saphyr::Error>,
) -> Result<(T, Option<scalars::Rewrite>), YamlError> {
    let rewrite = scalars::rewrite(text);
    let source = rewrite.as_ref().map_or(text, |r| r.text.as_str());
    match de(source) {
        Ok(v) => Ok((v, rewrite)),
        Err(e) => {
            let (line, col) = e.location().map_or((0, 0), |l| {
                let col = match &rewrite {
                    Some(r) => r.original_col(l.line(), l.column()),
                    None => l.column(),
                };
                (l.line(), col)
            });
            Err(YamlError::Syntax {
                span: Span::new(file, clamp(line), clamp(col)),
                msg: first_line(&e.to_string()),
            })
        }
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn first_line(s: &str) -> String {
    // serde-saphyr renders a rustc-style snippet; keep the message line, we print
    // our own location prefix.
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    let line = line.strip_prefix("error:").unwrap_or(line).trim_start();
    // Drop serde-saphyr's own "line N column M: " prefix.
    if let Some(rest) = line.strip_prefix("line ") {
        let mut words = rest.splitn(4, ' ');
        if let (Some(_), Some("column"), Some(col), Some(msg)) =
            (words.next(), words.next(), words.next(), words.next())
            && col
                .trim_end_matches(':')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            return msg.to_string();
        }
    }
    line.to_string()
}

/// Reads and parses a YAML file.
pub fn load(path: &Path) -> Result<Value, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|e| YamlError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansible_yaml_11() {
        let v = parse(
            "a: yes\nb: on\nc: 0644\nd: '0644'\nbase: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",
            "t.yml",
        )
        .unwrap();
        assert_eq!(v["a"], json!(true));
        assert_eq!(v["b"], json!(true));
        assert_eq!(v["c"], json!(420));
        assert_eq!(v["d"], json!("0644"));
        assert_eq!(v["m"], json!({"x": 1, "y": 2}));
    }

    #[test]
    fn booleans_are_exactly_pyyamls() {
        // Recorded from PyYAML 6 (ansible-core 2.19's loader): yaml.safe_load of this list.
        let v = parse(
            "[y, n, Y, N, yEs, yes, Yes, YES, on, On, ON, oN, off, Off, OFF, true, True, TRUE, \
             tRUE, false, NO, nO, No, no]",
            "t.yml",
        )
        .unwrap();
        let want = json!([
            "y", "n", "Y", "N", "yEs", true, true, true, true, true, true, "oN", false, false,
            false, true, true, true, "tRUE", false, false, "nO", false, false
        ]);
        assert_eq!(v, want);
    }

    #[test]
    fn numbers_and_nulls_are_pyyamls() {
        // Recorded from PyYAML 6: yaml.safe_load of this list (`.nan` left out: JSON has none).
        let v = parse(
            "[1e3, 0o17, 08, 1.0e+3, 1_000, 1.2.3, ~, Null, nULL, 0x1F, .5, 1., +12, -0, 0644, 0b11]",
            "t.yml",
        )
        .unwrap();
        let want = json!([
            "1e3", "0o17", "08", 1000.0, 1000, "1.2.3", null, null, "nULL", 31, 0.5, 1.0, 12, 0,
            420, 3
        ]);
        assert_eq!(v, want);
    }

    #[test]
    fn misread_words_stay_strings_through_anchors_merges_and_keys() {
        let text = "\
base: &b {k: n, j: yes}
m:
  <<: *b
  name: n
a: &x Y
c: *x
y: 1
t: !!str n
flow: {n: N}
";
        let v = parse(text, "t.yml").unwrap();
        assert_eq!(v["m"], json!({"k": "n", "j": true, "name": "n"}));
        assert_eq!((v["a"].clone(), v["c"].clone()), (json!("Y"), json!("Y")));
        assert_eq!(v["y"], json!(1));
        assert_eq!(v["t"], json!("n"));
        assert_eq!(v["flow"], json!({"n": "N"}));
        assert_eq!(spanned::parse_spanned(text, "t.yml").unwrap().to_value(), v);
    }

    #[test]
    fn positions_after_misread_words_are_source_positions() {
        // Quoting `n` internally must not move what follows on the line.
        let e = parse("a: [n, y, {b: 1, b: 2}]\n", "dup.yml").unwrap_err();
        assert!(e.to_string().starts_with("dup.yml:1:18:"), "{e}");
        let n = parse_spanned("x: [n, 7]\n", "t.yml").unwrap();
        let NodeKind::Map(entries) = &n.kind else {
            panic!("not a map")
        };
        let NodeKind::Seq(items) = &entries[0].1.kind else {
            panic!("not a seq")
        };
        assert_eq!((items[0].line, items[0].col), (1, 5));
        assert_eq!((items[1].line, items[1].col), (1, 8));
    }

    #[test]
    fn errors_name_file_line_col() {
        let e = parse("a: 1\n  b: 2\n", "play.yml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("play.yml:"), "{s}");
        let e = parse("a: 1\na: 2\n", "dup.yml").unwrap_err();
        assert!(e.to_string().starts_with("dup.yml:2:"), "{e}");
    }

    #[test]
    fn streams_of_documents() {
        let docs = parse_all("a: 1\n---\n- n\n- yes\n---\nb: 0644\n", "s.yml").unwrap();
        assert_eq!(
            docs,
            vec![json!({"a": 1}), json!(["n", true]), json!({"b": 420})]
        );
        let e = parse_all("a: 1\n---\nb: [\n", "s.yml").unwrap_err();
        assert!(e.to_string().starts_with("s.yml:"), "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("", "x").unwrap(), Value::Null);
        assert_eq!(parse("---\n# c\n", "x").unwrap(), Value::Null);
    }
}
