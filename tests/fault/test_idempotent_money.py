"""The money path with an Idempotency-Key: the key, the reservation, the job and its ledger row
commit together, so a retried request is answered with the job it already bought and is never
charged twice, whatever fails after the commit. Each test asserts the ledger, not only the
status code."""

from __future__ import annotations

import hashlib
import importlib
import threading
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import freshet.idempotency
import freshet.jobs
from freshet.jobs import sweep
from tests.factories import make_tenant
from tests.fault.api_process import ApiProcess
from tests.fault.support import wait_done
from tests.waiting import wait_until

pytestmark = pytest.mark.fault
# the module, not the function of the same name that freshet.products exports
lookup = importlib.import_module("freshet.products.lookup")
ITEM = "19667262713"
PATH = f"/v1/products/{ITEM}/refresh"


def money(engine) -> dict[str, Any]:
    with engine.connect() as conn:
        ledger = dict(
            conn.execute(text("SELECT kind, sum(amount) FROM ledger GROUP BY kind")).all()
        )
        jobs = conn.execute(text("SELECT count(*) FROM jobs")).scalar()
        used = conn.execute(text("SELECT coalesce(sum(tokens_used), 0) FROM usage_periods"))
        return {
            "ledger": {k: int(v) for k, v in ledger.items()},
            "jobs": jobs,
            "used": int(used.scalar() or 0),
        }


def _keyed(t, key: str) -> dict[str, str]:
    return {**t.headers, "Idempotency-Key": key}


def _broken(exc: BaseException):
    def fail(*_a: Any, **_k: Any) -> Any:
        raise exc

    return fail


@pytest.mark.parametrize(
    ("where", "target", "attribute", "exc"),
    [
        ("Redis cut after the commit", "guards", "join_flight", redis.ConnectionError("cut")),
        ("Redis cut during the wait", freshet.jobs, "wait_for", redis.ConnectionError("cut")),
        (
            "Postgres cut before the read-back",
            lookup,
            "_await",
            OperationalError("SELECT", {}, Exception("cut")),
        ),
    ],
)
def test_a_retry_after_a_failure_past_the_commit_gets_the_same_job_and_no_second_charge(
    client, engine, rt, monkeypatch, where, target, attribute, exc
):
    t = make_tenant(engine)
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", lambda _d: None)  # no worker: the job stays queued
        m.setattr(rt.guards if target == "guards" else target, attribute, _broken(exc))
        first = client.post(PATH, headers=_keyed(t, "k1"))
    assert first.status_code == 503, (where, first.get_json())
    assert money(engine) == {"ledger": {"reserve": 9}, "jobs": 1, "used": 9}, where
    with monkeypatch.context() as m:
        m.setattr(rt.publisher, "publish", lambda _d: None)
        again = client.post(PATH, headers=_keyed(t, "k1"))
    assert again.status_code == 202, where
    assert again.headers["Idempotent-Replayed"] == "true"
    with engine.connect() as conn:
        job_id = conn.execute(text("SELECT id FROM jobs")).scalar()
    assert again.get_json()["jobId"] == job_id
    assert money(engine) == {"ledger": {"reserve": 9}, "jobs": 1, "used": 9}, where


def test_an_answer_that_could_not_be_stored_leaves_the_committed_202(
    client, engine, rt, worker, monkeypatch
):
    t = make_tenant(engine)
    with monkeypatch.context() as m:
        m.setattr(
            freshet.idempotency, "answer", _broken(OperationalError("UPDATE", {}, Exception()))
        )
        first = client.post(PATH, headers=_keyed(t, "k2"))
    assert first.status_code == 200
    again = client.post(PATH, headers=_keyed(t, "k2"))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    with engine.connect() as conn:
        assert again.get_json()["jobId"] == conn.execute(text("SELECT id FROM jobs")).scalar()
    assert money(engine) == {"ledger": {"reserve": 9, "charge": 9}, "jobs": 1, "used": 9}


def test_the_final_answer_replaces_the_provisional_one(client, engine, worker):
    t = make_tenant(engine)
    first = client.post(PATH, headers=_keyed(t, "k3"))
    again = client.post(PATH, headers=_keyed(t, "k3"))
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert money(engine) == {"ledger": {"reserve": 9, "charge": 9}, "jobs": 1, "used": 9}


def test_a_killed_api_process_loses_no_key_the_retry_is_the_same_job(
    settings, engine, rt, spawn_worker
):
    """Measured from outside: a keyed force refresh waiting in a real API process, the process
    SIGKILLed, the same request retried on a new process → one job, 9 tokens, not 18."""
    t = make_tenant(engine)
    api = ApiProcess.start(settings)
    answers: list[Any] = []

    def call() -> None:
        try:
            answers.append(
                requests.request("POST", api.url + PATH, headers=_keyed(t, "k4"), timeout=30)
            )
        except requests.RequestException as exc:
            answers.append(exc)

    waiting = threading.Thread(target=call)
    waiting.start()  # no worker runs yet: the request waits for the job
    wait_until(lambda: money(engine)["jobs"] == 1, 15, "the job to commit")
    api.kill()
    waiting.join(timeout=10)
    assert isinstance(answers[0], requests.RequestException)  # the client saw no answer
    api = ApiProcess.start(settings)
    try:
        again = requests.request("POST", api.url + PATH, headers=_keyed(t, "k4"), timeout=30)
    finally:
        api.kill()
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    job_id = again.json()["jobId"]
    spawn_worker(queues="interactive,default")
    sweep(rt)  # the publish may have died with the process: the sweeper sends it
    done = wait_done(engine, job_id, timeout=30)
    assert done["status"] == "completed"
    assert money(engine) == {"ledger": {"reserve": 9, "charge": 9}, "jobs": 1, "used": 9}


def test_concurrent_duplicates_make_one_job(client, engine, rt, monkeypatch):
    t = make_tenant(engine)
    monkeypatch.setattr(rt.publisher, "publish", lambda _d: None)
    rt.redis.set(
        f"{rt.prefix}idem:{t.org_id}:" + hashlib.sha256(b"k5").hexdigest()[:32],
        "another request",
    )
    in_flight = client.post(PATH, headers=_keyed(t, "k5"))
    assert in_flight.status_code == 409 and in_flight.headers["Retry-After"]
    assert money(engine)["jobs"] == 0
