//! Where `gatehouse plugin build` finds the guest toolchains. Each lookup either gives the
//! tool or one line naming what is missing and the command that installs it. Every location
//! can be overridden by an environment variable, so scripts and tests can point at their own
//! copies (`scripts/setup-wasm.sh` installs them all).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The versions `scripts/setup-wasm.sh` installs; the install lines below name them.
const WASM_TOOLS_VERSION: &str = "1.254.2";
const WIT_BINDGEN_VERSION: &str = "0.46.0";
const COMPONENTIZE_QJS_VERSION: &str = "0.4.5";
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The folder holding the JavaScript and Python guest compilers: `GATEHOUSE_TOOLS_DIR`, else
/// `$XDG_CACHE_HOME/gatehouse-tools`, else `~/.cache/gatehouse-tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GATEHOUSE_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache"));
    cache.join("gatehouse-tools")
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

/// `name` in a folder of `PATH`, or in `~/.cargo/bin` (where `cargo install` puts it).
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(home().join(".cargo/bin")))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A tool at `$env` when that is set (it must exist), else the first of `candidates` that
/// exists, else `name` on `PATH`.
fn find(env: &str, name: &str, candidates: &[PathBuf], install: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "missing {name}: {env} is {}, which does not exist; install it with `{install}`",
                p.display()
            ))
        };
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .or_else(|| on_path(name))
        .ok_or_else(|| {
            format!("missing {name}: install it with `{install}` (or set {env} to its path)")
        })
}

/// `wasm-tools` (`GATEHOUSE_WASM_TOOLS`): turns core modules into components, validates them.
pub fn wasm_tools() -> Result<PathBuf, String> {
    find(
        "GATEHOUSE_WASM_TOOLS",
        "wasm-tools",
        &[],
        &format!("cargo install --locked wasm-tools --version {WASM_TOOLS_VERSION} --no-default-features --features component,validate,print,parse,metadata"),
    )
}

/// `wit-bindgen` (`GATEHOUSE_WIT_BINDGEN`): C bindings of a world.
pub fn wit_bindgen() -> Result<PathBuf, String> {
    find(
        "GATEHOUSE_WIT_BINDGEN",
        "wit-bindgen",
        &[],
        &format!("cargo install --locked wit-bindgen-cli --version {WIT_BINDGEN_VERSION} --no-default-features --features c"),
    )
}

/// clang with wasi-libc for wasm32-wasi.
#[derive(Debug)]
pub struct Clang {
    pub clang: PathBuf,
    /// The sysroot holding `include/wasm32-wasi` and `lib/wasm32-wasi`.
    pub sysroot: PathBuf,
}

/// clang (`GATEHOUSE_CLANG`) and wasi-libc under `GATEHOUSE_WASI_SYSROOT` (default `/usr`,
/// where Debian's `wasi-libc` installs).
pub fn clang() -> Result<Clang, String> {
    const APT: &str = "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32";
    let clang = find("GATEHOUSE_CLANG", "clang", &[], APT)?;
    let sysroot = std::env::var_os("GATEHOUSE_WASI_SYSROOT")
        .map_or_else(|| PathBuf::from("/usr"), PathBuf::from);
    let libc = sysroot.join("lib/wasm32-wasi/libc.a");
    if !libc.is_file() || !sysroot.join("include/wasm32-wasi/stdlib.h").is_file() {
        return Err(format!(
            "missing wasi-libc: no {} (set GATEHOUSE_WASI_SYSROOT to another sysroot); install it with `{APT}`",
            libc.display()
        ));
    }
    if on_path("wasm-ld").is_none() {
        return Err(format!(
            "missing wasm-ld (lld), clang's linker for wasm32: install it with `{APT}`"
        ));
    }
    Ok(Clang { clang, sysroot })
}

/// The JavaScript guest compiler (`GATEHOUSE_COMPONENTIZE_QJS`; else the copy under
/// [`tools_dir`], else `PATH`) and Node.js to run it.
pub fn componentize_qjs() -> Result<PathBuf, String> {
    let node_dir = tools_dir().join("node");
    let qjs = find(
        "GATEHOUSE_COMPONENTIZE_QJS",
        "componentize-qjs",
        &[node_dir.join("node_modules/.bin/componentize-qjs")],
        &format!(
            "npm install --prefix {} --save-exact componentize-qjs@{COMPONENTIZE_QJS_VERSION}",
            node_dir.display()
        ),
    )?;
    if on_path("node").is_none() {
        return Err(
            "missing node (Node.js 18 or later), which runs componentize-qjs: install it with `apt-get install nodejs npm`"
                .to_string(),
        );
    }
    Ok(qjs)
}

/// The Python guest compiler (`GATEHOUSE_COMPONENTIZE_PY`; else the virtualenv under
/// [`tools_dir`], else `PATH`).
pub fn componentize_py() -> Result<PathBuf, String> {
    let venv = tools_dir().join("wasm-venv");
    find(
        "GATEHOUSE_COMPONENTIZE_PY",
        "componentize-py",
        &[venv.join("bin/componentize-py")],
        &format!(
            "python3 -m venv {v} && {v}/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}",
            v = venv.display()
        ),
    )
}

/// How a Rust guest is compiled for `wasm32-unknown-unknown`.
#[derive(Debug)]
pub enum Rust {
    /// rustup's cargo with the target installed: an ordinary `cargo build --target`.
    Rustup,
    /// Debian's rustc-web and cargo-web in /usr/bin, building std from rust-web-src
    /// (`-Zbuild-std`) and linking with lld's `wasm-ld`.
    Debian,
}

/// The rustup target when installed, else Debian's rustc-web; `GATEHOUSE_RUST=rustup` or
/// `debian` forces one.
pub fn rust() -> Result<Rust, String> {
    const INSTALL: &str = "install one with `rustup target add wasm32-unknown-unknown`, or `apt-get install rustc-web cargo-web rust-web-src lld`";
    let choice = std::env::var("GATEHOUSE_RUST").unwrap_or_default();
    if choice != "debian" && rustup_has_target() {
        return Ok(Rust::Rustup);
    }
    if choice == "rustup" {
        return Err(format!(
            "missing the rustup target wasm32-unknown-unknown: {INSTALL}"
        ));
    }
    let debian = [
        Path::new("/usr/bin/rustc"),
        Path::new("/usr/bin/cargo"),
        Path::new("/usr/lib/rustlib/src/rust/library"),
    ];
    if let Some(p) = debian.iter().find(|p| !p.exists()) {
        return Err(format!(
            "missing a Rust compiler for wasm32-unknown-unknown (no rustup target, no {}): {INSTALL}",
            p.display()
        ));
    }
    if on_path("wasm-ld").is_none() {
        return Err(format!(
            "missing wasm-ld (lld) to link Rust guests: {INSTALL}"
        ));
    }
    Ok(Rust::Debian)
}

fn rustup_has_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-unknown-unknown")
        })
}
