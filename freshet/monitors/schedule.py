"""When monitors run: beat's pass claims what is due and sends each target as an ordinary job
on the batch path (politeness, retries, the batch target's tokens), and `run now` does the
same for one monitor.

The pass is one statement, so one round trip after the pool's pre-ping and its own transaction
(autocommit: no BEGIN, SET or COMMIT round trips), whose work grows with what is due, not with
what exists:
1. claim due monitors through the partial index on `next_run_at` (`FOR UPDATE SKIP LOCKED`,
   so several beats never take the same one);
2. take each organization's tokens for all its due targets in one conditional upsert of the
   month's usage row (the take of `accounts.take_bulk`: all of it or none);
3. move each claimed monitor (by row address) to now + its interval ± jitter — from now, not
   from when it was due, so after downtime a monitor runs once to catch up, never once per
   missed interval — and pause, with a `monitor_paused` event and the reason, those of an
   organization that could not cover its targets;
4. insert a job and its ledger `reserve` row for every target of the monitors that run.
The statement names no join against a large table that the planner could hash: the claimed
rows are moved through `ctid = ANY(...)` and their targets read through a LATERAL index
lookup, so the plan stays a walk over the due rows whatever the statistics say.
After commit, one publish of all messages (paced per host like a batch's fan-out); a failed
publish leaves the jobs queued for the sweeper.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from freshet import accounts, batch, metrics
from freshet.runtime import Dispatch, Runtime

log = logging.getLogger("freshet.monitors")

KIND = "monitor_target"
JITTER = 0.1  # next run at interval * (1 +- 5%): 10k monitors of one interval spread out
DUE_BATCH = 1000  # monitors claimed per pass at most
OUT_OF_TOKENS = (
    "out of tokens: the organization's monthly tokens cannot cover this monitor's targets; "
    'resume it with PATCH {"paused": false} once tokens are available'
)

# A job and its ledger reserve row per row of `t` (a target of a monitor that runs, with its
# organization and a job id drawn from the sequence), shared by the pass and `run now`; only
# what pacing needs travels back (each job's host politeness, not its whole params document).
_JOBS = """
j AS (
  INSERT INTO jobs (id, org_id, kind, queue, max_attempts, request_id, catalog_id, product_id,
                    url, params, tokens_reserved, dispatched_at)
  SELECT job_id, org_id, :kind, :queue, :max_attempts, :rid, catalog_id, product_id, url,
         params || jsonb_build_object('monitor_id', monitor_id, 'target_id', target_id),
         :tokens, now()
  FROM t RETURNING id, org_id, url,
                   CAST(params ->> 'politeness_per_second' AS float8) AS rate),
l AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT org_id, :period, id, :rid, 'tokens', 'reserve', :tokens FROM j WHERE :tokens > 0)
"""

_INSERT = text(
    """
WITH t AS (
  SELECT mt.id AS target_id, mt.monitor_id, mt.catalog_id, mt.url, mt.product_id, mt.params,
         d.org_id, nextval('jobs_id_seq') AS job_id
  FROM unnest(CAST(:ids AS uuid[]), CAST(:orgs AS bigint[])) AS d(monitor_id, org_id)
  JOIN monitor_targets mt ON mt.monitor_id = d.monitor_id),"""  # noqa: S608 (fixed text)
    + _JOBS
    + "SELECT id, url, rate FROM j"
)

# The whole pass. `need`: what each organization's due targets cost, and its plan's monthly
# tokens; `took`: the organizations whose take succeeded (the conditional take of
# accounts.take_bulk, `used + amount <= limit`, as an upsert so a month without a row yet is
# one statement too; a concurrent take waits on the row and is checked against its new
# value); `ok`: those plus the ones whose due targets cost nothing. Locks come in the order
# `run_now` takes them (the monitor rows, then the month's usage row), so the two never
# deadlock.
_PASS = text(
    """
WITH due AS (
  SELECT ctid AS tid, id, org_id, target_count,
         CAST(extract(epoch FROM now() - next_run_at) AS float8) AS late
  FROM monitors WHERE NOT paused AND next_run_at <= now()
  ORDER BY next_run_at LIMIT :n FOR UPDATE SKIP LOCKED),
need AS (
  SELECT org_id, sum(target_count) * :tokens AS amount,
         coalesce((SELECT p.monthly_tokens FROM organizations o JOIN plans p ON p.name = o.plan
                   WHERE o.id = due.org_id), 0) AS lim
  FROM due GROUP BY org_id),
took AS (
  INSERT INTO usage_periods AS u (org_id, period, tokens_used)
  SELECT org_id, :period, amount FROM need WHERE amount > 0 AND amount <= lim
  ON CONFLICT (org_id, period) DO UPDATE SET tokens_used = u.tokens_used + excluded.tokens_used
  WHERE u.tokens_used + excluded.tokens_used
        <= (SELECT need.lim FROM need WHERE need.org_id = u.org_id)
  RETURNING u.org_id),
ok AS (SELECT org_id FROM need WHERE amount = 0 UNION ALL SELECT org_id FROM took),
moved AS (
  UPDATE monitors m
  SET next_run_at = now() + make_interval(secs => m.interval_seconds * (1 + (random() - 0.5) * :j)),
      last_run_at = now(), updated_at = now(),
      paused = m.org_id NOT IN (SELECT org_id FROM ok),
      paused_reason = CASE WHEN m.org_id IN (SELECT org_id FROM ok) THEN m.paused_reason
                           ELSE CAST(:reason AS text) END
  WHERE m.ctid = ANY(ARRAY(SELECT tid FROM due))
  RETURNING m.id, m.org_id, m.paused AS stopped),
