"""Reading jobs by page: an organization's (or, for operators, everyone's) newest first,
filtered by kind, status and age, and the jobs one request made."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select

from freshet.pagination import decode_cursor, encode_cursor
from store.tables import jobs, organizations

MAX_PAGE = 200


def page(
    conn: Connection,
    org_id: int | None,
    *,
    kinds: tuple[str, ...] = (),
    status: str | None = None,
    within: dt.timedelta | None = None,
    asin: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """(jobs newest first with their organization's name, the next page's cursor or None).

    `org_id=None` is every organization's (operators only)."""
    limit = max(1, min(limit, MAX_PAGE))
    q = (
        select(jobs, organizations.c.name.label("org"))
        .join(organizations, organizations.c.id == jobs.c.org_id)
        .order_by(jobs.c.id.desc())
        .limit(limit + 1)
    )
    if org_id is not None:
        q = q.where(jobs.c.org_id == org_id)
    if kinds:
        q = q.where(jobs.c.kind.in_(kinds))
    if status:
        q = q.where(jobs.c.status == status)
    if asin:
        q = q.where(jobs.c.asin == asin)
    if within is not None:
        q = q.where(jobs.c.updated_at > func.now() - within)
    if cursor:
        q = q.where(jobs.c.id < decode_cursor("j", cursor))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor("j", rows[-1]["id"]) if more and rows else None


def by_request_id(conn: Connection, request_id: str, org_id: int | None) -> list[int]:
    """Ids of the jobs one request made (the X-Request-Id / requestId it answered with)."""
    q = select(jobs.c.id).where(jobs.c.request_id == request_id).order_by(jobs.c.id).limit(50)
    if org_id is not None:
        q = q.where(jobs.c.org_id == org_id)
    return [int(r[0]) for r in conn.execute(q)]
