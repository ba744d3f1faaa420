"""POST /v1/webhooks/secret/rotate: the organization rotates its own webhook secret."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, g, jsonify

from api.auth import requires_key, runtime
from api.docs import doc
from freshet import accounts
from schemas.common import ErrorSchema
from schemas.webhooks import WebhookSecretSchema

bp = Blueprint("webhooks", __name__)
_secret = WebhookSecretSchema()


@bp.post("/v1/webhooks/secret/rotate")
@doc(
    "Rotate the organization's webhook signing secret",
    tag="webhooks",
    responses={200: WebhookSecretSchema, 401: ErrorSchema},
    description="Answers the new secret once (an Idempotency-Key is not replayed here: "
    "the answer holds a secret Freshet keeps only sealed; a repeat rotates again). For 24 hours deliveries carry two signatures "
    "(`v1=<new>,v1=<old>`), so receivers can switch without missing one.",
)
# Not @idempotent on purpose: a replay record would keep the new secret in clear in
# idempotency_keys. A repeated rotation rotates again; the secret before it stays valid 24 h.
@requires_key(reads=True)
def rotate() -> Response:
    rt = runtime()
    with rt.engine.begin() as conn:
        secret, until = accounts.rotate_webhook_secret(
            conn, g.principal.org_id, rt.settings.secrets_keys
        )
    return jsonify(
        _secret.dump(
            {"secret": secret, "previousValidUntil": until, "rotatedAt": dt.datetime.now(dt.UTC)}
        )
    )
