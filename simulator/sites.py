"""Simulated independent shops, `/sites/<site>/p/<handle>`: product pages whose schema.org
markup style varies per handle across the messes real pages serve. A handle starting with
a style name and a dash (`graph-lamp`) gets that style; any other handle gets one by hash."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from flask import Blueprint, abort, current_app, request

from simulator.data import drifted_price, format_price, make_item, rng, with_changes
from simulator.site_variants import HEADS
from simulator.site_variants import availability as _avail
from simulator.site_variants import ld as _ld

bp = Blueprint("sites", __name__)
_HASHED = ("plain", "graph", "typelist", "aggregate", "microdata", "og", "entities", "offerlist")
# Shapes real shops serve that the first eight did not: the buyer's offer among several,
# the product nested under a WebPage beside a carousel, a price only in Open Graph. A
# handle without a style prefix that hashes to the base style gets the variant for half
# of its handles, so existing handles keep their price and stock whatever their markup.
_VARIANTS = {"plain": "multioffer", "graph": "nested", "og": "ogonly"}
STYLES = (*_HASHED, *_VARIANTS.values())
HANDLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{page_title} | {site}</title>{head}
<script>dataLayer=window.dataLayer||[];dataLayer.push({{"event":"view_item"}});</script></head>
<body><nav class="top"><a href="/sites/{site}/">Home</a> &rsaquo; <a href="/sites/{site}/c/all">Shop</a></nav>
<main>{body}</main><footer><p>&copy; 2024 {site}. All rights reserved.</p></footer></body></html>"""

NO_PRODUCT_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Just a moment...</title></head>
<body><div class="cf-wrapper"><h1>Checking your browser before accessing the site.</h1>
<p>This process is automatic. Your browser will redirect to your requested content shortly.</p></div></body></html>"""


def style_for(handle: str) -> str:
    prefix = handle.split("-", 1)[0]
    if prefix in STYLES:
        return prefix
    style = _HASHED[rng("site-style", handle).randrange(len(_HASHED))]
    if style in _VARIANTS and rng("site-variant", handle).random() < 0.5:
        return _VARIANTS[style]
    return style


def product_facts(
    seed: int,
    site: str,
    handle: str,
    drift: float,
    pinned: float | None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the page says about the product, whatever its markup style."""
    item = with_changes(make_item(seed, f"site:{site}", handle), changes)
    style = style_for(handle)
    currency = rng(seed, "site-currency", site).choice(("USD", "EUR", "GBP"))
    # The "entities" style stands for premium shops, so prices cross 1,000 and need separators.
    scale = 7 if style == "entities" else 1
    price = pinned if pinned is not None else round(drifted_price(item, drift) * scale, 2)
    title = item.title if style != "entities" else f"{item.brand} Tool & Case 'Pro' {item.model}"
    return {
        "item": item,
        "style": style,
        "currency": currency,
        "price": price,
        "title": title,
        "msrp": round(price * 1.2, 2),
        "in_stock": item.in_stock,
    }


def _body(f: dict[str, Any], image: str) -> str:
    symbol = _SYMBOLS[f["currency"]]
    return (
        f'<div class="product-detail"><img src="{image}" alt=""><h1>{escape(f["title"])}</h1>'
        f'<p class="price">{symbol}{f["price"]:,.2f}</p><p>{escape(f["item"].description)}</p>'
        f'<button class="add-to-cart">Add to cart</button></div>'
    )


