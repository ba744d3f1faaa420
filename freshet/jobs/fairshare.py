"""Fair share between organizations: which queued batch jobs reach the broker next.

Batch jobs are not published when they are accepted. They wait in Postgres (`queued`, no
`dispatched_at`), and this dispatcher publishes them, a few at a time, so that the broker
never holds more than `FRESHET_FAIR_SHARE_WINDOW` of them (running or waiting to be taken)
and the next free place goes to the organization that holds the fewest places for its
weight — weighted fair queuing over what each holds, the continuous form of deficit round
robin: with weights 1 and 1, an organization with 5,000 targets waiting and one with 1 get
one place each in turn, so the small one's target starts within one round.

A pass runs when a workflow launches, when a batch job ends (its place is free) and from the
sweeper; one at a time (an advisory lock; a pass that finds it taken leaves the work to the
one running). Celery still carries and runs every job; nothing here polls per job.

Jobs parked by their host (a politeness countdown, `dispatched_at` in the future) count
against their organization's share but not against the window: a paused host holds back
only its own organization's work, never everyone's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

from freshet.runtime import Dispatch, Runtime

log = logging.getLogger("freshet.fairshare")

LOCK_KEY = 7_140_007  # pg advisory lock: one dispatcher pass at a time, fleet-wide
# After a job ends, at most one pass per this many ms fleet-wide: a pass costs a few ms of
# Postgres, and one pass fills every place freed meanwhile. Never a stall: a job end that
# runs no pass (the tick was taken, or another pass held the lock and may have read the
# jobs before this end's commit) leaves a trailing pass to its process, run once the tick
# is over — so the last ends of a window are always followed by a pass that sees them.
JOB_END_TICK_MS = 200
_LOCAL_TICK = "fair_share_local_tick"  # rt.extras: this process's next job-end pass, monotonic
_TRAILING = "fair_share_trailing"  # rt.extras: this process's pending trailing pass (a Timer)
_trailing_lock = threading.Lock()

_PICK = text(
    """
