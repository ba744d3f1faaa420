"""GET /v1/usage: plan, what is left this month, jobs in flight, every limit's remaining."""

from flask import Blueprint, Response, g, jsonify

from api.auth import requires_key, runtime
from api.docs import doc
from freshet import accounts, monitors
from schemas.common import ErrorSchema
from schemas.jobs import UsageSchema

bp = Blueprint("usage", __name__)


@bp.get("/v1/usage")
@doc(
    "The organization's plan, usage and limits",
    tag="usage",
    responses={200: UsageSchema, 401: ErrorSchema},
)
@requires_key(reads=True)
def show() -> Response:
    rt = runtime()
    body = accounts.report(rt, g.principal)
    with rt.engine.connect() as conn:
        body["monitors"] = monitors.spend(conn, g.principal.org_id, rt.settings.batch_target_tokens)
    return jsonify(body)
