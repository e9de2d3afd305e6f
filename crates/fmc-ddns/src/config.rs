//! The configuration file (YAML) and the token file.

use std::collections::HashSet;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fmc_core::Secret;
use serde::Deserialize;

/// Cloudflare's API v4.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// 1.1.1.1's trace page: one `ip=` line with the caller's address.
pub const DEFAULT_IPV4_URL: &str = "https://1.1.1.1/cdn-cgi/trace";
/// TTL of a DNS-only record when the configuration names none.
pub const DEFAULT_TTL: u32 = 300;

/// What cannot be started: a bad configuration or token file. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(#[from] fmc_yaml::YamlError),
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
    #[error("{0}")]
    Token(String),
}

/// The record types fmc-ddns manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum RecordType {
    A,
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
        })
    }
}

/// One record kept on the public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Fully qualified, lower case, no trailing dot.
    pub name: String,
    pub kind: RecordType,
    /// Through Cloudflare's proxy (orange cloud), or DNS only.
    pub proxied: bool,
    /// Seconds; 1 means automatic (always so for proxied records).
    pub ttl: u32,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub zone: String,
    pub records: Vec<Record>,
    pub token_file: Option<PathBuf>,
    /// Without a trailing slash.
    pub api_url: String,
    pub ipv4_url: String,
    pub ipv6_url: Option<String>,
    /// Limit of each HTTP request, connection included.
    pub timeout_secs: u64,
    /// How many times a rate-limited (429) call is retried.
    pub max_retries: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    zone: String,
    records: Vec<RawRecord>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    ipv4_url: Option<String>,
    #[serde(default)]
    ipv6_url: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_retries: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    name: String,
    #[serde(rename = "type")]
    kind: RecordType,
    #[serde(default)]
    proxied: bool,
    #[serde(default)]
    ttl: Option<u32>,
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.strip_suffix(zone).is_some_and(|p| p.ends_with('.'))
}

fn url(field: &str, v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(v.to_string())
    } else {
        Err(format!("{field}: '{v}' is not an http(s) URL"))
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let invalid = |msg: String| ConfigError::Invalid {
            path: file.to_string(),
            msg,
        };
        let value = fmc_yaml::parse(text, file)?;
        let raw: RawConfig = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        let zone = normalize(&raw.zone);
        if zone.is_empty() || !zone.contains('.') {
            return Err(invalid(format!(
                "zone: '{}' is not a domain name",
                raw.zone
            )));
        }
        if raw.records.is_empty() {
            return Err(invalid("records: empty; name at least one record".into()));
        }
        let mut seen = HashSet::new();
        let mut records = Vec::new();
        for (i, r) in raw.records.into_iter().enumerate() {
            let name = normalize(&r.name);
            let at = format!("records[{i}] ({name} {})", r.kind);
            if !in_zone(&name, &zone) {
                return Err(invalid(format!("{at}: not in zone {zone}")));
            }
            if !seen.insert((name.clone(), r.kind)) {
                return Err(invalid(format!("{at}: listed twice")));
            }
            let ttl = match (r.proxied, r.ttl) {
                (true, None | Some(1)) => 1,
                (true, Some(t)) => {
                    return Err(invalid(format!(
                        "{at}: ttl {t} on a proxied record; cloudflare always uses 1 (automatic) for those\nhint: remove ttl, or set proxied: false"
                    )));
                }
                (false, None) => DEFAULT_TTL,
                (false, Some(t)) if t == 1 || (30..=86400).contains(&t) => t,
                (false, Some(t)) => {
                    return Err(invalid(format!(
                        "{at}: ttl {t} is out of range (1 for automatic, or 30..86400 seconds)"
                    )));
                }
            };
            records.push(Record {
                name,
                kind: r.kind,
                proxied: r.proxied,
                ttl,
            });
        }
        let api_url =
            url("api_url", raw.api_url.as_deref().unwrap_or(DEFAULT_API_URL)).map_err(invalid)?;
        let ipv4_url = url(
            "ipv4_url",
            raw.ipv4_url.as_deref().unwrap_or(DEFAULT_IPV4_URL),
        )
        .map_err(invalid)?;
        let ipv6_url = match raw.ipv6_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(url("ipv6_url", u).map_err(invalid)?),
        };
        if ipv6_url.is_none()
            && let Some(r) = records.iter().find(|r| r.kind == RecordType::AAAA)
        {
            return Err(invalid(format!(
                "{} AAAA needs ipv6_url, the address that reports the public IPv6 address",
                r.name
            )));
        }
        let timeout_secs = raw.timeout_secs.unwrap_or(10);
        if !(1..=300).contains(&timeout_secs) {
            return Err(invalid(format!(
                "timeout_secs: {timeout_secs} is out of range (1..300)"
            )));
        }
        let max_retries = raw.max_retries.unwrap_or(3);
        if max_retries > 10 {
            return Err(invalid(format!(
                "max_retries: {max_retries} is out of range (0..10)"
            )));
        }
        Ok(Config {
            zone,
            records,
            token_file: raw.token_file,
            api_url,
            ipv4_url,
            ipv6_url,
            timeout_secs,
            max_retries,
        })
    }
}

