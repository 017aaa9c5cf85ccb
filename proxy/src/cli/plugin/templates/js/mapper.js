// {{name}}: a Gatehouse mapper in JavaScript. It adds the header `x-mapped-by: {{name}}` to
// the request before the integration and to the response after it.
//
// Records are objects with camelCase keys; a `result` export returns its ok value and throws
// its error.

// Sets `x-mapped-by` to this plugin's name, replacing any value it had.
function mark(headers) {
  const kept = headers.filter((h) => h.name !== "x-mapped-by");
  kept.push({ name: "x-mapped-by", values: ["{{name}}"] });
  return kept;
}

export function mapRequest(request) {
  request.headers = mark(request.headers);
  return request;
}

export function mapResponse(_request, response) {
  response.headers = mark(response.headers);
  return response;
}
