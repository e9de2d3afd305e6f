//! Fact gathering in one round trip: [`facts_probe`] + [`parse_facts`] (used by the
//! runner for `gather_facts`), and the `setup` module that returns the same facts
//! as `ansible_facts`.
//!
//! `setup` always gathers the full (small) fact set: `gather_subset` and
//! `gather_timeout` are accepted and ignored. `filter` is honoured with shell-style
//! `*`/`?` patterns matched against the `ansible_`-prefixed names, as Ansible does.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Facts, Map, ModuleCtx, ModuleError, ModuleInfo, ParamError, Plan,
    PreparedModule, Probe, Value,
};
use serde::Deserialize;

use super::{Factory, key_values, section, sections};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "setup",
        aliases: &["gather_facts"],
        params: &["gather_subset", "gather_timeout", "filter"],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

/// The read-only script that prints everything [`parse_facts`] needs.
///
/// Requires only POSIX `sh`, `uname`, `id`, `grep`, `sed` and `/proc`; `hostname`,
/// `timeout` and `ip` (iproute2) are used when present. It never sends a packet.
pub fn facts_probe() -> Probe {
    let mut s = String::from("LC_ALL=C; export LC_ALL\n");
    s.push_str(&section("facts"));
    s.push_str(
        r#"
echo "nodename=$(uname -n 2>/dev/null)"
if command -v hostname >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then f=$(timeout 3 hostname -f 2>/dev/null)
  else f=$(hostname -f 2>/dev/null); fi
  echo "fqdn=$f"
fi
echo "arch=$(uname -m 2>/dev/null)"
echo "kernel=$(uname -r 2>/dev/null)"
echo "user=${SUDO_USER:-$(id -un 2>/dev/null)}"
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
for m in apt-get dnf yum; do
  if command -v "$m" >/dev/null 2>&1; then echo "pkg_mgr=$m"; break; fi
done
if [ -w /usr ]; then echo usr_w=yes; else echo usr_w=no; fi
grep '^MemTotal:' /proc/meminfo 2>/dev/null | sed 's/^MemTotal:[^0-9]*\([0-9]*\).*/memtotal_kb=\1/'
"#,
    );
    s.push_str(&section("os"));
    s.push_str("\ncat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null\n");
    s.push_str(&section("mounts"));
    s.push_str("\ngrep -E '^[^ ]+ /(usr)? ' /proc/mounts 2>/dev/null\n");
    s.push_str("if command -v ip >/dev/null 2>&1; then\n");
    s.push_str(&section("route"));
    s.push_str(
        r#"
  ip -4 route show default 2>/dev/null | sed -n 1p
  dev=$(ip -4 route show default 2>/dev/null | sed -n '1s/.* dev \([^ ]*\).*/\1/p')
"#,
    );
    s.push_str(&section("addr"));
    s.push_str(
        r#"
  if [ -n "$dev" ]; then ip -4 -o addr show dev "$dev" 2>/dev/null; fi
else
"#,
    );
    s.push_str(&section("procroute"));
    s.push_str("\n  cat /proc/net/route 2>/dev/null\nfi\n");
    Probe::new(s)
}

/// Parses the output of [`facts_probe`]. Missing optional data (no default
/// route, no os-release) leaves the field empty; only output without the probe's
/// markers is an error.
pub fn parse_facts(out: &ExecOutput) -> Result<Facts, ModuleError> {
    let sec = sections(out);
    let Some(facts) = sec.get("facts") else {
        let err = out.stderr_str();
        return Err(ModuleError::Probe(format!(
            "fact gathering failed (rc={}): {}",
            out.rc,
            err.trim()
        )));
    };
    let kv = key_values(facts);
    let get = |k: &str| kv.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let os = sec.get("os").map(|t| os_release(t)).unwrap_or_default();
    let os_get = |k: &str| os.get(k).cloned().unwrap_or_default();

    let nodename = get("nodename");
    let hostname = nodename.split('.').next().unwrap_or_default().to_string();
    let fqdn = match get("fqdn") {
        f if f.is_empty() => nodename.clone(),
        f => f,
    };
    let pkg_mgr = match get("pkg_mgr").as_str() {
        "apt-get" => Some("apt".to_string()),
        "" => None,
        other => Some(other.to_string()),
    };
    let usr_writable = match sec.get("mounts").and_then(|m| usr_mount_options(m)) {
        Some(opts) => !opts.split(',').any(|o| o == "ro"),
        None => get("usr_w") == "yes",
    };
    let (default_interface, default_ipv4) = default_route(&sec);
    let os_id = os_get("ID");
    Ok(Facts {
        hostname,
        fqdn,
        os_family: Facts::family_for(&os_id, &os_get("ID_LIKE")),
        os_version: os_get("VERSION_ID"),
        os_pretty: os_get("PRETTY_NAME"),
        os_id,
        arch: get("arch"),
        kernel: get("kernel"),
        default_ipv4,
        default_interface,
        memtotal_mb: get("memtotal_kb").parse::<u64>().unwrap_or(0) / 1024,
        systemd: get("systemd") == "yes",
        pkg_mgr,
        usr_writable,
        user: get("user"),
    })
}

