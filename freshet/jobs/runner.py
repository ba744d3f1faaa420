"""Runs one job: claim, upstream work outside any transaction, then finish in one transaction.

A job costs Postgres two statements when all goes well: the claim, which reads the job too,
and the completion, which stores the output, finishes the job and charges it (for the kinds
whose handler completes in one statement; the others store and finish in one transaction).

Task bodies call `run_job`; the logic lives here so tests can call it without Celery.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from sqlalchemy.exc import DataError

from freshet import hosts, metrics
from freshet.jobs import lifecycle as jobs
from freshet.jobs import signals
from freshet.jobs.leases import keep_lease
from freshet.runtime import CompletesInOne, Handler, JobKind, Runtime, Upstream
from sources.record import PermanentSourceError, TransientSourceError

log = logging.getLogger("freshet.jobs")


class RetryLater(Exception):
    """The task should run again after `countdown` seconds (the job is queued again)."""

    def __init__(self, countdown: float):
        super().__init__(f"retry in {countdown:.1f}s")
        self.countdown = countdown


class _Stale(Exception):
    pass


def backoff(rt: Runtime, attempt: int, retry_after: float | None = None) -> float:
    s = rt.settings
    delay = min(s.retry_backoff_base**attempt, s.retry_backoff_max)
    delay *= random.uniform(0.5, 1.5)  # full jitter keeps retries from moving in lockstep
    if retry_after:
        delay = max(delay, retry_after)
    return round(min(delay, s.retry_backoff_max), 3)


def run_job(rt: Runtime, job_id: int, kind: str) -> str:
    """Returns what happened: completed, failed, skipped or stale; raises RetryLater when the
    job must wait (politeness) or retry (a transient upstream failure)."""
    job_kind = rt.kinds[kind]
    handler = job_kind.handler
    # Claimed and read in one statement; a duplicate delivery, a follower or a job cancelled
    # meanwhile is skipped here.
    job = rt.once_direct(lambda conn: jobs.claim(conn, job_id, rt.settings.lease_seconds))
    if job is None:
        return "skipped"
    try:
        up = _admitted(rt, handler, job)
    except _Stale:
        return "stale"  # cancelled while its host made it wait
    # Each job's INFO line is the one that says how it ended (with its kind and attempt): a
    # log line costs a busy worker a tenth of a millisecond, as much as a Redis round trip.
    log.debug("job claimed", extra=_named(job))
    try:
        with (
            keep_lease(rt, job_id, job["attempt"]),
            metrics.upstream_fetch(rt, job),
            hosts.session(rt, up),
        ):
            output = handler.fetch(rt, job)
    except hosts.HostBusy as busy:
        return _wait_for_host(rt, job, busy)
    except Exception as exc:
        return _fetch_failed(rt, job_kind, job, exc)
    return _complete(rt, job_kind, job, output)


def polite_delay(wait: float) -> float:
    """A refused job's countdown: the host's wait plus jitter, so the jobs a host turned
    away together do not all come back in the same millisecond (lock-step)."""
    return round(wait * random.uniform(1.0, 1.25) + random.uniform(0.0, 0.05), 3)


def _admitted(rt: Runtime, handler: Handler, job: dict[str, Any]) -> Upstream | None:
    """The job's first request's host, once its guard admits the request (the job's polite
    client does not ask again). While the host asks the job to wait, the claim is taken
    back — attempt and all, as if it had never been claimed — and RetryLater raised. If the
    admission cannot be asked (Redis away), the claim is taken back too and the error
    raised: the task retries it like any infrastructure error."""
    try:
        up = handler.upstream(rt, job)
        wait = hosts.admit(rt, up) if up is not None else 0.0
    except Exception:
        try:
            _unclaim(rt, job, 0.0)
        except Exception:  # Postgres away as well: the lease runs out, the sweeper sends it
            log.warning("claim not taken back", extra={"job_id": job["id"]}, exc_info=True)
        raise
    if wait > 0:
        metrics.guard_refused("upstream_politeness")
        delay = min(polite_delay(wait), rt.settings.retry_backoff_max)
        if not _unclaim(rt, job, delay):
            raise _Stale
        raise RetryLater(delay)
    return up


def _unclaim(rt: Runtime, job: dict[str, Any], delay: float) -> bool:
    return rt.once(lambda conn: jobs.unclaim(conn, job["id"], job["attempt"], delay))


def _wait_for_host(rt: Runtime, job: dict[str, Any], busy: hosts.HostBusy) -> str:
    """The host asked the running job to wait (429, a pause): back to the queue, its attempt
    given back, to run again after the host's wait."""
    delay = min(polite_delay(busy.wait), rt.settings.retry_backoff_max)
    with rt.engine.begin() as conn:
        waiting = jobs.give_back(conn, job["id"], job["attempt"], delay, str(busy))
    if not waiting:
        return "stale"  # cancelled meanwhile
    metrics.guard_refused("upstream_politeness")
    log.info("job waits for its host", extra=_named(job, delay=delay))
    raise RetryLater(delay)


