//! Developer tasks: `cargo xtask ci | lab | bench | demo`.

mod bench;
mod ci;
mod lab;
mod util;

use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: cargo xtask <ci|lab|bench|demo> [args...]\n\
     \n  ci      install test dependencies and run the whole test suite (what CI runs)\
     \n  lab     manage the staging lab: up | down | status | ssh HOST | exec -- CMD | stop HOST | start HOST | reset HOST\
     \n  bench   benchmark fmc-run against ansible-playbook and pyinfra (--quick for a short run)\
     \n  demo    build, bring the lab up, converge playbooks/site.yaml and print a health table"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "ci" => ci::main(rest),
        "lab" => lab::main(rest),
        "bench" => bench::main(rest),
        "demo" => lab::demo(rest),
        "-h" | "--help" | "help" => {
            println!("{}", usage());
            Ok(())
        }
        other => Err(format!("unknown command '{other}'\n{}", usage())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
