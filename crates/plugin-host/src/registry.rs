//! Loads plugins: each `.wasm` is compiled once (in memory by content digest and engine, and
//! on disk as a precompiled artifact keyed by digest and engine compatibility), linked once
//! into an `InstancePre`, and checked against the world it exports.
//!
//! Plugins run in up to four engines (`engine::EngineKind`): by whether their code meters fuel
//! (only plugins with a `fuel` budget) and whether their memories have guard pages (all but
//! plugins with `instances: fresh`). The plain one is made at start, the others when the first
//! plugin that needs them is loaded.

use super::bindings::authorizer_v0_2::AuthorizerPre as AuthorizerV0_2Pre;
use super::bindings::authorizer_v0_3::AuthorizerPre as AuthorizerV0_3Pre;
use super::bindings::mapper_v0_3::MapperPre as MapperV0_3Pre;
use super::bindings::request_handler_v0_3::RequestHandlerPre as RequestHandlerV0_3Pre;
use super::bindings::websocket_handler::WebsocketHandlerPre;
use super::bindings::{authorizer::AuthorizerPre, integration::IntegrationPre, mapper::MapperPre};
use super::engine::EngineKind;
use super::host::http::{ClientSlot, HttpClient};
use super::host::{ConnectionsSlot, KvStore, StoreSlot};
use super::pool::{Pool, Reaper, Sweep, MAX_READY};
use super::{CallState, Instances, Plugin, PluginKind, PluginPre, PluginSettings};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// An engine and the linker of every world's imports for it.
struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    kind: EngineKind,
}

impl Runtime {
    fn new(kind: EngineKind) -> wasmtime::Result<Self> {
        let engine = super::engine::new_engine(kind)?;
        let mut linker = Linker::new(&engine);
        // The worlds import the same interfaces (the WebSocket handler two more, the 0.2.0
        // authorizer the types of its request and decision, the 0.3.0 worlds the request and
        // response imports), so one linker serves them all.
        super::bindings::authorizer::Authorizer::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        super::bindings::policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::bindings::lent_request::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::messages::add_borrowing_to_linker(&mut linker)?;
        super::bindings::lent_response::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::bindings::kv_keys::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::bindings::connections::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Ok(Self {
            engine,
            linker,
            kind,
        })
    }
}

/// The engines, their linkers and every compiled component of the process.
pub struct PluginHost {
    plain: Runtime,
    /// The other engines (fuel; fresh; fresh with fuel), each made on first use (or why it
    /// cannot be).
    others: [OnceLock<Result<Runtime, String>>; 3],
    cache_dir: Option<PathBuf>,
    /// By engine and content digest.
    components: Mutex<HashMap<(EngineKind, [u8; 32]), Component>>,
    kv: Mutex<HashMap<String, Arc<KvStore>>>,
    store: Arc<StoreSlot>,
    connections: Arc<ConnectionsSlot>,
    http_client: Arc<ClientSlot>,
    reaper: Arc<Reaper>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Creates the engine (without fuel metering) and its linker, and starts the thread that
    /// drops instances idle past their `max_idle`. `cache_dir`: where precompiled artifacts
    /// go (`None`: compile in memory only).
    pub fn new(cache_dir: Option<PathBuf>) -> wasmtime::Result<Self> {
        let reaper = Arc::new(Reaper::default());
        Reaper::start(&reaper).map_err(wasmtime::Error::from)?;
        Ok(Self {
            plain: Runtime::new(EngineKind {
                fuel: false,
                fresh: false,
            })?,
            others: Default::default(),
            cache_dir,
            components: Mutex::new(HashMap::new()),
            kv: Mutex::new(HashMap::new()),
            store: Arc::default(),
            connections: Arc::default(),
            http_client: Arc::default(),
            reaper,
        })
    }

