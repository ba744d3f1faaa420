"""Publishing jobs to Celery: by task name, ids only, with the request id in the headers."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from freshet.runtime import Message, Publisher
from workers.brokers import countdown_for, is_amqp
from workers.fanout import publish_many


class CeleryPublisher(Publisher):
    """`pipelined`: every list goes out in one pipeline of pre-serialized messages
    (workers/fanout.py) instead of one `send_task` (and one round trip) per message, and
    without Celery's task-sent events. A worker publishes so: its fair-share passes run
    on its jobs' path, and hold the jobs they send until they have sent them."""

    def __init__(self, app: Celery, *, pipelined: bool = False) -> None:
        self.app = app
        self.pipelined = pipelined

    def publish(self, dispatches: Sequence[Message]) -> None:
        if not dispatches:
            return
        if self.pipelined:
            publish_many(self.app, dispatches)
            return
        # One producer (one connection) for the whole list.
        with self.app.producer_or_acquire() as producer:
            for d in dispatches:
                self.app.send_task(
                    d.task_name,
                    args=[d.job_id],
                    queue=d.queue,
                    producer=producer,
                    countdown=countdown_for(self.app.conf.broker_url or "", d.countdown),
                    headers={"request_id": d.request_id or ""},
                )


class DurableCeleryPublisher(CeleryPublisher):
    """On RabbitMQ: also tells the sweeper how many messages a queue holds (QueueDepths)."""

    def ready(self, queue: str) -> int | None:
        try:
            with self.app.connection_for_read() as conn:
                ok = conn.default_channel.queue_declare(queue=queue, passive=True)
                return int(ok.message_count)
        except Exception:  # a missing queue or an unreachable broker: nothing known
            return None


def publisher_for(app: Celery, *, pipelined: bool = False) -> CeleryPublisher:
    if is_amqp(app.conf.broker_url or ""):
        return DurableCeleryPublisher(app, pipelined=pipelined)
    return CeleryPublisher(app, pipelined=pipelined)


class NullPublisher(Publisher):
    """For commands that must not publish: jobs stay queued for the sweeper."""

    def publish(self, dispatches: Sequence[Message]) -> None:
        return None
