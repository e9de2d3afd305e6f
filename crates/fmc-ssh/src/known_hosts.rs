//! known_hosts verification written on ssh-key's line parser: plain and `|1|`
//! hashed hosts, `[host]:port`, `*`/`?` patterns with `!` negation, `@revoked`
//! (rejects), `@cert-authority` (not validated: never matches a plain key).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use russh::keys::ssh_encoding::Encode;
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{Algorithm, HashAlg, PublicKey};

/// Where a known_hosts entry was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub key: PublicKey,
}

impl Location {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }
}

/// What known_hosts says about a host and the key it presented.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// An entry for this host holds exactly this key.
    Trusted,
    /// The key is marked `@revoked`.
    Revoked(Location),
    /// An entry for this host holds another key of the same type.
    Mismatch(Location),
    /// No entry holds this key type for the host; `other` is an entry with a key
    /// of another type, if any.
    Unknown { other: Option<Location> },
}

/// The known_hosts files of a run: one writable user file and read-only system
/// files. Appends (accept-new) are serialised.
#[derive(Debug)]
pub(crate) struct KnownHosts {
    user_file: PathBuf,
    system_files: Vec<PathBuf>,
    append: Mutex<()>,
}

/// `SHA256:...`, as OpenSSH prints it.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The name known_hosts stores for a host: `host` on port 22, `[host]:port` elsewhere.
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    pub fn new(user_file: PathBuf, system_files: Vec<PathBuf>) -> Self {
        KnownHosts {
            user_file,
            system_files,
            append: Mutex::new(()),
        }
    }

    pub fn user_file(&self) -> &Path {
        &self.user_file
    }

    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.user_file).chain(self.system_files.iter())
    }

    /// Every usable entry of every file, with its location. Unreadable files are
    /// skipped (a missing known_hosts is normal); unparsable lines are skipped
    /// with a debug log, as OpenSSH does.
    fn entries(&self) -> Vec<(Entry, PathBuf, usize)> {
        let mut out = Vec::new();
        for file in self.files() {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for (index, raw) in text.lines().enumerate() {
                let line = raw.split('#').next().unwrap_or_default();
                // ssh-key splits fields on single spaces; normalise tabs and runs.
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                if line.is_empty() {
                    continue;
                }
                match line.parse::<Entry>() {
                    Ok(entry) => out.push((entry, file.clone(), index + 1)),
                    Err(e) => tracing::debug!(
                        "{}:{}: skipping unparsable known_hosts line: {e}",
                        file.display(),
                        index + 1
                    ),
                }
            }
        }
        out
    }

    /// Key algorithms known for the host, most useful to order the host key
    /// algorithms offered to the server.
    pub fn known_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let name = lookup_name(host, port);
        let mut algorithms = Vec::new();
        for (entry, _, _) in self.entries() {
            if entry.marker().is_none() && host_matches(entry.host_patterns(), &name) {
                let algorithm = entry.public_key().algorithm();
                if !algorithms.contains(&algorithm) {
                    algorithms.push(algorithm);
                }
            }
        }
        algorithms
    }

    /// Looks up the host and the key it presented.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = lookup_name(host, port);
        let mut trusted = false;
        let mut mismatch = None;
        let mut other = None;
        for (entry, file, line) in self.entries() {
            if !host_matches(entry.host_patterns(), &name) {
                continue;
            }
            let known = entry.public_key();
            let location = || Location {
                file: file.clone(),
                line,
                key: known.clone(),
            };
            match entry.marker() {
                Some(Marker::Revoked) if known.key_data() == key.key_data() => {
                    return Verdict::Revoked(location());
                }
                Some(_) => {}
                None if known.key_data() == key.key_data() => trusted = true,
                None if known.algorithm() == key.algorithm() => {
                    mismatch.get_or_insert_with(location);
                }
                None => {
                    other.get_or_insert_with(location);
                }
            }
        }
        match (trusted, mismatch) {
            (true, _) => Verdict::Trusted,
            (false, Some(location)) => Verdict::Mismatch(location),
            (false, None) => Verdict::Unknown { other },
        }
    }

    /// Appends `name key` to the user file (creating it and its directory),
    /// unless an entry for exactly this host and key appeared meanwhile.
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
        let _guard = self
            .append
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.check(host, port, key) == Verdict::Trusted {
            return Ok(());
        }
        if let Some(dir) = self.user_file.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let existing = std::fs::read(&self.user_file).unwrap_or_default();
        let mut line = String::new();
        if existing.last().is_some_and(|b| *b != b'\n') {
            line.push('\n');
        }
        let encoded = key
            .key_data()
            .encode_vec()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        line.push_str(&format!(
            "{} {} {}\n",
            lookup_name(host, port),
            key.algorithm().as_str(),
            BASE64.encode(encoded)
        ));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.user_file)?;
        file.write_all(line.as_bytes())
    }
}

