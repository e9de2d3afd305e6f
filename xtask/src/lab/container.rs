//! One `systemd-nspawn --boot` container per inventory host.
//!
//! Root filesystem: an overlay whose lower layer is the shared, read-only image and whose
//! upper layer is the host's own (`.lab/hosts/<name>/upper`). Flatcar hosts also get the
//! image's `/usr` bound read-only. Network: the host's namespace made by `net::up_host`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::image::{self, Image};
use super::net::Netns;
use super::run;
use super::state::{self, Lab};
use super::topology::{Host, Profile, Topology};

/// Directories of one host.
pub struct HostDirs {
    pub dir: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub root: PathBuf,
    /// The host's SSH host key (its `.pub` beside it).
    pub host_key: PathBuf,
}

/// The directories of `host`.
pub fn dirs(lab: &Lab, host: &Host) -> HostDirs {
    let dir = lab.hosts().join(&host.name);
    HostDirs {
        upper: dir.join("upper"),
        work: dir.join("work"),
        root: dir.join("root"),
        host_key: dir.join("ssh_host_ed25519_key"),
        dir,
    }
}

/// The image a host boots.
pub fn image_for<'a>(images: &'a [Image], host: &Host) -> Result<&'a Image, String> {
    images
        .iter()
        .find(|i| i.profile == host.profile)
        .ok_or_else(|| format!("no image for host '{}'", host.name))
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<PathBuf, String> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let _ = fs::remove_file(&p);
    fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

fn own(p: &Path, uid: u32, gid: u32) -> Result<(), String> {
    chown(p, Some(uid), Some(gid)).map_err(|e| format!("{}: {e}", p.display()))
}

