"""Batch refresh API (Octogen's contract): resolution, every rejection code, whole-request
errors with `detail`, the vendor's response schema, idempotency, SSRF, bulk writes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import event, text

from tests.factories import make_catalog, make_known_product, make_tenant

URL = "/v1/products/refresh"
VENDOR_SPEC = Path(__file__).resolve().parents[2] / "shared/vendor-specs/octogen-platform-v1.json"


@pytest.fixture
def shops(engine, simulator) -> dict[str, str]:
    """Catalogs on the simulator (granted below) and elsewhere; slug -> URL prefix."""
    host = simulator.host
    make_catalog(engine, "shop", "shopify", [f"{host}/shops/demo"])
    make_catalog(engine, "site", "jsonld", [f"{host}/sites/demo"])
    make_catalog(engine, "wm", "walmart", [f"{host}/walmart"])
    make_catalog(engine, "shared-a", "jsonld", ["shared.example"])
    make_catalog(engine, "shared-b", "jsonld", ["shared.example/products"])
    make_catalog(engine, "private", "jsonld", ["10.0.0.1"])
    make_catalog(engine, "secret", "shopify", ["secret.example"])  # granted to nobody
    return {
        "shop": f"{simulator.url}/shops/demo/products/",
        "site": f"{simulator.url}/sites/demo/p/",
        "wm": f"{simulator.url}/walmart/ip/",
    }


GRANTED = ["shop", "site", "wm", "shared-a", "shared-b", "private"]


@pytest.fixture
def tenant(engine, shops):
    return make_tenant(engine, catalogs=GRANTED, requests_per_minute=100)


def post(client, tenant, body, **headers):
    return client.post(URL, json=body, headers={**tenant.headers, **headers})


def add_product(engine, catalog: str, url: str) -> str:
    return make_known_product(engine, catalog, url)


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_mixed_batch_accepts_the_valid_and_rejects_each_with_its_code(
    client, engine, tenant, shops
):
    known = add_product(engine, "site", shops["site"] + "known")
    elsewhere = add_product(engine, "secret", "https://secret.example/products/x")
    targets = [
        {"catalog": "shop", "url": shops["shop"] + "new-drop"},  # 0 unknown product: accepted
        {"url": shops["site"] + "lamp"},  # 1 matched by domain
        {"uuid": known},  # 2 known product
        {"catalog": "site", "uuid": known.upper()},  # 3 same product again
        {"uuid": str(uuid.uuid4())},  # 4 unknown uuid
        {"uuid": elsewhere},  # 5 a product in a catalog not granted
        {"url": "https://nowhere.example/products/1"},  # 6 no catalog covers it
        {"url": "https://shared.example/products/1"},  # 7 two catalogs cover it
        {"catalog": "shop", "url": shops["site"] + "lamp"},  # 8 outside the named catalog
        {"url": "ftp://shared.example/products/1"},  # 9 not http(s)
        {"catalog": "shared-a", "url": "https://shared.example/products/1"},  # 10 pinned: ok
        {"url": shops["site"] + "lamp/"},  # 11 same as 1 once normalized
        {"catalog": "site", "uuid": "not-a-uuid"},  # 12
        {"url": shops["wm"] + "19667262713", "catalog": None},  # 13 null is absent
    ]
    resp = post(client, tenant, {"targets": targets})
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["submitted"] == len(targets)
    assert body["requestId"] and uuid.UUID(body["workflowId"])
    assert body["workflowStatus"] == "pending" and body["workflowError"] is None
    assert body["accepted"] == [
        {"catalog": "shop", "url": shops["shop"] + "new-drop"},
        {"catalog": "site", "url": shops["site"] + "lamp"},
        {"catalog": "site", "url": shops["site"] + "known"},
        {"catalog": "shared-a", "url": "https://shared.example/products/1"},
        {"catalog": "wm", "url": shops["wm"] + "19667262713"},
    ]
    codes = [(r["target"], r["code"]) for r in body["rejected"]]
    assert codes == [
        ({"catalog": "site", "uuid": known.upper()}, "duplicate_target"),
        (targets[4], "product_not_found"),
        (targets[5], "product_not_found"),
        (targets[6], "product_not_found"),
        (targets[7], "ambiguous_url"),
        (targets[8], "url_not_in_catalog"),
        (targets[9], "invalid_url"),
        (targets[11], "duplicate_target"),
        (targets[12], "product_not_found"),
    ]
    for r in body["rejected"]:
        assert len(r["message"]) > 20 and r["message"].endswith(".")
    assert "include catalog" in body["rejected"][4]["message"]
    assert "shared-a" in body["rejected"][4]["message"]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT j.target_index, j.kind, j.queue, j.status, c.slug, j.url, j.product_id "
                "FROM jobs j JOIN catalogs c ON c.id = j.catalog_id ORDER BY j.target_index"
            )
        ).all()
        wf = conn.execute(
            text(
                "SELECT submitted, accepted, jsonb_array_length(rejected), "
                "launch_status FROM workflows"
            )
        ).one()
    assert [(r.target_index, r.slug) for r in rows] == [
        (0, "shop"),
        (1, "site"),
        (2, "site"),
        (10, "shared-a"),
        (13, "wm"),
    ]
    assert {(r.kind, r.queue, r.status) for r in rows} == {("batch_target", "batch", "queued")}
    assert str(rows[2].product_id) == known
    assert tuple(wf) == (14, 5, 9, "pending")


def test_every_rejection_message_says_what_to_change(client, engine, tenant, shops):
    resp = post(
        client,
        tenant,
        {
            "targets": [
                {"url": "https://shared.example/products/1"},
                {"catalog": "shop", "url": "https://shared.example/products/1"},
                {"url": "mailto:someone@example.com"},
                {"uuid": str(uuid.uuid4())},
                {"url": shops["shop"] + "a"},
                {"url": shops["shop"] + "a"},
            ]
        },
    )
    messages = {r["code"]: r["message"] for r in resp.get_json()["rejected"]}
    assert "include catalog" in messages["ambiguous_url"]
    assert "fix the URL or name the catalog" in messages["url_not_in_catalog"]
    assert "http://" in messages["invalid_url"]
    assert "send the product's url" in messages["product_not_found"]
    assert "send each product once" in messages["duplicate_target"]


def test_all_rejected_is_400_in_the_same_shape_and_writes_nothing(client, engine, tenant):
    resp = post(
        client,
        tenant,
        {"targets": [{"url": "https://nowhere.example/p/1"}, {"uuid": str(uuid.uuid4())}]},
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert set(body) == {
        "requestId",
        "submitted",
        "workflowId",
        "workflowError",
        "workflowStatus",
        "workflowAttempts",
        "accepted",
        "rejected",
    }
    assert body["accepted"] == [] and len(body["rejected"]) == 2
    assert body["workflowId"] is None and body["submitted"] == 2
    assert count(engine, "SELECT count(*) FROM jobs") == 0
    assert count(engine, "SELECT count(*) FROM workflows") == 0


# the vendor's schema -------------------------------------------------------------------------
def vendor_validator(name: str):
    """A validator for one of the vendor's OpenAPI 3.1 component schemas, `$ref`s resolved
    against the whole spec document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = json.loads(VENDOR_SPEC.read_text())
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:octogen", resource)
    return Draft202012Validator(
        {"$ref": f"urn:octogen#/components/schemas/{name}"}, registry=registry
    )


