//! Connections: one per (address, port, user) for the whole run, opened on first use
//! and shared by every task and delegation that targets it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fmc_core::lenient::to_bool;
use fmc_core::{
    BecomeSpec, Connection, ExecOutput, ExecRequest, Map, Secret, TransportError, Value,
};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

/// Connection settings of one host, read from its (templated) variables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Endpoint {
    pub local: bool,
    pub alias: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub key: Option<PathBuf>,
    pub jump: Option<String>,
    /// `-o UserKnownHostsFile=` from the SSH args.
    pub known_hosts: Option<PathBuf>,
    /// `-o StrictHostKeyChecking=` from the SSH args (`yes`, `accept-new`, `no`/`off`).
    pub strict: Option<String>,
}

fn str_var(vars: &Map, key: &str) -> Option<String> {
    vars.get(key)
        .and_then(fmc_core::lenient::to_string)
        .filter(|s| !s.is_empty())
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(p)),
        None => PathBuf::from(p),
    }
}

impl Endpoint {
    /// Reads `ansible_connection`, `ansible_host`, `ansible_port`, `ansible_user`,
    /// `ansible_ssh_private_key_file` and `ansible_ssh_common_args`' ProxyJump.
    pub fn from_vars(alias: &str, vars: &Map, remote_user: Option<&str>) -> Result<Self, String> {
        let conn = str_var(vars, "ansible_connection");
        let local = match conn.as_deref() {
            None | Some("ssh") | Some("smart") | Some("paramiko") | Some("russh") => false,
            Some("local") => true,
            Some(other) => {
                return Err(format!(
                    "ansible_connection '{other}' is not supported (use ssh or local)"
                ));
            }
        };
        let port = match vars
            .get("ansible_port")
            .or_else(|| vars.get("ansible_ssh_port"))
        {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                fmc_core::lenient::to_string(v)
                    .and_then(|s| s.parse::<u16>().ok())
                    .ok_or_else(|| format!("ansible_port must be a port number, got {v}"))?,
            ),
        };
        let args = [
            str_var(vars, "ansible_ssh_common_args"),
            str_var(vars, "ansible_ssh_extra_args"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let jump = proxy_jump_from_args(&args);
        let known_hosts = ssh_option(&args, "UserKnownHostsFile").map(|p| expand_home(&p));
        let strict = ssh_option(&args, "StrictHostKeyChecking").map(|s| s.to_ascii_lowercase());
        if let Some(s) = &strict
            && !matches!(s.as_str(), "yes" | "no" | "off" | "accept-new" | "ask")
        {
            return Err(format!(
                "StrictHostKeyChecking '{s}' is not supported (yes, accept-new, no)"
            ));
        }
        Ok(Endpoint {
            local,
            alias: alias.to_string(),
            host: str_var(vars, "ansible_host").or_else(|| str_var(vars, "ansible_ssh_host")),
            port,
            user: str_var(vars, "ansible_user")
                .or_else(|| str_var(vars, "ansible_ssh_user"))
                .or_else(|| remote_user.map(str::to_string)),
            key: str_var(vars, "ansible_ssh_private_key_file")
                .or_else(|| str_var(vars, "ansible_private_key_file"))
                .map(|p| expand_home(&p)),
            jump,
            known_hosts,
            strict,
        })
    }

    /// The implicit localhost.
    pub fn local(alias: &str) -> Self {
        Endpoint {
            local: true,
            alias: alias.to_string(),
            host: None,
            port: None,
            user: None,
            key: None,
            jump: None,
            known_hosts: None,
            strict: None,
        }
    }
}

/// The value of `-o Name=value` (or `-oName=value`, `-o Name value`) in SSH args.
fn ssh_option(args: &str, name: &str) -> Option<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let opt = if w == "-o" {
            i += 1;
            words.get(i).copied()
        } else {
            w.strip_prefix("-o")
        };
        if let Some(opt) = opt {
            let (k, v) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (opt, words.get(i + 1).map(|s| s.to_string())),
            };
            if k.eq_ignore_ascii_case(name) {
                return v.map(|v| v.trim_matches(['"', '\'']).to_string());
            }
        }
        i += 1;
    }
    None
}

/// `-o ProxyJump=x` or `-J x` inside `ansible_ssh_common_args`.
fn proxy_jump_from_args(args: &str) -> Option<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(v) = w.strip_prefix("ProxyJump=") {
            return Some(v.trim_matches(['"', '\'']).to_string());
        }
        if *w == "-J" {
            return words.get(i + 1).map(|s| s.to_string());
        }
        if let Some(v) = w.strip_prefix("-J")
            && !v.is_empty()
        {
            return Some(v.to_string());
        }
    }
    None
}

type Slot = Arc<OnceCell<Result<Arc<dyn Connection>, String>>>;

/// Opens and caches connections. An endpoint that failed to connect stays failed for
/// the rest of the run (Ansible marks the host unreachable).
pub(crate) struct Connections {
    client: fmc_ssh::SshClient,
    key_passphrase: Option<Secret<String>>,
    slots: Mutex<HashMap<Endpoint, Slot>>,
    /// Moved by every action on any host (see [`crate::probes`]).
    epoch: Arc<AtomicU64>,
}

