//! {{name}}: a Gatehouse WebSocket handler. It sends every message back to its sender and
//! accepts every connection.

wit_bindgen::generate!({ world: "websocket-handler", path: "wit", generate_all });

use gatehouse::plugin0_1_0::websocket::EventType;

struct Plugin;

impl Guest for Plugin {
    fn handle_event(event: Event) -> Result<Option<Vec<u8>>, String> {
        Ok(reply(event.event_type, event.body))
    }
}

export!(Plugin);

/// What goes back to the caller: the message itself; nothing on connect and disconnect.
fn reply(kind: EventType, body: Vec<u8>) -> Option<Vec<u8>> {
    match kind {
        EventType::Message => Some(body),
        EventType::Connect | EventType::Disconnect => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_echoed() {
        assert_eq!(
            reply(EventType::Message, b"hi".to_vec()),
            Some(b"hi".to_vec())
        );
        assert_eq!(reply(EventType::Connect, Vec::new()), None);
    }
}
