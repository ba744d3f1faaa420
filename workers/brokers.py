"""What differs between the two brokers Freshet runs on: Redis (default) and RabbitMQ.

Redis: plain lists, a visibility timeout longer than any task, one pipeline per batch.
RabbitMQ (`CELERY_BROKER_URL=amqp://…`), the durable choice:
- quorum queues (durable, replicated once the cluster has more than one node), each with a
  delivery limit (`x-delivery-limit`) so a message that kills its worker every time is
  dropped after a few deliveries instead of looping; the job row stays the truth and the
  sweeper fails it after `max_attempts` leases (no poison loop, nothing silently lost);
- publisher confirms (`confirm_publish`) on the one connection every publish path uses,
  `send_task` and the fan-out's `Producer.batch()` alike: a publish returns only when the
  broker has taken the message, and raises otherwise;
- topic exchanges, because quorum queues have no global QoS and Celery then delays a
  countdown through its native delayed-delivery exchanges (`celery_delayed_*`) instead of
  holding an ETA message in a worker's prefetch slot; no message priorities (quorum queues
  do not support them, and Freshet orders work by queue, not by priority).
"""

from __future__ import annotations

import math
from typing import Any

from kombu.entity import Exchange, Queue

from workers.queues import QUEUES

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def is_amqp(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0].lower() in AMQP_SCHEMES


def queues_for(broker_url: str, delivery_limit: int) -> list[Queue]:
    if not is_amqp(broker_url):
        # kombu leaves Queue and Exchange.__init__ unannotated
        return [Queue(q, Exchange(q), routing_key=q) for q in QUEUES]  # type: ignore[no-untyped-call]
    args = {"x-queue-type": "quorum", "x-delivery-limit": delivery_limit}
    return [
        Queue(  # type: ignore[no-untyped-call]
            q,
            Exchange(q, type="topic", durable=True),  # type: ignore[no-untyped-call]
            routing_key=q,
            durable=True,
            queue_arguments=args,
        )
        for q in QUEUES
    ]


def celery_conf(broker_url: str, *, visibility_timeout: int, delivery_limit: int) -> dict[str, Any]:
    """The Celery settings that depend on the broker."""
    conf: dict[str, Any] = {"task_queues": queues_for(broker_url, delivery_limit)}
    if is_amqp(broker_url):
        conf.update(
            broker_transport_options={"confirm_publish": True},
            task_default_queue_type="quorum",
            task_create_missing_queue_type="quorum",
            worker_detect_quorum_queues=True,
            broker_native_delayed_delivery_queue_type="quorum",
        )
    else:
        conf.update(
            broker_transport_options={
                # A task unacknowledged this long is handed out again: longer than any task
                # plus any retry countdown, so a slow task is never run twice by the broker.
                "visibility_timeout": visibility_timeout,
                # BRPOP the worker's queues in the order given (QUEUES, or -Q), not round
                # robin, so `interactive` is taken before `reviews` before `batch` (issue #14).
                "queue_order_strategy": "priority",
            }
        )
    return conf


def countdown_for(broker_url: str, countdown: float | None) -> float | None:
    """A countdown the broker can carry: RabbitMQ's native delayed delivery counts whole
    seconds and Celery refuses a countdown that rounds down to 0, so round up there."""
    if countdown is None or countdown <= 0 or not is_amqp(broker_url):
        return countdown
    return float(math.ceil(countdown))
