"""Prometheus metric objects shared by the API and the workers, and the scrape registry.

Multi-process: when PROMETHEUS_MULTIPROC_DIR is set (before the process starts), every
process (gunicorn workers, Celery prefork children) writes its values to files there and a
scrape aggregates them. Without it the default single-process registry is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select

from sources.record import PermanentSourceError, TransientSourceError
from store.tables import catalogs

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# API ------------------------------------------------------------------------------------
http_requests = Counter(
    "freshet_http_requests",
    "API requests by route (the URL rule, not the raw path) and status",
    ["method", "route", "status"],
)
http_duration = Histogram(
    "freshet_http_request_duration_seconds",
    "API request latency by route",
    ["method", "route"],
    buckets=_FAST,
)
guard_refusals = Counter(
    "freshet_guard_refusals",
    "Requests or jobs refused by a guard, by reason "
    "(the error code of a 429, or upstream_politeness for a throttled fetch)",
    ["reason"],
)

# Workers --------------------------------------------------------------------------------
tasks = Counter(
    "freshet_tasks",
    "Celery tasks run, by task name and final state (success, failure, retry)",
    ["task", "state"],
)
task_results = Counter(
    "freshet_task_results",
    "What a job task reported: completed, failed, skipped, stale",
    ["task", "result"],
)
task_duration = Histogram(
    "freshet_task_duration_seconds",
    "Celery task run time by task name and state",
    ["task", "state"],
    buckets=_SLOW,
)
task_exceptions = Counter(
    "freshet_task_exceptions", "Exceptions that failed a task, by type", ["task", "exception"]
)
task_retries = Counter(
    "freshet_task_retries", "Tasks scheduled to run again, by reason", ["task", "reason"]
)

# Upstreams ------------------------------------------------------------------------------
upstream_fetches = Counter(
    "freshet_upstream_fetches",
    "Upstream fetches by source and status (ok, an HTTP status, transient, permanent, error)",
    ["source", "status"],
)
upstream_duration = Histogram(
    "freshet_upstream_fetch_duration_seconds",
    "Upstream fetch latency by source",
    ["source"],
    buckets=_SLOW,
)

upstream_host_answers = Counter(
    "freshet_upstream_host_answers",
    "Upstream answers by host:port and what they told the politeness guard (ok, throttled, error)",
    ["host", "outcome"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def scrape_registry(*extra: Any) -> CollectorRegistry:
    """A registry for one scrape: every process's values (or this process's) plus `extra`."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    else:
        registry.register(_Delegate(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


class _Delegate:
    """Yields another registry's metrics, so a scrape registry can add collectors of its own
    without registering them on the process-wide one."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()


_PID_FILE = re.compile(r"_(\d+)\.db$")


def prepare_multiprocess_dir() -> None:
    """Create the multi-process directory and drop the files of processes that are gone.

    Values of dead processes would otherwise be added to every scrape after a restart. Only
    share one directory between processes of one host (one PID namespace)."""
    path = multiprocess_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        m = _PID_FILE.search(name)
        if m and not _alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# helpers --------------------------------------------------------------------------------
def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    http_requests.labels(method, route, str(status)).inc()
    http_duration.labels(method, route).observe(seconds)


def guard_refused(reason: str) -> None:
    guard_refusals.labels(reason or "unknown").inc()


def upstream_host_answer(host: str, outcome: str) -> None:
    upstream_host_answers.labels(host, outcome).inc()


# kind -> the source its fetch uses, when the job itself does not say
_KIND_SOURCE = {"reviews": "amazon_reviews"}
_catalog_sources: dict[int, str] = {}


def source_of(job: dict[str, Any], catalog_source: Callable[[int], str | None]) -> str:
    """The source a job's fetch goes to: reviews → amazon_reviews, else its catalog's source,
    else the `source`/`retailer` it was asked for (walmart, the products API's default)."""
    if job.get("kind") in _KIND_SOURCE:
        return _KIND_SOURCE[job["kind"]]
    cid = job.get("catalog_id")
    if cid is not None:
        if cid not in _catalog_sources:
            found = catalog_source(int(cid))
            if found is None:
                return "unknown"
            _catalog_sources[cid] = found
        return _catalog_sources[cid]
    params = job.get("params") or {}
    return str(params.get("source") or params.get("retailer") or "walmart")


def _status_of(exc: BaseException) -> str:

    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return str(status)
    if isinstance(exc, TransientSourceError):
        return "transient"
    if isinstance(exc, PermanentSourceError):
        return "permanent"
    return "error"


@contextlib.contextmanager
def upstream_fetch(rt: Any, job: dict[str, Any]) -> Iterator[None]:
    """Time one job's upstream fetch and count its outcome; never changes what it raises."""
    started = time.perf_counter()
    status = "ok"
    try:
        yield
    except BaseException as exc:
        status = _status_of(exc)
        raise
    finally:
        try:
            source = source_of(job, lambda cid: _lookup_catalog_source(rt, cid))
            upstream_duration.labels(source).observe(time.perf_counter() - started)
            upstream_fetches.labels(source, status).inc()
        except Exception:  # metrics must never break a job
            log.debug("upstream metrics failed", exc_info=True)


def _lookup_catalog_source(rt: Any, catalog_id: int) -> str | None:

    with rt.engine.connect() as conn:
        source: str | None = conn.execute(
            select(catalogs.c.source).where(catalogs.c.id == catalog_id)
        ).scalar()
        return source


# Monitors -------------------------------------------------------------------------------
monitor_runs = Counter(
    "freshet_monitor_runs",
    "Monitor runs started by beat's scheduling pass (each sends its targets)",
)
monitor_lateness = Histogram(
    "freshet_monitor_run_lateness_seconds",
    "How long after its due time a monitor's run was started",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 86_400),
)
monitor_events = Counter("freshet_monitor_events", "Monitor events emitted, by type", ["type"])
monitor_deliveries = Counter(
    "freshet_monitor_deliveries",
    "Monitor event webhook deliveries ended, by result (delivered, retry, failed)",
    ["result"],
)


def monitor_scheduled(late_seconds: float) -> None:
    monitor_runs.inc()
    monitor_lateness.observe(late_seconds)


def monitor_event(kind: str) -> None:
    monitor_events.labels(kind).inc()


def monitor_delivery(result: str) -> None:
    monitor_deliveries.labels(result).inc()
