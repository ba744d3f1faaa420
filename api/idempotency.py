"""Idempotency-Key on POST: the same key and body replay the first answer; another body is 422.

The key is bound in the domain's own transaction (freshet.idempotency.record), together with
the job, its reservation and its ledger row, so a committed job never loses its key. Here:
replaying a bound key, refusing a key bound to another request, a short-lived in-flight
marker in Redis so a concurrent duplicate is told to retry (409) instead of racing, and the
final answer stored once the handler returns.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis
from flask import Response, g, make_response, request
from sqlalchemy.exc import SQLAlchemyError

from api.auth import runtime
from freshet import idempotency
from freshet.errors import BadRequest, Conflict, Unprocessable
from freshet.idempotency import IdempotencyKey, KeyTaken

log = logging.getLogger("freshet.api")

REPLAYABLE = {200, 201, 202, 400, 402, 403, 404, 422}


def idempotent(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return fn(*args, **kwargs)
        if not key or len(key) > 255:
            raise BadRequest(
                "Idempotency-Key must be 1 to 255 characters.",
                title="Invalid Idempotency-Key",
                code="bad_request",
            )
        idem = IdempotencyKey(
            org_id=g.principal.org_id,
            key=key,
            route=f"{request.method} {request.path}",
            body_hash=hashlib.sha256(request.get_data(cache=True)).hexdigest(),
        )
        rt = runtime()
        with rt.engine.connect() as conn:
            row = idempotency.find(conn, idem.org_id, key)
        if row is not None:
            return _replay(row, idem)
        marker = _in_flight(idem)
        try:
            g.idempotency = idem
            try:
                resp = make_response(fn(*args, **kwargs))
            except KeyTaken:  # a duplicate committed first; this one rolled back whole
                with rt.engine.connect() as conn:
                    row = idempotency.find(conn, idem.org_id, key)
                assert row is not None
                return _replay(row, idem)
            if resp.status_code in REPLAYABLE and resp.is_json:
                _store_answer(idem, resp)
            return resp
        finally:
            _done(marker)

    return inner


def _replay(row: Any, idem: IdempotencyKey) -> Response:
    if row.route != idem.route or row.body_hash != idem.body_hash:
        raise Unprocessable(
            "This Idempotency-Key was used with a different request; use a new "
            "key for a new request.",
            title="Idempotency key reused",
            code="idempotency_key_reused",
        )
    if row.status_code is None:  # bound by an older Freshet that stored the answer later
        raise _in_progress()
    resp = Response(json.dumps(row.response), status=row.status_code, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry.",
        title="Request in progress",
        code="idempotency_in_progress",
        retry_after=1,
    )


def marker_key(idem: IdempotencyKey) -> str:
    digest = hashlib.sha256(idem.key.encode()).hexdigest()[:32]
    return f"{runtime().prefix}idem:{idem.org_id}:{digest}"


def _in_flight(idem: IdempotencyKey) -> str | None:
    """Mark the key in flight for as long as a request may run; 409 if it already is. Only an
    efficiency: with Redis away the unique key in Postgres still decides (KeyTaken)."""
    rt = runtime()
    name = marker_key(idem)
    ttl_ms = int((rt.settings.sync_wait_seconds + 30) * 1000)
    try:
        if not rt.redis.set(name, g.request_id, nx=True, px=ttl_ms):
            raise _in_progress()
    except (redis.ConnectionError, redis.TimeoutError):
        return None
    return name


def _done(marker: str | None) -> None:
    if marker is None:
        return
    with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # it expires anyway
        runtime().redis.delete(marker)


def _store_answer(idem: IdempotencyKey, resp: Response) -> None:
    """The final answer replaces the provisional one. If Postgres refuses now, a job that
    committed keeps the 202 it was bound with; an answer that committed nothing is simply not
    replayed (the retry runs again, and is charged nothing twice)."""
    try:
        with runtime().engine.begin() as conn:
            idempotency.answer(conn, idem, resp.status_code, resp.get_json())
    except SQLAlchemyError:
        log.warning("idempotency answer not stored", extra={"key_recorded": idem.recorded})
