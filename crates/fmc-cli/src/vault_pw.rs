//! Vault passwords from the command line, shared by `fmc-run` and `fmc-vault`:
//! `--vault-password-file [LABEL@]FILE`, `--vault-id LABEL@FILE|LABEL@prompt`,
//! `--ask-vault-pass` and `ANSIBLE_VAULT_PASSWORD_FILE` (comma-separated).

use std::path::Path;

use fmc_core::Secret;
use fmc_yaml::VaultSecret;

/// Reads a one-line secret file (trailing newline removed).
pub fn read_secret_file(path: &Path) -> Result<Secret<String>, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Secret::new(s.trim_end_matches(['\n', '\r']).to_string()))
}

fn prompt(label: Option<&str>) -> Result<Secret<String>, String> {
    let text = match label {
        Some(l) => format!("Vault password ({l}): "),
        None => "Vault password: ".into(),
    };
    rpassword::prompt_password(text)
        .map(Secret::new)
        .map_err(|e| format!("reading the vault password: {e}"))
}

/// The vault passwords named by `sources` (`[LABEL@]FILE` or `LABEL@prompt`), then the
/// environment's `ANSIBLE_VAULT_PASSWORD_FILE`, then a prompt when `ask`.
pub fn load(sources: &[String], ask: bool) -> Result<Vec<VaultSecret>, String> {
    let mut all: Vec<String> = sources.to_vec();
    if let Ok(env) = std::env::var("ANSIBLE_VAULT_PASSWORD_FILE") {
        all.extend(env.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let mut secrets = vec![];
    for src in all {
        let (label, what) = match src.split_once('@') {
            Some((l, w)) if !l.is_empty() => (Some(l.to_string()), w.to_string()),
            _ => (None, src.clone()),
        };
        let password = if what == "prompt" {
            prompt(label.as_deref())?
        } else {
            read_secret_file(Path::new(&what))?
        };
        secrets.push(VaultSecret { label, password });
    }
    if ask {
        secrets.push(VaultSecret {
            label: None,
            password: prompt(None)?,
        });
    }
    Ok(secrets)
}
