"""Measurement 2: worker CPU and wall time per completed task, for Freshet's refresh tasks
against a raw task doing one HTTP GET of the same simulator page, and a no-op task. The same
worker (pool, concurrency, broker) drains each pile of work in turn; work is queued while the
worker's consumer is paused, so the publisher's pace is not in the numbers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis
from celery import Celery
from sqlalchemy import Engine

from bench import batch_accept, queues
from bench.queues import JobSet
from bench.stack import Proc
from bench.tenancy import MARKETPLACE, asins, submit_reviews
from freshet.accounts.tenants import Principal
from freshet.runtime import Runtime
from sources.amazon_reviews import review_page_url
from sources.shopify import json_url

RAW_QUEUE = "bench"


def _per_task(n: int, cpu: float, wall: float) -> dict[str, Any]:
    return {
        "n": n,
        "cpu_ms": cpu / n * 1000,
        "wall_ms": wall / n * 1000,
        "per_s": n / wall,
        "cpu_s": cpu,
        "wall_s": wall,
    }


class Drain:
    """One worker, its Celery app and broker: queue work paused, then time the drain."""

    def __init__(
        self,
        app: Celery,
        client: redis.Redis,
        engine: Engine,
        worker: Proc,
        profile: Callable[[str, int], AbstractContextManager[Any]] | None = None,
    ):
        self.app, self.client, self.engine, self.worker = app, client, engine, worker
        self.host: str = worker.hostname  # type: ignore[attr-defined]
        self.profile = profile or (lambda label, pid: contextlib.nullcontext())

    def raw(self, task: str, arglists: list[list[Any]], timeout: float) -> dict[str, Any]:
        before = queues.accepted_total(self.app, self.host, task)
        queues.pause(self.app, self.host, RAW_QUEUE)
        n = queues.publish_raw(self.app, task, arglists, RAW_QUEUE)
        cpu0, t0 = self.worker.cpu_seconds(), time.perf_counter()
        queues.resume(self.app, self.host, RAW_QUEUE)
        t1 = queues.wait_raw_drained(
            self.app, self.client, self.host, RAW_QUEUE, task, before + n, timeout
        )
        return _per_task(n, self.worker.cpu_seconds() - cpu0, t1 - t0)

    def jobs(
        self,
        queue_names: list[str],
        submit: Callable[[], tuple[JobSet, int]],
        timeout: float,
        label: str = "",
    ) -> dict[str, Any]:
        for q in queue_names:
            queues.pause(self.app, self.host, q)
        jobset, n = submit()
        with self.profile(label, self.worker.pid) if label else contextlib.nullcontext():
            cpu0, t0 = self.worker.cpu_seconds(), time.perf_counter()
            for q in queue_names:
                queues.resume(self.app, self.host, q)
            t1, progress = queues.wait_jobs_done(
                self.engine, self.client, jobset, queue_names, n, timeout
            )
        out = _per_task(n, self.worker.cpu_seconds() - cpu0, t1 - t0)
        out.update(
            completed=progress["completed"],
            failed=progress["failed"],
            mean_run_ms=progress["mean_run_s"] * 1000,
        )
        return out


def measure(
    *,
    drain: Drain,
    rt: Runtime,
    principal: Principal,
    n: int,
    concurrency: int,
    tag: str,
    batch: dict[str, Any] | None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`batch`: {api_url, sim_url, headers} when the batch endpoint exists."""
    base = rt.settings.amazon_base_url
    timeout = 60 + n * 0.3

    def reviews(asin_list: list[str]) -> Callable[[], tuple[JobSet, int]]:
        def submit() -> tuple[JobSet, int]:
            ids = submit_reviews(rt, principal, asin_list)
            return JobSet(min(ids), max(ids)), len(ids)

        return submit

    def batches(count: int, btag: str, urls_out: list[str]) -> Callable[[], tuple[JobSet, int]]:
        def submit() -> tuple[JobSet, int]:
            assert batch is not None  # batches() is only used when the batch endpoint exists
            wids, urls = batch_accept.post_batches(
                batch["api_url"], batch["sim_url"], batch["headers"], count, btag
            )
            urls_out.extend(urls)
            return JobSet(workflow_ids=tuple(wids)), count

        return submit

    def review_urls(asin_list: list[str]) -> list[list[Any]]:
        return [[review_page_url(base, a, MARKETPLACE)] for a in asin_list]

    # Warm every path once (imports, connection pools, lxml) before anything is timed.
    warm = asins(tag + "W", 30)
    drain.raw("bench.noop", [[i] for i in range(30)], timeout)
    drain.raw("bench.http_get", review_urls(warm), timeout)
    drain.jobs(["reviews"], reviews(warm), timeout)
    if batch:
        warm_urls: list[str] = []
        drain.jobs(["default", "batch"], batches(30, f"{tag.lower()}w", warm_urls), timeout)
        drain.raw("bench.http_get", [[json_url(u)] for u in warm_urls], timeout)

    main = asins(tag, n)
    out: dict[str, Any] = {"concurrency": concurrency, "pool": "threads"}
    out["noop"] = drain.raw("bench.noop", [[i] for i in range(n)], timeout)
    log(f"   no-op task                {out['noop']['cpu_ms']:.2f} ms CPU/task")
    out["http_get_review"] = drain.raw("bench.http_get", review_urls(main), timeout)
    log(f"   HTTP GET task (review pg) {out['http_get_review']['cpu_ms']:.2f} ms CPU/task")
    out["freshet_review"] = drain.jobs(["reviews"], reviews(main), timeout, label="worker-review")
    log(f"   Freshet review job        {out['freshet_review']['cpu_ms']:.2f} ms CPU/task")
    if batch:
        urls: list[str] = []
        out["freshet_batch_target"] = drain.jobs(
            ["default", "batch"],
            batches(n, tag.lower(), urls),
            timeout,
            label="worker-batch-target",
        )
        log(
            f"   Freshet batch target      {out['freshet_batch_target']['cpu_ms']:.2f} ms "
            "CPU/task (launch fan-out included)"
        )
        out["http_get_product"] = drain.raw(
            "bench.http_get", [[json_url(u)] for u in urls], timeout
        )
        log(f"   HTTP GET task (product)   {out['http_get_product']['cpu_ms']:.2f} ms CPU/task")
    return out
