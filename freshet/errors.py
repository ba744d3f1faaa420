"""Errors the domain raises for callers to see; the API turns them into the error envelope."""

from __future__ import annotations

from typing import Any


class FreshetError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.title = title or self.title
        self.code = code or self.code
        self.status = status or self.status
        self.retry_after = retry_after
        self.extra = extra or {}


class BadRequest(FreshetError):
    pass


class Unauthorized(FreshetError):
    status, code, title = 401, "unauthorized", "Invalid API key"


class PaymentRequired(FreshetError):
    status, code, title = 402, "payment_required", "Payment required"


class Forbidden(FreshetError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFoundError(FreshetError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(FreshetError):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(FreshetError):
    status, code, title = 422, "unprocessable", "Unprocessable request"


class RateLimited(FreshetError):
    status, code, title = 429, "rate_limited", "Rate limit exceeded"


class Unavailable(FreshetError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
