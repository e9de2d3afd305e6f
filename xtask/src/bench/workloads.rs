//! The workloads, written into `<workdir>/gen`: one playbook/role/inventory set shared by
//! ansible-playbook and fmc-run, and the equivalent pyinfra deploys.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::hosts::{Host, USER};

/// Tasks in the W3 role.
pub const W3_TASKS: u32 = 50;

/// One timed cell kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// One command task.
    W1,
    /// Four idempotent tasks from scratch.
    W2First,
    /// The same four tasks on converged hosts.
    W2NoChange,
    /// The 50-task role from scratch (converges the hosts for `W3NoChange`; not in the table).
    W3First,
    /// The 50-task role on converged hosts.
    W3NoChange,
}

impl Workload {
    /// The timed workloads, in run order.
    pub const TABLE: [Workload; 4] = [
        Workload::W1,
        Workload::W2First,
        Workload::W2NoChange,
        Workload::W3NoChange,
    ];

    /// Table title.
    pub fn title(self) -> &'static str {
        match self {
            Workload::W1 => "W1: one command task",
            Workload::W2First => "W2 first run: directory, copy, line, template",
            Workload::W2NoChange => "W2 no-change re-run",
            Workload::W3First => "W3 first run: 50-task role",
            Workload::W3NoChange => "W3 no-change re-run: 50-task role",
        }
    }

    /// Short key used in log file names.
    pub fn key(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2First => "w2-first",
            Workload::W2NoChange => "w2-nochange",
            Workload::W3First => "w3-first",
            Workload::W3NoChange => "w3-nochange",
        }
    }

    /// The directory under `bench_root/<tool>/` that the workload writes (reset before a first run).
    pub fn subdir(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2First | Workload::W2NoChange => "w2",
            Workload::W3First | Workload::W3NoChange => "w3",
        }
    }

    /// Changes every host must report for the run to count as converged.
    pub fn expected_changes(self) -> u32 {
        match self {
            Workload::W1 => 1,
            Workload::W2First => 4,
            Workload::W3First => W3_TASKS,
            Workload::W2NoChange | Workload::W3NoChange => 0,
        }
    }

    /// Base name of the playbook (`.yml`) and pyinfra deploy (`.py`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2First | Workload::W2NoChange => "w2",
            Workload::W3First | Workload::W3NoChange => "w3",
        }
    }
}

/// Paths of the generated files.
pub struct Generated {
    /// `<workdir>/gen`: playbooks, role, files, templates, ansible.cfg.
    pub dir: PathBuf,
}

impl Generated {
    /// Ansible/fmc INI inventory for the first `n` hosts.
    pub fn inventory_ini(&self, n: usize) -> PathBuf {
        self.dir.join(format!("inventory-{n}.ini"))
    }
    /// pyinfra inventory for the first `n` hosts.
    pub fn inventory_py(&self, n: usize) -> PathBuf {
        self.dir.join("pyinfra").join(format!("inventory_{n}.py"))
    }
    /// Playbook of a workload.
    pub fn playbook(&self, w: Workload) -> PathBuf {
        self.dir.join(format!("{}.yml", w.file_stem()))
    }
    /// pyinfra deploy of a workload.
    pub fn deploy(&self, w: Workload) -> PathBuf {
        self.dir
            .join("pyinfra")
            .join(format!("{}.py", w.file_stem()))
    }
    /// ansible.cfg.
    pub fn ansible_cfg(&self) -> PathBuf {
        self.dir.join("ansible.cfg")
    }
}

const TEMPLATE_HEADER: &str = "# rendered by {{ bench_tool }} for {{ inventory_hostname }}\n";

