//! Host entries as written in inventories: `name:port` shorthand and `[a:b]` ranges.

use std::net::Ipv6Addr;

/// Upper bound on the hosts one entry may expand to, so a typo such as
/// `node[0:99999999]` fails clearly instead of exhausting memory.
const MAX_EXPANDED_HOSTS: usize = 100_000;

/// Splits a host entry (`web1:2222`, `[::1]:22`, `db[01:03]`) into host names and an
/// optional port. Errors are messages without location; callers add the file and line.
pub(crate) fn expand_host_entry(entry: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (pattern, port) = split_port(entry)?;
    if pattern.is_empty() {
        return Err("empty host name".into());
    }
    if entry.trim_end().ends_with(':') && port.is_none() {
        return Err(format!(
            "invalid host {entry:?}: a trailing ':' is reserved for a port number"
        ));
    }
    let names = if pattern.contains('[') {
        let mut out = Vec::new();
        expand_ranges(pattern, &mut out)?;
        out
    } else {
        vec![pattern.to_string()]
    };
    if names.iter().any(|n| n.trim() == "---") {
        return Err(format!(
            "invalid host {entry:?}: '---' is normally a sign this is a YAML file"
        ));
    }
    Ok((names, port))
}

/// Whether `s` is one address that contains colons (`web:22`, `fe80::1`, `[::1]:22`),
/// so a host pattern must not be split at them.
pub(crate) fn is_address(s: &str) -> bool {
    matches!(split_port(s), Ok((host, port)) if port.is_some() || host.parse::<Ipv6Addr>().is_ok())
}

/// Separates a trailing `:port` when the rest is a plausible host name or address
/// (ranges allowed). Anything else is taken whole as the name, as Ansible does.
fn split_port(s: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((inner, after)) = rest.split_once(']')
        && inner.parse::<Ipv6Addr>().is_ok()
    {
        if after.is_empty() {
            return Ok((inner, None));
        }
        if let Some(p) = after.strip_prefix(':')
            && is_digits(p)
        {
            return Ok((inner, Some(parse_port(p)?)));
        }
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Ok((s, None));
    }
    if let Some((host, p)) = s.rsplit_once(':')
        && is_digits(p)
        && is_hostname_with_ranges(host)
    {
        return Ok((host, Some(parse_port(p)?)));
    }
    Ok((s, None))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port {p}: expected 1-65535"))
}

/// Letters, digits, `.`, `-`, `_`, and bracketed ranges (whose `:` is allowed).
fn is_hostname_with_ranges(s: &str) -> bool {
    let mut in_range = false;
    for c in s.chars() {
        match c {
            '[' if !in_range => in_range = true,
            ']' if in_range => in_range = false,
            ':' if in_range => {}
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') => {}
            _ => return false,
        }
    }
    !s.is_empty() && !in_range
}

/// Expands the first `[beg:end(:step)]` range of `pattern`, recursing for later ones.
fn expand_ranges(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = pattern.find('[') else {
        push_host(out, pattern.to_string())?;
        return Ok(());
    };
    let close = pattern[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| format!("invalid host range in {pattern:?}: missing ']'"))?;
    let (head, spec, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let bad = |why: &str| format!("invalid host range [{spec}] in {pattern:?}: {why}");
    let bounds: Vec<&str> = spec.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(bad("expected begin:end or begin:end:step"));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(bad("the end value is missing"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| bad("the step must be a positive integer"))?,
    };
    let items: Vec<String> = if let (Some(b), Some(e)) = (letter_index(beg), letter_index(end)) {
        if b > e {
            return Err(bad("begin must not be after end"));
        }
        (b..=e)
            .step_by(step)
            .filter_map(|i| LETTERS.get(i).map(|c| char::from(*c).to_string()))
            .collect()
    } else {
        let b: u64 = beg
            .parse()
            .map_err(|_| bad("begin is not a number or letter"))?;
        let e: u64 = end
            .parse()
            .map_err(|_| bad("end is not a number or letter"))?;
        if b > e {
            return Err(bad("begin must not be after end"));
        }
        let width = if beg.len() > 1 && beg.starts_with('0') {
            if beg.len() != end.len() {
                return Err(bad("zero-padded begin and end must have the same width"));
            }
            beg.len()
        } else {
            0
        };
        let count = (e - b) / step as u64 + 1;
        if count > MAX_EXPANDED_HOSTS as u64 {
            return Err(bad("the range expands to too many hosts"));
        }
        (b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    };
    for item in items {
        expand_ranges(&format!("{head}{item}{tail}"), out)?;
    }
    Ok(())
}

fn push_host(out: &mut Vec<String>, name: String) -> Result<(), String> {
    if out.len() >= MAX_EXPANDED_HOSTS {
        return Err(format!(
            "host ranges expand to more than {MAX_EXPANDED_HOSTS} hosts"
        ));
    }
    out.push(name);
    Ok(())
}

/// Python's `string.ascii_letters`, the alphabet of letter ranges.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn letter_index(s: &str) -> Option<usize> {
    match s.as_bytes() {
        [c] => LETTERS.iter().position(|l| l == c),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(entry: &str) -> Vec<String> {
        expand_host_entry(entry).unwrap().0
    }

    #[test]
    fn numeric_ranges_keep_zero_padding() {
        assert_eq!(names("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(names("n[8:10].lan"), ["n8.lan", "n9.lan", "n10.lan"]);
        assert_eq!(names("n[:2]"), ["n0", "n1", "n2"]);
        assert_eq!(names("n[1:7:3]"), ["n1", "n4", "n7"]);
    }

    #[test]
    fn letter_and_nested_ranges() {
        assert_eq!(names("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(names("r[1:2]n[a:b]"), ["r1na", "r1nb", "r2na", "r2nb"]);
        assert_eq!(names("x[y:B]"), ["xy", "xz", "xA", "xB"]);
    }

    #[test]
    fn ports() {
        assert_eq!(
            expand_host_entry("web1:2222").unwrap(),
            (vec!["web1".to_string()], Some(2222))
        );
        assert_eq!(
            expand_host_entry("10.0.0.1:22").unwrap(),
            (vec!["10.0.0.1".to_string()], Some(22))
        );
        assert_eq!(
            expand_host_entry("[fe80::1]:2200").unwrap(),
            (vec!["fe80::1".to_string()], Some(2200))
        );
        assert_eq!(
            expand_host_entry("fe80::1").unwrap(),
            (vec!["fe80::1".to_string()], None)
        );
        let (hosts, port) = expand_host_entry("web[1:2]:2222").unwrap();
        assert_eq!(
            (hosts, port),
            (vec!["web1".into(), "web2".into()], Some(2222))
        );
    }

    #[test]
    fn bad_entries_are_errors() {
        for bad in [
            "web:",
            "web[1:]",
            "web[3:1]",
            "web[1:2:0]",
            "web[01:100]",
            "web[x:5]",
            "web[1",
            "web[1:2:3:4]",
            "web1:70000",
            "---",
            "n[0:99999999]",
            "a[0:999]b[0:999]",
        ] {
            assert!(expand_host_entry(bad).is_err(), "{bad}");
        }
    }
}
