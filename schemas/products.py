"""Product lookup: the query flags the vendor's (retailerapi) clients send, and the answer."""

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

FORMATS = ("item_id", "upc", "ean", "isbn", "gtin", "asin", "uuid", "url")
_TRUE = {"true", "1", "yes", "on", "t", "y", ""}  # a bare `?force_refresh` means true
_FALSE = {"false", "0", "no", "off", "f", "n"}


class Flag(fields.Field[bool]):
    """A boolean query flag; anything but the usual spellings is an error, not false."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        low = str(value).strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValidationError("must be true or false")


class ProductQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(
        load_default=None,
        validate=validate.OneOf(FORMATS),
        metadata={"description": "how to read {id} when ambiguous"},
    )
    include_offers_reviews = Flag(load_default=False, metadata={"description": "+5 tokens"})
    include_offers = Flag(load_default=False, metadata={"description": "alias"})
    include_reviews = Flag(load_default=False, metadata={"description": "alias"})
    force_refresh = Flag(load_default=False, metadata={"description": "+3 tokens"})
    include_force_refresh = Flag(load_default=False, metadata={"description": "alias"})
    max_age = fields.Integer(
        load_default=None,
        validate=validate.Range(0, 10 * 365 * 86400),
        metadata={
            "description": "refresh when cached data is older (s); below the price TTL "
            "(FRESHET_TTL_PRICE) it is a force refresh: +3 tokens, under the force cap"
        },
    )
    include_history = Flag(load_default=True, metadata={"description": "free; always on"})
    include_stats = Flag(load_default=True, metadata={"description": "free; always on"})
    include_cross_retailer = Flag(load_default=False, metadata={"description": "answers {}"})
    include_seller_context = Flag(load_default=False, metadata={"description": "answers null"})
    retailer = fields.String(
        load_default="walmart",
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,39}$"),
        metadata={"description": "source slug; walmart by default"},
    )


class Dimensions(Schema):
    height_in = fields.Float(allow_none=True)
    width_in = fields.Float(allow_none=True)
    length_in = fields.Float(allow_none=True)


class Offer(Schema):
    seller_id = fields.String(allow_none=True)
    seller_name = fields.String(allow_none=True)
    price = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    in_stock = fields.Boolean(allow_none=True)
    shipping_price = fields.Float(allow_none=True)
    is_buybox = fields.Boolean()


class PricePoint(Schema):
    date = fields.String()
    observed_at = fields.String()
    price = fields.Float()


class Stats(Schema):
    low_30d = fields.Float(allow_none=True)
    high_30d = fields.Float(allow_none=True)
    avg_30d = fields.Float(allow_none=True)


class ReviewSummary(Schema):
    average_rating = fields.Float(allow_none=True)
    total_reviews = fields.Integer(allow_none=True)


class TopReview(Schema):
    rating = fields.Float(allow_none=True)
    title = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    author = fields.String(allow_none=True)
    date = fields.String(allow_none=True)


def _s() -> fields.String:
    return fields.String(allow_none=True)


def _f() -> fields.Float:
    return fields.Float(allow_none=True)


class Product(Schema):
    """The seed's exact shape, in its order, null where unknown; then what Freshet adds."""

    item_id = _s()
    upc = _s()
    ean = _s()
    isbn = _s()
    gtin = _s()
    asin = _s()
    mpn = _s()
    model = _s()
    title = _s()
    brand = _s()
    image_url = _s()
    description = _s()
    current_price = _f()
    buybox_price = _f()
    secondary_offer_price = _f()
    msrp = _f()
    weight_lbs = _f()
    dimensions = fields.Nested(Dimensions)
    offers_count = fields.Integer(allow_none=True)
    seller_id = _s()
    seller_name = _s()
    average_rating = _f()
    review_count = fields.Integer(allow_none=True)
    categories = fields.List(fields.String())
    walmart_url = _s()
    in_stock = fields.Boolean(allow_none=True)
    offers = fields.List(fields.Nested(Offer), metadata={"description": "with offers/reviews"})
    price_history = fields.List(fields.Nested(PricePoint), metadata={"description": "30 days"})
    stats = fields.Nested(Stats)
    review_summary = fields.Nested(ReviewSummary, allow_none=True)
    top_reviews = fields.List(fields.Nested(TopReview))
    cross_retailer = fields.Dict(metadata={"description": "always {}"})
    seller_context = fields.Dict(allow_none=True, metadata={"description": "always null"})
    product_id = fields.String()
    source = fields.String()
    url = _s()
    cached = fields.Boolean()
    fetched_at = _s()
    tokens_consumed = fields.Integer()
    tokens_remaining = fields.Integer()


class ProductPending(Schema):
    jobId = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String()
    statusUrl = fields.String()
    tokens_reserved = fields.Integer()
    tokens_remaining = fields.Integer()
