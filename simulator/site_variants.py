"""Markup variants of the simulated shop pages that stand for shapes real shops serve:
the buyer's offer among several, the product nested under a WebPage beside carousels and
related products, and a price only in Open Graph tags. Each says the same price and stock
as the page's facts (sites.product_facts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

Facts = dict[str, Any]


def ld(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


def availability(in_stock: bool, prefix: str = "https://schema.org/") -> str:
    return prefix + ("InStock" if in_stock else "OutOfStock")


def _offer(price: float, cur: str, in_stock: bool, seller: str, condition: str = "New") -> Facts:
    return {
        "@type": "Offer",
        "price": f"{price:.2f}",
        "priceCurrency": cur,
        "availability": availability(in_stock),
        "itemCondition": f"https://schema.org/{condition}Condition",
        "seller": {"@type": "Organization", "name": seller},
    }


def multioffer(f: Facts, site: str, url: str, image: str) -> str:
    """Marketplace offers listed cheapest first; the buyer's (new, orderable, cheapest) is
    neither the first nor the cheapest listed. Out of stock, nothing is orderable."""
    item, price, cur, stock = f["item"], f["price"], f["currency"], f["in_stock"]
    offers = [_offer(round(price * 0.7, 2), cur, stock, "Second Hand Hub", "Used")]
    if stock:
        offers.append(_offer(round(price * 0.9, 2), cur, False, "Flash Deals"))
    offers += [
        _offer(price, cur, stock, site),
        _offer(round(price * 1.1, 2), cur, stock, "Marketplace Partner GmbH"),
    ]
    return ld(
        {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": f["title"],
            "image": image,
            "sku": item.model,
            "brand": {"@type": "Brand", "name": item.brand},
            "offers": offers,
        }
    )


def nested(f: Facts, site: str, url: str, image: str) -> str:
    """A carousel of cheaper products first, then a WebPage whose mainEntity is the
    product, which names a similar product of its own."""
    item, price, cur = f["item"], f["price"], f["currency"]
    carousel = {
        "@context": "https://schema.org",
        "@type": "ItemList",
        "name": "Customers also viewed",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": n + 1,
                "item": {
                    "@type": "Product",
                    "name": f"{item.brand} Accessory Kit {n + 1}",
                    "url": f"{url}-kit-{n + 1}",
                    "offers": _offer(round(price * 0.3 + n, 2), cur, True, site),
                },
            }
            for n in range(2)
        ],
    }
    page = {
        "@context": "https://schema.org",
        "@type": "WebPage",
        "url": url,
        "mainEntity": {
            "@type": "Product",
            "name": f["title"],
            "url": url,
            "image": image,
            "sku": item.model,
            "brand": {"@type": "Brand", "name": item.brand},
            "offers": _offer(f["price"], cur, f["in_stock"], site),
            "isSimilarTo": {
                "@type": "Product",
                "name": f"{item.brand} Basic {item.model}",
                "offers": _offer(round(price * 0.8, 2), cur, True, site),
            },
        },
    }
    return f'<link rel="canonical" href="{escape(url)}">' + ld(carousel) + ld(page)


def ogonly(f: Facts, site: str, url: str, image: str) -> str:
    """A Product without offers; price and stock only in Open Graph product tags."""
    item = f["item"]
    return (
        f'<meta property="og:type" content="product"><meta property="og:url" content="{escape(url)}">'
        f'<meta property="product:price:amount" content="{f["price"]:.2f}">'
        f'<meta property="product:price:currency" content="{f["currency"]}">'
        f'<meta property="og:availability" content="{"instock" if f["in_stock"] else "oos"}">'
        + ld(
            {
                "@context": "https://schema.org",
                "@type": "Product",
                "name": f["title"],
                "image": image,
                "sku": item.model,
                "brand": {"@type": "Brand", "name": item.brand},
            }
        )
    )


HEADS: dict[str, Callable[[Facts, str, str, str], str]] = {
    "multioffer": multioffer,
    "nested": nested,
    "ogonly": ogonly,
}
