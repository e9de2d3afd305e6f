//! Host patterns (`hosts:` and `--limit`), evaluated as Ansible does.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder};

use crate::hostrange::is_address;
use crate::{IMPLICIT_LOCALHOST, Inventory, InventoryError};

/// Compiled regexes larger than this are refused (patterns come from users).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(crate) fn select(inv: &Inventory, pattern: &str) -> Result<Vec<String>, InventoryError> {
    let fail = |msg: String| InventoryError::Pattern {
        pattern: pattern.to_string(),
        msg,
    };
    let parts = split(pattern);
    if parts.is_empty() {
        return Err(fail("the pattern is empty".into()));
    }
    let mut regular = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for part in &parts {
        let (list, rest) = if let Some(rest) = part.strip_prefix('&') {
            (&mut intersect, rest)
        } else if let Some(rest) = part.strip_prefix('!') {
            (&mut exclude, rest)
        } else {
            (&mut regular, part.as_str())
        };
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(fail(format!("{part:?} names nothing")));
        }
        list.push(rest);
    }
    if regular.is_empty() {
        regular.push("all");
    }
    let mut hosts: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for p in regular {
        for h in match_one(inv, p).map_err(&fail)? {
            if seen.insert(h.clone()) {
                hosts.push(h);
            }
        }
    }
    for p in intersect {
        let keep: HashSet<String> = match_one(inv, p).map_err(&fail)?.into_iter().collect();
        hosts.retain(|h| keep.contains(h));
    }
    for p in exclude {
        let drop: HashSet<String> = match_one(inv, p).map_err(&fail)?.into_iter().collect();
        hosts.retain(|h| !drop.contains(h));
    }
    Ok(hosts)
}

/// The parts of `pattern` that name no host and no group (`web:&nosuch` -> `nosuch`),
/// each once, for Ansible's "Could not match supplied host pattern" warning. A group
/// (also an empty one), `all`, the implicit localhost and regexes count as named;
/// `web[0]` is checked as `web`.
pub(crate) fn unmatched(inv: &Inventory, pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in split(pattern) {
        let part = part.trim_start_matches(['&', '!']).trim();
        if part.is_empty() || part.starts_with('~') || inv.hosts.contains_key(part) {
            continue;
        }
        let Ok((expr, _)) = split_subscript(part) else {
            continue;
        };
        let Ok(re) = matcher(expr) else {
            continue;
        };
        if inv.members.keys().any(|g| re.is_match(g)) {
            continue;
        }
        if enumerate(inv, expr).is_ok_and(|h| h.is_empty()) && !out.iter().any(|o| o == expr) {
            out.push(expr.to_string());
        }
    }
    out
}

