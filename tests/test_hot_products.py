"""Hot products as ordinary jobs (issue #12 item 7): charged to nobody, one pass at a time,
a product with an open refresh skipped, a failed one backed off."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from freshet import products
from freshet.products import ids as product_ids
from freshet.products import store as product_store
from freshet.products.worker import HOT_LOCK
from sources.record import ProductRecord


@pytest.fixture
def hot(engine, settings):
    target = product_ids.walmart_target(settings, "717171")
    with engine.begin() as conn:
        pid = product_store.store_record(
            conn, target, ProductRecord(source="walmart", current_price=1.0), None
        )
        conn.execute(
            text(
                "UPDATE products SET price_fetched_at = now() - interval '14 minutes',"
                " last_read_at = now(), reads = :n WHERE id = :p"
            ),
            {"p": pid, "n": settings.hot_reads_threshold},
        )
    return pid


def test_a_hot_refresh_is_a_product_job_charged_to_nobody(engine, rt, published, hot):
    assert products.refresh_hot(rt) == 1
    with engine.connect() as conn:
        job = conn.execute(text("SELECT * FROM jobs WHERE id = :j"), {"j": published.sent[0]}).one()
        assert conn.execute(text("SELECT count(*) FROM ledger")).scalar() == 0
    assert (job.kind, job.org_id, job.tokens_reserved, job.status) == ("product", None, 0, "queued")
    assert job.product_id == hot and job.params["hot"] is True
    assert products.refresh_hot(rt) == 0  # its job is still open: not a second one


def test_never_two_passes_at_once(engine, rt, published, hot):
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": HOT_LOCK})
        try:
            assert products.refresh_hot(rt) == 0  # the other pass is running
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": HOT_LOCK})
            other.commit()
    assert products.refresh_hot(rt) == 1


def test_a_failed_hot_refresh_backs_the_product_off(engine, rt, published, hot):
    from freshet.jobs import lifecycle

    assert products.refresh_hot(rt) == 1
    job_id = published.sent[0]
    with engine.begin() as conn:
        lifecycle.fail_queued(conn, job_id, "upstream gone", "not_found")
        job = lifecycle.get(conn, job_id)
    rt.kinds["product"].handler.after(rt, job, "failed")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT hot_failures, extract(epoch FROM hot_retry_at - now()) AS wait "
                "FROM products WHERE id = :p"
            ),
            {"p": hot},
        ).one()
    assert row.hot_failures == 1
    assert 0.8 * rt.settings.hot_refresh_interval_seconds <= float(row.wait)
    assert products.refresh_hot(rt) == 0  # backed off
    with engine.begin() as conn:
        conn.execute(text("UPDATE products SET hot_retry_at = now() - interval '1 second'"))
    assert products.refresh_hot(rt) == 1
    job_id = published.sent[-1]
    with engine.begin() as conn:
        job = lifecycle.get(conn, job_id)
    rt.kinds["product"].handler.after(rt, job, "completed")
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT hot_failures, hot_retry_at FROM products WHERE id = :p"), {"p": hot}
        ).one() == (0, None)
