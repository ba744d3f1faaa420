"""Signing in to the console with Flask's test client."""

from __future__ import annotations

import re

from sqlalchemy import Engine

from freshet.accounts import tenants
from tests.factories import Tenant, make_tenant

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, key: str):
    form = client.get("/console")
    return client.post(
        "/console/login", data={"api_key": key, "csrf_token": csrf_of(form.get_data(as_text=True))}
    )


def page_token(client, path: str = "/console") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def make_operator(engine: Engine) -> Tenant:
    t = make_tenant(engine)
    with engine.begin() as conn:
        key, _ = tenants.create_key(conn, t.name, operator=True)
    return Tenant(t.org_id, t.name, key, t.plan)
