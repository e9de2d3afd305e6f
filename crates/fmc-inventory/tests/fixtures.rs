//! Loads the fixture inventories under `tests/fixtures/` as `fmc-run -i` would.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use fmc_inventory::Inventory;
use serde_json::json;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn production_ini() {
    let inv = Inventory::load(&[fixture("production/hosts.ini")]).unwrap();
    let masters = strings(&["10.17.4.21", "10.17.4.22", "10.17.4.23"]);
    let workers = strings(&["10.17.4.24", "10.17.4.25", "10.17.4.26"]);
    let groups = inv.groups();
    assert_eq!(groups["masters"], masters);
    assert_eq!(groups["workers"], workers);
    assert_eq!(
        groups["longhorn_nodes"],
        strings(&["10.17.4.24", "10.17.4.25", "10.17.4.26", "10.17.4.27"])
    );
    assert_eq!(groups["k3s_cluster"].len(), 7);
    assert_eq!(groups["all"].len(), 10);
    assert!(groups["ungrouped"].is_empty());
    assert_eq!(
        inv.group_names("10.17.4.27"),
        strings(&["k3s_cluster", "longhorn_nodes", "storage"])
    );

    let storage = inv.host_vars("10.17.4.27");
    assert_eq!(storage["ansible_user"], json!("core"));
    assert_eq!(storage["longhorn_disk"], json!("/dev/vdb"));
    assert_eq!(storage["k3s_version"], json!("v1.31.4+k3s1"));
    assert_eq!(storage["enable_metrics"], json!(true));
    assert_eq!(storage["k3s_master_ip"], json!("10.17.4.21"));
    assert_eq!(storage["storage_mount"], json!("/mnt/longhorn"));
    assert_eq!(storage["timezone"], json!("Europe/Madrid"));
    assert_eq!(storage["dns_servers"], json!(["10.17.3.11", "1.1.1.1"]));

    let lb1 = inv.host_vars("loadbalancer1");
    assert_eq!(lb1["ansible_host"], json!("192.168.0.30"));
    assert_eq!(lb1["keepalived_priority_api"], json!(110));
    assert_eq!(lb1["keepalived_initial_state"], json!("MASTER"));
    let lb2 = inv.host_vars("loadbalancer2");
    assert_eq!(lb2["ansible_port"], json!(2222));
    assert_eq!(lb2["keepalived_priority_api"], json!(100));
    assert_eq!(lb2["keepalived_initial_state"], json!("BACKUP"));
    assert_eq!(lb2["keepalived_interface"], json!("eth0"));

    assert_eq!(inv.select("masters[0]").unwrap(), strings(&["10.17.4.21"]));
    assert_eq!(
        inv.select("k3s_cluster:!masters:!storage").unwrap(),
        workers
    );
    assert_eq!(
        inv.select("10.17.3.*:loadbalancer*").unwrap(),
        strings(&["10.17.3.11", "loadbalancer1", "loadbalancer2"])
    );
    assert_eq!(
        inv.select("infra-cluster").unwrap(),
        strings(&["10.17.3.11"])
    );
}

#[test]
fn staging_directory_with_vars_dirs_and_playbook_dir() {
    let mut inv = Inventory::load(&[fixture("staging")]).unwrap();
    assert_eq!(
        inv.host_names(),
        strings(&[
            "lab-master1",
            "lab-master2",
            "lab-master3",
            "lab-worker1",
            "lab-worker2",
            "lab-lb1",
            "lab-lb2"
        ])
    );
    let m1 = inv.host_vars("lab-master1");
    assert_eq!(m1["ansible_user"], json!("lab"));
    assert_eq!(m1["ansible_host"], json!("127.0.0.1"));
    assert_eq!(m1["k3s_version"], json!("v1.31.4+k3s1"));
    assert_eq!(m1["k3s_role"], json!("server-init"));
    assert_eq!(m1["etcd"], json!(true));
    assert_eq!(m1["timezone"], json!("UTC"));
    assert_eq!(m1["network"], json!({"cidr": "10.98.0.0/24", "mtu": 1400}));
    assert_eq!(inv.host_vars("lab-master2")["k3s_role"], json!("server"));
    assert_eq!(inv.host_vars("lab-worker2")["ansible_port"], json!(2202));
    assert!(inv.host_vars("lab-worker2").get("k3s_role").is_none());
    assert_eq!(
        inv.host_vars("lab-lb1")["keepalived_priority_api"],
        json!(110)
    );
    assert_eq!(
        inv.select("k3s_cluster:&~lab-(master|worker)[12]").unwrap(),
        strings(&["lab-master1", "lab-master2", "lab-worker1", "lab-worker2"])
    );

    inv.add_vars_dir(&fixture("playbook")).unwrap();
    assert_eq!(inv.host_vars("lab-master1")["timezone"], json!("Etc/UTC"));
    assert_eq!(
        inv.host_vars("lab-lb1")["keepalived_priority_api"],
        json!(150)
    );
    assert!(
        inv.host_vars("lab-lb2")
            .get("keepalived_priority_api")
            .is_none()
    );
}

#[test]
fn both_inventories_together() {
    let inv = Inventory::load(&[fixture("production/hosts.ini"), fixture("staging")]).unwrap();
    assert_eq!(inv.groups()["masters"].len(), 6);
    // Each source's group_vars apply; the later source wins on conflicts.
    assert_eq!(inv.host_vars("10.17.4.21")["timezone"], json!("UTC"));
    assert_eq!(
        inv.host_vars("lab-lb1")["keepalived_interface"],
        json!("eth0")
    );
}
