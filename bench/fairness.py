"""Measurements 8 and 9 (issue #14): many tenants on one fleet.

8. Fair share: organization A submits a backlog (batches of targets, upstream at 200 ms);
   organization B then submits one target. B's wait (submission → completed) alone, behind A
   with fair share, behind A without it (`FRESHET_FAIR_SHARE_ENABLED=false`: the whole
   workflow is fanned out at once, as before); and A's throughput (targets/s, first
   submission → last completion) with and without fair share, and the worker's CPU per
   target in each mode.
9. Adaptive politeness: one host with a ceiling of 25/s (20/s after headroom) answers only
   429 for a while; the request rate it sees, second by second, before, during and after.

Submissions go through the domain (`freshet.batch.submit`, what the endpoint calls), from
this process with the same setting as the worker, so both modes run on one stack.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import Engine, text

from bench.stack import Stack, wait_until
from freshet.settings import Settings

LATENCY_MS = 200
THREADS = 16
WINDOW = Settings.fair_share_window  # FRESHET_FAIR_SHARE_WINDOW's default


def _submit(rt: Any, principal: Any, urls: list[str]) -> str:
    from freshet import batch
    from freshet.jobs import lifecycle
    from schemas.batch import load_request

    req = load_request({"targets": [{"url": u} for u in urls]})
    body, status, _ = batch.submit(rt, principal, req, lifecycle.new_request_id())
    assert status == 202, body
    return str(body["workflowId"])


def _done(engine: Engine, workflow_ids: list[str]) -> tuple[int, int, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'completed') AS ok, "
                "count(*) FILTER (WHERE status = 'failed') AS failed, max(finished_at) AS last "
                "FROM jobs WHERE workflow_id = ANY(CAST(:w AS uuid[]))"
            ),
            {"w": workflow_ids},
        ).one()
    return int(row.ok), int(row.failed), row.last


def _runtime(stack: Stack, app: Any, fair: bool) -> Any:
    from freshet.wiring import build_runtime
    from workers.publish import CeleryPublisher

    settings = stack.settings().with_overrides(fair_share_enabled=fair, fair_share_window=WINDOW)
    return build_runtime(settings, CeleryPublisher(app), pool_size=2)


def _wait_b(engine: Engine, wid: str, timeout: float) -> float:
    t0 = time.monotonic()
    wait_until(lambda: _done(engine, [wid])[0] == 1, timeout, "B's target", every=0.05)
    return time.monotonic() - t0


def fair_share(
    stack: Stack, app: Any, engine: Engine, batches: int, per_batch: int
) -> dict[str, Any]:
    from bench.tenancy import unlimited_tenant
    from tests.factories import make_catalog

    make_catalog(engine, "bench-fair", "jsonld", [f"{stack.sim_host}/sites/fair"])
    stack.set_faults(latency_ms=LATENCY_MS)
    out: dict[str, Any] = {"batches": batches, "per_batch": per_batch, "threads": THREADS}
    try:
        for mode, fair in (("fair", True), ("fifo", False)):
            worker = stack.start_worker(
                f"fair-{mode}",
                THREADS,
                app=app,
                env={
                    "FRESHET_FAIR_SHARE_ENABLED": str(fair).lower(),
                    "FRESHET_FAIR_SHARE_WINDOW": str(WINDOW),
                },
            )
            rt = _runtime(stack, app, fair)
            try:
                _, a = unlimited_tenant(engine, catalogs=["bench-fair"])
                _, b = unlimited_tenant(engine, catalogs=["bench-fair"])
                sim = stack.sim_url + "/sites/fair/p"
                if mode == "fair":  # B alone first: its wait with nothing ahead of it
                    alone = _submit(rt, b, [f"{sim}/alone-{time.time_ns()}"])
                    out["b_alone_s"] = _wait_b(engine, alone, 30)
                tag = f"{mode}{time.time_ns()}"
                started, cpu = time.monotonic(), worker.cpu_seconds()
                a_wids = [
                    _submit(rt, a, [f"{sim}/{tag}-{i}-{j}" for j in range(per_batch)])
                    for i in range(batches)
                ]
                time.sleep(1.0)  # A's backlog is flowing
                b_wid = _submit(rt, b, [f"{sim}/{tag}-b"])
                out[f"b_{mode}_s"] = _wait_b(engine, b_wid, 300)
                n = batches * per_batch
                wait_until(
                    lambda wids=a_wids, n=n: sum(_done(engine, wids)[:2]) >= n,  # type: ignore[misc]
                    600,
                    "A's backlog",
                    0.5,
                )
                ok, failed, _ = _done(engine, a_wids)
                elapsed = time.monotonic() - started
                out[f"a_{mode}_per_s"] = ok / elapsed
                # The worker's CPU per target: what the dispatcher's passes add, steadier than
                # throughput on a shared box (B's one target is in it, a rounding error).
                out[f"a_{mode}_worker_cpu_ms"] = (worker.cpu_seconds() - cpu) * 1000 / max(ok, 1)
                out[f"a_{mode}_failed"] = failed
            finally:
                rt.close()
                stack.stop(f"fair-{mode}")
    finally:
        stack.set_faults()
    return out


def throttling_host(
    stack: Stack, app: Any, engine: Engine, targets: int, storm_s: float
) -> dict[str, Any]:
    from bench.tenancy import unlimited_tenant
    from tests.factories import make_catalog

    make_catalog(engine, "bench-storm", "jsonld", [f"{stack.sim_host}/sites/storm"], politeness=25)
    stack.start_worker("storm", THREADS, app=app)
    rt = _runtime(stack, app, True)
    series: list[tuple[float, int, str]] = []
    try:
        _, org = unlimited_tenant(engine, catalogs=["bench-storm"])
        urls = [f"{stack.sim_url}/sites/storm/p/s-{i}" for i in range(targets)]
        wids = [_submit(rt, org, urls[i : i + 450]) for i in range(0, targets, 450)]
        t0 = time.monotonic()

        def sample(seconds: float, phase: str) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                series.append((time.monotonic() - t0, stack.sim_total(), phase))
                time.sleep(1.0)

        sample(6, "before")
        stack.set_faults(throttle_rate=1.0)
        sample(storm_s, "storm")
        stack.set_faults()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(_done(engine, wids)[:2]) < targets:
            sample(1, "after")
        ok, failed, _ = _done(engine, wids)
    finally:
        stack.set_faults()
        rt.close()
        stack.stop("storm")
    per_second: list[dict[str, Any]] = [
        {"t": round(t1), "phase": p1, "requests": n1 - n0}
        for (_, n0, _), (t1, n1, p1) in itertools.pairwise(series)
    ]

    def mean(phase: str, skip: int = 0) -> float:
        vals = [s["requests"] for s in per_second if s["phase"] == phase][skip:]
        return sum(vals) / len(vals) if vals else 0.0

    return {
        "targets": targets,
        "storm_s": storm_s,
        "completed": ok,
        "failed": failed,
        "per_second": per_second,
        "before_per_s": mean("before", 2),
        "storm_per_s": mean("storm", 2),
        "after_peak_per_s": max(
            (s["requests"] for s in per_second if s["phase"] == "after"), default=0
        ),
    }
