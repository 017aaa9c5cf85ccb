"""A Gatehouse integration written in Python.

It answers every request itself with a JSON description of what it received: the method, the
path, the matched resource, the path parameters, the authorizer's principal (null without
one) and context, and `calls`, how many calls this instance has served. With `instances: reuse` (the
default) the gateway keeps warm instances between calls, so `calls` grows from one call to the
next on the same instance; with `instances: fresh` it is always 1.

scripts/build-plugins.sh turns this module into a component with componentize-py against wit/
(world `integration`). componentize-py generates the `wit_world` package from the WIT: the
world's export is the `handle` method of a class named `WitWorld`, WIT records are
dataclasses with snake_case fields, and an error result is raised as `Err(message)`.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import config
from wit_world.imports.types import MultiValue, Request, Response

# Module globals live as long as the instance: this one counts the instance's calls.
calls = 0


class WitWorld(wit_world.WitWorld):
    def handle(self, request: Request) -> Response:
        global calls
        calls += 1
        if request.method not in ("GET", "HEAD"):
            raise Err(f"method {request.method} is not supported")
        body = {
            "plugin": "py-integration",
            "greeting": config.get("greeting") or "hello from Python",
            "method": request.method,
            "path": request.path,
            "resource": request.resource_path,
            "pathParameters": {p.name: p.value for p in request.path_parameters},
            "principal": request.context.principal_id,
            "authorizer": {p.name: p.value for p in request.context.authorizer},
            "calls": calls,
        }
        return Response(
            status=200,
            headers=[MultiValue(name="content-type", values=["application/json"])],
            body=json.dumps(body).encode(),
        )
