"""The workflow resource (beyond the vendor): status, counts, per-target results. Pure."""

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.batch import LAUNCH_STATUSES, RejectedTarget
from schemas.jobs import API_STATUSES

WORKFLOW_STATUSES = ("running", "completed", "failed", "partially_failed", "cancelled")
TARGET_STATUSES = API_STATUSES


class WorkflowQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)


class Counts(Schema):
    queued = fields.Integer()
    processing = fields.Integer()
    completed = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()
    total = fields.Integer()


class TargetResult(Schema):
    index = fields.Integer(metadata={"description": "Position of the target in the request"})
    jobId = fields.Integer()
    catalog = fields.String()
    url = fields.String()
    status = fields.String(validate=validate.OneOf(TARGET_STATUSES))
    productId = fields.String(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "Why it failed"})
    errorCode = fields.String(allow_none=True)
    attempts = fields.Integer()
    startedAt = fields.DateTime(allow_none=True)
    finishedAt = fields.DateTime(allow_none=True)


class Callback(Schema):
    url = fields.String()
    status = fields.String(
        allow_none=True, metadata={"description": "pending | sending | delivered | failed"}
    )
    attempts = fields.Integer()
    deliveredAt = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


class WorkflowSchema(Schema):
    workflowId = fields.String(required=True)
    requestId = fields.String()
    status = fields.String(required=True, validate=validate.OneOf(WORKFLOW_STATUSES))
    submitted = fields.Integer()
    acceptedCount = fields.Integer()
    rejectedCount = fields.Integer()
    counts = fields.Nested(Counts)
    createdAt = fields.DateTime()
    updatedAt = fields.DateTime()
    launchedAt = fields.DateTime(allow_none=True)
    finishedAt = fields.DateTime(allow_none=True)
    cancelledAt = fields.DateTime(allow_none=True)
    workflowStatus = fields.String(validate=validate.OneOf(LAUNCH_STATUSES))
    workflowAttempts = fields.Integer()
    workflowError = fields.String(allow_none=True)
    rejected = fields.List(fields.Nested(RejectedTarget))
    callback = fields.Nested(Callback, allow_none=True)
    targets = fields.List(fields.Nested(TargetResult))
    nextCursor = fields.String(allow_none=True)
