"""Monthly tokens and review-job quotas. The Postgres ledger is the truth.

A reservation is a conditional UPDATE in the submit transaction; the job's completion charges
it and its failure refunds it, each at most once (unique ledger indexes enforce that).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert

from store.tables import ledger, usage_periods

COLUMNS = {"tokens": "tokens_used", "review_jobs": "review_jobs_used"}


def current_period(now: dt.datetime | None = None) -> dt.date:
    now = now or dt.datetime.now(dt.UTC)
    return dt.date(now.year, now.month, 1)


def next_period_start(now: dt.datetime | None = None) -> dt.datetime:
    p = current_period(now)
    nxt = dt.date(p.year + (p.month == 12), p.month % 12 + 1, 1)
    return dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)


def used(conn: Connection, org_id: int, period: dt.date | None = None) -> dict[str, int]:
    row = conn.execute(
        select(usage_periods.c.tokens_used, usage_periods.c.review_jobs_used).where(
            usage_periods.c.org_id == org_id, usage_periods.c.period == (period or current_period())
        )
    ).first()
    return {"tokens": row[0] if row else 0, "review_jobs": row[1] if row else 0}


def ensure_period(conn: Connection, org_id: int, period: dt.date) -> None:
    """The organization's row for the month, created if missing (concurrent callers wait)."""
    conn.execute(
        insert(usage_periods).values(org_id=org_id, period=period).on_conflict_do_nothing()
    )


def take_bulk(
    conn: Connection, *, org_id: int, resource: str, amount: int, limit: int, period: dt.date
) -> bool:
    """The conditional take alone, for a caller that writes its own per-job ledger rows in
    bulk in the same transaction (a batch)."""
    conn.execute(
        insert(usage_periods).values(org_id=org_id, period=period).on_conflict_do_nothing()
    )
    col = COLUMNS[resource]
    res = conn.execute(
        text(
            f"UPDATE usage_periods SET {col} = {col} + :amount "  # noqa: S608 (fixed names)
            f"WHERE org_id = :org AND period = :period AND {col} + :amount <= :limit"
        ),
        {"amount": amount, "org": org_id, "period": period, "limit": limit},
    )
    return res.rowcount == 1


def _take_and_record(
    conn: Connection,
    *,
    org_id: int,
    resource: str,
    amount: int,
    limit: int,
    job_id: int | None,
    request_id: str | None,
    period: dt.date,
) -> int | None:
    """One statement: the conditional take and its ledger row. The month's use after it, or
    None when the take would pass the limit (or the month has no row yet)."""
    col = COLUMNS[resource]
    row = conn.execute(
        text(
            f"WITH upd AS (UPDATE usage_periods SET {col} = {col} + :amount "  # noqa: S608
            f"WHERE org_id = :org AND period = :period AND {col} + :amount <= :limit "
            f"RETURNING {col} AS used), "
            "led AS (INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, "
            "amount) SELECT :org, :period, :job, :rid, :resource, :kind, :amount FROM upd) "
            "SELECT used FROM upd"
        ),
        {
            "amount": amount,
            "org": org_id,
            "period": period,
            "limit": limit,
            "job": job_id,
            "rid": request_id,
            "resource": resource,
            "kind": "reserve" if job_id is not None else "charge",
        },
    ).first()
    return None if row is None else int(row[0])


def take(
    conn: Connection,
    *,
    org_id: int,
    resource: str,
    amount: int,
    limit: int,
    job_id: int | None,
    request_id: str | None = None,
) -> int | None:
    """Take `amount` if the month's use stays within `limit`, recording it in the ledger.

    Returns the month's use after the take, or None (nothing written) when it would pass the
    limit. Usually one round trip; the first take of a month adds the month's row.
    """
    period = current_period()
    take_and_record = functools.partial(
        _take_and_record,
        conn,
        org_id=org_id,
        resource=resource,
        amount=amount,
        limit=limit,
        job_id=job_id,
        request_id=request_id,
        period=period,
    )
    used_after = take_and_record()
    if used_after is None:
        # Over the limit, or the month's row is missing (or being created by a concurrent
        # transaction: this insert waits for it). Ensure the row, then try once more.
        conn.execute(
            insert(usage_periods).values(org_id=org_id, period=period).on_conflict_do_nothing()
        )
        used_after = take_and_record()
    return used_after


def reserve(
    conn: Connection,
    *,
    org_id: int,
    resource: str,
    amount: int,
    limit: int,
    job_id: int | None,
    request_id: str | None = None,
) -> bool:
    """Take `amount` if the month's use stays within `limit`; False (nothing written) if not."""
    return (
        take(
            conn,
            org_id=org_id,
            resource=resource,
            amount=amount,
            limit=limit,
            job_id=job_id,
            request_id=request_id,
        )
        is not None
    )


def charge_now(
    conn: Connection, *, org_id: int, amount: int, limit: int, request_id: str
) -> int | None:
    """A charge with no job behind it (a cached answer), taken and recorded in one statement.
    Returns the month's token use after it, or None when the tokens do not suffice."""
    return take(
        conn,
        org_id=org_id,
        resource="tokens",
        amount=amount,
        limit=limit,
        job_id=None,
        request_id=request_id,
    )


