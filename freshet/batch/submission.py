"""Batch product refresh (Octogen's contract): accepting up to 500 targets as one workflow in a
fixed number of round trips, and the worker's side of one target.

Accepting a batch:
- the request counts once against the organization's per-minute submission window;
- every target is resolved in memory (one query for the granted catalogs, one for the uuids);
- one transaction: job ids (one `nextval` round trip), the month's tokens for the whole
  batch (`batch_target_tokens` per accepted target, one conditional UPDATE: all or nothing,
  402 when the month cannot cover it), the workflow row, and every job row with its ledger
  `reserve` row in one INSERT … SELECT FROM jsonb_to_recordset(…);
- after commit, ONE message (`freshet.batch.launch`) that a worker fans out into the
  per-target messages in one Redis pipeline (freshet.batch.workflows.launch). A failed publish
  still answers 202 with `workflowError`; the sweeper re-drives the launch.
Each target's tokens are charged when it completes and refunded when it fails or is
cancelled (freshet.jobs.finish/cancel settle the per-job ledger rows).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from sqlalchemy import Connection, select, text

from freshet import accounts, idempotency, jobs
from freshet.accounts import Principal, submit_window
from freshet.batch import targets as batch_targets
from freshet.batch import workflows
from freshet.errors import Forbidden, PaymentRequired, RateLimited, Unprocessable
from freshet.idempotency import IdempotencyKey
from freshet.runtime import Runtime
from guards import Admission
from schemas.batch import BatchRequest
from sources.record import BlockedAddressError, SourceError
from sources.urls import is_http_url
from store.tables import products

log = logging.getLogger("freshet.batch")


# whole-request errors, each with Octogen's `detail` -----------------------------------------
def invalid(detail: list[dict[str, Any]]) -> Unprocessable:
    first = detail[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "body"
    more = f" (and {len(detail) - 1} more)" if len(detail) > 1 else ""
    return Unprocessable(
        f"{where}: {first['msg']}{more}. Fix the request body; see detail.",
        title="Unprocessable request",
        code="validation_error",
        extra={"detail": detail},
    )


def _rate_limited(adm: Admission) -> RateLimited:
    return RateLimited(
        "Too many refresh requests this minute; wait for Retry-After and retry.",
        title="Rate limit exceeded",
        code="rate_limit_exceeded",
        retry_after=adm.retry_after,
        extra={"detail": "rate_limit_exceeded"},
    )


def _not_granted(slugs: list[str]) -> Forbidden:
    return Forbidden(
        f"Your key cannot use catalog{'s' if len(slugs) > 1 else ''} "
        f"{', '.join(repr(s) for s in slugs)}; remove those targets or ask for a "
        "grant.",
        title="Catalog not granted",
        code="catalog_not_granted",
        extra={"detail": "catalog_not_granted"},
    )


# address checks (SSRF) -----------------------------------------------------------------------
# DNS in the request thread is bounded: at most this many distinct host names resolved, in
# at most this much time, per request. Past either, a name is not checked here: the worker
# checks the address again when it fetches (sources.http pins and refuses at fetch time), so
# a batch of 500 names on a slow resolver never holds an API thread for minutes.
MAX_RESOLVED_HOSTS = 16
DNS_BUDGET_SECONDS = 2.0


class AddressCheck:
    """Why fetching a URL would be refused (a blocked address), memoized per host and port;
    names resolved within a per-request budget (IP literals are always checked: no DNS)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        max_hosts: int = MAX_RESOLVED_HOSTS,
        budget_seconds: float = DNS_BUDGET_SECONDS,
    ):
        self.http = rt.http
        self.seen: dict[str, str | None] = {}
        self.names_left = max_hosts
        self.deadline = time.monotonic() + budget_seconds

    def __call__(self, url: str) -> str | None:
        key = batch_targets.netloc_of(url).lower()
        if key not in self.seen:
            if not batch_targets.is_local_literal(url):
                if self.names_left <= 0 or time.monotonic() >= self.deadline:
                    return None  # over the budget: left to the worker's check at fetch time
                self.names_left -= 1
            try:
                self.http.check_url(url)
                self.seen[key] = None
            except BlockedAddressError as exc:
                self.seen[key] = str(exc)
            except SourceError:
                # Does not resolve (yet), or DNS hiccup: the worker checks again when it fetches.
                self.seen[key] = None
        return self.seen[key]


def check_callback(rt: Runtime, url: str) -> None:
    problem = None
    if not is_http_url(url) or len(url) > batch_targets.MAX_URL_LENGTH:
        problem = "callbackUrl must be an absolute http:// or https:// URL"
    else:
        reason = AddressCheck(rt)(url)
        if reason:
            problem = (
                f"callbackUrl points to a private, loopback or link-local address "
                f"({reason}); use a public address"
            )
    if problem:
        raise invalid(
            [
                {
                    "loc": ["body", "callbackUrl"],
                    "msg": f"Value error, {problem}",
                    "type": "value_error",
                }
            ]
        )


