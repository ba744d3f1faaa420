"""Redis guards: rate limits, cooldowns, concurrency slots, politeness, single flight.

Each guard is one atomic Redis operation (a single command or a Lua script registered once),
with a TTL, released only with the owner's token. Redis holds only what can be rebuilt from
Postgres: the sweeper reconciles slots and cooldowns against the job rows.
"""

from guards.core import ORPHAN_GRACE_SECONDS, Admission, Guards, RateWindow

__all__ = ["ORPHAN_GRACE_SECONDS", "Admission", "Guards", "RateWindow"]

from guards.hosts import HostGuard, HostPolicy, HostState, Ticket

__all__ += ["HostGuard", "HostPolicy", "HostState", "Ticket"]
