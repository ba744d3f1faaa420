"""Maintenance passes: data that grows with use gets a lifecycle.

Each pass is a sweeper pass (registered in freshet/wiring.py), does at most `prune_batch`
rows per transaction and at most `MAX_BATCHES` transactions per sweep, and reads only the
old end of an index, so its cost grows with what is old, not with what exists:
- idempotency keys older than `idempotency_key_hours` (24 h) are deleted;
- finished jobs older than `retention_days` (30) are deleted, once their reservation is
  settled (the ledger, which is money, is kept: every row, forever, per org and month);
- finished workflows older than that, with no job left, are deleted;
- price observations older than the stats window are thinned to the first one of each
  product and day, walking forward from a mark so already-thinned days are not read again.
Rows are picked with `FOR UPDATE SKIP LOCKED` and deleted by `ctid`, so two sweepers never
block each other or a request.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from freshet.runtime import Runtime

MAX_BATCHES = 5
THIN_MARK = "thin_observations"


def _repeat(rt: Runtime, one_batch: str, params: dict[str, object]) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        with rt.engine.begin() as conn:
            n = conn.execute(text(one_batch), {**params, "n": rt.settings.prune_batch}).rowcount
        total += n
        if n < rt.settings.prune_batch:
            break
    return total


def expire_idempotency_keys(rt: Runtime) -> int:
    """Idempotency keys are remembered for 24 h (as Stripe keeps them), then forgotten."""
    return _repeat(
        rt,
        "DELETE FROM idempotency_keys WHERE ctid IN ("
        " SELECT ctid FROM idempotency_keys"
        " WHERE created_at < now() - make_interval(hours => :hours)"
        " ORDER BY created_at LIMIT :n FOR UPDATE SKIP LOCKED)",
        {"hours": rt.settings.idempotency_key_hours},
    )


def prune_jobs(rt: Runtime) -> int:
    """Finished jobs past retention go; a job whose reservation is unsettled stays until the
    sweeper settles it (the ledger row must know how the job ended)."""
    return _repeat(
        rt,
        "DELETE FROM jobs WHERE ctid IN ("
        " SELECT j.ctid FROM jobs j"
        " WHERE j.status IN ('completed', 'failed', 'cancelled')"
        " AND j.finished_at < now() - make_interval(days => :days)"
        " AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.job_id = j.id AND r.kind = 'reserve'"
        "   AND NOT EXISTS (SELECT 1 FROM ledger s WHERE s.job_id = r.job_id"
        "     AND s.resource = r.resource AND s.kind <> 'reserve'))"
        " ORDER BY j.finished_at LIMIT :n FOR UPDATE OF j SKIP LOCKED)",
        {"days": rt.settings.retention_days},
    )


def prune_workflows(rt: Runtime) -> int:
    """Finished workflows past retention whose jobs are gone, and whose webhook is done."""
    return _repeat(
        rt,
        "DELETE FROM workflows WHERE ctid IN ("
        " SELECT w.ctid FROM workflows w"
        " WHERE w.status <> 'running'"
        " AND w.finished_at < now() - make_interval(days => :days)"
        " AND (w.webhook_status IS NULL OR w.webhook_status IN ('delivered', 'failed'))"
        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id)"
        " ORDER BY w.finished_at LIMIT :n FOR UPDATE OF w SKIP LOCKED)",
        {"days": rt.settings.retention_days},
    )


def _mark(conn: Connection) -> tuple[object, int] | None:
    """The thinning mark, locked for this transaction; None while another sweeper holds it."""
    conn.execute(
        text(
            "INSERT INTO maintenance_marks (name, upto, upto_id) VALUES (:name, 'epoch', 0) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"name": THIN_MARK},
    )
    row = conn.execute(
        text(
            "SELECT upto, upto_id FROM maintenance_marks WHERE name = :name FOR UPDATE SKIP LOCKED"
        ),
        {"name": THIN_MARK},
    ).first()
    return None if row is None else (row.upto, row.upto_id)


def thin_observations(rt: Runtime) -> int:
    """Observations older than the stats window: only each product's first of the day stays.

    Walks forward in (observed_at, id) order from the mark, `prune_batch` rows at a time; a
    row is deleted when an earlier observation of the same product and (UTC) day exists (an
    index probe on (product_id, observed_at)), so the first of each day is never deleted and
    the decision does not depend on where a batch starts.
    """
    deleted = 0
    for _ in range(MAX_BATCHES):
        with rt.engine.begin() as conn:
            mark = _mark(conn)
            if mark is None:
                return deleted
            # On a large table the planner's estimate for the batch passes jit_above_cost and
            # compiling costs ~30 ms, for a batch that usually finds nothing new.
            conn.execute(text("SET LOCAL jit = off"))
            rows = conn.execute(
                text(
                    "WITH batch AS ("
                    " SELECT id, product_id, observed_at FROM price_observations"
                    " WHERE (observed_at, id) > (:upto, :upto_id)"
                    " AND observed_at < now() - make_interval(days => :days)"
                    " ORDER BY observed_at, id LIMIT :n),"
                    " doomed AS (DELETE FROM price_observations o USING batch b"
                    "  WHERE o.id = b.id AND EXISTS (SELECT 1 FROM price_observations e"
                    "   WHERE e.product_id = b.product_id"
                    "   AND e.observed_at >= date_trunc('day', b.observed_at, 'UTC')"
                    "   AND (e.observed_at, e.id) < (b.observed_at, b.id))"
                    "  RETURNING o.id)"
                    " SELECT (SELECT count(*) FROM batch) AS seen,"
                    " (SELECT count(*) FROM doomed) AS deleted,"
                    " (SELECT observed_at FROM batch ORDER BY observed_at DESC, id DESC"
                    "  LIMIT 1) AS last,"
                    " (SELECT id FROM batch ORDER BY observed_at DESC, id DESC LIMIT 1) AS last_id"
                ),
                {
                    "upto": mark[0],
                    "upto_id": mark[1],
                    "days": rt.settings.stats_window_days,
                    "n": rt.settings.prune_batch,
                },
            ).one()
            deleted += int(rows.deleted)
            if rows.last is not None:
                # Survivors behind the mark are firsts of their day: never read again.
                conn.execute(
                    text(
                        "UPDATE maintenance_marks SET upto = :last, upto_id = :last_id, "
                        "updated_at = now() WHERE name = :name"
                    ),
                    {"last": rows.last, "last_id": rows.last_id, "name": THIN_MARK},
                )
            if int(rows.seen) < rt.settings.prune_batch:
                return deleted
    return deleted


PASSES = (expire_idempotency_keys, prune_jobs, prune_workflows, thin_observations)
