"""Shopify products from their public JSON: `/products/<handle>.json` (prices as decimal
strings) or the storefront `.js` shape (prices in integer cents)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from sources.availability import availability_from
from sources.http import HttpClient, HttpStatusError
from sources.record import Offer, ParseError, PermanentSourceError, ProductRecord
from sources.values import apply_codes, clean_text, image_of, parse_price, to_lbs

_PRODUCT_PATH = re.compile(
    r"^(?P<prefix>.*?/products/)(?P<handle>[^/]+?)(?:\.(?:json|js|oembed))?/?$"
)


def _product_url(product_url: str, suffix: str) -> str:
    parts = urlsplit(product_url.strip())
    match = _PRODUCT_PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not match:
        raise PermanentSourceError(
            f"not a Shopify product URL (…/products/<handle>): {product_url[:200]}"
        )
    path = f"{match['prefix']}{match['handle']}{suffix}"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def json_url(product_url: str) -> str:
    """`…/products/<handle>` → `…/products/<handle>.json`, prefix kept, query dropped."""
    return _product_url(product_url, ".json")


def js_url(product_url: str) -> str:
    return _product_url(product_url, ".js")


def _pick_variant(variants: list[dict[str, Any]], url: str | None) -> dict[str, Any]:
    wanted = next(iter(parse_qs(urlsplit(url).query).get("variant", [])), None) if url else None
    for variant in variants:
        if wanted is not None and str(variant.get("id")) == wanted:
            return variant
    available = [v for v in variants if _in_stock(v) is not False]
    return (available or variants or [{}])[0]


def _weight(variant: dict[str, Any]) -> float | None:
    if variant.get("weight") is not None and variant.get("weight_unit"):
        return to_lbs(variant["weight"], variant["weight_unit"])
    grams = variant.get("grams", variant.get("weight"))  # the .js shape's weight is grams
    return to_lbs(grams, "g") if grams else None


def _in_stock(variant: dict[str, Any]) -> bool | None:
    available = variant.get("available")
    if isinstance(available, bool):
        return available
    quantity = variant.get("inventory_quantity")
    if not isinstance(quantity, int):
        return None
    untracked = "inventory_management" in variant and not variant["inventory_management"]
    if untracked or variant.get("inventory_policy") == "continue":
        return True
    return quantity > 0


def _price(value: Any, cents: bool) -> tuple[float | None, str | None]:
    if isinstance(value, dict):  # presentment prices: {"amount": "19.99", "currency_code": "EUR"}
        return parse_price(value.get("amount")), clean_text(value.get("currency_code"))
    if cents and isinstance(value, int | float) and not isinstance(value, bool):
        return round(value / 100, 2), None
    return parse_price(value), None


def parse(body: str, url: str | None = None) -> ProductRecord:
    """A Shopify product from a `.json` (`{"product": …}`) or `.js` body."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"Shopify product JSON is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("product"), dict):
        product, cents = data["product"], False
    elif isinstance(data, dict) and isinstance(data.get("variants"), list) and "handle" in data:
        product, cents = data, True
    else:
        raise ParseError("not a Shopify product: no `product` object and no storefront shape")
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    variant = _pick_variant(variants, url)
    price, currency = _price(variant.get("price", product.get("price")), cents)
    compare, _ = _price(variant.get("compare_at_price", product.get("compare_at_price")), cents)
    images = product.get("images") or []
    image = product.get("featured_image") or product.get("image") or (images[0] if images else None)
    product_type = clean_text(product.get("product_type") or product.get("type"))
    host = urlsplit(url).hostname if url else None
    record = ProductRecord(
        source="shopify",
        url=url,
        item_id=str(product["id"]) if product.get("id") is not None else None,
        sku=clean_text(variant.get("sku")),
        title=clean_text(product.get("title")),
        brand=clean_text(product.get("vendor")),
        image_url=image_of(image.get("src") if isinstance(image, dict) else image, None),
        description=clean_text(product.get("body_html") or product.get("description")),
        currency=currency,
        current_price=price,
        buybox_price=price,
        msrp=compare if compare and price is not None and compare > price else None,
        weight_lbs=_weight(variant),
        seller_name=host,
        categories=[product_type] if product_type else [],
        in_stock=_in_stock(variant),
    )
    if record.in_stock is None and isinstance(product.get("available"), bool):
        record.in_stock = product["available"]
    record.availability = availability_from(record.in_stock)
    apply_codes(record, [variant.get("barcode")])
    if price is not None:
        record.offers = [
            Offer(
                seller_name=host,
                price=price,
                currency=currency,
                condition="new",
                in_stock=record.in_stock,
                is_buybox=True,
                availability=record.availability,
                sku=record.sku,
            )
        ]
    record.provenance = dict.fromkeys(record.filled(), "shopify_js" if cents else "shopify_json")
    return record


def fetch_product(
    client: HttpClient, url: str, *, allowed_domains: Sequence[str] | None = None
) -> ProductRecord:
    """Fetch a product's `.json`, falling back to `.js` when the store 404s the former."""
    try:
        response = client.get(json_url(url), allowed_domains=allowed_domains)
    except HttpStatusError as exc:
        if exc.status != 404:
            raise
        response = client.get(js_url(url), allowed_domains=allowed_domains)
    return parse(response.text, url=url)
