//! ansible-vault: formats 1.1 (`$ANSIBLE_VAULT;1.1;AES256`) and 1.2 (`…;AES256;<label>`).
//!
//! The envelope is a header line and then hex text, wrapped at 80 columns, whose bytes
//! are three hex lines: salt, HMAC and ciphertext. PBKDF2-HMAC-SHA256 (10 000 rounds)
//! turns the password and salt into an AES-256 key, an HMAC-SHA256 key and a CTR IV;
//! the plaintext is PKCS#7-padded, AES-256-CTR encrypted, and the HMAC covers the
//! ciphertext.
//!
//! [`crate::parse`], [`crate::load`] and their spanned variants decrypt on their own:
//! a whole file that starts with `$ANSIBLE_VAULT;`, and every string value that does
//! (ansible's `!vault |` values; serde-saphyr drops unknown tags such as `!vault` when
//! building untyped values, so the text is what identifies them). Passwords come from
//! the process-wide keyring ([`set_vault_secrets`]); every plaintext is remembered for
//! redaction ([`revealed_secrets`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use fmc_core::{Secret, Span, Value};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Node, NodeKind, YamlError};

/// How every vault envelope starts.
pub const VAULT_HEADER: &str = "$ANSIBLE_VAULT;";

const ROUNDS: u32 = 10_000;
const SALT_LEN: usize = 32;
const BLOCK: usize = 16;
const WRAP: usize = 80;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// One vault password, optionally bound to a vault id (`--vault-id label@file`).
/// `Debug` shows the label only.
#[derive(Clone, Debug)]
pub struct VaultSecret {
    /// The vault id; `None` for a plain `--vault-password-file`.
    pub label: Option<String>,
    pub password: Secret<String>,
}

/// Why vault data could not be decrypted. Messages never contain plaintext or passwords.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Encrypted data, but the keyring is empty.
    #[error(
        "vault-encrypted content but no vault password was given\nhint: --vault-password-file FILE or --ask-vault-pass"
    )]
    NoPassword,
    /// No password authenticated the data. `unmatched_label` is the 1.2 vault id when
    /// no password carries that id.
    #[error("vault decryption failed (wrong password?){}", unmatched_hint(.unmatched_label))]
    WrongPassword { unmatched_label: Option<String> },
    /// The envelope is not well-formed vault data.
    #[error("malformed vault data: {0}")]
    Malformed(&'static str),
}

fn unmatched_hint(label: &Option<String>) -> String {
    match label {
        Some(l) => format!(
            "\nhint: it was encrypted for vault id {l:?}, and no password was given for that id"
        ),
        None => String::new(),
    }
}

static KEYRING: RwLock<Vec<VaultSecret>> = RwLock::new(Vec::new());
static REVEALED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sets the passwords every later parse decrypts with, replacing earlier ones. The CLI
/// calls this once, before loading anything.
pub fn set_vault_secrets(secrets: Vec<VaultSecret>) {
    *KEYRING.write().unwrap_or_else(PoisonError::into_inner) = secrets;
}

/// Every plaintext decrypted so far by this process (inline values, and each string
/// value of decrypted whole files, recursively), without duplicates, so output can be
/// redacted. Empty strings are left out.
pub fn revealed_secrets() -> Vec<String> {
    REVEALED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn reveal(s: &str) {
    if s.is_empty() {
        return;
    }
    let mut all = REVEALED.lock().unwrap_or_else(PoisonError::into_inner);
    if !all.iter().any(|r| r == s) {
        all.push(s.to_string());
    }
}

/// Remembers every string value in `v` (a decrypted file's content).
pub(crate) fn reveal_strings(v: &Value) {
    match v {
        Value::String(s) => reveal(s),
        Value::Array(items) => items.iter().for_each(reveal_strings),
        Value::Object(map) => map.values().for_each(reveal_strings),
        _ => {}
    }
}

/// Whether `text` is a vault envelope.
pub fn is_vault(text: &str) -> bool {
    text.starts_with(VAULT_HEADER)
}

/// Encrypts `plaintext` into a vault envelope: format 1.1, or 1.2 with `label` as the
/// vault id (characters a header cannot hold, `;` and whitespace, are dropped from it).
/// The text ends with a newline, as ansible-vault's files do.
pub fn encrypt(plaintext: &str, password: &str, label: Option<&str>) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let keys = derive(password, &salt);

    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
    data.extend_from_slice(plaintext.as_bytes());
    data.resize(plaintext.len() + pad, pad as u8);
    keys.cipher().apply_keystream(&mut data);
    let mut mac = keys.mac();
    mac.update(&data);
    let tag = mac.finalize().into_bytes();

    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(&data[..])
    );
    let outer = hex::encode(inner);
    let mut out = match label {
        Some(l) => {
            let l: String = l
                .chars()
                .filter(|c| *c != ';' && !c.is_whitespace())
                .collect();
            format!("{VAULT_HEADER}1.2;AES256;{l}\n")
        }
        None => format!("{VAULT_HEADER}1.1;AES256\n"),
    };
    // `outer` is ASCII hex, so every 80-byte chunk is valid UTF-8.
    for line in outer.as_bytes().chunks(WRAP) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out
}

