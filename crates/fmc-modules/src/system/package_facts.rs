//! `package_facts`: `ansible_facts.packages` from dpkg or rpm, in one probe.
//!
//! `manager: auto` (the default) uses dpkg (`source: apt`) when `dpkg-query`
//! exists, else rpm; `strategy: all` merges every manager found. Packages are
//! keyed by name, each a list (several architectures may be installed):
//! apt `{name, version, arch, category, source}`, rpm `{name, version, release,
//! epoch, arch, source}`. Only installed packages count (dpkg's `config-files`
//! and `not-installed` are skipped). Ansible's apt backend also reports `origin`
//! (from the apt cache): not available here. Hosts without dpkg or rpm (Flatcar)
//! fail with an "unsupported" error. Never reports a change.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, invalid, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "package_facts",
        aliases: &[],
        params: &["manager", "strategy"],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Strategy {
    First,
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::string_list")]
    manager: Vec<String>,
    #[serde(default)]
    strategy: Option<Strategy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Manager {
    Apt,
    Rpm,
}

impl Manager {
    fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Rpm => "rpm",
        }
    }
}

struct PackageFacts {
    /// Managers to try, in order.
    managers: Vec<Manager>,
    /// Explicitly requested (a missing one is an error) rather than `auto`.
    explicit: bool,
    strategy: Strategy,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let mut managers = vec![];
    let mut explicit = true;
    for m in &p.manager {
        match m.trim() {
            "auto" => {
                explicit = false;
                managers.extend([Manager::Apt, Manager::Rpm]);
            }
            "apt" => managers.push(Manager::Apt),
            "rpm" => managers.push(Manager::Rpm),
            other => {
                return Err(invalid(
                    info,
                    "manager",
                    format!("only auto, apt and rpm are supported, got '{other}'"),
                ));
            }
        }
    }
    if managers.is_empty() {
        explicit = false;
        managers = vec![Manager::Apt, Manager::Rpm];
    }
    let mut seen = vec![];
    managers.retain(|m| {
        let new = !seen.contains(m);
        seen.push(*m);
        new
    });
    Ok(Box::new(PackageFacts {
        managers,
        explicit,
        strategy: p.strategy.unwrap_or(Strategy::First),
    }))
}

impl PackageFacts {
    /// The probe script: one section per manager that exists, its listing followed by `fmc-rc <exit code>`.
    fn probe_script(&self) -> String {
        let mut s = String::from("LC_ALL=C; export LC_ALL\n");
        for m in &self.managers {
            let (tool, list) = match m {
                Manager::Apt => (
                    "dpkg-query",
                    "dpkg-query -W -f='${Package}\\t${Version}\\t${Architecture}\\t${Section}\\t${Status}\\n'",
                ),
                Manager::Rpm => (
                    "rpm",
                    "rpm -qa --qf '%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\n'",
                ),
            };
            let stop = if self.strategy == Strategy::First {
                "exit 0\n"
            } else {
                ""
            };
            s.push_str(&format!(
                "if command -v {tool} >/dev/null 2>&1; then\n{}\n{list} 2>/dev/null\necho \"fmc-rc $?\"\n{stop}fi\n",
                section(m.name())
            ));
        }
        s
    }
}

/// Adds one package record under its name.
fn add(packages: &mut Map, name: &str, rec: Map) {
    if let Value::Array(list) = packages
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(vec![]))
    {
        list.push(Value::Object(rec));
    }
}

fn parse_dpkg(text: &str, packages: &mut Map) {
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, version, arch, category, status] = f[..] else {
            continue;
        };
        let state = status.split_whitespace().last().unwrap_or_default();
        if name.is_empty() || matches!(state, "not-installed" | "config-files" | "") {
            continue;
        }
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("version".into(), version.into());
        m.insert("arch".into(), arch.into());
        m.insert("category".into(), category.into());
        m.insert("source".into(), "apt".into());
        add(packages, name, m);
    }
}

fn parse_rpm(text: &str, packages: &mut Map) {
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, version, release, epoch, arch] = f[..] else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("version".into(), version.into());
        m.insert("release".into(), release.into());
        m.insert(
            "epoch".into(),
            epoch.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
        );
        m.insert(
            "arch".into(),
            if arch == "(none)" {
                Value::Null
            } else {
                arch.into()
            },
        );
        m.insert("source".into(), "rpm".into());
        add(packages, name, m);
    }
}

impl PreparedModule for PackageFacts {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(self.probe_script())))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out =
            probe.ok_or_else(|| ModuleError::Probe("package_facts: no probe output".into()))?;
        if out.rc != 0 {
            return Err(super::probe_failed(out));
        }
        let sec = sections(out);
        let mut packages = Map::new();
        let mut found = vec![];
        for m in &self.managers {
            let Some(text) = sec.get(m.name()) else {
                if self.explicit {
                    return Err(ModuleError::Failed(format!(
                        "package manager {} is not available on this host",
                        m.name()
                    )));
                }
                continue;
            };
            let (body, rc) = match text.trim_end().rsplit_once('\n') {
                Some((body, last)) => (body, last),
                None => ("", text.trim_end()),
            };
            let rc = rc.strip_prefix("fmc-rc ").map(str::trim);
            if rc != Some("0") {
                return Err(ModuleError::Failed(format!(
                    "listing {} packages failed (rc={})",
                    m.name(),
                    rc.unwrap_or("?")
                )));
            }
            match m {
                Manager::Apt => parse_dpkg(body, &mut packages),
                Manager::Rpm => parse_rpm(body, &mut packages),
            }
            found.push(Value::from(m.name()));
        }
        if found.is_empty() {
            return Err(ModuleError::Unsupported {
                msg: "could not detect a supported package manager (dpkg/apt or rpm)".into(),
                hint: "hosts without a package manager (Flatcar) have no package facts; check binaries with stat or command instead".into(),
            });
        }
        let mut facts = Map::new();
        facts.insert("packages".into(), Value::Object(packages));
        let mut plan = Plan::in_sync("facts only");
        plan.result
            .insert("ansible_facts".into(), Value::Object(facts));
        Ok(plan)
    }
}
