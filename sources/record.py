"""The normalized records every source produces: a product, or a page of reviews."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from sources.availability import Availability


@dataclass
class Dimensions:
    height_in: float | None = None
    width_in: float | None = None
    length_in: float | None = None


@dataclass
class Offer:
    seller_id: str | None = None
    seller_name: str | None = None
    price: float | None = None
    currency: str | None = None
    condition: str | None = None  # "new", "used", "refurbished", ...
    in_stock: bool | None = None
    shipping_price: float | None = None
    is_buybox: bool = False
    availability: Availability | None = None
    sku: str | None = None
    gtin: str | None = None  # as the offer gives it (GTIN-8/12/13/14)
    mpn: str | None = None


@dataclass
class TopReview:
    rating: float | None = None
    title: str | None = None
    text: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601 date


@dataclass
class ProductRecord:
    """One product as a source saw it. Prices are decimal amounts (49.0), never cents."""

    source: str
    url: str | None = None
    item_id: str | None = None  # the source's own id (Walmart usItemId, Shopify product id)
    upc: str | None = None
    ean: str | None = None
    isbn: str | None = None
    gtin: str | None = None  # GTIN-14, zero padded
    asin: str | None = None
    mpn: str | None = None
    model: str | None = None
    sku: str | None = None
    title: str | None = None
    brand: str | None = None
    image_url: str | None = None
    description: str | None = None
    currency: str | None = None
    current_price: float | None = None
    buybox_price: float | None = None
    secondary_offer_price: float | None = None
    msrp: float | None = None
    weight_lbs: float | None = None
    dimensions: Dimensions = field(default_factory=Dimensions)
    seller_id: str | None = None
    seller_name: str | None = None
    average_rating: float | None = None
    review_count: int | None = None
    categories: list[str] = field(default_factory=list)
    in_stock: bool | None = None
    offers: list[Offer] = field(default_factory=list)
    top_reviews: list[TopReview] = field(default_factory=list)
    # The stock state behind in_stock (sources.availability.STATES), or None.
    availability: Availability | None = None
    # The best rating of the page's scale when it was not 5 (average_rating is on 0-5).
    rating_scale: float | None = None
    # Where each field's value came from: {"current_price": "jsonld", "in_stock":
    # "opengraph", ...}; docs/sources.md lists the origins and their order of trust.
    provenance: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`, without its deep copies: every value here is a string,
        number, bool or None, or a list, dict or record of those, and the dict is only
        serialized."""
        out: dict[str, Any] = _plain(self)
        return out

    def filled(self) -> list[str]:
        """The fields that hold a value: those a provenance entry speaks for."""
        return [
            name
            for name in self.__dataclass_fields__
            if name not in ("source", "url", "provenance")
            and getattr(self, name) not in (None, [], {}, "", Dimensions())
        ]


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, type(None))):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS.get(type(value))
        if names is None:
            names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
        return {n: _plain(getattr(value, n)) for n in names}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


@dataclass
class Review:
    amazon_review_id: str
    rating: float | None = None
    title: str | None = None
    content: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601 date
    country: str | None = None
    verified_purchase: bool = False
    helpful_votes: int = 0
    is_top_review: bool = False


@dataclass
class ReviewPage:
    """One page of an ASIN's reviews, with what the page says about the product."""

    asin: str
    marketplace: str
    page: int
    product_title: str | None = None
    image_url: str | None = None
    total_reviews: int | None = None
    average_rating: float | None = None
    histogram: dict[str, int] = field(default_factory=dict)  # "5" -> percent or count
    reviews: list[Review] = field(default_factory=list)
    next_page_url: str | None = None
    # Set when the page lists only reviews with this many stars (`filterByStar`): its
    # counts are the filter's, so total_reviews is None; average_rating stays the product's.
    star_filter: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`, without its deep copies: every value here is a string,
        number, bool or None, or a list, dict or record of those, and the dict is only
        serialized."""
        out: dict[str, Any] = _plain(self)
        return out


class SourceError(Exception):
    """Base for what a source can raise."""

    code = "source_error"


class PermanentSourceError(SourceError):
    """Retrying will not help: 404, 410, an unparseable page, a blocked address."""

    code = "permanent"


class TransientSourceError(SourceError):
    """Retry later: timeout, connection error, 429, 5xx. retry_after in seconds, if known."""

    code = "transient"

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ParseError(PermanentSourceError):
    code = "unparseable"


class BlockedAddressError(PermanentSourceError):
    code = "blocked_address"