/// Decrypts a vault envelope with `secrets`. A 1.2 envelope tries the secrets with its
/// vault id first, then the others; 1.1 tries them in order. Nothing is remembered for
/// [`revealed_secrets`].
pub fn decrypt(envelope: &str, secrets: &[VaultSecret]) -> Result<String, VaultError> {
    let parsed = Envelope::parse(envelope)?;
    if secrets.is_empty() {
        return Err(VaultError::NoPassword);
    }
    let label = parsed.label.as_deref();
    let first = secrets
        .iter()
        .filter(|s| label.is_some() && s.label.as_deref() == label);
    let rest = secrets
        .iter()
        .filter(|s| label.is_none() || s.label.as_deref() != label);
    for secret in first.chain(rest) {
        if let Some(plain) = parsed.open(secret.password.expose())? {
            return Ok(plain);
        }
    }
    let unmatched_label = parsed
        .label
        .filter(|l| !secrets.iter().any(|s| s.label.as_deref() == Some(l)));
    Err(VaultError::WrongPassword { unmatched_label })
}

/// Decrypts a whole vault-encrypted file with the keyring and remembers each string
/// value of its content (read as YAML) for [`revealed_secrets`]. Text that is not a
/// vault envelope is returned as it is. For callers that parse the text themselves,
/// such as INI inventories.
pub fn decrypt_file(text: &str, file: &str) -> Result<String, YamlError> {
    if !is_vault(text) {
        return Ok(text.to_string());
    }
    let plain = open_file(text, file)?;
    match serde_saphyr::from_str_with_options::<Value>(&plain, crate::options()) {
        Ok(v) => reveal_strings(&v),
        // Not YAML (an INI inventory): the whole text is all we know to be secret.
        Err(_) => reveal(plain.trim()),
    }
    Ok(plain)
}

/// Decrypts a whole file with the keyring; the caller reveals its parsed content.
pub(crate) fn open_file(text: &str, path: &str) -> Result<String, YamlError> {
    let keyring = KEYRING.read().unwrap_or_else(PoisonError::into_inner);
    decrypt(text, &keyring).map_err(|source| YamlError::Vault {
        path: path.to_string(),
        source,
    })
}

/// Decrypts inline values: the same envelope (an alias repeats it) is opened once.
struct Inline<'a> {
    file: &'a str,
    opened: HashMap<String, String>,
}

