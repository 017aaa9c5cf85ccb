"""{{name}}: a Gatehouse authorizer in Python.

A request whose `x-api-token` header equals the plugin's `token` setting gets a policy that
allows every method of its stage (principal `user`, context `plugin` = `{{name}}`); another
token gets an empty policy, so Gatehouse denies it (403); a missing one is `unauthorized`
(401). The decision itself is in logic.py, which the tests import.

`authorize` takes no argument: it asks the `request` import for the one header it needs and,
when it allows, for the method ARN, so nothing else of the request is copied into Python.

componentize-py generates the `wit_world` package from wit/: the world's export is a method
of the class `WitWorld`, records are dataclasses with snake_case fields, and an error result
is raised as `Err(value)`. The world uses the `types` interfaces of two package versions, so
their modules are named with their version.
"""

import logic
import wit_world
from componentize_py_types import Err
from wit_world.imports import config, request
from wit_world.imports.gatehouse_plugin_types_0_1_0 import (
    AuthorizerError_Failed,
    AuthorizerError_Unauthorized,
)
from wit_world.imports.gatehouse_plugin_types_0_2_0 import (
    ContextEntry,
    Decision,
    Effect,
    Statement,
    Value_Text,
)


class WitWorld(wit_world.WitWorld):
    def authorize(self) -> Decision:
        # Header names are matched in any case.
        token = request.header("x-api-token")
        expected = config.get("token")
        if expected is None:
            raise Err(AuthorizerError_Failed("config `token` is not set"))
        outcome = logic.decide(token, expected)
        if outcome == "unauthorized":
            raise Err(AuthorizerError_Unauthorized())
        if outcome == "deny":
            return Decision(
                policy=[], principal_id="anonymous", context=[], usage_identifier_key=None
            )
        pattern = logic.stage_pattern(request.method_arn())
        return Decision(
            policy=[Statement(effect=Effect.ALLOW, resources=[pattern])],
            principal_id="user",
            context=[ContextEntry(name="plugin", value=Value_Text("{{name}}"))],
            usage_identifier_key=None,
        )
