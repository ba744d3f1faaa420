"""The `freshet` command line against the real test database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from freshet.cli import main
from tests.factories import make_tenant, set_job_status


@pytest.fixture
def cli(settings):
    runner = CliRunner()
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "FRESHET_REDIS_PREFIX": settings.redis_prefix,
        "FRESHET_SIMULATOR_URL": settings.simulator_url,
        "FRESHET_API_URL": "http://api.example:8000",
        "CELERY_BROKER_URL": None,
    }

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    return invoke


def as_json(result) -> object:
    return json.loads(result.stdout)


def test_org_create_and_list(cli):
    out = as_json(cli("org", "create", "acme", "--plan", "pro", "--json"))
    assert out["name"] == "acme" and out["plan"] == "pro" and out["id"]
    assert "acme" in cli("org", "list").stdout
    assert [o["name"] for o in as_json(cli("org", "list", "--json"))] == ["acme"]


def test_org_create_twice_is_one_clear_line(cli):
    cli("org", "create", "acme")
    again = cli("org", "create", "acme", ok=False)
    assert again.exit_code == 1
    assert again.stderr.strip() == "Error: organization 'acme' already exists"
    assert "Traceback" not in again.output


def test_org_on_an_unknown_plan_is_refused(cli):
    result = cli("org", "create", "acme", "--plan", "platinum", ok=False)
    assert result.exit_code == 1
    assert "plan 'platinum' does not exist" in result.stderr


def test_key_create_prints_the_key_once_and_json_has_api_key(cli, client):
    cli("org", "create", "acme")
    plain = cli("key", "create", "--org", "acme")
    key = plain.stdout.strip()
    assert key.startswith("rk_live_") and "\n" not in key
    assert "shown once" in plain.stderr
    out = as_json(cli("key", "create", "--org", "acme", "--test", "--json"))
    assert out["api_key"].startswith("rk_test_") and out["org"] == "acme"
    assert out["prefix"] == out["api_key"][:12]
    # the keys work, and only their prefixes are ever listed again
    assert client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = cli("key", "list", "--org", "acme").stdout
    assert key not in listed and key[:12] in listed


def test_key_for_an_unknown_org_is_one_line(cli):
    result = cli("key", "create", "--org", "ghost", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: organization 'ghost' does not exist"


def test_plan_set_and_list(cli):
    out = as_json(
        cli(
            "plan",
            "set",
            "gold",
            "--monthly-tokens",
            "50000",
            "--concurrent-jobs",
            "7",
            "--marketplaces",
            "amazon.de,amazon.fr",
            "--json",
        )
    )
    assert out["name"] == "gold" and out["monthly_tokens"] == 50000
    assert out["concurrent_jobs"] == 7 and out["marketplaces"] == ["amazon.de", "amazon.fr"]
    assert out["review_jobs_per_month"]  # the rest starts from free's values
    plans = {p["name"]: p for p in as_json(cli("plan", "list", "--json"))}
    assert {"free", "pro", "business", "gold"} <= set(plans)
    assert plans["free"]["monthly_tokens"] == 2000
    cli("plan", "set", "gold", "--concurrent-jobs", "9")
    assert "concurrent=9" in cli("plan", "list").stdout


def test_catalog_create_list_and_grant(cli, engine):
    out = as_json(
        cli(
            "catalog",
            "create",
            "shop",
            "--source",
            "shopify",
            "--domain",
            "shop.example",
            "--domain",
            "127.0.0.1:8400/shops/x",
            "--json",
        )
    )
    assert out == {
        "id": out["id"],
        "slug": "shop",
        "source": "shopify",
        "domains": ["shop.example", "127.0.0.1:8400/shops/x"],
    }
    again = cli(
        "catalog", "create", "shop", "--source", "shopify", "--domain", "x.example", ok=False
    )
    assert again.exit_code == 1 and "--update" in again.stderr
    cli("catalog", "create", "shop", "--source", "jsonld", "--domain", "x.example", "--update")
    listed = as_json(cli("catalog", "list", "--json"))
    assert [(c["slug"], c["source"], c["domains"]) for c in listed] == [
        ("shop", "jsonld", ["x.example"])
    ]
    bad = cli(
        "catalog", "create", "s2", "--source", "shopify", "--domain", "https://x.example", ok=False
    )
    assert bad.exit_code == 2 and "without a scheme" in bad.stderr

    cli("org", "create", "acme")
    assert as_json(cli("grant", "--org", "acme", "--catalog", "shop", "--json")) == {
        "org": "acme",
        "catalog": "shop",
        "granted": True,
    }
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grants")).scalar() == 1
    missing = cli("grant", "--org", "acme", "--catalog", "nope", ok=False)
    assert missing.exit_code == 1 and "catalog 'nope' does not exist" in missing.stderr
    cli("grant", "--org", "acme", "--catalog", "shop", "--revoke")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grants")).scalar() == 0


def _failed_review_job(client, engine) -> int:
    t = make_tenant(engine, concurrent_jobs=5)
    job_id = client.post(
        "/api/v1/reviews/refresh", json={"asin": "B0CLIJOB01"}, headers=t.headers
    ).get_json()["jobId"]
    set_job_status(engine, job_id, "failed", finished=True, error="upstream said no")
    return job_id


def test_jobs_list_show_and_retry(cli, client, engine):
    job_id = _failed_review_job(client, engine)
    listed = as_json(cli("jobs", "list", "--status", "failed", "--json"))
    assert [j["id"] for j in listed] == [job_id]
    assert "upstream said no" in cli("jobs", "list").stdout
    assert as_json(cli("jobs", "show", str(job_id), "--json"))["asin"] == "B0CLIJOB01"
    assert "B0CLIJOB01" in cli("jobs", "show", str(job_id)).stdout

    retried = as_json(cli("jobs", "retry", str(job_id), "--json"))
    assert len(retried) == 1 and retried[0]["job_id"] == job_id
    new_id = retried[0]["new_job_id"]
    assert new_id and new_id != job_id
    new = as_json(cli("jobs", "show", str(new_id), "--json"))
    assert new["status"] == "queued" and new["asin"] == "B0CLIJOB01"

    # a job that is not failed is reported, not retried; the exit status says so
    again = cli("jobs", "retry", str(new_id), ok=False)
    assert again.exit_code == 1 and "not failed or cancelled" in again.stdout


def test_jobs_show_of_a_missing_job_is_one_line(cli):
    result = cli("jobs", "show", "424242", ok=False)
    assert result.exit_code == 1 and result.stderr.strip() == "Error: no job 424242"


def test_demo_seeds_one_catalog_per_product_source_idempotently(cli, settings, engine):
    first = as_json(cli("demo", "--json"))
    assert first["org"] == "demo" and first["api_key"].startswith("rk_live_")
    sim_host = settings.simulator_url.split("//", 1)[1]
    by_source = {c["source"]: c for c in first["catalogs"]}
    assert set(by_source) == {"shopify", "jsonld", "walmart"}
    for c in first["catalogs"]:
        assert c["slug"] and c["domains"] and all(d.startswith(sim_host) for d in c["domains"])
    assert any("http://api.example:8000" in line for line in first["curl"])

    second = as_json(cli("demo", "--json"))
    assert second["catalogs"] == first["catalogs"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM catalogs")).scalar() == 3
        assert conn.execute(text("SELECT count(*) FROM grants")).scalar() == 3
    plain = cli("demo").stdout
    assert "API key (shown once): rk_live_" in plain and "curl" in plain


def test_demo_key_can_use_the_api(cli, client):
    out = as_json(cli("demo", "--json"))
    usage = client.get("/v1/usage", headers={"Authorization": f"Bearer {out['api_key']}"})
    assert usage.status_code == 200


def test_settings_lists_every_variable(cli):
    plain = cli("settings").stdout
    assert "DATABASE_URL=" in plain and "REDIS_URL=" in plain and "FRESHET_LOG_JSON=" in plain
    rows = as_json(cli("settings", "--json"))
    assert {"DATABASE_URL", "FRESHET_METRICS_ENABLED"} <= {r["variable"] for r in rows}
    assert cli("settings", "--markdown").stdout.startswith("| variable | default |")


def test_db_current_says_at_head(cli):
    out = as_json(cli("db", "current", "--json"))
    assert out["at_head"] is True and out["current"] == out["head"]
    assert cli("db", "upgrade").stdout.startswith("database already at")


def test_unreachable_database_is_one_line_not_a_traceback():
    runner = CliRunner()
    result = runner.invoke(
        main, ["org", "list"], env={"DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/none"}
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: cannot reach Postgres at postgresql://u:***@127.0.0.1:1")
    assert "secret" not in result.output and "Traceback" not in result.output


def test_a_bad_setting_is_one_line():
    result = CliRunner().invoke(main, ["org", "list"], env={"FRESHET_LOG_JSON": "maybe"})
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: bad setting: FRESHET_LOG_JSON='maybe' is not a valid bool"
    )


def test_demo_creates_a_monitor_and_says_how_to_provoke_an_event(cli, engine):
    out = as_json(cli("demo", "--json"))
    again = as_json(cli("demo", "--json"))
    assert out["monitor_id"] == again["monitor_id"]  # idempotent
    assert any("/_sim/overrides" in line for line in out["curl"])
    assert any(f"/v1/events?monitor={out['monitor_id']}" in line for line in out["curl"])
    listed = as_json(cli("monitors", "list", "--json"))
    assert [m["id"] for m in listed] == [out["monitor_id"]]


def test_monitors_show_pause_resume(cli, engine):
    mid = as_json(cli("demo", "--json"))["monitor_id"]
    shown = as_json(cli("monitors", "show", mid, "--json"))
    assert shown["id"] == mid and shown["targets"][0]["catalog"] == "demo-shopify"
    assert as_json(cli("monitors", "pause", mid, "--json"))["paused"] is True
    assert as_json(cli("monitors", "list", "--paused", "--json"))[0]["id"] == mid
    assert "resumed" in cli("monitors", "resume", mid).stdout
    missing = cli("monitors", "show", "00000000-0000-0000-0000-000000000000", ok=False)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