def render(f: dict[str, Any], site: str, url: str) -> str:
    item, style, cur, price = f["item"], f["style"], f["currency"], f["price"]
    image = f"https://cdn.{site}.example/img/{item.image_id}.jpg"
    rating = {
        "@type": "AggregateRating",
        "ratingValue": str(item.rating),
        "reviewCount": item.rating_count,
    }
    org = {
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": site,
        "url": f"https://{site}.example/",
    }
    crumbs = {
        "@type": "BreadcrumbList",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": i + 1,
                "name": c,
                "item": f"https://{site}.example/c/{i}",
            }
            for i, c in enumerate(("Home", *item.categories, f["title"]))
        ],
    }
    head, body = "", _body(f, image)
    if style in HEADS:
        head = HEADS[style](f, site, url, image)
    elif style == "plain":
        head = _ld(org) + _ld(
            {
                "@context": "https://schema.org",
                "@type": "Product",
                "name": f["title"],
                "image": image,
                "description": item.description,
                "sku": item.model,
                "mpn": item.model,
                "gtin13": item.ean,
                "brand": item.brand,
                "category": " > ".join(item.categories),
                "url": url,
                "offers": {
                    "@type": "Offer",
                    "price": price,
                    "priceCurrency": cur,
                    "url": url,
                    "availability": "InStock" if f["in_stock"] else "OutOfStock",
                },
                "aggregateRating": rating,
            }
        )
    elif style == "graph":
        head = _ld(
            {
                "@context": "https://schema.org",
                "@graph": [
                    {"@type": "WebSite", "@id": f"https://{site}.example/#website", "name": site},
                    {"@type": "Organization", "@id": f"https://{site}.example/#org", "name": site},
                    crumbs,
                    {
                        "@type": "WebPage",
                        "@id": f"{url}#webpage",
                        "mainEntity": {"@id": f"{url}#product"},
                    },
                    {
                        "@type": "Product",
                        "@id": f"{url}#product",
                        "name": f["title"],
                        "sku": item.model,
                        "image": {"@type": "ImageObject", "url": image, "width": 800},
                        "gtin12": item.upc,
                        "brand": {"@type": "Brand", "name": item.brand},
                        "description": item.description,
                        "offers": {
                            "@type": "Offer",
                            "price": f"{price:.2f}",
                            "priceCurrency": cur,
                            "availability": _avail(f["in_stock"], "http://schema.org/"),
                            "seller": {"@type": "Organization", "name": site},
                        },
                    },
                ],
            }
        )
    elif style == "typelist":
        head = _ld(
            [
                org,
                {
                    "@context": "http://schema.org",
                    "@type": ["Thing", "Product"],
                    "name": f["title"],
                    "image": [image, image.replace(".jpg", "-2.jpg")],
                    "brand": None,
                    "manufacturer": {"@type": "Organization", "name": item.brand},
                    "gtin": "0" + item.upc,
                    "offers": {
                        "@type": "Offer",
                        "availability": _avail(f["in_stock"]),
                        "priceSpecification": [
                            {
                                "@type": "UnitPriceSpecification",
                                "price": price,
                                "priceCurrency": cur,
                            },
                            {
                                "@type": "UnitPriceSpecification",
                                "priceType": "https://schema.org/ListPrice",
                                "price": f["msrp"],
                                "priceCurrency": cur,
                            },
                        ],
                    },
                },
            ]
        )
    elif style == "aggregate":
        head = _ld(
            {
                "@context": "https://schema.org/",
                "@type": "Product",
                "name": f["title"],
                "image": image,
                "brand": {"@type": "Brand", "name": item.brand},
                "gtin14": "00" + item.upc,
                "sku": item.model,
                "offers": {
                    "@type": "AggregateOffer",
                    "lowPrice": f"{price:.2f}",
                    "highPrice": f"{price * 1.4:.2f}",
                    "offerCount": "3",
                    "priceCurrency": cur,
                },
                "aggregateRating": rating,
            }
        ) + _ld({"@context": "https://schema.org", **crumbs})
    elif style == "microdata":
        body = (
            f'<div itemscope itemtype="https://schema.org/Product"><img itemprop="image" src="{image}" alt="">'
            f'<h1 itemprop="name">{escape(f["title"])}</h1><meta itemprop="sku" content="{item.model}">'
            f'<meta itemprop="gtin13" content="{item.ean}"><div itemprop="brand" itemscope '
            f'itemtype="https://schema.org/Brand"><span itemprop="name">{escape(item.brand)}</span></div>'
            f'<p itemprop="description">{escape(item.description)}</p>'
            f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
            f'<span itemprop="priceCurrency" content="{cur}">{_SYMBOLS[cur]}</span>'
            f'<span itemprop="price" content="{price:.2f}">{price:,.2f}</span>'
            f'<link itemprop="availability" href="{_avail(f["in_stock"])}">In stock</div>'
            f'<div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">'
            f'<span itemprop="ratingValue">{item.rating}</span> / <span itemprop="reviewCount">'
            f"{item.rating_count}</span></div></div>"
        )
    elif style == "og":
        stale = round(price * 1.1 + 1, 2)
        head = (
            f'<meta property="og:type" content="product"><meta property="og:title" content="Buy {escape(f["title"])}">'
            f'<meta property="product:price:amount" content="{stale:.2f}">'
            f'<meta property="product:price:currency" content="{cur}">'
            + _ld(
                {
                    "@context": "https://schema.org",
                    "@type": "Product",
                    "name": f["title"],
                    "image": image,
                    "brand": {"@type": "Brand", "name": item.brand},
                    "sku": item.model,
                    "offers": {
                        "@type": "Offer",
                        "price": price,
                        "priceCurrency": cur,
                        "availability": _avail(f["in_stock"]),
                    },
                }
            )
        )
    elif style == "entities":
        sep = (",", ".") if cur == "EUR" else (".", ",")
        name = f["title"].replace("&", "&amp;").replace("'", "&#39;")
        head = (
            '<script type="application/ld+json">\n{\n  "@context": "https://schema.org",\n'
            f'  "@type": "Product",\n  "name": "{name}",\n  "image": "{image}",\n'
            f'  "description": "{item.description}\nFree shipping &amp; returns.",\n'
            f'  "brand": {{"@type": "Brand", "name": "{item.brand.replace("&", "&amp;").replace(chr(39), "&#39;")}"}},\n'
            f'  "mpn": "{item.model}",\n  "offers": {{\n    "@type": "Offer",\n'
            f'    "price": "{format_price(price, *sep)}",\n    "priceCurrency": "{cur}",\n'
            f'    "availability": "{_avail(f["in_stock"])}",\n  }},\n}}\n</script>'
        )
    else:  # offerlist
        sellers = [site, "Marketplace Partner GmbH", "Refurb Direct"]
        prices = [price, round(price * 1.07, 2), round(price * 0.85, 2)]
        head = _ld(
            {
                "@context": "https://schema.org",
                "@type": "Product",
                "name": f["title"],
                "image": {"@type": "ImageObject", "contentUrl": image},
                "sku": item.model,
                "brand": {"@type": "Brand", "name": item.brand},
                "gtin13": item.ean,
                "offers": [
                    {
                        "@type": "Offer",
                        "price": p,
                        "priceCurrency": cur,
                        # All follow the product's stock: a buyer's offer (new, in stock,
                        # cheapest) is then the shop's own at the product's price.
                        "availability": _avail(f["in_stock"]),
                        "itemCondition": f"https://schema.org/{'RefurbishedCondition' if i == 2 else 'NewCondition'}",
                        "seller": {"@type": "Organization", "name": s},
                    }
                    for i, (s, p) in enumerate(zip(sellers, prices, strict=True))
                ],
            }
        )
    return _PAGE.format(page_title=escape(f["title"]), site=escape(site), head=head, body=body)


@bp.get("/sites/<site>/p/<handle>")
def product_page(site: str, handle: str) -> tuple[str, int, dict[str, str]]:
    if not HANDLE_RE.match(handle) or not HANDLE_RE.match(site):
        abort(404)
    state = current_app.extensions["simulator"]
    path = f"/sites/{site}/p/{handle}"
    facts = product_facts(
        state.seed,
        site,
        handle,
        state.drift_seconds,
        state.pinned_price(path),
        state.item_changes(path),
    )
    return (
        render(facts, site, request.host_url.rstrip("/") + path),
        200,
        {"Content-Type": "text/html; charset=utf-8"},
    )
