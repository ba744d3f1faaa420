"""Console pages with Flask's test client: what a customer sees (only its own organization,
another's objects are 404), what an operator sees and does (search, retry, cancel)."""

from __future__ import annotations

from sqlalchemy import text

from tests.console.helpers import make_operator, page_token, sign_in
from tests.factories import make_catalog, make_tenant


def _review_job(client, tenant, asin: str = "B000TEST01") -> dict:
    resp = client.post("/api/v1/reviews/refresh", json={"asin": asin}, headers=tenant.headers)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


def _workflow(client, tenant, simulator) -> dict:
    resp = client.post(
        "/v1/products/refresh",
        json={"targets": [{"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/a"}]},
        headers=tenant.headers,
    )
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


def test_another_organizations_job_and_workflow_are_404(app, engine, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    mine, theirs = make_tenant(engine, catalogs=["shop"]), make_tenant(engine, catalogs=["shop"])
    api = app.test_client()
    job = _review_job(api, theirs)
    wf = _workflow(api, theirs, simulator)
    client = app.test_client()
    sign_in(client, mine.key)
    assert client.get(f"/console/jobs/{job['jobId']}").status_code == 404
    assert client.get(f"/console/workflows/{wf['workflowId']}").status_code == 404
    assert client.get("/console/jobs/notanumber").status_code == 404
    listed = client.get("/console/jobs").get_data(as_text=True)
    assert f">{job['jobId']}<" not in listed
    assert wf["workflowId"] not in client.get("/console/workflows").get_data(as_text=True)
    # searching their request id finds nothing for me
    found = client.get(f"/console/search?q={wf['requestId']}")
    assert found.status_code == 200 and "Nothing matches" in found.get_data(as_text=True)
    token = page_token(client)
    cancel = client.post(f"/console/jobs/{job['jobId']}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404


def test_a_customer_sees_its_jobs_workflows_and_usage(app, engine, simulator):
    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    api = app.test_client()
    job = _review_job(api, t)
    wf = _workflow(api, t, simulator)
    client = app.test_client()
    sign_in(client, t.key)
    home = client.get("/console").get_data(as_text=True)
    assert (
        "Tokens this month" in home and "Review jobs this month" in home and 'class="bar"' in home
    )
    assert "Queues" not in home  # operators only
    page = client.get(f"/console/jobs/{job['jobId']}").get_data(as_text=True)
    assert "B000TEST01" in page and "Cancel job" in page and "Retry job" not in page
    wf_page = client.get(f"/console/workflows/{wf['workflowId']}").get_data(as_text=True)
    assert 'data-live="running"' in wf_page and "/shops/demo/products/a" in wf_page
    assert wf["workflowId"] in client.get("/console/workflows").get_data(as_text=True)
    kinds = client.get("/console/jobs?kind=reviews").get_data(as_text=True)
    assert f">{job['jobId']}<" in kinds
    # search by request id lands on the workflow
    found = client.get(f"/console/search?q={wf['requestId']}")
    assert found.status_code == 303
    assert found.headers["Location"] == f"/console/workflows/{wf['workflowId']}"


def test_cancel_needs_the_csrf_token(app, engine):
    t = make_tenant(engine)
    job = _review_job(app.test_client(), t)
    client = app.test_client()
    sign_in(client, t.key)
    refused = client.post(f"/console/jobs/{job['jobId']}/cancel", data={})
    assert refused.status_code == 400
    ok = client.post(
        f"/console/jobs/{job['jobId']}/cancel", data={"csrf_token": page_token(client)}
    )
    assert ok.status_code == 303
    assert "cancelled" in client.get(ok.headers["Location"]).get_data(as_text=True)


def test_only_operators_retry(app, engine):
    t = make_tenant(engine)
    job = _review_job(app.test_client(), t)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET status = 'failed', error = 'boom' WHERE id = :i"),
            {"i": job["jobId"]},
        )
    client = app.test_client()
    sign_in(client, t.key)
    resp = client.post(
        f"/console/jobs/{job['jobId']}/retry", data={"csrf_token": page_token(client)}
    )
    assert resp.status_code == 403


def test_an_operator_finds_any_organizations_job_by_request_id_and_retries_it(app, engine):
    t = make_tenant(engine)
    op = make_operator(engine)
    api = app.test_client()
    submitted = api.post("/api/v1/reviews/refresh", json={"asin": "B000TEST02"}, headers=t.headers)
    request_id = submitted.headers["X-Request-Id"]
    job_id = submitted.get_json()["jobId"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET status = 'failed', error = 'upstream said no', updated_at = now() WHERE id = :i"
            ),
            {"i": job_id},
        )
    client = app.test_client()
    sign_in(client, op.key)
    home = client.get("/console").get_data(as_text=True)
    assert "Queues" in home and "upstream said no" in home  # failed in the last day
    found = client.get(f"/console/search?q={request_id}")
    assert found.status_code == 303 and found.headers["Location"] == f"/console/jobs/{job_id}"
    by_org = client.get(f"/console/search?q={t.name}")
    assert by_org.headers["Location"] == f"/console/?org={t.name}".replace("/?", "?")
    assert t.name in client.get(by_org.headers["Location"]).get_data(as_text=True)
    retried = client.post(f"/console/jobs/{job_id}/retry", data={"csrf_token": page_token(client)})
    assert retried.status_code == 303
    new_page = client.get(retried.headers["Location"]).get_data(as_text=True)
    assert "Retried: this is the new job." in new_page
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM jobs WHERE request_id = :r"), {"r": request_id}
        ).scalar()
    assert n == 2


