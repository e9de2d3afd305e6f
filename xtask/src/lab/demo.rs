//! `cargo xtask demo`: the README's main command. Builds fmc-run, brings the staging
//! lab up, converges `playbooks/site.yaml` on it, re-runs it to prove nothing changes,
//! then runs the read-only `playbooks/health.yaml` and prints a health table.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use super::net::{self, Netns};
use super::{Ctx, require_root, up};

/// Arguments every fmc-run on the lab gets: the staging secrets are vault-encrypted with
/// a lab-only password kept beside them (see inventory/README.md).
pub const FMC_RUN_LAB_ARGS: &[&str] = &["--vault-password-file", VAULT_PASSWORD_FILE];

/// The staging inventory's vault password file, relative to the repository root.
pub const VAULT_PASSWORD_FILE: &str = "inventory/staging.vault-password";

/// The staging inventory's vault-encrypted secrets, relative to the repository root.
const SECRETS_FILE: &str = "inventory/staging/group_vars/all/95-secrets.yml";

/// The secret `var` of the staging inventory, decrypted with the lab-only password.
pub(crate) fn staging_secret(
    repo_root: &std::path::Path,
    var: &str,
) -> Result<fmc_core::Secret<String>, String> {
    let read = |p: &str| {
        std::fs::read_to_string(repo_root.join(p)).map_err(|e| format!("cannot read {p}: {e}"))
    };
    let key = fmc_yaml::VaultSecret {
        label: None,
        password: fmc_core::Secret::new(read(VAULT_PASSWORD_FILE)?.trim_end().to_string()),
    };
    let plain = fmc_yaml::vault::decrypt(&read(SECRETS_FILE)?, &[key])
        .map_err(|e| format!("{SECRETS_FILE}: {e}"))?;
    let vars = fmc_yaml::parse(&plain, SECRETS_FILE).map_err(|e| e.to_string())?;
    vars[var]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(|v| fmc_core::Secret::new(v.to_string()))
        .ok_or_else(|| format!("{SECRETS_FILE}: {var} is missing or not a string"))
}

/// One fmc-run (release build) inside the lab namespace, on the staging inventory;
/// returns (exit code, stdout when `capture`, stderr passes through).
pub(crate) fn fmc_run(ctx: &Ctx, args: &[&str], capture: bool) -> Result<(i32, String), String> {
    let bin = ctx.repo_root.join("target/release/fmc-run");
    let mut cmd = net::exec_in(&Netns::lab(), &bin.display().to_string());
    cmd.args(["-i", "inventory/staging"])
        .args(FMC_RUN_LAB_ARGS)
        .args(args)
        .current_dir(&ctx.repo_root)
        .env("FMC_LAB_NETNS", net::LAB_NS)
        .stdin(Stdio::null());
    if capture {
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run fmc-run: {e}"))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    } else {
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run fmc-run: {e}"))?;
        Ok((status.code().unwrap_or(-1), String::new()))
    }
}

/// The failed, unreachable and (unexpectedly) changed results of a JSON event stream,
/// one per line, so a red lab suite says what went wrong.
fn failures(stdout: &str) -> String {
    let mut shown = String::new();
    for line in stdout.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if e["event"] != "host_result"
            || !matches!(e["status"].as_str(), Some("failed" | "unreachable"))
        {
            continue;
        }
        shown.push_str(&format!(
            "\n  {} [{}] {}: {}",
            e["status"].as_str().unwrap_or_default(),
            e["host"].as_str().unwrap_or_default(),
            e["task"].as_str().unwrap_or_default(),
            match (e["msg"].as_str(), e.get("result")) {
                (Some(m), _) => m.to_string(),
                (None, Some(r)) => r.to_string(),
                (None, None) => String::new(),
            }
        ));
    }
    shown
}

fn recap(stdout: &str) -> serde_json::Map<String, serde_json::Value> {
    stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v.get("hosts").and_then(|h| h.as_object().cloned()))
        .unwrap_or_default()
}

