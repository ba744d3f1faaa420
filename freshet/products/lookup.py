"""Product lookup and force refresh: throttle, exact token accounting, cache or a worker's fetch.

The API never fetches: a stale or missing product becomes a `product` job on the
`interactive` queue, and the request waits (bounded) for the worker's signal. Tokens are
charged exactly once — with the cached answer (`charge_now`), or reserved at submit and
settled by the job's completion (refunded on failure). Concurrent fetches of one product
share one upstream call (freshet/product_flight.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from freshet import accounts, idempotency, jobs
from freshet.accounts import Principal, force_window, submit_window
from freshet.errors import FreshetError, NotFoundError, PaymentRequired, RateLimited
from freshet.idempotency import IdempotencyKey
from freshet.products import flight as product_flight
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from freshet.products.ids import Target
from freshet.products.view import LookupOptions, answer, fresh_limits, needs_fetch
from freshet.runtime import Runtime
from guards import Admission
from schemas.jobs import STATUS_WORDS
from store.db import fetch_durable


@dataclass
class Meter:
    """What the request used and has left, for the X-RateLimit-* headers of any answer."""

    throttle: tuple[int, int, float] | None = None  # (limit, remaining, reset seconds)
    tokens_remaining: int | None = None


@dataclass
class Outcome:
    status: int  # 200 answered, 202 still running
    body: dict[str, Any] = field(default_factory=dict)


def tokens_left(conn: Connection, principal: Principal) -> int:
    return max(principal.plan.monthly_tokens - accounts.used(conn, principal.org_id)["tokens"], 0)


# the request's side -----------------------------------------------------------------------
def lookup(
    rt: Runtime,
    principal: Principal,
    raw_id: str,
    opts: LookupOptions,
    request_id: str,
    meter: Meter | None = None,
    idem: IdempotencyKey | None = None,
) -> Outcome:
    """Answer one product request: 200 with the product, or 202 with the job still running.
    `idem` is bound to the job's 202 in the transaction that reserves and writes the job."""
    meter = meter or Meter()
    ident = product_ids.parse(raw_id, opts.format)
    _admit(rt, principal, opts, meter)
    item_id = product_ids.walmart_item_of(rt.settings, ident, opts.retailer)
    if item_id is not None:
        row = None  # forced: never answered from the cache; SUBMIT finds the stored product
        if not opts.force:
            row, cached = _by_item_id(rt, principal, item_id, opts, request_id, meter)
            if cached is not None:
                return cached
        target = product_ids.walmart_target(rt.settings, item_id)
    else:
        row, target = _resolve(rt, principal, ident, opts)
        if row is not None and not needs_fetch(row, opts, rt.settings):
            return _from_cache(rt, principal, row, opts, request_id, meter)
    job_id = _submit(rt, principal, target, row, opts, request_id, meter, idem)
    return _await(rt, principal, job_id, opts, meter)


def _resolve(
    rt: Runtime, principal: Principal, ident: product_ids.Identifier, opts: LookupOptions
) -> tuple[Any | None, Target]:
    """Read-only, on the statement engine (no pre-ping): a connection found dead is retried
    once on a fresh one — a read, so running it twice changes nothing."""
    for attempt in (1, 2):
        try:
            with rt.statements.connect() as conn:
                return product_ids.resolve(conn, rt.settings, principal, ident, opts.retailer)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _admit(rt: Runtime, principal: Principal, opts: LookupOptions, meter: Meter) -> None:
    windows = [submit_window(principal)]
    if opts.refreshes:  # force_refresh, or a max_age below the TTL (view.LookupOptions)
        windows.append(force_window(principal))
    adm: Admission = rt.guards.admit(windows)
    rpm = principal.plan.requests_per_minute
    if adm.ok:
        meter.throttle = (rpm, adm.remaining, adm.reset)
        return
    if adm.window_index == 0:
        meter.throttle = (rpm, 0, adm.retry_after)
        raise RateLimited(
            f"Your plan allows {rpm} product requests per minute; retry after Retry-After seconds.",
            retry_after=adm.retry_after,
        )
    remaining, reset = rt.guards.peek_rate(windows[0])
    meter.throttle = (rpm, remaining, reset)
    raise RateLimited(
        f"Force refresh is capped at {adm.limit} per minute per organization; "
        "retry after Retry-After seconds, or drop force_refresh (or a max_age below the "
        "cache TTL) to read the cache.",
        retry_after=adm.retry_after,
    )


def _payment_required(cost: int, left: int) -> PaymentRequired:
    return PaymentRequired(
        f"This request costs {cost} tokens and your organization has {left} "
        "left this month; drop include_offers_reviews or force_refresh, wait "
        "for the monthly reset, or upgrade the plan."
    )