# Every reservation of a job settled at once: the charge (or refund) rows, unique per job and
# resource so a second settle writes nothing, the reservations marked settled (so the
# sweeper's ix_ledger_unsettled holds only open ones), and on a refund the month's counters
# given back by what was refunded now. The partial indexes' predicates are literals: as bound
# parameters Postgres could not match them once psycopg prepares the statement.
_SETTLE = text(
    """
WITH res AS (
  SELECT org_id, period, resource, amount, request_id FROM ledger
  WHERE job_id = :job AND kind = 'reserve'),
mark AS (
  UPDATE ledger SET settled_at = now()
  WHERE job_id = :job AND kind = 'reserve' AND settled_at IS NULL),
ins AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT org_id, period, :job, request_id, resource, :kind, amount FROM res
  ON CONFLICT (job_id, resource) WHERE job_id IS NOT NULL AND kind <> 'reserve' DO NOTHING
  RETURNING org_id, period, resource, amount),
back AS (
  UPDATE usage_periods u SET
    tokens_used = GREATEST(u.tokens_used - (SELECT coalesce(sum(i.amount), 0) FROM ins i
      WHERE i.resource = 'tokens' AND i.org_id = u.org_id AND i.period = u.period), 0),
    review_jobs_used = GREATEST(u.review_jobs_used - (SELECT coalesce(sum(i.amount), 0)
      FROM ins i WHERE i.resource = 'review_jobs' AND i.org_id = u.org_id
      AND i.period = u.period), 0)
  WHERE CAST(:refund AS boolean) AND (u.org_id, u.period) IN (SELECT org_id, period FROM ins))
SELECT count(*) FROM ins
"""
)


def settle(conn: Connection, job_id: int, *, charge: bool) -> int:
    """Charge (success) or refund (failure) every reservation of the job, once, in one
    statement. Returns the rows written (0 when it was settled already)."""
    written = conn.execute(
        _SETTLE, {"job": job_id, "kind": "charge" if charge else "refund", "refund": not charge}
    ).scalar()
    return int(written or 0)


# Reads ix_ledger_unsettled: the reservations of open jobs and of any job that ended without
# its settlement, never the settled history (literal predicate, for the partial index). The
# job's status is a correlated subquery on purpose: the planner takes "settled_at IS NULL" for
# every row that is not a settlement too (half the ledger, say) and, as a join, would merge
# the open reservations with all of jobs' primary key; as a subquery it is one probe per open
# reservation. That same estimate would pass jit_above_cost: compiling costs ~40 ms, the query
# ~2 ms, hence jit off for it.
_UNSETTLED = text(
    "SELECT DISTINCT l.job_id FROM ledger l "
    "WHERE l.kind = 'reserve' AND l.settled_at IS NULL "
    "AND (SELECT j.status FROM jobs j WHERE j.id = l.job_id) "
    "IN ('completed', 'failed', 'cancelled') ORDER BY l.job_id LIMIT :n"
)


def charge_ctes(done: str) -> str:
    """`settle(charge=True)` as two CTEs (`led`, `settled`), for a statement that completes
    jobs and charges them in one go: every reservation of the jobs the CTE `done` returns
    (column `id`) charged once (the same unique index skips what is charged already) and
    marked settled, as `settle` marks it. A charge gives nothing back to the month's
    counters, so this is the whole of it."""
    return (
        "led AS (INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, "  # noqa: S608 (`done` is a CTE name of ours)
        "amount) SELECT r.org_id, r.period, r.job_id, r.request_id, r.resource, 'charge', "
        f"r.amount FROM ledger r JOIN {done} d ON d.id = r.job_id WHERE r.kind = 'reserve' "
        "ON CONFLICT (job_id, resource) WHERE job_id IS NOT NULL AND kind <> 'reserve' "
        "DO NOTHING),\n"
        "settled AS (UPDATE ledger SET settled_at = now() "
        f"FROM {done} d WHERE ledger.job_id = d.id AND ledger.kind = 'reserve' "
        "AND ledger.settled_at IS NULL)"
    )


def unsettled_job_ids(conn: Connection, limit: int = 500) -> list[int]:
    """Jobs that ended (completed, failed, cancelled) with a reservation not marked settled.
    settle() on one writes what is missing and marks it, so it is not returned again. Call it
    inside a transaction (it turns jit off for the rest of it)."""
    conn.execute(text("SET LOCAL jit = off"))
    return [int(r[0]) for r in conn.execute(_UNSETTLED, {"n": limit})]


def ledger_totals(conn: Connection, org_id: int, period: dt.date | None = None) -> dict[str, Any]:
    """What the ledger says was used: reserved-and-unsettled plus charged, per resource."""
    rows = conn.execute(
        select(ledger.c.resource, ledger.c.kind, ledger.c.amount, ledger.c.job_id).where(
            ledger.c.org_id == org_id, ledger.c.period == (period or current_period())
        )
    ).all()
    out: dict[str, int] = {"tokens": 0, "review_jobs": 0}
    for r in rows:
        if r.kind == "reserve" or (r.kind == "charge" and r.job_id is None):
            out[r.resource] += r.amount
        elif r.kind == "refund":
            out[r.resource] -= r.amount
    return out