/// Writes every workload file, one inventory per fleet size, and ansible.cfg.
pub fn generate(
    workdir: &Path,
    key: &Path,
    hosts: &[Host],
    sizes: &[usize],
    control_dir: &Path,
) -> Result<Generated, String> {
    let g = Generated {
        dir: workdir.join("gen"),
    };
    let role = g.dir.join("roles/bench50");
    for d in ["files", "templates", "pyinfra"] {
        mkdir(&g.dir.join(d))?;
    }
    for d in ["tasks", "files", "templates"] {
        mkdir(&role.join(d))?;
    }

    // W1
    write(
        &g.playbook(Workload::W1),
        "- name: w1\n  hosts: bench\n  gather_facts: false\n  tasks:\n    - name: run one command\n      \
         ansible.builtin.command: echo bench\n",
    )?;
    write(
        &g.deploy(Workload::W1),
        "from pyinfra.operations import server\n\nserver.shell(name=\"run one command\", commands=[\"echo bench\"])\n",
    )?;

    // W2
    write(&g.dir.join("files/w2.txt"), &file_body("w2", 40))?;
    write(&g.dir.join("templates/w2.conf.j2"), &template_body(2))?;
    let w2 = "- name: w2\n  hosts: bench\n  gather_facts: false\n  tasks:\n\
              \x20   - name: create a directory\n      ansible.builtin.file:\n        path: \"{{ bench_root }}/{{ bench_tool }}/w2\"\n        state: directory\n        mode: \"0755\"\n\
              \x20   - name: copy a file\n      ansible.builtin.copy:\n        src: w2.txt\n        dest: \"{{ bench_root }}/{{ bench_tool }}/w2/copied.txt\"\n        mode: \"0644\"\n\
              \x20   - name: set a line in a file\n      ansible.builtin.lineinfile:\n        path: \"{{ bench_root }}/{{ bench_tool }}/w2/settings.conf\"\n        regexp: \"^bench_key =\"\n        line: \"bench_key = 42\"\n        create: true\n\
              \x20   - name: render a template\n      ansible.builtin.template:\n        src: w2.conf.j2\n        dest: \"{{ bench_root }}/{{ bench_tool }}/w2/rendered.conf\"\n        mode: \"0644\"\n";
    write(&g.playbook(Workload::W2First), w2)?;
    let d = g.dir.display();
    let w2py = format!(
        "{PY_HEADER}root = host.data.bench_root + \"/pyinfra/w2\"\n\
         files.directory(name=\"create a directory\", path=root, mode=\"755\")\n\
         files.put(name=\"copy a file\", src=\"{d}/files/w2.txt\", dest=root + \"/copied.txt\", mode=\"644\")\n\
         files.line(name=\"set a line in a file\", path=root + \"/settings.conf\", line=\"^bench_key =\", replace=\"bench_key = 42\")\n\
         files.template(name=\"render a template\", src=\"{d}/templates/w2.conf.j2\", dest=root + \"/rendered.conf\", mode=\"644\", \
         bench_tool=\"pyinfra\", inventory_hostname=host.name)\n"
    );
    write(&g.deploy(Workload::W2First), &w2py)?;

    // W3: a 50-task role; task 0 creates the base directory, then directory/copy/line/template.
    let mut tasks = String::from(
        "- name: base directory\n  ansible.builtin.file:\n    path: \"{{ bench_root }}/{{ bench_tool }}/w3\"\n    state: directory\n    mode: \"0755\"\n",
    );
    let mut py = format!(
        "{PY_HEADER}root = host.data.bench_root + \"/pyinfra/w3\"\n\
         files.directory(name=\"base directory\", path=root, mode=\"755\")\n"
    );
    let base = "{{ bench_root }}/{{ bench_tool }}/w3";
    let rd = role.display();
    for i in 1..W3_TASKS {
        let r = match i % 4 {
            1 => {
                writeln!(
                    tasks,
                    "- name: directory {i}\n  ansible.builtin.file:\n    path: \"{base}/d{i}\"\n    state: directory\n    mode: \"0755\""
                )
                .and_then(|()| {
                    writeln!(py, "files.directory(name=\"directory {i}\", path=root + \"/d{i}\", mode=\"755\")")
                })
            }
            2 => {
                write(&role.join(format!("files/f{i}.txt")), &file_body(&format!("f{i}"), 20 + i))?;
                writeln!(
                    tasks,
                    "- name: copy {i}\n  ansible.builtin.copy:\n    src: f{i}.txt\n    dest: \"{base}/f{i}.txt\"\n    mode: \"0644\""
                )
                .and_then(|()| {
                    writeln!(
                        py,
                        "files.put(name=\"copy {i}\", src=\"{rd}/files/f{i}.txt\", dest=root + \"/f{i}.txt\", mode=\"644\")"
                    )
                })
            }
            3 => writeln!(
                tasks,
                "- name: line {i}\n  ansible.builtin.lineinfile:\n    path: \"{base}/lines.conf\"\n    regexp: \"^key{i} =\"\n    line: \"key{i} = value{i}\"\n    create: true"
            )
            .and_then(|()| {
                writeln!(
                    py,
                    "files.line(name=\"line {i}\", path=root + \"/lines.conf\", line=\"^key{i} =\", replace=\"key{i} = value{i}\")"
                )
            }),
            _ => {
                write(&role.join(format!("templates/t{i}.j2")), &template_body(i))?;
                writeln!(
                    tasks,
                    "- name: template {i}\n  ansible.builtin.template:\n    src: t{i}.j2\n    dest: \"{base}/t{i}.conf\"\n    mode: \"0644\""
                )
                .and_then(|()| {
                    writeln!(
                        py,
                        "files.template(name=\"template {i}\", src=\"{rd}/templates/t{i}.j2\", dest=root + \"/t{i}.conf\", mode=\"644\", \
                         bench_tool=\"pyinfra\", inventory_hostname=host.name)"
                    )
                })
            }
        };
        r.map_err(|e| e.to_string())?;
    }
    write(&role.join("tasks/main.yml"), &tasks)?;
    write(
        &g.playbook(Workload::W3First),
        "- name: w3\n  hosts: bench\n  gather_facts: false\n  roles:\n    - bench50\n",
    )?;
    write(&g.deploy(Workload::W3First), &py)?;

    for &n in sizes {
        write(&g.inventory_ini(n), &inventory_ini(&hosts[..n], key))?;
        write(&g.inventory_py(n), &inventory_py(&hosts[..n], key, workdir))?;
    }
    write(&g.ansible_cfg(), &ansible_cfg(control_dir))?;
    Ok(g)
}

