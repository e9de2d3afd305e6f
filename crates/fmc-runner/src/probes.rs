//! Probe batching: the probes of the next tasks of a host run in the same exec as the
//! current task's probe, and their outputs wait in a per-host cache until those tasks
//! run.
//!
//! Why it is sound: probes only read state, so a probe's output stays valid for as long
//! as nothing changes the hosts. The run keeps one *epoch* counter that every action
//! (any exec that is not a probe, on any host, including delegated tasks and
//! handlers) moves before and after it runs. A cached output is used only if it was
//! probed in the current epoch and the later task sends exactly the same probe request
//! (task, script, `become`, environment). This keeps the linear strategy's guarantee
//! (a task sees the effects of every earlier task on every host, also across hosts
//! through shared filesystems or the network) at the price of a new batch after any
//! action anywhere.

use std::collections::HashMap;

use fmc_core::{BecomeSpec, ExecOutput};
use sha2::{Digest, Sha256};

/// The first batch of a host probes up to this many later tasks.
const FIRST_WINDOW: usize = 4;
/// The window grows by this factor after a batch where nothing ran.
const GROWTH: usize = 4;
/// Upper bound for the number of later tasks probed in one batch.
const MAX_WINDOW: usize = 64;

/// A probe request as the cache compares it.
#[derive(Clone, Debug)]
pub(crate) struct ProbeKey {
    /// The task's `file:line:col`.
    pub task: String,
    pub script: String,
    pub become_spec: Option<BecomeSpec>,
    pub env: Vec<(String, String)>,
}

impl ProbeKey {
    /// Whether both probes can share one exec (same `become` and environment).
    pub fn same_exec(&self, other: &ProbeKey) -> bool {
        self.env == other.env && same_become(self.become_spec.as_ref(), other.become_spec.as_ref())
    }
}

fn same_become(a: Option<&BecomeSpec>, b: Option<&BecomeSpec>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.user == b.user && a.method == b.method && a.password == b.password,
        _ => false,
    }
}

/// What a cached output was probed with: the script only as its SHA-256 (200 hosts
/// with dozens of prefetched probes each would otherwise hold every script).
struct Stored {
    script: [u8; 32],
    become_spec: Option<BecomeSpec>,
    env: Vec<(String, String)>,
}

fn digest(script: &str) -> [u8; 32] {
    Sha256::digest(script.as_bytes()).into()
}

impl Stored {
    fn of(k: ProbeKey) -> Self {
        Stored {
            script: digest(&k.script),
            become_spec: k.become_spec,
            env: k.env,
        }
    }

    /// Same script, `become` and environment (the task is the map's key).
    fn matches(&self, k: &ProbeKey) -> bool {
        self.script == digest(&k.script)
            && self.env == k.env
            && same_become(self.become_spec.as_ref(), k.become_spec.as_ref())
    }
}

/// One host's prefetched probe outputs.
pub(crate) struct ProbeCache {
    /// The epoch the entries were probed in.
    epoch: u64,
    /// By task (`file:line:col`).
    entries: HashMap<String, (Stored, ExecOutput)>,
    /// How many later tasks the next batch may probe.
    window: usize,
    /// The epoch when the last batch was sent.
    last_batch: Option<u64>,
}

impl Default for ProbeCache {
    fn default() -> Self {
        ProbeCache {
            epoch: 0,
            entries: HashMap::new(),
            window: FIRST_WINDOW,
            last_batch: None,
        }
    }
}

impl ProbeCache {
    /// Removes and returns the output prefetched for `key`, if it is still valid.
    pub fn take(&mut self, key: &ProbeKey, epoch: u64) -> Option<ExecOutput> {
        if self.epoch != epoch {
            self.entries.clear();
            return None;
        }
        match self.entries.get(&key.task) {
            Some((st, _)) if st.matches(key) => self.entries.remove(&key.task).map(|(_, out)| out),
            _ => None,
        }
    }

