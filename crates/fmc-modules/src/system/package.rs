//! `package`: installs/removes packages with the host's manager (apt or dnf/yum).
//! Also the engine behind `apt` and `dnf`/`yum`.
//!
//! One probe finds the manager, asks dpkg/rpm about every name (`rpm -q` accepts
//! `name-version` specs, apt specs may be `name=version` with a trailing `*`), and
//! for `state: latest` lists upgradable packages. Hosts without apt/dnf/yum
//! (Flatcar: read-only `/usr`) fail with an `Unsupported` error naming the
//! alternative. `latest` is judged from the package lists as they were before an
//! `update_cache` in the same task.

use std::collections::HashMap;

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe,
};
use serde::Deserialize;

use super::{Factory, invalid, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "package",
        aliases: &[],
        params: &["name", "pkg", "state", "use"],
        required: &["name|pkg"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

/// The hint for hosts without a package manager.
pub(super) const NO_PKG_MGR_HINT: &str = "Flatcar has no package manager; ship a static binary to /opt/bin (get_url/copy) or a systemd-sysext image";

/// Desired package state (`installed`/`removed` are accepted as aliases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum PkgState {
    #[serde(alias = "installed")]
    Present,
    #[serde(alias = "removed")]
    Absent,
    Latest,
}

/// Which manager a module insists on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Manager {
    Any,
    Apt,
    Dnf,
}

/// Everything the package modules share.
pub(super) struct Packages {
    pub manager: Manager,
    pub names: Vec<String>,
    pub state: PkgState,
    pub update_cache: bool,
    /// apt only: seconds; the cache is updated only when older.
    pub cache_valid_time: Option<i64>,
    /// apt only: `Some(false)` adds `--no-install-recommends`.
    pub install_recommends: Option<bool>,
    /// apt only: `remove --purge`.
    pub purge: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "pkg", deserialize_with = "lenient::string_list")]
    name: Vec<String>,
    #[serde(default)]
    state: Option<PkgState>,
    #[serde(rename = "use", default, deserialize_with = "lenient::opt_string")]
    use_: Option<String>,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let manager = match p.use_.as_deref() {
        None | Some("auto") => Manager::Any,
        Some("apt") => Manager::Apt,
        Some("dnf" | "dnf5" | "yum") => Manager::Dnf,
        Some(other) => {
            return Err(invalid(
                info,
                "use",
                format!("only auto, apt, dnf and yum are supported, got '{other}'"),
            ));
        }
    };
    let pk = Packages {
        manager,
        names: p.name,
        state: p.state.unwrap_or(PkgState::Present),
        update_cache: false,
        cache_valid_time: None,
        install_recommends: None,
        purge: false,
    };
    pk.validate(info)?;
    Ok(Box::new(pk))
}

/// What the probe found for one name.
#[derive(Debug, PartialEq, Eq)]
struct Installed {
    present: bool,
    upgradable: bool,
}

impl Packages {
    pub fn validate(&self, info: &ModuleInfo) -> Result<(), ParamError> {
        if self.names.is_empty() && !self.update_cache {
            return Err(invalid(info, "name", "no package given"));
        }
        for n in &self.names {
            if n.is_empty() || n.starts_with('-') || n.chars().any(char::is_whitespace) {
                return Err(invalid(info, "name", format!("invalid package name {n:?}")));
            }
            if n.starts_with('@') || n.contains('/') {
                return Err(invalid(
                    info,
                    "name",
                    format!("{n}: only package names are supported (no groups, files or URLs)"),
                ));
            }
            if self.manager != Manager::Apt && n.contains(['=', '<', '>']) {
                return Err(invalid(
                    info,
                    "name",
                    format!("{n}: version constraints are supported with apt (name=version) only"),
                ));
            }
        }
        Ok(())
    }

