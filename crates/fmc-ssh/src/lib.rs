//! russh transport: one connection per host, bounded channels, sudo, local connection.
//!
//! Architecture invariant: this is the only crate that links russh. Everything a
//! module does on a host goes through [`fmc_core::Connection::exec`]; the command
//! line for an exec is built by [`build_command`] for SSH and local alike.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod client;
mod command;
mod config;
mod known_hosts;
mod local;
mod quickack;

use std::path::PathBuf;
use std::time::Duration;

pub use client::SshClient;
pub use command::build_command;
pub use local::LocalConnection;

/// What to do with the server's host key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only hosts whose key is in known_hosts (OpenSSH `StrictHostKeyChecking yes`).
    Strict,
    /// Append unknown hosts to the user known_hosts file; reject changed keys
    /// (OpenSSH `accept-new`).
    AcceptNew,
    /// No verification at all (warned about once per run).
    Off,
}

/// Transport settings shared by every connection of a run.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Default [`HostKeyPolicy::Strict`].
    pub host_key_policy: HostKeyPolicy,
    /// The user known_hosts file (read and appended to); default
    /// `~/.ssh/known_hosts`. `/etc/ssh/ssh_known_hosts` is always read too.
    pub known_hosts: Option<PathBuf>,
    /// An OpenSSH client config; default `~/.ssh/config` if it exists. `None`
    /// reads no config.
    pub ssh_config: Option<PathBuf>,
    /// TCP connect plus SSH handshake; default 10 s.
    pub connect_timeout: Duration,
    /// Concurrent channels per connection; default 4 (sshd's `MaxSessions` is 10
    /// and frees slots late, so more than about 6 fails intermittently).
    pub max_channels: usize,
    /// Try the keys of the ssh-agent at `SSH_AUTH_SOCK` after the key files.
    pub use_agent: bool,
}

impl Default for SshOptions {
    fn default() -> Self {
        let ssh_config = home_dir()
            .map(|home| home.join(".ssh/config"))
            .filter(|path| path.exists());
        SshOptions {
            host_key_policy: HostKeyPolicy::Strict,
            known_hosts: None,
            ssh_config,
            connect_timeout: Duration::from_secs(10),
            max_channels: 4,
            use_agent: true,
        }
    }
}

/// One host to connect to, as the inventory describes it.
#[derive(Clone, Debug, Default)]
pub struct SshTarget {
    /// Inventory name; matched against ssh_config `Host` patterns and used in messages.
    pub alias: String,
    /// `ansible_host`; default ssh_config `HostName`, else `alias`.
    pub host: Option<String>,
    /// `ansible_port`; default ssh_config `Port`, else 22.
    pub port: Option<u16>,
    /// `ansible_user`; default ssh_config `User`, else the local user.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file` first; then ssh_config `IdentityFile`, then
    /// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` are tried.
    pub identity_files: Vec<PathBuf>,
    /// Passphrase for encrypted private keys.
    pub key_passphrase: Option<fmc_core::Secret<String>>,
    /// `[user@]host[:port]` (comma-separated for a chain), each host resolved
    /// through ssh_config; default ssh_config `ProxyJump`.
    pub proxy_jump: Option<String>,
    /// This host's known_hosts file instead of [`SshOptions::known_hosts`]
    /// (`-o UserKnownHostsFile=` in `ansible_ssh_common_args`).
    pub known_hosts: Option<PathBuf>,
    /// This host's policy instead of [`SshOptions::host_key_policy`]
    /// (`-o StrictHostKeyChecking=` in `ansible_ssh_common_args`).
    pub host_key_policy: Option<HostKeyPolicy>,
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}
