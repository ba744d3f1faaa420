"""The worker's log lines about a job carry its ids: the API's request id (a task header),
the job id and the task id — Celery's own "received", "succeeded" and "retry" lines included."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery.signals import task_postrun, task_prerun, task_received

from freshet import logs
from freshet.settings import Settings

log = logging.getLogger("freshet.worker")
_tokens: dict[str, Any] = {}


def _ids(request: Any, args: Any) -> dict[str, Any]:
    headers = getattr(request, "headers", None)
    rid = getattr(request, "request_id", None) or (
        headers.get("request_id") if isinstance(headers, dict) else None
    )
    job_id = args[0] if isinstance(args, (list, tuple)) and len(args) == 1 else None
    return {"request_id": rid or None, "job_id": job_id if isinstance(job_id, int) else None}


@task_received.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _log_received(request: Any = None, **_: Any) -> None:
    # Celery's own "Received task" line is logged before the request id is known to us.
    if request is None:
        return
    ids = _ids(None, request.args)
    ids["request_id"] = (request.request_dict or {}).get("request_id") or None
    with logs.context(task_id=request.id, **ids):
        log.info("task received", extra={"task": request.name})


@task_prerun.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _bind(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    if task_id and task is not None:
        _tokens[task_id] = logs.bind(task_id=task_id, **_ids(task.request, args))


@task_postrun.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _unbind(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        logs.unbind(token)


def keep_freshet_logging(settings: Settings) -> Callable[..., None]:
    """A `setup_logging` receiver: Celery then configures no logging of its own."""

    def receiver(**_: Any) -> None:
        logs.configure_logging(settings)

    return receiver