def test_monitors_pages_say_there_are_none_yet(app, engine):
    t = make_tenant(engine)
    client = app.test_client()
    sign_in(client, t.key)
    page = client.get("/console/monitors")
    assert page.status_code == 200 and "No monitors yet" in page.get_data(as_text=True)
    assert client.get("/console/monitors/1").status_code == 404


def test_every_signed_in_page_has_the_search_box(app, engine):
    t = make_tenant(engine)
    client = app.test_client()
    sign_in(client, t.key)
    for path in (
        "/console",
        "/console/workflows",
        "/console/jobs",
        "/console/monitors",
        "/console/search?q=",
    ):
        html = client.get(path).get_data(as_text=True)
        assert 'name="q"' in html and 'action="/console/search"' in html, path


def test_a_product_never_fetched_offers_a_fetch_and_a_bad_id_is_400(app, engine):
    t = make_tenant(engine)
    client = app.test_client()
    sign_in(client, t.key)
    page = client.get("/console/products/19667262713")
    assert page.status_code == 200 and "Fetch now" in page.get_data(as_text=True)
    assert client.get("/console/products/not-an-id!").status_code in (400, 404)


def test_a_customer_sees_its_monitor_and_another_organization_does_not(app, engine, simulator):
    make_catalog(engine, "mon-shop", "shopify", [f"{simulator.host}/shops/demo"])
    mine = make_tenant(engine, catalogs=["mon-shop"])
    theirs = make_tenant(engine, catalogs=["mon-shop"])
    api = app.test_client()
    url = f"{simulator.url}/shops/demo/products/watched"
    made = api.post(
        "/v1/monitors",
        json={"targets": [{"catalog": "mon-shop", "url": url}], "interval": 3600, "name": "w"},
        headers=mine.headers,
    )
    assert made.status_code == 201, made.get_json()
    monitor_id = made.get_json()["id"]
    client = app.test_client()
    sign_in(client, mine.key)
    listed = client.get("/console/monitors").get_data(as_text=True)
    assert monitor_id in listed
    detail = client.get(f"/console/monitors/{monitor_id}")
    assert detail.status_code == 200 and "Targets" in detail.get_data(as_text=True)
    other = app.test_client()
    sign_in(other, theirs.key)
    assert monitor_id not in other.get("/console/monitors").get_data(as_text=True)
    assert other.get(f"/console/monitors/{monitor_id}").status_code == 404


def test_an_operator_sees_the_hosts_politeness_state(app, engine, rt):
    from freshet import hosts

    hosts.admit(rt, hosts.Upstream("http://shop.example.test:8123/p/1", 5.0))
    op = make_operator(engine)
    client = app.test_client()
    sign_in(client, op.key)
    home = client.get("/console").get_data(as_text=True)
    assert 'id="hosts"' in home and "shop.example.test:8123" in home
    customer = app.test_client()
    sign_in(customer, make_tenant(engine).key)
    assert 'id="hosts"' not in customer.get("/console").get_data(as_text=True)
