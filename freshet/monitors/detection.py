"""The worker's side of one monitored target: the batch target's fetch and store (polite,
retried, charged as a batch target), then change detection in the same transaction.

Detection compares the new observation with the target's previous one, under the target's
row lock. Both are written in the job's completion transaction, fenced by its attempt: a
redelivered or retried job stores no second observation (unique `job_id`), and one pair of
consecutive observations gives each event type at most once (unique on the pair and type).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from sqlalchemy import Connection, text

from freshet import batch, metrics
from freshet.runtime import Runtime, Upstream

log = logging.getLogger("freshet.monitors")

DELIVER_TASK = "freshet.monitors.deliver"
CONTROL_QUEUE = "default"

_TARGET = text(
    "SELECT mt.id, mt.last_observation_id, mt.product_id, m.id AS monitor_id, m.org_id, "
    "m.events, m.price_threshold, m.callback_url FROM monitor_targets mt "
    "JOIN monitors m ON m.id = mt.monitor_id WHERE mt.id = :t FOR UPDATE OF mt"
)
_OBSERVE = text(
    "INSERT INTO monitor_observations (target_id, job_id, price, currency, in_stock, rating) "
    "VALUES (:t, :j, :price, :currency, :in_stock, :rating) ON CONFLICT (job_id) DO NOTHING "
    "RETURNING id, observed_at"
)
_EVENT = text(
    "INSERT INTO monitor_events (org_id, monitor_id, target_id, type, product_id, "
    "previous_observation_id, observation_id, previous, current) "
    "VALUES (:org, :m, :t, :type, :pid, :prev_id, :cur_id, CAST(:prev AS jsonb), "
    "CAST(:cur AS jsonb)) ON CONFLICT (previous_observation_id, observation_id, type) "
    "WHERE observation_id IS NOT NULL DO NOTHING RETURNING id"
)


def _price(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value < 1e12:
        return round(float(value), 2)
    return None


def changes(
    prev: dict[str, Any], cur: dict[str, Any], wanted: list[str], threshold: float | None
) -> list[str]:
    """The event types the step from `prev` to `cur` makes, among those `wanted`."""
    out = []
    p, c = prev.get("price"), cur.get("price")
    if p is not None and c is not None and c != p:
        out.append("price_changed")
        if c < p:
            out.append("price_dropped")
    if threshold is not None and c is not None and c < threshold and (p is None or p >= threshold):
        out.append("price_below")
    if prev.get("inStock") is False and cur.get("inStock") is True:
        out.append("back_in_stock")
    if prev.get("inStock") is True and cur.get("inStock") is False:
        out.append("out_of_stock")
    pr, cr = prev.get("rating"), cur.get("rating")
    if pr is not None and cr is not None and abs(pr - cr) > 1e-9:
        out.append("rating_changed")
    return [t for t in out if t in wanted]


def _shape(row: Any) -> dict[str, Any]:
    return {
        "price": float(row.price) if row.price is not None else None,
        "currency": row.currency,
        "inStock": row.in_stock,
        "rating": row.rating,
        "observedAt": row.observed_at.isoformat().replace("+00:00", "Z"),
    }


def record(conn: Connection, job: dict[str, Any], rec: Any, product_id: Any) -> list[int]:
    """Store the observation and the events it makes. The new events' ids."""
    target = conn.execute(_TARGET, {"t": job["params"]["target_id"]}).first()
    if target is None:
        return []  # the monitor was deleted meanwhile
    obs = conn.execute(
        _OBSERVE,
        {
            "t": target.id,
            "j": job["id"],
            "price": _price(getattr(rec, "current_price", None)),
            "currency": getattr(rec, "currency", None),
            "in_stock": getattr(rec, "in_stock", None),
            "rating": getattr(rec, "average_rating", None),
        },
    ).first()
    if obs is None:
        return []  # this job's observation is already stored
    cur_row = conn.execute(
        text("SELECT * FROM monitor_observations WHERE id = :o"), {"o": obs.id}
    ).one()
    prev_row = (
        conn.execute(
            text("SELECT * FROM monitor_observations WHERE id = :o"),
            {"o": target.last_observation_id},
        ).first()
        if target.last_observation_id
        else None
    )
    conn.execute(
        text(
            "UPDATE monitor_targets SET last_observation_id = :o, last_job_id = :j, "
            "last_error = NULL, product_id = COALESCE(CAST(:pid AS uuid), product_id) "
            "WHERE id = :t"
        ),
        {"o": obs.id, "j": job["id"], "pid": product_id, "t": target.id},
    )
    if prev_row is None:
        return []  # the baseline
    cur, prev = _shape(cur_row), _shape(prev_row)
    threshold = float(target.price_threshold) if target.price_threshold is not None else None
    new: list[int] = []
    for kind in changes(prev, cur, list(target.events), threshold):
        shown = cur | ({"threshold": threshold} if kind == "price_below" else {})
        eid = conn.execute(
            _EVENT,
            {
                "org": target.org_id,
                "m": target.monitor_id,
                "t": target.id,
                "type": kind,
                "pid": product_id or target.product_id,
                "prev_id": prev_row.id,
                "cur_id": obs.id,
                "prev": json.dumps(prev),
                "cur": json.dumps(shown),
            },
        ).scalar()
        if eid is not None:
            new.append(int(eid))
            metrics.monitor_event(kind)
    if new and target.callback_url:
        conn.execute(
            text(
                "INSERT INTO monitor_deliveries (event_id, monitor_id, callback_url) "
                "SELECT e, :m, :u FROM unnest(CAST(:ids AS bigint[])) AS e ON CONFLICT DO NOTHING"
            ),
            {"m": target.monitor_id, "u": target.callback_url, "ids": new},
        )
    return new


