"""Bearer-key authentication, the per-key read limit, and the X-RateLimit-* headers."""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from typing import Any, cast, overload

from flask import Response, current_app, g, request

from freshet import accounts
from freshet.accounts import Principal
from freshet.errors import RateLimited, Unauthorized
from freshet.runtime import Runtime
from guards import Admission, RateWindow


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["freshet"])


class _PrincipalCache:
    """Keys seen in the last few seconds, so a hot read path skips a Postgres round trip.

    A revoked key or a changed plan takes effect within FRESHET_AUTH_CACHE_SECONDS.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        item = self._items.get(digest)
        if item and item[0] > time.monotonic():
            return item[1]
        return None

    def put(self, digest: str, principal: Principal, ttl: float) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[digest] = (time.monotonic() + ttl, principal)


def _invalid() -> Unauthorized:
    return Unauthorized(
        "The API key is missing, unknown or revoked. Send "
        "'Authorization: Bearer rk_live_…' with a valid key.",
        title="Invalid API key",
    )


def authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _invalid()
    rt = runtime()
    cache: _PrincipalCache = current_app.extensions["freshet.auth_cache"]
    digest = accounts.hash_key(key)
    principal = cache.get(digest) if rt.settings.auth_cache_seconds > 0 else None
    if principal is None:
        with rt.engine.connect() as conn:
            principal = accounts.authenticate(conn, key)
        if principal is None:
            raise _invalid()
        if rt.settings.auth_cache_seconds > 0:
            cache.put(digest, principal, rt.settings.auth_cache_seconds)
    g.principal = principal
    return principal


def read_window(principal: Principal) -> RateWindow:
    return RateWindow(f"key:{principal.key_id}:read", runtime().settings.read_limit_per_minute)


@overload
def requires_key(view: Callable[..., Any], *, reads: bool = False) -> Callable[..., Any]: ...
@overload
def requires_key(
    view: None = None, *, reads: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...
def requires_key(
    view: Callable[..., Any] | None = None, *, reads: bool = False
) -> Callable[..., Any] | Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate; `reads=True` counts the call against the generous per-key read limit."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if reads:
                adm = runtime().guards.admit([read_window(principal)])
                note_admission(adm)
                if not adm.ok:
                    raise RateLimited(
                        "Too many reads this minute; slow down.",
                        title="Rate limit exceeded",
                        code="rate_limit_exceeded",
                        retry_after=adm.retry_after,
                    )
            return fn(*args, **kwargs)

        return inner

    return wrap(view) if view is not None else wrap


def note_admission(adm: Admission) -> None:
    if adm.limit:
        g.rate = (adm.limit, adm.remaining, adm.reset)


def add_rate_headers(resp: Response) -> Response:
    principal = g.get("principal")
    if principal is None:
        return resp
    rate = g.get("rate")
    if rate is None:
        try:
            window = accounts.submit_window(principal)
            remaining, reset = runtime().guards.peek_rate(window)
            rate = (window.limit, remaining, reset)
        except Exception:  # headers are best effort when Redis is away
            return resp
    limit, remaining, reset = rate
    resp.headers["X-RateLimit-Limit"] = str(limit)
    resp.headers["X-RateLimit-Remaining"] = str(max(int(remaining), 0))
    resp.headers["X-RateLimit-Reset"] = str(math.ceil(max(reset, 0)))
    return resp
