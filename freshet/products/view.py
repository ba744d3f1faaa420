"""What a product request asks for (flags, cost), whether the cache can answer it, and the
answer in the vendor's exact snake_case shape."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from freshet.settings import Settings
from schemas.products import Dimensions as DimensionsSchema
from schemas.products import Offer as OfferSchema
from schemas.products import Product
from schemas.products import TopReview as TopReviewSchema
from sources.record import ProductRecord

BASE_COST, OFFERS_REVIEWS_COST, FORCE_COST = 1, 5, 3
WALMART_ITEM_URL = "https://www.walmart.com/ip/{item_id}"
# Each class of a product's fields ages on its own; every answer reads the first two.
FIELD_CLASSES = ("price", "static", "offers", "reviews")


@dataclass(frozen=True)
class LookupOptions:
    offers_reviews: bool = False
    force: bool = False
    max_age: int | None = None  # seconds; overrides the configured TTLs
    retailer: str = "walmart"
    format: str | None = None
    cross_retailer: bool = False
    seller_context: bool = False
    # max_age shorter than the TTL of a field the answer reads: an upstream fetch sooner than
    # the cache would make one, so it is a force refresh (like Keepa's update=0): it costs
    # FORCE_COST and counts against the force-refresh cap. Set by `against(settings)`.
    below_ttl: bool = False

    @property
    def refreshes(self) -> bool:
        """Whether this request is a force refresh: force_refresh, or max_age below a TTL."""
        return self.force or self.below_ttl

    @property
    def cost(self) -> int:
        return BASE_COST + OFFERS_REVIEWS_COST * self.offers_reviews + FORCE_COST * self.refreshes

    def against(self, settings: Settings) -> LookupOptions:
        """These options with `below_ttl` decided by the configured TTLs."""
        ttls = [settings.ttl_price, settings.ttl_static]
        if self.offers_reviews:
            ttls += [settings.ttl_price, settings.ttl_reviews]
        below = self.max_age is not None and self.max_age < min(ttls)
        return dataclasses.replace(self, below_ttl=below)


def fresh_limits(opts: LookupOptions, settings: Settings) -> dict[str, float]:
    """The oldest each field class may be (seconds) for the cache to answer; -1 when forced.
    Offers and reviews count only when the answer includes them."""
    if opts.force:
        return dict.fromkeys(FIELD_CLASSES, -1.0)
    ttls = {
        "price": settings.ttl_price,
        "static": settings.ttl_static,
        "offers": settings.ttl_price,
        "reviews": settings.ttl_reviews,
    }
    return {k: float(opts.max_age if opts.max_age is not None else t) for k, t in ttls.items()}


def needs_fetch(row: Any | None, opts: LookupOptions, settings: Settings) -> bool:
    """True when the stored product cannot answer: missing, forced, or a field class too old."""
    if row is None or row.data is None or opts.force:
        return True
    limits = fresh_limits(opts, settings)
    for name in FIELD_CLASSES if opts.offers_reviews else FIELD_CLASSES[:2]:
        age = getattr(row, f"{name}_age")
        if age is None or float(age) > limits[name]:
            return True
    return False


# The answer's fields and their order are the Product schema's; a field that is also a
# field of the stored record (ProductRecord) is copied from it as it is.
_ORDER = tuple(Product._declared_fields)
_COPIED = frozenset(f.name for f in dataclasses.fields(ProductRecord)) & frozenset(_ORDER)
_OFFER_KEYS = tuple(OfferSchema._declared_fields)
_REVIEW_KEYS = tuple(TopReviewSchema._declared_fields)
_DIMENSION_KEYS = tuple(DimensionsSchema._declared_fields)


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
    full = opts.offers_reviews
    computed: dict[str, Any] = {
        "item_id": item_id,
        "dimensions": {k: dims.get(k) for k in _DIMENSION_KEYS},
        "offers_count": len(offers) if offers else None,
        "categories": list(d.get("categories") or []),
        "walmart_url": WALMART_ITEM_URL.format(item_id=item_id)
        if row.source == "walmart" and item_id
        else None,
        "offers": [{k: o.get(k) for k in _OFFER_KEYS} for o in offers] if full else [],
        "price_history": history,
        "stats": stats,
        "review_summary": {
            "average_rating": d.get("average_rating"),
            "total_reviews": d.get("review_count"),
        }
        if full
        else None,
        "top_reviews": [{k: r.get(k) for k in _REVIEW_KEYS} for r in d.get("top_reviews") or []]
        if full
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
    return {k: computed[k] if k in computed else d.get(k) for k in _ORDER}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
