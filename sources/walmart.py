"""Walmart item pages: the product from the page's `__NEXT_DATA__` (never the sponsored or
"similar items" modules beside it), completed by the page's schema.org JSON-LD."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from typing import Any

from lxml.html import HtmlElement

from sources.availability import Availability, availability_from
from sources.http import HttpClient
from sources.jsonld import extract_product
from sources.record import (
    Dimensions,
    Offer,
    ParseError,
    PermanentSourceError,
    ProductRecord,
    TopReview,
)
from sources.urls import domain_of
from sources.values import (
    apply_codes,
    clean_text,
    parse_html,
    parse_int,
    parse_price,
    parse_weight,
    to_inches,
)

_DIMENSIONS = re.compile(r"([\d.]+)\s*x\s*([\d.]+)\s*x\s*([\d.]+)\s*([A-Za-z\"]*)", re.I)


def item_url(base_url: str, item_id: str) -> str:
    """`{base}/ip/{item_id}`; the real base is `https://www.walmart.com`."""
    item_id = str(item_id).strip()
    if not item_id.isdigit():
        raise PermanentSourceError(f"invalid Walmart item id {item_id!r}: expected digits")
    return f"{base_url.rstrip('/')}/ip/{item_id}"


def _dig(obj: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def _next_data(tree: HtmlElement) -> dict[str, Any]:
    scripts = tree.xpath('//script[@id="__NEXT_DATA__"]')
    if not scripts:
        return {}
    try:
        data = json.loads(scripts[0].text_content())
    except ValueError as exc:
        raise ParseError(f"Walmart page data (__NEXT_DATA__) is not valid JSON: {exc}") from exc
    # Only this path is the item itself; sponsored and "similar items" modules elsewhere in
    # the page data carry product-shaped objects for other items.
    found = _dig(data, "props", "pageProps", "initialData", "data")
    return found if isinstance(found, dict) else {}


def _us_date(text: Any) -> str | None:
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", str(text or "").strip())
    if not match:
        return clean_text(text)
    month, day, year = map(int, match.groups())
    return date(year, month, day).isoformat()


def _state(status: Any) -> Availability | None:
    """Walmart's availabilityStatus (IN_STOCK, OUT_OF_STOCK, PRE_ORDER, ...) as a state."""
    if status is None:
        return None
    return availability_from(status) or ("in_stock" if status == "AVAILABLE" else "out_of_stock")


def _offer(node: dict[str, Any], currency: str | None) -> Offer:
    status = node.get("availabilityStatus")
    return Offer(
        seller_id=clean_text(node.get("sellerId")),
        seller_name=clean_text(node.get("sellerDisplayName") or node.get("sellerName")),
        price=parse_price(_dig(node, "priceInfo", "currentPrice", "price")),
        currency=clean_text(_dig(node, "priceInfo", "currentPrice", "currencyUnit")) or currency,
        condition=(clean_text(node.get("conditionType") or node.get("condition")) or "new").lower(),
        in_stock=None if status is None else status == "IN_STOCK",
        shipping_price=parse_price(_dig(node, "shippingOption", "shipPrice", "price")),
        availability=_state(status),
    )


def _apply_specs(record: ProductRecord, specs: Any) -> None:
    for spec in specs if isinstance(specs, list) else []:
        name = str(spec.get("name") or "").lower() if isinstance(spec, dict) else ""
        value = clean_text(spec.get("value")) if isinstance(spec, dict) else None
        if not value:
            continue
        if "weight" in name and record.weight_lbs is None:
            record.weight_lbs = parse_weight(value)
        elif "dimensions" in name and (match := _DIMENSIONS.search(value)):
            length, width, height, unit = match.groups()
            record.dimensions = Dimensions(
                height_in=to_inches(height, unit or "in"),
                width_in=to_inches(width, unit or "in"),
                length_in=to_inches(length, unit or "in"),
            )
        elif "part number" in name:
            record.mpn = record.mpn or value
        elif name == "model":
            record.model = record.model or value


