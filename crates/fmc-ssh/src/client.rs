//! The russh client: connecting (direct or through jump hosts), host key
//! verification, authentication, and the [`Connection`] implementation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fmc_core::{Connection, ExecOutput, ExecRequest, Secret, TransportError};
use futures::future::BoxFuture;
use russh::client::{self, Handle, Msg};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, ChannelOpenFailure, ChannelReadHalf, Disconnect, Sig};
use ssh2_config::SshConfig;
use tokio::net::TcpStream;
use tokio::sync::{Mutex as AsyncMutex, Semaphore};

use crate::command::{TIMEOUT_GRACE, build_command, check_request, finish};
use crate::config::{self, Endpoint, Route};
use crate::known_hosts::{self, KnownHosts, Verdict, fingerprint, lookup_name};
use crate::quickack::QuickAckStream;
use crate::{HostKeyPolicy, SshOptions, SshTarget, home_dir};

/// How often a channel open refused by the server (sshd `MaxSessions`) is tried.
const CHANNEL_OPEN_ATTEMPTS: u32 = 10;
/// Flow-control window: 16 MiB tripled download throughput at 10 ms RTT.
const WINDOW_SIZE: u32 = 16 << 20;
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const SYSTEM_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";

/// Shared by all connections of a run: caches decrypted keys and bastion
/// connections, and serialises known_hosts appends (accept-new).
pub struct SshClient {
    inner: Arc<Inner>,
}

struct Inner {
    opts: SshOptions,
    config: Option<SshConfig>,
    known_hosts: Arc<KnownHosts>,
    /// Per-host known_hosts files (`UserKnownHostsFile`), one reader/appender each.
    other_known_hosts: Mutex<HashMap<PathBuf, Arc<KnownHosts>>>,
    /// Decrypted keys by path; the lock also makes concurrent connects decrypt a
    /// key once (bcrypt-pbkdf costs ~200 ms).
    keys: AsyncMutex<HashMap<PathBuf, Arc<PrivateKey>>>,
    /// Jump-host sessions by their chain (`a>b>`), shared by every target behind them.
    bastions: AsyncMutex<HashMap<String, Arc<Session>>>,
    warned_off: Arc<AtomicBool>,
    quickack: AtomicBool,
}

/// An authenticated SSH session, keeping the jump session it runs through alive.
struct Session {
    handle: Handle<Verifier>,
    /// `user@host:port`, for messages.
    label: String,
    _via: Option<Arc<Session>>,
}

impl SshClient {
    /// Reads the ssh_config file, if any. Fails when a configured file can't be
    /// read or parsed, or when no known_hosts location can be determined.
    pub fn new(opts: SshOptions) -> Result<SshClient, TransportError> {
        let config = opts.ssh_config.as_deref().map(config::load).transpose()?;
        let user_file = match (&opts.known_hosts, home_dir()) {
            (Some(path), _) => path.clone(),
            (None, Some(home)) => home.join(".ssh/known_hosts"),
            (None, None) => {
                return Err(TransportError::Unreachable(
                    "cannot locate ~/.ssh/known_hosts: HOME is not set\nhint: pass a known_hosts file"
                        .to_string(),
                ));
            }
        };
        let known_hosts = KnownHosts::new(user_file, vec![PathBuf::from(SYSTEM_KNOWN_HOSTS)]);
        Ok(SshClient {
            inner: Arc::new(Inner {
                opts,
                config,
                known_hosts: Arc::new(known_hosts),
                other_known_hosts: Mutex::new(HashMap::new()),
                keys: AsyncMutex::new(HashMap::new()),
                bastions: AsyncMutex::new(HashMap::new()),
                warned_off: Arc::new(AtomicBool::new(false)),
                quickack: AtomicBool::new(true),
            }),
        })
    }

    /// Turns the `TCP_QUICKACK` re-arming (on by default) on or off for
    /// connections made from now on; off only to measure what it saves.
    pub fn set_tcp_quickack(&self, on: bool) {
        self.inner.quickack.store(on, Ordering::Relaxed);
    }

