"""Product lookup and force refresh, in the vendor's (retailerapi) snake_case dialect."""

from __future__ import annotations

import functools
import math
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from api.auth import note_admission, requires_key, runtime
from api.docs import doc
from api.idempotency import idempotent
from freshet import accounts, products
from freshet.errors import BadRequest
from freshet.products import LookupOptions
from guards import Admission
from schemas.common import ErrorSchema
from schemas.products import Product, ProductPending, ProductQuery

bp = Blueprint("products", __name__)
_query = ProductQuery()
# What the spec states of {id}: a non-blank id of at most 2048 characters (products.ids).
PRODUCT_ID = {"minLength": 1, "maxLength": 2048, "pattern": "\\S", "example": "19667262713"}
_ERRORS = {s: ErrorSchema for s in (400, 401, 402, 404, 409, 429, 500, 502, 503, 504)}


@functools.cache
def _defaults() -> dict[str, Any]:
    return dict(_query.load({}))


def _options(full_refresh: bool) -> LookupOptions:
    try:
        # No query string (the common lookup): the schema's defaults, loaded once.
        q = _query.load(request.args) if request.args else _defaults()
    except ValidationError as exc:
        raise BadRequest(
            f"Invalid query parameters: {exc.messages}", title="Invalid request"
        ) from None
    return LookupOptions(
        offers_reviews=full_refresh
        or q["include_offers_reviews"]
        or q["include_offers"]
        or q["include_reviews"],
        force=full_refresh or q["force_refresh"] or q["include_force_refresh"],
        max_age=q["max_age"],
        retailer=q["retailer"],
        format=q["format"],
        cross_retailer=q["include_cross_retailer"],
        seller_context=q["include_seller_context"],
    ).against(runtime().settings)


def _answer(product_id: str, full_refresh: bool) -> tuple[Response, int]:
    g.product_meter = meter = products.Meter()
    opts = _options(full_refresh)
    out = products.lookup(
        runtime(), g.principal, product_id, opts, g.request_id, meter, g.get("idempotency")
    )
    # The domain builds the body in the schema's own fields and order (freshet.products.view):
    # no second pass through marshmallow on the hottest path.
    return jsonify(out.body), out.status


@bp.get("/v1/products/<path:product_id>", merge_slashes=False)
@doc(
    "Look up a product (cached unless stale or forced)",
    path={"product_id": PRODUCT_ID},
    tag="products",
    query=ProductQuery,
    responses={200: Product, 202: ProductPending, **_ERRORS},
    description="{id}: Walmart item id, UPC, EAN, ISBN, GTIN-14, ASIN, product uuid or a "
    "URL-encoded product URL. 1 token; +5 include_offers_reviews; +3 "
    "force_refresh or a max_age below the price TTL (a force refresh: it also counts "
    "against the force-refresh cap).",
)
@requires_key
def show(product_id: str) -> tuple[Response, int]:
    return _answer(product_id, full_refresh=False)


@bp.post("/v1/products/<path:product_id>/refresh", merge_slashes=False)
@doc(
    "Force a full refresh from upstream (9 tokens)",
    path={"product_id": PRODUCT_ID},
    tag="products",
    query=ProductQuery,
    responses={200: Product, 202: ProductPending, **_ERRORS},
)
@requires_key
@idempotent
def refresh(product_id: str) -> tuple[Response, int]:
    return _answer(product_id, full_refresh=True)


@bp.after_request
def _product_headers(resp: Response) -> Response:
    """Tokens and throttle on every answer of these endpoints, errors included."""
    principal = g.get("principal")
    if principal is None or not request.path.startswith("/v1/products/"):
        return resp
    meter: products.Meter = g.get("product_meter") or products.Meter()
    rt = runtime()
    try:
        if meter.tokens_remaining is None:
            with rt.engine.connect() as conn:
                meter.tokens_remaining = products.tokens_left(conn, principal)
        if meter.throttle is None:
            window = accounts.submit_window(principal)
            remaining, reset = rt.guards.peek_rate(window)
            meter.throttle = (window.limit, remaining, reset)
    except Exception:  # headers are best effort when a backing service is away
        return resp
    limit, remaining, reset = meter.throttle
    note_admission(Admission(True, limit=limit, remaining=remaining, reset=reset))
    resp.headers["X-RateLimit-Tokens-Remaining"] = str(meter.tokens_remaining)
    resp.headers["X-RateLimit-Throttle-Limit"] = str(limit)
    resp.headers["X-RateLimit-Throttle-Remaining"] = str(max(int(remaining), 0))
    resp.headers["X-RateLimit-Reset"] = str(math.ceil(max(reset, 0)))
    return resp
