"""Octogen's whole-request error shape for the batch endpoint, which adds `detail` to the
shared envelope: on backing-service outages here, and on every domain error via
`with_detail`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, request

from api.envelope import envelope
from freshet.errors import FreshetError

# Octogen's own `detail` strings where it has them; otherwise the envelope's code.
_VENDOR_DETAIL = {401: "Invalid API key"}


def is_batch_request() -> bool:
    return request.method == "POST" and request.path.rstrip("/") == "/v1/products/refresh"


def batch_unavailable_or_none() -> Response | None:
    if not is_batch_request():
        return None
    return envelope(
        503,
        "Service unavailable",
        "product_refresh_unavailable",
        "Product refresh is briefly unavailable; nothing was written. Retry.",
        retry_after=5,
        detail="product_refresh_unavailable",
    )


def with_detail(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every FreshetError raised below gets a `detail` (auth, 402, …) if it has none yet."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FreshetError as err:
            if err.status in (400, 422) and "detail" not in err.extra:
                # A request this endpoint cannot take (a reused or malformed Idempotency-Key)
                # is Octogen's 422 with a list of problems; its 400 is the batch body only.
                err.status = 422
                err.extra = {
                    **err.extra,
                    "detail": [
                        {"loc": ["header", "Idempotency-Key"], "msg": err.message, "type": err.code}
                    ],
                }
            elif "detail" not in err.extra:
                err.extra = {**err.extra, "detail": _VENDOR_DETAIL.get(err.status, err.code)}
            raise

    return inner