/// The effective user id of this process (from `/proc/self/status`).
fn effective_uid() -> Result<u32, ConfigError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| ConfigError::Token(format!("cannot read /proc/self/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| ConfigError::Token("no effective uid in /proc/self/status".into()))
}

/// Reads the API token from `path`: the file must be a regular file readable by its
/// owner only (0600 or 0400), owned by root or by the user running fmc-ddns, and
/// hold one token. The token never appears in an error.
pub fn read_token(path: &Path) -> Result<Secret<String>, ConfigError> {
    let shown = path.display();
    let err = ConfigError::Token;
    let meta = std::fs::metadata(path).map_err(|e| err(format!("token file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(err(format!("token file {shown} is not a regular file")));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "token file {shown} has mode {mode:04o}: group and others must have no access\nhint: chmod 600 {shown}"
        )));
    }
    let me = effective_uid()?;
    if meta.uid() != 0 && meta.uid() != me {
        return Err(err(format!(
            "token file {shown} is owned by uid {}, not by root or by the user running fmc-ddns (uid {me})",
            meta.uid()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("cannot read token file {shown}: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err(format!("token file {shown} is empty")));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(format!(
            "token file {shown} holds characters a token cannot have (spaces, line breaks or non-ASCII)\nhint: the file holds the token alone"
        )));
    }
    Ok(Secret::new(token.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "ddns.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_normalization() {
        let c = parse(
            "zone: Example.ORG.\nrecords:\n  - {name: VPN.example.org., type: A}\n  - {name: example.org, type: A, proxied: yes}\n",
        )
        .unwrap();
        assert_eq!(c.zone, "example.org");
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.ipv4_url, DEFAULT_IPV4_URL);
        assert_eq!(c.records[0].name, "vpn.example.org");
        assert_eq!((c.records[0].ttl, c.records[0].proxied), (300, false));
        assert_eq!((c.records[1].ttl, c.records[1].proxied), (1, true));
        assert_eq!((c.timeout_secs, c.max_retries), (10, 3));
    }

    #[test]
    fn rejects_what_cloudflare_would_not_keep() {
        let cases = [
            (
                "zone: example.org\nrecords: [{name: a.example.com, type: A}]\n",
                "not in zone",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: A, proxied: true, ttl: 300}]\n",
                "proxied record",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: A, ttl: 5}]\n",
                "out of range",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: AAAA}]\n",
                "needs ipv6_url",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: MX}]\n",
                "unknown variant",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: A, tll: 60}]\n",
                "unknown field `tll`",
            ),
            (
                "zone: example.org\nrecords: [{name: a.example.org, type: A}, {name: A.example.org, type: A}]\n",
                "listed twice",
            ),
            ("zone: example.org\nrecords: []\n", "empty"),
            (
                "zone: example.org\napi_url: ftp://x\nrecords: [{name: example.org, type: A}]\n",
                "not an http(s) URL",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("ddns.yaml"), "{e}");
        }
    }

    #[test]
    fn token_file_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("token");
        std::fs::write(&p, "abc_DEF-123\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_token(&p).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains("abc_DEF"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token(&p).unwrap().expose(), "abc_DEF-123");
        std::fs::write(&p, "two words\n").unwrap();
        let e = read_token(&p).unwrap_err().to_string();
        assert!(e.contains("cannot have") && !e.contains("two words"), "{e}");
    }
}
