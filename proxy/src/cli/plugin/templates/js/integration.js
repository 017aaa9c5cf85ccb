// {{name}}: a Gatehouse integration in JavaScript (the `request-handler` world). It answers
// every request itself with a line of text: its `greeting` setting (default `hello`), its name
// and the request's method and path.
//
// `handle` takes no argument: it asks the `request` import for the method and the path, so
// nothing else of the request (headers, body, ...) is copied into QuickJS. The imported WIT
// interfaces are ES modules named by their full name, their functions camelCase; records are
// objects with camelCase keys, `list<u8>` is a Uint8Array, `option<T>` is a value or null, a
// `result` export returns its ok value and throws its error.

import config from "gatehouse:plugin/config@0.1.0";
import request from "gatehouse:plugin/request@0.3.0";

// The UTF-8 bytes of a string.
function utf8(text) {
  const binary = unescape(encodeURIComponent(text));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function handle() {
  const greeting = config.get("greeting") ?? "hello";
  return {
    status: 200,
    headers: [{ name: "content-type", values: ["text/plain"] }],
    body: utf8(`${greeting} from {{name}}: ${request.method()} ${request.path()}\n`),
  };
}
