//! `apt`: Debian/Ubuntu packages through `apt-get` (`DEBIAN_FRONTEND=noninteractive`,
//! existing config files kept). See `package.rs` for the shared engine.
//! `update_cache` alone is reported as changed when it runs (as Ansible does);
//! with `cache_valid_time` it runs only when the lists are older than that.

use fmc_core::lenient;
use fmc_core::module::parse_params;
use fmc_core::{CheckSupport, Map, ModuleInfo, ParamError, PreparedModule};
use serde::Deserialize;

use super::Factory;
use super::package::{Manager, Packages, PkgState};

pub(crate) const FACTORY: Factory = Factory {
    info: ModuleInfo {
        name: "apt",
        aliases: &[],
        params: &[
            "name",
            "pkg",
            "package",
            "state",
            "update_cache",
            "update-cache",
            "cache_valid_time",
            "install_recommends",
            "install-recommends",
            "purge",
        ],
        required: &[],
        free_form: false,
        check: CheckSupport::Full,
        diff: false,
    },
    prepare,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(
        default,
        alias = "pkg",
        alias = "package",
        deserialize_with = "lenient::string_list"
    )]
    name: Vec<String>,
    #[serde(default)]
    state: Option<PkgState>,
    #[serde(default, alias = "update-cache", deserialize_with = "lenient::bool")]
    update_cache: bool,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    cache_valid_time: Option<i64>,
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "lenient::opt_bool"
    )]
    install_recommends: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    purge: bool,
}

fn prepare(info: &ModuleInfo, args: &Map) -> Result<Box<dyn PreparedModule>, ParamError> {
    let p: Params = parse_params(info, args)?;
    let pk = Packages {
        manager: Manager::Apt,
        names: p.name,
        state: p.state.unwrap_or(PkgState::Present),
        // Ansible: cache_valid_time implies update_cache
        update_cache: p.update_cache || p.cache_valid_time.is_some(),
        cache_valid_time: p.cache_valid_time,
        install_recommends: p.install_recommends,
        purge: p.purge,
    };
    pk.validate(info)?;
    Ok(Box::new(pk))
}
