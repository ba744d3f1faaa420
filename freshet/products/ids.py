"""What a product `{id}` names, and which stored product and upstream target it resolves to.

An id is a Walmart item id, UPC, EAN, ISBN, GTIN-14, ASIN, product uuid, or a product-page URL
of a granted catalog. Only item ids and catalog URLs can be fetched without being known: the
other codes are looked up among the products Freshet has already seen.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, bindparam, false, func, or_, select

from freshet import accounts
from freshet.accounts import Principal
from freshet.errors import BadRequest, NotFoundError
from freshet.settings import Settings
from sources.urls import domain_of, is_http_url, normalize_url, url_matches_domain
from sources.values import gtin_valid
from store.tables import catalogs, products

FORMATS = ("item_id", "upc", "ean", "isbn", "gtin", "asin", "uuid", "url")
DEFAULT_RETAILER = "walmart"
WALMART_DOMAIN = "walmart.com"
# fullmatch only (`$` accepts a trailing newline); [0-9] is ASCII, unlike str.isdigit().
_ASIN_RE = re.compile(r"[A-Z0-9]{10}")
_ITEM_ID_RE = re.compile(r"[0-9]{1,20}")
_WALMART_ITEM_PATH = re.compile(r"/ip/(?:[^/?#]+/)?([0-9]{1,20})(?:[/?#]|$)")


@dataclass(frozen=True)
class Identifier:
    kind: str  # one of FORMATS
    value: str


@dataclass(frozen=True)
class Target:
    """What a worker fetches: the source, its identity for it (`key`), and where."""

    source: str
    key: str
    url: str | None = None
    catalog_id: int | None = None
    domains: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flight(self) -> str:
        return f"product:{self.source}:{self.key}"

    def params(self) -> dict[str, Any]:
        return {"source": self.source, "key": self.key, "domains": list(self.domains)}


def _bad(message: str) -> BadRequest:
    return BadRequest(message, title="Invalid product id", code="bad_request")


def isbn10_ok(code: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}[0-9X]", code):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(code))
    return total % 11 == 0


def _digits(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', Arabic-Indic and full-width digits."""
    return value.isascii() and value.isdigit()


def gtin14(code: str) -> str:
    return code.zfill(14)


def parse(raw: str, fmt: str | None = None) -> Identifier:
    """The identifier `raw` is; `fmt` says which kind when the shape alone is ambiguous."""
    value = (raw or "").strip()
    if not value or len(value) > 2048:
        raise _bad(
            "Pass a Walmart item id, UPC, EAN, ISBN, GTIN-14, ASIN, product uuid or a "
            "URL-encoded product URL."
        )
    if fmt is None:
        fmt = _guess(value)
    return Identifier(fmt, _validate(fmt, value))


def _guess(value: str) -> str:
    if value.lower().startswith(("http://", "https://", "http:/", "https:/")):
        return "url"
    if re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value):
        return "uuid"
    if not value.isascii():  # an id is ASCII ('ß'.upper() is 'SS': never an exact id)
        raise _bad(f"{value[:80]!r} is not a product id: ids are ASCII letters and digits.")
    upper = value.upper()
    if _digits(value):
        n = len(value)
        if n == 14:
            return "gtin"
        if n == 13:
            return "isbn" if value.startswith(("978", "979")) else "ean"
        if n == 12:
            return "upc"
        if n == 10 and isbn10_ok(value):
            return "isbn"
        return "item_id"
    if isbn10_ok(upper):
        return "isbn"
    if _ASIN_RE.fullmatch(upper):
        return "asin"
    raise _bad(
        f"{value[:80]!r} is not a product id Freshet knows: use a Walmart item id, UPC "
        "(12 digits), EAN (13), ISBN (10/13), GTIN-14, ASIN (10 letters or digits), a "
        "product uuid or a URL-encoded product URL, with format= when ambiguous."
    )


