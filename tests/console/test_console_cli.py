"""The console's command-line side: operator keys, and the demo printing the console URL."""

from __future__ import annotations

from tests.console.helpers import sign_in
from tests.test_cli import as_json, cli  # noqa: F401  # the CLI runner fixture


def test_key_create_operator_makes_a_key_that_sees_every_organization(cli, app):  # noqa: F811
    cli("org", "create", "ops", "--plan", "free")
    out = as_json(cli("key", "create", "--org", "ops", "--operator", "--json"))
    assert out["operator"] is True and out["api_key"].startswith("rk_live_")
    plain = as_json(cli("key", "create", "--org", "ops", "--json"))
    assert plain["operator"] is False
    client = app.test_client()
    sign_in(client, out["api_key"])
    assert "Failed in the last day" in client.get("/console").get_data(as_text=True)
    other = app.test_client()
    sign_in(other, plain["api_key"])
    assert "Failed in the last day" not in other.get("/console").get_data(as_text=True)


def test_demo_prints_the_console_url(cli):  # noqa: F811
    out = as_json(cli("demo", "--json"))
    assert out["console"] == "http://api.example:8000/console"
    assert "console: http://api.example:8000/console" in cli("demo").stdout