/// os-release `KEY=value` lines, with shell quoting removed.
fn os_release(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unq = super::command::split_words(v)
                .ok()
                .map(|w| w.join(" "))
                .unwrap_or_else(|| v.to_string());
            (k.trim().to_string(), unq)
        })
        .collect()
}

/// Mount options of the mount that holds `/usr` (the last `/usr` line, else `/`).
fn usr_mount_options(mounts: &str) -> Option<String> {
    let mut root = None;
    let mut usr = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, mp, _, opts, ..] = f[..] {
            match mp {
                "/usr" => usr = Some(opts.to_string()),
                "/" => root = Some(opts.to_string()),
                _ => {}
            }
        }
    }
    usr.or(root)
}

/// (interface, address) of the default IPv4 route, if there is one.
fn default_route(
    sec: &std::collections::HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some(route) = sec.get("route") {
        let words: Vec<&str> = route.split_whitespace().collect();
        let dev = words
            .windows(2)
            .find(|w| w[0] == "dev")
            .map(|w| w[1].to_string());
        let addr = sec.get("addr").and_then(|a| {
            let words: Vec<&str> = a.split_whitespace().collect();
            words
                .windows(2)
                .find(|w| w[0] == "inet")
                .and_then(|w| w[1].split('/').next())
                .map(str::to_string)
        });
        return (dev, addr);
    }
    // Without iproute2: /proc/net/route has the interface but no address.
    let dev = sec.get("procroute").and_then(|t| {
        t.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 7 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_string())
        })
    });
    (dev, None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Accepted for compatibility; the whole fact set is always gathered.
    #[serde(
        rename = "gather_subset",
        default,
        deserialize_with = "lenient::string_list"
    )]
    _gather_subset: Vec<String>,
    /// Accepted for compatibility; the probe bounds its own slow parts.
    #[serde(
        rename = "gather_timeout",
        default,
        deserialize_with = "lenient::opt_int"
    )]
    _gather_timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::string_list")]
    filter: Vec<String>,
}

struct Setup {
    filter: Vec<String>,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    Ok(Box::new(Setup { filter: p.filter }))
}

impl PreparedModule for Setup {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(facts_probe()))
    }
    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::Probe("setup: no probe output".into()))?;
        let facts = parse_facts(out)?;
        let mut vars = facts.to_vars();
        let mut all = match vars.remove("ansible_facts") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if !self.filter.is_empty() {
            all.retain(|k, _| {
                let long = format!("ansible_{k}");
                self.filter
                    .iter()
                    .any(|f| glob_match(f, &long) || glob_match(f, k))
            });
        }
        let mut result = Map::new();
        result.insert("ansible_facts".into(), Value::Object(all));
        Ok(Plan {
            reason: Some("facts gathered".into()),
            result,
            ..Default::default()
        })
    }
}

/// Shell-style pattern match with `*` and `?` (no character classes).
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("ansible_*", "ansible_os_family", true),
            ("*family", "ansible_os_family", true),
            ("ansible_?s_family", "ansible_os_family", true),
            (
                "ansible_distribution",
                "ansible_distribution_version",
                false,
            ),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
    }
}
