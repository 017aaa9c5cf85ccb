// {{name}}: a Gatehouse WebSocket handler in JavaScript. It sends every message back to its
// sender and accepts every connection.
//
// An event is an object with camelCase keys; `eventType` is "connect", "message" or
// "disconnect"; `body` is a Uint8Array. Returning null sends nothing back.

export function handleEvent(event) {
  return event.eventType === "message" ? event.body : null;
}
