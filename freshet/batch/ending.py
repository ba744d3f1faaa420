"""How a workflow ends: a job's end finishes the workflow when it was the last one open;
cancelling marks every open job and refunds it; the sweeper's pass finishes what ended,
re-drives stuck launches and re-sends due webhooks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, text

from freshet import jobs
from freshet.batch.workflows import (
    PENDING_GRACE_SECONDS,
    SWEEP_BATCH,
    WEBHOOK_TASK,
    WorkflowMessage,
    redrive_launches,
)
from freshet.runtime import Runtime

log = logging.getLogger("freshet.workflows")

_FINAL_STATUS = (
    "(SELECT CASE WHEN count(*) FILTER (WHERE j.status <> 'completed') = 0 THEN 'completed' "
    "WHEN count(*) FILTER (WHERE j.status = 'cancelled') = count(*) THEN 'cancelled' "
    "WHEN count(*) FILTER (WHERE j.status = 'completed') = 0 THEN 'failed' "
    "ELSE 'partially_failed' END FROM jobs j WHERE j.workflow_id = w.id)"
)
_NONE_OPEN = (
    "NOT EXISTS (SELECT 1 FROM jobs o WHERE o.workflow_id = w.id "
    "AND o.status IN ('queued', 'running'))"
)
_ENDED = (
    "finished_at = now(), updated_at = now(), "
    "webhook_status = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, "
    "webhook_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE now() END"
)


_FINISH_IF_LAST = text(
    f"UPDATE workflows w SET status = {_FINAL_STATUS}, {_ENDED} "  # noqa: S608
    f"WHERE w.id = :w AND w.status = 'running' AND {_NONE_OPEN} "
    "RETURNING w.id, w.callback_url"
)


def job_ended(rt: Runtime, workflow_id: Any) -> None:
    """A job of the workflow ended: finish the workflow if it was the last one open. One
    statement on the statement engine; run again after a lost answer it finishes nothing,
    and the sweeper sends the webhook the lost answer would have."""
    done = rt.once(lambda conn: conn.execute(_FINISH_IF_LAST, {"w": workflow_id}).all())
    _finished(rt, done)


def _finished(rt: Runtime, rows: Sequence[Any]) -> None:
    for r in rows:
        log.info("workflow finished", extra={"workflow_id": str(r.id)})
    hooks = [WorkflowMessage(WEBHOOK_TASK, str(r.id)) for r in rows if r.callback_url]
    if hooks:
        try:
            rt.publisher.publish(hooks)
        except Exception:  # the sweeper sends due webhooks
            log.warning("webhook publish failed; the sweeper will send it", exc_info=True)


# cancelling ----------------------------------------------------------------------------------
def cancel(rt: Runtime, workflow_id: uuid.UUID, org_id: int) -> str | None:
    """Cancel every open job (durably, refunded). The workflow's status after, or None if the
    organization has no such workflow."""
    with rt.engine.begin() as conn:
        wf = conn.execute(
            text("SELECT status FROM workflows WHERE id = :w AND org_id = :o FOR UPDATE"),
            {"w": workflow_id, "o": org_id},
        ).first()
        if wf is None:
            return None
        ids = [
            r[0]
            for r in conn.execute(
                text(
                    "UPDATE jobs SET status = 'cancelled', error = 'cancelled by the caller', "
                    "error_code = 'cancelled', lease_until = NULL, finished_at = now(), "
                    "updated_at = now() WHERE workflow_id = :w AND status IN ('queued', 'running') "
                    "RETURNING id"
                ),
                {"w": workflow_id},
            )
        ]
        refund(conn, ids)
        done: Sequence[Row[*tuple[Any, ...]]] = []
        if wf.status == "running":
            # Nothing left to cancel: its last jobs just ended, so it finishes as it stands.
            status = "'cancelled', cancelled_at = now()" if ids else _FINAL_STATUS
            done = conn.execute(
                text(
                    f"UPDATE workflows w SET status = {status}, {_ENDED} "  # noqa: S608
                    "WHERE w.id = :w AND w.status = 'running' RETURNING w.id, w.callback_url, "
                    "w.status"
                ),
                {"w": workflow_id},
            ).all()
        final: str | None = done[0].status if done else wf.status
    jobs.notify(rt.redis, rt.prefix, ids)
    _finished(rt, done)
    log.info("workflow cancelled", extra={"workflow_id": str(workflow_id), "jobs": len(ids)})
    return final


def refund(conn: Connection, job_ids: list[int]) -> None:
    """usage.settle(charge=False) for many jobs in one statement (same unique-index guard:
    a job already settled is skipped; its reservations are marked settled the same way)."""
    if not job_ids:
        return
    conn.execute(
        text("""
        WITH m AS (
          UPDATE ledger SET settled_at = now()
          WHERE job_id = ANY(CAST(:ids AS bigint[])) AND kind = 'reserve' AND settled_at IS NULL),
        r AS (
          INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
          SELECT org_id, period, job_id, request_id, resource, 'refund', amount FROM ledger
          WHERE job_id = ANY(CAST(:ids AS bigint[])) AND kind = 'reserve'
          ON CONFLICT (job_id, resource) WHERE job_id IS NOT NULL AND kind <> 'reserve'
          DO NOTHING RETURNING org_id, period, resource, amount),
        s AS (SELECT org_id, period,
                     sum(amount) FILTER (WHERE resource = 'tokens') AS tokens,
                     sum(amount) FILTER (WHERE resource = 'review_jobs') AS review_jobs
              FROM r GROUP BY org_id, period)
        UPDATE usage_periods u
        SET tokens_used = GREATEST(u.tokens_used - COALESCE(s.tokens, 0), 0),
            review_jobs_used = GREATEST(u.review_jobs_used - COALESCE(s.review_jobs, 0), 0)
        FROM s WHERE u.org_id = s.org_id AND u.period = s.period"""),
        {"ids": job_ids},
    )


def sweep_workflows(rt: Runtime) -> int:
    """Finish workflows whose jobs all ended, re-drive stuck launches, re-send due webhooks."""
    return finish_ended(rt) + redrive_launches(rt) + resend_webhooks(rt)


def finish_ended(rt: Runtime) -> int:
    with rt.engine.begin() as conn:
        done = conn.execute(
            text(
                f"UPDATE workflows w SET status = {_FINAL_STATUS}, {_ENDED} "  # noqa: S608
                "WHERE w.id IN (SELECT id FROM workflows WHERE status = 'running' "
                f"AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.workflow_id = workflows.id "
                "AND o.status IN ('queued', 'running')) ORDER BY created_at LIMIT :n "
                "FOR UPDATE SKIP LOCKED) RETURNING w.id, w.callback_url"
            ),
            {"n": SWEEP_BATCH},
        ).all()
    _finished(rt, done)
    return len(done)


def resend_webhooks(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        ids = (
            conn.execute(
                text(
                    "SELECT id FROM workflows WHERE webhook_status IN ('pending', 'sending') "
                    "AND webhook_next_at < now() - make_interval(secs => :grace) "
                    "ORDER BY webhook_next_at LIMIT :n"
                ),
                {"grace": PENDING_GRACE_SECONDS, "n": SWEEP_BATCH},
            )
            .scalars()
            .all()
        )
    if ids:
        try:
            rt.publisher.publish([WorkflowMessage(WEBHOOK_TASK, str(w)) for w in ids])
        except Exception:
            log.warning("webhook re-send failed; next sweep tries again", exc_info=True)
            return 0
    return len(ids)
