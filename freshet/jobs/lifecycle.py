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
from store.db import Executor, driver_sql, execute_prepared
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


# Every column of a job row, named: a RETURNING list that does not depend on the order the
# migrations happened to give the table.
_COLUMNS = ", ".join(c.name for c in jobs.c)

# A claim is one statement, compiled once: the job taken and read back in the same round
# trip (the runner asks nothing of Postgres before it), run straight through psycopg.
_CLAIM = driver_sql(
    text(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, "  # noqa: S608 (own column names)
        "lease_until = now() + make_interval(secs => CAST(:lease AS float8)), "
        "started_at = coalesce(started_at, now()), updated_at = now() "
        "WHERE id = :id AND status = 'queued' AND leader_job_id IS NULL "
        f"RETURNING {_COLUMNS}"
    )
)

# A claim taken back before any work was done under it (its host asked it to wait): the job
# is queued again as if it had never been claimed — the attempt it took and its first start
# given back — and marked sent `delay` s from now, so the sweeper waits that long too. The
# attempt stays a fencing token: nothing ever ran under the one given back.
_UNCLAIM = text(
    "UPDATE jobs SET status = 'queued', attempt = attempt - 1, lease_until = NULL, "
    "started_at = CASE WHEN attempt = 1 THEN NULL ELSE started_at END, updated_at = now(), "
    "dispatched_at = now() + make_interval(secs => CAST(:delay AS float8)) "
    "WHERE id = :id AND attempt = :attempt AND status = 'running'"
)


def claim(conn: Executor, job_id: int, lease_seconds: int) -> dict[str, Any] | None:
    """queued → running with attempt + 1, the row as it is now. None: someone else has it,
    it follows another job's fetch, or it is over."""
    job: dict[str, Any] | None = execute_prepared(
        conn, _CLAIM, {"id": job_id, "lease": lease_seconds}, as_dict=True
    )
    return job


def unclaim(conn: Connection, job_id: int, attempt: int, delay: float) -> bool:
    """Undo the claim of `attempt` before anything ran under it; False if it is not ours."""
    return conn.execute(_UNCLAIM, {"id": job_id, "attempt": attempt, "delay": delay}).rowcount == 1


def completion(
    store: str,
    result: str,
    product_id: str = "jobs.product_id",
    also: str = "",
    shared: str = "",
) -> str:
    """One statement (built once, at import) that stores what a job fetched, completes the
    job and charges its reservation — all of it or, when the job is no longer running under
    this attempt (cancelled, or taken over after its lease), none of it.

    `store`: CTEs that write the output, each reading the job's locked row from `me` (so
    they write nothing when the fence refuses); `result` and `product_id`: SQL for the
    job's columns, over those CTEs; `also`: more columns for the answer (`, expr AS name`);
    `shared`: a CTE `fol` after the job's own `fin` that completes more jobs with this one
    (a product leader's followers, column `id`): their reservations are charged with its.
    Parameters :job and :attempt are the fence's. The statement returns `done`: true when
    the job is completed under this attempt — by this statement, or by an earlier run of it
    whose answer a dead connection lost (the same statement run again, `Runtime.once`, then
    writes nothing and still says so). Its SQL is psycopg's (`complete` runs it straight
    through psycopg); the parts are written with `:name` parameters, as for `text()`."""
    charged = "(SELECT id FROM fin UNION ALL SELECT id FROM fol)" if shared else "fin"
    return driver_sql(
        text(
            "WITH me AS (SELECT id FROM jobs WHERE id = :job AND attempt = :attempt "  # noqa: S608 (SQL of ours, no value)
            "AND status = 'running' FOR UPDATE),\n"
            f"{store},\n"
            f"fin AS (UPDATE jobs SET status = 'completed', result = {result}, "
            f"product_id = {product_id}, error = NULL, error_code = NULL, lease_until = NULL, "
            "finished_at = now(), updated_at = now() FROM me WHERE jobs.id = me.id "
            "RETURNING jobs.id),\n"
            f"{shared + ',' if shared else ''}\n"
            f"{accounts.charge_ctes(charged)}\n"
            "SELECT EXISTS (SELECT 1 FROM fin) OR EXISTS (SELECT 1 FROM jobs WHERE id = :job "
            f"AND attempt = :attempt AND status = 'completed') AS done{also}"
        )
    )


def complete(
    conn: Executor, statement: str, job: dict[str, Any], params: dict[str, Any]
) -> Any | None:
    """Run a `completion` statement for `job`: its answer's row (a named tuple), or None when
    the fence refused (nothing stored)."""
    row = execute_prepared(conn, statement, params | {"job": job["id"], "attempt": job["attempt"]})
    return row if row is not None and row.done else None


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


_EXTEND_LEASES = text(
    "UPDATE jobs SET lease_until = now() + make_interval(secs => CAST(:lease AS float8)) "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS held(id, attempt) "
    "WHERE jobs.id = held.id AND jobs.attempt = held.attempt AND jobs.status = 'running' "
    "RETURNING jobs.id"
)


def extend_leases(conn: Connection, held: list[tuple[int, int]], lease_seconds: int) -> set[int]:
    """Renew the lease of each (job id, attempt) still running under that attempt, in one
    statement; the ids renewed."""
    if not held:
        return set()
    held = sorted(held)  # one lock order for every renewal
    rows = conn.execute(
        _EXTEND_LEASES,
        {
            "ids": [job_id for job_id, _ in held],
            "attempts": [attempt for _, attempt in held],
            "lease": lease_seconds,
        },
    )
    return {int(r[0]) for r in rows}


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
