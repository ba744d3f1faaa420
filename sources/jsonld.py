"""schema.org `Product` from JSON-LD or microdata (via extruct), tolerant of the mess real
pages serve; Open Graph price tags are only a last resort. Also home of the value helpers
(prices, barcodes, weights, text) the other product sources share."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import extruct
import jstyleson
from extruct.jsonld import JsonLdExtractor
from lxml.html import HtmlElement

from sources.http import HttpClient
from sources.record import Dimensions, Offer, ParseError, ProductRecord, TopReview
from sources.values import (
    SCHEMA_PREFIX,
    apply_codes,
    clean_text,
    image_of,
    in_stock_from,
    name_of,
    parse_html,
    parse_int,
    parse_price,
    parse_weight,
    to_inches,
    to_lbs,
)

log = logging.getLogger(__name__)

PRODUCT_TYPES = frozenset(
    {"Product", "ProductGroup", "IndividualProduct", "ProductModel", "SomeProducts"}
)
_MSRP_TYPES = ("ListPrice", "StrikethroughPrice", "MSRP", "SRP")


def _types(node: dict) -> set[str]:
    raw = node.get("@type")
    return {
        SCHEMA_PREFIX.sub("", t)
        for t in (raw if isinstance(raw, list) else [raw])
        if isinstance(t, str)
    }


def _load_block(script: HtmlElement) -> list[Any]:
    """Strict JSON (through extruct) first, then the repairs real shops make necessary."""
    try:
        return list(JsonLdExtractor().extract_items(script))
    except ValueError:
        pass
    text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", script.text_content())
    text = text.replace("\\'", "'")
    try:
        data = jstyleson.loads(text, strict=False)
    except ValueError:
        try:  # trailing commas and comments were not the problem; a stray control char?
            data = json.loads(re.sub(r"[\x00-\x1f]", " ", text), strict=False)
        except ValueError:
            log.debug("unparseable JSON-LD block skipped")
            return []
    return data if isinstance(data, list) else [data]


def _walk(data: Any, depth: int = 0) -> Iterator[tuple[dict, int]]:
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth)
    elif isinstance(data, dict):
        yield data, depth
        yield from _walk(data.get("@graph"), depth)
        for key in ("mainEntity", "mainEntityOfPage", "itemReviewed"):
            yield from _walk(data.get(key), depth + 1)


def structured_items(tree: HtmlElement, url: str | None) -> list[dict]:
    """Every JSON-LD and microdata node on the page, JSON-LD first."""
    items: list[Any] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            items.extend(_load_block(script))
    try:
        micro = extruct.extract(tree, base_url=url, syntaxes=["microdata"], uniform=True)
        items.extend(micro.get("microdata", []))
    except Exception:  # extruct's microdata walker can trip on odd markup; JSON-LD may suffice
        log.debug("microdata extraction failed", exc_info=True)
    return [node for node, _ in _walk(items)]


def find_product(items: Sequence[dict], url: str | None = None) -> dict | None:
    best, best_score = None, -1
    for index, node in enumerate(items):
        if not _types(node) & PRODUCT_TYPES:
            continue
        score = 4 * bool(node.get("offers") or node.get("hasVariant")) + 2 * bool(node.get("name"))
        score += 3 * bool(url and node.get("url") == url) - index * 0.001
        if score > best_score:
            best, best_score = node, score
    return best


def _breadcrumbs(items: Sequence[dict], title: str | None) -> list[str]:
    for node in items:
        if "BreadcrumbList" in _types(node):
            elements = node.get("itemListElement") or []
            elements = sorted(
                (e for e in elements if isinstance(e, dict)),
                key=lambda e: parse_int(e.get("position")) or 0,
            )
            names = [
                clean_text(e.get("name"))
                or (name_of(e["item"]) if isinstance(e.get("item"), dict) else None)
                for e in elements
            ]
            names = [n for n in names if n and n.lower() not in ("home", "startseite", "accueil")]
            return [n for n in names if n != title]
    return []


def _open_graph(tree: HtmlElement) -> dict[str, str]:
    tags: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").strip().lower()
        if key and meta.get("content") is not None:
            tags.setdefault(key, meta.get("content", "").strip())
    return tags


# ---- building the record -------------------------------------------------------------


def _offer(node: dict) -> tuple[Offer, float | None]:
    price = parse_price(node.get("price"))
    currency = clean_text(node.get("priceCurrency"))
    msrp = None
    specs = node.get("priceSpecification")
    for spec in specs if isinstance(specs, list) else [specs] if isinstance(specs, dict) else []:
        kind = SCHEMA_PREFIX.sub("", str(spec.get("priceType") or ""))
        if kind in _MSRP_TYPES:
            msrp = parse_price(spec.get("price"))
        elif price is None:
            price = parse_price(spec.get("price"))
        currency = currency or clean_text(spec.get("priceCurrency"))
    if price is None and "AggregateOffer" in _types(node):
        price = parse_price(node.get("lowPrice"))
    condition = SCHEMA_PREFIX.sub("", str(node.get("itemCondition") or ""))
    shipping = (
        (node.get("shippingDetails") or {}) if isinstance(node.get("shippingDetails"), dict) else {}
    )
    seller = node.get("seller")
    return Offer(
        seller_id=clean_text(seller.get("@id") or seller.get("identifier"))
        if isinstance(seller, dict)
        else None,
        seller_name=name_of(seller),
        price=price,
        currency=currency,
        condition=condition.replace("Condition", "").lower() or None,
        in_stock=in_stock_from(node.get("availability")),
        shipping_price=parse_price((shipping.get("shippingRate") or {}).get("value"))
        if isinstance(shipping.get("shippingRate"), dict)
        else None,
    ), msrp


def _apply_offers(record: ProductRecord, node: dict) -> None:
    raw = node.get("offers")
    if not raw and isinstance(node.get("hasVariant"), list) and node["hasVariant"]:
        raw = (
            node["hasVariant"][0].get("offers") if isinstance(node["hasVariant"][0], dict) else None
        )
    nodes = [o for o in (raw if isinstance(raw, list) else [raw]) if isinstance(o, dict)]
    offers: list[Offer] = []
    for offer_node in nodes:
        offer, msrp = _offer(offer_node)
        record.msrp = record.msrp or msrp
        nested = offer_node.get("offers")
        nested_nodes = [
            o for o in (nested if isinstance(nested, list) else [nested]) if isinstance(o, dict)
        ]
        if "AggregateOffer" in _types(offer_node) and nested_nodes:
            for sub in nested_nodes:
                sub_offer, _ = _offer(sub)
                sub_offer.currency = sub_offer.currency or offer.currency
                offers.append(sub_offer)
            if offer.price is not None:
                offers.insert(0, offer)
        else:
            offers.append(offer)
    priced = [o for o in offers if o.price is not None]
    if not priced:
        return
    main = priced[0]
    main.is_buybox = True
    record.offers = priced
    record.current_price = record.buybox_price = main.price
    record.currency, record.in_stock = main.currency, main.in_stock
    record.seller_name, record.seller_id = main.seller_name, main.seller_id
    others = [o.price for o in priced[1:] if o.price is not None and o is not main]
    record.secondary_offer_price = min(others) if others else None


def record_from_node(
    node: dict, items: Sequence[dict], url: str | None, source: str
) -> ProductRecord:
    title = clean_text(node.get("name"))
    record = ProductRecord(source=source, url=url, title=title)
    record.brand = name_of(node.get("brand")) or name_of(node.get("manufacturer"))
    record.image_url = image_of(node.get("image"), url)
    record.description = clean_text(node.get("description"))
    record.sku = clean_text(node.get("sku"))
    record.mpn = clean_text(node.get("mpn"))
    record.model = name_of(node.get("model"))
    apply_codes(
        record, (node.get(k) for k in ("gtin14", "gtin13", "gtin", "gtin12", "gtin8", "isbn"))
    )
    _apply_offers(record, node)
    rating = node.get("aggregateRating")
    if isinstance(rating, dict):
        record.average_rating = parse_price(rating.get("ratingValue"))
        record.review_count = parse_int(rating.get("reviewCount") or rating.get("ratingCount"))
    reviews = node.get("review")
    for review in (reviews if isinstance(reviews, list) else [reviews])[:10]:
        if isinstance(review, dict):
            record.top_reviews.append(
                TopReview(
                    rating=parse_price((review.get("reviewRating") or {}).get("ratingValue"))
                    if isinstance(review.get("reviewRating"), dict)
                    else None,
                    title=clean_text(review.get("name")),
                    text=clean_text(review.get("reviewBody")),
                    author=name_of(review.get("author")),
                    date=(clean_text(review.get("datePublished")) or "")[:10] or None,
                )
            )
    weight = node.get("weight")
    if isinstance(weight, dict):
        record.weight_lbs = to_lbs(
            weight.get("value"), weight.get("unitCode") or weight.get("unitText")
        )
    elif isinstance(weight, str):
        record.weight_lbs = parse_weight(weight)
    dims = {}
    for key, attr in (("height", "height_in"), ("width", "width_in"), ("depth", "length_in")):
        value = node.get(key)
        if isinstance(value, dict):
            dims[attr] = to_inches(
                value.get("value"), value.get("unitCode") or value.get("unitText")
            )
    record.dimensions = Dimensions(**dims)
    category = node.get("category")
    if isinstance(category, str) and category.strip():
        parts = re.split(r"[>\u203a|]", category)
        record.categories = [c for c in (clean_text(p) for p in parts) if c]
    else:
        record.categories = _breadcrumbs(items, title)
    return record


def _apply_open_graph(record: ProductRecord, og: dict[str, str], url: str | None) -> None:
    # Open Graph tags are often stale (cached by the CMS); only fill what is missing.
    record.title = record.title or clean_text(og.get("og:title"))
    record.image_url = record.image_url or image_of(og.get("og:image"), url)
    record.brand = record.brand or clean_text(og.get("product:brand") or og.get("og:brand"))
    if record.current_price is None:
        price = parse_price(og.get("product:price:amount") or og.get("og:price:amount"))
        if price is not None:
            record.current_price = price
            record.currency = record.currency or clean_text(
                og.get("product:price:currency") or og.get("og:price:currency")
            )
    if record.in_stock is None:
        record.in_stock = in_stock_from(og.get("product:availability") or og.get("og:availability"))


def extract_product(
    tree: HtmlElement, url: str | None = None, source: str = "jsonld"
) -> ProductRecord | None:
    """The page's schema.org Product as a record, or None when there is none."""
    items = structured_items(tree, url)
    node = find_product(items, url)
    if node is None:
        return None
    record = record_from_node(node, items, url, source)
    _apply_open_graph(record, _open_graph(tree), url)
    return record


def parse_page(html: str, url: str | None = None) -> ProductRecord:
    """Parse a product page with schema.org markup; ParseError when it has no Product."""
    record = extract_product(parse_html(html), url)
    if record is None:
        raise ParseError("no schema.org Product (JSON-LD or microdata) on the page")
    return record


def fetch_product(
    client: HttpClient, url: str, *, allowed_domains: Sequence[str] | None = None
) -> ProductRecord:
    response = client.get(url, allowed_domains=allowed_domains)
    return parse_page(response.text, url=response.url)
