"""The review refresh task."""

from tasks.base import freshet_task, run


@freshet_task("freshet.reviews.refresh")
def refresh(self, job_id: int) -> str:
    return run(self, job_id, "reviews")
