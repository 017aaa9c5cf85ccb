"""{{name}}: a Gatehouse mapper in Python.

It sets the header `x-mapped-by: {{name}}` on the request before the integration and on the
response after it. The header edit is built in logic.py, which the tests import.

The exports take no argument and answer edits: the headers they set (each replacing every
value the header had; an empty list of values removes it) and, when they change them, the
query string, the status or the body (None leaves them). What they need to read they ask the
`request` and `response` imports (`wit_world.imports.request`, `wit_world.imports.response`)
for.

componentize-py generates the `wit_world` package from wit/: the world's exports are methods
of the class `WitWorld` and records are dataclasses with snake_case fields. The world uses the
`types` interfaces of two package versions, so their modules are named with their version.
"""

import logic
import wit_world
from wit_world.imports.gatehouse_plugin_types_0_1_0 import MultiValue
from wit_world.imports.request import RequestEdits
from wit_world.imports.response import ResponseEdits


def mark():
    return [MultiValue(name=n, values=v) for n, v in logic.header_edits("{{name}}")]


class WitWorld(wit_world.WitWorld):
    def map_request(self) -> RequestEdits:
        return RequestEdits(headers=mark(), query=None, body=None)

    def map_response(self) -> ResponseEdits:
        return ResponseEdits(status=None, headers=mark(), body=None)
