//! Inventories with ansible-vault encrypted files: group_vars written by real
//! ansible-core (fmc-yaml's fixtures), inline `!vault` host_vars, an encrypted INI
//! inventory.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use fmc_core::Secret;
use fmc_inventory::Inventory;
use fmc_yaml::VaultSecret;
use serde_json::json;

fn vault_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fmc-yaml/tests/fixtures/vault")
        .join(name)
}

fn password(name: &str) -> String {
    std::fs::read_to_string(vault_fixture(name))
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

/// The keyring is process-wide: tests that set it run one at a time.
fn keyring(passwords: &[(Option<&str>, &str)]) -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    fmc_yaml::set_vault_secrets(
        passwords
            .iter()
            .map(|(label, pw)| VaultSecret {
                label: label.map(str::to_string),
                password: Secret::new(pw.to_string()),
            })
            .collect(),
    );
    guard
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// hosts (plain INI), an encrypted INI inventory, encrypted group_vars, inline host_vars.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "inv/hosts", "[web]\nw1\n");
    write(
        d,
        "inv/secret-hosts",
        &fmc_yaml::encrypt("[db]\nd1 ansible_password=Db-L0gin-pw\n", "ini-pw", None),
    );
    let group_vars = std::fs::read_to_string(vault_fixture("vars-1.1.yml")).unwrap();
    write(d, "inv/group_vars/web.yml", &group_vars);
    let inline = std::fs::read_to_string(vault_fixture("inline.yml")).unwrap();
    write(d, "inv/host_vars/w1.yml", &inline);
    dir
}

#[test]
fn encrypted_vars_and_inventory_load() {
    let dir = tree();
    let _g = keyring(&[
        (None, &password("default.pass")),
        (Some("prod"), &password("prod.pass")),
        (None, "ini-pw"),
    ]);
    let inv = Inventory::load(&[dir.path().join("inv")]).unwrap();
    let w1 = inv.host_vars("w1");
    // group_vars/web.yml, encrypted by ansible-vault 1.1.
    assert_eq!(w1["wireguard"]["peers"][0]["name"], json!("site-b"));
    assert_eq!(w1["enabled"], json!(true));
    // host_vars/w1.yml, inline values (1.1 and 1.2 with vault id "prod").
    assert_eq!(w1["vrrp_auth_pass"], json!("Vr3p-s3cret"));
    assert_eq!(
        w1["nested"]["cloudflare_api_token"],
        json!("cf-Tok3n_0123456789abcdef\nsecond line")
    );
    // The encrypted INI inventory.
    assert_eq!(inv.groups()["db"], vec!["d1".to_string()]);
    assert_eq!(
        inv.host_vars("d1")["ansible_password"],
        json!("Db-L0gin-pw")
    );

    let revealed = fmc_yaml::revealed_secrets();
    assert!(revealed.iter().any(|r| r == "cf-Tok3n_0123456789abcdef"));
    assert!(revealed.iter().any(|r| r.contains("Db-L0gin-pw")));
}

#[test]
fn missing_and_wrong_passwords_name_the_file() {
    let dir = tree();
    std::fs::remove_file(dir.path().join("inv/secret-hosts")).unwrap();
    let inv_dir = dir.path().join("inv");
    let group_vars = inv_dir.join("group_vars/web.yml").display().to_string();

    let _g = keyring(&[]);
    let e = Inventory::load(std::slice::from_ref(&inv_dir))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{group_vars}: vault-encrypted content but no vault password was given\nhint: --vault-password-file FILE or --ask-vault-pass"
        )
    );

    fmc_yaml::set_vault_secrets(vec![VaultSecret {
        label: None,
        password: Secret::new("not-it".into()),
    }]);
    let e = Inventory::load(&[inv_dir]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{group_vars}: vault decryption failed (wrong password?)")
    );
}
