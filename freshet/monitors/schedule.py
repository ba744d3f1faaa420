"""When monitors run: beat's pass claims what is due and sends each target as an ordinary job
on the batch path (politeness, retries, the batch target's tokens), and `run now` does the
same for one monitor.

The pass, in one transaction whose work grows with what is due, not with what exists:
1. claim due monitors through the partial index on `next_run_at` (`FOR UPDATE SKIP LOCKED`,
   so several beats never take the same one) and move each one (by row address) to now + its
   interval ± jitter — from now, not from when it was due, so after downtime a monitor runs
   once to catch up, never once per missed interval;
2. take each organization's tokens for all its due targets in one conditional UPDATE; an
   organization that cannot cover them has those monitors paused (`monitor_paused`, reason);
3. insert every job with its ledger `reserve` row in one statement.
After commit, one publish of all messages (paced per host like a batch's fan-out); a failed
publish leaves the jobs queued for the sweeper.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

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

# The due rows are found and locked through the due index, then moved by their row address
# (a TID scan per row; the address cannot change while this transaction holds the lock).
_CLAIM = text("""
WITH due AS (
  SELECT ctid AS tid, next_run_at AS was FROM monitors
  WHERE NOT paused AND next_run_at <= now()
  ORDER BY next_run_at LIMIT :n FOR UPDATE SKIP LOCKED)
UPDATE monitors m
SET next_run_at = now() + make_interval(secs => m.interval_seconds * (1 + (random() - 0.5) * :j)),
    last_run_at = now(), updated_at = now()
FROM due WHERE m.ctid = due.tid
RETURNING m.id, m.org_id, m.target_count, extract(epoch FROM now() - due.was) AS late
""")
# When 1% of a large table is due, the planner's costs favour hashing the whole table
# against the due rows; a nested loop touches only the due rows (and their targets).
_NESTED_LOOPS = text("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")

_PLANS = text(
    "SELECT o.id, p.monthly_tokens FROM organizations o JOIN plans p ON p.name = o.plan "
    "WHERE o.id = ANY(:orgs)"
)

_INSERT = text("""
WITH t AS (
  SELECT mt.id AS target_id, mt.monitor_id, mt.catalog_id, mt.url, mt.product_id, mt.params,
         d.org_id, nextval('jobs_id_seq') AS job_id
  FROM unnest(CAST(:ids AS uuid[]), CAST(:orgs AS bigint[])) AS d(monitor_id, org_id)
  JOIN monitor_targets mt ON mt.monitor_id = d.monitor_id),
j AS (
  INSERT INTO jobs (id, org_id, kind, queue, max_attempts, request_id, catalog_id, product_id,
                    url, params, tokens_reserved, dispatched_at)
  SELECT job_id, org_id, :kind, :queue, :max_attempts, :rid, catalog_id, product_id, url,
         params || jsonb_build_object('monitor_id', monitor_id, 'target_id', target_id),
         :tokens, now()
  FROM t RETURNING id, org_id, url, params -> 'politeness_per_second' AS rate),
l AS (
  INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
  SELECT org_id, :period, id, :rid, 'tokens', 'reserve', :tokens FROM j WHERE :tokens > 0)
-- only what pacing needs travels back (not each job's whole params document)
SELECT id, url, jsonb_build_object('politeness_per_second', rate) AS params FROM j
""")


def enqueue(
    conn: Connection, rt: Runtime, monitors: Sequence[tuple[Any, int]], request_id: str
) -> list[Any]:
    """Insert one queued job per target of the (monitor id, org id) pairs, each with its
    reserve row, in one statement."""
    if not monitors:
        return []
    return list(
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


def pause(conn: Connection, monitor_ids: Sequence[Any], reason: str) -> int:
    """Pause (if not already) and record one `monitor_paused` event per monitor paused."""
    rows = conn.execute(
        text(
            "WITH p AS (UPDATE monitors SET paused = true, paused_reason = :r, updated_at = now() "
            "WHERE id = ANY(:ids) AND NOT paused RETURNING id, org_id) "
            "INSERT INTO monitor_events (org_id, monitor_id, type, current) "
            "SELECT org_id, id, 'monitor_paused', jsonb_build_object('reason', CAST(:r AS text)) "
            "FROM p RETURNING id"
        ),
        {"ids": list(monitor_ids), "r": reason},
    ).all()
    for _ in rows:
        metrics.monitor_event("monitor_paused")
    return len(rows)


Push = Callable[[Sequence[Dispatch]], Any]


def publish(rt: Runtime, rows: Sequence[Any], request_id: str, push: Push | None = None) -> None:
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
    cost = rt.settings.batch_target_tokens
    with rt.engine.begin() as conn:
        conn.execute(_NESTED_LOOPS)
        due = conn.execute(_CLAIM, {"n": limit, "j": JITTER}).all()
        paused: list[Any] = []
        if due:
            per_org: dict[int, list[Any]] = {}
            for m in due:
                per_org.setdefault(int(m.org_id), []).append(m)
            limits = {
                int(r.id): int(r.monthly_tokens)
                for r in conn.execute(_PLANS, {"orgs": list(per_org)})
            }
            for org_id, ms in per_org.items():
                needed = sum(int(m.target_count) for m in ms)
                if not take_tokens(conn, org_id, needed, limits.get(org_id, 0), cost):
                    paused.extend(m.id for m in ms)
            if paused:
                pause(conn, paused, OUT_OF_TOKENS)
        stopped = set(paused)
        run = [(m.id, int(m.org_id)) for m in due if m.id not in stopped]
        rows = enqueue(conn, rt, run, request_id)
    db_seconds = time.perf_counter() - t0
    if rows:
        publish(rt, rows, request_id, push)
    for m in due:
        metrics.monitor_scheduled(max(float(m.late or 0), 0.0))
    out = {
        "due": len(due),
        "paused": len(paused),
        "jobs": len(rows),
        "db_seconds": round(db_seconds, 4),
    }
    if due:
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
    return [int(r.id) for r in rows]
