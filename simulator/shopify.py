"""Simulated Shopify stores: `/shops/<shop>/products/<handle>` as a theme's HTML page, the
`.json` shape (decimal-string prices) and the storefront `.js` shape (prices in cents).
Shops whose name starts with "nojson" answer 404 on `.json`, as stores that disabled it do."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from flask import Blueprint, abort, current_app

from simulator.data import drifted_price, gtin_check_digit, make_item, rng, with_changes

bp = Blueprint("shopify", __name__)
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
SHOP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

_PAGE = """<!doctype html><html class="no-js" lang="en"><head><meta charset="utf-8">
<title>{title} &ndash; {shop}</title><link rel="canonical" href="{canonical}">
<meta property="og:type" content="product"><meta property="og:title" content="{title}">
<meta property="og:price:amount" content="{price}"><meta property="og:price:currency" content="USD">
<script>window.Shopify = window.Shopify || {{}}; Shopify.shop = "{shop}.myshopify.com";</script>
<script type="application/ld+json">{jsonld}</script></head>
<body class="template-product"><main id="MainContent"><div class="product"><h1 class="product__title">{title}</h1>
<div class="price"><span class="price-item price-item--regular">${price}</span></div>
<div class="product__description rte">{body_html}</div></div></main>
<script type="application/json" id="ProductJson-product-template">{product_js}</script></body></html>"""


def product_data(
    seed: int,
    shop: str,
    handle: str,
    drift: float,
    pinned: float | None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The shop's product as plain data; the three renderings below share it."""
    changes = changes or {}
    item = with_changes(make_item(seed, f"shopify:{shop}", handle), changes)
    r = rng(seed, "shopify-variants", shop, handle)
    price = pinned if pinned is not None else drifted_price(item, drift)
    sizes = r.choice((["Default Title"], ["S", "M", "L"], ["Black", "White"]))
    variants = []
    for i, option in enumerate(sizes):
        barcode_body = item.ean[:-3] + f"{i:02d}"
        variants.append(
            {
                "id": int(f"4{r.randint(10**12, 10**13 - 1)}"),
                "title": option,
                "option1": option,
                "sku": f"{item.model}-{option[:1].upper()}",
                # The first variant is the one a product page shows; it is always orderable.
                "price": price if i == 0 else round(price + r.choice((0, 2, 5)), 2),
                "compare_at_price": round(item.base_price * 1.25, 2) if r.random() < 0.4 else None,
                "barcode": (barcode_body + gtin_check_digit(barcode_body))
                if r.random() < 0.7
                else "",
                "grams": int(item.weight_lbs * 453.592),
                "available": changes["in_stock"]
                if "in_stock" in changes
                else (i == 0 or r.random() < 0.7),
                "inventory_quantity": r.randint(1, 50) if i == 0 else r.randint(0, 5),
            }
        )
    return {
        "id": int(f"7{r.randint(10**12, 10**13 - 1)}"),
        "title": item.title,
        "handle": handle,
        "vendor": item.brand,
        "product_type": item.categories[-1],
        "body_html": f"<p>{escape(item.description)}</p>",
        "created_at": "2023-04-12T10:11:12-04:00",
        "tags": [item.categories[0], item.brand],
        "variants": variants,
        "image": f"https://cdn.shopify.com/s/files/1/0{r.randint(100, 999)}/files/{item.image_id}.jpg",
    }


def render_json(p: dict[str, Any]) -> str:
    product = {
        "id": p["id"],
        "title": p["title"],
        "body_html": p["body_html"],
        "vendor": p["vendor"],
        "product_type": p["product_type"],
        "created_at": p["created_at"],
        "handle": p["handle"],
        "updated_at": p["created_at"],
        "published_at": p["created_at"],
        "template_suffix": "",
        "published_scope": "web",
        "tags": ", ".join(p["tags"]),
        "variants": [
            {
                "id": v["id"],
                "product_id": p["id"],
                "title": v["title"],
                "price": f"{v['price']:.2f}",
                "sku": v["sku"],
                "position": i + 1,
                "inventory_policy": "deny",
                "compare_at_price": f"{v['compare_at_price']:.2f}"
                if v["compare_at_price"]
                else None,
                "fulfillment_service": "manual",
                "inventory_management": "shopify",
                "option1": v["option1"],
                "option2": None,
                "option3": None,
                "taxable": True,
                "barcode": v["barcode"],
                "grams": v["grams"],
                "weight": round(v["grams"] / 1000, 3),
                "weight_unit": "kg",
                "inventory_quantity": v["inventory_quantity"] if v["available"] else 0,
                "requires_shipping": True,
            }
            for i, v in enumerate(p["variants"])
        ],
        "options": [
            {"name": "Title", "position": 1, "values": [v["title"] for v in p["variants"]]}
        ],
        "images": [
            {"id": p["id"] + 1, "position": 1, "src": p["image"], "width": 1024, "height": 1024}
        ],
        "image": {"id": p["id"] + 1, "src": p["image"]},
    }
    return json.dumps({"product": product})


