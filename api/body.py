"""Reading a JSON body safely: size (Flask's MAX_CONTENT_LENGTH), syntax and nesting depth."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from freshet.errors import BadRequest

MAX_DEPTH = 32


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def raw_json() -> Any:
    """The parsed body, or BadRequest. Errors a caller can fix say what to fix."""
    data = request.get_data(cache=True)
    if not data.strip():
        raise BadRequest(
            "Send a JSON object as the request body.", title="Missing body", code="bad_request"
        )
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(
            f"The body is not valid JSON: {str(exc)[:200]}",
            title="Malformed JSON",
            code="bad_request",
        ) from None
    if not _depth_ok(value, MAX_DEPTH):
        raise BadRequest(
            f"JSON nested deeper than {MAX_DEPTH} levels is not accepted.",
            title="Malformed JSON",
            code="bad_request",
        )
    return value


def json_object() -> dict[str, Any]:
    value = raw_json()
    if not isinstance(value, dict):
        raise BadRequest(
            "The body must be a JSON object.", title="Invalid request", code="bad_request"
        )
    return value
