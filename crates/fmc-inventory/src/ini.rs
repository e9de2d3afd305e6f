//! Ansible's INI inventory format.
//!
//! `[group]` sections list hosts (`name[:port] key=value ...`), `[group:vars]` sets
//! group variables, `[group:children]` lists child groups. Hosts before the first
//! section are ungrouped. Lines starting with `#` or `;` are comments. Values are read
//! like Python literals (see [`crate::literal`]).

use indexmap::IndexMap;

use crate::hostrange::expand_host_entry;
use crate::literal::ini_value;
use crate::{Inventory, InventoryError, SourceCtx, UNGROUPED};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A group named before it was declared: by `[g:vars]`, or as a child.
struct Pending {
    line: usize,
    state: State,
    parents: Vec<String>,
}

pub(crate) fn parse(
    inv: &mut Inventory,
    text: &str,
    ctx: &SourceCtx,
) -> Result<(), InventoryError> {
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group = UNGROUPED.to_string();
    let mut state = State::Hosts;
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let span = ctx.line(lineno);
        let err = |msg: String| InventoryError::invalid(span.clone(), msg);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((name, tag)) = section_header(line) {
            state = match tag {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err(err(format!(
                        "section [{name}:{other}] has unknown type {other:?}\nhint: use [{name}], [{name}:vars] or [{name}:children]"
                    )));
                }
            };
            group = name.to_string();
            if !inv.groups.contains_key(name) {
                if state == State::Vars && !pending.contains_key(name) {
                    pending.insert(
                        group.clone(),
                        Pending {
                            line: lineno,
                            state,
                            parents: Vec::new(),
                        },
                    );
                }
                inv.add_group(name);
            }
            if state != State::Vars
                && let Some(p) = pending.get(name)
            {
                if p.state == State::Children {
                    add_pending_children(inv, name, &mut pending, &span)?;
                } else {
                    pending.shift_remove(name);
                }
            }
            continue;
        }
        if line.starts_with('[')
            && (line.ends_with(']') || line.contains("] ;") || line.contains("];"))
        {
            return Err(err(format!(
                "invalid section header {line:?}\nhint: a section is [name], [name:vars] or [name:children] without spaces; comments after it start with #"
            )));
        }
        match state {
            State::Hosts => host_line(inv, &group, line, ctx, &span)?,
            State::Vars => {
                let Some((key, value)) = line.split_once('=') else {
                    return Err(err(format!("expected key=value in [{group}:vars]")));
                };
                let key = key.trim();
                if key.is_empty() {
                    return Err(err(format!(
                        "missing variable name before '=' in [{group}:vars]"
                    )));
                }
                inv.set_group_var(&group, key, ini_value(value.trim()), &span)?;
            }
            State::Children => {
                let child = group_name(line).ok_or_else(|| {
                    err(format!(
                        "expected a group name in [{group}:children], got {line:?}"
                    ))
                })?;
                if inv.groups.contains_key(child) {
                    inv.add_child(&group, child, &span)?;
                } else if let Some(p) = pending.get_mut(child) {
                    p.parents.push(group.clone());
                } else {
                    pending.insert(
                        child.to_string(),
                        Pending {
                            line: lineno,
                            state: State::Children,
                            parents: vec![group.clone()],
                        },
                    );
                }
            }
        }
    }
    if let Some((name, p)) = pending.first() {
        let msg = if p.state == State::Vars {
            format!(
                "section [{name}:vars] is for group {name}, which is never declared\nhint: add a [{name}] or [{name}:children] section"
            )
        } else {
            let parent = p.parents.last().map(String::as_str).unwrap_or("?");
            format!(
                "section [{parent}:children] includes group {name}, which is never declared\nhint: add a [{name}] section"
            )
        };
        return Err(InventoryError::invalid(ctx.line(p.line), msg));
    }
    Ok(())
}

/// Links a just-declared group to the parents that named it as a child earlier.
fn add_pending_children(
    inv: &mut Inventory,
    group: &str,
    pending: &mut IndexMap<String, Pending>,
    span: &fmc_core::Span,
) -> Result<(), InventoryError> {
    let Some(entry) = pending.shift_remove(group) else {
        return Ok(());
    };
    for parent in entry.parents {
        inv.add_child(&parent, group, span)?;
        if pending
            .get(&parent)
            .is_some_and(|p| p.state == State::Children)
        {
            add_pending_children(inv, &parent, pending, span)?;
        }
    }
    Ok(())
}

