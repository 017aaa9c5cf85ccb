//! Configuration: the YAML schema (`raw`, from `gatehouse_config`), its compilation into a
//! [`Runtime`] with every error reported by path (`compile`, which walks the config and calls
//! each part's own compiler), and hot reload (`reload`).

mod api;
pub mod compile;
pub mod deploy;
mod import;
pub mod reload;

pub use crate::settings::{
    AdminSettings, ListenerSettings, LogDestination, ServerSettings, StateSettings,
};
pub use gatehouse_config::{parse, raw, ConfigError, ConfigErrors};

use crate::metrics::Registry;
use crate::plugin::PluginHost;
use crate::runtime::Runtime;
use std::path::{Path, PathBuf};

/// A compiled config file.
#[derive(Debug)]
pub struct Loaded {
    pub settings: ServerSettings,
    pub runtime: Runtime,
    /// Identifies the restart-only settings, to warn when a reload changes them.
    pub fingerprint: String,
    /// Files besides the config whose change means a reload (plugins, OpenAPI documents).
    pub watch_paths: Vec<PathBuf>,
    /// What an imported OpenAPI document asked for that is not served (`FILE#/pointer: why`).
    pub warnings: Vec<String>,
}

/// What compiling a config needs from the process: where route metrics live, the plugin
/// engine (so unchanged plugins are not compiled again on reload) and, with a shared state
/// store, the leases its throttles take their tokens from.
#[derive(Debug, Clone, Copy)]
pub struct CompileEnv<'a> {
    pub metrics: &'a Registry,
    pub plugins: &'a PluginHost,
    pub leases: Option<&'a gatehouse_state::lease::Leases>,
    /// With a shared state store: the shared tier of stage and authorizer caches that ask
    /// for it (`shared: true`).
    pub shared_cache: Option<&'a std::sync::Arc<gatehouse_state::redis_cache::SharedCache>>,
}

impl<'a> CompileEnv<'a> {
    /// What the running gateway compiles a reloaded config with.
    pub fn of(shared: &'a crate::shared::Shared) -> Self {
        CompileEnv {
            metrics: &shared.metrics,
            plugins: &shared.plugins,
            leases: shared.keys.leases(),
            shared_cache: shared.keys.shared_cache(),
        }
    }
}

/// Reads, parses and compiles `path`.
pub fn load(path: &Path, env: CompileEnv<'_>) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::single(path, "", format!("cannot read the file: {e}")))?;
    load_str(&text, path, env)
}

/// The `state:` section of `text` alone, to open the store before the whole config is
/// compiled; `None` when the file does not parse or the section has errors (which compiling
/// it reports).
pub fn state_settings(text: &str, path: &Path) -> Option<crate::settings::StateSettings> {
    let raw = parse(text, path).ok()?;
    let mut e = gatehouse_config::Errors::default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let state = crate::settings::state(&raw.state, dir, &mut e);
    e.is_empty().then_some(state)
}

/// The admin listener's settings of the config file at `path`, without compiling its APIs
/// (the subcommands that call a running gateway's admin API read them).
pub fn admin_settings(path: &Path) -> Result<Option<AdminSettings>, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::single(path, "", format!("cannot read the file: {e}")))?;
    let raw = parse(&text, path)?;
    let mut e = gatehouse_config::Errors::default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let settings = crate::settings::compile(&raw, dir, &mut e);
    if e.is_empty() {
        Ok(settings.admin)
    } else {
        Err(e.into_config_errors(path))
    }
}

/// Parses and compiles `text`, reporting errors against `path`.
pub fn load_str(text: &str, path: &Path, env: CompileEnv<'_>) -> Result<Loaded, ConfigErrors> {
    let raw = parse(text, path)?;
    compile::compile(raw, path, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(yaml: &str) -> String {
        let plugins = PluginHost::new(None).unwrap();
        let env = CompileEnv {
            metrics: &Registry::default(),
            plugins: &plugins,
            leases: None,
            shared_cache: None,
        };
        match load_str(yaml, Path::new("g.yaml"), env) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn schema_errors_name_the_path_once() {
        let base = "version: 1\nlisteners: [{address: '127.0.0.1:0'}]\napis:\n- name: a\n";
        assert_eq!(
            first_error(&format!("{base}  stages: {{p: {{}}}}\n  resources:\n    /x:\n      GET: {{integration: {{type: http_proxy}}}}\n")),
            "g.yaml: apis[0].resources[\"/x\"].GET.integration: missing field `uri` at line 8 column 12"
        );
        assert_eq!(
            first_error("version: x\n"),
            "g.yaml: version: invalid type: string \"x\", expected u32 at line 1 column 10"
        );
        assert!(first_error(&format!("{base}  stagez: {{}}\n"))
            .starts_with("g.yaml: apis[0].stagez: unknown field `stagez`, expected one of `name`"));
    }
}
