//! `fmc-ddns`: see the library docs. Exit codes: 0 every record is in sync (created,
//! updated or unchanged), 1 a run failed (network, discovery, API error: the message
//! says which), 2 bad usage, configuration or token file (nothing was sent).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fmc_ddns::{Config, read_token};

/// Keeps Cloudflare A/AAAA records on this machine's public address.
#[derive(Parser)]
#[command(name = "fmc-ddns", version)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long, short, default_value = "/etc/fmc-ddns/config.yaml")]
    config: PathBuf,
    /// Token file to use instead of the configuration's `token_file` (e.g. a systemd
    /// credential: `--token-file %d/cloudflare-token`).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Read the records and say what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Check the configuration and the token file, then exit; sends nothing.
    #[arg(long, conflicts_with = "dry_run")]
    check_config: bool,
}

fn fail(code: u8, msg: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("fmc-ddns: error: {msg}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => return fail(2, &e),
    };
    let Some(token_file) = cli.token_file.as_ref().or(cfg.token_file.as_ref()) else {
        return fail(
            2,
            &format!(
                "{}: no token_file\nhint: set token_file in the configuration or pass --token-file",
                cli.config.display()
            ),
        );
    };
    let token = match read_token(token_file) {
        Ok(t) => t,
        Err(e) => return fail(2, &e),
    };
    if cli.check_config {
        println!(
            "{}: ok ({} records in zone {})",
            cli.config.display(),
            cfg.records.len(),
            cfg.zone
        );
        return ExitCode::SUCCESS;
    }
    if cfg.api_url.starts_with("http://") {
        eprintln!(
            "fmc-ddns: warning: api_url {} is plain http: the token travels unencrypted (only for the test double; production uses https)",
            cfg.api_url
        );
    }
    let results = match fmc_ddns::run(&cfg, token, cli.dry_run) {
        Ok(r) => r,
        Err(e) => return fail(1, &e),
    };
    let mut failed = 0;
    for r in &results {
        if r.outcome.is_err() {
            failed += 1;
            eprintln!("fmc-ddns: {r}");
        } else {
            println!("{r}");
        }
    }
    if failed > 0 {
        fail(
            1,
            &format!(
                "{failed} of {} records could not be brought in sync",
                results.len()
            ),
        )
    } else {
        ExitCode::SUCCESS
    }
}
