"""Reading a workflow: its status, counts per job status, and per-target results by page."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, text

from freshet.pagination import decode_cursor, encode_cursor
from schemas.jobs import STATUS_WORDS

MAX_FAILURES_IN_SUMMARY = 100


def parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def load(conn: Connection, workflow_id: uuid.UUID, org_id: int | None) -> Any | None:
    q = "SELECT * FROM workflows WHERE id = :w"
    if org_id is not None:
        q += " AND org_id = :o"
    return conn.execute(text(q), {"w": workflow_id, "o": org_id}).first()


def counts(conn: Connection, workflow_id: uuid.UUID) -> dict[str, int]:
    out = dict.fromkeys(STATUS_WORDS.values(), 0)
    for status, n in conn.execute(
        text("SELECT status, count(*) FROM jobs WHERE workflow_id = :w GROUP BY status"),
        {"w": workflow_id},
    ):
        out[STATUS_WORDS[status]] += n
    out["total"] = sum(out.values())
    return out


_SELECT_TARGETS = (
    "SELECT j.target_index, j.id, c.slug, j.url, j.status, j.product_id, j.error, "
    "j.error_code, j.attempt, j.started_at, j.finished_at FROM jobs j "
    "JOIN catalogs c ON c.id = j.catalog_id WHERE j.workflow_id = :w "
)
_PAGE = text(_SELECT_TARGETS + "AND j.target_index > :after ORDER BY j.target_index LIMIT :n")
_FAILED = text(_SELECT_TARGETS + "AND j.status <> 'completed' ORDER BY j.target_index LIMIT :n")


def target_json(r: Any) -> dict[str, Any]:
    return {
        "index": r.target_index,
        "jobId": r.id,
        "catalog": r.slug,
        "url": r.url,
        "status": STATUS_WORDS[r.status],
        "productId": str(r.product_id) if r.product_id else None,
        "error": r.error if r.status != "completed" else None,
        "errorCode": r.error_code if r.status != "completed" else None,
        "attempts": r.attempt,
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
    }


def view(
    conn: Connection,
    workflow_id: uuid.UUID,
    org_id: int | None,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any] | None:
    wf = load(conn, workflow_id, org_id)
    if wf is None:
        return None
    after = decode_cursor("t", cursor) if cursor else -1
    rows = conn.execute(_PAGE, {"w": workflow_id, "after": after, "n": limit + 1}).all()
    page, more = rows[:limit], len(rows) > limit
    return {
        **summary_fields(conn, wf),
        "workflowStatus": wf.launch_status,
        "workflowAttempts": wf.launch_attempts,
        "workflowError": wf.launch_error,
        "launchedAt": wf.launched_at,
        "cancelledAt": wf.cancelled_at,
        "updatedAt": wf.updated_at,
        "rejected": wf.rejected,
        "callback": None
        if not wf.callback_url
        else {
            "url": wf.callback_url,
            "status": wf.webhook_status,
            "attempts": wf.webhook_attempts,
            "deliveredAt": wf.webhook_delivered_at,
            "error": wf.webhook_error,
        },
        "targets": [target_json(r) for r in page],
        "nextCursor": encode_cursor("t", page[-1].target_index) if more else None,
    }


def summary_fields(conn: Connection, wf: Any) -> dict[str, Any]:
    return {
        "workflowId": str(wf.id),
        "requestId": wf.request_id,
        "status": wf.status,
        "submitted": wf.submitted,
        "acceptedCount": wf.accepted,
        "rejectedCount": len(wf.rejected or []),
        "counts": counts(conn, wf.id),
        "createdAt": wf.created_at,
        "finishedAt": wf.finished_at,
    }


def webhook_summary(conn: Connection, workflow_id: uuid.UUID) -> dict[str, Any] | None:
    """What a finished workflow's webhook says: its summary and its failed targets."""
    wf = load(conn, workflow_id, None)
    if wf is None:
        return None
    failed = conn.execute(_FAILED, {"w": workflow_id, "n": MAX_FAILURES_IN_SUMMARY + 1}).all()
    return {
        "event": "workflow.finished",
        **summary_fields(conn, wf),
        "failures": [target_json(r) for r in failed[:MAX_FAILURES_IN_SUMMARY]],
        "failuresTruncated": len(failed) > MAX_FAILURES_IN_SUMMARY,
        "statusUrl": f"/v1/workflows/{wf.id}",
    }


# listings (the console) ---------------------------------------------------------------------
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LIST = (
    "SELECT w.*, o.name AS org FROM workflows w JOIN organizations o ON o.id = w.org_id "
    "WHERE (CAST(:o AS bigint) IS NULL OR w.org_id = :o) "
    "AND w.created_at < timestamptz 'epoch' + CAST(:before AS bigint) * interval '1 microsecond' "
    "ORDER BY w.created_at DESC, w.id DESC LIMIT :n"
)


def listing(
    conn: Connection, org_id: int | None, *, limit: int = 25, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """(workflows newest first, each its summary and organization; the next cursor or None).

    `org_id=None` is every organization's (operators only). The cursor is the last row's
    creation time in whole microseconds (each workflow is created in its own transaction)."""
    before = decode_cursor("w", cursor) if cursor else 2**62
    rows = conn.execute(text(_LIST), {"o": org_id, "before": before, "n": limit + 1}).all()
    page, more = rows[:limit], len(rows) > limit
    out = [{**summary_fields(conn, wf), "org": wf.org} for wf in page]
    nxt = None
    if more and page:
        nxt = encode_cursor("w", (page[-1].created_at - _EPOCH) // dt.timedelta(microseconds=1))
    return out, nxt


def by_request_id(conn: Connection, request_id: str, org_id: int | None) -> uuid.UUID | None:
    """The workflow a batch request made (its requestId), if any."""
    q = "SELECT id FROM workflows WHERE request_id = :r"
    if org_id is not None:
        q += " AND org_id = :o"
    found = conn.execute(text(q + " LIMIT 1"), {"r": request_id, "o": org_id}).scalar()
    return found if isinstance(found, uuid.UUID) else None