pub fn demo(_args: &[String]) -> Result<(), String> {
    require_root()?;
    let ctx = Ctx::new();
    println!("==> building fmc-run (release)");
    crate::util::run(
        Command::new("cargo")
            .args([
                "build",
                "--release",
                "-p",
                "fmc-cli",
                "-p",
                "fmc-ddns",
                "-p",
                "cf-standin",
            ])
            .current_dir(&ctx.repo_root),
    )?;
    println!("==> bringing the staging lab up");
    up(&ctx)?;

    println!("==> converging playbooks/site.yaml on the staging lab");
    let (code, _) = fmc_run(&ctx, &["playbooks/site.yaml"], false)?;
    if code != 0 {
        return Err(format!("fmc-run exited {code}: the lab did not converge"));
    }

    // K3s cannot be fetched here: socat listeners on the server and worker nodes stand
    // in for the API and ingress backends, so the load balancers have something to check
    println!("==> stand-in backends for K3s (tests/lab/standins.yaml)");
    let (code, _) = fmc_run(&ctx, &["tests/lab/standins.yaml"], false)?;
    if code != 0 {
        return Err(format!("fmc-run exited {code} on tests/lab/standins.yaml"));
    }

    println!("==> second run: must change nothing");
    let (code, out) = fmc_run(&ctx, &["playbooks/site.yaml", "--output", "json"], true)?;
    let second = recap(&out);
    let changed: u64 = second
        .values()
        .map(|h| h["changed"].as_u64().unwrap_or(0))
        .sum();

    println!("==> health checks (playbooks/health.yaml)");
    let (health_code, health) =
        fmc_run(&ctx, &["playbooks/health.yaml", "--output", "json"], true)?;
    let mut checks: Vec<String> = vec![];
    let mut table: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for line in health.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if e["event"] != "host_result" {
            continue;
        }
        let (Some(host), Some(task)) = (e["host"].as_str(), e["task"].as_str()) else {
            continue;
        };
        let Some(check) = task.strip_prefix("health: ") else {
            continue;
        };
        if !checks.iter().any(|c| c == check) {
            checks.push(check.to_string());
        }
        table
            .entry(host.to_string())
            .or_default()
            .insert(check.to_string(), e["status"] == "ok");
    }

    let width = table.keys().map(String::len).max().unwrap_or(4).max(4);
    print!("\n{:<width$}  {:<14}", "host", "rerun changed");
    for c in &checks {
        print!("  {c:<11}");
    }
    println!();
    let mut all_ok = code == 0 && changed == 0 && health_code == 0;
    for (host, row) in &table {
        let rerun = second
            .get(host)
            .map(|h| h["changed"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        print!("{host:<width$}  {:<14}", rerun);
        for c in &checks {
            // "-": the check does not apply to this host
            let shown = match row.get(c) {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "-",
            };
            all_ok &= shown != "FAILED";
            print!("  {shown:<11}");
        }
        println!();
    }
    // every host of the second run must have a row: a host the checks skipped is not healthy
    let unchecked: Vec<&String> = second.keys().filter(|h| !table.contains_key(*h)).collect();
    all_ok &= !second.is_empty() && unchecked.is_empty() && !checks.is_empty();
    println!(
        "\n{} hosts; second run changed {changed} tasks (exit {code}); {} health checks (exit {health_code}){}",
        table.len(),
        if all_ok { "all" } else { "NOT all" },
        if unchecked.is_empty() {
            String::new()
        } else {
            format!("; no health result from {unchecked:?}")
        }
    );
    println!(
        "the lab is still up: `cargo xtask lab ssh HOST`, `cargo xtask lab down` to remove it"
    );
    if all_ok {
        Ok(())
    } else {
        Err("the staging lab is not healthy (see the table above)".into())
    }
}

/// Writes `text` to a new file only root can read (replacing any old one).
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Where the Cloudflare test double listens, from the API URL the staging inventory gives
/// `fmc-ddns` (`http://203.0.113.10:8787/client/v4` -> `203.0.113.10:8787`); only an
/// address on the lab's internet is accepted.
pub(crate) fn cf_standin_listen(api_url: &str) -> Result<String, String> {
    api_url
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix("/client/v4"))
        .filter(|l| l.starts_with("203.0.113."))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "cloudflare_ddns_api_url {api_url} is not the lab's Cloudflare double on its internet (203.0.113.0/24)\nhint: the staging inventory sets cloudflare_ddns_api_url: http://203.0.113.10:8787/client/v4"
            )
        })
}

