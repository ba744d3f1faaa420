"""The shared error envelope {"error", "code", "message"} for every failure, never a bare 500."""

from __future__ import annotations

import logging

import psycopg
import redis
from flask import Flask, Response, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from api.batch_errors import batch_unavailable_or_none
from api.envelope import envelope
from freshet.errors import FreshetError

log = logging.getLogger("freshet.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def _is_vendor_reviews_path() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FreshetError)
    def _domain(err: FreshetError) -> Response:
        return envelope(err.status, err.title, err.code, err.message, err.retry_after, **err.extra)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        if status == 413:
            return envelope(
                413,
                "Payload too large",
                "payload_too_large",
                f"Request bodies are limited to {app.config['MAX_CONTENT_LENGTH']} bytes.",
            )
        if status == 404:
            return envelope(404, "Not found", "not_found", f"No route for {request.path}.")
        if status == 405:
            return envelope(
                405,
                "Method not allowed",
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path}.",
            )
        return envelope(
            status, err.name, _HTTP_CODES.get(status, "error"), err.description or err.name
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(psycopg.OperationalError)  # a statement run straight on the driver
    @app.errorhandler(PoolTimeout)  # every pooled connection busy past the pool's timeout
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _unavailable(err: Exception) -> Response:
        log.warning("backing service unavailable: %s", type(err).__name__)
        return unavailable()

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return unavailable()
        log.exception("unhandled error")
        if _is_vendor_reviews_path():
            return envelope(
                500,
                "service_error",
                "service_error",
                "Temporary backend issue; retry after a short delay.",
            )
        return envelope(
            500,
            "Internal error",
            "internal_error",
            "Something went wrong on our side; retry after a short delay.",
        )


def unavailable() -> Response:
    batch = batch_unavailable_or_none()
    if batch is not None:
        return batch
    if _is_vendor_reviews_path():  # Descripio's error table: an outage is its 500 service_error
        return envelope(
            500,
            "service_error",
            "service_error",
            "Temporary backend issue; retry after a short delay.",
            retry_after=5,
        )
    return envelope(
        503,
        "Service unavailable",
        "service_unavailable",
        "A backing service is briefly unavailable; retry shortly.",
        retry_after=5,
    )
