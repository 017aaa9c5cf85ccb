//! `gatehouse plugin`: `check` loads a component and says which world it is; `new` writes a
//! plugin project and `build` turns one into a checked component, so plugins can be written
//! outside this repository.

pub mod builder;
pub mod new;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `gatehouse plugin new`: writes the project and says how to build it.
pub fn plugin_new(
    name: &str,
    lang: new::Lang,
    world: new::World,
    dir: Option<PathBuf>,
) -> ExitCode {
    match new::new(name, lang, world, dir) {
        Ok(dir) => {
            println!(
                "wrote {} ({} {} plugin); build it with `gatehouse plugin build {}`",
                dir.display(),
                lang.title(),
                world.name(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("gatehouse plugin new: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `gatehouse plugin build`: builds and checks the project, then prints where the component
/// is and the config lines that serve it.
pub fn plugin_build(dir: &Path) -> ExitCode {
    match builder::build(dir) {
        Ok(built) => {
            let name = built
                .component
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dist = built
                .component
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            println!(
                "{}: exports {} and links against this gateway (sha256 {}...)",
                built.component.display(),
                built.exports,
                built.digest
            );
            println!("serve it with, in gatehouse.yaml:\n");
            print!(
                "{}",
                new::config_snippet(&name, built.lang, built.world, &dist)
            );
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("gatehouse plugin build: {msg}");
            ExitCode::FAILURE
        }
    }
}

pub fn plugin_check(file: &std::path::Path) -> ExitCode {
    let host = match gatehouse::plugin::PluginHost::new(None) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gatehouse: cannot start the WebAssembly engine: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match host.load("check", file, gatehouse::plugin::PluginSettings::default()) {
        Ok(p) => {
            println!(
                "{}: exports {} and links against this gateway (sha256 {}...)",
                file.display(),
                exports(&p),
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

/// The version of the `gatehouse:plugin` package whose world a loaded component exports
/// (`wasi:http` components are not of any).
fn version(plugin: &gatehouse::plugin::Plugin) -> &'static str {
    use gatehouse::plugin::PluginKind;
    match plugin.kind {
        _ if plugin.reads_lent_request() => "0.3.0",
        PluginKind::Authorizer if plugin.answers_policy() => "0.2.0",
        _ => "0.1.0",
    }
}

/// Which world a loaded component exports, with its package version.
fn exports(plugin: &gatehouse::plugin::Plugin) -> String {
    use gatehouse::plugin::PluginKind;
    let version = version(plugin);
    let (world, including) = match (plugin.kind, version) {
        (PluginKind::HttpHandler, _) => return "the `wasi:http/proxy` world".to_string(),
        (PluginKind::Integration, "0.3.0") => ("request-handler", ""),
        (PluginKind::Mapper, "0.1.0") => ("mapper", " (and of 0.2.0, which includes it)"),
        (kind @ (PluginKind::Integration | PluginKind::WebsocketHandler), _) => {
            (kind.name(), " (and of 0.2.0 and 0.3.0, which include it)")
        }
        (kind, _) => (kind.name(), ""),
    };
    format!("the `{world}` world of gatehouse:plugin@{version}{including}")
}
