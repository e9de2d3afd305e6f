//! Benchmarks against ansible-playbook and pyinfra (`cargo xtask bench`).

pub fn main(_args: &[String]) -> Result<(), String> {
    Err("bench: not implemented yet".into())
}
