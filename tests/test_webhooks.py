"""Workflow webhooks: HMAC signatures, delivery to a real local receiver, retries with
backoff, once per workflow, and the SSRF rules for callback addresses."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from sqlalchemy import text

from freshet.batch import webhooks
from tests.factories import age_workflow, make_catalog, make_tenant, make_workflow
from tests.waiting import wait_until

SECRET = "whsec_test_0123456789"


class Receiver:
    """A local HTTP server recording each POST; answers `statuses` in turn (a status, or
    (status, Location) for a redirect), then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int | tuple[int, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(({k: v for k, v in self.headers.items()}, body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                location = None
                if isinstance(status, tuple):
                    status, location = status
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host}/hooks/freshet"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int = 1, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        wait_until(lambda: len(self.received) >= n, timeout, f"{n} deliveries")
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def settings(base_settings, receiver):
    """The receiver listens on loopback: allowed the way the simulator is, by host:port."""
    return base_settings.with_overrides(
        allowed_private_hosts=(*base_settings.allowed_private_hosts, receiver.host),
        webhook_max_attempts=3,
    )


@pytest.fixture(autouse=True)
def _fresh_receiver(receiver):
    receiver.received.clear()
    receiver.statuses.clear()


# signing -------------------------------------------------------------------------------------
def test_a_signature_verifies_and_any_change_breaks_it():
    body = b'{"workflowId":"w","status":"completed"}'
    header = webhooks.signature_header(SECRET, body, now=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert webhooks.verify(SECRET, header, body, now=1_700_000_010)
    assert not webhooks.verify(SECRET, header, body + b" ", now=1_700_000_010)
    assert not webhooks.verify("other-secret", header, body, now=1_700_000_010)
    assert not webhooks.verify(
        SECRET, header.replace("t=1700000000", "t=1700000001"), body, now=1_700_000_010
    )
    assert not webhooks.verify(SECRET, header, body, now=1_700_000_000 + 3600)  # a replay
    assert not webhooks.verify(SECRET, "garbage", body)


def test_a_signature_made_now_is_a_replay_once_its_tolerance_has_passed():
    body = b'{"workflowId":"w","status":"completed"}'
    with time_machine.travel(dt.datetime(2031, 5, 1, 12, 0, tzinfo=dt.UTC), tick=False) as clock:
        header = webhooks.signature_header(SECRET, body)
        assert header.startswith("t=1935403200,v1=")
        clock.shift(dt.timedelta(minutes=4))
        assert webhooks.verify(SECRET, header, body)
        clock.shift(dt.timedelta(minutes=2))
        assert not webhooks.verify(SECRET, header, body)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign(SECRET, 1_700_000_000, body) == expected


# delivery --------------------------------------------------------------------------------------
def submit(client, engine, simulator, receiver, n: int = 3):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    targets = [
        {"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/h{i}"} for i in range(n)
    ]
    resp = client.post(
        "/v1/products/refresh",
        headers=t.headers,
        json={"targets": targets, "callbackUrl": receiver.url},
    )
    assert resp.status_code == 202, resp.get_json()
    return t, resp.get_json()["workflowId"]


def org_secret(engine, org_id: int) -> str:
    from freshet import accounts

    with engine.begin() as conn:
        return accounts.signing_secrets(conn, org_id, ())[0]


def workflow_row(engine, workflow_id: str):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM workflows WHERE id = :w"), {"w": workflow_id}).one()


@pytest.mark.e2e
def test_a_finished_workflow_posts_one_signed_summary(
    client, engine, worker, simulator, receiver, rt
):
    t, wid = submit(client, engine, simulator, receiver)
    [(headers, body)] = receiver.wait(1)
    assert webhooks.verify(org_secret(engine, t.org_id), headers["Freshet-Signature"], body)
    assert headers["Freshet-Event-Id"] == f"wf_{wid}"
    assert headers["Freshet-Event"] == "workflow.finished"
    assert headers["Freshet-Webhook-Id"] == wid
    assert headers["Content-Type"] == "application/json"
    summary = json.loads(body)
    assert summary["workflowId"] == wid and summary["status"] == "completed"
    assert summary["counts"]["completed"] == 3 and summary["failures"] == []
    assert summary["statusUrl"] == f"/v1/workflows/{wid}"
    row = wait_until(
        lambda: (r := workflow_row(engine, wid)).webhook_status == "delivered" and r,
        10,
        "the delivery to be recorded",
    )
    assert (row.webhook_status, row.webhook_attempts) == ("delivered", 1)
    assert row.webhook_delivered_at is not None
    # once per workflow: another task message, or the sweeper, sends nothing more
    assert webhooks.deliver(rt, wid) is None
    age_workflow(engine, wid, webhook_next_at=3600)
    from freshet.batch import ending

    ending.sweep_workflows(rt)
    time.sleep(1.0)
    assert len(receiver.received) == 1
    shown = client.get(f"/v1/workflows/{wid}", headers=t.headers).get_json()
    assert shown["callback"]["status"] == "delivered" and shown["callback"]["attempts"] == 1


@pytest.mark.e2e
def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    client, engine, worker, simulator, receiver
):
    receiver.statuses[:] = [500, 503]
    _, wid = submit(client, engine, simulator, receiver, n=1)
    received = receiver.wait(3, timeout=30)
    attempts = [int(h["Freshet-Delivery-Attempt"]) for h, _ in received]
    assert attempts == [1, 2, 3]
    assert all(h["Freshet-Webhook-Id"] == wid for h, _ in received)
    row = wait_until(
        lambda: (r := workflow_row(engine, wid)).webhook_status == "delivered" and r,
        10,
        "the delivery to be recorded",
    )
    assert (row.webhook_status, row.webhook_attempts) == ("delivered", 3)


def insert_finished_workflow(engine, callback_url: str) -> str:
    """A completed workflow whose webhook is due now (one target submitted, none accepted)."""
    return make_workflow(engine, status="completed", submitted=1, callback_url=callback_url)


def test_a_receiver_that_keeps_failing_is_given_up_after_max_attempts(engine, rt, receiver):
    receiver.statuses[:] = [500] * 10
    wid = insert_finished_workflow(engine, receiver.url)
    delays = []
    for _ in range(3):
        delay = webhooks.deliver(rt, wid)
        if delay is not None:
            delays.append(delay)
            age_workflow(engine, wid, webhook_next_at=0)  # time passes: the retry is due
    assert len(delays) == 2 and all(d > 0 for d in delays)
    row = workflow_row(engine, wid)
    assert (row.webhook_status, row.webhook_attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in row.webhook_error
    assert webhooks.deliver(rt, wid) is None
    assert len(receiver.received) == 3


def test_a_delivery_not_yet_due_is_not_sent(engine, rt, receiver):
    wid = insert_finished_workflow(engine, receiver.url)
    age_workflow(engine, wid, webhook_next_at=-3600)  # due in an hour
    assert webhooks.deliver(rt, wid) is None
    assert receiver.received == []


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest", "http://localhost:9/hook"]
)
def test_a_callback_at_a_private_address_is_never_fetched(engine, rt, url):
    wid = insert_finished_workflow(engine, url)
    assert webhooks.deliver(rt, wid) is None
    row = workflow_row(engine, wid)
    assert row.webhook_status == "failed" and "refused" in row.webhook_error
    assert row.webhook_attempts == 1


def test_a_redirect_to_a_private_address_is_not_followed(engine, rt, receiver):
    receiver.statuses[:] = [(307, "http://169.254.169.254/latest")]
    wid = insert_finished_workflow(engine, receiver.url)
    assert webhooks.deliver(rt, wid) is None
    assert len(receiver.received) == 1
    row = workflow_row(engine, wid)
    assert row.webhook_status == "failed" and "169.254.169.254" in row.webhook_error
