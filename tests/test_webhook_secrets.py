# ruff: noqa: F811  (pytest fixtures imported from the modules that define them)
"""Webhook secrets per organization: created with the organization and shown once, sealed at
rest, rotated with a 24 h overlap, every delivery signed (never unsigned), and one tenant's
secret never verifies another's deliveries."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy import text

from freshet import accounts
from freshet.accounts import secrets
from freshet.batch import webhooks
from store.db import make_engine, upgrade
from tests.factories import make_tenant
from tests.services import create_database, drop_database
from tests.test_cli import as_json, cli  # noqa: F401  (the cli fixture)
from tests.test_webhooks import (  # noqa: F401  (fixtures)
    _fresh_receiver,
    insert_finished_workflow,
    receiver,
    settings,
)


def current(engine, org_id: int, keys=()) -> list[str]:
    with engine.begin() as conn:
        return accounts.signing_secrets(conn, org_id, keys)


def test_each_organization_gets_its_own_secret_shown_once(cli, engine):
    out = as_json(cli("org", "create", "acme", "--json"))
    assert out["webhook_secret"].startswith("whsec_")
    assert current(engine, out["id"]) == [out["webhook_secret"]]
    other = as_json(cli("org", "create", "globex", "--json"))
    assert other["webhook_secret"] != out["webhook_secret"]
    # never shown again: not in the listing
    assert "webhook_secret" not in cli("org", "list", "--json").stdout
    assert "whsec_" in cli("org", "create", "initech").stdout


def test_a_secret_is_sealed_at_rest_with_the_configured_key(engine):
    key = Fernet.generate_key().decode()
    t = make_tenant(engine)
    with engine.begin() as conn:
        secret, _ = accounts.rotate_webhook_secret(conn, t.org_id, (key,))
        stored = conn.execute(
            text("SELECT webhook_secret FROM organizations WHERE id = :o"), {"o": t.org_id}
        ).scalar_one()
    assert stored.startswith("fernet:") and secret not in stored
    assert current(engine, t.org_id, (key,))[0] == secret
    # a new key first, the old one still opens what it sealed
    assert current(engine, t.org_id, (Fernet.generate_key().decode(), key))[0] == secret
    with pytest.raises(accounts.SecretUnreadable):
        current(engine, t.org_id, (Fernet.generate_key().decode(),))


def test_a_tenant_cannot_forge_or_verify_another_tenants_webhook(engine, rt, receiver):
    wid = insert_finished_workflow(engine, receiver.url)
    with engine.connect() as conn:
        owner = conn.execute(text("SELECT org_id FROM workflows WHERE id = :w"), {"w": wid}).one()
    other = make_tenant(engine)
    assert webhooks.deliver(rt, wid) is None
    [(headers, body)] = receiver.received
    sig = headers["Freshet-Signature"]
    assert webhooks.verify(current(engine, owner.org_id)[0], sig, body)
    assert not webhooks.verify(current(engine, other.org_id)[0], sig, body)
    # what the other tenant can sign for the same body is not what the owner's receiver takes
    forged = webhooks.signature_header(current(engine, other.org_id)[0], body)
    assert not webhooks.verify(current(engine, owner.org_id)[0], forged, body)


def test_rotation_sends_both_signatures_for_24_hours_then_only_the_new(
    client, engine, rt, receiver
):
    wid = insert_finished_workflow(engine, receiver.url)
    with engine.connect() as conn:
        org_id = conn.execute(text("SELECT org_id FROM workflows WHERE id = :w"), {"w": wid}).one()[
            0
        ]
        key, _ = accounts.create_key(
            conn,
            conn.execute(
                text("SELECT name FROM organizations WHERE id = :o"), {"o": org_id}
            ).scalar_one(),
        )
        conn.commit()
    old = current(engine, org_id)[0]
    resp = client.post("/v1/webhooks/secret/rotate", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.get_json()
    new = resp.get_json()["secret"]
    assert new != old and resp.get_json()["previousValidUntil"]
    assert current(engine, org_id) == [new, old]
    webhooks.deliver(rt, wid)
    [(headers, body)] = receiver.received
    sig = headers["Freshet-Signature"]
    assert sig.count("v1=") == 2
    assert webhooks.verify(new, sig, body) and webhooks.verify(old, sig, body)
    # 24 h later the old secret is no longer sent
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE organizations SET webhook_secret_previous_until = now() - "
                "interval '1 second'"
            )
        )
    assert current(engine, org_id) == [new]
    body = b'{"x":1}'
    with engine.connect() as conn:
        header = webhooks.org_signature(conn, rt, org_id, body)
    assert header.count("v1=") == 1 and webhooks.verify(new, header, body)
    assert not webhooks.verify(old, header, body)


def test_rotate_by_cli_prints_the_new_secret(cli, engine):
    created = as_json(cli("org", "create", "acme", "--json"))
    rotated = as_json(cli("org", "rotate-webhook-secret", "acme", "--json"))
    assert rotated["webhook_secret"] != created["webhook_secret"]
    assert current(engine, created["id"]) == [rotated["webhook_secret"], created["webhook_secret"]]
    missing = cli("org", "rotate-webhook-secret", "nobody", ok=False)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_a_delivery_is_never_unsigned_even_for_an_org_without_a_secret(engine, rt, receiver):
    wid = insert_finished_workflow(engine, receiver.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE organizations SET webhook_secret = NULL"))
    webhooks.deliver(rt, wid)
    [(headers, body)] = receiver.received
    with engine.connect() as conn:
        org_id = conn.execute(text("SELECT org_id FROM workflows WHERE id = :w"), {"w": wid}).one()[
            0
        ]
    assert webhooks.verify(current(engine, org_id)[0], headers["Freshet-Signature"], body)
    assert headers["Freshet-Event-Id"] == f"wf_{wid}"
    assert json.loads(body)["workflowId"] == wid
    with pytest.raises(ValueError):
        webhooks.signature_header([], body)


def test_the_migration_gives_existing_organizations_a_secret():
    url = create_database("freshet_mig")
    try:
        upgrade(url, "0004")
        eng = make_engine(url, pool_size=1)
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, plan) VALUES ('old', 'free')"))
        upgrade(url, "0005")
        with eng.connect() as conn:
            stored = conn.execute(sa.text("SELECT webhook_secret FROM organizations")).scalar_one()
        eng.dispose()
        assert secrets.unseal((), stored).startswith("whsec_")
    finally:
        drop_database(url)
