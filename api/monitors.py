"""The Monitors API: products kept fresh on a schedule, and what changed as events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, ValidationError

from api.auth import requires_key, runtime
from api.body import json_object
from api.docs import doc
from api.idempotency import idempotent
from freshet import monitors
from freshet.errors import BadRequest, PaymentRequired
from schemas.common import ErrorSchema
from schemas.monitors import (
    ListQuery,
    MonitorCreate,
    MonitorListSchema,
    MonitorPatch,
    MonitorRejected,
    MonitorRunSchema,
    MonitorSchema,
)

bp = Blueprint("monitors", __name__)
_create, _patch, _query = MonitorCreate(), MonitorPatch(), ListQuery()


def _load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
        return loaded
    except ValidationError as exc:
        raise BadRequest(
            f"Invalid request: {exc.messages}", title="Invalid request", code="bad_request"
        ) from None


def _out_of_tokens() -> PaymentRequired:
    return PaymentRequired(
        "Not enough tokens left this month to refresh every target of this monitor; wait for "
        "the monthly reset or remove targets.",
        title="Payment required",
        code="payment_required",
    )


@bp.post("/v1/monitors")
@doc(
    "Create a monitor: products kept fresh on a schedule, changes as events",
    tag="monitors",
    body=MonitorCreate,
    responses={
        201: MonitorSchema,
        400: MonitorRejected,
        401: ErrorSchema,
        403: ErrorSchema,
        422: ErrorSchema,
    },
    description="Targets take the batch shapes ({uuid}, {url}, {catalog, url}, {catalog, "
    "uuid}) and product ids ({id}), resolved with the batch rules; rejected ones are listed "
    "and the rest accepted (400 when none is). The first run starts at once and records the "
    "baseline; each run refreshes every target as a batch target, at its price.",
)
@requires_key
@idempotent
def create() -> tuple[Response, int]:
    rt, p = runtime(), g.principal
    body, status = monitors.create(rt, p, _load(_create, json_object()), g.request_id)
    if status == 201:
        # The baseline now, at the usual price; if the month cannot pay for it, beat's pass
        # pauses the monitor with its reason instead.
        monitors.run_now(
            rt,
            monitors.parse_id(body["id"]),
            p.org_id,
            p.plan.monthly_tokens,
            g.request_id,
            reschedule=True,
        )
        with rt.engine.connect() as conn:
            fresh = monitors.view(conn, monitors.parse_id(body["id"]), p.org_id) or body
        body = fresh | {"accepted": body["accepted"], "rejected": body["rejected"]}
    return jsonify(body), status


@bp.get("/v1/monitors")
@doc(
    "The organization's monitors, oldest first",
    tag="monitors",
    query=ListQuery,
    responses={200: MonitorListSchema, 400: ErrorSchema, 401: ErrorSchema},
)
@requires_key(reads=True)
def list_all() -> Response:
    q = _load(_query, request.args)
    with runtime().engine.connect() as conn:
        return jsonify(
            monitors.list_monitors(conn, g.principal.org_id, limit=q["limit"], cursor=q["cursor"])
        )


@bp.get("/v1/monitors/<monitor_id>")
@doc(
    "A monitor: targets with their last observation, next run, last error, deliveries",
    tag="monitors",
    responses={200: MonitorSchema, 401: ErrorSchema, 404: ErrorSchema},
)
@requires_key(reads=True)
def show(monitor_id: str) -> Response:
    with runtime().engine.connect() as conn:
        found = monitors.view(conn, monitors.parse_id(monitor_id), g.principal.org_id)
    if found is None:
        raise monitors.not_found()
    return jsonify(found)


@bp.patch("/v1/monitors/<monitor_id>")
@doc(
    "Change a monitor (interval, events, callbackUrl, name), pause or resume it",
    tag="monitors",
    body=MonitorPatch,
    responses={
        200: MonitorSchema,
        400: ErrorSchema,
        401: ErrorSchema,
        404: ErrorSchema,
        422: ErrorSchema,
    },
    description='`"paused": false` resumes a monitor (also one paused for lack of tokens): '
    "it runs once at once, however many runs it missed.",
)
@requires_key(reads=True)
def patch(monitor_id: str) -> Response:
    mid = monitors.parse_id(monitor_id)
    found = monitors.update(runtime(), mid, g.principal.org_id, _load(_patch, json_object()))
    if found is None:
        raise monitors.not_found()
    return jsonify(found)


@bp.delete("/v1/monitors/<monitor_id>")
@doc(
    "Delete a monitor (its events stay until retention drops them)",
    tag="monitors",
    responses={204: None, 401: ErrorSchema, 404: ErrorSchema},
)
@requires_key(reads=True)
def delete(monitor_id: str) -> tuple[str, int]:
    if not monitors.delete(runtime(), monitors.parse_id(monitor_id), g.principal.org_id):
        raise monitors.not_found()
    return "", 204


@bp.post("/v1/monitors/<monitor_id>/run")
@doc(
    "Check now: every target refreshed at once, at the usual price",
    tag="monitors",
    responses={202: MonitorRunSchema, 401: ErrorSchema, 402: ErrorSchema, 404: ErrorSchema},
)
@requires_key
@idempotent
def run(monitor_id: str) -> tuple[Response, int]:
    rt, p = runtime(), g.principal
    mid = monitors.parse_id(monitor_id)
    try:
        ids = monitors.run_now(rt, mid, p.org_id, p.plan.monthly_tokens, g.request_id)
    except LookupError:
        raise monitors.not_found() from None
    if not ids:
        raise _out_of_tokens()
    return jsonify(
        {
            "monitorId": str(mid),
            "jobIds": ids,
            "tokensReserved": len(ids) * rt.settings.batch_target_tokens,
        }
    ), 202
