//! Controller-side file lookup for `copy src=`, `template src=` and friends, with
//! Ansible's search order: the role's `files/` (or `templates/`), the role itself,
//! then the playbook directory's `files/` (`templates/`) and the playbook directory.

use std::path::{Path, PathBuf};

use fmc_core::ControllerFiles;
use fmc_template::{Templar, Vars};

pub(crate) struct TaskFiles<'a> {
    pub role_dir: Option<&'a Path>,
    pub playbook_dir: &'a Path,
    pub templar: &'a Templar,
    pub vars: &'a Vars,
}

impl TaskFiles<'_> {
    /// Directories searched for `name`, in order.
    pub fn search_dirs(&self, template: bool) -> Vec<PathBuf> {
        let sub = if template { "templates" } else { "files" };
        let mut dirs = Vec::new();
        if let Some(r) = self.role_dir {
            dirs.push(r.join(sub));
            dirs.push(r.to_path_buf());
            dirs.push(r.join("tasks"));
        }
        dirs.push(self.playbook_dir.join(sub));
        dirs.push(self.playbook_dir.to_path_buf());
        dirs
    }
}

impl ControllerFiles for TaskFiles<'_> {
    fn find(&self, name: &str, template: bool) -> Result<PathBuf, String> {
        let p = Path::new(name);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(format!("could not find '{name}' on the controller"))
            };
        }
        let dirs = self.search_dirs(template);
        for d in &dirs {
            let cand = d.join(p);
            if cand.exists() {
                return Ok(cand);
            }
        }
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Err(format!(
            "could not find '{name}' on the controller; searched: {}",
            searched.join(", ")
        ))
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn base_dir(&self) -> Option<&Path> {
        Some(self.playbook_dir)
    }

    fn render(&self, path: &Path) -> Result<String, String> {
        let mut vars = self.vars.clone();
        let mut paths = self.search_dirs(true);
        if let Some(parent) = path.parent() {
            paths.insert(0, parent.to_path_buf());
        }
        vars.set_search_paths(paths);
        self.templar
            .render_file(path, &vars)
            .map_err(|e| match e.undefined() {
                Some(var) => format!("{}: {e} (variable '{var}')", path.display()),
                None => format!("{}: {e}", path.display()),
            })
    }
}
