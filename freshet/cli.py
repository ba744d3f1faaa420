"""The `freshet` command line: database, tenants, catalogs, jobs, simulator, parse, demo.

Expected failures (Postgres or Redis unreachable, an unknown organization, a bad setting)
are one line on stderr and exit status 1, never a traceback. `--json` prints only JSON on
stdout; progress and notes go to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import click

from freshet.settings import Settings, SettingsError, describe, load_settings


def safe_url(url: str) -> str:
    """A URL with its password masked, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def explain(exc: BaseException, settings: Settings | None) -> str | None:
    """The one line an operator needs for an expected failure; None for a real bug."""
    import redis
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from freshet import tenants

    db = safe_url(settings.database_url) if settings else "DATABASE_URL"
    if isinstance(exc, SettingsError):
        return f"bad setting: {exc}"
    if isinstance(exc, OperationalError):
        return (
            f"cannot reach Postgres at {db}: {_first_line(exc)} "
            "(is it running? is DATABASE_URL right?)"
        )
    if isinstance(exc, ProgrammingError) and "does not exist" in str(exc.orig):
        return f"the database at {db} has no Freshet schema yet: run `freshet db upgrade`"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        where = safe_url(settings.redis_url) if settings else "REDIS_URL"
        return f"cannot reach Redis at {where}: {_first_line(exc)} (is REDIS_URL right?)"
    if isinstance(exc, (tenants.NotFound, tenants.Conflict)):
        return str(exc)
    try:
        from kombu.exceptions import OperationalError as BrokerError
    except ImportError:  # pragma: no cover - kombu comes with celery
        return None
    if isinstance(exc, BrokerError):
        return f"cannot reach the Celery broker: {_first_line(exc)}"
    return None


