"""GET /v1/events: the organization's monitor events, oldest first after a cursor."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from api.auth import requires_key, runtime
from api.docs import doc
from freshet import monitors
from freshet.errors import BadRequest
from schemas.common import ErrorSchema
from schemas.monitors import EventListSchema, EventsQuery

bp = Blueprint("events", __name__)
_query = EventsQuery()


@bp.get("/v1/events")
@doc(
    "Monitor events, oldest first after the cursor",
    tag="monitors",
    query=EventsQuery,
    responses={200: EventListSchema, 400: ErrorSchema, 401: ErrorSchema},
    description="Poll with the `nextCursor` of the last answer: it is always given (the "
    "position of the last event seen), so a poller never misses an event.",
)
@requires_key(reads=True)
def list_events() -> Response:
    try:
        q = _query.load(request.args)
    except ValidationError as exc:
        raise BadRequest(f"Invalid query: {exc.messages}", title="Invalid request") from None
    with runtime().engine.connect() as conn:
        return jsonify(
            monitors.list_events(
                conn,
                g.principal.org_id,
                cursor=q["cursor"],
                monitor=q["monitor"],
                kind=q["type"],
                limit=q["limit"],
            )
        )
