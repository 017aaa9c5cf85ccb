//! `gatehouse keys`: API keys in the config's state store.

use crate::KeysAction;
use std::path::PathBuf;

/// The config `config` names, loaded, and its state store opened: `state.data_dir` (while no
/// gateway holds it) or Redis. `what` names what is managed, for the error without either.
pub fn open_store(
    config: Option<PathBuf>,
    what: &str,
) -> Result<
    (
        PathBuf,
        gatehouse::config::Loaded,
        gatehouse::state::SharedStore,
    ),
    String,
> {
    let config = config.ok_or("expected --config FILE")?;
    let metrics = gatehouse::metrics::Registry::default();
    let plugins = gatehouse::plugin::PluginHost::new(None)
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    let env = gatehouse::config::CompileEnv {
        metrics: &metrics,
        plugins: &plugins,
        leases: None,
        shared_cache: None,
    };
    let loaded = gatehouse::config::load(&config, env).map_err(|e| e.to_string())?;
    let state = &loaded.settings.state;
    if state.data_dir.is_none() && state.redis.is_none() {
        return Err(format!(
            "{}: state.data_dir: not set, so {what} live only in the running gateway's memory; set it, or use the admin API",
            config.display()
        ));
    }
    // With Redis, running gateways see the change within a second (pub/sub).
    let store = gatehouse::open_store(state).map_err(|e| e.to_string())?;
    Ok((config, loaded, store))
}

/// Runs a `gatehouse keys` action against the config's state store.
pub fn keys(config: Option<PathBuf>, action: KeysAction) -> Result<String, String> {
    use gatehouse::state::keys::ApiKeys;
    let (config, loaded, store) = open_store(config, "keys")?;
    let keys = ApiKeys::new(store).map_err(|e| e.to_string())?;
    keys.import(&loaded.runtime.config_keys)
        .map_err(|e| e.to_string())?;
    let show = |k: &gatehouse::state::StoredKey| {
        format!(
            "{}  {}  {}  plans=[{}]{}",
            k.id,
            k.name,
            if k.enabled { "enabled" } else { "disabled" },
            k.plans.join(","),
            if k.from_config { "  (from config)" } else { "" }
        )
    };
    let missing = |id: &str| format!("no API key with id `{id}`");
    match action {
        KeysAction::Create { name, plans, value } => {
            if let Some(p) = plans
                .iter()
                .find(|p| !loaded.runtime.usage_plans.contains_key(*p))
            {
                return Err(format!("no usage plan named `{p}` in {}", config.display()));
            }
            let (key, value) = keys.create(&name, plans, value)?;
            Ok(format!("{}\nvalue: {value}", show(&key)))
        }
        KeysAction::List => {
            let list = keys.list().map_err(|e| e.to_string())?;
            Ok(list.iter().map(show).collect::<Vec<_>>().join("\n"))
        }
        KeysAction::Enable { id } => keys
            .set_enabled(&id, true)
            .map_err(|e| e.to_string())?
            .map(|k| show(&k))
            .ok_or_else(|| missing(&id)),
        KeysAction::Disable { id } => keys
            .set_enabled(&id, false)
            .map_err(|e| e.to_string())?
            .map(|k| show(&k))
            .ok_or_else(|| missing(&id)),
        KeysAction::Delete { id } => {
            if keys.delete(&id).map_err(|e| e.to_string())? {
                Ok(format!("deleted {id}"))
            } else {
                Err(missing(&id))
            }
        }
    }
}
