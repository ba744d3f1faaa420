"""Organizations, plans, API keys and catalog grants."""

from __future__ import annotations

import hashlib
import hmac
import secrets as stdlib_secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.functions import FunctionElement

from freshet.accounts import secrets
from store.tables import api_keys, catalogs, grants, organizations, plans

KEY_PREFIXES = ("rk_live_", "rk_test_")
PLAN_FIELDS = (
    "monthly_tokens",
    "review_jobs_per_month",
    "concurrent_jobs",
    "asin_cooldown_seconds",
    "requests_per_minute",
    "force_refresh_per_minute",
    "marketplaces",
    "catalogs",
    "concurrency_kinds",
    "fair_share_weight",  # 0007: its share of the batch window (fair share), relative
)
# The job kinds a plan's concurrent_jobs limit may count (migration 0009).
CONCURRENCY_KINDS = ("reviews", "product")


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True)
class Plan:
    name: str
    monthly_tokens: int
    review_jobs_per_month: int
    concurrent_jobs: int
    asin_cooldown_seconds: int
    requests_per_minute: int
    force_refresh_per_minute: int
    marketplaces: tuple[str, ...]
    catalogs: tuple[str, ...]
    concurrency_kinds: tuple[str, ...] = ("reviews",)
    fair_share_weight: float = 1.0

    @classmethod
    def from_row(cls, row: Any) -> Plan:
        m = row._mapping
        return cls(
            name=m["name"],
            **{f: m[f] for f in PLAN_FIELDS[:6]},
            marketplaces=tuple(m["marketplaces"]),
            catalogs=tuple(m["catalogs"]),
            concurrency_kinds=tuple(m.get("concurrency_kinds") or ("reviews",)),
            fair_share_weight=float(m.get("fair_share_weight", 1.0)),
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key and its organization with its plan."""

    key_id: int
    key_prefix: str
    org_id: int
    org_name: str
    plan: Plan
    operator: bool = False  # an operator key sees every organization (the console)


def hash_key(key: str) -> str:
    # Keys carry 190+ bits of randomness, so a fast hash is as good as a slow one here.
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(live: bool = True) -> str:
    return ("rk_live_" if live else "rk_test_") + stdlib_secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    return key[:12]


# plans --------------------------------------------------------------------------------------
def get_plan(conn: Connection, name: str) -> Plan:
    row = conn.execute(select(plans).where(plans.c.name == name)).first()
    if row is None:
        raise NotFound(f"plan {name!r} does not exist")
    return Plan.from_row(row)


def list_plans(conn: Connection) -> list[Plan]:
    return [Plan.from_row(r) for r in conn.execute(select(plans).order_by(plans.c.monthly_tokens))]


def upsert_plan(conn: Connection, name: str, **values: Any) -> Plan:
    unknown = set(values) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"unknown plan fields: {', '.join(sorted(unknown))}")
    values = {k: v for k, v in values.items() if v is not None}
    bad_kinds = set(values.get("concurrency_kinds") or ()) - set(CONCURRENCY_KINDS)
    if bad_kinds:
        raise ValueError(
            f"concurrency_kinds may only name {', '.join(CONCURRENCY_KINDS)}, "
            f"not {', '.join(sorted(bad_kinds))}"
        )
    if "concurrency_kinds" in values:
        values["concurrency_kinds"] = list(values["concurrency_kinds"])
    existing = conn.execute(select(plans.c.name).where(plans.c.name == name)).first()
    if existing:
        if values:
            conn.execute(update(plans).where(plans.c.name == name).values(**values))
    else:
        base = get_plan(conn, "free")
        row = {f: getattr(base, f) for f in PLAN_FIELDS} | values
        row["marketplaces"] = list(row["marketplaces"])
        row["catalogs"] = list(row["catalogs"])
        row["concurrency_kinds"] = list(row["concurrency_kinds"])
        conn.execute(insert(plans).values(name=name, **row))
    return get_plan(conn, name)


# organizations ----------------------------------------------------------------------------
def create_org(
    conn: Connection,
    name: str,
    plan: str = "free",
    *,
    exist_ok: bool = False,
    secrets_keys: Sequence[str] = (),
) -> int:
    return create_org_with_secret(conn, name, plan, exist_ok=exist_ok, secrets_keys=secrets_keys)[0]


def create_org_with_secret(
    conn: Connection,
    name: str,
    plan: str = "free",
    *,
    exist_ok: bool = False,
    secrets_keys: Sequence[str] = (),
) -> tuple[int, str | None]:
    """(id, its webhook secret in clear — shown this once; None when it already existed)."""
    get_plan(conn, plan)
    row = conn.execute(
        insert(organizations)
        .values(name=name, plan=plan)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(organizations.c.id)
    ).first()
    if row is not None:
        org_id = int(row[0])
        return org_id, secrets.set_initial(conn, org_id, secrets_keys)
    if not exist_ok:
        raise Conflict(f"organization {name!r} already exists")
    return org_id_by_name(conn, name), None


def org_id_by_name(conn: Connection, name: str) -> int:
    row = conn.execute(select(organizations.c.id).where(organizations.c.name == name)).first()
    if row is None:
        raise NotFound(f"organization {name!r} does not exist")
    return int(row[0])


def set_org_plan(conn: Connection, name: str, plan: str) -> None:
    get_plan(conn, plan)
    conn.execute(update(organizations).where(organizations.c.name == name).values(plan=plan))


def list_orgs(conn: Connection) -> list[dict[str, Any]]:
    cols = [organizations.c.id, organizations.c.name, organizations.c.plan]
    rows = conn.execute(select(*cols, organizations.c.created_at).order_by(organizations.c.id))
    return [dict(r._mapping) for r in rows]


# keys -------------------------------------------------------------------------------------
def create_key(
    conn: Connection,
    org_name: str,
    *,
    live: bool = True,
    label: str | None = None,
    operator: bool = False,
) -> tuple[str, int]:
    """A new key for the organization: (the key in clear, shown this once; its id)."""
    org_id = org_id_by_name(conn, org_name)
    key = new_key(live)
    key_id = conn.execute(
        insert(api_keys)
        .values(
            org_id=org_id,
            prefix=display_prefix(key),
            key_hash=hash_key(key),
            label=label,
            operator=operator,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return key, int(key_id)


def revoke_key(conn: Connection, key_id_or_prefix: str) -> int:
    cond = (
        (api_keys.c.id == int(key_id_or_prefix))
        if key_id_or_prefix.isdigit()
        else (api_keys.c.prefix == key_id_or_prefix)
    )
    res = conn.execute(
        update(api_keys).where(cond, api_keys.c.revoked_at.is_(None)).values(revoked_at=_now_sql())
    )
    return res.rowcount


def list_keys(conn: Connection, org_name: str | None = None) -> list[dict[str, Any]]:
    q = (
        select(
            api_keys.c.id,
            api_keys.c.prefix,
            api_keys.c.label,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
            organizations.c.name.label("org"),
        )
        .join(organizations, organizations.c.id == api_keys.c.org_id)
        .order_by(api_keys.c.id)
    )
    if org_name:
        q = q.where(organizations.c.name == org_name)
    return [dict(r._mapping) for r in conn.execute(q)]


def authenticate(conn: Connection, key: str) -> Principal | None:
    if not key.startswith(KEY_PREFIXES) or len(key) > 200:
        return None
    digest = hash_key(key)
    row = conn.execute(
        select(
            api_keys.c.id,
            api_keys.c.prefix,
            api_keys.c.key_hash,
            api_keys.c.operator,
            organizations.c.id.label("org_id"),
            organizations.c.name.label("org_name"),
            plans,
        )
        .join(organizations, organizations.c.id == api_keys.c.org_id)
        .join(plans, plans.c.name == organizations.c.plan)
        .where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
    ).first()
    # The lookup is by digest; comparing again in constant time keeps timing flat regardless.
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Principal(
        key_id=row.id,
        key_prefix=row.prefix,
        org_id=row.org_id,
        org_name=row.org_name,
        plan=Plan.from_row(row),
        operator=bool(row.operator),
    )


def principal_of_key(conn: Connection, key_id: int) -> Principal | None:
    """The principal of a key by its id (a console session keeps only the id); None if revoked."""
    row = conn.execute(
        select(
            api_keys.c.id,
            api_keys.c.prefix,
            api_keys.c.operator,
            organizations.c.id.label("org_id"),
            organizations.c.name.label("org_name"),
            plans,
        )
        .join(organizations, organizations.c.id == api_keys.c.org_id)
        .join(plans, plans.c.name == organizations.c.plan)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return Principal(row.id, row.prefix, row.org_id, row.org_name, Plan.from_row(row), row.operator)


def org_principal(conn: Connection, name: str) -> Principal | None:
    """An organization as a principal with no key (an operator looking at its usage)."""
    row = conn.execute(
        select(organizations.c.id.label("org_id"), organizations.c.name.label("org_name"), plans)
        .join(plans, plans.c.name == organizations.c.plan)
        .where(organizations.c.name == name)
    ).first()
    if row is None:
        return None
    return Principal(0, "", row.org_id, row.org_name, Plan.from_row(row))


def _now_sql() -> FunctionElement[Any]:

    return func.now()


# catalogs and grants ----------------------------------------------------------------------
def create_catalog(
    conn: Connection,
    slug: str,
    source: str,
    domains: list[str],
    politeness_per_second: float | None = None,
    *,
    exist_ok: bool = False,
) -> int:
    values = dict(
        slug=slug, source=source, domains=domains, politeness_per_second=politeness_per_second
    )
    stmt = insert(catalogs).values(**values)
    if exist_ok:
        stmt = stmt.on_conflict_do_update(index_elements=["slug"], set_=values)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["slug"])
    row = conn.execute(stmt.returning(catalogs.c.id)).first()
    if row is None:
        raise Conflict(f"catalog {slug!r} already exists")
    return int(row[0])


def catalog_id_by_slug(conn: Connection, slug: str) -> int:
    row = conn.execute(select(catalogs.c.id).where(catalogs.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"catalog {slug!r} does not exist")
    return int(row[0])


def list_catalogs(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(catalogs).order_by(catalogs.c.slug))]


def grant(conn: Connection, org_name: str, catalog_slug: str) -> None:
    conn.execute(
        insert(grants)
        .values(
            org_id=org_id_by_name(conn, org_name), catalog_id=catalog_id_by_slug(conn, catalog_slug)
        )
        .on_conflict_do_nothing()
    )


def revoke_grant(conn: Connection, org_name: str, catalog_slug: str) -> int:
    res = conn.execute(
        grants.delete().where(
            grants.c.org_id == org_id_by_name(conn, org_name),
            grants.c.catalog_id == catalog_id_by_slug(conn, catalog_slug),
        )
    )
    return res.rowcount


def granted_catalogs(conn: Connection, org_id: int, plan: Plan) -> list[dict[str, Any]]:
    """Catalogs the organization may use: its own grants plus those its plan carries."""
    q = (
        select(catalogs)
        .where(
            catalogs.c.id.in_(select(grants.c.catalog_id).where(grants.c.org_id == org_id))
            | catalogs.c.slug.in_(list(plan.catalogs))
        )
        .order_by(catalogs.c.slug)
    )
    return [dict(r._mapping) for r in conn.execute(q)]
