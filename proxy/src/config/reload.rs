//! Hot reload: a changed file (watched), SIGHUP or the admin API builds a new runtime off the
//! request path and swaps it in atomically. Requests in flight keep the runtime they started
//! with. A config with errors is refused, logged, and the old one keeps serving.

use super::ConfigErrors;
use crate::Shared;
use std::collections::hash_map::DefaultHasher;
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
}

#[derive(Debug)]
struct State {
    fingerprint: String,
    text_hash: u64,
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
        }
    }

    /// Reloads the file. Unless `force`, an unchanged file is left alone (editors and file
    /// systems report one save as several events).
    pub async fn reload(&self, force: bool) -> Result<(), ConfigErrors> {
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
            super::load_str(&text, &path, &shared.metrics).map(|l| Some((l, hash)))
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
            Ok(Some((loaded, hash))) => {
                self.shared.runtime.store(Arc::new(loaded.runtime));
                self.shared.metrics.prune();
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                st.text_hash = hash;
                if st.fingerprint != loaded.fingerprint {
                    tracing::warn!("listeners, admin, limits, shutdown or access_log.destination changed: they apply after a restart");
                }
                tracing::info!(file = %self.path.display(), "config reloaded");
                Ok(())
            }
            Err(errors) => {
                tracing::error!(errors = %errors, "config reload refused; the previous config keeps serving");
                Err(errors)
            }
        }
    }
}

/// Starts watching the config file and SIGHUP. Keep the returned watcher alive.
pub fn watch(reloader: Arc<Reloader>) -> Result<notify::RecommendedWatcher, notify::Error> {
    use notify::{RecursiveMode, Watcher as _};
    let (tx, mut rx) = mpsc::channel::<bool>(1);
    let file_name = reloader.path.file_name().map(|n| n.to_owned());
    let fs_tx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if event.kind.is_access() {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == file_name.as_deref())
        {
            let _ = fs_tx.try_send(false);
        }
    })?;
    // Watch the directory: editors and deploy tools replace the file rather than write it.
    let dir = reloader
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    watcher.watch(dir, RecursiveMode::NonRecursive)?;

    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading config");
                    let _ = tx.send(true).await;
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }

    tokio::spawn(async move {
        while let Some(mut force) = rx.recv().await {
            // Let a burst of events from one save settle, then reload once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while let Ok(f) = rx.try_recv() {
                force |= f;
            }
            let _ = reloader.reload(force).await;
        }
    });
    Ok(watcher)
}
