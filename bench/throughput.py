"""Measurement 3 (and 7): refreshes per second for a pile of targets with the simulator at
50 ms, one fresh worker per concurrency, against concurrency/latency and the CPU bound from
measurement 2; peak RSS of the worker and the API meanwhile."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from sqlalchemy import Engine

from bench import batch_accept, queues
from bench.queues import JobSet
from bench.stack import Stack
from bench.stats import PeakRss
from bench.tenancy import asins, submit_reviews
from freshet.accounts.tenants import Principal
from freshet.runtime import Runtime


def _run(
    stack: Stack,
    app: Celery,
    engine: Engine,
    concurrency: int,
    n: int,
    submit: Callable[[], JobSet],
    queue_names: list[str],
    worker_first: bool,
    api_rss: Callable[[], int] | None,
) -> dict[str, Any]:
    with PeakRss({"api": api_rss} if api_rss else {}) as rss:
        worker = None
        if worker_first:
            worker = stack.start_worker(f"worker-c{concurrency}", concurrency, app=app)
            rss.add("worker", worker.rss_bytes)
        t0 = time.perf_counter()
        started = dt.datetime.now(dt.UTC)
        jobset = submit()
        submit_s = time.perf_counter() - t0
        if worker is None:
            worker = stack.start_worker(f"worker-c{concurrency}", concurrency)
            rss.add("worker", worker.rss_bytes)
        client = stack.redis()
        try:
            # Timed by the jobs' timestamps (first POST or first start to the last
            # finished_at): looking four times a second costs the stack nearly nothing.
            _, progress = queues.wait_jobs_done(
                engine, client, jobset, queue_names, n, timeout=60 + n * 0.2, every=0.25
            )
            cpu = worker.cpu_seconds()
        finally:
            client.close()
            stack.stop(worker.name)
    drain_s = (progress["last_finished"] - progress["first_started"]).total_seconds()
    out = {
        "n": n,
        "concurrency": concurrency,
        "submit_s": submit_s,
        "drain_per_s": n / drain_s,
        "drain_s": drain_s,
        "completed": progress["completed"],
        "failed": progress["failed"],
        "mean_run_ms": progress["mean_run_s"] * 1000,
        # the worker's start-up included: an upper bound on its CPU per refresh here
        "worker_cpu_ms_per_refresh": cpu / n * 1000,
        "peak_rss": dict(rss.peaks),
    }
    if worker_first:
        e2e_s = (progress["last_finished"] - started).total_seconds()
        out.update(e2e_s=e2e_s, per_s=n / e2e_s)
    else:
        out["per_s"] = out["drain_per_s"]
    return out


def measure_batch(
    *,
    stack: Stack,
    app: Celery,
    engine: Engine,
    api_url: str,
    headers: dict[str, str],
    n: int,
    concurrency: int,
    tag: str,
    api_rss: Callable[[], int] | None,
) -> dict[str, Any]:
    """A running worker; n targets POSTed in batches of 500; from the first POST to the last
    target finished (acceptance, the fan-out and every fetch included)."""

    def submit() -> JobSet:
        wids, _ = batch_accept.post_batches(api_url, stack.sim_url, headers, n, tag.lower())
        return JobSet(workflow_ids=tuple(wids))

    out = _run(stack, app, engine, concurrency, n, submit, ["default", "batch"], True, api_rss)
    out["path"] = "batch targets via POST /v1/products/refresh"
    return out


def measure_reviews(
    *,
    stack: Stack,
    app: Celery,
    engine: Engine,
    rt: Runtime,
    principal: Principal,
    n: int,
    concurrency: int,
    tag: str,
    api_rss: Callable[[], int] | None,
) -> dict[str, Any]:
    """n review jobs submitted through the domain with no worker running, then a worker
    started: first claim to last finish, as Postgres recorded them."""

    def submit() -> JobSet:
        ids = submit_reviews(rt, principal, asins(tag, n))
        return JobSet(min(ids), max(ids))

    out = _run(stack, app, engine, concurrency, n, submit, ["reviews"], False, api_rss)
    out["path"] = "review jobs (freshet.reviews.submit), drained"
    return out
