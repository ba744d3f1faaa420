"""Console sign-in: server-side sessions, cookie flags, CSRF, the sign-in limit, headers."""

from __future__ import annotations

import contextlib

import redis

from tests.console.helpers import csrf_of, page_token, sign_in
from tests.factories import make_tenant


def test_sign_in_form_posts_api_key_with_a_csrf_token_and_strict_headers(client):
    resp = client.get("/console")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'action="/console/login"' in html and 'name="api_key"' in html
    assert csrf_of(html)
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "<script>" not in html and "style=" not in html  # nothing inline


def test_sign_in_sets_an_httponly_samesite_session_cookie_holding_no_key(client, engine, settings):
    t = make_tenant(engine)
    resp = sign_in(client, t.key)
    assert resp.status_code == 303 and resp.headers["Location"] == "/console"
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("freshet_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert t.key not in cookie
    home = client.get("/console").get_data(as_text=True)
    assert t.name in home and "Tokens this month" in home and t.key not in home
    with contextlib.closing(redis.Redis.from_url(settings.redis_url)) as r:
        keys = list(r.scan_iter(f"{settings.redis_prefix}console:session:*"))
        assert len(keys) == 1
        assert r.ttl(keys[0]) > 0
        stored = r.get(keys[0]).decode()
    assert t.key not in stored and '"key_id"' in stored


def test_over_https_the_session_cookie_is_secure(app, engine):
    t = make_tenant(engine)
    client = app.test_client()
    form = client.get("/console", base_url="https://console.test")
    resp = client.post(
        "/console/login",
        base_url="https://console.test",
        data={"api_key": t.key, "csrf_token": csrf_of(form.get_data(as_text=True))},
    )
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("freshet_console="))
    assert "Secure" in cookie
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_unknown_key_is_401_and_never_echoed(client):
    bad = "rk_live_" + "x" * 40
    resp = sign_in(client, bad)
    assert resp.status_code == 401
    assert bad not in resp.get_data(as_text=True)
    assert client.get("/console/jobs").status_code == 303  # still signed out


def test_sign_in_without_the_form_token_is_refused(client, engine):
    t = make_tenant(engine)
    client.get("/console")
    resp = client.post("/console/login", data={"api_key": t.key, "csrf_token": "forged" * 5})
    assert resp.status_code == 400
    assert client.get("/console/jobs").status_code == 303


def test_sign_in_attempts_are_limited_per_address(client, settings):
    statuses = [
        sign_in(client, "rk_live_nope").status_code
        for _ in range(settings.console_logins_per_minute + 1)
    ]
    assert statuses[:-1] == [401] * settings.console_logins_per_minute
    assert statuses[-1] == 429


def test_sign_out_needs_the_token_and_ends_the_session(client, engine, settings):
    t = make_tenant(engine)
    sign_in(client, t.key)
    assert client.post("/console/logout", data={"csrf_token": "wrong"}).status_code == 400
    assert client.get("/console/jobs").status_code == 200
    resp = client.post("/console/logout", data={"csrf_token": page_token(client)})
    assert resp.status_code == 303
    assert client.get("/console/jobs").status_code == 303
    with contextlib.closing(redis.Redis.from_url(settings.redis_url)) as r:
        assert list(r.scan_iter(f"{settings.redis_prefix}console:session:*")) == []


def test_a_revoked_key_ends_its_console_session(client, engine):
    from freshet.accounts import tenants

    t = make_tenant(engine)
    sign_in(client, t.key)
    assert client.get("/console/workflows").status_code == 200
    with engine.begin() as conn:
        tenants.revoke_key(conn, t.key[:12])
    assert client.get("/console/workflows").status_code == 303


def test_pages_need_a_session(client):
    for path in (
        "/console/workflows",
        "/console/jobs",
        "/console/jobs/1",
        "/console/monitors",
        "/console/search?q=x",
        "/console/products/123",
    ):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["Location"] == "/console", path
