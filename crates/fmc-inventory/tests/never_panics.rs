//! Property tests: loading arbitrary text and selecting arbitrary patterns never panic.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use fmc_inventory::Inventory;
use proptest::prelude::*;

/// Text built from inventory-ish fragments, so the parsers get deep, not just rejected.
fn inventory_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[web]\n".to_string()),
        Just("[web:vars]\n".to_string()),
        Just("[prod:children]\nweb\n".to_string()),
        Just("all:\n  hosts:\n".to_string()),
        Just("  children:\n    web:\n".to_string()),
        Just("    h[1:3]:\n".to_string()),
        Just("web[01:0x]:22 a='b c' d=[1,{2:3}]\n".to_string()),
        Just("x = True # c\n".to_string()),
        "[a-z\\[\\]:=#;'\" {}\\-0-9\n\\\\]{0,40}",
        any::<String>(),
    ];
    prop::collection::vec(fragment, 0..8).prop_map(|v| v.concat())
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9*?!&~:,\\[\\]\\-.^$()|\\\\ ]{0,24}", any::<String>(),]
}

fn sample() -> Inventory {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts");
    std::fs::write(
        &path,
        "solo\n[web]\nweb[01:04]\n[db]\ndb-[a:c]\n[prod:children]\nweb\ndb\n",
    )
    .unwrap();
    Inventory::load(&[path]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn loading_arbitrary_text_never_panics(text in inventory_text(), ext in prop_oneof![Just(""), Just(".yml"), Just(".ini")]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("hosts{ext}"));
        std::fs::write(&path, &text).unwrap();
        if let Ok(inv) = Inventory::load(&[path]) {
            for host in inv.host_names() {
                let _ = inv.host_vars(&host);
                let _ = inv.group_names(&host);
            }
            let _ = inv.groups();
            let _ = inv.select("all:!web");
        }
    }

    #[test]
    fn host_lists_never_panic(list in "[a-z0-9\\[\\]:,. ]{0,30}") {
        let _ = Inventory::load(&[PathBuf::from(format!("{list},"))]);
    }

    #[test]
    fn select_never_panics(p in pattern()) {
        let inv = sample();
        if let Ok(hosts) = inv.select(&p) {
            let mut unique = hosts.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), hosts.len(), "duplicates for {:?}", p);
        }
    }
}
