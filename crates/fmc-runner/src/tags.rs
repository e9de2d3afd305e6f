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
    /// Whether a task with these effective tags runs (Ansible's rules: a task
    /// without tags is `untagged`; `never` tasks run only when `never` or one of
    /// their other tags is asked for; `always` tasks run unless skipped by name).
    pub fn selects(&self, task_tags: &[String]) -> bool {
        let untagged = ["untagged".to_string()];
        let tags: &[String] = if task_tags.is_empty() {
            &untagged
        } else {
            task_tags
        };
        let has = |t: &str| tags.iter().any(|x| x == t);
        let meets = |list: &[String]| tags.iter().any(|t| list.contains(t));
        let only = &self.only;
        let skip = &self.skip;
        let wants = |t: &str| only.iter().any(|x| x == t);
        let skips = |t: &str| skip.iter().any(|x| x == t);

        let selected = only.is_empty() && !has("never")
            || has("always")
            || wants("all") && !has("never")
            || meets(only)
            || wants("tagged") && !task_tags.is_empty() && !has("never");
        if !selected {
            return false;
        }
        let skipped = if skips("all") {
            !has("always") || skips("always")
        } else {
            meets(skip) || skips("tagged") && !task_tags.is_empty()
        };
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
            // checked against ansible-core 2.19
            (&["tagged"], &[], &["never"], false),
            (&["tagged"], &[], &["never", "a"], false),
            (&["tagged"], &[], &["always"], true),
            (&["untagged"], &[], &["never"], false),
            (&["untagged"], &[], &["a"], false),
            (&["untagged"], &[], &["always"], true),
            (&["all"], &[], &["never"], false),
            (&["all"], &[], &["never", "a"], false),
            (&["all", "never"], &[], &["never"], true),
            (&[], &[], &["never", "always"], true),
            (&["x"], &[], &["never", "always"], true),
            (&[], &["always"], &["always"], false),
            (&[], &["all"], &["always"], true),
            (&[], &["all"], &["a"], false),
            (&[], &["all", "always"], &["always"], false),
            (&[], &["tagged"], &["a"], false),
            (&[], &["tagged"], &[], true),
            (&[], &["never"], &["never", "a"], false),
            (&["a"], &["untagged"], &["a"], true),
        ];
        for (only, skip, tags, want) in cases {
            assert_eq!(
                f(only, skip).selects(&t(tags)),
                *want,
                "only={only:?} skip={skip:?} tags={tags:?}"
            );
        }
    }

    /// `ansible-playbook --list-tasks` (ansible-core 2.19) on one task per tag set,
    /// for each selection: the tag sets it listed.
    #[test]
    #[allow(clippy::type_complexity)]
    fn matches_ansible_list_tasks() {
        let sets: &[&[&str]] = &[
            &[],
            &["x"],
            &["never"],
            &["never", "debug"],
            &["always"],
            &["never", "always"],
            &["a"],
            &["never", "a"],
        ];
        let cases: &[(&[&str], &[&str], &[usize])] = &[
            (&[], &[], &[0, 1, 4, 5, 6]),
            (&["tagged"], &[], &[1, 4, 5, 6]),
            (&["untagged"], &[], &[0, 4, 5]),
            (&["all"], &[], &[0, 1, 4, 5, 6]),
            (&["all", "never"], &[], &[0, 1, 2, 3, 4, 5, 6, 7]),
            (&["never"], &[], &[2, 3, 4, 5, 7]),
            (&["debug"], &[], &[3, 4, 5]),
            (&["x"], &[], &[1, 4, 5]),
            (&[], &["always"], &[0, 1, 6]),
            (&[], &["all"], &[4, 5]),
            (&[], &["all", "always"], &[]),
            (&[], &["tagged"], &[0]),
            (&[], &["untagged"], &[1, 4, 5, 6]),
            (&[], &["never"], &[0, 1, 4, 6]),
            (&["a"], &["untagged"], &[4, 5, 6, 7]),
        ];
        for (only, skip, want) in cases {
            let got: Vec<usize> = (0..sets.len())
                .filter(|i| f(only, skip).selects(&t(sets[*i])))
                .collect();
            assert_eq!(&got, want, "only={only:?} skip={skip:?}");
        }
    }
}