def test_202_and_400_bodies_validate_against_the_vendors_response_schema(
    client, engine, tenant, shops
):
    validator = vendor_validator("ProgrammaticProductRefreshResponse")
    ok = post(
        client,
        tenant,
        {
            "targets": [
                {"catalog": "shop", "url": shops["shop"] + "x"},
                {"url": "https://nowhere.example/p/1"},
            ]
        },
    )
    assert ok.status_code == 202
    validator.validate(ok.get_json())
    none = post(client, tenant, {"targets": [{"url": "https://nowhere.example/p/1"}]})
    assert none.status_code == 400
    validator.validate(none.get_json())


def test_the_vendors_request_example_is_accepted(client, engine, tenant, shops):
    request_validator = vendor_validator("ProgrammaticProductRefreshRequest")
    known = add_product(engine, "shop", shops["shop"] + "known")
    body = {"targets": [{"uuid": known}, {"catalog": "shop", "url": shops["shop"] + "new-drop"}]}
    request_validator.validate(body)
    assert post(client, tenant, body).status_code == 202


# whole-request errors ------------------------------------------------------------------------
def assert_detail_envelope(
    resp, status: int, detail: str | None = None, type_: str | None = None
) -> dict:
    """Octogen's `detail` (a string, or the validation list whose first item is `type_`)
    plus our envelope."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert {"error", "code", "message", "detail"} <= set(body)
    if detail is not None:
        assert body["detail"] == detail
    if type_ is not None:
        assert isinstance(body["detail"], list) and body["detail"]
        for item in body["detail"]:
            assert {"loc", "msg", "type"} <= set(item) and item["loc"][0] == "body"
        assert body["detail"][0]["type"] == type_
    return body


def test_501_targets_is_422(client, engine, tenant, shops):
    targets = [{"catalog": "shop", "url": f"{shops['shop']}p{i}"} for i in range(501)]
    body = assert_detail_envelope(post(client, tenant, {"targets": targets}), 422, type_="too_long")
    assert body["detail"][0]["loc"] == ["body", "targets"]
    assert count(engine, "SELECT count(*) FROM jobs") == 0


def test_a_target_with_both_url_and_uuid_is_422(client, engine, tenant, shops):
    resp = post(
        client,
        tenant,
        {
            "targets": [
                {"catalog": "shop", "url": shops["shop"] + "a"},
                {"url": shops["shop"] + "b", "uuid": str(uuid.uuid4())},
            ]
        },
    )
    body = assert_detail_envelope(resp, 422, type_="value_error")
    assert body["detail"][0]["loc"] == ["body", "targets", 1]
    assert count(engine, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize(
    ("data", "type_", "loc"),
    [
        (b"{not json", "json_invalid", None),
        (b"[1, 2]", "model_attributes_type", ["body"]),
        (b'"text"', "model_attributes_type", ["body"]),
        (b"{}", "missing", ["body", "targets"]),
        (b'{"targets": []}', "too_short", ["body", "targets"]),
        (b'{"targets": {"url": "https://a.example"}}', "list_type", ["body", "targets"]),
        (b'{"targets": [{}]}', "value_error", ["body", "targets", 0]),
        (b'{"targets": [{"catalog": "shop"}]}', "value_error", ["body", "targets", 0]),
        (b'{"targets": [{"url": 5}]}', "string_type", ["body", "targets", 0, "url"]),
        (b'{"targets": [{"url": ""}]}', "string_too_short", ["body", "targets", 0, "url"]),
        (b'{"targets": [{"uuid": null, "url": null}]}', "value_error", ["body", "targets", 0]),
        (b'{"targets": ["https://a.example"]}', "model_attributes_type", ["body", "targets", 0]),
        (
            b'{"targets": [{"url": "https://a.example", "sku": "1"}]}',
            "extra_forbidden",
            ["body", "targets", 0, "sku"],
        ),
        (
            b'{"targets": [{"url": "https://a.example"}], "extra": 1}',
            "extra_forbidden",
            ["body", "extra"],
        ),
        (
            b'{"targets": [{"url": "https://a.example"}], "callbackUrl": 7}',
            "string_type",
            ["body", "callbackUrl"],
        ),
    ],
)
def test_bodies_breaking_the_schema_are_422(client, engine, tenant, data, type_, loc):
    resp = client.post(
        URL, data=data, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    body = assert_detail_envelope(resp, 422, type_=type_)
    if loc is not None:
        assert body["detail"][0]["loc"] == loc
    assert body["code"] == "validation_error"
    assert count(engine, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize("slug", ["secret", "no-such-catalog"])
def test_a_target_naming_a_catalog_not_granted_is_403(client, engine, tenant, shops, slug):
    resp = post(
        client,
        tenant,
        {
            "targets": [
                {"catalog": "shop", "url": shops["shop"] + "a"},
                {"catalog": slug, "url": "https://x.example/p"},
            ]
        },
    )
    body = assert_detail_envelope(resp, 403, "catalog_not_granted")
    assert body["code"] == "catalog_not_granted" and slug in body["message"]
    assert count(engine, "SELECT count(*) FROM jobs") == 0


def test_over_the_per_minute_limit_is_429(client, engine, shops):
    t = make_tenant(engine, catalogs=GRANTED, requests_per_minute=2)
    body = {"targets": [{"catalog": "shop", "url": shops["shop"] + "a"}]}
    assert post(client, t, body).status_code == 202
    assert post(client, t, body).status_code == 202
    resp = post(client, t, body)
    assert_detail_envelope(resp, 429, "rate_limit_exceeded")
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["X-RateLimit-Limit"] == "2"


def test_unauthenticated_is_401_with_detail(client, engine):
    resp = client.post(URL, json={"targets": [{"url": "https://a.example"}]})
    assert_detail_envelope(resp, 401, "Invalid API key")


def test_not_enough_tokens_is_402_and_writes_nothing(client, engine, shops):
    t = make_tenant(engine, catalogs=GRANTED, monthly_tokens=3)
    targets = [{"catalog": "shop", "url": f"{shops['shop']}p{i}"} for i in range(4)]
    resp = post(client, t, {"targets": targets})
    body = assert_detail_envelope(resp, 402, "insufficient_tokens")
    assert "4 tokens" in body["message"] and "3 are left" in body["message"]
    assert count(engine, "SELECT count(*) FROM jobs") == 0
    assert count(engine, "SELECT count(*) FROM ledger") == 0
    assert post(client, t, {"targets": targets[:3]}).status_code == 202


def test_redis_outage_is_503_with_nothing_written(client, engine, tenant, shops, rt, monkeypatch):
    def down(*a, **k):
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(rt.guards, "admit", down)
    resp = post(client, tenant, {"targets": [{"catalog": "shop", "url": shops["shop"] + "a"}]})
    assert_detail_envelope(resp, 503, "product_refresh_unavailable")
    assert int(resp.headers["Retry-After"]) >= 1
    assert count(engine, "SELECT count(*) FROM workflows") == 0


# SSRF ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        {"url": "http://169.254.169.254/latest/meta-data/"},
        {"url": "http://10.0.0.1/products/x"},
        {"catalog": "private", "url": "http://10.0.0.1/products/x"},
        {"url": "http://localhost/products/x"},
        {"url": "http://127.0.0.1:6379/"},
        {"url": "http://[::1]/products/x"},
        {"url": "http://[::ffff:169.254.169.254]/"},
        {"catalog": "shop", "url": "http://169.254.169.254/shops/demo/products/x"},
    ],
)
def test_url_targets_at_private_addresses_are_invalid_url(client, engine, tenant, target):
    resp = post(client, tenant, {"targets": [target]})
    assert resp.status_code == 400
    [rejected] = resp.get_json()["rejected"]
    assert rejected["code"] == "invalid_url", rejected
    assert "private, loopback or link-local" in rejected["message"]


@pytest.mark.parametrize(
    "callback",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/",
        "http://localhost:9/hook",
        "ftp://hooks.example/x",
    ],
)
def test_a_callback_url_at_a_private_address_is_422(client, engine, tenant, shops, callback):
    resp = post(
        client,
        tenant,
        {"targets": [{"catalog": "shop", "url": shops["shop"] + "a"}], "callbackUrl": callback},
    )
    body = assert_detail_envelope(resp, 422, type_="value_error")
    assert body["detail"][0]["loc"] == ["body", "callbackUrl"]
    assert count(engine, "SELECT count(*) FROM workflows") == 0


# idempotency -----------------------------------------------------------------------------------
def test_an_idempotent_replay_answers_the_first_response_and_writes_once(
    client, engine, tenant, shops
):
    body = {
        "targets": [
            {"catalog": "shop", "url": shops["shop"] + "a"},
            {"url": "https://nowhere.example/p"},
        ]
    }
    first = post(client, tenant, body, **{"Idempotency-Key": "batch-1"})
    again = post(client, tenant, body, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(engine, "SELECT count(*) FROM workflows") == 1
    assert count(engine, "SELECT count(*) FROM jobs") == 1
    other = post(client, tenant, {"targets": body["targets"][:1]}, **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 422
    assert other.get_json()["detail"][0]["type"] == "idempotency_key_reused"


# bulk writes and the one publish -------------------------------------------------------------
class RecordingPublisher:
    def __init__(self, fail: bool = False):
        self.calls: list[list] = []
        self.fail = fail

    def publish(self, dispatches):
        self.calls.append(list(dispatches))
        if self.fail:
            raise redis.ConnectionError("broker down")


def statements_for(client, engine_, tenant, body):
    seen: list[str] = []

    def record(conn, cursor, statement, *a):
        seen.append(statement)

    event.listen(engine_, "before_cursor_execute", record)
    try:
        resp = post(client, tenant, body)
    finally:
        event.remove(engine_, "before_cursor_execute", record)
    assert resp.status_code == 202, resp.get_json()
    return seen


def test_accepting_is_a_fixed_number_of_round_trips_and_one_publish(
    client, engine, tenant, shops, rt, monkeypatch
):
    publisher = RecordingPublisher()
    monkeypatch.setattr(rt, "publisher", publisher)
    small = statements_for(
        client,
        rt.engine,
        tenant,
        {"targets": [{"catalog": "shop", "url": f"{shops['shop']}s{i}"} for i in range(5)]},
    )
    big = statements_for(
        client,
        rt.engine,
        tenant,
        {"targets": [{"catalog": "shop", "url": f"{shops['shop']}b{i}"} for i in range(500)]},
    )
    assert len(big) == len(small) <= 10, big
    assert len(publisher.calls) == 2 and all(len(c) == 1 for c in publisher.calls)
    assert publisher.calls[1][0].task_name == "freshet.batch.launch"
    assert count(engine, "SELECT count(*) FROM jobs") == 505
    assert (
        count(
            engine,
            "SELECT count(*) FROM ledger WHERE kind = 'reserve' "
            "AND resource = 'tokens' AND amount = 1",
        )
        == 505
    )
    assert count(engine, "SELECT tokens_used FROM usage_periods") == 505


def test_a_failed_publish_still_answers_202_with_workflow_error(
    client, engine, tenant, shops, rt, monkeypatch
):
    monkeypatch.setattr(rt, "publisher", RecordingPublisher(fail=True))
    resp = post(client, tenant, {"targets": [{"catalog": "shop", "url": shops["shop"] + "a"}]})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["workflowStatus"] == "retry_pending" and body["workflowAttempts"] == 1
    assert "automatically" in body["workflowError"]
    vendor_validator("ProgrammaticProductRefreshResponse").validate(body)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT launch_status, launch_error IS NOT NULL FROM workflows")
        ).one() == ("retry_pending", True)
