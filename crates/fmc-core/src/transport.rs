//! The transport contract: everything fmc does on a host is one or more `exec`s of
//! a POSIX shell script, optionally with bytes on stdin. File uploads are execs
//! whose stdin is the file (`cat > tmp && mv tmp dest`); downloads are execs whose
//! stdout is the file. Implementations: SSH (fmc-ssh) and local (`connection: local`).

use std::time::Duration;

use futures::future::BoxFuture;

use crate::Secret;

/// Privilege escalation for one exec (`become`).
#[derive(Clone, Debug, Default)]
pub struct BecomeSpec {
    /// Target user (`become_user`), root when `None`.
    pub user: Option<String>,
    /// Password for `sudo -S`; `None` means `sudo -n` (passwordless).
    pub password: Option<Secret<String>>,
    /// `become_method`: only `sudo` is supported today.
    pub method: String,
}

/// One command to run on a host.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    /// A POSIX `sh` script. Transports run it as `sh -c <script>` (quoted), under
    /// `sudo` when `become` is set.
    pub script: String,
    /// Bytes written to the script's stdin, then EOF.
    pub stdin: Option<Vec<u8>>,
    pub become_spec: Option<BecomeSpec>,
    /// Exported before the script runs (`environment:` keyword).
    pub env: Vec<(String, String)>,
    /// Kills the exec (and reports a timeout) after this long.
    pub timeout: Option<Duration>,
}

impl ExecRequest {
    pub fn new(script: impl Into<String>) -> Self {
        ExecRequest {
            script: script.into(),
            ..Default::default()
        }
    }
}

/// What an exec produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status; `-1` when the process was killed by a signal.
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or authenticated: the host is *unreachable*.
    #[error("{0}")]
    Unreachable(String),
    /// The host key does not match known_hosts: also unreachable, never retried.
    #[error("{0}")]
    HostKey(String),
    /// `become` failed (sudo needs a password, user unknown, ...): the task fails.
    #[error("{0}")]
    Become(String),
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke mid-command: the host becomes unreachable.
    #[error("{0}")]
    Broken(String),
}

impl TransportError {
    /// Whether this error makes the host unreachable (as opposed to failing a task).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable(_) | TransportError::HostKey(_) | TransportError::Broken(_)
        )
    }
}

/// A live connection to one host. Cheap to share (`Arc<dyn Connection>`); execs may
/// run concurrently, the implementation bounds how many are in flight.
pub trait Connection: Send + Sync {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutput, TransportError>>;
    /// Drops the underlying session and connects again (used after `reboot`).
    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Human description, e.g. `ssh core@10.17.4.21:22` or `local`.
    fn describe(&self) -> String;
}
