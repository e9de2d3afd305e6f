//! Values that must never reach output, logs, diffs or JSON events.

use std::fmt;

/// The text that replaces a secret wherever it would be shown.
pub const REDACTED: &str = "********";

/// A value that prints as [`REDACTED`] through `Debug`, `Display` and `Serialize`.
/// Use [`Secret::expose`] at the single place the real value is needed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Replaces every occurrence of each secret string in `text` with [`REDACTED`].
/// Secrets shorter than 4 characters are ignored: redacting "a" would shred output.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 && out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// Applies [`redact_text`] to every string inside a JSON value.
pub fn redact_value(v: &mut crate::Value, secrets: &[String]) {
    match v {
        crate::Value::String(s) => {
            let r = redact_text(s, secrets);
            if r != *s {
                *s = r;
            }
        }
        crate::Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, secrets)),
        crate::Value::Object(m) => m.values_mut().for_each(|x| redact_value(x, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter22".to_string());
        assert_eq!(format!("{s} {s:?}"), format!("{REDACTED} {REDACTED}"));
        assert_eq!(
            serde_json::to_string(&s).unwrap_or_default(),
            format!("\"{REDACTED}\"")
        );
        assert_eq!(s.expose(), "hunter22");
    }

    #[test]
    fn redacts_nested_strings() {
        let mut v = serde_json::json!({"a": ["x hunter22 y", {"b": "hunter22"}], "c": 1});
        redact_value(&mut v, &["hunter22".into(), "ab".into()]);
        assert_eq!(
            v,
            serde_json::json!({"a": [format!("x {REDACTED} y"), {"b": REDACTED}], "c": 1})
        );
    }
}
