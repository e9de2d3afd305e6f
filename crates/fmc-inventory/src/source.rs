//! Inventory sources: files (YAML or INI), directories and host lists.

use std::path::{Path, PathBuf};

use fmc_core::{Map, Value};

use crate::hostrange::expand_host_entry;
use crate::{Inventory, InventoryError, SourceCtx, UNGROUPED, ini};

/// Groups nested deeper than this in a YAML inventory are refused.
const MAX_GROUP_NESTING: usize = 64;

/// File name endings Ansible skips in inventory directories.
const IGNORED_ENDINGS: [&str; 12] = [
    "~", ".orig", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt", ".rst",
];

/// Entries of inventory directories that are not inventories themselves.
const IGNORED_NAMES: [&str; 3] = ["group_vars", "host_vars", "vars_plugins"];

/// Loads one `-i` source into `inv`. Returns the directory whose `group_vars/` and
/// `host_vars/` belong to it (none for a host list).
pub(crate) fn load_source(
    inv: &mut Inventory,
    src: &Path,
) -> Result<Option<PathBuf>, InventoryError> {
    match std::fs::metadata(src) {
        Ok(meta) if meta.is_dir() => {
            load_dir(inv, src, 0)?;
            Ok(Some(src.to_path_buf()))
        }
        Ok(_) => {
            load_file(inv, src)?;
            let dir = match src.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok(Some(dir))
        }
        Err(e) => match src.to_str() {
            Some(list) if list.contains(',') => {
                load_host_list(inv, list)?;
                Ok(None)
            }
            _ => Err(InventoryError::Io {
                path: src.display().to_string(),
                msg: format!("cannot read inventory source: {e}"),
            }),
        },
    }
}

/// Reads a source or vars file. This is the one place that sees raw file bytes: an
/// ansible-vault encrypted file (YAML or INI) is decrypted here with the passwords the
/// CLI gave `fmc_yaml::set_vault_secrets`.
pub(crate) fn read_text(path: &Path) -> Result<String, InventoryError> {
    let io = |msg: String| InventoryError::Io {
        path: path.display().to_string(),
        msg,
    };
    let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| io("file is not valid UTF-8".into()))?;
    if fmc_yaml::vault::is_vault(&text) {
        return Ok(fmc_yaml::vault::decrypt_file(
            &text,
            &path.display().to_string(),
        )?);
    }
    Ok(text)
}

fn load_dir(inv: &mut Inventory, dir: &Path, depth: usize) -> Result<(), InventoryError> {
    if depth > MAX_GROUP_NESTING {
        return Err(InventoryError::Io {
            path: dir.display().to_string(),
            msg: "inventory directories are nested too deeply (symlink loop?)".into(),
        });
    }
    for path in sorted_entries(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.')
            || IGNORED_NAMES.contains(&name)
            || IGNORED_ENDINGS.iter().any(|e| name.ends_with(e))
        {
            continue;
        }
        if path.is_dir() {
            load_dir(inv, &path, depth + 1)?;
        } else {
            load_file(inv, &path)?;
        }
    }
    Ok(())
}

