"""The API cannot be exhausted by waiting (issue 12, item 8): a bounded number of product
requests per process wait for their worker, the next answers 202 with its job at once and
/healthz is never blocked; a batch's DNS lookups in the request thread are bounded."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from freshet.batch.submission import AddressCheck
from freshet.settings import Settings
from tests.factories import make_tenant


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(sync_waiters_max=2, sync_wait_seconds=4.0)


def test_past_the_bound_a_refresh_answers_202_at_once(app, engine):
    t = make_tenant(engine, requests_per_minute=1000)
    results: list[int] = []

    def wait(item: str) -> None:  # no worker runs: each waits its full sync wait
        c = app.test_client()
        results.append(c.get(f"/v1/products/{item}", headers=t.headers).status_code)

    waiters = [threading.Thread(target=wait, args=(f"1000000000{i}",)) for i in range(2)]
    for w in waiters:
        w.start()
    time.sleep(0.8)  # both are waiting now
    client = app.test_client()
    started = time.monotonic()
    third = client.get("/v1/products/10000000009", headers=t.headers)
    took = time.monotonic() - started
    assert third.status_code == 202 and third.get_json()["jobId"]
    assert took < 2.0, f"the third request waited {took:.1f}s"
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert time.monotonic() - started < 1.0
    for w in waiters:
        w.join()
    assert results == [202, 202]  # they waited their 4 s, then answered with their job


def test_a_batch_resolves_a_bounded_number_of_host_names():
    calls: list[str] = []

    class SlowResolver:
        def check_url(self, url: str) -> dict:
            calls.append(url)
            time.sleep(0.05)
            return {}

    check = AddressCheck(SimpleNamespace(http=SlowResolver()), max_hosts=5, budget_seconds=10)
    for i in range(50):
        assert check(f"https://shop{i}.example/p") is None
    assert len(calls) == 5  # the rest are checked by the worker when it fetches
    check(f"https://shop{1}.example/other")  # memoized: no new lookup
    assert len(calls) == 5
    check("http://127.0.0.1/x")  # an IP literal needs no DNS: always checked
    assert calls[-1] == "http://127.0.0.1/x"

    calls.clear()
    timed = AddressCheck(SimpleNamespace(http=SlowResolver()), max_hosts=100, budget_seconds=0.2)
    started = time.monotonic()
    for i in range(50):
        timed(f"https://host{i}.example/p")
    assert time.monotonic() - started < 0.5 and len(calls) < 10
