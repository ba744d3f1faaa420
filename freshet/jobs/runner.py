"""Runs one job: claim, upstream work outside any transaction, then finish in one transaction.

Task bodies call `run_job`; the logic lives here so tests can call it without Celery.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy.exc import DataError

from freshet import hosts, metrics
from freshet.jobs import lifecycle as jobs
from freshet.jobs import signals
from freshet.runtime import Handler, Runtime, Upstream
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


@contextlib.contextmanager
def keep_lease(rt: Runtime, job_id: int, attempt: int) -> Iterator[None]:
    """Renew the lease while a live worker is busy upstream, so only a dead (or frozen) one
    loses its job to the sweeper: a slow but healthy fetch is never run twice."""
    lease = rt.settings.lease_seconds
    # Never past the task's time limit: a thread stuck beyond it loses the job like a dead one.
    give_up = time.monotonic() + rt.settings.task_time_limit
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease / 3) and time.monotonic() < give_up:
            try:
                with rt.engine.begin() as conn:
                    if not jobs.extend_lease(conn, job_id, attempt, lease):
                        return  # cancelled or taken over: the fence at finish decides
            except Exception:  # Postgres away for a moment: the next beat tries again
                log.warning("lease renewal failed", extra={"job_id": job_id}, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def run_job(rt: Runtime, job_id: int, kind: str) -> str:
    """Returns what happened: completed, failed, skipped or stale; raises RetryLater when the
    job must wait (politeness) or retry (a transient upstream failure)."""
    handler = rt.kinds[kind].handler
    ready, up = _ready(rt, handler, job_id)
    if not ready:
        return "skipped"
    with rt.engine.begin() as conn:
        job = jobs.claim(conn, job_id, rt.settings.lease_seconds)
    if job is None:
        return "skipped"  # a duplicate delivery, or cancelled meanwhile
    log.info("job claimed", extra={"job_id": job_id, "kind": kind, "attempt": job["attempt"]})
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
        return _fetch_failed(rt, handler, job, exc)
    return _complete(rt, handler, job, output)


def polite_delay(wait: float) -> float:
    """A refused job's countdown: the host's wait plus jitter, so the jobs a host turned
    away together do not all come back in the same millisecond (lock-step)."""
    return round(wait * random.uniform(1.0, 1.25) + random.uniform(0.0, 0.05), 3)


def _ready(rt: Runtime, handler: Handler, job_id: int) -> tuple[bool, Upstream | None]:
    """Whether the job is still queued for a run of its own, and its first request's host;
    raises RetryLater while that host asks it to wait (before the claim: no attempt spent).
    The admission is that first request's: the job's polite client does not ask again."""
    with rt.engine.connect() as conn:
        pre = jobs.get(conn, job_id)
    if pre is None or pre["status"] != "queued" or pre["leader_job_id"] is not None:
        return False, None
    up = handler.upstream(rt, pre)
    wait = hosts.admit(rt, up) if up is not None else 0.0
    if wait > 0:
        metrics.guard_refused("upstream_politeness")
        delay = min(polite_delay(wait), rt.settings.retry_backoff_max)
        with rt.engine.begin() as conn:
            jobs.mark_dispatched(conn, [job_id], delay=delay)
        raise RetryLater(delay)
    return True, up


def _wait_for_host(rt: Runtime, job: dict[str, Any], busy: hosts.HostBusy) -> str:
    """The host asked the running job to wait (429, a pause): back to the queue, its attempt
    given back, to run again after the host's wait."""
    delay = min(polite_delay(busy.wait), rt.settings.retry_backoff_max)
    with rt.engine.begin() as conn:
        waiting = jobs.give_back(conn, job["id"], job["attempt"], delay, str(busy))
    if not waiting:
        return "stale"  # cancelled meanwhile
    metrics.guard_refused("upstream_politeness")
    log.info("job waits for its host", extra={"job_id": job["id"], "delay": delay})
    raise RetryLater(delay)


def _fetch_failed(rt: Runtime, handler: Handler, job: dict[str, Any], exc: Exception) -> str:
    """Transient: retry with backoff until the attempts run out. Permanent: fail with its
    reason. Anything else is a bug or an unexpected page, failed at once, never looped."""
    attempt = job["attempt"]
    if isinstance(exc, TransientSourceError):
        if attempt >= job["max_attempts"]:
            reason = f"gave up after {attempt} attempts: {exc}"
            return _fail(rt, handler, job, reason, "upstream_unavailable")
        delay = backoff(rt, attempt, exc.retry_after)
        with rt.engine.begin() as conn:
            requeued = jobs.requeue(conn, job["id"], attempt, delay, str(exc))
        log.warning(
            "job will retry", extra={"job_id": job["id"], "delay": delay, "reason": str(exc)}
        )
        if requeued:
            raise RetryLater(delay) from exc
        return "stale"
    if isinstance(exc, PermanentSourceError):
        return _fail(rt, handler, job, str(exc), getattr(exc, "code", "permanent"))
    log.error("job crashed", extra={"job_id": job["id"]}, exc_info=exc)
    reason = f"internal error: {type(exc).__name__}: {exc}"
    return _fail(rt, handler, job, reason, "internal_error")


def _complete(rt: Runtime, handler: Handler, job: dict[str, Any], output: Any) -> str:
    """Store the result and finish in one transaction, fenced by the attempt."""
    job_id = job["id"]
    try:
        with rt.engine.begin() as conn:
            result = handler.store(conn, rt, job, output)
            if not jobs.finish(
                conn, job_id, job["attempt"], "completed", result=result, error=None
            ):
                raise _Stale  # cancelled or superseded: roll back what this run stored
    except _Stale:
        log.info("job result discarded (cancelled or superseded)", extra={"job_id": job_id})
        return "stale"
    except DataError as exc:
        # The upstream sent a value the database cannot keep (a price past Numeric(14,2), a
        # string past a column's limit): fetching again would bring the same value, so the
        # job fails now with its own reason instead of running until its lease expires.
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        log.warning("result cannot be stored", extra={"job_id": job_id, "reason": reason})
        return _fail(
            rt,
            handler,
            job,
            f"upstream sent a value that cannot be stored: {reason}",
            "unstorable_value",
        )
    handler.after(rt, job, "completed")
    signals.notify(rt.redis, rt.prefix, [job_id])
    log.info("job completed", extra={"job_id": job_id})
    return "completed"


def _fail(rt: Runtime, handler: Handler, job: dict[str, Any], reason: str, code: str) -> str:
    with rt.engine.begin() as conn:
        done = jobs.finish(conn, job["id"], job["attempt"], "failed", error=reason, error_code=code)
    if not done:
        return "stale"
    handler.after(rt, job, "failed")
    signals.notify(rt.redis, rt.prefix, [job["id"]])
    log.warning("job failed", extra={"job_id": job["id"], "reason": reason})
    return "failed"


def cancel_job(rt: Runtime, job_id: int, org_id: int | None) -> dict[str, Any] | None:
    with rt.engine.begin() as conn:
        job = jobs.cancel(conn, job_id, org_id)
    if job is not None:
        rt.kinds[job["kind"]].handler.after(rt, job, "cancelled")
        signals.notify(rt.redis, rt.prefix, [job_id])
    return job
