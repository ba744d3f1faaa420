"""Rows for tests, each built the way Freshet builds it, and the clocks of rows moved.

One function per row: `make_<row>(engine, <owner>, **columns) -> id`, going through the domain
function that writes that row in production (tenants, ledger, lifecycle, product store), so a
test's rows obey the same invariants as real ones. Anything the test states is an argument;
anything it does not care about has a default. A new table (monitors, say) follows the same
shape: `make_monitor(engine, tenant, **columns)` and, for its clocks, `age_monitor` built on
`_set_ago` below.

Postgres's `now()` is the clock the sweeper, leases, cooldown restores and backoffs read, so a
test moves a row's timestamps (`age_*`) instead of sleeping until time has passed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, text, update

from freshet.accounts import ledger, tenants
from freshet.jobs import lifecycle
from freshet.products import store as product_store
from freshet.products.ids import Target
from freshet.wiring import job_kinds
from sources.record import ProductRecord
from store.tables import catalogs, jobs, price_observations, products, workflows

_seq = itertools.count(1)

DEFAULT_PLAN = dict(
    monthly_tokens=2000,
    review_jobs_per_month=50,
    concurrent_jobs=2,
    asin_cooldown_seconds=86400,
    requests_per_minute=60,
    force_refresh_per_minute=100,
    marketplaces=["amazon.de"],
)
TERMINAL = ("completed", "failed", "cancelled")


# organizations and catalogs ------------------------------------------------------------------
@dataclass
class Tenant:
    org_id: int
    name: str
    key: str
    plan: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(engine: Engine, *, catalogs: list[str] | None = None, **plan: Any) -> Tenant:
    """An organization on a plan of its own (DEFAULT_PLAN with `plan` over it), with a key."""
    n = next(_seq)
    name, plan_name = f"org{n}", f"plan{n}"
    with engine.begin() as conn:
        tenants.upsert_plan(conn, plan_name, **(DEFAULT_PLAN | plan))
        org_id = tenants.create_org(conn, name, plan_name)
        key, _ = tenants.create_key(conn, name)
        for slug in catalogs or []:
            tenants.grant(conn, name, slug)
    return Tenant(org_id, name, key, plan_name)


def make_catalog(
    engine: Engine, slug: str, source: str, domains: list[str], politeness: float | None = None
) -> int:
    with engine.begin() as conn:
        return tenants.create_catalog(conn, slug, source, domains, politeness, exist_ok=True)


# products ------------------------------------------------------------------------------------
def make_product(
    engine: Engine,
    target: Target,
    record: ProductRecord | None = None,
    *,
    job_id: int | None = None,
    prices: Iterable[tuple[dt.datetime, float]] = (),
) -> uuid.UUID:
    """A fetched product, stored as a worker stores it (with an observation of its current
    price), plus older observations `prices` as (observed_at, price)."""
    record = record or ProductRecord(source=target.source)
    with engine.begin() as conn:
        product_id = product_store.store_record(conn, target, record, job_id)
    add_prices(engine, product_id, prices)
    return product_id


def make_known_product(engine: Engine, catalog: str, url: str) -> str:
    """A product a catalog knows by URL but never fetched (no data, no fetch times), as an
    import leaves it; keyed by its URL in the catalog's source."""
    product_id = uuid.uuid4()
    with engine.begin() as conn:
        cat = conn.execute(
            select(catalogs.c.id, catalogs.c.source).where(catalogs.c.slug == catalog)
        ).one()
        conn.execute(
            insert(products).values(
                id=product_id, source=cat.source, key=url, catalog_id=cat.id, url=url
            )
        )
    return str(product_id)


def add_prices(
    engine: Engine, product_id: Any, prices: Iterable[tuple[dt.datetime, float]]
) -> None:
    rows = [{"product_id": product_id, "observed_at": at, "price": p} for at, p in prices]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(price_observations), rows)


def age_product(engine: Engine, product_id: Any | None = None, **seconds_ago: float) -> None:
    """Set the product's timestamps (every product's, without an id) to `now() - seconds`:
    `age_product(engine, pid, price_fetched_at=3600)` makes its price an hour old."""
    _set_ago(engine, products, product_id, seconds_ago)


def set_reads(engine: Engine, product_id: Any, reads: int) -> None:
    """The product was read `reads` times, the last time now (what makes a product hot)."""
    with engine.begin() as conn:
        conn.execute(
            update(products)
            .where(products.c.id == product_id)
            .values(reads=reads, last_read_at=func.now())
        )


# jobs ----------------------------------------------------------------------------------------
def make_job(
    engine: Engine,
    tenant: Tenant,
    kind: str = "product",
    *,
    status: str = "queued",
    cost: int = 1,
    reserve: bool = True,
    **columns: Any,
) -> int:
    """A job of `kind` (product | reviews | batch_target) in `status`, with its ledger
    reservation (tokens, or one review job), as a submission writes it. A terminal job has its
    finished_at; its reservation is left unsettled, as if it ended in a crash before settling.
    Any other column (leader_job_id, result, asin, workflow_id, ...) is an argument."""
    job_kind = job_kinds()[kind]
    resource, amount = ("review_jobs", 1) if kind == "reviews" else ("tokens", cost)
    values: dict[str, Any] = dict(
        org_id=tenant.org_id,
        max_attempts=3,
        status=status,
        tokens_reserved=0 if kind == "reviews" else cost,
        finished_at=func.now() if status in TERMINAL else None,
        request_id=lifecycle.new_request_id(),
    )
    if kind == "reviews":
        values |= dict(asin="B0FACTORY1", marketplace="amazon.de")
    elif kind == "product":
        values |= dict(params={"source": "walmart", "key": "1"})
    values |= columns
    with engine.begin() as conn:
        job_id = lifecycle.allocate_ids(conn)[0]
        if reserve:
            assert ledger.reserve(
                conn,
                org_id=tenant.org_id,
                resource=resource,
                amount=amount,
                limit=10_000,
                job_id=job_id,
                request_id=values["request_id"],
            )
        lifecycle.insert(conn, job_kind, id=job_id, **values)
    return job_id


