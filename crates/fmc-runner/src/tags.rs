//! `--tags` / `--skip-tags` selection with Ansible's special tags
//! (`all`, `always`, `never`, `tagged`, `untagged`).

/// The tag selection of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagFilter {
    /// `--tags`; empty means `all`.
    pub only: Vec<String>,
    /// `--skip-tags`.
    pub skip: Vec<String>,
}

impl TagFilter {
    /// Whether a task with these effective tags runs.
    pub fn selects(&self, task_tags: &[String]) -> bool {
        let has = |t: &str| task_tags.iter().any(|x| x == t);
        let wants = |t: &str| self.only.iter().any(|x| x == t);
        let skips = |t: &str| self.skip.iter().any(|x| x == t);

        let selected = if self.only.is_empty() || wants("all") {
            // `never` tasks only run when one of their other tags is asked for.
            !has("never") || task_tags.iter().any(|t| t != "never" && wants(t))
        } else {
            has("always")
                || task_tags.iter().any(|t| wants(t))
                || (wants("tagged") && !task_tags.is_empty())
                || (wants("untagged") && task_tags.is_empty())
        };
        if !selected {
            return false;
        }
        let skipped = task_tags.iter().any(|t| skips(t))
            || (skips("tagged") && !task_tags.is_empty())
            || (skips("untagged") && task_tags.is_empty())
            || (skips("all") && !has("always"));
        !skipped
    }
}

#[cfg(test)]
mod tests {
    use super::TagFilter;

    fn f(only: &[&str], skip: &[&str]) -> TagFilter {
        TagFilter {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn t(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn selection_table() {
        let cases: &[(&[&str], &[&str], &[&str], bool)] = &[
            (&[], &[], &[], true),
            (&[], &[], &["x"], true),
            (&[], &[], &["never"], false),
            (&["never"], &[], &["never"], true),
            (&["debug"], &[], &["never", "debug"], true),
            (&["keepalived"], &[], &["keepalived", "lb"], true),
            (&["keepalived"], &[], &["haproxy"], false),
            (&["keepalived"], &[], &["always"], true),
            (&["keepalived"], &["always"], &["always"], false),
            (&[], &["haproxy"], &["haproxy"], false),
            (&["tagged"], &[], &[], false),
            (&["tagged"], &[], &["a"], true),
            (&["untagged"], &[], &[], true),
            (&[], &["untagged"], &[], false),
            (&["all"], &[], &["a"], true),
        ];
        for (only, skip, tags, want) in cases {
            assert_eq!(
                f(only, skip).selects(&t(tags)),
                *want,
                "only={only:?} skip={skip:?} tags={tags:?}"
            );
        }
    }
}