# submission ----------------------------------------------------------------------------------
def submit(
    rt: Runtime,
    principal: Principal,
    req: BatchRequest,
    request_id: str,
    idem: IdempotencyKey | None = None,
) -> tuple[dict[str, Any], int, Admission]:
    """The answer body and status (202, or 400 when nothing was accepted). `idem` is bound
    to the 202 (launch still pending) in the transaction that writes the workflow."""
    adm = rt.guards.admit([submit_window(principal)])
    if not adm.ok:
        raise _rate_limited(adm)
    if req.callback_url:
        check_callback(rt, req.callback_url)
    res = resolve_targets(rt, principal, req.targets)
    body: dict[str, Any] = {
        "requestId": request_id,
        "submitted": len(req.targets),
        "workflowId": None,
        "workflowError": None,
        "workflowStatus": None,
        "workflowAttempts": 0,
        "accepted": [{"catalog": a.catalog["slug"], "url": a.url} for a in res.accepted],
        "rejected": res.rejected,
    }
    if not res.accepted:
        return body, 400, adm
    workflow_id = uuid.uuid4()
    body.update(workflowId=str(workflow_id), workflowStatus="pending")
    with rt.engine.begin() as conn:
        _write(conn, rt, principal, req, res, workflow_id, request_id)
        idempotency.record(conn, idem, 202, body)
    launch = workflows.publish_launch(rt, workflow_id, request_id)
    body = body | dict(
        workflowStatus=launch.status,
        workflowError=launch.error,
        workflowAttempts=launch.attempts,
    )
    log.info(
        "batch accepted",
        extra={
            "workflow_id": str(workflow_id),
            "accepted": len(res.accepted),
            "rejected": len(res.rejected),
        },
    )
    return body, 202, adm


def resolve_targets(
    rt: Runtime, principal: Principal, targets: list[dict[str, str]]
) -> batch_targets.Resolution:
    """The batch rules for any list of batch-shaped targets (monitors use them too): 403
    `catalog_not_granted` for a named catalog the caller cannot use, then each target
    accepted as `{catalog, url}` or rejected with its code."""
    with rt.engine.connect() as conn:
        granted = accounts.granted_catalogs(conn, principal.org_id, principal.plan)
        missing = sorted(batch_targets.named_catalogs(targets) - {c["slug"] for c in granted})
        if missing:
            raise _not_granted(missing)
        known = _products(conn, batch_targets.uuids_of(targets))
    return batch_targets.resolve(targets, granted, known, AddressCheck(rt))


def _products(conn: Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(
        select(products.c.id, products.c.catalog_id, products.c.url).where(products.c.id.in_(ids))
    )
    return {r.id: dict(r._mapping) for r in rows}


# One round trip for every job and its ledger row. The rows travel as one JSON document
# (json.dumps is C; psycopg quoting 500-element text arrays element by element is not).
_INSERT_JOBS = text("""
WITH j AS (
  INSERT INTO jobs (id, org_id, kind, queue, max_attempts, request_id, workflow_id,
                    target_index, catalog_id, product_id, url, params, tokens_reserved,
                    dispatched_at)
  SELECT t.id, :org, 'batch_target', :queue, :max_attempts, :rid, :wid,
         t.idx, t.cat, t.pid, t.url, CAST(:catalogs AS jsonb) -> CAST(t.cat AS text), :tokens,
         CASE WHEN :fair THEN NULL ELSE now() END
  FROM jsonb_to_recordset(CAST(:rows AS jsonb))
       AS t(id bigint, idx int, cat bigint, pid uuid, url text)
  RETURNING id)
INSERT INTO ledger (org_id, period, job_id, request_id, resource, kind, amount)
SELECT :org, :period, j.id, :rid, 'tokens', 'reserve', :tokens FROM j
""")


def _write(
    conn: Connection,
    rt: Runtime,
    principal: Principal,
    req: BatchRequest,
    res: batch_targets.Resolution,
    workflow_id: uuid.UUID,
    request_id: str,
) -> None:
    n, cost = len(res.accepted), rt.settings.batch_target_tokens
    ids = jobs.allocate_ids(conn, n)
    period = accounts.current_period()
    # A batch takes the month's tokens in one conditional UPDATE and writes its per-job
    # reserve rows below, in bulk.
    if cost and not accounts.take_bulk(
        conn,
        org_id=principal.org_id,
        resource="tokens",
        amount=n * cost,
        limit=principal.plan.monthly_tokens,
        period=period,
    ):
        left = principal.plan.monthly_tokens - accounts.used(conn, principal.org_id)["tokens"]
        raise PaymentRequired(
            f"This batch needs {n * cost} tokens and {max(left, 0)} are left this month; send "
            "fewer targets or wait for the monthly reset.",
            code="payment_required",
            title="Payment required",
            extra={"detail": "insufficient_tokens"},
        )
    # What a worker needs of the catalog travels with each job: no catalog lookup per target,
    # and the target runs under the catalog as it was when it was accepted.
    snapshots = {str(a.catalog["id"]): catalog_params(a.catalog) for a in res.accepted}
    workflows.insert(
        conn,
        workflow_id,
        org_id=principal.org_id,
        request_id=request_id,
        submitted=len(req.targets),
        accepted=n,
        rejected=res.rejected,
        callback_url=req.callback_url,
    )
    rows = [
        {
            "id": job_id,
            "idx": a.index,
            "cat": a.catalog["id"],
            "url": a.url,
            "pid": str(a.product_id) if a.product_id else None,
        }
        for job_id, a in zip(ids, res.accepted, strict=True)
    ]
    conn.execute(
        _INSERT_JOBS,
        {
            "org": principal.org_id,
            "queue": rt.kinds["batch_target"].queue,
            # fair share: the dispatcher publishes them (dispatched_at stays NULL till then)
            "fair": rt.settings.fair_share_enabled and rt.kinds["batch_target"].fair_share,
            "max_attempts": rt.settings.max_attempts,
            "rid": request_id,
            "wid": workflow_id,
            "tokens": cost,
            "period": period,
            "rows": json.dumps(rows),
            "catalogs": json.dumps(snapshots),
        },
    )


def catalog_params(catalog: dict[str, Any]) -> dict[str, Any]:
    return {
        "catalog": catalog["slug"],
        "source": catalog["source"],
        "domains": list(catalog["domains"]),
        "politeness_per_second": catalog["politeness_per_second"],
    }
