//! WebAssembly component plugins: authorizers, mappers, integrations and WebSocket handlers.
//!
//! A call runs on an instance of the plugin in its own `Store` with the plugin's limits: a
//! deadline (a loop is stopped), a memory cap (growth past it fails), an optional fuel budget,
//! and no WASI capabilities unless the config grants environment variables. With
//! [`Instances::Reuse`] (the default) the instance comes from the plugin's pool of ready
//! instances and goes back after a normal return, so its globals and memory carry over to
//! later calls; with [`Instances::Fresh`] every call instantiates the plugin's `InstancePre`
//! anew. Any failure is a [`PluginFailure`] for that call only, and the instance it happened
//! on is dropped; the caller turns the failure into a gateway response.
//!
//! Calls are async: guest code runs on a fiber that yields to the executor at every epoch
//! tick (the first within [`engine::IDLE_TICK`] of the call's start, then every
//! [`engine::TICK`]) and traps at the first tick past its deadline, and host imports
//! that do I/O (`kv`) await a blocking-pool task. A host call in progress is not
//! interrupted, so a call can end past its deadline by the length of that host call, but it
//! never holds the worker thread meanwhile.
//!
//! Besides Gatehouse's own worlds, a plugin may be any component of the standard
//! `wasi:http/proxy` world ([`PluginKind::HttpHandler`]), served as an integration with
//! [`Plugin::serve_http`]. Any plugin may import `wasi:http/outgoing-handler`; its requests
//! reach only the origins its [`host::http::HttpGrant`] lists, through the gateway's clients.

pub mod bindings;
mod calls;
pub mod engine;
pub mod host;
mod http_response;
mod lent;
pub mod messages;
mod pool;
mod record;
pub mod registry;

use bindings::authorizer::{Authorizer, AuthorizerPre};
use bindings::authorizer_v0_2::{Authorizer as AuthorizerV0_2, AuthorizerPre as AuthorizerV0_2Pre};
use bindings::authorizer_v0_3::{Authorizer as AuthorizerV0_3, AuthorizerPre as AuthorizerV0_3Pre};
use bindings::integration::{Integration, IntegrationPre};
use bindings::mapper::{Mapper, MapperPre};
use bindings::mapper_v0_3::{Mapper as MapperV0_3, MapperPre as MapperV0_3Pre};
use bindings::request_handler_v0_3::{
    RequestHandler as RequestHandlerV0_3, RequestHandlerPre as RequestHandlerV0_3Pre,
};
use bindings::websocket_handler::{WebsocketHandler, WebsocketHandlerPre};
pub use http_response::{HttpBody, HttpResponse};
pub use pool::MAX_READY;
pub use registry::PluginHost;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Which world a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// An authorizer of either version: see [`Plugin::answers_policy`].
    Authorizer,
    Mapper,
    Integration,
    WebsocketHandler,
    /// A component of the standard `wasi:http/proxy` world (it exports
    /// `wasi:http/incoming-handler`), served as an integration.
    HttpHandler,
}

impl PluginKind {
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Authorizer => "authorizer",
            PluginKind::Mapper => "mapper",
            PluginKind::Integration => "integration",
            PluginKind::WebsocketHandler => "websocket-handler",
            PluginKind::HttpHandler => "wasi:http/proxy",
        }
    }
}

/// The shortest deadline for making an instance. Making one is not part of a call's deadline:
/// a JavaScript or Python component's instance takes milliseconds to make, where its calls
/// take microseconds; a debug build of the gateway on a busy 2-core machine took 45 to 58 ms
/// to make a Python authorizer's instance, while its calls took 0.4 to 4 ms.
pub const MIN_INSTANTIATION_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a ready instance may wait for its next call when the config gives no `max_idle`.
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(60);

/// Whether an instance serves one call or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// A new instance for every call: nothing carries over between calls.
    Fresh,
    /// Up to [`MAX_READY`] ready instances are kept between calls; globals and memory carry
    /// over. An instance is dropped after a failed call, after `max_calls` calls, or once it
    /// has waited `max_idle` for a call.
    Reuse {
        max_calls: Option<u64>,
        max_idle: Duration,
    },
}