    fn runtime(&self, kind: EngineKind) -> Result<&Runtime, String> {
        let slot = match (kind.fuel, kind.fresh) {
            (false, false) => return Ok(&self.plain),
            (true, false) => &self.others[0],
            (false, true) => &self.others[1],
            (true, true) => &self.others[2],
        };
        slot.get_or_init(|| {
            Runtime::new(kind)
                .map_err(|e| format!("cannot start the `{}` engine: {e:#}", kind.label()))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Keeps the plugins' `kv` data in `store` from now on. Call before the first plugin call;
    /// false when a (process-local) store was already in use.
    pub fn use_store(&self, store: gatehouse_state::SharedStore) -> bool {
        self.store.set(store)
    }

    /// Lets plugins reach WebSocket connections through `registry`. Call once at startup.
    pub fn use_connections(
        &self,
        registry: gatehouse_state::connections::SharedConnections,
    ) -> bool {
        self.connections.set(registry)
    }

    /// Sends plugins' granted outbound HTTP requests through `client` (the gateway's upstream
    /// clients). Call once at startup; until then such requests fail inside the plugin.
    pub fn use_http_client(&self, client: Arc<dyn HttpClient>) -> bool {
        self.http_client.set(client)
    }

    /// The default on-disk cache: `$XDG_CACHE_HOME/gatehouse/plugins`, else under `$HOME`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("gatehouse").join("plugins"))
    }

    /// Loads the plugin `name` from `path`. Errors are single sentences for config errors.
    /// A zero `settings.timeout` means the default of the plugin's world: 50 ms for
    /// authorizers and mappers, 1 s for integrations (`wasi:http/proxy` ones too).
    pub fn load(
        &self,
        name: &str,
        path: &Path,
        mut settings: PluginSettings,
    ) -> Result<Arc<Plugin>, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let runtime = self.runtime(EngineKind {
            fuel: settings.fuel.is_some(),
            fresh: matches!(settings.instances, Instances::Fresh),
        })?;
        let component = self
            .component(runtime, &bytes, digest)
            .map_err(|e| format!("not a valid WebAssembly component: {e:#}"))?;
        let pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("imports something Gatehouse does not provide: {e:#}"))?;
        let exports: Vec<String> = component
            .component_type()
            .exports(&runtime.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let has = |n: &str| exports.iter().any(|e| e == n);
        let (kind, pre) = if has("authorize") {
            // Every version exports `authorize`; its type tells which one this is.
            let p = match AuthorizerPre::new(pre.clone()) {
                Ok(p) => PluginPre::Authorizer(p),
                Err(v0_1) => match AuthorizerV0_2Pre::new(pre.clone()) {
                    Ok(p) => PluginPre::AuthorizerV0_2(p),
                    Err(v0_2) => match AuthorizerV0_3Pre::new(pre) {
                        Ok(p) => PluginPre::AuthorizerV0_3(p),
                        Err(v0_3) => {
                            return Err(format!(
                                "{}; {}; {}",
                                bad_world("authorizer", "0.1.0", &v0_1),
                                bad_world("authorizer", "0.2.0", &v0_2),
                                bad_world("authorizer", "0.3.0", &v0_3)
                            ))
                        }
                    },
                },
            };
            (PluginKind::Authorizer, p)
        } else if has("map-request") {
            let p = match MapperPre::new(pre.clone()) {
                Ok(p) => PluginPre::Mapper(p),
                Err(v0_1) => PluginPre::MapperV0_3(MapperV0_3Pre::new(pre).map_err(|v0_3| {
                    format!(
                        "{}; {}",
                        bad_world("mapper", "0.1.0", &v0_1),
                        bad_world("mapper", "0.3.0", &v0_3)
                    )
                })?),
            };
            (PluginKind::Mapper, p)
        } else if has("handle-event") {
            let p = WebsocketHandlerPre::new(pre)
                .map_err(|e| bad_world("websocket-handler", "0.1.0", &e))?;
            (PluginKind::WebsocketHandler, PluginPre::WebsocketHandler(p))
        } else if has("handle") {
            // 0.1.0's `handle` takes the request, 0.3.0's request handler's takes nothing.
            let p = match IntegrationPre::new(pre.clone()) {
                Ok(p) => PluginPre::Integration(p),
                Err(v0_1) => PluginPre::RequestHandlerV0_3(
                    RequestHandlerV0_3Pre::new(pre).map_err(|v0_3| {
                        format!(
                            "{}; {}",
                            bad_world("integration", "0.1.0", &v0_1),
                            bad_world("request-handler", "0.3.0", &v0_3)
                        )
                    })?,
                ),
            };
            (PluginKind::Integration, p)
        } else if exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2."))
        {
            let p = ProxyPre::new(pre).map_err(|e| {
                format!("exports wasi:http/incoming-handler but does not match the wasi:http/proxy world: {e:#}")
            })?;
            (PluginKind::HttpHandler, PluginPre::Http(p))
        } else {
            return Err(format!(
                "exports none of the gatehouse:plugin worlds (authorizer, mapper, integration, websocket-handler) nor wasi:http/incoming-handler; it exports [{}]",
                exports.join(", ")
            ));
        };
        if settings.timeout.is_zero() {
            settings.timeout = match kind {
                PluginKind::Integration
                | PluginKind::WebsocketHandler
                | PluginKind::HttpHandler => std::time::Duration::from_secs(1),
                _ => std::time::Duration::from_millis(50),
            };
        }
        let kv = self
            .kv
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(KvStore::new(name, self.store.clone())))
            .clone();
        let pool = match settings.instances {
            Instances::Fresh => None,
            Instances::Reuse { max_idle, .. } => {
                let pool = Arc::new(Pool::new(MAX_READY, max_idle));
                let swept: Arc<dyn Sweep> = pool.clone();
                self.reaper.watch(Arc::downgrade(&swept));
                Some(pool)
            }
        };
        Ok(Arc::new(Plugin {
            name: name.into(),
            kind,
            pre,
            settings,
            kv,
            connections: self.connections.clone(),
            http_client: self.http_client.clone(),
            engine: runtime.engine.clone(),
            pool,
            digest: hex(&digest[..8]),
            calls: Default::default(),
        }))
    }

