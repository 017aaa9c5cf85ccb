"""A Gatehouse integration written in Python, of the `request-handler` world of
`gatehouse:plugin@0.3.0`: it is not sent the request, it reads what it needs of it through the
`request` import, so a request with many headers costs it nothing more.

It answers every GET or HEAD itself with a JSON description of what it received: the method,
the path, the matched resource, the path parameters, the authorizer's principal (null without
one) and context, and `calls`, how many calls this instance has served. A PUT answers the same
with the request's `content-type` header and its body as text added. With `instances: reuse`
(the default) the gateway keeps warm instances between calls, so `calls` grows from one call
to the next on the same instance; with `instances: fresh` it is always 1.

scripts/build-plugins.sh turns this module into a component with componentize-py against
wit/0.3.0 (world `request-handler`, named in WORLD). componentize-py generates the `wit_world`
package from the WIT: the world's export is the `handle` method of a class named `WitWorld`,
each import is a module of functions, WIT records are dataclasses with snake_case fields, and
an error result is raised as `Err(message)`.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import config, request
from wit_world.imports.gatehouse_plugin_types_0_1_0 import MultiValue, Response

# Module globals live as long as the instance: this one counts the instance's calls.
calls = 0


class WitWorld(wit_world.WitWorld):
    def handle(self) -> Response:
        global calls
        calls += 1
        method = request.method()
        if method not in ("GET", "HEAD", "PUT"):
            raise Err(f"method {method} is not supported")
        principal = request.principal_id()
        body = {
            "plugin": "py-integration",
            "greeting": config.get("greeting") or "hello from Python",
            "method": method,
            "path": request.path(),
            "resource": request.resource_path(),
            "pathParameters": {p.name: p.value for p in request.path_parameters()},
            "principal": principal,
            "authorizer": (
                {p.name: p.value for p in request.authorizer_context()} if principal else {}
            ),
            "calls": calls,
        }
        if method == "PUT":
            body["contentType"] = request.header("content-type")
            body["body"] = request.body().decode("utf-8", "replace")
        return Response(
            status=200,
            headers=[MultiValue(name="content-type", values=["application/json"])],
            body=json.dumps(body).encode(),
        )
