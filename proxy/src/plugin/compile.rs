//! The config's `plugins`: each loaded (or taken from the engine's cache) with its limits, and
//! references to them by name from authorizers, mappers and integrations.

use crate::plugin::host::http::{HttpGrant, Origin};
use crate::plugin::{Instances, Plugin, PluginHost, PluginKind, PluginSettings, DEFAULT_MAX_IDLE};
use gatehouse_config::raw::{RawHttpOutbound, RawInstances, RawPlugin};
use gatehouse_config::{duration, Errors};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Plugins by name; `None` for one declared but not loadable (its error is already reported).
pub type Plugins = HashMap<String, Option<Arc<Plugin>>>;

pub fn plugins(
    raw: &indexmap::IndexMap<String, RawPlugin>,
    dir: &Path,
    host: &PluginHost,
    e: &mut Errors,
) -> (Plugins, Vec<std::path::PathBuf>) {
    let mut out = HashMap::with_capacity(raw.len());
    let mut paths = Vec::with_capacity(raw.len());
    for (name, p) in raw {
        e.at(name, |e| {
            e.check_name("plugin", name);
            // Zero means "the default for the plugin's world", known once it is loaded.
            let timeout = match p.timeout.as_deref() {
                None => Duration::ZERO,
                Some(t) => duration(e, "timeout", Some(t), 50, 1, 300_000),
            };
            let memory_bytes = p.memory_bytes.unwrap_or(16 << 20);
            if !(1 << 20..=crate::plugin::engine::MAX_MEMORY_BYTES as u64).contains(&memory_bytes) {
                e.push_at(
                    "memory_bytes",
                    format!(
                        "expected 1048576..={} bytes, found {memory_bytes}",
                        crate::plugin::engine::MAX_MEMORY_BYTES
                    ),
                );
            }
            if p.fuel == Some(0) {
                e.push_at(
                    "fuel",
                    "expected a positive instruction budget, or no `fuel` field",
                );
            }
            let instances = instances(p, e);
            let http = p
                .http_outbound
                .as_ref()
                .and_then(|h| e.at("http_outbound", |e| http_grant(h, e)));
            let settings = PluginSettings {
                timeout,
                fuel: p.fuel,
                memory_bytes: memory_bytes as usize,
                config: Arc::new(
                    p.config
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                env: p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                instances,
                http,
            };
            let path = std::path::absolute(dir.join(&p.path)).unwrap_or_else(|_| dir.join(&p.path));
            match host.load(name, &path, settings) {
                Ok(plugin) => {
                    out.insert(name.clone(), Some(plugin));
                }
                Err(msg) => {
                    e.push_at("path", format!("`{}`: {msg}", p.path.display()));
                    // Known but unusable: references to it add no errors of their own.
                    out.insert(name.clone(), None);
                }
            }
            paths.push(path);
        })
    }
    (out, paths)
}

/// `http_outbound`: the origins, the timeout (default 10 s) and the cap on requests in flight
/// (default 16).
fn http_grant(raw: &RawHttpOutbound, e: &mut Errors) -> Option<Arc<HttpGrant>> {
    let before = e.len();
    let mut allow = Vec::with_capacity(raw.allow.len());
    for (i, origin) in raw.allow.iter().enumerate() {
        match Origin::parse(origin) {
            Ok(o) => allow.push(o),
            Err(msg) => e.at("allow", |e| e.index(i, |e| e.push(msg))),
        }
    }
    let timeout = duration(e, "timeout", raw.timeout.as_deref(), 10_000, 1, 300_000);
    let max_concurrent = raw.max_concurrent.unwrap_or(16);
    if max_concurrent == 0 {
        e.push_at("max_concurrent", "expected a positive number of requests");
    }
    (e.len() == before).then(|| Arc::new(HttpGrant::new(allow, timeout, max_concurrent)))
}

/// `instances`, `max_calls` and `max_idle`; the last two only go with `reuse`.
fn instances(p: &RawPlugin, e: &mut Errors) -> Instances {
    match p.instances {
        RawInstances::Fresh => {
            for (field, set) in [
                ("max_calls", p.max_calls.is_some()),
                ("max_idle", p.max_idle.is_some()),
            ] {
                if set {
                    e.push_at(field, "applies only to `instances: reuse`");
                }
            }
            Instances::Fresh
        }
        RawInstances::Reuse => {
            if p.max_calls == Some(0) {
                e.push_at(
                    "max_calls",
                    "expected a positive number of calls, or no `max_calls` field",
                );
            }
            let default_ms = DEFAULT_MAX_IDLE.as_millis() as u64;
            Instances::Reuse {
                max_calls: p.max_calls,
                max_idle: duration(
                    e,
                    "max_idle",
                    p.max_idle.as_deref(),
                    default_ms,
                    1,
                    86_400_000,
                ),
            }
        }
    }
}

/// Looks up a plugin of the given world for a reference at the current path.
pub fn plugin_ref(
    plugins: &Plugins,
    name: &str,
    kind: PluginKind,
    e: &mut Errors,
) -> Option<Arc<Plugin>> {
    match plugins.get(name) {
        Some(None) => None,
        Some(Some(p)) if p.kind == kind => Some(p.clone()),
        Some(Some(p)) => {
            e.push(format!(
                "plugin `{name}` is an {} plugin; expected an {} plugin",
                p.kind.name(),
                kind.name()
            ));
            None
        }
        None => {
            let mut known: Vec<&str> = plugins.keys().map(String::as_str).collect();
            known.sort_unstable();
            e.push(format!(
                "no plugin named `{name}` under `plugins` (defined: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
            None
        }
    }
}
