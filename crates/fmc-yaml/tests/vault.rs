//! ansible-vault decryption against data written by real ansible-core 2.19.14
//! (`ansible-vault encrypt` / `encrypt_string`, see `fixtures/vault/`), and our own
//! `encrypt` round trip through `parse`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fmc_core::Secret;
use fmc_yaml::vault::{self, VaultSecret};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vault")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A password file's content, without the trailing newline (as ansible reads it).
fn password(name: &str) -> String {
    read(name).trim_end_matches('\n').to_string()
}

fn secret(label: Option<&str>, pw: &str) -> VaultSecret {
    VaultSecret {
        label: label.map(str::to_string),
        password: Secret::new(pw.to_string()),
    }
}

fn both() -> Vec<VaultSecret> {
    vec![
        secret(None, &password("default.pass")),
        secret(Some("prod"), &password("prod.pass")),
    ]
}

/// The keyring is process-wide: tests that set it run one at a time.
fn keyring(secrets: Vec<VaultSecret>) -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    fmc_yaml::set_vault_secrets(secrets);
    guard
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn ansible_whole_file_1_1() {
    let text = read("vars-1.1.yml");
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    // Byte-exact plaintext.
    let plain = vault::decrypt(&text, &both()).unwrap();
    assert_eq!(plain, read("vars-1.1.yml.plain"));

    let _g = keyring(both());
    let v = fmc_yaml::load(&fixture("vars-1.1.yml")).unwrap();
    assert_eq!(
        v,
        fmc_yaml::parse(&read("vars-1.1.yml.plain"), "plain").unwrap()
    );
    assert_eq!(v["vrrp_auth_pass"], json!("Vr3p-s3cret"));
    assert_eq!(v["enabled"], json!(true));
    assert_eq!(v["mode"], json!(0o640));
    assert_eq!(v["wireguard"]["peers"][1]["port"], json!(51820));
    let spanned = fmc_yaml::load_spanned(&fixture("vars-1.1.yml")).unwrap();
    assert_eq!(spanned.to_value(), v);

    let revealed = fmc_yaml::revealed_secrets();
    for s in [
        "Vr3p-s3cret",
        "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
        "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=",
        "cf-Tok3n_0123456789abcdef",
    ] {
        assert!(revealed.iter().any(|r| r == s), "{s} not revealed");
    }
}

#[test]
fn ansible_file_1_2_with_label() {
    let text = read("db-1.2-prod.yml");
    assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    assert_eq!(
        vault::decrypt(&text, &both()).unwrap(),
        read("db-1.2-prod.yml.plain")
    );
    // The label is a preference, not a requirement: an unlabelled password works too.
    let unlabelled = [secret(None, "nope"), secret(None, &password("prod.pass"))];
    assert_eq!(
        vault::decrypt(&text, &unlabelled).unwrap(),
        read("db-1.2-prod.yml.plain")
    );

    let _g = keyring(both());
    let v = fmc_yaml::load(&fixture("db-1.2-prod.yml")).unwrap();
    assert_eq!(v["db_password"], json!("pg-Pr0d-p@ss: with colon"));
    assert_eq!(v["db_replicas"], json!(2));
    assert!(
        fmc_yaml::revealed_secrets()
            .iter()
            .any(|r| r == "pg-Pr0d-p@ss: with colon")
    );
}

#[test]
fn ansible_inline_values() {
    let _g = keyring(both());
    let v = fmc_yaml::load(&fixture("inline.yml")).unwrap();
    assert_eq!(
        v,
        json!({
            "db_user": "app",
            "vrrp_auth_pass": "Vr3p-s3cret",
            "nested": {
                "keep": "plain",
                "cloudflare_api_token": "cf-Tok3n_0123456789abcdef\nsecond line",
            },
        })
    );
    let spanned = fmc_yaml::load_spanned(&fixture("inline.yml")).unwrap();
    assert_eq!(spanned.to_value(), v);
    let revealed = fmc_yaml::revealed_secrets();
    assert!(revealed.iter().any(|r| r == "Vr3p-s3cret"));
    assert!(
        revealed
            .iter()
            .any(|r| r == "cf-Tok3n_0123456789abcdef\nsecond line")
    );
    assert!(!revealed.iter().any(|r| r == "app" || r == "plain"));
}

