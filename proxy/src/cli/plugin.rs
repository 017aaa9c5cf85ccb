//! `gatehouse plugin check`: loads a component and says which world it is.

use std::process::ExitCode;

pub fn plugin_check(file: &std::path::Path) -> ExitCode {
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