    fn component(
        &self,
        runtime: &Runtime,
        bytes: &[u8],
        digest: [u8; 32],
    ) -> wasmtime::Result<Component> {
        let key = (runtime.kind, digest);
        if let Some(c) = self
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let engine = &runtime.engine;
        let component = match self.artifact_path(runtime, &digest) {
            Some(path) => match load_artifact(engine, &path) {
                Some(c) => c,
                None => {
                    let c = Component::new(engine, bytes)?;
                    store_artifact(&c, &path);
                    c
                }
            },
            None => Component::new(engine, bytes)?,
        };
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, component.clone());
        Ok(component)
    }

    /// `DIR/<sha256>-<engine>-<engine compatibility hash>.cwasm`, for each engine its own.
    fn artifact_path(&self, runtime: &Runtime, digest: &[u8; 32]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut h = DefaultHasher::new();
        runtime.engine.precompile_compatibility_hash().hash(&mut h);
        Some(dir.join(format!(
            "{}-{}-{:016x}.cwasm",
            hex(digest),
            runtime.kind.label(),
            h.finish()
        )))
    }
}

fn bad_world(world: &str, version: &str, e: &wasmtime::Error) -> String {
    format!("does not match the `{world}` world of gatehouse:plugin@{version}: {e:#}")
}

/// Loads a precompiled artifact this process (or an earlier one) wrote.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: `deserialize_file` trusts the file to be a component compiled by this wasmtime
    // with these settings. Only Gatehouse writes into its cache directory, the name carries
    // the content digest and the engine's compatibility hash, and wasmtime re-checks the
    // header and version. A cache directory writable by others is a configuration error, as
    // it would be for any executable code.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(c) => {
            mark_used(path, SystemTime::now());
            Some(c)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unusable precompiled plugin");
            None
        }
    }
}

fn store_artifact(c: &Component, path: &Path) {
    let result = (|| -> std::io::Result<()> {
        let bytes = c.serialize().map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::debug!(path = %path.display(), error = %e, "cannot store precompiled plugin");
    }
    if let Some(dir) = path.parent() {
        let removed = prune_artifacts(dir, SystemTime::now());
        if removed > 0 {
            tracing::info!(dir = %dir.display(), removed, "removed precompiled plugins unused for 30 days");
        }
    }
}

/// How long a precompiled artifact may go unused before a later compile removes it: those of
/// plugins since rebuilt, and those an older wasmtime wrote (whose compatibility hash, in the
/// name, no longer matches), would otherwise stay in the cache directory for ever.
const UNUSED_ARTIFACT_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Sets the modification time of an artifact just loaded to `now` (at most once a day), so
/// that artifacts any gateway sharing the directory still loads are not pruned.
fn mark_used(path: &Path, now: SystemTime) {
    let stale = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > DAY));
    if stale {
        let touched = std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(now));
        if let Err(e) = touched {
            tracing::debug!(path = %path.display(), error = %e, "cannot mark precompiled plugin as used");
        }
    }
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Removes the artifacts (and temporary files of interrupted writes) in `dir` last modified
/// more than [`UNUSED_ARTIFACT_AGE`] before `now`; returns how many. Other files are left.
fn prune_artifacts(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "cwasm" || e.starts_with("tmp"));
        let unused = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
            now.duration_since(t)
                .is_ok_and(|age| age > UNUSED_ARTIFACT_AGE)
        });
        if ours && unused && entry.file_type().is_ok_and(|t| t.is_file()) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot remove unused precompiled plugin")
                }
            }
        }
    }
    removed
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, modified: SystemTime) -> PathBuf {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).expect("create");
        f.set_modified(modified).expect("set mtime");
        path
    }

    #[test]
    fn artifacts_unused_for_30_days_are_pruned_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let old = now - UNUSED_ARTIFACT_AGE - DAY;
        let recent = now - UNUSED_ARTIFACT_AGE + DAY;
        let stale = file(dir.path(), "aa-fresh-01.cwasm", old);
        let torn = file(dir.path(), "bb-fresh-02.tmp4242", old);
        let kept = file(dir.path(), "cc-fresh-03.cwasm", recent);
        let foreign = file(dir.path(), "notes.txt", old);
        std::fs::create_dir(dir.path().join("sub.cwasm")).expect("mkdir");
        assert_eq!(prune_artifacts(dir.path(), now), 2);
        assert!(!stale.exists() && !torn.exists());
        assert!(kept.exists() && foreign.exists() && dir.path().join("sub.cwasm").is_dir());
        assert_eq!(prune_artifacts(&dir.path().join("missing"), now), 0);
    }

    #[test]
    fn loading_an_artifact_marks_it_used_so_it_is_not_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let path = file(
            dir.path(),
            "dd-fresh-04.cwasm",
            now - UNUSED_ARTIFACT_AGE - DAY,
        );
        mark_used(&path, now);
        assert_eq!(prune_artifacts(dir.path(), now), 0);
        assert!(path.exists());
        // A file modified within the day is left as it is.
        let recent = now - Duration::from_secs(60);
        let fresh = file(dir.path(), "ee-fresh-05.cwasm", recent);
        mark_used(&fresh, now);
        let mtime = std::fs::metadata(&fresh).and_then(|m| m.modified());
        assert_eq!(mtime.expect("mtime"), recent);
    }
}
