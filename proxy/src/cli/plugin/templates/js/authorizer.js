// {{name}}: a Gatehouse authorizer in JavaScript. A request is allowed when its `x-api-token`
// header equals the plugin's `token` setting (principal `user`, context `plugin` = `{{name}}`);
// another token is denied (403) and a missing one is `unauthorized` (401).
//
// The imported WIT interfaces are ES modules named by their full name; records are objects
// with camelCase keys, `option<T>` is a value or null, a `result` export returns its ok value
// and throws its error, a variant is `{ tag, val }`.

import config from "gatehouse:plugin/config@0.1.0";

// The first value of header `name` (header names arrive lowercase), or undefined.
function header(request, name) {
  const h = request.headers.find((h) => h.name === name);
  return h === undefined ? undefined : h.values[0];
}

export function authorize(request) {
  const token = header(request, "x-api-token");
  if (!token) {
    throw { tag: "unauthorized" };
  }
  const expected = config.get("token");
  if (expected === null) {
    throw { tag: "failed", val: "config `token` is not set" };
  }
  const allow = token === expected;
  return {
    allow,
    principalId: allow ? "user" : "anonymous",
    context: allow ? [{ name: "plugin", value: "{{name}}" }] : [],
    usageIdentifierKey: null,
  };
}
