//! `cargo xtask ci`: what CI runs, and the README's test command.
//!
//! 1. installs the Debian packages the tests need (real sshd and sudo for the
//!    end-to-end tests) when they are missing;
//! 2. checks formatting and clippy;
//! 3. runs every test of the workspace;
//! 4. runs the staging-lab suite: builds the lab images (cached in `.lab/`), brings
//!    the lab up, converges `playbooks/site.yaml`, re-runs it asserting nothing
//!    changes, runs the health checks, converges `tests/lab/modules.yaml` twice
//!    (system modules against real systemd hosts), runs the role checks
//!    (`cargo xtask lab test`: VIP failover, exposure, time, NFS, DDNS, PostgreSQL,
//!    drift), and tears the lab down (also on failure).

use std::process::Command;
use std::time::Instant;

use crate::util::{run, step};

/// Debian packages the test suite needs.
const TEST_PACKAGES: &[&str] = &["openssh-server", "openssh-client", "sudo"];

pub fn main(args: &[String]) -> Result<(), String> {
    let t = Instant::now();
    let result = suite(args);
    // CI's limit is 90 minutes on 2 cores; the aim is under 30
    println!(
        "==> cargo xtask ci: {} after {:.1} min",
        if result.is_ok() { "passed" } else { "FAILED" },
        t.elapsed().as_secs_f64() / 60.0
    );
    result
}

fn suite(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--no-lint");
    let lab = !args.iter().any(|a| a == "--no-lab");
    step("installing test dependencies");
    ensure_packages(TEST_PACKAGES)?;
    if !quick {
        step("cargo fmt --check");
        run(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))?;
        step("cargo clippy");
        run(Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    step("cargo test");
    run(Command::new("cargo").args(["test", "--workspace", "--no-fail-fast"]))?;
    if lab {
        step("staging lab suite (cargo xtask demo, then lab down)");
        let result = crate::lab::demo(&[]).and_then(|()| {
            step("staging lab suite: system modules on real systemd hosts");
            crate::lab::module_suite()?;
            step("staging lab suite: role checks (cargo xtask lab test)");
            crate::lab::role_checks()
        });
        let down = crate::lab::main(&["down".to_string()]);
        result?;
        down?;
        // down checks that nothing is left; a second one must find nothing to do
        step("staging lab suite: lab down again (idempotent)");
        crate::lab::main(&["down".to_string()])?;
    }
    Ok(())
}

/// Installs the missing ones of `pkgs` with apt (as root); a no-op when all are there.
pub fn ensure_packages(pkgs: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("  installing: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
