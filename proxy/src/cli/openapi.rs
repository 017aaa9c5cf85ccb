//! `gatehouse import` and `gatehouse export`: OpenAPI documents to and from the config.

use std::process::ExitCode;

pub fn import(file: &std::path::Path, name: &str, lambda_endpoint: Option<String>) -> ExitCode {
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
