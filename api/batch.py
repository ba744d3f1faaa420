"""POST /v1/products/refresh: batch product refresh, in the vendor's (Octogen) dialect."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from api.auth import note_admission, requires_key, runtime
from api.batch_errors import with_detail
from api.docs import doc
from api.idempotency import idempotent
from freshet import batch
from schemas.batch import (
    BatchError,
    BatchValidationError,
    ProductRefreshRequest,
    ProductRefreshResponse,
    RequestInvalid,
    load_request,
    parse_body,
)

bp = Blueprint("batch", __name__)


@bp.post("/v1/products/refresh")
@doc(
    "Refresh up to 500 products as one workflow",
    tag="batch",
    body=ProductRefreshRequest,
    responses={
        202: ProductRefreshResponse,
        400: ProductRefreshResponse,
        401: BatchError,
        402: BatchError,
        403: BatchError,
        422: BatchValidationError,
        429: BatchError,
        503: BatchError,
    },
    description="Each target is {url}, {uuid}, {catalog, url} or {catalog, uuid}. Valid "
    "targets are accepted and invalid ones rejected in the same answer (202); "
    "400 with the same body when none is accepted. Each accepted target "
    "reserves one token, charged when it completes and refunded if it fails.",
)
@with_detail
@requires_key
@idempotent
def refresh() -> tuple[Response, int]:
    try:
        req = load_request(parse_body(request.get_data(cache=True)))
    except RequestInvalid as exc:
        raise batch.invalid(exc.detail) from None
    body, status, adm = batch.submit(
        runtime(), g.principal, req, g.request_id, g.get("idempotency")
    )
    note_admission(adm)
    return jsonify(body), status
