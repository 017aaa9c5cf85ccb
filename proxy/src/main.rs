//! The `gatehouse` command: serve a config, or check one.

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
        /// Worker threads (default: one per CPU).
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
    },
    /// Check a config file without serving it; exits non-zero and lists every error.
    Validate {
        /// The config file (gatehouse.yaml).
        config: PathBuf,
    },
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
        Command::Serve { config, workers } => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            rt.enable_all();
            if let Some(n) = workers {
                rt.worker_threads(n.max(1));
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
