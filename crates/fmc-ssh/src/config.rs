//! Resolving an [`SshTarget`] into concrete endpoints with `~/.ssh/config`
//! (HostName, User, Port, IdentityFile, ProxyJump; `Host` patterns via ssh2-config).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use fmc_core::TransportError;
use ssh2_config::{HostParams, ParseRule, SshConfig};

use crate::{SshTarget, home_dir};

/// Key files tried when nothing else is configured, if they exist.
const DEFAULT_KEYS: [&str; 3] = [".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"];

/// One SSH server to authenticate to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
}

impl Endpoint {
    /// `user@host:port`
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// The target and the jump hosts to go through, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub target: Endpoint,
    pub jumps: Vec<Endpoint>,
}

/// Reads an ssh_config file; unknown and unsupported options are tolerated.
pub(crate) fn load(path: &Path) -> Result<SshConfig, TransportError> {
    let file = std::fs::File::open(path).map_err(|e| {
        TransportError::Unreachable(format!("cannot read ssh config {}: {e}", path.display()))
    })?;
    let mut config = SshConfig::default();
    if let Some(home) = home_dir() {
        config = config.home_dir(home);
    }
    config
        .parse(
            &mut BufReader::new(file),
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|e| TransportError::Unreachable(format!("{}: {e}", path.display())))
}

/// Options for `name`; when the inventory gave an address too, options for that
/// address fill what the alias's `Host` blocks left unset (OpenSSH matches the
/// name it was given, which for Ansible is `ansible_host`).
fn params(config: Option<&SshConfig>, name: &str, address: Option<&str>) -> Option<HostParams> {
    let config = config?;
    let mut params = config.query(name);
    if let Some(address) = address.filter(|a| *a != name) {
        params.overwrite_if_none(&config.query(address));
    }
    Some(params)
}

/// Resolves the inventory view of a host into the endpoints to connect through.
pub(crate) fn resolve(
    config: Option<&SshConfig>,
    target: &SshTarget,
) -> Result<Route, TransportError> {
    let params = params(config, &target.alias, target.host.as_deref());
    let params = params.as_ref();
    let host = target
        .host
        .clone()
        .or_else(|| {
            params.and_then(|p| {
                p.host_name
                    .as_deref()
                    .map(|h| expand_host(h, &target.alias))
            })
        })
        .unwrap_or_else(|| target.alias.clone());
    let port = target
        .port
        .or_else(|| params.and_then(|p| p.port))
        .unwrap_or(22);
    let user = match target
        .user
        .clone()
        .or_else(|| params.and_then(|p| p.user.clone()))
    {
        Some(user) => user,
        None => local_user(&target.alias)?,
    };
    let mut identity_files = target.identity_files.clone();
    identity_files.extend(
        params
            .and_then(|p| p.identity_file.clone())
            .unwrap_or_default(),
    );
    add_default_keys(&mut identity_files);
    let jump_spec = target.proxy_jump.clone().or_else(|| {
        params
            .and_then(|p| p.proxy_jump.clone())
            .map(|hops| hops.join(","))
    });
    let mut jumps = Vec::new();
    if let Some(spec) = jump_spec.filter(|s| !s.eq_ignore_ascii_case("none")) {
        for hop in spec.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            jumps.push(resolve_jump(config, hop, &target.identity_files)?);
        }
    }
    Ok(Route {
        target: Endpoint {
            host,
            port,
            user,
            identity_files,
        },
        jumps,
    })
}

/// `[ssh://][user@]host[:port]`, with `host` resolved through ssh_config. The
/// hop's own ProxyJump is not followed (the chain is explicit). Besides the hop's
/// own keys, the target's explicit keys are tried, so one key can serve both.
fn resolve_jump(
    config: Option<&SshConfig>,
    spec: &str,
    target_keys: &[PathBuf],
) -> Result<Endpoint, TransportError> {
    let bad = |why: &str| TransportError::Unreachable(format!("invalid ProxyJump '{spec}': {why}"));
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, rest),
    };
    let (name, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (name, after) = inner.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after.strip_prefix(':') {
            Some(port) => (name, Some(port)),
            None if after.is_empty() => (name, None),
            None => return Err(bad("unexpected text after ']'")),
        }
    } else {
        match rest.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (rest, None),
        }
    };
    if name.is_empty() {
        return Err(bad("missing host"));
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| bad("bad port")))
        .transpose()?;
    let params = params(config, name, None);
    let params = params.as_ref();
    let user = match user.or_else(|| params.and_then(|p| p.user.clone())) {
        Some(user) => user,
        None => local_user(name)?,
    };
    let mut identity_files = params
        .and_then(|p| p.identity_file.clone())
        .unwrap_or_default();
    identity_files.extend(target_keys.iter().cloned());
    add_default_keys(&mut identity_files);
    Ok(Endpoint {
        host: params
            .and_then(|p| p.host_name.as_deref().map(|h| expand_host(h, name)))
            .unwrap_or_else(|| name.to_string()),
        port: port.or_else(|| params.and_then(|p| p.port)).unwrap_or(22),
        user,
        identity_files,
    })
}

