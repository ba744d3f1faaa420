"""Measurement 10: beat's monitor scheduling pass over 100,000 monitored products, 1,000 due.

The population is written in bulk (INSERT … SELECT generate_series), then each repetition
makes a fresh 1,000 due and runs `freshet.monitors.schedule_due` exactly as beat does, with
the broker left out (a push that sends nothing): the pass's database time is what it reports
(one statement on an autocommit connection: the claim through the due index with SKIP LOCKED,
the organization's token take, the due monitors moved, 1,000 jobs and their ledger rows).
Its baseline is the floor of the same database: one INSERT … SELECT of 1,000 rows into a bare
table, committed.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import Engine, text

from freshet import monitors
from freshet.runtime import Runtime

PRODUCTS = 100_000
DUE = 1_000
TARGET_MS = 50.0


def populate(engine: Engine, org_id: int, catalog_id: int, base_url: str, n: int) -> None:
    """n monitors of one target each, none due (next runs spread over the next hour)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitors (id, org_id, name, interval_seconds, events, target_count, "
                "next_run_at) SELECT md5('bench-mon-' || g)::uuid, :o, 'bench', 3600, "
                "ARRAY['price_changed','price_dropped'], 1, now() + make_interval(secs => "
                "60 + (g % 3540)) FROM generate_series(1, :n) g"
            ),
            {"o": org_id, "n": n},
        )
        conn.execute(
            text(
                "INSERT INTO monitor_targets (monitor_id, position, catalog_id, url, params) "
                "SELECT md5('bench-mon-' || g)::uuid, 0, :c, :u || g, "
                "jsonb_build_object('catalog', 'bench-shop', 'source', 'shopify', 'domains', "
                "jsonb_build_array('bench.invalid'), 'politeness_per_second', 0) "
                "FROM generate_series(1, :n) g"
            ),
            {"c": catalog_id, "u": base_url, "n": n},
        )
        conn.execute(text("ANALYZE monitors"))
        conn.execute(text("ANALYZE monitor_targets"))


def make_due(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitors SET next_run_at = now() - interval '1 second' WHERE id IN "
                "(SELECT id FROM monitors WHERE NOT paused ORDER BY random() LIMIT :n)"
            ),
            {"n": n},
        )


def floor_ms(engine: Engine, n: int) -> float:
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS bench_floor (a bigint, b text)"))
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bench_floor SELECT g, 'x' || g FROM generate_series(1, :n) g"),
            {"n": n},
        )
    return (time.perf_counter() - t0) * 1000


def measure(
    rt: Runtime, org_id: int, catalog_id: int, base_url: str, repeats: int
) -> dict[str, Any]:
    populate(rt.engine, org_id, catalog_id, base_url, PRODUCTS)
    passes, floors = [], []
    for _ in range(repeats):
        make_due(rt.engine, DUE)
        out = monitors.schedule_due(rt, push=lambda _messages: None)
        if out["jobs"] != DUE:
            raise RuntimeError(f"the pass queued {out['jobs']} jobs, wanted {DUE}: {out}")
        passes.append(out["db_seconds"] * 1000)
        floors.append(floor_ms(rt.engine, DUE))
    with rt.engine.begin() as conn:  # the bench's queued jobs must not reach a worker
        conn.execute(
            text(
                "UPDATE jobs SET status = 'cancelled', finished_at = now(), "
                "error = 'bench: scheduling only' WHERE kind = 'monitor_target' "
                "AND status = 'queued'"
            )
        )
    return {
        "products": PRODUCTS,
        "due": DUE,
        "pass_ms": passes,
        "pass_median_ms": statistics.median(passes),
        "pass_max_ms": max(passes),
        "floor_median_ms": statistics.median(floors),
    }
