"""Short-lived completion signals from workers to waiting API requests (Redis pub/sub).

A signal is only a wake-up: the waiter always reads the job's state from Postgres.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import redis as redis_lib
from redis.client import PubSub


def channel(prefix: str, job_id: int) -> str:
    return f"{prefix}sig:job:{job_id}"


def notify(client: redis_lib.Redis, prefix: str, job_ids: list[int]) -> None:
    if not job_ids:
        return
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.publish(channel(prefix, job_id), b"1")
    pipe.execute()


def wait_for(
    client: redis_lib.Redis,
    prefix: str,
    job_id: int,
    timeout: float,
    is_done: Callable[[], bool],
    poll_every: float = 1.0,
) -> bool:
    """Block until `is_done()` is true (checked on each signal and every `poll_every` s)."""
    deadline = time.monotonic() + timeout
    # redis-py leaves Redis.pubsub unannotated; it returns a PubSub.
    pubsub: PubSub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(channel(prefix, job_id))
        # Subscribed first, then looked: a signal sent in between is not missed.
        if is_done():
            return True
        while (left := deadline - time.monotonic()) > 0:
            pubsub.get_message(timeout=min(left, poll_every))
            if is_done():
                return True
        return False
    finally:
        pubsub.close()


# Waiting API threads per process. A waiter holds a web thread for up to the sync wait; past
# the bound a request does not wait (it answers 202 with its job), so slow upstreams never
# take every thread of a host, and /healthz, reads and other requests always find one.
_seats_lock = threading.Lock()
_seats: dict[int, threading.BoundedSemaphore] = {}


@contextlib.contextmanager
def waiting_seat(limit: int) -> Iterator[bool]:
    """One of this process's `limit` seats for a waiting request: True if taken (and given
    back on exit), False at once when all are taken."""
    with _seats_lock:
        seats = _seats.setdefault(limit, threading.BoundedSemaphore(max(limit, 0) or 1))
    taken = limit > 0 and seats.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            seats.release()
