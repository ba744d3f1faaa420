"""Review refresh jobs: submission with guards and quota, the worker's fetch, cached reads."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from freshet import jobs, usage
from freshet.errors import BadRequest, Forbidden, PaymentRequired, RateLimited
from freshet.runtime import Runtime
from freshet.tenants import Principal
from guards import Admission, RateWindow
from store.tables import review_products, reviews

log = logging.getLogger("freshet.reviews")

ASIN_RE = re.compile(r"^[A-Za-z0-9]{10}$")
MARKETPLACE_RE = re.compile(r"^amazon\.[a-z]{2,3}(\.[a-z]{2})?$")
DEFAULT_MARKETPLACE = "amazon.de"
ESTIMATED_SECONDS = 60


def submit_window(principal: Principal) -> RateWindow:
    return RateWindow(f"org:{principal.org_id}:submit", principal.plan.requests_per_minute)


def validate_asin(asin: Any) -> str:
    if not isinstance(asin, str) or not ASIN_RE.match(asin):
        raise BadRequest(
            "ASIN must be exactly 10 letters or digits, e.g. B08N5WRWNW.",
            title="Invalid ASIN format",
            code="invalid_asin",
        )
    return asin.upper()


def validate_marketplace(marketplace: Any) -> str:
    if marketplace is None:
        return DEFAULT_MARKETPLACE
    if not isinstance(marketplace, str) or not MARKETPLACE_RE.match(marketplace.lower()):
        raise BadRequest(
            "marketplace must look like amazon.de or amazon.co.uk.",
            title="Invalid marketplace",
            code="invalid_marketplace",
        )
    return marketplace.lower()


def refuse(adm: Admission) -> RateLimited:
    """The seed's three 429s, each with its own code and an honest Retry-After."""
    if adm.reason == "cooldown":
        return RateLimited(
            f"This ASIN was refreshed recently (job {adm.holder_job_id}); wait for the cooldown "
            "or read the cached reviews with GET /api/v1/reviews.",
            title="ASIN cooldown active",
            code="asin_cooldown_active",
            retry_after=adm.retry_after,
            extra={"jobId": adm.holder_job_id},
        )
    if adm.reason == "concurrency":
        return RateLimited(
            "Your plan's concurrent job limit is reached; wait for a job to complete.",
            title="Too many concurrent jobs",
            code="too_many_concurrent_jobs",
            retry_after=adm.retry_after,
        )
    return RateLimited(
        "Too many requests this minute; wait and retry.",
        title="Rate limit exceeded",
        code="rate_limit_exceeded",
        retry_after=adm.retry_after,
    )


def submit(
    rt: Runtime, principal: Principal, asin: str, marketplace: str, request_id: str
) -> tuple[dict[str, Any], Admission]:
    plan = principal.plan
    if marketplace not in plan.marketplaces:
        raise Forbidden(
            f"Your plan does not include {marketplace}; add it in your plan or use "
            f"one of: {', '.join(plan.marketplaces)}.",
            title="Marketplace not authorized",
            code="marketplace_not_authorized",
        )
    quota_exceeded = PaymentRequired(
        "All review refresh jobs of this month are used; wait for the reset or upgrade.",
        title="Monthly quota exceeded",
        code="quota_exceeded",
    )
    with rt.engine.connect() as conn:
        if usage.used(conn, principal.org_id)["review_jobs"] >= plan.review_jobs_per_month:
            raise quota_exceeded
        job_id = jobs.allocate_ids(conn)[0]
        conn.commit()

    g = rt.guards
    cd_key = g.cooldown_key(principal.org_id, asin, marketplace)
    slot_key = g.slot_key(principal.org_id)
    adm = g.admit(
        [submit_window(principal)],
        cooldown=(cd_key, plan.asin_cooldown_seconds),
        slot=(slot_key, plan.concurrent_jobs, rt.settings.slot_ttl_seconds),
        job_id=job_id,
    )
    if not adm.ok:
        raise refuse(adm)
    try:
        with rt.engine.begin() as conn:
            if not usage.reserve(
                conn,
                org_id=principal.org_id,
                resource="review_jobs",
                amount=1,
                limit=plan.review_jobs_per_month,
                job_id=job_id,
                request_id=request_id,
            ):
                raise quota_exceeded
            jobs.insert(
                conn,
                id=job_id,
                org_id=principal.org_id,
                kind="reviews",
                asin=asin,
                marketplace=marketplace,
                max_attempts=rt.settings.max_attempts,
                request_id=request_id,
            )
    except BaseException:
        g.release(job_id, cooldown_key=cd_key, slot_key=slot_key)
        raise
    jobs.publish_after_commit(rt, [jobs.Dispatch(job_id, "reviews", request_id)])
    body = {
        "jobId": job_id,
        "asin": asin,
        "status": "queued",
        "message": f"Review refresh job queued for {asin} on {marketplace}.",
        "estimatedCompletionSeconds": ESTIMATED_SECONDS,
    }
    return body, adm


