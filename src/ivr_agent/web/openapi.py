"""``GET /api/openapi.json``: the API reference (OpenAPI 3.1), generated from the app itself.

The document is read off the app's router: each route whose handler declared its part
(``platform.apidoc.documented``) becomes an operation, with the roles ``web.auth`` admits,
the query parameters of its query model, its request body model and its response model;
the JSON Schemas come from pydantic (``models_json_schema`` with
``ref_template="#/components/schemas/{model}"``). So the document lists exactly what this
app serves with these settings (``/metrics`` is open or needs ``ops``, as configured); a
route that declared nothing is not part of the API (pages, static files, prompt files).

The document is open (no token): it describes the API and holds no data, and a client
needs it before it has a token. It is built once per app, on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ivr_agent import __version__
from ivr_agent.platform.apidoc import Operation, documented, operation_of
from ivr_agent.web.auth import READ_METHODS, SESSION_COOKIE, admitted_roles, open_route
from ivr_agent.web.errors import ErrorBody

OPENAPI_PATH = "/api/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
#: Routes whose handlers are not declared where they are defined: ``/metrics`` (Prometheus
#: text; the handler is chosen by a setting and served by the metrics part).
DOCUMENTED_ELSEWHERE = {
    ("GET", "/metrics"): Operation(
        "Prometheus metrics (text exposition format)",
        description="Open unless IVR_AGENT_METRICS_PUBLIC=false, then ops.",
        media_type="text/plain",
    ),
}
_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document", dict)

DESCRIPTION = (
    "The JSON API of ivr-agent. Every `/api/…` route but this document needs "
    "`Authorization: Bearer TOKEN` (`ivr-agent tokens create --role ops|qa|admin`); reads "
    "also accept the dashboard's session cookie. `admin` may call every route; `x-roles` "
    'lists the roles of each. Errors are `{"error": {"status", "error_id", "message", '
    '"details"}}`; a bad query parameter or body field is a 400 whose `details.field` '
    "names it."
)


def _served(app: web.Application) -> Iterator[tuple[str, str, Callable[..., Any], Operation]]:
    """``(path, method, handler, operation)`` of every documented route the app serves."""
    for route in app.router.routes():
        if route.resource is None:
            continue
        path = route.resource.canonical
        operation = operation_of(route.handler) or DOCUMENTED_ELSEWHERE.get((route.method, path))
        # aiohttp adds a HEAD beside each GET: the GET documents both.
        if operation is None or route.method == "HEAD":
            continue
        yield path, route.method.lower(), route.handler, operation


def _schemas(
    operations: list[tuple[str, str, Callable[..., Any], Operation]],
) -> tuple[dict[tuple[Any, JsonSchemaMode], str], dict[str, Any]]:
    used: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorBody, "serialization"): None}
    for _path, _method, _handler, op in operations:
        if op.response is not None:
            used[(op.response, "serialization")] = None
        if op.body is not None:
            used[(op.body, "validation")] = None
        if op.query is not None:
            used[(op.query, "validation")] = None
    refs, document = models_json_schema(list(used), ref_template=REF_TEMPLATE)
    return {key: value["$ref"] for key, value in refs.items()}, document.get("$defs", {})


def _content(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def _response(status: int, content: dict[str, Any] | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if content is not None:
        answer["content"] = content
    return answer


def _success_schema(op: Operation, refs: dict[Any, str]) -> dict[str, Any]:
    if op.response is not None:
        return {"$ref": refs[(op.response, "serialization")]}
    if op.media_type == "application/json":
        return {"type": "object"}
    return {"type": "string", "contentMediaType": op.media_type}


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # A query parameter left out is absent, never null: document the value's own schema.
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        del schema["anyOf"]
        schema |= branches[0]
    if schema.get("default", ...) is None:
        del schema["default"]
    return schema


def _parameters(path: str, op: Operation, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(path)
    ]
    if op.query is not None:
        model = op.query.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
        schemas.update(model.pop("$defs", {}))
        required = set(model.get("required", []))
        for name, schema in model["properties"].items():
            schema = _query_schema(schema)
            parameter = {"name": name, "in": "query", "required": name in required}
            description = schema.pop("description", None)
            if description:
                parameter["description"] = description
            parameters.append(parameter | {"schema": schema})
    return parameters


def _operation(
    path: str,
    method: str,
    handler: Callable[..., Any],
    op: Operation,
    refs: dict[Any, str],
    schemas: dict[str, Any],
) -> dict[str, Any]:
    roles = admitted_roles(path, handler)
    body: dict[str, Any] = {
        "operationId": handler.__name__.removesuffix("_handler"),
        "summary": op.summary,
        "tags": [path.split("/")[2] if path.startswith("/api/") else "operations"],
    }
    if op.description:
        body["description"] = op.description
    if roles is None:
        body["security"] = []
    else:
        body["x-roles"] = sorted(roles)
        body["security"] = [{"bearer": []}]
        if method.upper() in READ_METHODS:
            body["security"].append({"session": []})
    parameters = _parameters(path, op, schemas)
    if parameters:
        body["parameters"] = parameters
    if op.body is not None:
        body["requestBody"] = {
            "required": True,
            "content": _content("application/json", {"$ref": refs[(op.body, "validation")]}),
        }
    success = _content(op.media_type, _success_schema(op, refs))
    responses = {str(op.status): _response(op.status, success)}
    for status in op.extra_statuses:
        responses[str(status)] = _response(status, success)
    errors = set(op.errors)
    if op.query is not None or op.body is not None:
        errors.add(400)
    if roles is not None:
        errors |= {401, 403}
    if path.startswith("/api/"):
        errors.add(503)  # the database is unavailable
    error = _content("application/json", {"$ref": refs[(ErrorBody, "serialization")]})
    for status in sorted(errors):
        responses[str(status)] = _response(status, error)
    body["responses"] = dict(sorted(responses.items()))
    return body


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route ``app`` serves."""
    operations = list(_served(app))
    refs, schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler, op in operations:
        paths.setdefault(path, {})[method] = _operation(path, method, handler, op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ivr-agent", "version": __version__, "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
        },
    }


@open_route
@documented("This API reference (OpenAPI 3.1)")
async def openapi_handler(request: web.Request) -> web.Response:
    """The document, built on the first request (the routes are fixed by then)."""
    cache = request.app[_DOCUMENT]
    if not cache:
        cache.update(openapi_document(request.app))
    return web.json_response(cache)


def setup_openapi(app: web.Application) -> None:
    """Register ``GET /api/openapi.json``."""
    app[_DOCUMENT] = {}
    app.router.add_get(OPENAPI_PATH, openapi_handler)
