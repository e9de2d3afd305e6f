//! Playbook files: plays and `import_playbook`.

use std::path::Path;

use fmc_core::{Map, Span, Value};
use fmc_yaml::{Key, Node, NodeKind};

use crate::fields::{self, entries};
use crate::loader::{Loader, Result, Scope, parent_dir, union_tags};
use crate::task::keyword;
use crate::{PLAY_KEYWORDS, Play, PlaybookError, Serial, TaskDefaults};

/// What an `import_playbook` passes to the plays it imports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Imported {
    pub tags: Vec<String>,
    /// Win over the plays' own `vars` (as in Ansible).
    pub vars: Map,
    /// Prepended to the `when` of every top-level task and role of the plays.
    pub when: Vec<String>,
}

const IMPORT_PLAYBOOK_KEYS: &[&str] = &["name", "when", "tags", "vars"];

fn is_import_playbook(name: &str) -> bool {
    matches!(
        name,
        "import_playbook" | "ansible.builtin.import_playbook" | "ansible.legacy.import_playbook"
    )
}

impl Loader<'_> {
    /// Loads the plays of the playbook at `path` (referenced from `from`) into `plays`.
    pub fn playbook_file(
        &mut self,
        path: &Path,
        from: &Span,
        imported: &Imported,
        plays: &mut Vec<Play>,
    ) -> Result<()> {
        self.enter(path, from, "import_playbook", |ld| {
            let (node, file) = ld.read(path, from)?;
            let dir = parent_dir(path);
            let items = match &node.kind {
                NodeKind::Scalar(Value::Null) => return Ok(()),
                NodeKind::Seq(items) => items,
                _ => {
                    return Err(PlaybookError::with_hint(
                        node.span(&file),
                        "a playbook must be a list of plays",
                        "start each play with '- hosts: ...'",
                    ));
                }
            };
            for item in items {
                let span = item.span(&file);
                let Some(kv) = entries(item) else {
                    return Err(PlaybookError::invalid(
                        span,
                        format!("a play must be a mapping, got {}", item.to_value()),
                    ));
                };
                match kv.iter().find(|(k, _)| is_import_playbook(&k.name)) {
                    Some(_) => ld.import_playbook(&file, &dir, kv, imported, plays)?,
                    None => {
                        let saved = std::mem::replace(&mut ld.search_from, dir.clone());
                        let play = ld.play(&file, &dir, &span, kv, imported);
                        ld.search_from = saved;
                        plays.push(play?);
                    }
                }
            }
            Ok(())
        })
    }

    fn import_playbook(
        &mut self,
        file: &str,
        dir: &Path,
        kv: &[(Key, Node)],
        outer: &Imported,
        plays: &mut Vec<Play>,
    ) -> Result<()> {
        let mut target = None;
        let mut own = Imported::default();
        for (k, v) in kv {
            match k.name.as_str() {
                n if is_import_playbook(n) => target = Some((k, fields::string(file, k, v)?)),
                "name" => {}
                "when" => own.when = fields::conditions(file, k, v)?,
                "tags" => own.tags = fields::tags(file, k, v)?,
                "vars" => own.vars = fields::mapping(file, k, v)?,
                other => {
                    return Err(fields::unknown_keyword(
                        k.span(file),
                        "import_playbook keyword",
                        other,
                        IMPORT_PLAYBOOK_KEYS,
                    ));
                }
            }
        }
        let Some((key, rel)) = target else {
            return Ok(());
        };
        if rel.contains("{{") {
            return Err(PlaybookError::invalid(
                key.span(file),
                format!("import_playbook file '{rel}' cannot be templated"),
            ));
        }
        // The outer import is applied last, so its vars win.
        let mut vars = own.vars;
        vars.extend(outer.vars.clone());
        let inner = Imported {
            tags: union_tags(&outer.tags, &own.tags),
            vars,
            when: outer.when.iter().chain(&own.when).cloned().collect(),
        };
        self.playbook_file(&dir.join(&rel), &key.span(file), &inner, plays)
    }

    fn play(
        &mut self,
        file: &std::sync::Arc<str>,
        dir: &Path,
        span: &Span,
        kv: &[(Key, Node)],
        imported: &Imported,
    ) -> Result<Play> {
        let f: &str = file;
        let mut name = None;
        let mut hosts = None;
        let mut vars = Map::new();
        let mut vars_files = vec![];
        let mut serial = vec![];
        let mut gather_facts = true;
        let mut tags = vec![];
        let mut max_fail_percentage = None;
        let mut force_handlers = false;
        let mut defaults = TaskDefaults::default();
        let mut lists: Vec<(&Key, &Node)> = vec![];
        for (k, v) in kv {
            if !PLAY_KEYWORDS.contains(&k.name.as_str()) {
                return Err(fields::unknown_keyword(
                    k.span(f),
                    "play keyword",
                    &k.name,
                    PLAY_KEYWORDS,
                ));
            }
            if keyword(f, k, v, &mut defaults)? {
                continue;
            }
            match k.name.as_str() {
                "name" => name = fields::opt_string(f, k, v)?,
                "hosts" => hosts = Some(host_pattern(f, k, v)?),
                "vars" => vars = fields::mapping(f, k, v)?,
                "vars_files" => vars_files = fields::string_list(f, k, v)?,
                "serial" => serial = parse_serial(f, k, v)?,
                "gather_facts" => gather_facts = fields::boolean(f, k, v)?,
                "tags" => tags = fields::tags(f, k, v)?,
                "max_fail_percentage" => max_fail_percentage = Some(percentage(f, k, v)?),
                "force_handlers" => force_handlers = fields::boolean(f, k, v)?,
                "strategy" => {
                    let s = fields::string(f, k, v)?;
                    if s != "linear" {
                        return Err(PlaybookError::invalid(
                            k.span(f),
                            format!("strategy '{s}' is not supported (only 'linear')"),
                        ));
                    }
                }
                "order" => {
                    let s = fields::string(f, k, v)?;
                    if s != "inventory" {
                        return Err(PlaybookError::invalid(
                            k.span(f),
                            format!("order '{s}' is not supported (only 'inventory')"),
                        ));
                    }
                }
                "module_defaults" => {
                    return Err(PlaybookError::with_hint(
                        k.span(f),
                        "'module_defaults' is not supported",
                        "set the parameters on each task",
                    ));
                }
                _ => lists.push((k, v)),
            }
        }
        let hosts = match hosts {
            Some(h) if !h.trim().is_empty() => h,
            _ => {
                return Err(PlaybookError::with_hint(
                    span.clone(),
                    "play has no 'hosts'",
                    "every play needs a host pattern such as 'hosts: all'",
                ));
            }
        };
        vars.extend(imported.vars.clone());
        let tags = union_tags(&imported.tags, &tags);
        let scope = Scope {
            file: file.clone(),
            dir: dir.to_path_buf(),
            role: None,
            tags: tags.clone(),
            keywords: defaults.clone(),
        };
        let mark = self.handlers.len();
        let mut play = Play {
            name: name.unwrap_or_else(|| hosts.clone()),
            hosts,
            span: span.clone(),
            base_dir: dir.to_path_buf(),
            vars,
            vars_files,
            roles: vec![],
            pre_tasks: vec![],
            tasks: vec![],
            post_tasks: vec![],
            handlers: vec![],
            gather_facts,
            serial,
            tags,
            any_errors_fatal: defaults.any_errors_fatal.unwrap_or(false),
            max_fail_percentage,
            force_handlers,
            defaults,
        };
        for (k, v) in lists {
            match k.name.as_str() {
                "roles" => {
                    play.roles = self.role_entries(file, k, v, &play.tags, &play.defaults, None)?;
                }
                "pre_tasks" => play.pre_tasks = self.task_list(v, &scope, "'pre_tasks'")?,
                "tasks" => play.tasks = self.task_list(v, &scope, "'tasks'")?,
                "post_tasks" => play.post_tasks = self.task_list(v, &scope, "'post_tasks'")?,
                "handlers" => play.handlers = self.task_list(v, &scope, "'handlers'")?,
                _ => {}
            }
        }
        // Handlers of roles imported by the play's tasks come after its own.
        play.handlers.extend(self.handlers.split_off(mark));
        if !imported.when.is_empty() {
            let prepend = |when: &mut Vec<String>| {
                let mut w = imported.when.clone();
                w.append(when);
                *when = w;
            };
            for t in play
                .pre_tasks
                .iter_mut()
                .chain(&mut play.tasks)
                .chain(&mut play.post_tasks)
            {
                prepend(&mut t.when);
            }
            for r in &mut play.roles {
                prepend(&mut r.when);
            }
        }
        Ok(play)
    }
}