/// Mounts the host's root filesystem and writes what provisioning (cloud-init, Ignition)
/// gives the real machine: hostname, /etc/hosts, resolver, host key, the login user's key,
/// and on Debian hosts the lab's apt repository.
pub fn prepare(
    lab: &Lab,
    topo: &Topology,
    host: &Host,
    img: &Image,
    authorized_key: &str,
) -> Result<(), String> {
    let d = dirs(lab, host);
    for p in [&d.upper, &d.work, &d.root] {
        fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    for p in [&img.dir, &d.upper, &d.work] {
        if p.to_string_lossy().contains([',', ':']) {
            return Err(format!(
                "{}: overlay paths cannot hold ',' or ':'",
                p.display()
            ));
        }
    }
    if state::mounts_under(&d.root).is_empty() {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            img.dir.display(),
            d.upper.display(),
            d.work.display()
        );
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&d.root))?;
    }
    let record = d.dir.join("image");
    fs::write(&record, img.dir.to_string_lossy().as_bytes())
        .map_err(|e| format!("{}: {e}", record.display()))?;
    let r = &d.root;
    let fqdn = format!("{}.{}", host.name, topo.domain);
    write(r, "etc/hostname", &format!("{}\n", host.name), 0o644)?;
    write(
        r,
        "etc/hosts",
        &format!(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n{} {fqdn} {}\n",
            host.address, host.name
        ),
        0o644,
    )?;
    let mut resolv: String = topo
        .dns_servers
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect();
    resolv.push_str(&format!("search {}\n", topo.domain));
    write(r, "etc/resolv.conf", &resolv, 0o644)?;

    if !d.host_key.exists() {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("root@{}", host.name))
            .arg("-f")
            .arg(&d.host_key))?;
    }
    for (src, rel, mode) in [
        (d.host_key.clone(), "etc/ssh/ssh_host_ed25519_key", 0o600),
        (
            d.host_key.with_extension("pub"),
            "etc/ssh/ssh_host_ed25519_key.pub",
            0o644,
        ),
    ] {
        let text = fs::read_to_string(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        write(r, rel, &text, mode)?;
    }

    let (uid, gid, home) = image::passwd_entry(&img.dir, &host.user)?;
    let home = home.trim_start_matches('/').to_string();
    let ssh_dir = r.join(&home).join(".ssh");
    let mut files = vec![write(
        r,
        &format!("{home}/.ssh/authorized_keys"),
        authorized_key,
        0o600,
    )?];
    if host.profile == Profile::Flatcar {
        // where Ignition puts the provisioning key on Flatcar
        files.push(write(
            r,
            &format!("{home}/.ssh/authorized_keys.d/ignition"),
            authorized_key,
            0o600,
        )?);
        files.push(ssh_dir.join("authorized_keys.d"));
        fs::set_permissions(
            ssh_dir.join("authorized_keys.d"),
            fs::Permissions::from_mode(0o700),
        )
        .map_err(|e| format!("{}: {e}", ssh_dir.display()))?;
    }
    fs::set_permissions(&ssh_dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", ssh_dir.display()))?;
    files.push(ssh_dir);
    for f in files {
        own(&f, uid, gid)?;
    }
    if host.profile == Profile::Debian {
        write(
            r,
            "etc/apt/sources.list.d/fmc-lab.list",
            &format!(
                "deb [trusted=yes] http://{}:{} ./\n",
                topo.controller, topo.repo_port
            ),
            0o644,
        )?;
    }
    Ok(())
}

/// The image the host's root filesystem was made from (recorded by [`prepare`]).
pub fn recorded_image(lab: &Lab, host: &Host) -> Option<PathBuf> {
    let p = PathBuf::from(fs::read_to_string(dirs(lab, host).dir.join("image")).ok()?);
    p.is_dir().then_some(p)
}

/// Boots the container of `host` in the background and records its PID.
pub fn start(lab: &Lab, topo: &Topology, host: &Host, img: &Image) -> Result<u32, String> {
    if let Some(t) = lab.tracked(&host.name)
        && state::alive(&t)
    {
        return Err(format!(
            "host '{}' is already running (pid {})",
            host.name, t.pid
        ));
    }
    let d = dirs(lab, host);
    let ns = Netns::host(&host.name);
    // never boot a container without its lab namespace: it would share the machine's network
    if !Path::new(&ns.path()).exists() {
        return Err(format!(
            "{}: network namespace missing\nhint: run `cargo xtask lab up`",
            ns.path()
        ));
    }
    if state::mounts_under(&d.root).is_empty() {
        return Err(format!(
            "{}: root filesystem not mounted\nhint: run `cargo xtask lab reset {}`",
            d.root.display(),
            host.name
        ));
    }
    let root = d.root.display().to_string();
    let netns = format!("--network-namespace-path={}", ns.path());
    let usr = format!("--bind-ro={}/usr:/usr", img.dir.display());
    let mut args = vec![
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
        // VIPs, nftables, WireGuard; never CAP_SYS_TIME: the clock is the machine's
        "--capability=CAP_NET_ADMIN",
        &netns,
        "--machine",
        &host.name,
        "--directory",
        &root,
    ];
    if host.profile == Profile::Flatcar {
        args.push(&usr);
    }
    // nfs-ganesha's VFS backend needs file handles: an ext4 directory of this machine (not
    // the overlay) and the handle syscalls nspawn's seccomp filter blocks by default
    let export_dir = d.dir.join("nfs-export");
    let export_bind = format!(
        "--bind={}:{}",
        export_dir.display(),
        topo.ganesha_export_root
    );
    if topo.ganesha_hosts.contains(&host.name) {
        fs::create_dir_all(&export_dir).map_err(|e| format!("{}: {e}", export_dir.display()))?;
        args.extend([
            "--system-call-filter=open_by_handle_at name_to_handle_at",
            &export_bind,
        ]);
    }
    // /proc/sys/net is per network namespace: writable so the host can forward and set sysctls
    lab.spawn(
        &host.name,
        &args,
        &[("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")],
    )
}

/// Powers the container off (SIGTERM to nspawn) and ends what is left of it.
pub fn stop(lab: &Lab, host: &Host) -> Result<(), String> {
    lab.stop(
        std::slice::from_ref(&host.name),
        std::time::Duration::from_secs(10),
    )
}

/// Unmounts the host's root filesystem and deletes its overlay and host key.
pub fn wipe(lab: &Lab, host: &Host) -> Result<(), String> {
    let d = dirs(lab, host);
    state::unmount_under(&d.dir)?;
    if d.dir.exists() {
        fs::remove_dir_all(&d.dir).map_err(|e| format!("{}: {e}", d.dir.display()))?;
    }
    Ok(())
}

/// One `known_hosts` line per host: name, FQDN and address with its host key.
pub fn known_hosts(lab: &Lab, topo: &Topology) -> Result<String, String> {
    let mut out = String::new();
    for h in &topo.hosts {
        let pub_key = dirs(lab, h).host_key.with_extension("pub");
        let text =
            fs::read_to_string(&pub_key).map_err(|e| format!("{}: {e}", pub_key.display()))?;
        let key: Vec<&str> = text.split_whitespace().take(2).collect();
        out.push_str(&format!(
            "{},{}.{},{} {}\n",
            h.name,
            h.name,
            topo.domain,
            h.address,
            key.join(" ")
        ));
    }
    Ok(out)
}
