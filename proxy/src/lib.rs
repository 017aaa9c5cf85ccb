//! Gatehouse: a self-hosted API gateway with Amazon API Gateway's semantics.
//!
//! [`run`] loads a config file, binds its listeners and serves until SIGTERM or SIGINT, then
//! drains in-flight requests. The request path is described in `pipeline.rs`; the crates and
//! the layers of this one in `docs/architecture.md`.

pub mod access_log;
pub mod admin;
pub mod auth;
pub mod body;
pub mod config;
pub mod context_template;
pub mod ctx;
pub mod error;
pub mod gateway_responses;
pub mod heap;
pub mod hub;
pub mod integration;
pub mod listener;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod router;
pub mod runtime;
pub mod settings;
pub mod shared;
pub mod stage;
pub mod trace;
pub mod upstream;
pub mod usage;
pub mod websocket;

pub use gatehouse_openapi as openapi;
pub use gatehouse_state as state;
pub use gatehouse_vtl as vtl;
pub use shared::Shared;

use arc_swap::ArcSwap;
use config::reload::Reloader;
use config::ConfigErrors;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn store_err(e: state::StoreError) -> RunError {
    RunError::Io {
        what: "cannot open the state store".into(),
        source: std::io::Error::other(e.0),
    }
}

/// Writes quota counts to the state store every `every`, until shutdown (which flushes once
/// more itself).
async fn flush_quota_counts(
    shared: Arc<Shared>,
    every: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.flush_counts()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot write quota and usage counts; retrying at the next flush")
            }
            Err(e) => tracing::warn!(error = %e, "quota flush task failed"),
        }
    }
}

/// The state store the config names: Redis, the embedded redb file, or memory.
pub fn open_store(
    settings: &settings::StateSettings,
) -> Result<state::SharedStore, state::StoreError> {
    Ok(match (&settings.redis, &settings.data_dir) {
        (Some(redis), _) => Arc::new(state::redis_store::RedisStore::open(redis.clone())?),
        (None, Some(dir)) => Arc::new(state::redb_store::RedbStore::open(dir)?),
        (None, None) => Arc::new(state::MemoryStore::default()),
    })
}

