//! {{name}}: a Gatehouse mapper. It sets the header `x-mapped-by: {{name}}` on the request
//! before the integration and on the response after it.
//!
//! The exports take no argument and answer edits: the headers they set (each replacing every
//! value the header had; an empty list of values removes it) and, when they change them, the
//! query string, the status or the body. What they need to read of the request or the
//! response they ask the `request` and `response` imports for.

wit_bindgen::generate!({ world: "mapper", path: "wit", generate_all });

use gatehouse::plugin0_1_0::types::MultiValue;

struct Plugin;

impl Guest for Plugin {
    fn map_request() -> Result<RequestEdits, String> {
        Ok(RequestEdits {
            headers: mark(),
            query: None,
            body: None,
        })
    }

    fn map_response() -> Result<ResponseEdits, String> {
        Ok(ResponseEdits {
            status: None,
            headers: mark(),
            body: None,
        })
    }
}

export!(Plugin);

/// The header edit: `x-mapped-by` set to this plugin's name, replacing any value it had.
fn mark() -> Vec<MultiValue> {
    vec![MultiValue {
        name: "x-mapped-by".to_string(),
        values: vec!["{{name}}".to_string()],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_set_to_the_plugin_name() {
        let edits = mark();
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].name, "x-mapped-by");
        assert_eq!(edits[0].values, ["{{name}}"]);
    }
}
