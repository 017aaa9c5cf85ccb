//! A WebSocket API's echo: every message goes back to its sender as it came, an empty one
//! included; a binary message comes back binary. The end-to-end tests run the Autobahn
//! WebSocket test suite against it.

use gatehouse_sdk::{Event, EventType};

struct Echo;

impl gatehouse_sdk::WebSocketHandler for Echo {
    fn handle_event(event: Event) -> Result<Option<Vec<u8>>, String> {
        Ok(match event.event_type {
            EventType::Message => Some(event.body),
            EventType::Connect | EventType::Disconnect => None,
        })
    }
}

gatehouse_sdk::export_websocket_handler!(Echo);