const PY_HEADER: &str = "from pyinfra import host\nfrom pyinfra.operations import files\n\n";

fn file_body(tag: &str, lines: u32) -> String {
    (0..lines)
        .map(|l| format!("{tag} line {l}: static content copied by the bench\n"))
        .collect()
}

fn template_body(seed: u32) -> String {
    format!(
        "{TEMPLATE_HEADER}listen_port = {{{{ 8000 + {seed} }}}}\n\
         {{% for i in range(4) %}}\nitem{{{{ i }}}} = {{{{ i * {seed} }}}}\n{{% endfor %}}\n"
    )
}

fn inventory_ini(hosts: &[Host], key: &Path) -> String {
    let mut s = String::from("[bench]\n");
    for h in hosts {
        s.push_str(&format!(
            "{} ansible_host=127.0.0.1 ansible_port={} bench_root={}\n",
            h.name,
            h.port,
            h.root.display()
        ));
    }
    s.push_str(&format!(
        "\n[bench:vars]\nansible_connection=ssh\nansible_user={USER}\nansible_ssh_private_key_file={}\n\
         ansible_host_key_checking=false\nansible_python_interpreter=/usr/bin/python3\n",
        key.display()
    ));
    s
}

fn inventory_py(hosts: &[Host], key: &Path, workdir: &Path) -> String {
    let common = format!(
        "\"ssh_user\": \"{USER}\", \"ssh_key\": \"{}\", \"ssh_allow_agent\": False, \"ssh_look_for_keys\": False, \
         \"ssh_strict_host_key_checking\": \"no\", \"ssh_known_hosts_file\": \"{}\"",
        key.display(),
        workdir.join("pyinfra_known_hosts").display()
    );
    let mut s = String::from("bench = [\n");
    for h in hosts {
        s.push_str(&format!(
            "    (\"{}\", {{\"ssh_hostname\": \"127.0.0.1\", \"ssh_port\": {}, \"bench_root\": \"{}\", {common}}}),\n",
            h.name,
            h.port,
            h.root.display()
        ));
    }
    s.push_str("]\n");
    s
}

