//! `cf-standin`: runs the Cloudflare API **test double** (see the library docs) until
//! killed. Never point production at it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use cf_standin::{Options, Standin};
use clap::Parser;

/// A test double of the Cloudflare API subset fmc-ddns uses (plain HTTP).
#[derive(Parser)]
#[command(name = "cf-standin", version)]
struct Cli {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// File holding the only API token accepted.
    #[arg(long)]
    token_file: PathBuf,
    /// A zone the token may see (repeatable).
    #[arg(long = "zone", required = true)]
    zones: Vec<String>,
    /// The public address the discovery endpoints report (default for IPv4: the caller's).
    #[arg(long)]
    public_ip: Option<IpAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = match std::fs::read_to_string(&cli.token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => {
            eprintln!("cf-standin: error: {} is empty", cli.token_file.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!(
                "cf-standin: error: cannot read {}: {e}",
                cli.token_file.display()
            );
            return ExitCode::from(2);
        }
    };
    let opts = Options {
        token,
        zones: cli.zones,
        public_ip: cli.public_ip,
    };
    match Standin::start(cli.listen, opts) {
        Ok(s) => {
            println!(
                "cf-standin (Cloudflare API test double) listening on http://{} (API at {})",
                s.addr(),
                s.api_url()
            );
            s.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cf-standin: error: cannot listen on {}: {e}", cli.listen);
            ExitCode::from(1)
        }
    }
}
