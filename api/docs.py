"""Per-endpoint documentation metadata (schemas, responses) that /openapi.json is built from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def doc(
    summary: str,
    *,
    tag: str,
    body: Any = None,
    query: Any = None,
    responses: dict[int, Any] | None = None,
    description: str | None = None,
    auth: bool = True,
    path: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__freshet_doc__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "tag": tag,
            "body": body,
            "query": query,
            "responses": responses or {},
            "description": description,
            "auth": auth,
            "path": path or {},  # path parameter name -> the constraints the handler enforces
        }
        return fn

    return mark
