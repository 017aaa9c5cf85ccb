// A Gatehouse authorizer written in JavaScript: a request is allowed when its `x-api-token`
// header equals the plugin's `token` setting, as principal `js-user` with context
// `language` = `js`; another token is denied (403) and a missing header is `unauthorized`
// (401). It does what plugins/c-authorizer does, in the same world.
//
// scripts/build-plugins.sh turns this module into a component with componentize-qjs (QuickJS)
// against wit/ (world `authorizer`). The WIT interfaces the world imports are ES modules named
// by their full name; records are objects with camelCase keys, `option<T>` is a value or null,
// a `result` export returns its ok value and throws its error, a variant is `{ tag, val }`.

import config from "gatehouse:plugin/config@0.1.0";
import log from "gatehouse:plugin/log@0.1.0";

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
  if (token !== expected) {
    log.log("info", "token mismatch");
    return { allow: false, principalId: "anonymous", context: [], usageIdentifierKey: null };
  }
  return {
    allow: true,
    principalId: "js-user",
    context: [{ name: "language", value: "js" }],
    usageIdentifierKey: null,
  };
}
