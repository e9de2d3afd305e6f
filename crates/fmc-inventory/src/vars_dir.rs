//! `group_vars/` and `host_vars/` directories.
//!
//! For a name `web`, the first of `web` (file or directory), `web.yml`, `web.yaml`,
//! `web.json` is used, as in Ansible; the others are ignored with a warning. A
//! directory contributes all its files with no extension or a YAML/JSON one,
//! recursively, sorted, skipping hidden files and `~` backups; later files replace
//! top-level keys of earlier ones. Files for names that are not in the inventory are
//! not read.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use fmc_core::{Map, Span, Value};

use crate::InventoryError;
use crate::source::{read_text, sorted_entries};

const EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// Directories deeper than this inside `group_vars/NAME/` are refused (symlink loops).
const MAX_NESTING: usize = 16;

/// The variables one directory's `group_vars/` and `host_vars/` give, by name.
#[derive(Clone, Default)]
pub(crate) struct VarsDir {
    pub(crate) groups: HashMap<String, Map>,
    pub(crate) hosts: HashMap<String, Map>,
    /// Files ignored because a directory or another file of the same name wins.
    pub(crate) warnings: Vec<String>,
}

pub(crate) fn load(
    dir: &Path,
    is_group: impl Fn(&str) -> bool,
    is_host: impl Fn(&str) -> bool,
) -> Result<VarsDir, InventoryError> {
    let mut warnings = Vec::new();
    Ok(VarsDir {
        groups: load_kind(&dir.join("group_vars"), is_group, &mut warnings)?,
        hosts: load_kind(&dir.join("host_vars"), is_host, &mut warnings)?,
        warnings,
    })
}

fn load_kind(
    dir: &Path,
    wanted: impl Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, Map>, InventoryError> {
    let mut out = HashMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut names = BTreeSet::new();
    for path in sorted_entries(dir)? {
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        names.insert(file.to_string());
        if let Some((stem, ext)) = file.rsplit_once('.')
            && EXTENSIONS.contains(&ext)
        {
            names.insert(stem.to_string());
        }
    }
    for name in names.into_iter().filter(|n| wanted(n)) {
        let candidates =
            std::iter::once(name.clone()).chain(EXTENSIONS.iter().map(|e| format!("{name}.{e}")));
        let mut found = candidates.map(|c| dir.join(c)).filter(|p| p.exists());
        let Some(path) = found.next() else {
            continue;
        };
        for ignored in found {
            warnings.push(ignored_warning(&ignored, &path));
        }
        let files = if path.is_dir() {
            let mut files = Vec::new();
            collect_files(&path, 0, &mut files)?;
            files
        } else {
            vec![path]
        };
        let mut vars = Map::new();
        for file in files {
            for (k, v) in load_vars_file(&file)? {
                vars.insert(k, v);
            }
        }
        out.insert(name, vars);
    }
    Ok(out)
}

/// The warning for a vars file that `winner` (same name) shadows.
fn ignored_warning(ignored: &Path, winner: &Path) -> String {
    if winner.is_dir() {
        format!(
            "{} is ignored: {}/ exists and wins, as in Ansible; move the file into the directory",
            ignored.display(),
            winner.display()
        )
    } else {
        format!(
            "{} is ignored: {} exists and wins, as in Ansible; merge the two files",
            ignored.display(),
            winner.display()
        )
    }
}

fn collect_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    if depth > MAX_NESTING {
        return Err(InventoryError::Io {
            path: dir.display().to_string(),
            msg: "vars directories are nested too deeply (symlink loop?)".into(),
        });
    }
    for path in sorted_entries(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = Path::new(name).extension().and_then(|e| e.to_str());
        if path.is_dir() {
            if ext.is_none() {
                collect_files(&path, depth + 1, out)?;
            }
        } else if ext.is_none_or(|e| EXTENSIONS.contains(&e)) {
            out.push(path);
        }
    }
    Ok(())
}

/// A vars file: a YAML/JSON mapping (empty files are fine).
pub(crate) fn load_vars_file(path: &Path) -> Result<Map, InventoryError> {
    let text = read_text(path)?;
    let file = path.display().to_string();
    match fmc_yaml::parse(&text, &file)? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(InventoryError::invalid(
            Span::file(file),
            "a vars file must be a mapping of variable names to values",
        )),
    }
}
