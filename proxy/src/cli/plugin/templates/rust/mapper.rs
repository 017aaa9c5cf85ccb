//! {{name}}: a Gatehouse mapper. It adds the header `x-mapped-by: {{name}}` to the request
//! before the integration and to the response after it.

wit_bindgen::generate!({ world: "mapper", path: "wit", generate_all });

use gatehouse::plugin0_1_0::types::MultiValue;

struct Plugin;

impl Guest for Plugin {
    fn map_request(mut request: Request) -> Result<Request, String> {
        mark(&mut request.headers);
        Ok(request)
    }

    fn map_response(_request: Request, mut response: Response) -> Result<Response, String> {
        mark(&mut response.headers);
        Ok(response)
    }
}

export!(Plugin);

/// Sets `x-mapped-by` to this plugin's name, replacing any value it had.
fn mark(headers: &mut Vec<MultiValue>) {
    headers.retain(|h| h.name != "x-mapped-by");
    headers.push(MultiValue {
        name: "x-mapped-by".to_string(),
        values: vec!["{{name}}".to_string()],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_set_once() {
        let mut headers = vec![MultiValue {
            name: "x-mapped-by".to_string(),
            values: vec!["someone-else".to_string()],
        }];
        mark(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].values, ["{{name}}"]);
    }
}
