"""Task events (-E, for Flower) sent in batches a few times a second, not once per loop turn.

Celery buffers a worker's task events and publishes the buffer on the consumer's next loop
turn; with the threads pool that is about one publish per task, and it is the consumer
thread that publishes — the one thread that receives, acknowledges and hands out every
message, so what it spends on events every task waits for (bench row 3: a quarter of its
time). Here the first event buffered schedules one flush `FLUSH_SECONDS` later; the events
meanwhile go with it, or sooner when `FULL_BUFFER` of them are waiting. Every event is
still sent, stamped when it happened; Flower sees it at most `FLUSH_SECONDS` later.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from celery import Celery, bootsteps

FLUSH_SECONDS = 0.1
FULL_BUFFER = 24  # events that go at once, as Celery's own buffer limit has it


class BatchedTaskEvents(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no type hints
    """A consumer step: sets the consumer's "an event was buffered" callback, which Celery's
    Events step hands to every dispatcher it makes (each connection makes one)."""

    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self._lock = threading.Lock()
        self._timed = False  # a flush is scheduled FLUSH_SECONDS after the first event
        self._full = False  # a flush of a full buffer is on its way
        self._buffered_n = 0
        self._consumer = c
        c.on_send_event_buffered = self._buffered

    def start(self, c: Any) -> None:
        # A new connection: the Events step made a new dispatcher (and a hub reset may have
        # dropped a scheduled flush). Celery would publish a full buffer from the thread that
        # filled it, a pool thread, on the connection whose heartbeats the loop thread reads
        # (not safe on RabbitMQ); here the loop thread publishes every batch.
        with self._lock:
            self._timed = self._full = False
            self._buffered_n = 0
        if c.event_dispatcher is not None:
            c.event_dispatcher.buffer_limit = sys.maxsize

    def _buffered(self) -> None:
        # Called from whichever thread sent the event (pool threads): only the loop thread
        # touches the hub's timers and the dispatcher's connection, so the flush is handed
        # to it (call_soon is thread-safe and wakes the loop).
        hub = self._consumer.hub
        if hub is None:
            return
        with self._lock:
            self._buffered_n += 1
            if self._buffered_n >= FULL_BUFFER and not self._full:
                self._full = True
                callback = self._flush
            elif not self._timed:
                self._timed = True
                callback = self._schedule
            else:
                return
        hub.call_soon(callback)

    def _schedule(self) -> None:
        self._consumer.hub.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._timed = self._full = False
            self._buffered_n = 0
        dispatcher = self._consumer.event_dispatcher
        if dispatcher is not None:
            dispatcher.flush()

    def stop(self, c: Any) -> None:
        # Stopped before the Events step (it requires it): what is still buffered goes now.
        if c.event_dispatcher is not None:
            c.event_dispatcher.flush()


def install(app: Celery) -> None:
    app.steps["consumer"].add(BatchedTaskEvents)
