"""The settled marker (issue #17): every statement that charges or refunds a job marks its
reservations settled, and the sweeper's settle pass reads only reservations not so marked —
the open ones — so its cost does not grow with the ledger's history."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from freshet import accounts, batch
from freshet.jobs import lifecycle
from freshet.jobs.sweeper import settle_ended
from tests.factories import ledger_kinds, make_job, make_tenant, make_workflow


def _reservations(engine, job_id: int) -> list[bool]:
    """For each reservation of the job: is it marked settled?"""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT settled_at IS NOT NULL FROM ledger WHERE job_id = :j AND kind = 'reserve'"
            ),
            {"j": job_id},
        ).scalars()
        return [bool(r) for r in rows]


def _unsettled(engine) -> list[int]:
    with engine.begin() as conn:
        return accounts.unsettled_job_ids(conn)


def test_finishing_a_job_marks_its_reservation_settled(engine):
    t = make_tenant(engine)
    job_id = make_job(engine, t, status="queued")
    assert _reservations(engine, job_id) == [False]
    with engine.begin() as conn:
        job = lifecycle.claim(conn, job_id, 60)
        assert job is not None
        assert lifecycle.finish(conn, job_id, job["attempt"], "completed", result={})
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert _reservations(engine, job_id) == [True]
    assert _unsettled(engine) == []


def test_cancelling_and_failing_mark_the_reservation_with_the_refund(engine):
    t = make_tenant(engine)
    cancelled = make_job(engine, t, status="queued")
    failed = make_job(engine, t, status="queued")
    with engine.begin() as conn:
        assert lifecycle.cancel(conn, cancelled) is not None
        assert lifecycle.fail_queued(conn, failed, "gone", "gone")
    for job_id in (cancelled, failed):
        assert ledger_kinds(engine, job_id) == ["reserve", "refund"]
        assert _reservations(engine, job_id) == [True]
    with engine.connect() as conn:
        assert accounts.used(conn, t.org_id)["tokens"] == 0


def test_a_cancelled_batch_marks_every_reservation_it_refunds(engine, rt):
    t = make_tenant(engine)
    wid = make_workflow(engine, t, targets=["queued", "running", "completed"])
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                text("SELECT id FROM jobs WHERE workflow_id = :w ORDER BY target_index"),
                {"w": wid},
            ).scalars()
        )
    assert batch.cancel(rt, uuid.UUID(wid), t.org_id) == "cancelled"
    for job_id in ids[:2]:
        assert ledger_kinds(engine, job_id) == ["reserve", "refund"]
        assert _reservations(engine, job_id) == [True]
    # the target that had ended is not the cancel's to settle: the sweeper's
    assert ledger_kinds(engine, ids[2]) == ["reserve"] and _unsettled(engine) == [ids[2]]


def test_the_sweeper_settles_an_ended_job_once_and_then_reads_it_no_more(engine, rt):
    t = make_tenant(engine)
    crashed = make_job(engine, t, status="completed")  # ended, its settlement never written
    failed = make_job(engine, t, status="failed")
    running = make_job(engine, t, status="running")
    assert sorted(_unsettled(engine)) == sorted([crashed, failed])
    assert settle_ended(rt, 500) == 2
    assert ledger_kinds(engine, crashed) == ["reserve", "charge"]
    assert ledger_kinds(engine, failed) == ["reserve", "refund"]
    assert _reservations(engine, crashed) == [True] and _reservations(engine, failed) == [True]
    assert ledger_kinds(engine, running) == ["reserve"]  # an open job is left alone
    assert _reservations(engine, running) == [False]
    assert _unsettled(engine) == [] and settle_ended(rt, 500) == 0


def test_a_settlement_without_its_mark_is_marked_and_not_written_twice(engine, rt):
    """A reservation whose charge exists but whose mark does not (written before the marker
    existed, or by a path that forgot it) is marked by the sweeper, charged nothing more."""
    t = make_tenant(engine)
    job_id = make_job(engine, t, status="completed", cost=3)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger (org_id, period, job_id, resource, kind, amount) "
                "SELECT org_id, period, job_id, resource, 'charge', amount FROM ledger "
                "WHERE job_id = :j"
            ),
            {"j": job_id},
        )
        before = accounts.used(conn, t.org_id)
    assert _unsettled(engine) == [job_id]
    settle_ended(rt, 500)
    assert ledger_kinds(engine, job_id) == ["reserve", "charge"]
    assert _reservations(engine, job_id) == [True]
    with engine.connect() as conn:
        assert accounts.used(conn, t.org_id) == before == {"tokens": 3, "review_jobs": 0}
    assert _unsettled(engine) == []
