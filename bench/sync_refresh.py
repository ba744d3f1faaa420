"""Measurement 4: `POST /v1/products/{id}/refresh` latency minus the upstream's own — the time
Freshet adds (API, guards, Postgres, the broker both ways, the worker, the wake-up signal).

The upstream's part is measured in the same run: the same simulator pages fetched directly
with a kept-alive session, times the number of upstream requests one refresh made."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import Engine, text

from bench.stats import percentile, summary_ms

FORCE_CAP_PER_ORG = 90  # plans allow 100 force refreshes a minute; stay clear of it


def item_ids(start: int, n: int) -> list[str]:
    return [str(start + i) for i in range(n)]


def endpoint_present() -> bool:
    return importlib.util.find_spec("api.products") is not None


def timeline(engine: Engine, since: dt.datetime) -> dict[str, Any]:
    """Where a refresh's time went, from the product jobs' own timestamps: queued (insert to
    claim: commit, publish, broker, worker pick-up) and run (claim to finish: fetch, parse,
    store); the rest of the request is the API's before and after."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM started_at - created_at),"
                " extract(epoch FROM finished_at - started_at) FROM jobs"
                " WHERE kind = 'product' AND created_at >= :t AND finished_at IS NOT NULL"
            ),
            {"t": since},
        ).all()
    if not rows:
        return {}
    queued = [float(r[0]) for r in rows]
    run = [float(r[1]) for r in rows]
    return {
        "jobs": len(rows),
        "queued_p50_ms": percentile(queued, 50) * 1000,
        "queued_p99_ms": percentile(queued, 99) * 1000,
        "run_p50_ms": percentile(run, 50) * 1000,
        "run_p99_ms": percentile(run, 99) * 1000,
    }


def measure(
    api_url: str,
    sim_url: str,
    sim_total: Callable[[], int],
    header_sets: list[dict[str, str]],
    ids: list[str],
    engine: Engine | None = None,
) -> dict[str, Any]:
    sessions = [requests.Session() for _ in header_sets]
    for s, h in zip(sessions, header_sets, strict=True):
        s.headers.update(h)
    times: list[float] = []
    statuses: dict[int, int] = {}
    first_body: Any = None
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    fetched0 = sim_total()
    for i, pid in enumerate(ids):
        s = sessions[(i // FORCE_CAP_PER_ORG) % len(sessions)]
        t0 = time.perf_counter()
        resp = s.post(f"{api_url}/v1/products/{pid}/refresh", timeout=60)
        times.append(time.perf_counter() - t0)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        if first_body is None and resp.status_code == 200:
            first_body = resp.json()
    fetches = (sim_total() - fetched0) / max(len(ids), 1)
    for s in sessions:
        s.close()
    # The upstream on its own: the same kind of page, fetched directly.
    direct = []
    with requests.Session() as s:
        for pid in ids[: max(len(ids) // 2, 20)]:
            t0 = time.perf_counter()
            s.get(f"{sim_url}/walmart/ip/{pid}9", timeout=30).raise_for_status()
            direct.append(time.perf_counter() - t0)
    out = summary_ms(times)
    up50, up99 = percentile(direct, 50) * 1000, percentile(direct, 99) * 1000
    out.update(
        statuses=statuses,
        upstream_fetches_per_refresh=fetches,
        direct_get=summary_ms(direct),
        added_p50_ms=out["p50_ms"] - fetches * up50,
        added_p99_ms=out["p99_ms"] - fetches * up50,
        upstream_p99_ms=up99,
        sample_body_keys=sorted(first_body or {}),
        timeline=timeline(engine, since) if engine is not None else {},
    )
    return out
