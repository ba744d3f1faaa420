"""Review refresh requests and the vendor's (Descripio) response shapes."""

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.common import ErrorSchema

# What the handlers enforce (freshet.reviews.submission), stated in the spec: an ASIN is
# exactly 10 ASCII letters or digits; a marketplace is amazon.<tld>[.<cc>], any case.
ASIN_PATTERN = r"^[A-Za-z0-9]{10}$"
MARKETPLACE_PATTERN = r"^[Aa][Mm][Aa][Zz][Oo][Nn]\.[A-Za-z]{2,3}(\.[A-Za-z]{2})?$"


def _asin(**kw: object) -> fields.String:
    return fields.String(
        validate=validate.Regexp(ASIN_PATTERN),
        metadata={"description": "10 letters or digits", "example": "B08N5WRWNW"},
        **kw,  # type: ignore[arg-type]
    )


def _marketplace() -> fields.String:
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(MARKETPLACE_PATTERN),
        metadata={
            "description": "amazon.de by default; one of your plan's marketplaces",
            "example": "amazon.de",
        },
    )


class ReviewRefreshRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    asin = _asin(required=True)
    marketplace = _marketplace()


class ReviewRefreshAccepted(Schema):
    jobId = fields.Integer(required=True)
    asin = fields.String(required=True)
    status = fields.String(required=True, validate=validate.Equal("queued"))
    message = fields.String(required=True)
    estimatedCompletionSeconds = fields.Integer(required=True)


class CooldownError(ErrorSchema):
    jobId = fields.Integer(metadata={"description": "Your job that holds the cooldown"})


class ReviewsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    asin = _asin(required=True)
    marketplace = _marketplace()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(load_default=None)


class ReviewItem(Schema):
    id = fields.Integer()
    amazonReviewId = fields.String()
    title = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    date = fields.String(allow_none=True)
    isTopReview = fields.Boolean()
    country = fields.String(allow_none=True)
    scrapedAt = fields.DateTime()
    rating = fields.Float(allow_none=True)
    author = fields.String(allow_none=True)
    verifiedPurchase = fields.Boolean()
    helpfulVotes = fields.Integer()


class ReviewSummary(Schema):
    averageRating = fields.Float(allow_none=True)
    totalReviews = fields.Integer(allow_none=True)
    storedReviews = fields.Integer()
    histogram = fields.Dict(keys=fields.String(), values=fields.Integer())


class CachedReviews(Schema):
    asin = fields.String(required=True)
    title = fields.String(allow_none=True)
    imageUrl = fields.String(allow_none=True)
    marketplace = fields.String()
    reviewCount = fields.Integer()
    reviews = fields.List(fields.Nested(ReviewItem))
    lastScraped = fields.DateTime(allow_none=True)
    cached = fields.Boolean(required=True)
    summary = fields.Nested(ReviewSummary)
    nextCursor = fields.String(allow_none=True)


class NoCachedReviews(Schema):
    asin = fields.String(required=True)
    reviews = fields.List(fields.Dict(), required=True)
    cached = fields.Boolean(required=True)
    message = fields.String(required=True)