class MonitorTargetHandler:
    kind = "monitor_target"

    def upstream(self, rt: Runtime, job: dict[str, Any]) -> Upstream | None:
        return batch.HANDLER.upstream(rt, job)

    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any:
        return batch.HANDLER.fetch(rt, job)

    def store(
        self, conn: Connection, rt: Runtime, job: dict[str, Any], output: Any
    ) -> dict[str, Any]:
        result = batch.HANDLER.store(conn, rt, job, output)
        result["events"] = len(record(conn, job, output, result.get("productId")))
        return result

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        target_id = (job.get("params") or {}).get("target_id")
        if status == "failed" and target_id:
            with rt.engine.begin() as conn:
                conn.execute(
                    text(
                        "WITH t AS (UPDATE monitor_targets SET last_error = :e, last_job_id = :j "
                        "WHERE id = :t RETURNING monitor_id) "
                        "UPDATE monitors SET last_error = :e FROM t WHERE monitors.id = t.monitor_id"
                    ),
                    {"e": job.get("error") or "the refresh failed", "j": job["id"], "t": target_id},
                )
        if status == "completed":
            send_pending(rt, job["id"])


def send_pending(rt: Runtime, job_id: int) -> None:
    """Publish the delivery of the events this job's observation made (the sweeper re-sends
    whatever this misses)."""
    from freshet.monitors.events import DeliveryMessage

    with rt.engine.connect() as conn:
        ids = (
            conn.execute(
                text(
                    "SELECT d.event_id FROM monitor_deliveries d "
                    "JOIN monitor_events e ON e.id = d.event_id "
                    "JOIN monitor_observations o ON o.id = e.observation_id "
                    "WHERE o.job_id = :j AND d.status = 'pending'"
                ),
                {"j": job_id},
            )
            .scalars()
            .all()
        )
    if ids:
        try:
            rt.publisher.publish([DeliveryMessage(DELIVER_TASK, str(i)) for i in ids])
        except Exception:
            log.warning("event delivery publish failed; the sweeper sends it", exc_info=True)


HANDLER = MonitorTargetHandler()
