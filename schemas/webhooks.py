"""The organization's webhook secret as a rotation answers it (shown this once)."""

from marshmallow import Schema, fields


class WebhookSecretSchema(Schema):
    secret = fields.String(required=True, metadata={"description": "whsec_…, shown this once"})
    previousValidUntil = fields.DateTime(
        allow_none=True,
        metadata={"description": "until when deliveries are also signed with the old secret"},
    )
    rotatedAt = fields.DateTime(required=True)
