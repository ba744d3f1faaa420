"""Octogen's whole-request error shape for the batch endpoint, which adds `detail`."""

from __future__ import annotations

from flask import Response, request


def is_batch_request() -> bool:
    return request.method == "POST" and request.path.rstrip("/") == "/v1/products/refresh"


def batch_unavailable_or_none() -> Response | None:
    if not is_batch_request():
        return None
    from api.errors import envelope

    return envelope(503, "Service unavailable", "product_refresh_unavailable",
                    "Product refresh is briefly unavailable; nothing was written. Retry.",
                    retry_after=5, detail="product_refresh_unavailable")
