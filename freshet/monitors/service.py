"""The monitor resource: create (targets resolved by the batch rules, first run at once),
read with each target's last observation and the delivery state, change, pause and resume,
delete; and what an organization's monitors will spend this month."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import Connection, text

from freshet import accounts, batch
from freshet.accounts import Principal
from freshet.errors import BadRequest, NotFoundError
from freshet.monitors import targets as monitor_targets
from freshet.pagination import decode_cursor, encode_cursor
from freshet.runtime import Runtime

DEFAULT_EVENTS = (
    "price_changed",
    "price_dropped",
    "back_in_stock",
    "out_of_stock",
    "rating_changed",
)
CURSOR_TAG = "monitors"


def not_found() -> NotFoundError:
    return NotFoundError(
        "No monitor with this id exists for your organization; list yours with GET /v1/monitors.",
        title="Monitor not found",
        code="monitor_not_found",
    )


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found() from None


def _events(data: dict[str, Any]) -> tuple[list[str], float | None]:
    specs = data.get("events")
    if not specs:
        return list(DEFAULT_EVENTS), data.get("threshold")
    kinds = list(dict.fromkeys(s["type"] for s in specs))
    given = [s["threshold"] for s in specs if s.get("threshold") is not None]
    return kinds, given[0] if given else data.get("threshold")


def create(
    rt: Runtime, principal: Principal, data: dict[str, Any], request_id: str
) -> tuple[dict[str, Any], int]:
    """(the monitor, 201), or (the per-target rejections, 400) when none was accepted."""
    if data.get("callbackUrl"):
        batch.check_callback(rt, data["callbackUrl"])
    res = monitor_targets.resolve(rt, principal, data["targets"])
    accepted = [{"catalog": a.catalog["slug"], "url": a.url} for a in res.accepted]
    if not res.accepted:
        return {
            "error": "No target accepted",
            "code": "no_target_accepted",
            "message": "Every target was rejected; see rejected for what to change.",
            "accepted": [],
            "rejected": res.rejected,
        }, 400
    kinds, threshold = _events(data)
    monitor_id = uuid.uuid4()
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitors (id, org_id, name, interval_seconds, events, "
                "price_threshold, callback_url, target_count, next_run_at) "
                "VALUES (:id, :o, :name, :i, :ev, :th, :cb, :n, now())"
            ),
            {
                "id": monitor_id,
                "o": principal.org_id,
                "name": data.get("name"),
                "i": data["interval"],
                "ev": kinds,
                "th": threshold,
                "cb": data.get("callbackUrl"),
                "n": len(res.accepted),
            },
        )
        rows = [
            {
                "pos": i,
                "cat": a.catalog["id"],
                "url": a.url,
                "pid": str(a.product_id) if a.product_id else None,
                "params": batch.catalog_params(a.catalog),
            }
            for i, a in enumerate(res.accepted)
        ]
        conn.execute(
            text(
                "INSERT INTO monitor_targets (monitor_id, position, catalog_id, url, product_id, "
                "params) SELECT :m, t.pos, t.cat, t.url, t.pid, t.params "
                "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                "AS t(pos int, cat bigint, url text, pid uuid, params jsonb)"
            ),
            {"m": monitor_id, "rows": json.dumps(rows)},
        )
        body = view(conn, monitor_id, principal.org_id)
    assert body is not None
    body.update(accepted=accepted, rejected=res.rejected)
    # The first run (the baseline) is due at once; beat's next pass takes it, or the caller
    # asks for it now (the API does, right after this).
    return body, 201


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _monitor(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "interval": row.interval_seconds,
        "events": list(row.events),
        "threshold": float(row.price_threshold) if row.price_threshold is not None else None,
        "callbackUrl": row.callback_url,
        "paused": row.paused,
        "pausedReason": row.paused_reason,
        "nextRunAt": None if row.paused else _iso(row.next_run_at),
        "lastRunAt": _iso(row.last_run_at),
        "lastError": row.last_error,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
        "targetCount": row.target_count,
    }


def org_of(conn: Connection, monitor_id: uuid.UUID) -> int | None:
    """The organization a monitor belongs to (for operators), or None."""
    found = conn.execute(text("SELECT org_id FROM monitors WHERE id = :m"), {"m": monitor_id})
    org_id = found.scalar()
    return None if org_id is None else int(org_id)


def view(conn: Connection, monitor_id: uuid.UUID, org_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        text("SELECT * FROM monitors WHERE id = :m AND org_id = :o"), {"m": monitor_id, "o": org_id}
    ).first()
    if row is None:
        return None
    out = _monitor(row)
    targets = conn.execute(
        text(
            "SELECT c.slug, t.url, t.product_id, t.last_job_id, t.last_error, o.price, "
            "o.currency, o.in_stock, o.rating, o.observed_at FROM monitor_targets t "
            "JOIN catalogs c ON c.id = t.catalog_id "
            "LEFT JOIN monitor_observations o ON o.id = t.last_observation_id "
            "WHERE t.monitor_id = :m ORDER BY t.position"
        ),
        {"m": monitor_id},
    ).all()
    out["targets"] = [
        {
            "catalog": t.slug,
            "url": t.url,
            "productId": str(t.product_id) if t.product_id else None,
            "lastObservation": None
            if t.observed_at is None
            else {
                "price": float(t.price) if t.price is not None else None,
                "currency": t.currency,
                "inStock": t.in_stock,
                "rating": t.rating,
                "observedAt": _iso(t.observed_at),
            },
            "lastJobId": t.last_job_id,
            "lastError": t.last_error,
        }
        for t in targets
    ]
    d = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS pending, "
            "count(*) FILTER (WHERE status = 'delivered') AS delivered, "
            "count(*) FILTER (WHERE status = 'failed') AS failed, max(delivered_at) AS last_at, "
            "(SELECT error FROM monitor_deliveries WHERE monitor_id = :m AND error IS NOT NULL "
            " ORDER BY event_id DESC LIMIT 1) AS last_error "
            "FROM monitor_deliveries WHERE monitor_id = :m"
        ),
        {"m": monitor_id},
    ).one()
    out["delivery"] = {
        "pending": d.pending,
        "delivered": d.delivered,
        "failed": d.failed,
        "lastDeliveredAt": _iso(d.last_at),
        "lastError": d.last_error,
    }
    return out


def list_monitors(
    conn: Connection, org_id: int, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    after = decode_cursor(CURSOR_TAG, cursor) if cursor else 0
    rows = conn.execute(
        text(
            "SELECT *, (extract(epoch FROM created_at) * 1000000)::bigint AS pos FROM monitors "
            "WHERE org_id = :o AND (extract(epoch FROM created_at) * 1000000)::bigint > :after "
            "ORDER BY created_at, id LIMIT :n"
        ),
        {"o": org_id, "after": after, "n": limit + 1},
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "monitors": [_monitor(r) for r in rows],
        "nextCursor": encode_cursor(CURSOR_TAG, int(rows[-1].pos)) if more and rows else None,
    }


def update(
    rt: Runtime, monitor_id: uuid.UUID, org_id: int, data: dict[str, Any]
) -> dict[str, Any] | None:
    if data.get("callbackUrl"):
        batch.check_callback(rt, data["callbackUrl"])
    sets: list[str] = []
    params: dict[str, Any] = {"m": monitor_id, "o": org_id}
    if "interval" in data:
        sets.append("interval_seconds = :i")
        params["i"] = data["interval"]
    if "events" in data:
        kinds, threshold = _events(data)
        sets += ["events = :ev", "price_threshold = :th"]
        params.update(ev=kinds, th=threshold)
    elif "threshold" in data:
        sets.append("price_threshold = :th")
        params["th"] = data["threshold"]
    for field, col in (("callbackUrl", "callback_url"), ("name", "name")):
        if field in data:
            sets.append(f"{col} = :{col}")
            params[col] = data[field]
    if data.get("paused") is True:
        sets += ["paused = true", "paused_reason = COALESCE(paused_reason, 'paused by the caller')"]
    elif data.get("paused") is False:
        # Resumed: due at once (one catch-up run), whatever was missed while paused.
        sets += ["paused = false", "paused_reason = NULL", "next_run_at = now()"]
    with rt.engine.begin() as conn:
        if sets:
            found = conn.execute(
                text(
                    f"UPDATE monitors SET {', '.join(sets)}, updated_at = now() "  # noqa: S608
                    "WHERE id = :m AND org_id = :o RETURNING id"
                ),
                params,
            ).first()
            if found is None:
                return None
        return view(conn, monitor_id, org_id)


def delete(rt: Runtime, monitor_id: uuid.UUID, org_id: int) -> bool:
    """Gone with its targets and observations; its events stay until retention drops them."""
    with rt.engine.begin() as conn:
        return (
            conn.execute(
                text("DELETE FROM monitors WHERE id = :m AND org_id = :o"),
                {"m": monitor_id, "o": org_id},
            ).rowcount
            == 1
        )


def spend(conn: Connection, org_id: int, cost: int) -> dict[str, Any]:
    """What the organization's active monitors will spend between now and the month's end,
    at their intervals (each run refreshes every target at the batch target's price)."""
    end = accounts.next_period_start()
    left = max((end - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
    rows = conn.execute(
        text("SELECT interval_seconds, target_count, paused FROM monitors WHERE org_id = :o"),
        {"o": org_id},
    ).all()
    active = [r for r in rows if not r.paused]
    runs = sum(int(left // r.interval_seconds) for r in active)
    tokens = sum(int(left // r.interval_seconds) * r.target_count * cost for r in active)
    return {
        "monitors": len(rows),
        "active": len(active),
        "paused": len(rows) - len(active),
        "runsUntilPeriodEnd": runs,
        "tokensUntilPeriodEnd": tokens,
        "tokensPerTargetRun": cost,
        "periodEnd": _iso(end),
    }


def ensure_demo(
    conn: Connection, org_id: int, catalog: dict[str, Any], url: str, name: str
) -> uuid.UUID:
    """The demo's monitor (one target, already resolved), created once by name; due at once."""
    found = conn.execute(
        text("SELECT id FROM monitors WHERE org_id = :o AND name = :n"), {"o": org_id, "n": name}
    ).scalar()
    if found is not None:
        return uuid.UUID(str(found))
    monitor_id = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO monitors (id, org_id, name, interval_seconds, events, target_count, "
            "next_run_at) VALUES (:id, :o, :n, 300, :ev, 1, now())"
        ),
        {"id": monitor_id, "o": org_id, "n": name, "ev": list(DEFAULT_EVENTS)},
    )
    conn.execute(
        text(
            "INSERT INTO monitor_targets (monitor_id, position, catalog_id, url, params) "
            "VALUES (:m, 0, :c, :u, CAST(:p AS jsonb))"
        ),
        {
            "m": monitor_id,
            "c": catalog["id"],
            "u": url,
            "p": json.dumps(batch.catalog_params(catalog)),
        },
    )
    return monitor_id


def bad_request(message: str) -> BadRequest:
    return BadRequest(message, title="Invalid request", code="bad_request")
