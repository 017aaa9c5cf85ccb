//! `gatehouse plugin build DIR`: turns a plugin project (as `gatehouse plugin new` writes it)
//! into a component, loads it with the gateway's plugin host to check that it exports the
//! world named in `DIR/WORLD`, and only then puts it at `DIR/dist/NAME.wasm`. The compilers
//! run as child processes of this (synchronous) command, with their output passed through.

use super::new::{Lang, World};
use super::toolchain::{self, Rust};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    pub component: PathBuf,
    pub lang: Lang,
    pub world: World,
    pub digest: String,
    /// Which world of which package version the component exports.
    pub exports: String,
}

/// Builds and checks the project in `dir`.
pub fn build(dir: &Path) -> Result<Built, String> {
    let started = Instant::now();
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let world_file = dir.join("WORLD");
    let text = std::fs::read_to_string(&world_file).map_err(|e| {
        format!(
            "{}: {e} (it names the project's world, e.g. `authorizer`)",
            world_file.display()
        )
    })?;
    let world_name = text.trim();
    let world = World::from_wit(world_name).ok_or_else(|| {
        format!(
            "{}: `{world_name}` is not a world; expected authorizer, mapper, request-handler, integration or websocket-handler",
            world_file.display(),
        )
    })?;
    if !dir.join("wit").is_dir() {
        return Err(format!(
            "{}: no wit/ folder with the gatehouse:plugin WIT package",
            dir.display()
        ));
    }
    let lang = detect(&dir)?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: the folder needs a UTF-8 name", dir.display()))?
        .to_string();
    let dist = dir.join("dist");
    let work = dir.join("target");
    for d in [&dist, &work] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    // Made and checked in target/, moved to dist/ only once checked: a build that fails
    // leaves dist/ as the last good build left it.
    let component = work.join(format!("{name}.component.wasm"));
    let wasm_tools = toolchain::wasm_tools()?;
    match lang {
        Lang::Rust => {
            let core = rust(&dir)?;
            component_new(&wasm_tools, &core, &component)?;
        }
        Lang::C => {
            let core = c(&dir, &work, world_name)?;
            component_new(&wasm_tools, &core, &component)?;
        }
        Lang::Js => {
            let qjs = toolchain::componentize_qjs()?;
            let mut cmd = Command::new(qjs);
            cmd.current_dir(&dir)
                .args(["--sync", "--wit", "wit", "--world", world_name]);
            cmd.args(["--js", "plugin.js", "-o"]).arg(&component);
            run(&mut cmd, "componentize-qjs")?;
        }
        Lang::Python => python(&dir, &work, world_name, &component)?,
    }
    run(
        Command::new(&wasm_tools).arg("validate").arg(&component),
        "wasm-tools validate",
    )?;
    let version = package_version(&dir.join("wit"))?;
    let (digest, exports) = check(&name, &component, world, world_name, &version)?;
    let checked = component;
    let component = dist.join(format!("{name}.wasm"));
    std::fs::rename(&checked, &component).map_err(|e| {
        format!(
            "cannot move {} to {}: {e}",
            checked.display(),
            component.display()
        )
    })?;
    eprintln!(
        "gatehouse plugin build: {} built in {:.1} s",
        lang.title(),
        started.elapsed().as_secs_f64()
    );
    Ok(Built {
        component,
        lang,
        world,
        digest,
        exports,
    })
}

/// Rust: `Cargo.toml`; JavaScript: `plugin.js`; Python: `app.py`; C: a `.c` file.
fn detect(dir: &Path) -> Result<Lang, String> {
    if dir.join("Cargo.toml").is_file() {
        return Ok(Lang::Rust);
    }
    if dir.join("plugin.js").is_file() {
        return Ok(Lang::Js);
    }
    if dir.join("app.py").is_file() {
        return Ok(Lang::Python);
    }
    if !c_sources(dir)?.is_empty() {
        return Ok(Lang::C);
    }
    Err(format!(
        "{}: no Cargo.toml, plugin.js, app.py or .c file, so no language to build (make a project with `gatehouse plugin new`)",
        dir.display()
    ))
}

