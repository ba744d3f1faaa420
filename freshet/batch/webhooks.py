"""Signed webhooks: the signature every Freshet webhook carries (workflow finished, monitor
events), and the workflow webhook: when a batch's workflow finishes, its summary is POSTed to
the `callbackUrl` the batch was submitted with.

Signature. Every delivery is signed, always, with its organization's own secret
(freshet.accounts.secrets):

    Freshet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>]

where each HMAC is computed over the exact bytes `"{t}.{body}"` (the timestamp, a dot, then
the raw request body). For 24 h after a rotation two `v1` are sent: the new secret's first,
then the previous one's, so a receiver still holding the old secret keeps verifying. To
verify: split on commas, recompute the HMAC with your secret over `f"{t}.".encode() +
raw_body`, accept if any `v1` matches (constant-time compare), refuse timestamps older than a
few minutes (replays).

Also sent: `Freshet-Event` (`workflow.finished`, or the monitor event type),
`Freshet-Event-Id` (the same on every attempt: receivers de-duplicate on it; for a workflow
`wf_<workflowId>`), `Freshet-Webhook-Id: <workflowId>` (kept for older receivers) and
`Freshet-Delivery-Attempt: <n>`.

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
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from freshet import accounts
from freshet.batch.view import webhook_summary
from freshet.jobs import backoff
from freshet.runtime import Runtime
from sources.record import BlockedAddressError

log = logging.getLogger("freshet.webhooks")

SIGNATURE_HEADER = "Freshet-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str | Sequence[str], body: bytes, now: float | None = None) -> str:
    """`t=<ts>,v1=<hmac>` with one `v1` per secret, in the order given (current first)."""
    ts = int(time.time() if now is None else now)
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("a webhook is never sent unsigned: no secret given")
    return f"t={ts}," + ",".join(f"v1={sign(k, ts, body)}" for k in keys)


def org_signature(conn: Connection, rt: Runtime, org_id: int, body: bytes) -> str:
    """The Freshet-Signature header for `body` from the organization's secrets."""
    return signature_header(accounts.signing_secrets(conn, org_id, rt.settings.secrets_keys), body)


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
        pairs = [p.split("=", 1) for p in header.split(",")]
        [ts] = [int(v) for k, v in pairs if k == "t"]
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    # every v1 is compared, so which one matched does not show in the timing
    matches = [hmac.compare_digest(expected, v) for k, v in pairs if k == "v1"]
    return any(matches)


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
                "RETURNING callback_url, webhook_attempts, org_id"
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
            "Freshet-Event-Id": f"wf_{workflow_id}",
            "Freshet-Webhook-Id": str(workflow_id),
            "Freshet-Delivery-Attempt": str(attempt),
            SIGNATURE_HEADER: org_signature(conn, rt, int(claim.org_id), body),
        }
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
