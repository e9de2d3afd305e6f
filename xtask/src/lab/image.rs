//! Base images: a Debian root filesystem and a Flatcar profile, built with mmdebstrap and
//! cached in `.lab/images/<kind>-<hash>`; rebuilt only when their recipe (package list,
//! users, post-processing version) changes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::topology::{Profile, Topology};
use super::{run, run_logged};

const SUITE: &str = "bookworm";
/// Bump when the post-processing below changes.
const RECIPE_VERSION: &str = "7";

/// What every lab host has: systemd, sshd, sudo and the basic network tools.
const DEBIAN_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "tzdata",
    // /etc/protocols and /etc/services, as on every real server
    "netbase",
    "sudo",
    "passwd",
    "iproute2",
    "iputils-ping",
    "procps",
    "less",
    "ca-certificates",
    "netcat-openbsd",
    "curl",
];

/// The tools the Flatcar image ships (roles-catalog §5) that Debian packages; Flatcar's
/// ntp, qemu-guest-agent and Docker/containerd sysexts are left out.
const FLATCAR_TOOLS: &[&str] = &[
    "open-iscsi",
    "nfs-common",
    "lvm2",
    "parted",
    "gdisk",
    "e2fsprogs",
    "xfsprogs",
    "btrfs-progs",
    "nftables",
    "iptables",
    "ipset",
    "ipvsadm",
    "conntrack",
    "wireguard-tools",
    "jq",
    "wget",
    "rsync",
    "socat",
    "git",
    "tar",
    "gzip",
    "xz-utils",
    "zstd",
    "unzip",
    "bind9-dnsutils",
    "tcpdump",
    "strace",
    "systemd-timesyncd",
];

/// Lab-only additions to the Flatcar profile, not in Flatcar's image: this machine's kernel
/// has no NFS server, so the storage node serves NFS with nfs-ganesha (userspace; disabled
/// in the image, the `nfs_server` role enables it). See lab/README.md, "Doubles".
const FLATCAR_LAB_ONLY: &[&str] = &["nfs-ganesha", "nfs-ganesha-vfs"];

/// The `os-release` of the Flatcar profile. VARIANT says what it really is.
const FLATCAR_OS_RELEASE: &str = r#"NAME="Flatcar Container Linux by Kinvolk"
ID=flatcar
ID_LIKE=coreos
VERSION=4081.2.0
VERSION_ID=4081.2.0
BUILD_ID=fmc-lab
SYSEXT_LEVEL=1.0
PRETTY_NAME="Flatcar Container Linux by Kinvolk 4081.2.0 (Oklo)"
ANSI_COLOR="38;5;75"
HOME_URL="https://flatcar.org/"
FLATCAR_BOARD="amd64-usr"
VARIANT="fmc lab profile: Debian userland with Flatcar's constraints"
VARIANT_ID=fmc-lab
"#;

/// Flatcar puts /opt/bin on PATH; sshd sessions read /etc/environment through pam_env.
const FLATCAR_PATH: &str =
    "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin\"\n";

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub profile: Profile,
    pub dir: PathBuf,
    /// The login users created in it.
    pub users: Vec<String>,
}

fn kind(profile: Profile) -> &'static str {
    match profile {
        Profile::Debian => "debian",
        Profile::Flatcar => "flatcar",
    }
}

fn packages(profile: Profile) -> Vec<&'static str> {
    let mut p = DEBIAN_PACKAGES.to_vec();
    if profile == Profile::Flatcar {
        p.extend_from_slice(FLATCAR_TOOLS);
        p.extend_from_slice(FLATCAR_LAB_ONLY);
    }
    p
}

fn users(topo: &Topology, profile: Profile) -> Vec<String> {
    let mut u: Vec<String> = topo
        .hosts
        .iter()
        .filter(|h| h.profile == profile)
        .map(|h| h.user.clone())
        .collect();
    u.sort();
    u.dedup();
    u
}

