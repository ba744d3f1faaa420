"""Review refresh endpoints, in the vendor's (Descripio) dialect."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from api.auth import note_admission, requires_key, runtime
from api.body import json_object
from api.docs import doc
from api.idempotency import idempotent
from freshet import reviews
from freshet.errors import BadRequest
from schemas.common import ErrorSchema
from schemas.reviews import (
    CachedReviews,
    CooldownError,
    NoCachedReviews,
    ReviewRefreshAccepted,
    ReviewRefreshRequest,
    ReviewsQuery,
)

bp = Blueprint("reviews", __name__)
_request = ReviewRefreshRequest()
_query = ReviewsQuery()
_cached = CachedReviews()


@bp.post("/api/v1/reviews/refresh")
@doc(
    "Start a review refresh job",
    tag="reviews",
    body=ReviewRefreshRequest,
    responses={
        202: ReviewRefreshAccepted,
        400: ErrorSchema,
        401: ErrorSchema,
        402: ErrorSchema,
        403: ErrorSchema,
        422: ErrorSchema,
        429: CooldownError,
        500: ErrorSchema,
        503: ErrorSchema,
    },
)
@requires_key
@idempotent
def refresh() -> tuple[Response, int]:
    body = json_object()
    asin = reviews.validate_asin(body.get("asin"))
    marketplace = reviews.validate_marketplace(body.get("marketplace"))
    try:
        _request.load(body)
    except ValidationError as exc:
        raise BadRequest(f"Invalid fields: {exc.messages}", title="Invalid request") from None
    out, adm = reviews.submit(
        runtime(), g.principal, asin, marketplace, g.request_id, g.get("idempotency")
    )
    note_admission(adm)
    return jsonify(out), 202


@bp.get("/api/v1/reviews")
@doc(
    "Cached reviews of an ASIN (never starts a job)",
    tag="reviews",
    query=ReviewsQuery,
    responses={200: CachedReviews, 400: ErrorSchema, 401: ErrorSchema, 404: NoCachedReviews},
)
@requires_key(reads=True)
def cached() -> tuple[Response, int]:
    asin = request.args.get("asin")
    if not asin:
        raise BadRequest(
            "Pass the ASIN as ?asin=B08N5WRWNW.", title="Missing asin", code="missing_asin"
        )
    asin = reviews.validate_asin(asin)
    marketplace = reviews.validate_marketplace(request.args.get("marketplace"))
    try:
        q = _query.load(request.args)
    except ValidationError as exc:
        raise BadRequest(f"Invalid query: {exc.messages}", title="Invalid request") from None
    with runtime().engine.connect() as conn:
        found = reviews.cached_reviews(
            conn, asin, marketplace, limit=q["limit"], cursor=q["cursor"]
        )
    if found is None:
        return jsonify(
            {
                "asin": asin,
                "reviews": [],
                "cached": False,
                "message": "No cached data. Create a refresh job first.",
            }
        ), 404
    return jsonify(_cached.dump(found)), 200