def _by_item_id(
    rt: Runtime,
    principal: Principal,
    item_id: str,
    opts: LookupOptions,
    request_id: str,
    meter: Meter,
) -> tuple[Any | None, Outcome | None]:
    """(the stored product or None, the cached answer or None: it must be fetched). Finding
    the product, deciding it is fresh, the charge, the read count and the history are one
    prepared statement on the statement engine: one round trip for a cached answer."""
    period, limits = accounts.current_period(), fresh_limits(opts, rt.settings)

    def run() -> Any:
        return product_store.cached_by_key(
            rt.statements,
            source="walmart",
            key=item_id,
            limits=limits,
            full=opts.offers_reviews,
            org_id=principal.org_id,
            period=period,
            cost=opts.cost,
            limit=principal.plan.monthly_tokens,
            request_id=request_id,
            hot_reads=rt.settings.hot_reads_threshold,
        )

    row = _charged(rt, principal, opts.cost, meter, run, lambda r: r.id is None or not r.fresh)
    if row.id is None:
        return None, None
    if row.used is None:  # stale: the refresh starts from it
        return row, None
    return row, _answered(row, opts, meter, consumed=opts.cost, cached=True, history=row)


def _charged(
    rt: Runtime,
    principal: Principal,
    cost: int,
    meter: Meter,
    charge: Callable[[], Any],
    uncharged: Callable[[Any], bool] = lambda _: False,
) -> Any:
    """Run a charging statement whose row has `used` (the month's tokens after the charge,
    NULL when nothing was written). NULL for want of the month's row: create it, once more;
    still NULL: 402. A row `uncharged` says needs no charge at all is returned as it is."""
    row = charge()
    if row.used is None and not uncharged(row):
        # Over the limit, or the month's row is missing: ensure the row, then once more.
        with rt.engine.begin() as conn:
            accounts.ensure_period(conn, principal.org_id, accounts.current_period())
        row = charge()
        if row.used is None and not uncharged(row):
            with rt.engine.connect() as conn:
                meter.tokens_remaining = tokens_left(conn, principal)
            raise _payment_required(cost, meter.tokens_remaining)
    if row.used is not None:
        meter.tokens_remaining = max(principal.plan.monthly_tokens - int(row.used), 0)
    return row


def _answered(
    row: Any, opts: LookupOptions, meter: Meter, *, consumed: int, cached: bool, history: Any
) -> Outcome:
    """The 200 with the product of `row` and the history columns of `history` (a row
    carrying at, prices, low, high, avg: the same row, or the charge's)."""
    points, stats = product_store.history_of(history)
    return Outcome(
        200,
        answer(
            row,
            opts,
            history=points,
            stats=stats,
            tokens_consumed=consumed,
            tokens_remaining=meter.tokens_remaining or 0,
            cached=cached,
        ),
    )


def _from_cache(
    rt: Runtime, principal: Principal, row: Any, opts: LookupOptions, request_id: str, meter: Meter
) -> Outcome:
    """The charge, the read count and the history in one statement on the statement engine
    (one round trip, no BEGIN/COMMIT; committed asynchronously when so configured)."""
    period = accounts.current_period()

    def charge() -> Any:
        with rt.statements.connect() as conn:
            return product_store.charge_and_read(
                conn,
                org_id=principal.org_id,
                period=period,
                cost=opts.cost,
                limit=principal.plan.monthly_tokens,
                request_id=request_id,
                product_id=row.id,
                hot_reads=rt.settings.hot_reads_threshold,
            )

    charged = _charged(rt, principal, opts.cost, meter, charge)
    return _answered(row, opts, meter, consumed=opts.cost, cached=True, history=charged)


def _submit(
    rt: Runtime,
    principal: Principal,
    target: Target,
    row: Any | None,
    opts: LookupOptions,
    request_id: str,
    meter: Meter,
    idem: IdempotencyKey | None = None,
) -> int:
    """Reserve the tokens, write the job and bind the Idempotency-Key to its 202 in one
    transaction; then lead or follow. With no key and no concurrency slot to take (the plan
    does not count product jobs) the transaction is one durable statement (SUBMIT)."""
    cost = opts.cost
    period = accounts.current_period()
    params = {
        "cost": cost,
        "org": principal.org_id,
        "period": period,
        "limit": principal.plan.monthly_tokens,
        "queue": rt.kinds["product"].queue,
        "max_attempts": rt.settings.max_attempts,
        "rid": request_id,
        "product_id": row.id if row is not None else None,
        "source": target.source,
        "key": target.key,
        "url": target.url,
        "catalog_id": target.catalog_id,
        "params": json.dumps(
            target.params() | {"force": opts.force, "offersReviews": opts.offers_reviews}
        ),
    }
    if idem is None and "product" not in principal.plan.concurrency_kinds:
        job_id = _submitted(rt, principal, meter, params, period, None)
    else:
        # One transaction from the job on: a refused slot or a failure rolls it all back.
        with rt.engine.connect() as conn, conn.begin():
            job_id = _submitted(rt, principal, meter, params, period, conn)
            with jobs.concurrency_slot(rt, principal, "product", job_id):
                if idem is not None:
                    left = tokens_left(conn, principal)
                    idempotency.record(conn, idem, 202, pending_body(job_id, "queued", cost, left))
    leader = rt.guards.join_flight(target.flight, job_id, rt.settings.lease_seconds)
    if leader == job_id:
        jobs.publish_after_commit(
            rt, [rt.kinds.dispatch(job_id, "product", request_id)], marked=True
        )
    else:
        jobs.release_slot(rt, principal.org_id, job_id)  # a follower fetches nothing itself
        product_flight.attach(rt, job_id, leader)
    return job_id


