"""The `freshet` command line: database, tenants, catalogs, jobs, simulator, parse, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from freshet.settings import describe, load_settings


def _settings():
    return load_settings()


def _engine():
    from store.db import make_engine

    return make_engine(_settings().database_url, pool_size=1)


def _out(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(help="Freshet: on-demand product data refresh.")
def main() -> None:
    pass


# database ---------------------------------------------------------------------------------
@main.group(help="Database schema (Alembic migrations).")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration up to head.")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    from store.db import upgrade

    upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


# plans, orgs, keys ------------------------------------------------------------------------
@main.group(help="Plans: limits and quotas, editable data.")
def plan() -> None:
    pass


@plan.command("list")
@click.option("--json", "as_json", is_flag=True)
def plan_list(as_json: bool) -> None:
    from freshet import tenants

    with _engine().connect() as conn:
        rows = [p.__dict__ for p in tenants.list_plans(conn)]
    lines = [f"{p['name']:<10} tokens={p['monthly_tokens']} review_jobs={p['review_jobs_per_month']}"
             f" concurrent={p['concurrent_jobs']} cooldown={p['asin_cooldown_seconds']}s"
             f" rpm={p['requests_per_minute']} force/min={p['force_refresh_per_minute']}"
             f" marketplaces={','.join(p['marketplaces'])}" for p in rows]
    _out(rows, as_json, "\n".join(lines))


@plan.command("set", help="Create or change a plan (a new plan starts from free's values).")
@click.argument("name")
@click.option("--monthly-tokens", type=int)
@click.option("--review-jobs-per-month", type=int)
@click.option("--concurrent-jobs", type=int)
@click.option("--asin-cooldown-seconds", type=int)
@click.option("--requests-per-minute", type=int)
@click.option("--force-refresh-per-minute", type=int)
@click.option("--marketplaces", help="comma separated, e.g. amazon.de,amazon.fr")
@click.option("--catalogs", help="catalog slugs every organization on this plan may use")
@click.option("--json", "as_json", is_flag=True)
def plan_set(name: str, as_json: bool, marketplaces: str | None, catalogs: str | None,
             **values: Any) -> None:
    from freshet import tenants

    if marketplaces is not None:
        values["marketplaces"] = [m.strip() for m in marketplaces.split(",") if m.strip()]
    if catalogs is not None:
        values["catalogs"] = [c.strip() for c in catalogs.split(",") if c.strip()]
    with _engine().begin() as conn:
        p = tenants.upsert_plan(conn, name, **values)
    _out(p.__dict__, as_json, f"plan {name} saved")


@main.group(help="Organizations (tenants).")
def org() -> None:
    pass


@org.command("create")
@click.argument("name")
@click.option("--plan", "plan_name", default="free", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def org_create(name: str, plan_name: str, as_json: bool) -> None:
    from freshet import tenants

    try:
        with _engine().begin() as conn:
            org_id = tenants.create_org(conn, name, plan_name)
    except (tenants.Conflict, tenants.NotFound) as exc:
        _fail(str(exc))
    _out({"id": org_id, "name": name, "plan": plan_name}, as_json,
         f"organization {name} created on plan {plan_name}")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
def org_list(as_json: bool) -> None:
    from freshet import tenants

    with _engine().connect() as conn:
        rows = tenants.list_orgs(conn)
    _out(rows, as_json, "\n".join(f"{r['id']:>5} {r['name']:<24} {r['plan']}" for r in rows))


@org.command("set-plan")
@click.argument("name")
@click.argument("plan_name")
def org_set_plan(name: str, plan_name: str) -> None:
    from freshet import tenants

    try:
        with _engine().begin() as conn:
            tenants.set_org_plan(conn, name, plan_name)
    except tenants.NotFound as exc:
        _fail(str(exc))
    click.echo(f"organization {name} now on plan {plan_name}")


@main.group(help="API keys: stored hashed; a new key is printed once.")
def key() -> None:
    pass


@key.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--test", "test_key", is_flag=True, help="an rk_test_ key")
@click.option("--label")
@click.option("--json", "as_json", is_flag=True)
def key_create(org_name: str, test_key: bool, label: str | None, as_json: bool) -> None:
    from freshet import tenants

    try:
        with _engine().begin() as conn:
            secret, key_id = tenants.create_key(conn, org_name, live=not test_key, label=label)
    except tenants.NotFound as exc:
        _fail(str(exc))
    _out({"id": key_id, "org": org_name, "api_key": secret, "prefix": secret[:12]}, as_json,
         f"{secret}\n(shown once; store it now — Freshet keeps only its hash)")


@key.command("list")
@click.option("--org", "org_name")
@click.option("--json", "as_json", is_flag=True)
def key_list(org_name: str | None, as_json: bool) -> None:
    from freshet import tenants

    with _engine().connect() as conn:
        rows = tenants.list_keys(conn, org_name)
    _out(rows, as_json, "\n".join(
        f"{r['id']:>5} {r['prefix']}… {r['org']:<20} "
        f"{'revoked' if r['revoked_at'] else 'active'}" for r in rows))


@key.command("revoke", help="Revoke by key id or display prefix.")
@click.argument("key_id_or_prefix")
def key_revoke(key_id_or_prefix: str) -> None:
    from freshet import tenants

    with _engine().begin() as conn:
        n = tenants.revoke_key(conn, key_id_or_prefix)
    if not n:
        _fail("no active key matches")
    click.echo(f"revoked {n} key(s)")


# catalogs ----------------------------------------------------------------------------------
@main.group(help="Catalogs: a source and the domains its product URLs live under.")
def catalog() -> None:
    pass


@catalog.command("create")
@click.argument("slug")
@click.option("--source", required=True, type=click.Choice(["shopify", "jsonld", "walmart"]))
@click.option("--domain", "domains", multiple=True, required=True,
              help="HOST[:PORT][/PATH]; repeat for several")
@click.option("--politeness", type=float, help="max requests per second to its hosts")
@click.option("--update", is_flag=True, help="overwrite an existing catalog")
@click.option("--json", "as_json", is_flag=True)
def catalog_create(slug: str, source: str, domains: tuple[str, ...], politeness: float | None,
                   update: bool, as_json: bool) -> None:
    from freshet import tenants

    try:
        with _engine().begin() as conn:
            cid = tenants.create_catalog(conn, slug, source, list(domains), politeness,
                                         exist_ok=update)
    except tenants.Conflict as exc:
        _fail(f"{exc} (use --update to change it)")
    _out({"id": cid, "slug": slug, "source": source, "domains": list(domains)}, as_json,
         f"catalog {slug} ({source}) on {', '.join(domains)}")


@catalog.command("list")
@click.option("--json", "as_json", is_flag=True)
def catalog_list(as_json: bool) -> None:
    from freshet import tenants

    with _engine().connect() as conn:
        rows = tenants.list_catalogs(conn)
    _out(rows, as_json, "\n".join(
        f"{r['slug']:<20} {r['source']:<8} {', '.join(r['domains'])}" for r in rows))


@main.command("grant", help="Let an organization use a catalog.")
@click.option("--org", "org_name", required=True)
@click.option("--catalog", "catalog_slug", required=True)
@click.option("--revoke", is_flag=True)
def grant_cmd(org_name: str, catalog_slug: str, revoke: bool) -> None:
    from freshet import tenants

    try:
        with _engine().begin() as conn:
            if revoke:
                tenants.revoke_grant(conn, org_name, catalog_slug)
            else:
                tenants.grant(conn, org_name, catalog_slug)
    except tenants.NotFound as exc:
        _fail(str(exc))
    click.echo(f"{'revoked' if revoke else 'granted'} {catalog_slug} for {org_name}")


# jobs -----------------------------------------------------------------------------------
from freshet.cli_jobs import jobs as jobs_group  # noqa: E402

main.add_command(jobs_group)


# simulator, parse, demo, settings ---------------------------------------------------------
@main.command("simulator", help="Run the bundled upstream simulator.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, envvar="PORT", type=int)
def simulator_cmd(host: str, port: int) -> None:
    from simulator.app import run

    run(host=host, port=port)


@main.command("parse", help="Print the normalized record a source makes of a saved page.")
@click.option("--source", "source_name", required=True,
              type=click.Choice(["shopify", "jsonld", "walmart", "amazon_reviews"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--url", help="the URL the page was saved from")
@click.option("--json", "as_json", is_flag=True, help="JSON only (for scripts)")
def parse_cmd(source_name: str, file: str, url: str | None, as_json: bool) -> None:
    from sources.registry import parse_document

    from sources.record import SourceError

    text = sys.stdin.read() if file == "-" else Path(file).read_text(errors="replace")
    try:
        record = parse_document(source_name, text, url)
    except SourceError as exc:
        _fail(f"{source_name} could not parse {file}: {exc}")
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str, ensure_ascii=False))
        return
    for k, v in record.items():
        if v not in (None, [], {}, ""):
            shown = json.dumps(v, default=str, ensure_ascii=False)
            click.echo(f"{k:>22}: {shown[:200]}")


@main.command("demo", help="Seed a demo organization, key and simulator catalogs.")
@click.option("--simulator-url", default=None, help="default: FRESHET_SIMULATOR_URL")
@click.option("--api-url", default=None, help="default: FRESHET_API_URL")
@click.option("--json", "as_json", is_flag=True)
def demo_cmd(simulator_url: str | None, api_url: str | None, as_json: bool) -> None:
    from freshet.demo import curl_commands, seed_demo

    s = _settings()
    with _engine().begin() as conn:
        out = seed_demo(conn, simulator_url or s.simulator_url)
    out["curl"] = curl_commands(api_url or s.api_url, out)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"organization: {out['org']} (plan {out['plan']})")
    click.echo(f"API key (shown once): {out['api_key']}")
    for c in out["catalogs"]:
        click.echo(f"catalog {c['slug']} ({c['source']}): {', '.join(c['domains'])}")
    click.echo("\nTry:")
    for line in out["curl"]:
        click.echo(f"  {line}")


@main.command("settings", help="Every setting, its environment variable and default.")
@click.option("--markdown", is_flag=True)
def settings_cmd(markdown: bool) -> None:
    for name, default in describe():
        click.echo(f"| `{name}` | `{default}` |" if markdown else f"{name}={default}")


if __name__ == "__main__":
    main()
