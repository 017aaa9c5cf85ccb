"""{{name}}: a Gatehouse mapper in Python.

It adds the header `x-mapped-by: {{name}}` to the request before the integration and to the
response after it. The header list is built in logic.py, which the tests import.

componentize-py generates the `wit_world` package from wit/: the world's exports are methods
of the class `WitWorld` and records are dataclasses with snake_case fields.
"""

import logic
import wit_world
from wit_world.imports.types import MultiValue, Request, Response


def mark(headers):
    return [MultiValue(name=n, values=v) for n, v in logic.marked(headers, "{{name}}")]


class WitWorld(wit_world.WitWorld):
    def map_request(self, request: Request) -> Request:
        request.headers = mark(request.headers)
        return request

    def map_response(self, request: Request, response: Response) -> Response:
        response.headers = mark(response.headers)
        return response