# the worker's side ---------------------------------------------------------------------------
class ReviewHandler:
    kind = "reviews"

    def wait_before(self, rt: Runtime, job: dict[str, Any]) -> float:
        return rt.guards.polite_wait(
            f"amazon:{job['marketplace']}", rt.settings.politeness_per_second
        )

    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any:
        from sources import amazon_reviews

        return amazon_reviews.fetch_reviews(
            rt.http,
            job["asin"],
            job["marketplace"],
            base_url=rt.settings.amazon_base_url,
            max_pages=rt.settings.review_max_pages,
        )

    def store(self, conn: Connection, rt: Runtime, job: dict[str, Any], pages: Any) -> dict:
        return store_pages(conn, job["asin"], job["marketplace"], pages)

    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None:
        g = rt.guards
        cd_key = None
        if status != "completed":  # a failed or cancelled job gives the cooldown back
            cd_key = g.cooldown_key(job["org_id"], job["asin"], job["marketplace"])
        g.release(job["id"], cooldown_key=cd_key, slot_key=g.slot_key(job["org_id"]))


HANDLER = ReviewHandler()


def store_pages(conn: Connection, asin: str, marketplace: str, pages: list[Any]) -> dict:
    first = pages[0] if pages else None
    title = next((p.product_title for p in pages if p.product_title), None)
    image = next((p.image_url for p in pages if p.image_url), None)
    rows = {}
    scraped_at = dt.datetime.now(dt.UTC)  # one value, so the insert compiles once
    for page in pages:
        for r in page.reviews:
            rows.setdefault(
                r.amazon_review_id,
                dict(
                    asin=asin,
                    marketplace=marketplace,
                    amazon_review_id=r.amazon_review_id,
                    title=r.title,
                    content=r.content,
                    rating=r.rating,
                    author=r.author,
                    review_date=r.date,
                    country=r.country,
                    verified_purchase=bool(r.verified_purchase),
                    helpful_votes=int(r.helpful_votes or 0),
                    is_top_review=bool(r.is_top_review),
                    scraped_at=scraped_at,
                ),
            )
    if rows:
        stmt = insert(reviews).values(list(rows.values()))
        stmt = stmt.on_conflict_do_update(
            constraint="uq_reviews_identity",
            set_={
                c: stmt.excluded[c]
                for c in (
                    "title",
                    "content",
                    "rating",
                    "author",
                    "review_date",
                    "country",
                    "verified_purchase",
                    "helpful_votes",
                    "is_top_review",
                    "scraped_at",
                )
            },
        )
        conn.execute(stmt)
    values = dict(
        asin=asin,
        marketplace=marketplace,
        title=title,
        image_url=image,
        total_reviews=first.total_reviews if first else 0,
        average_rating=first.average_rating if first else None,
        histogram=(first.histogram if first else {}) or {},
        last_scraped=func.now(),
    )
    stmt = insert(review_products).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["asin", "marketplace"],
            set_={k: stmt.excluded[k] for k in values if k not in ("asin", "marketplace")},
        )
    )
    return {"reviewsFound": len(rows), "productTitle": title}


# cached reads --------------------------------------------------------------------------------
def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"r:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "r":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "cursor is not one this API gave out; start without it.",
            title="Invalid cursor",
            code="invalid_cursor",
        ) from exc


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
        q = q.where(reviews.c.id > _decode_cursor(cursor))
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
        "nextCursor": _encode_cursor(page[-1].id) if more else None,
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