/// Splits at `,`, and at `:` unless the piece is one address (`web:22`, `fe80::1`).
/// Bracketed subscripts and ranges (`web[0:2]`) stay whole.
fn split(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in pattern.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if is_address(piece) {
            out.push(piece.to_string());
            continue;
        }
        let chars: Vec<char> = piece.chars().collect();
        let mut word = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c == '['
                && let Some(len) = chars[i..].iter().position(|c| *c == ']')
            {
                word.push('[');
                word.extend(&chars[i..=i + len]);
                i += len + 1;
            } else if matches!(c, ':' | '[' | ']') || c.is_whitespace() {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            } else {
                word.push(c);
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// A subscript: `[i]` (negative counts from the end) or `[a:b]` / `[a:]` (inclusive).
#[derive(Debug, PartialEq)]
enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

/// Hosts one pattern (without `&`/`!`) matches, in order, without duplicates.
fn match_one(inv: &Inventory, pattern: &str) -> Result<Vec<String>, String> {
    if inv.hosts.contains_key(pattern) {
        return Ok(vec![pattern.to_string()]);
    }
    let (expr, subscript) = split_subscript(pattern)?;
    let hosts = enumerate(inv, expr)?;
    match subscript {
        None => Ok(hosts),
        Some(s) => apply_subscript(hosts, s, expr),
    }
}

fn split_subscript(pattern: &str) -> Result<(&str, Option<Subscript>), String> {
    if pattern.starts_with('~') {
        return Ok((pattern, None));
    }
    let Some(body) = pattern.strip_suffix(']') else {
        return Ok((pattern, None));
    };
    let Some(open) = body.rfind('[') else {
        return Ok((pattern, None));
    };
    let (expr, inner) = (&body[..open], &body[open + 1..]);
    if expr.is_empty() {
        return Ok((pattern, None));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let too_big = || format!("subscript [{inner}] is too large");
    if digits(inner.strip_prefix('-').unwrap_or(inner)) {
        let i = inner.parse().map_err(|_| too_big())?;
        return Ok((expr, Some(Subscript::Index(i))));
    }
    let Some(sep) = inner.find([':', '-']) else {
        return Ok((pattern, None));
    };
    let (start, end) = (&inner[..sep], &inner[sep + 1..]);
    if !digits(start) || !(end.is_empty() || digits(end)) {
        return Ok((pattern, None));
    }
    let start = start.parse().map_err(|_| too_big())?;
    let end = if end.is_empty() {
        None
    } else {
        Some(end.parse().map_err(|_| too_big())?)
    };
    Ok((expr, Some(Subscript::Range(start, end))))
}

/// Picks hosts by subscript. An empty or missing group matches nothing, as in Ansible
/// (`web[0]` with no `web` hosts); an index past the end of a non-empty group is an error.
fn apply_subscript(hosts: Vec<String>, sub: Subscript, expr: &str) -> Result<Vec<String>, String> {
    let len = hosts.len();
    if len == 0 {
        return Ok(hosts);
    }
    let single = |i: i64| {
        let idx = if i < 0 { len as i64 + i } else { i };
        usize::try_from(idx)
            .ok()
            .and_then(|i| hosts.get(i).cloned())
            .map(|h| vec![h])
            .ok_or_else(|| format!("{expr} has {len} hosts, so index {i} matches none"))
    };
    match sub {
        Subscript::Index(i) => single(i),
        // Ansible reads `[a:0]` as the single index `a`.
        Subscript::Range(start, Some(0)) => single(i64::try_from(start).unwrap_or(i64::MAX)),
        Subscript::Range(start, end) => {
            let last = len - 1;
            let end = end.unwrap_or(last).min(last);
            Ok(hosts
                .get(start..=end)
                .map(<[String]>::to_vec)
                .unwrap_or_default())
        }
    }
}

/// Groups and hosts whose names match `expr` (a glob, or a regex after `~`).
fn enumerate(inv: &Inventory, expr: &str) -> Result<Vec<String>, String> {
    let re = matcher(expr)?;
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut group_matched = false;
    for (group, members) in &inv.members {
        if re.is_match(group) {
            group_matched = true;
            for h in members {
                if seen.insert(h) {
                    out.push(h.clone());
                }
            }
        }
    }
    if !group_matched || expr.starts_with('~') || expr.contains(['.', '?', '*', '[']) {
        for h in inv.hosts.keys() {
            if re.is_match(h) && seen.insert(h) {
                out.push(h.clone());
            }
        }
    }
    if out.is_empty() && IMPLICIT_LOCALHOST.contains(&expr) {
        out.push(expr.to_string());
    }
    Ok(out)
}

fn matcher(expr: &str) -> Result<Regex, String> {
    let source = match expr.strip_prefix('~') {
        // Python's re.match: anchored at the start only.
        Some(re) => format!("^(?:{re})"),
        None => format!("^(?s:{})$", glob_to_regex(expr)),
    };
    RegexBuilder::new(&source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match expr.strip_prefix('~') {
            Some(_) => format!(
                "invalid regular expression: {}",
                e.to_string().lines().last().unwrap_or("").trim()
            ),
            None => format!("cannot match glob: {e}"),
        })
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`; everything else literal.
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if !out.ends_with(".*") {
                    out.push_str(".*");
                }
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    out.push_str(&char_class(&chars[i..j]));
                    i = j + 1;
                }
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// The inside of a glob `[...]` as a regex class (every character escaped).
fn char_class(inner: &[char]) -> String {
    let (negate, inner) = match inner.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, inner),
    };
    let mut items = String::new();
    let mut k = 0;
    while k < inner.len() {
        let a = inner[k];
        if inner.get(k + 1) == Some(&'-') && k + 2 < inner.len() {
            let b = inner[k + 2];
            if a <= b {
                items.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", a as u32, b as u32));
            }
            k += 3;
        } else {
            items.push_str(&format!("\\x{{{:x}}}", a as u32));
            k += 1;
        }
    }
    match (items.is_empty(), negate) {
        (true, true) => ".".into(),
        (true, false) => "[^\\x{0}-\\x{10FFFF}]".into(),
        (false, true) => format!("[^{items}]"),
        (false, false) => format!("[{items}]"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(split("web:&prod:!web3"), ["web", "&prod", "!web3"]);
        assert_eq!(split("web, db"), ["web", "db"]);
        assert_eq!(split("web[0:2]:db"), ["web[0:2]", "db"]);
        assert_eq!(split("fe80::1"), ["fe80::1"]);
        assert_eq!(split("web:22"), ["web:22"]);
        assert_eq!(split("  "), Vec::<String>::new());
        assert_eq!(split("a[0:b"), ["a", "0", "b"]);
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("web[0]").unwrap(),
            ("web", Some(Subscript::Index(0)))
        );
        assert_eq!(
            split_subscript("web[-1]").unwrap(),
            ("web", Some(Subscript::Index(-1)))
        );
        assert_eq!(
            split_subscript("web[1:]").unwrap(),
            ("web", Some(Subscript::Range(1, None)))
        );
        assert_eq!(split_subscript("web[a-c]").unwrap(), ("web[a-c]", None));
        assert_eq!(split_subscript("~web[0]").unwrap(), ("~web[0]", None));
        assert!(split_subscript("web[99999999999999999999]").is_err());
    }

    #[test]
    fn globs() {
        let m = |g: &str, s: &str| matcher(g).unwrap().is_match(s);
        assert!(m("web*", "web01"));
        assert!(m("*.example.com", "a.example.com"));
        assert!(!m("*.example.com", "a.example.org"));
        assert!(m("10.17.4.*", "10.17.4.21"));
        assert!(!m("10.17.4.*", "10.17.40x"));
        assert!(m("web?", "web1"));
        assert!(m("web[12]", "web2"));
        assert!(m("web[!12]", "web3"));
        assert!(!m("web[!12]", "web1"));
        assert!(m("db[a-c]", "dbb"));
        assert!(!m("db[c-a]", "dbb"));
        assert!(m("x[", "x["));
        assert!(m("a(b)+", "a(b)+"));
        assert!(m("~web\\d+", "web12x"));
        assert!(!m("~web\\d+", "xweb12"));
        assert!(matcher("~(unclosed").is_err());
    }
}
