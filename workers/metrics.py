"""Workers' Prometheus metrics: task outcomes and durations from Celery's signals, the broker's
queue depths read at scrape time, and the optional metrics HTTP server of a worker."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_init
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily

from freshet import metrics
from freshet.settings import SettingsError
from workers.queues import QUEUES

log = logging.getLogger(__name__)

# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in lists named
# "<queue>\x06\x16<priority>"; the queue itself is priority 0.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
UNACKED_KEY = "unacked"

_started: dict[str, float] = {}
_lock = threading.Lock()


@task_prerun.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        with _lock:
            _started[task_id] = time.perf_counter()


@task_postrun.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _on_postrun(
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    with _lock:
        started = _started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", None) or "unknown"
    st = (state or "unknown").lower()
    metrics.tasks.labels(name, st).inc()
    if started is not None:
        metrics.task_duration.labels(name, st).observe(time.perf_counter() - started)
    if st == "success" and isinstance(retval, str) and len(retval) <= 32:
        metrics.task_results.labels(name, retval).inc()


@task_failure.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _on_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    name = getattr(sender, "name", None) or "unknown"
    metrics.task_exceptions.labels(name, type(exception).__name__).inc()


@task_retry.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _on_retry(sender: Any = None, reason: Any = None, **_: Any) -> None:
    name = getattr(sender, "name", None) or "unknown"
    why = type(reason).__name__ if isinstance(reason, BaseException) else "requested"
    metrics.task_retries.labels(name, why).inc()


class QueueDepthCollector:
    """`freshet_queue_depth{queue}`: messages waiting in each Celery queue on the Redis broker
    (LLEN at scrape time, all priorities summed), and `freshet_queue_unacked` messages handed
    to a worker and not yet acknowledged. A broker that does not answer is left out."""

    def __init__(self, client: Any, queues: Sequence[str], key_prefix: str = ""):
        self.client = client
        self.queues = tuple(queues)
        self.prefix = key_prefix

    def _keys(self, queue: str) -> list[str]:
        base = self.prefix + queue
        return [base] + [f"{base}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]

    def collect(self) -> Iterable[Any]:
        try:
            pipe = self.client.pipeline(transaction=False)
            for q in self.queues:
                for k in self._keys(q):
                    pipe.llen(k)
            pipe.hlen(self.prefix + UNACKED_KEY)
            counts = pipe.execute()
        except Exception as exc:  # a scrape must not fail because the broker is away
            log.warning("queue depth unavailable: %s", type(exc).__name__)
            return []
        depth = GaugeMetricFamily(
            "freshet_queue_depth",
            "Messages waiting in each Celery queue on the broker",
            labels=["queue"],
        )
        per = len(PRIORITY_STEPS) + 1
        for i, q in enumerate(self.queues):
            depth.add_metric([q], sum(counts[i * per : (i + 1) * per]))
        unacked = GaugeMetricFamily(
            "freshet_queue_unacked",
            "Messages delivered to a worker and not yet acknowledged",
            value=counts[-1],
        )
        return [depth, unacked]


def broker_key_prefix(app: Any) -> str:
    opts = app.conf.broker_transport_options or {}
    return str(opts.get("global_keyprefix") or "")


def worker_metrics_port(environ: dict[str, str] | None = None) -> int:
    """FRESHET_WORKER_METRICS_PORT (0, the default, is off)."""
    raw = (os.environ if environ is None else environ).get("FRESHET_WORKER_METRICS_PORT", "0")
    try:
        port = int(raw or 0)
    except ValueError:
        raise SettingsError(f"FRESHET_WORKER_METRICS_PORT={raw!r} is not a valid int") from None
    if not 0 <= port < 65536:
        raise SettingsError("FRESHET_WORKER_METRICS_PORT must be a port number or 0")
    return port


_server_started = False


@worker_init.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _start_server(sender: Any = None, **_: Any) -> None:
    """Serve this worker's metrics (every pool process's, in multi-process mode) on
    FRESHET_WORKER_METRICS_PORT, from the worker's main process."""
    global _server_started
    app = getattr(sender, "app", None)
    # A Settings field when there is one; the environment variable otherwise.
    port = getattr(getattr(app, "freshet_settings", None), "worker_metrics_port", None)
    if port is None:
        port = worker_metrics_port()
    if not port or _server_started:
        return
    metrics.prepare_multiprocess_dir()
    extra = []
    if app is not None and str(app.conf.broker_url or "").startswith(("redis", "unix")):
        client = redis.Redis.from_url(
            app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
        )
        extra.append(QueueDepthCollector(client, QUEUES, broker_key_prefix(app)))
    start_http_server(port, registry=metrics.scrape_registry(*extra))
    _server_started = True
    log.info("worker metrics on :%d/metrics", port)