def _fetch_failed(rt: Runtime, kind: JobKind, job: dict[str, Any], exc: Exception) -> str:
    """Transient: retry with backoff until the attempts run out. Permanent: fail with its
    reason. Anything else is a bug or an unexpected page, failed at once, never looped."""
    attempt = job["attempt"]
    if isinstance(exc, TransientSourceError):
        if attempt >= job["max_attempts"]:
            reason = f"gave up after {attempt} attempts: {exc}"
            return _fail(rt, kind, job, reason, "upstream_unavailable")
        delay = backoff(rt, attempt, exc.retry_after)
        with rt.engine.begin() as conn:
            requeued = jobs.requeue(conn, job["id"], attempt, delay, str(exc))
        log.warning("job will retry", extra=_named(job, delay=delay, reason=str(exc)))
        if requeued:
            raise RetryLater(delay) from exc
        return "stale"
    if isinstance(exc, PermanentSourceError):
        return _fail(rt, kind, job, str(exc), getattr(exc, "code", "permanent"))
    log.error("job crashed", extra={"job_id": job["id"]}, exc_info=exc)
    reason = f"internal error: {type(exc).__name__}: {exc}"
    return _fail(rt, kind, job, reason, "internal_error")


def _complete(rt: Runtime, kind: JobKind, job: dict[str, Any], output: Any) -> str:
    """Store the result and finish in one transaction, fenced by the attempt: one statement
    where the kind's handler completes in one (`CompletesInOne`)."""
    job_id = job["id"]
    handler = kind.handler
    try:
        if isinstance(handler, CompletesInOne):
            if not rt.once_direct(lambda conn: handler.complete(conn, rt, job, output)):
                raise _Stale
        else:
            with rt.engine.begin() as conn:
                result = handler.store(conn, rt, job, output)
                if not jobs.finish(
                    conn, job_id, job["attempt"], "completed", result=result, error=None
                ):
                    raise _Stale  # cancelled or superseded: roll back what this run stored
    except _Stale:
        log.info("job result discarded (cancelled or superseded)", extra=_named(job))
        return "stale"
    except DataError as exc:
        # The upstream sent a value the database cannot keep (a price past Numeric(14,2), a
        # string past a column's limit): fetching again would bring the same value, so the
        # job fails now with its own reason instead of running until its lease expires.
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        log.warning("result cannot be stored", extra={"job_id": job_id, "reason": reason})
        return _fail(
            rt,
            kind,
            job,
            f"upstream sent a value that cannot be stored: {reason}",
            "unstorable_value",
        )
    handler.after(rt, job, "completed")
    _ended(rt, kind, [job_id])
    log.info("job completed", extra=_named(job))
    return "completed"


def _fail(rt: Runtime, kind: JobKind, job: dict[str, Any], reason: str, code: str) -> str:
    with rt.engine.begin() as conn:
        done = jobs.finish(conn, job["id"], job["attempt"], "failed", error=reason, error_code=code)
    if not done:
        return "stale"
    kind.handler.after(rt, job, "failed")
    _ended(rt, kind, [job["id"]])
    log.warning("job failed", extra=_named(job, reason=reason))
    return "failed"


def _named(job: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A log line's fields for `job`: which job, of what kind, under which attempt."""
    return {"job_id": job["id"], "kind": job["kind"], "attempt": job["attempt"], **more}


def _ended(rt: Runtime, kind: JobKind, job_ids: list[int]) -> None:
    """Wake whoever waits for these jobs; only callers of a kind that is waited on listen."""
    if kind.waited_on:
        signals.notify(rt.redis, rt.prefix, job_ids)


def cancel_job(rt: Runtime, job_id: int, org_id: int | None) -> dict[str, Any] | None:
    with rt.engine.begin() as conn:
        job = jobs.cancel(conn, job_id, org_id)
    if job is not None:
        kind = rt.kinds[job["kind"]]
        kind.handler.after(rt, job, "cancelled")
        _ended(rt, kind, [job_id])
    return job
