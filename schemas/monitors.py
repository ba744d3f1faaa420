"""Monitors and events: the request bodies (validated here, pure) and the answers."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

MIN_INTERVAL, MAX_INTERVAL = 300, 7 * 86_400
MAX_TARGETS = 500
EVENT_TYPES = (
    "price_changed",
    "price_dropped",
    "price_below",
    "back_in_stock",
    "out_of_stock",
    "rating_changed",
)
DEFAULT_EVENTS = tuple(t for t in EVENT_TYPES if t != "price_below")
ALL_EVENT_TYPES = (*EVENT_TYPES, "monitor_paused")


class Interval(fields.Field[int]):
    """Seconds, as a number or a numeric string ("3600"), 300 s to 7 days."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError("interval must be a number of seconds")
        try:
            seconds = float(value)
        except ValueError:
            raise ValidationError("interval must be a number of seconds") from None
        if not (MIN_INTERVAL <= seconds <= MAX_INTERVAL) or seconds != int(seconds):
            raise ValidationError(
                f"interval must be whole seconds from {MIN_INTERVAL} to {MAX_INTERVAL} (7 days)"
            )
        return int(seconds)


class EventSpec(fields.Field[dict[str, Any]]):
    """An event type, or {"type": "price_below", "threshold": 20}."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValidationError("each event is a type name or {type, threshold}")
        if value["type"] not in EVENT_TYPES:
            raise ValidationError(f"unknown event type; one of {', '.join(EVENT_TYPES)}")
        t = value.get("threshold")
        if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or t < 0):
            raise ValidationError("threshold must be a number >= 0")
        return {"type": value["type"], "threshold": t}


def _target(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("each target is an object")
    keys = {k for k in ("url", "uuid", "id") if k in value}
    if len(keys) != 1:
        raise ValidationError("each target has exactly one of url, uuid or id")
    for k in ("url", "uuid", "id", "catalog"):
        if k in value and not (isinstance(value[k], str) and 0 < len(value[k]) <= 2048):
            raise ValidationError(f"{k} must be a non-empty string")
    if "id" in value and "catalog" in value:
        raise ValidationError("a product id target takes no catalog")


class MonitorCreate(Schema):
    class Meta:
        unknown = EXCLUDE

    targets = fields.List(
        fields.Dict(validate=_target),
        required=True,
        validate=validate.Length(min=1, max=MAX_TARGETS),
        metadata={"description": "{uuid}, {url}, {catalog, url}, {catalog, uuid} or {id}"},
    )
    interval = Interval(required=True, metadata={"description": "seconds, 300 to 604800"})
    events = fields.List(EventSpec(), load_default=None, validate=validate.Length(min=1))
    threshold = fields.Float(load_default=None, validate=validate.Range(min=0))
    callbackUrl = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def _threshold(self, data: dict[str, Any], **_: Any) -> None:
        check_threshold(data)


class MonitorPatch(Schema):
    class Meta:
        unknown = EXCLUDE

    interval = Interval()
    events = fields.List(EventSpec(), validate=validate.Length(min=1))
    threshold = fields.Float(allow_none=True, validate=validate.Range(min=0))
    callbackUrl = fields.String(allow_none=True)
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    paused = fields.Boolean()

    @validates_schema
    def _threshold(self, data: dict[str, Any], **_: Any) -> None:
        if "events" in data:
            check_threshold(data)


def check_threshold(data: dict[str, Any]) -> None:
    events = data.get("events") or []
    given = [e["threshold"] for e in events if e["threshold"] is not None]
    if (
        any(e["type"] == "price_below" for e in events)
        and not given
        and data.get("threshold") is None
    ):
        raise ValidationError({"threshold": ["price_below needs a threshold"]})


class ListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


class EventsQuery(ListQuery):
    monitor = fields.UUID(load_default=None)
    type = fields.String(load_default=None, validate=validate.OneOf(ALL_EVENT_TYPES))


class ObservationSchema(Schema):
    price = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    inStock = fields.Boolean(allow_none=True)
    rating = fields.Float(allow_none=True)
    observedAt = fields.DateTime(allow_none=True)


class MonitorTargetSchema(Schema):
    catalog = fields.String(required=True)
    url = fields.String(required=True)
    productId = fields.String(allow_none=True)
    lastObservation = fields.Nested(ObservationSchema, allow_none=True)
    lastJobId = fields.Integer(allow_none=True)
    lastError = fields.String(allow_none=True)


class DeliveryStateSchema(Schema):
    pending = fields.Integer()
    delivered = fields.Integer()
    failed = fields.Integer()
    lastDeliveredAt = fields.DateTime(allow_none=True)
    lastError = fields.String(allow_none=True)


class MonitorSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(allow_none=True)
    interval = fields.Integer(required=True)
    events = fields.List(fields.String(), required=True)
    threshold = fields.Float(allow_none=True)
    callbackUrl = fields.String(allow_none=True)
    paused = fields.Boolean(required=True)
    pausedReason = fields.String(allow_none=True)
    nextRunAt = fields.DateTime(allow_none=True)
    lastRunAt = fields.DateTime(allow_none=True)
    lastError = fields.String(allow_none=True)
    createdAt = fields.DateTime()
    updatedAt = fields.DateTime()
    targetCount = fields.Integer()
    targets = fields.List(fields.Nested(MonitorTargetSchema))
    delivery = fields.Nested(DeliveryStateSchema)
    accepted = fields.List(fields.Dict())
    rejected = fields.List(fields.Dict())


class MonitorListSchema(Schema):
    monitors = fields.List(fields.Nested(MonitorSchema), required=True)
    nextCursor = fields.String(allow_none=True)


class MonitorRunSchema(Schema):
    monitorId = fields.String(required=True)
    jobIds = fields.List(fields.Integer(), required=True)
    tokensReserved = fields.Integer()


class EventSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    monitorId = fields.String(required=True)
    productId = fields.String(allow_none=True)
    occurredAt = fields.DateTime(required=True)
    previous = fields.Dict(allow_none=True)
    current = fields.Dict(allow_none=True)


class EventListSchema(Schema):
    events = fields.List(fields.Nested(EventSchema), required=True)
    nextCursor = fields.String(allow_none=True)


class MonitorRejected(Schema):
    """All targets rejected: the monitor is not created; the batch's per-target codes."""

    error = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    accepted = fields.List(fields.Dict())
    rejected = fields.List(fields.Dict())
