"""Simulated walmart.com item pages: the item in `__NEXT_DATA__` at its real nesting, with
sponsored and similar-item modules about other items around it, idml specs, reviews and
a JSON-LD Product block."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from flask import Blueprint, abort, current_app

from simulator.data import SELLERS, Item, drifted_price, make_item, rng, with_changes

bp = Blueprint("walmart", __name__)

BOT_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Robot or human?</title></head><body>
<div class="re-captcha"><h1>Robot or human?</h1><p>Activate and hold the button to confirm that you're human. Thank You!</p>
<div id="px-captcha"></div></div></body></html>"""

_PAGE = """<!DOCTYPE html><html lang="en-US"><head><meta charSet="utf-8"/>
<title>{title} - Walmart.com</title><meta name="description" content="Arrives by Tomorrow. Buy {title} at Walmart.com"/>
<meta property="og:type" content="product"/><meta property="og:title" content="{title}"/><meta property="og:image" content="{image}"/>
<link rel="canonical" href="https://www.walmart.com/ip/{slug}/{item_id}"/>
<script type="application/ld+json" data-seo-id="schema-org-product">{jsonld}</script>
<link rel="preload" href="/_next/static/chunks/main-app.js" as="script"/></head>
<body><div id="__next"><div class="flex flex-column h-100"><header class="bg-primary"><a href="/" aria-label="Walmart. Save Money. Live Better.">Walmart</a></header>
<main><section data-testid="item-page"><h1 id="main-title" itemprop="name">{title}</h1>
<div data-testid="add-to-cart-section"><span itemprop="price" data-seo-id="hero-price">${price}</span></div></section>
<section data-testid="sponsored-products" aria-label="Sponsored products">{sponsored_html}</section></main></div></div>
<script id="__NEXT_DATA__" type="application/json" nonce="">{next_data}</script>
<script src="/_next/static/chunks/webpack.js" async=""></script></body></html>"""


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")


def _price_info(price: float, was: float | None) -> dict[str, Any]:
    return {
        "currentPrice": {
            "price": price,
            "priceString": f"${price:,.2f}",
            "currencyUnit": "USD",
            "variantPriceString": f"${price:,.2f}",
        },
        "wasPrice": {"price": was, "priceString": f"${was:,.2f}", "currencyUnit": "USD"}
        if was
        else None,
        "listPrice": None,
        "unitPrice": None,
        "priceDisplayCodes": {
            "rollback": bool(was),
            "strikethrough": bool(was),
            "clearance": False,
        },
    }


def _sponsored(seed: int, item_id: str, drift: float) -> list[dict[str, Any]]:
    others = []
    for k in range(1, 4):
        other_id = str(int(item_id) + k * 7919)
        other = make_item(seed, "walmart", other_id)
        others.append(
            {
                "__typename": "Product",
                "usItemId": other_id,
                "name": other.title,
                "brand": other.brand,
                "priceInfo": _price_info(drifted_price(other, drift), None),
                "averageRating": other.rating,
                "numberOfReviews": other.rating_count,
                "availabilityStatus": "IN_STOCK",
                "imageInfo": {
                    "thumbnailUrl": f"https://i5.walmartimages.com/seo/{_slug(other.title)}_{other.image_id}.jpeg"
                },
                "sponsoredProduct": {
                    "spQs": "abc" + other.image_id,
                    "clickBeacon": "wmt:sp:click",
                    "spTags": None,
                },
            }
        )
    return others


def _reviews(seed: int, item_id: str, item: Item) -> dict[str, Any]:
    r = rng(seed, "walmart-reviews", item_id)
    customer = [
        {
            "reviewId": str(r.randint(10**8, 10**9)),
            "rating": r.choice((5, 5, 4, 3, 1)),
            "reviewTitle": r.choice(("Works great", "Good value", "Broke quickly", "As described")),
            "reviewText": r.choice(
                (
                    "Exactly what I needed.",
                    "Does the job for the price.",
                    "Stopped working after two weeks.",
                    "Easy to use & clean.",
                )
            ),
            "userNickname": r.choice(("Mary", "JohnD", "Shopper1234", "Kelly")),
            "reviewSubmissionTime": f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.choice((2023, 2024))}",
        }
        for _ in range(min(3, item.rating_count))
    ]
    return {
        "averageOverallRating": item.rating,
        "totalReviewCount": item.rating_count,
        "customerReviews": customer,
        "topPositiveReview": customer[0] if customer else None,
    }