    /// Connects and authenticates (key files, then the agent). Errors are
    /// [`TransportError::Unreachable`] (refused, timeout, authentication failed
    /// naming the user and the keys tried) or [`TransportError::HostKey`]
    /// (unknown or changed host key, naming the known_hosts file and line and both
    /// SHA256 fingerprints, with an `ssh-keygen -R` hint).
    pub async fn connect(&self, target: &SshTarget) -> Result<Arc<dyn Connection>, TransportError> {
        let route = config::resolve(self.inner.config.as_ref(), target)?;
        let passphrase = target.key_passphrase.clone();
        let host_keys = self.inner.host_keys(target);
        let session = self
            .inner
            .open(&route, passphrase.as_ref(), &host_keys)
            .await?;
        let t = &route.target;
        Ok(Arc::new(SshConnection {
            inner: self.inner.clone(),
            description: format!("ssh {}", t.label()),
            route,
            passphrase,
            host_keys,
            session: RwLock::new(session),
            channels: Semaphore::new(self.inner.opts.max_channels.max(1)),
        }))
    }
}

/// How one connection verifies host keys.
#[derive(Clone)]
struct HostKeys {
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
}

impl Inner {
    /// The target's own known_hosts file and policy, else the run's.
    fn host_keys(&self, target: &SshTarget) -> HostKeys {
        let known_hosts = match &target.known_hosts {
            None => self.known_hosts.clone(),
            Some(path) => {
                let mut files = self
                    .other_known_hosts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                files
                    .entry(path.clone())
                    .or_insert_with(|| {
                        Arc::new(KnownHosts::new(
                            path.clone(),
                            vec![PathBuf::from(SYSTEM_KNOWN_HOSTS)],
                        ))
                    })
                    .clone()
            }
        };
        HostKeys {
            known_hosts,
            policy: target.host_key_policy.unwrap_or(self.opts.host_key_policy),
        }
    }

    /// Connects through the route's jump hosts (reusing live bastion sessions).
    async fn open(
        &self,
        route: &Route,
        passphrase: Option<&Secret<String>>,
        host_keys: &HostKeys,
    ) -> Result<Arc<Session>, TransportError> {
        let mut via: Option<Arc<Session>> = None;
        let mut chain = String::new();
        for hop in &route.jumps {
            chain.push_str(&hop.label());
            chain.push('>');
            via = Some(
                self.bastion(&chain, hop, via, passphrase, host_keys)
                    .await?,
            );
        }
        self.establish(&route.target, via, passphrase, host_keys)
            .await
    }

    async fn bastion(
        &self,
        chain: &str,
        hop: &Endpoint,
        via: Option<Arc<Session>>,
        passphrase: Option<&Secret<String>>,
        host_keys: &HostKeys,
    ) -> Result<Arc<Session>, TransportError> {
        let mut bastions = self.bastions.lock().await;
        if let Some(session) = bastions.get(chain)
            && !session.handle.is_closed()
        {
            return Ok(session.clone());
        }
        let session = self.establish(hop, via, passphrase, host_keys).await?;
        bastions.insert(chain.to_string(), session.clone());
        Ok(session)
    }

    fn client_config(&self, endpoint: &Endpoint, host_keys: &HostKeys) -> Arc<client::Config> {
        let mut preferred = russh::Preferred::DEFAULT.clone();
        if host_keys.policy != HostKeyPolicy::Off {
            // Ask for a key type known_hosts already has, as OpenSSH does, so a
            // host known by its RSA key is not reported as "unknown ed25519".
            let known = host_keys
                .known_hosts
                .known_algorithms(&endpoint.host, endpoint.port);
            let mut order = preferred.key.to_vec();
            order.sort_by_key(|a| !known.iter().any(|k| same_family(k, a)));
            preferred.key = Cow::Owned(order);
        }
        Arc::new(client::Config {
            nodelay: true,
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: 3,
            window_size: WINDOW_SIZE,
            preferred,
            ..Default::default()
        })
    }