/// `[name]` or `[name:tag]`, optionally followed by a `#` comment.
fn section_header(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let name_len = rest
        .find(|c: char| c == ':' || c == ']' || c.is_whitespace())
        .unwrap_or(rest.len());
    let (name, rest) = rest.split_at(name_len);
    if name.is_empty() {
        return None;
    }
    let (tag, rest) = match rest.strip_prefix(':') {
        Some(r) => {
            let len = r
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            if len == 0 {
                return None;
            }
            (Some(&r[..len]), &r[len..])
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix(']')?.trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some((name, tag))
}

/// A child group name: no whitespace, `:` or `]`, optionally followed by a `#` comment.
fn group_name(line: &str) -> Option<&str> {
    let len = line
        .find(|c: char| c == ':' || c == ']' || c.is_whitespace())
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(len);
    let rest = rest.trim_start();
    (!name.is_empty() && (rest.is_empty() || rest.starts_with('#'))).then_some(name)
}

fn host_line(
    inv: &mut Inventory,
    group: &str,
    line: &str,
    ctx: &SourceCtx,
    span: &fmc_core::Span,
) -> Result<(), InventoryError> {
    let err = |msg: String| InventoryError::invalid(span.clone(), msg);
    let tokens = shell_words(line).map_err(err)?;
    let Some((entry, assignments)) = tokens.split_first() else {
        return Ok(());
    };
    let (names, port) = expand_host_entry(entry).map_err(err)?;
    let mut vars = Vec::with_capacity(assignments.len());
    for (i, token) in assignments.iter().enumerate() {
        // The token is not echoed: it may be part of a secret split at a space.
        let Some((key, value)) = token.split_once('=') else {
            return Err(err(format!(
                "host {entry}: expected key=value, but word {} after the host name has no '='\nhint: quote values that contain spaces",
                i + 1
            )));
        };
        if key.is_empty() {
            return Err(err(format!(
                "host {entry}: missing variable name before '='"
            )));
        }
        vars.push((key.to_string(), ini_value(value)));
    }
    for name in names {
        let host = inv.add_host(&name, group, ctx);
        if let Some(port) = port {
            host.vars.insert("ansible_port".into(), port.into());
        }
        for (k, v) in &vars {
            host.vars.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

/// Splits a host line like Python's `shlex.split(line, comments=True)`: whitespace
/// separates words, `'...'` is literal, `"..."` allows `\"` and `\\`, a backslash
/// escapes the next character, and an unquoted `#` ends the line.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                let next = chars
                    .next()
                    .ok_or("a backslash at the end of the line escapes nothing")?;
                word.push(next);
                in_word = true;
            }
            '\'' => {
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("missing closing quote (')".into()),
                    }
                }
                in_word = true;
            }
            '"' => {
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err("missing closing quote (\")".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("missing closing quote (\")".into()),
                    }
                }
                in_word = true;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_like_python_shlex() {
        assert_eq!(
            shell_words(r#"h1 a="x y" b='p#q' c=d#e f"#).unwrap(),
            ["h1", "a=x y", "b=p#q", "c=d"]
        );
        assert_eq!(
            shell_words(r#"h a="q\"q\n" b=c\ d"#).unwrap(),
            ["h", "a=q\"q\\n", "b=c d"]
        );
        assert_eq!(shell_words("h x=''").unwrap(), ["h", "x="]);
        assert!(shell_words("h a='open").is_err());
        assert!(shell_words("h a=\\").is_err());
    }

    #[test]
    fn section_headers() {
        assert_eq!(section_header("[web]"), Some(("web", None)));
        assert_eq!(
            section_header("[web:vars] # c"),
            Some(("web", Some("vars")))
        );
        assert_eq!(
            section_header("[web:children]"),
            Some(("web", Some("children")))
        );
        assert_eq!(section_header("[web servers]"), None);
        assert_eq!(section_header("[web] ; c"), None);
        assert_eq!(section_header("[a:c]-x"), None);
        assert_eq!(group_name("web # c"), Some("web"));
        assert_eq!(group_name("web extra"), None);
    }
}