impl Default for Instances {
    fn default() -> Self {
        Instances::Reuse {
            max_calls: None,
            max_idle: DEFAULT_MAX_IDLE,
        }
    }
}

/// Limits and grants of one plugin, from config.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// Deadline of one call; zero: the default of the plugin's world (see `PluginHost::load`).
    pub timeout: Duration,
    /// Instruction budget of one call (wasmtime fuel); `None`: only the deadline applies.
    pub fuel: Option<u64>,
    pub memory_bytes: usize,
    pub config: Arc<HashMap<String, String>>,
    pub env: Arc<[(String, String)]>,
    pub instances: Instances,
    /// Outbound HTTP through `wasi:http/outgoing-handler`; `None`: every request is denied.
    pub http: Option<Arc<host::http::HttpGrant>>,
}

impl Default for PluginSettings {
    /// The world's default deadline, no fuel, 16 MiB, no config, environment or outbound
    /// HTTP, reuse.
    fn default() -> Self {
        Self {
            timeout: Duration::ZERO,
            fuel: None,
            memory_bytes: 16 << 20,
            config: Arc::default(),
            env: Arc::new([]),
            instances: Instances::default(),
            http: None,
        }
    }
}

pub(crate) enum PluginPre {
    Authorizer(AuthorizerPre<CallState>),
    /// The 0.2.0 authorizer world (a policy decision).
    AuthorizerV0_2(AuthorizerV0_2Pre<CallState>),
    /// The 0.3.0 worlds: the request (and the response) read through imports.
    AuthorizerV0_3(AuthorizerV0_3Pre<CallState>),
    Mapper(MapperPre<CallState>),
    MapperV0_3(MapperV0_3Pre<CallState>),
    Integration(IntegrationPre<CallState>),
    /// The 0.3.0 `request-handler` world: an integration that reads the request.
    RequestHandlerV0_3(RequestHandlerV0_3Pre<CallState>),
    WebsocketHandler(WebsocketHandlerPre<CallState>),
    Http(ProxyPre<CallState>),
}

/// The exports of one live instance.
enum Exports {
    Authorizer(Authorizer),
    AuthorizerV0_2(AuthorizerV0_2),
    AuthorizerV0_3(AuthorizerV0_3),
    Mapper(Mapper),
    MapperV0_3(MapperV0_3),
    Integration(Integration),
    RequestHandlerV0_3(RequestHandlerV0_3),
    WebsocketHandler(WebsocketHandler),
    Http(Proxy),
}

/// An instance with its store, between calls or during one.
pub(crate) struct Live {
    store: Store<CallState>,
    exports: Exports,
    calls: u64,
}

