"""A batch's workflow: launching its jobs in bulk, finishing it when its last job ends,
cancelling it durably, and the sweeper pass that re-drives what got stuck.

Launch states (`workflows.launch_status`): pending (saved, launch message sent or not yet)
→ launching (a worker is fanning the jobs out) → launched; a failed fan-out (or publish) is
retry_pending, and the sweeper launches it again after a backoff. Launching twice is
harmless: a job is claimed once, whatever number of its messages arrive.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from freshet import jobs
from freshet.batch.pacing import host_of, polite_rate
from freshet.runtime import Dispatch, Runtime
from store.tables import workflows

log = logging.getLogger("freshet.workflows")

LAUNCH_TASK = "freshet.batch.launch"
WEBHOOK_TASK = "freshet.batch.webhook"
CONTROL_QUEUE = "default"  # never behind a backlog of batch targets
PENDING_GRACE_SECONDS = 30  # a launch message not taken by then is sent again
MAX_SPREAD_SECONDS = 900  # the fan-out paces a host's jobs over at most this long
SWEEP_BATCH = 100


@dataclass(frozen=True)
class WorkflowMessage:
    """A Publisher message whose one argument is a workflow id (Publisher says job_id)."""

    task_name: str
    job_id: str
    queue: str = CONTROL_QUEUE
    request_id: str | None = None
    countdown: float | None = None


@dataclass(frozen=True)
class Launch:
    status: str
    error: str | None
    attempts: int


def insert(
    conn: Connection,
    workflow_id: uuid.UUID,
    *,
    org_id: int,
    request_id: str,
    submitted: int,
    accepted: int,
    rejected: list[dict[str, Any]],
    callback_url: str | None,
) -> None:
    conn.execute(
        pg_insert(workflows).values(
            id=workflow_id,
            org_id=org_id,
            request_id=request_id,
            submitted=submitted,
            accepted=accepted,
            rejected=rejected,
            callback_url=callback_url,
        )
    )


# launching ------------------------------------------------------------------------------------
def publish_launch(rt: Runtime, workflow_id: uuid.UUID, request_id: str | None) -> Launch:
    """Send the one launch message; on failure record retry_pending for the sweeper."""
    try:
        rt.publisher.publish(
            [WorkflowMessage(LAUNCH_TASK, str(workflow_id), request_id=request_id)]
        )
        return Launch("pending", None, 0)
    except Exception as exc:
        error = (
            "The targets are saved but their work could not be started yet "
            f"({type(exc).__name__}); it starts automatically, nothing to resend."
        )
        log.warning(
            "workflow launch publish failed", extra={"workflow_id": str(workflow_id)}, exc_info=True
        )
    try:
        with rt.engine.begin() as conn:
            _launch_failed(conn, workflow_id, error, count_attempt=True)
    except Exception:  # Postgres away too: 'pending' is re-driven by the sweeper just the same
        log.warning("could not record the failed launch", exc_info=True)
    return Launch("retry_pending", error, 1)


def _launch_failed(conn: Connection, workflow_id: Any, error: str, *, count_attempt: bool) -> None:
    conn.execute(
        text(
            "UPDATE workflows SET launch_status = 'retry_pending', launch_error = :e, "
            "launch_attempts = launch_attempts + :n, updated_at = now() "
            "WHERE id = :w AND launch_status IN ('pending', 'launching')"
        ),
        {"w": workflow_id, "e": error, "n": int(count_attempt)},
    )


def launch(rt: Runtime, workflow_id: Any, push: Callable[[Sequence[Dispatch]], Any]) -> str:
    """Fan the workflow's queued jobs out with `push` (one pipeline). launched|retry|skipped."""
    with rt.engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE workflows SET launch_status = 'launching', updated_at = now(), "
                "launch_attempts = launch_attempts + 1 WHERE id = :w AND status = 'running' AND "
                "(launch_status IN ('pending', 'retry_pending') OR (launch_status = 'launching' "
                "AND updated_at < now() - make_interval(secs => :stale))) RETURNING request_id"
            ),
            {"w": workflow_id, "stale": rt.settings.lease_seconds},
        ).first()
    if row is None:
        return "skipped"
    with rt.engine.connect() as conn:
        targets = conn.execute(
            text(
                "SELECT id, url, params FROM jobs WHERE workflow_id = :w AND status = 'queued' "
                "AND leader_job_id IS NULL ORDER BY target_index"
            ),
            {"w": workflow_id},
        ).all()
    dispatches = paced(rt, targets, row.request_id)
    try:
        push(dispatches)
    except Exception as exc:
        log.warning(
            "workflow fan-out failed", extra={"workflow_id": str(workflow_id)}, exc_info=True
        )
        with rt.engine.begin() as conn:
            _launch_failed(
                conn,
                workflow_id,
                f"could not queue the targets yet ({type(exc).__name__}); retrying automatically",
                count_attempt=False,
            )
        return "retry"
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET dispatched_at = now() + make_interval(secs => d.delay) "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[])) AS d(id, delay) "
                "WHERE jobs.id = d.id AND jobs.status = 'queued'"
            ),
            {
                "ids": [d.job_id for d in dispatches],
                "delays": [d.countdown or 0.0 for d in dispatches],
            },
        )
        conn.execute(
            text(
                "UPDATE workflows SET launch_status = 'launched', launch_error = NULL, "
                "launched_at = now(), updated_at = now() WHERE id = :w "
                "AND launch_status = 'launching'"
            ),
            {"w": workflow_id},
        )
    log.info("workflow launched", extra={"workflow_id": str(workflow_id), "jobs": len(dispatches)})
    return "launched"


