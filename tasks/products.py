"""Product refresh tasks: one product job, and beat's pass over hot products."""

from celery import Task

from freshet import logs, products
from tasks.base import freshet_task, run
from workers.celery_app import runtime_for


@freshet_task("freshet.products.refresh")
def refresh(self: Task, job_id: int) -> str:
    return run(self, job_id, "product")


@freshet_task("freshet.products.refresh_hot", autoretry_for=(), max_retries=0)
def refresh_hot(self: Task) -> int:
    with logs.context(task_id=self.request.id):
        return products.refresh_hot(runtime_for(self.app))
