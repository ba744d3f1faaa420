"""Publishing jobs to Celery: by task name, ids only, with the request id in the headers."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from freshet.runtime import Message, Publisher


class CeleryPublisher(Publisher):
    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, dispatches: Sequence[Message]) -> None:
        if not dispatches:
            return
        # One producer (one connection) for the whole list.
        with self.app.producer_or_acquire() as producer:
            for d in dispatches:
                self.app.send_task(
                    d.task_name,
                    args=[d.job_id],
                    queue=d.queue,
                    producer=producer,
                    countdown=d.countdown,
                    headers={"request_id": d.request_id or ""},
                )


class NullPublisher(Publisher):
    """For commands that must not publish: jobs stay queued for the sweeper."""

    def publish(self, dispatches: Sequence[Message]) -> None:
        return None