/// A loaded plugin, ready to be called. A config (re)load makes new `Plugin`s, each with an
/// empty pool; calls in flight finish on the instances of the `Plugin` they started with.
pub struct Plugin {
    pub name: Arc<str>,
    pub kind: PluginKind,
    pre: PluginPre,
    pub settings: PluginSettings,
    kv: Arc<host::KvStore>,
    connections: Arc<host::ConnectionsSlot>,
    http_client: Arc<host::http::ClientSlot>,
    engine: wasmtime::Engine,
    /// Ready instances, with `Instances::Reuse`.
    pool: Option<Arc<pool::Pool<Live>>>,
    /// First bytes of the content digest, for logs.
    pub digest: String,
    /// Calls made and calls that failed, since the plugin was loaded.
    calls: calls::CallCounts,
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
    /// When the current call must end; checked at every epoch tick.
    deadline: Instant,
    pub(crate) plugin: Arc<str>,
    pub(crate) request_id: String,
    pub(crate) config: Arc<HashMap<String, String>>,
    pub(crate) kv: Arc<host::KvStore>,
    pub(crate) connections: Arc<host::ConnectionsSlot>,
    http: WasiHttpCtx,
    outbound: host::http::Outbound,
    /// What a call of a 0.3.0 plugin is for.
    lent: messages::Lent,
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

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
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
            deadline: Instant::now(),
            plugin: self.name.clone(),
            request_id: request_id.to_owned(),
            config: self.settings.config.clone(),
            kv: self.kv.clone(),
            connections: self.connections.clone(),
            http: WasiHttpCtx::new(),
            outbound: host::http::Outbound::new(&self.settings.http, &self.name, &self.http_client),
            lent: messages::Lent::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|ctx| {
            Ok(if Instant::now() >= ctx.data().deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        store
    }

    /// Arms the limits of one call on `store`: the deadline, and the fuel.
    fn begin(&self, store: &mut Store<CallState>, request_id: &str, deadline: Instant) {
        let state = store.data_mut();
        state.request_id.clear();
        state.request_id.push_str(request_id);
        state.deadline = deadline;
        state.limits.refused = false;
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.settings.fuel {
            // Cannot fail: plugins with a budget are compiled by the engine that meters fuel.
            let _ = store.set_fuel(fuel);
        }
    }

    /// A ready instance from the pool, or a new one.
    async fn instance(&self, request_id: &str, wanted: PluginKind) -> Result<Live, PluginFailure> {
        if self.kind != wanted {
            return Err(self.wrong_kind(wanted));
        }
        // The call's own deadline starts once it has its instance: at once for a ready one
        // (one clock read serves both), after instantiation for a new one.
        let now = Instant::now();
        let (mut live, start) = match self.pool.as_ref().and_then(|p| p.take(now)) {
            Some(live) => (live, now),
            // Boxed: instantiation's kilobytes of state would widen every (moved) call's future.
            None => (
                Box::pin(self.instantiate(request_id)).await?,
                Instant::now(),
            ),
        };
        self.begin(&mut live.store, request_id, start + self.settings.timeout);
        Ok(live)
    }

    /// A new instance, made under limits of its own: a deadline of the plugin's `timeout` or
    /// [`MIN_INSTANTIATION_TIMEOUT`], whichever is longer, and the fuel budget.
    async fn instantiate(&self, request_id: &str) -> Result<Live, PluginFailure> {
        let mut store = self.store(request_id);
        let timeout = self.settings.timeout.max(MIN_INSTANTIATION_TIMEOUT);
        self.begin(&mut store, request_id, Instant::now() + timeout);
        let exports = match &self.pre {
            PluginPre::Authorizer(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::Authorizer),
            PluginPre::AuthorizerV0_2(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::AuthorizerV0_2),
            PluginPre::AuthorizerV0_3(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::AuthorizerV0_3),
            PluginPre::Mapper(pre) => pre.instantiate_async(&mut store).await.map(Exports::Mapper),
            PluginPre::MapperV0_3(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::MapperV0_3),
            PluginPre::Integration(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::Integration),
            PluginPre::RequestHandlerV0_3(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::RequestHandlerV0_3),
            PluginPre::WebsocketHandler(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Exports::WebsocketHandler),
            PluginPre::Http(pre) => pre.instantiate_async(&mut store).await.map(Exports::Http),
        }
        .map_err(|e| {
            self.calls.count(false);
            PluginFailure::Instantiate(match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::Interrupt) => format!("ran past its deadline of {timeout:?}"),
                _ => format!("{e:#}"),
            })
        })?;
        Ok(Live {
            store,
            exports,
            calls: 0,
        })
    }

    /// Ends a call: the instance goes back to the pool after a normal return within its
    /// limits, and is dropped otherwise.
    fn finish<R>(&self, mut live: Live, result: wasmtime::Result<R>) -> Result<R, PluginFailure> {
        let result = result.map_err(|e| self.failure(&live.store, e));
        self.calls.count(result.is_ok());
        if let (Ok(_), Some(pool), Instances::Reuse { max_calls, .. }) =
            (&result, &self.pool, self.settings.instances)
        {
            live.calls += 1;
            if !live.store.data().limits.refused && max_calls.is_none_or(|max| live.calls < max) {
                pool.put(live, Instant::now());
            }
        }
        result
    }

    /// Calls made and calls that failed since the plugin was loaded.
    pub fn call_counts(&self) -> (u64, u64) {
        self.calls.get()
    }

    /// Serves `req` with a `wasi:http/proxy` plugin. The call runs until it returns or sets
    /// its response: a call that has returned answers with the whole body it wrote (of known
    /// length); otherwise the response comes back as soon as the plugin sets it, and its body
    /// runs the rest of the call as it is read, streaming what the plugin writes. The
    /// plugin's deadline covers the whole call, body included; an instance goes back to the
    /// pool once its call has returned. A body dropped before its call returns (the client
    /// went away) leaves the call to finish on a task of its own.
    pub async fn serve_http<B>(
        self: &Arc<Self>,
        request_id: &str,
        https: bool,
        req: http::Request<B>,
    ) -> Result<HttpResponse, PluginFailure>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        use http_body_util::BodyExt;
        use std::task::Poll;
        let req = req.map(|b| {
            b.map_err(|e| {
                wasmtime_wasi_http::Error::InternalError(Some(format!(
                    "the client's body failed: {e}"
                )))
            })
        });
        if self.kind != PluginKind::HttpHandler {
            return Err(self.wrong_kind(PluginKind::HttpHandler));
        }
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        let plugin = self.clone();
        let request_id = request_id.to_owned();
        // The deadline also bounds a call that waits in a host call (a body write the client
        // does not read, an outbound request), where no epoch tick can stop it; like every
        // call's, it starts once the call has its instance.
        let timeout = self.settings.timeout;
        let call = async move {
            let _running = engine::Running::start();
            let mut live = plugin
                .instance(&request_id, PluginKind::HttpHandler)
                .await?;
            let handled = async {
                let scheme = if https {
                    wasmtime_wasi_http::p2::bindings::http::types::Scheme::Https
                } else {
                    wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http
                };
                let resources = {
                    let mut view = live.store.data_mut().http();
                    view.new_incoming_request(scheme, req)
                        .and_then(|req| Ok((req, view.new_response_outparam(sender)?)))
                };
                let (req, out) =
                    resources.map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
                match &live.exports {
                    Exports::Http(p) => Ok(p
                        .wasi_http_incoming_handler()
                        .call_handle(&mut live.store, req, out)
                        .await),
                    _ => Err(plugin.wrong_kind(PluginKind::HttpHandler)),
                }
            };
            match tokio::time::timeout(timeout, handled).await {
                Ok(Ok(result)) => plugin.finish(live, result),
                Ok(Err(failure)) => Err(failure),
                Err(_) => Err(PluginFailure::Timeout(timeout)),
            }
        };
        let mut call: http_response::Call = Box::pin(call); // Moves a pointer, not kilobytes.
        /// How the call's first stretch ended: it returned, or it set its response and goes on.
        enum First<R, S> {
            Returned(R),
            Set(S),
        }
        // Until the call returns or sets its response, whichever comes first.
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = call.as_mut().poll(cx) {
                return Poll::Ready(First::Returned(result));
            }
            std::future::Future::poll(std::pin::Pin::new(&mut receiver), cx).map(First::Set)
        })
        .await;
        // The response leaves after the worker's other ready tasks have had their turn, as
        // it would after an upstream call, so that responses go out together. Written the
        // moment each call returned, they woke the load benchmark's client once a response
        // (0.41 wake-ups of another CPU per request against 0.05) and cost 2 to 3 µs of
        // kernel time a request on the 2-core machine.
        tokio::task::yield_now().await;
        let unset = || {
            PluginFailure::Malformed(
                "returned without setting a response (response-outparam.set)".into(),
            )
        };
        let answered =
            |code| PluginFailure::Malformed(format!("answered with the error code {code:?}"));
        match first {
            // Returned: what it set, with the body it wrote.
            First::Returned(Ok(())) => match receiver.try_recv() {
                Ok(Ok(resp)) => Ok(resp.map(HttpBody::written)),
                Ok(Err(code)) => Err(answered(code)),
                Err(_) => Err(unset()),
            },
            First::Returned(Err(failure)) => Err(failure),
            // Set while the call goes on.
            First::Set(Ok(Ok(resp))) => Ok(resp.map(|b| HttpBody::streaming(b, Some(call)))),
            First::Set(Ok(Err(code))) => {
                HttpBody::detach(call);
                Err(answered(code))
            }
            // The response-outparam was dropped unset: how the call ends tells why.
            First::Set(Err(_)) => Err(call.await.err().unwrap_or_else(unset)),
        }
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
