"""Workflows: the organization's batches newest first, and one batch with its counts per
status (refreshing while it runs) and per-target results with failure reasons."""

from __future__ import annotations

from typing import Any

from api.auth import runtime
from api.console.base import bp, next_url, page, page_args, scope, signed_in
from freshet import batch
from freshet.errors import NotFoundError

COUNT_ORDER = ("queued", "processing", "completed", "failed", "cancelled")


def _not_found() -> NotFoundError:
    return NotFoundError(
        "No workflow with this id exists for your organization.", title="Not found"
    )


@bp.get("/workflows")
@signed_in
def workflow_list() -> str:
    limit, cursor = page_args()
    with runtime().engine.connect() as conn:
        rows, nxt = batch.list_workflows(conn, scope(), limit=limit, cursor=cursor)
    return page("workflows.html", workflows=rows, next_url=next_url(nxt), order=COUNT_ORDER)


@bp.get("/workflows/<workflow_id>")
@signed_in
def workflow_detail(workflow_id: str) -> str:
    wid = batch.parse_id(workflow_id)
    if wid is None:
        raise _not_found()
    limit, cursor = page_args()
    with runtime().engine.connect() as conn:
        found: dict[str, Any] | None = batch.view(conn, wid, scope(), limit=limit, cursor=cursor)
    if found is None:
        raise _not_found()
    counts = found["counts"]
    done = counts["total"] - counts["queued"] - counts["processing"]
    progress = round(100 * done / counts["total"]) if counts["total"] else 100
    return page(
        "workflow.html",
        wf=found,
        order=COUNT_ORDER,
        progress=progress,
        running=found["status"] == "running",
        next_url=next_url(found["nextCursor"]),
    )