/// ssh_config's `%h` (the name given) and `%%` tokens in `HostName`.
fn expand_host(host_name: &str, name: &str) -> String {
    host_name
        .replace("%%", "\0")
        .replace("%h", name)
        .replace('\0', "%")
}

fn add_default_keys(files: &mut Vec<PathBuf>) {
    if let Some(home) = home_dir() {
        for key in DEFAULT_KEYS {
            let path = home.join(key);
            if path.exists() {
                files.push(path);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
}

/// The controller's user name: `$USER`, `$LOGNAME`, else this process's uid
/// looked up in /etc/passwd.
fn local_user(alias: &str) -> Result<String, TransportError> {
    for var in ["USER", "LOGNAME"] {
        if let Ok(user) = std::env::var(var)
            && !user.is_empty()
        {
            return Ok(user);
        }
    }
    let from_passwd = || -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            (fields.nth(1)? == uid).then(|| name.to_string())
        })
    };
    from_passwd().ok_or_else(|| {
        TransportError::Unreachable(format!(
            "{alias}: cannot determine the login user\nhint: set ansible_user"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfig {
        SshConfig::default()
            .home_dir("/home/t")
            .parse(
                &mut BufReader::new(text.as_bytes()),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .unwrap()
    }

    const CONFIG: &str = "\
Host web* !web9
    HostName %h.lab
    User deploy
    Port 2200
    IdentityFile ~/.ssh/web_key
    ProxyJump admin@bastion:2022
Host bastion
    HostName 192.0.2.1
    IdentityFile /keys/bastion
Host *
    User fallback
    SomeUnknownOption yes
";

    #[test]
    fn host_patterns_fill_unset_fields() {
        let cfg = config(CONFIG);
        let target = SshTarget {
            alias: "web1".into(),
            identity_files: vec![PathBuf::from("/explicit")],
            ..Default::default()
        };
        let route = resolve(Some(&cfg), &target).unwrap();
        assert_eq!(route.target.host, "web1.lab");
        assert_eq!(route.target.user, "deploy");
        assert_eq!(route.target.port, 2200);
        assert_eq!(
            route.target.identity_files[..2],
            [
                PathBuf::from("/explicit"),
                PathBuf::from("/home/t/.ssh/web_key")
            ]
        );
        assert_eq!(route.jumps.len(), 1);
        assert_eq!(route.jumps[0].host, "192.0.2.1");
        assert_eq!(route.jumps[0].user, "admin");
        assert_eq!(route.jumps[0].port, 2022);
        assert_eq!(
            route.jumps[0].identity_files[..2],
            [PathBuf::from("/keys/bastion"), PathBuf::from("/explicit")]
        );
    }

    #[test]
    fn negated_pattern_and_inventory_values_win() {
        let cfg = config(CONFIG);
        let target = SshTarget {
            alias: "web9".into(),
            port: Some(22),
            proxy_jump: Some("none".into()),
            ..Default::default()
        };
        let route = resolve(Some(&cfg), &target).unwrap();
        assert_eq!(route.target.host, "web9");
        assert_eq!(route.target.user, "fallback");
        assert_eq!(route.target.port, 22);
        assert!(route.jumps.is_empty());
    }

    #[test]
    fn jump_specs() {
        let ep = resolve_jump(None, "ssh://u@[::1]:2201", &[]).unwrap();
        assert_eq!(
            (ep.user.as_str(), ep.host.as_str(), ep.port),
            ("u", "::1", 2201)
        );
        assert!(resolve_jump(None, "u@h:x", &[]).is_err());
        assert!(resolve_jump(None, "u@", &[]).is_err());
    }
}
