"""The job lifecycle: submit, claim, finish, requeue, cancel — each a conditional update.

Celery delivers at least once; these make the effect happen once. The attempt number taken at
claim is the fencing token: only the holder of the current attempt may finish the job.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Connection, func, select, text, update

from freshet import accounts
from freshet.runtime import Dispatch, JobKind, Runtime
from store.tables import jobs

log = logging.getLogger("freshet.jobs")

TERMINAL = ("completed", "failed", "cancelled")


def new_request_id() -> str:
    return str(uuid.uuid4())


def allocate_ids(conn: Connection, n: int = 1) -> list[int]:
    rows = conn.execute(text("SELECT nextval('jobs_id_seq') FROM generate_series(1, :n)"), {"n": n})
    return [int(r[0]) for r in rows]


def insert(conn: Connection, kind: JobKind, **values: Any) -> None:
    conn.execute(jobs.insert().values(kind=kind.name, queue=kind.queue, **values))


def get(conn: Connection, job_id: int, org_id: int | None = None) -> dict[str, Any] | None:
    q = select(jobs).where(jobs.c.id == job_id)
    if org_id is not None:
        q = q.where(jobs.c.org_id == org_id)
    row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def status_of(conn: Connection, job_id: int) -> str | None:
    return conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()


def mark_dispatched(conn: Connection, job_ids: list[int], delay: float = 0.0) -> None:
    if job_ids:
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(job_ids), jobs.c.status == "queued")
            .values(dispatched_at=func.now() + dt.timedelta(seconds=delay))
        )


def claim(conn: Connection, job_id: int, lease_seconds: int) -> dict[str, Any] | None:
    """queued → running with attempt + 1. None: someone else has it, or it is over."""
    row = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == "queued", jobs.c.leader_job_id.is_(None))
        .values(
            status="running",
            attempt=jobs.c.attempt + 1,
            lease_until=func.now() + dt.timedelta(seconds=lease_seconds),
            started_at=func.coalesce(jobs.c.started_at, func.now()),
            updated_at=func.now(),
        )
        .returning(*jobs.c)
    ).first()
    return dict(row._mapping) if row else None


def finish(
    conn: Connection,
    job_id: int,
    attempt: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    error_code: str | None = None,
) -> bool:
    """running → completed|failed for the holder of `attempt` only, settling its ledger."""
    assert status in ("completed", "failed")
    res = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.status == "running")
        .values(
            status=status,
            result=result,
            error=error,
            error_code=error_code,
            lease_until=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )
    if res.rowcount != 1:
        return False
    accounts.settle(conn, job_id, charge=status == "completed")
    return True


def fail_queued(conn: Connection, job_id: int, error: str, error_code: str) -> bool:
    """Fail a job that never ran (or ran out of attempts between runs)."""
    res = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
        .values(
            status="failed",
            error=error,
            error_code=error_code,
            lease_until=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )
    if res.rowcount != 1:
        return False
    accounts.settle(conn, job_id, charge=False)
    return True


def requeue(conn: Connection, job_id: int, attempt: int, delay: float, error: str) -> bool:
    """running → queued to be retried after `delay` s; the sweeper waits that long too."""
    res = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.status == "running")
        .values(
            status="queued",
            lease_until=None,
            error=error,
            updated_at=func.now(),
            dispatched_at=func.now() + dt.timedelta(seconds=delay),
        )
    )
    return res.rowcount == 1


def give_back(conn: Connection, job_id: int, attempt: int, delay: float, why: str) -> bool:
    """running → queued for a job its upstream host asked to wait: the attempt it took is
    given back (one more allowed), so waiting for a host never makes a job fail. The attempt
    number still only grows: it stays the fencing token."""
    res = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.status == "running")
        .values(
            status="queued",
            lease_until=None,
            max_attempts=jobs.c.max_attempts + 1,
            error=why,
            updated_at=func.now(),
            dispatched_at=func.now() + dt.timedelta(seconds=delay),
        )
    )
    return res.rowcount == 1


def extend_lease(conn: Connection, job_id: int, attempt: int, lease_seconds: int) -> bool:
    res = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.status == "running")
        .values(lease_until=func.now() + dt.timedelta(seconds=lease_seconds))
    )
    return res.rowcount == 1


def cancel(
    conn: Connection,
    job_id: int,
    org_id: int | None = None,
    reason: str = "cancelled by the caller",
) -> dict[str, Any] | None:
    """Mark an open job cancelled (durably) and refund it. None if it was not open."""
    q = update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
    if org_id is not None:
        q = q.where(jobs.c.org_id == org_id)
    row = conn.execute(
        q.values(
            status="cancelled",
            error=reason,
            error_code="cancelled",
            lease_until=None,
            finished_at=func.now(),
            updated_at=func.now(),
        ).returning(*jobs.c)
    ).first()
    if row is None:
        return None
    accounts.settle(conn, job_id, charge=False)
    return dict(row._mapping)


def open_job_ids_by_org(conn: Connection, kind: str) -> dict[int, list[int]]:
    rows = conn.execute(
        select(jobs.c.org_id, jobs.c.id).where(
            jobs.c.kind == kind, jobs.c.status.in_(("queued", "running"))
        )
    )
    out: dict[int, list[int]] = {}
    for org_id, job_id in rows:
        out.setdefault(int(org_id), []).append(int(job_id))
    return out


def open_counted_job_ids_by_org(conn: Connection) -> dict[int, list[int]]:
    """Open jobs of the kinds their organization's plan counts against concurrent_jobs."""
    rows = conn.execute(
        text(
            "SELECT j.org_id, j.id FROM jobs j JOIN organizations o ON o.id = j.org_id "
            "JOIN plans p ON p.name = o.plan WHERE j.status IN ('queued', 'running') "
            "AND j.kind = ANY(p.concurrency_kinds) AND j.leader_job_id IS NULL"
        )
    )
    out: dict[int, list[int]] = {}
    for org_id, job_id in rows:
        out.setdefault(int(org_id), []).append(int(job_id))
    return out


