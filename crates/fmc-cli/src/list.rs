//! `--list-hosts`, `--list-tasks`, `--list-tags` (Ansible's layout).

use std::collections::BTreeSet;
use std::sync::Arc;

use fmc_core::Map;
use fmc_inventory::Inventory;
use fmc_playbook::Playbook;
use fmc_runner::TagFilter;

use crate::args::Cli;
use crate::out;

pub fn print(
    pb: &Playbook,
    inv: &Inventory,
    cli: &Cli,
    tags: &TagFilter,
    extra: &Map,
) -> Result<(), String> {
    let templar = fmc_template::Templar::new();
    let mut vars = fmc_template::Vars::new();
    vars.push("extra vars", Arc::new(extra.clone()));
    out::line(&format!("\nplaybook: {}", pb.path.display()));
    for (n, play) in pb.plays.iter().enumerate() {
        let pattern = templar
            .render_str(&play.hosts, &vars)
            .map_err(|e| format!("{}: hosts: {e}", play.span))?;
        out::line(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            n + 1,
            pattern,
            play.name,
            play.tags.join(", ")
        ));
        if cli.list_hosts {
            let mut hosts = inv.select(&pattern).map_err(|e| e.to_string())?;
            if let Some(limit) = &cli.limit {
                let allowed = inv.select(limit).map_err(|e| e.to_string())?;
                hosts.retain(|h| allowed.contains(h));
            }
            out::line(&format!("    pattern: ['{pattern}']"));
            out::line(&format!("    hosts ({}):", hosts.len()));
            for h in hosts {
                out::line(&format!("      {h}"));
            }
        }
        let tasks = crate::preflight::play_tasks(play);
        if cli.list_tasks {
            out::line("    tasks:");
            for t in &tasks {
                if !tags.selects(&t.tags) {
                    continue;
                }
                out::line(&format!(
                    "      {}\tTAGS: [{}]",
                    t.display_name(),
                    t.tags.join(", ")
                ));
            }
        }
        if cli.list_tags {
            let all: BTreeSet<&str> = tasks
                .iter()
                .flat_map(|t| t.tags.iter().map(String::as_str))
                .collect();
            out::line(&format!(
                "      TASK TAGS: [{}]",
                all.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}
