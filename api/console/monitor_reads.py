"""What the console reads about monitors, behind one small interface, so the pages can be
wired to `freshet.monitors` when it lands (one line in `api/app.py`:
`app.extensions["freshet.console.monitors"] = <an object with these two methods>`).

Until then `NoMonitors` answers: it reports whether a `monitors` table exists yet (schema
inspection only, no query of its rows), and lists nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, inspect

from freshet import monitors
from freshet.errors import NotFoundError

EXTENSION = "freshet.console.monitors"
RECENT_EVENTS = 50


@dataclass
class MonitorPage:
    monitors: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    note: str | None = None  # why there is nothing to show, when there is a reason


class MonitorReads(Protocol):
    """`org_id=None` is every organization (operators). A monitor dict carries at least `id`,
    `name`, `interval`, `paused`, `nextRunAt`, `targets` (each with its last observation) and
    `events` (the newest first)."""

    def page(
        self, conn: Connection, org_id: int | None, *, limit: int, cursor: str | None
    ) -> MonitorPage: ...

    def get(
        self, conn: Connection, org_id: int | None, monitor_id: str
    ) -> dict[str, Any] | None: ...


class NoMonitors:
    """The stand-in until the monitors domain is wired to the console."""

    def page(
        self, conn: Connection, org_id: int | None, *, limit: int, cursor: str | None
    ) -> MonitorPage:
        if not inspect(conn).has_table("monitors"):
            return MonitorPage(note="No monitors yet: this deployment has no monitors.")
        return MonitorPage(note="No monitors yet in the console: monitors are not wired to it.")

    def get(self, conn: Connection, org_id: int | None, monitor_id: str) -> dict[str, Any] | None:
        return None


class DomainMonitors:
    """The console's monitor pages read through `freshet.monitors`, as the API does."""

    def page(
        self, conn: Connection, org_id: int | None, *, limit: int, cursor: str | None
    ) -> MonitorPage:
        if org_id is None:
            return MonitorPage(
                note="Operators: search for a monitor id, or open an organization's view."
            )
        found = monitors.list_monitors(conn, org_id, limit=limit, cursor=cursor)
        return MonitorPage(monitors=found["monitors"], next_cursor=found["nextCursor"])

    def get(self, conn: Connection, org_id: int | None, monitor_id: str) -> dict[str, Any] | None:
        try:
            mid = monitors.parse_id(monitor_id)
        except NotFoundError:
            return None
        owner = org_id if org_id is not None else monitors.org_of(conn, mid)
        if owner is None:
            return None
        found = monitors.view(conn, mid, owner)
        if found is None:
            return None
        recent = monitors.list_events(
            conn, owner, cursor=None, monitor=mid, kind=None, limit=RECENT_EVENTS
        )
        # The page lists the monitor's events (records); what it watches is `watches`.
        return {**found, "watches": found["events"], "events": recent["events"]}
