"""Monitors and their events, read through the console's monitor interface (monitor_reads)."""

from __future__ import annotations

from typing import cast

from flask import current_app

from api.auth import runtime
from api.console.base import bp, next_url, page, page_args, scope, signed_in
from api.console.monitor_reads import EXTENSION, MonitorReads, NoMonitors
from freshet.errors import NotFoundError


def reads() -> MonitorReads:
    return cast(MonitorReads, current_app.extensions.get(EXTENSION) or NoMonitors())


@bp.get("/monitors")
@signed_in
def monitor_list() -> str:
    limit, cursor = page_args()
    with runtime().engine.connect() as conn:
        found = reads().page(conn, scope(), limit=limit, cursor=cursor)
    return page("monitors.html", found=found, next_url=next_url(found.next_cursor))


@bp.get("/monitors/<monitor_id>")
@signed_in
def monitor_detail(monitor_id: str) -> str:
    with runtime().engine.connect() as conn:
        found = reads().get(conn, scope(), monitor_id)
    if found is None:
        raise NotFoundError(
            "No monitor with this id exists for your organization.", title="Not found"
        )
    return page("monitor.html", m=found)