def render_item(
    seed: int,
    item_id: str,
    drift: float,
    pinned: float | None,
    changes: dict[str, Any] | None = None,
) -> str:
    item = with_changes(make_item(seed, "walmart", item_id), changes)
    price = pinned if pinned is not None else drifted_price(item, drift)
    r = rng(seed, "walmart-extra", item_id)
    was = (
        round(item.base_price * 1.3, 2)
        if r.random() < 0.5 and item.base_price * 1.3 > price
        else None
    )
    image = f"https://i5.walmartimages.com/seo/{_slug(item.title)}_{item.image_id}.jpeg"
    status = "IN_STOCK" if item.in_stock else "OUT_OF_STOCK"
    extra_offers = [
        {
            "sellerId": sid,
            "sellerName": name,
            "sellerDisplayName": name,
            "availabilityStatus": "IN_STOCK",
            "priceInfo": _price_info(round(price * r.uniform(1.02, 1.25), 2), None),
            "conditionType": "New",
        }
        for sid, name in r.sample(SELLERS[1:], r.choice((0, 0, 1, 2)))
    ]
    product = {
        "__typename": "Product",
        "id": item.image_id.upper(),
        "usItemId": item_id,
        "name": item.title,
        "brand": item.brand,
        "model": item.model,
        "upc": item.upc,
        "manufacturerName": item.brand,
        "manufacturerProductId": item.model,
        "availabilityStatus": status,
        "averageRating": item.rating,
        "numberOfReviews": item.rating_count,
        "sellerId": item.seller_id,
        "sellerName": item.seller_name,
        "sellerDisplayName": item.seller_name,
        "shortDescription": f"<p>{escape(item.description)}</p>",
        "imageInfo": {
            "thumbnailUrl": image,
            "allImages": [{"id": item.image_id, "url": image, "zoomable": True}],
        },
        "priceInfo": _price_info(price, was),
        "category": {
            "path": [
                {"name": c, "url": f"/cp/{_slug(c).lower()}/{i}"}
                for i, c in enumerate(item.categories)
            ]
        },
        "shippingOption": {"shipPrice": {"price": 0}, "availabilityStatus": "AVAILABLE"},
        "additionalOffers": extra_offers,
        "offerId": item.image_id[:12].upper(),
        "fulfillmentType": "FC",
    }
    data: dict[str, Any] = {
        # Sponsored modules come first, as on real pages, so a naive "first usItemId" is wrong.
        "contentLayout": {
            "modules": [
                {
                    "type": "SponsoredProductsCarousel",
                    "name": "Sponsored products",
                    "configs": {"products": _sponsored(seed, item_id, drift)},
                },
                {
                    "type": "SimilarItems",
                    "configs": {
                        "title": "Similar items you might like",
                        "products": _sponsored(seed, str(int(item_id) + 31), drift)[:2],
                    },
                },
            ]
        },
        "product": product,
        "idml": {
            "longDescription": f"<ul><li>{escape(item.description)}</li></ul>",
            "specifications": [
                {"name": "Brand", "value": item.brand},
                {"name": "Model", "value": item.model},
                {"name": "Manufacturer Part Number", "value": item.model},
                {"name": "Assembled Product Weight", "value": f"{item.weight_lbs} lb"},
                {
                    "name": "Assembled Product Dimensions (L x W x H)",
                    "value": f"{item.length_in:.2f} x {item.width_in:.2f} x {item.height_in:.2f} Inches",
                },
            ],
        },
        "reviews": _reviews(seed, item_id, item),
    }
    next_data = {
        "props": {
            "pageProps": {"initialData": {"data": data}, "bootstrapData": {"cv": {}}},
            "__N_SSP": True,
        },
        "page": "/ip/[...seoItemId]",
        "query": {"seoItemId": [_slug(item.title), item_id]},
        "buildId": "wmt-sim-1",
        "isFallback": False,
        "gssp": True,
        "locale": "en-US",
    }
    jsonld = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": item.title,
        "image": image,
        "sku": item_id,
        "gtin13": item.upc,
        "model": item.model,
        "description": item.description,
        "brand": {"@type": "Brand", "name": item.brand},
        "offers": [
            {
                "@type": "Offer",
                "url": f"https://www.walmart.com/ip/{_slug(item.title)}/{item_id}",
                "priceSpecification": {
                    "@type": "UnitPriceSpecification",
                    "price": price,
                    "priceCurrency": "USD",
                },
                "availability": f"https://schema.org/{'InStock' if item.in_stock else 'OutOfStock'}",
                "itemCondition": "https://schema.org/NewCondition",
            }
        ],
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": item.rating,
            "reviewCount": item.rating_count,
        }
        if item.rating_count
        else None,
    }
    sponsored_html = "".join(
        f'<div data-item-id="{p["usItemId"]}"><span>{escape(p["name"])}</span>'
        f"<span>${p['priceInfo']['currentPrice']['price']:.2f}</span></div>"
        for p in data["contentLayout"]["modules"][0]["configs"]["products"]
    )
    return _PAGE.format(
        title=escape(item.title),
        image=image,
        slug=_slug(item.title),
        item_id=item_id,
        jsonld=json.dumps(jsonld).replace("</", "<\\/"),
        price=f"{price:,.2f}",
        sponsored_html=sponsored_html,
        next_data=json.dumps(next_data).replace("</", "<\\/"),
    )


@bp.get("/walmart/ip/<item_id>")
@bp.get("/walmart/ip/<slug>/<item_id>")
def item_page(item_id: str, slug: str | None = None) -> tuple[str, int, dict[str, str]]:
    if not item_id.isdigit() or len(item_id) > 20:
        abort(404)
    state = current_app.extensions["simulator"]
    path = f"/walmart/ip/{item_id}"
    html = render_item(
        state.seed, item_id, state.drift_seconds, state.pinned_price(path), state.item_changes(path)
    )
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}
