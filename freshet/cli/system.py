"""`freshet db|simulator|parse|demo|settings`: the schema, the bundled upstream, what a source
makes of a saved page, the demo tenant, and every setting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from freshet.cli.base import engine, fail, json_option, note, out, safe_url, settings
from freshet.cli.demo import curl_commands, seed_demo
from freshet.settings import describe
from simulator.server import run
from sources.record import SourceError
from sources.registry import parse_document
from store.db import current_revision, head_revision, upgrade


@click.group(help="Database schema (Alembic migrations).")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration up to head.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:

    url = settings().database_url
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

    cur, head = current_revision(engine()), head_revision(settings().database_url)
    out(
        {"current": cur, "head": head, "at_head": cur == head},
        as_json,
        f"current {cur}, head {head}" + ("" if cur == head else " — run `freshet db upgrade`"),
    )


@click.command("simulator", help="Run the bundled upstream simulator.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, envvar="PORT", type=int)
def simulator_cmd(host: str, port: int) -> None:

    run(host=host, port=port)


@click.command("parse", help="Print the normalized record a source makes of a saved page.")
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

    text = sys.stdin.read() if file == "-" else Path(file).read_text(errors="replace")
    try:
        record = parse_document(source_name, text, url)
    except SourceError as exc:
        fail(f"{source_name} could not parse {file}: {exc}")
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str, ensure_ascii=False))
        return
    for k, v in record.items():
        if v not in (None, [], {}, ""):
            shown = json.dumps(v, default=str, ensure_ascii=False)
            click.echo(f"{k:>22}: {shown[:200]}")


@click.command("demo", help="Seed a demo organization, key and simulator catalogs.")
@click.option("--simulator-url", default=None, help="default: FRESHET_SIMULATOR_URL")
@click.option("--api-url", default=None, help="default: FRESHET_API_URL")
@json_option
def demo_cmd(simulator_url: str | None, api_url: str | None, as_json: bool) -> None:

    s = settings()
    sim = simulator_url or s.simulator_url
    if not sim.startswith(("http://", "https://")):
        raise click.BadParameter(f"{sim!r} is not an http(s) URL", param_hint="--simulator-url")
    with engine().begin() as conn:
        out = seed_demo(conn, sim, s.secrets_keys)
    out["curl"] = curl_commands(api_url or s.api_url, out)
    out["console"] = (api_url or s.api_url).rstrip("/") + "/console"
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"organization: {out['org']} (plan {out['plan']})")
    click.echo(f"API key (shown once): {out['api_key']}")
    click.echo(f"console: {out['console']} (sign in with the API key)")
    for c in out["catalogs"]:
        click.echo(f"catalog {c['slug']} ({c['source']}): {', '.join(c['domains'])}")
    click.echo("\nTry:")
    for line in out["curl"]:
        click.echo(f"  {line}")


@click.command("settings", help="Every setting, its environment variable and default.")
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
