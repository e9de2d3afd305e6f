//! POSIX shell quoting, compatible with Python's `shlex.quote` (and so with
//! Ansible's `quote` filter).

/// Quotes `s` so that a POSIX shell reads it back as exactly one word.
pub fn quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn matches_shlex_quote() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("abc/def-1.2"), "abc/def-1.2");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }
}
