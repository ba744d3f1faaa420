"""The worker the bench runs: Freshet's own Celery app, plus the raw baseline tasks, so both
are drained by the same pool from the same broker.

`celery -A bench.celery_app worker` finds `app` through `__getattr__`, like workers.celery_app.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

_app: Celery | None = None


def create(settings: Any = None) -> Celery:
    from workers.celery_app import TASK_MODULES, create_celery

    return create_celery(settings, include=[*TASK_MODULES, "bench.tasks"])


def __getattr__(name: str) -> Any:
    global _app
    if name in ("app", "celery"):
        if _app is None:
            from workers.celery_app import app_from_environment

            _app = app_from_environment(create)
        return _app
    raise AttributeError(name)