def _js(p: dict[str, Any]) -> dict[str, Any]:
    cents = [round(v["price"] * 100) for v in p["variants"]]
    compare = p["variants"][0]["compare_at_price"]
    return {
        "id": p["id"],
        "title": p["title"],
        "handle": p["handle"],
        "description": p["body_html"],
        "published_at": p["created_at"],
        "created_at": p["created_at"],
        "vendor": p["vendor"],
        "type": p["product_type"],
        "tags": p["tags"],
        "price": cents[0],
        "price_min": min(cents),
        "price_max": max(cents),
        "available": any(v["available"] for v in p["variants"]),
        "price_varies": len(set(cents)) > 1,
        "compare_at_price": round(compare * 100) if compare else None,
        "variants": [
            {
                "id": v["id"],
                "title": v["title"],
                "option1": v["option1"],
                "sku": v["sku"],
                "requires_shipping": True,
                "taxable": True,
                "available": v["available"],
                "name": p["title"],
                "price": c,
                "weight": v["grams"],
                "barcode": v["barcode"],
                "compare_at_price": round(v["compare_at_price"] * 100)
                if v["compare_at_price"]
                else None,
            }
            for v, c in zip(p["variants"], cents, strict=True)
        ],
        "images": [p["image"].removeprefix("https:")],
        "featured_image": p["image"].removeprefix("https:"),
    }


def render_js(p: dict[str, Any]) -> str:
    return json.dumps(_js(p))


def render_html(p: dict[str, Any], shop: str, path: str) -> str:
    first = p["variants"][0]
    jsonld = {
        "@context": "http://schema.org/",
        "@type": "Product",
        "name": p["title"],
        "url": path,
        "image": [p["image"]],
        "description": p["body_html"],
        "sku": first["sku"],
        "brand": {"@type": "Brand", "name": p["vendor"]},
        "offers": [
            {
                "@type": "Offer",
                "sku": v["sku"],
                "price": f"{v['price']:.2f}",
                "priceCurrency": "USD",
                "url": f"{path}?variant={v['id']}",
                "availability": "http://schema.org/"
                + ("InStock" if v["available"] else "OutOfStock"),
            }
            for v in p["variants"]
        ],
    }
    if first["barcode"]:
        jsonld["gtin13"] = first["barcode"]
    return _PAGE.format(
        title=escape(p["title"]),
        shop=escape(shop),
        canonical=path,
        price=f"{first['price']:.2f}",
        jsonld=json.dumps(jsonld).replace("</", "<\\/"),
        body_html=p["body_html"],
        product_js=json.dumps(_js(p)).replace("</", "<\\/"),
    )


@bp.get("/shops/<shop>/products/<handle>")
def product(shop: str, handle: str) -> tuple[str, int, dict[str, str]]:
    kind = "html"
    for suffix in (".json", ".js"):
        if handle.endswith(suffix):
            handle, kind = handle.removesuffix(suffix), suffix
    if not HANDLE_RE.match(handle) or not SHOP_RE.match(shop):
        abort(404)
    if kind == ".json" and shop.startswith("nojson"):
        abort(404)  # stores that turned the .json endpoint off; clients fall back to .js
    state = current_app.extensions["simulator"]
    path = f"/shops/{shop}/products/{handle}"
    p = product_data(
        state.seed,
        shop,
        handle,
        state.drift_seconds,
        state.pinned_price(path),
        state.item_changes(path),
    )
    if kind == ".json":
        return render_json(p), 200, {"Content-Type": "application/json; charset=utf-8"}
    if kind == ".js":
        return render_js(p), 200, {"Content-Type": "application/javascript; charset=utf-8"}
    return render_html(p, shop, path), 200, {"Content-Type": "text/html; charset=utf-8"}
