//! Events the runner emits and reporters render. The JSON reporter writes each
//! event as one line (`serde_json`), so field names here are a public contract:
//! the last line of a run is exactly
//! `{"event":"recap","hosts":{"<host>":{"ok":N,"changed":N,"failed":N,"skipped":N,"unreachable":N}}}`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{FileDiff, Value};

/// Outcome words users know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// Per-host totals for the PLAY RECAP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostRecap {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unreachable: u32,
}

// Events are created and consumed one at a time; boxing the large variant would
// only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        playbook: String,
        check: bool,
    },
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        /// `file:line:col` of the task.
        location: String,
        handler: bool,
    },
    HostResult {
        host: String,
        task: String,
        status: HostStatus,
        /// Failed but `ignore_errors` (Ansible prints `...ignoring`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        ignored: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        delegated_to: Option<String>,
        /// Loop item label, when the task loops.
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<FileDiff>,
        /// What would change / changed, one line each.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        changes: Vec<String>,
        /// The registered result, already redacted (`no_log` -> censored).
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        duration_ms: u64,
    },
    /// A retry of `until`/`retries`.
    Retry {
        host: String,
        task: String,
        attempt: u32,
        retries: u32,
    },
    Warning {
        msg: String,
    },
    PlayEnd {
        name: String,
    },
    Recap {
        hosts: BTreeMap<String, HostRecap>,
    },
}
