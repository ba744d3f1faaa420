"""`freshet plan|org|key|catalog|grant`: managing tenants and what they may use."""

from __future__ import annotations

from typing import Any

import click

from freshet import accounts
from freshet.cli.base import engine, fail, json_option, note, out, settings


@click.group(help="Plans: limits and quotas, editable data.")
def plan() -> None:
    pass


def _plan_dict(p: Any) -> dict[str, Any]:
    d = dict(p.__dict__)
    d["marketplaces"], d["catalogs"] = list(d["marketplaces"]), list(d["catalogs"])
    d["concurrency_kinds"] = list(d["concurrency_kinds"])
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

    with engine().connect() as conn:
        rows = [_plan_dict(p) for p in accounts.list_plans(conn)]
    out(rows, as_json, "\n".join(_plan_line(p) for p in rows))


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
@click.option(
    "--concurrency-kinds", help="job kinds --concurrent-jobs counts: reviews,product (reviews)"
)
@click.option(
    "--fair-share-weight",
    type=click.FloatRange(min=0, min_open=True),
    help="its organizations' share of batch work, relative to other plans' (default 1)",
)
@json_option
def plan_set(
    name: str,
    as_json: bool,
    marketplaces: str | None,
    catalogs: str | None,
    concurrency_kinds: str | None,
    **values: Any,
) -> None:

    if marketplaces is not None:
        values["marketplaces"] = [m.strip() for m in marketplaces.split(",") if m.strip()]
    if catalogs is not None:
        values["catalogs"] = [c.strip() for c in catalogs.split(",") if c.strip()]
    if concurrency_kinds is not None:
        values["concurrency_kinds"] = [k.strip() for k in concurrency_kinds.split(",") if k]
    with engine().begin() as conn:
        try:
            p = _plan_dict(accounts.upsert_plan(conn, name, **values))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    out(p, as_json, f"plan saved: {_plan_line(p)}")


@click.group(help="Organizations (tenants).")
def org() -> None:
    pass


@org.command("create")
@click.argument("name")
@click.option("--plan", "plan_name", default="free", show_default=True)
@json_option
def org_create(name: str, plan_name: str, as_json: bool) -> None:

    with engine().begin() as conn:
        org_id, secret = accounts.create_org_with_secret(
            conn, name, plan_name, secrets_keys=settings().secrets_keys
        )
    out(
        {"id": org_id, "name": name, "plan": plan_name, "webhook_secret": secret},
        as_json,
        f"organization {name} created on plan {plan_name}\nwebhook secret: {secret}",
    )
    if not as_json:
        note("(the webhook secret is shown once; it signs this organization's webhooks)")


@org.command(
    "rotate-webhook-secret",
    help="A new webhook secret for the organization, shown once; the previous one keeps "
    "signing for 24 hours.",
)
@click.argument("name")
@json_option
def org_rotate_webhook_secret(name: str, as_json: bool) -> None:

    with engine().begin() as conn:
        org_id = accounts.org_id_by_name(conn, name)
        secret, until = accounts.rotate_webhook_secret(conn, org_id, settings().secrets_keys)
    out(
        {"org": name, "webhook_secret": secret, "previous_valid_until": until},
        as_json,
        secret,
    )
    if not as_json:
        note(
            "(shown once; the previous secret is still sent until "
            f"{until.isoformat() if until else 'never: there was none'})"
        )


@org.command("list")
@json_option
def org_list(as_json: bool) -> None:

    with engine().connect() as conn:
        rows = accounts.list_orgs(conn)
    out(rows, as_json, "\n".join(f"{r['id']:>5} {r['name']:<24} {r['plan']}" for r in rows))


@org.command("set-plan")
@click.argument("name")
@click.argument("plan_name")
def org_set_plan(name: str, plan_name: str) -> None:

    with engine().begin() as conn:
        accounts.org_id_by_name(conn, name)
        accounts.set_org_plan(conn, name, plan_name)
    click.echo(f"organization {name} now on plan {plan_name}")


@click.group(help="API keys: stored hashed; a new key is printed once.")
def key() -> None:
    pass


@key.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--test", "test_key", is_flag=True, help="an rk_test_ key")
@click.option("--label")
@click.option("--operator", is_flag=True, help="an operator key: sees every organization")
@json_option
def key_create(
    org_name: str, test_key: bool, label: str | None, operator: bool, as_json: bool
) -> None:

    with engine().begin() as conn:
        secret, key_id = accounts.create_key(
            conn, org_name, live=not test_key, label=label, operator=operator
        )
    out(
        {
            "id": key_id,
            "org": org_name,
            "api_key": secret,
            "prefix": accounts.display_prefix(secret),
            "operator": operator,
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

    with engine().connect() as conn:
        rows = accounts.list_keys(conn, org_name)
    out(
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

    with engine().begin() as conn:
        n = accounts.revoke_key(conn, key_id_or_prefix)
    if not n:
        fail(f"no active key matches {key_id_or_prefix!r}")
    click.echo(f"revoked {n} key(s)")


# catalogs ----------------------------------------------------------------------------------
@click.group(help="Catalogs: a source and the domains its product URLs live under.")
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

    for d in domains:
        if "://" in d or not d.strip("/"):
            raise click.BadParameter(
                f"{d!r}: give HOST[:PORT][/PATH], without a scheme", param_hint="--domain"
            )
    try:
        with engine().begin() as conn:
            cid = accounts.create_catalog(
                conn, slug, source, list(domains), politeness, exist_ok=update
            )
    except accounts.Conflict as exc:
        fail(f"{exc} (use --update to change it)")
    out(
        {"id": cid, "slug": slug, "source": source, "domains": list(domains)},
        as_json,
        f"catalog {slug} ({source}) on {', '.join(domains)}",
    )


@catalog.command("list")
@json_option
def catalog_list(as_json: bool) -> None:

    with engine().connect() as conn:
        rows = accounts.list_catalogs(conn)
    out(
        rows,
        as_json,
        "\n".join(f"{r['slug']:<20} {r['source']:<8} {', '.join(r['domains'])}" for r in rows),
    )


@click.command("grant", help="Let an organization use a catalog.")
@click.option("--org", "org_name", required=True)
@click.option("--catalog", "catalog_slug", required=True)
@click.option("--revoke", is_flag=True)
@json_option
def grant_cmd(org_name: str, catalog_slug: str, revoke: bool, as_json: bool) -> None:

    with engine().begin() as conn:
        if revoke:
            accounts.revoke_grant(conn, org_name, catalog_slug)
        else:
            accounts.grant(conn, org_name, catalog_slug)
    out(
        {"org": org_name, "catalog": catalog_slug, "granted": not revoke},
        as_json,
        f"{'revoked' if revoke else 'granted'} {catalog_slug} for {org_name}",
    )
