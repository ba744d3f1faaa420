"""A product by any id the product API takes: its fields, offers, price history as a chart
and the 30-day stats, from what is stored (free); "Fetch now" is a metered product lookup."""

from __future__ import annotations

import uuid

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from api.auth import runtime
from api.console.base import bp, page, posted, principal, signed_in
from api.console.chart import price_chart
from freshet import products
from freshet.products import LookupOptions

FETCH = LookupOptions(offers_reviews=True)  # a product never fetched yet
REFRESH = LookupOptions(offers_reviews=True, force=True)  # a stored one, fetched again now
FIELDS = (
    "title", "brand", "item_id", "upc", "ean", "gtin", "isbn", "asin", "mpn", "model",
    "current_price", "buybox_price", "msrp", "in_stock", "seller_name", "average_rating",
    "review_count", "categories", "source", "url", "walmart_url", "fetched_at",
)  # fmt: skip


@bp.get("/products/<path:product_id>", merge_slashes=False)
@signed_in
def product_detail(product_id: str) -> str:
    rt = runtime()
    with rt.engine.connect() as conn:
        found = products.stored(conn, rt.settings, principal(), product_id)
    if found is None:
        return page("product_missing.html", product_id=product_id, cost=FETCH.cost)
    chart = price_chart(found["price_history"], found["stats"], "")
    fields = [(f, found.get(f)) for f in FIELDS if found.get(f) not in (None, "", [])]
    return page(
        "product.html",
        p=found,
        fields=fields,
        chart=chart,
        product_id=product_id,
        cost=REFRESH.cost,
    )


@bp.post("/products/<path:product_id>/fetch", merge_slashes=False)
@posted
def product_fetch(product_id: str) -> WerkzeugResponse:
    """Fetch (or, with `force=1`, refresh) through the metered product lookup."""
    rid = g.get("request_id") or str(uuid.uuid4())
    opts = REFRESH if request.form.get("force") == "1" else FETCH
    out = products.lookup(runtime(), principal(), product_id, opts, rid)
    if out.status == 202:
        return redirect(url_for("console.job_detail", job_id=out.body["jobId"]), code=303)
    return redirect(url_for("console.product_detail", product_id=out.body["product_id"]), code=303)
