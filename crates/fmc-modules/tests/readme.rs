//! The README's module table lists every module of the registry (docs cannot drift).

#[test]
fn readme_lists_every_module() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let missing: Vec<&str> = fmc_modules::registry()
        .names()
        .into_iter()
        .filter(|n| !readme.contains(&format!("| `{n}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from the README table: {missing:?}"
    );
}