fn c_sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Runs a child process to completion; its output goes to the terminal.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| {
        format!(
            "cannot run {what} ({}): {e}",
            cmd.get_program().to_string_lossy()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn component_new(wasm_tools: &Path, core: &Path, component: &Path) -> Result<(), String> {
    let mut cmd = Command::new(wasm_tools);
    cmd.arg("component")
        .arg("new")
        .arg(core)
        .arg("-o")
        .arg(component);
    run(&mut cmd, "wasm-tools component new")
}

/// The package name in a `Cargo.toml` (the first `name = "..."` of its `[package]` table).
fn crate_name(manifest: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if let Some(rest) = line.strip_prefix("name").filter(|_| in_package) {
            if let Some(v) = rest.trim_start().strip_prefix('=') {
                return Ok(v.trim().trim_matches('"').to_string());
            }
        }
    }
    Err(format!("{}: no `name` in [package]", manifest.display()))
}

/// Builds the crate for wasm32-unknown-unknown in release; returns the core module. The cargo
/// target folder is `GATEHOUSE_PLUGIN_TARGET_DIR` when set (so several projects, or test runs,
/// share one build of std and wit-bindgen), else `DIR/target`.
fn rust(dir: &Path) -> Result<PathBuf, String> {
    const TARGET: &str = "wasm32-unknown-unknown";
    let toolchain = toolchain::rust()?;
    let name = crate_name(&dir.join("Cargo.toml"))?;
    let target_dir = std::env::var_os("GATEHOUSE_PLUGIN_TARGET_DIR")
        .map_or_else(|| dir.join("target"), PathBuf::from);
    let mut cmd = match toolchain {
        Rust::Rustup => Command::new("cargo"),
        Rust::Debian => {
            let mut cmd = Command::new("/usr/bin/cargo");
            let path = std::env::var_os("PATH").unwrap_or_default();
            let paths =
                std::iter::once(PathBuf::from("/usr/bin")).chain(std::env::split_paths(&path));
            cmd.env(
                "PATH",
                std::env::join_paths(paths).map_err(|e| e.to_string())?,
            )
            .env("RUSTC", "/usr/bin/rustc")
            .env("RUSTDOC", "/usr/bin/rustdoc")
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld")
            .env_remove("RUSTUP_TOOLCHAIN");
            cmd.arg("-Zbuild-std=std,panic_abort");
            cmd
        }
    };
    cmd.current_dir(dir)
        .args(["build", "--quiet", "--release", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    run(&mut cmd, "cargo build")?;
    Ok(target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_"))))
}

/// C: bindings from `wit-bindgen c`, compiled with the project's `.c` files by clang for
/// wasm32-wasi against wasi-libc; returns the core module.
fn c(dir: &Path, work: &Path, world: &str) -> Result<PathBuf, String> {
    let wit_bindgen = toolchain::wit_bindgen()?;
    let clang = toolchain::clang()?;
    let gen = work.join("c");
    std::fs::create_dir_all(&gen).map_err(|e| format!("{}: {e}", gen.display()))?;
    // wit-bindgen names every file it writes; its output is shown only when it fails.
    let out = Command::new(&wit_bindgen)
        .arg("c")
        .arg(dir.join("wit"))
        .args(["--world", world, "--out-dir"])
        .arg(&gen)
        .output()
        .map_err(|e| format!("cannot run wit-bindgen ({}): {e}", wit_bindgen.display()))?;
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        return Err(format!("wit-bindgen c failed ({})", out.status));
    }
    let stem = world.replace('-', "_");
    let core = gen.join("core.wasm");
    let sysroot = &clang.sysroot;
    let mut cmd = Command::new(&clang.clang);
    cmd.arg("--target=wasm32-wasi")
        .arg(format!("--sysroot={}", sysroot.display()))
        .arg("-isystem")
        .arg(sysroot.join("include/wasm32-wasi"))
        .arg(format!("-L{}", sysroot.join("lib/wasm32-wasi").display()))
        .args(["-O2", "-Wall", "-Werror", "-mexec-model=reactor"])
        .arg(format!("-I{}", gen.display()))
        .arg("-o")
        .arg(&core)
        .args(c_sources(dir)?)
        .arg(gen.join(format!("{stem}.c")))
        .arg(gen.join(format!("{stem}_component_type.o")));
    run(&mut cmd, "clang")?;
    Ok(core)
}

/// Python: the project's `.py` files are copied to `DIR/target/py` (so no `__pycache__` lands
/// beside the sources) and module `app` is componentized with CPython inside.
fn python(dir: &Path, work: &Path, world: &str, component: &Path) -> Result<(), String> {
    let componentize_py = toolchain::componentize_py()?;
    let src = work.join("py");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.extension().is_some_and(|x| x == "py") && p.is_file() {
            let to = src.join(p.file_name().unwrap_or_default());
            std::fs::copy(&p, &to).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let mut cmd = Command::new(&componentize_py);
    // A componentize-py inside a virtualenv finds its packages through VIRTUAL_ENV.
    if let Some(venv) = componentize_py.parent().and_then(Path::parent) {
        if venv.join("pyvenv.cfg").is_file() {
            cmd.env("VIRTUAL_ENV", venv);
        }
    }
    cmd.arg("-q")
        .arg("-d")
        .arg(dir.join("wit"))
        .args(["-w", world, "componentize", "-p"]);
    cmd.arg(&src).args(["app", "-o"]).arg(component);
    run(&mut cmd, "componentize-py")
}

/// The version of the `gatehouse:plugin` package a project's `wit/` folder declares (its
/// `deps/` hold the older ones).
fn package_version(wit: &Path) -> Result<String, String> {
    let entries = std::fs::read_dir(wit).map_err(|e| format!("{}: {e}", wit.display()))?;
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.extension().is_none_or(|x| x != "wit") || !p.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let declared = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("package gatehouse:plugin@")
                .and_then(|v| v.strip_suffix(';'))
        });
        if let Some(v) = declared {
            return Ok(v.trim().to_string());
        }
    }
    Err(format!(
        "{}: no .wit file declares `package gatehouse:plugin@VERSION;`",
        wit.display()
    ))
}

/// Which package's world a component built for world `world_name` of `gatehouse:plugin` at
/// `version` exports: a world that only includes an older version's is that version's.
fn expected_version(version: &str, world_name: &str) -> &'static str {
    match (version, world_name) {
        ("0.3.0", "authorizer" | "mapper" | "request-handler") => "0.3.0",
        ("0.2.0", "authorizer") => "0.2.0",
        _ => "0.1.0",
    }
}

