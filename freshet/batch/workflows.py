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

from sqlalchemy import Connection, text
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
    if rt.settings.fair_share_enabled and "batch_target" in rt.kinds.fair_share_names():
        return _hand_to_dispatcher(rt, workflow_id, push)
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


def _hand_to_dispatcher(
    rt: Runtime, workflow_id: Any, push: Callable[[Sequence[Dispatch]], Any]
) -> str:
    """Fair share: the jobs stay queued for the dispatcher, which publishes them in fair
    order across organizations; this launch runs one pass of it at once."""
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflows SET launch_status = 'launched', launch_error = NULL, "
                "launched_at = now(), updated_at = now() WHERE id = :w "
                "AND launch_status = 'launching'"
            ),
            {"w": workflow_id},
        )
    try:
        jobs.dispatch_fair(rt, push)
    except Exception:  # the broker is away: the sweeper's pass publishes them later
        log.warning(
            "fair share pass failed", extra={"workflow_id": str(workflow_id)}, exc_info=True
        )
    log.info("workflow launched (fair share)", extra={"workflow_id": str(workflow_id)})
    return "launched"


def paced(
    rt: Runtime, targets: Sequence[Any], request_id: str | None, kind: str = "batch_target"
) -> list[Dispatch]:
    """One message per job, each host's jobs spread at its politeness rate, so most find
    their slot free when they arrive instead of all bouncing off the guard at once."""
    per_host: dict[str, int] = {}
    out = []
    for t in targets:
        rate = polite_rate(rt, t.params.get("politeness_per_second"))
        host = host_of(t.url)
        k = per_host[host] = per_host.get(host, -1) + 1
        delay = min(k / rate, MAX_SPREAD_SECONDS) if rate > 0 else 0.0
        out.append(rt.kinds.dispatch(int(t.id), kind, request_id, round(delay, 3) or None))
    return out


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
