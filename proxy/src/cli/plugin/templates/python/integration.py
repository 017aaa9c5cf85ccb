"""{{name}}: a Gatehouse integration in Python (the `request-handler` world).

It answers every request itself with a line of text: its `greeting` setting (default
`hello`), its name and the request's method and path. The text is made in logic.py, which the
tests import.

`handle` takes no argument: it asks the `request` import for the method and the path, so
nothing else of the request (headers, body, ...) is copied into Python.

componentize-py generates the `wit_world` package from wit/: the world's export is a method
of the class `WitWorld`, each import a module of functions, records are dataclasses with
snake_case fields, and an error result is raised as `Err(message)`. The `types` interfaces of
two package versions are in wit/, so their modules are named with their version.
"""

import logic
import wit_world
from wit_world.imports import config, request
from wit_world.imports.gatehouse_plugin_types_0_1_0 import MultiValue, Response


class WitWorld(wit_world.WitWorld):
    def handle(self) -> Response:
        greeting = config.get("greeting") or "hello"
        text = logic.answer(greeting, "{{name}}", request.method(), request.path())
        return Response(
            status=200,
            headers=[MultiValue(name="content-type", values=["text/plain"])],
            body=text.encode(),
        )
