//! A small JSON item store answered by the plugin itself, kept in its key/value state:
//! `PUT /items/{id}` stores the body (201), `GET` returns it (200, or 404), `DELETE` removes
//! it (204). Items are stored per principal when an authorizer ran, so callers do not see each
//! other's items.

use gatehouse_sdk::{host, Request, Response};
use serde_json::json;

struct Items;

impl gatehouse_sdk::Integration for Items {
    fn handle(request: Request) -> Result<Response, String> {
        let id = request
            .path_param("id")
            .ok_or("the resource has no {id} parameter")?;
        let owner = request.principal_id().unwrap_or("anonymous");
        let key = format!("{owner}/{id}");
        Ok(match request.method.as_str() {
            "GET" => match host::kv::get(&key) {
                Some(value) => Response::new(200)
                    .with_header("content-type", "application/json")
                    .with_body(value),
                None => Response::json(404, &json!({ "message": "not found", "id": id })),
            },
            "PUT" => {
                // Only JSON is stored, so every GET answers JSON.
                request.json()?;
                host::kv::set(&key, &request.body)?;
                Response::json(201, &json!({ "id": id, "stored": true, "owner": owner }))
            }
            "DELETE" => {
                if host::kv::delete(&key) {
                    Response::new(204)
                } else {
                    Response::json(404, &json!({ "message": "not found", "id": id }))
                }
            }
            _ => Response::json(405, &json!({ "message": "use GET, PUT or DELETE" }))
                .with_header("allow", "GET, PUT, DELETE"),
        })
    }
}

gatehouse_sdk::export_integration!(Items);
