"""Request bodies validated through their pydantic models, failing as the API always has.

A body that does not fit its model is a 400 ``invalid_parameter`` whose ``details.field``
names the first offending field — an unknown field before any other problem, then the
model's fields in declaration order (the contract's order) — and ``body`` when the body is
not a JSON object at all. The message starts with the field's name, as every 400 of the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ivr_agent.web.errors import ApiError, bad_parameter

M = TypeVar("M", bound=BaseModel)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _problem(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a field; fields are {', '.join(_field_names(model))}"
    if kind == "value_error" and "error" in error.get("ctx", {}):
        # Our own validators' words ("must be digits only, with an optional leading +").
        return str(error["ctx"]["error"])
    message = error["msg"]
    if message.startswith("Input should"):
        message = "must" + message.removeprefix("Input should")
    return message


def validation_error(exc: ValidationError, model: type[BaseModel]) -> ApiError:
    """The 400 :class:`ApiError` naming the first field ``exc`` found wrong."""
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    if not first["loc"]:
        return bad_parameter("body", "must be a JSON object")
    field = str(first["loc"][0])
    return bad_parameter(field, _problem(first, model))


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` (already decoded, e.g. a form) as ``model``, or the 400 naming the field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_error(exc, model) from None


async def json_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, or the 400 naming the field (``body`` when it
    is not a JSON object)."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc, model) from None
