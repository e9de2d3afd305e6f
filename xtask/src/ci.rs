//! `cargo xtask ci`: what CI runs.

pub fn main(_args: &[String]) -> Result<(), String> {
    Err("ci: not implemented yet".into())
}
