"""The baselines Freshet's refresh task is compared with: a task that does nothing, and a task
that does one HTTP GET of the same simulator page with a kept-alive session."""

from __future__ import annotations

import threading

import requests
from celery import shared_task

_local = threading.local()


def _session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
    return s


@shared_task(name="bench.noop", ignore_result=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no type hints
def noop(n: int) -> None:
    return None


@shared_task(name="bench.http_get", ignore_result=True, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no type hints
def http_get(url: str) -> int:
    resp = _session().get(url, timeout=10)
    resp.raise_for_status()
    return len(resp.content)
