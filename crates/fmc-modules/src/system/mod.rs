//! System modules: commands, services, packages, users, kernel settings, facts.
//!
//! Every module here follows the same shape: a `ModuleInfo` constant, a
//! `#[serde(deny_unknown_fields)]` parameter struct, a `prepare` function that
//! validates it, and a [`PreparedModule`] whose probe is one read-only `sh` script.
//! Probe scripts print sections introduced by `::fmc::NAME` lines (see [`sections`])
//! so parsing never depends on the order or presence of optional tools.

use std::collections::HashMap;

use fmc_core::{ExecOutput, Map, ModuleFactory, ModuleInfo, ParamError, PreparedModule, Value};

pub mod apt;
pub mod authorized_key;
pub mod command;
pub mod cron;
pub mod dnf;
pub mod firewalld;
pub mod group;
pub mod hostname;
pub mod modprobe;
pub mod mount;
pub mod package;
pub mod package_facts;
pub mod ping;
mod postgres;
pub mod postgresql_db;
pub mod postgresql_user;
pub mod raw;
pub mod reboot;
pub mod service;
pub mod service_facts;
pub mod setup;
pub mod shell;
pub mod sysctl;
pub mod systemd_service;
pub mod timezone;
pub mod uri;
pub mod user;
pub mod wait_for;
pub mod wait_for_connection;

pub use setup::{facts_probe, parse_facts};

/// All modules of this group.
pub fn factories() -> Vec<Box<dyn ModuleFactory>> {
    vec![
        Box::new(command::FACTORY),
        Box::new(shell::FACTORY),
        Box::new(raw::FACTORY),
        Box::new(setup::FACTORY),
        Box::new(ping::FACTORY),
        Box::new(systemd_service::FACTORY),
        Box::new(service::FACTORY),
        Box::new(sysctl::FACTORY),
        Box::new(package::FACTORY),
        Box::new(apt::FACTORY),
        Box::new(dnf::FACTORY),
        Box::new(user::FACTORY),
        Box::new(group::FACTORY),
        Box::new(wait_for::FACTORY),
        Box::new(reboot::FACTORY),
        Box::new(timezone::FACTORY),
        Box::new(modprobe::FACTORY),
        Box::new(mount::FACTORY),
        Box::new(uri::FACTORY),
        Box::new(service_facts::FACTORY),
        Box::new(package_facts::FACTORY),
        Box::new(firewalld::FACTORY),
        Box::new(postgresql_user::FACTORY),
        Box::new(postgresql_db::FACTORY),
        Box::new(hostname::FACTORY),
        Box::new(authorized_key::FACTORY),
        Box::new(wait_for_connection::FACTORY),
        Box::new(cron::FACTORY),
    ]
}

/// Validates parameters and builds the prepared module.
type PrepareFn = fn(&ModuleInfo, &Map) -> Result<Box<dyn PreparedModule>, ParamError>;

/// A module factory made of its static info and a constructor function.
pub struct Factory {
    info: ModuleInfo,
    prepare: PrepareFn,
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }
    fn prepare(&self, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        (self.prepare)(&self.info, args)
    }
}

/// A `ParamError::Invalid` for `param` of module `info`.
fn invalid(info: &ModuleInfo, param: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        module: info.name.to_string(),
        param: param.to_string(),
        msg: msg.into(),
    }
}

/// A `ParamError::Other` for module `info`.
fn other(info: &ModuleInfo, msg: impl Into<String>) -> ParamError {
    ParamError::Other {
        module: info.name.to_string(),
        msg: msg.into(),
    }
}

/// The line that starts a probe section named `name`.
fn section(name: &str) -> String {
    format!("echo '::fmc::{name}'")
}

/// Splits probe output into its `::fmc::NAME` sections (name -> text after the
/// marker line). Text before the first marker is dropped.
fn sections(out: &ExecOutput) -> HashMap<String, String> {
    let text = out.stdout_str();
    let mut map: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim_end_matches(['\n', '\r']).strip_prefix("::fmc::") {
            current = Some(name.to_string());
            map.entry(name.to_string()).or_default();
            continue;
        }
        if let Some(name) = &current
            && let Some(buf) = map.get_mut(name)
        {
            buf.push_str(line);
        }
    }
    map
}

/// `key=value` lines of a section (first `=` splits; later keys win).
fn key_values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// Ansible's `*_lines` fields: the text split into lines without terminators.
fn lines_value(text: &str) -> Value {
    Value::Array(text.lines().map(|l| Value::String(l.to_string())).collect())
}

/// The probe ran but the script itself failed: report its stderr.
fn probe_failed(out: &ExecOutput) -> fmc_core::ModuleError {
    let err = out.stderr_str();
    fmc_core::ModuleError::Probe(format!("probe failed (rc={}): {}", out.rc, err.trim()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_markers() {
        let out = ExecOutput {
            rc: 0,
            stdout: b"junk\n::fmc::a\nx=1\ny=2\n::fmc::b\n::fmc::c\nz\n".to_vec(),
            stderr: vec![],
        };
        let s = sections(&out);
        assert_eq!(s["a"], "x=1\ny=2\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "z\n");
        assert!(!s.contains_key("junk"));
        assert_eq!(key_values(&s["a"])["y"], "2");
    }

    #[test]
    fn every_module_validates_its_own_info() {
        for f in factories() {
            let info = f.info();
            for req in info.required {
                for alt in req.split('|') {
                    if alt == "_raw_params" && info.free_form {
                        continue;
                    }
                    assert!(info.params.contains(&alt), "{}: {alt}", info.name);
                }
            }
        }
    }
}
