"""Monitor tasks: one monitored target's refresh, beat's scheduling pass, one event's webhook."""

from typing import Any

from celery import Task

from freshet import logs, monitors
from tasks.base import freshet_task, run
from workers.celery_app import runtime_for
from workers.fanout import publish_many


@freshet_task("freshet.monitors.refresh_target")
def refresh_target(self: Task, job_id: int) -> str:
    return run(self, job_id, monitors.KIND)


@freshet_task("freshet.monitors.schedule", autoretry_for=(), max_retries=0)
def schedule(self: Task) -> dict[str, Any]:
    with logs.context(task_id=self.request.id):
        return monitors.schedule_due(
            runtime_for(self.app), push=lambda messages: publish_many(self.app, messages)
        )


@freshet_task(monitors.DELIVER_TASK)
def deliver(self: Task, event_id: str) -> None:
    with logs.context(task_id=self.request.id):
        delay = monitors.deliver(runtime_for(self.app), event_id)
    if delay is not None:
        raise self.retry(countdown=delay, max_retries=None)
