//! `gatehouse plugin new NAME --lang L --world W`: writes a plugin project that builds outside
//! this repository: the newest WIT package (embedded in the binary) with the older one it
//! builds on, `WORLD`, a working plugin of the world in the chosen language, its build file, a
//! test where the language has a cheap test runner, and a README with the build and config
//! lines.

use std::path::PathBuf;

/// The WIT packages every project carries a copy of: `gatehouse:plugin@0.3.0`, the newest
/// version the gateway's host loads, in `wit/`, and `gatehouse:plugin@0.2.0` and `@0.1.0`,
/// whose interfaces and worlds it uses, in `wit/deps/` (where WIT tools look for the packages
/// a package uses).
const WIT: [(&str, &str); 3] = [
    (
        "wit/gatehouse.wit",
        include_str!("../../../../wit/0.3.0/gatehouse.wit"),
    ),
    (
        "wit/deps/gatehouse-plugin-0.2.0.wit",
        include_str!("../../../../wit/0.2.0/gatehouse.wit"),
    ),
    (
        "wit/deps/gatehouse-plugin-0.1.0.wit",
        include_str!("../../../../wit/gatehouse.wit"),
    ),
];

/// A plugin's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen.
    Rust,
    /// C with `wit-bindgen c`, clang and wasi-libc.
    C,
    /// JavaScript with componentize-qjs (QuickJS).
    Js,
    /// Python with componentize-py (CPython).
    Python,
}

impl Lang {
    /// The language's name in messages.
    pub fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::C => "C",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
        }
    }
}

/// What a plugin is, and so which world of `gatehouse:plugin@0.3.0` a new project exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    /// The `authorizer` world.
    Authorizer,
    /// The `mapper` world.
    Mapper,
    /// The `request-handler` world: an integration that reads the request through imports.
    Integration,
    /// The `websocket-handler` world.
    WebsocketHandler,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::Authorizer => "authorizer",
            World::Mapper => "mapper",
            World::Integration => "integration",
            World::WebsocketHandler => "websocket-handler",
        }
    }

    /// The world of the WIT package a new project is written for: an integration is 0.3.0's
    /// `request-handler`, which reads the request through the `request` import.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Integration => "request-handler",
            w => w.name(),
        }
    }

    /// The plugin role of a world named in a project's `WORLD`: a world of 0.3.0, or
    /// `integration`, the 0.1.0 world earlier projects were written for.
    pub fn from_wit(name: &str) -> Option<World> {
        [
            World::Authorizer,
            World::Mapper,
            World::Integration,
            World::WebsocketHandler,
        ]
        .into_iter()
        .find(|w| w.wit_name() == name || w.name() == name)
    }
}

/// The source of the plugin for one language and world.
fn source(lang: Lang, world: World) -> (&'static str, &'static str) {
    macro_rules! t {
        ($file:literal, $path:literal) => {
            ($file, include_str!(concat!("templates/", $path)))
        };
    }
    match (lang, world) {
        (Lang::Rust, World::Authorizer) => t!("src/lib.rs", "rust/authorizer.rs"),
        (Lang::Rust, World::Mapper) => t!("src/lib.rs", "rust/mapper.rs"),
        (Lang::Rust, World::Integration) => t!("src/lib.rs", "rust/integration.rs"),
        (Lang::Rust, World::WebsocketHandler) => t!("src/lib.rs", "rust/websocket.rs"),
        (Lang::C, World::Authorizer) => t!("plugin.c", "c/authorizer.c"),
        (Lang::C, World::Mapper) => t!("plugin.c", "c/mapper.c"),
        (Lang::C, World::Integration) => t!("plugin.c", "c/integration.c"),
        (Lang::C, World::WebsocketHandler) => t!("plugin.c", "c/websocket.c"),
        (Lang::Js, World::Authorizer) => t!("plugin.js", "js/authorizer.js"),
        (Lang::Js, World::Mapper) => t!("plugin.js", "js/mapper.js"),
        (Lang::Js, World::Integration) => t!("plugin.js", "js/integration.js"),
        (Lang::Js, World::WebsocketHandler) => t!("plugin.js", "js/websocket.js"),
        (Lang::Python, World::Authorizer) => t!("app.py", "python/authorizer.py"),
        (Lang::Python, World::Mapper) => t!("app.py", "python/mapper.py"),
        (Lang::Python, World::Integration) => t!("app.py", "python/integration.py"),
        (Lang::Python, World::WebsocketHandler) => t!("app.py", "python/websocket.py"),
    }
}

