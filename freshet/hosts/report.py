"""What operators see of the hosts' politeness: `freshet hosts` and the `/metrics` gauges."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from freshet.hosts.polite import host_guard
from freshet.runtime import Runtime

log = logging.getLogger("freshet.hosts")


def host_states(rt: Runtime) -> list[dict[str, Any]]:
    return [asdict(s) for s in host_guard(rt).states()]


class HostCollector:
    """`freshet_upstream_host_rate{host}` (requests/s allowed now), `…_ceiling`,
    `…_paused` (1 while paused or probing) and `…_error_ratio`, read from Redis at scrape
    time. Redis away: the scrape leaves them out rather than failing."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def collect(self) -> Iterable[Any]:
        try:
            states = host_guard(self.rt).states()
        except Exception as exc:
            log.warning("host states unavailable: %s", type(exc).__name__)
            return []
        rate = GaugeMetricFamily(
            "freshet_upstream_host_rate", "Requests per second a host may get now", labels=["host"]
        )
        ceiling = GaugeMetricFamily(
            "freshet_upstream_host_ceiling",
            "The catalog's configured ceiling for a host (requests per second, 0: unpaced)",
            labels=["host"],
        )
        paused = GaugeMetricFamily(
            "freshet_upstream_host_paused", "1 while a host is paused or probed", labels=["host"]
        )
        errors = GaugeMetricFamily(
            "freshet_upstream_host_error_ratio",
            "A host's error ratio over the politeness window",
            labels=["host"],
        )
        for s in states:
            rate.add_metric([s.host], s.rate)
            ceiling.add_metric([s.host], s.ceiling)
            paused.add_metric([s.host], 0 if s.state == "ok" else 1)
            errors.add_metric([s.host], s.error_ratio)
        return [rate, ceiling, paused, errors]