    /// One TCP (or direct-tcpip through `via`) connection, handshake, host key
    /// check and authentication, all bounded by the connect timeout.
    async fn establish(
        &self,
        endpoint: &Endpoint,
        via: Option<Arc<Session>>,
        passphrase: Option<&Secret<String>>,
        host_keys: &HostKeys,
    ) -> Result<Arc<Session>, TransportError> {
        let label = format!("ssh {}", endpoint.label());
        let rejection = Arc::new(Mutex::new(None));
        let verifier = Verifier {
            known_hosts: host_keys.known_hosts.clone(),
            policy: host_keys.policy,
            host: endpoint.host.clone(),
            port: endpoint.port,
            label: label.clone(),
            rejection: rejection.clone(),
            warned_off: self.warned_off.clone(),
        };
        let config = self.client_config(endpoint, host_keys);
        let unreachable = |why: String| TransportError::Unreachable(format!("{label}: {why}"));
        let handshake = async {
            let result = match &via {
                None => {
                    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                        .await
                        .map_err(|e| match e.kind() {
                            std::io::ErrorKind::ConnectionRefused => {
                                unreachable("connection refused".to_string())
                            }
                            _ => unreachable(format!("cannot connect: {e}")),
                        })?;
                    // Best effort: Nagle only costs latency.
                    let _ = tcp.set_nodelay(true);
                    let stream = QuickAckStream::new(tcp, self.quickack.load(Ordering::Relaxed));
                    client::connect_stream(config, stream, verifier).await
                }
                Some(bastion) => {
                    let channel = bastion
                        .handle
                        .channel_open_direct_tcpip(
                            endpoint.host.as_str(),
                            u32::from(endpoint.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| {
                            unreachable(format!(
                                "jump host {} cannot reach {}:{}: {e}",
                                bastion.label, endpoint.host, endpoint.port
                            ))
                        })?;
                    client::connect_stream(config, channel.into_stream(), verifier).await
                }
            };
            result.map_err(|e| {
                let rejected = rejection
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take();
                rejected.unwrap_or_else(|| unreachable(format!("ssh handshake failed: {e}")))
            })
        };
        let connect = async {
            let mut handle = handshake.await?;
            self.authenticate(&mut handle, endpoint, passphrase, &label)
                .await?;
            Ok::<_, TransportError>(handle)
        };
        let timeout = self.opts.connect_timeout;
        let handle = tokio::time::timeout(timeout, connect).await.map_err(|_| {
            unreachable(format!(
                "connection timed out after {}s",
                timeout.as_secs_f64()
            ))
        })??;
        Ok(Arc::new(Session {
            handle,
            label: endpoint.label(),
            _via: via,
        }))
    }

    async fn authenticate(
        &self,
        handle: &mut Handle<Verifier>,
        endpoint: &Endpoint,
        passphrase: Option<&Secret<String>>,
        label: &str,
    ) -> Result<(), TransportError> {
        let user = endpoint.user.as_str();
        let lost = |e: russh::Error| {
            TransportError::Unreachable(format!(
                "{label}: connection lost during authentication: {e}"
            ))
        };
        let mut tried = Vec::new();
        for path in &endpoint.identity_files {
            let key = match self.load_key(path, passphrase).await {
                Ok(key) => key,
                Err(why) => {
                    tried.push(format!("{} ({why})", path.display()));
                    continue;
                }
            };
            let hash = rsa_hash(handle, key.algorithm()).await;
            let result = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(lost)?;
            if result.success() {
                return Ok(());
            }
            tried.push(format!("{} (rejected)", path.display()));
        }
        if self.opts.use_agent {
            if agent_auth(handle, user, &mut tried).await {
                return Ok(());
            }
        } else if tried.is_empty() {
            tried.push("no key files, agent disabled".to_string());
        }
        Err(TransportError::Unreachable(format!(
            "{label}: authentication failed for user '{user}' (tried: {})\nhint: check ansible_user and ansible_ssh_private_key_file, or add the key to ssh-agent",
            tried.join(", ")
        )))
    }

    /// Loads (and caches) a private key, decrypting it with the passphrase when
    /// it is encrypted. The error is a short reason for the "tried" list.
    async fn load_key(
        &self,
        path: &Path,
        passphrase: Option<&Secret<String>>,
    ) -> Result<Arc<PrivateKey>, String> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.get(path) {
            return Ok(key.clone());
        }
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err("not found".to_string());
            }
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let passphrase = passphrase.map(|p| p.expose().clone());
        let decoded = tokio::task::spawn_blocking(move || {
            match russh::keys::decode_secret_key(&text, None) {
                Err(russh::keys::Error::KeyIsEncrypted) => match passphrase {
                    Some(pass) => russh::keys::decode_secret_key(&text, Some(&pass))
                        .map_err(|_| "wrong passphrase".to_string()),
                    None => Err("encrypted, no passphrase given".to_string()),
                },
                Err(e) => Err(format!("not a usable private key: {e}")),
                Ok(key) => Ok(key),
            }
        })
        .await
        .map_err(|e| format!("key loading failed: {e}"))??;
        let key = Arc::new(decoded);
        keys.insert(path.to_path_buf(), key.clone());
        Ok(key)
    }
}

/// Whether two host key algorithms are the same key type (RSA hashes differ).
fn same_family(a: &Algorithm, b: &Algorithm) -> bool {
    a == b || matches!((a, b), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }))
}