/// OpenSSH's pattern-list semantics: a matching negated pattern rejects the
/// entry, otherwise any matching positive pattern accepts it.
fn host_matches(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let mut matched = false;
            for pattern in list {
                let (negated, pattern) = match pattern.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, pattern.as_str()),
                };
                if glob(&pattern.to_ascii_lowercase(), name) {
                    if negated {
                        return false;
                    }
                    matched = true;
                }
            }
            matched
        }
    }
}

/// `*` matches any run of characters, `?` exactly one.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIETzLBjd0BhPNGk6yx42t4pMA5FhSLlR2fCZhkp/jH7a";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICbXRidlsUrq+wf7gGPi42VBVIwJobDs1DlwgRY5aIyj";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn known(text: &str) -> (tempfile::TempDir, KnownHosts) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, text).unwrap();
        (dir, KnownHosts::new(file, vec![]))
    }

    /// `|1|salt|hash` for a name, computed independently of `host_matches`.
    fn hashed(name: &str) -> String {
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes();
        format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(hash))
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("*.lab", "a.lab"));
        assert!(glob("10.17.?.1", "10.17.4.1"));
        assert!(!glob("10.17.?.1", "10.17.44.1"));
        assert!(glob("[*]:2222", "[x]:2222"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn plain_port_and_negation() {
        let (_d, kh) = known(&format!(
            "# comment\n*.lab,!bad.lab {KEY_A}\n[10.0.0.1]:2222\t{KEY_A} comment\n"
        ));
        assert_eq!(kh.check("web.lab", 22, &key(KEY_A)), Verdict::Trusted);
        assert_eq!(
            kh.check("bad.lab", 22, &key(KEY_A)),
            Verdict::Unknown { other: None }
        );
        assert_eq!(kh.check("10.0.0.1", 2222, &key(KEY_A)), Verdict::Trusted);
        assert_eq!(
            kh.check("10.0.0.1", 22, &key(KEY_A)),
            Verdict::Unknown { other: None }
        );
    }

    #[test]
    fn hashed_entry_matches_and_mismatch_names_the_line() {
        let (_d, kh) = known(&format!(
            "garbage line\n{} {KEY_A}\n",
            hashed("[127.0.0.1]:2200")
        ));
        assert_eq!(kh.check("127.0.0.1", 2200, &key(KEY_A)), Verdict::Trusted);
        match kh.check("127.0.0.1", 2200, &key(KEY_B)) {
            Verdict::Mismatch(at) => {
                assert_eq!(at.line, 2);
                assert_eq!(at.fingerprint(), fingerprint(&key(KEY_A)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn revoked_wins_and_cert_authority_is_ignored() {
        let (_d, kh) = known(&format!(
            "h {KEY_A}\n@revoked * {KEY_A}\n@cert-authority * {KEY_B}\n"
        ));
        assert!(matches!(
            kh.check("h", 22, &key(KEY_A)),
            Verdict::Revoked(_)
        ));
        assert_eq!(
            kh.check("other", 22, &key(KEY_B)),
            Verdict::Unknown { other: None }
        );
    }

    #[test]
    fn learn_appends_once_and_then_trusts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/known_hosts");
        let kh = KnownHosts::new(file.clone(), vec![]);
        kh.learn("127.0.0.1", 2201, &key(KEY_A)).unwrap();
        kh.learn("127.0.0.1", 2201, &key(KEY_A)).unwrap();
        kh.learn("h", 22, &key(KEY_B)).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("[127.0.0.1]:2201 {KEY_A}\nh {KEY_B}\n"));
        assert_eq!(kh.check("127.0.0.1", 2201, &key(KEY_A)), Verdict::Trusted);
    }
}
