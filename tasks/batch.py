"""Batch workflow tasks: one target's refresh, a workflow's fan-out, and its webhook."""

from celery import Task

from freshet import batch, logs
from tasks.base import freshet_task, run
from workers.brokers import countdown_for
from workers.celery_app import runtime_for
from workers.fanout import publish_many


@freshet_task("freshet.batch.refresh_target")
def refresh_target(self: Task, job_id: int) -> str:
    return run(self, job_id, "batch_target")


@freshet_task("freshet.batch.launch")
def launch(self: Task, workflow_id: str) -> str:
    with logs.context(workflow_id=workflow_id, task_id=self.request.id):
        return batch.launch(
            runtime_for(self.app),
            workflow_id,
            push=lambda messages: publish_many(self.app, messages),
        )


@freshet_task("freshet.batch.webhook")
def webhook(self: Task, workflow_id: str) -> None:
    with logs.context(workflow_id=workflow_id, task_id=self.request.id):
        delay = batch.deliver(runtime_for(self.app), workflow_id)
    if delay is not None:
        delay = countdown_for(self.app.conf.broker_url or "", delay)
        raise self.retry(countdown=delay, max_retries=None)
