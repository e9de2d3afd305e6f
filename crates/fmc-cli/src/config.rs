//! The few `ansible.cfg` settings fmc honours:
//! `[defaults] inventory, roles_path, forks, remote_user, private_key_file`, from the
//! file Ansible would read (see [`AnsibleCfg::find`]). Relative paths in it are relative
//! to the file's directory, as in Ansible.

use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct AnsibleCfg {
    pub inventory: Option<Vec<PathBuf>>,
    pub roles_path: Vec<PathBuf>,
    pub forks: Option<usize>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<PathBuf>,
}

impl AnsibleCfg {
    /// Reads the configuration Ansible would: the first file that exists of
    /// `ANSIBLE_CONFIG` (a file, or a directory holding `ansible.cfg`), `./ansible.cfg`
    /// (ignored, with a warning, in a world-writable directory), `~/.ansible.cfg` and
    /// `/etc/ansible/ansible.cfg`. Files are not merged. Returns the settings and the
    /// warnings to show.
    pub fn find() -> Result<(Self, Vec<String>), String> {
        let env = std::env::var_os("ANSIBLE_CONFIG").map(PathBuf::from);
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let (path, warnings) = locate(env, Path::new("."), home.as_deref());
        let cfg = match path {
            Some(p) => Self::load(&p)?,
            None => Self::default(),
        };
        Ok((cfg, warnings))
    }

    /// Reads `path` if it exists; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |s: &str| -> PathBuf {
            let p = PathBuf::from(s.trim());
            if p.is_absolute() { p } else { base.join(p) }
        };
        let mut cfg = AnsibleCfg::default();
        let mut section = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.trim().to_string();
                continue;
            }
            if section != "defaults" {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!(
                    "{}:{}: expected 'key = value'",
                    path.display(),
                    n + 1
                ));
            };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "inventory" | "hostfile" => {
                    cfg.inventory = Some(
                        v.split(',')
                            .filter(|s| !s.trim().is_empty())
                            .map(rel)
                            .collect(),
                    )
                }
                "roles_path" => {
                    cfg.roles_path = v.split(':').filter(|s| !s.is_empty()).map(rel).collect()
                }
                "forks" => {
                    cfg.forks = Some(v.parse().map_err(|_| {
                        format!("{}:{}: forks must be a number", path.display(), n + 1)
                    })?)
                }
                "remote_user" => cfg.remote_user = Some(v.to_string()),
                "private_key_file" => cfg.private_key_file = Some(rel(v)),
                _ => {}
            }
        }
        Ok(cfg)
    }
}

/// Where [`AnsibleCfg::find`] reads from, given `ANSIBLE_CONFIG`, the current directory
/// and `$HOME`.
fn locate(env: Option<PathBuf>, cwd: &Path, home: Option<&Path>) -> (Option<PathBuf>, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let mut warnings = vec![];
    let mut candidates = vec![];
    if let Some(p) = env {
        candidates.push(if p.is_dir() { p.join("ansible.cfg") } else { p });
    }
    let local = cwd.join("ansible.cfg");
    if local.is_file() {
        let world_writable = std::fs::metadata(cwd)
            .map(|m| m.permissions().mode() & 0o002 != 0)
            .unwrap_or(false);
        if world_writable {
            warnings.push(format!(
                "fmc-run is being run in a world writable directory ({}), ignoring it as an ansible.cfg source",
                std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf()).display()
            ));
        } else {
            candidates.push(local);
        }
    }
    if let Some(h) = home {
        candidates.push(h.join(".ansible.cfg"));
    }
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    (candidates.into_iter().find(|p| p.is_file()), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_section() {
        let c = AnsibleCfg::parse(
            "[defaults]\ninventory = inventory/production\nroles_path = roles:/etc/r\nforks=20\n[ssh_connection]\npipelining=True\n",
            Path::new("/p/ansible.cfg"),
        )
        .unwrap();
        assert_eq!(
            c.inventory,
            Some(vec![PathBuf::from("/p/inventory/production")])
        );
        assert_eq!(
            c.roles_path,
            vec![PathBuf::from("/p/roles"), PathBuf::from("/etc/r")]
        );
        assert_eq!(c.forks, Some(20));
        assert!(AnsibleCfg::parse("[defaults]\nforks = x\n", Path::new("a.cfg")).is_err());
    }

    #[test]
    fn finds_the_file_ansible_would_read() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let (cwd, home, other) = (
            tmp.path().join("cwd"),
            tmp.path().join("home"),
            tmp.path().join("other"),
        );
        for d in [&cwd, &home, &other] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // nothing anywhere (unless the machine has /etc/ansible/ansible.cfg)
        let (p, w) = locate(None, &cwd, Some(&home));
        assert!(p.is_none() || p == Some(PathBuf::from("/etc/ansible/ansible.cfg")));
        assert!(w.is_empty());
        std::fs::write(home.join(".ansible.cfg"), "").unwrap();
        assert_eq!(
            locate(None, &cwd, Some(&home)).0,
            Some(home.join(".ansible.cfg"))
        );
        std::fs::write(cwd.join("ansible.cfg"), "").unwrap();
        assert_eq!(
            locate(None, &cwd, Some(&home)).0,
            Some(cwd.join("ansible.cfg"))
        );
        // ANSIBLE_CONFIG first, as a file or a directory; a missing one falls through
        std::fs::write(other.join("ansible.cfg"), "").unwrap();
        assert_eq!(
            locate(Some(other.join("ansible.cfg")), &cwd, Some(&home)).0,
            Some(other.join("ansible.cfg"))
        );
        assert_eq!(
            locate(Some(other.clone()), &cwd, Some(&home)).0,
            Some(other.join("ansible.cfg"))
        );
        assert_eq!(
            locate(Some(other.join("nope.cfg")), &cwd, Some(&home)).0,
            Some(cwd.join("ansible.cfg"))
        );
        // a world-writable current directory is not trusted
        std::fs::set_permissions(&cwd, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (p, w) = locate(None, &cwd, Some(&home));
        assert_eq!(p, Some(home.join(".ansible.cfg")));
        assert!(w[0].contains("world writable"), "{w:?}");
    }
}
