//! The `gatehouse` command: serve a config, check one, import OpenAPI, check plugins, manage keys.

mod cli;

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
        /// Workers (default: one per CPU): threads that each accept and serve their own
        /// share of the TCP connections, like nginx's worker processes.
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
    Import(cli::openapi::ImportArgs),
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
    /// Manage the API keys in a config's state store: `state.data_dir` while the gateway is
    /// stopped (while it runs, use the admin API, `/apikeys`), or Redis at any time.
    Keys {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// A running gateway's usage by day (UTC): each stage's requests, bytes, cache use and
    /// WebSocket minutes and messages, and each usage plan's requests and quota left per API
    /// key; through the admin API the config's `admin` section names.
    Usage(UsageArgs),
    /// List the configs a running gateway has served (deployments), show one, or roll back
    /// to one, through the admin API the config's `admin` section names.
    Deployments {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: DeploymentsAction,
    },
    /// Manage the IAM credentials `AWS_IAM` methods check SigV4 signatures with, in a
    /// config's state store, as `keys` does keys (while a gateway runs on `state.data_dir`,
    /// use the admin API, `/iam/credentials`).
    Iam {
        /// The config file (gatehouse.yaml).
        #[arg(short, long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: IamAction,
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
    /// Write a new plugin project (WIT files, a working plugin, build file, test, README)
    /// that builds outside this repository.
    New {
        /// The plugin's name: lowercase letters, digits and `-`.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: cli::plugin::new::Lang,
        /// The world it implements.
        #[arg(long, value_enum)]
        world: cli::plugin::new::World,
        /// The folder to write (default: ./NAME); it must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Build a plugin project into DIR/dist/NAME.wasm with the installed toolchain and check
    /// it exports the world named in DIR/WORLD; a missing tool is named with the command that
    /// installs it. GATEHOUSE_PLUGIN_TARGET_DIR sets the cargo target folder of Rust projects.
    Build {
        /// The project folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
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

#[derive(clap::Args)]
struct UsageArgs {
    /// The config file (gatehouse.yaml).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The first day, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE")]
    start: Option<String>,
    /// The last day, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE")]
    end: Option<String>,
    /// One usage plan's report only (its keys, as API Gateway's GetUsage).
    #[arg(long, value_name = "NAME")]
    plan: Option<String>,
    /// With --plan: one key's report only.
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// `table`, `json` (the admin API's report) or `csv` (the stages' rows; with --plan, the
    /// keys' rows).
    #[arg(long, value_enum, default_value_t = UsageFormat::Table)]
    format: UsageFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UsageFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum DeploymentsAction {
    /// Every kept deployment, newest first; `*` marks the one serving.
    List {
        /// Print the admin API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// One deployment and the config text it serves.
    Show { id: String },
    /// Serve an earlier deployment's config again, until the config file changes or a reload
    /// is asked for.
    Rollback { id: String },
}

#[derive(Subcommand)]
enum IamAction {
    /// Create a credential; prints it with its secret access key, which is shown this once.
    Create {
        /// A unique name.
        #[arg(long)]
        name: String,
        /// The principal's ARN, e.g. arn:aws:iam::123456789012:user/alice.
        #[arg(long)]
        principal: String,
        /// A method ARN pattern (`*`, `?`) it may invoke (repeat for several); none: every
        /// AWS_IAM method.
        #[arg(long, value_name = "METHOD_ARN")]
        allow: Vec<String>,
        /// The access key id; generated (AKIA...) when absent.
        #[arg(long)]
        access_key_id: Option<String>,
        /// The secret access key; generated (40 characters) when absent.
        #[arg(long)]
        secret_access_key: Option<String>,
    },
    /// List the credentials (never their secrets).
    List,
    /// Enable a credential.
    Enable { access_key_id: String },
    /// Disable a credential: requests it signs get 403 until it is enabled again.
    Disable { access_key_id: String },
    /// Delete a credential.
    Delete { access_key_id: String },
}

/// Prints a subcommand's output, or its error after `gatehouse NAME: `.
fn report(name: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("gatehouse {name}: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = init_tracing();
    let code = command(cli);
    if let Some(log) = log {
        log.flush_and_close();
    }
    code
}

fn command(cli: Cli) -> ExitCode {
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
                leases: None,
                shared_cache: None,
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
        } => cli::plugin::plugin_check(&file),
        Command::Plugin {
            action:
                PluginAction::New {
                    name,
                    lang,
                    world,
                    dir,
                },
        } => cli::plugin::plugin_new(&name, lang, world, dir),
        Command::Plugin {
            action: PluginAction::Build { dir },
        } => cli::plugin::plugin_build(&dir),
        Command::Import(args) => cli::openapi::import(args),
        Command::Export { config, api } => match cli::openapi::export(&config, api.as_deref()) {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("gatehouse: {msg}");
                ExitCode::FAILURE
            }
        },
        Command::Keys { config, action } => report("keys", cli::keys::keys(config, action)),
        Command::Iam { config, action } => report("iam", cli::iam::iam(config, action)),
        Command::Deployments { config, action } => {
            report("deployments", cli::deployments::deployments(config, action))
        }
        Command::Usage(args) => report("usage", cli::usage::usage(args)),
        Command::Serve { config, workers } => {
            // Each worker is a single-threaded runtime, as each nginx worker process is:
            // tasks never cross threads, so wake-ups cost no cross-core signalling. This
            // thread is the first worker.
            let workers = workers.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("gatehouse: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(gatehouse::run_workers(config, workers.max(1))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Libraries whose `warn` lines a peer can cause at will.
const QUIET_LIBRARIES: [&str; 5] = ["h2", "h3", "quinn", "quinn_proto", "rustls"];

/// Log lines go to stderr through a writer thread, so no worker waits on a full pipe; the
/// returned sink is flushed before exit.
fn init_tracing() -> Option<std::sync::Arc<gatehouse::access_log::Sink>> {
    use tracing_subscriber::EnvFilter;
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = Some(spec.trim())
        .filter(|s| !s.is_empty())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // The protocol libraries log what a peer did wrong (an unsolicited PING ack, a bad TLS
    // alert, an illegal QUIC packet) at `warn`: any client could fill the log with them. They
    // are shown only when `RUST_LOG` names the library.
    for quiet in QUIET_LIBRARIES {
        if !spec.contains(quiet) {
            if let Ok(d) = format!("{quiet}=error").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match gatehouse::access_log::Sink::open(&gatehouse::settings::LogDestination::Stderr) {
        Ok(Some(sink)) => {
            let sink = std::sync::Arc::new(sink);
            let writer = gatehouse::access_log::LineWriter::new(sink.clone());
            builder.with_writer(writer).init();
            Some(sink)
        }
        _ => {
            builder.with_writer(std::io::stderr).init();
            None
        }
    }
}
