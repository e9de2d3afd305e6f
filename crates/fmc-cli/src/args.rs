//! Command-line flags (clap). Kept apart from what the commands do.

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Ansible-like text (with a live progress display on a terminal).
    Human,
    /// One JSON object per line; the last line is the recap.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HostKeyChecking {
    /// Refuse unknown and changed host keys (default).
    Strict,
    /// Record unknown host keys; refuse changed ones.
    AcceptNew,
    /// No verification (throwaway hosts only).
    Off,
}

/// Converge hosts with Ansible-format playbooks, roles and inventories over SSH.
#[derive(Debug, Parser)]
#[command(name = "fmc-run", version, max_term_width = 100)]
pub struct Cli {
    /// Playbooks to run, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,

    /// Inventory file or directory (repeatable). Default: ANSIBLE_INVENTORY, then
    /// `inventory` from ./ansible.cfg, else only the implicit localhost.
    #[arg(short = 'i', long = "inventory", value_name = "PATH")]
    pub inventory: Vec<PathBuf>,

    /// Limit hosts to this pattern (e.g. `masters:!master3`).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Skip tasks with these tags (comma-separated, repeatable).
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,

    /// Extra variables: `k=v k2=v2`, JSON/YAML `{"k": 1}`, or `@file.yml` (repeatable).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    /// Report what would change, change nothing.
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Show differences in changed files.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,

    /// Hosts worked on at once (default: all hosts of the batch).
    #[arg(short = 'f', long = "forks", value_name = "N")]
    pub forks: Option<usize>,

    /// More output (-v results, -vv timings and connection details, -vvv debug logs).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Ask for the privilege-escalation (sudo) password.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,

    /// Read the become password from this file.
    #[arg(long = "become-password-file", value_name = "FILE")]
    pub become_password_file: Option<PathBuf>,

    /// File holding a vault password; `LABEL@FILE` for a vault id (repeatable).
    /// Also ANSIBLE_VAULT_PASSWORD_FILE.
    #[arg(long = "vault-password-file", value_name = "[LABEL@]FILE")]
    pub vault_password_file: Vec<String>,

    /// A vault id: `LABEL@FILE` or `LABEL@prompt` (repeatable).
    #[arg(long = "vault-id", value_name = "LABEL@SOURCE")]
    pub vault_id: Vec<String>,

    /// Ask for the vault password.
    #[arg(short = 'J', long = "ask-vault-pass")]
    pub ask_vault_pass: bool,

    /// Run tasks with become (sudo), as `become: true` on every play.
    #[arg(short = 'b', long = "become")]
    pub r#become: bool,

    /// Connect as this user unless the inventory says otherwise.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Private key file for every host without `ansible_ssh_private_key_file`.
    #[arg(long = "private-key", value_name = "FILE")]
    pub private_key: Option<PathBuf>,

    /// Passphrase for encrypted private keys, read from this file.
    #[arg(long = "key-passphrase-file", value_name = "FILE")]
    pub key_passphrase_file: Option<PathBuf>,

    /// Ask for the passphrase of encrypted private keys (ssh-agent is the usual way).
    #[arg(long = "ask-key-passphrase")]
    pub ask_key_passphrase: bool,

    /// Host key verification.
    #[arg(
        long = "host-key-checking",
        value_enum,
        env = "FMC_HOST_KEY_CHECKING",
        default_value = "strict"
    )]
    pub host_key_checking: HostKeyChecking,

    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts", value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// ssh_config file (default ~/.ssh/config; `none` to ignore).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// SSH connect timeout in seconds.
    #[arg(short = 'T', long = "timeout", default_value_t = 10)]
    pub timeout: u64,

    /// Extra role search paths (also ANSIBLE_ROLES_PATH, colon-separated).
    #[arg(long = "roles-path", value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,

    /// Start at the task with this name.
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,

    /// List the hosts each play would run on, then exit.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,

    /// List the tasks that would run, then exit.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,

    /// List all tags, then exit.
    #[arg(long = "list-tags")]
    pub list_tags: bool,

    /// Check the playbook's syntax and modules, then exit.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,

    /// Output format.
    #[arg(long = "output", value_enum, default_value = "human")]
    pub output: OutputFormat,

    /// Live progress display.
    #[arg(long = "progress", value_enum, default_value = "auto")]
    pub progress: Progress,
}