/// Loads the component as the gateway would; it must export the project's world, of the
/// package version its `wit/` declares. Returns its digest and which world it exports.
fn check(
    name: &str,
    component: &Path,
    world: World,
    world_name: &str,
    version: &str,
) -> Result<(String, String), String> {
    let host = gatehouse::plugin::PluginHost::new(None)
        .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
    let plugin = host
        .load(
            name,
            component,
            gatehouse::plugin::PluginSettings::default(),
        )
        .map_err(|msg| format!("{}: {msg}", component.display()))?;
    if plugin.kind.name() != world.name() {
        return Err(format!(
            "{}: exports the `{}` world, but WORLD says `{world_name}`",
            component.display(),
            plugin.kind.name()
        ));
    }
    let expected = expected_version(version, world_name);
    if super::version(&plugin) != expected {
        return Err(format!(
            "{}: exports {}, but the project's wit/ is gatehouse:plugin@{version}, whose `{world_name}` world is {expected}'s (is the source written against an older version?)",
            component.display(),
            super::exports(&plugin)
        ));
    }
    Ok((plugin.digest.clone(), super::exports(&plugin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worlds_that_include_an_older_one_are_that_version() {
        assert_eq!(expected_version("0.3.0", "request-handler"), "0.3.0");
        assert_eq!(expected_version("0.3.0", "authorizer"), "0.3.0");
        assert_eq!(expected_version("0.3.0", "integration"), "0.1.0");
        assert_eq!(expected_version("0.3.0", "websocket-handler"), "0.1.0");
        assert_eq!(expected_version("0.2.0", "authorizer"), "0.2.0");
        assert_eq!(expected_version("0.2.0", "mapper"), "0.1.0");
        assert_eq!(expected_version("0.1.0", "authorizer"), "0.1.0");
    }

    #[test]
    fn the_package_version_is_read_from_the_project_wit() {
        let dir = tempfile::tempdir().unwrap();
        let wit = dir.path().join("wit");
        std::fs::create_dir_all(wit.join("deps")).unwrap();
        std::fs::write(
            wit.join("deps/old.wit"),
            "package gatehouse:plugin@0.1.0;\n",
        )
        .unwrap();
        assert!(package_version(&wit).unwrap_err().contains("no .wit file"));
        std::fs::write(
            wit.join("gatehouse.wit"),
            "/// docs\npackage gatehouse:plugin@0.3.0;\n\nworld a {}\n",
        )
        .unwrap();
        assert_eq!(package_version(&wit).unwrap(), "0.3.0");
    }
}