/// Python keeps each world's logic in `logic.py`, free of the generated bindings, so that
/// `python3 -m unittest` can test it on the build machine.
fn python_logic(world: World) -> [(&'static str, &'static str); 2] {
    match world {
        World::Authorizer => [
            (
                "logic.py",
                include_str!("templates/python/authorizer_logic.py"),
            ),
            (
                "test_logic.py",
                include_str!("templates/python/authorizer_test.py"),
            ),
        ],
        World::Mapper => [
            ("logic.py", include_str!("templates/python/mapper_logic.py")),
            (
                "test_logic.py",
                include_str!("templates/python/mapper_test.py"),
            ),
        ],
        World::Integration => [
            (
                "logic.py",
                include_str!("templates/python/integration_logic.py"),
            ),
            (
                "test_logic.py",
                include_str!("templates/python/integration_test.py"),
            ),
        ],
        World::WebsocketHandler => [
            (
                "logic.py",
                include_str!("templates/python/websocket_logic.py"),
            ),
            (
                "test_logic.py",
                include_str!("templates/python/websocket_test.py"),
            ),
        ],
    }
}

/// Every file of a new project, with `{{name}}`, `{{world}}` and `{{config}}` filled in.
fn files(name: &str, lang: Lang, world: World) -> Vec<(&'static str, String)> {
    let mut files: Vec<(&'static str, &'static str)> = WIT.to_vec();
    let readme = match lang {
        Lang::Rust => {
            files.push(("Cargo.toml", include_str!("templates/rust/Cargo.toml.in")));
            files.push((".gitignore", "/target\n/dist\n"));
            include_str!("templates/rust/README.md")
        }
        Lang::C => {
            files.push(("Makefile", include_str!("templates/c/Makefile")));
            files.push((".gitignore", "/target\n/dist\n"));
            include_str!("templates/c/README.md")
        }
        Lang::Js => {
            files.push(("package.json", include_str!("templates/js/package.json")));
            files.push((".gitignore", "/target\n/dist\n"));
            include_str!("templates/js/README.md")
        }
        Lang::Python => {
            files.extend(python_logic(world));
            files.push(("Makefile", include_str!("templates/python/Makefile")));
            files.push((".gitignore", "/target\n/dist\n__pycache__/\n"));
            include_str!("templates/python/README.md")
        }
    };
    files.push(("README.md", readme));
    files.push(source(lang, world));
    let config = config_snippet(name, lang, world, "dist");
    let mut out: Vec<(&'static str, String)> = files
        .into_iter()
        .map(|(path, text)| {
            let text = if path.starts_with("wit/") {
                text.to_string()
            } else {
                text.replace("{{name}}", name)
                    .replace("{{world}}", world.wit_name())
                    .replace("{{config}}", &config)
            };
            (path, text)
        })
        .collect();
    out.push(("WORLD", format!("{}\n", world.wit_name())));
    out
}

/// The lines of `gatehouse.yaml` that serve the plugin, its component in folder `dist`.
pub fn config_snippet(name: &str, lang: Lang, world: World, dist: &str) -> String {
    // CPython inside the component needs more than the default memory limit.
    let memory = if lang == Lang::Python {
        "    memory_bytes: 67108864\n"
    } else {
        ""
    };
    let path = format!("{dist}/{name}.wasm");
    let usage = match world {
        World::Authorizer => format!(
            "    config: {{ token: s3cret }}\napis:\n  - name: demo\n    stages: {{ prod: {{}} }}\n    authorizers:\n      token:\n        plugin: {name}\n        identity_sources: [header.x-api-token]\n        ttl: 0s\n    resources:\n      /hello:\n        GET:\n          authorizer: token\n          integration: {{ type: mock, body: \"hello\" }}\n"
        ),
        World::Mapper => format!(
            "apis:\n  - name: demo\n    stages: {{ prod: {{}} }}\n    resources:\n      /hello:\n        GET:\n          request_mapper: {name}\n          response_mapper: {name}\n          integration: {{ type: mock, body: \"hello\" }}\n"
        ),
        World::Integration => format!(
            "    config: {{ greeting: hello }}\napis:\n  - name: demo\n    stages: {{ prod: {{}} }}\n    resources:\n      /hello:\n        ANY:\n          integration: {{ type: wasm, plugin: {name} }}\n"
        ),
        World::WebsocketHandler => format!(
            "apis:\n  - name: demo\n    protocol: websocket\n    route_selection_expression: $request.body.action\n    stages: {{ prod: {{}} }}\n    routes:\n      $default:\n        integration: {{ type: wasm, plugin: {name} }}\n"
        ),
    };
    format!("plugins:\n  {name}:\n    path: {path}\n{memory}{usage}")
}

/// A project name: lowercase ASCII letters, digits and `-`, starting with a letter (a valid
/// crate, package and file name in every language).
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: a plugin name is lowercase letters, digits and `-`, starting with a letter"
        ))
    }
}

