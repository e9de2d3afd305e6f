//! Lab checks of NFS (role `nfs_server`): the storage node's exports are readable and
//! writable from a permitted client, squash its root to the anonymous user, and refuse
//! every other host.
//!
//! This machine's kernel has no NFS (lab/README.md, "Doubles"): the storage node serves
//! with nfs-ganesha and the clients are libnfs's userspace tools (`nfs-ls`, `nfs-cp`,
//! `nfs-cat`) run inside a lab host's network namespace, so the server sees that host's
//! address. Nothing can mount NFS here: the `nfs_client` mount units are not proven.

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::topology::Inventory;
use super::{Check, Ns, Suite, shell_quote, wait_for};

const PLAYBOOK: &str = "playbooks/storage.yaml";
/// The exports of the role's defaults: one for the cluster subnet, one for postgresql1.
const SHARED: &str = "/srv/nfs/shared";
const POSTGRESQL: &str = "/srv/nfs/postgresql";
/// Where `playbooks/storage.yaml` mounts POSTGRESQL on the postgresql hosts, and its unit.
const MOUNT_UNIT: &str = "mnt-nfs-postgresql.mount";
/// Writes wait while ganesha is in its grace period after a start (90 s by default).
const GRACE_LIMIT: Duration = Duration::from_secs(100);
/// Bound of one libnfs command.
const NFS_TIMEOUT_SECS: &str = "20";

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "nfs-permitted-rw",
            proves: "permitted clients (worker1, postgresql1) write, list and read back their export; root is squashed",
            run: nfs_permitted_rw,
        },
        Check {
            name: "nfs-refused",
            proves: "hosts outside an export's clients (the LAN controller; worker1 for postgresql) are refused",
            run: nfs_refused,
        },
        Check {
            name: "nfs-mount-unit",
            proves: "postgresql1's NFS mount unit is valid for systemd and enabled (nothing can mount NFS here)",
            run: nfs_mount_unit,
        },
    ]
}

/// Who serves and who may use what.
struct Nfs {
    /// The storage node and its address.
    server: String,
    server_addr: String,
    /// A member of the cluster subnet (permitted on SHARED, refused on POSTGRESQL).
    worker: String,
    /// The PostgreSQL node (permitted on POSTGRESQL).
    postgresql: String,
    /// The uid:gid squashed users become (`nfs_server_anon_uid`/`gid` of the role).
    anon: String,
}

static CONVERGED: AtomicBool = AtomicBool::new(false);

/// Converges `playbooks/storage.yaml` (once per suite run), installs the libnfs tools on
/// this machine and reads the inventory.
fn prepare(s: &Suite) -> Result<Nfs, String> {
    if !CONVERGED.load(Ordering::SeqCst) {
        crate::ci::ensure_packages(&["libnfs-utils"])?;
        let (code, out) = s.fmc_run(&[PLAYBOOK])?;
        if code != 0 {
            return Err(format!("{PLAYBOOK} exited {code}:\n{}", tail(&out, 15)));
        }
        CONVERGED.store(true, Ordering::SeqCst);
    }
    let inv = Inventory::load(&s.repo_root().join("inventory/staging"))?;
    let first = |g: &str| -> Result<String, String> {
        let members = inv.group_hosts.get(g).cloned().unwrap_or_default();
        inv.hosts
            .iter()
            .map(|(h, _)| h)
            .find(|h| members.contains(*h))
            .cloned()
            .ok_or_else(|| format!("inventory/staging: group '{g}' has no host"))
    };
    let defaults_file = s.repo_root().join("roles/nfs_server/defaults/main.yml");
    let defaults = fmc_yaml::load(&defaults_file).map_err(|e| e.to_string())?;
    let id = |k: &str| -> Result<u64, String> {
        defaults[k]
            .as_u64()
            .ok_or_else(|| format!("{}: {k} is not a number", defaults_file.display()))
    };
    let server = first("storage")?;
    Ok(Nfs {
        server_addr: s.host(&server)?.address.to_string(),
        server,
        worker: first("workers")?,
        postgresql: first("postgresql")?,
        anon: format!(
            "{}:{}",
            id("nfs_server_anon_uid")?,
            id("nfs_server_anon_gid")?
        ),
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The NFS versions the lab's server offers (`nfs_server_ganesha_protocols`).
const VERSIONS: [u8; 2] = [3, 4];

impl Nfs {
    /// The URL of `path` on the server for NFS `version` (libnfs syntax).
    fn url(&self, path: &str, version: u8) -> String {
        format!("nfs://{}{path}?version={version}", self.server_addr)
    }
}

/// Runs a libnfs tool (bounded in time) in the namespace `from`.
fn libnfs(s: &Suite, from: Ns<'_>, args: &[&str]) -> Result<Output, String> {
    s.cmd(from, "timeout")
        .arg(NFS_TIMEOUT_SECS)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args[0]))
}

/// What a failed command said.
fn said(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    format!("{} ({})", text.trim(), out.status)
}

/// A file name no other run uses.
fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("fmc-check-{}-{nanos}.txt", std::process::id())
}

