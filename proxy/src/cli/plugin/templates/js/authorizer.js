// {{name}}: a Gatehouse authorizer in JavaScript. A request whose `x-api-token` header equals
// the plugin's `token` setting gets a policy that allows every method of its stage (principal
// `user`, context `plugin` = `{{name}}`); another token gets an empty policy, so Gatehouse
// denies it (403); a missing one is `unauthorized` (401).
//
// `authorize` takes no argument: it asks the `request` import for the one header it needs and,
// when it allows, for the method ARN, so nothing else of the request is copied into QuickJS.
// The imported WIT interfaces are ES modules named by their full name, their functions
// camelCase; records are objects with camelCase keys, `option<T>` is a value or null, a
// `result` export returns its ok value and throws its error, a variant is `{ tag, val }`, an
// enum case is its name as a string.

import config from "gatehouse:plugin/config@0.1.0";
import request from "gatehouse:plugin/request@0.3.0";

// The pattern of every method of the request's stage: its method ARN
// (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`) cut after the stage, then `/*`.
function stagePattern(methodArn) {
  const [apiPart, stage] = methodArn.split("/");
  return `${apiPart}/${stage}/*`;
}

export function authorize() {
  // Header names are matched in any case.
  const token = request.header("x-api-token");
  if (!token) {
    throw { tag: "unauthorized" };
  }
  const expected = config.get("token");
  if (expected === null) {
    throw { tag: "failed", val: "config `token` is not set" };
  }
  if (token !== expected) {
    return { policy: [], principalId: "anonymous", context: [], usageIdentifierKey: null };
  }
  return {
    policy: [{ effect: "allow", resources: [stagePattern(request.methodArn())] }],
    principalId: "user",
    context: [{ name: "plugin", value: { tag: "text", val: "{{name}}" } }],
    usageIdentifierKey: null,
  };
}
