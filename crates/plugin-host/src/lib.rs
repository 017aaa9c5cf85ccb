//! WebAssembly component plugins: authorizers, mappers, integrations and WebSocket handlers.
//!
//! Each call gets a fresh instance from the plugin's `InstancePre` in a new `Store` with the
//! plugin's limits: an epoch deadline (a loop is stopped), a memory cap (growth past it
//! fails), and no WASI capabilities unless the config grants environment variables. Any
//! failure is a [`PluginFailure`] for that call only; the caller turns it into a gateway
//! response. Calls are synchronous and run on the thread that serves the request: the epoch
//! deadline stops guest code, but a host call the guest makes (a `kv` transaction on the
//! state store) is not interrupted, so a call can hold its thread past the deadline by that
//! much.

pub mod bindings;
pub mod engine;
pub mod host;
pub mod registry;

use bindings::authorizer::AuthorizerPre;
use bindings::integration::IntegrationPre;
use bindings::mapper::MapperPre;
use bindings::types;
use bindings::websocket_handler::WebsocketHandlerPre;
pub use registry::PluginHost;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Which world a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Authorizer,
    Mapper,
    Integration,
    WebsocketHandler,
}

impl PluginKind {
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Authorizer => "authorizer",
            PluginKind::Mapper => "mapper",
            PluginKind::Integration => "integration",
            PluginKind::WebsocketHandler => "websocket-handler",
        }
    }
}

/// Limits and grants of one plugin, from config.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    pub timeout: Duration,
    /// Instruction budget of one call (wasmtime fuel); `None`: only the deadline applies.
    pub fuel: Option<u64>,
    pub memory_bytes: usize,
    pub config: Arc<HashMap<String, String>>,
    pub env: Arc<[(String, String)]>,
}

pub(crate) enum PluginPre {
    Authorizer(AuthorizerPre<CallState>),
    Mapper(MapperPre<CallState>),
    Integration(IntegrationPre<CallState>),
    WebsocketHandler(WebsocketHandlerPre<CallState>),
}

/// A loaded plugin, ready to be called.
pub struct Plugin {
    pub name: Arc<str>,
    pub kind: PluginKind,
    pre: PluginPre,
    pub settings: PluginSettings,
    kv: Arc<host::KvStore>,
    connections: Arc<host::ConnectionsSlot>,
    engine: wasmtime::Engine,
    /// First bytes of the content digest, for logs.
    pub digest: String,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// Why a call produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    #[error("ran past its deadline of {0:?}")]
    Timeout(Duration),
    #[error("used up its fuel of {0} units")]
    OutOfFuel(u64),
    #[error("tried to grow its memory past the limit of {0} bytes")]
    OutOfMemory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("cannot be instantiated: {0}")]
    Instantiate(String),
    #[error("returned a malformed result: {0}")]
    Malformed(String),
}

/// The per-call state a plugin's host functions see.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: MemoryLimit,
    pub(crate) plugin: Arc<str>,
    pub(crate) request_id: String,
    pub(crate) config: Arc<HashMap<String, String>>,
    pub(crate) kv: Arc<host::KvStore>,
    pub(crate) connections: Arc<host::ConnectionsSlot>,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("plugin", &self.plugin)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct MemoryLimit {
    max: usize,
    refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl Plugin {
    fn store(&self, request_id: &str) -> Store<CallState> {
        let mut wasi = WasiCtx::builder();
        for (k, v) in self.settings.env.iter() {
            wasi.env(k, v);
        }
        let state = CallState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: MemoryLimit {
                max: self.settings.memory_bytes,
                refused: false,
            },
            plugin: self.name.clone(),
            request_id: request_id.to_owned(),
            config: self.settings.config.clone(),
            kv: self.kv.clone(),
            connections: self.connections.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(engine::ticks(self.settings.timeout));
        store.epoch_deadline_trap();
        // Cannot fail: fuel is enabled on the engine.
        let _ = store.set_fuel(self.settings.fuel.unwrap_or(u64::MAX));
        store
    }

    fn failure(&self, store: &Store<CallState>, err: wasmtime::Error) -> PluginFailure {
        if store.data().limits.refused {
            return PluginFailure::OutOfMemory(self.settings.memory_bytes);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout(self.settings.timeout),
            Some(Trap::OutOfFuel) => PluginFailure::OutOfFuel(self.settings.fuel.unwrap_or(0)),
            Some(t) => PluginFailure::Trap(t.to_string()),
            None => PluginFailure::Trap(format!("{err:#}")),
        }
    }

    /// Calls an authorizer.
    pub fn authorize(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Decision, types::AuthorizerError>, PluginFailure> {
        let PluginPre::Authorizer(pre) = &self.pre else {
            return Err(self.wrong_kind(PluginKind::Authorizer));
        };
        let mut store = self.store(request_id);
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        inst.call_authorize(&mut store, req)
            .map_err(|e| self.failure(&store, e))
    }

    /// Calls a mapper's `map-request`.
    pub fn map_request(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Request, String>, PluginFailure> {
        let PluginPre::Mapper(pre) = &self.pre else {
            return Err(self.wrong_kind(PluginKind::Mapper));
        };
        let mut store = self.store(request_id);
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        inst.call_map_request(&mut store, req)
            .map_err(|e| self.failure(&store, e))
    }

    /// Calls a mapper's `map-response`.
    pub fn map_response(
        &self,
        request_id: &str,
        req: &types::Request,
        resp: &types::Response,
    ) -> Result<Result<types::Response, String>, PluginFailure> {
        let PluginPre::Mapper(pre) = &self.pre else {
            return Err(self.wrong_kind(PluginKind::Mapper));
        };
        let mut store = self.store(request_id);
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        inst.call_map_response(&mut store, req, resp)
            .map_err(|e| self.failure(&store, e))
    }

    /// Calls an integration's `handle`.
    pub fn handle(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Response, String>, PluginFailure> {
        let PluginPre::Integration(pre) = &self.pre else {
            return Err(self.wrong_kind(PluginKind::Integration));
        };
        let mut store = self.store(request_id);
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        inst.call_handle(&mut store, req)
            .map_err(|e| self.failure(&store, e))
    }

    /// Calls a WebSocket handler's `handle-event`.
    pub fn handle_event(
        &self,
        request_id: &str,
        event: &bindings::websocket::Event,
    ) -> Result<Result<Option<Vec<u8>>, String>, PluginFailure> {
        let PluginPre::WebsocketHandler(pre) = &self.pre else {
            return Err(self.wrong_kind(PluginKind::WebsocketHandler));
        };
        let mut store = self.store(request_id);
        let inst = pre
            .instantiate(&mut store)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        inst.call_handle_event(&mut store, event)
            .map_err(|e| self.failure(&store, e))
    }

    fn wrong_kind(&self, wanted: PluginKind) -> PluginFailure {
        PluginFailure::Instantiate(format!(
            "plugin `{}` is an {} plugin, not an {}",
            self.name,
            self.kind.name(),
            wanted.name()
        ))
    }
}