/// `hosts:` as a pattern string; a list is joined with `,`.
fn host_pattern(file: &str, key: &Key, v: &Node) -> Result<String> {
    match &v.kind {
        NodeKind::Seq(_) => Ok(fields::string_list(file, key, v)?.join(",")),
        _ => fields::string(file, key, v),
    }
}

/// `serial:` as a count, a percentage (`"30%"`) or a list of those.
fn parse_serial(file: &str, key: &Key, v: &Node) -> Result<Vec<Serial>> {
    let one = |x: &Value| -> Option<Serial> {
        match x {
            Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(Serial::Count),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_suffix('%') {
                    Some(p) => p
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|p| *p > 0.0 && *p <= 100.0)
                        .map(Serial::Percent),
                    None => s.parse::<u64>().ok().filter(|n| *n > 0).map(Serial::Count),
                }
            }
            _ => None,
        }
    };
    let value = v.to_value();
    let items = match &value {
        Value::Null => return Ok(vec![]),
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|x| {
            one(x).ok_or_else(|| {
                PlaybookError::invalid(
                    key.span(file),
                    format!(
                        "'serial' must be a positive count, a percentage such as \"30%\" or a list of those, got {x}"
                    ),
                )
            })
        })
        .collect()
}

/// `max_fail_percentage`: a number from 0 to 100.
fn percentage(file: &str, key: &Key, v: &Node) -> Result<f64> {
    let p = match v.to_value() {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    };
    p.filter(|p| (0.0..=100.0).contains(p)).ok_or_else(|| {
        PlaybookError::invalid(
            key.span(file),
            format!(
                "'{}' must be a number from 0 to 100, got {}",
                key.name,
                v.to_value()
            ),
        )
    })
}
