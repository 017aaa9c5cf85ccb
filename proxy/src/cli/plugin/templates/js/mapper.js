// {{name}}: a Gatehouse mapper in JavaScript. It sets the header `x-mapped-by: {{name}}` on
// the request before the integration and on the response after it.
//
// The exports take no argument and answer edits: the headers they set (each replacing every
// value the header had; an empty list of values removes it) and, when they change them, the
// query string, the status or the body (null leaves them). What they need to read they ask the
// `request` and `response` imports (`gatehouse:plugin/request@0.3.0`,
// `gatehouse:plugin/response@0.3.0`) for. Records are objects with camelCase keys; a `result`
// export returns its ok value and throws its error.

// The header edit: `x-mapped-by` set to this plugin's name, replacing any value it had.
const mark = () => [{ name: "x-mapped-by", values: ["{{name}}"] }];

export function mapRequest() {
  return { headers: mark(), query: null, body: null };
}

export function mapResponse() {
  return { status: null, headers: mark(), body: null };
}
