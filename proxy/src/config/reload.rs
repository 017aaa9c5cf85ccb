//! Hot reload: a changed file (watched), SIGHUP or the admin API builds a new runtime off the
//! request path and swaps it in atomically. Requests in flight keep the runtime they started
//! with. A config with errors is refused, logged, and the old one keeps serving.

use super::deploy::{self, RollbackError};
use super::ConfigErrors;
use crate::shared::Shared;
use crate::state::deployments::{Deployment, Source};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Reloads one config file into the shared runtime.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// One reload at a time, so two quick edits apply in order.
    serial: tokio::sync::Mutex<()>,
    watch: Mutex<Watch>,
    /// The deployment serving now.
    current: Mutex<Option<Deployment>>,
    /// The last [`HISTORY`] loads, oldest first (the admin console shows them).
    history: Mutex<std::collections::VecDeque<ReloadRecord>>,
}

/// Loads [`Reloader::history`] keeps.
pub const HISTORY: usize = 20;

/// One load of the config: when, and the errors that refused it (none: it serves).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadRecord {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `start` for the load the process started with, else `reload`.
    pub kind: &'static str,
    pub errors: Vec<String>,
}

/// The file watcher and what it watches: the config file and every plugin file.
#[derive(Default)]
struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    dirs: HashSet<PathBuf>,
    /// Plugin files: a change forces a reload even when the config text is unchanged.
    files: Arc<Mutex<HashSet<PathBuf>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    fingerprint: String,
    text_hash: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn hash_text(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Reloader {
    pub fn new(path: PathBuf, shared: Arc<Shared>, fingerprint: String, text: &str) -> Self {
        Self {
            path,
            shared,
            state: Mutex::new(State {
                fingerprint,
                text_hash: hash_text(text),
            }),
            serial: tokio::sync::Mutex::new(()),
            watch: Mutex::new(Watch::default()),
            current: Mutex::new(None),
            history: Mutex::new(std::collections::VecDeque::from([ReloadRecord {
                at_ms: now_ms(),
                kind: "start",
                errors: Vec::new(),
            }])),
        }
    }

    /// The last loads, oldest first.
    pub fn history(&self) -> Vec<ReloadRecord> {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        h.iter().cloned().collect()
    }

    fn record(&self, errors: Vec<String>) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(ReloadRecord {
            at_ms: now_ms(),
            kind: "reload",
            errors,
        });
    }

    /// Watches the directories of `plugin_files` (and notes the files) as well as the config.
    fn watch_files(&self, plugin_files: &[PathBuf]) {
        use notify::{RecursiveMode, Watcher as _};
        let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let config_dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let config_dir =
            std::path::absolute(config_dir).unwrap_or_else(|_| config_dir.to_path_buf());
        let mut dirs: Vec<PathBuf> = vec![config_dir];
        dirs.extend(
            plugin_files
                .iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf)),
        );
        *w.files.lock().unwrap_or_else(|p| p.into_inner()) = plugin_files.iter().cloned().collect();
        let Watch {
            watcher,
            dirs: watched,
            ..
        } = &mut *w;
        let Some(watcher) = watcher.as_mut() else {
            return;
        };
        for dir in dirs {
            if watched.contains(&dir) {
                continue;
            }
            // Watch directories: editors and deploy tools replace files rather than write them.
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch for changes")
                }
            }
        }
    }

    /// Reloads the file. Unless `force`, an unchanged file is left alone (editors and file
    /// systems report one save as several events).
    pub async fn reload(&self, force: bool) -> Result<(), ConfigErrors> {
        self.reload_on(if force { Source::Admin } else { Source::File })
            .await
    }

    /// Reloads the file for `source`; a changed file only for [`Source::File`].
    pub async fn reload_on(&self, source: Source) -> Result<(), ConfigErrors> {
        let force = source != Source::File;
        let _one_at_a_time = self.serial.lock().await;
        let path = self.path.clone();
        let shared = self.shared.clone();
        let last_hash = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .text_hash;
        let compiled = tokio::task::spawn_blocking(move || {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigErrors::single(&path, "", format!("cannot read the file: {e}"))
            })?;
            let hash = hash_text(&text);
            if !force && hash == last_hash {
                return Ok(None);
            }
            super::load_str(&text, &path, super::CompileEnv::of(&shared))
                .map(|l| Some((l, hash, text)))
        })
        .await
        .unwrap_or_else(|e| {
            Err(ConfigErrors::single(
                &self.path,
                "",
                format!("reload task failed: {e}"),
            ))
        });
        match compiled {
            Ok(None) => Ok(()),
            Ok(Some((loaded, hash, text))) => {
                self.apply(loaded).await;
                self.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .text_hash = hash;
                tracing::info!(file = %self.path.display(), "config reloaded");
                self.record(Vec::new());
                self.deployed(text, None, source, None).await;
                Ok(())
            }
            Err(errors) => {
                tracing::error!(errors = %errors, "config reload refused; the previous config keeps serving");
                self.record(errors.to_string().lines().map(str::to_owned).collect());
                Err(errors)
            }
        }
    }

    /// Serves a compiled config: imports its keys and credentials, swaps the runtime in, and
    /// watches its plugin files.
    async fn apply(&self, loaded: super::Loaded) {
        // The same warnings as at start (imported OpenAPI documents name what they leave
        // out), so a reload that adds a document says what it does not serve.
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        // A shared store does network I/O: off the async workers.
        let (shared, config_keys, config_iam) = (
            self.shared.clone(),
            loaded.runtime.config_keys.clone(),
            loaded.runtime.config_iam.clone(),
        );
        let imported = tokio::task::spawn_blocking(move || {
            shared.keys.import(&config_keys)?;
            shared.iam.import(&config_iam)
        })
        .await;
        match imported {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot import the config's api_keys and iam credentials; what is stored stays as it was")
            }
            Err(e) => tracing::error!(error = %e, "api_keys and iam import task failed"),
        }
        self.shared.runtime.store(Arc::new(loaded.runtime));
        self.watch_files(&loaded.watch_paths);
        self.shared.metrics.prune();
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.fingerprint != loaded.fingerprint {
            tracing::warn!("listeners, admin, limits, shutdown, upstream, state or access_log.destination changed: they apply after a restart");
        }
    }

    /// Records a deployment of `text` (off the async workers) and makes it the current one.
    async fn deployed(
        &self,
        text: String,
        file_text: Option<String>,
        source: Source,
        rollback_of: Option<Deployment>,
    ) -> Option<Deployment> {
        let (shared, path) = (self.shared.clone(), self.path.clone());
        let d = tokio::task::spawn_blocking(move || {
            deploy::record(
                &shared,
                &path,
                &text,
                file_text.as_deref(),
                source,
                rollback_of.as_ref(),
            )
        })
        .await
        .ok()
        .flatten();
        if let Some(d) = &d {
            self.set_current(d.clone());
        }
        d
    }

    /// The deployment serving now, when the history could record it.
    pub fn current(&self) -> Option<Deployment> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes the deployment serving now (the process's start records it).
    pub fn set_current(&self, d: Deployment) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
    }

    /// Serves deployment `id`'s config text again, and records that as a new deployment. It
    /// serves until the config file changes or a reload is asked for.
    pub async fn rollback(&self, id: &str) -> Result<Deployment, RollbackError> {
        let _one_at_a_time = self.serial.lock().await;
        let (shared, path, id) = (self.shared.clone(), self.path.clone(), id.to_owned());
        let compiled = tokio::task::spawn_blocking(move || {
            let store = |e: crate::state::StoreError| RollbackError::Store(e.to_string());
            let target = shared
                .deployments
                .get(&id)
                .map_err(store)?
                .ok_or(RollbackError::NotFound)?;
            let text = shared
                .deployments
                .text(&id)
                .map_err(store)?
                .ok_or(RollbackError::NotFound)?;
            let loaded = super::load_str(&text, &path, super::CompileEnv::of(&shared))
                .map_err(RollbackError::Invalid)?;
            let file_text = std::fs::read_to_string(&path).ok();
            Ok::<_, RollbackError>((target, text, file_text, loaded))
        })
        .await
        .map_err(|e| RollbackError::Store(format!("rollback task failed: {e}")))??;
        let (target, text, file_text, loaded) = compiled;
        self.apply(loaded).await;
        tracing::info!(deployment = %target.id, "rolled back");
        self.record(Vec::new());
        self.deployed(text, file_text, Source::Rollback, Some(target))
            .await
            .ok_or_else(|| {
                RollbackError::Store(
                    "the rollback serves, but the state store could not record it".into(),
                )
            })
    }
}