/// Name of the Cloudflare API test double among the lab's processes.
pub const CF_STANDIN: &str = "cf-standin";

/// Starts `cf-standin`, the Cloudflare API **test double** (crates/cf-standin), on the
/// lab's internet client where the staging inventory's `cloudflare_ddns_api_url`
/// points, with the staging token: the lab's stand-in for api.cloudflare.com, so the
/// `cloudflare_ddns` role's timer runs succeed as they would against the real API.
/// A lab process like the repository server: `lab down` ends it. No-op when running.
pub(crate) fn start_cf_standin(ctx: &Ctx) -> Result<(), String> {
    if ctx
        .lab
        .tracked(CF_STANDIN)
        .is_some_and(|t| super::state::alive(&t))
    {
        return Ok(());
    }
    let all = super::topology::load_group_vars(&ctx.inventory, "all")?;
    let api_url = all
        .get("cloudflare_ddns_api_url")
        .and_then(|v| v.as_str())
        .ok_or("inventory/staging: cloudflare_ddns_api_url is not set")?;
    let listen = cf_standin_listen(api_url)?;
    let zone = all
        .get("domain")
        .and_then(|v| v.as_str())
        .ok_or("inventory/staging: domain is not set")?
        .to_string();
    let token = staging_secret(&ctx.repo_root, "vault_cloudflare_api_token")?;
    let token_file = ctx.lab.run_dir().join("cf-standin.token");
    std::fs::create_dir_all(ctx.lab.run_dir()).map_err(|e| e.to_string())?;
    write_private(&token_file, token.expose())?;
    let bin = ctx.repo_root.join("target/release/cf-standin");
    let bin = bin.display().to_string();
    let token_arg = token_file.display().to_string();
    let ns = Netns::extra("internet");
    ctx.lab.spawn(
        CF_STANDIN,
        &[
            "ip",
            "netns",
            "exec",
            ns.name(),
            &bin,
            "--listen",
            &listen,
            "--zone",
            &zone,
            "--token-file",
            &token_arg,
        ],
        &[],
    )?;
    println!("    cf-standin (Cloudflare API test double) on {listen}, zone {zone}");
    Ok(())
}

/// The CI lab suite's module checks: `tests/lab/modules.yaml` (systemd units, sysctl,
/// users, fstab, packages, facts on real systemd hosts, Debian and Flatcar profile)
/// converges, and a second run changes nothing. The lab must be up.
pub fn module_suite() -> Result<(), String> {
    let ctx = Ctx::new();
    let pb = "tests/lab/modules.yaml";
    let (code, out) = fmc_run(&ctx, &[pb, "--output", "json"], true)?;
    if code != 0 {
        return Err(format!("{pb}: fmc-run exited {code}{}", failures(&out)));
    }
    let (code, out2) = fmc_run(&ctx, &[pb, "--output", "json"], true)?;
    let changed: u64 = recap(&out2)
        .values()
        .map(|h| h["changed"].as_u64().unwrap_or(0))
        .sum();
    if code != 0 || changed != 0 {
        return Err(format!(
            "{pb}: second run exited {code} with {changed} changes (must be 0 and 0){}\n{}",
            failures(&out2),
            out2.lines().last().unwrap_or_default()
        ));
    }
    // the authorized_key task for real: the probe user logs in with the lab key
    let topo = ctx.topology()?;
    for name in recap(&out).keys() {
        let host = topo.host(name)?;
        let who = super::run(&mut super::ssh_command_as(
            &ctx,
            "fmcprobe",
            host,
            &["id", "-un"],
        ))
        .map_err(|e| format!("{pb}: fmcprobe cannot log in to {name} with the lab key: {e}"))?;
        if who.trim() != "fmcprobe" {
            return Err(format!("{pb}: {name}: logged in as {who:?}"));
        }
    }
    println!(
        "{pb}: converged ({} hosts), second run changed nothing, fmcprobe logs in with its authorized key",
        recap(&out).len()
    );
    Ok(())
}