def _validate(fmt: str, value: str) -> str:
    if fmt == "url":
        # Some proxies merge the `//` of an encoded URL in a path; put it back.
        value = re.sub(r"^(https?):/(?!/)", r"\1://", value, flags=re.I)
        if not is_http_url(value):
            raise _bad("format=url needs an absolute http(s) product URL, URL-encoded.")
        return value
    if not value.isascii():
        raise _bad(f"{value[:80]!r} is not a product id: ids are ASCII letters and digits.")
    if fmt == "uuid":
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise _bad(f"{value[:80]!r} is not a product uuid.") from None
    if fmt == "item_id":
        if not _ITEM_ID_RE.fullmatch(value):
            raise _bad("A Walmart item id is 1 to 20 digits, e.g. 19667262713.")
        return value
    if fmt == "asin":
        if not _ASIN_RE.fullmatch(value.upper()):
            raise _bad("An ASIN is 10 letters or digits, e.g. B08N5WRWNW.")
        return value.upper()
    if fmt == "isbn":
        v = value.replace("-", "").upper()
        if len(v) == 10 and isbn10_ok(v):
            return v
        if len(v) == 13 and _digits(v) and v.startswith(("978", "979")) and gtin_valid(v):
            return v
        raise _bad(f"{value[:40]!r} is not a valid ISBN-10 or ISBN-13 (check digit included).")
    lengths = {"upc": 12, "ean": 13, "gtin": 14}
    n = lengths[fmt]
    if not (_digits(value) and len(value) == n):
        raise _bad(f"A {fmt.upper()} is {n} digits; use format=item_id for a Walmart item id.")
    if not gtin_valid(value):
        raise _bad(
            f"{value} has a wrong check digit for a {fmt.upper()}; use format=item_id if "
            "it is a Walmart item id."
        )
    return value


# resolution ---------------------------------------------------------------------------------
def _codes_clause(ident: Identifier) -> Any:
    v = ident.value
    c = products.c
    if ident.kind == "upc":
        return or_(c.upc == v, c.gtin == gtin14(v))
    if ident.kind == "ean":
        return or_(c.ean == v, c.gtin == gtin14(v))
    if ident.kind == "gtin":
        return or_(
            c.gtin == v,
            c.upc == v[2:] if v.startswith("00") else false(),
            c.ean == v[1:] if v.startswith("0") else false(),
        )
    if ident.kind == "isbn":
        return or_(c.isbn == v, c.ean == v, c.gtin == gtin14(v)) if len(v) == 13 else c.isbn == v
    return c.asin == ident.value


# Every products column plus the ages (seconds, by the database clock) of each class.
_COLUMNS = (
    *products.c,
    *(
        func.extract("epoch", func.now() - products.c[f"{name}_fetched_at"]).label(f"{name}_age")
        for name in ("price", "offers", "reviews", "static")
    ),
)
# Built once, so a lookup neither builds nor compiles a statement: only its values change.
_BY_KEY = select(*_COLUMNS).where(
    products.c.source == bindparam("source"), products.c.key == bindparam("key")
)
_BY_ID = select(*_COLUMNS).where(products.c.id == bindparam("id"))


def by_id(conn: Connection, product_id: Any) -> Row[Any] | None:
    """The stored product with its ages, or None."""
    return conn.execute(_BY_ID, {"id": product_id}).first()


def _accessible(rows: Sequence[Row[Any]], granted_ids: set[int]) -> list[Row[Any]]:
    return [r for r in rows if r.catalog_id is None or r.catalog_id in granted_ids]


