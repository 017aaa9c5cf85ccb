//! `gatehouse import` and `gatehouse export`: OpenAPI documents to and from the config.

use indexmap::IndexMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// `gatehouse import`'s arguments: the document, and what to bind its Lambda functions,
/// authorizers and backend hosts to, as the config's `openapi:` entry does.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The document (JSON or YAML).
    file: PathBuf,
    /// The API's name.
    #[arg(long, default_value = "imported")]
    name: String,
    /// A Lambda-compatible invoke endpoint for the document's Lambda functions
    /// (`openapi.lambda_endpoint`).
    #[arg(long, value_name = "URL")]
    lambda_endpoint: Option<String>,
    /// Serve the document's Lambda function NAME with the integration plugin PLUGIN
    /// (`openapi.functions`); repeatable.
    #[arg(long = "function", value_name = "NAME=PLUGIN", value_parser = binding)]
    functions: Vec<(String, String)>,
    /// Check the methods the document secures with the security scheme SCHEME with the
    /// authorizer plugin PLUGIN (`openapi.authorizers`); repeatable.
    #[arg(long = "authorizer", value_name = "SCHEME=PLUGIN", value_parser = binding)]
    authorizers: Vec<(String, String)>,
    /// Send what the document sends to the backend host HOST to HOST:PORT instead
    /// (`openapi.backends`); repeatable.
    #[arg(long = "backend", value_name = "HOST=HOST:PORT", value_parser = backend)]
    backends: Vec<(String, String)>,
}

/// A `KEY=VALUE` flag, both sides non-empty.
fn binding(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, found `{arg}`")),
    }
}

/// A `HOST=HOST:PORT` flag.
fn backend(arg: &str) -> Result<(String, String), String> {
    let (host, to) = binding(arg)?;
    match to.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok() => Ok((host, to)),
        _ => Err(format!("expected HOST:PORT after `=`, found `{to}`")),
    }
}

/// The bindings of one repeatable flag, refusing a key given twice.
fn bindings(flag: &str, pairs: Vec<(String, String)>) -> Result<IndexMap<String, String>, String> {
    let mut out = IndexMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(format!("--{flag} binds `{k}` twice"));
        }
    }
    Ok(out)
}

pub fn import(args: ImportArgs) -> ExitCode {
    let file = args.file.as_path();
    let bound = bindings("function", args.functions).and_then(|functions| {
        Ok((
            functions,
            bindings("authorizer", args.authorizers)?,
            bindings("backend", args.backends)?,
        ))
    });
    let (functions, authorizers, backends) = match bound {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("gatehouse: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatehouse: cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = gatehouse::openapi::ImportOptions {
        file: file.display().to_string(),
        lambda_endpoint: args.lambda_endpoint,
        functions,
        authorizers,
        user_pools: IndexMap::new(),
        backends,
    };
    let name = args.name.as_str();
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

pub fn export(config: &std::path::Path, api: Option<&str>) -> Result<String, String> {
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
