//! The Flatcar profile, checked on the running hosts: what the image recipe promises
//! (`image.rs`) must hold on every booted host of the `flatcar` group, since roles rely
//! on exactly these constraints.

use super::super::topology::Profile;
use super::{Check, Suite};

/// The checks of this file, in order.
pub fn checks() -> Vec<Check> {
    vec![Check {
        name: "flatcar-profile",
        proves: "every Flatcar-profile host runs with a read-only /usr (even for root), no Python, no package manager, Flatcar's os-release, the core user and /opt/bin on PATH",
        run: flatcar_profile,
    }]
}

/// Prints one line per property; the check compares them with what Flatcar has.
const PROBE: &str = r#"
. /etc/os-release; echo "id=$ID"
if touch /usr/.fmc-profile-probe 2>/dev/null; then rm -f /usr/.fmc-profile-probe; echo usr=writable; else echo usr=read-only; fi
for t in python3 python apt-get apt dpkg dnf yum; do command -v "$t" >/dev/null 2>&1 && echo "present=$t"; done
id -u core >/dev/null 2>&1 && echo core=yes
grep -q '/opt/bin' /etc/environment && echo optbin=yes
for t in nft wg jq socat iscsiadm mount.nfs; do command -v "$t" >/dev/null 2>&1 || echo "missing=$t"; done
"#;

fn flatcar_profile(s: &Suite) -> Result<(), String> {
    let hosts: Vec<&str> = s
        .topo
        .hosts
        .iter()
        .filter(|h| h.profile == Profile::Flatcar)
        .map(|h| h.name.as_str())
        .collect();
    if hosts.is_empty() {
        return Err("no Flatcar-profile host in inventory/staging".into());
    }
    let mut problems = Vec::new();
    for host in &hosts {
        // as root (sudo): a read-only /usr must hold even for root
        let out = s.sh(host, PROBE)?;
        let has = |line: &str| out.lines().any(|l| l == line);
        for (want, what) in [
            ("id=flatcar", "os-release ID is not flatcar"),
            ("usr=read-only", "/usr is writable"),
            ("core=yes", "no core user"),
            ("optbin=yes", "/opt/bin is not on PATH"),
        ] {
            if !has(want) {
                problems.push(format!("{host}: {what}"));
            }
        }
        for l in out.lines() {
            if let Some(t) = l.strip_prefix("present=") {
                problems.push(format!("{host}: {t} is present"));
            }
            if let Some(t) = l.strip_prefix("missing=") {
                problems.push(format!("{host}: {t} (shipped by Flatcar) is missing"));
            }
        }
    }
    if problems.is_empty() {
        println!(
            "  {} hosts: read-only /usr as root, no python/apt/dpkg, ID=flatcar, core user, /opt/bin on PATH, Flatcar's tools present",
            hosts.len()
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