/// A connection of the run. Every exec through [`Connection::exec`] is an *action*:
/// it moves the run's epoch before and after it runs, which invalidates every
/// prefetched probe output. Read-only probes go through [`HostConn::probe`].
pub(crate) struct HostConn {
    inner: Arc<dyn Connection>,
    epoch: Arc<AtomicU64>,
}

impl HostConn {
    /// Runs a probe: a script that only reads state (the epoch stays).
    pub async fn probe(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        self.inner.exec(req).await
    }
}

impl Connection for HostConn {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            let out = self.inner.exec(req).await;
            self.epoch.fetch_add(1, Ordering::SeqCst);
            out
        })
    }

    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.inner.reconnect().await
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Connections {
    pub fn new(
        opts: &fmc_ssh::SshOptions,
        key_passphrase: Option<Secret<String>>,
    ) -> Result<Self, String> {
        Ok(Connections {
            client: fmc_ssh::SshClient::new(opts.clone()).map_err(|e| e.to_string())?,
            key_passphrase,
            slots: Mutex::new(HashMap::new()),
            epoch: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The current epoch: changes whenever an action starts or ends on any host.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Moves the epoch: every prefetched probe output becomes stale.
    pub fn invalidate_probes(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub async fn get(&self, ep: &Endpoint) -> Result<HostConn, TransportError> {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| TransportError::Broken("connection table poisoned".into()))?;
            slots.entry(ep.clone()).or_default().clone()
        };
        let res = slot
            .get_or_init(|| async {
                if ep.local {
                    let c: Arc<dyn Connection> = Arc::new(fmc_ssh::LocalConnection::new());
                    return Ok(c);
                }
                let target = fmc_ssh::SshTarget {
                    alias: ep.alias.clone(),
                    host: ep.host.clone(),
                    port: ep.port,
                    user: ep.user.clone(),
                    identity_files: ep.key.iter().cloned().collect(),
                    key_passphrase: self.key_passphrase.clone(),
                    proxy_jump: ep.jump.clone(),
                    known_hosts: ep.known_hosts.clone(),
                    host_key_policy: ep.strict.as_deref().map(|s| match s {
                        "no" | "off" => fmc_ssh::HostKeyPolicy::Off,
                        "accept-new" => fmc_ssh::HostKeyPolicy::AcceptNew,
                        _ => fmc_ssh::HostKeyPolicy::Strict,
                    }),
                };
                self.client
                    .connect(&target)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
        let inner = res.clone().map_err(TransportError::Unreachable)?;
        Ok(HostConn {
            inner,
            epoch: self.epoch.clone(),
        })
    }

    /// [`Connections::get`] for another attempt (`wait_for_connection`): a failed
    /// connection is forgotten and tried again, a live one is re-established.
    pub async fn get_again(&self, ep: &Endpoint) -> Result<HostConn, TransportError> {
        let live = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| TransportError::Broken("connection table poisoned".into()))?;
            let state = slots.get(ep).and_then(|s| s.get().map(Result::is_ok));
            if state == Some(false) {
                slots.remove(ep);
            }
            state == Some(true)
        };
        let conn = self.get(ep).await?;
        if live {
            conn.reconnect().await?;
        }
        Ok(conn)
    }
}

/// `become` settings of a task on a host: keyword first, then `ansible_become*` vars.
pub(crate) fn become_spec(
    kw: &fmc_playbook::TaskDefaults,
    vars: &Map,
    cli_password: Option<&Secret<String>>,
) -> Option<BecomeSpec> {
    let enabled = kw
        .r#become
        .or_else(|| vars.get("ansible_become").and_then(to_bool))
        .unwrap_or(false);
    if !enabled {
        return None;
    }
    let user = kw
        .become_user
        .clone()
        .or_else(|| str_var(vars, "ansible_become_user"))
        .filter(|u| u != "root");
    let method = kw
        .become_method
        .clone()
        .or_else(|| str_var(vars, "ansible_become_method"))
        .unwrap_or_else(|| "sudo".into());
    let password = cli_password.cloned().or_else(|| {
        str_var(vars, "ansible_become_password")
            .or_else(|| str_var(vars, "ansible_become_pass"))
            .map(Secret::new)
    });
    Some(BecomeSpec {
        user,
        password,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_from_vars() {
        let v = json!({"ansible_host": "10.0.0.1", "ansible_port": "2222", "ansible_user": "core",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o ProxyJump=admin@bastion -o UserKnownHostsFile=/dev/null"});
        let ep = Endpoint::from_vars("m1", v.as_object().unwrap(), None).unwrap();
        assert_eq!(ep.host.as_deref(), Some("10.0.0.1"));
        assert_eq!(ep.port, Some(2222));
        assert_eq!(ep.user.as_deref(), Some("core"));
        assert_eq!(ep.jump.as_deref(), Some("admin@bastion"));
        assert_eq!(ep.strict.as_deref(), Some("no"));
        assert_eq!(ep.known_hosts, Some(PathBuf::from("/dev/null")));
        assert!(!ep.local);
        let bad = json!({"ansible_port": "ssh"});
        assert!(Endpoint::from_vars("x", bad.as_object().unwrap(), None).is_err());
        let local = json!({"ansible_connection": "local"});
        assert!(
            Endpoint::from_vars("x", local.as_object().unwrap(), None)
                .unwrap()
                .local
        );
    }
}
