"""Resolving batch refresh targets to `{catalog, url}`, or rejecting each with a code and a
message that says what to change. Pure but for the address check it is handed."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sources.urls import is_http_url, normalize_url, url_matches_domain

MAX_URL_LENGTH = 2048

# url -> why fetching it is refused (a blocked address), or None
AddressCheck = Callable[[str], str | None]


@dataclass
class Accepted:
    index: int
    catalog: dict[str, Any]
    url: str
    product_id: uuid.UUID | None = None


@dataclass
class Resolution:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def named_catalogs(targets: list[dict[str, str]]) -> set[str]:
    return {t["catalog"] for t in targets if "catalog" in t}


def uuids_of(targets: list[dict[str, str]]) -> list[uuid.UUID]:
    out = []
    for t in targets:
        parsed = parse_uuid(t.get("uuid"))
        if parsed is not None:
            out.append(parsed)
    return out


def parse_uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def in_catalog(url: str, catalog: dict[str, Any]) -> bool:
    return any(url_matches_domain(url, d) for d in catalog["domains"])


def netloc_of(url: str) -> str:
    """The `host[:port]` part of an absolute URL, cheaply: the key host-level verdicts are
    memoized by (500 targets usually share a handful of hosts)."""
    return url.partition("://")[2].partition("/")[0].partition("?")[0].partition("#")[0]


def is_local_literal(url: str) -> bool:
    """An IP literal or a localhost name: checkable before any catalog matching, without DNS."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _reject(
    rejected: list[dict[str, Any]], target: dict[str, str], code: str, message: str
) -> None:
    rejected.append({"target": dict(target), "code": code, "message": message})


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return (
            f"URL is longer than {MAX_URL_LENGTH} characters; send the product page's "
            "canonical URL."
        )
    if not is_http_url(url):
        return (
            "URL must be an absolute http:// or https:// address of a product page; "
            f"got {url[:100]!r}."
        )
    return None


def _blocked_message(reason: str) -> str:
    return (
        f"URL points to a private, loopback or link-local address ({reason}); send the "
        "product page's public URL."
    )


def resolve(
    targets: list[dict[str, str]],
    granted: list[dict[str, Any]],
    products: dict[uuid.UUID, dict[str, Any]],
    blocked: AddressCheck,
) -> Resolution:
    """Each target accepted (resolved to a granted catalog and a URL) or rejected, in order.

    `granted`: the catalogs the caller may use (every named catalog must be among them);
    `products`: the known products among the targets' uuids, with catalog_id and url.
    """
    by_slug = {c["slug"]: c for c in granted}
    by_id = {c["id"]: c for c in granted}
    out = Resolution()
    seen: dict[tuple[int, str], int] = {}
    literal: dict[str, bool] = {}  # netloc -> is_local_literal
    for index, target in enumerate(targets):
        pinned = by_slug.get(target["catalog"]) if "catalog" in target else None
        if "uuid" in target:
            found = _by_uuid(target, pinned, by_id, products)
            if isinstance(found, str):
                _reject(out.rejected, target, "product_not_found", found)
                continue
            catalog, url, product_id = found
        else:
            url, product_id = target["url"].strip(), None
            problem = _url_problem(url)
            netloc = netloc_of(url)
            if problem is None:
                if netloc not in literal:
                    literal[netloc] = is_local_literal(url)
                if literal[netloc]:
                    reason = blocked(url)
                    problem = _blocked_message(reason) if reason else None
            if problem:
                _reject(out.rejected, target, "invalid_url", problem)
                continue
            matched = _by_url(out.rejected, target, url, pinned, granted)
            if matched is None:
                continue
            catalog = matched
            # A name is resolved only once it matched a catalog: no DNS for arbitrary hosts.
            reason = None if literal[netloc] else blocked(url)
            if reason:
                _reject(out.rejected, target, "invalid_url", _blocked_message(reason))
                continue
        key = (catalog["id"], normalize_url(url))
        if key in seen:
            _reject(
                out.rejected,
                target,
                "duplicate_target",
                f"Same product as target {seen[key]} (catalog '{catalog['slug']}', {url}); "
                "send each product once.",
            )
            continue
        seen[key] = index
        out.accepted.append(Accepted(index, catalog, url, product_id))
    return out


def _by_uuid(
    target: dict[str, str],
    pinned: dict[str, Any] | None,
    by_id: dict[int, dict[str, Any]],
    products: dict[uuid.UUID, dict[str, Any]],
) -> tuple[dict[str, Any], str, uuid.UUID] | str:
    """(catalog, url, product id), or why no product was found."""
    raw = target["uuid"]
    product_id = parse_uuid(raw)
    product = products.get(product_id) if product_id else None
    where = f"catalog '{pinned['slug']}'" if pinned else "your granted catalogs"
    if product_id is None:
        return (
            f"{raw[:60]!r} is not a product uuid; send the uuid Freshet gave the product, "
            "or its url with its catalog."
        )
    catalog = by_id.get(product["catalog_id"]) if product else None
    if product is None or catalog is None or (pinned is not None and catalog["id"] != pinned["id"]):
        return (
            f"No product with uuid {product_id} in {where}; check the uuid"
            f"{' and the catalog' if pinned else ''}, or send the product's url with its "
            "catalog instead."
        )
    if not product.get("url"):
        return (
            f"Product {product_id} has no product page URL to refresh from; send its url "
            "with its catalog instead."
        )
    return catalog, product["url"], product_id


def _by_url(
    rejected: list[dict[str, Any]],
    target: dict[str, str],
    url: str,
    pinned: dict[str, Any] | None,
    granted: list[dict[str, Any]],
) -> dict[str, Any] | None:
    if pinned is not None:
        if in_catalog(url, pinned):
            return pinned
        _reject(
            rejected,
            target,
            "url_not_in_catalog",
            f"URL lies outside catalog '{pinned['slug']}' (domains: "
            f"{', '.join(pinned['domains'])}); fix the URL or name the catalog it belongs to.",
        )
        return None
    matches = [c for c in granted if in_catalog(url, c)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        _reject(
            rejected,
            target,
            "product_not_found",
            "No known product or granted catalog matches this URL; check the URL, or add "
            "the catalog it belongs to (it must be granted to you).",
        )
    else:
        _reject(
            rejected,
            target,
            "ambiguous_url",
            "URL matched more than one granted catalog "
            f"({', '.join(c['slug'] for c in matches)}); include catalog.",
        )
    return None
