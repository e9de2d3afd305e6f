//! The runner: plays -> batches -> tasks per host.
//!
//! Architecture invariant: this is the only crate that decides whether a module's
//! actions are applied (never under `--check`), and it never prints: everything the
//! user sees goes out as [`fmc_core::Event`]s through an [`EventSink`].
//!
//! Strategy: Ansible's *linear* strategy. A task runs on every active host of the
//! batch (concurrently, bounded by `forks`) before the next task starts. A failing or
//! unreachable host stops only itself (unless `any_errors_fatal` /
//! `max_fail_percentage` say otherwise).
//!
//! Per host, a module costs one round trip when nothing changes (its probe), and one
//! more per action when something does. Probes of the next tasks ride along in the
//! same round trip while nothing changes (see `probes`).

mod connect;
mod controller;
mod exec;
mod files;
mod hostvars;
mod play;
mod probes;
mod tags;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fmc_core::{Event, HostRecap, Map, Secret};

pub use tags::TagFilter;

/// Receives every event of a run, in order. Implemented by the CLI's reporters.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Everything that shapes a run besides the playbook and the inventory.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `--check`: probe and plan only; never apply.
    pub check: bool,
    /// `--diff`: attach file diffs to results.
    pub diff: bool,
    /// `-f/--forks`: hosts worked on at once; `None` = every host of the batch.
    pub forks: Option<usize>,
    /// `--limit` pattern.
    pub limit: Option<String>,
    pub tags: TagFilter,
    /// `--start-at-task NAME`.
    pub start_at_task: Option<String>,
    /// `-e`: highest-precedence variables.
    pub extra_vars: Map,
    /// `--ask-become-pass`.
    pub become_password: Option<Secret<String>>,
    /// Passphrase for encrypted private keys (`--key-passphrase-file`).
    pub key_passphrase: Option<Secret<String>>,
    pub ssh: fmc_ssh::SshOptions,
    /// `-v` count: from 1 on, every result carries its registered fields.
    pub verbosity: u8,
    /// Lowest-precedence variables (`-u`, `--private-key`, ansible.cfg defaults).
    pub default_vars: Map,
    /// Values to redact from every event (vault secrets, the become password, ...).
    pub secrets: Vec<String>,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub recap: BTreeMap<String, HostRecap>,
    /// The `--start-at-task` task was reached (true without the flag). Ansible carries
    /// this across the playbooks of one command line: once reached, the next
    /// playbooks run from their first task, so the caller drops the flag for them.
    pub started: bool,
}

impl RunSummary {
    pub fn any_failed(&self) -> bool {
        self.recap.values().any(|r| r.failed > 0)
    }
    pub fn any_unreachable(&self) -> bool {
        self.recap.values().any(|r| r.unreachable > 0)
    }
}

/// Errors that stop the whole run before or between plays (bad input found late).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(String),
}

/// Runs a loaded playbook against an inventory. Emits events to `sink`, ending with
/// exactly one [`Event::Recap`].
pub async fn run_playbook(
    playbook: &fmc_playbook::Playbook,
    inventory: &fmc_inventory::Inventory,
    opts: &RunOptions,
    sink: Arc<dyn EventSink>,
) -> Result<RunSummary, RunError> {
    let run = play::Run::new(playbook, inventory, opts, sink.clone())?;
    let summary = run.execute().await?;
    sink.emit(Event::Recap {
        hosts: summary.recap.clone(),
    });
    Ok(summary)
}

/// The playbook's directory, absolute, used for `playbook_dir` and relative lookups.
pub(crate) fn playbook_dir(pb: &fmc_playbook::Playbook) -> PathBuf {
    let dir = pb
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    play::absolute(dir)
}
