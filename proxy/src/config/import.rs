//! An API's `openapi` document: imported into the API's config, what `gatehouse.yaml` says
//! winning, with the import's warnings.

use gatehouse_config::raw::RawApi;
use gatehouse_config::Errors;
use serde_json::Value;
use std::path::Path;

/// Fills `a` from its `openapi` document; returns the document's path to watch.
pub fn import_openapi(
    a: &mut RawApi,
    dir: &Path,
    warnings: &mut Vec<String>,
    e: &mut Errors,
) -> Option<std::path::PathBuf> {
    let opts = a.openapi.take()?;
    e.at("openapi", |e| {
        let path = dir.join(&opts.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(err) => {
                e.push_at("file", format!("cannot read `{}`: {err}", path.display()));
                return None;
            }
        };
        let imported =
            crate::openapi::parse(&text).and_then(|doc| crate::openapi::import(&doc, &opts));
        let imported = match imported {
            Ok(i) => i,
            Err(msg) => {
                e.push_at("file", format!("`{}`: {msg}", path.display()));
                return None;
            }
        };
        warnings.extend(
            imported
                .warnings
                .iter()
                .map(|w| format!("{}{w}", path.display())),
        );
        let mut doc = imported.api;
        doc["name"] = Value::String(a.name.clone());
        let from_doc: RawApi = match serde_path_to_error::deserialize(doc) {
            Ok(r) => r,
            Err(err) => {
                e.push_at(
                    "file",
                    format!(
                        "`{}` imports as `{}`: {}",
                        path.display(),
                        err.path(),
                        err.inner()
                    ),
                );
                return None;
            }
        };
        // What gatehouse.yaml says wins over the document.
        if a.resources.is_empty() {
            a.resources = from_doc.resources;
        }
        for (k, v) in from_doc.models {
            a.models.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.request_validators {
            a.request_validators.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.authorizers {
            a.authorizers.entry(k).or_insert(v);
        }
        for (k, v) in from_doc.gateway_responses {
            a.gateway_responses.entry(k).or_insert(v);
        }
        if a.binary_media_types.is_empty() {
            a.binary_media_types = from_doc.binary_media_types;
        }
        a.api_key_source = a.api_key_source.take().or(from_doc.api_key_source);
        a.cors = a.cors.take().or(from_doc.cors);
        a.resource_policy = a.resource_policy.take().or(from_doc.resource_policy);
        Some(path)
    })
}
