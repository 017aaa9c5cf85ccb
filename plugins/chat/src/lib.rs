//! Chat rooms over a WebSocket API. Routes (route key in `action`):
//! - `join` `{"action":"join","room":"r","name":"ann"}`: joins room `r` (leaving any other) and
//!   answers `{"joined":"r","members":N}`;
//! - `send` `{"action":"send","text":"hi"}`: sends `{"room","from","text"}` to every member of
//!   the caller's room, the caller included, through `@connections`;
//! - `$disconnect`: leaves the room; `$default`: answers how to use it.
//!
//! Membership is in the plugin's key/value state: `member/{room}/{connection id}` = name and
//! `conn/{connection id}` = room. Members found gone while sending are removed.

use gatehouse_sdk::host::{self, connections, kv};
use gatehouse_sdk::{Event, EventType};
use serde_json::json;

/// At most this many members per room.
const MAX_MEMBERS: u32 = 10_000;

struct Chat;

fn member_key(room: &str, id: &str) -> String {
    format!("member/{room}/{id}")
}

fn leave(id: &str) {
    let conn = format!("conn/{id}");
    if let Some(room) = kv::get(&conn) {
        let room = String::from_utf8_lossy(&room).into_owned();
        kv::delete(&member_key(&room, id));
        kv::delete(&conn);
    }
}

fn reply(value: serde_json::Value) -> Result<Option<Vec<u8>>, String> {
    Ok(Some(value.to_string().into_bytes()))
}

impl gatehouse_sdk::WebSocketHandler for Chat {
    fn handle_event(event: Event) -> Result<Option<Vec<u8>>, String> {
        let id = event.connection_id.as_str();
        match (event.event_type, event.route_key.as_str()) {
            (EventType::Disconnect, _) => {
                leave(id);
                Ok(None)
            }
            (EventType::Connect, _) => Ok(None),
            (_, "join") => {
                let msg = event.json()?;
                let room = msg["room"].as_str().unwrap_or("lobby");
                let name = msg["name"].as_str().unwrap_or("anonymous");
                if room.is_empty() || room.contains('/') {
                    return reply(json!({ "error": "a room name has no `/`" }));
                }
                leave(id);
                kv::set(&member_key(room, id), name.as_bytes())?;
                kv::set(&format!("conn/{id}"), room.as_bytes())?;
                let members = kv::keys(&format!("member/{room}/"), MAX_MEMBERS).len();
                reply(json!({ "joined": room, "members": members }))
            }
            (_, "send") => {
                let msg = event.json()?;
                let Some(room) = kv::get(&format!("conn/{id}")) else {
                    return reply(json!({ "error": "join a room first" }));
                };
                let room = String::from_utf8_lossy(&room).into_owned();
                let from = kv::get(&member_key(&room, id))
                    .map(|n| String::from_utf8_lossy(&n).into_owned())
                    .unwrap_or_default();
                let out = json!({ "room": room, "from": from, "text": msg["text"] }).to_string();
                let prefix = format!("member/{room}/");
                for key in kv::keys(&prefix, MAX_MEMBERS) {
                    let member = &key[prefix.len()..];
                    match connections::send(member, out.as_bytes()) {
                        Ok(()) => {}
                        Err(connections::ConnectionError::Gone) => leave(member),
                        Err(connections::ConnectionError::Full) => {
                            host::warn(&format!("{member} is not reading; message dropped"))
                        }
                    }
                }
                Ok(None)
            }
            _ => reply(json!({ "error": "unknown action; send {\"action\":\"join\"} or {\"action\":\"send\"}" })),
        }
    }
}

gatehouse_sdk::export_websocket_handler!(Chat);
