//! Ansible-compatible YAML loading.
//!
//! Architecture invariant: every YAML file fmc reads (playbooks, roles, inventories,
//! vars files) goes through this crate, so the same YAML 1.1 rules apply everywhere:
//! `yes`/`on` are booleans, `<<` merge keys work, `0644` is the octal number 420, and
//! duplicate keys are errors that name `file:line:col`. ansible-vault data (whole files
//! and inline `!vault` values) is decrypted on the way in; see [`vault`].

use std::path::Path;

use fmc_core::{Span, Value};

mod spanned;
pub mod vault;
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
    let mut value = serde_saphyr::from_str_with_options::<Value>(text, options()).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        YamlError::Syntax {
            span: Span::new(file, line, col),
            msg: first_line(&e.to_string()),
        }
    })?;
    vault::open_inline(&mut value, text, file)?;
    Ok(value)
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
    fn errors_name_file_line_col() {
        let e = parse("a: 1\n  b: 2\n", "play.yml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("play.yml:"), "{s}");
        let e = parse("a: 1\na: 2\n", "dup.yml").unwrap_err();
        assert!(e.to_string().starts_with("dup.yml:2:"), "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("", "x").unwrap(), Value::Null);
        assert_eq!(parse("---\n# c\n", "x").unwrap(), Value::Null);
    }
}