impl Inline<'_> {
    fn open(&mut self, envelope: &str, path: impl FnOnce() -> String) -> Result<String, YamlError> {
        if let Some(plain) = self.opened.get(envelope) {
            return Ok(plain.clone());
        }
        let keyring = KEYRING.read().unwrap_or_else(PoisonError::into_inner);
        let plain = decrypt(envelope, &keyring).map_err(|source| YamlError::Vault {
            path: path(),
            source,
        })?;
        reveal(&plain);
        self.opened.insert(envelope.to_string(), plain.clone());
        Ok(plain)
    }

    fn value(&mut self, v: &mut Value) -> Result<(), YamlError> {
        match v {
            Value::String(s) if is_vault(s) => {
                let file = self.file;
                *s = self.open(s, || file.to_string())?;
            }
            Value::Array(items) => {
                for item in items {
                    self.value(item)?;
                }
            }
            Value::Object(map) => {
                for item in map.values_mut() {
                    self.value(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn node(&mut self, n: &mut Node) -> Result<(), YamlError> {
        let (file, line, col) = (self.file, n.line, n.col);
        match &mut n.kind {
            NodeKind::Scalar(Value::String(s)) if is_vault(s) => {
                *s = self.open(s, || Span::new(file, line, col).to_string())?;
            }
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => {
                for item in items {
                    self.node(item)?;
                }
            }
            NodeKind::Map(entries) => {
                for (_, item) in entries {
                    self.node(item)?;
                }
            }
        }
        Ok(())
    }
}

/// Replaces every vault-encrypted string in `v` with its plaintext.
pub(crate) fn open_inline(v: &mut Value, text: &str, file: &str) -> Result<(), YamlError> {
    if !text.contains(VAULT_HEADER) {
        return Ok(());
    }
    Inline {
        file,
        opened: HashMap::new(),
    }
    .value(v)
}

/// Replaces every vault-encrypted string scalar under `n` with its plaintext; errors
/// name the scalar's `file:line:col`.
pub(crate) fn open_inline_node(n: &mut Node, text: &str, file: &str) -> Result<(), YamlError> {
    if !text.contains(VAULT_HEADER) {
        return Ok(());
    }
    Inline {
        file,
        opened: HashMap::new(),
    }
    .node(n)
}

/// A parsed envelope: vault id and the three binary parts.
struct Envelope {
    label: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Envelope {
    fn parse(text: &str) -> Result<Envelope, VaultError> {
        use VaultError::Malformed;
        let (header, body) = text.split_once('\n').unwrap_or((text, ""));
        let mut fields = header.trim_end().split(';');
        if fields.next() != Some("$ANSIBLE_VAULT") {
            return Err(Malformed("no $ANSIBLE_VAULT header"));
        }
        let version = fields.next();
        if fields.next() != Some("AES256") {
            return Err(Malformed("unsupported cipher (only AES256 is known)"));
        }
        let label = match version {
            Some("1.1") => None,
            Some("1.2") => fields.next().filter(|l| !l.is_empty()).map(str::to_string),
            _ => {
                return Err(Malformed(
                    "unsupported format version (expected 1.1 or 1.2)",
                ));
            }
        };
        let hex_text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let inner = hex::decode(hex_text).map_err(|_| Malformed("the body is not hex"))?;
        let mut parts = inner.split(|b| *b == b'\n');
        let mut part = |what| {
            parts
                .next()
                .and_then(|p| hex::decode(p).ok())
                .filter(|p| !p.is_empty())
                .ok_or(Malformed(what))
        };
        let salt = part("missing or bad salt")?;
        let hmac = part("missing or bad HMAC")?;
        let ciphertext = part("missing or bad ciphertext")?;
        if parts.next().is_some() {
            return Err(Malformed("extra data after the ciphertext"));
        }
        if hmac.len() != 32 {
            return Err(Malformed("the HMAC is not 32 bytes"));
        }
        if ciphertext.len() % BLOCK != 0 {
            return Err(Malformed("the ciphertext is not whole AES blocks"));
        }
        Ok(Envelope {
            label,
            salt,
            hmac,
            ciphertext,
        })
    }

    /// The plaintext, or `None` when `password` does not authenticate the data.
    fn open(&self, password: &str) -> Result<Option<String>, VaultError> {
        let keys = derive(password, &self.salt);
        let mut mac = keys.mac();
        mac.update(&self.ciphertext);
        if mac.verify_slice(&self.hmac).is_err() {
            return Ok(None);
        }
        let mut data = Zeroizing::new(self.ciphertext.clone());
        keys.cipher().apply_keystream(&mut data);
        let pad = usize::from(data.last().copied().unwrap_or(0));
        let Some(body_len) = data.len().checked_sub(pad) else {
            return Err(VaultError::Malformed("bad padding"));
        };
        if !(1..=BLOCK).contains(&pad) || data[body_len..].iter().any(|b| usize::from(*b) != pad) {
            return Err(VaultError::Malformed("bad padding"));
        }
        match std::str::from_utf8(&data[..body_len]) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(VaultError::Malformed("the plaintext is not UTF-8 text")),
        }
    }
}

/// PBKDF2 output: AES key, HMAC key, CTR IV.
struct Keys(Zeroizing<[u8; 80]>);

fn derive(password: &str, salt: &[u8]) -> Keys {
    let mut out = Zeroizing::new([0u8; 80]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, ROUNDS, &mut out[..]);
    Keys(out)
}

impl Keys {
    fn cipher(&self) -> Aes256Ctr {
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&self.0[..32]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[64..]);
        Aes256Ctr::new(&(*key).into(), &iv.into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC zero-pads keys shorter than its 64-byte block (RFC 2104), so padding the
        // 32-byte key here gives the same MAC through the infallible constructor.
        let mut key = Zeroizing::new([0u8; 64]);
        key[..32].copy_from_slice(&self.0[32..64]);
        <HmacSha256 as KeyInit>::new(&(*key).into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret(label: Option<&str>, pw: &str) -> VaultSecret {
        VaultSecret {
            label: label.map(str::to_string),
            password: Secret::new(pw.to_string()),
        }
    }

    #[test]
    fn round_trip_all_padding_lengths() {
        for n in 0..=33 {
            let plain: String = "x".repeat(n);
            let env = encrypt(&plain, "pw", None);
            assert!(env.lines().skip(1).all(|l| l.len() <= WRAP));
            assert_eq!(decrypt(&env, &[secret(None, "pw")]).unwrap(), plain);
        }
    }

    #[test]
    fn labels_are_tried_first_then_the_rest() {
        let env = encrypt("s3cret", "prod-pw", Some("prod"));
        assert!(env.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        let ring = [secret(Some("dev"), "dev-pw"), secret(None, "prod-pw")];
        assert_eq!(decrypt(&env, &ring).unwrap(), "s3cret");
        let e = decrypt(&env, &ring[..1]).unwrap_err().to_string();
        assert!(
            e.starts_with("vault decryption failed (wrong password?)\nhint:"),
            "{e}"
        );
        assert!(e.contains("\"prod\""), "{e}");
        assert!(!e.contains("dev-pw") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = format!("{:?}", secret(Some("prod"), "hunter22"));
        assert!(s.contains("prod") && !s.contains("hunter22"), "{s}");
    }
}
