"""Holding a worker's consumption while work piles up, then timing how fast it drains.

Work is published while the worker's consumer for that queue is cancelled, so the drain is
measured without the publisher's pace in it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from sqlalchemy import Engine, text

from bench.stack import BenchError

# kombu's Redis transport keeps delivered-but-unacknowledged messages in this hash.
UNACKED = "unacked"


def pause(app: Celery, hostname: str, queue: str) -> None:
    replies = app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=5)
    if not replies:
        raise BenchError(f"{hostname} did not answer cancel_consumer({queue})")


def resume(app: Celery, hostname: str, queue: str) -> None:
    replies = app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
    if not replies:
        raise BenchError(f"{hostname} did not answer add_consumer({queue})")


def publish_raw(app: Celery, task: str, arglists: Iterable[list[Any]], queue: str) -> int:
    n = 0
    with app.producer_or_acquire() as producer:
        for args in arglists:
            app.send_task(task, args=args, queue=queue, producer=producer)
            n += 1
    return n


def queue_empty(client: redis.Redis, queue: str) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.llen(queue)
    pipe.hlen(UNACKED)
    waiting: int
    unacked: int
    waiting, unacked = pipe.execute()
    return waiting == 0 and unacked == 0


def accepted_total(app: Celery, hostname: str, task: str) -> int:
    stats = app.control.inspect([hostname], timeout=5).stats() or {}
    return int(stats.get(hostname, {}).get("total", {}).get(task, 0))


def active_count(app: Celery, hostname: str) -> int:
    active = app.control.inspect([hostname], timeout=5).active() or {}
    return len(active.get(hostname, []))


def wait_raw_drained(
    app: Celery,
    client: redis.Redis,
    hostname: str,
    queue: str,
    task: str,
    expected_total: int,
    timeout: float,
) -> float:
    """Wait until the worker has taken `expected_total` tasks of `task` in all and none is
    running or unacknowledged; returns perf_counter() when that was first seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_empty(client, queue):
            seen = time.perf_counter()
            if (
                accepted_total(app, hostname, task) >= expected_total
                and active_count(app, hostname) == 0
                and queue_empty(client, queue)
            ):
                return seen
        time.sleep(0.005)
    raise BenchError(f"{queue} did not drain within {timeout:.0f}s")


@dataclass(frozen=True)
class JobSet:
    """Which jobs a measurement waits for: an id range, or the jobs of some workflows."""

    first_id: int = 0
    last_id: int = 0
    workflow_ids: tuple[str, ...] = ()

    def where(self) -> tuple[str, dict[str, Any]]:
        if self.workflow_ids:
            return "workflow_id = ANY(CAST(:w AS uuid[]))", {"w": list(self.workflow_ids)}
        return "id BETWEEN :a AND :b", {"a": self.first_id, "b": self.last_id}


def job_progress(engine: Engine, jobs: JobSet) -> dict[str, Any]:
    cond, params = jobs.where()
    # `cond` is one of JobSet's two fixed conditions; every value is bound.
    sql = (
        "SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'cancelled')),"  # noqa: S608
        " count(*) FILTER (WHERE status = 'completed'),"
        " count(*) FILTER (WHERE status = 'failed'),"
        " min(started_at), max(finished_at),"
        " avg(extract(epoch FROM finished_at - started_at)), count(*), min(created_at)"
        " FROM jobs WHERE " + cond
    )
    with engine.connect() as conn:
        row = conn.execute(text(sql), params).one()
    return {
        "done": row[0],
        "completed": row[1],
        "failed": row[2],
        "first_started": row[3],
        "last_finished": row[4],
        "mean_run_s": float(row[5] or 0),
        "rows": row[6],
        "first_created": row[7],
    }


def wait_jobs_done(
    engine: Engine,
    client: redis.Redis,
    jobs: JobSet,
    queue_names: list[str],
    expected: int,
    timeout: float,
    every: float = 0.02,
) -> tuple[float, dict[str, Any]]:
    """Wait until `expected` jobs of the set have ended and every message is acknowledged,
    looking every `every` s. A measurement timed by the jobs' own timestamps (first start,
    last finish) passes a longer `every`: the look is an aggregate over every job of the set
    (Postgres and the bench's own CPU, ~15 % of a core at 50 a second), taken from the stack
    it measures, and when it sees the end does not change the figure."""
    deadline = time.monotonic() + timeout
    progress: dict[str, Any] = {}
    while time.monotonic() < deadline:
        progress = job_progress(engine, jobs)
        if progress["done"] >= expected:
            seen = time.perf_counter()
            while (
                not all(queue_empty(client, q) for q in queue_names) and time.monotonic() < deadline
            ):
                time.sleep(0.005)
            return seen, progress
        time.sleep(every)
    raise BenchError(f"jobs not done within {timeout:.0f}s: {progress}")