async fn rsa_hash(handle: &Handle<Verifier>, algorithm: Algorithm) -> Option<russh::keys::HashAlg> {
    if algorithm.is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    }
}

/// Tries every plain key the agent holds; notes what happened in `tried`.
async fn agent_auth(handle: &mut Handle<Verifier>, user: &str, tried: &mut Vec<String>) -> bool {
    let mut agent = match AgentClient::connect_env().await {
        Ok(agent) => agent,
        Err(russh::keys::Error::EnvVar(_)) => {
            tried.push("agent (SSH_AUTH_SOCK not set)".to_string());
            return false;
        }
        Err(e) => {
            tried.push(format!("agent ({e})"));
            return false;
        }
    };
    let identities = match agent.request_identities().await {
        Ok(identities) => identities,
        Err(e) => {
            tried.push(format!("agent ({e})"));
            return false;
        }
    };
    let mut offered = 0;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        offered += 1;
        let hash = rsa_hash(handle, key.algorithm()).await;
        let fp = fingerprint(&key);
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(result) if result.success() => return true,
            Ok(_) => tried.push(format!("agent key {fp} (rejected)")),
            Err(e) => tried.push(format!("agent key {fp} ({e})")),
        }
    }
    if offered == 0 {
        tried.push("agent (no keys)".to_string());
    }
    false
}

/// The russh handler: verifies the server's host key against known_hosts.
struct Verifier {
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
    host: String,
    port: u16,
    label: String,
    /// Why the key was rejected; russh itself only reports "unknown key".
    rejection: Arc<Mutex<Option<TransportError>>>,
    warned_off: Arc<AtomicBool>,
}

impl Verifier {
    fn reject(&self, message: String) -> Result<bool, russh::Error> {
        let mut slot = self
            .rejection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(TransportError::HostKey(message));
        Ok(false)
    }

    fn verify(&self, server_key: &PublicKeyOrCertificate) -> Result<bool, russh::Error> {
        if self.policy == HostKeyPolicy::Off {
            if !self.warned_off.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "host key checking is off: connections are not protected against impersonation"
                );
            }
            return Ok(true);
        }
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return self.reject(format!(
                "{}: the server presented a host certificate, which is not supported",
                self.label
            ));
        };
        let name = lookup_name(&self.host, self.port);
        let got = fingerprint(key);
        let user_file = self.known_hosts.user_file().display().to_string();
        match self.known_hosts.check(&self.host, self.port, key) {
            Verdict::Trusted => Ok(true),
            Verdict::Revoked(at) => self.reject(format!(
                "{}: the host key of {name} ({got}) is marked @revoked in {}:{}",
                self.label,
                at.file.display(),
                at.line
            )),
            Verdict::Mismatch(at) => self.reject(format!(
                "{}: host key mismatch for {name}: {}:{} expects {} but the server presented {got} ({})\nhint: if the host was reinstalled, run `ssh-keygen -f {} -R {}` and connect again",
                self.label,
                at.file.display(),
                at.line,
                at.fingerprint(),
                key.algorithm().as_str(),
                fmc_core::shell::quote(&at.file.display().to_string()),
                fmc_core::shell::quote(&name),
            )),
            Verdict::Unknown { other } => {
                if self.policy == HostKeyPolicy::AcceptNew {
                    return match self.known_hosts.learn(&self.host, self.port, key) {
                        Ok(()) => {
                            tracing::info!("added {name} {got} to {user_file}");
                            Ok(true)
                        }
                        Err(e) => self.reject(format!(
                            "{}: cannot record the host key in {user_file}: {e}",
                            self.label
                        )),
                    };
                }
                let also = other.map_or(String::new(), |at: known_hosts::Location| {
                    format!(
                        "; {}:{} has a {} key for it",
                        at.file.display(),
                        at.line,
                        at.key.algorithm().as_str()
                    )
                });
                self.reject(format!(
                    "{}: the host key of {name} is not known ({} {got}){also}\nhint: verify the key and add it to {user_file} (ssh-keyscan -p {} {}), or use host key checking accept-new",
                    self.label,
                    key.algorithm().as_str(),
                    self.port,
                    self.host
                ))
            }
        }
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        self.verify(server_public_key)
    }
}

/// A live SSH connection to one host; at most `max_channels` execs in flight.
struct SshConnection {
    inner: Arc<Inner>,
    route: Route,
    passphrase: Option<Secret<String>>,
    host_keys: HostKeys,
    session: RwLock<Arc<Session>>,
    channels: Semaphore,
    description: String,
}

