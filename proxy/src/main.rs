//! The `gatehouse` command: serve a config, check one, import OpenAPI, check plugins, manage keys.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A self-hosted API gateway with Amazon API Gateway semantics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the APIs of a config file until SIGTERM or SIGINT.
    Serve {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Worker threads (default: one per CPU). With 1, requests are served on a single
        /// thread, like one nginx worker process.
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
    },
    /// Check a config file without serving it; exits non-zero and lists every error.
    Validate {
        /// The config file (gatehouse.yaml).
        config: PathBuf,
    },
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
    /// Print the native config of an OpenAPI 3 / Swagger 2 document with Amazon API Gateway
    /// extensions (the `apis[]` entry `gatehouse.yaml` takes); what is not served is listed on
    /// stderr with its place in the document.
    Import {
        /// The document (JSON or YAML).
        file: PathBuf,
        /// The API's name.
        #[arg(long, default_value = "imported")]
        name: String,
        /// A Lambda-compatible invoke endpoint for the document's Lambda functions.
        #[arg(long, value_name = "URL")]
        lambda_endpoint: Option<String>,
    },
    /// Print one API of a config as an OpenAPI 3 document with Amazon API Gateway extensions
    /// (importing it gives the same API back).
    Export {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The API's name (needed when the config has several).
        #[arg(long)]
        api: Option<String>,
    },
    /// Manage the API keys in a config's state store (`state.data_dir`) while the gateway is
    /// stopped; while it runs, use the admin API (`/apikeys`).
    Keys {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum PluginAction {
    /// Report which gatehouse:plugin world a component exports and whether it links against
    /// this gateway's host (its imports are all provided); exits non-zero when it does not.
    Check {
        /// The component (.wasm).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key; prints it with its value, which is shown this once.
    Create {
        /// A unique name.
        #[arg(long)]
        name: String,
        /// A usage plan of the config (repeat for several).
        #[arg(long = "plan", value_name = "PLAN")]
        plans: Vec<String>,
        /// The key value (20 to 128 characters); generated when absent.
        #[arg(long)]
        value: Option<String>,
    },
    /// List the keys (never their values).
    List,
    /// Enable a key.
    Enable { id: String },
    /// Disable a key: requests with it get 403 until it is enabled again.
    Disable { id: String },
    /// Delete a key.
    Delete { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Validate { config } => {
            let metrics = gatehouse::metrics::Registry::default();
            let plugins = match gatehouse::plugin::PluginHost::new(None) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("gatehouse: cannot start the WebAssembly engine: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            let env = gatehouse::config::CompileEnv {
                metrics: &metrics,
                plugins: &plugins,
            };
            match gatehouse::config::load(&config, env) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        eprintln!("warning: {w}");
                    }
                    let resources: usize =
                        loaded.runtime.apis.iter().map(|a| a.resources.len()).sum();
                    println!(
                        "{}: ok ({} APIs, {} resources)",
                        config.display(),
                        loaded.runtime.apis.len(),
                        resources
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Plugin {
            action: PluginAction::Check { file },
        } => plugin_check(&file),
        Command::Import {
            file,
            name,
            lambda_endpoint,
        } => import(&file, &name, lambda_endpoint),
        Command::Export { config, api } => match export(&config, api.as_deref()) {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("gatehouse: {msg}");
                ExitCode::FAILURE
            }
        },
        Command::Keys { config, action } => match keys(config, action) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("gatehouse keys: {msg}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config, workers } => {
            // One worker: a single-threaded scheduler, as nginx's one worker process is; tasks
            // never cross threads, so wake-ups cost no cross-core signalling.
            let mut rt = match workers {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                _ => tokio::runtime::Builder::new_multi_thread(),
            };
            rt.enable_all();
            if let Some(n) = workers.filter(|&n| n > 1) {
                rt.worker_threads(n);
            }
            let rt = match rt.build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("gatehouse: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(gatehouse::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs a `gatehouse keys` action against the config's state store.
fn keys(config: Option<PathBuf>, action: KeysAction) -> Result<String, String> {
    use gatehouse::state::{keys::ApiKeys, redb_store::RedbStore};
    let config = config.ok_or("expected --config FILE")?;
    let metrics = gatehouse::metrics::Registry::default();
    let plugins = gatehouse::plugin::PluginHost::new(None)
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    let env = gatehouse::config::CompileEnv {
        metrics: &metrics,
        plugins: &plugins,
    };
    let loaded = gatehouse::config::load(&config, env).map_err(|e| e.to_string())?;
    let dir = loaded.settings.state.data_dir.as_ref().ok_or_else(|| {
        format!(
            "{}: state.data_dir: not set, so keys live only in the running gateway's memory; set it, or use the admin API",
            config.display()
        )
    })?;
    let store = RedbStore::open(dir).map_err(|e| e.to_string())?;
    let keys = ApiKeys::new(std::sync::Arc::new(store)).map_err(|e| e.to_string())?;
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

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

fn import(file: &std::path::Path, name: &str, lambda_endpoint: Option<String>) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatehouse: cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = gatehouse::openapi::ImportOptions {
        file: file.display().to_string(),
        lambda_endpoint,
        ..Default::default()
    };
    let imported =
        gatehouse::openapi::parse(&text).and_then(|d| gatehouse::openapi::import(&d, &opts));
    match imported {
        Ok(imported) => {
            for w in &imported.warnings {
                eprintln!("warning: {}{w}", file.display());
            }
            let mut api = serde_json::Map::new();
            api.insert("name".into(), name.into());
            api.insert("stages".into(), serde_json::json!({ "prod": {} }));
            if let serde_json::Value::Object(rest) = imported.api {
                api.extend(rest);
            }
            let doc = serde_json::json!({ "apis": [api] });
            match serde_yaml::to_string(&doc) {
                Ok(y) => {
                    print!("{y}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gatehouse: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(msg) => {
            eprintln!("gatehouse: {}: {msg}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn plugin_check(file: &std::path::Path) -> ExitCode {
    let host = match gatehouse::plugin::PluginHost::new(None) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gatehouse: cannot start the WebAssembly engine: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let settings = gatehouse::plugin::PluginSettings {
        timeout: std::time::Duration::ZERO,
        fuel: None,
        memory_bytes: 16 << 20,
        config: Default::default(),
        env: Vec::new().into(),
    };
    match host.load("check", file, settings) {
        Ok(p) => {
            println!(
                "{}: exports the `{}` world of gatehouse:plugin@0.1.0 and links against this gateway (sha256 {}...)",
                file.display(),
                p.kind.name(),
                p.digest
            );
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{}: {msg}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn export(config: &std::path::Path, api: Option<&str>) -> Result<String, String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let doc: serde_json::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let apis = doc
        .get("apis")
        .and_then(|a| a.as_array())
        .cloned()
        .unwrap_or_default();
    let mut chosen = match api {
        Some(n) => apis
            .into_iter()
            .find(|a| a.get("name").and_then(|v| v.as_str()) == Some(n))
            .ok_or_else(|| format!("{}: no API named `{n}`", config.display()))?,
        None if apis.len() == 1 => apis.into_iter().next().unwrap_or_default(),
        None => {
            return Err(format!(
                "{}: has {} APIs; name one with --api",
                config.display(),
                apis.len()
            ))
        }
    };
    // An API imported from a document is exported with what the document gave it.
    if let Some(o) = chosen.as_object_mut().and_then(|m| m.remove("openapi")) {
        let mut opts: gatehouse::openapi::ImportOptions =
            serde_json::from_value(o).map_err(|e| format!("openapi: {e}"))?;
        let dir = config.parent().unwrap_or(std::path::Path::new("."));
        opts.file = dir.join(&opts.file).display().to_string();
        let text = std::fs::read_to_string(&opts.file)
            .map_err(|e| format!("cannot read {}: {e}", opts.file))?;
        let imported =
            gatehouse::openapi::parse(&text).and_then(|d| gatehouse::openapi::import(&d, &opts))?;
        if let (serde_json::Value::Object(mut base), Some(own)) = (imported.api, chosen.as_object())
        {
            for (k, v) in own {
                base.insert(k.clone(), v.clone());
            }
            chosen = serde_json::Value::Object(base);
        }
    }
    serde_json::to_string_pretty(&gatehouse::openapi::export(&chosen)).map_err(|e| e.to_string())
}
