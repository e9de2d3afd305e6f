//! The staging lab (`cargo xtask lab ...`, `cargo xtask demo`).

pub fn main(_args: &[String]) -> Result<(), String> {
    Err("lab: not implemented yet".into())
}

pub fn demo(_args: &[String]) -> Result<(), String> {
    Err("demo: not implemented yet".into())
}