def resolve(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    ident: Identifier,
    retailer: str = DEFAULT_RETAILER,
) -> tuple[Any | None, Target]:
    """(the stored product or None, what to fetch). NotFoundError when neither exists."""
    item_id = walmart_item_of(settings, ident, retailer)
    if item_id is not None:
        row = conn.execute(_BY_KEY, {"source": "walmart", "key": item_id}).first()
        return row, walmart_target(settings, item_id)

    # Item ids need no grant; everything else is looked up among the granted catalogs.
    granted = accounts.granted_catalogs(conn, principal.org_id, principal.plan)
    granted_ids = {int(c["id"]) for c in granted}
    if ident.kind == "url":
        return _resolve_url(conn, granted, ident.value)

    if ident.kind == "uuid":
        rows = conn.execute(_BY_ID, {"id": uuid.UUID(ident.value)}).all()
        found = _accessible(rows, granted_ids)
        if not found:
            raise NotFoundError("No product with this uuid exists in your catalogs.")
        return found[0], target_of(conn, settings, found[0])

    rows = conn.execute(
        select(*_COLUMNS)
        .where(_codes_clause(ident))
        .order_by(products.c.updated_at.desc())
        .limit(20)
    ).all()
    found = _accessible(rows, granted_ids)
    if not found:
        raise NotFoundError(
            f"No known product has {ident.kind.upper()} {ident.value}. Freshet cannot resolve a "
            f"{ident.kind.upper()} to a {retailer} item by itself: look the product up once by "
            "its Walmart item id (format=item_id) or product URL, then this code works too."
        )
    return found[0], target_of(conn, settings, found[0])


def walmart_item_of(
    settings: Settings, ident: Identifier, retailer: str = DEFAULT_RETAILER
) -> str | None:
    """The Walmart item id an identifier names (an item id, or a Walmart item-page URL), or
    None when it names something else. Item ids need no catalog grant."""
    if ident.kind == "item_id":
        item_id: str | None = ident.value
    elif ident.kind == "url":
        item_id = _walmart_item(settings, ident.value)
    else:
        item_id = None
    if item_id is not None and retailer != DEFAULT_RETAILER:
        raise NotFoundError(
            f"Item ids are served from walmart only, not {retailer!r}; "
            "drop retailer= or pass the product's URL."
        )
    return item_id


def _walmart_item(settings: Settings, url: str) -> str | None:
    """The item id of a Walmart item-page URL (walmart.com or the configured Walmart base)."""
    if not (
        url_matches_domain(url, WALMART_DOMAIN)
        or url_matches_domain(url, domain_of(settings.walmart_base_url))
    ):
        return None
    match = _WALMART_ITEM_PATH.search(url)
    return match.group(1) if match else None


def _resolve_url(
    conn: Connection, granted: list[dict[str, Any]], url: str
) -> tuple[Any | None, Target]:
    matching = [c for c in granted if any(url_matches_domain(url, d) for d in c["domains"])]
    if not matching:
        raise NotFoundError(
            "No catalog granted to your organization covers this URL; ask for "
            "the catalog to be granted, or use an item id."
        )
    # The most specific catalog (longest domain with path) wins when several cover the URL.
    catalog = max(
        matching, key=lambda c: max(len(d) for d in c["domains"] if url_matches_domain(url, d))
    )
    key = normalize_url(url)
    row = conn.execute(_BY_KEY, {"source": catalog["source"], "key": key}).first()
    return row, Target(
        catalog["source"],
        key,
        url=url,
        catalog_id=int(catalog["id"]),
        domains=tuple(catalog["domains"]),
    )


def walmart_target(settings: Settings, item_id: str) -> Target:
    base = settings.walmart_base_url.rstrip("/")
    return Target(
        "walmart",
        item_id,
        url=f"{base}/ip/{item_id}",
        domains=(domain_of(settings.walmart_base_url),),
    )


def target_of(conn: Connection, settings: Settings, row: Any) -> Target:
    """How to fetch a stored product again."""
    if row.source == "walmart" and row.catalog_id is None:
        return walmart_target(settings, row.key)
    domains: tuple[str, ...] = ()
    if row.catalog_id is not None:
        found = conn.execute(
            select(catalogs.c.domains).where(catalogs.c.id == row.catalog_id)
        ).scalar()
        domains = tuple(found or ())
    return Target(row.source, row.key, url=row.url, catalog_id=row.catalog_id, domains=domains)