class FreshetGroup(click.Group):
    """Turns expected failures of any subcommand into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            settings = ctx.find_root().meta.get("freshet.settings")
            message = explain(exc, settings)
            if message is None:
                raise
            raise click.ClickException(message) from None


def _settings() -> Settings:
    ctx = click.get_current_context().find_root()
    if "freshet.settings" not in ctx.meta:
        ctx.meta["freshet.settings"] = load_settings()
    return ctx.meta["freshet.settings"]


def engine():
    """One engine per command, disposed when the command ends."""
    ctx = click.get_current_context().find_root()
    eng = ctx.meta.get("freshet.engine")
    if eng is None:
        from store.db import make_engine

        eng = make_engine(_settings().database_url, pool_size=1)
        ctx.meta["freshet.engine"] = eng
        ctx.call_on_close(eng.dispose)
    return eng


def runtime():
    """Settings, Postgres, Redis and a publisher, closed when the command ends."""
    ctx = click.get_current_context().find_root()
    rt = ctx.meta.get("freshet.runtime")
    if rt is None:
        from freshet.runtime import build_runtime
        from workers.celery_app import create_celery
        from workers.publish import CeleryPublisher

        settings = _settings()
        celery = create_celery(settings)
        rt = build_runtime(settings, CeleryPublisher(celery), pool_size=1)
        ctx.meta["freshet.runtime"] = rt
        ctx.call_on_close(rt.close)
        ctx.call_on_close(celery.close)
    return rt


def _out(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def note(message: str) -> None:
    """Progress and hints: stderr, so stdout stays what a script reads."""
    click.echo(message, err=True)


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


json_option = click.option("--json", "as_json", is_flag=True, help="JSON on stdout (for scripts)")


@click.group(cls=FreshetGroup, help="Freshet: on-demand product data refresh.")
def main() -> None:
    pass


# database ---------------------------------------------------------------------------------
@main.group(help="Database schema (Alembic migrations).")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration up to head.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from store.db import current_revision, head_revision, upgrade

    url = _settings().database_url
    before = current_revision(engine())
    target = head_revision(url) if revision == "head" else revision
    if before == target:
        click.echo(f"database already at {target}")
        return
    note(f"upgrading {safe_url(url)} from {before or 'an empty schema'} to {target} …")
    upgrade(url, revision)
    click.echo(f"database at {current_revision(engine())}")


@db.command("current", help="The schema revision the database is at, and head.")
@json_option
def db_current(as_json: bool) -> None:
    from store.db import current_revision, head_revision

    cur, head = current_revision(engine()), head_revision(_settings().database_url)
    _out(
        {"current": cur, "head": head, "at_head": cur == head},
        as_json,
        f"current {cur}, head {head}" + ("" if cur == head else " — run `freshet db upgrade`"),
    )


# plans, orgs, keys ------------------------------------------------------------------------
@main.group(help="Plans: limits and quotas, editable data.")
def plan() -> None:
    pass


def _plan_dict(p: Any) -> dict[str, Any]:
    d = dict(p.__dict__)
    d["marketplaces"], d["catalogs"] = list(d["marketplaces"]), list(d["catalogs"])
    return d


def _plan_line(p: dict[str, Any]) -> str:
    return (
        f"{p['name']:<10} tokens={p['monthly_tokens']} review_jobs={p['review_jobs_per_month']}"
        f" concurrent={p['concurrent_jobs']} cooldown={p['asin_cooldown_seconds']}s"
        f" rpm={p['requests_per_minute']} force/min={p['force_refresh_per_minute']}"
        f" marketplaces={','.join(p['marketplaces'])}"
        + (f" catalogs={','.join(p['catalogs'])}" if p["catalogs"] else "")
    )


@plan.command("list")
@json_option
def plan_list(as_json: bool) -> None:
    from freshet import tenants

    with engine().connect() as conn:
        rows = [_plan_dict(p) for p in tenants.list_plans(conn)]
    _out(rows, as_json, "\n".join(_plan_line(p) for p in rows))


@plan.command("set", help="Create or change a plan (a new plan starts from free's values).")
@click.argument("name")
@click.option("--monthly-tokens", type=click.IntRange(min=0))
@click.option("--review-jobs-per-month", type=click.IntRange(min=0))
@click.option("--concurrent-jobs", type=click.IntRange(min=1))
@click.option("--asin-cooldown-seconds", type=click.IntRange(min=0))
@click.option("--requests-per-minute", type=click.IntRange(min=1))
@click.option("--force-refresh-per-minute", type=click.IntRange(min=0))
@click.option("--marketplaces", help="comma separated, e.g. amazon.de,amazon.fr")
@click.option("--catalogs", help="catalog slugs every organization on this plan may use")
@json_option
def plan_set(
    name: str, as_json: bool, marketplaces: str | None, catalogs: str | None, **values: Any
) -> None:
    from freshet import tenants

    if marketplaces is not None:
        values["marketplaces"] = [m.strip() for m in marketplaces.split(",") if m.strip()]
    if catalogs is not None:
        values["catalogs"] = [c.strip() for c in catalogs.split(",") if c.strip()]
    with engine().begin() as conn:
        p = _plan_dict(tenants.upsert_plan(conn, name, **values))
    _out(p, as_json, f"plan saved: {_plan_line(p)}")


@main.group(help="Organizations (tenants).")
def org() -> None:
    pass


@org.command("create")
@click.argument("name")
@click.option("--plan", "plan_name", default="free", show_default=True)
@json_option
def org_create(name: str, plan_name: str, as_json: bool) -> None:
    from freshet import tenants

    with engine().begin() as conn:
        org_id = tenants.create_org(conn, name, plan_name)
    _out(
        {"id": org_id, "name": name, "plan": plan_name},
        as_json,
        f"organization {name} created on plan {plan_name}",
    )


@org.command("list")
@json_option
def org_list(as_json: bool) -> None:
    from freshet import tenants

    with engine().connect() as conn:
        rows = tenants.list_orgs(conn)
    _out(rows, as_json, "\n".join(f"{r['id']:>5} {r['name']:<24} {r['plan']}" for r in rows))


@org.command("set-plan")
@click.argument("name")
@click.argument("plan_name")
def org_set_plan(name: str, plan_name: str) -> None:
    from freshet import tenants

    with engine().begin() as conn:
        tenants.org_id_by_name(conn, name)
        tenants.set_org_plan(conn, name, plan_name)
    click.echo(f"organization {name} now on plan {plan_name}")


@main.group(help="API keys: stored hashed; a new key is printed once.")
def key() -> None:
    pass


@key.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--test", "test_key", is_flag=True, help="an rk_test_ key")
@click.option("--label")
@json_option
def key_create(org_name: str, test_key: bool, label: str | None, as_json: bool) -> None:
    from freshet import tenants

    with engine().begin() as conn:
        secret, key_id = tenants.create_key(conn, org_name, live=not test_key, label=label)
    _out(
        {
            "id": key_id,
            "org": org_name,
            "api_key": secret,
            "prefix": tenants.display_prefix(secret),
        },
        as_json,
        secret,
    )
    if not as_json:
        note("(shown once; store it now — Freshet keeps only its hash)")


@key.command("list")
@click.option("--org", "org_name")
@json_option
def key_list(org_name: str | None, as_json: bool) -> None:
    from freshet import tenants

    with engine().connect() as conn:
        rows = tenants.list_keys(conn, org_name)
    _out(
        rows,
        as_json,
        "\n".join(
            f"{r['id']:>5} {r['prefix']}… {r['org']:<20} "
            f"{'revoked' if r['revoked_at'] else 'active'}"
            for r in rows
        ),
    )


@key.command("revoke", help="Revoke by key id or display prefix.")
@click.argument("key_id_or_prefix")
def key_revoke(key_id_or_prefix: str) -> None:
    from freshet import tenants

    with engine().begin() as conn:
        n = tenants.revoke_key(conn, key_id_or_prefix)
    if not n:
        _fail(f"no active key matches {key_id_or_prefix!r}")
    click.echo(f"revoked {n} key(s)")


# catalogs ----------------------------------------------------------------------------------
@main.group(help="Catalogs: a source and the domains its product URLs live under.")
def catalog() -> None:
    pass


@catalog.command("create")
@click.argument("slug")
@click.option("--source", required=True, type=click.Choice(["shopify", "jsonld", "walmart"]))
@click.option(
    "--domain",
    "domains",
    multiple=True,
    required=True,
    help="HOST[:PORT][/PATH]; repeat for several",
)
@click.option(
    "--politeness", type=click.FloatRange(min=0), help="max requests per second to its hosts"
)
@click.option("--update", is_flag=True, help="overwrite an existing catalog")
@json_option
def catalog_create(
    slug: str,
    source: str,
    domains: tuple[str, ...],
    politeness: float | None,
    update: bool,
    as_json: bool,
) -> None:
    from freshet import tenants

    for d in domains:
        if "://" in d or not d.strip("/"):
            raise click.BadParameter(
                f"{d!r}: give HOST[:PORT][/PATH], without a scheme", param_hint="--domain"
            )
    try:
        with engine().begin() as conn:
            cid = tenants.create_catalog(
                conn, slug, source, list(domains), politeness, exist_ok=update
            )
    except tenants.Conflict as exc:
        _fail(f"{exc} (use --update to change it)")
    _out(
        {"id": cid, "slug": slug, "source": source, "domains": list(domains)},
        as_json,
        f"catalog {slug} ({source}) on {', '.join(domains)}",
    )


@catalog.command("list")
@json_option
def catalog_list(as_json: bool) -> None:
    from freshet import tenants

    with engine().connect() as conn:
        rows = tenants.list_catalogs(conn)
    _out(
        rows,
        as_json,
        "\n".join(f"{r['slug']:<20} {r['source']:<8} {', '.join(r['domains'])}" for r in rows),
    )


@main.command("grant", help="Let an organization use a catalog.")
@click.option("--org", "org_name", required=True)
@click.option("--catalog", "catalog_slug", required=True)
@click.option("--revoke", is_flag=True)
@json_option
def grant_cmd(org_name: str, catalog_slug: str, revoke: bool, as_json: bool) -> None:
    from freshet import tenants

    with engine().begin() as conn:
        if revoke:
            tenants.revoke_grant(conn, org_name, catalog_slug)
        else:
            tenants.grant(conn, org_name, catalog_slug)
    _out(
        {"org": org_name, "catalog": catalog_slug, "granted": not revoke},
        as_json,
        f"{'revoked' if revoke else 'granted'} {catalog_slug} for {org_name}",
    )


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
@click.option(
    "--source",
    "source_name",
    required=True,
    type=click.Choice(["shopify", "jsonld", "walmart", "amazon_reviews"]),
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--url", help="the URL the page was saved from")
@click.option("--json", "as_json", is_flag=True, help="JSON only (for scripts)")
def parse_cmd(source_name: str, file: str, url: str | None, as_json: bool) -> None:
    from sources.record import SourceError
    from sources.registry import parse_document

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
@json_option
def demo_cmd(simulator_url: str | None, api_url: str | None, as_json: bool) -> None:
    from freshet.demo import curl_commands, seed_demo

    s = _settings()
    sim = simulator_url or s.simulator_url
    if not sim.startswith(("http://", "https://")):
        raise click.BadParameter(f"{sim!r} is not an http(s) URL", param_hint="--simulator-url")
    with engine().begin() as conn:
        out = seed_demo(conn, sim)
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
@click.option("--markdown", is_flag=True, help="as the README's table")
@json_option
def settings_cmd(markdown: bool, as_json: bool) -> None:
    rows = describe()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"variable": r[0], "default": r[1], "meaning": r[2] if len(r) > 2 else ""}
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if markdown:
        click.echo("| variable | default | meaning |\n|---|---|---|")
    for name, default, *meaning in rows:
        click.echo(
            f"| `{name}` | `{default}` | {''.join(meaning)} |" if markdown else f"{name}={default}"
        )


if __name__ == "__main__":
    main()