def set_job_status(
    engine: Engine, job_id: int, status: str, *, finished: bool = False, **columns: Any
) -> None:
    """Write the job's status (and `columns`) straight into its row, as a worker that died
    before settling would leave it: no ledger settlement, no guard release. `finished` stamps
    finished_at = now()."""
    values = dict(status=status, **columns)
    if finished:
        values["finished_at"] = func.now()
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def age_job(engine: Engine, job_id: int, seconds: float, column: str = "created_at") -> None:
    """The job's `column` (created_at, dispatched_at, lease_until, ...) moves `seconds` back."""
    age_jobs(engine, seconds, [job_id], column=column)


def age_jobs(
    engine: Engine,
    seconds: float,
    job_ids: Sequence[int] | None = None,
    *,
    column: str = "created_at",
) -> None:
    """Move the jobs' `column` `seconds` into the past (every job's, without ids): what the
    sweeper sees once that much time has passed, without waiting for it."""
    with engine.begin() as conn:
        q = update(jobs).values({column: jobs.c[column] - dt.timedelta(seconds=seconds)})
        if job_ids is not None:
            q = q.where(jobs.c.id.in_(list(job_ids)))
        conn.execute(q)


def ledger_kinds(engine: Engine, job_id: int) -> list[str]:
    """The job's ledger rows, oldest first: reserve, then charge or refund."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind FROM ledger WHERE job_id = :j ORDER BY id"), {"j": job_id}
        ).scalars()
        return [str(k) for k in rows]


# workflows -----------------------------------------------------------------------------------
def make_workflow(
    engine: Engine,
    tenant: Tenant | None = None,
    *,
    targets: Sequence[str] = (),
    status: str = "running",
    callback_url: str | None = None,
    submitted: int | None = None,
    **columns: Any,
) -> str:
    """A workflow row (a batch) with one batch_target job per entry of `targets`, each in
    that status and reserved as a batch reserves it. A finished status stamps finished_at; a
    callback makes its webhook due now. A tenant of its own when none is given."""
    tenant = tenant or make_tenant(engine)
    wid = uuid.uuid4()
    finished = status != "running"
    values: dict[str, Any] = dict(
        id=wid,
        org_id=tenant.org_id,
        request_id=lifecycle.new_request_id(),
        status=status,
        submitted=len(targets) if submitted is None else submitted,
        accepted=len(targets),
        callback_url=callback_url,
        finished_at=func.now() if finished else None,
    )
    if callback_url is not None:
        values |= dict(webhook_status="pending", webhook_next_at=func.now())
    values |= columns
    with engine.begin() as conn:
        conn.execute(insert(workflows).values(**values))
    for i, target_status in enumerate(targets):
        make_job(
            engine, tenant, "batch_target", status=target_status, workflow_id=wid, target_index=i
        )
    return str(wid)


def age_workflow(engine: Engine, workflow_id: str | None = None, **seconds_ago: float) -> None:
    """Set the workflow's timestamps (every workflow's, without an id) to `now() - seconds`;
    a negative number is in the future: `age_workflow(engine, wid, webhook_next_at=-3600)`."""
    _set_ago(engine, workflows, workflow_id, seconds_ago)


# Redis guard state ---------------------------------------------------------------------------
def pass_cooldown(engine: Engine, rt: Any, job_id: int) -> None:
    """The review job's ASIN cooldown has run out: its key is gone from Redis (whose clock the
    guards read) and the job is that much older in Postgres (whose clock the sweeper reads to
    restore cooldowns), so neither brings it back."""
    with engine.connect() as conn:
        job = lifecycle.get(conn, job_id)
        assert job is not None and job["kind"] == "reviews"
        seconds = conn.execute(
            text(
                "SELECT p.asin_cooldown_seconds FROM organizations o "
                "JOIN plans p ON p.name = o.plan WHERE o.id = :o"
            ),
            {"o": job["org_id"]},
        ).scalar_one()
    age_job(engine, job_id, seconds)
    rt.redis.delete(rt.guards.cooldown_key(job["org_id"], job["asin"], job["marketplace"]))


def age_rate_window(rt: Any, tenant: Tenant, seconds: float, window: str = "submit") -> None:
    """Every request counted in the organization's `window` (submit | force) was made
    `seconds` earlier: the sliding window's members are scored by Redis TIME in ms."""
    key = rt.guards.rate_key(f"org:{tenant.org_id}:{window}")
    shift = int(seconds * 1000)
    moved = {m: score - shift for m, score in rt.redis.zrange(key, 0, -1, withscores=True)}
    if moved:
        rt.redis.zadd(key, moved)


# clocks --------------------------------------------------------------------------------------
def _set_ago(
    engine: Engine, table: Table, row_id: Any | None, seconds_ago: dict[str, float]
) -> None:
    values = {col: func.now() - dt.timedelta(seconds=s) for col, s in seconds_ago.items()}
    with engine.begin() as conn:
        q = update(table).values(values)
        if row_id is not None:
            q = q.where(table.c.id == row_id)
        conn.execute(q)