fn ansible_cfg(control_dir: &Path) -> String {
    format!(
        "# generated by cargo xtask bench: tuned as the docs advise for speed\n\
         [defaults]\n\
         forks = 500\n\
         host_key_checking = False\n\
         gathering = explicit\n\
         retry_files_enabled = False\n\
         interpreter_python = /usr/bin/python3\n\
         deprecation_warnings = False\n\
         nocolor = True\n\
         \n\
         [ssh_connection]\n\
         pipelining = True\n\
         ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes\n\
         control_path_dir = {}\n",
        control_dir.display()
    )
}

fn mkdir(p: &Path) -> Result<(), String> {
    fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3_has_fifty_tasks_for_every_tool_and_inventories_list_the_hosts() {
        let tmp = tempfile::tempdir().unwrap();
        let hosts: Vec<Host> = (1..=3)
            .map(|i| Host {
                name: format!("h{i:03}"),
                port: 42000 + i,
                root: tmp.path().join(format!("hosts/h{i:03}")),
            })
            .collect();
        let key = tmp.path().join("keys/id_ed25519");
        let g = generate(tmp.path(), &key, &hosts, &[1, 3], &tmp.path().join("cp")).unwrap();

        let role = fs::read_to_string(g.dir.join("roles/bench50/tasks/main.yml")).unwrap();
        assert_eq!(role.matches("\n- name: ").count() + 1, W3_TASKS as usize);
        let modules = [
            "ansible.builtin.file:",
            "ansible.builtin.copy:",
            "ansible.builtin.lineinfile:",
            "ansible.builtin.template:",
        ];
        let counts: Vec<usize> = modules.iter().map(|m| role.matches(m).count()).collect();
        assert_eq!(counts, vec![14, 12, 12, 12]);
        let py = fs::read_to_string(g.deploy(Workload::W3NoChange)).unwrap();
        assert_eq!(py.matches("files.").count(), W3_TASKS as usize);
        // Every copied file and template the role names exists.
        for i in 1..W3_TASKS {
            match i % 4 {
                2 => assert!(g.dir.join(format!("roles/bench50/files/f{i}.txt")).exists()),
                0 => assert!(
                    g.dir
                        .join(format!("roles/bench50/templates/t{i}.j2"))
                        .exists()
                ),
                _ => {}
            }
        }

        let w2 = fs::read_to_string(g.playbook(Workload::W2First)).unwrap();
        assert_eq!(
            w2.matches("    - name: ").count(),
            Workload::W2First.expected_changes() as usize
        );
        let w2py = fs::read_to_string(g.deploy(Workload::W2NoChange)).unwrap();
        assert_eq!(w2py.matches("files.").count(), 4);

        let ini = fs::read_to_string(g.inventory_ini(3)).unwrap();
        assert!(ini.contains("h003 ansible_host=127.0.0.1 ansible_port=42003 bench_root="));
        assert!(
            !fs::read_to_string(g.inventory_ini(1))
                .unwrap()
                .contains("h002")
        );
        let inv_py = fs::read_to_string(g.inventory_py(3)).unwrap();
        assert_eq!(inv_py.matches("\"ssh_port\"").count(), 3);
        assert!(
            fs::read_to_string(g.ansible_cfg())
                .unwrap()
                .contains("pipelining = True")
        );
    }
}