def paced(rt: Runtime, targets: Sequence[Any], request_id: str | None) -> list[Dispatch]:
    """One message per job, each host's jobs spread at its politeness rate, so most find
    their slot free when they arrive instead of all bouncing off the guard at once."""
    per_host: dict[str, int] = {}
    out = []
    for t in targets:
        rate = polite_rate(rt, t.params.get("politeness_per_second"))
        host = host_of(t.url)
        k = per_host[host] = per_host.get(host, -1) + 1
        delay = min(k / rate, MAX_SPREAD_SECONDS) if rate > 0 else 0.0
        out.append(
            rt.kinds.dispatch(int(t.id), "batch_target", request_id, round(delay, 3) or None)
        )
    return out


# finishing -----------------------------------------------------------------------------------
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


def job_ended(rt: Runtime, workflow_id: Any) -> None:
    """A job of the workflow ended: finish the workflow if it was the last one open."""
    with rt.engine.begin() as conn:
        done = conn.execute(
            text(
                f"UPDATE workflows w SET status = {_FINAL_STATUS}, {_ENDED} "  # noqa: S608
                f"WHERE w.id = :w AND w.status = 'running' AND {_NONE_OPEN} "
                "RETURNING w.id, w.callback_url"
            ),
            {"w": workflow_id},
        ).all()
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
    """usage.settle(charge=False) for many jobs in two statements (same unique-index guard:
    a job already settled is skipped)."""
    if not job_ids:
        return
    conn.execute(
        text("""
        WITH r AS (
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


# the sweeper's pass --------------------------------------------------------------------------
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


def redrive_launches(rt: Runtime) -> int:
    with rt.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, request_id FROM workflows WHERE status = 'running' AND ("
                " (launch_status = 'pending' AND updated_at < now() - make_interval(secs => :grace))"
                " OR (launch_status = 'retry_pending' AND updated_at < now() - make_interval("
                "     secs => LEAST(power(2, launch_attempts), :cap)))"
                " OR (launch_status = 'launching' AND updated_at < now() - make_interval("
                "     secs => :stale))) "
                "ORDER BY updated_at LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {
                "grace": PENDING_GRACE_SECONDS,
                "cap": rt.settings.retry_backoff_max,
                "stale": rt.settings.lease_seconds,
                "n": SWEEP_BATCH,
            },
        ).all()
        if not rows:
            return 0
        ids = [r.id for r in rows]
        try:
            rt.publisher.publish(
                [WorkflowMessage(LAUNCH_TASK, str(r.id), request_id=r.request_id) for r in rows]
            )
            conn.execute(
                text("UPDATE workflows SET updated_at = now() WHERE id = ANY(:ids)"), {"ids": ids}
            )
        except Exception as exc:
            for wid in ids:
                _launch_failed(
                    conn,
                    wid,
                    f"could not start the workflow yet "
                    f"({type(exc).__name__}); retrying automatically",
                    count_attempt=True,
                )
    return len(rows)


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
