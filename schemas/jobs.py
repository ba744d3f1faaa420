"""The job resource, in the review vendor's camelCase shape, for every kind of job."""

from marshmallow import Schema, fields, validate

# The job resource's status words: Freshet's `running` is the vendor's `processing`.
STATUS_WORDS = {
    "queued": "queued",
    "running": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
API_STATUSES = tuple(STATUS_WORDS.values())


class JobSchema(Schema):
    jobId = fields.Integer(required=True)
    kind = fields.String(metadata={"description": "reviews | product | batch_target"})
    asin = fields.String(allow_none=True)
    productTitle = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(API_STATUSES))
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)
    marketplace = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    reviewsFound = fields.Integer(allow_none=True)
    startedAt = fields.DateTime(allow_none=True)
    finishedAt = fields.DateTime(allow_none=True)
    attempt = fields.Integer()
    workflowId = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    productId = fields.String(allow_none=True)


class UsageSchema(Schema):
    organization = fields.String()
    plan = fields.Dict()
    period = fields.Dict()
    tokens = fields.Dict()
    reviewJobs = fields.Dict()
    monitors = fields.Dict(
        metadata={"description": "what the monitors will spend until the month's end"}
    )
    jobsInFlight = fields.Integer()
    jobsInFlightByKind = fields.Dict(keys=fields.String(), values=fields.Integer())
    limits = fields.Dict()
