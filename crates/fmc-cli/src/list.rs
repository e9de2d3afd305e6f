//! `--list-hosts`, `--list-tasks`, `--list-tags` (Ansible's layout).

use std::collections::BTreeSet;
use std::sync::Arc;

use fmc_core::Map;
use fmc_inventory::Inventory;
use fmc_playbook::{Playbook, TaskAction};
use fmc_runner::TagFilter;

use crate::args::Cli;

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
    println!("\nplaybook: {}", pb.path.display());
    for (n, play) in pb.plays.iter().enumerate() {
        let pattern = templar
            .render_str(&play.hosts, &vars)
            .map_err(|e| format!("{}: hosts: {e}", play.span))?;
        println!(
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            n + 1,
            pattern,
            play.name,
            play.tags.join(", ")
        );
        if cli.list_hosts {
            let mut hosts = inv.select(&pattern).map_err(|e| e.to_string())?;
            if let Some(limit) = &cli.limit {
                let allowed = inv.select(limit).map_err(|e| e.to_string())?;
                hosts.retain(|h| allowed.contains(h));
            }
            println!("    pattern: ['{pattern}']");
            println!("    hosts ({}):", hosts.len());
            for h in hosts {
                println!("      {h}");
            }
        }
        let tasks = fmc_runner::validate::play_tasks(play);
        if cli.list_tasks {
            println!("    tasks:");
            for t in &tasks {
                if matches!(t.action, TaskAction::Block { .. }) || !tags.selects(&t.tags) {
                    continue;
                }
                if play.handlers.iter().any(|h| std::ptr::eq(h, *t)) {
                    continue;
                }
                println!("      {}\tTAGS: [{}]", t.display_name(), t.tags.join(", "));
            }
        }
        if cli.list_tags {
            let all: BTreeSet<&str> = tasks
                .iter()
                .flat_map(|t| t.tags.iter().map(String::as_str))
                .collect();
            println!(
                "      TASK TAGS: [{}]",
                all.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}