def _from_next_data(data: dict[str, Any], url: str | None) -> ProductRecord | None:
    product = data.get("product")
    if not isinstance(product, dict) or not product.get("usItemId"):
        return None
    price_info = product.get("priceInfo") or {}
    currency = clean_text(_dig(price_info, "currentPrice", "currencyUnit")) or "USD"
    status = product.get("availabilityStatus")
    record = ProductRecord(
        source="walmart",
        url=url,
        item_id=str(product["usItemId"]),
        upc=clean_text(product.get("upc")),
        model=clean_text(product.get("model")),
        mpn=clean_text(product.get("manufacturerProductId")),
        sku=clean_text(product.get("sku")),
        title=clean_text(product.get("name")),
        brand=clean_text(product.get("brand")),
        image_url=clean_text(_dig(product, "imageInfo", "thumbnailUrl"))
        or clean_text(_dig(product, "imageInfo", "allImages", 0, "url")),
        description=clean_text(product.get("shortDescription")),
        currency=currency,
        current_price=parse_price(_dig(price_info, "currentPrice", "price")),
        msrp=parse_price(_dig(price_info, "wasPrice", "price"))
        or parse_price(_dig(price_info, "listPrice", "price")),
        seller_id=clean_text(product.get("sellerId")),
        seller_name=clean_text(product.get("sellerDisplayName") or product.get("sellerName")),
        average_rating=parse_price(product.get("averageRating")),
        review_count=parse_int(product.get("numberOfReviews")),
        categories=[
            n
            for n in (
                clean_text(p.get("name"))
                for p in _dig(product, "category", "path") or []
                if isinstance(p, dict)
            )
            if n
        ],
        in_stock=None if status is None else status == "IN_STOCK",
        availability=_state(status),
    )
    record.buybox_price = record.current_price
    apply_codes(record, [product.get("upc"), product.get("gtin13"), product.get("ean")])
    main = _offer(product, currency)
    main.is_buybox = True
    extra = product.get("additionalOffers") or product.get("allOffers") or []
    others = [
        _offer(o, currency)
        for o in extra
        if isinstance(o, dict) and o.get("sellerId") != main.seller_id
    ]
    record.offers = [main] + [o for o in others if o.price is not None]
    secondary = parse_price(_dig(product, "secondaryOfferPrice", "currentPrice", "price"))
    prices = [o.price for o in record.offers[1:] if o.price is not None]
    record.secondary_offer_price = secondary if secondary is not None else min(prices, default=None)
    _apply_specs(record, _dig(data, "idml", "specifications"))
    reviews = data.get("reviews") or {}
    for review in (reviews.get("customerReviews") or [])[:5]:
        record.top_reviews.append(
            TopReview(
                rating=parse_price(review.get("rating")),
                title=clean_text(review.get("reviewTitle")),
                text=clean_text(review.get("reviewText")),
                author=clean_text(review.get("userNickname")),
                date=_us_date(review.get("reviewSubmissionTime")),
            )
        )
    record.average_rating = record.average_rating or parse_price(
        reviews.get("averageOverallRating")
    )
    record.review_count = record.review_count or parse_int(reviews.get("totalReviewCount"))
    record.provenance = dict.fromkeys(record.filled(), "next_data")
    return record


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == Dimensions()


# The fields a record's provenance speaks for (not its source, url or the provenance).
_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ProductRecord)
    if f.name not in ("source", "url", "provenance")
)


def parse_page(html: str, url: str | None = None) -> ProductRecord:
    """A Walmart item page as a record; ParseError for captcha or product-less pages."""
    tree = parse_html(html)
    if tree.xpath('//*[@id="px-captcha"]') or "Robot or human" in (tree.findtext(".//title") or ""):
        raise ParseError("Walmart answered with a bot check (captcha) instead of the item")
    record = _from_next_data(_next_data(tree), url)
    structured = extract_product(tree, url, source="walmart", page_state=False)
    if (
        structured is not None
        and structured.sku
        and record is not None
        and structured.sku != record.item_id
    ):
        structured = None  # JSON-LD about another item; the page data is the authority
    if record is None:
        if structured is None:
            raise ParseError("no Walmart product data (__NEXT_DATA__ or JSON-LD) on the page")
        record = structured
        if record.sku and record.sku.isdigit():
            record.item_id = record.sku
            record.provenance["item_id"] = record.provenance.get("sku", "jsonld")
    elif structured is not None:
        for name in _FIELDS:
            if _is_empty(getattr(record, name)) and not _is_empty(getattr(structured, name)):
                setattr(record, name, getattr(structured, name))
                record.provenance[name] = structured.provenance.get(name, "jsonld")
    if record.buybox_price is None:
        record.buybox_price = record.current_price
        if "current_price" in record.provenance:
            record.provenance["buybox_price"] = record.provenance["current_price"]
    return record


def fetch_product(
    client: HttpClient, *, base_url: str, item_id: str | None = None, url: str | None = None
) -> ProductRecord:
    """Fetch and parse one item page, by id (under base_url) or by its URL."""
    if url is None:
        if item_id is None:
            raise ValueError("fetch_product needs item_id or url")
        url = item_url(base_url, item_id)
    response = client.get(url, allowed_domains=[domain_of(base_url)])
    return parse_page(response.text, url=response.url)
