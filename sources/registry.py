"""The built-in sources by name: parsing a saved page with one, and fetching a product page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sources import amazon_reviews, jsonld, shopify, walmart
from sources.http import HttpClient
from sources.record import PermanentSourceError, ProductRecord

SOURCE_NAMES = ("shopify", "jsonld", "walmart", "amazon_reviews")
PRODUCT_SOURCES = ("shopify", "jsonld", "walmart")

_PARSERS: dict[str, Callable[..., Any]] = {
    "shopify": shopify.parse,
    "jsonld": jsonld.parse_page,
    "walmart": walmart.parse_page,
    "amazon_reviews": amazon_reviews.parse_page,
}


def parse_document(source: str, text: str, url: str | None = None) -> dict[str, Any]:
    """The normalized record (product, or page of reviews) `source` makes of `text`."""
    parse = _PARSERS.get(source)
    if parse is None:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCE_NAMES)}")
    record = parse(text, url=url)
    return dict(record.to_dict())


def _walmart_page(
    client: HttpClient, url: str, *, allowed_domains: Sequence[str] | None = None
) -> ProductRecord:
    response = client.get(url, allowed_domains=allowed_domains)
    return walmart.parse_page(response.text, url=response.url)


_PRODUCT_FETCHERS: dict[str, Callable[..., ProductRecord]] = {
    "shopify": shopify.fetch_product,
    "jsonld": jsonld.fetch_product,
    "walmart": _walmart_page,
}


def fetch_product(
    client: HttpClient, source: str, url: str, *, allowed_domains: Sequence[str]
) -> ProductRecord:
    """Fetch and parse the product page at `url` with `source`, inside `allowed_domains`."""
    fetch = _PRODUCT_FETCHERS.get(source)
    if fetch is None:
        raise PermanentSourceError(f"no product source named {source!r}")
    return fetch(client, url, allowed_domains=list(allowed_domains))