/// Writes the project into `dir` (default `./NAME`), which must not exist or be empty.
pub fn new(name: &str, lang: Lang, world: World, dir: Option<PathBuf>) -> Result<PathBuf, String> {
    check_name(name)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(format!(
            "{}: already exists and is not empty",
            dir.display()
        ));
    }
    for (path, text) in files(name, lang, world) {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("my-auth2").is_ok());
        for bad in ["", "2fa", "My", "a_b", "a-", "a.b", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_template_is_filled_in() {
        for lang in [Lang::Rust, Lang::C, Lang::Js, Lang::Python] {
            for world in [
                World::Authorizer,
                World::Mapper,
                World::Integration,
                World::WebsocketHandler,
            ] {
                for (path, text) in files("demo-plugin", lang, world) {
                    if !path.starts_with("wit/") {
                        assert!(!text.contains("{{"), "{lang:?} {world:?} {path}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_new_integration_is_a_request_handler_and_older_projects_still_name_their_world() {
        let files = files("demo-plugin", Lang::Python, World::Integration);
        let world = files.iter().find(|(p, _)| *p == "WORLD").map(|(_, t)| t);
        assert_eq!(world.map(String::as_str), Some("request-handler\n"));
        assert_eq!(World::from_wit("request-handler"), Some(World::Integration));
        assert_eq!(World::from_wit("integration"), Some(World::Integration));
        assert_eq!(World::from_wit("authorizer"), Some(World::Authorizer));
        assert_eq!(World::from_wit("handler"), None);
    }

    #[test]
    fn the_wit_is_the_newest_package_with_the_ones_it_uses() {
        let wit = files("demo-plugin", Lang::C, World::Mapper);
        let text = |path: &str| {
            wit.iter()
                .find(|(p, _)| *p == path)
                .map(|(_, t)| t.as_str())
                .unwrap_or_else(|| panic!("{path} missing"))
        };
        assert!(text("wit/gatehouse.wit").contains("package gatehouse:plugin@0.3.0;"));
        assert!(
            text("wit/deps/gatehouse-plugin-0.2.0.wit").contains("package gatehouse:plugin@0.2.0;")
        );
        assert!(
            text("wit/deps/gatehouse-plugin-0.1.0.wit").contains("package gatehouse:plugin@0.1.0;")
        );
    }
}
