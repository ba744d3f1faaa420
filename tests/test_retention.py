"""The data lifecycle's sweeper passes, on the real database: what is old goes, in batches;
money (the ledger) stays; the first observation of each old day stays."""

from __future__ import annotations

from sqlalchemy import text

from freshet.jobs.sweeper import sweep
from freshet.retention import (
    expire_idempotency_keys,
    prune_jobs,
    prune_workflows,
    thin_observations,
)
from tests.factories import make_tenant


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_lifecycle_passes_are_registered_with_the_sweeper(rt):
    names = {name for name, _ in rt.kinds.sweeper_passes()}
    assert {"expire_idempotency_keys", "prune_jobs", "prune_workflows", "thin_observations"} <= (
        names
    )
    assert {"prune_jobs", "thin_observations"} <= set(sweep(rt))


def test_old_keys_jobs_and_workflows_go_the_ledger_stays(engine, rt):
    t = make_tenant(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (org_id, key, route, body_hash, created_at) "
                "VALUES (:o, 'old', 'r', 'h', now() - interval '25 hours'), "
                "(:o, 'new', 'r', 'h', now() - interval '23 hours')"
            ),
            {"o": t.org_id},
        )
        conn.execute(
            text(
                "INSERT INTO workflows (id, org_id, request_id, status, submitted, accepted, "
                "finished_at) VALUES (gen_random_uuid(), :o, 'r', 'completed', 1, 1, "
                "now() - interval '31 days')"
            ),
            {"o": t.org_id},
        )
        # three old finished jobs (one unsettled), one old running, one recent finished
        conn.execute(
            text(
                "INSERT INTO jobs (id, org_id, kind, status, queue, max_attempts, finished_at, "
                "workflow_id) VALUES "
                "(1, :o, 'product', 'completed', 'interactive', 5, now() - interval '31 days', "
                " (SELECT id FROM workflows LIMIT 1)),"
                "(2, :o, 'product', 'failed', 'interactive', 5, now() - interval '40 days', NULL),"
                "(3, :o, 'product', 'completed', 'interactive', 5, now() - interval '31 days',"
                " NULL),"
                "(4, :o, 'product', 'running', 'interactive', 5, NULL, NULL),"
                "(5, :o, 'product', 'completed', 'interactive', 5, now() - interval '29 days',"
                " NULL)"
            ),
            {"o": t.org_id},
        )
        conn.execute(
            text(
                "INSERT INTO ledger (org_id, period, job_id, resource, kind, amount) VALUES "
                "(:o, '2026-10-01', 1, 'tokens', 'reserve', 1),"
                "(:o, '2026-10-01', 1, 'tokens', 'charge', 1),"
                "(:o, '2026-10-01', 3, 'tokens', 'reserve', 1)"
            ),
            {"o": t.org_id},
        )
    assert expire_idempotency_keys(rt) == 1
    assert prune_workflows(rt) == 0  # its job is still there
    assert prune_jobs(rt) == 2  # 1 and 2; 3 waits for its settlement, 4 runs, 5 is recent
    assert prune_workflows(rt) == 1
    assert _count(engine, "SELECT count(*) FROM jobs") == 3
    assert _count(engine, "SELECT count(*) FROM ledger") == 3  # money is never deleted
    assert _count(engine, "SELECT count(*) FROM idempotency_keys") == 1
    assert prune_jobs(rt) == 0 and expire_idempotency_keys(rt) == 0


def test_old_observations_thin_to_one_per_day_in_batches(engine, rt):
    small = rt.settings.with_overrides(prune_batch=7)
    rt.settings = small
    with engine.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO products (id, source, key) VALUES (gen_random_uuid(), 't', 'k') "
                "RETURNING id"
            )
        ).scalar_one()
        # 5 old days of 6 observations, and 6 recent ones (inside the stats window)
        conn.execute(
            text(
                "INSERT INTO price_observations (product_id, observed_at, price) "
                "SELECT :p, date_trunc('day', now() - make_interval(days => 40 + d), 'UTC') "
                " + make_interval(hours => h * 3), 1 FROM generate_series(0, 4) d, "
                "generate_series(0, 5) h "
                "UNION ALL SELECT :p, now() - make_interval(hours => h), 1 "
                "FROM generate_series(0, 5) h"
            ),
            {"p": pid},
        )
    total = 0
    for _ in range(10):
        n = thin_observations(rt)
        total += n
        if n == 0:
            break
    assert total == 25
    assert _count(engine, "SELECT count(*) FROM price_observations") == 5 + 6
    assert (
        _count(
            engine,
            "SELECT count(*) FROM price_observations WHERE observed_at < now() - interval '30 days' "
            "AND observed_at <> date_trunc('day', observed_at, 'UTC')",
        )
        == 0
    )  # the first of each day is the one kept
    assert thin_observations(rt) == 0