/// The cache key of an image: everything its content depends on.
pub fn recipe_hash(profile: Profile, users: &[String]) -> String {
    let mut h = Sha256::new();
    for part in [RECIPE_VERSION, SUITE, kind(profile)] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in packages(profile) {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.update([1]);
    for u in users {
        h.update(u.as_bytes());
        h.update([0]);
    }
    if profile == Profile::Flatcar {
        h.update(FLATCAR_OS_RELEASE.as_bytes());
        h.update(FLATCAR_PATH.as_bytes());
    }
    hex::encode(&h.finalize()[..6])
}

/// Builds the images the topology needs unless cached; removes stale ones.
pub fn ensure(lab: &Path, topo: &Topology) -> Result<Vec<Image>, String> {
    let dir = lab.join("images");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut images = Vec::new();
    for profile in [Profile::Debian, Profile::Flatcar] {
        let users = users(topo, profile);
        if users.is_empty() {
            continue;
        }
        let name = format!("{}-{}", kind(profile), recipe_hash(profile, &users));
        images.push(Image {
            profile,
            dir: dir.join(name),
            users,
        });
    }
    let missing: Vec<&Image> = images.iter().filter(|i| !i.dir.is_dir()).collect();
    if !missing.is_empty() {
        let t = Instant::now();
        let names: Vec<String> = missing
            .iter()
            .map(|i| kind(i.profile).to_string())
            .collect();
        eprintln!(
            "lab: building images {} (mmdebstrap {SUITE}) ...",
            names.join(", ")
        );
        // one after the other: the second reuses the packages the first downloaded
        for img in &missing {
            build(lab, img)?;
        }
        eprintln!("lab: images built in {:.1}s", t.elapsed().as_secs_f64());
    }
    // remove images of older recipes (nothing mounts them: `up` tore the lab down first)
    let keep: Vec<&PathBuf> = images.iter().map(|i| &i.dir).collect();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() && !keep.contains(&&p) {
                fs::remove_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
        }
    }
    Ok(images)
}

/// The sources apt uses on this machine (mmdebstrap pastes them into the image).
fn host_sources() -> Option<&'static str> {
    [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
}

fn build(lab: &Path, img: &Image) -> Result<(), String> {
    let tmp = img.dir.with_extension("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    let log = lab
        .join("logs")
        .join(format!("image-{}.log", kind(img.profile)));
    let cache = lab.join("cache").join("debs");
    if cache.to_string_lossy().contains('\'') {
        return Err(format!(
            "{}: the lab directory cannot hold a quote",
            cache.display()
        ));
    }
    fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--variant=apt", "--dpkgopt=force-unsafe-io", "--aptopt=Acquire::Check-Valid-Until \"false\""])
        // like slim container images: no manuals, docs or translations (faster, smaller)
        .args(["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"].map(|p| format!("--dpkgopt=path-exclude={p}")))
        // a package cache shared by the images and their rebuilds
        .arg(format!(
            "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" && cp -a '{}/.' \"$1/var/cache/apt/archives/\"",
            cache.display()
        ))
        .arg("--skip=essential/unlink")
        .arg(format!("--customize-hook=sync-out /var/cache/apt/archives {}", cache.display()))
        .arg(format!("--include={}", packages(img.profile).join(",")))
        .arg(SUITE)
        .arg(&tmp);
    if let Some(src) = host_sources() {
        cmd.arg(src);
    }
    let t = Instant::now();
    run_logged(&mut cmd, &log)?;
    common(&tmp, &img.users)?;
    if img.profile == Profile::Flatcar {
        flatcar(&tmp, &img.users)?;
    }
    fs::rename(&tmp, &img.dir).map_err(|e| format!("{}: {e}", img.dir.display()))?;
    eprintln!(
        "lab: image {} built in {:.1}s",
        kind(img.profile),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<(), String> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // replace, never write through a symlink of the image
    let _ = fs::remove_file(&p);
    fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn remove(root: &Path, rel: &str) -> Result<(), String> {
    let p = root.join(rel);
    match fs::symlink_metadata(&p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&p).map_err(|e| format!("{}: {e}", p.display())),
        Ok(_) => fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display())),
        Err(_) => Ok(()),
    }
}

fn remove_matching(root: &Path, rel_dir: &str, pred: impl Fn(&str) -> bool) -> Result<(), String> {
    let dir = root.join(rel_dir);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.filter_map(|e| e.ok()) {
        if let Some(name) = e.file_name().to_str()
            && pred(name)
        {
            remove(root, &format!("{rel_dir}/{name}"))?;
        }
    }
    Ok(())
}

fn chroot(root: &Path, args: &[&str]) -> Result<String, String> {
    run(Command::new("chroot").arg(root).args(args))
}

/// Post-processing for every image.
fn common(root: &Path, users: &[String]) -> Result<(), String> {
    // host keys are made per host by `lab up`; only ed25519 (fast, what fmc prefers)
    remove_matching(root, "etc/ssh", |n| n.starts_with("ssh_host_"))?;
    write(
        root,
        "etc/ssh/sshd_config.d/10-fmc-lab.conf",
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n",
        0o644,
    )?;
    // no internet in the lab: apt (where present) uses the lab repository written per host
    remove(root, "etc/apt/sources.list")?;
    remove_matching(root, "etc/apt/sources.list.d", |_| true)?;
    // and no package lists of the build's mirror: they would look fresh to
    // `cache_valid_time` while naming none of the lab repository's packages
    remove_matching(root, "var/lib/apt/lists", |n| n != "partial" && n != "lock")?;
    // build-time only dpkg options (unsafe-io, path excludes)
    remove(root, "etc/dpkg/dpkg.cfg.d/99mmdebstrap")?;
    // a clean shell profile: no motd, a locale that exists
    write(root, "etc/motd", "", 0o644)?;
    remove_matching(root, "etc/update-motd.d", |_| true)?;
    write(root, "etc/default/locale", "LANG=C.UTF-8\n", 0o644)?;
    for user in users {
        let mut args = vec![
            "useradd",
            "--create-home",
            "--shell",
            "/bin/bash",
            "--groups",
            "sudo",
        ];
        if user == "core" {
            // Flatcar's core user and group
            chroot(root, &["groupadd", "--gid", "500", "core"])?;
            args.extend(["--uid", "500", "--gid", "500", "--comment", "CoreOS Admin"]);
        } else {
            args.push("--user-group");
        }
        args.push(user);
        chroot(root, &args)?;
        write(
            root,
            &format!("etc/sudoers.d/90-fmc-lab-{user}"),
            &format!("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"),
            0o440,
        )?;
    }
    Ok(())
}