    /// Whether a valid output for `task` is already waiting.
    pub fn has(&self, task: &str, epoch: u64) -> bool {
        self.epoch == epoch && self.entries.contains_key(task)
    }

    /// Starts a batch in `epoch` and returns how many later tasks it may probe: the
    /// window grows while nothing runs between batches, drops to zero when
    /// prefetched outputs were wasted (an action ran before they were used) and stays
    /// otherwise, so a first run where every task changes falls back to one probe per
    /// exec after its first batch.
    pub fn start_batch(&mut self, epoch: u64) -> usize {
        let wasted = self.epoch != epoch && !self.entries.is_empty();
        self.window = match self.last_batch {
            None => self.window,
            Some(e) if e == epoch => (self.window * GROWTH).clamp(1, MAX_WINDOW),
            Some(_) if wasted => 0,
            Some(_) => self.window,
        };
        self.last_batch = Some(epoch);
        if self.epoch != epoch {
            self.entries.clear();
        }
        self.window
    }

    /// Keeps the outputs of a batch sent in `epoch`; dropped if an action ran since
    /// (`now` differs), which also counts as waste for the window (on many hosts
    /// changing at once the epoch moves during every batch).
    pub fn store(&mut self, epoch: u64, now: u64, outputs: Vec<(ProbeKey, ExecOutput)>) {
        if epoch != now {
            self.window = 0;
            return;
        }
        if self.epoch != epoch {
            self.entries.clear();
            self.epoch = epoch;
        }
        for (k, out) in outputs {
            self.entries.insert(k.task.clone(), (Stored::of(k), out));
        }
    }
}

/// A boundary that no probe output contains by accident.
pub(crate) fn boundary() -> String {
    format!("fmc-probe-{:032x}", rand::random::<u128>())
}

/// One script that runs each probe in its own subshell (stdin from /dev/null) and
/// frames its stdout, stderr and exit status with `boundary`.
pub(crate) fn batch_script(boundary: &str, scripts: &[&str]) -> String {
    let mut s = String::new();
    for (i, script) in scripts.iter().enumerate() {
        s.push_str(&format!(
            "printf '%s\\n' '{boundary} {i}'; printf '%s\\n' '{boundary} {i}' >&2\n\
             (\n{script}\n) </dev/null\n\
             printf '\\n%s %d\\n' '{boundary} {i}' \"$?\"; printf '\\n%s\\n' '{boundary} {i}' >&2\n"
        ));
    }
    s
}

/// Splits the output of [`batch_script`] into one output per probe; `None` when the
/// framing is incomplete (the batch shell died early).
pub(crate) fn split_batch(boundary: &str, n: usize, out: &ExecOutput) -> Option<Vec<ExecOutput>> {
    let mut res = Vec::with_capacity(n);
    let (mut o, mut e) = (0usize, 0usize);
    for i in 0..n {
        let start = format!("{boundary} {i}\n");
        let end = format!("\n{boundary} {i}");
        let (body, after) = framed(&out.stdout, &mut o, &start, &end)?;
        // After the end marker on stdout: " <rc>\n".
        let rest = out.stdout.get(after..)?;
        let nl = rest.iter().position(|b| *b == b'\n')?;
        let rc: i32 = std::str::from_utf8(rest.get(..nl)?)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        o = after + nl + 1;
        let (err, after_err) = framed(&out.stderr, &mut e, &start, &format!("{end}\n"))?;
        e = after_err;
        res.push(ExecOutput {
            rc,
            stdout: body,
            stderr: err,
        });
    }
    Some(res)
}