/// With a shared store: reloads the API keys and IAM credentials whenever another node (or
/// this one) changed them.
async fn follow_key_changes(shared: Arc<Shared>, mut changes: watch::Receiver<u64>) {
    while changes.changed().await.is_ok() {
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.keys.reload().and_then(|()| s.iam.reload()))
            .await
        {
            Ok(Ok(())) => {
                tracing::debug!("API keys and IAM credentials reloaded from the shared store")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot reload the API keys; the previous ones stay")
            }
            Err(e) => tracing::warn!(error = %e, "API key reload task failed"),
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// Serves `config_path` until SIGTERM or SIGINT, then shuts down gracefully, on the calling
/// runtime alone.
pub async fn run(config_path: PathBuf) -> Result<(), RunError> {
    run_workers(config_path, 1).await
}

/// Like [`run`], with `workers - 1` more threads accepting and serving TCP connections
/// ([`listener::workers`]).
pub async fn run_workers(config_path: PathBuf, workers: usize) -> Result<(), RunError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    listener::raise_descriptor_limit();
    let text = std::fs::read_to_string(&config_path).map_err(|e| {
        ConfigErrors::single(&config_path, "", format!("cannot read the file: {e}"))
    })?;
    let metrics = metrics::Registry::default();
    let cache_dir = std::env::var_os("GATEHOUSE_PLUGIN_CACHE")
        .map(PathBuf::from)
        .or_else(plugin::PluginHost::default_cache_dir);
    let plugins = plugin::PluginHost::new(cache_dir).map_err(|e| RunError::Io {
        what: "cannot start the WebAssembly engine".into(),
        source: std::io::Error::other(format!("{e:#}")),
    })?;
    // The store first: with Redis, the config's throttles lease their tokens from it.
    let store = match config::state_settings(&text, &config_path) {
        Some(state) => open_store(&state).map_err(store_err)?,
        None => Arc::new(state::MemoryStore::default()),
    };
    let keys = state::keys::ApiKeys::new(store.clone()).map_err(store_err)?;
    let env = config::CompileEnv {
        metrics: &metrics,
        plugins: &plugins,
        leases: keys.leases(),
        shared_cache: keys.shared_cache(),
    };
    let deployments =
        state::deployments::Deployments::new(store.clone(), state::deployments::DEFAULT_HISTORY);
    // A rollback serves across a restart while the file is the one it replaced.
    let (serving, kept) = config::deploy::startup_text(&deployments, &config_path, text.clone());
    let loaded = config::load_str(&serving, &config_path, env)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let settings = loaded.settings;
    let access_log = access_log::Sink::open(&settings.access_log)
        .map_err(io_err("cannot open the access log"))?;
    let execution_log = access_log::Sink::open(&settings.execution_log)
        .map_err(io_err("cannot open the execution log"))?;
    plugins.use_store(store.clone());
    keys.import(&loaded.runtime.config_keys)
        .map_err(store_err)?;
    let iam = state::iam::IamCredentials::new(store.clone()).map_err(store_err)?;
    iam.import(&loaded.runtime.config_iam).map_err(store_err)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let connections: state::connections::SharedConnections = store
        .connections()
        .unwrap_or_else(|| Arc::new(state::connections::LocalConnections::default()));
    plugins.use_connections(connections.clone());
    let upstreams = Arc::new(upstream::Upstreams::new(&settings.upstream));
    plugins.use_http_client(Arc::new(plugin::outbound::PluginUpstreams(
        upstreams.clone(),
    )));
    let shared = Arc::new(Shared {
        runtime: ArcSwap::from_pointee(loaded.runtime),
        upstreams,
        metrics,
        plugins,
        access_log,
        execution_log,
        keys,
        iam,
        websockets: websocket::Hub::new(connections, stop_rx.clone(), settings.tunnel_idle_timeout),
        deployments,
        tracer: settings.tracing.as_ref().map(trace::Tracer::start),
        stage_usage: usage::StageUsage::default(),
    });
    let started = {
        let (shared, path) = (shared.clone(), config_path.clone());
        tokio::task::spawn_blocking(move || {
            let file_text = kept.as_ref().map(|_| text.as_str());
            let d = config::deploy::record(
                &shared,
                &path,
                &serving,
                file_text,
                state::deployments::Source::Start,
                kept.as_ref(),
            );
            (d, text)
        })
    };
    let (started, text) = started
        .await
        .map_err(|e| io_err("cannot record the deployment")(std::io::Error::other(e)))?;

    if let Some(changes) = shared.keys.key_changes() {
        tokio::spawn(follow_key_changes(shared.clone(), changes));
    }
    tokio::spawn(heap::run(stop_rx.clone()));
    let flusher = tokio::spawn(flush_quota_counts(
        shared.clone(),
        settings.state.flush_interval,
        stop_rx.clone(),
    ));
    // Every connection holds a clone of this sender; shutdown waits until all are dropped.
    let (in_flight, mut drained) = mpsc::channel::<()>(1);
    let mut accept_tasks = Vec::new();
    let mut listening = Vec::new();
    let settings = Arc::new(settings);
    for l in &settings.listeners {
        let tcp = if l.http1 || l.http2 {
            let listener = listener::bind(l, workers > 1).map_err(io_err(format!(
                "cannot listen on {} ({})",
                l.address, l.name
            )))?;
            Some(listener)
        } else {
            None
        };
        // HTTP/3 takes the TCP listener's port number (the one Alt-Svc names).
        let port = match &tcp {
            Some(t) => t
                .local_addr()
                .map_err(io_err("cannot read a bound address"))?
                .port(),
            None => l.address.port(),
        };
        let mut alt_svc = None;
        if let Some(quic) = &l.quic {
            let endpoint = listener::h3::bind(l, quic.clone(), port).map_err(io_err(format!(
                "cannot listen on UDP {}:{port} for HTTP/3 ({})",
                l.address.ip(),
                l.name
            )))?;
            alt_svc = http::HeaderValue::from_str(&format!("h3=\":{port}\"; ma=86400")).ok();
            let (settings, shared, in_flight, stop) = (
                settings.clone(),
                shared.clone(),
                in_flight.clone(),
                stop_rx.clone(),
            );
            accept_tasks.push(tokio::spawn(async move {
                listener::h3::accept_loop(endpoint, &settings, shared, in_flight, stop).await
            }));
        }
        let Some(listener) = tcp else {
            continue;
        };
        let tls = l.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let builders = Arc::new(listener::Builders::new(l, &settings));
        listening.push(listener::workers::Listening {
            address: listener
                .local_addr()
                .map_err(io_err("cannot read a bound address"))?,
            tls: tls.clone(),
            builders: builders.clone(),
            alt_svc: alt_svc.clone(),
        });
        accept_tasks.push(tokio::spawn(listener::accept_loop(
            listener,
            tls,
            builders,
            alt_svc,
            shared.clone(),
            in_flight.clone(),
            stop_rx.clone(),
        )));
    }

    let (done_tx, done_rx) = watch::channel(false);
    // Each worker's accept loops hold a clone; once all are dropped, no socket accepts.
    let (accepting, mut closed) = mpsc::channel::<()>(1);
    let worker_threads = listener::workers::start(
        workers,
        &listening,
        &shared,
        (&in_flight, &accepting),
        &stop_rx,
        &done_rx,
    )
    .map_err(io_err("cannot start the workers"))?;
    drop(accepting);
    if workers > 1 {
        tracing::info!(
            workers,
            "workers accept on their own sockets (SO_REUSEPORT)"
        );
    }

    let reloader = Arc::new(Reloader::new(
        config_path.clone(),
        shared.clone(),
        loaded.fingerprint,
        &text,
    ));
    if let Some(d) = started {
        reloader.set_current(d);
    }
    if let Err(e) = config::reload::watch(reloader.clone(), &loaded.watch_paths) {
        tracing::warn!(error = %e, "cannot watch the config and plugin files; reload with SIGHUP or the admin API");
    }
    let draining = Arc::new(AtomicBool::new(false));
    let admin_task = match settings.admin.clone() {
        Some(a) => Some(
            admin::serve(
                a.clone(),
                shared.clone(),
                reloader,
                draining.clone(),
                stop_rx.clone(),
            )
            .await
            .map_err(io_err(format!("cannot listen on {} (admin)", a.address)))?,
        ),
        None => None,
    };

    let stop = stop_signal();
    tracing::info!(listeners = settings.listeners.len(), "ready");
    stop.await;
    draining.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    closed.recv().await;
    tracing::info!(drain_timeout = ?settings.drain_timeout, "shutting down: no new connections, finishing requests in flight");
    drop(in_flight);
    let drain = async {
        drained.recv().await;
        // WebSocket sessions close with 1001 and run `$disconnect`; tunnels end.
        shared.websockets.wait().await;
    };
    if tokio::time::timeout(settings.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("drain timeout elapsed; closing the remaining connections");
    }
    let _ = done_tx.send(true);
    for t in worker_threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    if let Some(t) = admin_task {
        t.abort();
    }
    if let Some(sink) = &shared.access_log {
        sink.flush_and_close();
    }
    if let Some(sink) = &shared.execution_log {
        sink.flush_and_close();
    }
    flusher.abort();
    let last = shared.clone();
    match tokio::task::spawn_blocking(move || last.flush_counts()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot write the last quota and usage counts"),
        Err(e) => tracing::error!(error = %e, "quota flush task failed"),
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// Installs the SIGTERM and SIGINT handlers at once (so a signal sent after "ready" is never
/// lost) and returns the future that completes on the first of them.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    wait_for_stop_signal(term, int)
}

async fn wait_for_stop_signal(
    term: std::io::Result<tokio::signal::unix::Signal>,
    int: std::io::Result<tokio::signal::unix::Signal>,
) {
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