/// Makes a Debian root filesystem behave like Flatcar for an SSH orchestrator.
fn flatcar(root: &Path, users: &[String]) -> Result<(), String> {
    chroot(root, &["groupadd", "--system", "wheel"])?;
    for user in users {
        chroot(
            root,
            &[
                "usermod",
                "--append",
                "--groups",
                "wheel,systemd-journal",
                user,
            ],
        )?;
    }
    write(root, "usr/lib/os-release", FLATCAR_OS_RELEASE, 0o644)?;
    remove(root, "etc/debian_version")?;
    write(root, "etc/environment", FLATCAR_PATH, 0o644)?;
    fs::create_dir_all(root.join("opt/bin")).map_err(|e| format!("{}: {e}", root.display()))?;
    // this machine's kernel has no NFS, so no rpc_pipefs (a real Flatcar has both)
    std::os::unix::fs::symlink(
        "/dev/null",
        root.join("etc/systemd/system/run-rpc_pipefs.mount"),
    )
    .map_err(|e| format!("{}: {e}", root.display()))?;
    // installed for the storage node, started only where the nfs_server role enables it
    chroot(root, &["systemctl", "disable", "nfs-ganesha.service"])?;
    // no Python (some Debian tools depend on it; Flatcar ships them without it)
    let installed = chroot(
        root,
        &["dpkg-query", "--show", "--showformat=${Package}\\n"],
    )?;
    let python: Vec<&str> = installed.lines().filter(|p| p.contains("python")).collect();
    let force = [
        "dpkg",
        "--purge",
        "--force-depends",
        "--force-remove-essential",
        "--force-remove-protected",
    ];
    if !python.is_empty() {
        chroot(root, &[&force[..], &python[..]].concat())?;
    }
    // no package manager: apt purged, then dpkg itself and its database removed
    chroot(root, &[&force[..], &["apt"]].concat())?;
    for dir in [
        "etc/apt",
        "var/lib/apt",
        "var/cache/apt",
        "var/lib/dpkg",
        "etc/dpkg",
    ] {
        remove(root, dir)?;
    }
    remove_matching(root, "usr/bin", |n| {
        n.starts_with("dpkg") || n.starts_with("apt")
    })?;
    for bin in ["usr/bin/python3", "usr/bin/apt-get", "usr/bin/dpkg"] {
        if root.join(bin).exists() {
            return Err(format!("flatcar profile: {bin} is still present"));
        }
    }
    Ok(())
}

/// uid, gid and home of `user` in the image's /etc/passwd.
pub fn passwd_entry(image: &Path, user: &str) -> Result<(u32, u32, String), String> {
    let p = image.join("etc/passwd");
    let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[0] == user)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string())))
        })
        .flatten()
        .next()
        .ok_or_else(|| format!("{}: no user '{user}'", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_hash_changes_with_users_and_profile() {
        let admin = vec!["admin".to_string()];
        let a = recipe_hash(Profile::Debian, &admin);
        assert_eq!(a, recipe_hash(Profile::Debian, &admin));
        assert_ne!(a, recipe_hash(Profile::Debian, &["other".to_string()]));
        assert_ne!(a, recipe_hash(Profile::Flatcar, &admin));
        assert_eq!(a.len(), 12);
    }

    #[test]
    fn flatcar_tools_never_include_python_or_a_package_manager() {
        for p in packages(Profile::Flatcar) {
            assert!(!p.contains("python") && p != "apt" && p != "dpkg", "{p}");
        }
        assert!(FLATCAR_OS_RELEASE.lines().any(|l| l == "ID=flatcar"));
    }

    #[test]
    fn passwd_entry_reads_uid_gid_home() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ncore:x:500:500:CoreOS Admin:/home/core:/bin/bash\n",
            0o644,
        )
        .unwrap();
        assert_eq!(
            passwd_entry(d.path(), "core").unwrap(),
            (500, 500, "/home/core".to_string())
        );
        assert!(
            passwd_entry(d.path(), "nobody")
                .unwrap_err()
                .contains("no user 'nobody'")
        );
    }
}