ev AS (
  INSERT INTO monitor_events (org_id, monitor_id, type, current)
  SELECT org_id, id, 'monitor_paused', jsonb_build_object('reason', CAST(:reason AS text))
  FROM moved WHERE stopped),
t AS (
  SELECT mt.id AS target_id, mv.id AS monitor_id, mt.catalog_id, mt.url, mt.product_id,
         mt.params, mv.org_id, nextval('jobs_id_seq') AS job_id
  FROM moved mv CROSS JOIN LATERAL (  -- OFFSET 0: an index lookup per monitor, never a hash
    SELECT id, catalog_id, url, product_id, params FROM monitor_targets
    WHERE monitor_id = mv.id OFFSET 0) mt
  WHERE NOT mv.stopped),"""  # noqa: S608 (fixed text)
    + _JOBS
    + """
SELECT id, url, rate, NULL AS late, NULL AS paused FROM j
UNION ALL  -- and one row (id NULL) of what was claimed: each one's lateness, how many paused
SELECT NULL, NULL, NULL, (SELECT array_agg(late) FROM due),
       (SELECT count(*) FROM moved WHERE stopped)
"""
)


class QueuedJob(NamedTuple):
    """What pacing reads of a job: `batch.paced` wants its id, url and params."""

    id: int
    url: str
    params: dict[str, Any]


def enqueue(
    conn: Connection, rt: Runtime, monitors: Sequence[tuple[Any, int]], request_id: str
) -> list[QueuedJob]:
    """Insert one queued job per target of the (monitor id, org id) pairs, each with its
    reserve row, in one statement."""
    if not monitors:
        return []
    return queued(
        conn.execute(
            _INSERT,
            {
                "ids": [m for m, _ in monitors],
                "orgs": [o for _, o in monitors],
                "kind": KIND,
                "queue": rt.kinds[KIND].queue,
                "max_attempts": rt.settings.max_attempts,
                "rid": request_id,
                "tokens": rt.settings.batch_target_tokens,
                "period": accounts.current_period(),
            },
        ).all()
    )


def queued(rows: Sequence[Any]) -> list[QueuedJob]:
    return [QueuedJob(int(r.id), r.url, {"politeness_per_second": r.rate}) for r in rows]


def take_tokens(conn: Connection, org_id: int, targets: int, limit: int, cost: int) -> bool:
    if not cost or not targets:
        return True
    return accounts.take_bulk(
        conn,
        org_id=org_id,
        resource="tokens",
        amount=targets * cost,
        limit=limit,
        period=accounts.current_period(),
    )


Push = Callable[[Sequence[Dispatch]], Any]


def publish(
    rt: Runtime, rows: Sequence[QueuedJob], request_id: str, push: Push | None = None
) -> None:
    dispatches = batch.paced(rt, rows, request_id, kind=KIND)
    try:
        if push is None:
            rt.publisher.publish(dispatches)
        else:
            push(dispatches)
    except Exception:  # the jobs are committed: the sweeper sends them
        log.warning("monitor jobs publish failed; the sweeper will send them", exc_info=True)


def schedule_due(rt: Runtime, push: Push | None = None, limit: int = DUE_BATCH) -> dict[str, Any]:
    """One beat pass. What it did, with the database time it took (seconds)."""
    request_id = f"monitors-{uuid.uuid4()}"
    t0 = time.perf_counter()
    with rt.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")  # one statement, one transaction
        result = conn.execute(
            _PASS,
            {
                "n": limit,
                "j": JITTER,
                "tokens": rt.settings.batch_target_tokens,
                "period": accounts.current_period(),
                "reason": OUT_OF_TOKENS,
                "kind": KIND,
                "queue": rt.kinds[KIND].queue,
                "max_attempts": rt.settings.max_attempts,
                "rid": request_id,
            },
        ).all()
    db_seconds = time.perf_counter() - t0
    rows = queued([r for r in result if r.id is not None])
    [claimed] = [r for r in result if r.id is None]
    lateness, paused = claimed.late or [], int(claimed.paused)
    if rows:
        publish(rt, rows, request_id, push)
    for _ in range(paused):
        metrics.monitor_event("monitor_paused")
    for late in lateness:
        metrics.monitor_scheduled(max(late or 0.0, 0.0))
    out = {
        "due": len(lateness),
        "paused": paused,
        "jobs": len(rows),
        "db_seconds": round(db_seconds, 4),
    }
    if lateness:
        log.info("monitors scheduled", extra={"counts": out})
    return out


def run_now(
    rt: Runtime,
    monitor_id: Any,
    org_id: int,
    limit: int,
    request_id: str,
    *,
    reschedule: bool = False,
) -> list[int]:
    """Every target of the monitor refreshed at once, at the usual price. [] when out of
    tokens (the caller answers 402); LookupError for no such monitor. `reschedule`: this is
    the scheduled run (a new monitor's baseline), so the next one is an interval away."""
    with rt.engine.begin() as conn:
        m = conn.execute(
            text("SELECT id, target_count FROM monitors WHERE id = :m AND org_id = :o FOR UPDATE"),
            {"m": monitor_id, "o": org_id},
        ).first()
        if m is None:
            raise LookupError(str(monitor_id))
        if not take_tokens(
            conn, org_id, int(m.target_count), limit, rt.settings.batch_target_tokens
        ):
            return []
        rows = enqueue(conn, rt, [(m.id, org_id)], request_id)
        conn.execute(
            text(
                "UPDATE monitors SET last_run_at = now(), updated_at = now(), "
                "next_run_at = CASE WHEN :r THEN now() + make_interval(secs => interval_seconds "
                "* (1 + (random() - 0.5) * :j)) ELSE next_run_at END WHERE id = :m"
            ),
            {"m": m.id, "r": reschedule, "j": JITTER},
        )
    publish(rt, rows, request_id)
    return [r.id for r in rows]
