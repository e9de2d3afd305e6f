//! Controller-side file lookup for `copy src=`, `template src=`, `include_vars` and
//! friends, with Ansible's search order: the role's `files/` (or `templates/`, `vars/`),
//! the role itself, then the playbook directory's `files/` (`templates/`, `vars/`) and
//! the playbook directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use fmc_core::ControllerFiles;
use fmc_template::{Templar, TemplateError, Vars};

pub(crate) struct TaskFiles<'a> {
    pub role_dir: Option<&'a Path>,
    pub playbook_dir: &'a Path,
    pub templar: &'a Templar,
    pub vars: &'a Vars,
    /// Set when a controller file could not be found, read or rendered: the module's
    /// failure is then an input problem whose message gets the task's location.
    pub failed: AtomicBool,
}

impl<'a> TaskFiles<'a> {
    pub fn new(
        role_dir: Option<&'a Path>,
        playbook_dir: &'a Path,
        templar: &'a Templar,
        vars: &'a Vars,
    ) -> Self {
        TaskFiles {
            role_dir,
            playbook_dir,
            templar,
            vars,
            failed: AtomicBool::new(false),
        }
    }

    /// Whether finding, reading or rendering a controller file failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn fail<T>(&self, msg: String) -> Result<T, String> {
        self.failed.store(true, Ordering::Relaxed);
        Err(msg)
    }
}

/// Directories searched for a relative name, in order: `<role>/<sub>`, `<role>`,
/// `<role>/tasks`, `<playbook dir>/<sub>`, `<playbook dir>`.
pub(crate) fn search_dirs(role_dir: Option<&Path>, playbook_dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(r) = role_dir {
        dirs.push(r.join(sub));
        dirs.push(r.to_path_buf());
        dirs.push(r.join("tasks"));
    }
    dirs.push(playbook_dir.join(sub));
    dirs.push(playbook_dir.to_path_buf());
    dirs
}

/// Finds `name` (absolute, `~/...` or relative to one of `dirs`) on the controller.
/// The error names the path and every directory searched.
pub(crate) fn find_in(dirs: &[PathBuf], name: &str) -> Result<PathBuf, String> {
    let expanded = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Some(Path::new(&home).join(rest)),
        _ => None,
    };
    let p = expanded.as_deref().unwrap_or(Path::new(name));
    if p.is_absolute() {
        return if p.exists() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("could not find '{name}' on the controller"))
        };
    }
    if let Some(found) = dirs.iter().map(|d| d.join(p)).find(|c| c.exists()) {
        return Ok(found);
    }
    let searched: Vec<String> = dirs
        .iter()
        .map(|d| {
            std::path::absolute(d)
                .unwrap_or_else(|_| d.clone())
                .display()
                .to_string()
        })
        .collect();
    Err(format!(
        "could not find '{name}' on the controller; searched: {}",
        searched.join(", ")
    ))
}

/// A template file's rendering error: `file:line: message` when the engine knows the
/// line, with the undefined variable's name and any hint.
fn render_error(path: &Path, e: &TemplateError) -> String {
    let text = e.to_string();
    let hint = text
        .split_once("\nhint: ")
        .map(|(_, h)| format!("\nhint: {h}"))
        .unwrap_or_default();
    let var = e.variable_note();
    match (e.template(), e.line()) {
        // a lazily templated variable is not a file
        (Some(t), Some(line)) if !t.starts_with("variable '") => {
            format!("{t}:{line}: {}{var}{hint}", e.message())
        }
        _ => format!("{}: {text}{var}", path.display()),
    }
}

impl ControllerFiles for TaskFiles<'_> {
    fn find(&self, name: &str, template: bool) -> Result<PathBuf, String> {
        let sub = if template { "templates" } else { "files" };
        find_in(&search_dirs(self.role_dir, self.playbook_dir, sub), name).or_else(|e| self.fail(e))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).or_else(|e| self.fail(format!("{}: {e}", path.display())))
    }

    fn base_dir(&self) -> Option<&Path> {
        Some(self.playbook_dir)
    }

    fn render(&self, path: &Path) -> Result<String, String> {
        let mut vars = self.vars.clone();
        let mut paths = search_dirs(self.role_dir, self.playbook_dir, "templates");
        if let Some(parent) = path.parent() {
            paths.insert(0, parent.to_path_buf());
        }
        vars.set_search_paths(paths);
        self.templar
            .render_file(path, &vars)
            .or_else(|e| self.fail(render_error(path, &e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_syntax_error_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("templates");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("bad.j2"), "line1\n{% if x %}\nbad {{ \n").unwrap();
        let templar = Templar::new();
        let vars = Vars::new();
        let files = TaskFiles::new(None, dir.path(), &templar, &vars);
        let path = files.find("bad.j2", true).unwrap();
        assert!(!files.failed());
        let e = files.render(&path).unwrap_err();
        let want = format!("{}:3: template syntax error", path.display());
        assert!(e.starts_with(&want), "{e}");
        assert!(files.failed());
    }

    #[test]
    fn a_missing_file_names_every_directory_searched() {
        let dir = tempfile::tempdir().unwrap();
        let role = dir.path().join("roles/r");
        let templar = Templar::new();
        let vars = Vars::new();
        let files = TaskFiles::new(Some(&role), dir.path(), &templar, &vars);
        let e = files.find("nope.txt", false).unwrap_err();
        assert!(files.failed());
        for d in [role.join("files"), role.clone(), dir.path().join("files")] {
            assert!(e.contains(&d.display().to_string()), "{e}");
        }
        assert!(e.contains("'nope.txt'"), "{e}");
    }
}