/// A local file with `content`, removed when dropped.
struct LocalFile(std::path::PathBuf);

impl LocalFile {
    fn new(content: &str) -> Result<Self, String> {
        let p = std::env::temp_dir().join(unique_name());
        std::fs::write(&p, content).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(LocalFile(p))
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn nfs_permitted_rw(s: &Suite) -> Result<(), String> {
    let n = prepare(s)?;
    for (client, export) in [(&n.worker, SHARED), (&n.postgresql, POSTGRESQL)] {
        let name = unique_name();
        let result = write_read(s, &n, client, export, &name);
        // the server removes the test file, also after a failure
        let removed = s.sh(
            &n.server,
            &format!("rm -f {}", shell_quote(&format!("{export}/{name}"))),
        );
        result?;
        removed?;
    }
    Ok(())
}

/// From `client`'s namespace: writes `name` into `export` (waiting out a grace period),
/// lists and reads it back, and checks on the server that root was squashed.
fn write_read(s: &Suite, n: &Nfs, client: &str, export: &str, name: &str) -> Result<(), String> {
    let content = format!("written by {client} through NFS ({name})\n");
    let local = LocalFile::new(&content)?;
    let remote = n.url(&format!("{export}/{name}"), 4);
    let start = Instant::now();
    wait_for(
        &format!("{client}: nfs-cp to {remote}"),
        GRACE_LIMIT,
        Duration::from_secs(2),
        || {
            let out = libnfs(s, Ns::Host(client), &["nfs-cp", &local.path(), &remote])?;
            if out.status.success() {
                Ok(Some(()))
            } else {
                Err(said(&out))
            }
        },
    )?;
    let wrote = start.elapsed().as_secs_f64();

    for v in VERSIONS {
        let ls = libnfs(s, Ns::Host(client), &["nfs-ls", &n.url(export, v)])?;
        let listing = String::from_utf8_lossy(&ls.stdout);
        if !ls.status.success() || !listing.lines().any(|l| l.trim_end().ends_with(name)) {
            return Err(format!(
                "{client}: NFSv{v} nfs-ls {export} does not list {name}: {}",
                said(&ls)
            ));
        }
        let cat = libnfs(
            s,
            Ns::Host(client),
            &["nfs-cat", &n.url(&format!("{export}/{name}"), v)],
        )?;
        if !cat.status.success() || String::from_utf8_lossy(&cat.stdout) != content {
            return Err(format!(
                "{client}: NFSv{v} nfs-cat of {name} did not return what was written: {}",
                said(&cat)
            ));
        }
    }
    // on the server: the same bytes, owned by the anonymous user (the client ran as root)
    let path = shell_quote(&format!("{export}/{name}"));
    let owner = s.sh(&n.server, &format!("stat -c %u:%g {path}"))?;
    if owner.trim() != n.anon {
        return Err(format!(
            "{}: {export}/{name} is owned by {} instead of the squashed {}",
            n.server,
            owner.trim(),
            n.anon
        ));
    }
    if s.sh(&n.server, &format!("cat {path}"))? != content {
        return Err(format!(
            "{}: {export}/{name} does not hold what {client} wrote",
            n.server
        ));
    }
    println!(
        "    {client} -> {export}: NFSv4 write ok after {wrote:.1} s (grace period included), listed and read back over NFSv3 and v4; stored as {} (root squashed)",
        n.anon
    );
    Ok(())
}

fn nfs_refused(s: &Suite) -> Result<(), String> {
    let n = prepare(s)?;
    let cases = [
        (Ns::Controller, "controller", SHARED),
        (Ns::Controller, "controller", POSTGRESQL),
        (Ns::Host(&n.worker), n.worker.as_str(), POSTGRESQL),
    ];
    for (from, who, export) in cases {
        let name = unique_name();
        let result = refused(s, &n, from, who, export, &name);
        // nothing may have been written; remove it anyway if it was
        let leftover = s.sh(
            &n.server,
            &format!(
                "p={}; if [ -e \"$p\" ]; then rm -f \"$p\"; echo leaked; fi",
                shell_quote(&format!("{export}/{name}"))
            ),
        )?;
        result?;
        if leftover.trim() == "leaked" {
            return Err(format!(
                "{who} could create {export}/{name} on {}",
                n.server
            ));
        }
    }
    Ok(())
}

/// `who` reaches the NFS port (so a refusal is the export's, not the network's), but
/// cannot list `export` nor write `name` into it.
fn refused(
    s: &Suite,
    n: &Nfs,
    from: Ns<'_>,
    who: &str,
    export: &str,
    name: &str,
) -> Result<(), String> {
    let connect = s
        .cmd(from, "timeout")
        .args([
            "5",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{}/2049", n.server_addr),
        ])
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if !connect.status.success() {
        return Err(format!(
            "{who} cannot even connect to {}:2049 ({}): the refusal would prove nothing",
            n.server_addr,
            said(&connect)
        ));
    }
    let mut why = Vec::new();
    for v in VERSIONS {
        let ls = libnfs(s, from, &["nfs-ls", &n.url(export, v)])?;
        if ls.status.success() {
            return Err(format!(
                "{who} may list {export} over NFSv{v}: {}",
                String::from_utf8_lossy(&ls.stdout).trim()
            ));
        }
        why.push(format!(
            "v{v}: {}",
            said(&ls).lines().next().unwrap_or_default()
        ));
    }
    let local = LocalFile::new("must not arrive\n")?;
    let cp = libnfs(
        s,
        from,
        &[
            "nfs-cp",
            &local.path(),
            &n.url(&format!("{export}/{name}"), 4),
        ],
    )?;
    if cp.status.success() {
        return Err(format!("{who} may write into {export}"));
    }
    println!(
        "    {who} -> {export}: port open; list refused ({}); write refused",
        why.join("; ")
    );
    Ok(())
}

fn nfs_mount_unit(s: &Suite) -> Result<(), String> {
    let n = prepare(s)?;
    let unit = format!("/etc/systemd/system/{MOUNT_UNIT}");
    let show = s.sh(
        &n.postgresql,
        &format!("systemctl show -p LoadState -p UnitFileState -p What {MOUNT_UNIT}"),
    )?;
    let want = [
        "LoadState=loaded".to_string(),
        "UnitFileState=enabled".to_string(),
        format!("What={}:{POSTGRESQL}", n.server_addr),
    ];
    for w in &want {
        if !show.lines().any(|l| l == w) {
            return Err(format!(
                "{}: {MOUNT_UNIT}: expected {w}, systemd says:\n{show}",
                n.postgresql
            ));
        }
    }
    let verify = s.sh_output(&n.postgresql, &format!("systemd-analyze verify {unit}"))?;
    if !verify.status.success() || !verify.stderr.is_empty() {
        return Err(format!(
            "{}: systemd-analyze verify {unit}: {}",
            n.postgresql,
            said(&verify)
        ));
    }
    println!(
        "    {}: {MOUNT_UNIT} loaded, enabled (remote-fs.target), verified; not mounted: no NFS in this kernel",
        n.postgresql
    );
    Ok(())
}
