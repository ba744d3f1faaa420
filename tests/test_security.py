"""Abuse tests: tenant isolation on every endpoint, SSRF refusals end to end, request size and
shape limits, and API keys that never leave the request that carries them."""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import text

from freshet.accounts import tenants
from freshet.jobs import lifecycle as jobs_mod
from freshet.jobs.runner import run_job
from freshet.wiring import build_runtime
from sources.http import HttpClient
from sources.record import BlockedAddressError
from tests.factories import make_catalog, make_known_product, make_tenant
from workers.publish import NullPublisher

REVIEWS = "/api/v1/reviews/refresh"
BATCH = "/v1/products/refresh"


def envelope(resp, status: int) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    body = resp.get_json()
    assert isinstance(body, dict) and body.get("code"), body
    return body


def count(engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# tenant isolation ---------------------------------------------------------------------------
@pytest.fixture
def two_orgs(engine, simulator):
    make_catalog(engine, "iso-shop", "shopify", [f"{simulator.host}/shops/demo"])
    owner = make_tenant(engine, catalogs=["iso-shop"], concurrent_jobs=5)
    other = make_tenant(engine, catalogs=["iso-shop"], concurrent_jobs=5)
    return owner, other


def test_another_organizations_job_and_workflow_are_404_on_every_endpoint(
    client, engine, simulator, two_orgs
):
    owner, other = two_orgs
    job_id = client.post(REVIEWS, json={"asin": "B0ISOLATE1"}, headers=owner.headers).get_json()[
        "jobId"
    ]
    batch = client.post(
        BATCH,
        json={
            "targets": [{"catalog": "iso-shop", "url": f"{simulator.url}/shops/demo/products/iso"}]
        },
        headers=owner.headers,
    )
    assert batch.status_code == 202, batch.get_json()
    wid = batch.get_json()["workflowId"]
    target_job = count(engine, "SELECT id FROM jobs WHERE workflow_id = :w", w=wid)

    probes = [
        ("GET", "/api/v1/jobs/{job}"),
        ("GET", "/v1/jobs/{job}"),
        ("POST", "/v1/jobs/{job}/cancel"),
        ("GET", "/v1/jobs/{target}"),
        ("POST", "/v1/jobs/{target}/cancel"),
        ("GET", "/v1/workflows/{wid}"),
        ("POST", "/v1/workflows/{wid}/cancel"),
    ]
    real = {"job": job_id, "target": target_job, "wid": wid}
    absent = {"job": 999_999_999, "target": 999_999_998, "wid": uuid.uuid4()}
    for method, path in probes:
        body = envelope(client.open(path.format(**real), method=method, headers=other.headers), 404)
        assert body["code"] in ("job_not_found", "workflow_not_found")
        # an id that exists elsewhere answers exactly like one that exists nowhere: no oracle
        gone = client.open(path.format(**absent), method=method, headers=other.headers)
        assert (gone.status_code, gone.get_json()) == (404, body)
    # nothing the other organization did touched the owner's work
    assert count(engine, "SELECT count(*) FROM jobs WHERE status = 'cancelled'") == 0
    for method, path in probes[:2] + probes[5:6]:
        assert (
            client.open(path.format(**real), method=method, headers=owner.headers).status_code
            == 200
        )


def test_usage_shows_only_the_callers_organization(client, engine, two_orgs):
    owner, other = two_orgs
    assert (
        client.post(REVIEWS, json={"asin": "B0ISOLATE2"}, headers=owner.headers).status_code == 202
    )
    mine = client.get("/v1/usage", headers=owner.headers).get_json()
    theirs = client.get("/v1/usage", headers=other.headers).get_json()
    assert mine["organization"] == owner.name and theirs["organization"] == other.name
    assert mine["reviewJobs"]["used"] == 1 and mine["jobsInFlight"] == 1
    assert theirs["reviewJobs"]["used"] == 0 and theirs["jobsInFlight"] == 0


def test_a_product_in_a_catalog_not_granted_is_404(client, engine, simulator):
    make_catalog(engine, "iso-private", "shopify", [f"{simulator.host}/shops/private"])
    owner = make_tenant(engine, catalogs=["iso-private"])
    stranger = make_tenant(engine)
    url = f"{simulator.url}/shops/private/products/secret-kettle"
    pid = make_known_product(engine, "iso-private", url)
    for ref in (str(pid), quote(url, safe="")):
        envelope(client.get(f"/v1/products/{ref}", headers=stranger.headers), 404)
        envelope(client.post(f"/v1/products/{ref}/refresh", headers=stranger.headers), 404)
    assert count(engine, "SELECT count(*) FROM jobs") == 0
    assert (
        count(
            engine,
            "SELECT coalesce(sum(tokens_used), 0) FROM usage_periods WHERE org_id = :o",
            o=stranger.org_id,
        )
        == 0
    )
    assert owner.org_id != stranger.org_id


def test_idempotency_keys_are_per_organization(client, engine, two_orgs):
    owner, other = two_orgs
    body = {"asin": "B0IDEMKEY1"}
    first = client.post(REVIEWS, json=body, headers={**owner.headers, "Idempotency-Key": "k1"})
    second = client.post(REVIEWS, json=body, headers={**other.headers, "Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in second.headers
    assert first.get_json()["jobId"] != second.get_json()["jobId"]


# SSRF: end to end through a job -------------------------------------------------------------
def _run_with(settings, job_id: int, **overrides: object) -> str:
    rt = build_runtime(settings.with_overrides(**overrides), NullPublisher(), pool_size=1)
    try:
        return run_job(rt, job_id, "reviews")
    finally:
        rt.close()


@pytest.mark.parametrize(
    "base",
    [
        "http://169.254.169.254/latest/meta-data/{marketplace}",
        "http://10.0.0.1/{marketplace}",
        "http://127.0.0.1:6379/{marketplace}",
        "http://localhost/{marketplace}",
        "http://0x7f000001/{marketplace}",
    ],
)
def test_review_job_pointed_at_a_private_address_fails_as_blocked(
    client, engine, settings, sim_stats, base
):
    t = make_tenant(engine)
    job_id = client.post(REVIEWS, json={"asin": "B0SSRF0001"}, headers=t.headers).get_json()[
        "jobId"
    ]
    assert _run_with(settings, job_id, amazon_base_url=base, allowed_private_hosts=()) == "failed"
    with engine.connect() as conn:
        job = jobs_mod.get(conn, job_id)
    assert job["error_code"] == "blocked_address", job["error"]
    assert "non-public address" in job["error"] or "refusing" in job["error"]
    assert (
        count(engine, "SELECT count(*) FROM ledger WHERE job_id = :j AND kind = 'refund'", j=job_id)
        == 1
    )


def test_the_simulator_itself_is_refused_without_the_operator_allowance(
    client, engine, settings, simulator, sim_stats
):
    t = make_tenant(engine)
    job_id = client.post(REVIEWS, json={"asin": "B0SSRF0002"}, headers=t.headers).get_json()[
        "jobId"
    ]
    port = simulator.url.rsplit(":", 1)[1]
    # a name that resolves to loopback does not get around an allowance given to the IP
    base = f"http://localhost:{port}/amazon/{{marketplace}}"
    assert _run_with(settings, job_id, amazon_base_url=base) == "failed"
    with engine.connect() as conn:
        assert jobs_mod.get(conn, job_id)["error_code"] == "blocked_address"
    assert sim_stats()["total"] == 0  # refused before any connection


def test_a_redirect_to_the_metadata_address_is_not_followed(
    client, engine, settings, simulator, sim_stats
):
    t = make_tenant(engine)
    job_id = client.post(REVIEWS, json={"asin": "B0SSRF0003"}, headers=t.headers).get_json()[
        "jobId"
    ]
    to = quote("http://169.254.169.254/latest/meta-data/", safe="")
    base = f"{simulator.url}/redirect?to={to}&m={{marketplace}}"
    assert _run_with(settings, job_id, amazon_base_url=base) == "failed"
    with engine.connect() as conn:
        job = jobs_mod.get(conn, job_id)
    assert "169.254.169.254" in job["error"]
    assert sim_stats()["total"] == 1  # the redirect was served; its target never fetched


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_http_client_refuses_private_addresses(url):
    with pytest.raises(BlockedAddressError):
        HttpClient().get(url)


def test_http_client_refuses_a_name_resolving_to_loopback(monkeypatch):
    import socket

    real = socket.getaddrinfo

    def resolve(host, port, *a, **k):
        if host == "rebind.attacker.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1"):
        HttpClient().get("http://rebind.attacker.test/products/x")


@pytest.fixture
def sim_stats(simulator):
    state = simulator.app.extensions["simulator"]
    state.stats.reset()
    return state.stats.snapshot


# request size and shape ---------------------------------------------------------------------
def _posts(job_id: int = 1, wid: str = "00000000-0000-0000-0000-000000000000") -> list[str]:
    return [
        REVIEWS,
        BATCH,
        f"/v1/jobs/{job_id}/cancel",
        f"/v1/workflows/{wid}/cancel",
        "/v1/products/B08N5WRWNW/refresh",
    ]


@pytest.mark.parametrize("path", _posts())
def test_oversized_bodies_are_413_on_every_post(client, engine, settings, path):
    t = make_tenant(engine)
    big = b'{"pad": "' + b"x" * (settings.max_body_bytes + 1) + b'"}'
    resp = client.post(path, data=big, headers={**t.headers, "Content-Type": "application/json"})
    assert resp.status_code == 413, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert body["error"] and body["message"]
    assert count(engine, "SELECT count(*) FROM jobs") == 0


def test_oversized_chunked_body_without_length_is_413(client, engine, settings):
    t = make_tenant(engine)
    big = b'{"asin": "B08N5WRWNW", "pad": "' + b"x" * (settings.max_body_bytes + 1) + b'"}'
    resp = client.post(
        REVIEWS,
        input_stream=io.BytesIO(big),
        headers={**t.headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert resp.status_code in (400, 413), resp.get_data(as_text=True)[:300]
    assert count(engine, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize("path", [REVIEWS, BATCH])
@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_json_is_refused_without_a_crash(client, engine, path, depth):
    t = make_tenant(engine)
    data = b'{"asin": ' + b"[" * depth + b"1" + b"]" * depth + b', "targets": []}'
    resp = client.post(path, data=data, headers={**t.headers, "Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500
    assert count(engine, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"asin": "B" * 900_000},
        {"asin": "B08N5WRWNW", "marketplace": "amazon." + "d" * 900_000},
        {"asin": ["B08N5WRWNW"] * 50_000},
    ],
)
def test_huge_values_are_refused_briefly(client, engine, body):
    t = make_tenant(engine)
    resp = client.post(REVIEWS, json=body, headers=t.headers)
    assert resp.status_code == 400
    assert len(resp.get_data()) < 2000  # the error never echoes the input back
    assert count(engine, "SELECT count(*) FROM jobs") == 0


def test_unknown_fields_are_ignored_and_never_stored(client, engine):
    t = make_tenant(engine)
    resp = client.post(
        REVIEWS, json={"asin": "B08N5WRWNW", "extra": "x" * 900_000}, headers=t.headers
    )
    assert resp.status_code == 202
    assert count(engine, "SELECT max(length(row_to_json(j)::text)) FROM jobs j") < 5000


def test_huge_batch_urls_are_refused_per_target(client, engine, simulator):
    make_catalog(engine, "big-shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["big-shop"])
    url = f"{simulator.url}/shops/demo/products/" + "a" * 600_000
    resp = client.post(
        BATCH, json={"targets": [{"catalog": "big-shop", "url": url}]}, headers=t.headers
    )
    assert resp.status_code == 400
    [rejected] = resp.get_json()["rejected"]
    assert rejected["code"] == "invalid_url"
    # Octogen's contract echoes the target; the answer is never much bigger than the request
    assert len(resp.get_data()) < len(url) + 2000
    assert count(engine, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize(
    "header,value,status",
    [
        ("Idempotency-Key", "k" * 10_000, 400),
        ("Authorization", "Bearer rk_live_" + "a" * 50_000, 401),
    ],
)
def test_huge_headers_are_refused(client, engine, header, value, status):
    t = make_tenant(engine)
    resp = client.post(REVIEWS, json={"asin": "B08N5WRWNW"}, headers={**t.headers, header: value})
    envelope(resp, status)
    assert count(engine, "SELECT count(*) FROM jobs") == 0


def test_huge_query_strings_are_refused(client, engine):
    t = make_tenant(engine)
    envelope(client.get("/api/v1/reviews?asin=" + "B" * 100_000, headers=t.headers), 400)


@pytest.mark.parametrize(
    "raw,status",
    [
        ("9" * 5000, 404),
        ("0" * 300 + "1", 404),
        ("9" * 20, 404),
        ("%C2%B2", 400),
        ("%D9%A3", 400),
        ("-1", 400),
        ("1e3", 400),
    ],
)
def test_odd_job_ids_are_400_or_404_never_500(client, engine, raw, status):
    t = make_tenant(engine)
    for path in (f"/api/v1/jobs/{raw}", f"/v1/jobs/{raw}"):
        envelope(client.get(path, headers=t.headers), status)
    envelope(client.post(f"/v1/jobs/{raw}/cancel", headers=t.headers), status)


def test_an_unusable_request_id_is_replaced(client):
    resp = client.get("/healthz", headers={"X-Request-Id": "x" * 10_000})
    assert len(resp.headers["X-Request-Id"]) == 36


# API keys -----------------------------------------------------------------------------------
def test_keys_are_hashed_at_rest_everywhere(client, engine):
    t = make_tenant(engine)
    client.post(
        REVIEWS, json={"asin": "B0KEYREST1"}, headers={**t.headers, "Idempotency-Key": "rest"}
    )
    digest = tenants.hash_key(t.key)
    secret = t.key[len("rk_live_") :]
    with engine.connect() as conn:
        names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        for (name,) in names.all():
            # the table names come from pg_tables itself
            sql = f"SELECT string_agg(row_to_json(t)::text, '') FROM \"{name}\" t"  # noqa: S608
            dump = conn.execute(text(sql)).scalar() or ""
            assert secret not in dump, name
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
    assert stored.key_hash == digest and t.key.startswith(stored.prefix)
    assert len(stored.prefix) <= 12  # the display prefix is not enough to use the key


def test_key_comparison_is_constant_time(engine, monkeypatch):
    import hmac

    t = make_tenant(engine)
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tenants.hmac, "compare_digest", spy)
    with engine.connect() as conn:
        assert tenants.authenticate(conn, t.key) is not None
    assert calls and all(
        a == tenants.hash_key(t.key) or b == tenants.hash_key(t.key) for a, b in calls
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_keys_and_their_hashes_stay_out_of_logs_task_messages_and_redis(client, engine, rt):
    t = make_tenant(engine)
    digest = tenants.hash_key(t.key)
    secrets = (t.key, t.key[len("rk_live_") :], digest)
    root, seen = logging.getLogger(), _Records()
    level = root.level
    root.addHandler(seen)
    root.setLevel(logging.DEBUG)
    try:
        ok = client.post(REVIEWS, json={"asin": "B0KEYLOG01"}, headers=t.headers)
        client.post(
            REVIEWS, json={"asin": "B0KEYLOG02"}, headers={"Authorization": f"Bearer {t.key}x"}
        )
        client.get(f"/api/v1/jobs/{ok.get_json()['jobId']}", headers=t.headers)
    finally:
        root.removeHandler(seen)
        root.setLevel(level)
    assert ok.status_code == 202
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in seen.records)
    assert seen.records and not any(s in logged for s in secrets)

    # the broker message carries the job id and nothing else of the caller
    [raw] = rt.redis.lrange("reviews", 0, -1)
    message = json.loads(raw)
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [ok.get_json()["jobId"]] and kwargs == {}
    assert not any(s in raw.decode() for s in secrets)
    for key in rt.redis.scan_iter(count=500):
        assert not any(s.encode() in key for s in secrets)
        kind = rt.redis.type(key)
        value = rt.redis.dump(key) if kind != b"none" else b""
        assert not any(s.encode() in (value or b"") for s in secrets)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert not any(s in metrics for s in secrets)


def test_revoked_key_stops_working(client, engine):
    t = make_tenant(engine)
    assert client.get("/v1/usage", headers=t.headers).status_code == 200
    with engine.begin() as conn:
        tenants.revoke_key(conn, t.key[:12])
    envelope(client.get("/v1/usage", headers=t.headers), 401)
