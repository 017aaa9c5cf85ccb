"""{{name}}: a Gatehouse integration in Python.

It answers every request itself with a line of text: its `greeting` setting (default
`hello`), its name and the request's method and path. The text is made in logic.py, which the
tests import.

componentize-py generates the `wit_world` package from wit/: the world's export is a method
of the class `WitWorld`, records are dataclasses with snake_case fields, and an error result
is raised as `Err(message)`.
"""

import logic
import wit_world
from wit_world.imports import config
from wit_world.imports.types import MultiValue, Request, Response


class WitWorld(wit_world.WitWorld):
    def handle(self, request: Request) -> Response:
        greeting = config.get("greeting") or "hello"
        text = logic.answer(greeting, "{{name}}", request.method, request.path)
        return Response(
            status=200,
            headers=[MultiValue(name="content-type", values=["text/plain"])],
            body=text.encode(),
        )
