"""Adaptive politeness per upstream host: a rate that backs off and recovers, pauses, probes.

Two Lua scripts over one hash per host (`<prefix>g:host:<host:port>`): `acquire` asks whether
a request may go now (a virtual clock spaced at the host's current rate), `report` tells the
host's answer (ok, throttled, error) and adapts the rate. A zset lists the hosts seen, for
`freshet hosts` and `/metrics`. Nothing here is truth: a wiped hash restarts at a safe fraction
of the ceiling and re-learns from the next answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis as redis_lib

STATES = {0: "ok", 1: "paused", 2: "probing"}


def _script(name: str) -> str:
    return resources.files("guards").joinpath(name).read_text()


@dataclass(frozen=True)
class HostPolicy:
    """How a host's rate adapts (Settings carry the operator's values)."""

    backoff_factor: float = 0.5  # rate times this on each 429, 503 or timeout
    recovery_seconds: float = 10.0  # from the floor back to the ceiling while answers are good
    start_fraction: float = 0.5  # of the ceiling, for a host with no state (new, or wiped)
    floor_fraction: float = 0.02  # never slower than this fraction of the ceiling
    error_threshold: float = 0.5  # error ratio over the window that pauses the host
    error_window_seconds: float = 10.0
    error_min_requests: int = 10  # fewer answers than this in the window never pause
    pause_seconds: float = 5.0  # first pause; doubled by each failed probe
    pause_max_seconds: float = 60.0
    probe_seconds: float = 30.0  # a probe that never reports lets another go after this
    idle_ttl_seconds: int = 3600  # a host's state is forgotten after this long unused


@dataclass(frozen=True)
class Ticket:
    wait: float  # seconds; 0 = go now
    state: str  # ok | paused | probing


@dataclass(frozen=True)
class HostState:
    host: str
    state: str
    rate: float  # requests per second allowed now (0 = not paced)
    ceiling: float
    paused_for: float  # seconds left in a pause
    error_ratio: float  # over the window
    answers: int  # counted in the window
    last_seen: float  # unix seconds


class HostGuard:
    def __init__(self, client: redis_lib.Redis, prefix: str, policy: HostPolicy | None = None):
        self.r = client
        self.p = prefix + "g:"
        self.policy = policy or HostPolicy()
        self._acquire = client.register_script(_script("hosts_acquire.lua"))
        self._report = client.register_script(_script("hosts_report.lua"))

    def key(self, host: str) -> str:
        return f"{self.p}host:{host}"

    @property
    def registry_key(self) -> str:
        return f"{self.p}hosts"

    def acquire(self, host: str, ceiling: float) -> Ticket:
        pol = self.policy
        wait_ms, state = self._acquire(
            keys=[self.key(host), self.registry_key],
            args=[
                max(ceiling, 0.0),
                pol.start_fraction,
                int(pol.probe_seconds * 1000),
                pol.idle_ttl_seconds * 1000,
                host,
            ],
        )
        return Ticket(max(int(wait_ms), 0) / 1000, STATES.get(int(state), "ok"))

    def report(
        self, host: str, outcome: str, ceiling: float, retry_after: float | None = None
    ) -> float:
        """outcome: ok | throttled | error. Returns the host's rate after it."""
        assert outcome in ("ok", "throttled", "error")
        pol = self.policy
        ceiling = max(ceiling, 0.0)
        rate_milli, _ = self._report(
            keys=[self.key(host)],
            args=[
                outcome,
                int((retry_after or 0) * 1000),
                ceiling,
                pol.backoff_factor,
                ceiling / max(pol.recovery_seconds, 0.001),
                ceiling * pol.floor_fraction,
                int(pol.error_window_seconds * 1000),
                pol.error_threshold,
                pol.error_min_requests,
                int(pol.pause_seconds * 1000),
                int(pol.pause_max_seconds * 1000),
                pol.start_fraction,
                pol.idle_ttl_seconds * 1000,
            ],
        )
        return int(rate_milli) / 1000

    def states(self, limit: int = 500) -> list[HostState]:
        """Every host seen within the idle TTL, most recently used first."""
        names: list[Any] = list(self.r.zrevrange(self.registry_key, 0, limit - 1, withscores=True))
        pipe = self.r.pipeline(transaction=False)
        for name, _ in names:
            pipe.hgetall(self.key(_text(name)))
        pipe.time()
        *hashes, (sec, usec) = pipe.execute()
        now_ms = sec * 1000 + usec // 1000
        window_ms = self.policy.error_window_seconds * 1000
        out = []
        for (name, seen), raw in zip(names, hashes, strict=True):
            if not raw:
                continue
            h = {_text(k): _text(v) for k, v in raw.items()}
            ws = float(h.get("w_start", now_ms))
            weight = max(1 - (now_ms - ws) / window_ms, 0.0)
            total = float(h.get("w_total", 0)) + float(h.get("p_total", 0)) * weight
            errs = float(h.get("w_err", 0)) + float(h.get("p_err", 0)) * weight
            paused_until = float(h.get("paused_until", 0))
            state = h.get("state", "ok")
            out.append(
                HostState(
                    host=_text(name),
                    state=state,
                    rate=round(float(h.get("rate", 0)), 3),
                    ceiling=float(h.get("ceiling", 0)),
                    paused_for=round(max(paused_until - now_ms, 0) / 1000, 3)
                    if state == "paused"
                    else 0.0,
                    error_ratio=round(errs / total, 3) if total else 0.0,
                    answers=round(total),
                    last_seen=float(seen) / 1000,
                )
            )
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
