"""Publishing jobs to Celery: by task name, ids only, with the request id in the headers."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from freshet.runtime import Message, Publisher
from workers.brokers import is_amqp
from workers.fanout import publish_many


class CeleryPublisher(Publisher):
    """Every list goes out in one pipeline of pre-serialized messages (workers/fanout.py):
    ~0.1 ms a message, without send_task's routing lookups, round trip and task-sent event
    each. A sync refresh's one job, a batch's fan-out and a fair-share pass alike."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, dispatches: Sequence[Message]) -> None:
        publish_many(self.app, dispatches)


class DurableCeleryPublisher(CeleryPublisher):
    """On RabbitMQ: also tells the sweeper how many messages a queue holds (QueueDepths)."""

    def ready(self, queue: str) -> int | None:
        try:
            with self.app.connection_for_read() as conn:
                ok = conn.default_channel.queue_declare(queue=queue, passive=True)
                return int(ok.message_count)
        except Exception:  # a missing queue or an unreachable broker: nothing known
            return None


def publisher_for(app: Celery) -> CeleryPublisher:
    if is_amqp(app.conf.broker_url or ""):
        return DurableCeleryPublisher(app)
    return CeleryPublisher(app)


class NullPublisher(Publisher):
    """For commands that must not publish: jobs stay queued for the sweeper."""

    def publish(self, dispatches: Sequence[Message]) -> None:
        return None
