"""The guard operations, each one round trip to Redis."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis as redis_lib

WINDOW_MS = 60_000
# A cooldown whose job was never committed (a crash between admission and commit) is an
# orphan once it is this old: admission to commit takes milliseconds, and a cooldown removed
# too early comes back with the sweeper's restore if its job did commit after all.
ORPHAN_GRACE_SECONDS = 10.0
# How long a given-back cooldown's tombstone keeps a stale restore from putting it back.
TOMBSTONE_MS = 3_600_000


def _script(name: str) -> str:
    return resources.files("guards").joinpath(name).read_text()


@dataclass(frozen=True)
class RateWindow:
    """One sliding one-minute window: `name` says what is counted, e.g. 'org:7:submit'."""

    name: str
    limit: int


@dataclass(frozen=True)
class Admission:
    ok: bool
    reason: str | None = None  # rate_limited | cooldown | concurrency
    retry_after: float = 0.0  # seconds
    limit: int = 0  # the first rate window's limit
    remaining: int = 0
    reset: float = 0.0  # seconds until the first rate window frees a place
    holder_job_id: int | None = None  # cooldown: whose job holds it
    window_index: int = 0  # rate_limited: which window refused (0-based)
    holder_age: float = 0.0  # cooldown: seconds since the holder set it
    member: str = ""  # ok: this request's entry in its rate windows (to un-count it)
    rate_keys: tuple[str, ...] = ()


class Guards:
    def __init__(self, client: redis_lib.Redis, prefix: str = "freshet:"):
        self.r = client
        self.p = prefix + "g:"
        self._admit = client.register_script(_script("admit.lua"))
        self._release = client.register_script(_script("release.lua"))
        self._slots_sync = client.register_script(_script("slots_sync.lua"))
        self._restore = client.register_script(_script("restore.lua"))

    # keys ---------------------------------------------------------------------------------
    def cooldown_key(self, org_id: int, asin: str, marketplace: str) -> str:
        return f"{self.p}cd:{org_id}:{marketplace}:{asin}"

    def slot_key(self, org_id: int) -> str:
        return f"{self.p}slots:{org_id}"

    def rate_key(self, name: str) -> str:
        return f"{self.p}rl:{name}"

    # admission ----------------------------------------------------------------------------
    def admit(
        self,
        rates: list[RateWindow],
        *,
        cooldown: tuple[str, int] | None = None,  # (key, ttl seconds)
        slot: tuple[str, int, int] | None = None,  # (key, limit, lease seconds)
        job_id: int | None = None,
    ) -> Admission:
        if cooldown is not None and cooldown[1] <= 0:
            cooldown = None  # a plan without a cooldown
        rate_keys = tuple(self.rate_key(w.name) for w in rates)
        keys = [cooldown[0] if cooldown else "-", slot[0] if slot else "-", *rate_keys]
        member = uuid.uuid4().hex
        args: list[Any] = [
            member,
            int(cooldown[1] * 1000) if cooldown else 0,
            str(job_id or 0),
            slot[1] if slot else 0,
            int(slot[2] * 1000) if slot else 0,
            WINDOW_MS,
        ] + [w.limit for w in rates]
        code, a, b, c = self._admit(keys=keys, args=args)
        first_limit = rates[0].limit if rates else 0
        if code == 0:
            return Admission(
                True,
                limit=first_limit,
                remaining=max(int(a), 0),
                reset=int(b) / 1000,
                member=member,
                rate_keys=rate_keys,
            )
        if code == 1:
            return Admission(
                False,
                "rate_limited",
                retry_after=int(b) / 1000,
                limit=int(c),
                remaining=0,
                reset=int(b) / 1000,
                window_index=int(a) - 1,
            )
        if code == 2:
            return Admission(
                False,
                "cooldown",
                retry_after=max(int(b), 0) / 1000,
                holder_job_id=int(a),
                limit=first_limit,
                holder_age=max(int(c), 0) / 1000,
            )
        return Admission(False, "concurrency", retry_after=int(b) / 1000, limit=first_limit)

    def peek_rate(self, window: RateWindow) -> tuple[int, float]:
        """(remaining, seconds until reset) without counting anything: for read-only answers."""
        key = self.rate_key(window.name)
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.time()
        count, oldest, (sec, usec) = pipe.execute()
        now_ms = sec * 1000 + usec // 1000
        reset = (oldest[0][1] + WINDOW_MS - now_ms) / 1000 if oldest else 0.0
        return max(window.limit - int(count), 0), max(reset, 0.0)

    def release(
        self,
        job_id: int,
        *,
        cooldown_key: str | None = None,
        slot_key: str | None = None,
        uncount: Admission | None = None,
    ) -> int:
        """Give back a job's cooldown (leaving a tombstone) and slot; with `uncount`, also
        take that admission's request out of its rate windows (it was refused after all)."""
        keys = [cooldown_key or "-", slot_key or "-"]
        member = "-"
        if uncount is not None and uncount.member:
            keys += list(uncount.rate_keys)
            member = uncount.member
        tomb = TOMBSTONE_MS if cooldown_key else 0
        return int(self._release(keys=keys, args=[job_id, tomb, member]))

    def clear_cooldown(self, key: str, job_id: int) -> bool:
        """Delete a cooldown if `job_id` still holds it (its job ended or never existed)."""
        return bool(self._release(keys=[key, "-"], args=[job_id, TOMBSTONE_MS, "-"]))

    def cooldowns(self) -> list[tuple[str, int, float]]:
        """Every cooldown: (key, holder job id, seconds since it was set)."""
        keys = [
            k.decode() if isinstance(k, bytes) else k
            for k in self.r.scan_iter(match=f"{self.p}cd:*", count=500)
        ]
        keys = [k for k in keys if not k.endswith(":released")]
        if not keys:
            return []
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        pipe.time()
        *values, (sec, usec) = pipe.execute()
        now_ms = sec * 1000 + usec // 1000
        out = []
        for k, v in zip(keys, values, strict=True):
            if not v:
                continue
            job, _, set_ms = (v.decode() if isinstance(v, bytes) else v).partition(":")
            age = (now_ms - int(set_ms)) / 1000 if set_ms.isdigit() else ORPHAN_GRACE_SECONDS
            if job.isdigit():
                out.append((k, int(job), age))
        return out

    def refresh_slot(self, slot_key: str, job_id: int, lease_seconds: int) -> None:
        """Extend a running job's slot lease (a heartbeat); XX so a released slot stays free."""
        (sec, usec) = self.r.time()
        self.r.zadd(
            slot_key, {str(job_id): sec * 1000 + usec // 1000 + lease_seconds * 1000}, xx=True
        )

    def hold_slots(self, org_id: int, open_job_ids: list[int], lease_seconds: int) -> int:
        """(Re)take the slots of jobs Postgres says are open, with a fresh lease."""
        return int(
            self._slots_sync(
                keys=[self.slot_key(org_id)], args=[lease_seconds * 1000, *open_job_ids]
            )
        )

    def slot_members(self, org_id: int) -> list[int]:
        members: list[bytes] = self.r.zrange(self.slot_key(org_id), 0, -1)  # type: ignore[assignment]
        return [int(m) for m in members]

    def drop_slots(self, org_id: int, ended_job_ids: list[int]) -> int:
        """Remove the slots of jobs known to have ended (one ZREM)."""
        if not ended_job_ids:
            return 0
        return int(self.r.zrem(self.slot_key(org_id), *[str(i) for i in ended_job_ids]))

    def slot_orgs(self) -> list[int]:
        out = []
        for key in self.r.scan_iter(match=f"{self.p}slots:*", count=500):
            k = key.decode() if isinstance(key, bytes) else key
            out.append(int(k.rsplit(":", 1)[1]))
        return out

    def restore_cooldown(self, key: str, job_id: int, ttl_seconds: float) -> bool:
        """Re-create a cooldown lost with Redis; never overwrites a live one, never for a job
        that has given it back since the caller read the jobs."""
        if ttl_seconds <= 0:
            return False
        (sec, usec) = self.r.time()
        set_ms = sec * 1000 + usec // 1000
        return bool(self._restore(keys=[key], args=[job_id, int(ttl_seconds * 1000), set_ms]))

    def cooldown_holder(self, key: str) -> tuple[int | None, float]:
        pipe = self.r.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        holder, pttl = pipe.execute()
        if not holder:
            return None, max(pttl, 0) / 1000
        job = (holder.decode() if isinstance(holder, bytes) else holder).partition(":")[0]
        return int(job), max(pttl, 0) / 1000

    # single flight --------------------------------------------------------------------------
    def flight_key(self, name: str) -> str:
        return f"{self.p}flight:{name}"

    def join_flight(self, name: str, job_id: int, ttl_seconds: int) -> int:
        """Lead the fetch named `name` (returns job_id) or learn which job leads it."""
        key = self.flight_key(name)
        pipe = self.r.pipeline(transaction=False)
        pipe.set(key, str(job_id), nx=True, ex=ttl_seconds)
        pipe.get(key)
        _, holder = pipe.execute()
        return int(holder) if holder else job_id

    def leave_flight(self, name: str, job_id: int) -> None:
        self.end_flight(name, job_id)

    def end_flight(self, name: str, job_id: int, slot_key: str | None = None) -> None:
        """Leave the fetch named `name` (if `job_id` leads it) and give back the job's slot
        under `slot_key`, in one call."""
        self._release(keys=[self.flight_key(name), slot_key or "-"], args=[job_id, 0, "-"])
