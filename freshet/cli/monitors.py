"""`freshet monitors list|show|pause|resume`: what monitors exist, and steering one."""

from __future__ import annotations

import uuid
from typing import Any

import click
from sqlalchemy import text

from freshet import monitors as monitors_domain
from freshet.cli.base import engine, fail, json_option, out, runtime


@click.group(help="Monitors: products kept fresh on a schedule; list, show, pause, resume.")
def monitors() -> None:
    pass


def _monitor_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        fail(f"{raw!r} is not a monitor id (a uuid)")


def _org_of(monitor_id: uuid.UUID) -> int:
    with engine().connect() as conn:
        org = conn.execute(
            text("SELECT org_id FROM monitors WHERE id = :m"), {"m": monitor_id}
        ).scalar()
    if org is None:
        fail(f"monitor {monitor_id} does not exist")
    return int(org)


def _line(m: dict[str, Any]) -> str:
    state = f"paused ({m['paused_reason']})" if m["paused"] else f"next {m['next_run_at']:%F %T}"
    return (
        f"{m['id']} {m['org']:<16} every {m['interval_seconds']}s "
        f"targets={m['target_count']} events={m['events']} {state}"
    )


@monitors.command("list", help="Every monitor, the soonest due first.")
@click.option("--org", "org_name")
@click.option("--paused", is_flag=True, help="only paused monitors")
@json_option
def list_cmd(org_name: str | None, paused: bool, as_json: bool) -> None:
    with engine().connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT m.id, o.name AS org, m.name, m.interval_seconds, m.target_count, "
                    "m.paused, m.paused_reason, m.next_run_at, m.last_run_at, m.last_error, "
                    "array_to_string(m.events, ',') AS events FROM monitors m "
                    "JOIN organizations o ON o.id = m.org_id "
                    "WHERE (CAST(:org AS text) IS NULL OR o.name = CAST(:org AS text)) "
                    "AND (NOT :paused OR m.paused) ORDER BY m.next_run_at LIMIT 500"
                ),
                {"org": org_name, "paused": paused},
            )
        ]
    out(rows, as_json, "\n".join(_line(r) for r in rows) or "no monitors")


@monitors.command("show", help="One monitor with its targets' last observations.")
@click.argument("monitor_id")
@json_option
def show_cmd(monitor_id: str, as_json: bool) -> None:
    mid = _monitor_id(monitor_id)
    with engine().connect() as conn:
        found = monitors_domain.view(conn, mid, _org_of(mid))
    out(found, as_json)


def _set_paused(monitor_id: str, paused: bool, as_json: bool) -> None:
    mid = _monitor_id(monitor_id)
    found = monitors_domain.update(runtime(), mid, _org_of(mid), {"paused": paused})
    out(found, as_json, f"monitor {mid} {'paused' if paused else 'resumed'}")


@monitors.command("pause", help="Stop a monitor's scheduled runs.")
@click.argument("monitor_id")
@json_option
def pause_cmd(monitor_id: str, as_json: bool) -> None:
    _set_paused(monitor_id, True, as_json)


@monitors.command("resume", help="Resume a monitor; it runs once at once.")
@click.argument("monitor_id")
@json_option
def resume_cmd(monitor_id: str, as_json: bool) -> None:
    _set_paused(monitor_id, False, as_json)
