"""Our defaults around @shared_task, so options cannot be misspelled one task at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from celery import Task, shared_task
from sqlalchemy.exc import OperationalError

from freshet import logs
from freshet.jobs import RetryLater, run_job
from workers.brokers import countdown_for
from workers.celery_app import runtime_for

# Infrastructure that is briefly away (Postgres restarting, Redis failing over): wait and retry.
TRANSIENT_INFRA = (OperationalError, redis.ConnectionError, redis.TimeoutError)


def freshet_task(name: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    defaults: dict[str, Any] = dict(
        name=name,
        bind=True,
        acks_late=True,
        ignore_result=True,
        autoretry_for=TRANSIENT_INFRA,
        retry_backoff=True,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=None,
    )
    defaults.update(options)
    decorator: Callable[[Callable[..., Any]], Task] = shared_task(**defaults)
    return decorator


def request_id_of(task: Task) -> str | None:
    rid = getattr(task.request, "request_id", None)
    if not rid and isinstance(task.request.headers, dict):
        rid = task.request.headers.get("request_id")
    return rid or None


def run(task: Task, job_id: int, kind: str) -> str:
    rt = runtime_for(task.app)
    with logs.context(request_id=request_id_of(task), job_id=job_id, task_id=task.request.id):
        try:
            return run_job(rt, int(job_id), kind)
        except RetryLater as later:
            delay = countdown_for(task.app.conf.broker_url or "", later.countdown)
            raise task.retry(countdown=delay, max_retries=None) from None
