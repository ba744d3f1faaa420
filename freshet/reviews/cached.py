"""Cached reviews as the vendor serves them: a page of reviews, the summary and histogram."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from freshet.pagination import decode_cursor, encode_cursor
from store.tables import review_products, reviews


def cached_reviews(
    conn: Connection, asin: str, marketplace: str, *, limit: int = 50, cursor: str | None = None
) -> dict[str, Any] | None:
    head = conn.execute(
        select(review_products).where(
            review_products.c.asin == asin, review_products.c.marketplace == marketplace
        )
    ).first()
    if head is None:
        return None
    q = select(reviews).where(reviews.c.asin == asin, reviews.c.marketplace == marketplace)
    if cursor:
        q = q.where(reviews.c.id > decode_cursor("r", cursor))
    found = conn.execute(q.order_by(reviews.c.id).limit(limit + 1)).all()
    page, more = found[:limit], len(found) > limit
    stats = conn.execute(
        select(reviews.c.rating, func.count())
        .where(reviews.c.asin == asin, reviews.c.marketplace == marketplace)
        .group_by(reviews.c.rating)
    ).all()
    hist = {str(s): 0 for s in range(1, 6)}
    total, weighted = 0, 0.0
    for rating, n in stats:
        if rating is not None:
            hist[str(max(1, min(5, round(rating))))] += n
            total += n
            weighted += rating * n
    return {
        "asin": asin,
        "title": head.title,
        "imageUrl": head.image_url,
        "marketplace": marketplace,
        "reviewCount": total,
        "reviews": [review_json(r) for r in page],
        "lastScraped": head.last_scraped,
        "cached": True,
        "summary": {
            "averageRating": round(weighted / total, 2) if total else head.average_rating,
            "totalReviews": head.total_reviews if head.total_reviews is not None else total,
            "storedReviews": total,
            "histogram": hist,
        },
        "nextCursor": encode_cursor("r", page[-1].id) if more else None,
    }


def review_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "amazonReviewId": r.amazon_review_id,
        "title": r.title,
        "content": r.content,
        "date": r.review_date.isoformat() if r.review_date else None,
        "isTopReview": r.is_top_review,
        "country": r.country,
        "scrapedAt": r.scraped_at,
        "rating": r.rating,
        "author": r.author,
        "verifiedPurchase": r.verified_purchase,
        "helpfulVotes": r.helpful_votes,
    }
