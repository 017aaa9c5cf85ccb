"""{{name}}: a Gatehouse authorizer in Python.

A request is allowed when its `x-api-token` header equals the plugin's `token` setting
(principal `user`, context `plugin` = `{{name}}`); another token is denied (403) and a missing
one is `unauthorized` (401). The decision itself is in logic.py, which the tests import.

componentize-py generates the `wit_world` package from wit/: the world's export is a method
of the class `WitWorld`, records are dataclasses with snake_case fields, and an error result
is raised as `Err(value)`.
"""

import logic
import wit_world
from componentize_py_types import Err
from wit_world.imports import config
from wit_world.imports.types import (
    AuthorizerError_Failed,
    AuthorizerError_Unauthorized,
    Decision,
    Pair,
    Request,
)


class WitWorld(wit_world.WitWorld):
    def authorize(self, request: Request) -> Decision:
        token = logic.first_value(request.headers, "x-api-token")
        expected = config.get("token")
        if expected is None:
            raise Err(AuthorizerError_Failed("config `token` is not set"))
        outcome = logic.decide(token, expected)
        if outcome == "unauthorized":
            raise Err(AuthorizerError_Unauthorized())
        allow = outcome == "allow"
        return Decision(
            allow=allow,
            principal_id="user" if allow else "anonymous",
            context=[Pair(name="plugin", value="{{name}}")] if allow else [],
            usage_identifier_key=None,
        )
