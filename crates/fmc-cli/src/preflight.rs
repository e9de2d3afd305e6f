//! Checks of the host and task selection before any host is touched, as
//! `ansible-playbook` makes them: warnings for a missing or empty inventory and for host
//! patterns that match nothing; bad input (exit 4) for a `--limit` that leaves no host
//! and for a `--start-at-task` that names no task.

use std::collections::HashSet;
use std::sync::Arc;

use fmc_core::Map;
use fmc_inventory::Inventory;
use fmc_playbook::{Play, Playbook, Task, TaskAction};
use fmc_runner::TagFilter;

/// What the user asked to select.
pub struct Selection<'a> {
    /// Whether any inventory source was given or configured.
    pub inventory_given: bool,
    pub limit: Option<&'a str>,
    pub start_at_task: Option<&'a str>,
    pub tags: &'a TagFilter,
    pub extra_vars: &'a Map,
}

/// Adds Ansible's warnings for the selection to `warnings` (its order and wording);
/// an error is the reason the selection cannot run (bad input), found after the
/// warnings that explain it.
pub fn check(
    inv: &Inventory,
    playbooks: &[Playbook],
    sel: &Selection<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    if !sel.inventory_given {
        warnings.push("No inventory was parsed, only implicit localhost is available".into());
    }
    let empty = inv.host_names().is_empty();
    if empty {
        warnings.push(
            "provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'"
                .into(),
        );
    }
    let mut warned = HashSet::new();
    if let Some(limit) = sel.limit {
        unmatched(inv, limit, &mut warned, warnings);
        let limited = inv.select(limit).map_err(|e| format!("--limit: {e}"))?;
        let all: HashSet<String> = inv.host_names().into_iter().collect();
        // As in Ansible, an inventory without hosts is not an error (only the
        // implicit localhost is there, which `all` never matches).
        if !empty && !limited.iter().any(|h| all.contains(h)) {
            return Err(format!(
                "--limit '{limit}' leaves no hosts to target: it matches none of the {} inventory hosts\nhint: --list-hosts shows the hosts of each play",
                all.len()
            ));
        }
    }
    let templar = fmc_template::Templar::new();
    let mut vars = fmc_template::Vars::new();
    vars.push("extra vars", Arc::new(sel.extra_vars.clone()));
    for play in playbooks.iter().flat_map(|pb| &pb.plays) {
        // A pattern that needs play variables is checked when the play runs.
        if let Ok(pattern) = templar.render_str(&play.hosts, &vars) {
            unmatched(inv, &pattern, &mut warned, warnings);
        }
    }
    if let Some(want) = sel.start_at_task {
        let found = playbooks
            .iter()
            .flat_map(|pb| &pb.plays)
            .flat_map(play_tasks)
            .any(|t| {
                !matches!(t.action, TaskAction::Meta(_))
                    && sel.tags.selects(&t.tags)
                    && (t.name.as_deref() == Some(want) || t.display_name() == want)
            });
        if !found {
            return Err(format!(
                "--start-at-task '{want}': no task has that name (among the tasks the tags select)\nhint: --list-tasks shows the names; a role's task is 'role : name'; tasks in include_tasks files are not searched"
            ));
        }
    }
    Ok(())
}

/// Warns once per part of `pattern` that names neither a host nor a group, as
/// Ansible's "Could not match supplied host pattern" does.
fn unmatched(
    inv: &Inventory,
    pattern: &str,
    warned: &mut HashSet<String>,
    warnings: &mut Vec<String>,
) {
    for base in inv.unmatched(pattern) {
        if warned.insert(base.clone()) {
            warnings.push(format!(
                "Could not match supplied host pattern, ignoring: {base}"
            ));
        }
    }
}

/// The tasks of a play in order (roles and their dependencies once each, blocks
/// flattened), without handlers: what `--list-tasks` shows and `--start-at-task` names.
pub fn play_tasks(play: &Play) -> Vec<&Task> {
    play.all_tasks(false)
        .into_iter()
        .filter(|t| !matches!(t.action, TaskAction::Block { .. }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inv.ini");
        std::fs::write(&p, text).unwrap();
        let inv = Inventory::load(&[p]).unwrap();
        (dir, inv)
    }

    fn warnings_for(inv: &Inventory, pattern: &str) -> Vec<String> {
        let mut w = vec![];
        unmatched(inv, pattern, &mut HashSet::new(), &mut w);
        w
    }

    #[test]
    fn warns_for_pattern_parts_that_name_no_host_or_group() {
        let (_d, inv) = inventory("[web]\nweb1\nweb2\n[db]\n[lb:children]\ndb\n");
        assert_eq!(
            warnings_for(&inv, "web:&nosuch:!other,web1"),
            [
                "Could not match supplied host pattern, ignoring: nosuch",
                "Could not match supplied host pattern, ignoring: other"
            ]
        );
        // an empty group, `all`, globs and subscripts that match, regexes: no warning
        for quiet in [
            "db",
            "lb",
            "all",
            "web*",
            "w?b2",
            "web[0]",
            "web[0:1]",
            "~nothing.*",
        ] {
            assert!(warnings_for(&inv, quiet).is_empty(), "{quiet}");
        }
        assert_eq!(warnings_for(&inv, "x*").len(), 1);
        assert_eq!(
            warnings_for(&inv, "nosuch[0]"),
            ["Could not match supplied host pattern, ignoring: nosuch"]
        );
        // localhost is implicit
        assert!(warnings_for(&inv, "localhost").is_empty());
    }
}
