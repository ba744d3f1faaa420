"""Monitors: products kept fresh on a schedule (beat's pass sends due targets as ordinary batch
jobs), what changed turned into durable events, pulled with a cursor or pushed as signed
webhooks, and the sweeper's passes for deliveries and retention."""

from freshet.monitors.detection import DELIVER_TASK, HANDLER, changes
from freshet.monitors.events import DueCollector, deliver, list_events, sweep_monitors
from freshet.monitors.schedule import KIND, OUT_OF_TOKENS, run_now, schedule_due
from freshet.monitors.service import (
    create,
    delete,
    ensure_demo,
    list_monitors,
    not_found,
    org_of,
    parse_id,
    spend,
    update,
    view,
)

__all__ = [
    "DELIVER_TASK",
    "HANDLER",
    "KIND",
    "OUT_OF_TOKENS",
    "DueCollector",
    "changes",
    "create",
    "delete",
    "deliver",
    "ensure_demo",
    "list_events",
    "list_monitors",
    "not_found",
    "org_of",
    "parse_id",
    "run_now",
    "schedule_due",
    "spend",
    "sweep_monitors",
    "update",
    "view",
]