WITH open_jobs AS (
  SELECT org_id,
    count(*) FILTER (WHERE status = 'running' OR dispatched_at <= now()) AS due,
    count(*) AS held
  FROM jobs
  WHERE kind = ANY(CAST(:kinds AS text[])) AND status IN ('queued', 'running')
    AND (status = 'running' OR dispatched_at > now() - make_interval(secs => :after))
  GROUP BY org_id
), free AS (
  SELECT GREATEST(:window - COALESCE(sum(due), 0), 0)::int AS n FROM open_jobs
), waiting AS (
  -- the organizations with work waiting: a loose index scan (one probe of
  -- ix_jobs_fair_waiting per organization), not a walk over every waiting row
  WITH RECURSIVE w AS (
    (SELECT org_id FROM jobs
     WHERE status = 'queued' AND dispatched_at IS NULL AND leader_job_id IS NULL
       AND kind = ANY(CAST(:kinds AS text[]))
     ORDER BY org_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.org_id FROM jobs j
            WHERE j.status = 'queued' AND j.dispatched_at IS NULL AND j.leader_job_id IS NULL
              AND j.kind = ANY(CAST(:kinds AS text[])) AND j.org_id > w.org_id
            ORDER BY j.org_id LIMIT 1)
    FROM w WHERE w.org_id IS NOT NULL
  )
  SELECT org_id FROM w WHERE org_id IS NOT NULL
), shares AS (
  SELECT w.org_id, GREATEST(COALESCE(p.fair_share_weight, 1), 0.01) AS weight,
    COALESCE(o.held, 0) AS held
  FROM waiting w
  JOIN organizations org ON org.id = w.org_id
  LEFT JOIN plans p ON p.name = org.plan
  LEFT JOIN open_jobs o ON o.org_id = w.org_id
), ranked AS (
  SELECT c.id, (s.held + c.k) / s.weight AS finish
  FROM shares s CROSS JOIN LATERAL (
    SELECT j.id, row_number() OVER (ORDER BY j.id) - 1 AS k
    FROM jobs j
    WHERE j.org_id = s.org_id AND j.kind = ANY(CAST(:kinds AS text[])) AND j.status = 'queued'
      AND j.dispatched_at IS NULL AND j.leader_job_id IS NULL
    ORDER BY j.id
    LIMIT LEAST((SELECT n FROM free), GREATEST(:window - s.held, 0))
  ) c
), picked AS (
  SELECT id, finish FROM ranked ORDER BY finish, id LIMIT (SELECT n FROM free)
), taken AS (
  -- jobs a cancel (or a claim) holds right now are left to the next pass
  SELECT id FROM jobs
  WHERE id IN (SELECT id FROM picked) AND status = 'queued' AND dispatched_at IS NULL
  FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET dispatched_at = now()
FROM picked p
WHERE jobs.id = p.id AND jobs.id IN (SELECT id FROM taken)
RETURNING jobs.id, jobs.kind, jobs.request_id, p.finish
"""
)


def dispatch(
    rt: Runtime,
    push: Callable[[Sequence[Dispatch]], Any] | None = None,
    *,
    job_ended: bool = False,
) -> int:
    """One pass: fill the free places of the window in fair order. Returns jobs published."""
    kinds = rt.kinds.fair_share_names()
    if not kinds or not rt.settings.fair_share_enabled:
        return 0
    if job_ended and not _tick(rt):
        _trail(rt)  # a pass ran a moment ago, or is running: one more after the tick
        return 0
    return _pass(rt, push, trail=job_ended)


def _pass(rt: Runtime, push: Callable[[Sequence[Dispatch]], Any] | None, *, trail: bool) -> int:
    kinds = rt.kinds.fair_share_names()
    with rt.engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar():
            if trail:  # the pass at it may have read the jobs before this end committed
                _trail(rt)
            return 0
        # Chosen and marked in one statement; published before the commit, so a broker
        # that refuses them rolls the marks back and they wait for the next pass.
        picked = conn.execute(
            _PICK,
            {
                "kinds": kinds,
                "window": rt.settings.fair_share_window,
                "after": rt.settings.redispatch_after_seconds,
            },
        ).all()
        if not picked:
            return 0
        rows = sorted(picked, key=lambda r: (r.finish, r.id))  # RETURNING keeps no order
        (push or rt.publisher.publish)(
            [rt.kinds.dispatch(r.id, r.kind, r.request_id) for r in rows]
        )
    log.debug("fair share pass", extra={"published": len(rows)})
    return len(rows)


def _tick(rt: Runtime) -> bool:
    """May this job end run a pass? At most one per JOB_END_TICK_MS fleet-wide (Redis), and
    this process asks Redis at most that often: a worker's other threads ending jobs
    meanwhile cost nothing (no round trip per job)."""
    now = time.monotonic()
    if now < rt.extras.get(_LOCAL_TICK, 0.0):
        return False
    rt.extras[_LOCAL_TICK] = now + JOB_END_TICK_MS / 1000
    return bool(rt.redis.set(rt.prefix + "fair:tick", 1, nx=True, px=JOB_END_TICK_MS))


def _trail(rt: Runtime) -> None:
    """Leave this process one pass to run after the current tick (none if one is pending)."""
    with _trailing_lock:
        if rt.extras.get(_TRAILING) is not None:
            return
        delay = max(rt.extras.get(_LOCAL_TICK, 0.0) - time.monotonic(), 0.05)
        timer = threading.Timer(delay, _run_trailing, args=(rt,))
        timer.daemon = True
        rt.extras[_TRAILING] = timer
    timer.start()


def _run_trailing(rt: Runtime) -> None:
    with _trailing_lock:
        rt.extras[_TRAILING] = None  # an end from now on leaves a pass of its own
    try:
        _pass(rt, None, trail=True)
    except Exception:  # Postgres or the broker away: the sweeper's pass does it later
        log.warning("trailing fair-share pass failed", exc_info=True)


def sweep_fair_share(rt: Runtime) -> int:
    """The sweeper's pass: publishes what no launch or job end got round to."""
    return dispatch(rt)
