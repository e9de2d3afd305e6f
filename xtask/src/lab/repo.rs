//! The lab's apt repository: the packages listed in `lab/repo-packages.txt` and their
//! dependencies, downloaded with this machine's apt, served over HTTP from the controller's
//! address inside the lab (`deb [trusted=yes] http://CONTROLLER:PORT ./`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::image::Image;
use super::net::Netns;
use super::run;
use super::state::Lab;
use super::topology::Topology;

/// Name of the repository server in the lab's pid files and cgroups.
pub const SERVER: &str = "repo-server";
const STAMP: &str = ".fmc-lab-stamp";

/// The package names of a list file: one or more per line, `#` starts a comment.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .map(str::to_string)
        .collect()
}

/// The repository directory.
pub fn dir(lab: &Lab) -> PathBuf {
    lab.dir.join("repo")
}

/// Downloads the listed packages (with dependencies missing from the Debian image) unless
/// the repository already matches the list and the image.
pub fn ensure(lab: &Lab, list_file: &Path, debian: &Image) -> Result<(), String> {
    let text =
        fs::read_to_string(list_file).map_err(|e| format!("{}: {e}", list_file.display()))?;
    let packages = parse_list(&text);
    for p in &packages {
        if !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:=~".contains(c))
        {
            return Err(format!(
                "{}: '{p}' is not a package name",
                list_file.display()
            ));
        }
    }
    let mut h = Sha256::new();
    h.update(packages.join("\n").as_bytes());
    h.update(debian.dir.to_string_lossy().as_bytes());
    let stamp = hex::encode(h.finalize());
    let repo = dir(lab);
    if fs::read_to_string(repo.join(STAMP)).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    let t = Instant::now();
    eprintln!(
        "lab: filling the package repository ({} packages and dependencies) ...",
        packages.len()
    );
    let tmp = lab.dir.join("repo.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    fs::create_dir_all(tmp.join("partial")).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let download = || {
        let mut c = Command::new("apt-get");
        c.args([
            "-q",
            "-y",
            "--download-only",
            "-o",
            "Debug::NoLocking=1",
            "-o",
        ])
        .arg(format!(
            "Dir::State::status={}",
            debian.dir.join("var/lib/dpkg/status").display()
        ))
        .arg("-o")
        .arg(format!("Dir::Cache::archives={}/", tmp.display()))
        .args(["-o", "APT::Install-Recommends=true", "install"])
        .args(&packages);
        run(&mut c)
    };
    if download().is_err() {
        // this machine's package lists may be missing or stale
        run(Command::new("apt-get").args(["-q", "update"]))?;
        download()?;
    }
    let _ = fs::remove_dir_all(tmp.join("partial"));
    let _ = fs::remove_file(tmp.join("lock"));
    let index = run(Command::new("dpkg-scanpackages")
        .args(["--multiversion", "."])
        .current_dir(&tmp))?;
    fs::write(tmp.join("Packages"), index).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::write(tmp.join(STAMP), &stamp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if repo.exists() {
        fs::remove_dir_all(&repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    }
    fs::rename(&tmp, &repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    let count = fs::read_dir(&repo)
        .map(|rd| rd.count())
        .unwrap_or(0)
        .saturating_sub(2);
    eprintln!(
        "lab: repository ready ({count} packages) in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Serves the repository from the controller's address inside the lab namespace.
pub fn serve(lab: &Lab, topo: &Topology) -> Result<u32, String> {
    let repo = dir(lab).display().to_string();
    let port = topo.repo_port.to_string();
    let bind = topo.controller.to_string();
    let ns = Netns::lab();
    let args = [
        "ip",
        "netns",
        "exec",
        ns.name(),
        "/usr/bin/python3",
        "-m",
        "http.server",
        &port,
        "--bind",
        &bind,
        "--directory",
        &repo,
    ];
    lab.spawn(SERVER, &args, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_files_allow_comments_and_several_names_per_line() {
        assert_eq!(
            parse_list("# c\nhaproxy keepalived # lb\n\n chrony\n"),
            ["haproxy", "keepalived", "chrony"]
        );
    }

    #[test]
    fn the_repository_list_of_the_lab_parses() {
        let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/repo-packages.txt");
        let pkgs = parse_list(&fs::read_to_string(list).unwrap());
        assert!(pkgs.iter().any(|p| p == "haproxy"));
    }
}
