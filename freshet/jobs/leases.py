"""The leases of the jobs one process runs, renewed while they run: one thread and one
statement per beat for all of them, however many threads run jobs."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from freshet.jobs import lifecycle as jobs
from freshet.runtime import Runtime

log = logging.getLogger("freshet.jobs")

_create = threading.Lock()


class LeaseKeeper:
    """Every `lease_seconds / 3` renews the lease of each job held here, so only a dead (or
    frozen) process loses its jobs to the sweeper: a slow but healthy fetch is never run
    twice. A job is renewed until it ends, until its renewal finds it no longer running
    under its attempt (cancelled or taken over: the fence at finish decides), or until the
    task's time limit passes — a thread stuck beyond it loses the job like a dead one."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._lock = threading.Lock()
        self._held: dict[int, tuple[int, float]] = {}  # job id -> (attempt, give up at)
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, job_id: int, attempt: int) -> Iterator[None]:
        give_up = time.monotonic() + self.rt.settings.task_time_limit
        with self._lock:
            self._held[job_id] = (attempt, give_up)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                if self._held.get(job_id, (None, 0.0))[0] == attempt:
                    del self._held[job_id]

    def held(self) -> list[tuple[int, int]]:
        with self._lock:
            return sorted((job_id, attempt) for job_id, (attempt, _) in self._held.items())

    def _run(self) -> None:
        every = self.rt.settings.lease_seconds / 3
        while True:
            time.sleep(every)
            with self._lock:
                if not self._held:  # nothing runs here now: the next hold starts a thread
                    self._thread = None
                    return
            self.beat()

    def beat(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [(job_id, a) for job_id, (a, give_up) in self._held.items() if now < give_up]
        if not due:
            return
        try:
            with self.rt.engine.begin() as conn:
                kept = jobs.extend_leases(conn, due, self.rt.settings.lease_seconds)
        except Exception:  # Postgres away for a moment: the next beat tries again
            log.warning("lease renewal failed", extra={"jobs": len(due)}, exc_info=True)
            return
        with self._lock:
            for job_id, attempt in due:
                if job_id not in kept and self._held.get(job_id, (None, 0.0))[0] == attempt:
                    del self._held[job_id]


def keeper(rt: Runtime) -> LeaseKeeper:
    found = rt.extras.get("lease_keeper")
    if found is None:
        with _create:
            found = rt.extras.setdefault("lease_keeper", LeaseKeeper(rt))
    assert isinstance(found, LeaseKeeper)
    return found


def keep_lease(rt: Runtime, job_id: int, attempt: int) -> contextlib.AbstractContextManager[None]:
    """Renew the job's lease while the block runs (this process's one keeper does it)."""
    return keeper(rt).hold(job_id, attempt)
