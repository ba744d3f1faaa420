"""Batch refresh (Octogen's dialect): the request's validation, reported the vendor's way as a
list of `{"loc", "msg", "type"}` items, and the response shapes for the docs. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate

from schemas.common import ErrorSchema

MAX_TARGETS = 500
TARGET_KEYS = ("url", "uuid", "catalog")
REQUEST_KEYS = ("targets", "callbackUrl")
MAX_REPORTED = 50  # a body with thousands of bad targets gets the first fifty, not a novel
LAUNCH_STATUSES = ("pending", "launching", "launched", "retry_pending")


@dataclass(frozen=True)
class BatchRequest:
    targets: list[dict[str, str]]  # each with only the non-null keys of TARGET_KEYS
    callback_url: str | None


class RequestInvalid(ValueError):
    """The body breaks the schema; `detail` is the vendor's validation array."""

    def __init__(self, detail: list[dict[str, Any]]):
        super().__init__(detail[0]["msg"] if detail else "invalid request")
        self.detail = detail


def problem(loc: list[str | int], msg: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": type_, **extra}


def _string(
    errors: list[dict[str, Any]], loc: list[str | int], value: Any, *, nullable: bool = True
) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        errors.append(problem(loc, "Input should be a valid string", "string_type", input=value))
    elif not value:
        errors.append(
            problem(
                loc,
                "String should have at least 1 character",
                "string_too_short",
                input=value,
                ctx={"min_length": 1},
            )
        )


def _target(errors: list[dict[str, Any]], i: int, value: Any) -> dict[str, str] | None:
    loc: list[str | int] = ["targets", i]
    if not isinstance(value, dict):
        errors.append(
            problem(
                loc,
                "Input should be a valid dictionary or object to extract fields from",
                "model_attributes_type",
                input=value,
            )
        )
        return None
    before = len(errors)
    for key in value:
        if key not in TARGET_KEYS:
            errors.append(
                problem(
                    [*loc, key],
                    "Extra inputs are not permitted",
                    "extra_forbidden",
                    input=value[key],
                )
            )
    for key in TARGET_KEYS:
        _string(errors, [*loc, key], value.get(key))
    if len(errors) > before:
        return None
    if (value.get("url") is None) == (value.get("uuid") is None):
        errors.append(
            problem(
                loc,
                "Value error, every target must contain exactly one of url "
                "or uuid (add catalog to pin it to one catalog)",
                "value_error",
                input=value,
            )
        )
        return None
    return {k: value[k] for k in TARGET_KEYS if value.get(k) is not None}


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        pos = getattr(exc, "pos", 0)
        raise RequestInvalid(
            [problem([pos], "JSON decode error", "json_invalid", ctx={"error": str(exc)[:200]})]
        ) from None


def load_request(body: Any) -> BatchRequest:
    """The validated request, or RequestInvalid listing what breaks the schema."""
    if not isinstance(body, dict):
        raise RequestInvalid(
            [
                {
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "type": "model_attributes_type",
                }
            ]
        )
    errors: list[dict[str, Any]] = []
    for key in body:
        if key not in REQUEST_KEYS:
            errors.append(problem([key], "Extra inputs are not permitted", "extra_forbidden"))
    _string(errors, ["callbackUrl"], body.get("callbackUrl"))
    targets: list[dict[str, str]] = []
    raw = body.get("targets")
    if "targets" not in body:
        errors.append(problem(["targets"], "Field required", "missing"))
    elif not isinstance(raw, list):
        errors.append(problem(["targets"], "Input should be a valid list", "list_type"))
    elif not raw:
        errors.append(
            problem(
                ["targets"],
                "List should have at least 1 item after validation, not 0",
                "too_short",
                ctx={"field_type": "List", "min_length": 1, "actual_length": 0},
            )
        )
    elif len(raw) > MAX_TARGETS:
        errors.append(
            problem(
                ["targets"],
                f"List should have at most {MAX_TARGETS} items after "
                f"validation, not {len(raw)}; split the batch",
                "too_long",
                ctx={"field_type": "List", "max_length": MAX_TARGETS, "actual_length": len(raw)},
            )
        )
    else:
        for i, value in enumerate(raw):
            target = _target(errors, i, value)
            if target is not None:
                targets.append(target)
            if len(errors) >= MAX_REPORTED:
                break
    if errors:
        raise RequestInvalid(errors[:MAX_REPORTED])
    return BatchRequest(targets=targets, callback_url=body.get("callbackUrl"))


# response shapes (documentation; the domain builds the dicts) ------------------------------
class RefreshTarget(Schema):
    url = fields.String(allow_none=True)
    uuid = fields.String(allow_none=True)
    catalog = fields.String(allow_none=True)


class ProductRefreshRequest(Schema):
    targets = fields.List(
        fields.Nested(RefreshTarget), required=True, validate=validate.Length(1, MAX_TARGETS)
    )
    callbackUrl = fields.String(
        metadata={
            "description": "Receives a signed summary when the workflow finishes "
            "(see Freshet-Signature)"
        }
    )


class AcceptedTarget(Schema):
    catalog = fields.String(required=True)
    url = fields.String(required=True)


class RejectedTarget(Schema):
    target = fields.Nested(RefreshTarget, required=True)
    code = fields.String(
        required=True,
        metadata={
            "description": "product_not_found | ambiguous_url | url_not_in_catalog | invalid_url | "
            "duplicate_target"
        },
    )
    message = fields.String(required=True)


class ProductRefreshResponse(Schema):
    requestId = fields.String(required=True)
    submitted = fields.Integer(required=True)
    workflowId = fields.String(allow_none=True)
    workflowError = fields.String(allow_none=True)
    workflowStatus = fields.String(allow_none=True, validate=validate.OneOf(LAUNCH_STATUSES))
    workflowAttempts = fields.Integer()
    accepted = fields.List(fields.Nested(AcceptedTarget), required=True)
    rejected = fields.List(fields.Nested(RejectedTarget), required=True)


class ValidationProblem(Schema):
    loc = fields.List(fields.Raw(), required=True)
    msg = fields.String(required=True)
    type = fields.String(required=True)
    # what problem() adds, FastAPI-style: the offending value and the rule's parameters
    input = fields.Raw(allow_none=True)
    ctx = fields.Dict()


class BatchValidationError(ErrorSchema):
    detail = fields.List(fields.Nested(ValidationProblem), required=True)


class BatchError(ErrorSchema):
    detail = fields.String(
        required=True,
        metadata={
            "description": "catalog_not_granted | rate_limit_exceeded | product_refresh_unavailable"
        },
    )
