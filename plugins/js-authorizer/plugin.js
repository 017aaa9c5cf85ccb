// A Gatehouse authorizer written in JavaScript: a request is allowed every method of its stage
// when its `x-api-token` header equals the plugin's `token` setting, as principal `js-user`
// with context `language` = `js`; another token is denied (403) and a missing header is
// `unauthorized` (401).
//
// It is written for `gatehouse:plugin@0.3.0`: `authorize` takes no argument, and reads the one
// header it needs through the `request` import, instead of being handed the whole request as
// objects (building those objects in QuickJS cost more than the rest of the call). It answers
// a policy.
//
// scripts/build-plugins.sh turns this module into a component with componentize-qjs (QuickJS)
// against wit/0.3.0/ (WORLD: `0.3.0/authorizer`). The WIT interfaces the world imports are ES
// modules named by their full name, their functions camelCase; records are objects with
// camelCase keys, `option<T>` is a value or null, a `result` export returns its ok value and
// throws its error, a variant is `{ tag, val }`.

import config from "gatehouse:plugin/config@0.1.0";
import log from "gatehouse:plugin/log@0.1.0";
import request from "gatehouse:plugin/request@0.3.0";

// An instance keeps its globals between calls (`instances: reuse`), and its settings never
// change (a reload makes new instances), so the first call reads the setting and later calls
// keep it. Not at the module's top level: the build runs that part, where no host answers.
let expected;

// The decision for the last stage allowed, made once, and the prefix of that stage's method
// ARNs: building the decision's objects and the stage's text is most of a QuickJS call (reusing
// them took the call from 7.7 to 5.3 µs). The gateway only reads what `authorize` returns.
let allowed = null;

export function authorize() {
  const token = request.header("x-api-token");
  if (!token) {
    throw { tag: "unauthorized" };
  }
  if (expected === undefined) {
    expected = config.get("token");
  }
  if (expected === null) {
    throw { tag: "failed", val: "config `token` is not set" };
  }
  if (token !== expected) {
    log.log("info", "token mismatch");
    // An empty policy denies every method.
    return { policy: [], principalId: "anonymous", context: [], usageIdentifierKey: null };
  }
  // `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`: every method of the stage.
  const arn = request.methodArn();
  if (allowed === null || !arn.startsWith(allowed.prefix)) {
    const stage = arn.slice(0, arn.indexOf("/", arn.indexOf("/") + 1));
    allowed = { prefix: `${stage}/`, decision: allowEvery(stage) };
  }
  return allowed.decision;
}

function allowEvery(stage) {
  return {
    policy: [{ effect: "allow", resources: [`${stage}/*/*`] }],
    principalId: "js-user",
    context: [{ name: "language", value: { tag: "text", val: "js" } }],
    usageIdentifierKey: null,
  };
}
