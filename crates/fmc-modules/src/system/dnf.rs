//! `dnf` (also `yum`): RHEL-family packages through dnf (or yum where dnf is
//! missing). `update_cache` adds `--refresh` to the install/upgrade command; on
//! its own it does nothing. See `package.rs` for the shared engine.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{CheckSupport, Map, ModuleInfo, ParamError, PreparedModule};
use serde::Deserialize;

use super::Factory;
use super::package::{Manager, Packages, PkgState};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "dnf",
        aliases: &["yum"],
        params: &["name", "pkg", "state", "update_cache", "expire-cache"],
        required: &["name|pkg"],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(alias = "pkg", deserialize_with = "lenient::string_list")]
    name: Vec<String>,
    #[serde(default)]
    state: Option<PkgState>,
    #[serde(default, alias = "expire-cache", deserialize_with = "lenient::bool")]
    update_cache: bool,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let pk = Packages {
        manager: Manager::Dnf,
        names: p.name,
        state: p.state.unwrap_or(PkgState::Present),
        update_cache: p.update_cache,
        cache_valid_time: None,
        install_recommends: None,
        purge: false,
    };
    pk.validate(info)?;
    Ok(Box::new(pk))
}
