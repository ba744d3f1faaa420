"""Idempotency-Key on POST: the same key and body replay the first answer; another body is 422."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, g, make_response, request
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from api.auth import runtime
from freshet.errors import BadRequest, Conflict, Unprocessable
from store.tables import idempotency_keys

REPLAYABLE = {200, 201, 202, 400, 402, 403, 404, 422}
# Longer than any request runs (a product refresh waits at most FRESHET_SYNC_WAIT_SECONDS).
ABANDONED_AFTER_SECONDS = 120


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
        org_id = g.principal.org_id
        route = f"{request.method} {request.path}"
        body_hash = hashlib.sha256(request.get_data(cache=True)).hexdigest()
        engine = runtime().engine
        with engine.begin() as conn:
            fresh = conn.execute(
                insert(idempotency_keys)
                .values(org_id=org_id, key=key, route=route, body_hash=body_hash)
                .on_conflict_do_nothing()
                .returning(idempotency_keys.c.key)
            ).first()
            if fresh is None:
                fresh = _take_over_abandoned(conn, org_id, key, route, body_hash)
            existing = (
                None
                if fresh
                else conn.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key
                    )
                ).first()
            )
        if existing is not None:
            return _replay(existing, route, body_hash)
        try:
            resp = make_response(fn(*args, **kwargs))
        except BaseException:
            _forget(org_id, key)
            raise
        if resp.status_code in REPLAYABLE and resp.is_json:
            with engine.begin() as conn:
                conn.execute(
                    update(idempotency_keys)
                    .where(idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key)
                    .values(status_code=resp.status_code, response=resp.get_json())
                )
        else:
            _forget(org_id, key)
        return resp

    return inner


def _take_over_abandoned(conn: Any, org_id: int, key: str, route: str, body_hash: str) -> Any:
    """The same request again, for a key whose first request never answered (its process was
    killed, or Postgres was lost before the key could be released): after a while it is taken
    over, so a client retrying with its key is not refused forever."""
    return conn.execute(
        update(idempotency_keys)
        .where(
            idempotency_keys.c.org_id == org_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.route == route,
            idempotency_keys.c.body_hash == body_hash,
            idempotency_keys.c.status_code.is_(None),
            idempotency_keys.c.created_at
            < func.now() - dt.timedelta(seconds=ABANDONED_AFTER_SECONDS),
        )
        .values(created_at=func.now())
        .returning(idempotency_keys.c.key)
    ).first()


def _replay(row: Any, route: str, body_hash: str) -> Response:
    if row.route != route or row.body_hash != body_hash:
        raise Unprocessable(
            "This Idempotency-Key was used with a different request; use a new "
            "key for a new request.",
            title="Idempotency key reused",
            code="idempotency_key_reused",
        )
    if row.status_code is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; retry.",
            title="Request in progress",
            code="idempotency_in_progress",
            retry_after=1,
        )
    resp = Response(json.dumps(row.response), status=row.status_code, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _forget(org_id: int, key: str) -> None:
    try:
        with runtime().engine.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key
                )
            )
    except Exception:  # noqa: S110 - the key then simply stays reserved; it never replays wrong
        pass
