"""Periodic upkeep run by beat: the sweeper."""

from celery import Task

from freshet import logs
from freshet.jobs import sweep as sweep_once
from tasks.base import freshet_task
from workers.celery_app import runtime_for


@freshet_task("freshet.jobs.sweep", autoretry_for=(), max_retries=0)
def sweep(self: Task) -> dict[str, int]:
    with logs.context(task_id=self.request.id):
        return sweep_once(runtime_for(self.app))
