"""Schemas shared by every resource: the error envelope."""

from marshmallow import Schema, fields


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "Short title"})
    code = fields.String(required=True, metadata={"description": "snake_case code"})
    message = fields.String(required=True, metadata={"description": "What to do"})
