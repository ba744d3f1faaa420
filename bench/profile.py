"""Where the time goes: profile Freshet's hot paths in-process with pyinstrument, on the same
private stack the bench uses (simulator, Redis and Postgres in processes of their own).

    python -m bench.profile refresh   # the worker's side of a review refresh (run_job)
    python -m bench.profile target    # the worker's side of a batch target (run_job)
    python -m bench.profile admit     # Guards.admit
    python -m bench.profile lookup    # GET /v1/products/{id}, cached (Flask test client)
    python -m bench.profile batch     # POST /v1/products/refresh with 500 targets

Prints pyinstrument's call tree; --html FILE writes the interactive one.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyinstrument import Profiler
from sqlalchemy import text

from bench.phases import log
from bench.stack import Stack
from freshet.runtime import Message


class _CProfile:
    """cProfile with pyinstrument's start/stop/with interface, timing CPU, not wall."""

    def __init__(self) -> None:
        self.prof = cProfile.Profile(time.process_time)

    def start(self) -> None:
        self.prof.enable()

    def stop(self) -> None:
        self.prof.disable()

    def __enter__(self) -> _CProfile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def print(self, n: int) -> None:
        stats = pstats.Stats(self.prof)
        total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        print(f"CPU: {total:.3f}s for {n} calls = {total / n * 1000:.2f} ms each\n")
        stats.sort_stats("cumulative").print_stats(
            int(__import__("os").environ.get("PROF_ROWS", "45"))
        )
        stats.sort_stats("tottime").print_stats(30)


class _Discard:
    """A publisher that sends nothing: the jobs stay queued for run_job to take directly."""

    def publish(self, dispatches: Sequence[Message]) -> None:
        return None


def _refresh(stack: Stack, n: int, profiler: Profiler) -> None:
    from bench.tenancy import asins, submit_reviews, unlimited_tenant
    from freshet.jobs.runner import run_job
    from freshet.wiring import build_runtime

    rt = build_runtime(stack.settings(), _Discard(), statements_async=False)  # as a worker
    _, principal = unlimited_tenant(rt.engine)
    warm = submit_reviews(rt, principal, asins("PW", 20))
    ids = submit_reviews(rt, principal, asins("P", n))
    for job_id in warm:
        run_job(rt, job_id, "reviews")
    t0 = time.perf_counter()
    with profiler:
        outcomes = [run_job(rt, job_id, "reviews") for job_id in ids]
    log(
        f"{n} review jobs run in-process: {(time.perf_counter() - t0) / n * 1000:.2f} ms each "
        f"(under the profiler), outcomes {sorted(set(outcomes))}"
    )
    rt.close()


def _target(stack: Stack, n: int, profiler: Profiler) -> None:
    from bench import batch_accept
    from bench.tenancy import unlimited_tenant
    from freshet import batch
    from freshet.jobs.runner import run_job
    from freshet.wiring import build_runtime
    from schemas.batch import BatchRequest
    from tests.factories import make_catalog

    rt = build_runtime(stack.settings(), _Discard(), statements_async=False)  # as a worker
    make_catalog(
        rt.engine, batch_accept.CATALOG, "shopify", [batch_accept.catalog_domain(stack.sim_host)]
    )
    _, principal = unlimited_tenant(rt.engine, catalogs=[batch_accept.CATALOG])

    def submit(count: int, tag: str) -> list[int]:
        req = BatchRequest(batch_accept.targets(stack.sim_url, count, tag), None)
        body, status, _ = batch.submit(rt, principal, req, f"prof-{tag}")
        assert status == 202, body
        batch.launch(rt, body["workflowId"], push=lambda messages: None)
        with rt.engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT id FROM jobs WHERE workflow_id = :w ORDER BY id"),
                    {"w": body["workflowId"]},
                ).scalars()
            )

    for job_id in submit(20, "warm"):
        run_job(rt, job_id, "batch_target")
    ids = submit(n, "prof")
    t0 = time.perf_counter()
    with profiler:
        outcomes = [run_job(rt, job_id, "batch_target") for job_id in ids]
    log(
        f"{n} batch targets run in-process: {(time.perf_counter() - t0) / n * 1000:.2f} ms "
        f"each (under the profiler), outcomes {sorted(set(outcomes))}"
    )
    rt.close()


def _admit(stack: Stack, n: int, profiler: Profiler) -> None:
    from guards import Guards, RateWindow

    client = stack.redis()
    g = Guards(client, "prof:")
    w = RateWindow("org:1:submit", 10**9)
    for i in range(n + 50):
        if i == 50:
            profiler.start()
        g.admit(
            [w],
            cooldown=(g.cooldown_key(1, f"B{i:09d}", "amazon.de"), 60),
            slot=(g.slot_key(1), 10**9, 3600),
            job_id=i + 1,
        )
    profiler.stop()


def _api(stack: Stack, n: int, profiler: Profiler, what: str) -> None:
    from api.app import create_app
    from bench import batch_accept
    from bench.celery_app import create as create_celery
    from bench.tenancy import unlimited_tenant
    from tests.factories import make_catalog
    from workers.publish import CeleryPublisher

    settings = stack.settings()
    app = create_app(settings, publisher=CeleryPublisher(create_celery(settings)))
    rt = app.extensions["freshet"]
    make_catalog(
        rt.engine, batch_accept.CATALOG, "shopify", [batch_accept.catalog_domain(stack.sim_host)]
    )
    tenant, _ = unlimited_tenant(rt.engine, catalogs=[batch_accept.CATALOG])
    client = app.test_client()
    if what == "batch":

        def call(i: int) -> int:
            body = {"targets": batch_accept.targets(stack.sim_url, 500, f"p{i}")}
            return client.post(
                "/v1/products/refresh", json=body, headers=tenant.headers
            ).status_code
    else:
        worker = stack.start_worker("worker", 4, app=create_celery(settings))
        pid = "700999999"
        first = client.post(f"/v1/products/{pid}/refresh", headers=tenant.headers)
        log(f"refresh: {first.status_code}")
        stack.stop(worker.name)

        def call(i: int) -> int:
            return client.get(f"/v1/products/{pid}", headers=tenant.headers).status_code

    statuses = [call(i) for i in range(10)]
    with profiler:
        statuses = [call(i) for i in range(n)]
    log(f"statuses: { {s: statuses.count(s) for s in set(statuses)} }")
    rt.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=["refresh", "target", "admit", "lookup", "batch"])
    p.add_argument("-n", type=int, default=0, help="how many (default per target)")
    p.add_argument("--html", help="write pyinstrument's HTML report here")
    p.add_argument(
        "--cpu",
        action="store_true",
        help="cProfile (CPU time per function) instead of pyinstrument (wall)",
    )
    args = p.parse_args(argv)
    n = (
        args.n
        or {"refresh": 200, "target": 200, "admit": 5000, "lookup": 2000, "batch": 20}[args.what]
    )
    profiler: Any = _CProfile() if args.cpu else Profiler(interval=0.0005)
    with Stack.up(log=log) as stack:
        if args.what == "refresh":
            _refresh(stack, n, profiler)
        elif args.what == "target":
            _target(stack, n, profiler)
        elif args.what == "admit":
            _admit(stack, n, profiler)
        else:
            _api(stack, n, profiler, args.what)
    if args.cpu:
        profiler.print(n)
        return 0
    if args.html:
        with open(args.html, "w") as f:
            f.write(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