    fn probe_script(&self) -> String {
        let names: Vec<String> = self.names.iter().map(|n| quote(n)).collect();
        let names = names.join(" ");
        let mut s =
            String::from("PATH=\"$PATH:/usr/sbin:/sbin\"; export PATH; LC_ALL=C; export LC_ALL\n");
        s.push_str(&section("env"));
        s.push_str(
            "\nfor m in apt-get dnf yum; do command -v $m >/dev/null 2>&1 && echo \"has_$m=yes\"; done\n\
             ( . /etc/os-release 2>/dev/null || . /usr/lib/os-release 2>/dev/null; echo \"os=$ID\" )\n\
             echo \"now=$(date +%s)\"\n\
             echo \"stamp=$(stat -c %Y /var/lib/apt/periodic/update-success-stamp 2>/dev/null || stat -c %Y /var/lib/apt/lists 2>/dev/null)\"\n\
             set -- /var/lib/apt/lists/*_Packages*; [ -e \"$1\" ] || echo lists=none\n",
        );
        s.push_str(&section("dpkg"));
        s.push_str(&format!(
            "\nif command -v dpkg-query >/dev/null 2>&1; then for p in {names}; do\n\
             n=${{p%%=*}}; v=$(dpkg-query -W -f='${{Status}}|${{Version}}' -- \"$n\" 2>/dev/null)\n\
             printf '%s|%s\\n' \"$p\" \"$v\"; done; fi\n"
        ));
        s.push_str(&section("rpm"));
        s.push_str(&format!(
            "\nif command -v rpm >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then for p in {names}; do\n\
             if rpm -q --quiet -- \"$p\" 2>/dev/null; then echo \"$p|installed\"; else echo \"$p|missing\"; fi; done; fi\n"
        ));
        if self.state == PkgState::Latest {
            s.push_str(&section("policy"));
            s.push_str(&format!(
                "\nif command -v apt-cache >/dev/null 2>&1; then apt-cache policy -- {names} 2>/dev/null; fi\n"
            ));
            s.push_str(&section("upgrades"));
            s.push_str(&format!(
                "\nif command -v dnf >/dev/null 2>&1; then dnf -q list --upgrades -- {names} 2>/dev/null;\n\
                 elif command -v yum >/dev/null 2>&1; then yum -q list updates -- {names} 2>/dev/null; fi\n"
            ));
        }
        s
    }

    fn plan_from(&self, out: &ExecOutput) -> Result<Plan, ModuleError> {
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let env = key_values(sec.get("env").map(String::as_str).unwrap_or_default());
        let has = |k: &str| env.get(&format!("has_{k}")).is_some_and(|v| v == "yes");
        let os = env.get("os").map(|s| s.trim()).unwrap_or_default();
        let use_apt = has("apt-get") && self.manager != Manager::Dnf;
        let dnf_bin = if has("dnf") {
            Some("dnf")
        } else if has("yum") {
            Some("yum")
        } else {
            None
        };
        let use_dnf = !use_apt && dnf_bin.is_some() && self.manager != Manager::Apt;
        if !use_apt && !use_dnf {
            let msg = match (os, self.manager) {
                ("flatcar", _) => {
                    "this host runs Flatcar Container Linux, which has no package manager"
                        .to_string()
                }
                (_, Manager::Apt) => "apt is not available on this host".to_string(),
                (_, Manager::Dnf) => "dnf/yum is not available on this host".to_string(),
                (_, Manager::Any) => {
                    "no supported package manager (apt, dnf, yum) found on this host".to_string()
                }
            };
            return Err(ModuleError::Unsupported {
                msg,
                hint: NO_PKG_MGR_HINT.into(),
            });
        }
        let installed = if use_apt {
            self.parse_dpkg(
                sec.get("dpkg").map(String::as_str).unwrap_or_default(),
                sec.get("policy").map(String::as_str).unwrap_or_default(),
            )?
        } else {
            self.parse_rpm(
                sec.get("rpm").map(String::as_str).unwrap_or_default(),
                sec.get("upgrades").map(String::as_str).unwrap_or_default(),
            )?
        };
        let mut to_install = vec![];
        let mut to_upgrade = vec![];
        let mut to_remove = vec![];
        for n in &self.names {
            let st = installed
                .get(n)
                .ok_or_else(|| ModuleError::Probe(format!("no package status for {n}")))?;
            match self.state {
                PkgState::Present if !st.present => to_install.push(n.clone()),
                PkgState::Latest if !st.present => to_install.push(n.clone()),
                PkgState::Latest if st.upgradable => to_upgrade.push(n.clone()),
                PkgState::Absent if st.present => to_remove.push(n.clone()),
                _ => {}
            }
        }
        let mut plan = Plan::default();
        let mut script = vec![];
        if use_apt {
            let stale = match (self.update_cache, self.cache_valid_time) {
                (false, _) => false,
                (true, None) => true,
                (true, Some(valid)) => {
                    let now: i64 = env
                        .get("now")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let stamp: Option<i64> = env.get("stamp").and_then(|v| v.trim().parse().ok());
                    // no package lists at all (an image whose lists were cleaned: the
                    // directory is fresh but empty) is stale whatever its age
                    env.get("lists").is_some_and(|v| v.trim() == "none")
                        || stamp.is_none_or(|t| now - t > valid)
                }
            };
            if stale {
                plan.changes.push("update the apt package cache".into());
                script.push("apt-get update -q".to_string());
            }
            script.insert(0, "export DEBIAN_FRONTEND=noninteractive".to_string());
            let rec = match self.install_recommends {
                Some(false) => " --no-install-recommends",
                Some(true) => " -o APT::Install-Recommends=true",
                None => "",
            };
            let inst: Vec<String> = to_install.iter().chain(&to_upgrade).cloned().collect();
            if !inst.is_empty() {
                script.push(format!(
                    "apt-get install -y -q{rec} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- {}",
                    join_quoted(&inst)
                ));
            }
            if !to_remove.is_empty() {
                let purge = if self.purge { " --purge" } else { "" };
                script.push(format!(
                    "apt-get remove -y -q{purge} -- {}",
                    join_quoted(&to_remove)
                ));
            }
        } else {
            let bin = dnf_bin.unwrap_or("dnf");
            let refresh = if self.update_cache { " --refresh" } else { "" };
            if !to_install.is_empty() {
                script.push(format!(
                    "{bin} install -y -q{refresh} -- {}",
                    join_quoted(&to_install)
                ));
            }
            if !to_upgrade.is_empty() {
                script.push(format!(
                    "{bin} upgrade -y -q{refresh} -- {}",
                    join_quoted(&to_upgrade)
                ));
            }
            if !to_remove.is_empty() {
                script.push(format!("{bin} remove -y -q -- {}", join_quoted(&to_remove)));
            }
        }
        for (verb, list) in [
            ("install", &to_install),
            ("upgrade", &to_upgrade),
            ("remove", &to_remove),
        ] {
            if !list.is_empty() {
                plan.changes.push(format!("{verb} {}", list.join(", ")));
            }
        }
        if plan.changes.is_empty() {
            plan.reason = Some(match self.state {
                PkgState::Absent => "packages already absent".into(),
                PkgState::Present => "packages already installed".into(),
                PkgState::Latest => "packages already at the latest version".into(),
            });
        } else {
            plan.actions
                .push(Action::exec(format!("set -e\n{}", script.join("\n"))));
        }
        plan.result.insert(
            "cache_updated".into(),
            plan.changes.iter().any(|c| c.starts_with("update")).into(),
        );
        Ok(plan)
    }

