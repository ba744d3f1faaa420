"""Single flight: concurrent requests for one product share one upstream fetch.

Every request has its own job row and token reservation. The first to take the product's
Redis flight key leads (its job is published); the others attach to the leader's row
(`leader_job_id`) and are settled — charged with the leader's result, or refunded with its
failure — exactly once, by whoever gets there first under a row lock:

- the leader's completion transaction (`settle_completed`), which locks the leader row first;
- the leader's `after` hook for a failure or cancel (`settle_ended`);
- a follower that attaches to an already finished leader (`attach`);
- a waiting follower or the sweeper finding it orphaned (`heal`, `sweep_followers`).

Attaching takes a share lock on the leader row, so it either sees the leader finished, or
is committed before the leader's settlement reads its followers. Redis only makes this
efficient: a lost flight key costs a second fetch, never a wrong charge.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, select, text, update

from freshet import accounts, jobs
from freshet.runtime import Runtime
from store.tables import jobs as jobs_t

log = logging.getLogger("freshet.products")

OPEN = ("queued", "running")
# A follower arriving just after its leader finished still shares the result, if this fresh.
SHARE_FINISHED_SECONDS = 10


def _publish(rt: Runtime, rows: Sequence[Row[*tuple[Any, ...]]]) -> None:

    if rows:
        jobs.publish_after_commit(
            rt, [rt.kinds.dispatch(r.id, "product", r.request_id) for r in rows]
        )


def _complete(
    conn: Connection, where: Any, leader_id: int, result: dict[str, Any] | None, product_id: Any
) -> list[int]:
    shared = dict(result or {}) | {"sharedFetchJobId": leader_id}
    rows = (
        conn.execute(
            update(jobs_t)
            .where(where, jobs_t.c.status == "queued")
            .values(
                status="completed",
                leader_job_id=leader_id,
                result=shared,
                product_id=product_id,
                error=None,
                error_code=None,
                lease_until=None,
                started_at=func.coalesce(jobs_t.c.started_at, func.now()),
                finished_at=func.now(),
                updated_at=func.now(),
            )
            .returning(jobs_t.c.id)
        )
        .scalars()
        .all()
    )
    for job_id in rows:
        accounts.settle(conn, job_id, charge=True)
    return list(rows)


def _fail(
    conn: Connection, where: Any, leader_id: int, error: str | None, code: str | None
) -> list[int]:
    rows = (
        conn.execute(
            update(jobs_t)
            .where(where, jobs_t.c.status == "queued")
            .values(
                status="failed",
                error=f"shared fetch (job {leader_id}) failed: {error}",
                error_code=code or "upstream_unavailable",
                lease_until=None,
                finished_at=func.now(),
                updated_at=func.now(),
            )
            .returning(jobs_t.c.id)
        )
        .scalars()
        .all()
    )
    for job_id in rows:
        accounts.settle(conn, job_id, charge=False)
    return list(rows)


def _detach(conn: Connection, where: Any) -> Sequence[Row[*tuple[Any, ...]]]:
    """Followers that must fetch for themselves: their leader was cancelled or never was."""
    return conn.execute(
        update(jobs_t)
        .where(where, jobs_t.c.status == "queued")
        .values(leader_job_id=None, dispatched_at=None, updated_at=func.now())
        .returning(jobs_t.c.id, jobs_t.c.request_id)
    ).all()


def _leader(conn: Connection, leader_id: int) -> Any | None:
    return conn.execute(
        select(
            jobs_t.c.id,
            jobs_t.c.status,
            jobs_t.c.result,
            jobs_t.c.product_id,
            jobs_t.c.error,
            jobs_t.c.error_code,
            (
                jobs_t.c.finished_at
                > func.now() - text(f"interval '{SHARE_FINISHED_SECONDS} seconds'")
            ).label("recent"),
        )
        .where(jobs_t.c.id == leader_id)
        .with_for_update(read=True)
    ).first()


def attach(rt: Runtime, job_id: int, leader_id: int) -> None:
    """Make the committed, queued job `job_id` a follower of `leader_id`, or run it alone."""
    detached: Sequence[Row[*tuple[Any, ...]]] = []
    done: list[int] = []
    with rt.engine.begin() as conn:
        leader = _leader(conn, leader_id) if leader_id > 0 else None
        me = jobs_t.c.id == job_id
        if leader is not None and leader.status in OPEN:
            conn.execute(
                update(jobs_t)
                .where(me, jobs_t.c.status == "queued", jobs_t.c.leader_job_id.is_(None))
                .values(leader_job_id=leader_id, updated_at=func.now())
            )
            return
        if leader is not None and leader.status == "completed" and leader.recent:
            done = _complete(conn, me, leader_id, leader.result, leader.product_id)
        else:  # failed, cancelled, long finished, or not a job (a hot refresh): fetch alone
            detached = conn.execute(
                select(jobs_t.c.id, jobs_t.c.request_id).where(me, jobs_t.c.status == "queued")
            ).all()
    _publish(rt, detached)
    jobs.notify(rt.redis, rt.prefix, done)


def settle_completed(
    conn: Connection, leader_id: int, result: dict[str, Any], product_id: Any
) -> list[int]:
    """In the leader's completion transaction: lock the leader row, complete its followers."""
    conn.execute(select(jobs_t.c.id).where(jobs_t.c.id == leader_id).with_for_update())
    return _complete(conn, jobs_t.c.leader_job_id == leader_id, leader_id, result, product_id)


