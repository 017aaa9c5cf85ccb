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
    match host.load("check", file, gatehouse::plugin::PluginSettings::default()) {
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
