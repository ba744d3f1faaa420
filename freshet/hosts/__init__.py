"""Adaptive politeness toward upstream hosts, as the worker uses it.

One key per upstream host — the exact `host:port` the connection uses (`host_key`) — and one
admission per request: a job's first request is admitted before the job is claimed
(`admit`, so a job that must wait spends no attempt); every later request of the job (review
pages, Shopify's `.js` fallback) is admitted by the job's polite client (`session`, `http`),
which waits inline for a short wait and otherwise hands the job back (`HostBusy`). Each answer
is reported to the host's guard, which adapts the host's rate (`guards.hosts`).
"""

from freshet.hosts.keys import host_key
from freshet.hosts.polite import (
    HostBusy,
    PoliteHttp,
    admit,
    host_guard,
    http,
    outcome_of,
    session,
)
from freshet.hosts.report import HostCollector, host_states
from freshet.runtime import Upstream

__all__ = [
    "HostBusy",
    "HostCollector",
    "PoliteHttp",
    "Upstream",
    "admit",
    "host_guard",
    "host_key",
    "host_states",
    "http",
    "outcome_of",
    "session",
]
