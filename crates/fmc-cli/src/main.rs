//! `fmc-run`: the command-line front end.
//!
//! Architecture invariant: the only crate that writes to the terminal and decides
//! the process exit code: 0 success, 2 a host failed, 3 a host unreachable (and none
//! failed), 4 bad input (playbook, inventory, template, flags).

mod args;
mod config;
mod extra_vars;
mod list;
mod out;
mod preflight;
mod report;
mod vault_pw;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fmc_core::Secret;

use crate::args::{Cli, HostKeyChecking, OutputFormat};

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_BAD_INPUT: u8 = 4;

/// An error before any host is touched: printed, exit 4.
struct InputError(String);

impl<E: std::fmt::Display> From<E> for InputError {
    fn from(e: E) -> Self {
        InputError(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::from(EXIT_OK);
            }
            let _ = e.print();
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            if json_requested(&args) {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                json_error(first.strip_prefix("error: ").unwrap_or(first));
            }
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    init_logging(cli.verbose);
    let json = cli.output == OutputFormat::Json;
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => Err(InputError(format!("cannot start the async runtime: {e}"))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(InputError(msg)) => {
            out::err_line(&format!("error: {msg}"));
            if json {
                json_error(&msg);
            }
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// `--output json` (or `--output=json`) among raw arguments clap refused.
fn json_requested(args: &[std::ffi::OsString]) -> bool {
    args.iter().any(|a| a == "--output=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--output" && w[1] == "json")
}

/// Bad input under `--output json`: one error event on stdout, so a consumer of the
/// stream sees why the run did not happen (the message is on stderr too).
fn json_error(msg: &str) {
    let e = serde_json::json!({"event": "error", "message": msg, "exit_code": EXIT_BAD_INPUT});
    out::line(&e.to_string());
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0..=2 => "warn",
        3 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FMC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Vault passwords from `--vault-password-file`, `--vault-id`, `--ask-vault-pass`
/// and ANSIBLE_VAULT_PASSWORD_FILE, installed before any file is read.
fn setup_vault(cli: &Cli) -> Result<(), InputError> {
    let mut sources: Vec<String> = cli.vault_password_file.clone();
    sources.extend(cli.vault_id.iter().cloned());
    let secrets = vault_pw::load(&sources, cli.ask_vault_pass).map_err(InputError)?;
    if !secrets.is_empty() {
        fmc_yaml::set_vault_secrets(secrets);
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<u8, InputError> {
    let (cfg, mut warnings) = config::AnsibleCfg::find()?;
    setup_vault(&cli)?;

    // Inventory.
    let mut sources = cli.inventory.clone();
    if sources.is_empty() {
        if let Some(env) = std::env::var_os("ANSIBLE_INVENTORY") {
            sources.extend(
                env.to_string_lossy()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from),
            );
        } else if let Some(inv) = &cfg.inventory {
            sources.extend(inv.iter().cloned());
        }
    }
    let inventory_given = !sources.is_empty();
    let mut inventory = if sources.is_empty() {
        fmc_inventory::Inventory::localhost_only()
    } else {
        fmc_inventory::Inventory::load(&sources)?
    };

    // Playbooks (loaded and validated up front: bad input exits 4 before any host is touched).
    let mut role_paths = cli.roles_path.clone();
    if let Some(env) = std::env::var_os("ANSIBLE_ROLES_PATH") {
        role_paths.extend(std::env::split_paths(&env));
    }
    role_paths.extend(cfg.roles_path.iter().cloned());
    let mut playbooks = vec![];
    for pb_path in &cli.playbooks {
        if !pb_path.exists() {
            return Err(InputError(format!(
                "playbook not found: {}",
                pb_path.display()
            )));
        }
        let mut paths = role_paths.clone();
        if let Some(dir) = pb_path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            paths.push(dir.join("..").join("roles"));
            inventory.add_vars_dir(dir)?;
        }
        let opts = fmc_playbook::LoadOptions { role_paths: paths };
        let mut pb = fmc_playbook::load_playbook(pb_path, &opts)?;
        if cli.r#become {
            for p in &mut pb.plays {
                p.defaults.r#become = Some(true);
            }
        }
        let problems = fmc_runner::validate::validate(&pb);
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(InputError(text.join("\n")));
        }
        playbooks.push(pb);
    }
    // group_vars/host_vars files shadowed by a directory of the same name
    warnings.extend(inventory.warnings().iter().cloned());

    // Extra vars.
    let mut extra = fmc_core::Map::new();
    for e in &cli.extra_vars {
        for (k, v) in extra_vars::parse(e)? {
            extra.insert(k, v);
        }
    }

    let tags = fmc_runner::TagFilter {
        only: cli
            .tags
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        skip: cli
            .skip_tags
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };

    let listing = cli.syntax_check || cli.list_hosts || cli.list_tasks || cli.list_tags;
    let selection = preflight::Selection {
        inventory_given,
        limit: cli.limit.as_deref(),
        // Ansible ignores --start-at-task when it only lists.
        start_at_task: cli.start_at_task.as_deref().filter(|_| !listing),
        tags: &tags,
        extra_vars: &extra,
    };
    let checked = preflight::check(&inventory, &playbooks, &selection, &mut warnings);
    if listing || checked.is_err() {
        for w in warnings.drain(..) {
            out::err_line(&format!("[WARNING]: {w}"));
        }
    }
    checked?;
    if cli.syntax_check {
        for pb in &playbooks {
            out::line(&format!("playbook: {}", pb.path.display()));
        }
        return Ok(EXIT_OK);
    }
    if listing {
        for pb in &playbooks {
            list::print(pb, &inventory, &cli, &tags, &extra)?;
        }
        return Ok(EXIT_OK);
    }

    guard_lab_namespace(&inventory)?;

    let become_password = if let Some(f) = &cli.become_password_file {
        Some(vault_pw::read_secret_file(f).map_err(InputError)?)
    } else if cli.ask_become_pass {
        let p = rpassword::prompt_password("BECOME password: ")
            .map_err(|e| InputError(format!("reading the become password: {e}")))?;
        Some(Secret::new(p))
    } else {
        None
    };

    let key_passphrase = if let Some(f) = &cli.key_passphrase_file {
        Some(vault_pw::read_secret_file(f).map_err(InputError)?)
    } else if cli.ask_key_passphrase {
        let p = rpassword::prompt_password("Private key passphrase: ")
            .map_err(|e| InputError(format!("reading the key passphrase: {e}")))?;
        Some(Secret::new(p))
    } else {
        None
    };

    let ssh = fmc_ssh::SshOptions {
        host_key_policy: match cli.host_key_checking {
            HostKeyChecking::Strict => fmc_ssh::HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => fmc_ssh::HostKeyPolicy::AcceptNew,
            HostKeyChecking::Off => fmc_ssh::HostKeyPolicy::Off,
        },
        known_hosts: cli.known_hosts.clone(),
        ssh_config: match &cli.ssh_config {
            Some(p) if p.as_os_str() == "none" => None,
            Some(p) => Some(p.clone()),
            None => fmc_ssh::SshOptions::default().ssh_config,
        },
        connect_timeout: std::time::Duration::from_secs(cli.timeout.max(1)),
        ..fmc_ssh::SshOptions::default()
    };
    // `-u`/`--private-key`/ansible.cfg apply to hosts that do not set the variable.
    let mut default_vars = fmc_core::Map::new();
    if let Some(user) = cli.user.clone().or(cfg.remote_user.clone()) {
        default_vars.insert("ansible_user".into(), user.into());
    }
    if let Some(key) = cli.private_key.clone().or(cfg.private_key_file.clone()) {
        default_vars.insert(
            "ansible_ssh_private_key_file".into(),
            key.display().to_string().into(),
        );
    }

    let mut secrets = vec![];
    if let Some(p) = &become_password {
        secrets.push(p.expose().clone());
    }
    if let Some(p) = &key_passphrase {
        secrets.push(p.expose().clone());
    }
    let mut opts = fmc_runner::RunOptions {
        check: cli.check,
        diff: cli.diff,
        forks: cli.forks.or(cfg.forks),
        limit: cli.limit.clone(),
        tags,
        start_at_task: cli.start_at_task.clone(),
        extra_vars: extra,
        become_password,
        key_passphrase,
        ssh,
        verbosity: cli.verbose,
        secrets,
        default_vars,
    };

    let reporter: Arc<report::Reporter> = Arc::new(report::Reporter::new(
        cli.output,
        cli.progress,
        cli.verbose,
        cli.diff,
    ));
    let mut summary = fmc_runner::RunSummary::default();
    for (n, pb) in playbooks.iter().enumerate() {
        reporter.playbook_start(&pb.path, cli.check, cli.diff);
        if n == 0 {
            for msg in warnings.drain(..) {
                fmc_runner::EventSink::emit(&*reporter, fmc_core::Event::Warning { msg });
            }
        }
        let sink: Arc<dyn fmc_runner::EventSink> = reporter.clone();
        let s = fmc_runner::run_playbook(pb, &inventory, &opts, sink)
            .await
            .map_err(|e| InputError(e.to_string()))?;
        if s.started {
            // later playbooks run from their first task (Ansible)
            opts.start_at_task = None;
        }
        for (h, r) in s.recap {
            let e = summary.recap.entry(h).or_default();
            e.ok += r.ok;
            e.changed += r.changed;
            e.failed += r.failed;
            e.skipped += r.skipped;
            e.unreachable += r.unreachable;
        }
        if s_failed_stop(&summary) {
            break;
        }
    }
    reporter.finish(&summary.recap);
    Ok(if summary.any_failed() {
        EXIT_FAILED
    } else if summary.any_unreachable() {
        EXIT_UNREACHABLE
    } else {
        EXIT_OK
    })
}

/// With several playbooks, stop after one that failed (like running them in sequence
/// with `&&`).
fn s_failed_stop(s: &fmc_runner::RunSummary) -> bool {
    s.any_failed() || s.any_unreachable()
}

/// A staging inventory names the lab's network namespace (`fmc_lab_netns`); running
/// it from anywhere else could send lab traffic to the real network, so refuse.
fn guard_lab_namespace(inv: &fmc_inventory::Inventory) -> Result<(), InputError> {
    let wanted = inv.host_names().iter().find_map(|h| {
        inv.host_vars(h)
            .get("fmc_lab_netns")
            .and_then(fmc_core::lenient::to_string)
    });
    let Some(ns) = wanted else { return Ok(()) };
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").map(|m| (m.dev(), m.ino()));
    let lab = std::fs::metadata(format!("/run/netns/{ns}")).map(|m| (m.dev(), m.ino()));
    match (ours, lab) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        _ => Err(InputError(format!(
            "this inventory belongs to the staging lab and must run inside its network namespace '{ns}'\nhint: cargo xtask lab exec -- fmc-run ..."
        ))),
    }
}
