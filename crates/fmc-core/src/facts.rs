//! Typed host facts, gathered in one round trip by the `setup` module.

use serde::Serialize;

use crate::{Map, Value};

/// What fmc knows about a host after `gather_facts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub hostname: String,
    pub fqdn: String,
    /// `ID` from os-release: `flatcar`, `rocky`, `almalinux`, `debian`, ...
    pub os_id: String,
    /// `VERSION_ID` from os-release.
    pub os_version: String,
    /// `Flatcar`, `RedHat`, `Debian`, ... (Ansible's `ansible_os_family`).
    pub os_family: String,
    pub os_pretty: String,
    /// `uname -m`.
    pub arch: String,
    /// `uname -r`.
    pub kernel: String,
    pub default_ipv4: Option<String>,
    pub default_interface: Option<String>,
    pub memtotal_mb: u64,
    /// PID 1 is systemd and usable.
    pub systemd: bool,
    /// `apt`, `dnf`, `yum` or `None` (Flatcar).
    pub pkg_mgr: Option<String>,
    /// `/usr` is writable (false on Flatcar).
    pub usr_writable: bool,
    /// The login user.
    pub user: String,
}

impl Facts {
    /// Ansible's family name for an os-release `ID` (and `ID_LIKE`).
    pub fn family_for(id: &str, id_like: &str) -> String {
        let all = format!("{id} {id_like}");
        let has = |w: &str| all.split_whitespace().any(|x| x == w);
        if has("flatcar") || has("coreos") {
            "Flatcar".into()
        } else if has("rhel") || has("fedora") || has("centos") || has("rocky") || has("almalinux")
        {
            "RedHat".into()
        } else if has("debian") || has("ubuntu") {
            "Debian".into()
        } else if has("suse") {
            "Suse".into()
        } else if has("arch") {
            "Archlinux".into()
        } else if has("alpine") {
            "Alpine".into()
        } else {
            id.to_string()
        }
    }

    /// Ansible-named variables: `ansible_hostname`, `ansible_os_family`, ... and the
    /// same without the prefix under `ansible_facts`.
    pub fn to_vars(&self) -> Map {
        let distribution = match self.os_id.as_str() {
            "flatcar" => "Flatcar",
            "rocky" => "Rocky",
            "almalinux" => "AlmaLinux",
            "debian" => "Debian",
            "ubuntu" => "Ubuntu",
            "centos" => "CentOS",
            "rhel" => "RedHat",
            "fedora" => "Fedora",
            other => other,
        };
        let major = self.os_version.split('.').next().unwrap_or("").to_string();
        let mut f = Map::new();
        let mut put = |k: &str, v: Value| {
            f.insert(k.to_string(), v);
        };
        put("hostname", self.hostname.clone().into());
        put("nodename", self.hostname.clone().into());
        put("fqdn", self.fqdn.clone().into());
        put("distribution", distribution.into());
        put("distribution_version", self.os_version.clone().into());
        put("distribution_major_version", major.into());
        put("os_family", self.os_family.clone().into());
        put("os_id", self.os_id.clone().into());
        put("architecture", self.arch.clone().into());
        put("machine", self.arch.clone().into());
        put("kernel", self.kernel.clone().into());
        put("system", "Linux".into());
        let mut ipv4 = Map::new();
        if let Some(a) = &self.default_ipv4 {
            ipv4.insert("address".into(), a.clone().into());
        }
        if let Some(i) = &self.default_interface {
            ipv4.insert("interface".into(), i.clone().into());
        }
        put("default_ipv4", Value::Object(ipv4));
        put("memtotal_mb", self.memtotal_mb.into());
        put(
            "service_mgr",
            if self.systemd { "systemd" } else { "unknown" }.into(),
        );
        put(
            "pkg_mgr",
            self.pkg_mgr
                .clone()
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        put("usr_writable", self.usr_writable.into());
        put("user_id", self.user.clone().into());
        let mut vars = Map::new();
        for (k, v) in &f {
            vars.insert(format!("ansible_{k}"), v.clone());
        }
        vars.insert("ansible_facts".into(), Value::Object(f));
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(Facts::family_for("flatcar", ""), "Flatcar");
        assert_eq!(Facts::family_for("rocky", "rhel centos fedora"), "RedHat");
        assert_eq!(
            Facts::family_for("almalinux", "rhel centos fedora"),
            "RedHat"
        );
        assert_eq!(Facts::family_for("debian", ""), "Debian");
    }

    #[test]
    fn ansible_names() {
        let f = Facts {
            os_id: "flatcar".into(),
            os_version: "4152.2.3".into(),
            os_family: "Flatcar".into(),
            ..Default::default()
        };
        let v = f.to_vars();
        assert_eq!(v["ansible_distribution"], "Flatcar");
        assert_eq!(v["ansible_distribution_major_version"], "4152");
        assert_eq!(v["ansible_facts"]["os_family"], "Flatcar");
        assert_eq!(v["ansible_pkg_mgr"], "unknown");
    }
}