    /// Lines `<spec>|<Status>|<Version>` (status and version empty when unknown).
    fn parse_dpkg(
        &self,
        text: &str,
        policy: &str,
    ) -> Result<HashMap<String, Installed>, ModuleError> {
        let mut map = HashMap::new();
        for line in text.lines() {
            let mut f = line.splitn(3, '|');
            let (Some(spec), Some(status), version) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let ok = status.split_whitespace().last() == Some("installed");
            let present = ok
                && match spec.split_once('=') {
                    None => true,
                    Some((_, want)) => version_matches(version.unwrap_or_default(), want),
                };
            map.insert(
                spec.to_string(),
                Installed {
                    present,
                    upgradable: false,
                },
            );
        }
        for (name, (installed, candidate)) in apt_policy(policy) {
            let upgradable =
                installed != "(none)" && candidate != "(none)" && installed != candidate;
            if let Some(st) = map.get_mut(&name) {
                st.upgradable = st.present && upgradable;
            }
        }
        Ok(map)
    }

    fn parse_rpm(
        &self,
        text: &str,
        upgrades: &str,
    ) -> Result<HashMap<String, Installed>, ModuleError> {
        let mut map = HashMap::new();
        for line in text.lines() {
            if let Some((spec, st)) = line.rsplit_once('|') {
                let upgradable = upgrades.lines().any(|u| {
                    u.split_whitespace()
                        .next()
                        .and_then(|na| na.rsplit_once('.'))
                        .is_some_and(|(n, _)| n == spec)
                });
                map.insert(
                    spec.to_string(),
                    Installed {
                        present: st == "installed",
                        upgradable,
                    },
                );
            }
        }
        Ok(map)
    }
}

/// `apt-cache policy` output -> name -> (Installed, Candidate).
fn apt_policy(text: &str) -> HashMap<String, (String, String)> {
    let mut out: HashMap<String, (String, String)> = HashMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            cur = line.strip_suffix(':').map(str::to_string);
            if let Some(c) = &cur {
                out.entry(c.clone()).or_default();
            }
            continue;
        }
        let (Some(c), Some((k, v))) = (&cur, line.trim().split_once(':')) else {
            continue;
        };
        if let Some(e) = out.get_mut(c) {
            match k {
                "Installed" => e.0 = v.trim().to_string(),
                "Candidate" => e.1 = v.trim().to_string(),
                _ => {}
            }
        }
    }
    out
}

/// apt `name=version` specs: exact, or a prefix when `want` ends with `*`.
fn version_matches(have: &str, want: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => have.starts_with(prefix),
        None => have == want,
    }
}

fn join_quoted(names: &[String]) -> String {
    names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ")
}

impl PreparedModule for Packages {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(self.probe_script())))
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("package: no probe output".into()))?;
        self.plan_from(out)
    }
}
