//! The few `ansible.cfg` settings fmc honours (from the current directory):
//! `[defaults] inventory, roles_path, forks, remote_user, private_key_file`.

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
}
