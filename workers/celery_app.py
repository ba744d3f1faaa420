"""The one Celery app: Redis broker, JSON only, no result backend, acks late.

`celery -A workers.celery_app worker` finds `app` through the module's `__getattr__`, so
importing this module builds nothing; `create_celery(settings)` is what tests call.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from freshet.logs import configure_logging
from freshet.runtime import Runtime
from freshet.settings import Settings, load_settings
from freshet.wiring import build_runtime, job_kinds
from workers import brokers, events
from workers import logs as worker_logs  # issue #5: the job's ids on every task log line
from workers import metrics as _metrics  # noqa: F401  (issue #5: connects the task signals)
from workers.publish import publisher_for

TASK_MODULES = (
    "tasks.reviews",
    "tasks.products",
    "tasks.batch",
    "tasks.maintenance",
    "tasks.monitors",
)


def create_celery(settings: Settings | None = None, **conf: Any) -> Celery:
    settings = settings or load_settings()
    app = Celery("freshet", set_as_current=False)
    retry_window = settings.task_time_limit + settings.retry_backoff_max
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_send_task_events=True,
        # Only send_task's (retries): Freshet publishes through workers/fanout.py without a
        # sent event, and Flower learns of a task when a worker receives it.
        task_send_sent_event=True,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(settings.task_time_limit - 10, 1),
        task_default_queue="default",
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep": {
                "task": "freshet.jobs.sweep",
                "schedule": settings.sweep_interval_seconds,
                "options": {"queue": "default", "expires": settings.sweep_interval_seconds},
            },
            "hot-products": {
                "task": "freshet.products.refresh_hot",
                "schedule": settings.hot_refresh_interval_seconds,
                "options": {"queue": "default", "expires": settings.hot_refresh_interval_seconds},
            },
            "monitors": {
                "task": "freshet.monitors.schedule",
                "schedule": settings.monitor_schedule_interval_seconds,
                "options": {
                    "queue": "default",
                    "expires": settings.monitor_schedule_interval_seconds,
                },
            },
        },
        include=list(TASK_MODULES),
    )
    # Queues, transport options, quorum queues and publisher confirms per broker (issue #17).
    app.conf.update(
        brokers.celery_conf(
            settings.broker_url,
            visibility_timeout=int(retry_window * 4),
            delivery_limit=settings.broker_delivery_limit,
        )
    )
    app.conf.update(conf)
    # Task events in batches (workers/events.py), on the Redis broker: on RabbitMQ the
    # batching's flush from the loop thread has not held up in CI (a test run lost events
    # after a broker restart), so there Celery sends each event as it happens.
    if not brokers.is_amqp(settings.broker_url):
        events.install(app)
    app.freshet_settings = settings
    return app


_runtimes: dict[tuple[int, int], Runtime] = {}


def runtime_for(app: Celery) -> Runtime:
    """This process's runtime for `app`, built on first use (after any fork)."""
    key = (os.getpid(), id(app))
    rt = _runtimes.get(key)
    if rt is None:
        # One connection per worker thread at most, so no task waits for or opens a connection.
        # A worker serves no cached read: its statement engine commits durably, and carries
        # every job's claim and completion (freshet.jobs.runner).
        pool = max(int(app.conf.worker_concurrency or 4), 2)
        rt = build_runtime(
            app.freshet_settings,
            publisher_for(app),
            pool_size=pool,
            statements_async=False,
        )
        _runtimes[key] = rt
    return rt


@worker_init.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _note_concurrency(sender: Any = None, **_: Any) -> None:
    # The pool of Postgres connections is sized from this (see runtime_for).
    concurrency = getattr(sender, "concurrency", None)
    if concurrency and getattr(sender, "app", None) is not None:
        sender.app.conf.worker_concurrency = int(concurrency)


@worker_process_init.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _forget_parent_runtimes(**_: Any) -> None:
    # Connections inherited across fork are not ours to use.
    _runtimes.clear()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _close_runtimes(**_: Any) -> None:
    for rt in list(_runtimes.values()):
        rt.close()
    _runtimes.clear()


def close_runtime(app: Celery) -> None:
    """Close this process's runtime for `app` (both its pools of connections), if built."""
    rt = _runtimes.pop((os.getpid(), id(app)), None)
    if rt is not None:
        rt.close()


@worker_shutdown.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _close_app_runtime(sender: Any = None, **_: Any) -> None:
    # A threads-pool worker has no pool process to shut down: its app's runtime is closed
    # when the worker stops.
    app = getattr(sender, "app", None)
    if app is not None:
        close_runtime(app)


_app: Celery | None = None


def app_from_environment(factory: Any = None) -> Celery:
    """The app the `celery -A` command line runs: settings from the environment, Freshet's
    logging, and `factory` (default create_celery) to build it."""
    settings = load_settings()
    configure_logging(settings)
    app = (factory or create_celery)(settings)
    # Every job kind's task must be registered, or the worker refuses to start, by name.
    app.loader.import_default_modules()
    job_kinds().check_tasks(app.tasks.keys())
    # issue #5: with a receiver connected, Celery leaves logging to Freshet, so its
    # own lines (received, succeeded) are JSON too.
    setup_logging.connect(worker_logs.keep_freshet_logging(settings), weak=False)
    return app


def __getattr__(name: str) -> Any:
    global _app
    if name in ("app", "celery"):
        if _app is None:
            _app = app_from_environment()
        return _app
    raise AttributeError(name)
