"""Task events (-E, what Flower shows): every task's events still reach a monitor, sent in
batches by the worker (workers/events.py), and what is buffered when the worker stops goes
out before it does."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.events.receiver import EventReceiver

from workers import events

pytestmark = pytest.mark.skipif(
    os.environ.get("FRESHET_TEST_BROKER") == "rabbitmq",
    reason="task events are batched on the Redis broker only (workers/celery_app.py)",
)

TASK_EVENTS = ("task-received", "task-started", "task-succeeded")


class Monitor(EventReceiver):
    """A monitor like Flower: records every task event, and how many messages carried them."""

    def __init__(self, app: Any) -> None:
        self.by_task: dict[str, list[str]] = defaultdict(list)
        self.messages = 0
        self.listening = threading.Event()
        self._conn = app.connection_for_read()
        super().__init__(self._conn, handlers={"*": self._on_event}, app=app)

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        self.listening.set()

    def _receive(self, body: Any, message: Any, **kwargs: Any) -> None:
        batch = body if isinstance(body, list) else [body]
        if any(e.get("type") in TASK_EVENTS for e in batch):  # the worker's, not task-sent
            self.messages += 1
        super()._receive(body, message, **kwargs)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["type"].startswith("task-"):
            self.by_task[event["uuid"]].append(event["type"])

    def seen_all(self, task_ids: list[str], kinds: tuple[str, ...] = TASK_EVENTS) -> bool:
        return all(set(kinds) <= set(self.by_task.get(t, ())) for t in task_ids)


@pytest.fixture
def monitor(celery_app) -> Iterator[Monitor]:
    m = Monitor(celery_app)
    thread = threading.Thread(target=lambda: m.capture(limit=None, timeout=None), daemon=True)
    thread.start()
    assert m.listening.wait(10), "the monitor never started listening"
    yield m
    m.should_stop = True
    thread.join(10)
    m._conn.release()


def _probe(celery_app, seen: list[str], name: str) -> Any:
    @celery_app.task(name=f"tests.event_probe.{name}")
    def probe(label: str) -> None:
        seen.append(label)

    return probe


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _worker(celery_app) -> Any:
    return start_worker(
        celery_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        queues=["default"],
    )


@pytest.mark.e2e
def test_every_task_event_reaches_a_monitor_in_fewer_messages(celery_app, monitor, monkeypatch):
    # A second between flushes: the count below holds on a slow machine too.
    monkeypatch.setattr(events, "FLUSH_SECONDS", 1.0)
    seen: list[str] = []
    probe = _probe(celery_app, seen, "batches")
    ids = [probe.apply_async(args=[f"p{i}"], queue="default").id for i in range(20)]
    with _worker(celery_app):
        _wait(lambda: len(seen) == 20, 30, "the probes to run")
        _wait(lambda: monitor.seen_all(ids), 10, "every task's events")
    # In batches: a message per flush or per full buffer (24 events), not about one per task.
    assert monitor.messages <= 6, monitor.messages


@pytest.mark.e2e
def test_events_still_buffered_when_the_worker_stops_are_sent(celery_app, monitor, monkeypatch):
    # No flush comes due while the test runs: the events can only leave with the stop.
    monkeypatch.setattr(events, "FLUSH_SECONDS", 60.0)
    seen: list[str] = []
    probe = _probe(celery_app, seen, "stop")
    task_id = probe.apply_async(args=["last"], queue="default").id
    with _worker(celery_app):
        _wait(lambda: seen == ["last"], 30, "the probe to run")
        time.sleep(0.3)  # its succeeded event is in the buffer
        assert not monitor.seen_all([task_id], ("task-succeeded",))
    _wait(lambda: monitor.seen_all([task_id]), 10, "the buffered events after the stop")
