"""Product facts from the state a page embeds for its scripts: analytics `dataLayer`
pushes, Next.js `__NEXT_DATA__`, `window.__INITIAL_STATE__` / `__PRELOADED_STATE__`.
Never the page's main source: a fallback when its structured data says nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jstyleson
from lxml.html import HtmlElement

from sources.availability import Availability, availability_from
from sources.prices import currency_code, parse_price
from sources.values import clean_text

_ASSIGN = re.compile(
    r"(?:window\.)?(?P<name>__INITIAL_STATE__|__PRELOADED_STATE__|dataLayer)\s*"
    r"(?:=\s*(?:window\.dataLayer\s*\|\|\s*)?|\.push\s*\(\s*)"
)
_NAME_KEYS = ("name", "title", "item_name", "productName")
_SKU_KEYS = ("sku", "item_id", "productSku", "productId")
_PRICE_KEYS = ("price", "currentPrice", "productPrice", "finalPrice", "amount")
_SALE_KEYS = ("salePrice", "sale_price", "specialPrice", "special_price", "discountedPrice")
_LIST_KEYS = ("listPrice", "regularPrice", "originalPrice", "oldPrice", "wasPrice", "msrp")
_CURRENCY_KEYS = ("currency", "currencyCode", "priceCurrency", "currency_code")
_STOCK_KEYS = ("availability", "stockStatus", "stock_status", "inStock", "in_stock", "isInStock")
_SKIP = re.compile(r"related|similar|recommend|upsell|cross|carousel|bundle|accessor|recent", re.I)
_MAX_SCRIPT = 2_000_000
_MAX_NODES = 20_000
_MAX_DEPTH = 40


@dataclass
class StateProduct:
    origin: str  # "datalayer", "next_data" or "initial_state"
    name: str | None = None
    sku: str | None = None
    price: float | None = None
    sale_price: float | None = None
    list_price: float | None = None
    currency: str | None = None
    availability: Availability | None = None


def _balanced(text: str, start: int) -> str | None:
    """The JSON object or array that starts at text[start], by bracket matching."""
    opening = text[start : start + 1]
    if opening not in ("{", "["):
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, min(len(text), start + _MAX_SCRIPT)):
        char = text[i]
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        try:
            return jstyleson.loads(text)
        except (ValueError, RecursionError):
            return None


def _documents(tree: HtmlElement) -> Iterator[tuple[str, Any]]:
    for script in tree.iter("script"):
        kind = (script.get("type") or "").lower()
        if "ld+json" in kind:
            continue
        text = (script.text or "")[:_MAX_SCRIPT]
        if script.get("id") == "__NEXT_DATA__":
            yield "next_data", _load(text)
            continue
        for match in _ASSIGN.finditer(text):
            body = _balanced(text, match.end())
            if body:
                origin = "datalayer" if match["name"] == "dataLayer" else "initial_state"
                yield origin, _load(body)


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "")), None)


def _amount(value: Any, currency: str | None) -> tuple[float | None, str | None]:
    if isinstance(value, dict):  # {"value": 40.99, "currency": "EUR"}, {"amount": ...}
        inner = currency_code(_first(value, _CURRENCY_KEYS)) or currency
        return _amount(_first(value, ("value", "current", "final", *_PRICE_KEYS)), inner)
    return parse_price(value, currency), currency


def _product_of(data: dict[str, Any], origin: str, currency: str | None) -> StateProduct | None:
    currency = currency_code(_first(data, _CURRENCY_KEYS)) or currency
    price, currency = _amount(_first(data, _PRICE_KEYS), currency)
    sale, _ = _amount(_first(data, _SALE_KEYS), currency)
    if price is None and sale is None:
        return None
    name, sku = clean_text(_first(data, _NAME_KEYS)), clean_text(_first(data, _SKU_KEYS))
    if name is None and sku is None:
        return None
    return StateProduct(
        origin=origin,
        name=name,
        sku=sku,
        price=price,
        sale_price=sale,
        list_price=_amount(_first(data, _LIST_KEYS), currency)[0],
        currency=currency,
        availability=availability_from(_first(data, _STOCK_KEYS)),
    )


def _candidates(
    data: Any,
    origin: str,
    path: str = "",
    currency: str | None = None,
    budget: list[int] | None = None,
    depth: int = 0,
) -> Iterator[tuple[StateProduct, str]]:
    budget = budget if budget is not None else [_MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > _MAX_DEPTH:
        return
    if isinstance(data, list):
        for item in data[:500]:
            yield from _candidates(item, origin, path, currency, budget, depth + 1)
    elif isinstance(data, dict):
        currency = currency_code(_first(data, _CURRENCY_KEYS)) or currency
        found = _product_of(data, origin, currency)
        if found is not None:
            yield found, path
        for key, value in data.items():
            if isinstance(value, dict | list) and not _SKIP.search(str(key)):
                yield from _candidates(
                    value, origin, f"{path}/{str(key)[:40]}", currency, budget, depth + 1
                )


def state_product(tree: HtmlElement, title: str | None, sku: str | None) -> StateProduct | None:
    """The product a page's embedded state describes, the one matching `title` or `sku`
    (when known) first, then one under a "product" key, then the first."""
    best: tuple[float, StateProduct] | None = None
    rank = 0
    for origin, document in _documents(tree):
        for found, path in _candidates(document, origin):
            rank += 1
            value = 4.0 * bool(sku and found.sku == sku)
            value += 3.0 * bool(title and found.name and found.name.casefold() == title.casefold())
            value += 2.0 * ("product" in path.lower() or "items" in path.lower()) - rank * 0.001
            if best is None or value > best[0]:
                best = (value, found)
    return best[1] if best else None
