"""Measurements 8 and 9 (issue #17): past one box.

8: end to end (POST of batch targets → fan-out → fetch, 50 ms upstream) with one and with two
   worker processes of the same thread count: targets/s each, and the ratio.
9: a large database: the sweeper pass, a cached lookup and a batch accept on the stack as it
   is, then again after loading BENCH_BIG_JOBS finished jobs (with their ledger rows) and
   BENCH_BIG_OBSERVATIONS price observations (generate_series, in Postgres); the ratio of
   each. Defaults 1,000,000 and 10,000,000; smaller sizes are for a quick look.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from typing import Any

import requests
from sqlalchemy import text

from bench import batch_accept, queues
from bench.queues import JobSet

BIG_JOBS = int(os.environ.get("BENCH_BIG_JOBS", "1000000"))
BIG_OBSERVATIONS = int(os.environ.get("BENCH_BIG_OBSERVATIONS", "10000000"))
BIG_PRODUCTS = 10_000


def processes(bench: Any, n: int, concurrency: int) -> dict[str, Any]:
    """Targets/s end to end with 1 and with 2 worker processes of `concurrency` threads."""
    stack = bench.stack
    stack.stop("worker")
    out: dict[str, Any] = {"n": n, "concurrency": concurrency}
    stack.set_faults(latency_ms=50)
    try:
        for procs in (1, 2):
            names = [f"worker-p{procs}-{i}" for i in range(procs)]
            for name in names:
                stack.start_worker(name, concurrency, app=bench.app)
            started = dt.datetime.now(dt.UTC)
            wids, _ = batch_accept.post_batches(
                bench.api_url, stack.sim_url, bench.batch_tenant(), n, f"p{procs}{time.time_ns()}"
            )
            client = stack.redis()
            try:
                _, progress = queues.wait_jobs_done(
                    bench.engine,
                    client,
                    JobSet(workflow_ids=tuple(wids)),
                    ["default", "batch"],
                    n,
                    timeout=60 + n * 0.2,
                    every=0.25,  # timed by the jobs' timestamps (see wait_jobs_done)
                )
            finally:
                client.close()
                for name in names:
                    stack.stop(name)
            e2e_s = (progress["last_finished"] - started).total_seconds()
            out[f"p{procs}"] = {
                "per_s": n / e2e_s,
                "e2e_s": e2e_s,
                "failed": progress["failed"],
            }
    finally:
        stack.set_faults()
    out["ratio"] = out["p2"]["per_s"] / out["p1"]["per_s"]
    return out


def _median_s(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _costs(
    bench: Any, product_path: str, headers: dict[str, str], batch_headers: dict[str, str]
) -> dict[str, float]:
    from freshet.jobs.sweeper import sweep

    sweep(bench.rt)  # warm
    sess = requests.Session()

    def lookup() -> None:
        r = sess.get(bench.api_url + product_path, headers=headers, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"lookup answered {r.status_code}")

    def accept() -> None:
        batch_accept.post_batches(
            bench.api_url, bench.stack.sim_url, batch_headers, 100, f"big{time.time_ns()}"
        )

    lookup()
    costs = {
        "sweep_s": _median_s(lambda: sweep(bench.rt), 7),
        "lookup_s": _median_s(lookup, 50),
        "accept_100_s": _median_s(accept, 5),
    }
    sess.close()
    bench._forget_queued_work()
    return costs


def load_big(engine: Any, jobs: int, observations: int) -> dict[str, float]:
    """Finished jobs within retention (with reserve+charge rows, the reservation marked
    settled as the settling statement marks it), products, observations spread over 60 days
    of which the older half is already thinned; the thinning mark caught up: the steady
    state of a deployment that has run its passes."""
    timings = {}
    with engine.begin() as conn:
        org = conn.execute(text("SELECT id FROM organizations ORDER BY id LIMIT 1")).scalar()
        t0 = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO jobs (org_id, kind, status, queue, attempt, max_attempts, created_at,"
                " updated_at, started_at, finished_at, tokens_reserved) "
                "SELECT :org, 'product', 'completed', 'interactive', 1, 5, t, t, t, t, 1 FROM ("
                " SELECT now() - (i % 2400000) * interval '1 second' AS t"
                " FROM generate_series(1, :n) i) s"
            ),
            {"org": org, "n": jobs},
        )
        conn.execute(
            text(
                "INSERT INTO ledger (org_id, period, job_id, resource, kind, amount, created_at,"
                " settled_at) "
                "SELECT org_id, date_trunc('month', created_at)::date, id, 'tokens', k, 1, "
                "created_at, CASE WHEN k = 'reserve' THEN created_at END "
                "FROM jobs CROSS JOIN (VALUES ('reserve'), ('charge')) v(k) "
                "WHERE kind = 'product' AND result IS NULL AND status = 'completed'"
            )
        )
        timings["jobs_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO products (id, source, key) SELECT gen_random_uuid(), 'bench-big', "
                "'big-' || i FROM generate_series(1, :n) i"
            ),
            {"n": BIG_PRODUCTS},
        )
        conn.execute(
            text(
                "INSERT INTO price_observations (product_id, observed_at, price) "
                "SELECT p.id, now() - (i % (30 * 86400)) * interval '1 second', 9.99 "
                "FROM generate_series(1, :n) i "
                "JOIN (SELECT id, row_number() OVER () - 1 AS k FROM products "
                "WHERE source = 'bench-big') p ON p.k = i % :products"
            ),
            {"n": observations, "products": BIG_PRODUCTS},
        )
        conn.execute(
            text(
                "INSERT INTO maintenance_marks (name, upto) VALUES ('thin_observations', "
                "now() - interval '30 days') ON CONFLICT (name) DO UPDATE SET upto = excluded.upto"
            )
        )
        timings["observations_s"] = time.perf_counter() - t0
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        auto.execute(text("VACUUM ANALYZE jobs, ledger, products, price_observations"))
        # The load leaves GBs of dirty pages that the checkpointer would otherwise write out
        # over the next minutes, under the measurement: that is the load's cost, not the size's.
        auto.execute(text("CHECKPOINT"))
    return timings


def big_database(
    bench: Any, product_path: str, headers: dict[str, str], batch_headers: dict[str, str]
) -> dict[str, Any]:
    """`headers`: a tenant for the cached lookup; `batch_headers`: one granted the bench shop."""
    # One round unmeasured first: the worker and the API processes have just started, and
    # their first seconds (imports, pools, the first requests) would land on the empty side.
    _costs(bench, product_path, headers, batch_headers)
    empty = _costs(bench, product_path, headers, batch_headers)
    loaded = load_big(bench.engine, BIG_JOBS, BIG_OBSERVATIONS)
    big = _costs(bench, product_path, headers, batch_headers)
    return {
        "jobs": BIG_JOBS,
        "observations": BIG_OBSERVATIONS,
        "load": loaded,
        "empty": empty,
        "big": big,
        "ratios": {k: big[k] / empty[k] for k in empty},
    }
