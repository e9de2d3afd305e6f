//! `tempfile`: creates a uniquely named temporary file or directory with `mktemp`
//! (mode 0600 / 0700) and registers its `path`. Always changed; no probe. Like
//! Ansible it cannot predict the name, so `--check` skips it.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::shell::quote;
use fmc_core::{
    Action, CheckSupport, ExecOutput, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, Outcome,
    ParamError, Plan, PreparedModule, Probe,
};
use serde::Deserialize;

pub const INFO: ModuleInfo = ModuleInfo {
    name: "tempfile",
    aliases: &[],
    params: &["state", "path", "prefix", "suffix"],
    required: &[],
    free_form: false,
    check: CheckSupport::None,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    suffix: Option<String>,
}

struct TempFile {
    directory: bool,
    /// Parent directory; `None`: `$TMPDIR`, else `/tmp` (on the host).
    path: Option<String>,
    prefix: String,
    suffix: String,
}

impl ModuleFactory for Factory {
    fn info(&self) -> &ModuleInfo {
        &INFO
    }

    fn prepare(&self, args: &fmc_core::Map) -> Result<Box<dyn PreparedModule>, ParamError> {
        let p: Params = parse_params(&INFO, args)?;
        let invalid = |param: &str, msg: &str| ParamError::Invalid {
            module: INFO.name.into(),
            param: param.into(),
            msg: msg.into(),
        };
        let directory = match p.state.as_deref() {
            None | Some("file") => false,
            Some("directory") => true,
            Some(o) => {
                return Err(invalid(
                    "state",
                    &format!("{o:?} is not one of file, directory"),
                ));
            }
        };
        let prefix = p.prefix.unwrap_or_else(|| "ansible.".into());
        let suffix = p.suffix.unwrap_or_default();
        if prefix.contains('/') {
            return Err(invalid("prefix", "must not contain '/'"));
        }
        if suffix.contains('/') {
            return Err(invalid("suffix", "must not contain '/'"));
        }
        Ok(Box::new(TempFile {
            directory,
            path: p.path.filter(|s| !s.is_empty()),
            prefix,
            suffix,
        }))
    }
}

impl TempFile {
    fn kind(&self) -> &'static str {
        if self.directory { "directory" } else { "file" }
    }
}

impl PreparedModule for TempFile {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(None)
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, _probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let dir = match &self.path {
            Some(p) => quote(p),
            None => "\"${TMPDIR:-/tmp}\"".into(),
        };
        // GNU mktemp: the X run must end the template; the suffix goes separately so
        // a suffix ending in X is not taken as part of the template.
        let template = quote(&format!("{}XXXXXXXXXX", self.prefix));
        let suffix = if self.suffix.is_empty() {
            String::new()
        } else {
            format!(" --suffix={}", quote(&self.suffix))
        };
        let d = if self.directory { " -d" } else { "" };
        let script = format!("set -e\nmktemp{d}{suffix} {dir}/{template}\n");
        let where_ = self.path.as_deref().unwrap_or("$TMPDIR or /tmp");
        let mut plan = Plan {
            changes: vec![format!("create a temporary {} in {where_}", self.kind())],
            actions: vec![Action::exec(script)],
            ..Default::default()
        };
        plan.result.insert("state".into(), self.kind().into());
        Ok(plan)
    }

    fn finish(&self, plan: &Plan, outputs: &[ExecOutput]) -> Result<Outcome, ModuleError> {
        let mut out = fmc_core::module::default_finish(plan, outputs)?;
        if out.failed.is_some() {
            return Ok(out);
        }
        let stdout = outputs.first().map(|o| o.stdout_str()).unwrap_or_default();
        let path = stdout.strip_suffix('\n').unwrap_or(&stdout);
        if path.is_empty() {
            return Err(ModuleError::Failed("mktemp printed no path".into()));
        }
        out.result.insert("path".into(), path.into());
        Ok(out)
    }
}
