"""The shared error envelope {"error", "code", "message"} as a response, with Retry-After."""

from __future__ import annotations

import math
from typing import Any

from flask import Response, jsonify


def retry_after_value(seconds: float | None) -> str:
    return str(max(1, math.ceil(seconds or 1)))


def envelope(
    status: int, title: str, code: str, message: str, retry_after: float | None = None, **extra: Any
) -> Response:
    resp = jsonify({"error": title, "code": code, "message": message, **extra})
    resp.status_code = status
    if status in (429, 503) or retry_after is not None:
        resp.headers["Retry-After"] = retry_after_value(retry_after)
    return resp
