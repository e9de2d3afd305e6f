//! `fmc-vault`: create and read ansible-vault files (format 1.1, or 1.2 with a vault id)
//! without Python, for the secrets an inventory keeps encrypted (VRRP password, database
//! passwords, API tokens). Files are rewritten atomically and keep their permissions;
//! plaintext goes only to the file or stdout the user asked for.

mod out;
mod vault_pw;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fmc_core::Secret;

/// Encrypt, decrypt and view ansible-vault files (format 1.1/1.2, AES256).
#[derive(Parser, Debug)]
#[command(name = "fmc-vault", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encrypt files in place (or to --output).
    Encrypt {
        files: Vec<PathBuf>,
        #[command(flatten)]
        pw: Passwords,
        /// Write here instead of in place (`-` for stdout; one input file only).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Decrypt files in place (or to --output).
    Decrypt {
        files: Vec<PathBuf>,
        #[command(flatten)]
        pw: Passwords,
        /// Write here instead of in place (`-` for stdout; one input file only).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print the plaintext of vault files.
    View {
        files: Vec<PathBuf>,
        #[command(flatten)]
        pw: Passwords,
    },
    /// Print a `NAME: !vault |` value to paste into a YAML vars file. The secret comes
    /// from stdin (never from the command line, where `ps` would show it).
    EncryptString {
        /// The variable name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        pw: Passwords,
    },
}

#[derive(Args, Debug)]
struct Passwords {
    /// File holding a vault password; `LABEL@FILE` for a vault id (repeatable).
    #[arg(long = "vault-password-file", value_name = "[LABEL@]FILE")]
    vault_password_file: Vec<String>,
    /// A vault id: `LABEL@FILE` or `LABEL@prompt` (repeatable).
    #[arg(long = "vault-id", value_name = "LABEL@SOURCE")]
    vault_id: Vec<String>,
    /// Ask for the vault password.
    #[arg(short = 'J', long = "ask-vault-pass")]
    ask_vault_pass: bool,
    /// Encrypt with the password of this vault id (format 1.2 header); default: the
    /// first password given, format 1.1 unless it carries a label.
    #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
    encrypt_vault_id: Option<String>,
}

impl Passwords {
    fn load(&self) -> Result<Vec<fmc_yaml::VaultSecret>, String> {
        let mut sources = self.vault_password_file.clone();
        sources.extend(self.vault_id.iter().cloned());
        // with nothing given, ask (as ansible-vault does)
        let ask = self.ask_vault_pass
            || (sources.is_empty() && std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").is_none());
        let secrets = vault_pw::load(&sources, ask)?;
        if secrets.is_empty() {
            return Err(
                "no vault password given\nhint: --vault-password-file FILE or --ask-vault-pass"
                    .into(),
            );
        }
        Ok(secrets)
    }

    /// The password and label new envelopes are encrypted with.
    fn for_encryption(&self) -> Result<(Secret<String>, Option<String>), String> {
        let secrets = self.load()?;
        let chosen = match &self.encrypt_vault_id {
            Some(id) => secrets
                .iter()
                .find(|s| s.label.as_deref() == Some(id.as_str()))
                .ok_or_else(|| {
                    format!("--encrypt-vault-id {id}: no password with that vault id")
                })?,
            None => &secrets[0],
        };
        Ok((chosen.password.clone(), chosen.label.clone()))
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `text` to `dest` atomically (temporary file beside it, then rename), keeping
/// the mode of the file it replaces; new files get 0600. `-` is stdout, where a reader
/// that went away (`fmc-vault view f | head -1`) just ends the output.
fn write(dest: &Path, text: &str) -> Result<(), String> {
    if dest == Path::new("-") {
        out::bytes(text.as_bytes());
        return Ok(());
    }
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(dest)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.fmc-vault.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, dest)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", dest.display())
    })
}

fn one_output(files: &[PathBuf], output: &Option<PathBuf>) -> Result<(), String> {
    if files.is_empty() {
        return Err("no file given".into());
    }
    if output.is_some() && files.len() > 1 {
        return Err("--output takes one input file".into());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Encrypt { files, pw, output } => {
            one_output(&files, &output)?;
            let (password, label) = pw.for_encryption()?;
            for f in &files {
                let text = read(f)?;
                if fmc_yaml::is_vault(&text) {
                    return Err(format!("{}: already vault-encrypted", f.display()));
                }
                let env = fmc_yaml::encrypt(&text, password.expose(), label.as_deref());
                write(output.as_deref().unwrap_or(f), &env)?;
                if output.as_deref() != Some(Path::new("-")) {
                    out::err_line(&format!("encrypted {}", f.display()));
                }
            }
        }
        Command::Decrypt { files, pw, output } => {
            one_output(&files, &output)?;
            let secrets = pw.load()?;
            for f in &files {
                let text = read(f)?;
                if !fmc_yaml::is_vault(&text) {
                    return Err(format!("{}: not vault-encrypted", f.display()));
                }
                let plain = fmc_yaml::decrypt(&text, &secrets)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
                write(output.as_deref().unwrap_or(f), &plain)?;
                if output.as_deref() != Some(Path::new("-")) {
                    out::err_line(&format!("decrypted {}", f.display()));
                }
            }
        }
        Command::View { files, pw } => {
            one_output(&files, &None)?;
            let secrets = pw.load()?;
            for f in &files {
                let plain = fmc_yaml::decrypt(&read(f)?, &secrets)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
                write(Path::new("-"), &plain)?;
            }
        }
        Command::EncryptString { name, pw } => {
            if name.is_empty() || name.contains([':', ' ', '\n']) {
                return Err(format!("--name '{name}' is not a variable name"));
            }
            let (password, label) = pw.for_encryption()?;
            let mut secret = String::new();
            std::io::stdin()
                .read_to_string(&mut secret)
                .map_err(|e| format!("stdin: {e}"))?;
            let secret = Secret::new(secret.trim_end_matches(['\n', '\r']).to_string());
            let env = fmc_yaml::encrypt(secret.expose(), password.expose(), label.as_deref());
            out::line(&format!("{name}: !vault |"));
            for line in env.lines() {
                out::line(&format!("  {line}"));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out::err_line(&format!("error: {e}"));
            // the exit code fmc-run uses for bad input
            ExitCode::from(4)
        }
    }
}
