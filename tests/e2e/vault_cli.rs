//! `fmc-vault` makes files that `fmc-run` (and ansible-vault's format) reads; wrong
//! passwords fail without revealing anything.

use std::process::{Command, Stdio};

use std::io::Write;

fn vault(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fmc-vault"))
        .args(args)
        .current_dir(dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fmc-vault");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fmc_vault_files_and_strings_are_read_by_fmc_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(d.join("pw"), "correct horse\n").expect("pw");
    std::fs::write(d.join("wrong"), "battery staple\n").expect("wrong");
    std::fs::write(d.join("secrets.yml"), "db_password: s3cr3t-db\n").expect("secrets");
    let (code, _, err) = vault(
        d,
        &["encrypt", "secrets.yml", "--vault-password-file", "pw"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let enc = std::fs::read_to_string(d.join("secrets.yml")).expect("read");
    assert!(enc.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{enc}");
    assert!(!enc.contains("s3cr3t"));
    // encrypting twice is refused, the file stays as it is
    let (code, _, err) = vault(
        d,
        &["encrypt", "secrets.yml", "--vault-password-file", "pw"],
        "",
    );
    assert_eq!(code, 4);
    assert!(err.contains("already vault-encrypted"), "{err}");
    // wrong password: exit 4, no plaintext anywhere
    let (code, out, err) = vault(
        d,
        &["view", "secrets.yml", "--vault-password-file", "wrong"],
        "",
    );
    assert_eq!(code, 4);
    assert!(err.contains("vault decryption failed"), "{err}");
    assert!(!out.contains("s3cr3t") && !err.contains("s3cr3t"));
    // a 1.2 inline value from stdin, labelled
    let (code, inline, err) = vault(
        d,
        &[
            "encrypt-string",
            "--name",
            "api_token",
            "--vault-id",
            "prod@pw",
        ],
        "tok-123-secret\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        inline.starts_with("api_token: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{inline}"
    );

    let out_file = d.join("out.txt");
    std::fs::write(
        d.join("play.yml"),
        format!(
            "- hosts: localhost\n  gather_facts: false\n  vars_files: [secrets.yml]\n  vars:\n    {}\n  tasks:\n    - copy:\n        dest: {}\n        content: \"{{{{ db_password }}}} {{{{ api_token }}}}\"\n    - debug:\n        msg: \"{{{{ db_password }}}}\"\n",
            inline.trim_end().replace('\n', "\n    "),
            out_file.display()
        ),
    )
    .expect("play");
    let run = Command::new(env!("CARGO_BIN_EXE_fmc-run"))
        .args(["play.yml", "--vault-id", "prod@pw", "--output", "json"])
        .current_dir(d)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .output()
        .expect("fmc-run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).expect("out"),
        "s3cr3t-db tok-123-secret"
    );
    assert!(
        !stdout.contains("s3cr3t-db") && !stdout.contains("tok-123"),
        "{stdout}"
    );

    // decrypt in place restores the plaintext
    let (code, _, err) = vault(
        d,
        &["decrypt", "secrets.yml", "--vault-password-file", "pw"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("secrets.yml")).expect("read"),
        "db_password: s3cr3t-db\n"
    );
}
