"""Workflow webhooks: when a batch's workflow finishes, its summary is POSTed to the
`callbackUrl` the batch was submitted with.

Signature. Every delivery carries

    Freshet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is keyed with the server's FRESHET_WEBHOOK_SECRET and computed over the
exact bytes `"{t}.{body}"` (the timestamp, a dot, then the raw request body). To verify:
split the header on commas, recompute the HMAC over `f"{t}.".encode() + raw_body`, compare
in constant time with `v1`, and refuse timestamps older than a few minutes (replays). With
no secret configured, deliveries are sent unsigned (no Freshet-Signature header).

Also sent: `Freshet-Event: workflow.finished`, `Freshet-Webhook-Id: <workflowId>` (the same
on every attempt: receivers dedupe on it) and `Freshet-Delivery-Attempt: <n>`.

Delivery. Any 2xx is success. Anything else (timeout, connection error, non-2xx) is retried
with exponential backoff and jitter, up to FRESHET_WEBHOOK_MAX_ATTEMPTS; a URL that resolves
to a private, loopback or link-local address is never fetched (the upstream SSRF rules) and
fails at once. `workflows.webhook_status` makes it once per workflow: a delivery is claimed
(pending → sending) before the POST and marked delivered after it, so concurrent or
duplicated task messages never send it twice while one is in flight.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

from sqlalchemy import text

from freshet.batch.view import webhook_summary
from freshet.jobs import backoff
from freshet.runtime import Runtime
from sources.record import BlockedAddressError

log = logging.getLogger("freshet.webhooks")

SIGNATURE_HEADER = "Freshet-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, now: float | None = None) -> str:
    ts = int(time.time() if now is None else now)
    return f"t={ts},v1={sign(secret, ts, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: True when `header` signs `body` with `secret`, recently."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), parts.get("v1", ""))


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def deliver(rt: Runtime, workflow_id: Any) -> float | None:
    """Try one delivery. Seconds after which to try again, or None (delivered, given up, or
    nothing due)."""
    s = rt.settings
    with rt.engine.begin() as conn:
        claim = conn.execute(
            text(
                "UPDATE workflows SET webhook_status = 'sending', updated_at = now(), "
                "webhook_attempts = webhook_attempts + 1, "
                "webhook_next_at = now() + make_interval(secs => :lease) WHERE id = :w AND ("
                " (webhook_status = 'pending' AND COALESCE(webhook_next_at, now()) <= now())"
                " OR (webhook_status = 'sending' AND webhook_next_at < now())) "
                "RETURNING callback_url, webhook_attempts"
            ),
            {"w": workflow_id, "lease": s.upstream_timeout * 4},
        ).first()
        if claim is None:
            return None
        summary = webhook_summary(conn, workflow_id)
    attempt = claim.webhook_attempts
    body = json.dumps(summary, separators=(",", ":"), default=_json).encode()
    headers = {
        "Content-Type": "application/json",
        "Freshet-Event": "workflow.finished",
        "Freshet-Webhook-Id": str(workflow_id),
        "Freshet-Delivery-Attempt": str(attempt),
    }
    if s.webhook_secret:
        headers[SIGNATURE_HEADER] = signature_header(s.webhook_secret, body)
    try:
        rt.http.post(claim.callback_url, body=body, headers=headers)
    except BlockedAddressError as exc:
        _settle(rt, workflow_id, attempt, "failed", f"refused: {exc}")
        return None
    except Exception as exc:  # any failure to get a 2xx is worth another try, up to the cap
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if attempt >= s.webhook_max_attempts:
            _settle(
                rt, workflow_id, attempt, "failed", f"gave up after {attempt} attempts: {reason}"
            )
            return None
        delay = backoff(rt, attempt, getattr(exc, "retry_after", None))
        _settle(rt, workflow_id, attempt, "pending", reason, delay)
        log.info("webhook will retry", extra={"workflow_id": str(workflow_id), "delay": delay})
        return delay
    _settle(rt, workflow_id, attempt, "delivered", None)
    log.info("webhook delivered", extra={"workflow_id": str(workflow_id), "attempt": attempt})
    return None


def _settle(
    rt: Runtime, workflow_id: Any, attempt: int, status: str, error: str | None, delay: float = 0.0
) -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflows SET webhook_status = :s, webhook_error = :e, updated_at = now(), "
                "webhook_next_at = CASE WHEN :s = 'pending' "
                "  THEN now() + make_interval(secs => :d) END, "
                "webhook_delivered_at = CASE WHEN :s = 'delivered' THEN now() END "
                "WHERE id = :w AND webhook_status = 'sending' AND webhook_attempts = :a"
            ),
            {"s": status, "e": error, "d": delay, "w": workflow_id, "a": attempt},
        )
