//! `stat`: facts about a path, registered as `stat: {exists, isdir, isreg, islnk,
//! mode, uid, gid, pw_name, gr_name, size, mtime, checksum, lnk_source, path}`.
//! Never changes anything.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{
    CheckSupport, ExecOutput, Map, ModuleCtx, ModuleError, ModuleFactory, ModuleInfo, ParamError,
    Plan, PreparedModule, Probe, Value,
};
use serde::Deserialize;

use crate::common::{Checksum, FileKind, ProbeOptions, parse_file, probe_file};

pub const INFO: ModuleInfo = ModuleInfo {
    name: "stat",
    aliases: &[],
    params: &[
        "path",
        "dest",
        "name",
        "follow",
        "get_checksum",
        "checksum_algorithm",
        "checksum",
        "checksum_algo",
        "get_mime",
        "get_attributes",
        "get_md5",
    ],
    required: &["path|dest|name"],
    free_form: false,
    check: CheckSupport::Full,
    diff: false,
};

pub struct Factory;
pub const FACTORY: Factory = Factory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "dest", alias = "name", deserialize_with = "lenient::string")]
    path: String,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    follow: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    get_checksum: Option<bool>,
    #[serde(
        default,
        alias = "checksum",
        alias = "checksum_algo",
        deserialize_with = "lenient::opt_string"
    )]
    checksum_algorithm: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    get_mime: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    get_attributes: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    get_md5: Option<bool>,
}

struct Stat {
    path: String,
    opts: ProbeOptions,
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
        let algo = match p.checksum_algorithm.as_deref() {
            None | Some("sha1") => Checksum::Sha1,
            Some("sha256") => Checksum::Sha256,
            Some(o) => {
                return Err(invalid(
                    "checksum_algorithm",
                    &format!("{o:?} is not supported (sha1, sha256)"),
                ));
            }
        };
        for (name, v) in [
            ("get_mime", p.get_mime),
            ("get_attributes", p.get_attributes),
            ("get_md5", p.get_md5),
        ] {
            if v == Some(true) {
                return Err(invalid(name, "is not supported yet"));
            }
        }
        Ok(Box::new(Stat {
            path: p.path,
            opts: ProbeOptions {
                follow: p.follow.unwrap_or(false),
                checksum: p.get_checksum.unwrap_or(true).then_some(algo),
                content_limit: None,
            },
        }))
    }
}

impl PreparedModule for Stat {
    fn probe(&self, _ctx: &ModuleCtx<'_>) -> Result<Option<Probe>, ModuleError> {
        Ok(Some(Probe::new(probe_file(&self.path, self.opts))))
    }

    fn plan(&self, _ctx: &ModuleCtx<'_>, probe: Option<&ExecOutput>) -> Result<Plan, ModuleError> {
        let f = parse_file(probe)?;
        let mut st = Map::new();
        st.insert("exists".into(), f.exists().into());
        if f.exists() {
            st.insert("path".into(), self.path.as_str().into());
            st.insert("isdir".into(), (f.kind == FileKind::Directory).into());
            st.insert("isreg".into(), (f.kind == FileKind::File).into());
            st.insert("islnk".into(), (f.kind == FileKind::Link).into());
            st.insert("mode".into(), f.mode_string().into());
            st.insert("uid".into(), f.uid.into());
            st.insert("gid".into(), f.gid.into());
            st.insert("pw_name".into(), f.owner.clone().into());
            st.insert("gr_name".into(), f.group.clone().into());
            st.insert("size".into(), f.size.into());
            st.insert("mtime".into(), f.mtime.into());
            if let Some(c) = f.sha1.clone().or(f.sha256.clone()) {
                st.insert("checksum".into(), c.into());
            }
            if let Some(t) = &f.link_target {
                st.insert("lnk_source".into(), t.clone().into());
                st.insert("lnk_target".into(), t.clone().into());
            }
            st.insert("readable".into(), (!f.unreadable).into());
        }
        let mut plan = Plan::in_sync("stat never changes anything");
        plan.result.insert("stat".into(), Value::Object(st));
        Ok(plan)
    }
}
