"""The workflow resource: a batch's status and per-target results, and durable cancel."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from api.auth import requires_key, runtime
from api.docs import doc
from api.idempotency import idempotent
from freshet import batch
from freshet.errors import BadRequest, Conflict, NotFoundError
from schemas.common import ErrorSchema
from schemas.workflows import WorkflowQuery, WorkflowSchema

bp = Blueprint("workflows", __name__)
_query = WorkflowQuery()
_workflow = WorkflowSchema()


def _not_found() -> NotFoundError:
    return NotFoundError(
        "No workflow with this id exists for your organization; use the "
        "workflowId a batch refresh answered with.",
        title="Workflow not found",
        code="workflow_not_found",
    )


def _workflow_id(raw: str) -> uuid.UUID:
    parsed = batch.parse_id(raw)
    if parsed is None:
        raise _not_found()
    return parsed


def _show(workflow_id: uuid.UUID, limit: int = 100, cursor: str | None = None) -> Response:
    with runtime().engine.connect() as conn:
        found = batch.view(conn, workflow_id, g.principal.org_id, limit=limit, cursor=cursor)
    if found is None:
        raise _not_found()
    return jsonify(_workflow.dump(found))


@bp.get("/v1/workflows/<workflow_id>")
@doc(
    "A batch workflow's status, counts and per-target results",
    path={"workflow_id": {"format": "uuid"}},
    tag="batch",
    query=WorkflowQuery,
    responses={200: WorkflowSchema, 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema},
)
@requires_key(reads=True)
def show(workflow_id: str) -> Response:
    wid = _workflow_id(workflow_id)
    try:
        q = _query.load(request.args)
    except ValidationError as exc:
        raise BadRequest(f"Invalid query: {exc.messages}", title="Invalid request") from None
    return _show(wid, q["limit"], q["cursor"])


@bp.post("/v1/workflows/<workflow_id>/cancel")
@doc(
    "Cancel every queued or running target of a workflow",
    path={"workflow_id": {"format": "uuid"}},
    tag="batch",
    responses={200: WorkflowSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema},
)
@requires_key(reads=True)
@idempotent
def cancel(workflow_id: str) -> Response:
    wid = _workflow_id(workflow_id)
    status = batch.cancel(runtime(), wid, g.principal.org_id)
    if status is None:
        raise _not_found()
    if status not in ("cancelled", "running"):
        raise Conflict(
            f"The workflow already finished ({status}); only a running workflow can be cancelled.",
            title="Workflow not cancellable",
            code="not_cancellable",
        )
    return _show(wid)
