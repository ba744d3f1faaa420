"""What a product request asks for (flags, cost), whether the cache can answer it, and the
answer in the vendor's exact snake_case shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freshet.settings import Settings

BASE_COST, OFFERS_REVIEWS_COST, FORCE_COST = 1, 5, 3
WALMART_ITEM_URL = "https://www.walmart.com/ip/{item_id}"


@dataclass(frozen=True)
class LookupOptions:
    offers_reviews: bool = False
    force: bool = False
    max_age: int | None = None  # seconds; overrides the configured TTLs
    retailer: str = "walmart"
    format: str | None = None
    cross_retailer: bool = False
    seller_context: bool = False

    @property
    def cost(self) -> int:
        return BASE_COST + OFFERS_REVIEWS_COST * self.offers_reviews + FORCE_COST * self.force


def needs_fetch(row: Any | None, opts: LookupOptions, settings: Settings) -> bool:
    """True when the stored product cannot answer: missing, forced, or a field class too old."""
    if row is None or row.data is None or opts.force:
        return True
    classes = [("price", settings.ttl_price), ("static", settings.ttl_static)]
    if opts.offers_reviews:
        classes += [("offers", settings.ttl_price), ("reviews", settings.ttl_reviews)]
    for name, ttl in classes:
        age = getattr(row, f"{name}_age")
        limit = opts.max_age if opts.max_age is not None else ttl
        if age is None or float(age) > limit:
            return True
    return False


def _offer(o: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "seller_id",
        "seller_name",
        "price",
        "currency",
        "condition",
        "in_stock",
        "shipping_price",
        "is_buybox",
    )
    return {k: o.get(k) for k in keys}


def _review(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("rating", "title", "text", "author", "date")}


def answer(
    row: Any,
    opts: LookupOptions,
    *,
    history: list[dict[str, Any]],
    stats: dict[str, Any],
    tokens_consumed: int,
    tokens_remaining: int,
    cached: bool,
) -> dict[str, Any]:
    d: dict[str, Any] = row.data or {}
    dims = d.get("dimensions") or {}
    offers = d.get("offers") or []
    item_id = d.get("item_id") or row.item_id
    is_walmart = row.source == "walmart"
    return {
        "item_id": item_id,
        "upc": d.get("upc"),
        "ean": d.get("ean"),
        "isbn": d.get("isbn"),
        "gtin": d.get("gtin"),
        "asin": d.get("asin"),
        "mpn": d.get("mpn"),
        "model": d.get("model"),
        "title": d.get("title"),
        "brand": d.get("brand"),
        "image_url": d.get("image_url"),
        "description": d.get("description"),
        "current_price": d.get("current_price"),
        "buybox_price": d.get("buybox_price"),
        "secondary_offer_price": d.get("secondary_offer_price"),
        "msrp": d.get("msrp"),
        "weight_lbs": d.get("weight_lbs"),
        "dimensions": {
            "height_in": dims.get("height_in"),
            "width_in": dims.get("width_in"),
            "length_in": dims.get("length_in"),
        },
        "offers_count": len(offers) if offers else None,
        "seller_id": d.get("seller_id"),
        "seller_name": d.get("seller_name"),
        "average_rating": d.get("average_rating"),
        "review_count": d.get("review_count"),
        "categories": list(d.get("categories") or []),
        "walmart_url": WALMART_ITEM_URL.format(item_id=item_id) if is_walmart and item_id else None,
        "in_stock": d.get("in_stock"),
        "offers": [_offer(o) for o in offers] if opts.offers_reviews else [],
        "price_history": history,
        "stats": stats,
        "review_summary": {
            "average_rating": d.get("average_rating"),
            "total_reviews": d.get("review_count"),
        }
        if opts.offers_reviews
        else None,
        "top_reviews": [_review(r) for r in d.get("top_reviews") or []]
        if opts.offers_reviews
        else [],
        # Accepted from the vendor's clients; Freshet has nothing to put there (free).
        "cross_retailer": {},
        "seller_context": None,
        "product_id": str(row.id),
        "source": row.source,
        "url": row.url,
        "cached": cached,
        "fetched_at": _iso(row.fetched_at),
        "tokens_consumed": tokens_consumed,
        "tokens_remaining": tokens_remaining,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
