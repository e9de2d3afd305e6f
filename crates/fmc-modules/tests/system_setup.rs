//! Fact gathering: fixtures for Flatcar/Rocky-like hosts and a real local run.
#![allow(clippy::unwrap_used)]

#[path = "support/system.rs"]
mod system_support;

use fmc_core::ExecOutput;
use fmc_modules::system::{facts_probe, parse_facts};
use serde_json::json;
use system_support::{check, sh};

fn out(stdout: &str) -> ExecOutput {
    ExecOutput {
        rc: 0,
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

#[test]
fn flatcar_without_iproute_or_package_manager() {
    let f = parse_facts(&out(concat!(
        "::fmc::facts\nnodename=master1.cluster.local\nfqdn=\narch=x86_64\nkernel=6.6.21-flatcar\n",
        "user=core\nsystemd=yes\nusr_w=yes\nmemtotal_kb=4030124\n",
        "::fmc::os\nNAME=\"Flatcar Container Linux by Kinvolk\"\nID=flatcar\nID_LIKE=coreos\n",
        "VERSION_ID=4152.2.3\nPRETTY_NAME='Flatcar Container Linux by Kinvolk 4152.2.3 (Oklo)'\n",
        "::fmc::mounts\n/dev/mapper/root / ext4 rw,seclabel,relatime 0 0\n",
        "/dev/mapper/usr /usr btrfs ro,seclabel,relatime 0 0\n",
        "::fmc::procroute\nIface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n",
        "eth0\t0004110A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
        "eth0\t00000000\t0104110A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
    )))
    .unwrap();
    assert_eq!(f.hostname, "master1");
    assert_eq!(f.fqdn, "master1.cluster.local");
    assert_eq!(f.os_id, "flatcar");
    assert_eq!(f.os_family, "Flatcar");
    assert_eq!(f.os_version, "4152.2.3");
    assert_eq!(
        f.os_pretty,
        "Flatcar Container Linux by Kinvolk 4152.2.3 (Oklo)"
    );
    assert_eq!(f.memtotal_mb, 3935);
    assert!(f.systemd);
    assert_eq!(f.pkg_mgr, None);
    assert!(!f.usr_writable, "ro /usr mount wins over test -w");
    assert_eq!(f.default_interface.as_deref(), Some("eth0"));
    assert_eq!(f.default_ipv4, None);
    assert_eq!(f.user, "core");
}

#[test]
fn rocky_with_route_and_no_default_route() {
    let text = concat!(
        "::fmc::facts\nnodename=lb1\nfqdn=lb1.example.net\narch=aarch64\nkernel=5.14.0\nuser=root\n",
        "systemd=no\npkg_mgr=dnf\nusr_w=no\nmemtotal_kb=2048000\n",
        "::fmc::os\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.5\"\n",
        "::fmc::mounts\n/dev/vda1 / xfs rw,relatime 0 0\n",
        "::fmc::route\ndefault via 192.168.0.1 dev br0 proto static metric 100 \n",
        "::fmc::addr\n3: br0    inet 192.168.0.30/24 brd 192.168.0.255 scope global br0\\       valid_lft forever\n",
    );
    let f = parse_facts(&out(text)).unwrap();
    assert_eq!(f.os_family, "RedHat");
    assert_eq!(f.os_version, "9.5");
    assert_eq!(f.fqdn, "lb1.example.net");
    assert_eq!(f.pkg_mgr.as_deref(), Some("dnf"));
    assert!(f.usr_writable, "rw / mount holds /usr");
    assert!(!f.systemd);
    assert_eq!(f.default_interface.as_deref(), Some("br0"));
    assert_eq!(f.default_ipv4.as_deref(), Some("192.168.0.30"));

    let no_route =
        text.split("::fmc::route").next().unwrap().to_string() + "::fmc::route\n::fmc::addr\n";
    let f = parse_facts(&out(&no_route)).unwrap();
    assert_eq!(f.default_interface, None);
    assert_eq!(f.default_ipv4, None);

    let apt = text.replace("pkg_mgr=dnf", "pkg_mgr=apt-get");
    assert_eq!(
        parse_facts(&out(&apt)).unwrap().pkg_mgr.as_deref(),
        Some("apt")
    );
}

#[test]
fn output_without_markers_is_an_error() {
    let bad = ExecOutput {
        rc: 127,
        stdout: vec![],
        stderr: b"sh: not found".to_vec(),
    };
    let e = parse_facts(&bad).unwrap_err().to_string();
    assert!(e.contains("rc=127") && e.contains("sh: not found"), "{e}");
}

#[test]
fn local_facts_are_sane() {
    let p = facts_probe();
    let o = sh(&p.script, None, None, std::path::Path::new("/"));
    assert_eq!(o.rc, 0, "{}", o.stderr_str());
    let f = parse_facts(&o).unwrap();
    let uname_n = sh("uname -n", None, None, std::path::Path::new("/")).stdout_str();
    assert_eq!(f.hostname, uname_n.trim().split('.').next().unwrap());
    assert!(!f.fqdn.is_empty());
    assert_eq!(f.arch, std::env::consts::ARCH);
    assert!(!f.kernel.is_empty());
    assert!(f.memtotal_mb > 0);
    assert!(!f.user.is_empty());
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    assert!(
        os_release.contains(&format!("ID={}", f.os_id)),
        "{}",
        f.os_id
    );
    assert_eq!(
        f.systemd,
        std::path::Path::new("/run/systemd/system").is_dir()
    );
    if os_release.contains("ID=debian") {
        assert_eq!(f.os_family, "Debian");
        assert_eq!(f.pkg_mgr.as_deref(), Some("apt"));
    }
    let has_default = std::fs::read_to_string("/proc/net/route")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("00000000"));
    assert_eq!(f.default_interface.is_some(), has_default);
    if let Some(ip) = &f.default_ipv4 {
        assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    }
}

#[test]
fn setup_module_returns_ansible_facts_with_filter() {
    let dir = std::path::Path::new("/");
    let plan = check("setup", json!({}), dir);
    assert!(plan.changes.is_empty());
    let facts = plan.result["ansible_facts"].as_object().unwrap();
    assert!(facts.contains_key("os_family") && facts.contains_key("default_ipv4"));
    let plan = check(
        "setup",
        json!({"filter": ["ansible_os_*", "hostname"], "gather_subset": "!all"}),
        dir,
    );
    let keys: Vec<&String> = plan.result["ansible_facts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["hostname", "os_family", "os_id"]);
}
