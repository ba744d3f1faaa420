"""schema.org `Product` pages: the page's own product from JSON-LD or microdata (see
structured.py), completed, field by field and in a fixed order of trust, from Open Graph
tags, stray microdata and the page's embedded state; every value records its origin."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from lxml.html import HtmlElement

from sources.availability import availability_from, in_stock_of
from sources.http import HttpClient
from sources.offers import choose, product_offers
from sources.page_signals import PageSignals, page_signals
from sources.page_state import state_product
from sources.prices import currency_code, currency_from, parse_number, parse_price
from sources.record import Dimensions, ParseError, ProductRecord, TopReview
from sources.structured import JsonObject, Node, graph_nodes, main_product, twins, types_of
from sources.values import (
    DESCRIPTION_LIMIT,
    apply_codes,
    clean_text,
    image_of,
    name_of,
    parse_html,
    parse_int,
    parse_weight,
    to_inches,
    to_lbs,
)

_CODE_KEYS = ("gtin14", "gtin13", "gtin", "gtin12", "gtin8", "isbn")
_HOME = ("home", "startseite", "accueil", "inicio", "anasayfa", "home page")
# Filled from a less trusted origin only when the more trusted ones left them empty.
_FILLABLE = ("title", "brand", "image_url", "description", "sku", "mpn", "model", "categories")


def rating_on_five(node: Any) -> tuple[float | None, float | None]:
    """(rating on 0-5, the page's best rating when its scale is not 5) of a Rating."""
    if not isinstance(node, dict):
        return None, None
    value = parse_number(node.get("ratingValue"))
    best = parse_number(node.get("bestRating")) or 5.0
    if value is None or best <= 0 or not 0 <= value <= best:
        return None, None
    if best == 5:
        return value, None
    return round(value * 5 / best, 2), best


def _breadcrumbs(nodes: Sequence[Node], title: str | None) -> list[str]:
    for node in nodes:
        if "breadcrumblist" in types_of(node.data):
            elements = node.data.get("itemListElement") or []
            elements = sorted(
                (e for e in elements if isinstance(e, dict)),
                key=lambda e: parse_int(e.get("position")) or 0,
            )
            names = [
                clean_text(e.get("name"))
                or (name_of(e["item"]) if isinstance(e.get("item"), dict) else None)
                for e in elements
            ]
            return [n for n in names if n and n.lower() not in _HOME and n != title]
    return []


def _apply_offers(record: ProductRecord, node: Node) -> None:
    priced = product_offers(node.data, node.parent_offer)
    offers = [p.offer for p in priced if p.useful]
    main = choose(offers)
    if main is None:
        return
    main.is_buybox = True
    record.offers = offers
    record.availability, record.in_stock = main.availability, main.in_stock
    if main.price is None:
        return
    record.current_price = record.buybox_price = main.price
    record.currency = main.currency
    record.seller_name, record.seller_id = main.seller_name, main.seller_id
    record.msrp = next(p.msrp for p in priced if p.offer is main)
    others = [o.price for o in offers if o is not main and o.price is not None]
    record.secondary_offer_price = min(others, default=None)
    for offer in (main, *offers):  # identifiers given per offer, the buyer's first
        record.sku = record.sku or offer.sku
        record.mpn = record.mpn or offer.mpn
        apply_codes(record, [offer.gtin])


def _reviews(record: ProductRecord, reviews: Any) -> None:
    for review in (reviews if isinstance(reviews, list) else [reviews])[:10]:
        if isinstance(review, dict):
            record.top_reviews.append(
                TopReview(
                    rating=rating_on_five(review.get("reviewRating"))[0],
                    title=clean_text(review.get("name")),
                    text=clean_text(review.get("reviewBody"), DESCRIPTION_LIMIT),
                    author=name_of(review.get("author")),
                    date=(clean_text(review.get("datePublished")) or "")[:10] or None,
                )
            )


def _measures(record: ProductRecord, data: JsonObject) -> None:
    weight = data.get("weight")
    if isinstance(weight, dict):
        unit = weight.get("unitCode") or weight.get("unitText")
        record.weight_lbs = to_lbs(weight.get("value"), unit)
    elif isinstance(weight, str):
        record.weight_lbs = parse_weight(weight)
    dims: dict[str, float | None] = {}
    for key, attr in (("height", "height_in"), ("width", "width_in"), ("depth", "length_in")):
        value = data.get(key)
        if isinstance(value, dict):
            unit = value.get("unitCode") or value.get("unitText")
            dims[attr] = to_inches(value.get("value"), unit)
    record.dimensions = Dimensions(**dims)


def record_from_node(
    node: Node, nodes: Sequence[Node], url: str | None, source: str
) -> ProductRecord:
    data = node.data
    title = clean_text(data.get("name"))
    record = ProductRecord(source=source, url=url, title=title)
    record.brand = name_of(data.get("brand")) or name_of(data.get("manufacturer"))
    record.image_url = image_of(data.get("image"), url)
    record.description = clean_text(data.get("description"), DESCRIPTION_LIMIT)
    record.sku = clean_text(data.get("sku"))
    record.mpn = clean_text(data.get("mpn"))
    record.model = name_of(data.get("model"))
    apply_codes(record, (data.get(k) for k in _CODE_KEYS))
    _apply_offers(record, node)
    record.average_rating, record.rating_scale = rating_on_five(data.get("aggregateRating"))
    if isinstance(data.get("aggregateRating"), dict):
        rating = data["aggregateRating"]
        record.review_count = parse_int(rating.get("reviewCount") or rating.get("ratingCount"))
    _reviews(record, data.get("review"))
    _measures(record, data)
    category = data.get("category")
    if isinstance(category, str) and category.strip():
        parts = re.split(r"[>\u203a|]", category)
        record.categories = [c for c in (clean_text(p) for p in parts) if c]
    else:
        record.categories = _breadcrumbs(nodes, title)
    record.provenance = dict.fromkeys(record.filled(), node.origin)
    return record


def _fill(record: ProductRecord, origin: str, **values: Any) -> None:
    """Set each empty field of the record to its value here, and say where it came from."""
    for name, value in values.items():
        if value in (None, [], "") or getattr(record, name) not in (None, [], ""):
            continue
        setattr(record, name, value)
        record.provenance[name] = origin


def _fill_price(record: ProductRecord, origin: str, price: Any, currency: Any, stock: Any) -> None:
    code = currency_code(currency) or (currency_from(price) if isinstance(price, str) else None)
    amount = parse_price(price, code or record.currency)
    if record.current_price is None and amount is not None:
        _fill(record, origin, current_price=amount, buybox_price=amount)
        _fill(record, origin, currency=code)
    state = availability_from(stock)
    _fill(record, origin, availability=state, in_stock=in_stock_of(state))


def _apply_sale(record: ProductRecord, origin: str, sale: float | None) -> None:
    """A sale price (from tags or page data) below the structured price is what a buyer
    pays; the structured price becomes the list price."""
    current = record.current_price
    if sale is None or current is None or not 0 < sale < current:
        return
    record.msrp = max(record.msrp or current, current)
    record.provenance["msrp"] = record.provenance.get("current_price", origin)
    record.current_price = record.buybox_price = sale
    record.provenance["current_price"] = record.provenance["buybox_price"] = origin
    for offer in record.offers:
        if offer.is_buybox and offer.price == current:
            offer.price = sale


def _sale_running(meta: dict[str, str]) -> bool:
    end = re.match(r"\d{4}-\d{2}-\d{2}", meta.get("product:sale_price_dates:end", ""))
    start = re.match(r"\d{4}-\d{2}-\d{2}", meta.get("product:sale_price_dates:start", ""))
    today = date.today().isoformat()
    return not (end and end.group(0) < today) and not (start and start.group(0) > today)


def complete(record: ProductRecord, signals: PageSignals, tree: HtmlElement | None) -> None:
    """Fill what the structured data left out, in the documented order of trust:
    stray microdata itemprops, Open Graph / product meta tags, then embedded page state."""
    meta, url = signals.meta, signals.url
    props = signals.itemprops
    _fill(record, "microdata", title=props.get("name"), sku=props.get("sku"))
    price = props.get("price") or props.get("lowPrice")
    _fill_price(record, "microdata", price, props.get("priceCurrency"), props.get("availability"))
    _fill(
        record,
        "opengraph",
        title=clean_text(meta.get("og:title")),
        image_url=image_of(meta.get("og:image"), url),
        brand=clean_text(meta.get("product:brand") or meta.get("og:brand")),
        description=clean_text(meta.get("og:description"), DESCRIPTION_LIMIT),
    )
    _fill_price(
        record,
        "opengraph",
        meta.get("product:price:amount") or meta.get("og:price:amount"),
        meta.get("product:price:currency") or meta.get("og:price:currency"),
        meta.get("product:availability") or meta.get("og:availability"),
    )
    if _sale_running(meta):
        sale = meta.get("product:sale_price:amount")
        _apply_sale(record, "opengraph", parse_price(sale, record.currency))
    state = state_product(tree, record.title, record.sku) if tree is not None else None
    if state is not None:
        _fill(record, state.origin, title=state.name, sku=state.sku)
        base = state.price if state.price is not None else state.sale_price
        _fill_price(record, state.origin, base, state.currency, state.availability)
        if state.list_price is not None and record.current_price == state.list_price:
            _apply_sale(record, state.origin, state.sale_price)
    _fill(record, "page", title=signals.h1)


def extract_product(
    tree: HtmlElement, url: str | None = None, source: str = "jsonld", *, page_state: bool = True
) -> ProductRecord | None:
    """The page's schema.org Product as a record, or None when there is none.
    `page_state=False` leaves embedded script state alone (for sources that read it)."""
    nodes = graph_nodes(tree, url)
    signals = page_signals(tree, url)
    node = main_product(nodes, signals)
    if node is None:
        return None
    record = record_from_node(node, nodes, url, source)
    for twin in twins(node, nodes):
        other = record_from_node(twin, nodes, url, source)
        fields = {k: getattr(other, k) for k in _FILLABLE}
        if record.current_price is None and other.current_price is not None:
            record.offers = other.offers
            fields |= {k: getattr(other, k) for k in ("current_price", "buybox_price", "msrp")}
            fields |= {k: getattr(other, k) for k in ("currency", "seller_name", "seller_id")}
        if record.availability is None:
            fields |= {"availability": other.availability, "in_stock": other.in_stock}
        _fill(record, twin.origin, **fields)
    complete(record, signals, tree if page_state else None)
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