#[test]
fn missing_password() {
    let _g = keyring(vec![]);
    for name in ["vars-1.1.yml", "inline.yml"] {
        let e = fmc_yaml::load(&fixture(name)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: vault-encrypted content but no vault password was given\nhint: --vault-password-file FILE or --ask-vault-pass",
                path(name)
            )
        );
    }
}

#[test]
fn wrong_password() {
    let _g = keyring(vec![secret(None, "wrong-password")]);
    let e = fmc_yaml::load(&fixture("vars-1.1.yml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: vault decryption failed (wrong password?)",
            path("vars-1.1.yml")
        )
    );
    let debug = format!("{e:?}");
    assert!(
        !debug.contains("wrong-password") && !debug.contains("Vr3p"),
        "{debug}"
    );

    // The spanned loader names the inline value's position.
    let e = fmc_yaml::load_spanned(&fixture("inline.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:4:11: ", path("inline.yml"))),
        "{e}"
    );
    assert!(
        e.contains("vault decryption failed (wrong password?)"),
        "{e}"
    );

    // A 1.2 value whose vault id has no password says so.
    let e = fmc_yaml::load(&fixture("db-1.2-prod.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(
            "hint: it was encrypted for vault id \"prod\", and no password was given for that id"
        ),
        "{e}"
    );
}

#[test]
fn our_encrypt_round_trips_through_parse() {
    let secret_text = "wg-key: +/=\n\"quoted\" ünïcode";
    let whole = fmc_yaml::encrypt("token: abc123\nport: 8443\n", "pw-one", None);
    let inline = fmc_yaml::encrypt(secret_text, "pw-two", Some("site"));
    assert!(inline.starts_with("$ANSIBLE_VAULT;1.2;AES256;site\n"));
    let indented: String = inline.lines().map(|l| format!("    {l}\n")).collect();
    let doc = format!("plain: 1\nsecret: !vault |\n{indented}list:\n  - *x\n");
    // An alias of an inline value: anchors on tagged scalars.
    let doc = doc.replace("secret: !vault", "secret: &x !vault");

    let _g = keyring(vec![secret(None, "pw-one"), secret(Some("site"), "pw-two")]);
    let v = fmc_yaml::parse(&whole, "whole.yml").unwrap();
    assert_eq!(v, json!({"token": "abc123", "port": 8443}));
    let v = fmc_yaml::parse(&doc, "inline.yml").unwrap();
    assert_eq!(
        v,
        json!({"plain": 1, "secret": secret_text, "list": [secret_text]})
    );
    assert_eq!(
        fmc_yaml::parse_spanned(&doc, "inline.yml")
            .unwrap()
            .to_value(),
        v
    );
    let revealed = fmc_yaml::revealed_secrets();
    assert!(revealed.iter().any(|r| r == "abc123"));
    assert!(revealed.iter().any(|r| r == secret_text));
}

#[test]
fn corrupt_payloads_are_clear_errors() {
    let text = read("vars-1.1.yml");
    let ring = both();
    let err = |t: &str| vault::decrypt(t, &ring).unwrap_err().to_string();
    // Truncated anywhere in the body.
    for cut in [26, 27, 100, 180, text.len() / 2, text.len() - 3] {
        let e = err(&text[..cut]);
        assert!(
            e.starts_with("malformed vault data: ") || e.starts_with("vault decryption failed"),
            "cut {cut}: {e}"
        );
    }
    // A changed ciphertext digit fails authentication.
    let mut bytes = text.clone().into_bytes();
    let i = text.len() - 3;
    bytes[i] = if bytes[i] == b'3' { b'4' } else { b'3' };
    let e = err(&String::from_utf8(bytes).unwrap());
    assert!(
        e.starts_with("vault decryption failed") || e.starts_with("malformed"),
        "{e}"
    );
    assert_eq!(
        err("$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
        "malformed vault data: the body is not hex"
    );
    assert_eq!(
        err("$ANSIBLE_VAULT;1.0;AES256\n00\n"),
        "malformed vault data: unsupported format version (expected 1.1 or 1.2)"
    );
    assert_eq!(
        err("$ANSIBLE_VAULT;1.1;CHACHA\n00\n"),
        "malformed vault data: unsupported cipher (only AES256 is known)"
    );

    let _g = keyring(both());
    let e = fmc_yaml::parse("x: $ANSIBLE_VAULT;1.1;AES256 6162\n", "f.yml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("f.yml: malformed vault data: "), "{e}");
}
