"""A total deadline for one upstream request: at expiry every socket it watches is shut
down, so a read blocked on a server that drips bytes returns at once.

Per-read socket timeouts cannot do this (each byte resets them), and Celery's time limits
do nothing under `--pool threads`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from types import TracebackType


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        # Duplicates of the watched sockets' descriptors: ours to shut and close, so a
        # descriptor number the request has closed (and the process reused) is never hit.
        self._watched: list[socket.socket] = []
        self._closed = False
        _TIMERS.add(self)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the deadline passes (at once, if it has)."""
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return  # already closed: nothing left to bound
        with self._lock:
            self._watched.append(dup)
            if self.expired:
                _shut(dup)

    def _expire(self) -> None:
        # Shut and close under one lock, so a shutdown never meets a descriptor closed
        # (and reused) in between.
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for dup in self._watched:
                _shut(dup)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for dup in self._watched:
                dup.close()
            self._watched = []

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Timers:
    """One thread fires every deadline of the process, soonest first: a request costs a
    push onto a heap, not a thread of its own. Started on first use (and again in a forked
    child, which inherits no threads); it ends after a minute with nothing to watch. A
    deadline closed before its time is dropped when it reaches the top of the heap; the
    thread only sleeps until the soonest deadline still open when it looked."""

    IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also in a forked child: the parent's lock may have been held, its thread is gone.
        self._wake = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._wake:
            soonest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            elif soonest is None or deadline.at < soonest:
                self._wake.notify()  # it sleeps until a later deadline: wake it to re-arm

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2]._closed:
                    heapq.heappop(self._heap)  # ended before its deadline: nothing to do
                if not self._heap:
                    if not self._wake.wait(self.IDLE_SECONDS) and not self._heap:
                        self._thread = None
                        return
                    continue
                at, _, deadline = self._heap[0]
                now = time.monotonic()
                if at > now:
                    self._wake.wait(at - now)
                    continue
                heapq.heappop(self._heap)
                self._wake.release()
                try:
                    deadline._expire()
                finally:
                    self._wake.acquire()


_TIMERS = _Timers()
os.register_at_fork(after_in_child=_TIMERS._reset)


def _shut(sock: socket.socket) -> None:
    # OSError: not connected (any more); the peer or the request already ended it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