/// Starts watching the config file, the plugin files and SIGHUP.
pub fn watch(reloader: Arc<Reloader>, plugin_files: &[PathBuf]) -> Result<(), notify::Error> {
    let (tx, mut rx) = mpsc::channel::<Source>(1);
    // SIGHUP first, so that it reloads even when the file watcher cannot start (without a
    // handler, its default action would end the process).
    let fs_tx = tx.clone();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading config");
                    let _ = tx.send(Source::Signal).await;
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }

    let looped = reloader.clone();
    tokio::spawn(async move {
        while let Some(mut source) = rx.recv().await {
            // Let a burst of events from one save settle, then reload once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Ok(f) = rx.try_recv() {
                // A forced reload (signal, plugin file) wins over a config file's change.
                if source == Source::File {
                    source = f;
                }
            }
            let _ = looped.reload_on(source).await;
        }
    });

    let config_name = reloader.path.file_name().map(|n| n.to_owned());
    let files = reloader
        .watch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .files
        .clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if event.kind.is_access() {
            return;
        }
        let plugins = files.lock().unwrap_or_else(|p| p.into_inner());
        for p in &event.paths {
            if plugins.contains(p) {
                let _ = fs_tx.try_send(Source::Plugin);
                return;
            }
            if p.file_name() == config_name.as_deref() {
                let _ = fs_tx.try_send(Source::File);
                return;
            }
        }
    })?;
    reloader
        .watch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .watcher = Some(watcher);
    reloader.watch_files(plugin_files);

    Ok(())
}