/// The bytes between `start` (searched from `*pos`) and the next `end`; returns them
/// and the index just after `end`.
fn framed(hay: &[u8], pos: &mut usize, start: &str, end: &str) -> Option<(Vec<u8>, usize)> {
    let from = *pos + find(hay.get(*pos..)?, start.as_bytes())? + start.len();
    let len = find(hay.get(from..)?, end.as_bytes())?;
    *pos = from;
    Some((hay.get(from..from + len)?.to_vec(), from + len + end.len()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(task: &str, script: &str) -> ProbeKey {
        ProbeKey {
            task: task.into(),
            script: script.into(),
            become_spec: None,
            env: vec![],
        }
    }

    fn run_sh(script: &str) -> ExecOutput {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        ExecOutput {
            rc: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }

    #[test]
    fn batch_outputs_match_separate_runs() {
        let scripts = [
            "echo one; echo err >&2; exit 3",
            "printf 'no newline'",
            "printf '\\n\\nblank lines\\n\\n'; exit 0",
            "cat; echo stdin-was-empty",
            "exit 7",
            "echo 'fmc-probe-0 0'; echo x >&2",
        ];
        let b = boundary();
        let out = run_sh(&batch_script(&b, &scripts));
        let parts = split_batch(&b, scripts.len(), &out).unwrap();
        for (s, got) in scripts.iter().zip(&parts) {
            assert_eq!(got, &run_sh(&format!("exec </dev/null\n{s}")), "{s}");
        }
    }

    #[test]
    fn incomplete_batch_is_rejected() {
        let b = boundary();
        let out = run_sh(&batch_script(
            &b,
            &["echo a", "kill -9 $$; sleep 1", "echo c"],
        ));
        assert!(split_batch(&b, 3, &out).is_none());
    }

    #[test]
    fn cache_hits_only_same_request_in_same_epoch() {
        let mut c = ProbeCache::default();
        let out = ExecOutput {
            rc: 0,
            stdout: b"x".to_vec(),
            stderr: vec![],
        };
        assert_eq!(c.start_batch(5), FIRST_WINDOW);
        c.store(5, 5, vec![(key("t:1:1", "stat a"), out.clone())]);
        assert!(c.has("t:1:1", 5));
        assert!(c.take(&key("t:1:1", "stat b"), 5).is_none(), "other script");
        assert_eq!(c.take(&key("t:1:1", "stat a"), 5), Some(out.clone()));
        assert!(c.take(&key("t:1:1", "stat a"), 5).is_none(), "taken once");
        c.store(5, 5, vec![(key("t:2:1", "stat a"), out.clone())]);
        assert!(
            c.take(&key("t:2:1", "stat a"), 6).is_none(),
            "an action ran"
        );
        // A batch during which an action ran is not kept.
        c.store(7, 8, vec![(key("t:3:1", "stat a"), out)]);
        assert!(!c.has("t:3:1", 7) && !c.has("t:3:1", 8));
    }

    fn prefetch(c: &mut ProbeCache, epoch: u64) {
        let out = ExecOutput::default();
        c.store(epoch, epoch, vec![(key("t:9:1", "stat x"), out)]);
    }

    #[test]
    fn window_grows_while_nothing_runs_and_drops_after_waste() {
        let mut c = ProbeCache::default();
        assert_eq!(c.start_batch(0), 4);
        assert_eq!(c.start_batch(0), 16);
        assert_eq!(c.start_batch(0), 64);
        assert_eq!(c.start_batch(0), 64);
        // An action ran, nothing prefetched was waiting: the window stays.
        assert_eq!(c.start_batch(2), 64);
        // An action ran while prefetched outputs were waiting: they were wasted.
        prefetch(&mut c, 2);
        assert_eq!(c.start_batch(4), 0);
        assert!(!c.has("t:9:1", 4));
        // Every task changes (a first run): no prefetching.
        assert_eq!(c.start_batch(6), 0);
        // A batch during which another host acted is wasted too.
        assert_eq!(c.start_batch(6), 1);
        c.store(6, 7, vec![(key("t:9:1", "stat x"), ExecOutput::default())]);
        assert_eq!(c.start_batch(8), 0);
        // Nothing ran since the last batch: grow again.
        assert_eq!(c.start_batch(8), 1);
        assert_eq!(c.start_batch(8), 4);
    }
}
