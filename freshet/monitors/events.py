"""Monitor events, pulled and pushed: the organization's events oldest first after a cursor,
the signed webhook of one event (one delivery per event and callback, retried with backoff),
and the sweeper's passes (re-send due deliveries, drop what is past retention)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from freshet import batch, jobs, metrics
from freshet.pagination import decode_cursor, encode_cursor
from freshet.runtime import Runtime
from sources.record import BlockedAddressError

log = logging.getLogger("freshet.monitors")

CURSOR_TAG = "events"
PENDING_GRACE_SECONDS = 30
SWEEP_BATCH = 200


@dataclass(frozen=True)
class DeliveryMessage:
    """A Publisher message whose one argument is an event id."""

    task_name: str
    job_id: str
    queue: str = "default"
    request_id: str | None = None
    countdown: float | None = None


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def shape(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "type": row.type,
        "monitorId": str(row.monitor_id),
        "productId": str(row.product_id) if row.product_id else None,
        "occurredAt": _iso(row.occurred_at),
        "previous": row.previous,
        "current": row.current,
    }


def list_events(
    conn: Connection,
    org_id: int,
    *,
    cursor: str | None,
    monitor: uuid.UUID | None,
    kind: str | None,
    limit: int,
) -> dict[str, Any]:
    after = decode_cursor(CURSOR_TAG, cursor) if cursor else 0
    rows = conn.execute(
        text(
            "SELECT id, type, monitor_id, product_id, occurred_at, previous, current "
            "FROM monitor_events WHERE org_id = :o AND id > :after "
            "AND (CAST(:m AS uuid) IS NULL OR monitor_id = CAST(:m AS uuid)) "
            "AND (CAST(:k AS text) IS NULL OR type = CAST(:k AS text)) ORDER BY id LIMIT :n"
        ),
        {"o": org_id, "after": after, "m": monitor, "k": kind, "n": limit},
    ).all()
    # Oldest first; the cursor is the last id seen, so a poller never misses one that
    # commits later with a higher id, and always gets a cursor to poll again with.
    last = rows[-1].id if rows else after
    return {
        "events": [shape(r) for r in rows],
        "nextCursor": encode_cursor(CURSOR_TAG, int(last)) if last else None,
    }


# delivery --------------------------------------------------------------------------------
def deliver(rt: Runtime, event_id: Any) -> float | None:
    """Try one delivery. Seconds after which to try again, or None (done or nothing due)."""
    s = rt.settings
    with rt.engine.begin() as conn:
        claim = conn.execute(
            text(
                "UPDATE monitor_deliveries SET status = 'sending', attempts = attempts + 1, "
                "next_at = now() + make_interval(secs => :lease) WHERE event_id = :e AND ("
                " (status = 'pending' AND COALESCE(next_at, now()) <= now())"
                " OR (status = 'sending' AND next_at < now())) RETURNING callback_url, attempts"
            ),
            {"e": int(event_id), "lease": s.upstream_timeout * 4},
        ).first()
        if claim is None:
            return None
        event = conn.execute(
            text(
                "SELECT id, org_id, type, monitor_id, product_id, occurred_at, previous, current "
                "FROM monitor_events WHERE id = :e"
            ),
            {"e": int(event_id)},
        ).one()
        body = json.dumps(shape(event), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Freshet-Event": event.type,
            "Freshet-Event-Id": str(event.id),
            "Freshet-Delivery-Attempt": str(claim.attempts),
            batch.SIGNATURE_HEADER: batch.org_signature(conn, rt, int(event.org_id), body),
        }
    attempt = int(claim.attempts)
    try:
        rt.http.post(claim.callback_url, body=body, headers=headers)
    except BlockedAddressError as exc:
        _settle(rt, event_id, attempt, "failed", f"refused: {exc}")
        return None
    except Exception as exc:  # anything short of a 2xx is worth another try, up to the cap
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if attempt >= s.webhook_max_attempts:
            _settle(rt, event_id, attempt, "failed", f"gave up after {attempt} attempts: {reason}")
            return None
        delay = jobs.backoff(rt, attempt, getattr(exc, "retry_after", None))
        _settle(rt, event_id, attempt, "pending", reason, delay)
        metrics.monitor_delivery("retry")
        return delay
    _settle(rt, event_id, attempt, "delivered", None)
    return None


def _settle(
    rt: Runtime, event_id: Any, attempt: int, status: str, error: str | None, delay: float = 0.0
) -> None:
    if status in ("delivered", "failed"):
        metrics.monitor_delivery(status)
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_deliveries SET status = :s, error = :err, "
                "next_at = CASE WHEN :s = 'pending' THEN now() + make_interval(secs => :d) END, "
                "delivered_at = CASE WHEN :s = 'delivered' THEN now() END "
                "WHERE event_id = :e AND status = 'sending' AND attempts = :a"
            ),
            {"s": status, "err": error, "d": delay, "e": int(event_id), "a": attempt},
        )


# sweeper passes --------------------------------------------------------------------------
def resend_deliveries(rt: Runtime) -> int:
    """Deliveries due (a lost message, a crashed sender) are sent again."""
    from freshet.monitors.detection import DELIVER_TASK

    with rt.engine.connect() as conn:
        ids = (
            conn.execute(
                text(
                    "SELECT event_id FROM monitor_deliveries WHERE status IN ('pending', 'sending') "
                    "AND next_at < now() - make_interval(secs => :grace) ORDER BY next_at LIMIT :n"
                ),
                {"grace": PENDING_GRACE_SECONDS, "n": SWEEP_BATCH},
            )
            .scalars()
            .all()
        )
    if ids:
        try:
            rt.publisher.publish([DeliveryMessage(DELIVER_TASK, str(i)) for i in ids])
        except Exception:
            log.warning("delivery re-send failed; the next sweep tries again", exc_info=True)
            return 0
    return len(ids)


def drop_expired(rt: Runtime) -> int:
    """Events (with their deliveries) and observations past FRESHET_MONITOR_RETENTION_DAYS;
    a target's latest observation is kept, so the next change still has its baseline."""
    days = rt.settings.monitor_retention_days
    with rt.engine.begin() as conn:
        events = conn.execute(
            text(
                "DELETE FROM monitor_events WHERE id IN (SELECT id FROM monitor_events "
                "WHERE occurred_at < now() - make_interval(days => :d) ORDER BY id LIMIT :n)"
            ),
            {"d": days, "n": SWEEP_BATCH * 10},
        ).rowcount
        observations = conn.execute(
            text(
                "DELETE FROM monitor_observations o WHERE o.id IN (SELECT id FROM "
                "monitor_observations WHERE observed_at < now() - make_interval(days => :d) "
                "ORDER BY id LIMIT :n) AND NOT EXISTS (SELECT 1 FROM monitor_targets t "
                "WHERE t.last_observation_id = o.id)"
            ),
            {"d": days, "n": SWEEP_BATCH * 10},
        ).rowcount
    return int(events) + int(observations)


def sweep_monitors(rt: Runtime) -> int:
    return resend_deliveries(rt) + drop_expired(rt)


class DueCollector:
    """Prometheus gauges read from Postgres at scrape time (through the due index): monitors
    due now, those late by more than a minute, and how late the oldest one is."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        try:
            with self.rt.engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT count(*) AS due, count(*) FILTER (WHERE next_run_at < now() - "
                        "interval '60 seconds') AS late, COALESCE(extract(epoch FROM now() - "
                        "min(next_run_at)), 0) AS oldest FROM monitors "
                        "WHERE NOT paused AND next_run_at <= now()"
                    )
                ).one()
        except Exception:  # Postgres away: the scrape still answers, without these
            log.warning("monitor gauges unavailable", exc_info=True)
            return
        for name, doc, value in (
            ("freshet_monitors_due", "Monitors due now and not yet claimed", row.due),
            ("freshet_monitors_late", "Monitors due for more than a minute", row.late),
            (
                "freshet_monitors_oldest_due_seconds",
                "How long the longest-waiting due monitor has waited",
                float(row.oldest),
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=float(value))
