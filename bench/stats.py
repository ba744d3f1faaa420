"""Small measuring tools: percentiles, a stopwatch, and a sampler of peak RSS per process."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "mean_ms": sum(seconds) / len(seconds) * 1000,
    }


def rate(count: int, fn: Callable[[], None]) -> float:
    """Calls of `fn` per second over `count` sequential calls."""
    t0 = time.perf_counter()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - t0)


class PeakRss(threading.Thread):
    """Samples each named process tree's RSS every `every` s; `peaks` holds the maxima."""

    def __init__(self, probes: dict[str, Callable[[], int]] | None = None, every: float = 0.2):
        super().__init__(daemon=True, name="bench-rss")
        self.probes = dict(probes or {})
        self.every = every
        self.peaks: dict[str, int] = dict.fromkeys(self.probes, 0)
        self._halt = threading.Event()

    def add(self, name: str, probe: Callable[[], int]) -> None:
        self.peaks.setdefault(name, 0)
        self.probes = {**self.probes, name: probe}  # replaced whole: the sampler never sees
        # a dict change size under it

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.every)

    def sample(self) -> None:
        for name, probe in self.probes.items():
            with contextlib.suppress(Exception):  # a process that just ended has no RSS
                self.peaks[name] = max(self.peaks.get(name, 0), probe())

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join(5)
        self.sample()
