"""A total deadline for one upstream request: at expiry every socket it watches is shut
down, so a read blocked on a server that drips bytes returns at once.

Per-read socket timeouts cannot do this (each byte resets them), and Celery's time limits
do nothing under `--pool threads`.
"""

from __future__ import annotations

import contextlib
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
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

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
            self.expired = True
            for dup in self._watched:
                _shut(dup)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
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


def _shut(sock: socket.socket) -> None:
    # OSError: not connected (any more); the peer or the request already ended it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