impl SshConnection {
    fn current(&self) -> Arc<Session> {
        self.session
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn broken(&self, why: impl std::fmt::Display) -> TransportError {
        TransportError::Broken(format!("{}: {why}", self.description))
    }

    /// Opens a session channel, retrying the refusals sshd sends while it still
    /// counts recently closed channels against `MaxSessions`.
    async fn open_channel(&self, session: &Session) -> Result<Channel<Msg>, TransportError> {
        let mut attempt = 0;
        loop {
            if session.handle.is_closed() {
                return Err(self.broken("connection lost"));
            }
            match session.handle.channel_open_session().await {
                Ok(channel) => return Ok(channel),
                Err(russh::Error::ChannelOpenFailure(
                    ChannelOpenFailure::ConnectFailed
                    | ChannelOpenFailure::AdministrativelyProhibited
                    | ChannelOpenFailure::ResourceShortage,
                )) if attempt + 1 < CHANNEL_OPEN_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 << attempt.min(4))).await;
                }
                Err(e) => {
                    return Err(self.broken(format!(
                        "cannot open a channel: {e}\nhint: the server limits sessions per connection (sshd MaxSessions); lower max_channels"
                    )));
                }
            }
        }
    }

    async fn run(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        check_request(&req)?;
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| self.broken("connection closed"))?;
        let session = self.current();
        let started = Instant::now();
        let channel = self.open_channel(&session).await?;
        let (command, stdin) = build_command(&req);
        let (mut read, write) = channel.split();
        write
            .exec(true, command)
            .await
            .map_err(|e| self.broken(format!("cannot start the command: {e}")))?;
        let io = async {
            let feed = async {
                if let Some(bytes) = stdin {
                    write.data_bytes(bytes).await?;
                }
                write.eof().await
            };
            let collect = collect(&mut read);
            tokio::pin!(feed, collect);
            let mut fed = false;
            loop {
                tokio::select! {
                    output = &mut collect => break output,
                    result = &mut feed, if !fed => {
                        fed = true;
                        if let Err(e) = result {
                            // The command may exit without reading its stdin.
                            tracing::debug!("{}: writing stdin stopped: {e}", self.description);
                        }
                    }
                }
            }
        };
        let collected = match req.timeout {
            Some(timeout) => match tokio::time::timeout(timeout + TIMEOUT_GRACE, io).await {
                Ok(collected) => collected,
                Err(_) => {
                    let _ = write.signal(Sig::KILL).await;
                    let _ = write.close().await;
                    return Err(TransportError::Timeout(timeout));
                }
            },
            None => io.await,
        };
        let output = collected.map_err(|why| {
            if session.handle.is_closed() {
                self.broken("connection lost")
            } else {
                self.broken(why)
            }
        })?;
        finish(&req, output, started.elapsed())
    }

    async fn reopen(&self) -> Result<(), TransportError> {
        let fresh = self
            .inner
            .open(&self.route, self.passphrase.as_ref(), &self.host_keys)
            .await?;
        let old = {
            let mut session = self
                .session
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            std::mem::replace(&mut *session, fresh)
        };
        let _ = old
            .handle
            .disconnect(Disconnect::ByApplication, "reconnecting", "")
            .await;
        Ok(())
    }
}

/// Reads a channel to its end: stdout, stderr (extended data 1) and the exit
/// status, draining after `ExitStatus` until the channel closes.
async fn collect(read: &mut ChannelReadHalf) -> Result<ExecOutput, String> {
    let mut output = ExecOutput::default();
    let mut status = None;
    while let Some(message) = read.wait().await {
        match message {
            ChannelMsg::Data { data } => output.stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => output.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => {
                status = Some(i32::try_from(exit_status).unwrap_or(-1));
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                ..
            } => {
                status = Some(-1);
                let core = if core_dumped { " (core dumped)" } else { "" };
                let name = match signal_name {
                    Sig::Custom(name) => name,
                    standard => format!("{standard:?}"),
                };
                let text = format!("killed by signal {name}{core} {error_message}");
                output.stderr.extend_from_slice(text.trim_end().as_bytes());
                output.stderr.push(b'\n');
            }
            ChannelMsg::Failure => return Err("the server refused to run the command".into()),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    match status {
        Some(rc) => {
            output.rc = rc;
            Ok(output)
        }
        None => Err("the channel closed without an exit status".into()),
    }
}

impl Connection for SshConnection {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutput, TransportError>> {
        Box::pin(self.run(req))
    }

    fn reconnect(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(self.reopen())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