def _submitted(
    rt: Runtime,
    principal: Principal,
    meter: Meter,
    params: dict[str, Any],
    period: Any,
    conn: Connection | None,
) -> int:
    """SUBMIT on `conn` (a transaction of the caller's), or alone, durably, on the statement
    engine. A month with no row yet gets it and the statement runs once more; tokens that do
    not suffice are the 402, with nothing written."""

    def run() -> Any:
        if conn is not None:
            return conn.exec_driver_sql(product_store.SUBMIT, params).one()
        return fetch_durable(rt.statements, product_store.SUBMIT, params)

    out = run()
    if out.id is None:
        with contextlib.ExitStack() as stack:
            c = conn or stack.enter_context(rt.statements.connect())
            accounts.ensure_period(c, principal.org_id, period)
        out = run()
    if out.id is None:
        with rt.statements.connect() as c:
            meter.tokens_remaining = tokens_left(c, principal)
        raise _payment_required(params["cost"], meter.tokens_remaining)  # nothing written
    return int(out.id)


def _await(
    rt: Runtime, principal: Principal, job_id: int, opts: LookupOptions, meter: Meter
) -> Outcome:
    def answer() -> Any:
        # The answer in one statement: the job, its product and history, the tokens left.
        return product_store.job_answer(
            rt.statements,
            job_id=job_id,
            org_id=principal.org_id,
            period=accounts.current_period(),
            hot_reads=rt.settings.hot_reads_threshold,
        )

    last: list[Any] = []

    def done() -> bool:
        # Each look at the job is the answer's own statement (the product and history are
        # read only once it completed): a signalled wait answers with no further round trip.
        row = answer()
        last[:] = [row]
        if row is None or row.job_status in jobs.TERMINAL:
            return True
        healed = row.leader_job_id is not None and product_flight.heal(rt, job_id)
        if healed:
            last.clear()  # settled just now: read it again
        return healed

    with jobs.waiting_seat(rt.settings.sync_waiters_max) as seated:
        if seated:  # else every seat of this process is taken: answer 202 with the job now
            jobs.wait_for(
                rt.redis, rt.prefix, job_id, rt.settings.sync_wait_seconds, done, poll_every=0.5
            )
    row = last[0] if last else answer()
    assert row is not None  # the request wrote the job itself
    meter.tokens_remaining = max(principal.plan.monthly_tokens - int(row.used or 0), 0)
    if row.job_status == "completed" and row.id is not None:
        return _answered(row, opts, meter, consumed=row.tokens_reserved, cached=False, history=row)
    if row.job_status in ("failed", "cancelled", "completed"):
        raise failure_of(
            {"status": row.job_status, "error_code": row.error_code, "error": row.error}
        )
    return Outcome(
        202,
        pending_body(
            job_id, STATUS_WORDS[row.job_status], row.tokens_reserved, meter.tokens_remaining
        ),
    )


def pending_body(job_id: int, status: str, reserved: int, remaining: int) -> dict[str, Any]:
    """The 202 of a product job still running (ProductPending)."""
    return {
        "jobId": job_id,
        "status": status,
        "message": f"The product is still being fetched; poll GET /v1/jobs/{job_id}. Its "
        f"{reserved} tokens are charged only if it completes.",
        "statusUrl": f"/v1/jobs/{job_id}",
        "tokens_reserved": reserved,
        "tokens_remaining": remaining,
    }


def failure_of(job: dict[str, Any]) -> FreshetError:
    """The error a failed product job means to its caller (its tokens were refunded)."""
    code, reason = job.get("error_code") or "", job.get("error") or "unknown reason"
    note = "Nothing was charged."
    if job["status"] == "cancelled":
        return FreshetError(
            f"The refresh was cancelled: {reason}. {note}",
            status=409,
            code="cancelled",
            title="Refresh cancelled",
        )
    if code == "not_found":
        return NotFoundError(f"The upstream has no such product ({reason}). {note}")
    if code == "internal_error":
        return FreshetError(
            f"The refresh failed on our side. {note}",
            status=500,
            code="internal_error",
            title="Internal error",
        )
    if "timeout" in reason.lower():
        return FreshetError(
            f"The upstream did not answer in time ({reason}). {note}",
            status=504,
            code="upstream_timeout",
            title="Upstream timeout",
        )
    return FreshetError(
        f"The upstream could not be fetched ({reason}). {note}",
        status=502,
        code="upstream_unavailable",
        title="Upstream unavailable",
    )
