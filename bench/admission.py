"""Measurement 6: Guards.admit (rate window + cooldown + concurrency slot, one Lua call) per
second, against raw Redis round trips from the same client, both sequential."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis

from bench.floors import redis_round_trips
from guards import Guards, RateWindow


def measure(client: redis.Redis, count: int) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}:"
    guards = Guards(client, prefix)
    window = RateWindow("org:1:submit", 1_000_000_000)
    slot = (guards.slot_key(1), 1_000_000_000, 3600)

    def admit(i: int) -> None:
        # A distinct ASIN each time, as distinct requests: the cooldown admits, then holds.
        adm = guards.admit(
            [window],
            cooldown=(guards.cooldown_key(1, f"B{i:09d}", "amazon.de"), 60),
            slot=slot,
            job_id=i + 1,
        )
        if not adm.ok:
            raise RuntimeError(f"admission refused: {adm}")

    try:
        for i in range(50):  # loads the script, warms the connection
            admit(10_000_000 + i)
        before = redis_round_trips(client, count)
        t0 = time.perf_counter()
        for i in range(count):
            admit(i)
        admits = count / (time.perf_counter() - t0)
        after = redis_round_trips(client, count)
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    ping = (before["ping_per_s"] + after["ping_per_s"]) / 2
    get = (before["get_per_s"] + after["get_per_s"]) / 2
    return {
        "count": count,
        "admits_per_s": admits,
        "ping_per_s": ping,
        "get_per_s": get,
        "ratio": admits / ping,
    }
