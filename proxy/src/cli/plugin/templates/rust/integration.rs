//! {{name}}: a Gatehouse integration (the `request-handler` world). It answers every request
//! itself with a line of text: its `greeting` setting (default `hello`), its name and the
//! request's method and path.
//!
//! `handle` takes no argument: it asks the `request` import for the method and the path, so
//! nothing else of the request (headers, body, ...) is copied in.

wit_bindgen::generate!({ world: "request-handler", path: "wit", generate_all });

use gatehouse::plugin0_1_0::config;
use gatehouse::plugin0_1_0::types::MultiValue;
use gatehouse::plugin0_3_0::request;

struct Plugin;

impl Guest for Plugin {
    fn handle() -> Result<Response, String> {
        let greeting = config::get("greeting").unwrap_or_else(|| "hello".to_string());
        Ok(Response {
            status: 200,
            headers: vec![MultiValue {
                name: "content-type".to_string(),
                values: vec!["text/plain".to_string()],
            }],
            body: answer(&greeting, &request::method(), &request::path()).into_bytes(),
        })
    }
}

export!(Plugin);

/// The body of the answer.
fn answer(greeting: &str, method: &str, path: &str) -> String {
    format!("{greeting} from {{name}}: {method} {path}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_answer_names_the_request() {
        assert_eq!(
            super::answer("hi", "GET", "/prod/hello"),
            "hi from {{name}}: GET /prod/hello\n"
        );
    }
}
