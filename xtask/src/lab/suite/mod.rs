//! `cargo xtask lab test [CHECK...]`: the staging lab's role checks. They run against a
//! lab that `cargo xtask demo` converged (`playbooks/site.yaml`) and prove what each role
//! promises with the real daemons: VIP failover measured by a polling client, exposure
//! from the internet/LAN/VPN, chrony selection, NFS access, scram logins, DDNS updates.
//!
//! Each check is a function of [`Suite`]; it returns `Err` with what went wrong, and
//! leaves the lab as converged as it found it (a check that breaks something restores it,
//! also on failure). CI runs them all, in the order of [`checks`].

mod ddns;
mod drift;
mod exposure;
mod firewalld;
mod lb;
mod nfs;
mod postgres;
mod profile;
mod time;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::net::{self, Netns};
use super::topology::{Host, Topology};
use super::{Ctx, require_root};

/// A named check.
pub struct Check {
    pub name: &'static str,
    /// What it proves, one line (printed by `lab test --list`).
    pub proves: &'static str,
    pub run: fn(&Suite) -> Result<(), String>,
}

/// Every check, in the order CI runs them.
pub fn checks() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(lb::checks());
    all.extend(time::checks());
    all.extend(nfs::checks());
    all.extend(exposure::checks());
    all.extend(ddns::checks());
    all.extend(postgres::checks());
    all.extend(drift::checks());
    all.extend(firewalld::checks());
    all.extend(profile::checks());
    all
}

/// Where a command runs: a lab host's network namespace (its container's), the
/// controller's (`fmclab`, on the LAN), or one of the extra namespaces.
#[derive(Debug, Clone, Copy)]
pub enum Ns<'a> {
    Controller,
    Internet,
    Laptop,
    /// The network namespace of this inventory host (its addresses, not its filesystem:
    /// the program is this machine's).
    Host(&'a str),
}

/// The lab as the checks see it.
pub struct Suite {
    ctx: Ctx,
    pub topo: Topology,
}

impl Suite {
    fn new() -> Result<Self, String> {
        let ctx = Ctx::new();
        let topo = ctx.topology()?;
        Ok(Suite { ctx, topo })
    }

    /// The inventory host `name`.
    pub fn host(&self, name: &str) -> Result<&Host, String> {
        self.topo.host(name)
    }

    /// `program` run inside the namespace `from` (this machine's binary).
    pub fn cmd(&self, from: Ns<'_>, program: &str) -> Command {
        let ns = match from {
            Ns::Controller => Netns::lab(),
            Ns::Internet => Netns::extra("internet"),
            Ns::Laptop => Netns::extra("laptop"),
            Ns::Host(h) => Netns::host(h),
        };
        let mut c = net::exec_in(&ns, program);
        c.stdin(Stdio::null());
        c
    }

    /// Runs a shell script on `host` over SSH as root (sudo); returns its stdout, or an
    /// error with the exit status and stderr.
    pub fn sh(&self, host: &str, script: &str) -> Result<String, String> {
        let out = self.sh_output(host, script)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{host}: `{script}` failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ))
        }
    }

    /// Runs `script` on `host` logged in as `user` (with the lab key), without sudo;
    /// returns its stdout or an error with the exit status and stderr.
    pub fn sh_as(&self, host: &str, user: &str, script: &str) -> Result<String, String> {
        let h = self.topo.host(host)?;
        let out = super::ssh_command_as(&self.ctx, user, h, &[script])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{user}@{host}: `{script}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Like [`Suite::sh`], returning the whole output whatever the exit status.
    pub fn sh_output(&self, host: &str, script: &str) -> Result<Output, String> {
        let h = self.topo.host(host)?;
        let remote = format!("sudo -n sh -c {}", shell_quote(script));
        super::ssh_command(&self.ctx, h, &[&remote])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ssh: {e}"))
    }

    /// One HTTP GET with curl from inside `from`, giving up after `max_secs`; the body,
    /// trimmed, or an error with curl's message.
    pub fn http_get(&self, from: Ns<'_>, url: &str, max_secs: &str) -> Result<String, String> {
        let out = self
            .cmd(from, "curl")
            .args(["-sS", "--max-time", max_secs, url])
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "GET {url} from {from:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs fmc-run (release build) from the controller on the staging inventory;
    /// returns (exit code, stdout). Pass `--output json` to read events.
    pub fn fmc_run(&self, args: &[&str]) -> Result<(i32, String), String> {
        super::demo::fmc_run(&self.ctx, args, true)
    }

    /// The repository root (playbooks, inventories, `.lab/`).
    pub fn repo_root(&self) -> &std::path::Path {
        &self.ctx.repo_root
    }
}

/// Polls `f` every `every` until it returns `Ok(Some(_))` or `within` has passed; the
/// error names what was awaited and the last answer.
pub fn wait_for<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e,
        }
        if start.elapsed() >= within {
            return Err(format!(
                "{what}: not reached within {:.1}s (last: {last})",
                within.as_secs_f64()
            ));
        }
        std::thread::sleep(every);
    }
}

/// POSIX single-quoting.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `cargo xtask lab test [--list] [CHECK...]`.
pub fn main(args: &[&str]) -> Result<(), String> {
    let all = checks();
    if args == ["--list"] {
        for c in &all {
            println!("{:<28} {}", c.name, c.proves);
        }
        return Ok(());
    }
    require_root()?;
    for a in args {
        if !all.iter().any(|c| c.name == *a) {
            let names: Vec<&str> = all.iter().map(|c| c.name).collect();
            return Err(format!(
                "no lab check '{a}'\nhint: checks are {}",
                names.join(", ")
            ));
        }
    }
    if !std::path::Path::new(&Netns::lab().path()).exists() {
        return Err("the lab is not up\nhint: run `cargo xtask demo` first".into());
    }
    let suite = Suite::new()?;
    let mut failed = Vec::new();
    for c in all
        .iter()
        .filter(|c| args.is_empty() || args.contains(&c.name))
    {
        let t = Instant::now();
        println!("--> {}: {}", c.name, c.proves);
        match (c.run)(&suite) {
            Ok(()) => println!("    ok ({:.1}s)", t.elapsed().as_secs_f64()),
            Err(e) => {
                println!("    FAILED ({:.1}s): {e}", t.elapsed().as_secs_f64());
                failed.push(c.name);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("lab checks failed: {}", failed.join(", ")))
    }
}