def settle_ended(rt: Runtime, leader_id: int) -> list[int]:
    """After the leader ended: settle (or detach, if it was cancelled) its queued followers."""
    detached: Sequence[Row[*tuple[Any, ...]]] = []
    with rt.engine.begin() as conn:
        leader = _leader(conn, leader_id)
        if leader is None or leader.status in OPEN:
            return []
        followers = jobs_t.c.leader_job_id == leader_id
        if leader.status == "completed":
            ids = _complete(conn, followers, leader_id, leader.result, leader.product_id)
        elif leader.status == "failed":
            ids = _fail(conn, followers, leader_id, leader.error, leader.error_code)
        else:
            detached = _detach(conn, followers)
            ids = []
        everyone = conn.execute(select(jobs_t.c.id).where(followers)).scalars().all()
    _publish(rt, detached)
    jobs.notify(rt.redis, rt.prefix, list(everyone))
    return ids + [r.id for r in detached]


def heal(rt: Runtime, job_id: int) -> bool:
    """Settle one follower whose leader has ended (the leader's settlement missed it)."""
    with rt.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT f.leader_job_id, l.status AS leader_status, "
                "f.created_at < now() - interval '5 seconds' AS old "
                "FROM jobs f LEFT JOIN jobs l ON l.id = f.leader_job_id "
                "WHERE f.id = :id AND f.status = 'queued' AND f.leader_job_id IS NOT NULL"
            ),
            {"id": job_id},
        ).first()
    if row is None or row.leader_status in OPEN:
        return False
    if row.leader_status is None:  # the leader row is gone: nothing will ever settle this
        if not row.old:
            return False
        with rt.engine.begin() as conn:
            detached = _detach(conn, jobs_t.c.id == job_id)
        _publish(rt, detached)
        return bool(detached)
    return job_id in settle_ended(rt, int(row.leader_job_id))


def sweep_followers(rt: Runtime, batch: int = 500) -> int:
    """Sweeper pass: followers still queued although their leader ended (or never existed)."""
    with rt.engine.connect() as conn:
        leaders = (
            conn.execute(
                text(
                    "SELECT DISTINCT f.leader_job_id FROM jobs f LEFT JOIN jobs l "
                    "ON l.id = f.leader_job_id WHERE f.status = 'queued' AND f.leader_job_id IS NOT "
                    "NULL AND (l.id IS NULL OR l.status IN ('completed', 'failed', 'cancelled')) "
                    "AND f.created_at < now() - interval '5 seconds' LIMIT :n"
                ),
                {"n": batch},
            )
            .scalars()
            .all()
        )
    settled = 0
    for leader_id in leaders:
        with rt.engine.connect() as conn:
            exists = conn.execute(select(jobs_t.c.id).where(jobs_t.c.id == leader_id)).first()
        if exists is None:
            with rt.engine.begin() as conn:
                detached = _detach(conn, jobs_t.c.leader_job_id == leader_id)
            _publish(rt, detached)
            settled += len(detached)
        else:
            settled += len(settle_ended(rt, int(leader_id)))
    if settled:
        log.info("orphaned followers settled", extra={"count": settled})
    return settled
