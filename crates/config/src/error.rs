//! Config errors: each names the file, the path of the field inside it and what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the field, e.g. `apis[0].resources["/pets/{id}"].GET.integration.uri`.
    pub path: String,
    /// What was found and what was expected.
    pub message: String,
}

/// Every problem found in one config file, reported together.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn single(file: &Path, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            errors: vec![ConfigError {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: ", self.file.display())?;
            if !e.path.is_empty() {
                write!(f, "{}: ", e.path)?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Builds field paths while compiling; collects errors instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Errors {
    path: Vec<PathPart>,
    list: Vec<ConfigError>,
}

#[derive(Debug, Clone)]
enum PathPart {
    Field(String),
    Index(usize),
}

impl Errors {
    /// Runs `f` with `field` pushed on the path.
    pub fn at<R>(&mut self, field: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(PathPart::Field(field.to_owned()));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` with `[index]` pushed on the path.
    pub fn index<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(PathPart::Index(index));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Records an error at the current path.
    pub fn push(&mut self, message: impl Into<String>) {
        self.list.push(ConfigError {
            path: self.render(),
            message: message.into(),
        });
    }

    /// Records an error at the current path unless `name` (of a `what`: "stage", "plugin")
    /// is letters, digits, `_` and `-`, at least one.
    pub fn check_name(&mut self, what: &str, name: &str) {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !ok {
            self.push(format!(
                "expected a {what} name of letters, digits, `_` or `-`, found `{name}`"
            ));
        }
    }

    /// Records an error at `field` below the current path.
    pub fn push_at(&mut self, field: &str, message: impl Into<String>) {
        self.at(field, |e| e.push(message));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many errors are recorded so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Every error recorded, reported against `file`.
    pub fn into_config_errors(self, file: &Path) -> ConfigErrors {
        ConfigErrors {
            file: file.to_path_buf(),
            errors: self.list,
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for part in &self.path {
            match part {
                PathPart::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                PathPart::Field(name) => push_field(&mut out, name),
            }
        }
        out
    }
}

/// Appends `.name`, or `["name"]` when the name is not a plain identifier.
pub fn push_field(out: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(name);
    } else {
        out.push_str("[\"");
        for c in name.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\"]");
    }
}

/// Renders a serde path (from `serde_path_to_error`) in the same style as compile errors.
pub fn render_serde_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
            Segment::Map { key } | Segment::Enum { variant: key } => push_field(&mut out, key),
            Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        let mut e = Errors::default();
        e.at("apis", |e| {
            e.index(0, |e| {
                e.at("resources", |e| {
                    e.at("/pets/{id}", |e| {
                        e.at("GET", |e| e.push_at("uri", "expected an absolute URL"))
                    })
                })
            })
        });
        assert_eq!(e.list[0].path, "apis[0].resources[\"/pets/{id}\"].GET.uri");
    }

    #[test]
    fn display_lists_every_error_with_the_file() {
        let errs = ConfigErrors {
            file: PathBuf::from("g.yaml"),
            errors: vec![
                ConfigError {
                    path: "version".into(),
                    message: "expected 1".into(),
                },
                ConfigError {
                    path: "apis[0].name".into(),
                    message: "must not be empty".into(),
                },
            ],
        };
        assert_eq!(
            errs.to_string(),
            "g.yaml: version: expected 1\ng.yaml: apis[0].name: must not be empty"
        );
    }
}
