"""The review refresh task."""

from celery import Task

from tasks.base import freshet_task, run


@freshet_task("freshet.reviews.refresh")
def refresh(self: Task, job_id: int) -> str:
    return run(self, job_id, "reviews")