/// The entries of `dir`, sorted by name.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let io = |e: std::io::Error| InventoryError::Io {
        path: dir.display().to_string(),
        msg: e.to_string(),
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        entries.push(entry.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

fn load_file(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let text = read_text(path)?;
    let ctx = SourceCtx::for_file(path);
    if text.starts_with("#!") {
        return Err(InventoryError::invalid(
            ctx.span(),
            "inventory scripts are not supported\nhint: convert it to a static YAML or INI inventory",
        ));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "ini" {
        return ini::parse(inv, &text, &ctx);
    }
    let file = ctx.file.to_string();
    if matches!(ext, "yml" | "yaml" | "json") {
        let value = fmc_yaml::parse(&text, &file)?;
        return load_yaml(inv, value, &ctx);
    }
    let parsed = fmc_yaml::parse(&text, &file);
    if let Ok(Value::Object(map)) = &parsed
        && map.values().all(|v| v.is_null() || v.is_object())
    {
        return load_yaml(inv, Value::Object(map.clone()), &ctx);
    }
    if looks_like_yaml(&text) {
        return load_yaml(inv, parsed?, &ctx);
    }
    ini::parse(inv, &text, &ctx)
}

/// Whether the first meaningful line reads as YAML rather than INI (`all:`,
/// `key: value`, `---`, `{`), so YAML mistakes get YAML messages.
fn looks_like_yaml(text: &str) -> bool {
    let Some(first) = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
    else {
        return false;
    };
    first == "---"
        || first.starts_with('{')
        || first.starts_with("%YAML")
        || (!first.starts_with('[')
            && !first.contains('=')
            && (first.ends_with(':') || first.contains(": ")))
}

/// `web1,web2:2222,` as given to `-i`: every entry is an ungrouped host.
fn load_host_list(inv: &mut Inventory, list: &str) -> Result<(), InventoryError> {
    let ctx = SourceCtx::for_host_list(list);
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (names, port) =
            expand_host_entry(entry).map_err(|msg| InventoryError::invalid(ctx.span(), msg))?;
        for name in names {
            let host = inv.add_host(&name, UNGROUPED, &ctx);
            if let Some(port) = port {
                host.vars.insert("ansible_port".into(), Value::from(port));
            }
        }
    }
    Ok(())
}

/// A YAML inventory: top-level keys are groups (children of `all`).
fn load_yaml(inv: &mut Inventory, value: Value, ctx: &SourceCtx) -> Result<(), InventoryError> {
    let map = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        _ => {
            return Err(InventoryError::invalid(
                ctx.span(),
                "a YAML inventory must be a mapping of group names (such as `all:`) to groups",
            ));
        }
    };
    if map.contains_key("plugin") {
        return Err(InventoryError::invalid(
            ctx.span(),
            "inventory plugins are not supported\nhint: use a static YAML or INI inventory",
        ));
    }
    for (name, data) in &map {
        yaml_group(inv, name, data, ctx, 0)?;
    }
    Ok(())
}

fn yaml_group(
    inv: &mut Inventory,
    name: &str,
    data: &Value,
    ctx: &SourceCtx,
    depth: usize,
) -> Result<(), InventoryError> {
    let err = |msg: String| InventoryError::invalid(ctx.span(), format!("group {name}: {msg}"));
    if depth > MAX_GROUP_NESTING {
        return Err(err("groups are nested too deeply".into()));
    }
    inv.add_group(name);
    let map = match data {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        _ => {
            return Err(err(
                "a group must be a mapping with hosts, vars and/or children".into(),
            ));
        }
    };
    for (key, section) in map {
        let entries: Map = match section {
            Value::Null => continue,
            // Ansible accepts `hosts: web1` as shorthand for a single entry.
            Value::String(s) => [(s.clone(), Value::Null)].into_iter().collect(),
            Value::Object(m) => m.clone(),
            _ if key == "hosts" => {
                return Err(err(
                    "hosts must be a mapping\nhint: write each host as `name:` on its own line, not as a list item".into(),
                ));
            }
            _ => return Err(err(format!("{key} must be a mapping"))),
        };
        match key.as_str() {
            "vars" => {
                for (k, v) in entries {
                    inv.set_group_var(name, &k, v, &ctx.span())?;
                }
            }
            "children" => {
                for (child, child_data) in &entries {
                    yaml_group(inv, child, child_data, ctx, depth + 1)?;
                    inv.add_child(name, child, &ctx.span())?;
                }
            }
            "hosts" => {
                for (entry, vars) in &entries {
                    yaml_hosts(inv, name, entry, vars, ctx)?;
                }
            }
            other => {
                return Err(err(format!(
                    "unexpected key {other:?}\nhint: a group may only contain hosts, vars and children"
                )));
            }
        }
    }
    Ok(())
}

fn yaml_hosts(
    inv: &mut Inventory,
    group: &str,
    entry: &str,
    vars: &Value,
    ctx: &SourceCtx,
) -> Result<(), InventoryError> {
    let span = ctx.span();
    let (names, port) = expand_host_entry(entry)
        .map_err(|msg| InventoryError::invalid(span.clone(), format!("group {group}: {msg}")))?;
    let vars = match vars {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        _ => {
            return Err(InventoryError::invalid(
                span,
                format!("host {entry} in group {group}: host variables must be a mapping"),
            ));
        }
    };
    for name in names {
        let host = inv.add_host(&name, group, ctx);
        if let Some(port) = port {
            host.vars.insert("ansible_port".into(), Value::from(port));
        }
        for (k, v) in &vars {
            host.vars.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}