def statuses(conn: Connection, job_ids: list[int]) -> dict[int, str]:
    """The status of each of these jobs that exists."""
    if not job_ids:
        return {}
    rows = conn.execute(select(jobs.c.id, jobs.c.status).where(jobs.c.id.in_(job_ids)))
    return {int(i): str(st) for i, st in rows}


def ended_among(conn: Connection, job_ids: list[int]) -> set[int]:
    """Which of these jobs are known to have ended (completed, failed or cancelled)."""
    return {i for i, st in statuses(conn, job_ids).items() if st in TERMINAL}


def publish_after_commit(rt: Runtime, dispatches: list[Dispatch], *, marked: bool = False) -> bool:
    """Publish committed jobs; a failure is logged and left to the sweeper, never raised.
    `marked`: the jobs were inserted with `dispatched_at` set (the publish recorded in the
    submit, no second transaction); a failed publish clears it so the sweeper sends them."""
    ids = [d.job_id for d in dispatches]
    try:
        rt.publisher.publish(dispatches)
    except Exception:
        log.exception("publish failed; the sweeper will send these jobs", extra={"job_ids": ids})
        if marked:
            try:
                with rt.engine.begin() as conn:
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_(ids), jobs.c.status == "queued")
                        .values(dispatched_at=None)
                    )
            except Exception:  # then the sweeper sends them as "lost" after its longer wait
                log.warning("could not unmark jobs", exc_info=True, extra={"job_ids": ids})
        return False
    if marked:
        return True
    try:
        with rt.engine.begin() as conn:
            mark_dispatched(conn, ids)
    except Exception:
        # The jobs are committed and sent: the caller must hear 202. Unmarked, the sweeper
        # sends them once more, and the duplicate delivery is dropped at claim.
        log.warning("could not mark jobs dispatched", exc_info=True, extra={"job_ids": ids})
    return True
